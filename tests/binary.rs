//! The real `child-registry` binary: CLI commands, and acknowledged writes surviving `kill -9`,
//! on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::server::{args, create_client, run, run_ok, Server, BINARY};
use common::{Backend, TestDatabase};

/// A distinct generated child per index (given names and birth dates differ, so the matching
/// model keeps them apart).
fn record(index: usize) -> Value {
    let given = format!(
        "{}{}",
        ["Akell", "Bwon", "Cirem", "Dolu", "Ewot", "Faud", "Gimar", "Hakul"][index % 8],
        ["a", "o", "ina", "eke", "umi", "ar"][(index / 8) % 6]
    );
    let born = format!(
        "20{:02}-{:02}-{:02}",
        8 + index % 9,
        1 + index % 12,
        1 + index % 28
    );
    json!({
        "source_system": "police-ug", "source_record_id": format!("CPU-{index:06}"),
        "child": {"given_name": given, "family_name": "Okello", "sex": "M",
                  "date_of_birth": born, "district": "Gulu"},
        "events": [{"type": "police.case_opened", "date": "2024-01-02", "sensitivity": "restricted"}]
    })
}

/// Runs a command expected to end by itself, and how long it took; one still running after
/// 20 s is killed and fails the test.
fn run_briefly(args: &[String]) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{args:?} was still running after 20 s: {}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    (child.wait_with_output().unwrap(), took)
}

mod cases {
    use super::*;

    pub async fn cli_manages_clients(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let migrate = run(&args(&["migrate"], &database));
        assert!(
            migrate.status.success(),
            "{}",
            String::from_utf8_lossy(&migrate.stderr)
        );

        let bad_role = run(&args(
            &["clients", "create", "--name", "x", "--role", "king"],
            &database,
        ));
        assert!(!bad_role.status.success());
        assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
        let no_agency = run(&args(
            &["clients", "create", "--name", "x", "--role", "agency"],
            &database,
        ));
        assert!(!no_agency.status.success());
        assert!(String::from_utf8_lossy(&no_agency.stderr).contains("--agency"));

        let key = create_client(&database, "agency", Some("police-ug"));
        let server = Server::start(&database);
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{}/v1/records", server.url))
            .bearer_auth(&key)
            .json(&record(1))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);

        let list = String::from_utf8(run(&args(&["clients", "list"], &database)).stdout).unwrap();
        let client_id = list.split_whitespace().next().unwrap().to_owned();
        assert!(!list.contains(&key), "keys are never listed");
        let revoke = run(&args(&["clients", "revoke", &client_id], &database));
        assert!(revoke.status.success());
        let response = http
            .post(format!("{}/v1/records", server.url))
            .bearer_auth(&key)
            .json(&record(2))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            401,
            "a revoked key stops working at once"
        );
        server.kill_hard();
        database.drop_database().await;
    }

    pub async fn acknowledged_writes_survive_kill_9(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let key = create_client(&database, "agency", Some("police-ug"));
        let official = create_client(&database, "national_official", None);
        let http = reqwest::Client::new();
        let mut acknowledged: Vec<(usize, String)> = Vec::new();
        for cycle in 0..3 {
            let server = Server::start(&database);
            for index in cycle * 15..(cycle + 1) * 15 {
                let response = http
                    .post(format!("{}/v1/records", server.url))
                    .bearer_auth(&key)
                    .json(&record(index))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
                let body: Value = response.json().await.unwrap();
                acknowledged.push((index, body["child_id"].as_str().unwrap().to_owned()));
            }
            // Killed right after the last response.
            server.kill_hard();
        }
        let server = Server::start(&database);
        for (index, child_id) in &acknowledged {
            let response = http
                .get(format!("{}/v1/children/{child_id}", server.url))
                .bearer_auth(&official)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                200,
                "record {index} was acknowledged but lost"
            );
            let child: Value = response.json().await.unwrap();
            assert_eq!(
                child["records"][0]["source_record_id"],
                format!("CPU-{index:06}")
            );
            // Registering it again is recognised as the same record: exactly once.
            let again = http
                .post(format!("{}/v1/records", server.url))
                .bearer_auth(&key)
                .json(&record(*index))
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 200);
        }
        server.kill_hard();
        database.drop_database().await;
    }
    pub async fn the_model_is_retrained_and_rescored(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let store = database.open().await;
        let today = chrono::Utc::now().date_naive();
        let generated = synthetic::generate(&synthetic::GeneratorConfig {
            records: 600,
            seed: 11,
            events: false,
            ..Default::default()
        });
        for record in &generated.records {
            let submission = gateway::commands::demo::submission_from_generated(record).unwrap();
            store
                .register(submission.validate(today).unwrap(), "test")
                .await
                .unwrap();
        }
        let versions = store.model_versions().await.unwrap();
        assert_eq!(
            versions.len(),
            1,
            "an empty registry starts with the bundled model"
        );
        assert!(versions[0].active && versions[0].origin == "bundled");
        drop(store);

        let models = |database: &TestDatabase| {
            let output = run(&args(&["models", "--json"], database));
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice::<Value>(&output.stdout).unwrap()
        };
        let listing = models(&database);
        assert_eq!(listing["records"], 600);
        assert_eq!(listing["versions"][0]["origin"], "bundled");
        assert_eq!(listing["versions"][0]["active"], true);
        assert_eq!(
            listing["versions"][0]["trained_on_records"], 200_000,
            "the bundled model learned from 200,000 generated records"
        );
        assert_eq!(
            listing["retrain_advice"],
            Value::Null,
            "600 records are too few to learn from: {listing}"
        );

        let output = run(&args(&["train", "--note", "first retraining"], &database));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.trim(), "2", "train prints the new version");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("600 records are few to learn weights from"),
            "a registry this small is warned about: {stderr}"
        );

        let output = run(&args(
            &["rescore", "--model-version", "2", "--dry-run", "--json"],
            &database,
        ));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["model_version"], 2);
        assert_eq!(report["applied"], false);
        let scored = report["records_scored"].as_i64().unwrap();
        let counted = ["make", "break", "review", "unchanged"]
            .iter()
            .map(|key| report[key].as_i64().unwrap())
            .sum::<i64>();
        assert_eq!(
            scored, counted,
            "every scored record is counted once: {report}"
        );
        assert_eq!(scored + report["manual_kept"].as_i64().unwrap(), 600);

        let store = database.open().await;
        assert!(store
            .model_versions()
            .await
            .unwrap()
            .iter()
            .any(|v| v.version == 1 && v.active));
        drop(store);
        let output = run(&args(
            &["rescore", "--model-version", "2", "--apply"],
            &database,
        ));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let store = database.open().await;
        let versions = store.model_versions().await.unwrap();
        assert!(versions
            .iter()
            .any(|v| v.version == 2 && v.active && v.note == "first retraining"));
        assert!(store.invariant_violations().await.unwrap().is_empty());
        drop(store);
        let listing = models(&database);
        assert_eq!(listing["versions"][1]["version"], 2);
        assert_eq!(listing["versions"][1]["active"], true);
        assert_eq!(listing["versions"][1]["origin"], "trained");
        assert_eq!(listing["versions"][1]["trained_on_records"], 600);
        assert_eq!(listing["versions"][0]["active"], false);
        let output = run(&args(&["models"], &database));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && text.contains("first retraining"),
            "{text}"
        );
        assert!(text.contains("the registry holds 600 records"), "{text}");

        let output = run(&args(
            &["rescore", "--model-version", "9", "--dry-run"],
            &database,
        ));
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("model version"));
        let output = run(&args(&["rescore", "--model-version", "2"], &database));
        assert!(!output.status.success(), "--dry-run or --apply is required");
        database.drop_database().await;
    }

    /// Debug logs of a whole working session (register, read, search, bad input, failed
    /// login) hold none of the child's personal data.
    /// A registry holding enough records of its own is told to train its own model: by
    /// `models`, and in the server's log at start.
    pub async fn a_registry_that_outgrew_its_model_is_told_to_retrain(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let store = database.open().await;
        let today = chrono::Utc::now().date_naive();
        let generated = synthetic::generate(&synthetic::GeneratorConfig {
            records: registry::rescore::OWN_TRAINING_RECORDS as usize,
            seed: 12,
            events: false,
            ..Default::default()
        });
        let records = generated
            .records
            .iter()
            .map(|record| {
                gateway::commands::demo::submission_from_generated(record)
                    .unwrap()
                    .validate(today)
                    .unwrap()
            })
            .collect();
        store.bulk_load(records, "test").await.unwrap();
        drop(store);

        let listing: Value =
            serde_json::from_str(&run_ok(&args(&["models", "--json"], &database))).unwrap();
        assert_eq!(listing["records"], 10_000);
        let advice = listing["retrain_advice"].as_str().unwrap_or_default();
        assert!(
            advice.contains("bundled") && advice.contains("child-registry train"),
            "{listing}"
        );
        let text = run_ok(&args(&["models"], &database));
        assert!(text.contains(&format!("advice: {advice}")), "{text}");

        let log = database.dir.path().join("server.log");
        let server = Server::start_logging(&database, &log);
        let started = Instant::now();
        let logged = loop {
            let lines = std::fs::read_to_string(&log).unwrap_or_default();
            if lines.contains("the matching model should be retrained") {
                break lines;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no retraining advice in the server's log: {lines}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(logged.contains("10000 records of its own"), "{logged}");
        server.terminate();
        database.drop_database().await;
    }

    pub async fn logs_hold_no_personal_data(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let agency = create_client(&database, "agency", Some("police-kh"));
        let official = create_client(&database, "national_official", None);
        let admin = create_client(&database, "admin", None);
        let log = database.dir.path().join("server.log");
        let server = Server::start_logging(&database, &log);
        let http = reqwest::Client::new();
        let child = json!({"given_name": "Sreyneath", "family_name": "Vannaroth", "sex": "F",
                           "date_of_birth": "2016-05-17", "district": "Kandal", "village": "Phum Thmey",
                           "mother_name": "Chanthou Vannaroth"});
        let body = json!({"source_system": "police-kh", "source_record_id": "PK-77", "child": child,
                          "events": [{"type": "police.case_opened", "date": "2024-03-01",
                                      "sensitivity": "restricted", "details": {"note": "Sreyneath seen"}}]});
        let created: Value = http
            .post(format!("{}/v1/records", server.url))
            .bearer_auth(&agency)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let child_id = created["child_id"].as_str().unwrap().to_owned();
        // The caller's W3C trace context is continued: its trace ID is in the log lines.
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        for path in [
            format!("/v1/children/{child_id}"),
            format!("/v1/children/{child_id}/timeline"),
            "/v1/search?q=Sreyneath+Vannaroth".to_owned(),
            "/v1/search?q=2016-05".to_owned(),
        ] {
            let response = http
                .get(format!("{}{path}", server.url))
                .bearer_auth(&official)
                .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{path}");
        }
        // Metric labels carry route templates, never a child ID or a name.
        let metrics = http
            .get(format!("{}/metrics", server.url))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 200);
        let metrics = metrics.text().await.unwrap().to_lowercase();
        assert!(metrics.contains("route=\"/v1/children/{child_id}\""));
        assert!(
            !metrics.contains(&child_id.to_lowercase()),
            "a child ID in the metrics"
        );
        let mut bad = body.clone();
        bad["child"]["date_of_birth"] = json!("2016-13-40");
        let response = http
            .post(format!("{}/v1/records", server.url))
            .bearer_auth(&agency)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let response = http
            .post(format!("{}/v1/session", server.url))
            .json(&json!({"username": "nobody", "password": "Sreyneath Vannaroth"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        server.kill_hard();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.lines().count() > 5,
            "debug logging was on and wrote something: {text}"
        );
        assert!(
            text.contains(&format!("trace_id={trace_id}")),
            "log lines carry the caller's trace ID:\n{text}"
        );
        assert!(text.contains("route=/v1/children/{child_id}"), "{text}");
        for personal in [
            "sreyneath",
            "vannaroth",
            "chanthou",
            "2016-05-17",
            "2016-13-40",
            "phum thmey",
            &child_id.to_lowercase(),
        ] {
            assert!(
                !text.to_lowercase().contains(personal),
                "'{personal}' reached the log:\n{text}"
            );
            assert!(!metrics.contains(personal), "'{personal}' in the metrics");
        }
        database.drop_database().await;
    }

    /// A listing whose reader has gone (`clients list | head -0`) ends quietly with the status
    /// of a process killed by SIGPIPE, not with a panic and a backtrace.
    pub async fn a_listing_into_a_closed_pipe_ends_quietly(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        create_client(&database, "auditor", None);
        let mut listing = Command::new(BINARY)
            .args(args(&["clients", "list"], &database))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(listing.stdout.take());
        let output = listing.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(141), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        database.drop_database().await;
    }

    /// SIGTERM the moment the server says it listens (as a supervisor stopping a node it just
    /// started does) stops it cleanly, every time: the handler is installed before the line.
    pub async fn a_server_stopped_as_soon_as_it_listens_stops_cleanly(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        for attempt in 0..5 {
            let status = Server::start(&database).terminate();
            assert!(status.success(), "attempt {attempt}: {status:?}");
        }
        database.drop_database().await;
    }

    /// `rescore --apply` run beside a server: the server matches with the new version within
    /// seconds, without a restart (its `match_model_version` gauge says which it uses).
    pub async fn a_server_takes_up_a_version_activated_beside_it(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let server = Server::start(&database);
        let auditor = create_client(&database, "auditor", None);
        let version = common::add_wider_review_band(database.open().await.as_ref()).await;
        let http = reqwest::Client::new();
        let in_use = || {
            let request = http
                .get(format!("{}/metrics", server.url))
                .bearer_auth(&auditor)
                .send();
            async move {
                let text = request.await.unwrap().text().await.unwrap();
                text.lines()
                    .find_map(|line| line.strip_prefix("child_registry_match_model_version "))
                    .and_then(|value| value.trim().parse::<i64>().ok())
                    .expect("the gauge is exported")
            }
        };
        assert_eq!(in_use().await, version - 1);

        run_ok(&args(
            &[
                "rescore",
                "--model-version",
                &version.to_string(),
                "--apply",
            ],
            &database,
        ));
        let started = Instant::now();
        while in_use().await != version {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the server still matches with version {} after {:?}",
                version - 1,
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(server.terminate().success());
        database.drop_database().await;
    }

    /// A second `serve` or `reindex` on the directory a server owns (the data directory on
    /// SQLite, the node's search index on PostgreSQL) exits at once, naming the directory and
    /// the server's PID; commands made to run beside a server still work; once the server
    /// stops, a new one starts. On PostgreSQL another node with its own index starts beside it.
    pub async fn one_server_per_directory(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let index = database.dir.path().join("search-index");
        let owned = match backend {
            Backend::Sqlite => database.dir.path().to_owned(),
            Backend::Postgres => index.clone(),
        };
        let server = Server::start(&database);
        let holder = format!(
            "another child-registry process (PID {}",
            server.process.id()
        );
        let index_flag = index.display().to_string();
        let other_index = database.dir.path().join("other-index");
        let other_index_flag = other_index.display().to_string();
        let mut refused = vec![
            args(
                &[
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--index-dir",
                    &index_flag,
                ],
                &database,
            ),
            args(&["reindex", "--index-dir", &index_flag], &database),
        ];
        if backend == Backend::Sqlite {
            // Its own index would not make it any less a second writer of the one database.
            refused.push(args(
                &[
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--index-dir",
                    &other_index_flag,
                ],
                &database,
            ));
        }
        for second in &refused {
            let (output, took) = run_briefly(second);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{second:?} ran beside the server");
            assert!(
                took < Duration::from_secs(5),
                "{second:?} gave up after {took:?}"
            );
            assert!(
                stderr.contains(&format!("directory {} is in use", owned.display()))
                    && stderr.contains(&holder),
                "{second:?}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
        let http = reqwest::Client::new();
        let healthy = |url: String| {
            let http = http.clone();
            async move {
                let response = http.get(format!("{url}/healthz")).send().await.unwrap();
                assert_eq!(response.status(), 200);
            }
        };
        if backend == Backend::Postgres {
            let node = Server::launch_with_index(&database, &other_index, |_| {});
            healthy(node.url.clone()).await;
            node.kill_hard();
        }

        // Made to run beside a server: the key created now works on it at once.
        let auditor = create_client(&database, "auditor", None);
        let backup = database
            .dir
            .path()
            .join("beside.backup")
            .display()
            .to_string();
        assert!(run_ok(&args(&["backup", "--to", &backup], &database)).contains("backed up"));
        let metrics = http
            .get(format!("{}/metrics", server.url))
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 200);

        assert!(server.terminate().success());
        let again = Server::start(&database);
        healthy(again.url.clone()).await;
        again.kill_hard();
        database.drop_database().await;
    }
}

/// `dedupe` on a generated file: every record gets a cluster, asking for the scored pairs
/// (which keeps the pairs a cannot-link rule holds for, and so scores every comparison)
/// gives the same clusters as the early-exit scoring without them, and a malformed row
/// stops the run before anything is written unless `--skip-bad-rows` is given.
#[test]
fn dedupe_clusters_every_record_and_explains_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let owned = |parts: &[&str]| parts.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let (input, truth) = (path("children.csv"), path("truth.csv"));
    common::server::run_ok(&owned(&[
        "generate",
        "--records",
        "3000",
        "--seed",
        "7",
        "--output",
        &input,
        "--truth",
        &truth,
    ]));
    let (plain, explained, pairs, report) = (
        path("plain.csv"),
        path("explained.csv"),
        path("pairs.csv"),
        path("report.json"),
    );
    common::server::run_ok(&owned(&[
        "dedupe", "--input", &input, "--output", &plain, "--truth", &truth, "--report", &report,
    ]));
    common::server::run_ok(&owned(&[
        "dedupe", "--input", &input, "--output", &explained, "--pairs", &pairs,
    ]));
    let clusters = std::fs::read_to_string(&plain).unwrap();
    assert_eq!(clusters, std::fs::read_to_string(&explained).unwrap());
    let mut lines = clusters.lines();
    assert_eq!(lines.next(), Some("record_id,cluster_id"));
    let ids: std::collections::HashSet<&str> =
        lines.map(|l| l.split(',').next().unwrap()).collect();
    let inputs = std::fs::read_to_string(&input).unwrap();
    assert_eq!(ids.len(), 3000);
    assert!(inputs
        .lines()
        .skip(1)
        .all(|l| ids.contains(l.split(',').next().unwrap())));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let f1 = report["accuracy"]["pairwise_f1"].as_f64().unwrap();
    assert!(f1 > 0.8, "pairwise F1 {f1}");
    assert_eq!(
        report["built_in_trained_model"], true,
        "3,000 records are too few to train on: the built-in trained model is used"
    );

    // A handful of records (too few to train on, perhaps no candidate
    // pairs at all) still gets a cluster for every record.
    let few = path("few.csv");
    std::fs::write(&few, inputs.lines().take(4).collect::<Vec<_>>().join("\n")).unwrap();
    let few_clusters = path("few-clusters.csv");
    common::server::run_ok(&owned(&[
        "dedupe",
        "--input",
        &few,
        "--output",
        &few_clusters,
    ]));
    assert_eq!(
        std::fs::read_to_string(&few_clusters)
            .unwrap()
            .lines()
            .count(),
        1 + 3
    );

    let mut pairs_csv = csv::Reader::from_path(&pairs).unwrap();
    let header = pairs_csv.headers().unwrap().clone();
    for column in [
        "record_id_l",
        "match_weight",
        "cannot_link",
        "given_name_level",
        "whole_name_read",
    ] {
        assert!(header.iter().any(|h| h == column), "{column} in {header:?}");
    }
    let rows: Vec<csv::StringRecord> = pairs_csv.records().map(Result::unwrap).collect();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert!(rows.len() > 100, "{} scored pairs", rows.len());
    let cannot_link = rows
        .iter()
        .filter(|r| !r[column("cannot_link")].is_empty())
        .count();
    assert!(
        cannot_link > 0,
        "cannot-link pairs above the floor are listed too"
    );

    // The second record (line 3) gets an impossible birth date.
    let bad = path("bad.csv");
    let mut reader = csv::Reader::from_path(&input).unwrap();
    let mut writer = csv::Writer::from_path(&bad).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    let born = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "date_of_birth")
        .unwrap();
    for (i, record) in reader.records().take(400).enumerate() {
        let record = record.unwrap();
        let fields: Vec<&str> = record
            .iter()
            .enumerate()
            .map(|(j, v)| if i == 1 && j == born { "2016-31-02" } else { v })
            .collect();
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
    let out = path("bad-clusters.csv");
    let failed = common::server::run(&owned(&["dedupe", "--input", &bad, "--output", &out]));
    assert!(!failed.status.success());
    let message = String::from_utf8_lossy(&failed.stderr);
    assert!(
        message.contains("line 3") && message.contains("date_of_birth"),
        "{message}"
    );
    assert!(
        !std::path::Path::new(&out).exists(),
        "nothing written on a bad row"
    );
    common::server::run_ok(&owned(&[
        "dedupe",
        "--input",
        &bad,
        "--output",
        &out,
        "--skip-bad-rows",
    ]));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        1 + 399,
        "every record but the bad one"
    );
}

on_both_backends!(
    cli_manages_clients,
    acknowledged_writes_survive_kill_9,
    the_model_is_retrained_and_rescored,
    a_registry_that_outgrew_its_model_is_told_to_retrain,
    logs_hold_no_personal_data,
    one_server_per_directory,
    a_server_takes_up_a_version_activated_beside_it,
    a_server_stopped_as_soon_as_it_listens_stops_cleanly,
    a_listing_into_a_closed_pipe_ends_quietly,
);

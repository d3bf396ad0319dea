//! The change feed and signed webhooks (issue 9), end to end on SQLite and PostgreSQL: the
//! feed's order, scope and redaction; subscriptions and who may see them; deliveries from the
//! real `serve` binary to a receiver in the test, signatures checked here independently;
//! retries in order per child; a restart resuming pending deliveries; internal targets refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use registry::clients::Role;
use serde_json::{json, Value};
use sha2::Sha256;

use common::server::{self, Server};
use common::{problem, Backend, TestApp, TestDatabase};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn seq(&self) -> i64 {
        self.json()["data"]["seq"].as_i64().unwrap()
    }
}

/// A subscriber's endpoint: records every request, answers 503 to the first `failures`.
#[derive(Clone, Default)]
struct Receiver {
    log: Arc<Mutex<Vec<Received>>>,
    failures_left: Arc<AtomicUsize>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let fail = receiver
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    let status = if fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::NO_CONTENT
    };
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    receiver.log.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answered: status.as_u16(),
    });
    status
}

impl Receiver {
    /// Listens on `port` of 127.0.0.1 (0: any); returns the hook's URL.
    async fn start(port: u16, failures: usize) -> (Self, String) {
        let receiver = Receiver::default();
        receiver.failures_left.store(failures, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn all(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    fn delivered(&self) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|received| received.answered < 300)
            .collect()
    }

    async fn wait_for_deliveries(&self, count: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let delivered = self.delivered();
            if delivered.len() >= count {
                return delivered;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} of {count} deliveries arrived: {:?}",
                delivered.len(),
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Checks a Standard Webhooks signature the way a subscriber would, with its own HMAC.
fn signed_with(secret: &str, received: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    received
        .signature
        .split(' ')
        .any(|signature| signature == expected)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn record(system: &str, id: &str, given: &str, district: &str, events: Value) -> Value {
    json!({
        "source_system": system, "source_record_id": id,
        "child": {"given_name": given, "family_name": "Aguti", "sex": "F",
                  "date_of_birth": "2019-05-01", "district": district, "identifiers": []},
        "events": events
    })
}

/// The real binary's API, for one caller.
struct Api {
    url: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    fn new(url: &str, key: &str) -> Self {
        Api {
            url: url.to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    async fn register(&self, body: &Value) -> String {
        let response = self.post("/v1/records", body).await;
        assert!(response.status().is_success(), "{}", response.status());
        let body: Value = response.json().await.unwrap();
        body["child_id"].as_str().unwrap().to_owned()
    }

    /// Subscribes; returns the subscription ID and its secret.
    async fn subscribe(&self, url: &str, event_types: &[&str]) -> (String, String) {
        let response = self
            .post(
                "/v1/webhooks",
                &json!({"url": url, "event_types": event_types}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn deliveries(&self, webhook: &str) -> Vec<Value> {
        let response = self
            .get(&format!("/v1/webhooks/{webhook}/deliveries"))
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["deliveries"].as_array().unwrap().clone()
    }

    /// Waits until the delivery log satisfies `done`; returns it.
    async fn wait_for_log(&self, webhook: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let log = self.deliveries(webhook).await;
            if done(&log) {
                return log;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the delivery log never got there: {log:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every feed entry this caller sees, following the cursor.
    async fn feed(&self, limit: i64) -> (Vec<Value>, String) {
        let mut after = "0".to_owned();
        let mut entries = Vec::new();
        loop {
            let response = self
                .get(&format!("/v1/changes?after={after}&limit={limit}"))
                .await;
            assert_eq!(response.status(), 200);
            let page: Value = response.json().await.unwrap();
            entries.extend(page["entries"].as_array().unwrap().iter().cloned());
            after = page["next_cursor"].as_str().unwrap().to_owned();
            if !page["has_more"].as_bool().unwrap() {
                return (entries, after);
            }
        }
    }
}

fn seqs(entries: &[Value]) -> Vec<i64> {
    entries
        .iter()
        .map(|entry| entry["seq"].as_i64().unwrap())
        .collect()
}

/// `serve` with webhooks to 127.0.0.1 allowed, fast polling and fast retries, plus `extra`.
fn start_server(database: &TestDatabase, extra: &[&str]) -> Server {
    Server::launch(database, |command| {
        command
            .args(["--webhook-poll-ms", "50"])
            .args(extra)
            .stderr(std::process::Stdio::inherit());
    })
}

const ALLOW_LOCAL: [&str; 2] = ["--webhook-allow-hosts", "127.0.0.1"];

mod cases {
    use super::*;

    pub async fn the_feed_is_ordered_scoped_and_redacted(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police_key = app.key(Role::Agency, Some("police-ug")).await;
        let school_key = app.key(Role::Agency, Some("school-ug")).await;
        let national_key = app.key(Role::NationalOfficial, None).await;
        let admin_key = app.key(Role::Admin, None).await;
        let (police, school, national) = (
            Api::new(&app.url, &police_key),
            Api::new(&app.url, &school_key),
            Api::new(&app.url, &national_key),
        );
        let mut halima = record(
            "police-ug",
            "P-1",
            "Halima",
            "Wakiso",
            json!([{"type": "health.abuse_report", "date": "2024-03-01",
                    "sensitivity": "confidential", "details": {"note": "disclosure-marker-7731"}}]),
        );
        halima["child"]["identifiers"] =
            json!([{"type": "birth_registration", "value": "UG-BR-2019-7731"}]);
        let child_a = police.register(&halima).await;
        let child_b = school
            .register(&record(
                "school-ug",
                "S-1",
                "Akello",
                "Gulu",
                json!([{"type": "school.enrolled", "date": "2024-02-01"}]),
            ))
            .await;
        // The school also holds a record of Halima: the same birth registration links it.
        let mut at_school = record("school-ug", "S-2", "Halima", "Wakiso", json!([]));
        at_school["child"]["identifiers"] = halima["child"]["identifiers"].clone();
        assert_eq!(school.register(&at_school).await, child_a);

        let (everything, head) = national.feed(1000).await;
        let all_seqs = seqs(&everything);
        assert!(
            all_seqs.windows(2).all(|pair| pair[0] < pair[1]),
            "commit order"
        );
        assert_eq!(head, all_seqs.last().unwrap().to_string());
        let kinds: Vec<&str> = everything
            .iter()
            .map(|entry| entry["kind"].as_str().unwrap())
            .collect();
        for kind in [
            "child.created",
            "record.registered",
            "record.linked",
            "event.added",
        ] {
            assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
        }
        let (paged, paged_head) = national.feed(1).await;
        assert_eq!(paged, everything, "pages of one join up");
        assert_eq!(paged_head, head);
        // Event content never travels in the feed, confidential or not.
        assert!(!serde_json::to_string(&everything)
            .unwrap()
            .contains("disclosure-marker"));

        // The police sees its child only, and not which school record joined it.
        let (police_sees, police_head) = police.feed(1000).await;
        assert_eq!(police_head, head, "the cursor passes what it may not see");
        assert!(police_sees.iter().all(|entry| entry["child_id"] == child_a));
        let linked = police_sees
            .iter()
            .find(|entry| entry["kind"] == "record.linked")
            .expect("the school's record joining its child");
        assert_eq!(linked["payload"], json!({}));
        let registered = police_sees
            .iter()
            .find(|entry| entry["kind"] == "record.registered")
            .unwrap();
        assert_eq!(registered["payload"]["source_record_id"], "P-1");
        let national_linked = everything
            .iter()
            .find(|entry| entry["kind"] == "record.linked")
            .unwrap();
        assert_eq!(national_linked["payload"]["source_system"], "school-ug");
        let (school_sees, _) = school.feed(1000).await;
        let school_children: std::collections::BTreeSet<&str> = school_sees
            .iter()
            .map(|entry| entry["child_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            school_children,
            [child_a.as_str(), child_b.as_str()].into_iter().collect()
        );

        // At the head: nothing new, the same cursor.
        let page: Value = police
            .get(&format!("/v1/changes?after={head}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["entries"], json!([]));
        assert_eq!(page["next_cursor"], head);

        let bad = problem(police.get("/v1/changes?after=yesterday").await, 400).await;
        assert_eq!(bad["field"], "after");
        let bad = problem(police.get("/v1/changes?after=-3").await, 400).await;
        assert_eq!(bad["field"], "after");
        let bad = problem(police.get("/v1/changes?limit=0").await, 400).await;
        assert_eq!(bad["field"], "limit");
        problem(Api::new(&app.url, &admin_key).get("/v1/changes").await, 403).await;
        problem(
            Api::new(&app.url, "crk_nobody").get("/v1/changes").await,
            401,
        )
        .await;

        let audited = app.store.audit_entries(0, 10_000).await.unwrap();
        assert!(audited.iter().any(|entry| entry.action == "changes.read"));
        app.finish().await;
    }

    pub async fn subscriptions_are_checked_and_private(backend: Backend) {
        let app = TestApp::spawn_with(backend, |state| {
            state.with_webhooks(gateway::webhooks::WebhookConfig {
                allow: Arc::new(gateway::webhooks::AllowList::new(["127.0.0.1".to_owned()])),
                ..Default::default()
            })
        })
        .await;
        let police = Api::new(&app.url, &app.key(Role::Agency, Some("police-ug")).await);
        let school = Api::new(&app.url, &app.key(Role::Agency, Some("school-ug")).await);
        let admin = Api::new(&app.url, &app.key(Role::Admin, None).await);

        let created = police
            .post(
                "/v1/webhooks",
                &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["record.registered"]}),
            )
            .await;
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("whk_"));
        let secret = created["secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_"));
        assert!(STANDARD.decode(&secret["whsec_".len()..]).unwrap().len() >= 24);
        assert_eq!(created["event_types"], json!(["record.registered"]));

        for refused in [
            "http://example.org/hook",
            "https://10.0.0.7/hook",
            "https://192.168.1.20/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[fd00:ec2::254]/hook",
            "http://127.0.0.2/hook",
            "https://127.0.0.2/hook",
            "https://user:secret@example.org/hook",
            "ftp://example.org/hook",
            "not a url",
        ] {
            let response = police
                .post(
                    "/v1/webhooks",
                    &json!({"url": refused, "event_types": ["record.registered"]}),
                )
                .await;
            let body = problem(response, 400).await;
            assert_eq!(body["field"], "url", "{refused}: {body}");
        }
        let body = problem(
            police
                .post(
                    "/v1/webhooks",
                    &json!({"url": "http://127.0.0.1:9/hook", "event_types": []}),
                )
                .await,
            400,
        )
        .await;
        assert_eq!(body["field"], "event_types");
        let body = problem(
            police
                .post(
                    "/v1/webhooks",
                    &json!({"url": "http://127.0.0.1:9/hook",
                            "event_types": ["record.registered", "child.exploded"]}),
                )
                .await,
            400,
        )
        .await;
        assert_eq!(body["field"], "event_types[1]");
        problem(
            police
                .post("/v1/webhooks", &json!({"url": "http://127.0.0.1:9/hook"}))
                .await,
            400,
        )
        .await;
        problem(
            admin
                .post(
                    "/v1/webhooks",
                    &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["record.registered"]}),
                )
                .await,
            403,
        )
        .await;

        // Each client sees and manages its own subscriptions only; the secret is never shown
        // again.
        let listed: Value = police.get("/v1/webhooks").await.json().await.unwrap();
        assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);
        assert_eq!(listed["webhooks"][0]["id"], id.as_str());
        assert!(listed["webhooks"][0].get("secret").is_none());
        let listed: Value = school.get("/v1/webhooks").await.json().await.unwrap();
        assert_eq!(listed["webhooks"], json!([]));
        problem(school.delete(&format!("/v1/webhooks/{id}")).await, 404).await;
        problem(
            school.get(&format!("/v1/webhooks/{id}/deliveries")).await,
            404,
        )
        .await;
        assert_eq!(police.deliveries(&id).await, Vec::<Value>::new());
        assert_eq!(
            police.delete(&format!("/v1/webhooks/{id}")).await.status(),
            204
        );
        problem(police.delete(&format!("/v1/webhooks/{id}")).await, 404).await;
        let listed: Value = police.get("/v1/webhooks").await.json().await.unwrap();
        assert_eq!(listed["webhooks"], json!([]));
        app.finish().await;
    }

    pub async fn deliveries_are_signed_and_scoped(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let police_key = server::create_client(&database, "agency", Some("police-ug"));
        let school_key = server::create_client(&database, "agency", Some("school-ug"));
        let (receiver, hook) = Receiver::start(0, 0).await;
        let server = start_server(&database, &ALLOW_LOCAL);
        let police = Api::new(&server.url, &police_key);
        let school = Api::new(&server.url, &school_key);
        let wanted = ["child.created", "record.registered", "event.added"];
        let (webhook, secret) = police.subscribe(&hook, &wanted).await;

        // The school's child first: the worker passes it before the police's own.
        school
            .register(&record("school-ug", "S-1", "Akello", "Gulu", json!([])))
            .await;
        let child = police
            .register(&record(
                "police-ug",
                "P-1",
                "Halima",
                "Wakiso",
                json!([{"type": "police.case_opened", "date": "2024-03-01",
                        "sensitivity": "restricted", "details": {"offence": "neglect"}}]),
            ))
            .await;
        let delivered = receiver.wait_for_deliveries(3).await;
        let log = police
            .wait_for_log(&webhook, |log| {
                log.len() == 3 && log.iter().all(|delivery| delivery["status"] == "delivered")
            })
            .await;
        assert_eq!(
            receiver.delivered().len(),
            3,
            "nothing of the school's child"
        );
        let now = chrono::Utc::now().timestamp();
        for received in &delivered {
            assert!(signed_with(&secret, received), "{received:?}");
            assert!(received.id.starts_with("msg_"));
            let sent_at: i64 = received.timestamp.parse().unwrap();
            assert!((now - sent_at).abs() < 300);
            let body = received.json();
            assert!(wanted.contains(&body["type"].as_str().unwrap()));
            assert_eq!(body["data"]["child_id"], child.as_str());
            assert_eq!(body["data"]["kind"], body["type"]);
            assert!(!received.body.contains("neglect"), "no event content");
        }
        let arrived: Vec<i64> = delivered.iter().map(Received::seq).collect();
        assert!(arrived.windows(2).all(|pair| pair[0] < pair[1]), "in order");
        // A tampered body fails the check.
        let mut tampered = delivered[0].clone();
        tampered.body = tampered.body.replace("Halima", "Halimah");
        tampered.body.push(' ');
        assert!(!signed_with(&secret, &tampered));
        // The log names every attempt with the receiver's answer.
        for delivery in &log {
            assert_eq!(delivery["attempts"][0]["status_code"], 204);
            assert_eq!(delivery["child_id"], child.as_str());
        }
        let ids: std::collections::BTreeSet<&str> = log
            .iter()
            .map(|delivery| delivery["id"].as_str().unwrap())
            .collect();
        assert!(delivered
            .iter()
            .all(|received| ids.contains(received.id.as_str())));
        server.terminate();
        database.drop_database().await;
    }

    pub async fn failures_are_retried_in_order_per_child(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let police_key = server::create_client(&database, "agency", Some("police-ug"));
        let (receiver, hook) = Receiver::start(0, 4).await;
        let server = start_server(
            &database,
            &[
                ALLOW_LOCAL[0],
                ALLOW_LOCAL[1],
                "--webhook-retry-base-ms",
                "100",
                "--webhook-retry-cap-ms",
                "300",
                "--webhook-max-attempts",
                "10",
            ],
        );
        let police = Api::new(&server.url, &police_key);
        let (webhook, secret) = police
            .subscribe(&hook, gateway::webhooks::EVENT_TYPES)
            .await;
        let mut body = record(
            "police-ug",
            "P-1",
            "Halima",
            "Wakiso",
            json!([{"type": "police.case_opened", "date": "2024-03-01"}]),
        );
        let child = police.register(&body).await;
        for (village, date) in [("Wairaka", "2024-04-01"), ("Kasangati", "2024-05-01")] {
            body["child"]["village"] = json!(village);
            body["events"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "police.visit", "date": date}));
            assert_eq!(police.register(&body).await, child);
        }
        let (feed, _) = police.feed(1000).await;
        let expected = seqs(&feed);
        assert!(expected.len() >= 5, "{feed:?}");

        let log = police
            .wait_for_log(&webhook, |log| {
                log.len() == expected.len()
                    && log.iter().all(|delivery| delivery["status"] == "delivered")
            })
            .await;
        let delivered = receiver.delivered();
        assert_eq!(
            delivered.iter().map(Received::seq).collect::<Vec<_>>(),
            expected,
            "each entry once, in commit order"
        );
        assert!(delivered
            .iter()
            .all(|received| signed_with(&secret, received)));
        // Nothing of the child went out of turn: every request, failed or not, in order.
        let attempted: Vec<i64> = receiver.all().iter().map(Received::seq).collect();
        assert!(
            attempted.windows(2).all(|pair| pair[0] <= pair[1]),
            "{attempted:?}"
        );
        // The first delivery took the four failures, its retries logged one by one.
        let first = log.last().unwrap();
        assert_eq!(first["seq"], expected[0]);
        let codes: Vec<i64> = first["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|attempt| attempt["status_code"].as_i64().unwrap())
            .collect();
        assert_eq!(codes, [503, 503, 503, 503, 204]);
        assert!(first["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("503"));
        let retried_ids: std::collections::BTreeSet<String> = receiver
            .all()
            .iter()
            .map(|received| received.id.clone())
            .collect();
        assert_eq!(
            retried_ids.len(),
            expected.len(),
            "a retry keeps its webhook-id"
        );
        server.terminate();
        database.drop_database().await;
    }

    pub async fn a_restart_resumes_pending_deliveries(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let police_key = server::create_client(&database, "agency", Some("police-ug"));
        let port = free_port();
        let hook = format!("http://127.0.0.1:{port}/hook");
        let flags = [
            ALLOW_LOCAL[0],
            ALLOW_LOCAL[1],
            "--webhook-retry-base-ms",
            "200",
            "--webhook-retry-cap-ms",
            "500",
            "--webhook-max-attempts",
            "100",
        ];
        let server = start_server(&database, &flags);
        let police = Api::new(&server.url, &police_key);
        let (webhook, secret) = police.subscribe(&hook, &["record.registered"]).await;
        let child = police
            .register(&record("police-ug", "P-1", "Halima", "Wakiso", json!([])))
            .await;
        // The receiver is down: attempts fail and stay pending.
        let log = police
            .wait_for_log(&webhook, |log| {
                log.first()
                    .is_some_and(|delivery| delivery["attempts"].as_array().unwrap().len() >= 2)
            })
            .await;
        assert_eq!(log[0]["status"], "pending");
        assert!(log[0]["attempts"][0]["status_code"].is_null());
        assert!(log[0]["attempts"][0]["error"].is_string());
        server.kill_hard();

        let (receiver, _) = Receiver::start(port, 0).await;
        let server = start_server(&database, &flags);
        let delivered = receiver.wait_for_deliveries(1).await;
        assert!(signed_with(&secret, &delivered[0]));
        assert_eq!(delivered[0].json()["data"]["child_id"], child.as_str());
        assert_eq!(delivered[0].json()["type"], "record.registered");
        let police = Api::new(&server.url, &police_key);
        let log = police
            .wait_for_log(&webhook, |log| log[0]["status"] == "delivered")
            .await;
        assert_eq!(log.len(), 1, "queued once, not again after the restart");
        assert_eq!(delivered[0].id, log[0]["id"]);
        server.terminate();
        database.drop_database().await;
    }

    pub async fn internal_targets_are_refused_when_sending_too(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let police_key = server::create_client(&database, "agency", Some("police-ug"));
        let (receiver, hook) = Receiver::start(0, 0).await;
        let server = start_server(&database, &ALLOW_LOCAL);
        let (webhook, _) = Api::new(&server.url, &police_key)
            .subscribe(&hook, &["record.registered"])
            .await;
        server.terminate();

        // The operator withdraws the allowance: the stored subscription is refused at delivery.
        let server = start_server(&database, &[]);
        let police = Api::new(&server.url, &police_key);
        let refused = problem(
            police
                .post(
                    "/v1/webhooks",
                    &json!({"url": hook, "event_types": ["record.registered"]}),
                )
                .await,
            400,
        )
        .await;
        assert_eq!(refused["field"], "url");
        // A name is resolved and its addresses checked: localhost is loopback.
        let refused = problem(
            police
                .post(
                    "/v1/webhooks",
                    &json!({"url": "https://localhost/hook", "event_types": ["record.registered"]}),
                )
                .await,
            400,
        )
        .await;
        assert_eq!(refused["field"], "url");
        police
            .register(&record("police-ug", "P-1", "Halima", "Wakiso", json!([])))
            .await;
        let log = police
            .wait_for_log(&webhook, |log| {
                log.first()
                    .is_some_and(|delivery| !delivery["attempts"].as_array().unwrap().is_empty())
            })
            .await;
        let error = log[0]["attempts"][0]["error"].as_str().unwrap();
        assert!(error.contains("refused"), "{error}");
        assert!(
            receiver.all().is_empty(),
            "no request reached the internal host"
        );
        server.terminate();
        database.drop_database().await;
    }
    pub async fn referrals_reach_both_agencies_webhooks(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let police_key = server::create_client(&database, "agency", Some("police-ug"));
        let welfare_key = server::create_client(&database, "agency", Some("welfare-ug"));
        let (police_receiver, police_hook) = Receiver::start(0, 0).await;
        let (welfare_receiver, welfare_hook) = Receiver::start(0, 0).await;
        let server = start_server(&database, &ALLOW_LOCAL);
        let police = Api::new(&server.url, &police_key);
        let welfare = Api::new(&server.url, &welfare_key);
        let referral_types = ["referral.created", "referral.updated"];
        police.subscribe(&police_hook, &referral_types).await;
        let (_, welfare_secret) = welfare.subscribe(&welfare_hook, &referral_types).await;

        // The police refer a child the welfare office holds no record of.
        let child = police
            .register(&record(
                "police-ug",
                "P-9",
                "Halima",
                "Wakiso",
                json!([{"type": "referral", "date": "2024-03-02", "sensitivity": "restricted",
                        "details": {"to": "welfare-ug", "reason": "needs a safe place to stay"}}]),
            ))
            .await;
        for receiver in [&police_receiver, &welfare_receiver] {
            let created = receiver.wait_for_deliveries(1).await;
            let body = created[0].json();
            assert_eq!(body["type"], "referral.created", "{body}");
            assert_eq!(body["data"]["child_id"], child.as_str());
        }
        assert!(signed_with(
            &welfare_secret,
            &welfare_receiver.delivered()[0]
        ));

        // The welfare office accepts it; both agencies hear of the move.
        let inbox: Value = welfare
            .get("/v1/referrals?to=welfare-ug")
            .await
            .json()
            .await
            .unwrap();
        let id = inbox["referrals"][0]["referral_id"].as_i64().unwrap();
        let moved = welfare
            .post(
                &format!("/v1/referrals/{id}/status"),
                &json!({"status": "accepted"}),
            )
            .await;
        assert!(moved.status().is_success(), "{}", moved.status());
        for receiver in [&police_receiver, &welfare_receiver] {
            let delivered = receiver.wait_for_deliveries(2).await;
            let body = delivered[1].json();
            assert_eq!(body["type"], "referral.updated", "{body}");
            assert_eq!(body["data"]["child_id"], child.as_str());
            assert!(
                !delivered[1].body.contains("safe place"),
                "no referral reason"
            );
        }
        server.terminate();
        database.drop_database().await;
    }
}

on_both_backends!(
    the_feed_is_ordered_scoped_and_redacted,
    subscriptions_are_checked_and_private,
    deliveries_are_signed_and_scoped,
    failures_are_retried_in_order_per_child,
    a_restart_resumes_pending_deliveries,
    internal_targets_are_refused_when_sending_too,
    referrals_reach_both_agencies_webhooks,
);

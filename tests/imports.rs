//! Bulk import jobs (issue 9) against the real binary on both backends: CSV (also as
//! spreadsheets save it) and NDJSON, the Primero and OSCaR mappings, bad rows rejected with line and field while the others land,
//! the results CSV, an agency kept to its own source system, a job resumed after `kill -9`
//! with exactly the right counts, and `child-registry import` on the command line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::server::{args, create_client, run_ok, Server};
use common::{problem, Backend, TestDatabase};

const AGENCY: &str = "welfare-ug";

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post_import(
    url: &str,
    key: &str,
    query: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    http()
        .post(format!("{url}/v1/imports{query}"))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get_json(url: &str, path: &str, key: &str) -> Value {
    let response = http()
        .get(format!("{url}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// Submits and answers the job (202 with its links).
async fn submit(url: &str, key: &str, query: &str, content_type: &str, body: String) -> Value {
    let response = post_import(url, key, query, content_type, body).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    let location = response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["links"]["self"], json!(location));
    assert!(job["id"].as_str().unwrap().starts_with("imp_"));
    job
}

/// Polls the job until it is done (or failed).
async fn wait_done(url: &str, key: &str, job: &Value) -> Value {
    let path = job["links"]["self"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let job = get_json(url, &path, key).await;
        if job["status"] == "done" || job["status"] == "failed" {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the job did not finish: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The results CSV as rows of column → value.
async fn results(
    url: &str,
    key: &str,
    job: &Value,
) -> Vec<std::collections::HashMap<String, String>> {
    let response = http()
        .get(format!(
            "{url}{}",
            job["links"]["results"].as_str().unwrap()
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn assert_counts(job: &Value, total: i64, linked: i64, new: i64, review: i64, rejected: i64) {
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        (
            job["total_rows"].as_i64().unwrap(),
            job["rows_done"].as_i64().unwrap(),
            job["linked"].as_i64().unwrap(),
            job["new"].as_i64().unwrap(),
            job["review"].as_i64().unwrap(),
            job["rejected"].as_i64().unwrap(),
        ),
        (total, total, linked, new, review, rejected),
        "{job}"
    );
}

const CANONICAL_CSV: &str = "\
source_system,source_record_id,given_name,family_name,other_names,sex,date_of_birth,date_of_birth_estimated,district,subcounty,village,mother_name,father_name,identifiers
welfare-ug,W-1,Halima,Aguti,,F,2018-03-14,false,Gulu,Bardege,Pece,Grace Akello,John Okello,birth_registration:UG-BR-2018-1
welfare-ug,W-2,Halima,Aguti,Hali,F,2018-03-14,false,Gulu,Bardege,Pece,Grace Akello,John Okello,
welfare-ug,W-3,Brian,Mugisha,,M,2016-07-01,true,Mbarara,Kakoba,,Sarah Kyomuhendo,,
welfare-ug,W-4,Peter,Ssali,,Q,2015-01-01,false,Kampala,,,,,
police-ug,P-1,Ruth,Nambi,,F,2017-05-05,false,Jinja,,,,,
welfare-ug,W-5,,,,F,2014-02-02,false,Lira,,,,,
";

mod cases {
    use super::*;

    /// CSV and NDJSON: good rows land (a duplicate child links), bad rows are rejected with
    /// their line and field, and the results say so row by row.
    pub async fn csv_and_ndjson(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let key = create_client(&database, "agency", Some(AGENCY));
        let server = Server::start(&database);
        let url = server.url.clone();

        let job = submit(&url, &key, "", "text/csv", CANONICAL_CSV.to_owned()).await;
        assert_eq!(job["total_rows"], 6);
        assert_eq!(job["format"], "csv");
        let job = wait_done(&url, &key, &job).await;
        // W-1 new, W-2 the same child (linked), W-3 new; W-4 bad sex, P-1 another agency's,
        // W-5 without a name.
        assert_counts(&job, 6, 1, 2, 0, 3);
        let rows = results(&url, &key, &job).await;
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0]["outcome"], "new");
        assert_eq!(rows[1]["outcome"], "linked");
        assert_eq!(rows[0]["child_id"], rows[1]["child_id"]);
        let bad_sex = &rows[3];
        assert_eq!(
            (
                bad_sex["outcome"].as_str(),
                bad_sex["line"].as_str(),
                bad_sex["error_field"].as_str()
            ),
            ("rejected", "5", "sex")
        );
        // A row that could not be read still names the agency's record.
        assert_eq!(
            (
                bad_sex["source_system"].as_str(),
                bad_sex["source_record_id"].as_str()
            ),
            ("welfare-ug", "W-4")
        );
        assert_eq!(rows[4]["error_field"], "source_system");
        assert_eq!(rows[4]["error_code"], "forbidden_source_system");
        assert_eq!(
            (rows[5]["line"].as_str(), rows[5]["error_field"].as_str()),
            ("7", "given_name")
        );
        // The imported record is the registry's like any other.
        let history = get_json(&url, "/v1/records/welfare-ug/W-2", &key).await;
        assert_eq!(
            history["child_id"].as_str(),
            Some(rows[1]["child_id"].as_str())
        );
        assert_eq!(
            history["versions"][0]["child"]["other_names"],
            json!(["Hali"])
        );

        // NDJSON of /v1/records bodies: the identifier links to the CSV's child; an update of
        // W-3 takes the update path (version 2); a malformed line is rejected by its path.
        let ndjson = [
            json!({"source_system": AGENCY, "source_record_id": "N-1",
                   "child": {"given_name": "Halimah", "family_name": "Aguti",
                             "identifiers": [{"type": "birth_registration", "value": "UG-BR-2018-1"}]},
                   "events": [{"type": "welfare.case_opened", "date": "2024-01-02"}]})
            .to_string(),
            json!({"source_system": AGENCY, "source_record_id": "W-3",
                   "child": {"given_name": "Brian", "family_name": "Mugisha", "sex": "M",
                             "date_of_birth": "2016-07-01", "district": "Mbarara", "village": "Nyamitanga"}})
            .to_string(),
            json!({"source_system": AGENCY, "source_record_id": "N-2",
                   "child": {"given_name": "Amos", "date_of_birth": "not a date"}})
            .to_string(),
        ]
        .join("\n");
        let job = submit(&url, &key, "", "application/x-ndjson", ndjson).await;
        let job = wait_done(&url, &key, &job).await;
        assert_eq!(job["format"], "ndjson");
        // N-1 linked by its identifier; W-3's update stays with its child (new, as before).
        assert_counts(&job, 3, 1, 1, 0, 1);
        let rows = results(&url, &key, &job).await;
        assert_eq!(rows[0]["child_id"], history["child_id"].as_str().unwrap());
        assert_eq!(rows[2]["error_field"], "child.date_of_birth");
        assert_eq!(rows[2]["line"], "3");
        assert_eq!(rows[2]["source_record_id"], "N-2");
        let updated = get_json(&url, "/v1/records/welfare-ug/W-3", &key).await;
        assert_eq!(updated["current_version"], 2);
        let timeline = get_json(
            &url,
            &format!("/v1/children/{}/timeline", rows[0]["child_id"]),
            &key,
        )
        .await;
        assert_eq!(timeline["events"][0]["type"], "welfare.case_opened");

        // As a spreadsheet saves it where the comma is the decimal separator: a byte order
        // mark, semicolons, Windows line endings, day-first dates. Lines are the file's.
        let spreadsheet = "\u{feff}source_system;source_record_id;given_name;family_name;sex;date_of_birth;district\r\n\
welfare-ug;S-1;Grace;Atim;F;14.03.2019;Gulu\r\n\
welfare-ug;S-2;Moses;\"Okello; Jr\";M;1 July 2016;Lira\r\n\
welfare-ug;S-3;Ruth;Nambi;Q;05/05/2017;Jinja\r\n";
        let job = submit(&url, &key, "", "text/csv", spreadsheet.to_owned()).await;
        let job = wait_done(&url, &key, &job).await;
        assert_counts(&job, 3, 0, 2, 0, 1);
        let rows = results(&url, &key, &job).await;
        assert_eq!(
            (rows[2]["line"].as_str(), rows[2]["error_field"].as_str()),
            ("4", "sex")
        );
        let grace = get_json(&url, "/v1/records/welfare-ug/S-1", &key).await;
        assert_eq!(
            grace["versions"][0]["child"]["date_of_birth"],
            json!("2019-03-14")
        );
        let moses = get_json(&url, "/v1/records/welfare-ug/S-2", &key).await;
        assert_eq!(
            (
                &moses["versions"][0]["child"]["family_name"],
                &moses["versions"][0]["child"]["date_of_birth"]
            ),
            (&json!("Okello; Jr"), &json!("2016-07-01"))
        );

        // A body that cannot be read as a whole is refused at once, naming the column.
        let response = post_import(
            &url,
            &key,
            "",
            "text/csv",
            "source_system,source_record_id,given_nme\nwelfare-ug,X,Y\n",
        )
        .await;
        assert_eq!(problem(response, 400).await["field"], "given_nme");
        let response = post_import(&url, &key, "", "application/json", "{}").await;
        problem(response, 415).await;
        let response = post_import(&url, &key, "?mapping=cpims", "text/csv", "a\n").await;
        assert_eq!(problem(response, 400).await["field"], "mapping");
        server.kill_hard();
        database.drop_database().await;
    }

    /// A Primero case export (CSV) and an OSCaR client export (NDJSON), mapped field by field.
    pub async fn primero_and_oscar_mappings(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let primero_key = create_client(&database, "agency", Some("primero-ug"));
        let oscar_key = create_client(&database, "agency", Some("oscar-kh"));
        let server = Server::start(&database);
        let url = server.url.clone();

        let primero = "\
Case ID Display,Name First,Name Middle,Name Last,Sex,Date of Birth,Estimated,Location Current,Mothers Name,National ID No,Workflow,Age,Registration Date
a1b2c3d,Sarah,Joy,Nakato,female,03-Feb-2018,true,Wakiso,Agnes Nakato,CM0123,case_plan,6,10-Mar-2024
e4f5g6h,Daniel,,Ouma,male,31-Feb-2016,false,Tororo,,,new,,
i7j8k9l,Peter,,Ocen,male,,,Gulu,,,new,7,10-Mar-2024
";
        let job = submit(
            &url,
            &primero_key,
            "?mapping=primero",
            "text/csv",
            primero.to_owned(),
        )
        .await;
        assert_eq!(job["mapping"], "primero");
        let job = wait_done(&url, &primero_key, &job).await;
        assert_counts(&job, 3, 0, 2, 0, 1);
        let rows = results(&url, &primero_key, &job).await;
        assert_eq!(
            (
                rows[1]["error_field"].as_str(),
                rows[1]["error_code"].as_str()
            ),
            ("date_of_birth", "invalid_date")
        );
        let record = get_json(&url, "/v1/records/primero-ug/a1b2c3d", &primero_key).await;
        let child = &record["versions"][0]["child"];
        assert_eq!(child["given_name"], "Sarah");
        assert_eq!(child["family_name"], "Nakato");
        assert_eq!(child["other_names"], json!(["Joy"]));
        assert_eq!(child["sex"], "F");
        assert_eq!(child["date_of_birth"], "2018-02-03");
        assert_eq!(child["date_of_birth_estimated"], true);
        assert_eq!(child["district"], "Wakiso");
        assert_eq!(child["mother_name"], "Agnes Nakato");
        assert_eq!(
            child["identifiers"],
            json!([{"type": "national_id", "value": "CM0123"}])
        );
        // Only an age: seven when registered in March 2024, so born about September 2016.
        let record = get_json(&url, "/v1/records/primero-ug/i7j8k9l", &primero_key).await;
        let child = &record["versions"][0]["child"];
        assert_eq!(child["date_of_birth"], "2016-09-10");
        assert_eq!(child["date_of_birth_estimated"], true);

        let oscar = [
            json!({"slug": "kh-0042", "given_name": "Sokha", "family_name": "Chan",
                   "local_given_name": "សុខា", "local_family_name": "ចាន់", "gender": "female",
                   "date_of_birth": "2015-09-20", "province": "Battambang", "district": "Sangkae",
                   "commune": "Ou Mal", "village": "Kampong Seima", "birth_cert_number": "BB-77",
                   "status": "Active"}),
            json!({"slug": "kh-0043", "given_name": "Dara", "gender": "robot"}),
            // A Khmer-language form writes the date in Khmer: "day 12, month January, year
            // 2016".
            json!({"slug": "kh-0044", "given_name": "Vuthy", "family_name": "Kim",
                   "gender": "ប្រុស", "date_of_birth": "ថ្ងៃទី១២ ខែមករា ឆ្នាំ២០១៦"}),
        ]
        .map(|line| line.to_string())
        .join("\n");
        let job = submit(
            &url,
            &oscar_key,
            "?mapping=oscar",
            "application/x-ndjson",
            oscar,
        )
        .await;
        let job = wait_done(&url, &oscar_key, &job).await;
        assert_counts(&job, 3, 0, 2, 0, 1);
        let rows = results(&url, &oscar_key, &job).await;
        assert_eq!(rows[1]["error_field"], "gender");
        let record = get_json(&url, "/v1/records/oscar-kh/kh-0042", &oscar_key).await;
        let child = &record["versions"][0]["child"];
        assert_eq!(child["given_name"], "Sokha");
        assert_eq!(child["other_names"], json!(["សុខា ចាន់"]));
        assert_eq!(child["sex"], "F");
        assert_eq!(child["district"], "Sangkae");
        assert_eq!(child["subcounty"], "Ou Mal");
        assert_eq!(child["village"], "Kampong Seima");
        assert_eq!(
            child["identifiers"],
            json!([{"type": "birth_registration", "value": "BB-77"}])
        );
        let record = get_json(&url, "/v1/records/oscar-kh/kh-0044", &oscar_key).await;
        let child = &record["versions"][0]["child"];
        assert_eq!(child["date_of_birth"], "2016-01-12");
        assert_eq!(child["sex"], "M");
        server.kill_hard();
        database.drop_database().await;
    }

    /// Only agency systems import, only for themselves; a job is seen by its submitter only;
    /// the audit log has the job and names the children it wrote.
    pub async fn scope_and_audit(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let key = create_client(&database, "agency", Some(AGENCY));
        let other = create_client(&database, "agency", Some("police-ug"));
        let steward = create_client(&database, "data_steward", None);
        let auditor = create_client(&database, "auditor", None);
        let server = Server::start(&database);
        let url = server.url.clone();

        let response = post_import(&url, &steward, "", "text/csv", CANONICAL_CSV).await;
        problem(response, 403).await;
        let response = post_import(&url, "crk_not_a_key", "", "text/csv", CANONICAL_CSV).await;
        problem(response, 401).await;

        // Every row names police-ug: each is rejected, the job is not.
        let foreign = CANONICAL_CSV
            .lines()
            .enumerate()
            .map(|(n, line)| {
                if n == 0 {
                    line.to_owned()
                } else {
                    line.replacen("welfare-ug", "police-ug", 1)
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let job = submit(&url, &key, "", "text/csv", foreign).await;
        let job = wait_done(&url, &key, &job).await;
        assert_counts(&job, 6, 0, 0, 0, 6);
        let rows = results(&url, &key, &job).await;
        assert!(rows
            .iter()
            .filter(|row| row["line"] != "5" && row["line"] != "7")
            .all(|row| row["error_code"] == "forbidden_source_system"));

        let job = submit(&url, &key, "", "text/csv", CANONICAL_CSV.to_owned()).await;
        let job = wait_done(&url, &key, &job).await;
        let path = job["links"]["self"].as_str().unwrap();
        for (stranger, status) in [(&other, 404), (&steward, 404)] {
            let response = http()
                .get(format!("{url}{path}"))
                .bearer_auth(stranger)
                .send()
                .await
                .unwrap();
            problem(response, status).await;
        }
        let children: BTreeSet<String> = results(&url, &key, &job)
            .await
            .into_iter()
            .filter(|row| !row["child_id"].is_empty())
            .map(|row| row["child_id"].clone())
            .collect();
        assert_eq!(children.len(), 2);

        let entries = database
            .open()
            .await
            .audit_entries(0, 10_000)
            .await
            .unwrap();
        let submitted = entries
            .iter()
            .filter(|entry| entry.action == "import.submitted")
            .count();
        assert_eq!(submitted, 2);
        let completed = entries
            .iter()
            .find(|entry| {
                entry.action == "import.completed" && entry.target.as_deref() == job["id"].as_str()
            })
            .expect("the job's completion is audited");
        assert_eq!(completed.details["rows"], 6);
        for child in &children {
            let log = get_json(&url, &format!("/v1/children/{child}/access-log"), &auditor).await;
            assert!(
                log.to_string().contains("import.completed"),
                "the child's access log names the import: {log}"
            );
        }
        server.kill_hard();
        database.drop_database().await;
    }

    /// `kill -9` while a large job runs: after a restart the job resumes and ends with every
    /// row counted once, one result per row and one source record per accepted row.
    pub async fn resumes_after_kill(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let key = create_client(&database, "agency", Some(AGENCY));
        let dataset = synthetic::generate(&synthetic::GeneratorConfig {
            seed: 5,
            records: 24_000,
            events: false,
            ..Default::default()
        });
        let body = dataset
            .records
            .iter()
            .map(|record| {
                let mut body = record.api_body();
                body["source_system"] = json!(AGENCY);
                body["source_record_id"] = json!(record.record_id);
                body.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n");
        let total = dataset.records.len() as i64;

        let server = Server::start(&database);
        let job = submit(&server.url, &key, "", "application/x-ndjson", body).await;
        let path = job["links"]["self"].as_str().unwrap().to_owned();
        let started = Instant::now();
        let done_when_killed = loop {
            let progress = get_json(&server.url, &path, &key).await;
            let done = progress["rows_done"].as_i64().unwrap();
            if done > 0 {
                assert!(
                    done < total,
                    "the job finished before it could be interrupted"
                );
                break done;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no progress: {progress}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        server.kill_hard();

        let server = Server::start(&database);
        let job = wait_done(&server.url, &key, &job).await;
        assert!(job["rows_done"].as_i64().unwrap() > done_when_killed);
        let counted = ["linked", "new", "review", "rejected"]
            .iter()
            .map(|field| job[field].as_i64().unwrap())
            .sum::<i64>();
        assert_eq!(
            (job["rows_done"].as_i64().unwrap(), counted),
            (total, total),
            "{job}"
        );
        let rows = results(&server.url, &key, &job).await;
        let numbers: BTreeSet<i64> = rows.iter().map(|row| row["row"].parse().unwrap()).collect();
        assert_eq!(numbers, (1..=total).collect::<BTreeSet<i64>>());
        let accepted = rows
            .iter()
            .filter(|row| row["outcome"] != "rejected")
            .count();
        let stored = database.open().await.match_records().await.unwrap().len();
        assert_eq!(stored, accepted, "one source record per accepted row");
        let linked = rows.iter().filter(|row| row["outcome"] == "linked").count() as i64;
        assert_eq!(linked, job["linked"].as_i64().unwrap());
        server.kill_hard();
        database.drop_database().await;
    }

    /// `child-registry import --file` registers the file and prints the summary.
    pub async fn cli_import(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let file = database.dir.path().join("children.csv");
        std::fs::write(&file, CANONICAL_CSV).unwrap();
        let stdout = run_ok(&args(
            &["import", "--quiet", "--file", file.to_str().unwrap()],
            &database,
        ));
        assert!(
            stdout.contains("6 of 6 rows; linked 1, new 3, review 0, rejected 2 (done)"),
            "{stdout}"
        );
        // Again: the same records, unchanged, answer with their current child.
        let stdout = run_ok(&args(
            &["import", "--quiet", "--file", file.to_str().unwrap()],
            &database,
        ));
        assert!(stdout.contains("6 of 6 rows"), "{stdout}");
        let store = database.open().await;
        assert_eq!(store.match_records().await.unwrap().len(), 4);

        let primero = database.dir.path().join("primero.csv");
        std::fs::write(
            &primero,
            "case_id_display,name_first,name_last,sex,date_of_birth\nc-1,Sarah,Nakato,female,2018-02-03\n",
        )
        .unwrap();
        let output = common::server::run(&args(
            &[
                "import",
                "--quiet",
                "--file",
                primero.to_str().unwrap(),
                "--mapping",
                "primero",
            ],
            &database,
        ));
        assert!(
            !output.status.success(),
            "a mapped export needs --source-system"
        );
        let stdout = run_ok(&args(
            &[
                "import",
                "--quiet",
                "--file",
                primero.to_str().unwrap(),
                "--mapping",
                "primero",
                "--source-system",
                "primero-ug",
            ],
            &database,
        ));
        assert!(stdout.contains("1 of 1 rows; linked 0, new 1"), "{stdout}");
        database.drop_database().await;
    }

    /// A later job compares its rows with a record as it is now: the server keeps the records
    /// an import read or wrote prepared for the next chunks and jobs, and a record updated
    /// online in between must not be compared as it was.
    pub async fn a_later_job_sees_records_as_updated(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let key = create_client(&database, "agency", Some(AGENCY));
        let server = Server::start(&database);
        let url = server.url.clone();
        let header = CANONICAL_CSV.lines().next().unwrap();
        let before = "Samuel,Okot,,M,2015-04-02,false,Gulu,Bardege,Pece,Grace Akello,John Okot,";
        let after = "Denis,Opio,,M,2013-09-09,false,Lira,Adekokwok,Barapwo,Rose Auma,Tom Opio,";

        let first = format!("{header}\n{AGENCY},W-10,{before}\n");
        let job = submit(&url, &key, "", "text/csv", first).await;
        let job = wait_done(&url, &key, &job).await;
        assert_counts(&job, 1, 0, 1, 0, 0);
        let child = results(&url, &key, &job).await[0]["child_id"].clone();

        // The agency corrects the record online: another child's details altogether.
        let response = http()
            .post(format!("{url}/v1/records"))
            .bearer_auth(&key)
            .json(&json!({"source_system": AGENCY, "source_record_id": "W-10",
                          "child": {"given_name": "Denis", "family_name": "Opio", "sex": "M",
                                    "date_of_birth": "2013-09-09", "district": "Lira",
                                    "subcounty": "Adekokwok", "village": "Barapwo",
                                    "mother_name": "Rose Auma", "father_name": "Tom Opio"}}))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
        let record = get_json(&url, &format!("/v1/records/{AGENCY}/W-10"), &key).await;
        assert_eq!(record["current_version"], 2);

        // The corrected details link to the child; the old ones are no longer that child's.
        let second = format!("{header}\n{AGENCY},W-11,{after}\n{AGENCY},W-12,{before}\n");
        let job = submit(&url, &key, "", "text/csv", second).await;
        let job = wait_done(&url, &key, &job).await;
        let rows = results(&url, &key, &job).await;
        assert_eq!(rows[0]["outcome"], "linked", "{rows:?}");
        assert_eq!(rows[0]["child_id"], child);
        assert_eq!(rows[1]["outcome"], "new", "{rows:?}");
        assert_counts(&job, 2, 1, 1, 0, 0);
        server.kill_hard();
        database.drop_database().await;
    }
}

on_both_backends!(
    a_later_job_sees_records_as_updated,
    csv_and_ndjson,
    primero_and_oscar_mappings,
    scope_and_audit,
    resumes_after_kill,
    cli_import
);

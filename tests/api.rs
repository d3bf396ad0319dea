//! The HTTP API end to end: the real router on a real port, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use registry::clients::Role;
use serde_json::{json, Value};

use common::{problem, Backend, TestApp};

fn halima() -> Value {
    json!({
        "source_system": "police-ug", "source_record_id": "CPU-51786006",
        "child": {"given_name": "Halima", "family_name": "Aguti", "other_names": [],
                  "sex": "F", "date_of_birth": "2022-01-01", "date_of_birth_estimated": true,
                  "district": "Wakiso", "subcounty": null, "village": "Wairaka",
                  "mother_name": null, "father_name": null,
                  "identifiers": [{"type": "birth_registration", "value": "UG-BR-2022-123"}]},
        "events": [{"type": "police.case_opened", "date": "2024-03-01",
                    "sensitivity": "restricted", "details": {"offence": "neglect"}}]
    })
}

mod cases {
    use super::*;

    pub async fn registration_is_idempotent_and_versioned(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;

        let first = app.post_json("/v1/records", &police, &halima()).await;
        assert_eq!(first.status(), 201);
        let first: Value = first.json().await.unwrap();
        assert_eq!(first["record_version"], 1);
        assert_eq!(first["match"]["outcome"], "new");
        assert_eq!(first["match"]["probability"], Value::Null);
        let child_id = first["child_id"].as_str().unwrap().to_owned();
        assert!(child_id.parse::<registry::ChildId>().is_ok());

        let again = app.post_json("/v1/records", &police, &halima()).await;
        assert_eq!(again.status(), 200);
        let again: Value = again.json().await.unwrap();
        assert_eq!(again["child_id"], child_id.as_str());
        assert_eq!(again["record_version"], 1);

        let mut changed = halima();
        changed["child"]["village"] = json!("Kasangati");
        let updated = app.post_json("/v1/records", &police, &changed).await;
        assert_eq!(updated.status(), 200);
        let updated: Value = updated.json().await.unwrap();
        assert_eq!(updated["record_version"], 2);
        assert_eq!(updated["child_id"], child_id.as_str());

        let history: Value = app
            .get("/v1/records/police-ug/CPU-51786006", &police)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(history["versions"].as_array().unwrap().len(), 2);
        assert_eq!(history["versions"][1]["child"]["village"], "Wairaka");

        let timeline: Value = app
            .get(&format!("/v1/children/{child_id}/timeline"), &police)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            timeline["events"].as_array().unwrap().len(),
            1,
            "the repeated event is not duplicated"
        );
        app.finish().await;
    }

    pub async fn children_and_timelines_are_readable(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let registered: Value = app
            .post_json("/v1/records", &police, &halima())
            .await
            .json()
            .await
            .unwrap();
        let child_id = registered["child_id"].as_str().unwrap();

        let mut enrolment = halima();
        enrolment["source_system"] = json!("school-ug");
        enrolment["source_record_id"] = json!("STU-2019-004512");
        enrolment["child"]["given_name"] = json!("Halimah");
        enrolment["events"] = json!([{"type": "school.enrolled", "date": "2023-02-01"}]);
        let linked = app.post_json("/v1/records", &school, &enrolment).await;
        assert_eq!(linked.status(), 201);
        let linked: Value = linked.json().await.unwrap();
        assert_eq!(linked["match"]["outcome"], "linked");
        assert_eq!(linked["child_id"], child_id);

        let response = app
            .get(&format!("/v1/children/{child_id}"), &official)
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let child: Value = response.json().await.unwrap();
        assert_eq!(child["child_id"], child_id);
        assert_eq!(child["status"], "active");
        assert_eq!(child["records"].as_array().unwrap().len(), 2);
        assert_eq!(child["summary"]["family_name"], "Aguti");
        assert_eq!(
            child["summary"]["source_systems"],
            json!(["police-ug", "school-ug"])
        );

        // Lower case and without hyphens reads the same child.
        let compact = child_id.replace('-', "").to_lowercase();
        assert_eq!(
            app.get(&format!("/v1/children/{compact}"), &official)
                .await
                .status(),
            200
        );

        let timeline: Value = app
            .get(&format!("/v1/children/{child_id}/timeline"), &official)
            .await
            .json()
            .await
            .unwrap();
        let events = timeline["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["type"], "school.enrolled");
        assert_eq!(events[0]["provenance"]["source_system"], "school-ug");
        assert_eq!(events[1]["type"], "police.case_opened");
        assert_eq!(events[1]["provenance"]["source_record_id"], "CPU-51786006");
        assert_eq!(events[1]["provenance"]["record_version"], 1);
        assert!(events[1]["provenance"]["received_at"].is_string());
        app.finish().await;
    }

    pub async fn access_is_scoped_by_role(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let court = app.key(Role::Agency, Some("court-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let steward = app.key(Role::DataSteward, None).await;
        let registered: Value = app
            .post_json("/v1/records", &police, &halima())
            .await
            .json()
            .await
            .unwrap();
        let child_id = registered["child_id"].as_str().unwrap();

        // Registering under another agency's source system is forbidden; officials don't register.
        let body = problem(app.post_json("/v1/records", &court, &halima()).await, 403).await;
        assert_eq!(body["code"], "forbidden");
        problem(
            app.post_json("/v1/records", &official, &halima()).await,
            403,
        )
        .await;

        // An agency without records for the child cannot tell that it exists.
        problem(
            app.get(&format!("/v1/children/{child_id}"), &court).await,
            404,
        )
        .await;
        problem(
            app.get(&format!("/v1/children/{child_id}/timeline"), &court)
                .await,
            404,
        )
        .await;
        problem(
            app.get("/v1/records/police-ug/CPU-51786006", &court).await,
            404,
        )
        .await;
        assert_eq!(
            app.get(&format!("/v1/children/{child_id}"), &police)
                .await
                .status(),
            200
        );
        assert_eq!(
            app.get(&format!("/v1/children/{child_id}"), &steward)
                .await
                .status(),
            200
        );

        // Missing, malformed and revoked keys.
        let anonymous = app
            .http
            .get(format!("{}/v1/children/{child_id}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        problem(anonymous, 401).await;
        problem(
            app.get(&format!("/v1/children/{child_id}"), "crk_not-a-key")
                .await,
            401,
        )
        .await;
        let clients = app.store.list_clients().await.unwrap();
        let police_client = clients
            .iter()
            .find(|c| c.agency.as_deref() == Some("police-ug"))
            .unwrap();
        app.store
            .revoke_client(&police_client.client_id)
            .await
            .unwrap();
        problem(app.post_json("/v1/records", &police, &halima()).await, 401).await;
        app.finish().await;
    }

    pub async fn bad_input_gets_a_problem_naming_the_field(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;

        let send_raw = |body: &'static str, content_type: &'static str| {
            app.http
                .post(format!("{}/v1/records", app.url))
                .bearer_auth(&police)
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        let body = problem(
            send_raw("{\"source_system\": ", "application/json")
                .await
                .unwrap(),
            400,
        )
        .await;
        assert_eq!(body["code"], "malformed_json");
        let body = problem(send_raw("{}", "text/plain").await.unwrap(), 415).await;
        assert_eq!(body["code"], "unsupported_media_type");

        let cases: Vec<(Value, &str, &str)> = vec![
            (
                {
                    let mut b = halima();
                    b["child"]["favourite_colour"] = json!("red");
                    b
                },
                "unknown_field",
                "child",
            ),
            (
                {
                    let mut b = halima();
                    b["child"]["date_of_birth"] = json!("2022-02-30");
                    b
                },
                "invalid_value",
                "child.date_of_birth",
            ),
            (
                {
                    let mut b = halima();
                    b["child"]["date_of_birth"] = json!("2099-01-01");
                    b
                },
                "date_of_birth_in_future",
                "child.date_of_birth",
            ),
            (
                {
                    let mut b = halima();
                    b["child"]["sex"] = json!("female");
                    b
                },
                "invalid_value",
                "child.sex",
            ),
            (
                {
                    let mut b = halima();
                    b["events"][0]["date"] = json!("01/03/2024");
                    b
                },
                "invalid_value",
                "events[0].date",
            ),
            (
                {
                    let mut b = halima();
                    b["events"][0]["sensitivity"] = json!("secret");
                    b
                },
                "invalid_value",
                "events[0].sensitivity",
            ),
            (
                {
                    let mut b = halima();
                    b["child"]["given_name"] = json!("");
                    b["child"]["family_name"] = json!(null);
                    b
                },
                "name_required",
                "child.given_name",
            ),
            (
                {
                    let mut b = halima();
                    b.as_object_mut().unwrap().remove("source_record_id");
                    b
                },
                "missing_field",
                "source_record_id",
            ),
            (
                {
                    let mut b = halima();
                    b["source_record_id"] = json!("   ");
                    b
                },
                "required",
                "source_record_id",
            ),
            (
                {
                    let mut b = halima();
                    b["child"]["identifiers"][0]["type"] = json!("Birth Reg");
                    b
                },
                "invalid_code",
                "child.identifiers[0].type",
            ),
        ];
        for (body, code, field) in cases {
            let response = problem(app.post_json("/v1/records", &police, &body).await, 400).await;
            assert_eq!(response["code"], code, "{response}");
            assert!(
                response["field"].as_str().unwrap().starts_with(field),
                "{response}"
            );
        }

        let oversized = json!({"source_system": "police-ug", "source_record_id": "x".repeat(2 * 1024 * 1024), "child": {}});
        let response = app.post_json("/v1/records", &police, &oversized).await;
        // The body was left unread, so the connection must not be reused for the next request.
        assert_eq!(response.headers()["connection"], "close");
        let body = problem(response, 413).await;
        assert_eq!(body["code"], "payload_too_large");

        // Nothing of the rejected bodies was stored.
        assert_eq!(app.store.outbox_head().await.unwrap(), 0);

        let body = problem(app.get("/v1/children/7KQ2-M9XA-04TB", &official).await, 400).await;
        assert_eq!(body["field"], "child_id");
        let registered: Value = app
            .post_json("/v1/records", &police, &halima())
            .await
            .json()
            .await
            .unwrap();
        let mut wrong_check = registered["child_id"].as_str().unwrap().to_owned();
        let check = wrong_check.pop().unwrap();
        wrong_check.push(if check == '0' { '1' } else { '0' });
        let body = problem(
            app.get(&format!("/v1/children/{wrong_check}"), &official)
                .await,
            400,
        )
        .await;
        assert_eq!(body["code"], "invalid_child_id");
        assert!(body["detail"].as_str().unwrap().contains("check character"));
        problem(
            app.get(
                &format!("/v1/children/{}", registry::ChildId::random()),
                &official,
            )
            .await,
            404,
        )
        .await;
        problem(app.get("/v1/nowhere", &official).await, 404).await;
        let body = problem(
            app.http
                .delete(format!("{}/v1/records", app.url))
                .send()
                .await
                .unwrap(),
            405,
        )
        .await;
        assert_eq!(body["code"], "method_not_allowed");
        app.finish().await;
    }

    /// A generated child as a welfare or police system would send it.
    fn child_record(system: &str, id: &str, child: Value) -> Value {
        json!({"source_system": system, "source_record_id": id, "child": child,
               "events": [{"type": format!("{system}.contact"), "date": "2025-02-01"}]})
    }

    fn bopha() -> Value {
        json!({"given_name": "Bopha", "family_name": "Chenda", "sex": "F",
               "date_of_birth": "2014-02-03", "district": "Kandal", "subcounty": "Ta Khmau",
               "village": "Prek Ho", "mother_name": "Srey Chenda", "father_name": "Vuthy Chenda"})
    }

    pub async fn duplicates_link_and_doubts_reach_the_review_queue(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let version = common::add_wider_review_band(app.store.as_ref()).await;
        app.store.activate_model_version(version).await.unwrap();
        let police = app.key(Role::Agency, Some("police-kh")).await;
        let school = app.key(Role::Agency, Some("school-kh")).await;
        let welfare = app.key(Role::Agency, Some("welfare-kh")).await;
        let steward = app.key(Role::DataSteward, None).await;

        let first: Value = app
            .post_json(
                "/v1/records",
                &police,
                &child_record("police-kh", "P-1", bopha()),
            )
            .await
            .json()
            .await
            .unwrap();
        let child_id = first["child_id"].as_str().unwrap().to_owned();
        // The same child from the school, name order swapped: linked at once.
        let mut swapped = bopha();
        swapped["given_name"] = json!("CHENDA");
        swapped["family_name"] = json!("BOPHA");
        let linked = app
            .post_json(
                "/v1/records",
                &school,
                &child_record("school-kh", "S-1", swapped),
            )
            .await;
        assert_eq!(linked.status(), 201);
        let linked: Value = linked.json().await.unwrap();
        assert_eq!(linked["match"]["outcome"], "linked");
        assert_eq!(linked["child_id"], child_id.as_str());
        assert!(linked["match"]["probability"].as_f64().unwrap() > 0.9);
        assert_eq!(linked["match"]["candidates"], json!([child_id]));

        // Same name and district, an estimated birth date in that year, nothing else: a
        // steward decides.
        let doubtful = json!({"given_name": "Bopha", "family_name": "Chenda", "sex": "F",
                              "date_of_birth": "2014-07-01", "date_of_birth_estimated": true,
                              "district": "Kandal"});
        let review: Value = app
            .post_json(
                "/v1/records",
                &welfare,
                &child_record("welfare-kh", "W-1", doubtful),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(review["match"]["outcome"], "review", "{review}");
        let own_child = review["child_id"].as_str().unwrap().to_owned();
        assert_ne!(own_child, child_id);
        assert_eq!(review["match"]["candidates"], json!([child_id]));

        // Only stewards see the queue.
        let body = problem(app.get("/v1/match-candidates", &welfare).await, 403).await;
        assert_eq!(body["code"], "forbidden");
        for (query, field) in [
            ("status=maybe", "status"),
            ("sort=newest", "sort"),
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=many", "limit"),
            ("colour=red", "colour"),
            ("cursor=-4", "cursor"),
        ] {
            let body = problem(
                app.get(&format!("/v1/match-candidates?{query}"), &steward)
                    .await,
                400,
            )
            .await;
            assert_eq!(body["field"], field, "{query}");
        }
        let page: Value = app
            .get(
                "/v1/match-candidates?status=open&district=kandal&sort=probability",
                &steward,
            )
            .await
            .json()
            .await
            .unwrap();
        let candidates = page["candidates"].as_array().unwrap();
        assert_eq!(candidates.len(), 1, "{page}");
        let candidate = &candidates[0];
        assert_eq!(candidate["record"]["source_record_id"], "W-1");
        assert_eq!(candidate["record"]["child"]["date_of_birth"], "2014-07-01");
        assert_eq!(candidate["candidate"]["child_id"], child_id.as_str());
        assert_eq!(candidate["candidate"]["summary"]["village"], "Prek Ho");
        let waterfall = candidate["explanation"]["comparisons"].as_array().unwrap();
        assert!(waterfall
            .iter()
            .all(|step| step["comparison"].is_string() && step["weight"].is_number()));
        // The agency systems are compared too: welfare's record against the child's police
        // and school records.
        assert!(
            waterfall
                .iter()
                .any(|step| step["comparison"] == "source_system" && step["level"] == "else"),
            "{candidate}"
        );
        let id = candidate["id"].as_i64().unwrap();
        let other_district: Value = app
            .get("/v1/match-candidates?district=Battambang", &steward)
            .await
            .json()
            .await
            .unwrap();
        assert!(other_district["candidates"].as_array().unwrap().is_empty());

        problem(app.get("/v1/match-candidates/abc", &steward).await, 400).await;
        problem(app.get("/v1/match-candidates/999999", &steward).await, 404).await;
        let decide = format!("/v1/match-candidates/{id}/decision");
        let body = problem(
            app.post_json(
                &decide,
                &steward,
                &json!({"decision": "perhaps", "reason": "x"}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(body["field"], "decision");
        let body = problem(
            app.post_json(
                &decide,
                &steward,
                &json!({"decision": "link", "reason": ""}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(body["field"], "reason");
        problem(
            app.post_json(
                &decide,
                &welfare,
                &json!({"decision": "link", "reason": "same"}),
            )
            .await,
            403,
        )
        .await;

        // A second steward claims the candidate: until they let go, the first can neither
        // decide it nor take it over, and sees it as not available.
        let colleague = app.key(Role::DataSteward, None).await;
        let claim = format!("/v1/match-candidates/{id}/claim");
        for (body, field) in [
            (json!({"minutes": 0}), "minutes"),
            (json!({"minutes": 481}), "minutes"),
            (json!({"hours": 1}), "hours"),
        ] {
            let body = problem(app.post_json(&claim, &colleague, &body).await, 400).await;
            assert_eq!(body["field"], field);
        }
        let body = problem(
            app.get("/v1/match-candidates?claim=theirs", &steward).await,
            400,
        )
        .await;
        assert_eq!(body["field"], "claim");
        problem(app.post_json(&claim, &welfare, &json!({})).await, 403).await;
        let held = app.post_json(&claim, &colleague, &json!({})).await;
        assert_eq!(held.status(), 200);
        let held: Value = held.json().await.unwrap();
        let holder = held["claimed_by"].as_str().unwrap().to_owned();
        assert_eq!(held["id"], id);
        let until =
            chrono::DateTime::parse_from_rfc3339(held["claimed_until"].as_str().unwrap()).unwrap();
        let minutes = (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
        assert!((28..=30).contains(&minutes), "{held}");
        let body = problem(
            app.post_json(
                &decide,
                &steward,
                &json!({"decision": "not_a_match", "reason": "too quick"}),
            )
            .await,
            409,
        )
        .await;
        assert_eq!(body["code"], "candidate_claimed");
        assert!(body["detail"].as_str().unwrap().contains(&holder), "{body}");
        let body = problem(app.post_json(&claim, &steward, &json!({})).await, 409).await;
        assert_eq!(body["code"], "candidate_claimed");
        problem(app.delete(&claim, &steward).await, 409).await;
        let listed = |key: String, filter: &'static str| {
            let app = &app;
            async move {
                let path = format!("/v1/match-candidates?claim={filter}");
                let page: Value = app.get(&path, &key).await.json().await.unwrap();
                page["candidates"].as_array().unwrap().len()
            }
        };
        assert_eq!(listed(steward.clone(), "available").await, 0);
        assert_eq!(listed(steward.clone(), "any").await, 1);
        assert_eq!(listed(colleague.clone(), "available").await, 1);
        assert_eq!(listed(colleague.clone(), "mine").await, 1);
        assert_eq!(listed(steward.clone(), "mine").await, 0);
        let seen: Value = app
            .get(&format!("/v1/match-candidates/{id}"), &steward)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(seen["claim"]["claimed_by"], holder.as_str());
        assert_eq!(seen["status"], "open");
        let stats: Value = app
            .get("/v1/match-candidates/stats", &steward)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(stats["claimed"], 1);
        // Let go (twice: the second has nothing to release), the first steward decides.
        for _ in 0..2 {
            assert_eq!(app.delete(&claim, &colleague).await.status(), 204);
        }
        assert_eq!(listed(steward.clone(), "available").await, 1);

        let decided: Value = app
            .post_json(
                &decide,
                &steward,
                &json!({"decision": "link", "reason": "mother confirmed at the welfare office"}),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(decided["status"], "linked");
        assert_eq!(decided["child_id"], child_id.as_str());
        let merged: Value = app
            .get(&format!("/v1/children/{own_child}"), &steward)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(merged["merged_into"], child_id.as_str());
        assert_eq!(merged["records"].as_array().unwrap().len(), 3);
        let body = problem(
            app.post_json(
                &decide,
                &steward,
                &json!({"decision": "defer", "reason": "again"}),
            )
            .await,
            409,
        )
        .await;
        assert_eq!(body["code"], "candidate_decided");

        let stats: Value = app
            .get("/v1/match-candidates/stats", &steward)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(stats["open"], 0);
        assert_eq!(stats["decisions_by_steward"][0]["links"], 1);
        assert_eq!(stats["defer_share"], 0.0);
        let single: Value = app
            .get(&format!("/v1/match-candidates/{id}"), &steward)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(single["status"], "linked");
        assert_eq!(
            single["decisions"][0]["reason"],
            "mother confirmed at the welfare office"
        );
        app.finish().await;
    }

    pub async fn stewards_merge_and_unlink(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let steward = app.key(Role::DataSteward, None).await;
        let first: Value = app
            .post_json("/v1/records", &police, &halima())
            .await
            .json()
            .await
            .unwrap();
        let mut enrolment = halima();
        enrolment["source_system"] = json!("school-ug");
        enrolment["source_record_id"] = json!("STU-1");
        enrolment["child"]["identifiers"] = json!([]);
        // Another child (the model would link a copy of Halima's record on its own).
        enrolment["child"]["given_name"] = json!("Nakato");
        enrolment["child"]["family_name"] = json!("Namubiru");
        enrolment["child"]["date_of_birth"] = json!("2019-05-05");
        let second: Value = app
            .post_json("/v1/records", &school, &enrolment)
            .await
            .json()
            .await
            .unwrap();
        let (a, b) = (
            first["child_id"].as_str().unwrap(),
            second["child_id"].as_str().unwrap(),
        );
        assert_ne!(a, b);

        let merge = json!({"into": b, "reason": "same birth registration on paper file"});
        let body = problem(
            app.post_json(&format!("/v1/children/{a}/merge"), &police, &merge)
                .await,
            403,
        )
        .await;
        assert_eq!(body["code"], "forbidden");
        let body = problem(
            app.post_json(
                &format!("/v1/children/{a}/merge"),
                &steward,
                &json!({"into": "nope", "reason": "x"}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(body["field"], "into");
        let body = problem(
            app.post_json(
                &format!("/v1/children/{a}/merge"),
                &steward,
                &json!({"into": b, "reason": " "}),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(body["field"], "reason");

        let merged = app
            .post_json(&format!("/v1/children/{a}/merge"), &steward, &merge)
            .await;
        assert_eq!(merged.status(), 200);
        let merged: Value = merged.json().await.unwrap();
        assert_eq!(merged["into"], b);
        let body = problem(
            app.post_json(&format!("/v1/children/{a}/merge"), &steward, &merge)
                .await,
            409,
        )
        .await;
        assert_eq!(body["code"], "already_merged");

        let old: Value = app
            .get(&format!("/v1/children/{a}"), &steward)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(old["status"], "merged");
        assert_eq!(old["merged_into"], b);
        assert_eq!(old["records"].as_array().unwrap().len(), 2);
        // The police client still reaches the child through its own record.
        assert_eq!(
            app.get(&format!("/v1/children/{a}"), &police)
                .await
                .status(),
            200
        );

        let unlink = json!({"reason": "different mother on the school record"});
        let unlinked = app
            .post_json(
                "/v1/records/police-ug/CPU-51786006/unlink",
                &steward,
                &unlink,
            )
            .await;
        assert_eq!(unlinked.status(), 200);
        let unlinked: Value = unlinked.json().await.unwrap();
        assert_eq!(unlinked["child_id"], a);
        assert_eq!(unlinked["returned_to_origin"], true);
        let body = problem(
            app.post_json(
                "/v1/records/police-ug/CPU-51786006/unlink",
                &steward,
                &unlink,
            )
            .await,
            409,
        )
        .await;
        assert_eq!(body["code"], "only_record");
        problem(
            app.post_json("/v1/records/police-ug/none/unlink", &steward, &unlink)
                .await,
            404,
        )
        .await;
        assert!(app.store.invariant_violations().await.unwrap().is_empty());
        app.finish().await;
    }

    pub async fn operations_endpoints_answer(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        assert_eq!(
            app.http
                .get(format!("{}/healthz", app.url))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let ready: Value = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["status"], "ready");
        let spec: Value = app
            .http
            .get(format!("{}/openapi.json", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for path in [
            "/v1/records",
            "/v1/children/{child_id}",
            "/v1/children/{child_id}/timeline",
            "/healthz",
            "/readyz",
        ] {
            assert!(
                spec["paths"][path].is_object(),
                "{path} missing from the OpenAPI document"
            );
        }
        assert!(spec["components"]["schemas"]["RecordSubmission"].is_object());
        app.finish().await;
    }
}

on_both_backends!(
    registration_is_idempotent_and_versioned,
    children_and_timelines_are_readable,
    access_is_scoped_by_role,
    bad_input_gets_a_problem_naming_the_field,
    operations_endpoints_answer,
    stewards_merge_and_unlink,
    duplicates_link_and_doubts_reach_the_review_queue,
);

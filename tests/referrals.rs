//! Referrals end to end, on SQLite and PostgreSQL: made with a `referral` event or directly,
//! listed by both agencies, moved by the receiving agency, heard by the change feed, shown on
//! the timeline, audited.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use registry::clients::Role;
use serde_json::{json, Value};

use common::{problem, Backend, TestApp};

fn police_record(events: Value) -> Value {
    json!({
        "source_system": "police-ug", "source_record_id": "CPU-7001",
        "child": {"given_name": "Nakato", "family_name": "Birungi", "sex": "F",
                  "date_of_birth": "2014-04-02", "district": "Mukono", "village": "Seeta",
                  "identifiers": []},
        "events": events
    })
}

fn referral_event(to: &str) -> Value {
    json!({"type": "referral", "date": "2026-10-05", "sensitivity": "restricted",
           "details": {"to": to, "reason": "needs a safe place to stay"}})
}

fn opened() -> Value {
    json!({"type": "police.case_opened", "date": "2026-10-01", "sensitivity": "restricted",
           "details": {"role": "victim"}})
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    response.json().await.unwrap()
}

async fn referral_changes(app: &TestApp) -> Vec<(String, Value)> {
    app.store
        .outbox_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.kind.starts_with("referral."))
        .map(|entry| (entry.kind, entry.payload))
        .collect()
}

mod cases {
    use super::*;

    pub async fn a_referral_event_is_answered_by_the_receiving_agency(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let welfare = app.key(Role::Agency, Some("welfare-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let steward = app.key(Role::DataSteward, None).await;

        // A referral must name its receiver.
        let mut missing_to = police_record(json!([opened(), referral_event("welfare-ug")]));
        missing_to["events"][1]["details"] = json!({"reason": "no receiver"});
        let refused = problem(
            app.post_json("/v1/records", &police, &missing_to).await,
            400,
        )
        .await;
        assert_eq!(refused["field"], "events[1].details.to");
        assert!(
            referral_changes(&app).await.is_empty(),
            "nothing half-written"
        );

        let record = police_record(json!([opened(), referral_event("welfare-ug")]));
        let registered = json_of(app.post_json("/v1/records", &police, &record).await, 201).await;
        let child_id = registered["child_id"].as_str().unwrap().to_owned();
        // The same record again, and a new version still reporting the referral: one referral.
        json_of(app.post_json("/v1/records", &police, &record).await, 200).await;
        let mut updated = record.clone();
        updated["child"]["village"] = json!("Namilyango");
        json_of(app.post_json("/v1/records", &police, &updated).await, 200).await;

        // The receiving agency holds no record of the child, yet sees the referral with the
        // minimum it needs to act.
        problem(
            app.get(&format!("/v1/children/{child_id}"), &welfare).await,
            404,
        )
        .await;
        let inbox = json_of(
            app.get("/v1/referrals?to=welfare-ug&status=pending", &welfare)
                .await,
            200,
        )
        .await;
        let referrals = inbox["referrals"].as_array().unwrap();
        assert_eq!(referrals.len(), 1, "{inbox}");
        let referral = &referrals[0];
        assert_eq!(referral["from"], "police-ug");
        assert_eq!(referral["to"], "welfare-ug");
        assert_eq!(referral["status"], "pending");
        assert_eq!(referral["reason"], "needs a safe place to stay");
        assert_eq!(referral["referred_on"], "2026-10-05");
        assert_eq!(referral["child_id"], child_id.as_str());
        assert_eq!(referral["child"]["given_name"], "Nakato");
        assert_eq!(referral["child"]["village"], "Namilyango");
        assert!(referral["child"].get("identifiers").is_none());
        assert!(referral.get("events").is_none());
        let id = referral["referral_id"].as_i64().unwrap();
        // An agency's default inbox is its own.
        let default_inbox = json_of(app.get("/v1/referrals", &welfare).await, 200).await;
        assert_eq!(default_inbox["referrals"].as_array().unwrap().len(), 1);
        let none_accepted = json_of(
            app.get("/v1/referrals?to=welfare-ug&status=accepted", &welfare)
                .await,
            200,
        )
        .await;
        assert!(none_accepted["referrals"].as_array().unwrap().is_empty());

        // The sender sees what it sent; nobody else's referrals are anyone's business.
        let sent = json_of(app.get("/v1/referrals?from=police-ug", &police).await, 200).await;
        assert_eq!(sent["referrals"][0]["referral_id"], id);
        problem(app.get("/v1/referrals?to=welfare-ug", &police).await, 403).await;
        problem(app.get("/v1/referrals?from=police-ug", &school).await, 403).await;
        problem(app.get(&format!("/v1/referrals/{id}"), &school).await, 404).await;
        let bad = problem(app.get("/v1/referrals?status=lost", &welfare).await, 400).await;
        assert_eq!(bad["field"], "status");

        // Only the receiver moves it, and only along pending → accepted → closed.
        let path = format!("/v1/referrals/{id}/status");
        problem(
            app.post_json(&path, &police, &json!({"status": "accepted"}))
                .await,
            403,
        )
        .await;
        problem(
            app.post_json(&path, &school, &json!({"status": "accepted"}))
                .await,
            404,
        )
        .await;
        let skipped = problem(
            app.post_json(&path, &welfare, &json!({"status": "closed"}))
                .await,
            409,
        )
        .await;
        assert_eq!(skipped["code"], "invalid_transition");
        let bad = problem(
            app.post_json(&path, &welfare, &json!({"status": "lost"}))
                .await,
            400,
        )
        .await;
        assert_eq!(bad["field"], "status");
        let accepted = json_of(
            app.post_json(
                &path,
                &welfare,
                &json!({"status": "accepted", "note": "placed at the shelter"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(accepted["status"], "accepted");
        problem(
            app.post_json(&path, &welfare, &json!({"status": "declined"}))
                .await,
            409,
        )
        .await;
        let closed = json_of(
            app.post_json(&path, &welfare, &json!({"status": "closed"}))
                .await,
            200,
        )
        .await;
        let history = closed["history"].as_array().unwrap();
        let statuses: Vec<&str> = history
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["pending", "accepted", "closed"]);
        assert_eq!(history[1]["note"], "placed at the shelter");
        assert!(history[1]["actor"].as_str().unwrap().starts_with("cli_"));
        problem(
            app.post_json(&path, &welfare, &json!({"status": "closed"}))
                .await,
            409,
        )
        .await;

        // The child's timeline tells the referral's status now.
        let timeline = json_of(
            app.get(&format!("/v1/children/{child_id}/timeline"), &steward)
                .await,
            200,
        )
        .await;
        let event = timeline["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|event| event["type"] == "referral")
            .unwrap();
        assert_eq!(
            event["referral"],
            json!({"referral_id": id, "status": "closed"})
        );

        // Every creation and move is in the change feed, for both agencies' webhooks.
        let changes = referral_changes(&app).await;
        let expected: Vec<(String, Value)> = [
            ("referral.created", "pending"),
            ("referral.updated", "accepted"),
            ("referral.updated", "closed"),
        ]
        .into_iter()
        .map(|(kind, status)| {
            (
                kind.to_owned(),
                json!({"referral_id": id, "from": "police-ug", "to": "welfare-ug", "status": status}),
            )
        })
        .collect();
        assert_eq!(changes, expected);

        // And in the audit log.
        let actions: Vec<String> = app
            .store
            .audit_entries(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.action)
            .collect();
        assert!(actions.iter().any(|a| a == "referral.read"));
        assert_eq!(
            actions
                .iter()
                .filter(|a| *a == "referral.status_changed")
                .count(),
            2
        );
        app.finish().await;
    }

    pub async fn agencies_refer_directly_and_stewards_may_answer(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let national = app.key(Role::NationalOfficial, None).await;
        let steward = app.key(Role::DataSteward, None).await;
        let registered = json_of(
            app.post_json("/v1/records", &police, &police_record(json!([opened()])))
                .await,
            201,
        )
        .await;
        let child_id = registered["child_id"].as_str().unwrap().to_owned();

        let body = |to: &str| json!({"child_id": child_id, "to": to, "reason": "hearing due"});
        let to_self = problem(
            app.post_json("/v1/referrals", &police, &body("police-ug"))
                .await,
            400,
        )
        .await;
        assert_eq!(to_self["field"], "to");
        let bad_code = problem(
            app.post_json("/v1/referrals", &police, &body("Court UG"))
                .await,
            400,
        )
        .await;
        assert_eq!(bad_code["field"], "to");
        let missing = problem(
            app.post_json("/v1/referrals", &police, &json!({"child_id": child_id}))
                .await,
            400,
        )
        .await;
        assert_eq!(missing["field"], "to");
        // Only an agency holding a record of the child refers it.
        problem(
            app.post_json("/v1/referrals", &school, &body("court-ug"))
                .await,
            404,
        )
        .await;
        problem(
            app.post_json("/v1/referrals", &national, &body("court-ug"))
                .await,
            403,
        )
        .await;

        let made = json_of(
            app.post_json("/v1/referrals", &police, &body("court-ug"))
                .await,
            201,
        )
        .await;
        assert_eq!(made["status"], "pending");
        assert_eq!(made["from"], "police-ug");
        let id = made["referral_id"].as_i64().unwrap();

        // Officials read every referral in scope; they do not move them.
        let listed = json_of(app.get("/v1/referrals?to=court-ug", &national).await, 200).await;
        assert_eq!(listed["referrals"][0]["referral_id"], id);
        let path = format!("/v1/referrals/{id}/status");
        problem(
            app.post_json(&path, &national, &json!({"status": "declined"}))
                .await,
            403,
        )
        .await;
        let declined = json_of(
            app.post_json(
                &path,
                &steward,
                &json!({"status": "declined", "note": "court has no case"}),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(declined["status"], "declined");
        assert_eq!(
            referral_changes(&app).await,
            vec![
                (
                    "referral.created".to_owned(),
                    json!({"referral_id": id, "from": "police-ug", "to": "court-ug", "status": "pending"})
                ),
                (
                    "referral.updated".to_owned(),
                    json!({"referral_id": id, "from": "police-ug", "to": "court-ug", "status": "declined"})
                ),
            ]
        );
        app.finish().await;
    }
    pub async fn an_imported_referral_event_opens_its_referral(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let welfare = app.key(Role::Agency, Some("welfare-ug")).await;
        let row = police_record(json!([opened(), referral_event("welfare-ug")]));
        let job = json_of(
            app.http
                .post(format!("{}/v1/imports", app.url))
                .bearer_auth(&police)
                .header("content-type", "application/x-ndjson")
                .body(format!("{row}\n"))
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
        // The runner `serve` starts, run here to the job's end.
        let done = registry::imports::run_to_end(
            app.store.as_ref(),
            job["id"].as_str().unwrap(),
            &registry::audit::AuditKey::random(),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(done.new, 1, "{done:?}");

        let inbox = json_of(
            app.get("/v1/referrals?to=welfare-ug&status=pending", &welfare)
                .await,
            200,
        )
        .await;
        let referrals = inbox["referrals"].as_array().unwrap();
        assert_eq!(referrals.len(), 1, "{inbox}");
        assert_eq!(referrals[0]["from"], "police-ug");
        assert_eq!(referrals[0]["reason"], "needs a safe place to stay");
        let child_id = referrals[0]["child_id"].as_str().unwrap();
        let kinds: Vec<String> = app
            .store
            .outbox_after(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|entry| entry.child_id.to_string() == child_id)
            .map(|entry| entry.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                "child.created",
                "record.registered",
                "event.added",
                "event.added",
                "referral.created"
            ],
            "{kinds:?}"
        );
        app.finish().await;
    }
}

on_both_backends!(
    a_referral_event_is_answered_by_the_receiving_agency,
    agencies_refer_directly_and_stewards_may_answer,
    an_imported_referral_event_opens_its_referral,
);

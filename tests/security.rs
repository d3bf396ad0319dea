//! People, sessions, roles, redaction, rate limits and the audit log, end to end: the real
//! router on a real port (and the real binary for the CLI), on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use gateway::session::SecurityConfig;
use registry::audit::AuditKey;
use registry::clients::Role;
use serde_json::{json, Value};

use common::{problem, Backend, TestApp};

const BINARY: &str = env!("CARGO_BIN_EXE_child-registry");
const PASSWORD: &str = "river lantern okra seventeen";

/// A logged-in person: the session cookie and the CSRF token.
struct Person {
    cookie: String,
    csrf: String,
}

async fn create_person(app: &TestApp, username: &str, role: Role, district: Option<&str>) {
    let person = common::Person {
        username,
        role,
        district,
        agency: None,
    };
    app.person(person, PASSWORD).await;
}

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/v1/session", app.url))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn log_in(app: &TestApp, username: &str) -> Person {
    let response = login(app, username, PASSWORD).await;
    assert_eq!(response.status(), 201);
    let cookie = session_cookie(&response);
    let body: Value = response.json().await.unwrap();
    Person {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

enum Auth<'a> {
    Anonymous,
    Key(&'a str),
    Session(&'a Person),
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    auth: &Auth<'_>,
) -> reqwest::Response {
    let mut request = app
        .http
        .request(method.clone(), format!("{}{path}", app.url));
    if let Some(body) = body {
        request = request.json(body);
    }
    request = match auth {
        Auth::Anonymous => request,
        Auth::Key(key) => request.bearer_auth(key),
        Auth::Session(person) => {
            let request = request.header("cookie", &person.cookie);
            if method == reqwest::Method::GET {
                request
            } else {
                request.header("x-csrf-token", &person.csrf)
            }
        }
    };
    request.send().await.unwrap()
}

fn record(system: &str, id: &str, given: &str, district: &str, events: Value) -> Value {
    json!({
        "source_system": system, "source_record_id": id,
        "child": {"given_name": given, "family_name": "Aguti", "sex": "F",
                  "date_of_birth": "2019-05-01", "district": district, "identifiers": []},
        "events": events
    })
}

async fn register(app: &TestApp, key: &str, body: &Value) -> String {
    let response = app.post_json("/v1/records", key, body).await;
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = response.json().await.unwrap();
    body["child_id"].as_str().unwrap().to_owned()
}

/// The roles of the authorisation matrix, in the order of its columns.
const WHO: [&str; 7] = [
    "anonymous",
    "national_official",
    "district_official",
    "agency",
    "data_steward",
    "admin",
    "auditor",
];

/// Not sent for this caller.
const SKIP: (u16, u16) = (0, 0);

struct Route {
    method: reqwest::Method,
    /// The path for the child in the caller's scope (`true`) or outside it (`false`).
    path: fn(&Fixture, bool) -> String,
    body: fn(&Fixture, bool) -> Option<Value>,
    /// (in scope, out of scope) status for each of [`WHO`].
    expect: [(u16, u16); 7],
}

/// Child A: a police record in Wakiso (the police agency's and the Wakiso official's scope).
/// Child B: a school record in Gulu (outside both).
struct Fixture {
    in_child: String,
    out_child: String,
}

impl Fixture {
    fn child(&self, in_scope: bool) -> &str {
        if in_scope {
            &self.in_child
        } else {
            &self.out_child
        }
    }
}

fn record_path(in_scope: bool) -> &'static str {
    if in_scope {
        "police-ug/P-A"
    } else {
        "school-ug/S-B"
    }
}

fn child_a() -> Value {
    record(
        "police-ug",
        "P-A",
        "Halima",
        "Wakiso",
        json!([{"type": "police.case_opened", "date": "2024-03-01", "sensitivity": "restricted",
                "details": {"offence": "neglect"}}]),
    )
}

fn child_b() -> Value {
    record(
        "school-ug",
        "S-B",
        "Akello",
        "Gulu",
        json!([{"type": "school.enrolled", "date": "2024-02-01"}]),
    )
}

/// Every route × every role × in and out of scope. Kept in step with docs/authorisation.md.
fn matrix() -> Vec<Route> {
    use reqwest::Method;
    const READ_CHILD: [(u16, u16); 7] = [
        (401, 401),
        (200, 200),
        (200, 404),
        (200, 404),
        (200, 200),
        (403, 403),
        (403, 403),
    ];
    const STEWARD_ONLY: [(u16, u16); 7] = [
        (401, 401),
        (403, 403),
        (403, 403),
        (403, 403),
        (409, 409),
        (403, 403),
        (403, 403),
    ];
    const STEWARD_READ: [(u16, u16); 7] = [
        (401, 401),
        (403, 403),
        (403, 403),
        (403, 403),
        (200, 200),
        (403, 403),
        (403, 403),
    ];
    const STEWARD_MISSING: [(u16, u16); 7] = [
        (401, 401),
        (403, 403),
        (403, 403),
        (403, 403),
        (404, 404),
        (403, 403),
        (403, 403),
    ];
    const ANYONE: [(u16, u16); 7] = [(200, 200); 7];
    const SEARCH: [(u16, u16); 7] = [
        (401, 401),
        (200, 200),
        (200, 200),
        (200, 200),
        (200, 200),
        (403, 403),
        (403, 403),
    ];
    const ADMIN_ONLY: [(u16, u16); 7] = [
        (401, 401),
        (403, 403),
        (403, 403),
        (403, 403),
        (403, 403),
        (200, 200),
        (403, 403),
    ];
    const ADMIN_CREATES: [(u16, u16); 7] = [
        (401, 401),
        (403, 403),
        (403, 403),
        (403, 403),
        (403, 403),
        (201, 201),
        (403, 403),
    ];
    const ADMIN_MISSING: [(u16, u16); 7] = [
        (401, 401),
        (403, 403),
        (403, 403),
        (403, 403),
        (403, 403),
        (404, 404),
        (403, 403),
    ];
    const WEBHOOK_CLIENTS: [(u16, u16); 7] = [
        (401, 401),
        (200, 200),
        (403, 403),
        (200, 200),
        (200, 200),
        (403, 403),
        (403, 403),
    ];
    const WEBHOOK_MISSING: [(u16, u16); 7] = [
        (401, 401),
        (404, 404),
        (403, 403),
        (404, 404),
        (404, 404),
        (403, 403),
        (403, 403),
    ];
    vec![
        Route {
            method: Method::GET,
            path: |f, s| format!("/v1/children/{}", f.child(s)),
            body: |_, _| None,
            expect: READ_CHILD,
        },
        Route {
            method: Method::GET,
            path: |f, s| format!("/v1/children/{}/timeline", f.child(s)),
            body: |_, _| None,
            expect: READ_CHILD,
        },
        Route {
            method: Method::GET,
            path: |_, s| format!("/v1/records/{}", record_path(s)),
            body: |_, _| None,
            expect: READ_CHILD,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/v1/search?q=Aguti".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (200, 200),
                (200, 200),
                (200, 200),
                (200, 200),
                (403, 403),
                (403, 403),
            ],
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/records".to_owned(),
            // In scope: the police agency repeats its own record; out: it claims the school's.
            body: |_, s| Some(if s { child_a() } else { child_b() }),
            expect: [
                (401, 401),
                (403, 403),
                (403, 403),
                (200, 403),
                (403, 403),
                (403, 403),
                (403, 403),
            ],
        },
        Route {
            method: Method::POST,
            // One NDJSON line: the agency's job is accepted either way; a row for another
            // source system is rejected inside the job, not the job.
            path: |_, _| "/v1/imports?format=ndjson".to_owned(),
            body: |_, s| Some(if s { child_a() } else { child_b() }),
            expect: [
                (401, 401),
                (403, 403),
                (403, 403),
                (202, 202),
                (403, 403),
                (403, 403),
                (403, 403),
            ],
        },
        Route {
            method: Method::GET,
            // A job is its submitter's: to everyone else it does not exist.
            path: |_, _| "/v1/imports/imp_00000000000000000000".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (404, 404),
                (404, 404),
                (404, 404),
                (404, 404),
                (404, 404),
                (404, 404),
            ],
        },
        Route {
            method: Method::GET,
            path: |_, _| "/v1/imports/imp_00000000000000000000/results".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (404, 404),
                (404, 404),
                (404, 404),
                (404, 404),
                (404, 404),
                (404, 404),
            ],
        },
        Route {
            method: Method::POST,
            path: |f, s| format!("/v1/children/{}/merge", f.child(s)),
            // Into itself: a steward passes authorisation and gets the 409 of the rule.
            body: |f, s| Some(json!({"into": f.child(s), "reason": "matrix"})),
            expect: STEWARD_ONLY,
        },
        Route {
            method: Method::POST,
            path: |_, s| format!("/v1/records/{}/unlink", record_path(s)),
            // The only record of its child: a steward gets the 409 of the rule.
            body: |_, _| Some(json!({"reason": "matrix"})),
            expect: STEWARD_ONLY,
        },
        Route {
            method: Method::GET,
            path: |f, s| format!("/v1/children/{}/access-log", f.child(s)),
            body: |_, _| None,
            expect: [
                (401, 401),
                (403, 403),
                (403, 403),
                (403, 403),
                (200, 200),
                (403, 403),
                (200, 200),
            ],
        },
        // The review queue: data stewards only. A candidate that does not exist is a 404.
        Route {
            method: Method::GET,
            path: |_, _| "/v1/match-candidates".to_owned(),
            body: |_, _| None,
            expect: STEWARD_READ,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/v1/match-candidates/stats".to_owned(),
            body: |_, _| None,
            expect: STEWARD_READ,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/v1/match-candidates/999999".to_owned(),
            body: |_, _| None,
            expect: STEWARD_MISSING,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/match-candidates/999999/decision".to_owned(),
            body: |_, _| Some(json!({"decision": "defer", "reason": "matrix"})),
            expect: STEWARD_MISSING,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/match-candidates/999999/claim".to_owned(),
            body: |_, _| Some(json!({"minutes": 5})),
            expect: STEWARD_MISSING,
        },
        Route {
            method: Method::DELETE,
            path: |_, _| "/v1/match-candidates/999999/claim".to_owned(),
            body: |_, _| None,
            expect: STEWARD_MISSING,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/v1/session".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (200, 200),
                (200, 200),
                (200, 200),
                (200, 200),
                (200, 200),
                (200, 200),
            ],
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/session".to_owned(),
            body: |_, _| Some(json!({"username": "nobody", "password": "not the password"})),
            expect: [(401, 401), SKIP, SKIP, SKIP, SKIP, SKIP, SKIP],
        },
        Route {
            method: Method::GET,
            path: |_, _| "/healthz".to_owned(),
            body: |_, _| None,
            expect: ANYONE,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/readyz".to_owned(),
            body: |_, _| None,
            expect: ANYONE,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/openapi.json".to_owned(),
            body: |_, _| None,
            expect: ANYONE,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/metrics".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (403, 403),
                (403, 403),
                (403, 403),
                (403, 403),
                (200, 200),
                (200, 200),
            ],
        },
        // People and API clients: administrators only. Each creation is fresh (in and out of
        // scope are two calls); disabling or revoking nobody is a 404.
        Route {
            method: Method::GET,
            path: |_, _| "/v1/users".to_owned(),
            body: |_, _| None,
            expect: ADMIN_ONLY,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/users".to_owned(),
            body: |_, in_scope| {
                Some(
                    json!({"username": format!("matrix.{in_scope}"), "role": "auditor",
                            "password": "tamarind lantern seventy"}),
                )
            },
            expect: ADMIN_CREATES,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/users/nobody.here/disable".to_owned(),
            body: |_, _| None,
            expect: ADMIN_MISSING,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/v1/clients".to_owned(),
            body: |_, _| None,
            expect: ADMIN_ONLY,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/clients".to_owned(),
            body: |_, _| Some(json!({"name": "matrix", "role": "auditor", "valid_days": 1})),
            expect: ADMIN_CREATES,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/clients/nobody/revoke".to_owned(),
            body: |_, _| None,
            expect: ADMIN_MISSING,
        },
        // FHIR R4: the same roles and scopes as the /v1 equivalents.
        Route {
            method: Method::GET,
            path: |_, _| "/fhir/metadata".to_owned(),
            body: |_, _| None,
            expect: ANYONE,
        },
        Route {
            method: Method::GET,
            path: |f, s| format!("/fhir/Patient/{}", f.child(s)),
            body: |_, _| None,
            expect: READ_CHILD,
        },
        Route {
            method: Method::GET,
            path: |_, _| "/fhir/Patient?family=Aguti".to_owned(),
            body: |_, _| None,
            expect: SEARCH,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/fhir/Patient/$match".to_owned(),
            body: |_, _| {
                Some(
                    json!({"resourceType": "Parameters", "parameter": [{"name": "resource",
                    "resource": {"resourceType": "Patient", "name": [{"family": "Aguti"}]}}]}),
                )
            },
            expect: SEARCH,
        },
        Route {
            method: Method::GET,
            path: |_, s| {
                let (system, id) = record_path(s).split_once('/').unwrap();
                format!("/fhir/Patient/$ihe-pix?sourceIdentifier=urn:child-registry:record:{system}|{id}")
            },
            body: |_, _| None,
            expect: READ_CHILD,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/fhir/Patient".to_owned(),
            // In scope: the police agency repeats its own record; out: it claims the school's.
            body: |_, s| {
                let (system, id, given, district) = if s {
                    ("police-ug", "P-A", "Halima", "Wakiso")
                } else {
                    ("school-ug", "S-B", "Akello", "Gulu")
                };
                Some(json!({"resourceType": "Patient",
                    "identifier": [{"system": format!("urn:child-registry:record:{system}"), "value": id}],
                    "name": [{"family": "Aguti", "given": [given]}], "gender": "female",
                    "birthDate": "2019-05-01", "address": [{"district": district}]}))
            },
            expect: [
                (401, 401),
                (403, 403),
                (403, 403),
                (200, 403),
                (403, 403),
                (403, 403),
                (403, 403),
            ],
        },
        // The change feed: every role that reads child data, each within its scope.
        Route {
            method: Method::GET,
            path: |_, _| "/v1/changes".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (200, 200),
                (200, 200),
                (200, 200),
                (200, 200),
                (403, 403),
                (403, 403),
            ],
        },
        // Webhooks: API clients that read child data; people have none. Another client's (or
        // no) subscription is a 404.
        Route {
            method: Method::GET,
            path: |_, _| "/v1/webhooks".to_owned(),
            body: |_, _| None,
            expect: WEBHOOK_CLIENTS,
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/webhooks".to_owned(),
            body: |_, _| {
                Some(json!({"url": "https://8.8.8.8/hook", "event_types": ["child.merged"]}))
            },
            expect: [
                (401, 401),
                (201, 201),
                (403, 403),
                (201, 201),
                (201, 201),
                (403, 403),
                (403, 403),
            ],
        },
        Route {
            method: Method::GET,
            path: |_, _| "/v1/webhooks/whk_nobody/deliveries".to_owned(),
            body: |_, _| None,
            expect: WEBHOOK_MISSING,
        },
        Route {
            method: Method::DELETE,
            path: |_, _| "/v1/webhooks/whk_nobody".to_owned(),
            body: |_, _| None,
            expect: WEBHOOK_MISSING,
        },
        // Referrals (issue 9): an agency lists its own (to itself by default), officials and
        // stewards those in scope; only agencies refer, only about their own children.
        Route {
            method: Method::GET,
            path: |_, _| "/v1/referrals".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (200, 200),
                (200, 200),
                (200, 200),
                (200, 200),
                (403, 403),
                (403, 403),
            ],
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/referrals".to_owned(),
            body: |f, s| {
                Some(json!({"child_id": f.child(s), "to": "court-ug", "reason": "matrix"}))
            },
            expect: [
                (401, 401),
                (403, 403),
                (403, 403),
                (201, 404),
                (403, 403),
                (403, 403),
                (403, 403),
            ],
        },
        Route {
            method: Method::POST,
            path: |_, _| "/v1/referrals/999999/status".to_owned(),
            body: |_, _| Some(json!({"status": "accepted"})),
            expect: [
                (401, 401),
                (404, 404),
                (404, 404),
                (404, 404),
                (404, 404),
                (403, 403),
                (403, 403),
            ],
        },
        // Indicators: national officials, and district officials for their district.
        Route {
            method: Method::GET,
            path: |_, _| "/v1/indicators".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (200, 200),
                (200, 200),
                (403, 403),
                (403, 403),
                (403, 403),
                (403, 403),
            ],
        },
        // Last: it ends the district official's session.
        Route {
            method: Method::DELETE,
            path: |_, _| "/v1/session".to_owned(),
            body: |_, _| None,
            expect: [
                (401, 401),
                (400, 400),
                (204, 401),
                (400, 400),
                (400, 400),
                (400, 400),
                (400, 400),
            ],
        },
    ]
}

mod cases {
    use super::*;

    pub async fn authorisation_matrix(backend: Backend) {
        let key = AuditKey::random();
        let audit_key = key.clone();
        let app = TestApp::spawn_with(backend, move |state| state.with_audit_key(audit_key)).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let fixture = Fixture {
            in_child: register(&app, &police, &child_a()).await,
            out_child: register(&app, &school, &child_b()).await,
        };
        let national = app.key(Role::NationalOfficial, None).await;
        let steward = app.key(Role::DataSteward, None).await;
        let admin = app.key(Role::Admin, None).await;
        let auditor = app.key(Role::Auditor, None).await;
        create_person(
            &app,
            "wakiso.official",
            Role::DistrictOfficial,
            Some("Wakiso"),
        )
        .await;
        let district = log_in(&app, "wakiso.official").await;
        let callers = [
            Auth::Anonymous,
            Auth::Key(&national),
            Auth::Session(&district),
            Auth::Key(&police),
            Auth::Key(&steward),
            Auth::Key(&admin),
            Auth::Key(&auditor),
        ];

        // Search hits must be in the index before the search rows mean anything.
        wait_for_hits(&app, &national, 2).await;
        let mut failures = Vec::new();
        for route in matrix() {
            for (column, auth) in callers.iter().enumerate() {
                let (expect_in, expect_out) = route.expect[column];
                for (in_scope, expected) in [(true, expect_in), (false, expect_out)] {
                    if expected == 0 {
                        continue;
                    }
                    let path = (route.path)(&fixture, in_scope);
                    let body = (route.body)(&fixture, in_scope);
                    let response =
                        send(&app, route.method.clone(), &path, body.as_ref(), auth).await;
                    let status = response.status().as_u16();
                    if status != expected {
                        failures.push(format!(
                            "{} {path} as {} ({}): expected {expected}, got {status}",
                            route.method,
                            WHO[column],
                            if in_scope { "in scope" } else { "out of scope" },
                        ));
                    }
                    if status >= 400 && path.starts_with("/fhir") {
                        fhir_outcome(response, status).await;
                    } else if status >= 400 {
                        problem(response, status).await;
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));

        // Search is scoped inside the query: neither the agency nor the district official
        // gets the other child, and the agency sees only its own source system named.
        let hits = |body: Value| -> Vec<String> {
            body["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|hit| hit["child_id"].as_str().unwrap().to_owned())
                .collect()
        };
        let police_hits: Value = app
            .get("/v1/search?q=Aguti", &police)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(hits(police_hits.clone()), vec![fixture.in_child.clone()]);
        assert_eq!(police_hits["hits"][0]["agencies"], json!(["police-ug"]));
        let district = log_in(&app, "wakiso.official").await;
        let district_hits: Value = send(
            &app,
            reqwest::Method::GET,
            "/v1/search?q=Aguti",
            None,
            &Auth::Session(&district),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(hits(district_hits), vec![fixture.in_child.clone()]);

        // Everything above was audited, and the chain holds.
        let verified = registry::store::verify_audit_log(app.store.as_ref(), &key)
            .await
            .unwrap()
            .unwrap();
        assert!(verified > 30, "only {verified} audit entries");
        app.finish().await;
    }

    pub async fn sessions_need_csrf_and_lock_after_five_failures(backend: Backend) {
        let app = TestApp::spawn_with(backend, |state| {
            state.with_security(SecurityConfig {
                logins_per_minute_per_address: 100,
                ..SecurityConfig::default()
            })
        })
        .await;
        create_person(&app, "sara", Role::DataSteward, None).await;

        let wrong = login(&app, "sara", "not her password at all").await;
        assert_eq!(problem(wrong, 401).await["code"], "invalid_credentials");
        let unknown = login(&app, "nobody", PASSWORD).await;
        assert_eq!(problem(unknown, 401).await["code"], "invalid_credentials");

        let response = login(&app, "sara", PASSWORD).await;
        assert_eq!(response.status(), 201);
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        assert!(!set_cookie.contains("Secure"), "no TLS here: {set_cookie}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let cookie = session_cookie(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user"]["role"], "data_steward");
        assert!(body.get("password_hash").is_none());
        let sara = Person {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        };

        let me: Value = send(
            &app,
            reqwest::Method::GET,
            "/v1/session",
            None,
            &Auth::Session(&sara),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(me["name"], "sara");
        assert_eq!(me["authenticated_by"], "session");

        // A write with the cookie but without the CSRF token is refused before it runs.
        let merge = format!("/v1/children/{}/merge", registry::ChildId::random());
        let no_token = app
            .http
            .post(format!("{}{merge}", app.url))
            .header("cookie", &sara.cookie)
            .json(&json!({"into": registry::ChildId::random(), "reason": "r"}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(no_token, 403).await["code"], "csrf_token_invalid");
        let forged = Person {
            cookie: sara.cookie.clone(),
            csrf: "0".repeat(64),
        };
        let body = json!({"into": registry::ChildId::random(), "reason": "r"});
        let wrong_token = send(
            &app,
            reqwest::Method::POST,
            &merge,
            Some(&body),
            &Auth::Session(&forged),
        )
        .await;
        assert_eq!(
            problem(wrong_token, 403).await["code"],
            "csrf_token_invalid"
        );
        let with_token = send(
            &app,
            reqwest::Method::POST,
            &merge,
            Some(&body),
            &Auth::Session(&sara),
        )
        .await;
        problem(with_token, 404).await;

        let logout_without_token = app
            .http
            .delete(format!("{}/v1/session", app.url))
            .header("cookie", &sara.cookie)
            .send()
            .await
            .unwrap();
        problem(logout_without_token, 403).await;
        let logout = send(
            &app,
            reqwest::Method::DELETE,
            "/v1/session",
            None,
            &Auth::Session(&sara),
        )
        .await;
        assert_eq!(logout.status(), 204);
        assert!(logout.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
        let after = send(
            &app,
            reqwest::Method::GET,
            "/v1/session",
            None,
            &Auth::Session(&sara),
        )
        .await;
        problem(after, 401).await;

        // Five wrong passwords lock the account: the right one is refused for 15 minutes.
        create_person(&app, "lena", Role::NationalOfficial, None).await;
        for _ in 0..5 {
            problem(login(&app, "lena", "a wrong guess again").await, 401).await;
        }
        let locked = problem(login(&app, "lena", PASSWORD).await, 401).await;
        assert_eq!(locked["code"], "account_locked", "{locked}");
        let (lena, _) = app
            .store
            .user_with_password_hash("lena")
            .await
            .unwrap()
            .unwrap();
        assert!(lena.is_locked(chrono::Utc::now()));

        // A disabled person cannot log in.
        app.store.disable_user("sara").await.unwrap();
        problem(login(&app, "sara", PASSWORD).await, 401).await;
        app.finish().await;
    }

    pub async fn sessions_time_out(backend: Backend) {
        for (idle, absolute) in [(1, 3600), (3600, 1)] {
            let app = TestApp::spawn_with(backend, move |state| {
                state.with_security(SecurityConfig {
                    session_idle: chrono::Duration::seconds(idle),
                    session_absolute: chrono::Duration::seconds(absolute),
                    ..SecurityConfig::default()
                })
            })
            .await;
            create_person(&app, "amina", Role::NationalOfficial, None).await;
            let amina = log_in(&app, "amina").await;
            let fresh = send(
                &app,
                reqwest::Method::GET,
                "/v1/session",
                None,
                &Auth::Session(&amina),
            )
            .await;
            assert_eq!(fresh.status(), 200);
            tokio::time::sleep(Duration::from_millis(1300)).await;
            let stale = send(
                &app,
                reqwest::Method::GET,
                "/v1/session",
                None,
                &Auth::Session(&amina),
            )
            .await;
            problem(stale, 401).await;
            app.finish().await;
        }
    }

    pub async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
        let app = TestApp::spawn_with(backend, |state| {
            state.with_security(SecurityConfig {
                requests_per_minute_per_credential: 3,
                logins_per_minute_per_address: 2,
                ..SecurityConfig::default()
            })
        })
        .await;
        let official = app.key(Role::NationalOfficial, None).await;
        let other = app.key(Role::NationalOfficial, None).await;
        for _ in 0..3 {
            assert_eq!(app.get("/v1/session", &official).await.status(), 200);
        }
        let limited = app.get("/v1/session", &official).await;
        let retry_after: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(problem(limited, 429).await["code"], "too_many_requests");
        assert_eq!(
            app.get("/v1/session", &other).await.status(),
            200,
            "per credential"
        );

        for _ in 0..2 {
            problem(login(&app, "nobody", PASSWORD).await, 401).await;
        }
        let limited = login(&app, "nobody", PASSWORD).await;
        assert!(limited.headers().contains_key("retry-after"));
        problem(limited, 429).await;
        app.finish().await;
    }

    pub async fn redaction_by_role_and_purpose_is_recorded(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let auditor = app.key(Role::Auditor, None).await;
        let mut police_record = record(
            "police-ug",
            "CPU-1",
            "Halima",
            "Wakiso",
            json!([
                {"type": "police.case_opened", "date": "2024-03-01", "sensitivity": "restricted",
                 "details": {"offence": "neglect"}},
                {"type": "health.abuse_report", "date": "2024-03-02", "sensitivity": "confidential",
                 "details": {"finding": "injuries"}}
            ]),
        );
        police_record["child"]["identifiers"] =
            json!([{"type": "birth_registration", "value": "UG-BR-1"}]);
        let child = register(&app, &police, &police_record).await;
        let mut school_record = record(
            "school-ug",
            "STU-1",
            "Halimah",
            "Wakiso",
            json!([{"type": "school.enrolled", "date": "2023-02-01"}]),
        );
        school_record["child"]["identifiers"] =
            json!([{"type": "birth_registration", "value": "UG-BR-1"}]);
        assert_eq!(register(&app, &school, &school_record).await, child);

        // The school sees the child and its own record, not the police's.
        let view: Value = app
            .get(&format!("/v1/children/{child}"), &school)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(view["records"].as_array().unwrap().len(), 1);
        assert_eq!(view["summary"]["source_systems"], json!(["school-ug"]));
        let timeline: Value = app
            .get(&format!("/v1/children/{child}/timeline"), &school)
            .await
            .json()
            .await
            .unwrap();
        let types: Vec<&str> = timeline["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["school.enrolled"]);
        problem(app.get("/v1/records/police-ug/CPU-1", &school).await, 404).await;

        // The police see their own confidential event in full.
        let own: Value = app
            .get(&format!("/v1/children/{child}/timeline"), &police)
            .await
            .json()
            .await
            .unwrap();
        assert!(own.to_string().contains("injuries"));

        // An official sees restricted events; confidential ones only with a purpose.
        let without: Value = app
            .get(&format!("/v1/children/{child}/timeline"), &official)
            .await
            .json()
            .await
            .unwrap();
        let text = without.to_string();
        assert!(text.contains("neglect"));
        assert!(
            !text.contains("injuries") && !text.contains("abuse_report"),
            "{text}"
        );
        assert!(text.contains("withheld"));
        let with = app
            .http
            .get(format!("{}/v1/children/{child}/timeline", app.url))
            .bearer_auth(&official)
            .header("x-purpose", "child protection case 12")
            .header("x-request-id", "req-break-glass")
            .send()
            .await
            .unwrap();
        assert_eq!(with.status(), 200);
        assert!(with.text().await.unwrap().contains("injuries"));
        let history: Value = app
            .get("/v1/records/police-ug/CPU-1", &official)
            .await
            .json()
            .await
            .unwrap();
        assert!(!history.to_string().contains("injuries"));

        // The access log names who read the child, why, and flags the confidential read.
        let log = app
            .get(&format!("/v1/children/{child}/access-log"), &auditor)
            .await;
        assert_eq!(log.status(), 200);
        assert_eq!(log.headers()["cache-control"], "no-store");
        let log: Value = log.json().await.unwrap();
        let entries = log["entries"].as_array().unwrap();
        let glass = entries
            .iter()
            .find(|entry| entry["request_id"] == "req-break-glass")
            .expect("the break-the-glass read is logged");
        assert_eq!(glass["action"], "child.timeline_read");
        assert_eq!(glass["purpose"], "child protection case 12");
        assert_eq!(glass["flagged"], true);
        assert_eq!(glass["actor"]["role"], "national_official");
        let unflagged = entries
            .iter()
            .filter(|entry| entry["action"] == "child.timeline_read" && entry["flagged"] == false)
            .count();
        assert!(
            unflagged >= 2,
            "reads without confidential content are not flagged"
        );
        assert!(entries
            .iter()
            .any(|entry| entry["action"] == "record.registered"
                && entry["target"] == "school-ug/STU-1"));
        app.finish().await;
    }

    pub async fn cli_manages_people_and_verify_finds_tampering(backend: Backend) {
        let database = common::TestDatabase::new(backend).await;
        let key_file = database.dir.path().join("audit.key");
        let store_flags = database.cli_flags();
        let mut flags = store_flags.clone();
        flags.extend([
            "--audit-key-file".to_owned(),
            key_file.display().to_string(),
        ]);
        let run = |args: &[&str], stdin: Option<&str>| {
            let mut command = Command::new(BINARY);
            // `users list` writes no audit entry and takes no key.
            let flags = if args.ends_with(&["list"]) {
                &store_flags
            } else {
                &flags
            };
            command
                .args(args)
                .args(flags)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = command.spawn().unwrap();
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
            drop(input);
            child.wait_with_output().unwrap()
        };
        let weak = run(
            &[
                "users",
                "create",
                "--username",
                "amina",
                "--role",
                "national_official",
            ],
            Some("password1234\n"),
        );
        assert!(!weak.status.success());
        assert!(String::from_utf8_lossy(&weak.stderr).contains("too common"));
        let created = run(
            &[
                "users",
                "create",
                "--username",
                "amina",
                "--role",
                "district_official",
                "--district",
                "Wakiso",
            ],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        assert!(String::from_utf8_lossy(&created.stdout).contains("district: Wakiso"));
        let reset = run(
            &["users", "reset-password", "amina"],
            Some("a different long phrase 7\n"),
        );
        assert!(
            reset.status.success(),
            "{}",
            String::from_utf8_lossy(&reset.stderr)
        );
        let disabled = run(&["users", "disable", "amina"], None);
        assert!(disabled.status.success());
        let listed = run(&["users", "list"], None);
        assert!(String::from_utf8_lossy(&listed.stdout)
            .contains("amina\tdistrict_official\tWakiso\tdisabled"));

        let verified = run(&["audit", "verify"], None);
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        assert!(String::from_utf8_lossy(&verified.stdout).contains("3 entries verified"));

        // Someone with database access rewrites the second entry.
        let statements = match &database.scratch {
            Some(_) => [
                "DROP TRIGGER audit_log_append_only ON audit_log",
                "UPDATE audit_log SET target = 'someone-else' WHERE seq = 2",
            ],
            None => [
                "DROP TRIGGER audit_log_no_update",
                "UPDATE audit_log SET target = 'someone-else' WHERE seq = 2",
            ],
        };
        match &database.scratch {
            Some(scratch) => {
                let pool = sqlx::PgPool::connect(&scratch.url).await.unwrap();
                for statement in statements {
                    sqlx::query(statement).execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
            None => {
                let path = database.dir.path().join("registry.db");
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .unwrap();
                for statement in statements {
                    sqlx::query(statement).execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
        }
        let broken = run(&["audit", "verify"], None);
        assert!(!broken.status.success());
        let stderr = String::from_utf8_lossy(&broken.stderr);
        assert!(stderr.contains("audit entry 2"), "{stderr}");
        database.drop_database().await;
    }

    pub async fn admins_manage_people_and_clients_over_the_api(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.key(Role::Admin, None).await;
        let as_admin = Auth::Key(&admin);
        let post = |path: &'static str, body: Value| {
            let app = &app;
            let auth = &as_admin;
            async move { send(app, reqwest::Method::POST, path, Some(&body), auth).await }
        };

        // Bad input names the field; nothing is created.
        for (body, field) in [
            (
                json!({"username": "amina", "role": "chief", "password": PASSWORD}),
                "role",
            ),
            (
                json!({"username": "a", "role": "auditor", "password": PASSWORD}),
                "username",
            ),
            (
                json!({"username": "amina", "role": "auditor", "password": "short"}),
                "password",
            ),
            (
                json!({"username": "amina", "role": "agency", "password": PASSWORD}),
                "agency",
            ),
            (
                json!({"username": "amina", "role": "district_official", "password": PASSWORD}),
                "district",
            ),
            (
                json!({"username": "amina", "role": "auditor", "password": PASSWORD, "shoe": 9}),
                "shoe",
            ),
        ] {
            let refused = problem(post("/v1/users", body).await, 400).await;
            assert_eq!(refused["field"], field, "{refused}");
        }
        for (body, field) in [
            (json!({"name": " ", "role": "auditor"}), "name"),
            (json!({"name": "x", "role": "agency"}), "agency"),
            (
                json!({"name": "x", "role": "auditor", "valid_days": 0}),
                "valid_days",
            ),
            (
                json!({"name": "x", "role": "auditor", "valid_days": "soon"}),
                "valid_days",
            ),
        ] {
            let refused = problem(post("/v1/clients", body).await, 400).await;
            assert_eq!(refused["field"], field, "{refused}");
        }
        assert!(app.store.list_users().await.unwrap().is_empty());

        // A person is created, listed, can log in, then is disabled and cannot.
        let created = post(
            "/v1/users",
            json!({"username": "amina", "role": "district_official", "district": "Wakiso",
                   "password": PASSWORD}),
        )
        .await;
        assert_eq!(created.status(), 201);
        let user: Value = created.json().await.unwrap();
        assert_eq!(user["district"], "Wakiso");
        assert!(user.get("password_hash").is_none());
        problem(
            post(
                "/v1/users",
                json!({"username": "amina", "role": "auditor", "password": PASSWORD}),
            )
            .await,
            409,
        )
        .await;
        let listed: Value = send(&app, reqwest::Method::GET, "/v1/users", None, &as_admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["users"][0]["username"], "amina");
        assert_eq!(login(&app, "amina", PASSWORD).await.status(), 201);
        assert_eq!(
            post("/v1/users/amina/disable", json!(null)).await.status(),
            200
        );
        assert_eq!(login(&app, "amina", PASSWORD).await.status(), 401);

        // A client's key is in the creation response only; it works until revoked.
        let created = post(
            "/v1/clients",
            json!({"name": "Gulu court", "role": "agency", "agency": "court-gulu"}),
        )
        .await;
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let key = created["key"].as_str().unwrap().to_owned();
        let client_id = created["client"]["client_id"].as_str().unwrap().to_owned();
        let listed = send(&app, reqwest::Method::GET, "/v1/clients", None, &as_admin)
            .await
            .text()
            .await
            .unwrap();
        assert!(listed.contains(&client_id) && !listed.contains(&key));
        assert_eq!(
            app.get("/v1/session", &key).await.status(),
            200,
            "the new key authenticates"
        );
        let revoked = send(
            &app,
            reqwest::Method::POST,
            &format!("/v1/clients/{client_id}/revoke"),
            None,
            &as_admin,
        )
        .await;
        assert_eq!(revoked.status(), 204);
        problem(app.get("/v1/session", &key).await, 401).await;

        // Every change is in the audit log, attributed to the admin.
        let actions: Vec<String> = app
            .store
            .audit_entries(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|entry| entry.actor.role.as_deref() == Some("admin"))
            .map(|entry| entry.action)
            .collect();
        for expected in [
            "user.created",
            "user.list_read",
            "user.disabled",
            "client.created",
            "client.list_read",
            "client.revoked",
        ] {
            assert!(
                actions.iter().any(|action| action == expected),
                "{expected}: {actions:?}"
            );
        }
        app.finish().await;
    }

    pub async fn district_stewards_decide_only_in_their_district(backend: Backend) {
        let app = TestApp::spawn_with(backend, |state| {
            state.with_security(SecurityConfig {
                secure_cookies: true,
                ..SecurityConfig::default()
            })
        })
        .await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let wakiso = register(&app, &police, &child_a()).await;
        let gulu = register(&app, &school, &child_b()).await;
        create_person(&app, "wakiso.steward", Role::DataSteward, Some("Wakiso")).await;
        let response = login(&app, "wakiso.steward", PASSWORD).await;
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(set_cookie.contains("; Secure"), "{set_cookie}");
        let cookie = session_cookie(&response);
        let body: Value = response.json().await.unwrap();
        let steward = Person {
            cookie,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        };
        let auth = Auth::Session(&steward);
        let get = |path: String| {
            let auth = &auth;
            let app = &app;
            async move { send(app, reqwest::Method::GET, &path, None, auth).await }
        };
        assert_eq!(get(format!("/v1/children/{wakiso}")).await.status(), 200);
        problem(get(format!("/v1/children/{gulu}")).await, 404).await;
        assert_eq!(
            get(format!("/v1/children/{wakiso}/access-log"))
                .await
                .status(),
            200
        );
        problem(get(format!("/v1/children/{gulu}/access-log")).await, 404).await;
        // Merging across the district boundary, either way, is a 404: the other child does
        // not exist for this steward.
        for (from, into) in [(&wakiso, &gulu), (&gulu, &wakiso)] {
            let body = json!({"into": into, "reason": "same child"});
            let merge = send(
                &app,
                reqwest::Method::POST,
                &format!("/v1/children/{from}/merge"),
                Some(&body),
                &auth,
            )
            .await;
            problem(merge, 404).await;
        }
        let unlink = send(
            &app,
            reqwest::Method::POST,
            "/v1/records/school-ug/S-B/unlink",
            Some(&json!({"reason": "not this child"})),
            &auth,
        )
        .await;
        problem(unlink, 404).await;
        app.finish().await;
    }
}

/// The FHIR routes answer errors as OperationOutcome, not problem+json.
async fn fhir_outcome(response: reqwest::Response, status: u16) {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
}

async fn wait_for_hits(app: &TestApp, key: &str, count: usize) {
    for _ in 0..500 {
        let body: Value = app
            .get("/v1/search?q=Aguti", key)
            .await
            .json()
            .await
            .unwrap();
        if body["hits"].as_array().map_or(0, Vec::len) >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the search index did not catch up");
}

on_both_backends!(
    authorisation_matrix,
    sessions_need_csrf_and_lock_after_five_failures,
    sessions_time_out,
    rate_limits_answer_429_with_retry_after,
    redaction_by_role_and_purpose_is_recorded,
    cli_manages_people_and_verify_finds_tampering,
    district_stewards_decide_only_in_their_district,
    admins_manage_people_and_clients_over_the_api,
);

/// `serve --tls-cert --tls-key`: HTTPS with a Secure session cookie (TLS is the same on both
/// backends, so SQLite only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_tls_and_marks_cookies_secure() {
    use common::server::Server;
    let database = common::TestDatabase::new(Backend::Sqlite).await;
    let dir = database.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let generated = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let mut flags = database.cli_flags();
    flags.extend([
        "--audit-key-file".to_owned(),
        dir.join("audit.key").display().to_string(),
    ]);
    let mut create = Command::new(BINARY)
        .args([
            "users",
            "create",
            "--username",
            "amina",
            "--role",
            "national_official",
        ])
        .args(&flags)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(create.wait().unwrap().success());

    let process = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--index-dir")
        .arg(dir.join("search-index"))
        .args(&flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server::attach(process);
    let url = server.url.clone();
    assert!(url.starts_with("https://"), "{url}");
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let health = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let login = client
        .post(format!("{url}/v1/session"))
        .json(&json!({"username": "amina", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 201);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let plain = reqwest::get(url.replace("https://", "http://") + "/healthz").await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    server.kill_hard();
}

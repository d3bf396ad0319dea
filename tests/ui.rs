//! The web UI over HTTP, as a browser would send it (forms, cookies, redirects), against the
//! real router on a real port, on SQLite and PostgreSQL: login messages, security headers,
//! CSRF on forms, redaction and the purpose prompt, languages, and the admin's key shown once.
//! The same journeys in a real browser are in `tests/browser.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use registry::clients::Role;
use serde_json::{json, Value};

use common::{Backend, Person, TestApp};

const PASSWORD: &str = "copper kettle mango ninety";

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn create_person(app: &TestApp, username: &str, role: Role, agency: Option<&str>) {
    let person = Person {
        username,
        role,
        agency,
        district: None,
    };
    app.person(person, PASSWORD).await;
}

/// The cookies a response sets, as one `Cookie` header value.
fn cookies(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| {
            value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn cookie_value(cookies: &str, name: &str) -> String {
    cookies
        .split("; ")
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_owned()
}

/// Fills in the login form as a browser does: the page first (its form token and cookie),
/// then the post.
/// The quoted value that follows `marker` in a page (a hidden field's or an input's value).
fn attribute_after(html: &str, marker: &str, what: &str) -> String {
    html.split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect(what)
        .to_owned()
}

async fn submit_login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    let form = browser()
        .get(format!("{}/login", app.url))
        .send()
        .await
        .unwrap();
    let cookie = cookies(&form);
    let html = form.text().await.unwrap();
    let token = attribute_after(
        &html,
        r#"name="login_token" value=""#,
        "the login form carries a token",
    );
    browser()
        .post(format!("{}/login", app.url))
        .header("cookie", cookie)
        .form(&[
            ("username", username),
            ("password", password),
            ("next", "/dashboard"),
            ("login_token", &token),
        ])
        .send()
        .await
        .unwrap()
}

/// Logs in through the login form; returns the cookies the browser would keep.
async fn log_in(app: &TestApp, username: &str) -> String {
    let response = submit_login(app, username, PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/dashboard");
    cookies(&response)
}

async fn page(app: &TestApp, cookies: &str, path: &str) -> (u16, String) {
    let response = browser()
        .get(format!("{}{path}", app.url))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn post_form(
    app: &TestApp,
    cookies: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(format!("{}{path}", app.url))
        .header("cookie", cookies)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn register(app: &TestApp, key: &str, body: Value) -> String {
    let response = app.post_json("/v1/records", key, &body).await;
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = response.json().await.unwrap();
    body["child_id"].as_str().unwrap().to_owned()
}

fn record(system: &str, id: &str, events: Value) -> Value {
    json!({
        "source_system": system, "source_record_id": id,
        "child": {"given_name": "Nakato", "family_name": "Birungi", "sex": "F",
                  "date_of_birth": "2016-08-14", "district": "Mbale",
                  "identifiers": [{"type": "birth_registration", "value": "UG-BR-UI-1"}]},
        "events": events
    })
}

mod cases {
    use super::*;

    pub async fn login_explains_what_happened_and_pages_carry_security_headers(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        create_person(&app, "okello", Role::NationalOfficial, None).await;

        // Not logged in: the start page sends to the login page.
        let start = browser().get(format!("{}/", app.url)).send().await.unwrap();
        assert_eq!(start.status(), 303);
        assert_eq!(start.headers()["location"], "/login");
        let login = browser()
            .get(format!("{}/login", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200);
        let headers = login.headers();
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-store");

        // A login form posted from elsewhere (no form token and cookie) logs nobody in.
        let forged = browser()
            .post(format!("{}/login", app.url))
            .form(&[("username", "okello"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403);
        assert!(!cookies(&forged).contains("cr_session="));
        assert!(forged
            .text()
            .await
            .unwrap()
            .contains("This form has expired"));

        // A wrong password says so; the fifth locks the account and the page says for how long.
        let wrong = submit_login(&app, "okello", "not the password at all").await;
        assert_eq!(wrong.status(), 401);
        assert!(wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong username or password."));
        for _ in 0..4 {
            submit_login(&app, "okello", "not the password at all").await;
        }
        let locked = submit_login(&app, "okello", PASSWORD).await;
        assert_eq!(locked.status(), 401);
        let text = locked.text().await.unwrap();
        assert!(text.contains("this account is locked"), "{text}");
        assert!(text.contains("Try again in 15 minutes"), "{text}");

        // A session that ended sends back to the login page, saying why and where it returns.
        create_person(&app, "auma", Role::NationalOfficial, None).await;
        let cookies = log_in(&app, "auma").await;
        assert!(cookies.contains("cr_session=") && cookies.contains("cr_csrf="));
        let (status, dashboard) = page(&app, &cookies, "/dashboard").await;
        assert_eq!(status, 200);
        assert!(dashboard.contains("Dashboard"));
        let stale = browser()
            .get(format!("{}/search?q=nakato", app.url))
            .header("cookie", format!("cr_session={}", "0".repeat(64)))
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 303);
        assert_eq!(
            stale.headers()["location"],
            "/login?reason=expired&next=%2Fsearch%3Fq%3Dnakato"
        );
        let (_, notice) = page(&app, "", "/login?reason=expired&next=%2Fsearch").await;
        assert!(notice.contains("Your session ended"), "{notice}");
        assert!(
            notice.contains(r#"name="next" value="/search""#),
            "{notice}"
        );
        // The way back is only ever a path on this site.
        let (_, elsewhere) = page(&app, "", "/login?next=https%3A%2F%2Fevil.example").await;
        assert!(elsewhere.contains(r#"name="next" value="/search""#));
        app.finish().await;
    }

    pub async fn forms_need_the_csrf_token_and_a_new_key_is_shown_once(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        create_person(&app, "admin", Role::Admin, None).await;
        create_person(&app, "okello", Role::NationalOfficial, None).await;
        let admin = log_in(&app, "admin").await;
        let csrf = cookie_value(&admin, "cr_csrf");
        let clients_before = app.store.list_clients().await.unwrap().len();

        // Without the token (a forged cross-site form) nothing is created.
        let forged = post_form(
            &app,
            &admin,
            "/admin/clients",
            &[
                ("name", "Mbale school"),
                ("role", "agency"),
                ("agency", "school-mbale"),
                ("valid_days", "30"),
            ],
        )
        .await;
        assert_eq!(forged.status(), 403);
        assert!(forged
            .text()
            .await
            .unwrap()
            .contains("This form has expired"));
        assert_eq!(
            app.store.list_clients().await.unwrap().len(),
            clients_before
        );

        // With it, the client is created and its key shown once; the key works.
        let created = post_form(
            &app,
            &admin,
            "/admin/clients",
            &[
                ("csrf_token", &csrf),
                ("name", "Mbale school"),
                ("role", "agency"),
                ("agency", "school-mbale"),
                ("valid_days", "30"),
            ],
        )
        .await;
        assert_eq!(created.status(), 201);
        let html = created.text().await.unwrap();
        let key = attribute_after(
            &html,
            r#"id="new-key" readonly value=""#,
            "the new key is on the page",
        );
        assert_eq!(
            app.store.list_clients().await.unwrap().len(),
            clients_before + 1
        );
        let registered = app
            .post_json(
                "/v1/records",
                &key,
                &record("school-mbale", "S-1", json!([])),
            )
            .await;
        assert_eq!(registered.status(), 201);
        let (_, again) = page(&app, &admin, "/admin").await;
        assert!(again.contains("Mbale school"));
        assert!(!again.contains(&key), "the key is never shown again");

        // People: another person cannot reach the admin page at all.
        let official = log_in(&app, "okello").await;
        let (status, refused) = page(&app, &official, "/admin").await;
        assert_eq!(status, 403);
        assert!(refused.contains("Your role does not allow this."));
        let forged_disable = post_form(
            &app,
            &official,
            "/admin/users/admin/disable",
            &[("csrf_token", &cookie_value(&official, "cr_csrf"))],
        )
        .await;
        assert_eq!(forged_disable.status(), 403);
        assert!(app
            .store
            .list_users()
            .await
            .unwrap()
            .iter()
            .all(|user| user.disabled_at.is_none()));
        app.finish().await;
    }

    pub async fn pages_redact_by_role_and_ask_for_a_purpose(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let child = register(
            &app,
            &school,
            record(
                "school-ug",
                "ENR-9",
                json!([{"type": "school.enrolled", "date": "2023-02-01", "details": {"grade": "P2"}}]),
            ),
        )
        .await;
        let same = register(
            &app,
            &police,
            record(
                "police-ug",
                "CPU-9",
                json!([
                    {"type": "police.case_opened", "date": "2024-03-01", "sensitivity": "restricted",
                     "details": {"offence": "neglect"}},
                    {"type": "health.abuse_report", "date": "2024-03-02",
                     "sensitivity": "confidential", "details": {"finding": "injuries"}}
                ]),
            ),
        )
        .await;
        assert_eq!(same, child);
        create_person(&app, "teacher", Role::Agency, Some("school-ug")).await;
        create_person(&app, "okello", Role::NationalOfficial, None).await;
        create_person(&app, "auditor", Role::Auditor, None).await;

        // The school's staff see the school's record and event only.
        let teacher = log_in(&app, "teacher").await;
        let (status, html) = page(&app, &teacher, &format!("/children/{child}")).await;
        assert_eq!(status, 200);
        assert!(html.contains("school.enrolled") || html.contains("school enrolled"));
        assert!(
            !html.contains("police"),
            "a school sees nothing of the police"
        );
        assert!(!html.contains("neglect") && !html.contains("injuries"));

        // An official sees the restricted event; the confidential one waits for a purpose.
        let official = log_in(&app, "okello").await;
        let (_, html) = page(&app, &official, &format!("/children/{child}")).await;
        assert!(html.contains("neglect"));
        assert!(!html.contains("injuries"));
        assert!(html.contains("1 confidential event is withheld."), "{html}");
        assert!(html.contains(r#"id="purpose-form""#));
        let (_, html) = page(
            &app,
            &official,
            &format!("/children/{child}?purpose=court+hearing+CH-77"),
        )
        .await;
        assert!(html.contains("injuries"));
        assert!(!html.contains(r#"id="purpose-form""#));

        // The print view is the same page without the controls.
        let (status, print) = page(&app, &official, &format!("/children/{child}?print=1")).await;
        assert_eq!(status, 200);
        assert!(print.contains(&child));

        // The reading with a purpose is in the child's access log, flagged, with the purpose.
        let auditor_key = app.key(Role::Auditor, None).await;
        let log: Value = app
            .get(&format!("/v1/children/{child}/access-log"), &auditor_key)
            .await
            .json()
            .await
            .unwrap();
        let entries = log["entries"].as_array().unwrap();
        let glass = entries
            .iter()
            .find(|entry| entry["purpose"] == "court hearing CH-77")
            .expect("the page read with a purpose is logged");
        assert_eq!(glass["flagged"], true);
        assert_eq!(glass["actor"]["role"], "national_official");
        assert!(entries
            .iter()
            .any(|entry| entry["actor"]["role"] == "agency" && entry["flagged"] == false));

        // A child outside the person's reach is the same "no such page" as one that is not.
        let other_police = register(
            &app,
            &police,
            json!({"source_system": "police-ug", "source_record_id": "CPU-10",
                   "child": {"given_name": "Opio", "family_name": "Were", "sex": "M",
                             "date_of_birth": "2012-01-09", "district": "Lira", "identifiers": []},
                   "events": []}),
        )
        .await;
        let (hidden, hidden_page) =
            page(&app, &teacher, &format!("/children/{other_police}")).await;
        let (missing, _) = page(&app, &teacher, "/children/0000-0000-0000-0").await;
        assert_eq!(hidden, 404);
        assert!(missing == 404 || missing == 400);
        assert!(hidden_page.contains("There is no such page or child"));

        // The dashboard follows registrations within seconds, counted within each scope: the
        // school's staff count only the child the school knows.
        let started = std::time::Instant::now();
        let (official_board, teacher_board) = loop {
            let (_, official_board) = page(&app, &official, "/dashboard").await;
            let (_, teacher_board) = page(&app, &teacher, "/dashboard").await;
            if official_board.contains("Lira") || started.elapsed().as_secs() > 10 {
                break (official_board, teacher_board);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!(official_board.contains("2 children"), "{official_board}");
        assert!(official_board.contains("Lira") && official_board.contains("Mbale"));
        assert!(teacher_board.contains("1 child"), "{teacher_board}");
        assert!(teacher_board.contains("Mbale") && !teacher_board.contains("Lira"));
        app.finish().await;
    }

    pub async fn a_merge_decided_on_a_stale_page_is_refused(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let kept = register(&app, &school, record("school-ug", "ENR-1", json!([]))).await;
        let other = json!({"source_system": "police-ug", "source_record_id": "CPU-2",
            "child": {"given_name": "Akello", "family_name": "Opio", "sex": "M",
                      "date_of_birth": "2013-03-03", "district": "Lira", "identifiers": []},
            "events": []});
        let merged_away = register(&app, &police, other.clone()).await;
        create_person(&app, "steward", Role::DataSteward, None).await;
        let steward = log_in(&app, "steward").await;
        let csrf = cookie_value(&steward, "cr_csrf");
        let (_, html) = page(&app, &steward, &format!("/children/{merged_away}")).await;
        let revision = attribute_after(
            &html,
            r#"name="revision" value=""#,
            "the merge form carries the revision",
        );

        // The police update their record while the steward reads: the page is stale.
        let mut updated = other;
        updated["events"] = json!([{"type": "police.case_opened", "date": "2024-01-09"}]);
        register(&app, &police, updated).await;
        let merge = |revision: String| {
            let form = [
                ("csrf_token", csrf.clone()),
                ("into", kept.clone()),
                ("reason", "same birth registration".to_owned()),
                ("revision", revision),
            ];
            let path = format!("/children/{merged_away}/merge");
            let app = &app;
            let steward = &steward;
            async move {
                let form: Vec<(&str, &str)> = form
                    .iter()
                    .map(|(name, value)| (*name, value.as_str()))
                    .collect();
                post_form(app, steward, &path, &form).await
            }
        };
        let stale = merge(revision).await;
        assert_eq!(stale.status(), 412);
        assert!(stale
            .text()
            .await
            .unwrap()
            .contains("This child changed since you opened the page"));
        // A merged child's page redirects to the survivor; this one still answers itself.
        let (status, still) = page(&app, &steward, &format!("/children/{merged_away}")).await;
        assert_eq!(status, 200, "nothing was merged");

        // Reloaded, the same merge goes through.
        let fresh = attribute_after(
            &still,
            r#"name="revision" value=""#,
            "the reloaded page carries the revision",
        );
        let done = merge(fresh).await;
        assert_eq!(done.status(), 303);
        assert_eq!(
            done.headers()["location"].to_str().unwrap(),
            format!("/children/{kept}?done=merged")
        );
        app.finish().await;
    }

    pub async fn a_candidate_opened_by_one_steward_is_held_for_them(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let version = common::add_wider_review_band(app.store.as_ref()).await;
        app.store.activate_model_version(version).await.unwrap();
        let police = app.key(Role::Agency, Some("police-kh")).await;
        let welfare = app.key(Role::Agency, Some("welfare-kh")).await;
        register(
            &app,
            &police,
            json!({"source_system": "police-kh", "source_record_id": "P-1",
                   "child": {"given_name": "Bopha", "family_name": "Chenda", "sex": "F",
                             "date_of_birth": "2014-02-03", "district": "Kandal",
                             "village": "Prek Ho", "mother_name": "Srey Chenda"}}),
        )
        .await;
        let response = app
            .post_json(
                "/v1/records",
                &welfare,
                &json!({"source_system": "welfare-kh", "source_record_id": "W-1",
                        "child": {"given_name": "Bopha", "family_name": "Chenda", "sex": "F",
                                  "date_of_birth": "2014-07-01", "date_of_birth_estimated": true,
                                  "district": "Kandal"}}),
            )
            .await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["match"]["outcome"], "review", "{body}");
        create_person(&app, "sokha", Role::DataSteward, None).await;
        create_person(&app, "dara", Role::DataSteward, None).await;
        let sokha = log_in(&app, "sokha").await;
        let dara = log_in(&app, "dara").await;
        let (_, queue) = page(&app, &sokha, "/review").await;
        let path = format!(
            "/review/{}",
            attribute_after(&queue, r#"href="/review/"#, "the queue lists the candidate")
        );

        // Sokha opens it first: it is hers while she decides.
        let (status, mine) = page(&app, &sokha, &path).await;
        assert_eq!(status, 200);
        assert!(mine.contains("You hold this candidate until"), "{mine}");
        assert!(mine.contains(r#"id="decision-form""#));
        assert!(mine.contains(r#"id="release-form""#));

        // Dara sees who holds it, gets no form, and a decision posted anyway is refused.
        let (_, theirs) = page(&app, &dara, &path).await;
        assert!(
            theirs.contains("is deciding this candidate until"),
            "{theirs}"
        );
        assert!(theirs.contains("sokha"), "{theirs}");
        assert!(!theirs.contains(r#"id="decision-form""#));
        let dara_csrf = cookie_value(&dara, "cr_csrf");
        let dara_decision = [
            ("csrf_token", dara_csrf.as_str()),
            ("decision", "not_a_match"),
            ("reason", "different birth dates"),
        ];
        let dara_decides = || post_form(&app, &dara, &path, &dara_decision);
        let refused = dara_decides().await;
        assert_eq!(refused.status(), 409);
        assert!(refused
            .text()
            .await
            .unwrap()
            .contains("is deciding this candidate until"));
        let (_, queue) = page(&app, &dara, "/review").await;
        assert!(queue.contains("is deciding it until"), "{queue}");

        // Sokha lets it go; Dara opens it, holds it and decides.
        let sokha_csrf = cookie_value(&sokha, "cr_csrf");
        let released = post_form(
            &app,
            &sokha,
            &format!("{path}/release"),
            &[("csrf_token", sokha_csrf.as_str())],
        )
        .await;
        assert_eq!(released.status(), 303);
        assert_eq!(released.headers()["location"], "/review?done=release");
        let (_, now_dara) = page(&app, &dara, &path).await;
        assert!(
            now_dara.contains("You hold this candidate until"),
            "{now_dara}"
        );
        let decided = dara_decides().await;
        assert_eq!(decided.status(), 303);
        let (_, settled) = page(&app, &sokha, &path).await;
        assert!(!settled.contains("is deciding"), "{settled}");
        assert!(!settled.contains(r#"id="decision-form""#));
        app.finish().await;
    }

    pub async fn the_language_is_the_persons_choice_then_the_query_then_the_browser(
        backend: Backend,
    ) {
        let app = TestApp::spawn(backend).await;
        let get = |query: &'static str, accept: &'static str, cookie: &'static str| {
            let url = format!("{}/login{query}", app.url);
            async move {
                browser()
                    .get(url)
                    .header("accept-language", accept)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        };
        let khmer_title = "ចូល";
        assert!(get("", "km-KH,km;q=0.9,en;q=0.5", "")
            .await
            .contains(khmer_title));
        assert!(get("", "en-GB,en;q=0.9", "").await.contains("Log in"));
        assert!(get("?lang=km", "en-GB", "").await.contains(khmer_title));
        assert!(get("?lang=km", "en-GB", "cr_lang=en")
            .await
            .contains("<html lang=\"en\""));
        let khmer = get("", "fr-FR,km;q=0.5", "").await;
        assert!(khmer.contains("<html lang=\"km\""), "{khmer}");

        // The switch remembers the choice and returns to the page.
        let switch = browser()
            .get(format!("{}/language?lang=km&back=%2Flogin", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(switch.status(), 303);
        assert_eq!(switch.headers()["location"], "/login");
        assert!(cookies(&switch).contains("cr_lang=km"));
        app.finish().await;
    }
}

on_both_backends!(
    login_explains_what_happened_and_pages_carry_security_headers,
    forms_need_the_csrf_token_and_a_new_key_is_shown_once,
    pages_redact_by_role_and_ask_for_a_purpose,
    the_language_is_the_persons_choice_then_the_query_then_the_browser,
    a_merge_decided_on_a_stale_page_is_refused,
    a_candidate_opened_by_one_steward_is_held_for_them,
);

//! Search end to end: register over HTTP, find over HTTP, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use registry::clients::Role;
use registry::users::{self, NewUser};
use serde_json::{json, Value};

use common::{problem, Backend, TestApp};

fn record(system: &str, id: &str, given: &str, family: &str, born: &str, district: &str) -> Value {
    json!({
        "source_system": system, "source_record_id": id,
        "child": {"given_name": given, "family_name": family, "sex": "F",
                  "date_of_birth": born, "district": district,
                  "mother_name": "Sarah Nakato"},
    })
}

/// How long a change may take to become searchable here. The gateway wakes the index
/// follower after every write, so it takes milliseconds (BENCHMARKS.md, "Registration to
/// findable"); the bound leaves room for a loaded 2-core CI machine.
const FINDABLE_WITHIN: Duration = Duration::from_secs(2);

/// Searches until `accept` holds or [`FINDABLE_WITHIN`] has passed; returns the last body and
/// the time it took.
async fn search_until(
    app: &TestApp,
    key: &str,
    query: &str,
    accept: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let response = app.get(&format!("/v1/search?{query}"), key).await;
        assert_eq!(response.status(), 200, "{query}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        if accept(&body) || started.elapsed() > FINDABLE_WITHIN {
            return (body, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn hit_ids(body: &Value) -> Vec<String> {
    body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["child_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn register(app: &TestApp, key: &str, body: Value) -> String {
    let response = app.post_json("/v1/records", key, &body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    body["child_id"].as_str().unwrap().to_owned()
}

/// Creates a district official and logs them in; returns their session cookie.
async fn district_official(app: &TestApp, username: &str, district: &str) -> String {
    const PASSWORD: &str = "lantern river okra seventeen";
    let password_hash = tokio::task::spawn_blocking(|| users::hash_password(PASSWORD))
        .await
        .unwrap()
        .unwrap();
    app.store
        .create_user(NewUser {
            username: username.into(),
            role: Role::DistrictOfficial,
            agency: None,
            district: Some(district.to_owned()),
            password_hash,
        })
        .await
        .unwrap();
    let response = app
        .http
        .post(format!("{}/v1/session", app.url))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn search_as_person(app: &TestApp, cookie: &str, query: &str) -> Value {
    let response = app
        .http
        .get(format!("{}/v1/search?{query}", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

mod cases {
    use super::*;

    pub async fn registered_children_are_found_within_a_second(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let halima = register(
            &app,
            &police,
            record(
                "police-ug",
                "CPU-1",
                "Halima",
                "Aguti",
                "2012-03-04",
                "Wakiso",
            ),
        )
        .await;

        let (body, waited) = search_until(&app, &official, "q=Halima+Aguti", |body| {
            hit_ids(body).contains(&halima)
        })
        .await;
        assert_eq!(
            hit_ids(&body),
            std::slice::from_ref(&halima),
            "found within {waited:?}"
        );
        assert!(waited < FINDABLE_WITHIN, "took {waited:?}");
        let hit = &body["hits"][0];
        assert_eq!(hit["display_name"], "Halima Aguti");
        assert_eq!(hit["date_of_birth"], "2012-03-04");
        assert_eq!(hit["district"], "Wakiso");
        assert_eq!(hit["agencies"], json!(["police-ug"]));
        assert!(hit["score"].as_f64().unwrap() > 0.0);
        assert!(hit["matched_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("name")));
        assert_eq!(body["total"], 1);
        assert_eq!(body["next_cursor"], Value::Null);

        // Typo, swapped order, year, child ID with and without hyphens or with spaces.
        for query in [
            "q=Halema+Agutti".to_owned(),
            "q=aguti+halima".to_owned(),
            "q=Aguti+2012".to_owned(),
            format!("q={halima}"),
            format!("q={}", halima.replace('-', "").to_lowercase()),
            // Read out from a card, spaces where the hyphens are.
            format!("q={}", halima.replace('-', "+")),
        ] {
            let (body, _) = search_until(&app, &official, &query, |_| true).await;
            assert_eq!(hit_ids(&body).first(), Some(&halima), "{query}");
        }

        // An update is searchable by its new name; the old name no longer finds the child.
        register(
            &app,
            &police,
            record(
                "police-ug",
                "CPU-1",
                "Patience",
                "Aguti",
                "2012-03-04",
                "Wakiso",
            ),
        )
        .await;
        let (body, _) = search_until(&app, &official, "q=Patience", |body| {
            hit_ids(body).contains(&halima)
        })
        .await;
        assert_eq!(hit_ids(&body), std::slice::from_ref(&halima));
        app.finish().await;
    }

    pub async fn khmer_script_finds_latin_spelling(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let school = app.key(Role::Agency, Some("school-kh")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let dara = register(
            &app,
            &school,
            record(
                "school-kh",
                "S-1",
                "Dara",
                "Sok",
                "2016-01-15",
                "Battambang",
            ),
        )
        .await;
        let (body, _) = search_until(
            &app,
            &official,
            "q=%E1%9E%9F%E1%9E%BB%E1%9E%81+%E1%9E%8A%E1%9E%B6%E1%9E%9A%E1%9F%89%E1%9E%B6",
            |body| hit_ids(body).contains(&dara),
        )
        .await;
        assert_eq!(
            hit_ids(&body).first(),
            Some(&dara),
            "សុខ ដារ៉ា finds Sok Dara"
        );
        app.finish().await;
    }

    pub async fn filters_scope_and_pages(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let a = register(
            &app,
            &police,
            record("police-ug", "P-1", "Grace", "Akello", "2012-03-04", "Gulu"),
        )
        .await;
        let b = register(
            &app,
            &police,
            record("police-ug", "P-2", "Grace", "Atim", "2015-07-01", "Lira"),
        )
        .await;
        let c = register(
            &app,
            &school,
            record("school-ug", "S-9", "Grace", "Nambi", "2013-05-05", "Gulu"),
        )
        .await;
        let (body, _) = search_until(&app, &official, "q=grace", |body| body["total"] == 3).await;
        assert_eq!(body["total"], 3);

        let sorted = |body: &Value| {
            let mut ids = hit_ids(body);
            ids.sort();
            ids
        };
        let expect = |ids: &[&String]| {
            let mut ids: Vec<String> = ids.iter().map(|id| (*id).clone()).collect();
            ids.sort();
            ids
        };
        let (body, _) = search_until(&app, &official, "q=grace&district=gulu", |_| true).await;
        assert_eq!(sorted(&body), expect(&[&a, &c]));
        let (body, _) = search_until(&app, &official, "district=Lira", |_| true).await;
        assert_eq!(sorted(&body), expect(&[&b]));
        let (body, _) = search_until(
            &app,
            &official,
            "q=grace&born_from=2013&born_to=2015-06",
            |_| true,
        )
        .await;
        assert_eq!(sorted(&body), expect(&[&c]));
        let (body, _) =
            search_until(&app, &official, "q=grace&source_system=school-ug", |_| true).await;
        assert_eq!(sorted(&body), expect(&[&c]));
        let (body, _) = search_until(&app, &official, "sex=F&district=gulu", |_| true).await;
        assert_eq!(sorted(&body), expect(&[&a, &c]));

        // Scope is applied before counting and paging.
        let (body, _) = search_until(&app, &police, "q=grace", |_| true).await;
        assert_eq!(sorted(&body), expect(&[&a, &b]));
        assert_eq!(body["total"], 2);
        let (body, _) = search_until(&app, &school, "q=grace", |_| true).await;
        assert_eq!(sorted(&body), expect(&[&c]));
        let (body, _) = search_until(&app, &school, "q=akello", |_| true).await;
        assert_eq!(body["total"], 0);

        // Pages.
        let mut seen = Vec::new();
        let mut query = "q=grace&limit=2".to_owned();
        loop {
            let (body, _) = search_until(&app, &official, &query, |_| true).await;
            assert!(body["hits"].as_array().unwrap().len() <= 2);
            seen.extend(hit_ids(&body));
            match body["next_cursor"].as_str() {
                Some(cursor) => query = format!("q=grace&limit=2&cursor={cursor}"),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, expect(&[&a, &b, &c]));
        app.finish().await;
    }

    pub async fn a_district_official_finds_children_any_of_whose_records_is_there(
        backend: Backend,
    ) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        // One child, two agencies, two districts (joined by the birth registration number).
        let with_brn = |mut body: Value| {
            body["child"]["identifiers"] =
                json!([{"type": "birth_registration", "value": "UG-BR-2011-77"}]);
            body
        };
        let moved = register(
            &app,
            &police,
            with_brn(record(
                "police-ug",
                "P-9",
                "Brenda",
                "Achieng",
                "2011-01-01",
                "Gulu",
            )),
        )
        .await;
        let again = register(
            &app,
            &school,
            with_brn(record(
                "school-ug",
                "S-9",
                "Brenda",
                "Achieng",
                "2011-01-01",
                "Lira",
            )),
        )
        .await;
        assert_eq!(again, moved);
        // Children elsewhere that a query for "brenda" also matches, registered first so they
        // would fill the first page if the scope were applied after paging.
        let mut in_gulu = vec![moved.clone()];
        for (n, family) in ["Opio", "Nambi", "Apio", "Kato"].into_iter().enumerate() {
            register(
                &app,
                &police,
                record(
                    "police-ug",
                    &format!("K-{n}"),
                    "Brenda",
                    family,
                    "2012-02-02",
                    "Kampala",
                ),
            )
            .await;
        }
        for (n, family) in ["Okot", "Lamwaka"].into_iter().enumerate() {
            in_gulu.push(
                register(
                    &app,
                    &police,
                    record(
                        "police-ug",
                        &format!("G-{n}"),
                        "Brenda",
                        family,
                        "2013-03-03",
                        "Gulu",
                    ),
                )
                .await,
            );
        }
        in_gulu.sort();
        search_until(&app, &official, "q=brenda", |body| body["total"] == 7).await;

        for district in ["Gulu", "Lira"] {
            let cookie = district_official(&app, &format!("{district}.official"), district).await;
            let body = search_as_person(&app, &cookie, "q=brenda+achieng").await;
            assert_eq!(hit_ids(&body).first(), Some(&moved), "{district}");
        }
        // Scope before paging: every page is full until the last, and the pages hold exactly
        // the children in scope.
        let gulu = district_official(&app, "gulu.reader", "gulu").await;
        let mut seen = Vec::new();
        let mut query = "q=brenda&limit=2".to_owned();
        loop {
            let body = search_as_person(&app, &gulu, &query).await;
            assert_eq!(body["total"], 3);
            let hits = hit_ids(&body);
            seen.extend(hits.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(cursor) => {
                    assert_eq!(hits.len(), 2, "a page before the last is full");
                    query = format!("q=brenda&limit=2&cursor={cursor}");
                }
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, in_gulu);
        // An agency finds only children it holds a record for.
        let (body, _) = search_until(&app, &school, "q=brenda", |_| true).await;
        assert_eq!(hit_ids(&body), std::slice::from_ref(&moved));
        app.finish().await;
    }

    pub async fn bad_input_is_a_problem(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let official = app.key(Role::NationalOfficial, None).await;
        for (query, code, field) in [
            ("", "empty_query", "q"),
            ("q=+", "empty_query", "q"),
            ("q=a&limit=0", "limit_out_of_range", "limit"),
            ("q=a&limit=101", "limit_out_of_range", "limit"),
            ("q=a&born_from=2015-02-30", "invalid_date", "born_from"),
            ("born_to=soon", "invalid_date", "born_to"),
            ("sex=girl", "invalid_sex", "sex"),
            ("q=a&cursor=zz", "invalid_cursor", "cursor"),
        ] {
            let response = app.get(&format!("/v1/search?{query}"), &official).await;
            let body = problem(response, 400).await;
            assert_eq!(body["code"], code, "{query}");
            assert_eq!(body["field"], field, "{query}");
        }
        let response = app
            .http
            .get(format!("{}/v1/search?q=x", app.url))
            .send()
            .await
            .unwrap();
        problem(response, 401).await;
        app.finish().await;
    }

    pub async fn merged_children_leave_the_index(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let steward = app.key(Role::DataSteward, None).await;
        let first = register(
            &app,
            &police,
            record(
                "police-ug",
                "CPU-1",
                "Halima",
                "Aguti",
                "2012-03-04",
                "Wakiso",
            ),
        )
        .await;
        let second = register(
            &app,
            &school,
            // The school has another birth date and district: too little for the model to
            // link on its own, so a steward merges them.
            record(
                "school-ug",
                "STU-1",
                "Halimah",
                "Agutti",
                "2013-09-10",
                "Mukono",
            ),
        )
        .await;
        let (body, _) =
            search_until(&app, &steward, "q=Aguti", |body| hit_ids(body).len() == 2).await;
        assert_eq!(hit_ids(&body).len(), 2, "{body}");

        let merged = app
            .post_json(
                &format!("/v1/children/{first}/merge"),
                &steward,
                &json!({"into": second, "reason": "same child"}),
            )
            .await;
        assert_eq!(merged.status(), 200);
        let (body, _) = search_until(&app, &steward, "q=Aguti", |body| {
            hit_ids(body) == [second.clone()]
        })
        .await;
        assert_eq!(
            hit_ids(&body),
            std::slice::from_ref(&second),
            "only the survivor is indexed"
        );
        // The survivor is found by every name either record used.
        let (body, _) = search_until(&app, &steward, "q=Halima+Aguti", |body| {
            hit_ids(body).first() == Some(&second)
        })
        .await;
        assert_eq!(hit_ids(&body).first(), Some(&second));
        app.finish().await;
    }

    pub async fn the_index_resumes_and_rebuilds(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let first = register(
            &app,
            &police,
            record(
                "police-ug",
                "P-1",
                "Brenda",
                "Achieng",
                "2011-01-01",
                "Tororo",
            ),
        )
        .await;
        search_until(&app, &official, "q=brenda", |body| {
            !hit_ids(body).is_empty()
        })
        .await;
        let position = app.search.position();
        assert_eq!(position, app.store.outbox_head().await.unwrap());

        // A rebuild from the database gives the same answers.
        app.search.clear().unwrap();
        assert_eq!(app.search.num_children(), 0);
        search::follower::catch_up(app.store.as_ref(), &app.search, 3)
            .await
            .unwrap();
        assert_eq!(app.search.position(), position);
        assert_eq!(app.search.num_children(), 1);
        let (body, _) = search_until(&app, &official, "q=brenda", |_| true).await;
        assert_eq!(hit_ids(&body), std::slice::from_ref(&first));

        // So does `reindex`'s rebuild from the active children (pages of one child here).
        let second = register(
            &app,
            &police,
            record("police-ug", "P-2", "Brenda", "Auma", "2012-02-02", "Tororo"),
        )
        .await;
        search_until(&app, &official, "q=brenda", |body| body["total"] == 2).await;
        search::follower::rebuild(&app.store, &app.search, 3, 1)
            .await
            .unwrap();
        assert_eq!(app.search.num_children(), 2);
        assert_eq!(
            app.search.position(),
            app.store.outbox_head().await.unwrap()
        );
        let (body, _) = search_until(&app, &official, "q=brenda+auma", |_| true).await;
        assert_eq!(hit_ids(&body).first(), Some(&second));
        app.finish().await;
    }

    /// `reindex` reads the child ID space in ranges side by side: however many ranges, each
    /// child is in the rebuilt index once, found by its name, at the outbox head.
    pub async fn a_rebuild_over_split_ranges_indexes_each_child_once(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let school = app.key(Role::Agency, Some("school-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let mut registered = Vec::new();
        for (number, (given, family, born)) in [
            ("Brenda", "Achieng", "2011-01-14"),
            ("Grace", "Nabirye", "2013-05-09"),
            ("Mercy", "Okello", "2009-07-21"),
            ("Patience", "Auma", "2012-02-02"),
            ("Joy", "Kato", "2010-03-03"),
            ("Esther", "Mugisha", "2014-08-19"),
            ("Ruth", "Opio", "2008-11-30"),
            ("Faith", "Namuli", "2015-04-12"),
        ]
        .into_iter()
        .enumerate()
        {
            let body = record(
                "school-ug",
                &format!("S-{number}"),
                given,
                family,
                born,
                "Tororo",
            );
            let child_id = register(&app, &school, body).await;
            registered.push((format!("q={given}+{family}"), child_id));
        }
        search_until(&app, &official, "district=Tororo", |body| {
            body["total"] == 8
        })
        .await;
        for readers in [1, 3, 8] {
            search::follower::rebuild(&app.store, &app.search, readers, 2)
                .await
                .unwrap();
            assert_eq!(app.search.num_children(), 8, "{readers} readers");
            assert_eq!(
                app.search.position(),
                app.store.outbox_head().await.unwrap()
            );
            for (query, child_id) in &registered {
                let (body, _) = search_until(&app, &official, query, |_| true).await;
                assert_eq!(hit_ids(&body).first(), Some(child_id), "{query}, {readers}");
            }
        }
        app.finish().await;
    }

    /// A server started on a registry with an empty index (a first start, a deleted index, a
    /// new index schema) rebuilds it from the children, then follows the change feed.
    pub async fn an_empty_index_is_rebuilt_then_followed(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let police = app.key(Role::Agency, Some("police-ug")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        for (id, given, family, born) in [
            ("P-1", "Brenda", "Achieng", "2011-01-01"),
            ("P-2", "Grace", "Nabirye", "2013-05-09"),
            ("P-3", "Mercy", "Okello", "2009-07-21"),
        ] {
            register(
                &app,
                &police,
                record("police-ug", id, given, family, born, "Tororo"),
            )
            .await;
        }
        search_until(&app, &official, "district=Tororo", |body| {
            body["total"] == 3
        })
        .await;

        let empty_dir = tempfile::tempdir().unwrap();
        let (index, follower) =
            gateway::commands::reindex::start_search(app.store.clone(), empty_dir.path())
                .await
                .unwrap();
        let head = app.store.outbox_head().await.unwrap();
        let started = Instant::now();
        while index.position() < head && started.elapsed() < FINDABLE_WITHIN {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(index.position(), head);
        assert_eq!(index.num_children(), 3);

        // Then it follows: a later registration reaches the new index too.
        let fourth = register(
            &app,
            &police,
            record(
                "police-ug",
                "P-4",
                "Patience",
                "Achieng",
                "2012-02-02",
                "Tororo",
            ),
        )
        .await;
        index.registry_changed();
        let started = Instant::now();
        while index.num_children() < 4 && started.elapsed() < FINDABLE_WITHIN {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let found = index
            .search(
                search::SearchRequest::text("Patience Achieng", 5),
                registry::ReadScope::All,
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            found.hits.first().map(|hit| hit.child_id.to_string()),
            Some(fourth)
        );
        follower.abort();
        app.finish().await;
    }

    /// The gateway orders the first hits with the registry's active model: a namesake whose
    /// record gives a birth date more than a year off the typed one ranks below the child
    /// whose record gives none (the index alone ranks them the other way: `search/tests`).
    pub async fn the_active_model_orders_the_first_hits(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let school = app.key(Role::Agency, Some("school-kh")).await;
        let police = app.key(Role::Agency, Some("police-kh")).await;
        let official = app.key(Role::NationalOfficial, None).await;
        let dated = register(
            &app,
            &school,
            json!({"source_system": "school-kh", "source_record_id": "S-40",
                   "child": {"given_name": "Dara", "family_name": "Chhim", "sex": "M",
                             "date_of_birth": "2015-09-03", "district": "Kampot"}}),
        )
        .await;
        let undated = register(
            &app,
            &police,
            json!({"source_system": "police-kh", "source_record_id": "P-41",
                   "child": {"given_name": "Dara", "family_name": "Chhim", "sex": "M",
                             "district": "Takeo"}}),
        )
        .await;
        assert_ne!(dated, undated, "two children, not linked");
        let (body, _) = search_until(&app, &official, "q=Dara+Chhim+2016-11-12", |body| {
            hit_ids(body).len() == 2
        })
        .await;
        assert_eq!(hit_ids(&body), [undated.clone(), dated.clone()]);
        let scores: Vec<f64> = body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["score"].as_f64().unwrap())
            .collect();
        assert!(scores[0] > scores[1], "scores follow the order: {scores:?}");
        // The date as a form or a Khmer-speaking official writes it is the same date.
        for written in [
            "q=Dara+Chhim+12+November+2016",
            "q=Dara+Chhim+November+12,+2016",
            "q=Dara+Chhim+ថ្ងៃទី១២+ខែវិច្ឆិកា+ឆ្នាំ២០១៦",
        ] {
            let (same, _) =
                search_until(&app, &official, written, |body| hit_ids(body).len() == 2).await;
            assert_eq!(same["hits"], body["hits"], "{written}");
        }
        app.finish().await;
    }
}

on_both_backends!(
    the_active_model_orders_the_first_hits,
    merged_children_leave_the_index,
    registered_children_are_found_within_a_second,
    khmer_script_finds_latin_spelling,
    filters_scope_and_pages,
    a_district_official_finds_children_any_of_whose_records_is_there,
    bad_input_is_a_problem,
    the_index_resumes_and_rebuilds,
    an_empty_index_is_rebuilt_then_followed,
    a_rebuild_over_split_ranges_indexes_each_child_once,
);

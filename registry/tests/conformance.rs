//! One conformance suite for every store backend: each case is written once and run against
//! SQLite and PostgreSQL. PostgreSQL cases use `CHILD_REGISTRY_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and fail, never skip, when it is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Utc;
use registry::clients::{NewClient, Role};
use registry::imports::{self, ImportFormat, ImportJob, ImportMapping, ImportRow, NewImport};
use registry::model::{ChildView, MatchOutcome, RecordSubmission, Registration, ValidRecord};
use registry::review::{
    CandidateDecision, CandidateQuery, CandidateSort, CandidateStatus, ClaimFilter,
};
use registry::store::Decision;
use registry::store::{self, postgres as pg};
use registry::{ChildId, ChildIdRange, ReadScope, RegistryError, Store};
use serde_json::json;

fn postgres_base_url() -> String {
    std::env::var("CHILD_REGISTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    scratch: Option<pg::ScratchDatabase>,
}

impl Backend {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open_data_dir(dir.path()).await.unwrap();
        Backend {
            store,
            _dir: Some(dir),
            scratch: None,
        }
    }

    async fn postgres() -> Self {
        let scratch = pg::ScratchDatabase::create(&postgres_base_url())
            .await
            .expect("PostgreSQL must be reachable at CHILD_REGISTRY_TEST_DATABASE_URL");
        let store = store::open(&scratch.url).await.unwrap();
        Backend {
            store,
            _dir: None,
            scratch: Some(scratch),
        }
    }

    async fn finish(self) {
        drop(self.store);
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await.unwrap();
        }
    }
}

fn record(system: &str, id: &str, body: serde_json::Value) -> ValidRecord {
    let mut submission = json!({"source_system": system, "source_record_id": id});
    for (key, value) in body.as_object().unwrap() {
        submission[key] = value.clone();
    }
    serde_json::from_value::<RecordSubmission>(submission)
        .unwrap()
        .validate(Utc::now().date_naive())
        .unwrap()
}

fn halima(events: serde_json::Value) -> serde_json::Value {
    json!({
        "child": {"given_name": "Halima", "family_name": "Aguti", "sex": "F", "date_of_birth": "2022-01-01",
                  "date_of_birth_estimated": true, "district": "Wakiso", "village": "Wairaka",
                  "identifiers": [{"type": "birth_registration", "value": "UG-BR-2022-123"}]},
        "events": events
    })
}

fn open_query() -> CandidateQuery {
    CandidateQuery {
        status: CandidateStatus::Open,
        district: None,
        claims: ClaimFilter::Any,
        sort: CandidateSort::Oldest,
        limit: 50,
        offset: 0,
    }
}

fn decision() -> Decision {
    Decision {
        actor: "steward-1".into(),
        reason: "same child: school and police records agree".into(),
    }
}

/// A record with no identifiers about a child of its own: each given name is a different
/// child (other family, birth date and village), so nothing links automatically.
/// Folds every change into the running totals, then checks that each scope's totals equal the
/// counts taken from the records.
async fn totals_match_a_recount(store: &dyn Store, scopes: &[ReadScope]) {
    registry::counts::catch_up(store).await.unwrap();
    for scope in scopes {
        // Everything listed, and the dashboard's cut with the rest summed.
        for largest in [usize::MAX, 1] {
            let mut totals = store.registration_counts(scope, largest).await.unwrap();
            let mut recounted = store
                .registration_counts_from_records(scope, largest)
                .await
                .unwrap();
            totals.counted_at = None;
            recounted.counted_at = None;
            assert_eq!(totals, recounted, "{scope:?}, {largest} largest");
        }
    }
}

fn lone(system: &str, id: &str, given: &str) -> ValidRecord {
    let (family, born, village) = match given {
        "Halima" => ("Aguti", "2022-01-01", "Wairaka"),
        "Halimah" => ("Nakimuli", "2018-06-15", "Bweyogerere"),
        _ => ("Ssempala", "2014-11-30", "Kasangati"),
    };
    let mut body = halima(json!([{"type": format!("{system}.seen"), "date": "2024-01-01"}]));
    body["child"]["identifiers"] = json!([]);
    body["child"]["given_name"] = json!(given);
    body["child"]["family_name"] = json!(family);
    body["child"]["date_of_birth"] = json!(born);
    body["child"]["date_of_birth_estimated"] = json!(false);
    body["child"]["village"] = json!(village);
    record(system, id, body)
}

/// A generated child (no identifiers): only the matching model can link its records.
/// One child as the police wrote her.
fn police_sreyneang() -> ValidRecord {
    person(
        "police-kh",
        "P-100",
        "Sreyneang",
        "Kosal",
        "2015-04-12",
        "Prek Ho",
    )
}

/// The same child as her school wrote her: family name first and in capitals.
fn school_sreyneang() -> ValidRecord {
    person(
        "school-kh",
        "S-200",
        "KOSAL",
        "SREYNEANG",
        "2015-04-12",
        "Prek Ho",
    )
}

fn person(
    system: &str,
    id: &str,
    given: &str,
    family: &str,
    born: &str,
    village: &str,
) -> ValidRecord {
    record(
        system,
        id,
        json!({
            "child": {"given_name": given, "family_name": family, "sex": "F", "date_of_birth": born,
                      "district": "Kandal", "subcounty": "Ta Khmau", "village": village,
                      "mother_name": format!("Srey {family}"), "father_name": format!("Vuthy {family}")},
            "events": [{"type": format!("{system}.seen"), "date": "2024-05-01"}]
        }),
    )
}

/// Registers eight generated children twice at the same moment, once through each store (a
/// police and a school system), and checks that each child's two records are one child.
async fn register_twice_at_once(police: Arc<dyn Store>, school: Arc<dyn Store>) {
    let givens = [
        "Chantrea",
        "Kunthea",
        "Leakhena",
        "Mealea",
        "Nary",
        "Phalla",
        "Rachana",
        "Sokunthea",
    ];
    let families = ["Heng", "Kim", "Mao", "Nhem", "Ouk", "Pen", "Sam", "Touch"];
    let mut tasks = Vec::new();
    for (i, (given, family)) in givens.iter().zip(families.iter()).enumerate() {
        let born = format!("201{}-0{}-1{}", i % 9, 1 + i % 8, i % 9);
        for (agency, store) in [("police-kh", police.clone()), ("school-kh", school.clone())] {
            let body = person(
                agency,
                &format!("{agency}-{i}"),
                given,
                family,
                &born,
                "Prek Ho",
            );
            tasks.push(tokio::spawn(async move {
                store.register(body, "a").await.unwrap()
            }));
        }
    }
    let mut children = Vec::new();
    for task in tasks {
        children.push(task.await.unwrap().child_id);
    }
    for pair in children.chunks(2) {
        assert_eq!(pair[0], pair[1], "both agencies' records are one child");
    }
}

mod cases {
    use super::*;

    /// Every change to a child counts a revision; a merge decided at an older revision (a
    /// steward's stale view) changes nothing.
    pub async fn a_merge_at_a_stale_revision_changes_nothing(store: Arc<dyn Store>) {
        let mut ids = Vec::new();
        for (system, id, given) in [
            ("police-ug", "P1", "Halima"),
            ("school-ug", "S1", "Halimah"),
            ("court-ug", "C1", "Alima"),
        ] {
            ids.push(
                store
                    .register(lone(system, id, given), "a")
                    .await
                    .unwrap()
                    .child_id,
            );
        }
        let (a, b, c) = (ids[0], ids[1], ids[2]);
        let read = store.child_revision(a).await.unwrap().unwrap();
        // Another steward merges a third child into it after it was read.
        store.merge_children(c, a, &decision()).await.unwrap();
        let now = store.child_revision(a).await.unwrap().unwrap();
        assert!(now > read, "a merge into the child is a change of it");
        let error = store
            .merge_children_at_revision(a, b, &decision(), read)
            .await
            .unwrap_err();
        assert!(
            matches!(error, RegistryError::Stale { expected, current } if expected == read && current == now),
            "{error:?}"
        );
        let view = store.child(a, &ReadScope::All).await.unwrap().unwrap();
        assert_eq!(
            view.status,
            registry::model::ChildStatus::Active,
            "nothing changed"
        );
        assert_eq!(view.records.len(), 2);
        let merged = store
            .merge_children_at_revision(a, b, &decision(), now)
            .await
            .unwrap();
        assert_eq!((merged.into, merged.records_moved), (b, 2));
        assert!(store.child_revision(a).await.unwrap().unwrap() > now);
        // Random 60-bit IDs: this one was never issued here.
        let never_issued = registry::ChildId::random();
        assert_eq!(store.child_revision(never_issued).await.unwrap(), None);
        let pools = store.pool_use();
        assert!(
            !pools.is_empty()
                && pools
                    .iter()
                    .all(|pool| pool.max > 0 && pool.idle <= pool.open)
        );
    }

    /// The bulk reads the search index is built from: active children only, in child ID
    /// order a page at a time, each with the same summary and records as `Store::child`.
    pub async fn active_children_are_read_in_pages(store: Arc<dyn Store>) {
        let mut ids = Vec::new();
        for (system, id, given) in [
            ("police-ug", "P1", "Halima"),
            ("school-ug", "S1", "Halimah"),
            ("court-ug", "C1", "Alima"),
        ] {
            let registered = store.register(lone(system, id, given), "a").await.unwrap();
            ids.push(registered.child_id);
        }
        let (merged, survivor) = (ids[0], ids[1]);
        store
            .merge_children(merged, survivor, &decision())
            .await
            .unwrap();
        let mut active: Vec<_> = ids[1..].to_vec();
        active.sort_by_key(ToString::to_string);

        let paged = read_in_pages(store.as_ref(), ChildIdRange::ALL, 1).await;
        assert_eq!(
            paged.iter().map(|view| view.child_id).collect::<Vec<_>>(),
            active
        );
        for view in &paged {
            let single = store
                .child(view.child_id, &ReadScope::All)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(view.summary, single.summary);
            assert_eq!(view.records.len(), single.records.len());
        }
        assert_eq!(
            paged
                .iter()
                .find(|view| view.child_id == survivor)
                .unwrap()
                .records
                .len(),
            2
        );

        let among = store.active_children_among(&ids).await.unwrap();
        let mut found: Vec<_> = among.iter().map(|view| view.child_id).collect();
        found.sort_by_key(ToString::to_string);
        assert_eq!(found, active, "the merged child is left out");
        assert!(store.active_children_among(&[]).await.unwrap().is_empty());
    }

    /// Every active child in `range`, read `page` at a time as a rebuild reads them.
    async fn read_in_pages(store: &dyn Store, range: ChildIdRange, page: i64) -> Vec<ChildView> {
        let mut read = Vec::new();
        let mut rest = range;
        loop {
            let children = store.active_children(rest, page).await.unwrap();
            let Some(last) = children.last() else { break };
            assert!(children.len() as i64 <= page);
            rest.after = Some(last.child_id);
            read.extend(children);
        }
        read
    }

    /// A rebuild reads the ID space split into ranges side by side: together they return every
    /// active child exactly once, each range only its own, in order.
    pub async fn split_ranges_read_each_active_child_once(store: Arc<dyn Store>) {
        // Each loaded record is its own child, whatever its fields.
        let records = (0..24)
            .map(|number| lone("school-ug", &format!("S{number}"), "Halima"))
            .collect();
        assert_eq!(store.bulk_load(records, "a").await.unwrap(), 24);
        let mut registered: Vec<ChildId> = read_in_pages(store.as_ref(), ChildIdRange::ALL, 100)
            .await
            .iter()
            .map(|view| view.child_id)
            .collect();
        assert_eq!(registered.len(), 24);
        store
            .merge_children(registered[0], registered[1], &decision())
            .await
            .unwrap();
        let active = registered.split_off(1);

        for parts in [1, 2, 3, 7] {
            let mut read = Vec::new();
            for range in ChildIdRange::ALL.split(parts) {
                let part = read_in_pages(store.as_ref(), range, 2).await;
                let ids: Vec<ChildId> = part.iter().map(|view| view.child_id).collect();
                assert!(
                    ids.iter().all(|id| range.contains(*id)),
                    "{range:?}: {ids:?}"
                );
                assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
                read.extend(ids);
            }
            assert_eq!(read, active, "{parts} ranges");
        }
    }

    pub async fn merges_keep_the_old_id_alive(store: Arc<dyn Store>) {
        let a = store
            .register(lone("police-ug", "P1", "Halima"), "a")
            .await
            .unwrap()
            .child_id;
        let b = store
            .register(lone("school-ug", "S1", "Halimah"), "a")
            .await
            .unwrap()
            .child_id;
        let c = store
            .register(lone("court-ug", "C1", "Alima"), "a")
            .await
            .unwrap()
            .child_id;
        let merged = store.merge_children(a, b, &decision()).await.unwrap();
        assert_eq!(
            (merged.merged, merged.into, merged.records_moved),
            (a, b, 1)
        );
        store.merge_children(b, c, &decision()).await.unwrap();
        // a → b → c: the chain resolves to c, and c's timeline holds everything.
        let view = store.child(a, &ReadScope::All).await.unwrap().unwrap();
        assert_eq!(view.child_id, a);
        assert_eq!(view.status, registry::model::ChildStatus::Merged);
        assert_eq!(view.merged_into, Some(c));
        assert_eq!(view.records.len(), 3);
        let timeline = store.timeline(a, &ReadScope::All).await.unwrap().unwrap();
        assert_eq!(timeline.child_id, c);
        assert_eq!(timeline.events.len(), 3);
        let error = store.merge_children(a, c, &decision()).await.unwrap_err();
        assert!(
            matches!(
                error,
                RegistryError::Conflict {
                    code: "already_merged",
                    ..
                }
            ),
            "{error:?}"
        );
        let error = store.merge_children(c, a, &decision()).await.unwrap_err();
        assert!(
            matches!(
                error,
                RegistryError::Conflict {
                    code: "same_child",
                    ..
                }
            ),
            "{error:?}"
        );
        let kinds: Vec<String> = store
            .outbox_after(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds.iter().filter(|k| *k == "child.merged").count(), 2);
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    pub async fn unlinking_returns_a_record_where_it_came_from(store: Arc<dyn Store>) {
        let a = store
            .register(lone("police-ug", "P1", "Halima"), "a")
            .await
            .unwrap()
            .child_id;
        let b = store
            .register(lone("school-ug", "S1", "Halimah"), "a")
            .await
            .unwrap()
            .child_id;
        let error = store
            .unlink_record("police-ug", "P1", &decision())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                RegistryError::Conflict {
                    code: "only_record",
                    ..
                }
            ),
            "{error:?}"
        );
        store.merge_children(a, b, &decision()).await.unwrap();
        let unlinked = store
            .unlink_record("police-ug", "P1", &decision())
            .await
            .unwrap();
        assert_eq!(
            (
                unlinked.child_id,
                unlinked.previous_child_id,
                unlinked.returned_to_origin
            ),
            (a, b, true)
        );
        let view = store.child(a, &ReadScope::All).await.unwrap().unwrap();
        assert_eq!(view.status, registry::model::ChildStatus::Active);
        assert_eq!(view.records.len(), 1);
        // A record that was linked on arrival gets a new child ID.
        let mut linked = halima(json!([]));
        linked["child"]["given_name"] = json!("Halimah");
        let first = store
            .register(record("court-ug", "C1", halima(json!([]))), "a")
            .await
            .unwrap();
        let second = store
            .register(record("welfare-ug", "W1", linked), "a")
            .await
            .unwrap();
        assert_eq!(second.child_id, first.child_id);
        let unlinked = store
            .unlink_record("welfare-ug", "W1", &decision())
            .await
            .unwrap();
        assert!(!unlinked.returned_to_origin);
        assert_ne!(unlinked.child_id, first.child_id);
        assert!(matches!(
            store
                .unlink_record("welfare-ug", "nope", &decision())
                .await
                .unwrap_err(),
            RegistryError::NotFound(_)
        ));
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    /// A seeded random sequence of registrations, merges and unlinks; the invariants hold after
    /// every step.
    pub async fn invariants_hold_after_every_operation(store: Arc<dyn Store>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // A few generated children, each reported with variations, so registrations link,
        // go to review or make new children.
        let people = [
            ("Sreyleak", "Chea", "2013-03-14", "Prek Ho"),
            ("Sreyleak", "Chea", "2015-08-02", "Prek Ho"),
            ("Vanna", "Sok", "2012-12-01", "Krang Yov"),
            ("Rotha", "Lim", "2016-06-06", "Svay Rolum"),
            ("Rotha", "Lim", "2016-06-06", "Koki"),
            ("Kanika", "Yem", "2011-10-10", "Prek Ho"),
        ];
        let mut records: Vec<(String, String)> = Vec::new();
        let mut children: Vec<registry::ChildId> = Vec::new();
        let mut decisions = 0;
        for step in 0..150 {
            match rng.gen_range(0..12) {
                0..=5 => {
                    let system = ["police-kh", "school-kh", "court-kh"][rng.gen_range(0..3)];
                    let id = format!("R{}", rng.gen_range(0..40));
                    let (given, family, born, village) = people[rng.gen_range(0..people.len())];
                    let mut body = person(system, &id, given, family, born, village);
                    match rng.gen_range(0..4) {
                        0 => body.child.date_of_birth = None,
                        1 => body.child.given_name = Some(format!("{given}a")),
                        2 => body.child.mother_name = None,
                        _ => {}
                    }
                    // Districts change between versions of a record, and the totals with them.
                    body.child.district = Some(["Kandal", "Takeo"][rng.gen_range(0..2)].into());
                    if rng.gen_bool(0.2) {
                        body.child.identifiers = vec![registry::model::Identifier {
                            kind: "birth_registration".into(),
                            value: format!("BR-{}", rng.gen_range(0..8)),
                        }];
                    }
                    let registration = store.register(body, "a").await.unwrap();
                    records.push((system.to_owned(), id));
                    children.push(registration.child_id);
                }
                6..=7 => {
                    let open = store.match_candidates(&open_query()).await.unwrap();
                    if let Some(candidate) = open.candidates.first() {
                        let choice = [
                            CandidateDecision::Link,
                            CandidateDecision::NotAMatch,
                            CandidateDecision::Defer,
                        ][rng.gen_range(0..3)];
                        match store
                            .decide_match_candidate(candidate.id, choice, &decision())
                            .await
                        {
                            Ok(_) => decisions += 1,
                            Err(RegistryError::Conflict { .. }) => {}
                            Err(other) => panic!("step {step}: decision failed: {other:?}"),
                        }
                    }
                }
                8..=9 if children.len() >= 2 => {
                    let from = children[rng.gen_range(0..children.len())];
                    let into = children[rng.gen_range(0..children.len())];
                    match store.merge_children(from, into, &decision()).await {
                        Ok(_) | Err(RegistryError::Conflict { .. }) => {}
                        Err(other) => panic!("step {step}: merge failed: {other:?}"),
                    }
                }
                _ if !records.is_empty() => {
                    let (system, id) = &records[rng.gen_range(0..records.len())];
                    match store.unlink_record(system, id, &decision()).await {
                        Ok(unlinked) => children.push(unlinked.child_id),
                        Err(RegistryError::Conflict { .. }) => {}
                        Err(other) => panic!("step {step}: unlink failed: {other:?}"),
                    }
                }
                _ => {}
            }
            let violations = store.invariant_violations().await.unwrap();
            assert!(violations.is_empty(), "step {step}: {violations:?}");
            if step % 10 == 9 {
                totals_match_a_recount(
                    store.as_ref(),
                    &[
                        ReadScope::All,
                        ReadScope::SourceSystem("police-kh".into()),
                        ReadScope::SourceSystem("school-kh".into()),
                        ReadScope::SourceSystem("court-kh".into()),
                        ReadScope::District("Kandal".into()),
                        ReadScope::District("takeo".into()),
                    ],
                )
                .await;
            }
        }
        assert!(
            decisions > 0,
            "the sequence must exercise steward decisions"
        );
        let seqs: Vec<i64> = store
            .outbox_after(0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    }

    pub async fn registers_a_new_child(store: Arc<dyn Store>) {
        let registration = store
            .register(record("police-ug", "CPU-1", halima(json!([]))), "client-a")
            .await
            .unwrap();
        assert!(registration.created);
        assert_eq!(registration.record_version, 1);
        assert_eq!(registration.match_result.outcome, MatchOutcome::New);
        let child = store
            .child(registration.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(child.records.len(), 1);
        assert_eq!(child.summary.given_name.as_deref(), Some("Halima"));
        assert_eq!(child.summary.source_systems, vec!["police-ug"]);
    }

    pub async fn the_same_body_is_idempotent(store: Arc<dyn Store>) {
        let body = halima(
            json!([{"type": "police.case_opened", "date": "2024-03-01", "sensitivity": "restricted"}]),
        );
        let first = store
            .register(record("police-ug", "CPU-1", body.clone()), "a")
            .await
            .unwrap();
        let head = store.outbox_head().await.unwrap();
        let again = store
            .register(record("police-ug", "CPU-1", body), "a")
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.child_id, first.child_id);
        assert_eq!(again.record_version, 1);
        assert_eq!(
            store.outbox_head().await.unwrap(),
            head,
            "a repeat writes no change"
        );
        let timeline = store
            .timeline(first.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(timeline.events.len(), 1);
    }

    pub async fn a_changed_body_adds_a_version_and_keeps_the_old(store: Arc<dyn Store>) {
        let first = store
            .register(record("police-ug", "CPU-1", halima(json!([]))), "a")
            .await
            .unwrap();
        let mut changed = halima(json!([]));
        changed["child"]["village"] = json!("Kasangati");
        let second = store
            .register(record("police-ug", "CPU-1", changed), "b")
            .await
            .unwrap();
        assert!(!second.created);
        assert_eq!(second.child_id, first.child_id);
        assert_eq!(second.record_version, 2);
        let history = store
            .record_history("police-ug", "CPU-1", &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(history.current_version, 2);
        let versions: Vec<_> = history
            .versions
            .iter()
            .map(|v| (v.version, v.child.village.clone(), v.received_from.clone()))
            .collect();
        assert_eq!(
            versions,
            vec![
                (2, Some("Kasangati".to_owned()), "b".to_owned()),
                (1, Some("Wairaka".to_owned()), "a".to_owned()),
            ]
        );
        let child = store
            .child(first.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(child.records[0].version, 2);
        assert_eq!(child.summary.village.as_deref(), Some("Kasangati"));
    }

    pub async fn a_shared_identifier_links_the_child(store: Arc<dyn Store>) {
        let police = store
            .register(record("police-ug", "CPU-1", halima(json!([]))), "a")
            .await
            .unwrap();
        let mut school = halima(json!([]));
        school["child"]["given_name"] = json!("Halimah");
        school["child"]["identifiers"] =
            json!([{"type": "birth_registration", "value": "ug br 2022 123"}]);
        let linked = store
            .register(record("school-ug", "STU-9", school), "b")
            .await
            .unwrap();
        assert!(linked.created);
        assert_eq!(linked.match_result.outcome, MatchOutcome::Linked);
        assert_eq!(linked.child_id, police.child_id);
        // Another child whose student number happens to read like Halima's birth registration.
        let mut other = halima(json!([]));
        other["child"]["given_name"] = json!("Nakato");
        other["child"]["family_name"] = json!("Namubiru");
        other["child"]["date_of_birth"] = json!("2017-08-19");
        other["child"]["identifiers"] = json!([{"type": "student_id", "value": "UG-BR-2022-123"}]);
        let separate = store
            .register(record("school-ug", "STU-10", other), "b")
            .await
            .unwrap();
        assert_eq!(
            separate.match_result.outcome,
            MatchOutcome::New,
            "the identifier type must match too"
        );
        let child = store
            .child(police.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(child.records.len(), 2);
        assert_eq!(child.summary.source_systems, vec!["police-ug", "school-ug"]);
    }

    pub async fn the_timeline_is_ordered_with_provenance(store: Arc<dyn Store>) {
        let police = store
            .register(record("police-ug", "CPU-1", halima(json!([
                {"type": "police.case_opened", "date": "2024-03-01", "sensitivity": "restricted", "details": {"b": 1, "a": 2}},
                {"type": "police.case_closed", "date": "2024-09-01", "sensitivity": "restricted"}
            ]))), "a")
            .await
            .unwrap();
        store
            .register(
                record(
                    "school-ug",
                    "STU-1",
                    halima(json!([
                        {"type": "school.enrolled", "date": "2023-02-01"}
                    ])),
                ),
                "b",
            )
            .await
            .unwrap();
        let timeline = store
            .timeline(police.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        let seen: Vec<_> = timeline
            .events
            .iter()
            .map(|e| {
                (
                    e.date.to_string(),
                    e.event_type.clone(),
                    e.provenance.source_system.clone(),
                    e.provenance.record_version,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    "2023-02-01".to_owned(),
                    "school.enrolled".to_owned(),
                    "school-ug".to_owned(),
                    1
                ),
                (
                    "2024-03-01".to_owned(),
                    "police.case_opened".to_owned(),
                    "police-ug".to_owned(),
                    1
                ),
                (
                    "2024-09-01".to_owned(),
                    "police.case_closed".to_owned(),
                    "police-ug".to_owned(),
                    1
                ),
            ]
        );
        assert_eq!(timeline.events[1].details, json!({"a": 2, "b": 1}));
        assert_eq!(timeline.events[1].provenance.source_record_id, "CPU-1");
    }

    pub async fn events_no_longer_reported_are_retracted_not_lost(store: Arc<dyn Store>) {
        let opened = json!({"type": "police.case_opened", "date": "2024-03-01", "sensitivity": "restricted"});
        let closed = json!({"type": "police.case_closed", "date": "2024-09-01", "sensitivity": "restricted"});
        let first = store
            .register(
                record("police-ug", "CPU-1", halima(json!([opened.clone()]))),
                "a",
            )
            .await
            .unwrap();
        store
            .register(
                record("police-ug", "CPU-1", halima(json!([closed.clone()]))),
                "a",
            )
            .await
            .unwrap();
        let timeline = store
            .timeline(first.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            timeline
                .events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>(),
            vec!["police.case_closed"]
        );
        assert_eq!(timeline.events[0].provenance.record_version, 2);
        let third = store
            .register(
                record("police-ug", "CPU-1", halima(json!([opened, closed]))),
                "a",
            )
            .await
            .unwrap();
        assert_eq!(third.record_version, 3);
        let timeline = store
            .timeline(first.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            timeline.events.len(),
            2,
            "the retracted event is reinstated"
        );
        let history = store
            .record_history("police-ug", "CPU-1", &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            history.versions.last().unwrap().events.len(),
            1,
            "version 1 kept as received"
        );
    }

    pub async fn agency_scope_hides_other_children(store: Arc<dyn Store>) {
        let police = store
            .register(record("police-ug", "CPU-1", halima(json!([]))), "a")
            .await
            .unwrap();
        let own = ReadScope::SourceSystem("police-ug".into());
        let school = ReadScope::SourceSystem("school-ug".into());
        assert!(store.child(police.child_id, &own).await.unwrap().is_some());
        assert!(store
            .child(police.child_id, &school)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .timeline(police.child_id, &school)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .record_history("police-ug", "CPU-1", &school)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .child(registry::ChildId::random(), &ReadScope::All)
            .await
            .unwrap()
            .is_none());
    }

    pub async fn counts_and_agencies_follow_the_read_scope(store: Arc<dyn Store>) {
        let child = |given: &str, born: &str, district: &str| {
            json!({"child": {"given_name": given, "family_name": "Okot", "sex": "M",
                             "date_of_birth": born, "district": district, "identifiers": []}})
        };
        store
            .register(
                record("police-ug", "CPU-1", child("Brian", "2014-02-03", "Wakiso")),
                "a",
            )
            .await
            .unwrap();
        store
            .register(
                record("school-ug", "S-1", child("Moses", "2011-07-21", "WAKISO")),
                "a",
            )
            .await
            .unwrap();
        store
            .register(
                record("school-ug", "S-2", child("Peter", "2017-11-30", "Gulu")),
                "a",
            )
            .await
            .unwrap();
        assert_eq!(
            store.source_systems().await.unwrap(),
            ["police-ug", "school-ug"]
        );
        let pairs = |counts: &[registry::model::Count]| {
            counts
                .iter()
                .map(|count| (count.key.to_lowercase(), count.children))
                .collect::<Vec<_>>()
        };
        registry::counts::catch_up(store.as_ref()).await.unwrap();
        let all = store
            .registration_counts(&ReadScope::All, 25)
            .await
            .unwrap();
        assert!(all.counted_at.is_some());
        assert_eq!(all.children, 3);
        assert_eq!(
            pairs(&all.by_district),
            [("wakiso".to_owned(), 2), ("gulu".to_owned(), 1)]
        );
        assert_eq!(
            pairs(&all.by_agency),
            [("school-ug".to_owned(), 2), ("police-ug".to_owned(), 1)]
        );
        assert_eq!(all.by_month.iter().map(|m| m.children).sum::<i64>(), 3);
        let police = store
            .registration_counts(&ReadScope::SourceSystem("police-ug".into()), 25)
            .await
            .unwrap();
        assert_eq!(police.children, 1);
        assert_eq!(pairs(&police.by_agency), [("police-ug".to_owned(), 1)]);
        let gulu = store
            .registration_counts(&ReadScope::District("gulu".into()), 25)
            .await
            .unwrap();
        assert_eq!(gulu.children, 1);
        assert_eq!(pairs(&gulu.by_district), [("gulu".to_owned(), 1)]);
        let nothing = store
            .registration_counts(&ReadScope::Nothing, 25)
            .await
            .unwrap();
        assert_eq!(nothing.children, 0);
        assert!(nothing.by_district.is_empty() && nothing.by_agency.is_empty());
        totals_match_a_recount(
            store.as_ref(),
            &[
                ReadScope::All,
                ReadScope::SourceSystem("police-ug".into()),
                ReadScope::SourceSystem("school-ug".into()),
                ReadScope::District("Wakiso".into()),
                ReadScope::District("gulu".into()),
                ReadScope::Nothing,
            ],
        )
        .await;
    }

    pub async fn the_change_feed_is_gap_free_and_ordered(store: Arc<dyn Store>) {
        let first = store
            .register(
                record(
                    "police-ug",
                    "CPU-1",
                    halima(json!([
                        {"type": "police.case_opened", "date": "2024-03-01"}
                    ])),
                ),
                "a",
            )
            .await
            .unwrap();
        let mut school = halima(json!([]));
        school["child"]["given_name"] = json!("Halimah");
        store
            .register(record("school-ug", "STU-1", school), "a")
            .await
            .unwrap();
        let entries = store.outbox_after(0, 100).await.unwrap();
        let kinds: Vec<_> = entries.iter().map(|e| (e.seq, e.kind.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                (1, "child.created"),
                (2, "record.registered"),
                (3, "event.added"),
                (4, "record.linked")
            ]
        );
        assert!(entries.iter().all(|e| e.child_id == first.child_id));
        assert_eq!(store.outbox_head().await.unwrap(), 4);
        assert_eq!(store.outbox_after(2, 1).await.unwrap()[0].seq, 3);
    }

    pub async fn concurrent_writers_lose_nothing(store: Arc<dyn Store>) {
        let mut tasks = Vec::new();
        for i in 0..24 {
            let store = store.clone();
            // Every third task repeats the same source record: it must stay one record.
            let id = if i % 3 == 0 {
                "CPU-SAME".to_owned()
            } else {
                format!("CPU-{i}")
            };
            tasks.push(tokio::spawn(async move {
                // No identifier, so the repeats link on the model's evidence alone: a real
                // birth date (not a guessed 1 January) and both parents make that certain.
                let mut body = halima(json!([]));
                body["child"]["identifiers"] = json!([]);
                body["child"]["date_of_birth"] = json!("2022-03-14");
                body["child"]["date_of_birth_estimated"] = json!(false);
                body["child"]["mother_name"] = json!("Akello Grace");
                body["child"]["father_name"] = json!("Okello Peter");
                store
                    .register(record("police-ug", &id, body), "a")
                    .await
                    .unwrap()
            }));
        }
        let mut same = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let registration = task.await.unwrap();
            if i % 3 == 0 {
                same.push(registration);
            }
        }
        assert!(same
            .iter()
            .all(|r| r.child_id == same[0].child_id && r.record_version == 1));
        assert_eq!(same.iter().filter(|r| r.created).count(), 1);
        let entries = store.outbox_after(0, 1000).await.unwrap();
        let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=entries.len() as i64).collect::<Vec<_>>());
        // 17 distinct records of one child: the first makes the child, the others join it.
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.kind == "record.registered" || e.kind == "record.linked")
                .count(),
            17
        );
        assert_eq!(
            entries.iter().filter(|e| e.kind == "child.created").count(),
            1
        );
    }

    pub async fn a_duplicate_from_another_agency_links_automatically(store: Arc<dyn Store>) {
        let first = store.register(police_sreyneang(), "a").await.unwrap();
        assert_eq!(first.match_result.outcome, MatchOutcome::New);
        let second = store.register(school_sreyneang(), "a").await.unwrap();
        assert_eq!(second.match_result.outcome, MatchOutcome::Linked);
        assert_eq!(second.child_id, first.child_id);
        let probability = second.match_result.probability.unwrap();
        let matcher = store.matcher(None).await.unwrap();
        assert!(probability >= matcher.link_threshold(), "{probability}");
        assert_eq!(second.match_result.candidates, vec![first.child_id]);
        // A different child in the same village stays apart.
        let other = store
            .register(
                person(
                    "school-kh",
                    "S-201",
                    "Dara",
                    "Vannak",
                    "2012-09-30",
                    "Prek Ho",
                ),
                "a",
            )
            .await
            .unwrap();
        assert_eq!(other.match_result.outcome, MatchOutcome::New);
        assert_ne!(other.child_id, first.child_id);
        let view = store
            .child(first.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.records.len(), 2);
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    /// A child known by two given names, each agency writing one: the record of one name is
    /// under the twins' cannot-link rule with the record of the other, which alone would keep
    /// the child from an automatic link; a record of the child that writes both reconciles
    /// them. A twin, whose name no record of the child writes, stays apart.
    pub async fn a_child_known_by_two_given_names_links_once_a_record_writes_both(
        store: Arc<dyn Store>,
    ) {
        let born = "2015-04-12";
        let court = person(
            "court-kh",
            "C-1",
            "Bopha Sreyneang",
            "Kosal",
            born,
            "Prek Ho",
        );
        let first = store.register(court, "a").await.unwrap();
        assert_eq!(first.match_result.outcome, MatchOutcome::New);
        let school = person("school-kh", "S-1", "Sreyneang", "Kosal", born, "Prek Ho");
        let second = store.register(school, "a").await.unwrap();
        assert_eq!(second.match_result.outcome, MatchOutcome::Linked);
        assert_eq!(second.child_id, first.child_id);
        let police = person("police-kh", "P-1", "BOPHA", "KOSAL", born, "Prek Ho");
        let third = store.register(police, "a").await.unwrap();
        assert_eq!(third.match_result.outcome, MatchOutcome::Linked);
        assert_eq!(third.child_id, first.child_id);
        let twin = person("health-kh", "H-1", "Dara", "Kosal", born, "Prek Ho");
        let twin = store.register(twin, "a").await.unwrap();
        assert_ne!(twin.match_result.outcome, MatchOutcome::Linked);
        assert_ne!(twin.child_id, first.child_id);
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    /// Stores and activates a version of the active model with a wider review band (the
    /// bundled model's is narrow, tuned for a small queue), so a plain doubtful pair reaches
    /// review whatever the bundled weights are. Exercises model versions on the way.
    pub(super) async fn widen_review_band(store: &Arc<dyn Store>) {
        let active = store.matcher(None).await.unwrap();
        let mut spec = active.model().spec().clone();
        spec.thresholds.review = 0.9;
        let json = matching::Model::new(spec).unwrap().to_json().unwrap();
        let version = store
            .add_model_version(&json, "test", "wider review band")
            .await
            .unwrap();
        assert_eq!(version, active.version() + 1);
        store.activate_model_version(version).await.unwrap();
        assert_eq!(store.matcher(None).await.unwrap().version(), version);
    }

    /// Registers a child and a second record the model is unsure about; returns both.
    async fn uncertain_pair(store: &Arc<dyn Store>) -> (Registration, Registration) {
        widen_review_band(store).await;
        register_uncertain_pair(store).await
    }

    /// The pair [`uncertain_pair`] registers, under whatever model is active.
    pub(super) async fn register_uncertain_pair(
        store: &Arc<dyn Store>,
    ) -> (Registration, Registration) {
        let first = store
            .register(
                person(
                    "police-kh",
                    "P-300",
                    "Bopha",
                    "Chenda",
                    "2014-02-03",
                    "Prek Ho",
                ),
                "a",
            )
            .await
            .unwrap();
        // Same name, district and an estimated birth date in the same year, nothing else.
        let second = store
            .register(
                record(
                    "welfare-kh",
                    "W-400",
                    json!({"child": {"given_name": "Bopha", "family_name": "Chenda", "sex": "F",
                                     "date_of_birth": "2014-07-01", "date_of_birth_estimated": true,
                                     "district": "Kandal"}}),
                ),
                "a",
            )
            .await
            .unwrap();
        (first, second)
    }

    /// A job whose rows the test hands to the store chunk by chunk (its body is never parsed).
    async fn chunked_job(store: &Arc<dyn Store>, total_rows: i64) -> ImportJob {
        store
            .create_import(
                NewImport {
                    format: ImportFormat::Ndjson,
                    mapping: ImportMapping::Canonical,
                    source_system: None,
                    submitted_by: "cli:test".to_owned(),
                    body: b"{}".to_vec(),
                },
                total_rows,
            )
            .await
            .unwrap()
    }

    /// An import prepares its next chunk while the store writes the one before; a model
    /// activated in between must still decide that chunk. Here the chunk is prepared with a
    /// stored (not active) version that gives no blocking keys: keyed with it, the school's
    /// record would find no candidate and found a new child.
    pub async fn an_import_chunk_prepared_with_another_model_is_prepared_again(
        store: Arc<dyn Store>,
    ) {
        let first = store.register(police_sreyneang(), "a").await.unwrap();
        let active = store.matcher(None).await.unwrap();
        let mut spec = active.model().spec().clone();
        spec.blocking.clear();
        let json = matching::Model::new(spec).unwrap().to_json().unwrap();
        let unkeyed = store
            .add_model_version(&json, "test", "no blocking keys")
            .await
            .unwrap();
        let job = chunked_job(&store, 1).await;
        let row = ImportRow {
            row: 1,
            line: 1,
            source_system: Some("school-kh".to_owned()),
            source_record_id: Some("S-200".to_owned()),
            record: Ok(school_sreyneang()),
        };
        let stale = store.matcher(Some(unkeyed)).await.unwrap();
        assert!(stale.blocking_keys(&school_sreyneang().child).is_empty());
        let chunk = imports::prepare_chunk(stale, vec![row]).await.unwrap();
        let job = store.import_chunk(&job.id, 0, chunk).await.unwrap();
        assert_eq!((job.linked, job.new), (1, 0));
        let results = store.import_results(&job.id).await.unwrap();
        assert_eq!(results[0].child_id, Some(first.child_id));
    }

    /// Agencies keep registering while an import chunk is written, whose new records' keys
    /// are reserved before its rows are placed: every record of both lands once, on the child
    /// it belongs to, under a key no other record holds.
    pub async fn online_registrations_during_an_import_lose_nothing(store: Arc<dyn Store>) {
        let children = [
            ("Chantrea", "Kosal", "2014-02-03", "Prek Ho"),
            ("Kunthea", "Sok", "2013-05-17", "Koki"),
            ("Sophea", "Lim", "2015-09-21", "Svay Rolum"),
            ("Bopha", "Chea", "2012-11-08", "Krang Yov"),
            ("Dara", "Yem", "2016-01-30", "Prek Ho"),
            ("Malis", "Keo", "2011-07-14", "Koki"),
        ];
        let rows: Vec<ImportRow> = children
            .iter()
            .enumerate()
            .map(|(n, (given, family, born, village))| {
                let id = format!("S-{n}");
                ImportRow {
                    row: n as i64 + 1,
                    line: n as i64 + 2,
                    source_system: Some("school-kh".to_owned()),
                    source_record_id: Some(id.clone()),
                    record: Ok(person("school-kh", &id, given, family, born, village)),
                }
            })
            .collect();
        let job = chunked_job(&store, rows.len() as i64).await;
        let matcher = store.matcher(None).await.unwrap();
        let chunk = imports::prepare_chunk(matcher, rows).await.unwrap();
        let importing = {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.import_chunk(&job.id, 0, chunk).await })
        };
        // Other children than the import's, from another agency, at the same moment.
        let others = [
            ("Rotha", "2010-03-09"),
            ("Sreyleak", "2017-08-25"),
            ("Vanna", "2009-12-01"),
            ("Kanika", "2018-04-16"),
            ("Channary", "2010-10-10"),
            ("Phalla", "2017-02-22"),
        ];
        let online: Vec<_> = others
            .iter()
            .enumerate()
            .map(|(n, (given, born))| {
                let store = Arc::clone(&store);
                let record = person(
                    "police-kh",
                    &format!("P-{n}"),
                    given,
                    "Vannak",
                    born,
                    "Ta Khmau",
                );
                tokio::spawn(async move { store.register(record, "a").await })
            })
            .collect();
        let mut child_ids: Vec<registry::ChildId> = Vec::new();
        for registered in online {
            child_ids.push(registered.await.unwrap().unwrap().child_id);
        }
        let job = importing.await.unwrap().unwrap();
        assert_eq!((job.rows_done, job.new, job.rejected), (6, 6, 0));
        for result in store.import_results(&job.id).await.unwrap() {
            child_ids.push(result.child_id.unwrap());
        }
        let distinct: std::collections::BTreeSet<_> = child_ids.iter().copied().collect();
        assert_eq!(distinct.len(), 12, "{child_ids:?}");
        for child_id in child_ids {
            let view = store
                .child(child_id, &ReadScope::All)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(view.records.len(), 1, "{view:?}");
        }
        assert_eq!(
            store.invariant_violations().await.unwrap(),
            Vec::<String>::new()
        );
    }

    /// An import scores its next chunk while the chunk before is written, against the registry
    /// as committed then. The rows must still meet that chunk's records, and a registration
    /// another writer committed in between.
    pub async fn an_import_chunk_scored_ahead_meets_what_was_committed_since(
        store: Arc<dyn Store>,
    ) {
        let job = chunked_job(&store, 3).await;
        let matcher = store.matcher(None).await.unwrap();
        let chunk = |row: i64, record: ValidRecord| {
            let matcher = Arc::clone(&matcher);
            let row = ImportRow {
                row,
                line: row + 1,
                source_system: Some(record.source_system.clone()),
                source_record_id: Some(record.source_record_id.clone()),
                record: Ok(record),
            };
            async move { imports::prepare_chunk(matcher, vec![row]).await.unwrap() }
        };
        let first = chunk(1, school_sreyneang()).await;
        let second = chunk(2, police_sreyneang()).await;
        // Scored before the first chunk is written: the registry is empty.
        let second = store.score_ahead(&job.id, 1, second).await.unwrap();
        store.import_chunk(&job.id, 0, first).await.unwrap();
        let done = store.import_chunk(&job.id, 1, second).await.unwrap();
        assert_eq!((done.rows_done, done.new, done.linked), (2, 1, 1));

        let kunthea =
            |system: &str, id: &str| person(system, id, "Kunthea", "Sok", "2013-05-17", "Koki");
        let third = chunk(3, kunthea("welfare-kh", "W-1")).await;
        let third = store.score_ahead(&job.id, 2, third).await.unwrap();
        let online = store
            .register(kunthea("police-kh", "P-1"), "a")
            .await
            .unwrap();
        let done = store.import_chunk(&job.id, 2, third).await.unwrap();
        assert_eq!((done.rows_done, done.new, done.linked), (3, 1, 2));

        let results = store.import_results(&job.id).await.unwrap();
        assert_eq!(results[1].outcome, "linked");
        assert_eq!(results[1].child_id, results[0].child_id);
        assert_eq!(results[2].outcome, "linked");
        assert_eq!(results[2].child_id, Some(online.child_id));
        assert_eq!(
            store.invariant_violations().await.unwrap(),
            Vec::<String>::new()
        );
    }

    pub async fn a_possible_match_goes_to_review_and_a_steward_decides(store: Arc<dyn Store>) {
        let (first, second) = uncertain_pair(&store).await;
        assert_eq!(
            second.match_result.outcome,
            MatchOutcome::Review,
            "{second:?}"
        );
        assert_ne!(second.child_id, first.child_id);
        assert_eq!(second.match_result.candidates, vec![first.child_id]);
        let open = store.match_candidates(&open_query()).await.unwrap();
        assert_eq!(open.candidates.len(), 1);
        let candidate = &open.candidates[0];
        assert_eq!(candidate.record.source_record_id, "W-400");
        assert_eq!(candidate.record.child_id, second.child_id);
        assert_eq!(candidate.candidate.child_id, first.child_id);
        assert_eq!(
            candidate.candidate.summary.given_name.as_deref(),
            Some("Bopha")
        );
        let comparisons = candidate.explanation["comparisons"].as_array().unwrap();
        assert!(comparisons
            .iter()
            .any(|c| c["comparison"] == "date_of_birth"));
        assert!((candidate.probability - second.match_result.probability.unwrap()).abs() < 1e-9);

        let deferred = store
            .decide_match_candidate(candidate.id, CandidateDecision::Defer, &decision())
            .await
            .unwrap();
        assert_eq!(deferred.status, CandidateStatus::Deferred);
        assert!(store
            .match_candidates(&open_query())
            .await
            .unwrap()
            .candidates
            .is_empty());
        let linked = store
            .decide_match_candidate(candidate.id, CandidateDecision::Link, &decision())
            .await
            .unwrap();
        assert_eq!(linked.status, CandidateStatus::Linked);
        assert_eq!(linked.child_id, Some(first.child_id));
        let view = store
            .child(second.child_id, &ReadScope::All)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.merged_into, Some(first.child_id));
        assert_eq!(view.records.len(), 2);
        let again = store
            .decide_match_candidate(candidate.id, CandidateDecision::NotAMatch, &decision())
            .await;
        assert!(matches!(
            again,
            Err(RegistryError::Conflict {
                code: "candidate_decided",
                ..
            })
        ));
        let stats = store.match_candidate_stats().await.unwrap();
        assert_eq!((stats.open, stats.deferred), (0, 0));
        assert_eq!(stats.decisions_by_steward.len(), 1);
        assert_eq!(stats.decisions_by_steward[0].decisions, 2);
        assert!((stats.defer_share - 0.5).abs() < 1e-9);
        let full = store.match_candidate(candidate.id).await.unwrap().unwrap();
        assert_eq!(full.decisions.len(), 2);
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    pub async fn a_claimed_candidate_is_decided_only_by_its_steward(store: Arc<dyn Store>) {
        let (_, second) = uncertain_pair(&store).await;
        assert_eq!(second.match_result.outcome, MatchOutcome::Review);
        let id = store
            .match_candidates(&open_query())
            .await
            .unwrap()
            .candidates[0]
            .id;
        let listed = |claims: ClaimFilter| {
            let store = store.clone();
            async move {
                let query = CandidateQuery {
                    claims,
                    ..open_query()
                };
                let page = store.match_candidates(&query).await.unwrap();
                page.candidates.iter().map(|c| c.id).collect::<Vec<_>>()
            }
        };
        let available = |steward: &str| ClaimFilter::Available {
            steward: steward.to_owned(),
        };
        let mine = |steward: &str| ClaimFilter::Mine {
            steward: steward.to_owned(),
        };
        let as_steward = |actor: &str| Decision {
            actor: actor.to_owned(),
            reason: "checked with the welfare office".to_owned(),
        };
        fn claimed_elsewhere<T>(result: &registry::Result<T>) -> bool {
            matches!(
                result,
                Err(RegistryError::Conflict {
                    code: "candidate_claimed",
                    ..
                })
            )
        }

        let until = Utc::now() + chrono::Duration::minutes(10);
        let claim = store
            .claim_match_candidate(id, "steward-1", until)
            .await
            .unwrap();
        assert_eq!(claim.claimed_by, "steward-1");
        let seen = store.match_candidate(id).await.unwrap().unwrap();
        assert_eq!(
            seen.claim.as_ref().map(|c| c.claimed_by.as_str()),
            Some("steward-1")
        );
        assert_eq!(listed(ClaimFilter::Any).await, vec![id]);
        assert_eq!(listed(available("steward-1")).await, vec![id]);
        assert_eq!(listed(mine("steward-1")).await, vec![id]);
        assert!(listed(available("steward-2")).await.is_empty());
        assert!(listed(mine("steward-2")).await.is_empty());
        assert_eq!(store.match_candidate_stats().await.unwrap().claimed, 1);

        // Another steward can neither take it over, release it, nor decide it.
        assert!(claimed_elsewhere(
            &store.claim_match_candidate(id, "steward-2", until).await
        ));
        assert!(claimed_elsewhere(
            &store.release_match_candidate(id, "steward-2").await
        ));
        let refused = store
            .decide_match_candidate(id, CandidateDecision::Link, &as_steward("steward-2"))
            .await;
        assert!(claimed_elsewhere(&refused), "{refused:?}");
        let untouched = store.match_candidate(id).await.unwrap().unwrap();
        assert_eq!(untouched.status, CandidateStatus::Open);
        assert!(untouched.decisions.is_empty());

        // Released, then claimed by the other steward for a moment: an expired claim holds
        // nobody back.
        assert!(store
            .release_match_candidate(id, "steward-1")
            .await
            .unwrap());
        assert!(!store
            .release_match_candidate(id, "steward-1")
            .await
            .unwrap());
        store
            .claim_match_candidate(id, "steward-2", Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert!(listed(available("steward-1")).await.is_empty());
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        assert_eq!(listed(available("steward-1")).await, vec![id]);
        assert!(listed(mine("steward-2")).await.is_empty());
        assert!(store
            .match_candidate(id)
            .await
            .unwrap()
            .unwrap()
            .claim
            .is_none());
        assert_eq!(store.match_candidate_stats().await.unwrap().claimed, 0);

        // A decision ends the claim; a deferred candidate can be claimed again.
        store
            .claim_match_candidate(id, "steward-1", until)
            .await
            .unwrap();
        let deferred = store
            .decide_match_candidate(id, CandidateDecision::Defer, &as_steward("steward-1"))
            .await
            .unwrap();
        assert_eq!(deferred.status, CandidateStatus::Deferred);
        assert!(store
            .match_candidate(id)
            .await
            .unwrap()
            .unwrap()
            .claim
            .is_none());
        store
            .claim_match_candidate(id, "steward-2", until)
            .await
            .unwrap();
        let linked = store
            .decide_match_candidate(id, CandidateDecision::Link, &as_steward("steward-2"))
            .await
            .unwrap();
        assert_eq!(linked.status, CandidateStatus::Linked);
        assert!(matches!(
            store.claim_match_candidate(id, "steward-1", until).await,
            Err(RegistryError::Conflict {
                code: "candidate_decided",
                ..
            })
        ));
        assert!(matches!(
            store
                .claim_match_candidate(999_999, "steward-1", until)
                .await,
            Err(RegistryError::NotFound(_))
        ));
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    pub async fn not_a_match_is_remembered(store: Arc<dyn Store>) {
        let (first, second) = uncertain_pair(&store).await;
        let candidate = store
            .match_candidates(&open_query())
            .await
            .unwrap()
            .candidates[0]
            .clone();
        store
            .decide_match_candidate(candidate.id, CandidateDecision::NotAMatch, &decision())
            .await
            .unwrap();
        // The welfare office now sends everything the police have: the model alone would link
        // them, but a steward said they are different children.
        let update = store
            .register(
                person(
                    "welfare-kh",
                    "W-400",
                    "Bopha",
                    "Chenda",
                    "2014-02-03",
                    "Prek Ho",
                ),
                "a",
            )
            .await
            .unwrap();
        assert_eq!(update.child_id, second.child_id);
        assert_ne!(update.match_result.outcome, MatchOutcome::Linked);
        assert!(store
            .match_candidates(&open_query())
            .await
            .unwrap()
            .candidates
            .is_empty());
        let stats = store.match_candidate_stats().await.unwrap();
        assert_eq!(stats.open, 0);
        assert_ne!(update.child_id, first.child_id);
    }

    pub async fn an_automatic_link_moves_but_a_manual_one_stays(store: Arc<dyn Store>) {
        let first = store
            .register(
                person(
                    "police-kh",
                    "P-500",
                    "Sophea",
                    "Rith",
                    "2016-11-20",
                    "Krang Yov",
                ),
                "a",
            )
            .await
            .unwrap();
        let second = store
            .register(
                person(
                    "school-kh",
                    "S-600",
                    "Sophea",
                    "Rith",
                    "2016-11-20",
                    "Krang Yov",
                ),
                "a",
            )
            .await
            .unwrap();
        assert_eq!(second.child_id, first.child_id);
        // The school corrects its record: it was another pupil altogether.
        let corrected = store
            .register(
                person(
                    "school-kh",
                    "S-600",
                    "Makara",
                    "Pich",
                    "2011-01-08",
                    "Svay Rolum",
                ),
                "a",
            )
            .await
            .unwrap();
        assert_ne!(corrected.child_id, first.child_id);
        assert_eq!(corrected.match_result.outcome, MatchOutcome::New);
        assert!(store.invariant_violations().await.unwrap().is_empty());
        // A steward links them by hand anyway; now no update moves the record.
        store
            .merge_children(corrected.child_id, first.child_id, &decision())
            .await
            .unwrap();
        let after = store
            .register(
                person(
                    "school-kh",
                    "S-600",
                    "Makara",
                    "Pich",
                    "2011-01-09",
                    "Svay Rolum",
                ),
                "a",
            )
            .await
            .unwrap();
        assert_eq!(after.child_id, first.child_id);
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    pub async fn the_same_child_registered_at_once_stays_one(store: Arc<dyn Store>) {
        register_twice_at_once(store.clone(), store.clone()).await;
        assert!(store.invariant_violations().await.unwrap().is_empty());
    }

    pub async fn clients_authenticate_until_revoked(store: Arc<dyn Store>) {
        let (client, key) = store
            .create_client(NewClient {
                name: "Uganda Police CPU".into(),
                agency: Some("police-ug".into()),
                role: Role::Agency,
                expires_at: None,
            })
            .await
            .unwrap();
        let found = store.client_by_key(&key).await.unwrap().unwrap();
        assert_eq!(found.client_id, client.client_id);
        assert!(found.is_usable(Utc::now()));
        assert!(store.client_by_key("crk_wrong").await.unwrap().is_none());
        assert!(store.revoke_client(&client.client_id).await.unwrap());
        assert!(!store
            .client_by_key(&key)
            .await
            .unwrap()
            .unwrap()
            .is_usable(Utc::now()));
        assert!(!store.revoke_client("cli_unknown").await.unwrap());
        assert_eq!(store.list_clients().await.unwrap().len(), 1);
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::sqlite().await;
                    super::cases::$case(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::postgres().await;
                    super::cases::$case(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

conformance!(
    registers_a_new_child,
    the_same_body_is_idempotent,
    a_changed_body_adds_a_version_and_keeps_the_old,
    a_shared_identifier_links_the_child,
    the_timeline_is_ordered_with_provenance,
    events_no_longer_reported_are_retracted_not_lost,
    agency_scope_hides_other_children,
    counts_and_agencies_follow_the_read_scope,
    the_change_feed_is_gap_free_and_ordered,
    concurrent_writers_lose_nothing,
    clients_authenticate_until_revoked,
    merges_keep_the_old_id_alive,
    active_children_are_read_in_pages,
    split_ranges_read_each_active_child_once,
    unlinking_returns_a_record_where_it_came_from,
    invariants_hold_after_every_operation,
    a_duplicate_from_another_agency_links_automatically,
    a_child_known_by_two_given_names_links_once_a_record_writes_both,
    a_possible_match_goes_to_review_and_a_steward_decides,
    a_claimed_candidate_is_decided_only_by_its_steward,
    an_import_chunk_prepared_with_another_model_is_prepared_again,
    online_registrations_during_an_import_lose_nothing,
    an_import_chunk_scored_ahead_meets_what_was_committed_since,
    not_a_match_is_remembered,
    an_automatic_link_moves_but_a_manual_one_stays,
    the_same_child_registered_at_once_stays_one,
    a_merge_at_a_stale_revision_changes_nothing,
);

/// Two gateways on one PostgreSQL database (two stores, two group committers) register the same
/// children at the same moment: the blocking-key locks make the second wait for the first and
/// link to it, instead of both making a new child.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_registering_the_same_child_make_one() {
    let backend = Backend::postgres().await;
    let scratch_url = backend.scratch.as_ref().unwrap().url.clone();
    let second = store::open(&scratch_url).await.unwrap();
    register_twice_at_once(backend.store.clone(), second.clone()).await;
    assert!(backend
        .store
        .invariant_violations()
        .await
        .unwrap()
        .is_empty());
    drop(second);
    backend.finish().await;
}

/// A model version activated by another process (here a second store on the same database,
/// as `rescore --apply` from the command line or another gateway would) is taken up by
/// `follow_active_model`: registrations through the following store are matched with it.
async fn a_model_activated_elsewhere_is_followed(
    activating: Arc<dyn Store>,
    following: Arc<dyn Store>,
) {
    let before = following.matcher(None).await.unwrap().version();
    assert_eq!(following.follow_active_model().await.unwrap(), None);
    cases::widen_review_band(&activating).await;
    let activated = activating.matcher(None).await.unwrap().version();
    assert_eq!(activated, before + 1);
    assert_eq!(
        following.matcher(None).await.unwrap().version(),
        before,
        "not taken up before it looks"
    );
    assert_eq!(
        following.follow_active_model().await.unwrap(),
        Some(activated)
    );
    assert_eq!(following.matcher(None).await.unwrap().version(), activated);
    assert_eq!(following.follow_active_model().await.unwrap(), None);

    // The wider review band of the new version is what the following store applies now.
    let (first, doubtful) = cases::register_uncertain_pair(&following).await;
    assert_eq!(doubtful.match_result.outcome, MatchOutcome::Review);
    assert_eq!(doubtful.match_result.candidates, vec![first.child_id]);
    assert!(following.invariant_violations().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_follows_a_model_activated_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let activating = store::open_data_dir(dir.path()).await.unwrap();
    let following = store::open_data_dir(dir.path()).await.unwrap();
    a_model_activated_elsewhere_is_followed(activating, following).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_follows_a_model_activated_elsewhere() {
    let backend = Backend::postgres().await;
    let scratch_url = backend.scratch.as_ref().unwrap().url.clone();
    let following = store::open(&scratch_url).await.unwrap();
    a_model_activated_elsewhere_is_followed(backend.store.clone(), following.clone()).await;
    drop(following);
    backend.finish().await;
}

/// `rescore --apply` run beside a server on one SQLite file: two stores (two processes'
/// connections). The activating one re-keys every record, page by page, while the server
/// commits registrations in between and takes the version up itself; neither may fail on
/// SQLite's rule that a read transaction cannot become a writer once another connection has
/// committed, and in the end every record is keyed for the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_version_activated_beside_registrations_rekeys_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = store::open_data_dir(dir.path()).await.unwrap();
    let command_line = store::open_data_dir(dir.path()).await.unwrap();
    let loaded = (0..9_000)
        .map(|n| lone("school-ug", &format!("S{n}"), &format!("Child{n}")))
        .collect();
    server.bulk_load(loaded, "a").await.unwrap();
    let registering = server.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let registrations = tokio::spawn(async move {
        let mut n = 0;
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            registering
                .register(
                    lone("police-ug", &format!("P{n}"), &format!("Other{n}")),
                    "a",
                )
                .await
                .unwrap();
            n += 1;
        }
        n
    });
    let following = server.clone();
    let follower = tokio::spawn(async move {
        loop {
            if let Ok(Some(version)) = following.follow_active_model().await {
                return version;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    cases::widen_review_band(&command_line).await;
    let version = command_line.matcher(None).await.unwrap().version();
    assert_eq!(follower.await.unwrap(), version);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(registrations.await.unwrap() > 0);
    assert_eq!(server.follow_active_model().await.unwrap(), None);
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let stale: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM source_records WHERE blocking_model_version IS NOT $1",
    )
    .bind(version)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stale, 0);
    pool.close().await;
}

/// What a store finds on opening a registry whose records have no blocking keys of the active
/// model (an upgrade that changed the key table, records written before matching): it keys
/// them all again, page by page, to exactly the keys registration gave them, so a later
/// duplicate still finds its child.
async fn unkeyed_records_are_keyed_on_opening<Keys, KeysRead, Unkey, Reopen>(
    store: Arc<dyn Store>,
    stored_keys: Keys,
    unkey: Unkey,
    reopen: Reopen,
) where
    Keys: Fn() -> KeysRead,
    KeysRead: std::future::Future<Output = Vec<(i64, i64)>>,
    Unkey: std::future::Future<Output = ()>,
    Reopen: std::future::Future<Output = Arc<dyn Store>>,
{
    let first = store.register(police_sreyneang(), "a").await.unwrap();
    // More records than one re-keying page holds, so that pages follow each other.
    let others = (0..2_500)
        .map(|number| {
            lone(
                "school-ug",
                &format!("S{number}"),
                &format!("Halima{number}"),
            )
        })
        .collect();
    store.bulk_load(others, "a").await.unwrap();
    let keyed_by_registration = stored_keys().await;
    assert!(keyed_by_registration.len() > 2_500);
    unkey.await;
    assert!(stored_keys().await.is_empty());
    let reopened = reopen.await;
    assert_eq!(stored_keys().await, keyed_by_registration);
    let second = reopened.register(school_sreyneang(), "a").await.unwrap();
    assert_eq!(second.match_result.outcome, MatchOutcome::Linked);
    assert_eq!(second.child_id, first.child_id);
}

const UNKEY: [&str; 2] = [
    "UPDATE source_records SET blocking_model_version = NULL",
    "DELETE FROM blocking_keys",
];

const STORED_KEYS: &str =
    "SELECT key_hash, record_key FROM blocking_keys ORDER BY key_hash, record_key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keys_unkeyed_records_on_opening() {
    let backend = Backend::sqlite().await;
    let dir = backend._dir.as_ref().unwrap().path().to_owned();
    let url = format!("sqlite://{}", dir.join("registry.db").display());
    let stored_keys = || async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let keys = sqlx::query_as(STORED_KEYS).fetch_all(&pool).await.unwrap();
        pool.close().await;
        keys
    };
    let unkey = async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        for statement in UNKEY {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    };
    let reopen = async { store::open_data_dir(&dir).await.unwrap() };
    unkeyed_records_are_keyed_on_opening(backend.store.clone(), stored_keys, unkey, reopen).await;
    backend.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keys_unkeyed_records_on_opening() {
    let backend = Backend::postgres().await;
    let url = backend.scratch.as_ref().unwrap().url.clone();
    let stored_keys = || async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let keys = sqlx::query_as(STORED_KEYS).fetch_all(&pool).await.unwrap();
        pool.close().await;
        keys
    };
    let unkey = async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        for statement in UNKEY {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    };
    let reopen = async { store::open(&url).await.unwrap() };
    unkeyed_records_are_keyed_on_opening(backend.store.clone(), stored_keys, unkey, reopen).await;
    backend.finish().await;
}

/// A store warmed in the background on starting: it prepares stored records until its cache is
/// full, and a registration decided with the warmed records is decided as one that reads them.
async fn a_warmed_match_cache_is_bounded_and_decides_alike(
    store: Arc<dyn Store>,
    reopen: impl Fn(usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>>>>,
) {
    let first = store.register(police_sreyneang(), "a").await.unwrap();
    let others = (0..5)
        .map(|number| lone("school-ug", &format!("S{number}"), "Halima"))
        .collect();
    store.bulk_load(others, "a").await.unwrap();
    drop(store);
    let small = reopen(3).await;
    assert_eq!(small.warm_match_cache().await.unwrap(), 3);
    drop(small);
    let warmed = reopen(store::DEFAULT_PREPARED_RECORDS).await;
    assert_eq!(warmed.warm_match_cache().await.unwrap(), 6);
    let second = warmed.register(school_sreyneang(), "a").await.unwrap();
    assert_eq!(second.match_result.outcome, MatchOutcome::Linked);
    assert_eq!(second.child_id, first.child_id);
    let halima = warmed
        .register(lone("police-ug", "P-7", "Halima"), "a")
        .await
        .unwrap();
    assert_ne!(halima.match_result.outcome, MatchOutcome::New);
    assert!(warmed.invariant_violations().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_warms_its_match_cache() {
    let backend = Backend::sqlite().await;
    let dir = backend._dir.as_ref().unwrap().path().to_owned();
    let reopen = move |prepared_records| {
        let dir = dir.clone();
        Box::pin(async move {
            let options = store::StoreOptions { prepared_records };
            store::open_data_dir_with(&dir, &options).await.unwrap()
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>>>>
    };
    a_warmed_match_cache_is_bounded_and_decides_alike(backend.store.clone(), reopen).await;
    backend.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_warms_its_match_cache() {
    let backend = Backend::postgres().await;
    let url = backend.scratch.as_ref().unwrap().url.clone();
    let reopen = move |prepared_records| {
        let url = url.clone();
        Box::pin(async move {
            let options = store::StoreOptions { prepared_records };
            store::open_with(&url, &options).await.unwrap()
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Store>>>>
    };
    a_warmed_match_cache_is_bounded_and_decides_alike(backend.store.clone(), reopen).await;
    backend.finish().await;
}

//! The change feed by audience (issue 9), on SQLite and PostgreSQL: entries in commit order,
//! only those of children the reader may read, a cursor that moves past the others, merge
//! notices reaching the holders of the merged child's records, and agency-addressed entries
//! (referrals) reaching both agencies whatever their scope.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Utc;
use registry::model::{RecordSubmission, ValidRecord};
use registry::store::{self, postgres as pg, Decision};
use registry::webhooks::FeedAudience;
use registry::{ChildId, ReadScope, Store};
use serde_json::json;
use sqlx::Connection;

fn postgres_base_url() -> String {
    std::env::var("CHILD_REGISTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

struct Backend {
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    scratch: Option<pg::ScratchDatabase>,
}

impl Backend {
    async fn open(postgres: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if postgres {
            let scratch = pg::ScratchDatabase::create(&postgres_base_url())
                .await
                .expect("PostgreSQL must be reachable at CHILD_REGISTRY_TEST_DATABASE_URL");
            let store = store::open(&scratch.url).await.unwrap();
            Backend {
                store,
                dir,
                scratch: Some(scratch),
            }
        } else {
            let store = store::open_data_dir(dir.path()).await.unwrap();
            Backend {
                store,
                dir,
                scratch: None,
            }
        }
    }

    /// Appends an outbox entry the way a writer of the registry does (no API writes referrals
    /// yet): the next position from the head row, in one transaction.
    async fn append_outbox(&self, kind: &str, child_id: ChildId, payload: serde_json::Value) {
        const TAKE: &str =
            "UPDATE outbox_head SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq";
        const INSERT: &str = "INSERT INTO outbox (seq, kind, child_id, payload, created_at) \
                              VALUES ($1, $2, $3, $4, $5)";
        match &self.scratch {
            Some(scratch) => {
                let mut connection = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
                let mut tx = connection.begin().await.unwrap();
                let seq: i64 = sqlx::query_scalar(TAKE).fetch_one(&mut *tx).await.unwrap();
                sqlx::query(INSERT)
                    .bind(seq)
                    .bind(kind)
                    .bind(child_id.to_string())
                    .bind(sqlx::types::Json(payload))
                    .bind(Utc::now())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
            None => {
                let url = format!("sqlite://{}", self.dir.path().join("registry.db").display());
                let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
                let mut tx = connection.begin().await.unwrap();
                let seq: i64 = sqlx::query_scalar(TAKE).fetch_one(&mut *tx).await.unwrap();
                sqlx::query(INSERT)
                    .bind(seq)
                    .bind(kind)
                    .bind(child_id.to_string())
                    .bind(sqlx::types::Json(payload))
                    .bind(Utc::now())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }
    }

    async fn finish(self) {
        drop(self.store);
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await.unwrap();
        }
    }
}

/// A made-up child of its own per given name, recorded by `system` in `district`.
fn record(system: &str, id: &str, given: &str, born: &str, district: &str) -> ValidRecord {
    serde_json::from_value::<RecordSubmission>(json!({
        "source_system": system, "source_record_id": id,
        "child": {"given_name": given, "family_name": format!("{given}son"), "sex": "F",
                  "date_of_birth": born, "district": district, "identifiers": []},
        "events": [{"type": format!("{system}.seen"), "date": "2024-01-01"}]
    }))
    .unwrap()
    .validate(Utc::now().date_naive())
    .unwrap()
}

fn agency(system: &str) -> FeedAudience {
    FeedAudience {
        scope: ReadScope::SourceSystem(system.to_owned()),
        agency: Some(system.to_owned()),
    }
}

fn everyone() -> FeedAudience {
    FeedAudience {
        scope: ReadScope::All,
        agency: None,
    }
}

/// Every entry the audience sees, read `limit` at a time by following the cursor.
async fn read_all(
    store: &dyn Store,
    audience: &FeedAudience,
    limit: i64,
) -> Vec<(i64, String, ChildId)> {
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.changes(after, limit, audience).await.unwrap();
        assert!(page.entries.len() as i64 <= limit);
        assert!(page.next_cursor >= after, "the cursor never goes back");
        seen.extend(
            page.entries
                .iter()
                .map(|entry| (entry.seq, entry.kind.clone(), entry.child_id)),
        );
        after = page.next_cursor;
        if !page.has_more {
            return seen;
        }
    }
}

async fn scoped_in_commit_order(postgres: bool) {
    let backend = Backend::open(postgres).await;
    let store = backend.store.as_ref();
    let police = store
        .register(
            record("police-ug", "P1", "Halima", "2019-05-01", "Wakiso"),
            "t",
        )
        .await
        .unwrap()
        .child_id;
    let school = store
        .register(
            record("school-ug", "S1", "Akello", "2015-02-11", "Gulu"),
            "t",
        )
        .await
        .unwrap()
        .child_id;
    let welfare = store
        .register(
            record("welfare-ug", "W1", "Nakato", "2012-09-30", "Mbale"),
            "t",
        )
        .await
        .unwrap()
        .child_id;
    let head = store.outbox_head().await.unwrap();

    let all = read_all(store, &everyone(), 1000).await;
    let seqs: Vec<i64> = all.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=head).collect::<Vec<_>>(),
        "everything, in order, no gaps"
    );
    assert_eq!(read_all(store, &everyone(), 1).await, all, "pages join up");

    let police_sees = read_all(store, &agency("police-ug"), 2).await;
    assert!(!police_sees.is_empty());
    assert!(police_sees.iter().all(|(_, _, child)| *child == police));
    let kinds: Vec<&str> = police_sees
        .iter()
        .map(|(_, kind, _)| kind.as_str())
        .collect();
    assert!(kinds.contains(&"child.created") && kinds.contains(&"record.registered"));

    // Past the last entry it may see, the cursor still reaches the head: the school's and
    // welfare's entries come later and are skipped, not read again on every poll.
    let page = store.changes(0, 100, &agency("police-ug")).await.unwrap();
    assert_eq!(page.next_cursor, head);
    assert!(!page.has_more);
    let nothing = FeedAudience {
        scope: ReadScope::Nothing,
        agency: None,
    };
    let page = store.changes(0, 100, &nothing).await.unwrap();
    assert!(page.entries.is_empty());
    assert_eq!(page.next_cursor, head);

    // The welfare child merges into the police child: welfare's record now lives on the
    // survivor, so welfare sees the merge notice of its old child.
    store
        .merge_children(
            welfare,
            police,
            &Decision {
                actor: "steward".into(),
                reason: "same child".into(),
            },
        )
        .await
        .unwrap();
    let page = store
        .changes(head, 100, &agency("welfare-ug"))
        .await
        .unwrap();
    assert!(page
        .entries
        .iter()
        .any(|entry| entry.kind == "child.merged" && entry.child_id == welfare));
    let page = store
        .changes(head, 100, &agency("school-ug"))
        .await
        .unwrap();
    assert!(page.entries.is_empty(), "the school holds neither child");
    let _ = school;
    backend.finish().await;
}

async fn referrals_reach_both_agencies(postgres: bool) {
    let backend = Backend::open(postgres).await;
    let store = backend.store.as_ref();
    let child = store
        .register(
            record("primero", "C1", "Halima", "2019-05-01", "Wakiso"),
            "t",
        )
        .await
        .unwrap()
        .child_id;
    let before = store.outbox_head().await.unwrap();
    backend
        .append_outbox(
            "referral.created",
            child,
            json!({"referral_id": "ref_1", "from": "primero", "to": "oscar", "status": "open"}),
        )
        .await;
    // A payload naming an agency does not open a non-referral entry to it.
    backend
        .append_outbox("record.linked", child, json!({"from": "oscar"}))
        .await;
    let kinds = |entries: Vec<registry::model::OutboxEntry>| -> Vec<String> {
        entries.into_iter().map(|entry| entry.kind).collect()
    };
    let oscar = store.changes(before, 100, &agency("oscar")).await.unwrap();
    assert_eq!(
        kinds(oscar.entries),
        ["referral.created"],
        "the receiving agency"
    );
    let primero = store
        .changes(before, 100, &agency("primero"))
        .await
        .unwrap();
    assert_eq!(
        kinds(primero.entries),
        ["referral.created", "record.linked"],
        "the referring agency also holds the child"
    );
    let school = store
        .changes(before, 100, &agency("school-ug"))
        .await
        .unwrap();
    assert!(school.entries.is_empty(), "neither party nor holder");
    assert_eq!(school.next_cursor, before + 2);
    // An agency name without the scope that goes with it sees referrals to it only.
    let named = FeedAudience {
        scope: ReadScope::Nothing,
        agency: Some("oscar".into()),
    };
    let page = store.changes(before, 100, &named).await.unwrap();
    assert_eq!(kinds(page.entries), ["referral.created"]);
    backend.finish().await;
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(false).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(true).await;
                }
            )*
        }
    };
}

on_both_backends!(scoped_in_commit_order, referrals_reach_both_agencies);

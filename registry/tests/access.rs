//! People, sessions, scopes and the audit chain on every store backend: each case is written
//! once and run against SQLite and PostgreSQL, like the conformance suite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::Utc;
use registry::audit::{Actor, AuditAction, AuditDraft, AuditKey, RegistrationAudit};
use registry::clients::Role;
use registry::model::{RecordSubmission, ValidRecord};
use registry::store::{self, postgres as pg, verify_audit_log};
use registry::users::{self, NewUser, SessionRecord};
use registry::{ChildId, ReadScope, RegistryError, Store};
use serde_json::json;

fn postgres_base_url() -> String {
    std::env::var("CHILD_REGISTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A store plus a second, raw connection that can do what the registry never does: drop the
/// append-only triggers and tamper with the audit log.
struct Backend {
    store: Arc<dyn Store>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
    scratch: Option<pg::ScratchDatabase>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Backend {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open_data_dir(dir.path()).await.unwrap();
        let raw = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            dir.path().join("registry.db").display()
        ))
        .await
        .unwrap();
        Backend {
            store,
            raw: Raw::Sqlite(raw),
            _dir: Some(dir),
            scratch: None,
        }
    }

    async fn postgres() -> Self {
        let scratch = pg::ScratchDatabase::create(&postgres_base_url())
            .await
            .expect("PostgreSQL must be reachable at CHILD_REGISTRY_TEST_DATABASE_URL");
        let store = store::open(&scratch.url).await.unwrap();
        let raw = sqlx::PgPool::connect(&scratch.url).await.unwrap();
        Backend {
            store,
            raw: Raw::Postgres(raw),
            _dir: None,
            scratch: Some(scratch),
        }
    }

    async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// What an attacker with database access (but not the audit key) would do first.
    async fn drop_audit_triggers(&self) {
        let statements: &[&str] = match self.raw {
            Raw::Sqlite(_) => &[
                "DROP TRIGGER audit_log_no_update",
                "DROP TRIGGER audit_log_no_delete",
            ],
            Raw::Postgres(_) => &[
                "DROP TRIGGER audit_log_append_only ON audit_log",
                "DROP TRIGGER audit_log_no_truncate ON audit_log",
            ],
        };
        for statement in statements {
            self.execute(statement).await.unwrap();
        }
    }

    async fn finish(self) {
        drop(self.store);
        match self.raw {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
        }
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await.unwrap();
        }
    }
}

fn record(system: &str, id: &str, district: &str, given: &str) -> ValidRecord {
    serde_json::from_value::<RecordSubmission>(json!({
        "source_system": system, "source_record_id": id,
        "child": {"given_name": given, "family_name": "Aguti", "sex": "F",
                  "date_of_birth": "2020-01-01", "district": district},
        "events": [{"type": format!("{system}.seen"), "date": "2024-01-01"}]
    }))
    .unwrap()
    .validate(Utc::now().date_naive())
    .unwrap()
}

fn draft(action: AuditAction, target: &str, children: Vec<ChildId>) -> AuditDraft {
    AuditDraft {
        actor: Actor {
            kind: "user".into(),
            id: "usr_test".into(),
            role: Some("national_official".into()),
        },
        action,
        target: Some(target.into()),
        children,
        details: json!({"note": target}),
        purpose: Some("case review".into()),
        flagged: false,
        request_id: Some(format!("req-{target}")),
    }
}

async fn new_user(store: &dyn Store, username: &str, role: Role, district: Option<&str>) {
    let password_hash = users::hash_password("river lantern okra seventeen").unwrap();
    store
        .create_user(NewUser {
            username: username.into(),
            role,
            agency: None,
            district: district.map(str::to_owned),
            password_hash,
        })
        .await
        .unwrap();
}

mod cases {
    use super::*;

    pub async fn people_lock_after_five_failures_and_lose_sessions(backend: &Backend) {
        let store = backend.store.as_ref();
        new_user(store, "amina", Role::DistrictOfficial, Some("Wakiso")).await;
        let duplicate = store
            .create_user(NewUser {
                username: "amina".into(),
                role: Role::Auditor,
                agency: None,
                district: None,
                password_hash: "x".into(),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(
                duplicate,
                RegistryError::Conflict {
                    code: "username_taken",
                    ..
                }
            ),
            "{duplicate:?}"
        );
        let (user, hash) = store
            .user_with_password_hash("amina")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.role, Role::DistrictOfficial);
        assert_eq!(user.district.as_deref(), Some("Wakiso"));
        assert!(users::verify_password(
            "river lantern okra seventeen",
            &hash
        ));

        let now = Utc::now();
        for attempt in 1..=4 {
            let after = store.record_failed_login(&user.user_id, now).await.unwrap();
            assert_eq!(after.failed_logins, attempt);
            assert!(!after.is_locked(now));
        }
        let locked = store.record_failed_login(&user.user_id, now).await.unwrap();
        assert!(locked.is_locked(now), "the fifth failure locks");
        assert!(!locked.is_locked(now + chrono::Duration::minutes(16)));

        let session = SessionRecord {
            token_hash: users::secret_digest("token"),
            user_id: user.user_id.clone(),
            csrf_hash: users::secret_digest("csrf"),
            created_at: now,
            last_seen_at: now,
            expires_at: now + chrono::Duration::hours(12),
        };
        store.create_session(&session).await.unwrap();
        let (found, owner) = store.session(&session.token_hash).await.unwrap().unwrap();
        assert_eq!(found.csrf_hash, session.csrf_hash);
        assert_eq!(owner.user_id, user.user_id);
        let later = now + chrono::Duration::minutes(5);
        store
            .touch_session(&session.token_hash, later)
            .await
            .unwrap();
        let (touched, _) = store.session(&session.token_hash).await.unwrap().unwrap();
        assert_eq!(touched.last_seen_at.timestamp(), later.timestamp());

        // A new password unlocks the account and ends its sessions.
        let reset = store
            .set_user_password("amina", &hash)
            .await
            .unwrap()
            .unwrap();
        assert!(!reset.is_locked(now));
        assert!(store.session(&session.token_hash).await.unwrap().is_none());

        store.create_session(&session).await.unwrap();
        let disabled = store.disable_user("amina").await.unwrap().unwrap();
        assert!(disabled.disabled_at.is_some());
        assert!(store.session(&session.token_hash).await.unwrap().is_none());
        assert!(store.disable_user("nobody").await.unwrap().is_none());
        assert_eq!(store.list_users().await.unwrap().len(), 1);
    }

    pub async fn district_and_empty_scopes_are_enforced_in_queries(backend: &Backend) {
        let store = backend.store.as_ref();
        let wakiso = store
            .register(record("police-ug", "P1", "Wakiso", "Halima"), "t")
            .await
            .unwrap()
            .child_id;
        let gulu = store
            .register(record("school-ug", "S1", "Gulu", "Akello"), "t")
            .await
            .unwrap()
            .child_id;
        let district = ReadScope::District("wakiso".into());
        assert!(store.child(wakiso, &district).await.unwrap().is_some());
        assert!(store.child(gulu, &district).await.unwrap().is_none());
        assert!(store.timeline(gulu, &district).await.unwrap().is_none());
        assert!(store
            .record_history("police-ug", "P1", &district)
            .await
            .unwrap()
            .is_some());
        assert!(store
            .record_history("school-ug", "S1", &district)
            .await
            .unwrap()
            .is_none());
        for child in [wakiso, gulu] {
            assert!(store
                .child(child, &ReadScope::Nothing)
                .await
                .unwrap()
                .is_none());
        }
        let agency = ReadScope::SourceSystem("school-ug".into());
        assert!(store.child(gulu, &agency).await.unwrap().is_some());
        assert!(store.child(wakiso, &agency).await.unwrap().is_none());
        // A later version moving the child to Gulu moves it out of the Wakiso scope.
        store
            .register(record("police-ug", "P1", "Gulu", "Halima"), "t")
            .await
            .unwrap();
        assert!(store.child(wakiso, &district).await.unwrap().is_none());
    }

    pub async fn concurrent_appends_form_one_verifiable_chain(backend: &Backend) {
        let store = backend.store.clone();
        let key = Arc::new(AuditKey::random());
        let child = ChildId::random();
        let mut tasks = Vec::new();
        for n in 0..40 {
            let store = store.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let children = if n % 2 == 0 { vec![child] } else { vec![] };
                store
                    .append_audit(
                        draft(AuditAction::ChildRead, &format!("t{n}"), children),
                        &key,
                    )
                    .await
                    .unwrap()
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            verify_audit_log(store.as_ref(), &key).await.unwrap(),
            Ok(40)
        );
        let wrong_key = AuditKey::random();
        let broken = verify_audit_log(store.as_ref(), &wrong_key)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(broken.seq, 1, "another key breaks the first entry");

        let log = store.access_log(child, 100).await.unwrap();
        assert_eq!(log.len(), 20);
        assert!(log.windows(2).all(|pair| pair[0].seq > pair[1].seq));
        assert_eq!(log[0].purpose.as_deref(), Some("case review"));
        assert_eq!(log[0].actor.id, "usr_test");
        assert!(log[0].request_id.as_deref().unwrap().starts_with("req-t"));

        // Append-only: the registry's own database refuses changes.
        assert!(backend
            .execute("UPDATE audit_log SET target = 'x' WHERE seq = 1")
            .await
            .is_err());
        assert!(backend
            .execute("DELETE FROM audit_log WHERE seq = 1")
            .await
            .is_err());
        assert!(backend.execute("DELETE FROM audit_children").await.is_err());
    }

    /// Registrations append their entries in their own group commits, while other requests'
    /// entries go through the audit committer: one chain either way, and each registration's
    /// entry names the child and what happened.
    pub async fn registrations_audit_in_their_own_transaction(backend: &Backend) {
        let store = backend.store.clone();
        let key = AuditKey::random();
        let mut tasks = Vec::new();
        for n in 0..30 {
            let (store, key) = (store.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                if n % 3 == 2 {
                    let entry = store
                        .append_audit(draft(AuditAction::Search, &format!("s{n}"), vec![]), &key)
                        .await
                        .unwrap();
                    return (n, None, Some(entry.seq));
                }
                // Every fourth registration repeats the first: answered, and audited, again.
                let id = if n % 4 == 0 { 0 } else { n };
                let audit = RegistrationAudit {
                    draft: draft(
                        AuditAction::RecordRegistered,
                        &format!("police-ug/P{id}"),
                        vec![],
                    ),
                    key,
                };
                let registration = store
                    .register_audited(
                        record(
                            "police-ug",
                            &format!("P{id}"),
                            "Gulu",
                            &format!("Child{id}"),
                        ),
                        "client-police",
                        audit,
                    )
                    .await
                    .unwrap();
                (n, Some(registration), None)
            }));
        }
        let mut registrations = Vec::new();
        for task in tasks {
            if let (n, Some(registration), _) = task.await.unwrap() {
                registrations.push((n, registration));
            }
        }
        assert_eq!(registrations.len(), 20);
        assert_eq!(
            verify_audit_log(store.as_ref(), &key).await.unwrap(),
            Ok(30),
            "20 registrations and 10 searches, one entry each, in one chain"
        );
        let entries = store.audit_entries(0, 100).await.unwrap();
        for (n, registration) in &registrations {
            let id = if n % 4 == 0 { 0 } else { *n };
            let log = store.access_log(registration.child_id, 100).await.unwrap();
            let target = format!("police-ug/P{id}");
            let entry = log
                .iter()
                .find(|entry| {
                    entry.action == "record.registered"
                        && entry.target.as_deref() == Some(target.as_str())
                })
                .unwrap_or_else(|| panic!("registration {n} names its child"));
            assert_eq!(entry.details["note"], target);
            assert_eq!(entry.details["version"], 1);
            assert!(entry.details["outcome"].is_string());
            assert!(entry.details["created"].is_boolean());
        }
        let repeats: Vec<_> = entries
            .iter()
            .filter(|entry| entry.target.as_deref() == Some("police-ug/P0"))
            .collect();
        assert_eq!(repeats.len(), 6, "the first record and its five repeats");
        assert_eq!(
            repeats
                .iter()
                .filter(|entry| entry.details["created"] == true)
                .count(),
            1
        );
    }
}

/// Five entries without children (so rows can be deleted without touching the index table).
async fn five_entries(backend: &Backend, key: &AuditKey) {
    for n in 1..=5 {
        backend
            .store
            .append_audit(draft(AuditAction::Search, &format!("e{n}"), vec![]), key)
            .await
            .unwrap();
    }
    assert_eq!(
        verify_audit_log(backend.store.as_ref(), key).await.unwrap(),
        Ok(5)
    );
    backend.drop_audit_triggers().await;
}

/// Tampers in one way, then checks that verification names the expected entry.
async fn tamper(backend: &Backend, how: &str) -> (i64, String) {
    let key = AuditKey::random();
    five_entries(backend, &key).await;
    let false_literal = "(1 = 0)";
    let statements: Vec<String> = match how {
        "modified" => vec!["UPDATE audit_log SET target = 'someone else' WHERE seq = 3".into()],
        "deleted" => vec!["DELETE FROM audit_log WHERE seq = 3".into()],
        "deleted_last" => vec!["DELETE FROM audit_log WHERE seq = 5".into()],
        "inserted" => {
            let (_, last_hash) = backend.store.audit_head().await.unwrap();
            vec![format!(
                "INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_role, action, target, \
                 details, purpose, flagged, request_id, prev_hash, entry_hash) VALUES \
                 (6, '2026-01-01T00:00:00Z', 'user', 'usr_forger', NULL, 'child.read', 'x', '{{}}', \
                 NULL, {false_literal}, NULL, '{last_hash}', '{}')",
                "ab".repeat(32)
            )]
        }
        "reordered" => vec![
            "UPDATE audit_log SET seq = -3 WHERE seq = 3".into(),
            "UPDATE audit_log SET seq = 3 WHERE seq = 2".into(),
            "UPDATE audit_log SET seq = 2 WHERE seq = -3".into(),
        ],
        other => panic!("unknown tampering {other}"),
    };
    for statement in statements {
        backend.execute(&statement).await.unwrap();
    }
    let broken = verify_audit_log(backend.store.as_ref(), &key)
        .await
        .unwrap()
        .expect_err(how);
    (broken.seq, broken.problem)
}

async fn tampering_is_detected(make: impl AsyncFn() -> Backend) {
    for (how, first_bad) in [
        ("modified", 3),
        ("deleted", 3),
        ("deleted_last", 5),
        ("inserted", 6),
        ("reordered", 2),
    ] {
        let backend = make().await;
        let (seq, problem) = tamper(&backend, how).await;
        assert_eq!(seq, first_bad, "{how}: {problem}");
        backend.finish().await;
    }
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::sqlite().await;
                    super::cases::$case(&backend).await;
                    backend.finish().await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tampering_is_detected() {
                super::tampering_is_detected(super::Backend::sqlite).await;
            }
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::postgres().await;
                    super::cases::$case(&backend).await;
                    backend.finish().await;
                }
            )*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tampering_is_detected() {
                super::tampering_is_detected(super::Backend::postgres).await;
            }
        }
    };
}

on_both_backends!(
    people_lock_after_five_failures_and_lose_sessions,
    district_and_empty_scopes_are_enforced_in_queries,
    concurrent_appends_form_one_verifiable_chain,
    registrations_audit_in_their_own_transaction,
);

/// A write refused because another connection holds the lock is transient (the gateway answers
/// `503`, the caller retries); a constraint violation is not.
#[tokio::test]
async fn lock_contention_is_transient_on_both_backends() {
    use sqlx::{ConnectOptions, Connection};
    let dir = tempfile::tempdir().unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("locks.db"))
        .create_if_missing(true)
        .busy_timeout(std::time::Duration::ZERO);
    let mut holder = options.connect().await.unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(&mut holder)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut waiting = options.connect().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let busy = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut waiting)
        .await
        .unwrap_err();
    assert!(RegistryError::from(busy).is_transient());
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let duplicate = sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut waiting)
        .await
        .unwrap_err();
    assert!(!RegistryError::from(duplicate).is_transient());

    let scratch = pg::ScratchDatabase::create(&postgres_base_url())
        .await
        .expect("PostgreSQL must be reachable at CHILD_REGISTRY_TEST_DATABASE_URL");
    let mut holder = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut waiting = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    let mut locked = holder.begin().await.unwrap();
    sqlx::query("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locked)
        .await
        .unwrap();
    sqlx::query("SET lock_timeout = '20ms'")
        .execute(&mut waiting)
        .await
        .unwrap();
    let timed_out = sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut waiting)
        .await
        .unwrap_err();
    assert!(RegistryError::from(timed_out).is_transient());
    locked.rollback().await.unwrap();
    drop((holder, waiting));
    scratch.drop_database().await.unwrap();
}

//! People, sessions and the audit log: the SQL of [`AccessStore`](super::AccessStore), shared
//! by both backends like `engine.rs` (compiled once inside `sqlite.rs`, once inside
//! `postgres.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use super::{Backend, Db};
use crate::audit::{self, Actor, AuditDraft, AuditEntry, AuditKey};
use crate::clients::Role;
use crate::error::{RegistryError, Result};
use crate::ids::ChildId;
use crate::store::AccessStore;
use crate::users::{self, NewUser, SessionRecord, User};

type DbRow = <Db as sqlx::Database>::Row;

const USER_COLUMNS: &str =
    "user_id, username, role, agency, district, created_at, disabled_at, failed_logins, locked_until";

const AUDIT_COLUMNS: &str = "seq, at, actor_kind, actor_id, actor_role, action, target, details, \
     purpose, flagged, request_id, prev_hash, entry_hash";

/// An audit entry waiting for the audit committer.
pub(super) struct AuditJob {
    draft: AuditDraft,
    key: AuditKey,
    reply: oneshot::Sender<Result<AuditEntry>>,
}

/// Entries per transaction: every audited request waits for a durable commit, and one commit
/// (one `fsync`) serves all the requests that arrived together, as registrations do.
const MAX_AUDIT_BATCH: usize = 256;

/// Audit rows per insert statement (13 parameters each: within both databases' limits).
const AUDIT_ROWS_PER_STATEMENT: usize = 500;

/// Starts the task that appends audit entries in groups, and returns its queue.
pub(super) fn spawn_audit_committer(pool: sqlx::Pool<Db>) -> mpsc::Sender<AuditJob> {
    let (sender, mut queue) = mpsc::channel::<AuditJob>(4 * MAX_AUDIT_BATCH);
    tokio::spawn(async move {
        while let Some(batch) = super::engine::next_batch(&mut queue, MAX_AUDIT_BATCH).await {
            let (drafts, replies): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|job| ((job.draft, job.key), job.reply))
                .unzip();
            match append_audit_entries(&pool, drafts).await {
                Ok(entries) => {
                    for (reply, entry) in replies.into_iter().zip(entries) {
                        // A caller that went away still has its entry written.
                        let _ = reply.send(Ok(entry));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "an audit batch failed to commit");
                    for reply in replies {
                        let _ = reply.send(Err(RegistryError::BatchFailed(error.to_string())));
                    }
                }
            }
        }
    });
    sender
}

/// Appends entries to the chain in one transaction, in the order given.
#[tracing::instrument(skip_all, name = "store.append_audit", fields(backend = super::BACKEND_NAME, entries = drafts.len()))]
async fn append_audit_entries(
    pool: &sqlx::Pool<Db>,
    drafts: Vec<(AuditDraft, AuditKey)>,
) -> Result<Vec<AuditEntry>> {
    let mut tx = super::begin_write(pool).await?;
    let entries = append_audit_in(&mut tx, drafts).await?;
    tx.commit().await?;
    Ok(entries)
}

/// Appends entries to the chain within `tx` (the audit committer's own transaction, or a
/// group of registrations'), in the order given.
pub(super) async fn append_audit_in(
    tx: &mut sqlx::Transaction<'_, Db>,
    drafts: Vec<(AuditDraft, AuditKey)>,
) -> Result<Vec<AuditEntry>> {
    // Taking the positions locks the head row (PostgreSQL) or the database (SQLite) until
    // commit, so concurrent appends (two gateways, or the audit and registration committers)
    // form one chain, and entries are timed in the chain's order.
    let (last_seq, mut prev_hash): (i64, String) = sqlx::query_as(
        "UPDATE audit_head SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq, last_hash",
    )
    .bind(drafts.len() as i64)
    .fetch_one(&mut **tx)
    .await?;
    let at = audit::entry_time(Utc::now());
    let first_seq = last_seq - drafts.len() as i64 + 1;
    let mut entries = Vec::with_capacity(drafts.len());
    for (offset, (draft, key)) in drafts.into_iter().enumerate() {
        let seq = first_seq + offset as i64;
        let details_text = audit::details_text(&draft.details);
        let action = draft.action.as_str();
        let entry_hash = audit::entry_hash(
            &key,
            &prev_hash,
            seq,
            at,
            &draft.actor,
            action,
            draft.target.as_deref(),
            &details_text,
            draft.purpose.as_deref(),
            draft.flagged,
            draft.request_id.as_deref(),
        );
        let entry = AuditEntry {
            seq,
            at,
            actor: draft.actor,
            action: action.to_owned(),
            target: draft.target,
            details: draft.details,
            details_text,
            purpose: draft.purpose,
            flagged: draft.flagged,
            request_id: draft.request_id,
            prev_hash: std::mem::take(&mut prev_hash),
            entry_hash,
        };
        prev_hash = entry.entry_hash.clone();
        entries.push((entry, draft.children));
    }
    for rows in entries.chunks(AUDIT_ROWS_PER_STATEMENT) {
        let mut insert =
            sqlx::QueryBuilder::<Db>::new(format!("INSERT INTO audit_log ({AUDIT_COLUMNS}) "));
        insert.push_values(rows, |mut row, (entry, _)| {
            row.push_bind(entry.seq)
                .push_bind(entry.at)
                .push_bind(entry.actor.kind.clone())
                .push_bind(entry.actor.id.clone())
                .push_bind(entry.actor.role.clone())
                .push_bind(entry.action.clone())
                .push_bind(entry.target.clone())
                .push_bind(entry.details_text.clone())
                .push_bind(entry.purpose.clone())
                .push_bind(entry.flagged)
                .push_bind(entry.request_id.clone())
                .push_bind(entry.prev_hash.clone())
                .push_bind(entry.entry_hash.clone());
        });
        insert.build().execute(&mut **tx).await?;
    }
    let children: Vec<(String, i64)> = entries
        .iter()
        .flat_map(|(entry, children)| {
            children
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<ChildId>>()
                .into_iter()
                .map(|child| (child.to_string(), entry.seq))
        })
        .collect();
    // Multi-row: a bulk import's entry names every child it wrote.
    for rows in children.chunks(1000) {
        let mut insert =
            sqlx::QueryBuilder::<Db>::new("INSERT INTO audit_children (child_id, seq) ");
        insert.push_values(rows, |mut row, (child, seq)| {
            row.push_bind(child.clone()).push_bind(*seq);
        });
        insert.build().execute(&mut **tx).await?;
    }
    sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
        .bind(&prev_hash)
        .execute(&mut **tx)
        .await?;
    Ok(entries.into_iter().map(|(entry, _)| entry).collect())
}

fn user_from_row(row: &DbRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        role: Role::parse(&role)
            .ok_or_else(|| RegistryError::Corrupt(format!("unknown role '{role}'")))?,
        agency: row.try_get("agency")?,
        district: row.try_get("district")?,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: row.try_get("locked_until")?,
    })
}

fn audit_from_row(row: &DbRow) -> Result<AuditEntry> {
    let details_text: String = row.try_get("details")?;
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: Actor {
            kind: row.try_get("actor_kind")?,
            id: row.try_get("actor_id")?,
            role: row.try_get("actor_role")?,
        },
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        // A modified entry may hold anything; verification reads the text, not this value.
        details: serde_json::from_str(&details_text).unwrap_or(serde_json::Value::Null),
        details_text,
        purpose: row.try_get("purpose")?,
        flagged: row.try_get("flagged")?,
        request_id: row.try_get("request_id")?,
        prev_hash: row.try_get("prev_hash")?,
        entry_hash: row.try_get("entry_hash")?,
    })
}

fn is_username_taken(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl Backend {
    async fn user_where(&self, column: &str, value: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
    }

    /// Ends every session of a user (disabled, or a new password).
    async fn end_sessions_of(
        &self,
        connection: &mut <Db as sqlx::Database>::Connection,
        user_id: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *connection)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl AccessStore for Backend {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        let now = Utc::now();
        let row = sqlx::query(&format!(
            "INSERT INTO users (user_id, username, role, agency, district, password_hash, \
             created_at, password_changed_at, failed_logins) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $7, 0) \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(users::new_user_id())
        .bind(&user.username)
        .bind(user.role.as_str())
        .bind(&user.agency)
        .bind(&user.district)
        .bind(&user.password_hash)
        .bind(now)
        .fetch_one(&self.write)
        .await
        .map_err(|error| {
            if is_username_taken(&error) {
                RegistryError::Conflict {
                    code: "username_taken",
                    message: format!("there is already a user '{}'", user.username),
                }
            } else {
                error.into()
            }
        })?;
        user_from_row(&row)
    }

    async fn user_with_password_hash(&self, username: &str) -> Result<Option<(User, String)>> {
        self.user_where("username", username).await
    }

    async fn user_by_id(&self, user_id: &str) -> Result<Option<User>> {
        Ok(self
            .user_where("user_id", user_id)
            .await?
            .map(|(user, _)| user))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn disable_user(&self, username: &str) -> Result<Option<User>> {
        let mut tx = super::begin_write(&self.write).await?;
        let row = sqlx::query(&format!(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, $1) WHERE username = $2 \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(Utc::now())
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let user = row.as_ref().map(user_from_row).transpose()?;
        if let Some(user) = &user {
            self.end_sessions_of(&mut tx, &user.user_id).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn set_user_password(&self, username: &str, password_hash: &str) -> Result<Option<User>> {
        let mut tx = super::begin_write(&self.write).await?;
        let row = sqlx::query(&format!(
            "UPDATE users SET password_hash = $1, password_changed_at = $2, failed_logins = 0, \
             locked_until = NULL WHERE username = $3 RETURNING {USER_COLUMNS}"
        ))
        .bind(password_hash)
        .bind(Utc::now())
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let user = row.as_ref().map(user_from_row).transpose()?;
        if let Some(user) = &user {
            self.end_sessions_of(&mut tx, &user.user_id).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn record_failed_login(&self, user_id: &str, now: DateTime<Utc>) -> Result<User> {
        // The counter restarts when the account locks, so the next lock needs five more.
        let row = sqlx::query(&format!(
            "UPDATE users SET \
             locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END, \
             failed_logins = CASE WHEN failed_logins + 1 >= $1 THEN 0 ELSE failed_logins + 1 END \
             WHERE user_id = $3 RETURNING {USER_COLUMNS}"
        ))
        .bind(users::MAX_FAILED_LOGINS)
        .bind(now + users::LOCKOUT)
        .bind(user_id)
        .fetch_optional(&self.write)
        .await?
        .ok_or(RegistryError::NotFound("user"))?;
        user_from_row(&row)
    }

    async fn record_successful_login(&self, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_hash, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.token_hash)
        .bind(&session.user_id)
        .bind(&session.csrf_hash)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<(SessionRecord, User)>> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, csrf_hash, created_at, last_seen_at, expires_at \
             FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session = SessionRecord {
            token_hash: row.try_get("token_hash")?,
            user_id: row.try_get("user_id")?,
            csrf_hash: row.try_get("csrf_hash")?,
            created_at: row.try_get("created_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
            expires_at: row.try_get("expires_at")?,
        };
        Ok(self
            .user_by_id(&session.user_id)
            .await?
            .map(|user| (session, user)))
    }

    async fn touch_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        let result = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn append_audit(&self, draft: AuditDraft, key: &AuditKey) -> Result<AuditEntry> {
        let (reply, answer) = oneshot::channel();
        self.auditor
            .send(AuditJob {
                draft,
                key: key.clone(),
                reply,
            })
            .await
            .map_err(|_| RegistryError::WriterStopped)?;
        answer.await.map_err(|_| RegistryError::WriterStopped)?
    }

    async fn audit_entries(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_head(&self) -> Result<(i64, String)> {
        Ok(
            sqlx::query_as("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn access_log(&self, child_id: ChildId, limit: i64) -> Result<Vec<AuditEntry>> {
        let columns = AUDIT_COLUMNS
            .split(", ")
            .map(|column| format!("a.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM audit_children ac JOIN audit_log a ON a.seq = ac.seq \
             WHERE ac.child_id = $1 ORDER BY a.seq DESC LIMIT $2"
        ))
        .bind(child_id.to_string())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }
}

//! Referrals: the SQL of [`ReferralStore`](super::ReferralStore), shared by both backends like
//! `engine.rs` (compiled once inside `sqlite.rs`, once inside `postgres.rs`).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::engine::{
    append_changes, current_records_in, parse_child_id, resolve_survivor, visible_child,
    PendingChange, Transaction,
};
use super::{Backend, Db};
use crate::error::{RegistryError, Result};
use crate::golden;
use crate::ids::ChildId;
use crate::model::EventData;
use crate::referrals::{
    self, NewReferral, Referral, ReferralPage, ReferralQuery, ReferralStatus, ReferredChild,
    StatusChange,
};
use crate::store::{ReadScope, ReferralStore};

/// A referral's columns, with the child it is about now: a referral made with an event follows
/// the event's record (through merges and unlinks); a direct one keeps its child, which merges
/// move along.
const REFERRAL_COLUMNS: &str = "r.referral_id, COALESCE(sr.child_id, r.child_id) AS child_id, \
     r.from_system, r.to_system, r.reason, r.status, r.referred_on, r.created_at, r.updated_at \
     FROM referrals r LEFT JOIN events e ON e.event_key = r.event_key \
     LEFT JOIN source_records sr ON sr.record_key = e.record_key";

/// The child a referral is about, as a column expression of [`REFERRAL_COLUMNS`]' tables.
const REFERRAL_CHILD: &str = "COALESCE(sr.child_id, r.child_id)";

/// The change-feed entry of a referral's creation or move, with exactly the fields the webhook
/// deliveries route on.
fn referral_change(
    kind: &'static str,
    child_id: ChildId,
    referral_id: i64,
    from: &str,
    to: &str,
    status: ReferralStatus,
) -> PendingChange {
    PendingChange {
        kind,
        child_id,
        payload: serde_json::json!({
            "referral_id": referral_id,
            "from": from,
            "to": to,
            "status": status.as_str(),
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_referral(
    tx: &mut Transaction<'_>,
    child_id: ChildId,
    event_key: Option<i64>,
    from: &str,
    to: &str,
    reason: Option<&str>,
    referred_on: NaiveDate,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(i64, PendingChange)> {
    let referral_id: i64 = sqlx::query_scalar(
        "INSERT INTO referrals (child_id, event_key, from_system, to_system, reason, status, \
         referred_on, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7) \
         RETURNING referral_id",
    )
    .bind(child_id.to_string())
    .bind(event_key)
    .bind(from)
    .bind(to)
    .bind(reason)
    .bind(referred_on)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO referral_status_history (referral_id, step, status, actor, note, changed_at) \
         VALUES ($1, 1, 'pending', $2, NULL, $3)",
    )
    .bind(referral_id)
    .bind(actor)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let change = referral_change(
        "referral.created",
        child_id,
        referral_id,
        from,
        to,
        ReferralStatus::Pending,
    );
    Ok((referral_id, change))
}

/// Makes the referral a newly stored `referral` event describes, in the registration's
/// transaction (called by the engine's `event_first_stored`, online or by import).
pub(super) async fn open_from_event(
    tx: &mut Transaction<'_>,
    event_key: i64,
    child_id: ChildId,
    source_system: &str,
    event: &EventData,
    now: DateTime<Utc>,
    changes: &mut Vec<PendingChange>,
) -> Result<()> {
    // Validation made sure a referral event names its receiver.
    let Some((to, reason)) = referrals::event_target(&event.details) else {
        return Ok(());
    };
    let (_, change) = insert_referral(
        tx,
        child_id,
        Some(event_key),
        source_system,
        &to,
        reason.as_deref(),
        event.date,
        &format!("{source_system} (referral event)"),
        now,
    )
    .await?;
    changes.push(change);
    Ok(())
}

fn status_of(text: &str) -> Result<ReferralStatus> {
    ReferralStatus::parse(text)
        .ok_or_else(|| RegistryError::Corrupt(format!("unknown referral status '{text}'")))
}

impl Backend {
    /// The referrals of `rows` (read with [`REFERRAL_COLUMNS`]) with their child's minimum
    /// summary and their status history.
    async fn complete_referrals(
        &self,
        rows: Vec<<Db as sqlx::Database>::Row>,
    ) -> Result<Vec<Referral>> {
        let mut connection = self.read.acquire().await?;
        let mut referrals = Vec::with_capacity(rows.len());
        for row in rows {
            let referral_id: i64 = row.try_get("referral_id")?;
            let stored_child = parse_child_id(&row.try_get::<String, _>("child_id")?)?;
            let child_id = resolve_survivor(&mut connection, stored_child)
                .await?
                .unwrap_or(stored_child);
            let summary = golden::summarise(&current_records_in(&mut connection, child_id).await?);
            let history = sqlx::query(
                "SELECT status, actor, note, changed_at FROM referral_status_history \
                 WHERE referral_id = $1 ORDER BY step",
            )
            .bind(referral_id)
            .fetch_all(&mut *connection)
            .await?
            .iter()
            .map(|step| {
                Ok(StatusChange {
                    status: status_of(&step.try_get::<String, _>("status")?)?,
                    actor: step.try_get("actor")?,
                    note: step.try_get("note")?,
                    at: step.try_get("changed_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
            referrals.push(Referral {
                referral_id,
                child_id,
                from: row.try_get("from_system")?,
                to: row.try_get("to_system")?,
                reason: row.try_get("reason")?,
                status: status_of(&row.try_get::<String, _>("status")?)?,
                referred_on: row.try_get("referred_on")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                child: ReferredChild {
                    given_name: summary.given_name,
                    family_name: summary.family_name,
                    sex: summary.sex,
                    date_of_birth: summary.date_of_birth,
                    district: summary.district,
                    subcounty: summary.subcounty,
                    village: summary.village,
                },
                history,
            });
        }
        Ok(referrals)
    }
}

#[async_trait]
impl ReferralStore for Backend {
    async fn create_referral(&self, referral: NewReferral, actor: &str) -> Result<Referral> {
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        let child_id = resolve_survivor(&mut tx, referral.child_id)
            .await?
            .ok_or(RegistryError::NotFound("child"))?;
        let (referral_id, change) = insert_referral(
            &mut tx,
            child_id,
            None,
            &referral.from,
            &referral.to,
            referral.reason.as_deref(),
            referral.referred_on,
            actor,
            now,
        )
        .await?;
        append_changes(&mut tx, vec![change], now).await?;
        tx.commit().await?;
        self.referral(referral_id)
            .await?
            .ok_or(RegistryError::NotFound("referral"))
    }

    async fn referrals(&self, query: &ReferralQuery, scope: &ReadScope) -> Result<ReferralPage> {
        let limit = query.limit.clamp(1, 500);
        let rows = sqlx::query(&format!(
            "SELECT {REFERRAL_COLUMNS} WHERE (CAST($1 AS TEXT) IS NULL OR r.to_system = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR r.from_system = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR r.status = $3) AND r.referral_id > $4 AND {} \
             ORDER BY r.referral_id LIMIT $7",
            visible_child(REFERRAL_CHILD, 5)
        ))
        .bind(query.to.as_deref())
        .bind(query.from.as_deref())
        .bind(query.status.map(ReferralStatus::as_str))
        .bind(query.after.unwrap_or(0))
        .bind(scope.kind())
        .bind(scope.value())
        .bind(limit + 1)
        .fetch_all(&self.read)
        .await?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let referrals = self.complete_referrals(rows).await?;
        let next_after = more
            .then(|| referrals.last().map(|referral| referral.referral_id))
            .flatten();
        Ok(ReferralPage {
            referrals,
            next_after,
        })
    }

    async fn referral(&self, referral_id: i64) -> Result<Option<Referral>> {
        let rows = sqlx::query(&format!(
            "SELECT {REFERRAL_COLUMNS} WHERE r.referral_id = $1"
        ))
        .bind(referral_id)
        .fetch_all(&self.read)
        .await?;
        Ok(self.complete_referrals(rows).await?.into_iter().next())
    }

    async fn move_referral(
        &self,
        referral_id: i64,
        status: ReferralStatus,
        note: Option<String>,
        actor: &str,
    ) -> Result<Referral> {
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        let current: String = sqlx::query_scalar(&format!(
            "SELECT status FROM referrals WHERE referral_id = $1{}",
            super::LOCK_ROWS
        ))
        .bind(referral_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(RegistryError::NotFound("referral"))?;
        let current = status_of(&current)?;
        if !current.may_move_to(status) {
            return Err(RegistryError::Conflict {
                code: "invalid_transition",
                message: format!(
                    "a {} referral cannot become {} (pending → accepted or declined, accepted → closed)",
                    current.as_str(),
                    status.as_str()
                ),
            });
        }
        sqlx::query(
            "UPDATE referrals SET status = $1, updated_at = $2, \
             accepted_at = CASE WHEN $1 = 'accepted' THEN $2 ELSE accepted_at END, \
             closed_at = CASE WHEN $1 IN ('declined', 'closed') THEN $2 ELSE closed_at END \
             WHERE referral_id = $3",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(referral_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO referral_status_history (referral_id, step, status, actor, note, changed_at) \
             SELECT $1, COALESCE(MAX(step), 0) + 1, $2, $3, $4, $5 FROM referral_status_history \
             WHERE referral_id = $1",
        )
        .bind(referral_id)
        .bind(status.as_str())
        .bind(actor)
        .bind(note)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {REFERRAL_COLUMNS} WHERE r.referral_id = $1"
        ))
        .bind(referral_id)
        .fetch_one(&mut *tx)
        .await?;
        let child_id = parse_child_id(&row.try_get::<String, _>("child_id")?)?;
        let child_id = resolve_survivor(&mut tx, child_id)
            .await?
            .unwrap_or(child_id);
        let from: String = row.try_get("from_system")?;
        let to: String = row.try_get("to_system")?;
        let change = referral_change(
            "referral.updated",
            child_id,
            referral_id,
            &from,
            &to,
            status,
        );
        append_changes(&mut tx, vec![change], now).await?;
        tx.commit().await?;
        self.referral(referral_id)
            .await?
            .ok_or(RegistryError::NotFound("referral"))
    }
}

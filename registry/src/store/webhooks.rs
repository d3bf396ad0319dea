//! The change feed by audience, webhook subscriptions and deliveries: the SQL of
//! [`FeedStore`](crate::webhooks::FeedStore), shared by both backends like `engine.rs`
//! (compiled once inside `sqlite.rs`, once inside `postgres.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::Row;

use super::engine::{parse_child_id, visible_child};
use super::{Backend, Db};
use crate::error::{RegistryError, Result};
use crate::model::OutboxEntry;
use crate::webhooks::{
    self, Attempt, AttemptOutcome, ChangePage, DeliveryLog, DueDelivery, FeedAudience, FeedStore,
    NewDelivery, NewWebhook, Webhook, AGENCY_ADDRESSED_PREFIX,
};

type DbRow = <Db as sqlx::Database>::Row;

const WEBHOOK_COLUMNS: &str = "subscription_id, client_id, url, event_types, start_seq, created_at";

fn webhook_from_row(row: &DbRow) -> Result<Webhook> {
    let event_types: String = row.try_get("event_types")?;
    Ok(Webhook {
        id: row.try_get("subscription_id")?,
        client_id: row.try_get("client_id")?,
        url: row.try_get("url")?,
        event_types: serde_json::from_str(&event_types)?,
        start_seq: row.try_get("start_seq")?,
        created_at: row.try_get("created_at")?,
    })
}

fn outbox_from_row(row: &DbRow) -> Result<OutboxEntry> {
    let payload: Json<serde_json::Value> = row.try_get("payload")?;
    Ok(OutboxEntry {
        seq: row.try_get("seq")?,
        kind: row.try_get("kind")?,
        child_id: parse_child_id(&row.try_get::<String, _>("child_id")?)?,
        payload: payload.0,
        created_at: row.try_get("created_at")?,
    })
}

fn time_of_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// The feed's visibility rule for outbox row `o`, parameters `$3` (scope kind), `$4` (scope
/// value) and `$5` (the audience's agency): the entry's child is readable, or the child it
/// was merged into is (a merge notice reaches those who held the merged child's records, now
/// on the survivor), or the entry is addressed to the agency (a referral from or to it).
fn visible_entry() -> String {
    format!(
        "({own} OR EXISTS (SELECT 1 FROM children mc WHERE mc.child_id = o.child_id \
         AND mc.merged_into IS NOT NULL AND {survivor}) \
         OR (substr(o.kind, 1, {prefix_len}) = '{AGENCY_ADDRESSED_PREFIX}' \
         AND CAST($5 AS TEXT) IS NOT NULL \
         AND (o.payload ->> 'from' = CAST($5 AS TEXT) OR o.payload ->> 'to' = CAST($5 AS TEXT))))",
        own = visible_child("o.child_id", 3),
        survivor = visible_child("mc.merged_into", 3),
        prefix_len = AGENCY_ADDRESSED_PREFIX.len(),
    )
}

#[async_trait]
impl FeedStore for Backend {
    async fn changes(&self, after: i64, limit: i64, audience: &FeedAudience) -> Result<ChangePage> {
        // Every entry up to the head read first is committed: its seq was taken under the head
        // row's lock, released only by that commit.
        let head: i64 = sqlx::query_scalar("SELECT last_seq FROM outbox_head WHERE id = 1")
            .fetch_one(&self.read)
            .await?;
        let entries = self.changes_between(after, head, limit, audience).await?;
        let has_more = entries.len() as i64 >= limit;
        let next_cursor = match entries.last() {
            Some(last) if has_more => last.seq,
            _ => head.max(after),
        };
        Ok(ChangePage {
            entries,
            next_cursor,
            has_more,
        })
    }

    async fn changes_between(
        &self,
        after: i64,
        up_to: i64,
        limit: i64,
        audience: &FeedAudience,
    ) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT o.seq, o.kind, o.child_id, o.payload, o.created_at FROM outbox o \
             WHERE o.seq > $1 AND o.seq <= $2 AND {} ORDER BY o.seq LIMIT $6",
            visible_entry()
        ))
        .bind(after)
        .bind(up_to)
        .bind(audience.scope.kind())
        .bind(audience.scope.value())
        .bind(audience.agency.as_deref())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn create_webhook(&self, webhook: NewWebhook) -> Result<Webhook> {
        let mut tx = super::begin_write(&self.write).await?;
        // Locked until commit: no entry commits between reading the head and the
        // subscription becoming visible, so the worker cannot pass an entry it should deliver.
        let head: i64 = sqlx::query_scalar(&format!(
            "SELECT last_seq FROM outbox_head WHERE id = 1{}",
            super::LOCK_ROWS
        ))
        .fetch_one(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "INSERT INTO webhook_subscriptions (subscription_id, client_id, url, event_types, \
             secret, start_seq, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING {WEBHOOK_COLUMNS}"
        ))
        .bind(webhooks::new_webhook_id())
        .bind(&webhook.client_id)
        .bind(&webhook.url)
        .bind(serde_json::to_string(&webhook.event_types)?)
        .bind(&webhook.secret)
        .bind(head)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        webhook_from_row(&row)
    }

    async fn webhooks_of(&self, client_id: &str) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhook_subscriptions WHERE client_id = $1 \
             ORDER BY created_at, subscription_id"
        ))
        .bind(client_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn all_webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhook_subscriptions ORDER BY subscription_id"
        ))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn webhook(&self, subscription_id: &str) -> Result<Option<Webhook>> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhook_subscriptions WHERE subscription_id = $1"
        ))
        .bind(subscription_id)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    async fn delete_webhook(&self, client_id: &str, subscription_id: &str) -> Result<bool> {
        let result = sqlx::query(
            "DELETE FROM webhook_subscriptions WHERE subscription_id = $1 AND client_id = $2",
        )
        .bind(subscription_id)
        .bind(client_id)
        .execute(&self.write)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn webhook_cursor(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT last_seq FROM webhook_cursor WHERE id = 1")
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn enqueue_deliveries(&self, deliveries: Vec<NewDelivery>, cursor: i64) -> Result<()> {
        let now = Utc::now();
        let mut tx = super::begin_write(&self.write).await?;
        for delivery in deliveries {
            sqlx::query(
                "INSERT INTO webhook_deliveries (delivery_id, subscription_id, seq, child_id, kind, \
                 body, status, attempts, next_attempt_ms, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8) \
                 ON CONFLICT (subscription_id, seq) DO NOTHING",
            )
            .bind(webhooks::new_delivery_id())
            .bind(&delivery.subscription_id)
            .bind(delivery.seq)
            .bind(delivery.child_id.to_string())
            .bind(&delivery.kind)
            .bind(&delivery.body)
            .bind(now.timestamp_millis())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // Never backwards: a second worker on the same database may have gone further.
        sqlx::query("UPDATE webhook_cursor SET last_seq = $1 WHERE id = 1 AND last_seq < $1")
            .bind(cursor)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn due_deliveries(&self, now_ms: i64, limit: i64) -> Result<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "SELECT d.delivery_id, d.subscription_id, s.client_id, s.url, s.secret, d.seq, \
             d.child_id, d.kind, d.body, d.attempts, d.next_attempt_ms \
             FROM webhook_deliveries d \
             JOIN webhook_subscriptions s ON s.subscription_id = d.subscription_id \
             WHERE d.status = 'pending' AND d.next_attempt_ms <= $1 \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e \
                 WHERE e.subscription_id = d.subscription_id AND e.child_id = d.child_id \
                 AND e.status = 'pending' AND e.seq < d.seq) \
             ORDER BY d.seq LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    delivery_id: row.try_get("delivery_id")?,
                    subscription_id: row.try_get("subscription_id")?,
                    client_id: row.try_get("client_id")?,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                    seq: row.try_get("seq")?,
                    child_id: parse_child_id(&row.try_get::<String, _>("child_id")?)?,
                    kind: row.try_get("kind")?,
                    body: row.try_get("body")?,
                    attempts: row.try_get("attempts")?,
                    next_attempt_ms: row.try_get("next_attempt_ms")?,
                })
            })
            .collect()
    }

    async fn claim_delivery(
        &self,
        delivery_id: &str,
        expected_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_ms = $1 \
             WHERE delivery_id = $2 AND next_attempt_ms = $3 AND status = 'pending'",
        )
        .bind(lease_until_ms)
        .bind(delivery_id)
        .bind(expected_ms)
        .execute(&self.write)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn finish_attempt(
        &self,
        delivery_id: &str,
        attempt: Attempt,
        outcome: AttemptOutcome,
    ) -> Result<()> {
        let mut tx = super::begin_write(&self.write).await?;
        // A skipped delivery was not attempted: nothing to log but its status.
        if outcome != AttemptOutcome::Skipped {
            sqlx::query(
                "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (delivery_id, attempt) DO NOTHING",
            )
            .bind(delivery_id)
            .bind(attempt.attempt)
            .bind(attempt.at)
            .bind(attempt.status_code)
            .bind(&attempt.error)
            .execute(&mut *tx)
            .await?;
        }
        let (next_ms, finished_at) = match outcome {
            AttemptOutcome::RetryAt(ms) => (Some(ms), None),
            _ => (None, Some(attempt.at)),
        };
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, \
             next_attempt_ms = COALESCE($3, next_attempt_ms), finished_at = $4 \
             WHERE delivery_id = $5",
        )
        .bind(outcome.status())
        .bind(if outcome == AttemptOutcome::Skipped {
            attempt.attempt - 1
        } else {
            attempt.attempt
        })
        .bind(next_ms)
        .bind(finished_at)
        .bind(delivery_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // The subscription was deleted while its delivery was in flight.
            return Err(RegistryError::NotFound("webhook delivery"));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn deliveries(&self, subscription_id: &str, limit: i64) -> Result<Vec<DeliveryLog>> {
        let rows = sqlx::query(
            "SELECT delivery_id, seq, child_id, kind, status, next_attempt_ms, created_at, \
             finished_at FROM webhook_deliveries WHERE subscription_id = $1 \
             ORDER BY seq DESC LIMIT $2",
        )
        .bind(subscription_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let mut logs = rows
            .iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let next_ms: i64 = row.try_get("next_attempt_ms")?;
                Ok(DeliveryLog {
                    id: row.try_get("delivery_id")?,
                    seq: row.try_get("seq")?,
                    child_id: parse_child_id(&row.try_get::<String, _>("child_id")?)?,
                    kind: row.try_get("kind")?,
                    next_attempt_at: (status == "pending").then(|| time_of_ms(next_ms)).flatten(),
                    status,
                    created_at: row.try_get("created_at")?,
                    finished_at: row.try_get("finished_at")?,
                    attempts: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let attempts = sqlx::query(
            "SELECT a.delivery_id, a.attempt, a.at, a.status_code, a.error \
             FROM webhook_attempts a WHERE a.delivery_id IN (SELECT delivery_id \
             FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY seq DESC LIMIT $2) \
             ORDER BY a.delivery_id, a.attempt",
        )
        .bind(subscription_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        for row in attempts {
            let delivery_id: String = row.try_get("delivery_id")?;
            if let Some(log) = logs.iter_mut().find(|log| log.id == delivery_id) {
                log.attempts.push(Attempt {
                    attempt: row.try_get("attempt")?,
                    at: row.try_get("at")?,
                    status_code: row.try_get("status_code")?,
                    error: row.try_get("error")?,
                });
            }
        }
        Ok(logs)
    }
}

//! The change feed as a caller reads it, and webhook subscriptions with their deliveries
//! (issue 9). The SQL is in `store/webhooks.rs`; signing and sending are the gateway's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Result;
use crate::ids::ChildId;
use crate::model::OutboxEntry;
use crate::store::ReadScope;

/// Outbox kinds that concern two agencies rather than one child's records: an agency named in
/// the payload's `from` or `to` sees the entry even when the child is outside its scope.
pub const AGENCY_ADDRESSED_PREFIX: &str = "referral.";

/// Who reads the feed: the children they may read, and the agency they act for (entries
/// addressed to that agency are theirs too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedAudience {
    pub scope: ReadScope,
    pub agency: Option<String>,
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    pub entries: Vec<OutboxEntry>,
    /// The position to ask `after` next: past every entry read, visible or not, so a client
    /// never reads the same invisible stretch twice.
    pub next_cursor: i64,
    /// More entries may follow right away (the page was full).
    pub has_more: bool,
}

/// A webhook subscription (its secret is never read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Webhook {
    /// `whk_…`
    pub id: String,
    /// The API client that owns it.
    pub client_id: String,
    pub url: String,
    /// Outbox kinds delivered; empty means every kind.
    pub event_types: Vec<String>,
    /// Deliveries cover change-feed entries after this position (the head when subscribed).
    pub start_seq: i64,
    pub created_at: DateTime<Utc>,
}

impl Webhook {
    pub fn wants(&self, kind: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|wanted| wanted == kind)
    }
}

/// A subscription to create; the caller mints the secret.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub client_id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: String,
}

/// A delivery to queue: one outbox entry for one subscription, with the body to send.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub subscription_id: String,
    pub seq: i64,
    pub child_id: ChildId,
    pub kind: String,
    pub body: String,
}

/// A pending delivery whose turn has come, with what sending it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// `msg_…`: the `webhook-id` header, the same on every attempt.
    pub delivery_id: String,
    pub subscription_id: String,
    pub client_id: String,
    pub url: String,
    pub secret: String,
    pub seq: i64,
    pub child_id: ChildId,
    pub kind: String,
    pub body: String,
    /// Attempts made so far.
    pub attempts: i64,
    pub next_attempt_ms: i64,
}

/// What one attempt got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attempt {
    pub attempt: i64,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why the attempt failed (connection refused, timeout, refused target, non-2xx).
    pub error: Option<String>,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time (milliseconds since the epoch).
    RetryAt(i64),
    /// The last attempt failed: given up; the child's next delivery may go.
    GaveUp,
    /// Not sent: the entry is no longer the subscriber's to see (scope, revoked client).
    Skipped,
}

impl AttemptOutcome {
    /// The delivery's status afterwards.
    pub fn status(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "pending",
            AttemptOutcome::GaveUp => "failed",
            AttemptOutcome::Skipped => "skipped",
        }
    }
}

/// A delivery as its subscriber reads it in the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryLog {
    pub id: String,
    /// The change-feed position delivered.
    pub seq: i64,
    pub child_id: ChildId,
    pub kind: String,
    /// `pending`, `delivered`, `failed` (given up) or `skipped` (no longer in scope).
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// When pending: the next attempt.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

/// The change feed and webhooks: part of every [`Store`](crate::Store), in a trait of its own.
#[async_trait]
pub trait FeedStore: Send + Sync {
    /// Entries after `after` the audience may see, in commit order, at most `limit`, read up
    /// to the head committed when called.
    async fn changes(&self, after: i64, limit: i64, audience: &FeedAudience) -> Result<ChangePage>;

    /// Entries in `(after, up_to]` the audience may see, in order, at most `limit`.
    async fn changes_between(
        &self,
        after: i64,
        up_to: i64,
        limit: i64,
        audience: &FeedAudience,
    ) -> Result<Vec<OutboxEntry>>;

    /// Stores a subscription starting at the current head of the change feed.
    async fn create_webhook(&self, webhook: NewWebhook) -> Result<Webhook>;

    /// The client's subscriptions, oldest first.
    async fn webhooks_of(&self, client_id: &str) -> Result<Vec<Webhook>>;

    /// Every subscription (the delivery worker).
    async fn all_webhooks(&self) -> Result<Vec<Webhook>>;

    async fn webhook(&self, subscription_id: &str) -> Result<Option<Webhook>>;

    /// Deletes the client's subscription with its deliveries; false when the client has no
    /// such subscription.
    async fn delete_webhook(&self, client_id: &str, subscription_id: &str) -> Result<bool>;

    /// The delivery worker's position in the change feed.
    async fn webhook_cursor(&self) -> Result<i64>;

    /// Queues deliveries and moves the worker's position to `cursor`, in one transaction (an
    /// entry queued twice is queued once).
    async fn enqueue_deliveries(&self, deliveries: Vec<NewDelivery>, cursor: i64) -> Result<()>;

    /// Pending deliveries due at `now_ms`, each the oldest pending one of its child for its
    /// subscription (a child's later deliveries wait their turn), in feed order.
    async fn due_deliveries(&self, now_ms: i64, limit: i64) -> Result<Vec<DueDelivery>>;

    /// Takes a due delivery for one attempt: moves its next attempt to `lease_until_ms` if it
    /// is still at `expected_ms`. False when another worker took it first.
    async fn claim_delivery(
        &self,
        delivery_id: &str,
        expected_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool>;

    /// Logs an attempt and what becomes of the delivery.
    async fn finish_attempt(
        &self,
        delivery_id: &str,
        attempt: Attempt,
        outcome: AttemptOutcome,
    ) -> Result<()>;

    /// The subscription's newest deliveries, newest first, at most `limit`.
    async fn deliveries(&self, subscription_id: &str, limit: i64) -> Result<Vec<DeliveryLog>>;
}

pub fn new_webhook_id() -> String {
    random_id("whk_")
}

pub fn new_delivery_id() -> String {
    random_id("msg_")
}

fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

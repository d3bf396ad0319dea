//! Webhooks: signed deliveries of change-feed entries to subscribers' endpoints (issue 9).
//!
//! The [`worker`] follows the outbox like the search index follower: it queues one delivery
//! per subscription and visible entry (the queue and its own position are in the database,
//! so a restart resumes), then sends what is due, retrying with exponential backoff, in order
//! per child and subscription.

pub mod signature;
pub mod target;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use registry::model::OutboxEntry;
use registry::webhooks::FeedAudience;

use crate::auth::Caller;
pub use target::AllowList;

/// How deliveries are retried: attempt `n` (from 1) that fails waits `base × 2^(n-1)`, at most
/// `cap`, before the next (drawn between half and all of it: [`RetryPolicy::jittered`]); after
/// `max_attempts` the delivery is given up and the child's next delivery may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: i64,
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// The wait after the `attempts`-th failed attempt, between half and all of
    /// [`RetryPolicy::backoff`] as `draw` (from 0 to 1) says: deliveries that failed together
    /// (a receiver down for a while) do not all come back in the same instant.
    pub fn jittered(&self, attempts: i64, draw: f64) -> Duration {
        self.backoff(attempts)
            .mul_f64(0.5 + draw.clamp(0.0, 1.0) / 2.0)
    }
}

/// The webhook settings of `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub allow: Arc<AllowList>,
    pub retry: RetryPolicy,
    /// How often the worker looks for new entries and due retries.
    pub poll: Duration,
    /// How long one attempt may take before it counts as failed.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow: Arc::default(),
            retry: RetryPolicy {
                base: Duration::from_secs(10),
                cap: Duration::from_secs(3600),
                max_attempts: 12,
            },
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The change-feed kinds a subscription may ask for.
pub const EVENT_TYPES: &[&str] = &[
    "child.created",
    "child.merged",
    "child.unmerged",
    "record.registered",
    "record.linked",
    "record.updated",
    "record.unlinked",
    "event.added",
    "referral.created",
    "referral.updated",
];

/// Who reads the feed: the caller's read scope, and the agency referrals may be addressed to.
pub fn audience(caller: &Caller) -> FeedAudience {
    FeedAudience {
        scope: caller.read_scope(),
        agency: caller
            .role
            .reads_child_data()
            .then(|| caller.agency.clone())
            .flatten(),
    }
}

/// A delivery's body (the Standard Webhooks shape): the entry's kind, its commit time and the
/// entry as the feed gives it to this subscriber.
pub fn delivery_body(entry: &OutboxEntry) -> serde_json::Result<String> {
    serde_json::to_string(&serde_json::json!({
        "type": entry.kind,
        "timestamp": entry.created_at,
        "data": entry,
    }))
}

/// `serve`'s webhook flags.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// Hosts (names or IP addresses, comma-separated) webhooks may target although they are
    /// internal (loopback, private, link-local); these may also use plain http.
    #[arg(
        long,
        env = "CHILD_REGISTRY_WEBHOOK_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    pub webhook_allow_hosts: Vec<String>,
    /// Wait after a delivery's first failed attempt, in milliseconds; it doubles with each
    /// further failure up to --webhook-retry-cap-ms.
    #[arg(
        long,
        env = "CHILD_REGISTRY_WEBHOOK_RETRY_BASE_MS",
        default_value_t = 10_000
    )]
    pub webhook_retry_base_ms: u64,
    /// Longest wait between two attempts, in milliseconds.
    #[arg(
        long,
        env = "CHILD_REGISTRY_WEBHOOK_RETRY_CAP_MS",
        default_value_t = 3_600_000
    )]
    pub webhook_retry_cap_ms: u64,
    /// Attempts before a delivery is given up (the child's next delivery then goes).
    #[arg(long, env = "CHILD_REGISTRY_WEBHOOK_MAX_ATTEMPTS", default_value_t = 12,
          value_parser = clap::value_parser!(i64).range(1..=100))]
    pub webhook_max_attempts: i64,
    /// How often the delivery worker looks for new changes and due retries, in milliseconds.
    #[arg(long, env = "CHILD_REGISTRY_WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,
    /// Time limit of one delivery attempt, in milliseconds.
    #[arg(
        long,
        env = "CHILD_REGISTRY_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub webhook_timeout_ms: u64,
}

impl WebhookArgs {
    pub fn config(&self) -> WebhookConfig {
        WebhookConfig {
            allow: Arc::new(AllowList::new(self.webhook_allow_hosts.iter().cloned())),
            retry: RetryPolicy {
                base: Duration::from_millis(self.webhook_retry_base_ms.max(1)),
                cap: Duration::from_millis(
                    self.webhook_retry_cap_ms.max(self.webhook_retry_base_ms),
                ),
                max_attempts: self.webhook_max_attempts,
            },
            poll: Duration::from_millis(self.webhook_poll_ms.max(10)),
            timeout: Duration::from_millis(self.webhook_timeout_ms.max(100)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_spread_between_half_and_all() {
        let policy = RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(3600),
            max_attempts: 12,
        };
        let waits: Vec<u64> = (1..=10).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
        assert_eq!(policy.jittered(3, 0.0), Duration::from_secs(20));
        assert_eq!(policy.jittered(3, 1.0), Duration::from_secs(40));
        assert_eq!(policy.jittered(3, 0.5), Duration::from_secs(30));
        assert_eq!(policy.jittered(40, 7.0), Duration::from_secs(3600));
    }
}

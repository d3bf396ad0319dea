//! The delivery worker `serve` starts. Each round it
//!
//! 1. queues deliveries for the outbox entries after its position: one per subscription whose
//!    owner may see the entry (the feed's rule) and who asked for its kind, with the body
//!    redacted for that owner, and moves its position, in one transaction;
//! 2. sends the due deliveries: for each subscription and child only the oldest pending one, so
//!    a child's next delivery waits until the previous one succeeded or was given up.
//!
//! Before sending, the owner's scope is checked again (a client revoked, a child moved out of
//! scope: the delivery is skipped) and so is the target (the allow list may have changed).
//! Several gateways on one database cooperate: queuing is idempotent, and a delivery is
//! claimed (its next attempt moved past the attempt's time limit) before it is sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use registry::audit::{Actor, AuditAction, AuditDraft, AuditKey};
use registry::clients::ApiClient;
use registry::webhooks::{Attempt, AttemptOutcome, DueDelivery, NewDelivery};
use registry::Store;

use super::target::{parse_target, GuardedResolver};
use super::{audience, delivery_body, signature, WebhookConfig};
use crate::auth::Caller;
use crate::redact;

/// Outbox entries queued per round.
const BATCH: i64 = 500;

/// Deliveries sent at once per round.
const SENDS_PER_ROUND: i64 = 64;

/// What the worker needs.
pub struct Worker {
    store: Arc<dyn Store>,
    config: Arc<WebhookConfig>,
    audit_key: Arc<AuditKey>,
    http: reqwest::Client,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        config: Arc<WebhookConfig>,
        audit_key: Arc<AuditKey>,
    ) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow: Arc::clone(&config.allow),
            }))
            // A redirect would go to a target nobody checked; a proxy would hide the target.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .user_agent("child-registry-webhooks")
            .build()?;
        Ok(Worker {
            store,
            config,
            audit_key,
            http,
        })
    }

    /// Runs rounds until aborted; errors (the database restarting) are logged and retried.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let worker = Arc::new(self);
        tokio::spawn(async move {
            let mut failures: u32 = 0;
            loop {
                match worker.round().await {
                    Ok(busy) => {
                        failures = 0;
                        if !busy {
                            tokio::time::sleep(worker.config.poll).await;
                        }
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        tracing::warn!(%error, failures, "webhook worker failed; retrying");
                        tokio::time::sleep(worker.config.poll * failures.min(25)).await;
                    }
                }
            }
        })
    }

    /// One round; true when there may be more work right away.
    pub async fn round(self: &Arc<Self>) -> registry::Result<bool> {
        let queued_all = self.queue_new_entries().await?;
        let sent = self.send_due().await?;
        Ok(!queued_all || sent as i64 >= SENDS_PER_ROUND)
    }

    /// The API clients by ID that may receive deliveries now.
    async fn usable_clients(&self) -> registry::Result<HashMap<String, ApiClient>> {
        let now = Utc::now();
        Ok(self
            .store
            .list_clients()
            .await?
            .into_iter()
            .filter(|client| client.is_usable(now) && client.role.reads_child_data())
            .map(|client| (client.client_id.clone(), client))
            .collect())
    }

    /// Queues deliveries for the next outbox entries; true when it reached the head.
    async fn queue_new_entries(&self) -> registry::Result<bool> {
        let cursor = self.store.webhook_cursor().await?;
        let head = self.store.outbox_head().await?;
        if head <= cursor {
            return Ok(true);
        }
        let up_to = head.min(cursor + BATCH);
        let subscriptions = self.store.all_webhooks().await?;
        let clients = if subscriptions.is_empty() {
            HashMap::new()
        } else {
            self.usable_clients().await?
        };
        let mut deliveries = Vec::new();
        for subscription in subscriptions {
            let Some(client) = clients.get(&subscription.client_id) else {
                continue;
            };
            let after = cursor.max(subscription.start_seq);
            if after >= up_to {
                continue;
            }
            let owner = Caller::from_client(client.clone());
            let entries = self
                .store
                .changes_between(after, up_to, BATCH, &audience(&owner))
                .await?;
            for entry in entries {
                if !subscription.wants(&entry.kind) {
                    continue;
                }
                let entry = redact::change(&owner, entry);
                deliveries.push(NewDelivery {
                    subscription_id: subscription.id.clone(),
                    seq: entry.seq,
                    child_id: entry.child_id,
                    kind: entry.kind.clone(),
                    body: delivery_body(&entry)?,
                });
            }
        }
        let queued = deliveries.len();
        self.store.enqueue_deliveries(deliveries, up_to).await?;
        if queued > 0 {
            tracing::debug!(queued, position = up_to, "webhook deliveries queued");
        }
        Ok(up_to == head)
    }

    /// Sends the due deliveries concurrently (at most one per subscription and child).
    async fn send_due(self: &Arc<Self>) -> registry::Result<usize> {
        let now_ms = Utc::now().timestamp_millis();
        let due = self.store.due_deliveries(now_ms, SENDS_PER_ROUND).await?;
        let count = due.len();
        let mut sending = tokio::task::JoinSet::new();
        for delivery in due {
            let worker = Arc::clone(self);
            sending.spawn(async move {
                let id = delivery.delivery_id.clone();
                if let Err(error) = worker.deliver(delivery).await {
                    tracing::warn!(%error, delivery = %id, "webhook delivery not recorded");
                }
            });
        }
        while sending.join_next().await.is_some() {}
        Ok(count)
    }

    async fn deliver(&self, delivery: DueDelivery) -> registry::Result<()> {
        let lease = self.config.timeout + Duration::from_secs(5);
        let lease_until = Utc::now().timestamp_millis()
            + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        if !self
            .store
            .claim_delivery(&delivery.delivery_id, delivery.next_attempt_ms, lease_until)
            .await?
        {
            return Ok(());
        }
        let attempt_number = delivery.attempts + 1;
        let Some(owner) = self.owner_still_sees(&delivery).await? else {
            let attempt = Attempt {
                attempt: attempt_number,
                at: Utc::now(),
                status_code: None,
                error: Some("no longer in the subscriber's scope".to_owned()),
            };
            return self
                .store
                .finish_attempt(&delivery.delivery_id, attempt, AttemptOutcome::Skipped)
                .await;
        };
        let (status_code, error) = self.send(&delivery).await;
        let at = Utc::now();
        let outcome = if error.is_none() {
            AttemptOutcome::Delivered
        } else if attempt_number >= self.config.retry.max_attempts {
            AttemptOutcome::GaveUp
        } else {
            let wait = self
                .config
                .retry
                .jittered(attempt_number, rand::random::<f64>());
            AttemptOutcome::RetryAt(
                at.timestamp_millis() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2),
            )
        };
        let attempt = Attempt {
            attempt: attempt_number,
            at,
            status_code,
            error,
        };
        self.store
            .finish_attempt(&delivery.delivery_id, attempt, outcome)
            .await?;
        if outcome == AttemptOutcome::Delivered {
            // Child data left the registry for the subscriber's system: recorded like a read.
            let draft = AuditDraft {
                actor: Actor {
                    kind: "client".to_owned(),
                    id: owner.id,
                    role: Some(owner.role.as_str().to_owned()),
                },
                action: AuditAction::WebhookDelivered,
                target: Some(delivery.child_id.to_string()),
                children: vec![delivery.child_id],
                details: serde_json::json!({
                    "webhook": delivery.subscription_id,
                    "delivery": delivery.delivery_id,
                    "kind": delivery.kind,
                    "seq": delivery.seq,
                }),
                purpose: None,
                flagged: false,
                request_id: None,
            };
            self.store.append_audit(draft, &self.audit_key).await?;
        }
        Ok(())
    }

    /// The subscriber, if its client is still usable and may still see the entry.
    async fn owner_still_sees(&self, delivery: &DueDelivery) -> registry::Result<Option<Caller>> {
        let Some(client) = self.usable_clients().await?.remove(&delivery.client_id) else {
            return Ok(None);
        };
        let owner = Caller::from_client(client);
        let visible = self
            .store
            .changes_between(delivery.seq - 1, delivery.seq, 1, &audience(&owner))
            .await?;
        Ok((!visible.is_empty()).then_some(owner))
    }

    /// One attempt: the receiver's status code, and why it failed (`None` when it succeeded).
    async fn send(&self, delivery: &DueDelivery) -> (Option<i64>, Option<String>) {
        if let Err(refused) = parse_target(&delivery.url, &self.config.allow) {
            return (None, Some(format!("target refused: {refused}")));
        }
        let timestamp = Utc::now().timestamp();
        let signature = match signature::sign(
            &delivery.secret,
            &delivery.delivery_id,
            timestamp,
            &delivery.body,
        ) {
            Ok(signature) => signature,
            Err(error) => return (None, Some(error.to_string())),
        };
        let response = self
            .http
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.delivery_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status();
                let code = Some(i64::from(status.as_u16()));
                if status.is_success() {
                    (code, None)
                } else {
                    (code, Some(format!("the receiver answered {status}")))
                }
            }
            Err(error) => (None, Some(describe(&error))),
        }
    }
}

/// A send error with its causes (reqwest's own message hides the refused target).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

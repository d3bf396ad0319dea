//! Keeps the index up to date from the registry's outbox.
//!
//! Each round reads the outbox after the index's committed position, re-reads every child
//! those entries touch (whatever the entry says, the registry's current view is the truth),
//! replaces or removes their documents and commits with the last entry's position. A restart
//! resumes from the committed position; an entry is never skipped, at worst re-applied, and
//! re-applying gives the same document.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use registry::model::ChildStatus;
use registry::{ReadScope, Store};

use crate::error::Result;
use crate::index::{Change, SearchIndex};

/// Outbox entries read per round by the background follower.
pub const BATCH: i64 = 1000;

/// Applies at most `batch` outbox entries after the index's position; returns how many.
pub async fn catch_up_once(
    store: &dyn Store,
    index: &Arc<SearchIndex>,
    batch: i64,
) -> Result<usize> {
    let entries = store.outbox_after(index.position(), batch).await?;
    let Some(last) = entries.last().map(|entry| entry.seq) else {
        return Ok(0);
    };
    let touched: BTreeSet<_> = entries.iter().map(|entry| entry.child_id).collect();
    let mut changes: Vec<Change> = Vec::with_capacity(touched.len());
    for child_id in touched {
        let view = store
            .child(child_id, &ReadScope::All)
            .await?
            .filter(|view| view.status == ChildStatus::Active);
        changes.push((child_id, view));
    }
    let index = Arc::clone(index);
    tokio::task::spawn_blocking(move || index.apply(changes, last)).await??;
    Ok(entries.len())
}

/// Applies outbox entries until the index reaches the outbox head as it was when called.
pub async fn catch_up(store: &dyn Store, index: &Arc<SearchIndex>, batch: i64) -> Result<()> {
    let head = store.outbox_head().await?;
    while index.position() < head {
        if catch_up_once(store, index, batch).await? == 0 {
            break;
        }
    }
    Ok(())
}

/// Follows the outbox in the background, checking for new entries every `interval`. Errors
/// (a database restart, a full disk) are logged and retried; the task runs until aborted.
pub fn spawn(
    store: Arc<dyn Store>,
    index: Arc<SearchIndex>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures: u32 = 0;
        loop {
            match catch_up_once(store.as_ref(), &index, BATCH).await {
                Ok(applied) => {
                    failures = 0;
                    if applied as i64 >= BATCH {
                        continue;
                    }
                    if applied > 0 {
                        tracing::debug!(
                            applied,
                            position = index.position(),
                            "search index updated"
                        );
                    }
                    tokio::time::sleep(interval).await;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, failures, "search index follower failed; retrying");
                    tokio::time::sleep(interval * failures.min(25)).await;
                }
            }
        }
    })
}

//! Keeps the index up to date from the registry's outbox.
//!
//! Each round reads the outbox after the index's committed position, re-reads every child
//! those entries touch (whatever the entry says, the registry's current view is the truth),
//! replaces or removes their documents and commits with the last entry's position. A restart
//! resumes from the committed position; an entry is never skipped, at worst re-applied, and
//! re-applying gives the same document.
//!
//! The follower runs a round as soon as the gateway reports a write
//! ([`SearchIndex::registry_changed`]), and otherwise every polling interval: writes made by
//! another process (a second gateway on the same PostgreSQL, a bulk load) are found by polling.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use registry::model::ChildView;
use registry::{ChildId, ChildIdRange, Store};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::error::{Result, SearchError};
use crate::index::{Change, SearchIndex};

/// Outbox entries read per round by the background follower.
pub const BATCH: i64 = 1000;

/// Active children read per statement while rebuilding.
pub const REBUILD_PAGE: i64 = 2000;

/// Ranges of child IDs a rebuild reads side by side (about one per core of a small server:
/// each reader's statements run on a database connection of their own).
pub const REBUILD_READERS: usize = 2;

/// Applies at most `batch` outbox entries after the index's position; returns how many.
pub async fn catch_up_once(
    store: &dyn Store,
    index: &Arc<SearchIndex>,
    batch: i64,
) -> Result<usize> {
    let _changing = index.changing().await;
    let entries = store.outbox_after(index.position(), batch).await?;
    let Some(last) = entries.last().map(|entry| entry.seq) else {
        return Ok(0);
    };
    let touched: Vec<ChildId> = entries
        .iter()
        .map(|entry| entry.child_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut active: HashMap<ChildId, _> = store
        .active_children_among(&touched)
        .await?
        .into_iter()
        .map(|view| (view.child_id, view))
        .collect();
    // A touched child that is no longer active (merged) leaves the index.
    let changes: Vec<Change> = touched
        .into_iter()
        .map(|child_id| (child_id, active.remove(&child_id)))
        .collect();
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

/// Rebuilds the index from the registry's active children and commits once at the outbox head
/// read before the first page. The child ID space is split into `readers` ranges read side by
/// side, `page` children at a time, while the pages already read become documents: at a
/// million children a rebuild waits on the database more than it computes. Changes made while
/// it reads are either in the pages already or after that head, where the follower picks them
/// up (re-applying a change gives the same document). Much faster than replaying the whole
/// outbox, which reads each child once per entry that touched it. If it fails, nothing it
/// added is committed. It ends by merging the index into one segment
/// ([`SearchIndex::merge_segments`]; a few seconds at a million children).
pub async fn rebuild(
    store: &Arc<dyn Store>,
    index: &Arc<SearchIndex>,
    readers: usize,
    page: i64,
) -> Result<()> {
    let _changing = index.changing().await;
    let head = store.outbox_head().await?;
    let clearing = Arc::clone(index);
    tokio::task::spawn_blocking(move || clearing.clear()).await??;
    let added = add_active_children(store, index, readers, page).await;
    let finishing = Arc::clone(index);
    tokio::task::spawn_blocking(move || match added {
        Ok(()) => {
            finishing.commit_at(head)?;
            finishing.merge_segments()
        }
        Err(error) => {
            finishing.discard_uncommitted()?;
            Err(error)
        }
    })
    .await?
}

async fn add_active_children(
    store: &Arc<dyn Store>,
    index: &Arc<SearchIndex>,
    readers: usize,
    page: i64,
) -> Result<()> {
    let readers = readers.max(1);
    // A page waiting per reader keeps every reader busy while the index takes the last one.
    let (pages, mut read) = mpsc::channel::<Vec<ChildView>>(readers);
    let mut reading = JoinSet::new();
    for range in ChildIdRange::ALL.split(readers) {
        let (store, pages) = (Arc::clone(store), pages.clone());
        reading.spawn(async move {
            let mut rest = range;
            loop {
                let children = store.active_children(rest, page).await?;
                let Some(last) = children.last() else {
                    return Ok::<_, SearchError>(());
                };
                rest.after = Some(last.child_id);
                if pages.send(children).await.is_err() {
                    // The indexing side stopped on an error of its own, which it reports.
                    return Ok(());
                }
            }
        });
    }
    drop(pages);
    // Dropping the join set on an early return stops the readers.
    while let Some(children) = read.recv().await {
        let adding_to = Arc::clone(index);
        tokio::task::spawn_blocking(move || adding_to.add_children(children)).await??;
    }
    while let Some(reader) = reading.join_next().await {
        reader??;
    }
    Ok(())
}

/// Rebuilds an empty index over a registry that already has changes (a first start, or an
/// index cleared because its schema changed) from the active children, which at a million
/// children is many times faster than replaying the whole outbox. Returns whether it rebuilt.
pub async fn rebuild_if_empty(store: &Arc<dyn Store>, index: &Arc<SearchIndex>) -> Result<bool> {
    if index.position() > 0 || store.outbox_head().await? == 0 {
        return Ok(false);
    }
    rebuild(store, index, REBUILD_READERS, REBUILD_PAGE).await?;
    Ok(true)
}

/// Follows the outbox in the background: a round after each reported write, and at least
/// every `interval`. Errors (a database restart, a full disk) are logged and retried; the task
/// runs until aborted.
///
/// An empty index is rebuilt first ([`rebuild_if_empty`]); if that fails, following replays
/// the outbox from where the index is.
pub fn spawn(
    store: Arc<dyn Store>,
    index: Arc<SearchIndex>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match rebuild_if_empty(&store, &index).await {
            Ok(true) => tracing::info!(
                position = index.position(),
                "empty search index rebuilt from the registry"
            ),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "search index rebuild failed; replaying the change feed instead")
            }
        }
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
                    // Writes reported while the round ran left a wake-up behind, so none is
                    // missed; several fold into one round.
                    tokio::select! {
                        () = index.wait_for_registry_change() => {}
                        () = tokio::time::sleep(interval) => {}
                    }
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

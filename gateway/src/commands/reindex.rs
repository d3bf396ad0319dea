//! `child-registry reindex`, and starting the search index for `serve` and `demo`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use registry::Store;
use search::SearchIndex;

use super::instance_lock::InstanceLock;
use super::store_args::{block_on, StoreArgs};

/// How often the index follower looks for new outbox entries.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, clap::Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Directory of the search index (default: `search-index` in --data-dir for the embedded
    /// database, `child-registry-index` with --database-url).
    #[arg(long, env = "CHILD_REGISTRY_INDEX_DIR")]
    pub index_dir: Option<PathBuf>,
}

/// Where the search index lives: `--index-dir`, else beside the embedded database, else
/// `child-registry-index` in the working directory.
pub fn index_dir(store: &StoreArgs, index_dir: Option<&Path>) -> PathBuf {
    match (index_dir, &store.database_url) {
        (Some(dir), _) => dir.to_owned(),
        (None, None) => store.data_dir.join("search-index"),
        (None, Some(_)) => PathBuf::from("child-registry-index"),
    }
}

/// Opens the index in `dir` and follows the registry's outbox in the background. An index
/// ahead of the database's outbox belongs to another database: it is emptied and rebuilt.
pub async fn start_search(
    store: Arc<dyn Store>,
    dir: &Path,
) -> anyhow::Result<(Arc<SearchIndex>, tokio::task::JoinHandle<()>)> {
    let index = {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || SearchIndex::open(&dir)).await??
    };
    let head = store.outbox_head().await?;
    if index.position() > head {
        tracing::warn!(
            position = index.position(),
            head,
            "the search index is ahead of the database (another database?): rebuilding"
        );
        let clearing = Arc::clone(&index);
        tokio::task::spawn_blocking(move || clearing.clear()).await??;
    }
    let follower = search::follower::spawn(store, Arc::clone(&index), FOLLOW_INTERVAL);
    Ok((index, follower))
}

pub fn run(args: ReindexArgs) -> anyhow::Result<()> {
    let dir = index_dir(&args.store, args.index_dir.as_deref());
    // The index has one writer: a server on the same directory stops the rebuild here.
    let _lock = InstanceLock::for_node(&args.store, &dir)?;
    block_on(async move {
        let store = args.store.open().await?;
        let started = Instant::now();
        let index = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || SearchIndex::open(&dir)).await??
        };
        search::follower::rebuild(
            &store,
            &index,
            search::follower::REBUILD_READERS,
            search::follower::REBUILD_PAGE,
        )
        .await?;
        let merging = Arc::clone(&index);
        tokio::task::spawn_blocking(move || merging.finish_writing()).await??;
        println!(
            "reindexed {} children up to outbox position {} in {:.1} s into {}",
            index.num_children(),
            index.position(),
            started.elapsed().as_secs_f64(),
            dir.display()
        );
        Ok(())
    })
}

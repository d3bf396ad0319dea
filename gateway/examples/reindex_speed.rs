//! Rebuilding the search index from the database, three ways, on a registry bulk-loaded with
//! generated records:
//! - `per-child`: the outbox replayed from position 0, each touched child read with its own
//!   queries (`Store::child`): what `reindex` and the follower did before;
//! - `replay`: the outbox replayed, the touched children of each batch read together
//!   (`Store::active_children_among`): what the follower does now;
//! - `rebuild`: the active children read a page at a time (`Store::active_children`) in
//!   ranges of child IDs read side by side, committed once at the outbox head: what `reindex`
//!   does now. Run once per `--readers` value (1 is the rebuild before split ranges).
//!
//! It prints one Markdown row per backend, round, way and readers: children indexed, seconds,
//! children/s and the index size on disk. `--rounds` repeats the ways one after another, so
//! ratios between them hold on a noisy machine; `--keep DIR` (SQLite) loads the registry into
//! DIR once and reuses it in later runs.
//!
//! cargo run --release -p gateway --example reindex_speed -- --records 20000
//! cargo run --release -p gateway --example reindex_speed -- --records 1000000 --backends sqlite \
//!     --ways rebuild --readers 1,2 --rounds 2 --keep /work/reindex-1m

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use gateway::commands::demo::submission_from_generated;
use search::SearchIndex;

mod support;
use support::{Database, Registry};

#[derive(Parser)]
struct Args {
    /// Generated records bulk-loaded first (each becomes its own child).
    #[arg(long, default_value_t = 20_000)]
    records: usize,
    /// Comma-separated backends.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    /// Comma-separated ways: `per-child`, `replay`, `rebuild`.
    #[arg(
        long,
        default_value = "per-child,replay,rebuild",
        value_delimiter = ','
    )]
    ways: Vec<String>,
    /// Comma-separated numbers of ranges the `rebuild` way reads side by side.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    readers: Vec<usize>,
    /// How many times each way runs, in turn.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// SQLite only: keep the loaded registry in this directory and reuse it when it is there.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
    #[arg(
        long,
        env = "CHILD_REGISTRY_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
}

/// The follower before bulk reads: each touched child read on its own, 5000 entries a batch.
async fn replay_per_child(store: &dyn registry::Store, index: &Arc<SearchIndex>) {
    let head = store.outbox_head().await.unwrap();
    while index.position() < head {
        let entries = store.outbox_after(index.position(), 5000).await.unwrap();
        let Some(last) = entries.last().map(|entry| entry.seq) else {
            break;
        };
        let touched: std::collections::BTreeSet<_> =
            entries.iter().map(|entry| entry.child_id).collect();
        let mut changes = Vec::with_capacity(touched.len());
        for child_id in touched {
            let view = store
                .child(child_id, &registry::ReadScope::All)
                .await
                .unwrap()
                .filter(|view| view.status == registry::model::ChildStatus::Active);
            changes.push((child_id, view));
        }
        let applying = Arc::clone(index);
        tokio::task::spawn_blocking(move || applying.apply(changes, last))
            .await
            .unwrap()
            .unwrap();
    }
}

fn size_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                size_on_disk(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

/// Loads the generated records unless `--keep` already holds them.
async fn registry(args: &Args, backend: &str) -> Registry {
    const LOADED_MARKER: &str = "reindex-speed-loaded";
    let kept = args.keep.as_ref().filter(|_| backend == "sqlite");
    if let Some(dir) = kept {
        if dir.join(LOADED_MARKER).exists() {
            return Registry::Kept(registry::store::open_data_dir(dir).await.unwrap());
        }
    }
    let registry = match kept {
        Some(dir) => {
            std::fs::create_dir_all(dir).unwrap();
            Registry::Kept(registry::store::open_data_dir(dir).await.unwrap())
        }
        None => Registry::Fresh(Database::fresh(backend, &args.postgres_url).await),
    };
    let today = chrono::Utc::now().date_naive();
    let records: Vec<_> = synthetic::generate(&synthetic::GeneratorConfig {
        records: args.records,
        seed: 2026,
        ..Default::default()
    })
    .records
    .iter()
    .map(|record| {
        submission_from_generated(record)
            .unwrap()
            .validate(today)
            .unwrap()
    })
    .collect();
    let loading = Instant::now();
    registry.store().bulk_load(records, "bulk").await.unwrap();
    eprintln!(
        "{backend}: bulk-loaded {} records in {:.1} s",
        args.records,
        loading.elapsed().as_secs_f64()
    );
    if let Some(dir) = kept {
        std::fs::write(dir.join(LOADED_MARKER), args.records.to_string()).unwrap();
    }
    registry
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    println!("| backend | records | round | way | children | seconds | children/s | index size |");
    println!("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    for backend in &args.backends {
        let registry = registry(&args, backend).await;
        let store = registry.store();
        let runs: Vec<(String, usize)> = args
            .ways
            .iter()
            .flat_map(|way| match way.as_str() {
                "rebuild" => args
                    .readers
                    .iter()
                    .map(|&readers| (format!("rebuild, {readers} readers"), readers))
                    .collect(),
                other => vec![(other.to_owned(), 0)],
            })
            .collect();
        for round in 1..=args.rounds {
            for (way, readers) in &runs {
                let dir = tempfile::tempdir().unwrap();
                let index = {
                    let dir = dir.path().to_owned();
                    tokio::task::spawn_blocking(move || SearchIndex::open(&dir))
                        .await
                        .unwrap()
                        .unwrap()
                };
                let started = Instant::now();
                match way.as_str() {
                    "per-child" => replay_per_child(store.as_ref(), &index).await,
                    "replay" => search::follower::catch_up(store.as_ref(), &index, 5000)
                        .await
                        .unwrap(),
                    _ if *readers > 0 => search::follower::rebuild(
                        store,
                        &index,
                        *readers,
                        search::follower::REBUILD_PAGE,
                    )
                    .await
                    .unwrap(),
                    other => panic!("no way '{other}': per-child, replay or rebuild"),
                }
                let merging = Arc::clone(&index);
                tokio::task::spawn_blocking(move || merging.finish_writing())
                    .await
                    .unwrap()
                    .unwrap();
                let seconds = started.elapsed().as_secs_f64();
                let children = index.num_children();
                println!(
                    "| {backend} | {} | {round} | {way} | {children} | {seconds:.1} | {:.0} | {:.1} MB |",
                    args.records,
                    children as f64 / seconds,
                    size_on_disk(dir.path()) as f64 / 1e6
                );
            }
        }
        registry.finish().await;
    }
}

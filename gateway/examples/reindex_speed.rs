//! Rebuilding the search index from the database, three ways, on a registry bulk-loaded with
//! generated records:
//! - `per-child`: the outbox replayed from position 0, each touched child read with its own
//!   queries (`Store::child`): what `reindex` and the follower did before;
//! - `replay`: the outbox replayed, the touched children of each batch read together
//!   (`Store::active_children_among`): what the follower does now;
//! - `rebuild`: the active children read a page at a time (`Store::active_children`) and
//!   committed once at the outbox head: what `reindex` does now.
//!
//! It prints one Markdown row per backend and way: children indexed, seconds, children/s and
//! the index size on disk.
//!
//! cargo run --release -p gateway --example reindex_speed -- --records 20000

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use gateway::commands::demo::submission_from_generated;
use search::SearchIndex;

mod support;
use support::Database;

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

#[tokio::main]
async fn main() {
    let args = Args::parse();
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

    println!("| backend | records | way | children | seconds | children/s | index size |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
    for backend in &args.backends {
        let database = Database::fresh(backend, &args.postgres_url).await;
        let loading = Instant::now();
        database
            .store
            .bulk_load(records.clone(), "bulk")
            .await
            .unwrap();
        eprintln!(
            "{backend}: bulk-loaded {} records in {:.1} s",
            records.len(),
            loading.elapsed().as_secs_f64()
        );
        for way in &args.ways {
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
                "per-child" => replay_per_child(database.store.as_ref(), &index).await,
                "replay" => search::follower::catch_up(database.store.as_ref(), &index, 5000)
                    .await
                    .unwrap(),
                "rebuild" => search::follower::rebuild(
                    database.store.as_ref(),
                    &index,
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
                "| {backend} | {} | {way} | {children} | {seconds:.1} | {:.0} | {:.1} MB |",
                records.len(),
                children as f64 / seconds,
                size_on_disk(dir.path()) as f64 / 1e6
            );
        }
        database.finish().await;
    }
}

//! What the load generators share: a fresh database per run, concurrent drivers, percentiles
//! and one agency key per source system.

#![allow(dead_code)]

pub mod loaded;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use registry::clients::{NewClient, Role};
use registry::model::RecordSubmission;
use registry::store::{self, postgres as pg};
use registry::Store;

pub struct Database {
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    scratch: Option<pg::ScratchDatabase>,
}

impl Database {
    pub async fn fresh(backend: &str, postgres_url: &str) -> Database {
        let dir = tempfile::tempdir().unwrap();
        if backend == "postgres" {
            let scratch = pg::ScratchDatabase::create(postgres_url).await.unwrap();
            Database {
                store: store::open(&scratch.url).await.unwrap(),
                _dir: dir,
                scratch: Some(scratch),
            }
        } else {
            Database {
                store: store::open_data_dir(dir.path()).await.unwrap(),
                _dir: dir,
                scratch: None,
            }
        }
    }

    /// A file copy of the PostgreSQL database `template` (a registry loaded once and kept).
    pub async fn copy_of(
        postgres_url: &str,
        template: &str,
        options: &store::StoreOptions,
    ) -> Database {
        let scratch = pg::ScratchDatabase::copy_of(postgres_url, template)
            .await
            .unwrap();
        Database {
            store: store::open_with(&scratch.url, options).await.unwrap(),
            _dir: tempfile::tempdir().unwrap(),
            scratch: Some(scratch),
        }
    }

    /// The PostgreSQL database's URL.
    pub fn url(&self) -> Option<&str> {
        self.scratch.as_ref().map(|scratch| scratch.url.as_str())
    }

    pub async fn finish(self) {
        drop(self.store);
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await.unwrap();
        }
    }
}

/// What a run measures on: a fresh database, or a registry kept in a directory between runs.
pub enum Registry {
    Fresh(Database),
    Kept(Arc<dyn Store>),
}

impl Registry {
    pub fn store(&self) -> &Arc<dyn Store> {
        match self {
            Registry::Fresh(database) => &database.store,
            Registry::Kept(store) => store,
        }
    }

    /// Drops a fresh database; a kept registry stays.
    pub async fn finish(self) {
        if let Registry::Fresh(database) = self {
            database.finish().await;
        }
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Runs `work` on every item with `concurrency` workers; wall time and sorted latencies.
pub async fn drive<T, F, Fut, R>(
    items: Arc<Vec<T>>,
    concurrency: usize,
    work: F,
) -> (Duration, Vec<Duration>, Vec<(usize, R)>)
where
    T: Clone + Send + Sync + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = R> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, items, work) = (next.clone(), items.clone(), work.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(index) else { break };
                let begun = Instant::now();
                let result = work(item.clone()).await;
                out.push((begun.elapsed(), index, result));
            }
            out
        }));
    }
    let mut latencies = Vec::new();
    let mut results = Vec::new();
    for worker in workers {
        for (latency, index, result) in worker.await.unwrap() {
            latencies.push(latency);
            results.push((index, result));
        }
    }
    let wall = started.elapsed();
    latencies.sort();
    (wall, latencies, results)
}

/// One agency key per source system among `submissions`.
pub async fn agency_keys(
    store: &Arc<dyn Store>,
    submissions: &[RecordSubmission],
) -> Arc<HashMap<String, String>> {
    let mut keys = HashMap::new();
    for submission in submissions {
        if !keys.contains_key(&submission.source_system) {
            let (_, key) = store
                .create_client(NewClient {
                    name: "load".into(),
                    agency: Some(submission.source_system.clone()),
                    role: Role::Agency,
                    expires_at: None,
                })
                .await
                .unwrap();
            keys.insert(submission.source_system.clone(), key);
        }
    }
    Arc::new(keys)
}

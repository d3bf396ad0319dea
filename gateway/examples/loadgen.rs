//! A bounded load generator for registration throughput, on loopback only.
//!
//! For each backend and concurrency it starts the real router on a fresh database, then
//! registers distinct generated records: first straight through the store (the baseline: the
//! database's own cost), then over HTTP with N concurrent clients. It prints one Markdown row
//! per run with records/s, latency percentiles and the HTTP/baseline ratio.
//!
//! cargo run --release -p gateway --example loadgen -- --records 4000 --concurrency 1,16

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use gateway::commands::demo::submission_from_generated;
use gateway::{build_app, AppState};
use registry::clients::{NewClient, Role};
use registry::model::RecordSubmission;
use registry::store::{self, postgres as pg};
use registry::Store;

#[derive(Parser)]
struct Args {
    /// Records per run (each run uses a fresh database).
    #[arg(long, default_value_t = 4000)]
    records: usize,
    /// Comma-separated numbers of concurrent HTTP clients.
    #[arg(long, default_value = "1,16", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Comma-separated backends.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    #[arg(
        long,
        env = "CHILD_REGISTRY_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
}

struct Database {
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    scratch: Option<pg::ScratchDatabase>,
}

async fn fresh(backend: &str, postgres_url: &str) -> Database {
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

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Runs `work` for every submission with `concurrency` workers; returns wall time and latencies.
async fn drive<F, Fut>(
    submissions: Arc<Vec<RecordSubmission>>,
    concurrency: usize,
    work: F,
) -> (Duration, Vec<Duration>)
where
    F: Fn(RecordSubmission) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, submissions, work) = (next.clone(), submissions.clone(), work.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(submission) = submissions.get(index) else {
                    break;
                };
                let begun = Instant::now();
                work(submission.clone()).await;
                latencies.push(begun.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let wall = started.elapsed();
    latencies.sort();
    (wall, latencies)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let config = synthetic::GeneratorConfig {
        records: args.records * 2,
        seed: 99,
        ..Default::default()
    };
    let generated = synthetic::generate(&config).records;
    let (first_half, second_half) = generated.split_at(args.records);
    let baseline_set: Arc<Vec<RecordSubmission>> = Arc::new(
        first_half
            .iter()
            .map(|record| submission_from_generated(record).unwrap())
            .collect(),
    );
    let http_set: Arc<Vec<RecordSubmission>> = Arc::new(
        second_half
            .iter()
            .map(|record| submission_from_generated(record).unwrap())
            .collect(),
    );
    let today = chrono::Utc::now().date_naive();

    println!("| backend | clients | store baseline rec/s | HTTP rec/s | HTTP / baseline | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for backend in &args.backends {
        for &concurrency in &args.concurrency {
            let database = fresh(backend, &args.postgres_url).await;
            let store = database.store.clone();
            let (baseline_wall, _) = drive(baseline_set.clone(), concurrency, move |submission| {
                let store = store.clone();
                async move {
                    store
                        .register(submission.validate(today).unwrap(), "baseline")
                        .await
                        .unwrap();
                }
            })
            .await;

            // One key per agency system in the data.
            let mut keys = std::collections::HashMap::new();
            for submission in http_set.iter() {
                if !keys.contains_key(&submission.source_system) {
                    let (_, key) = database
                        .store
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
            let keys = Arc::new(keys);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/v1/records", listener.local_addr().unwrap());
            let app = build_app(AppState::new(database.store.clone()));
            let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(concurrency)
                .build()
                .unwrap();
            let (http_wall, latencies) = drive(http_set.clone(), concurrency, move |submission| {
                let (http, url, keys) = (http.clone(), url.clone(), keys.clone());
                async move {
                    let response = http
                        .post(&url)
                        .bearer_auth(&keys[&submission.source_system])
                        .json(&submission)
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                }
            })
            .await;
            server.abort();

            let baseline_rate = args.records as f64 / baseline_wall.as_secs_f64();
            let http_rate = args.records as f64 / http_wall.as_secs_f64();
            println!(
                "| {backend} | {concurrency} | {baseline_rate:.0} | {http_rate:.0} | {:.2} | {:.2} | {:.2} |",
                http_rate / baseline_rate,
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.99)
            );
            drop(database.store);
            if let Some(scratch) = database.scratch {
                scratch.drop_database().await.unwrap();
            }
        }
    }
}

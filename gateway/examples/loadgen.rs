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

use clap::Parser;
use gateway::commands::demo::submission_from_generated;
use gateway::{build_app, AppState};
use registry::model::RecordSubmission;

mod support;
use support::{drive, percentile, Database};

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
            let database = Database::fresh(backend, &args.postgres_url).await;
            let store = database.store.clone();
            let (baseline_wall, _, _) =
                drive(baseline_set.clone(), concurrency, move |submission| {
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
            let keys = support::agency_keys(&database.store, &http_set).await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/v1/records", listener.local_addr().unwrap());
            let app = build_app(AppState::new(database.store.clone()));
            let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(concurrency)
                .build()
                .unwrap();
            let (http_wall, latencies, _) =
                drive(http_set.clone(), concurrency, move |submission| {
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
            database.finish().await;
        }
    }
}

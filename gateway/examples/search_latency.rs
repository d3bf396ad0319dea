//! Registration to findable: how long after `POST /v1/records` answers does `GET /v1/search`
//! find the child, over HTTP on loopback, with the server's own index follower.
//!
//! For each backend it starts the real router on a fresh database (optionally preloaded with
//! generated children, so the index is not empty), then registers `--probes` generated records
//! one at a time. After each registration is acknowledged it searches for the returned child ID
//! every `--poll-ms` until the child is a hit, and records the time from the acknowledgement to
//! that first hit. It prints one Markdown row per backend.
//!
//! cargo run --release -p gateway --example search_latency -- --preload 5000 --probes 200

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use gateway::commands::demo::submission_from_generated;
use gateway::session::SecurityConfig;
use gateway::{build_app, AppState};
use registry::clients::{NewClient, Role};
use registry::model::RecordSubmission;
use serde_json::Value;

mod support;
use support::{percentile, Database};

#[derive(Parser)]
struct Args {
    /// Generated records bulk-loaded (and indexed) before measuring.
    #[arg(long, default_value_t = 5000)]
    preload: usize,
    /// Registrations measured, one after another.
    #[arg(long, default_value_t = 200)]
    probes: usize,
    /// Pause between searches while waiting for a child to appear.
    #[arg(long, default_value_t = 2)]
    poll_ms: u64,
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

async fn client_key(store: &Arc<dyn registry::Store>, role: Role, agency: Option<&str>) -> String {
    let (_, key) = store
        .create_client(NewClient {
            name: "search latency".into(),
            agency: agency.map(str::to_owned),
            role,
            expires_at: None,
        })
        .await
        .unwrap();
    key
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let generated = synthetic::generate(&synthetic::GeneratorConfig {
        records: args.preload + args.probes,
        seed: 31,
        ..Default::default()
    })
    .records;
    let today = chrono::Utc::now().date_naive();
    let (preload, probes) = generated.split_at(args.preload);
    let preload: Vec<_> = preload
        .iter()
        .map(|record| {
            submission_from_generated(record)
                .unwrap()
                .validate(today)
                .unwrap()
        })
        .collect();
    let probes: Vec<RecordSubmission> = probes
        .iter()
        .map(|record| submission_from_generated(record).unwrap())
        .collect();
    // Searches poll far faster than any person would; the rate limits must not be measured.
    let security = SecurityConfig {
        requests_per_minute_per_credential: 10_000_000,
        requests_per_minute_per_address: 10_000_000,
        ..SecurityConfig::default()
    };

    println!("| backend | preloaded records | probes | p50 ms | p90 ms | p99 ms | max ms | registration p50 ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for backend in &args.backends {
        let database = Database::fresh(backend, &args.postgres_url).await;
        let store = database.store.clone();
        store.bulk_load(preload.clone(), "bulk").await.unwrap();
        let index_dir = tempfile::tempdir().unwrap();
        let (index, follower) =
            gateway::commands::reindex::start_search(store.clone(), index_dir.path())
                .await
                .unwrap();
        let head = store.outbox_head().await.unwrap();
        while index.position() < head {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let official = client_key(&store, Role::NationalOfficial, None).await;
        let mut agency_keys = std::collections::HashMap::new();
        for probe in &probes {
            if !agency_keys.contains_key(&probe.source_system) {
                let key = client_key(&store, Role::Agency, Some(&probe.source_system)).await;
                agency_keys.insert(probe.source_system.clone(), key);
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = build_app(
            AppState::new(store.clone())
                .with_search(index.clone())
                .with_security(security.clone()),
        );
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let http = reqwest::Client::new();

        let mut findable = Vec::with_capacity(probes.len());
        let mut registration = Vec::with_capacity(probes.len());
        for probe in &probes {
            let sent = Instant::now();
            let response = http
                .post(format!("{url}/v1/records"))
                .bearer_auth(&agency_keys[&probe.source_system])
                .json(probe)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let body: Value = response.json().await.unwrap();
            let acknowledged = Instant::now();
            registration.push(acknowledged - sent);
            let child_id = body["child_id"].as_str().unwrap().to_owned();
            loop {
                let found: Value = http
                    .get(format!("{url}/v1/search?q={child_id}&limit=1"))
                    .bearer_auth(&official)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if found["hits"][0]["child_id"] == child_id.as_str() {
                    break;
                }
                assert!(
                    acknowledged.elapsed() < Duration::from_secs(30),
                    "{child_id} not findable after 30 s"
                );
                tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
            }
            findable.push(acknowledged.elapsed());
        }
        findable.sort();
        registration.sort();
        println!(
            "| {backend} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            args.preload,
            probes.len(),
            percentile(&findable, 0.50),
            percentile(&findable, 0.90),
            percentile(&findable, 0.99),
            percentile(&findable, 1.0),
            percentile(&registration, 0.50),
        );
        server.abort();
        follower.abort();
        drop(index);
        database.finish().await;
    }
}

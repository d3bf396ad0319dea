//! What tracing costs per request, on loopback only.
//!
//! Starts the real router on a fresh SQLite registry and sends requests with 16 concurrent
//! clients: `GET /healthz` (nothing but the layers: the overhead at its largest share) and
//! `GET /v1/children/{id}` (a real read, audited). `--mode` sets up telemetry as `serve` does:
//! `off` (no subscriber), `spans` (spans and trace IDs, nothing exported: the default of
//! `serve`) or `otlp` (spans exported over OTLP/HTTP to a collector stub on loopback). A global
//! subscriber is once per process, so each mode is its own run:
//!
//! for mode in off spans otlp; do cargo run --release -p gateway --example tracing_overhead -- --mode $mode; done

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use clap::Parser;
use gateway::commands::demo::submission_from_generated;
use gateway::telemetry::Telemetry;
use gateway::{build_app, AppState};
use registry::clients::{NewClient, Role};

mod support;
use support::{drive, percentile, Database};

#[derive(Parser)]
struct Args {
    /// off | spans | otlp
    #[arg(long, default_value = "spans")]
    mode: String,
    /// Requests per route.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

fn main() {
    let args = Args::parse();
    // The collector stub's port is taken before the runtime starts: the OTLP exporter's HTTP
    // client must be built outside it.
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let telemetry = match args.mode.as_str() {
        "off" => None,
        "spans" => Some(Telemetry::init(None).unwrap()),
        "otlp" => Some(Telemetry::init(Some(&endpoint)).unwrap()),
        other => panic!("unknown mode {other}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(args, collector));
    drop(runtime);
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
}

async fn run(args: Args, collector: std::net::TcpListener) {
    collector.set_nonblocking(true).unwrap();
    let collector = tokio::net::TcpListener::from_std(collector).unwrap();
    tokio::spawn(async move {
        let stub = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(|| async { axum::http::StatusCode::OK }),
        );
        axum::serve(collector, stub).await.unwrap();
    });

    let database = Database::fresh("sqlite", "").await;
    let store = database.store.clone();
    let generated = synthetic::generate(&synthetic::GeneratorConfig {
        records: 200,
        seed: 5,
        events: false,
        ..Default::default()
    })
    .records;
    let today = chrono::Utc::now().date_naive();
    let mut children = Vec::new();
    for record in &generated {
        let Ok(record) = submission_from_generated(record).unwrap().validate(today) else {
            continue;
        };
        children.push(store.register(record, "load").await.unwrap().child_id);
    }
    let (_, key) = store
        .create_client(NewClient {
            name: "overhead".into(),
            agency: None,
            role: Role::NationalOfficial,
            expires_at: None,
        })
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = build_app(AppState::new(store.clone()));
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let http = reqwest::Client::new();
    for (route, paths) in [
        ("GET /healthz", vec!["/healthz".to_owned()]),
        (
            "GET /v1/children/{id}",
            children
                .iter()
                .map(|child| format!("/v1/children/{child}"))
                .collect(),
        ),
    ] {
        let items: Arc<Vec<String>> = Arc::new(
            (0..args.requests)
                .map(|n| paths[n % paths.len()].clone())
                .collect(),
        );
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        let (wall, latencies, results) = drive(items, args.concurrency, move |path: String| {
            let (http, url, key) = (http.clone(), url.clone(), key.clone());
            async move {
                http.get(format!("{url}{path}"))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .map(|response| response.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
        assert!(results.iter().all(|(_, ok)| *ok), "every request succeeded");
        println!(
            "| {} | {route} | {} | {:.0} | {:.3} | {:.3} |",
            args.mode,
            args.requests,
            args.requests as f64 / wall.as_secs_f64(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
        );
    }
    server.abort();
    drop(store);
    database.finish().await;
}

//! Search under load: concurrent officials searching over HTTP on loopback, against the same
//! searches run in process with the same concurrency (the baseline, measured in the same run).
//!
//! It loads generated children into an embedded registry (or opens one kept by an earlier run
//! of this example, `ui_pages` or the `search_overhead` bench with the same `--keep`), starts
//! the real router, logs a national official in, and sends `--queries` searches (names and
//! birth date as typed from generated records, `--limit` hits) from `--clients` concurrent
//! clients, each waiting for its answer before sending the next. The baseline runs the same
//! searches through the index itself (`SearchIndex::search`, the call the handler makes) with
//! the same concurrency: no HTTP, session, redaction, audit entry or JSON. Each round measures
//! both; one Markdown row per round.
//!
//! ```sh
//! cargo run --release -p gateway --example search_load -- --children 20000
//! # a million children, loaded once into a kept directory (BENCHMARKS.md, "A million children")
//! cargo run --release -p gateway --example search_load -- --children 1000000 --keep /path/to/ui1m
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use registry::ReadScope;
use search::SearchRequest;

mod support;
use support::loaded::{open_or_load, search_queries, session_cookie, Population};
use support::{drive, percentile};

// As the `child-registry` binary runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// Distinct generated children in the registry.
    #[arg(long, default_value_t = 20_000)]
    children: usize,
    /// Keep the embedded registry and its index here (or measure the one kept there).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Searches per measurement.
    #[arg(long, default_value_t = 4_000)]
    queries: usize,
    /// Hits asked for per search.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Rounds, each measuring the baseline and then HTTP.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Measure over HTTP only (to profile the gateway's share); the in-process columns read "–".
    #[arg(long)]
    no_baseline: bool,
}

/// Throughput and latency percentiles (ms) of one measurement.
struct Measured {
    per_second: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Measured {
    fn new(wall: Duration, latencies: &[Duration]) -> Self {
        Measured {
            per_second: latencies.len() as f64 / wall.as_secs_f64(),
            p50: percentile(latencies, 0.50),
            p90: percentile(latencies, 0.90),
            p99: percentile(latencies, 0.99),
            max: percentile(latencies, 1.0),
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let loaded = open_or_load(&Population {
        children: args.children,
        duplicates: 0,
        backend: "sqlite",
        postgres_url: "",
        keep: args.keep.as_deref(),
    })
    .await;
    let ranking = loaded.store.matcher(None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = loaded.unthrottled_app();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let cookie = session_cookie(&http, &base, "official").await;
    let queries = Arc::new(search_queries(args.children, args.queries));
    let limit = args.limit;
    let urls: Arc<Vec<String>> = Arc::new(
        queries
            .iter()
            .map(|query| {
                let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
                format!("{base}/v1/search?q={q}&limit={limit}")
            })
            .collect(),
    );
    let search_over_http = {
        let (http, cookie) = (http.clone(), cookie.clone());
        move |url: String| {
            let (http, cookie) = (http.clone(), cookie.clone());
            async move {
                let response = http.get(&url).header("cookie", &cookie).send().await;
                match response {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.is_ok()
                    }
                    _ => false,
                }
            }
        }
    };
    let search_in_process = {
        let (index, ranking) = (loaded.index.clone(), ranking.clone());
        move |query: String| {
            let (index, ranking) = (index.clone(), ranking.clone());
            async move {
                index
                    .search(
                        SearchRequest::text(&query, limit),
                        ReadScope::All,
                        Some(ranking),
                    )
                    .await
                    .is_ok()
            }
        }
    };
    // Warm the caches both paths read (index pages, the session, the audit table).
    let warm = Arc::new(urls.iter().take(200).cloned().collect::<Vec<_>>());
    drive(warm, 1, search_over_http.clone()).await;

    println!(
        "| children | clients | searches | in process q/s | p50 / p99 ms | over HTTP q/s | p50 / p90 / p99 / max ms | HTTP / in process (q/s) | failed |"
    );
    println!("| ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: |");
    for _ in 0..args.rounds {
        let mut failed = 0;
        let in_process = if args.no_baseline {
            None
        } else {
            let (wall, latencies, answered) =
                drive(queries.clone(), args.clients, search_in_process.clone()).await;
            failed += answered.iter().filter(|(_, ok)| !ok).count();
            Some(Measured::new(wall, &latencies))
        };
        let (wall, latencies, answered) =
            drive(urls.clone(), args.clients, search_over_http.clone()).await;
        failed += answered.iter().filter(|(_, ok)| !ok).count();
        let over_http = Measured::new(wall, &latencies);
        let (in_process_columns, ratio) = match &in_process {
            Some(raw) => (
                format!("{:.0} | {:.1} / {:.1}", raw.per_second, raw.p50, raw.p99),
                format!("{:.2}", over_http.per_second / raw.per_second),
            ),
            None => ("– | –".to_owned(), "–".to_owned()),
        };
        println!(
            "| {} | {} | {} | {in_process_columns} | {:.0} | {:.1} / {:.1} / {:.1} / {:.1} | {ratio} | {failed} |",
            loaded.index.num_children(),
            args.clients,
            queries.len(),
            over_http.per_second,
            over_http.p50,
            over_http.p90,
            over_http.p99,
            over_http.max,
        );
    }
    loaded.finish().await;
}

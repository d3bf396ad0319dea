//! Web UI page times and weights against a registry of `--children` generated children.
//!
//! Bulk-loads distinct children, registers `--duplicates` further records of some of them
//! with matching (so the review queue holds candidates), indexes everything, then requests
//! every page `--requests` times in turn on loopback as the people who use it. Each page is
//! set beside the JSON API call it is built from (same run, same registry), so the figures are
//! ratios to a baseline, not absolute times on a noisy machine.
//!
//! ```sh
//! cargo run --release -p gateway --example ui_pages -- --children 100000
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use clap::Parser;
use gateway::{build_app, AppState};
use support::loaded::{open_or_load, session_cookie, Loaded, Population};
use support::percentile;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    children: usize,
    /// Records of already loaded children registered with matching (they fill the queue).
    #[arg(long, default_value_t = 300)]
    duplicates: usize,
    #[arg(long, default_value_t = 50)]
    requests: usize,
    #[arg(long, default_value = "sqlite")]
    backend: String,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// Keep the embedded registry and its index here, and measure one loaded by an earlier
    /// run with the same directory without loading again (a million children take the best
    /// part of an hour to load, the measurement a minute).
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
}

/// Extra request headers (the session cookie).
type Headers = Vec<(&'static str, String)>;

struct Measured {
    p50: f64,
    p99: f64,
    bytes: usize,
    gzip_bytes: usize,
}

/// Requests `path` `times` times in turn; latencies, then the body's size plain and gzipped.
async fn measure(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    auth: &Headers,
    times: usize,
) -> Measured {
    let get = |gzip: bool| {
        let mut request = http.get(format!("{base}{path}"));
        for (name, value) in auth {
            request = request.header(*name, value);
        }
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        request
    };
    let mut latencies: Vec<Duration> = Vec::with_capacity(times);
    let mut bytes = 0;
    for _ in 0..times {
        let started = Instant::now();
        let response = get(false).send().await.unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        latencies.push(started.elapsed());
        assert!(status.is_success(), "{path}: {status}");
        bytes = body.len();
    }
    // The client does not decode gzip, so this is what crosses a slow link.
    let gzip_bytes = get(true).send().await.unwrap().bytes().await.unwrap().len();
    latencies.sort();
    Measured {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        bytes,
        gzip_bytes,
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let loaded = open_or_load(&Population {
        children: args.children,
        duplicates: args.duplicates,
        backend: &args.backend,
        postgres_url: &args.postgres_url,
        keep: args.keep.as_deref(),
    })
    .await;
    measure_pages(&args, &loaded).await;
    loaded.finish().await;
}

/// Requests every page `--requests` times beside the API call it is built from.
async fn measure_pages(args: &Args, loaded: &Loaded) {
    let store = loaded.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = build_app(
        AppState::new(store.clone())
            .with_search(loaded.index.clone())
            .with_audit_key(loaded.audit_key.clone()),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let official = vec![("cookie", session_cookie(&http, &base, "official").await)];
    let steward = vec![("cookie", session_cookie(&http, &base, "steward").await)];
    let admin = vec![("cookie", session_cookie(&http, &base, "admin").await)];
    let none: Headers = Vec::new();

    // A child with two records and an open candidate, and a name to search for.
    let candidates: serde_json::Value = http
        .get(format!("{base}/v1/match-candidates?status=open&limit=1"))
        .header("cookie", &steward[0].1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let candidate = &candidates["candidates"][0];
    let candidate_id = candidate["id"].to_string();
    let child_id = candidate["candidate"]["current_child_id"]
        .as_str()
        .expect("the duplicates leave an open candidate")
        .to_owned();
    let child: serde_json::Value = http
        .get(format!("{base}/v1/children/{child_id}"))
        .header("cookie", &official[0].1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = format!(
        "{} {}",
        child["summary"]["given_name"].as_str().unwrap_or(""),
        child["summary"]["family_name"].as_str().unwrap_or("")
    );
    let q: String = form_urlencoded::byte_serialize(name.trim().as_bytes()).collect();

    let pages: Vec<(&str, String, &Headers, Option<String>)> = vec![
        ("login", "/login".to_owned(), &none, None),
        (
            "search (full page)",
            format!("/search?q={q}"),
            &official,
            Some(format!("/v1/search?q={q}")),
        ),
        (
            "search (as you type)",
            format!("/search?q={q}&fragment=1"),
            &official,
            Some(format!("/v1/search?q={q}")),
        ),
        (
            "child profile",
            format!("/children/{child_id}"),
            &official,
            Some(format!("/v1/children/{child_id}")),
        ),
        ("dashboard", "/dashboard".to_owned(), &official, None),
        (
            "dashboard (steward)",
            "/dashboard".to_owned(),
            &steward,
            None,
        ),
        (
            "review queue",
            "/review".to_owned(),
            &steward,
            Some("/v1/match-candidates?status=open".to_owned()),
        ),
        (
            "candidate",
            format!("/review/{candidate_id}"),
            &steward,
            Some(format!("/v1/match-candidates/{candidate_id}")),
        ),
        ("admin", "/admin".to_owned(), &admin, None),
        ("app.js", "/assets/app.js".to_owned(), &none, None),
        ("app.css", "/assets/app.css".to_owned(), &none, None),
    ];
    println!(
        "{} children ({}), {} requests per page",
        args.children, args.backend, args.requests
    );
    println!("| page | p50 ms | p99 ms | API p50 ms | page / API | bytes | gzip bytes |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (label, path, auth, api) in pages {
        let page = measure(&http, &base, &path, auth, args.requests).await;
        let (api_p50, ratio) = match api {
            Some(api) => {
                let api = measure(&http, &base, &api, auth, args.requests).await;
                (
                    format!("{:.1}", api.p50),
                    format!("{:.2}", page.p50 / api.p50),
                )
            }
            None => ("–".to_owned(), "–".to_owned()),
        };
        println!(
            "| {label} | {:.1} | {:.1} | {api_p50} | {ratio} | {} | {} |",
            page.p50, page.p99, page.bytes, page.gzip_bytes
        );
    }
    // The baseline of the dashboard: the same counts taken from the records, as every
    // uncached dashboard did before the running totals.
    let started = Instant::now();
    let recounted = store
        .registration_counts_from_records(&registry::ReadScope::All, 25)
        .await
        .unwrap();
    let totals = store
        .registration_counts(&registry::ReadScope::All, 25)
        .await
        .unwrap();
    assert_eq!(recounted.children, totals.children);
    println!(
        "dashboard counts taken from the records (the baseline): {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    server.abort();
}

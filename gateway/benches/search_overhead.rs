//! The gateway's time for a search against the raw tantivy query: the same queries, in the
//! same run, as criterion measures them.
//!
//! The gateway's share is everything a search over HTTP adds to the query: the loopback
//! round trip, the session check, parsing, the hop off the async runtime, redaction, the
//! audit record of what was searched and returned (one database write) and the JSON. A
//! second group measures pieces of that path in the same run, so the difference can be
//! read: HTTP and middleware alone, the session look-up, the hop off the runtime, the audit
//! entry alone.
//!
//! ```sh
//! SEARCH_BENCH_CHILDREN=20000 cargo bench -p gateway --bench search_overhead
//! # a million children, loaded once by `ui_pages --keep /path/to/ui1m` (BENCHMARKS.md)
//! SEARCH_BENCH_CHILDREN=1000000 SEARCH_BENCH_KEEP=/path/to/ui1m cargo bench -p gateway --bench search_overhead
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/support/mod.rs"]
mod support;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use registry::ReadScope;
use search::SearchRequest;
use support::loaded::{open_or_load, search_queries, session_cookie, Population};

/// Hits per page, as the search page asks for.
const LIMIT: usize = 20;

fn main() {
    let children: usize = std::env::var("SEARCH_BENCH_CHILDREN")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000);
    let keep = std::env::var_os("SEARCH_BENCH_KEEP").map(PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let loaded = runtime.block_on(open_or_load(&Population {
        children,
        duplicates: 0,
        backend: "sqlite",
        postgres_url: "",
        keep: keep.as_deref(),
    }));
    // The model the gateway ranks with, so the raw query does the same work.
    let ranking = runtime.block_on(loaded.store.matcher(None)).unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = loaded.unthrottled_app();
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let cookie = runtime.block_on(session_cookie(&http, &base, "official"));
    let queries = search_queries(children, 200);
    let urls: Vec<String> = queries
        .iter()
        .map(|query| {
            let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
            format!("{base}/v1/search?q={q}&limit={LIMIT}")
        })
        .collect();

    let mut criterion = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();
    let mut group = criterion.benchmark_group(format!("search, {children} children"));
    // Both walk the same queries in the same order.
    let next = Cell::new(0usize);
    let take = |count: usize| {
        let at = next.get();
        next.set(at + 1);
        at % count
    };
    group.bench_function("raw tantivy", |bench| {
        next.set(0);
        bench.iter(|| {
            let request = SearchRequest::text(&queries[take(queries.len())], LIMIT);
            loaded
                .index
                .search_blocking(&request, &ReadScope::All, Some(&ranking))
                .unwrap()
        });
    });
    // One official's request over loopback, answered with success.
    let get = |url: &str| {
        runtime.block_on(async {
            let response = http
                .get(url)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
            response.bytes().await.unwrap()
        })
    };
    group.bench_function("gateway over HTTP", |bench| {
        next.set(0);
        bench.iter(|| get(&urls[take(urls.len())]));
    });
    group.finish();

    // Where the gateway's share goes: the same HTTP stack answering with no database work,
    // then with the session look-up every search makes, and the audit entry alone.
    let mut parts = criterion.benchmark_group(format!("gateway parts, {children} children"));
    for (label, path) in [
        ("HTTP and middleware (GET /healthz)", "/healthz"),
        ("plus the session look-up (GET /v1/session)", "/v1/session"),
    ] {
        let url = format!("{base}{path}");
        parts.bench_function(label, |bench| bench.iter(|| get(&url)));
    }
    parts.bench_function("the search off the runtime (in process)", |bench| {
        next.set(0);
        bench.iter(|| {
            let request = SearchRequest::text(&queries[take(queries.len())], LIMIT);
            runtime
                .block_on(
                    loaded
                        .index
                        .search(request, ReadScope::All, Some(Arc::clone(&ranking))),
                )
                .unwrap()
        });
    });
    let returned: Vec<registry::ChildId> = loaded
        .index
        .search_blocking(
            &SearchRequest::text(&queries[0], LIMIT),
            &ReadScope::All,
            Some(&ranking),
        )
        .unwrap()
        .hits
        .iter()
        .map(|hit| hit.child_id)
        .collect();
    parts.bench_function("a search's audit entry, durable (in process)", |bench| {
        bench.iter(|| {
            let draft = registry::audit::AuditDraft {
                actor: registry::audit::Actor {
                    kind: "user".into(),
                    id: "official".into(),
                    role: Some("national_official".into()),
                },
                action: registry::audit::AuditAction::Search,
                target: None,
                children: returned.clone(),
                details: serde_json::json!({"query": {"q": queries[0]}, "total": returned.len()}),
                purpose: None,
                flagged: false,
                request_id: None,
            };
            runtime
                .block_on(loaded.store.append_audit(draft, &loaded.audit_key))
                .unwrap()
        });
    });
    parts.finish();
    criterion.final_summary();
    runtime.block_on(loaded.finish());
}

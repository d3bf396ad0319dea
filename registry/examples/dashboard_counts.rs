//! Times the dashboard's counts on an existing registry: read from the running totals (what
//! the page does) against counted from the records (what it did before), in the same run.
//!
//! `cargo run --release -p registry --example dashboard_counts -- sqlite:///path/registry.db 30`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use registry::ReadScope;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("a database URL (sqlite:///… or postgres://…)");
    let rounds: usize = args
        .next()
        .map_or(30, |n| n.parse().expect("a number of rounds"));
    let store = registry::store::open(&url).await.unwrap();
    let started = Instant::now();
    let folded = registry::counts::catch_up(store.as_ref()).await.unwrap();
    println!(
        "caught up: {folded} changes folded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let agency = store.source_systems().await.unwrap().into_iter().next();
    let all = store
        .registration_counts(&ReadScope::All, 25)
        .await
        .unwrap();
    let district = all.by_district.first().map(|count| count.key.clone());
    let mut scopes = vec![("all", ReadScope::All)];
    scopes.extend(agency.map(|a| ("an agency", ReadScope::SourceSystem(a))));
    scopes.extend(district.map(|d| ("the largest district", ReadScope::District(d))));
    println!(
        "| scope | children | totals p50 ms | totals max ms | from records ms | records / totals |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (label, scope) in scopes {
        let mut times = Vec::with_capacity(rounds);
        let mut children = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            children = store
                .registration_counts(&scope, 25)
                .await
                .unwrap()
                .children;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let started = Instant::now();
        let recounted = store
            .registration_counts_from_records(&scope, 25)
            .await
            .unwrap();
        let from_records = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(
            recounted.children, children,
            "{label}: totals and records disagree"
        );
        let p50 = times[times.len() / 2];
        println!(
            "| {label} | {children} | {p50:.2} | {:.2} | {from_records:.0} | {:.0}× |",
            times[times.len() - 1],
            from_records / p50
        );
    }
}

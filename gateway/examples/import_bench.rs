//! Bulk import throughput (issue 9): `--records` generated records (several agencies, with the
//! generator's duplicates across them) imported as one NDJSON job into an empty registry, with
//! matching, on each backend. The baseline, measured in the same run on a fresh registry of
//! the same backend, is `Store::bulk_load` of the same records (no matching: every record its
//! own child). Accuracy of the import's links is scored against the generator's truth.
//!
//! cargo run --release -p gateway --example import_bench -- --records 50000

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use clap::Parser;
use gateway::commands::demo::submission_from_generated;
use registry::audit::AuditKey;
use registry::imports::{self, ImportFormat, ImportMapping, NewImport};

mod support;
use support::Database;

// The allocator of the `child-registry` binary, whose `import` and `serve` this measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 50_000)]
    records: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Comma-separated backends.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    #[arg(
        long,
        env = "CHILD_REGISTRY_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// Leave out the `bulk_load` baseline (to profile the import alone).
    #[arg(long)]
    skip_baseline: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // `RUST_LOG=registry::import=debug` logs where each chunk's time goes.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let generated = synthetic::generate(&synthetic::GeneratorConfig {
        records: args.records,
        seed: args.seed,
        events: false,
        ..Default::default()
    })
    .records;
    let truth: Vec<u64> = generated.iter().map(|record| record.cluster_id).collect();
    let body: Vec<u8> = generated
        .iter()
        .map(|record| record.api_body().to_string())
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    let today = chrono::Utc::now().date_naive();
    let valid: Vec<_> = generated
        .iter()
        .filter_map(|record| submission_from_generated(record).ok()?.validate(today).ok())
        .collect();
    let clusters = truth.iter().collect::<std::collections::HashSet<_>>().len();
    println!(
        "{} records of {clusters} children from {} agencies ({} valid)",
        generated.len(),
        generated
            .iter()
            .map(|record| &record.source_system)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        valid.len()
    );
    println!("| backend | rows | bulk_load rec/s (no matching) | import rows/s (with matching) | ratio | linked | new | review | rejected | pairwise P | pairwise R | F1 |");
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for backend in &args.backends {
        let baseline_rate = if args.skip_baseline {
            f64::NAN
        } else {
            let baseline = Database::fresh(backend, &args.postgres_url).await;
            let started = Instant::now();
            let loaded = baseline
                .store
                .bulk_load(valid.clone(), "bench")
                .await
                .unwrap();
            let rate = loaded as f64 / started.elapsed().as_secs_f64();
            baseline.finish().await;
            rate
        };

        let database = Database::fresh(backend, &args.postgres_url).await;
        let store = database.store.clone();
        let rows = imports::check_body(&body, ImportFormat::Ndjson, ImportMapping::Canonical, None)
            .unwrap()
            .len() as i64;
        let started = Instant::now();
        let job = store
            .create_import(
                NewImport {
                    format: ImportFormat::Ndjson,
                    mapping: ImportMapping::Canonical,
                    source_system: None,
                    submitted_by: "cli:bench".to_owned(),
                    body: body.clone(),
                },
                rows,
            )
            .await
            .unwrap();
        let key = AuditKey::random();
        let job = imports::run_to_end(store.as_ref(), &job.id, &key, &mut |_| {})
            .await
            .unwrap();
        let import_rate = job.total_rows as f64 / started.elapsed().as_secs_f64();
        let results = store.import_results(&job.id).await.unwrap();
        let predicted: Vec<String> = results
            .iter()
            .map(|result| {
                result
                    .child_id
                    .map(|id| id.to_string())
                    .unwrap_or_else(|| format!("rejected-{}", result.row))
            })
            .collect();
        let scores = matching::evaluate::score_clusters(&predicted, &truth);
        println!(
            "| {backend} | {} | {baseline_rate:.0} | {import_rate:.0} | {:.2}× | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} |",
            job.total_rows,
            import_rate / baseline_rate,
            job.linked,
            job.new,
            job.review,
            job.rejected,
            scores.pairwise_precision,
            scores.pairwise_recall,
            scores.pairwise_f1,
        );
        database.finish().await;
    }
}

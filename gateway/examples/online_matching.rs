//! Online matching figures, on loopback only.
//!
//! `accuracy`: registers a generated data set record by record (16 concurrent clients, straight
//! through the store) and scores the registry's clustering against the ground truth, beside
//! batch `dedupe` with the same model on the same records.
//!
//! `throughput`: bulk-loads `--preload` distinct generated children, then registers `--records`
//! other generated records over HTTP with `--concurrency` clients, with matching, and reports
//! records/s and latency percentiles; the baseline is the same registrations into an empty
//! registry in the same run.
//!
//! cargo run --release -p gateway --example online_matching -- accuracy --records 10000
//! cargo run --release -p gateway --example online_matching -- throughput --preload 1000000 --records 20000
//! cargo run --release -p gateway --example online_matching -- throughput --preload 1000000 --records 4000 \
//!     --backends sqlite --preloaded DIR   # loads DIR once; measure on copies of it afterwards
//! cargo run --release -p gateway --example online_matching -- throughput --preload 1000000 --records 4000 \
//!     --backends sqlite --preloaded COPY_OF_DIR --skip-measured 4000 --warm   # as `serve` runs
//! cargo run --release -p gateway --example online_matching -- throughput --preload 1000000 --records 4000 \
//!     --backends postgres --preloaded-postgres om_1m --warm   # loads om_1m once, measures on copies

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use gateway::commands::demo::submission_from_generated;
use gateway::{build_app, AppState};
use matching::{ChildFields, Dataset, NoProgress, Record};
use registry::model::{MatchOutcome, RecordSubmission};
use synthetic::GeneratedRecord;

mod support;
use support::{drive, percentile, Database, Registry};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
    /// Comma-separated backends.
    #[arg(
        long,
        global = true,
        default_value = "sqlite,postgres",
        value_delimiter = ','
    )]
    backends: Vec<String>,
    #[arg(
        long,
        global = true,
        env = "CHILD_REGISTRY_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    #[arg(long, global = true, default_value_t = 16)]
    concurrency: usize,
}

#[derive(Subcommand)]
enum Mode {
    Accuracy {
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Register under the bundled model with this automatic-link threshold instead of its
        /// own (a model version activated first, as a registry's owners would).
        #[arg(long)]
        link: Option<f64>,
        /// And this review threshold.
        #[arg(long)]
        review: Option<f64>,
    },
    Throughput(Throughput),
}

#[derive(clap::Args)]
struct Throughput {
    /// Distinct children bulk-loaded before measuring.
    #[arg(long, default_value_t = 100_000)]
    preload: usize,
    /// Registrations measured over HTTP.
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// SQLite: measure into this data directory's registry, bulk-loading the `--preload`
    /// children into it first unless an earlier run did. The registrations are written
    /// into it too: keep a copy of the loaded directory and measure on copies of it.
    #[arg(long)]
    preloaded: Option<std::path::PathBuf>,
    /// PostgreSQL: bulk-load the `--preload` children once into the database of this name
    /// on the `--postgres-url` server (kept between runs), and measure on a file copy of it.
    #[arg(long)]
    preloaded_postgres: Option<String>,
    /// With `--preloaded-postgres`: read the copy's blocking keys, source records and their
    /// indexes into PostgreSQL's shared buffers first (`pg_prewarm`), as a server that has
    /// been running a while holds them. A fresh copy's pages are otherwise all cold.
    #[arg(long)]
    prewarm_postgres: bool,
    /// With `--preloaded` or `--preloaded-postgres`: stored records the registry keeps prepared
    /// for comparison.
    #[arg(long, default_value_t = registry::store::DEFAULT_PREPARED_RECORDS)]
    prepared_records: usize,
    /// Prepare the stored records for matching before measuring, as `serve` does in the
    /// background after starting (`Store::warm_match_cache`).
    #[arg(long)]
    warm: bool,
    /// Leave out the first N records an earlier run measured (into a copy of the same
    /// `--preloaded` registry, which holds them now): the population stays the same, and
    /// the records measured are new to the registry again.
    #[arg(long, default_value_t = 0)]
    skip_measured: usize,
}

/// Marks a kept registry (a file in the SQLite directory, a comment on the PostgreSQL
/// database) as loaded to the end.
const LOADED_MARKER: &str = "online-matching-preloaded";

fn match_record(record: &GeneratedRecord) -> Record {
    let born = record
        .date_of_birth
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    Record::child(&ChildFields {
        record_id: &record.record_id,
        source_system: &record.source_system,
        source_record_id: &record.source_record_id,
        given_name: record.given_name.as_deref().unwrap_or_default(),
        family_name: record.family_name.as_deref().unwrap_or_default(),
        sex: record.sex.as_deref().unwrap_or_default(),
        date_of_birth: &born,
        date_of_birth_estimated: Some(record.date_of_birth_estimated),
        district: record.district.as_deref().unwrap_or_default(),
        subcounty: record.subcounty.as_deref().unwrap_or_default(),
        village: record.village.as_deref().unwrap_or_default(),
        mother_name: record.mother_name.as_deref().unwrap_or_default(),
        father_name: record.father_name.as_deref().unwrap_or_default(),
    })
}

/// `thresholds`: the link and review thresholds to register under, when not the bundled
/// model's own.
async fn accuracy(args: &Args, records: usize, seed: u64, thresholds: (Option<f64>, Option<f64>)) {
    let generated = synthetic::generate(&synthetic::GeneratorConfig {
        records,
        seed,
        events: false,
        ..Default::default()
    })
    .records;
    let truth: Vec<u64> = generated.iter().map(|r| r.cluster_id).collect();

    // Batch dedupe with the bundled model on the same records.
    let started = Instant::now();
    let mut model = matching::Model::default_child().unwrap();
    let mut data = Dataset::new(&model);
    data.extend(&model, generated.iter().map(match_record).collect(), 0);
    let batch = matching::dedupe(&mut model, &mut data, &NoProgress).unwrap();
    let batch_scores = matching::evaluate::score_clusters(&batch.labels, &truth);
    println!(
        "batch dedupe: pairwise P {:.4} R {:.4} F1 {:.4} ({:.1} s)",
        batch_scores.pairwise_precision,
        batch_scores.pairwise_recall,
        batch_scores.pairwise_f1,
        started.elapsed().as_secs_f64()
    );

    let today = chrono::Utc::now().date_naive();
    let submissions: Arc<Vec<RecordSubmission>> = Arc::new(
        generated
            .iter()
            .map(|r| submission_from_generated(r).unwrap())
            .collect(),
    );
    println!("| backend | records | online P | online R | online F1 | batch F1 | online − batch | review share | auto-link precision | rec/s |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for backend in &args.backends {
        let database = Database::fresh(backend, &args.postgres_url).await;
        if thresholds != (None, None) {
            let mut spec = database
                .store
                .matcher(None)
                .await
                .unwrap()
                .model()
                .spec()
                .clone();
            spec.thresholds.link = thresholds.0.unwrap_or(spec.thresholds.link);
            spec.thresholds.review = thresholds.1.unwrap_or(spec.thresholds.review);
            println!(
                "thresholds: link {}, review {}",
                spec.thresholds.link, spec.thresholds.review
            );
            let json = matching::Model::new(spec).unwrap().to_json().unwrap();
            let store = &database.store;
            let version = store
                .add_model_version(&json, "bench", "thresholds")
                .await
                .unwrap();
            store.activate_model_version(version).await.unwrap();
        }
        let store = database.store.clone();
        let (wall, _, results) = drive(submissions.clone(), args.concurrency, move |submission| {
            let store = store.clone();
            async move {
                store
                    .register(submission.validate(today).unwrap(), "bench")
                    .await
                    .unwrap()
            }
        })
        .await;
        let mut by_index: Vec<Option<registry::model::Registration>> = vec![None; records];
        for (index, registration) in results {
            by_index[index] = Some(registration);
        }
        let online =
            matching::evaluate::score_clusters(&placement(&database, &generated).await, &truth);
        // Automatic-link precision: a linked record is right when the child's founding record
        // (the one that created it) is the same true child.
        let mut founder: HashMap<registry::ChildId, u64> = HashMap::new();
        for (index, registration) in by_index.iter().enumerate() {
            let registration = registration.as_ref().unwrap();
            if registration.match_result.outcome != MatchOutcome::Linked {
                founder.insert(registration.child_id, truth[index]);
            }
        }
        let (mut linked, mut right, mut review) = (0, 0, 0);
        for (index, registration) in by_index.iter().enumerate() {
            let registration = registration.as_ref().unwrap();
            match registration.match_result.outcome {
                MatchOutcome::Linked => {
                    linked += 1;
                    if founder.get(&registration.child_id) == Some(&truth[index]) {
                        right += 1;
                    }
                }
                MatchOutcome::Review => review += 1,
                MatchOutcome::New => {}
            }
        }
        let review_note = review_breakdown(&database, &by_index, &founder, &truth).await;
        println!(
            "| {backend} | {records} | {:.4} | {:.4} | {:.4} | {:.4} | {:+.4} | {:.2}% | {:.4} | {:.0} |",
            online.pairwise_precision,
            online.pairwise_recall,
            online.pairwise_f1,
            batch_scores.pairwise_f1,
            online.pairwise_f1 - batch_scores.pairwise_f1,
            100.0 * review as f64 / records as f64,
            if linked == 0 { 1.0 } else { right as f64 / linked as f64 },
            records as f64 / wall.as_secs_f64()
        );
        println!("{review_note}");
        // What the queue is worth: every candidate decided as the truth says, as careful
        // stewards would, and the clustering scored again.
        let decided = decide_as_the_truth_says(&database, &founder).await;
        let reviewed =
            matching::evaluate::score_clusters(&placement(&database, &generated).await, &truth);
        println!(
            "after {decided} candidates decided as the truth says: online P {:.4} R {:.4} F1 {:.4}",
            reviewed.pairwise_precision, reviewed.pairwise_recall, reviewed.pairwise_f1
        );
        database.finish().await;
    }
}

/// The child each record is on now.
async fn placement(database: &Database, generated: &[GeneratedRecord]) -> Vec<registry::ChildId> {
    let mut placed = Vec::with_capacity(generated.len());
    for record in generated {
        let history = database
            .store
            .record_history(
                &record.source_system,
                &record.source_record_id,
                &registry::ReadScope::All,
            )
            .await
            .unwrap()
            .unwrap();
        placed.push(history.child_id);
    }
    placed
}

/// Decides every open candidate by the ground truth (a child's founding record tells which
/// true child it is); returns how many decisions were taken.
async fn decide_as_the_truth_says(
    database: &Database,
    founder: &HashMap<registry::ChildId, u64>,
) -> usize {
    let store = &database.store;
    let open: Vec<i64> = open_candidates(database)
        .await
        .iter()
        .map(|candidate| candidate.id)
        .collect();
    let steward = registry::store::Decision {
        actor: "oracle".to_owned(),
        reason: "the ground truth".to_owned(),
    };
    let mut decided = 0;
    for id in open {
        let Some(candidate) = store.match_candidate(id).await.unwrap() else {
            continue;
        };
        let choice = if same_true_child(founder, &candidate) {
            registry::review::CandidateDecision::Link
        } else {
            registry::review::CandidateDecision::NotAMatch
        };
        // Settled meanwhile by an earlier decision (a merge brought both sides together).
        if store
            .decide_match_candidate(id, choice, &steward)
            .await
            .is_ok()
        {
            decided += 1;
        }
    }
    decided
}

/// Every open candidate, oldest first.
async fn open_candidates(database: &Database) -> Vec<registry::review::MatchCandidate> {
    let mut query = registry::review::CandidateQuery {
        status: registry::review::CandidateStatus::Open,
        district: None,
        claims: registry::review::ClaimFilter::Any,
        sort: registry::review::CandidateSort::Oldest,
        limit: 100,
        offset: 0,
    };
    let mut open = Vec::new();
    loop {
        let page = database.store.match_candidates(&query).await.unwrap();
        open.extend(page.candidates);
        if page.next_cursor.is_none() {
            return open;
        }
        query.offset += query.limit;
    }
}

/// Whether a candidate's two sides are one true child (a child's founding record tells which).
fn same_true_child(
    founder: &HashMap<registry::ChildId, u64>,
    candidate: &registry::review::MatchCandidate,
) -> bool {
    let record_truth = founder.get(&candidate.record.child_id);
    record_truth.is_some() && record_truth == founder.get(&candidate.candidate.current_child_id)
}

/// What the stewards' queue holds: how many reviewed records have their true child among the
/// candidates, and how many candidates a cannot-link rule held for (and how many of those were
/// the same child after all).
async fn review_breakdown(
    database: &Database,
    by_index: &[Option<registry::model::Registration>],
    founder: &HashMap<registry::ChildId, u64>,
    truth: &[u64],
) -> String {
    let (mut reviewed, mut true_among) = (0, 0);
    for (index, registration) in by_index.iter().enumerate() {
        let Some(registration) = registration else {
            continue;
        };
        if registration.match_result.outcome == MatchOutcome::Review {
            reviewed += 1;
            if registration
                .match_result
                .candidates
                .iter()
                .any(|child| founder.get(child) == Some(&truth[index]))
            {
                true_among += 1;
            }
        }
    }
    let open = open_candidates(database).await;
    let vetoed: Vec<_> = open
        .iter()
        .filter(|candidate| candidate.explanation["cannot_link"].is_string())
        .collect();
    let vetoed_true = vetoed
        .iter()
        .filter(|candidate| same_true_child(founder, candidate))
        .count();
    let (candidates, vetoed) = (open.len(), vetoed.len());
    format!(
        "review: {reviewed} records, the true child among the candidates for {true_among}; \
         {candidates} candidates, {vetoed} under a cannot-link rule ({vetoed_true} of them the \
         same child)"
    )
}

async fn throughput(args: &Args, options: &Throughput) {
    let Throughput {
        preload,
        records,
        prepared_records,
        warm,
        skip_measured,
        prewarm_postgres,
        ..
    } = *options;
    let preloaded = options.preloaded.as_deref();
    let preloaded_postgres = options.preloaded_postgres.as_deref();
    // Distinct children for the preload (one record each), other children for the measurement.
    let mut seen = HashSet::new();
    let population = synthetic::generate(&synthetic::GeneratorConfig {
        records: preload * 2 + records * 2,
        seed: 1234,
        events: false,
        ..Default::default()
    })
    .records;
    let mut preload_set = Vec::with_capacity(preload);
    let mut rest = Vec::new();
    for record in population {
        if preload_set.len() < preload && seen.insert(record.cluster_id) {
            preload_set.push(record);
        } else if !seen.contains(&record.cluster_id) && rest.len() < skip_measured + records {
            rest.push(record);
        }
    }
    let rest = rest.split_off(skip_measured.min(rest.len()));
    let today = chrono::Utc::now().date_naive();
    let preload_set: Vec<_> = preload_set
        .iter()
        .map(|r| {
            submission_from_generated(r)
                .unwrap()
                .validate(today)
                .unwrap()
        })
        .collect();
    let measured: Arc<Vec<RecordSubmission>> = Arc::new(
        rest.iter()
            .map(|r| submission_from_generated(r).unwrap())
            .collect(),
    );
    println!("| backend | preloaded children | bulk load rec/s | clients | rec/s (empty registry) | rec/s (preloaded) | ratio | p50 ms | p99 ms | linked / review / new |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for backend in &args.backends {
        let mut rates = Vec::new();
        let mut last = None;
        for load in [0, preload] {
            let kept = preloaded.filter(|_| load > 0 && backend == "sqlite");
            let kept_postgres = preloaded_postgres.filter(|_| load > 0 && backend == "postgres");
            let options = registry::store::StoreOptions { prepared_records };
            let (target, bulk_rate) = match (kept, kept_postgres) {
                (_, Some(template)) => {
                    let rate =
                        load_postgres_once(&args.postgres_url, template, &preload_set, &options)
                            .await;
                    let database = Database::copy_of(&args.postgres_url, template, &options).await;
                    if prewarm_postgres {
                        prewarm(&database).await;
                    }
                    (Registry::Fresh(database), rate)
                }
                (Some(dir), None) => {
                    std::fs::create_dir_all(dir).unwrap();
                    let store = registry::store::open_data_dir_with(dir, &options)
                        .await
                        .unwrap();
                    let mut rate = f64::NAN;
                    if !dir.join(LOADED_MARKER).exists() {
                        let started = Instant::now();
                        let loaded = store.bulk_load(preload_set.clone(), "bulk").await.unwrap();
                        rate = loaded as f64 / started.elapsed().as_secs_f64().max(1e-9);
                        std::fs::write(dir.join(LOADED_MARKER), loaded.to_string()).unwrap();
                    }
                    (Registry::Kept(store), rate)
                }
                (None, None) => {
                    let database = Database::fresh(backend, &args.postgres_url).await;
                    let started = Instant::now();
                    let loaded = database
                        .store
                        .bulk_load(preload_set[..load].to_vec(), "bulk")
                        .await
                        .unwrap();
                    let rate = loaded as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    (Registry::Fresh(database), rate)
                }
            };
            let store = target.store().clone();
            if warm {
                let started = Instant::now();
                let prepared = store.warm_match_cache().await.unwrap();
                eprintln!(
                    "{backend}, {load} preloaded: {prepared} stored records prepared in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            let keys = support::agency_keys(&store, &measured).await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/v1/records", listener.local_addr().unwrap());
            let app = build_app(AppState::new(store));
            let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(args.concurrency)
                .build()
                .unwrap();
            let (wall, latencies, results) =
                drive(measured.clone(), args.concurrency, move |submission| {
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
                        let body: serde_json::Value = response.json().await.unwrap();
                        body["match"]["outcome"].as_str().unwrap_or("").to_owned()
                    }
                })
                .await;
            server.abort();
            let mut outcomes: HashMap<String, usize> = HashMap::new();
            for (_, outcome) in results {
                *outcomes.entry(outcome).or_default() += 1;
            }
            rates.push(records as f64 / wall.as_secs_f64());
            last = Some((bulk_rate, latencies, outcomes));
            target.finish().await;
        }
        let (bulk_rate, latencies, outcomes) = last.unwrap();
        println!(
            "| {backend} | {preload} | {bulk_rate:.0} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {} / {} / {} |",
            args.concurrency,
            rates[0],
            rates[1],
            rates[1] / rates[0],
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            outcomes.get("linked").unwrap_or(&0),
            outcomes.get("review").unwrap_or(&0),
            outcomes.get("new").unwrap_or(&0),
        );
    }
}

/// Reads the tables and indexes a registration looks up into PostgreSQL's shared buffers.
async fn prewarm(database: &Database) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(database.url().unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .execute(&mut connection)
        .await
        .unwrap();
    let pages: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(pg_prewarm(c.oid)), 0)::BIGINT FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() \
         WHERE c.relname IN ('blocking_keys', 'blocking_keys_lookup', 'blocking_keys_record', \
           'source_records_pkey', 'source_records_current', 'source_records_source_key', \
           'record_identifiers')",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    eprintln!(
        "prewarmed {pages} pages in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Bulk-loads `children` into the PostgreSQL database `name` unless an earlier run finished
/// doing so (it leaves a comment on the database); returns the load's records/s (NaN when kept).
async fn load_postgres_once(
    postgres_url: &str,
    name: &str,
    children: &[registry::model::ValidRecord],
    options: &registry::store::StoreOptions,
) -> f64 {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(postgres_url).await.unwrap();
    let comment: Option<Option<String>> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(name)
    .fetch_optional(&mut admin)
    .await
    .unwrap();
    let mut rate = f64::NAN;
    if comment.flatten().as_deref() != Some(LOADED_MARKER) {
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(&statement).execute(&mut admin).await.unwrap();
        }
        let url = registry::store::postgres::url_with_database(postgres_url, name);
        let store = registry::store::open_with(&url, options).await.unwrap();
        let started = Instant::now();
        let loaded = store.bulk_load(children.to_vec(), "bulk").await.unwrap();
        rate = loaded as f64 / started.elapsed().as_secs_f64().max(1e-9);
        drop(store);
        sqlx::query(&format!("COMMENT ON DATABASE {name} IS '{LOADED_MARKER}'"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    // A copy needs the template to have no connections (the store's pool closes lazily).
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    rate
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // `RUST_LOG=registry::import=debug` logs where each group commit's time goes.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            // A closed span's busy and idle time: where a group commit's time goes.
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .init();
    }
    match args.mode {
        Mode::Accuracy {
            records,
            seed,
            link,
            review,
        } => accuracy(&args, records, seed, (link, review)).await,
        Mode::Throughput(ref options) => throughput(&args, options).await,
    }
}

//! A soak: the real server over a kept registry of `--children` generated children, driven
//! for `--minutes` by `--clients` concurrent clients doing what its users do, on loopback.
//!
//! The mix, chosen per request at random: agencies register records (new children and
//! further records of known ones, so links, new children and review candidates all happen),
//! officials search by a name an agency wrote and open the top hit's profile and timeline,
//! stewards decide open match candidates. Every `--window-seconds` it prints a row of
//! throughput, p50/p99 by operation, errors and the server's memory; at the end the totals,
//! then it stops the server with SIGTERM and checks the audit chain.
//!
//! ```sh
//! cargo build --release -p gateway --bin child-registry --example soak
//! target/release/examples/soak --children 1000000 --keep /work/ui1m --minutes 30
//! ```
//!
//! The registry is loaded (or found loaded) by the same code as `ui_pages --keep`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use gateway::commands::demo::submission_from_generated;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use registry::clients::{NewClient, Role};
use registry::model::RecordSubmission;
use support::loaded::{open_or_load, Population, SEED};
use support::percentile;
use tokio::sync::mpsc;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    children: usize,
    /// Records of already loaded children registered with matching when loading.
    #[arg(long, default_value_t = 300)]
    duplicates: usize,
    /// The embedded registry lives here (loaded by an earlier run of this or `ui_pages`
    /// with the same directory, else loaded now).
    #[arg(long)]
    keep: PathBuf,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    #[arg(long, default_value_t = 60)]
    window_seconds: u64,
    /// Percent of requests that register a record; searches, profile reads and decisions
    /// share the rest as 50 : 35 : 15.
    #[arg(long, default_value_t = 30)]
    register_percent: u32,
    /// The server binary (default: `child-registry` beside this example's directory).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Skip `audit verify` at the end (it reads the whole chain).
    #[arg(long)]
    no_verify: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Operation {
    Register,
    Search,
    ReadProfile,
    Decide,
}

impl Operation {
    const ALL: [Operation; 4] = [
        Operation::Register,
        Operation::Search,
        Operation::ReadProfile,
        Operation::Decide,
    ];

    fn label(self) -> &'static str {
        match self {
            Operation::Register => "register",
            Operation::Search => "search",
            Operation::ReadProfile => "profile + timeline",
            Operation::Decide => "steward decision",
        }
    }
}

/// How a request ended, as far as the soak's bookkeeping cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Ok,
    /// Another steward decided the candidate first (409): expected with several stewards.
    Conflict,
    ClientError,
    ServerError,
}

struct Done {
    operation: Operation,
    latency: Duration,
    ending: Ending,
    /// `match.outcome` of a registration.
    outcome: Option<String>,
}

/// What every client shares: keys, work pools, child IDs seen by searches.
struct Shared {
    base: String,
    http: reqwest::Client,
    agency_keys: BTreeMap<String, String>,
    official_key: String,
    steward_key: String,
    registrations: Vec<RecordSubmission>,
    next_registration: std::sync::atomic::AtomicUsize,
    queries: Vec<String>,
    /// Children the searches found, for the profile reads (a ring of recent ones).
    seen_children: Mutex<Vec<String>>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let loaded = open_or_load(&Population {
        children: args.children,
        duplicates: args.duplicates,
        backend: "sqlite",
        postgres_url: "",
        keep: Some(&args.keep),
    })
    .await;
    let (registrations, queries) = workload(&args);
    let keys = create_keys(&loaded.store, &registrations).await;
    // The server opens the registry and its index itself.
    loaded.finish().await;
    eprintln!(
        "{} records to register, {} names to search for",
        registrations.len(),
        queries.len()
    );

    let binary = args.binary.clone().unwrap_or_else(|| {
        let examples = std::env::current_exe().unwrap();
        examples
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("child-registry")
    });
    let server = start_server(&binary, &args.keep);
    eprintln!("server {} ready, pid {}", server.base, server.process.id());

    let shared = Arc::new(Shared {
        base: server.base.clone(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients)
            .build()
            .unwrap(),
        agency_keys: keys.agencies,
        official_key: keys.official,
        steward_key: keys.steward,
        registrations,
        next_registration: std::sync::atomic::AtomicUsize::new(0),
        queries,
        seen_children: Mutex::new(Vec::new()),
    });

    let deadline = Instant::now() + Duration::from_secs_f64(args.minutes * 60.0);
    let (sender, mut receiver) = mpsc::unbounded_channel::<Done>();
    for client in 0..args.clients {
        let (shared, sender) = (shared.clone(), sender.clone());
        let register_percent = args.register_percent;
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(SEED + client as u64);
            while Instant::now() < deadline {
                let done = one_request(&shared, &mut rng, register_percent).await;
                if sender.send(done).is_err() {
                    break;
                }
            }
        });
    }
    drop(sender);

    println!(
        "{} children, {} clients, {} minutes, {}% registrations",
        args.children, args.clients, args.minutes, args.register_percent
    );
    println!(
        "| minute | requests/s | register p50 / p99 ms | search p50 / p99 ms | profile p50 / p99 ms | decision p50 / p99 ms | 4xx | 5xx | server RSS MiB |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let started = Instant::now();
    let window = Duration::from_secs(args.window_seconds);
    let mut window_end = started + window;
    let mut window_done: Vec<Done> = Vec::new();
    let mut all: Vec<Done> = Vec::new();
    let mut rss_samples = vec![rss_mib(server.process.id())];
    loop {
        let next = tokio::time::timeout_at(window_end.into(), receiver.recv()).await;
        match next {
            Ok(Some(done)) => window_done.push(done),
            Ok(None) => break,
            Err(_) => {
                let rss = rss_mib(server.process.id());
                rss_samples.push(rss);
                print_window(
                    (window_end - started).as_secs_f64() / 60.0,
                    window,
                    &window_done,
                    rss,
                );
                all.append(&mut window_done);
                window_end += window;
            }
        }
    }
    let rss = rss_mib(server.process.id());
    rss_samples.push(rss);
    if !window_done.is_empty() {
        let window_start = window_end - window;
        print_window(
            started.elapsed().as_secs_f64() / 60.0,
            window_start.elapsed(),
            &window_done,
            rss,
        );
        all.append(&mut window_done);
    }
    let wall = started.elapsed();
    print_totals(&all, wall, &rss_samples, server.peak_rss_mib());

    let lag = index_lag(&shared).await;
    println!("search index behind the change feed at the end: {lag}");
    let status = server.terminate();
    println!("server stopped with SIGTERM: {status}");
    if !args.no_verify {
        let started = Instant::now();
        let verify = Command::new(&binary)
            .args(["audit", "verify", "--data-dir"])
            .arg(&args.keep)
            .output()
            .unwrap();
        println!(
            "audit verify ({:.0} s): {} {}",
            started.elapsed().as_secs_f64(),
            verify.status,
            String::from_utf8_lossy(&verify.stdout).trim()
        );
        assert!(verify.status.success());
    }
}

struct Keys {
    agencies: BTreeMap<String, String>,
    official: String,
    steward: String,
}

/// An API key for every agency among `registrations`, one national official and one steward.
async fn create_keys(store: &Arc<dyn registry::Store>, registrations: &[RecordSubmission]) -> Keys {
    let mut agencies = BTreeMap::new();
    for submission in registrations {
        if !agencies.contains_key(&submission.source_system) {
            let key = create_key(store, Role::Agency, Some(submission.source_system.clone())).await;
            agencies.insert(submission.source_system.clone(), key);
        }
    }
    Keys {
        agencies,
        official: create_key(store, Role::NationalOfficial, None).await,
        steward: create_key(store, Role::DataSteward, None).await,
    }
}

async fn create_key(
    store: &Arc<dyn registry::Store>,
    role: Role,
    agency: Option<String>,
) -> String {
    let (_, key) = store
        .create_client(NewClient {
            name: "soak".to_owned(),
            agency,
            role,
            expires_at: None,
        })
        .await
        .unwrap();
    key
}

/// The records to register and the names to search for, from the generator run that loaded
/// the registry: every record it did not load (further records of loaded children and
/// records of children not loaded), in the generator's order; names written on further
/// records of loaded children.
fn workload(args: &Args) -> (Vec<RecordSubmission>, Vec<String>) {
    let generated = synthetic::generate(&synthetic::GeneratorConfig {
        records: args.children * 2,
        seed: SEED,
        ..Default::default()
    })
    .records;
    let mut loaded = HashSet::new();
    let mut registrations = Vec::new();
    let mut queries = Vec::new();
    let mut duplicates_seen = 0;
    for record in &generated {
        if loaded.len() < args.children && loaded.insert(record.cluster_id) {
            continue;
        }
        let of_loaded_child = loaded.contains(&record.cluster_id);
        if of_loaded_child && duplicates_seen < args.duplicates {
            // Registered when the registry was loaded.
            duplicates_seen += 1;
            continue;
        }
        if of_loaded_child {
            let name = [&record.given_name, &record.family_name]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" ");
            if !name.is_empty() {
                queries.push(name);
            }
        }
        registrations.push(submission_from_generated(record).unwrap());
    }
    (registrations, queries)
}

async fn one_request(shared: &Shared, rng: &mut StdRng, register_percent: u32) -> Done {
    let roll = rng.gen_range(0..100u32);
    let rest = (roll.saturating_sub(register_percent)) * 100 / (100 - register_percent).max(1);
    let operation = if roll < register_percent {
        Operation::Register
    } else if rest < 50 {
        Operation::Search
    } else if rest < 85 {
        Operation::ReadProfile
    } else {
        Operation::Decide
    };
    let started = Instant::now();
    let (ending, outcome) = match operation {
        Operation::Register => register(shared).await,
        Operation::Search => (search(shared, rng).await, None),
        Operation::ReadProfile => (read_profile(shared, rng).await, None),
        Operation::Decide => (decide(shared, rng).await, None),
    };
    Done {
        operation,
        latency: started.elapsed(),
        ending,
        outcome,
    }
}

fn ending_of(status: reqwest::StatusCode) -> Ending {
    if status.is_success() {
        Ending::Ok
    } else if status == reqwest::StatusCode::CONFLICT {
        Ending::Conflict
    } else if status.is_server_error() {
        Ending::ServerError
    } else {
        Ending::ClientError
    }
}

async fn register(shared: &Shared) -> (Ending, Option<String>) {
    let index = shared
        .next_registration
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Past the end the records come round again: registered twice, they are updates.
    let submission = &shared.registrations[index % shared.registrations.len()];
    let response = shared
        .http
        .post(format!("{}/v1/records", shared.base))
        .bearer_auth(&shared.agency_keys[&submission.source_system])
        .json(submission)
        .send()
        .await
        .unwrap();
    let ending = ending_of(response.status());
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let outcome = body["match"]["outcome"].as_str().map(str::to_owned);
    (ending, outcome)
}

async fn search(shared: &Shared, rng: &mut StdRng) -> Ending {
    let name = &shared.queries[rng.gen_range(0..shared.queries.len())];
    let response = shared
        .http
        .get(format!("{}/v1/search", shared.base))
        .query(&[("q", name.as_str())])
        .bearer_auth(&shared.official_key)
        .send()
        .await
        .unwrap();
    let ending = ending_of(response.status());
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if let Some(child_id) = body["hits"][0]["child_id"].as_str() {
        let mut seen = shared.seen_children.lock().unwrap();
        if seen.len() >= 10_000 {
            let slot = rng.gen_range(0..seen.len());
            seen[slot] = child_id.to_owned();
        } else {
            seen.push(child_id.to_owned());
        }
    }
    ending
}

/// A found child's profile, then its timeline: what an official opens after a search.
async fn read_profile(shared: &Shared, rng: &mut StdRng) -> Ending {
    let child_id = {
        let seen = shared.seen_children.lock().unwrap();
        if seen.is_empty() {
            None
        } else {
            Some(seen[rng.gen_range(0..seen.len())].clone())
        }
    };
    let Some(child_id) = child_id else {
        return search(shared, rng).await;
    };
    for path in [
        format!("/v1/children/{child_id}"),
        format!("/v1/children/{child_id}/timeline"),
    ] {
        let response = shared
            .http
            .get(format!("{}{path}", shared.base))
            .bearer_auth(&shared.official_key)
            .send()
            .await
            .unwrap();
        let ending = ending_of(response.status());
        response.bytes().await.unwrap();
        if ending != Ending::Ok {
            return ending;
        }
    }
    Ending::Ok
}

/// One of the ten oldest open candidates, decided: link, not a match, or deferred.
async fn decide(shared: &Shared, rng: &mut StdRng) -> Ending {
    let response = shared
        .http
        .get(format!(
            "{}/v1/match-candidates?status=open&sort=oldest&limit=10",
            shared.base
        ))
        .bearer_auth(&shared.steward_key)
        .send()
        .await
        .unwrap();
    let ending = ending_of(response.status());
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if ending != Ending::Ok {
        return ending;
    }
    let Some(candidates) = body["candidates"].as_array().filter(|c| !c.is_empty()) else {
        return Ending::Ok;
    };
    let id = &candidates[rng.gen_range(0..candidates.len())]["id"];
    let decision = match rng.gen_range(0..10u32) {
        0..=4 => "link",
        5..=8 => "not_a_match",
        _ => "defer",
    };
    let response = shared
        .http
        .post(format!("{}/v1/match-candidates/{id}/decision", shared.base))
        .bearer_auth(&shared.steward_key)
        .json(&serde_json::json!({"decision": decision, "reason": "soak test"}))
        .send()
        .await
        .unwrap();
    let ending = ending_of(response.status());
    response.bytes().await.unwrap();
    ending
}

fn print_window(minute: f64, window: Duration, done: &[Done], rss: f64) {
    let cells: Vec<String> = Operation::ALL
        .iter()
        .map(|operation| latency_cell(done, *operation))
        .collect();
    println!(
        "| {minute:.1} | {:.0} | {} | {} | {} | {} | {} | {} | {rss:.0} |",
        done.len() as f64 / window.as_secs_f64().max(0.001),
        cells[0],
        cells[1],
        cells[2],
        cells[3],
        count(done, Ending::ClientError),
        count(done, Ending::ServerError),
    );
}

fn latency_cell(done: &[Done], operation: Operation) -> String {
    let mut latencies: Vec<Duration> = done
        .iter()
        .filter(|d| d.operation == operation)
        .map(|d| d.latency)
        .collect();
    if latencies.is_empty() {
        return "–".to_owned();
    }
    latencies.sort();
    format!(
        "{:.1} / {:.1}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    )
}

fn count(done: &[Done], ending: Ending) -> usize {
    done.iter().filter(|d| d.ending == ending).count()
}

fn print_totals(all: &[Done], wall: Duration, rss_samples: &[f64], peak_rss: f64) {
    println!();
    println!(
        "{} requests in {:.1} minutes: {:.0} requests/s",
        all.len(),
        wall.as_secs_f64() / 60.0,
        all.len() as f64 / wall.as_secs_f64()
    );
    println!("| operation | requests | per s | p50 ms | p99 ms | max ms | 409 | 4xx | 5xx |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for operation in Operation::ALL {
        let of: Vec<&Done> = all.iter().filter(|d| d.operation == operation).collect();
        let mut latencies: Vec<Duration> = of.iter().map(|d| d.latency).collect();
        if latencies.is_empty() {
            continue;
        }
        latencies.sort();
        let count_of = |ending| of.iter().filter(|d| d.ending == ending).count();
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.0} | {} | {} | {} |",
            operation.label(),
            of.len(),
            of.len() as f64 / wall.as_secs_f64(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().unwrap().as_secs_f64() * 1000.0,
            count_of(Ending::Conflict),
            count_of(Ending::ClientError),
            count_of(Ending::ServerError),
        );
    }
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for done in all {
        if let Some(outcome) = &done.outcome {
            *outcomes.entry(outcome.as_str()).or_default() += 1;
        }
    }
    println!("registrations by outcome: {outcomes:?}");
    let first = rss_samples.first().copied().unwrap_or_default();
    let last = rss_samples.last().copied().unwrap_or_default();
    let max = rss_samples.iter().copied().fold(0.0, f64::max);
    println!(
        "server RSS: {first:.0} MiB at the start, {max:.0} MiB at most when sampled, {last:.0} MiB at the end; peak (VmHWM) {peak_rss:.0} MiB"
    );
}

async fn index_lag(shared: &Shared) -> String {
    // Give the follower its usual second to catch up with the last registrations.
    tokio::time::sleep(Duration::from_secs(2)).await;
    match shared
        .http
        .get(format!("{}/readyz", shared.base))
        .send()
        .await
    {
        Ok(response) => format!(
            "{} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        ),
        Err(error) => error.to_string(),
    }
}

struct Server {
    process: Child,
    base: String,
}

impl Server {
    fn peak_rss_mib(&self) -> f64 {
        proc_status_mib(self.process.id(), "VmHWM:")
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.process.wait().unwrap()
    }
}

/// `child-registry serve` on the kept directory, with the rate limits out of the way (the
/// soak's clients all come from one address with one key per role).
fn start_server(binary: &Path, data_dir: &Path) -> Server {
    let mut process = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args([
            "--rate-limit-per-credential",
            "1000000000",
            "--rate-limit-per-address",
            "1000000000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{}: {error}", binary.display()));
    let mut stdout = BufReader::new(process.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .map(|word| word.trim_end_matches([',', ';', ')']).to_owned())
        .unwrap_or_else(|| panic!("no URL in '{line}'"));
    // Whatever else the server prints must not fill the pipe and stall it.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Server { process, base }
}

fn rss_mib(pid: u32) -> f64 {
    proc_status_mib(pid, "VmRSS:")
}

/// A `kB` line of `/proc/PID/status`, in MiB (Linux).
fn proc_status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

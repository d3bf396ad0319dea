//! The `child-registry` command line: one subcommand per file.

pub mod audit;
pub mod backup;
pub mod clients;
pub mod dedupe;
pub mod demo;
pub mod generate;
pub mod import;
pub mod indicators;
pub mod instance_lock;
pub mod migrate;
pub mod models;
pub mod reindex;
pub mod rescore;
pub mod security_args;
pub mod serve;
pub mod store_args;
pub mod train;
pub mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "child-registry",
    version,
    about = "National child wellbeing registry"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    // Boxed: its many flags would make every other command's value as large.
    Serve(Box<serve::ServeArgs>),
    /// Run the registry with seeded synthetic demo data and ready-to-use credentials.
    Demo(demo::DemoArgs),
    /// Manage API clients (agency systems, officials, stewards).
    Clients(clients::ClientsArgs),
    /// Apply pending database migrations.
    Migrate(migrate::MigrateArgs),
    /// Rebuild the search index from the database (stop the server first).
    Reindex(reindex::ReindexArgs),
    /// Generate seeded synthetic child records (canonical child CSV) with ground truth.
    Generate(generate::GenerateArgs),
    /// Train a matching model (EM) from a canonical child CSV.
    Train(train::TrainArgs),
    /// Deduplicate one file, or link two, and write `record_id,cluster_id` for every record.
    Dedupe(dedupe::DedupeArgs),
    /// Report what a stored model version would change in the automatic links; `--apply`
    /// activates it.
    Rescore(rescore::RescoreArgs),
    /// List the stored model versions, what each learned from, and whether the registry has
    /// outgrown the active one.
    Models(models::ModelsArgs),
    /// Manage people who log in (officials, stewards, admins, auditors).
    Users(users::UsersArgs),
    /// Check the audit log's chain.
    Audit(audit::AuditArgs),
    /// Copy the registry's database to a file, while it serves (SQLite `VACUUM INTO`,
    /// PostgreSQL `pg_dump`).
    Backup(backup::BackupArgs),
    /// Load a backup into an empty database (`--force` to replace a registry).
    Restore(backup::RestoreArgs),
    /// Child-protection indicators: `export` writes a period's anonymised tables.
    Indicators(indicators::IndicatorsArgs),
    /// Import a file of child records (canonical CSV, NDJSON, or a Primero / OSCaR export)
    /// with matching, showing progress; prints the summary.
    Import(import::ImportArgs),
}

/// The status a Unix tool ends with when the reader of its output went away (killed by
/// SIGPIPE: 128 + 13).
const CLOSED_PIPE_STATUS: i32 = 141;

/// A listing piped into `head` has its pipe closed early. Rust ignores SIGPIPE, so `println!`
/// then panics; end quietly with the status a Unix tool would have instead of a panic message
/// and a backtrace. Anything else panicking is reported as before.
fn end_quietly_on_a_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(CLOSED_PIPE_STATUS);
        }
        report(info);
    }));
}

pub fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
    let cli = Cli::parse();
    let otlp_endpoint = match &cli.command {
        Command::Serve(args) => args.otlp_endpoint.clone(),
        _ => None,
    };
    let telemetry = match crate::telemetry::Telemetry::init(otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: cannot set up tracing: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Clients(args) => clients::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Reindex(args) => reindex::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Train(args) => train::run(args),
        Command::Dedupe(args) => dedupe::run(args),
        Command::Rescore(args) => rescore::run(args),
        Command::Models(args) => models::run(args),
        Command::Users(args) => users::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Backup(args) => backup::run_backup(args),
        Command::Restore(args) => backup::run_restore(args),
        Command::Indicators(args) => indicators::run(args),
        Command::Import(args) => import::run(args),
    };
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

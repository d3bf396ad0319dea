//! The `child-registry` command line: one subcommand per file.

pub mod clients;
pub mod dedupe;
pub mod demo;
pub mod generate;
pub mod migrate;
pub mod reindex;
pub mod rescore;
pub mod serve;
pub mod store_args;
pub mod train;

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
    Serve(serve::ServeArgs),
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
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Clients(args) => clients::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Reindex(args) => reindex::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Train(args) => train::run(args),
        Command::Dedupe(args) => dedupe::run(args),
        Command::Rescore(args) => rescore::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `CHILD_REGISTRY_LOG` (e.g. `debug`, `gateway=debug`) sets the level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHILD_REGISTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

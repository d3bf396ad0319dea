//! The `child-registry` command line: one subcommand per file.

pub mod dedupe;
pub mod generate;
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
    /// Generate seeded synthetic child records (canonical child CSV) with ground truth.
    Generate(generate::GenerateArgs),
    /// Train a matching model (EM) from a canonical child CSV.
    Train(train::TrainArgs),
    /// Deduplicate one file, or link two, and write `record_id,cluster_id` for every record.
    Dedupe(dedupe::DedupeArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Train(args) => train::run(args),
        Command::Dedupe(args) => dedupe::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! `child-registry import`: a bulk import from the command line, the same job `POST
//! /v1/imports` creates, run here with a progress bar. An interrupted import is resumed by
//! `serve` (or by running the command again with `--resume`).

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use registry::imports::{self, ImportFormat, ImportJob, ImportMapping, NewImport};

use super::security_args::AuditKeyArgs;
use super::store_args::{block_on, StoreArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MappingArg {
    Canonical,
    Primero,
    Oscar,
}

impl From<MappingArg> for ImportMapping {
    fn from(value: MappingArg) -> Self {
        match value {
            MappingArg::Canonical => ImportMapping::Canonical,
            MappingArg::Primero => ImportMapping::Primero,
            MappingArg::Oscar => ImportMapping::Oscar,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Csv,
    Ndjson,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub audit: AuditKeyArgs,
    /// The file to import: CSV in the canonical child columns, or NDJSON of `/v1/records`
    /// bodies (or a Primero / OSCaR export with --mapping).
    #[arg(long, required_unless_present = "resume")]
    pub file: Option<PathBuf>,
    /// Map a Primero case export or an OSCaR client export (canonical by default).
    #[arg(long, value_enum, default_value = "canonical")]
    pub mapping: MappingArg,
    /// The file's format; by default its extension decides (`.ndjson`/`.jsonl` or CSV).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// The source system rows belong to: required for a mapped export (which names none);
    /// for canonical rows, the only one they may name.
    #[arg(long)]
    pub source_system: Option<String>,
    /// Resume an interrupted job by ID instead of starting one.
    #[arg(long, conflicts_with = "file")]
    pub resume: Option<String>,
    /// No progress bar (logs, scripts).
    #[arg(long)]
    pub quiet: bool,
}

fn operator() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    block_on(async move {
        let key = args.audit.resolve(&args.store.data_dir)?;
        let store = args.store.open().await?;
        let job_id = match (&args.resume, &args.file) {
            (Some(job_id), _) => job_id.clone(),
            (None, Some(file)) => {
                let body = std::fs::read(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let format = match args.format {
                    Some(FormatArg::Csv) => ImportFormat::Csv,
                    Some(FormatArg::Ndjson) => ImportFormat::Ndjson,
                    None => match file.extension().and_then(|ext| ext.to_str()) {
                        Some("ndjson" | "jsonl") => ImportFormat::Ndjson,
                        _ => ImportFormat::Csv,
                    },
                };
                let mapping = ImportMapping::from(args.mapping);
                if mapping != ImportMapping::Canonical && args.source_system.is_none() {
                    anyhow::bail!("a mapped export names no source system: give --source-system");
                }
                if let Some(system) = &args.source_system {
                    registry::validate::code_text("source_system", system)?;
                }
                let source_system = args.source_system.clone();
                let (rows, body) = tokio::task::spawn_blocking(move || {
                    let rows =
                        imports::check_body(&body, format, mapping, source_system.as_deref())
                            .map(|rows| rows.len() as i64);
                    (rows, body)
                })
                .await?;
                let rows = rows.with_context(|| format!("cannot import {}", file.display()))?;
                let job = store
                    .create_import(
                        NewImport {
                            format,
                            mapping,
                            source_system: args.source_system.clone(),
                            submitted_by: format!("cli:{}", operator()),
                            body,
                        },
                        rows,
                    )
                    .await?;
                eprintln!("import job {} ({} rows)", job.id, job.total_rows);
                job.id
            }
            (None, None) => anyhow::bail!("give --file or --resume"),
        };
        let bar = if args.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        bar.set_style(ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} rows ({per_sec}, ETA {eta}) {msg}",
        )?);
        let mut show = |job: &ImportJob| {
            bar.set_length(job.total_rows as u64);
            bar.set_position(job.rows_done as u64);
            bar.set_message(format!(
                "linked {} new {} review {} rejected {}",
                job.linked, job.new, job.review, job.rejected
            ));
        };
        let job = imports::run_to_end(store.as_ref(), &job_id, &key, &mut show).await?;
        bar.finish_and_clear();
        println!("{}", summary(&job));
        if let Some(error) = &job.error {
            anyhow::bail!("the import failed: {error}");
        }
        Ok(())
    })
}

/// The summary line scripts read.
pub fn summary(job: &ImportJob) -> String {
    format!(
        "import {}: {} of {} rows; linked {}, new {}, review {}, rejected {} ({})",
        job.id,
        job.rows_done,
        job.total_rows,
        job.linked,
        job.new,
        job.review,
        job.rejected,
        job.status.as_str()
    )
}

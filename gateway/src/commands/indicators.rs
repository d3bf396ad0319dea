//! `child-registry indicators export`: one period's anonymised, suppressed indicator tables
//! (the country and every district) to a reporting PostgreSQL database or to CSV files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use registry::audit::AuditAction;
use registry::indicators::export::{self, AggregateRow};
use registry::indicators::{self, Period};

use super::security_args::{audit_cli_action, AuditKeyArgs};
use super::store_args::{block_on, StoreArgs};

#[derive(Debug, clap::Args)]
pub struct IndicatorsArgs {
    #[command(subcommand)]
    pub command: IndicatorsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum IndicatorsCommand {
    /// Write one period's indicator tables (no child IDs, no names, small counts hidden).
    /// Re-running replaces that period's rows.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to", "csv"])))]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub audit: AuditKeyArgs,
    /// The reporting database, `postgres://…`: tables `indicator_values` and
    /// `indicator_exports` are created if missing.
    #[arg(long, env = "CHILD_REGISTRY_REPORTING_DATABASE_URL")]
    pub to: Option<String>,
    /// A directory: writes `indicator_values_<period>.csv` there.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// A year (`2026`), a quarter (`2026-Q3`) or a month (`2026-11`); the current year when
    /// absent.
    #[arg(long)]
    pub period: Option<String>,
    /// Counts from 1 to this minus one are hidden.
    #[arg(long, env = "CHILD_REGISTRY_SUPPRESS_BELOW", default_value_t = indicators::DEFAULT_SUPPRESSION_THRESHOLD)]
    pub suppress_below: u64,
}

pub fn run(args: IndicatorsArgs) -> anyhow::Result<()> {
    match args.command {
        IndicatorsCommand::Export(args) => block_on(export_period(args)),
    }
}

async fn export_period(args: ExportArgs) -> anyhow::Result<()> {
    let period = match args.period.as_deref() {
        Some(text) => text.parse::<Period>()?,
        None => Period::year_of(chrono::Utc::now().date_naive()),
    };
    let store = args.store.open().await?;
    let audit_key = args.audit.resolve(&args.store.data_dir)?;
    let facts = store.indicator_facts().await?;
    let threshold = args.suppress_below;
    let districts = indicators::districts(&facts);
    let (reports, facts) = tokio::task::spawn_blocking(move || {
        let mut reports = vec![indicators::compute(&facts, &period, None, threshold)];
        for district in &districts {
            reports.push(indicators::compute(
                &facts,
                &period,
                Some(district),
                threshold,
            ));
        }
        (reports, facts)
    })
    .await?;
    let label = reports
        .first()
        .map(|report| report.period.clone())
        .unwrap_or_default();
    let rows = export::rows(&reports);
    let destination = match (&args.to, &args.csv) {
        (Some(url), _) => {
            export::to_postgres(
                url,
                &label,
                threshold,
                facts.open_pairs.len(),
                &rows,
                chrono::Utc::now(),
            )
            .await
            .context("writing to the reporting database")?;
            "the reporting database".to_owned()
        }
        (None, Some(dir)) => write_csv(dir, &label, &rows)?.display().to_string(),
        (None, None) => anyhow::bail!("give --to postgres://… or --csv DIR"),
    };
    audit_cli_action(
        store.as_ref(),
        &audit_key,
        AuditAction::IndicatorsExported,
        &format!("indicators/{label}"),
        serde_json::json!({"period": label, "rows": rows.len(), "districts": reports.len() - 1,
                           "suppression_threshold": threshold}),
    )
    .await?;
    println!(
        "exported {} rows for {label} (the country and {} districts) to {destination}",
        rows.len(),
        reports.len() - 1
    );
    Ok(())
}

/// Writes the period's file whole, then renames it into place: a re-run replaces it, and a
/// reader never sees half a file.
fn write_csv(dir: &Path, period: &str, rows: &[AggregateRow]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("indicator_values_{period}.csv"));
    let partial = dir.join(format!(".indicator_values_{period}.csv.partial"));
    let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
    {
        let mut writer = csv::Writer::from_path(&partial)
            .with_context(|| format!("writing {}", partial.display()))?;
        writer.write_record(export::COLUMNS)?;
        for row in rows {
            writer.write_record([
                row.period.as_str(),
                row.district.as_str(),
                row.indicator.as_str(),
                row.unit.as_str(),
                row.dimension.as_str(),
                row.category.as_str(),
                &number(row.value),
                &number(row.low),
                &number(row.high),
                if row.suppressed { "true" } else { "false" },
            ])?;
        }
        writer.flush()?;
    }
    std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

//! `child-registry generate`: seeded synthetic child records (canonical child CSV) with
//! ground truth, from the `synthetic` crate.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use synthetic::{CountryMix, GeneratorConfig};

/// Which country's children to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CountryArg {
    Ug,
    Kh,
    Both,
}

impl From<CountryArg> for CountryMix {
    fn from(value: CountryArg) -> Self {
        match value {
            CountryArg::Ug => CountryMix::Uganda,
            CountryArg::Kh => CountryMix::Cambodia,
            CountryArg::Both => CountryMix::Both,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Number of records to generate.
    #[arg(
        long,
        env = "CHILD_REGISTRY_GENERATE_RECORDS",
        default_value_t = 10_000
    )]
    pub records: usize,
    /// Random seed: the same seed and options give byte-identical files.
    #[arg(long, env = "CHILD_REGISTRY_GENERATE_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Country of the generated children.
    #[arg(
        long,
        env = "CHILD_REGISTRY_GENERATE_COUNTRY",
        value_enum,
        default_value = "both"
    )]
    pub country: CountryArg,
    /// Canonical child CSV to write.
    #[arg(long, env = "CHILD_REGISTRY_GENERATE_OUTPUT")]
    pub output: PathBuf,
    /// Ground truth CSV (`record_id,cluster_id`) to write.
    #[arg(long, env = "CHILD_REGISTRY_GENERATE_TRUTH")]
    pub truth: Option<PathBuf>,
    /// Full records (identifiers, other names, timeline events) as JSON lines.
    #[arg(long, env = "CHILD_REGISTRY_GENERATE_JSONL")]
    pub jsonl: Option<PathBuf>,
    /// The true children (names, parents, twin and sibling links) as JSON lines.
    #[arg(long, env = "CHILD_REGISTRY_GENERATE_CHILDREN")]
    pub children: Option<PathBuf>,
    /// Multiplier on error rates: 0 = clean, 1 = realistic, 2 = hard.
    #[arg(
        long,
        env = "CHILD_REGISTRY_GENERATE_CORRUPTION",
        default_value_t = 1.0
    )]
    pub corruption: f64,
    /// "Today" of the generated world (YYYY-MM-DD); no date is later.
    #[arg(
        long,
        env = "CHILD_REGISTRY_GENERATE_REFERENCE_DATE",
        default_value = "2026-11-01"
    )]
    pub reference_date: synthetic::chrono::NaiveDate,
}

fn create(path: &Path) -> anyhow::Result<BufWriter<File>> {
    let file = File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// Writes one output file, closing it with a flush so late I/O errors are reported.
fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), synthetic::GeneratorError>,
) -> anyhow::Result<()> {
    let mut out = create(path)?;
    write(&mut out).with_context(|| format!("writing {}", path.display()))?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.corruption.is_finite() && args.corruption >= 0.0,
        "--corruption must be a non-negative number"
    );
    // Open every output before the work, so a bad path fails fast.
    for path in [
        Some(&args.output),
        args.truth.as_ref(),
        args.jsonl.as_ref(),
        args.children.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        create(path)?;
    }
    let config = GeneratorConfig {
        seed: args.seed,
        records: args.records,
        country: args.country.into(),
        reference_date: args.reference_date,
        corruption: args.corruption,
        ..GeneratorConfig::default()
    };
    let dataset = synthetic::generate(&config);
    write_file(&args.output, |out| {
        synthetic::write_canonical_csv(&dataset.records, out)
    })?;
    if let Some(path) = &args.truth {
        write_file(path, |out| {
            synthetic::write_truth_csv(&dataset.records, out)
        })?;
    }
    if let Some(path) = &args.jsonl {
        write_file(path, |out| {
            synthetic::write_records_jsonl(&dataset.records, out)
        })?;
    }
    if let Some(path) = &args.children {
        write_file(path, |out| {
            synthetic::write_children_jsonl(&dataset.children, out)
        })?;
    }
    eprintln!(
        "generated {} records of {} children (seed {}) into {}",
        dataset.records.len(),
        dataset.children.len(),
        config.seed,
        args.output.display()
    );
    Ok(())
}

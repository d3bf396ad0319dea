//! `child-registry dedupe`: cluster one file (or link two) and write
//! `record_id,cluster_id` for every record.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use matching::csvio::{read_clusters, read_records, write_clusters, ReadOptions};
use matching::evaluate::{blocking_recall, score_clusters};
use matching::{Dataset, DedupeOptions, Model, ModelSpec, Progress};
use rayon::prelude::*;

#[derive(Debug, clap::Args)]
pub struct DedupeArgs {
    /// Records to deduplicate (canonical child CSV unless the model says otherwise).
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_INPUT")]
    pub input: PathBuf,
    /// A second file to link with the first (clusters span both files).
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_INPUT2")]
    pub input2: Option<PathBuf>,
    /// Model file (TOML or JSON). Default: the built-in canonical child model.
    /// A model without trained weights is trained (EM) on the input first.
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_MODEL")]
    pub model: Option<PathBuf>,
    /// Where to write `record_id,cluster_id`.
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_OUTPUT")]
    pub output: PathBuf,
    /// Also write scored pairs (at or above the review threshold) with their explanation.
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_PAIRS")]
    pub pairs: Option<PathBuf>,
    /// Skip malformed rows (and count them) instead of stopping before any output.
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_SKIP_BAD_ROWS")]
    pub skip_bad_rows: bool,
    /// Ground truth `record_id,cluster_id`: report accuracy and blocking recall.
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_TRUTH")]
    pub truth: Option<PathBuf>,
    /// Write a JSON run report (timings, blocking, accuracy when `--truth`).
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_REPORT")]
    pub report: Option<PathBuf>,
    /// Save the model used (trained here if it had no weights) to this file.
    #[arg(long, env = "CHILD_REGISTRY_DEDUPE_SAVE_MODEL")]
    pub save_model: Option<PathBuf>,
}

/// Progress bars on stderr (hidden when stderr is not a terminal).
pub(crate) struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    started: Mutex<Instant>,
    quiet: bool,
}

impl Bars {
    pub(crate) fn new() -> Self {
        Self {
            bar: Mutex::new(None),
            started: Mutex::new(Instant::now()),
            quiet: false,
        }
    }
}

impl Progress for Bars {
    fn phase(&self, name: &str, total: u64) {
        let bar = if total > 0 {
            let b = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{msg:28} [{bar:30}] {pos}/{len} ({eta})")
            {
                b.set_style(style.progress_chars("=> "));
            }
            b
        } else {
            ProgressBar::new_spinner()
        };
        bar.set_message(name.to_string());
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
        if let Ok(mut s) = self.started.lock() {
            *s = Instant::now();
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(b) = slot.as_ref() {
                b.inc(n);
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(b) = slot.take() {
                let secs = self
                    .started
                    .lock()
                    .map(|s| s.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                let msg = b.message();
                b.finish_and_clear();
                if !self.quiet {
                    eprintln!("{msg}: {secs:.2} s");
                }
            }
        }
    }
}

/// Load a model file, or the built-in canonical child model.
pub(crate) fn load_model(path: Option<&Path>) -> anyhow::Result<Model> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading model {}", p.display()))?;
            Model::from_text(&text).with_context(|| format!("model {}", p.display()))
        }
        None => Ok(Model::new(ModelSpec::canonical_child())?),
    }
}

/// Read `--input` (and `--input2`) into a dataset prepared for `model`; the
/// rows skipped as malformed.
fn read_inputs(model: &Model, args: &DedupeArgs) -> anyhow::Result<(Dataset, u64)> {
    let mut data = Dataset::new(model);
    let mut seen = HashSet::new();
    let mut skipped = load_file(
        model,
        &mut data,
        &args.input,
        0,
        args.skip_bad_rows,
        &mut seen,
    )?;
    if let Some(second) = &args.input2 {
        skipped += load_file(model, &mut data, second, 1, args.skip_bad_rows, &mut seen)?;
    }
    if data.is_empty() {
        bail!("no records in the input");
    }
    Ok((data, skipped))
}

/// Read one CSV file into the dataset (side 0 or 1).
pub(crate) fn load_file(
    model: &Model,
    data: &mut Dataset,
    path: &Path,
    side: u8,
    skip_bad_rows: bool,
    seen: &mut HashSet<String>,
) -> anyhow::Result<u64> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!("reading {}", path.display()));
    let options = ReadOptions {
        skip_bad_rows,
        chunk_size: 100_000,
    };
    // Each chunk is prepared (in parallel) as soon as it is read, so the raw
    // records of the whole file are never held at once.
    let report = read_records(
        model,
        BufReader::with_capacity(1 << 20, file),
        options,
        seen,
        |chunk| {
            spinner.inc(chunk.len() as u64);
            data.extend(model, chunk, side);
        },
    )
    .with_context(|| format!("{}: nothing was written", path.display()))?;
    spinner.finish_and_clear();
    if report.skipped > 0 {
        eprintln!(
            "{}: skipped {} malformed rows; the first:",
            path.display(),
            report.skipped
        );
        for p in &report.problems {
            eprintln!("  {p}");
        }
    }
    Ok(report.skipped)
}

fn read_truth(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_clusters(file).with_context(|| format!("reading {}", path.display()))
}

/// Below this many records an input is too small for EM to learn the
/// weights of the built-in child model from it: measured on generated sets,
/// 500 records score pairwise F1 0.74 trained on themselves against 0.91
/// with the built-in trained model (`Model::default_child`, learned from
/// 200,000 records), 2,000 records 0.90 against 0.91, and the two cross near
/// 5,000 (from 10,000 up, training on the input is better: it learns that
/// input's agencies). Without `--model`, smaller inputs use the trained model.
pub(crate) const SMALL_INPUT_RECORDS: usize = 5_000;

pub fn run(args: DedupeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut model = load_model(args.model.as_deref())?;
    let (mut data, mut skipped) = read_inputs(&model, &args)?;
    let small_input = args.model.is_none() && data.len() < SMALL_INPUT_RECORDS;
    if small_input {
        eprintln!(
            "{} records are too few to train on: using the built-in trained child model",
            data.len()
        );
        model = Model::default_child()?;
        (data, skipped) = read_inputs(&model, &args)?;
    }
    eprintln!(
        "read {} records in {:.2} s",
        data.len(),
        started.elapsed().as_secs_f64()
    );
    let bars = Bars::new();
    // Pairs a cannot-link rule holds for are listed with `--pairs` (with
    // their reason); otherwise nothing needs their remaining comparisons.
    let options = DedupeOptions {
        keep_cannot_link_pairs: args.pairs.is_some(),
    };
    let result = matching::dedupe_with(&mut model, &mut data, options, &bars)?;
    let out = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    write_clusters(BufWriter::new(out), &data.ids, &result.labels)?;
    if let Some(path) = &args.pairs {
        write_pairs(path, &model, &data, &result.scored)?;
    }
    if let Some(path) = &args.save_model {
        std::fs::write(path, model.to_json()?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let clusters = result.labels.iter().collect::<HashSet<_>>().len();
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "{} records, {} candidate pairs, {} clusters, {:.2} s",
        data.len(),
        result.blocking.candidate_pairs,
        clusters,
        elapsed
    );
    let mut report = serde_json::json!({
        "records": data.len(),
        "skipped_rows": skipped,
        "candidate_pairs": result.blocking.candidate_pairs,
        "blocking": result.blocking,
        "clusters": clusters,
        "trained_here": result.trained_here,
        "built_in_trained_model": small_input,
        "seconds": elapsed,
    });
    if let Some(truth_path) = &args.truth {
        let truth = read_truth(truth_path)?;
        let missing = data
            .ids
            .iter()
            .filter(|id| !truth.contains_key(*id))
            .count();
        if missing > 0 {
            bail!(
                "{missing} records have no ground truth in {}",
                truth_path.display()
            );
        }
        let t: Vec<&String> = data.ids.iter().filter_map(|id| truth.get(id)).collect();
        let scores = score_clusters(&result.labels, &t);
        let sides = if data.is_link() {
            Some(&data.sides[..])
        } else {
            None
        };
        let (found, total) = blocking_recall(&result.blocks, &t, sides);
        let recall = if total == 0 {
            1.0
        } else {
            found as f64 / total as f64
        };
        eprintln!(
            "pairwise P {:.4} R {:.4} F1 {:.4}; B-cubed F1 {:.4}; blocking recall {:.4} ({found}/{total}); largest cluster {} (true {})",
            scores.pairwise_precision,
            scores.pairwise_recall,
            scores.pairwise_f1,
            scores.bcubed_f1,
            recall,
            scores.largest_predicted_cluster,
            scores.largest_true_cluster
        );
        report["accuracy"] = serde_json::to_value(scores)?;
        report["blocking_recall"] = serde_json::json!(recall);
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn write_pairs(
    path: &Path,
    model: &Model,
    data: &Dataset,
    scored: &[matching::batch::ScoredPair],
) -> anyhow::Result<()> {
    let explanations: Vec<matching::PairExplanation> = scored
        .par_iter()
        .map(|p| model.explain_prepared(&data.prepared[p.a as usize], &data.prepared[p.b as usize]))
        .collect::<Result<_, _>>()?;
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
    let mut header = vec![
        "record_id_l".to_string(),
        "record_id_r".to_string(),
        "match_weight".into(),
        "match_probability".into(),
        "prior_weight".into(),
        "names_swapped".into(),
        "cannot_link".into(),
    ];
    for c in model.comparators() {
        header.push(format!("{}_level", c.name));
        header.push(format!("{}_weight", c.name));
    }
    // Last, so that the columns before it keep their places.
    header.push("whole_name_read".into());
    w.write_record(&header)?;
    for (p, e) in scored.iter().zip(&explanations) {
        let mut row = vec![
            data.ids[p.a as usize].clone(),
            data.ids[p.b as usize].clone(),
            format!("{:.4}", e.match_weight),
            format!("{:.6}", e.match_probability),
            format!("{:.4}", e.prior_weight),
            e.names_swapped.to_string(),
            e.cannot_link.clone().unwrap_or_default(),
        ];
        for c in &e.comparisons {
            row.push(c.level.clone());
            row.push(format!("{:.4}", c.weight));
        }
        row.push(e.whole_name_read.to_string());
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

//! `child-registry train`: estimate a model's weights (u from random pairs, m by EM over
//! blocked pairs, term frequencies, prior), from a canonical child CSV into a JSON file, or
//! from the registry's own records into a new stored model version.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use matching::{Dataset, Model};

use super::dedupe::{load_file, load_model, Bars, SMALL_INPUT_RECORDS};
use super::store_args::{block_on, StoreArgs};
use matching::Progress;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Training records (canonical child CSV unless the model config says otherwise). Without
    /// it, the model is trained on the registry's own current records and stored as a new
    /// model version (not yet active: see `child-registry rescore`).
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_INPUT")]
    pub input: Option<PathBuf>,
    /// Model configuration (TOML or JSON; any trained weights in it are replaced). Default:
    /// the built-in canonical child model for a file, the active model for the registry.
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_MODEL_CONFIG")]
    pub model_config: Option<PathBuf>,
    /// Where to write the trained model (JSON). Required with --input.
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Skip malformed rows (and count them) instead of stopping.
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_SKIP_BAD_ROWS")]
    pub skip_bad_rows: bool,
    /// Why this version was trained, stored with it.
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_NOTE")]
    pub note: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// An untrained copy of `model`: its columns, comparisons, blocking and thresholds.
fn untrained(model: Model) -> anyhow::Result<Model> {
    let mut spec = model.spec().clone();
    if spec.trained.is_none() {
        return Ok(model);
    }
    spec.trained = None;
    Ok(Model::new(spec)?)
}

/// Trains `model` on `data`; returns the number of candidate pairs and what
/// it learned in a few words (the prior, the household's ceiling).
fn fit(model: &mut Model, data: &mut Dataset) -> anyhow::Result<(u64, String)> {
    if data.len() < 2 {
        bail!("need at least two records to train");
    }
    if data.len() < SMALL_INPUT_RECORDS {
        eprintln!(
            "warning: {} records are few to learn weights from (EM needs about {SMALL_INPUT_RECORDS}); \
             the model trained on them may match worse than the built-in one",
            data.len()
        );
    }
    let bars = Bars::new();
    bars.phase("blocking", 0);
    let max_block = model.spec().thresholds.max_block_size;
    let (blocks, _) = data.block(model, max_block);
    bars.finish();
    bars.phase("training (u sampling, EM)", 0);
    let pairs = data.train_model(model, &blocks)?;
    bars.finish();
    let prior = model.spec().trained.as_ref().map_or(0.0, |t| t.prior);
    let mut learned = format!("prior {prior:.3e}");
    if let Some(household) = &model.spec().household {
        match model.household_odds_bits() {
            Some(bits) => {
                let how = if household.max_odds_bits.is_some() {
                    "as the model file fixes it"
                } else {
                    "estimated"
                };
                learned.push_str(&format!(", household ceiling {bits:+.2} bits, {how}"));
            }
            None => learned.push_str(
                ", no household ceiling: too few pairs agree on a household to estimate it",
            ),
        }
    }
    Ok((pairs, learned))
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    match args.input.clone() {
        Some(input) => train_file(&args, &input),
        None => train_registry(args),
    }
}

fn train_file(args: &TrainArgs, input: &std::path::Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let Some(output) = &args.output else {
        bail!("--output is required with --input");
    };
    let mut model = untrained(load_model(args.model_config.as_deref())?)?;
    let mut data = Dataset::new(&model);
    load_file(
        &model,
        &mut data,
        input,
        0,
        args.skip_bad_rows,
        &mut HashSet::new(),
    )?;
    let (pairs, learned) = fit(&mut model, &mut data)?;
    std::fs::write(output, model.to_json()?)
        .with_context(|| format!("writing {}", output.display()))?;
    eprintln!(
        "trained on {} records, {pairs} candidate pairs ({learned}) in {:.2} s; wrote {}",
        data.len(),
        started.elapsed().as_secs_f64(),
        output.display()
    );
    Ok(())
}

fn train_registry(args: TrainArgs) -> anyhow::Result<()> {
    block_on(async move {
        let started = Instant::now();
        let store = args.store.open().await?;
        let base = match &args.model_config {
            Some(path) => load_model(Some(path))?,
            None => store.matcher(None).await?.model().clone(),
        };
        let records = store.match_records().await?;
        let (model, count, pairs, learned) = tokio::task::spawn_blocking(move || {
            let mut model = untrained(base)?;
            let mut data = Dataset::new(&model);
            let rows: Vec<matching::Record> = records
                .iter()
                .map(|record| {
                    registry::linkage::to_match_record_with_id(
                        &record.record_key.to_string(),
                        &record.source_system,
                        &record.child,
                    )
                })
                .collect();
            let count = rows.len();
            data.extend(&model, rows, 0);
            let (pairs, learned) = fit(&mut model, &mut data)?;
            anyhow::Ok((model, count, pairs, learned))
        })
        .await??;
        let spec = model.to_json()?;
        if let Some(output) = &args.output {
            std::fs::write(output, &spec)
                .with_context(|| format!("writing {}", output.display()))?;
        }
        let note = args.note.unwrap_or_else(|| {
            format!("trained on the registry's {count} records ({pairs} candidate pairs)")
        });
        let version = store.add_model_version(&spec, "trained", &note).await?;
        eprintln!(
            "trained on {count} records, {pairs} candidate pairs ({learned}) in {:.2} s; stored as model version {version}",
            started.elapsed().as_secs_f64()
        );
        println!("{version}");
        eprintln!("next: child-registry rescore --model-version {version} --dry-run");
        Ok(())
    })
}

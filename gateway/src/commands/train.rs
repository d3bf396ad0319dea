//! `child-registry train`: estimate a model's weights (u from random pairs, m
//! by EM over blocked pairs, term frequencies, prior) and save it as JSON.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use matching::Dataset;

use super::dedupe::{load_file, load_model, Bars};
use matching::Progress;

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Training records (canonical child CSV unless the model config says otherwise).
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_INPUT")]
    pub input: PathBuf,
    /// Model configuration (TOML or JSON; any trained weights in it are replaced).
    /// Default: the built-in canonical child model.
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_MODEL_CONFIG")]
    pub model_config: Option<PathBuf>,
    /// Where to write the trained model (JSON).
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_OUTPUT")]
    pub output: PathBuf,
    /// Skip malformed rows (and count them) instead of stopping.
    #[arg(long, env = "CHILD_REGISTRY_TRAIN_SKIP_BAD_ROWS")]
    pub skip_bad_rows: bool,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut model = load_model(args.model_config.as_deref())?;
    let mut spec = model.spec().clone();
    if spec.trained.is_some() {
        spec.trained = None;
        model = matching::Model::new(spec)?;
    }
    let mut data = Dataset::new(&model);
    load_file(
        &model,
        &mut data,
        &args.input,
        0,
        args.skip_bad_rows,
        &mut HashSet::new(),
    )?;
    if data.len() < 2 {
        bail!("need at least two records to train");
    }
    let bars = Bars::new();
    bars.phase("blocking", 0);
    let max_block = model.spec().thresholds.max_block_size;
    let (pairs, stats) = data.candidate_pairs(&model, max_block);
    bars.finish();
    bars.phase("training (u sampling, EM)", 0);
    let sessions = data.training_sessions(&model, &pairs);
    let params = matching::train::train(&model, &data.prepared, None, &sessions, &pairs)?;
    bars.finish();
    model.set_trained(params)?;
    std::fs::write(&args.output, model.to_json()?)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let prior = model.spec().trained.as_ref().map_or(0.0, |t| t.prior);
    eprintln!(
        "trained on {} records, {} candidate pairs (prior {prior:.4}) in {:.2} s; wrote {}",
        data.len(),
        stats.candidate_pairs,
        started.elapsed().as_secs_f64(),
        args.output.display()
    );
    Ok(())
}

//! What one candidate pair costs to score, by the ways the engine scores pairs, on a generated
//! set's own candidate pairs (one thread, a uniform sample of them):
//!
//! - `score_prepared`: every comparison (what explanations and clustering use);
//! - `score_floor`: online placing (the costlier comparisons skipped once a pair cannot reach
//!   review, the cannot-link rules always known);
//! - `score_bounded`: batch dedupe (also stops at a cannot-link rule);
//! - each on records prepared one by one (online) and interned in a dataset (batch, memoised);
//! - preparing a record, and the memory a prepared record takes.
//!
//! ```sh
//! cargo run --release -p matching --example pair_cost -- [RECORDS] [SAMPLED_PAIRS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Instant;

use matching::csvio::{read_records, ReadOptions};
use matching::model::weight_of;
use matching::{Bounded, Dataset, Model, PreparedRecord};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let mut args = std::env::args().skip(1);
    let records: usize = args.next().map_or(200_000, |a| a.parse().unwrap());
    let sampled: usize = args.next().map_or(1_000_000, |a| a.parse().unwrap());
    let model = Model::from_text(include_str!("../models/child-trained.json")).unwrap();
    let generated = synthetic::generate(&synthetic::GeneratorConfig {
        records,
        seed: 99,
        events: false,
        ..Default::default()
    });
    let mut csv = Vec::new();
    synthetic::write_canonical_csv(&generated.records, &mut csv).unwrap();
    drop(generated);
    let mut rows = Vec::new();
    read_records(
        &model,
        &csv[..],
        ReadOptions::default(),
        &mut HashSet::new(),
        |chunk| rows.extend(chunk),
    )
    .unwrap();
    let before = resident_bytes();
    let started = Instant::now();
    let one_by_one: Vec<PreparedRecord> = rows.iter().map(|row| model.prepare(row)).collect();
    println!(
        "preparing: {:.2} µs and about {} bytes per record",
        started.elapsed().as_secs_f64() * 1e6 / records as f64,
        resident_bytes().saturating_sub(before) / records as u64
    );
    let mut data = Dataset::new(&model);
    data.extend(&model, rows, 0);
    let (blocks, _) = data.block(&model, model.spec().thresholds.max_block_size);
    let pairs = blocks.candidate_pairs();
    let step = (pairs.len() / sampled.max(1)).max(1);
    let sample: Vec<(usize, usize)> = pairs
        .iter()
        .step_by(step)
        .map(|pair| (pair.a as usize, pair.b as usize))
        .collect();
    println!(
        "{records} records, {} candidate pairs, {} sampled",
        pairs.len(),
        sample.len()
    );
    let floor = weight_of(model.spec().thresholds.review);
    let time = |label: &str, reaches_floor: &dyn Fn(usize, usize) -> bool| {
        let started = Instant::now();
        let kept = sample.iter().filter(|&&(a, b)| reaches_floor(a, b)).count();
        println!(
            "| {label} | {:.2} | {kept} |",
            started.elapsed().as_secs_f64() * 1e6 / sample.len() as f64
        );
    };
    println!("| scoring | µs per pair | pairs at or above review |");
    println!("| --- | ---: | ---: |");
    let ways: [(&str, &[PreparedRecord]); 2] =
        [("one by one", &one_by_one), ("interned", &data.prepared)];
    for (how, prepared) in ways {
        time(&format!("score_prepared, {how}"), &|a, b| {
            model.score_prepared(&prepared[a], &prepared[b]).unwrap().0 >= floor
        });
        time(&format!("score_floor, {how}"), &|a, b| {
            matches!(
                model
                    .score_floor(&prepared[a], &prepared[b], floor)
                    .unwrap(),
                Bounded::Kept { .. }
            )
        });
        time(&format!("score_bounded (batch), {how}"), &|a, b| {
            model
                .score_bounded(&prepared[a], &prepared[b], floor, true)
                .unwrap()
                .is_some()
        });
    }
}

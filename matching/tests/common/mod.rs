//! Generated children's records for the integration tests, read from the
//! canonical CSV as the engine reads any file.
// Each test crate includes this module and uses what it needs.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

use matching::csvio::{read_clusters, read_records, ReadOptions};
use matching::{Model, Record};

/// `records` generated records (seed `seed`), and each record's true child.
pub fn generated_with_truth(seed: u64, records: usize) -> (Vec<Record>, HashMap<String, String>) {
    let config = synthetic::GeneratorConfig {
        seed,
        records,
        events: false,
        ..Default::default()
    };
    let generated = synthetic::generate(&config);
    let mut csv = Vec::new();
    synthetic::write_canonical_csv(&generated.records, &mut csv).expect("csv");
    let mut truth_csv = Vec::new();
    synthetic::write_truth_csv(&generated.records, &mut truth_csv).expect("truth");
    let model = Model::default_child().expect("the shipped model loads");
    let mut rows = Vec::new();
    read_records(
        &model,
        &csv[..],
        ReadOptions::default(),
        &mut HashSet::new(),
        |c| rows.extend(c),
    )
    .expect("reads");
    (rows, read_clusters(&truth_csv[..]).expect("truth rows"))
}

/// `records` generated records (seed `seed`).
pub fn generated(seed: u64, records: usize) -> Vec<Record> {
    generated_with_truth(seed, records).0
}

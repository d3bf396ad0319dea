//! Batch blocking generates candidate pairs record by record from its block
//! index; they must be exactly the pairs that share a blocking key, the
//! definition the registry applies one registration at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::generated;
use matching::{Dataset, Model, Record};

/// Pairs (i < j, across sides when `sides` is given) that share a key.
fn sharing_a_key(model: &Model, records: &[Record], sides: Option<&[u8]>) -> BTreeSet<(u32, u32)> {
    let keys: Vec<BTreeSet<String>> = records
        .iter()
        .map(|r| model.blocking_keys(r).into_iter().collect())
        .collect();
    let mut pairs = BTreeSet::new();
    for i in 0..records.len() {
        for j in i + 1..records.len() {
            if sides.is_some_and(|s| s[i] == s[j]) {
                continue;
            }
            if !keys[i].is_disjoint(&keys[j]) {
                pairs.insert((i as u32, j as u32));
            }
        }
    }
    pairs
}

#[test]
fn candidates_are_the_pairs_that_share_a_key() {
    let model = Model::default_child().expect("model");
    let records = generated(11, 1_500);
    let mut data = Dataset::new(&model);
    data.extend(&model, records.clone(), 0);
    // No block is skipped at this size, so nothing but shared keys decides.
    let (blocks, stats) = data.block(&model, usize::MAX);
    assert_eq!(stats.skipped_blocks, 0);
    let candidates = blocks.candidate_pairs();
    let got: Vec<(u32, u32)> = candidates.iter().map(|p| (p.a, p.b)).collect();
    let expected: Vec<(u32, u32)> = sharing_a_key(&model, &records, None).into_iter().collect();
    assert!(
        expected.len() > 1_000,
        "too few pairs to test: {}",
        expected.len()
    );
    assert_eq!(got, expected, "in (a, b) order, each pair once");
    assert!(candidates.iter().all(|p| p.rules != 0));
    for p in candidates.iter().step_by(7) {
        assert!(blocks.contains_pair(p.a, p.b) && blocks.contains_pair(p.b, p.a));
    }
    let sample = blocks.sample(candidates.len() / 4);
    assert_eq!(sample.total, candidates.len() as u64);
    assert!(
        // A pair of records that share several blocks counts once per block
        // in the rate's denominator: at this size the rules overlap a lot.
        sample.pairs.len() > candidates.len() / 64 && sample.pairs.len() <= candidates.len() / 2,
        "sample of {} from {}",
        sample.pairs.len(),
        candidates.len()
    );
    assert!(sample
        .pairs
        .iter()
        .all(|p| got.binary_search(&(p.a, p.b)).is_ok()));
}

#[test]
fn linking_two_files_pairs_only_across_them() {
    let model = Model::default_child().expect("model");
    let records = generated(12, 1_200);
    let (left, right) = records.split_at(600);
    let mut data = Dataset::new(&model);
    data.extend(&model, left.to_vec(), 0);
    data.extend(&model, right.to_vec(), 1);
    let sides = data.sides.clone();
    let (blocks, _) = data.block(&model, usize::MAX);
    let got: Vec<(u32, u32)> = blocks
        .candidate_pairs()
        .iter()
        .map(|p| (p.a, p.b))
        .collect();
    let expected: Vec<(u32, u32)> = sharing_a_key(&model, &records, Some(&sides))
        .into_iter()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
    assert!(!blocks.contains_pair(0, 1), "same side");
}

//! Batch deduplication and linkage: prepare records, block, train when
//! needed, score candidate pairs in parallel, cluster.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use rayon::prelude::*;

use crate::blocking::{BlockingStats, KeyCache};
use crate::cluster::{cluster, Edge};
use crate::error::Result;
use crate::model::{probability, weight_of, Model, PreparedRecord};
use crate::record::Record;
use crate::train::{train, CandidatePair, TrainingSession};

/// Progress of long phases, for a caller's progress bar. All methods default
/// to doing nothing.
pub trait Progress: Sync {
    /// A phase starts, with its total amount of work (0 when unknown).
    fn phase(&self, _name: &str, _total: u64) {}
    /// Work done in the current phase.
    fn advance(&self, _n: u64) {}
    /// The current phase is finished.
    fn finish(&self) {}
}

/// A [`Progress`] that reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Records prepared for batch matching.
#[derive(Debug, Default)]
pub struct Dataset {
    /// Record identifiers, in input order.
    pub ids: Vec<String>,
    /// 0 for the first input, 1 for the second (linking two files).
    pub sides: Vec<u8>,
    /// Prepared values, aligned with `ids`.
    pub prepared: Vec<PreparedRecord>,
    /// Per blocking rule: (key hash, record index).
    keys: Vec<Vec<(u64, u32)>>,
}

fn key_hash(rule: usize, key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    rule.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

impl Dataset {
    /// An empty dataset for this model.
    pub fn new(model: &Model) -> Self {
        Self {
            keys: vec![Vec::new(); model.blocking_rules().len() + model.training_rules().len()],
            ..Self::default()
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Prepare and add records (in parallel), all from the same side.
    pub fn extend(&mut self, model: &Model, records: Vec<Record>, side: u8) {
        let start = self.ids.len() as u32;
        let prepared: Vec<(PreparedRecord, Vec<Vec<u64>>)> = records
            .par_iter()
            .map(|r| {
                let mut cache = KeyCache::default();
                let keys = model
                    .blocking_rules()
                    .iter()
                    .chain(model.training_rules())
                    .enumerate()
                    .map(|(ri, rule)| {
                        rule.keys_cached(r, model.encoder(), &mut cache)
                            .iter()
                            .map(|k| key_hash(ri, k))
                            .collect()
                    })
                    .collect();
                (model.prepare(r), keys)
            })
            .collect();
        for (i, (p, keys)) in prepared.into_iter().enumerate() {
            let idx = start + i as u32;
            for (ri, ks) in keys.into_iter().enumerate() {
                for k in ks {
                    self.keys[ri].push((k, idx));
                }
            }
            self.prepared.push(p);
        }
        for r in records {
            self.ids.push(r.id);
            self.sides.push(side);
        }
    }

    /// Whether the dataset links two sides.
    pub fn is_link(&self) -> bool {
        self.sides.iter().any(|&s| s != 0)
    }

    /// The pairs of one rule (index into prediction then training rules),
    /// sorted and distinct, and the skipped (blocks, records).
    fn rule_pairs(&mut self, ri: usize, max_block_size: usize) -> (Vec<u64>, u64, u64) {
        let link = self.is_link();
        let sides = &self.sides;
        let keys = &mut self.keys[ri];
        keys.par_sort_unstable();
        keys.dedup();
        let (mut skipped, mut skipped_records) = (0, 0);
        let mut blocks: Vec<&[(u64, u32)]> = Vec::new();
        let mut start = 0;
        for i in 1..=keys.len() {
            if i == keys.len() || keys[i].0 != keys[start].0 {
                if i - start >= 2 {
                    if i - start > max_block_size {
                        skipped += 1;
                        skipped_records += (i - start) as u64;
                    } else {
                        blocks.push(&keys[start..i]);
                    }
                }
                start = i;
            }
        }
        let mut pairs: Vec<u64> = blocks
            .par_iter()
            .flat_map_iter(|block| {
                let mut out = Vec::new();
                for x in 0..block.len() {
                    for y in x + 1..block.len() {
                        let (a, b) = (block[x].1, block[y].1);
                        if a == b || (link && sides[a as usize] == sides[b as usize]) {
                            continue;
                        }
                        let (a, b) = (a.min(b), a.max(b));
                        out.push((u64::from(a) << 32) | u64::from(b));
                    }
                }
                out
            })
            .collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        (pairs, skipped, skipped_records)
    }

    /// The union of the blocking rules' candidate pairs, sorted, each with the
    /// rules that produced it. In link mode only pairs across sides.
    pub fn candidate_pairs(
        &mut self,
        model: &Model,
        max_block_size: usize,
    ) -> (Vec<CandidatePair>, BlockingStats) {
        let mut stats = BlockingStats::default();
        let mut all: Vec<u64> = Vec::new();
        let mut rule_bits: Vec<Vec<u64>> = Vec::new();
        for ri in 0..model.blocking_rules().len() {
            let (pairs, skipped, skipped_records) = self.rule_pairs(ri, max_block_size);
            stats.skipped_blocks += skipped;
            stats.skipped_block_records += skipped_records;
            stats
                .pairs_per_rule
                .push((rule_name(model, ri), pairs.len() as u64));
            all.extend_from_slice(&pairs);
            rule_bits.push(pairs);
        }
        all.par_sort_unstable();
        all.dedup();
        let mut bits = vec![0u32; all.len()];
        for (ri, pairs) in rule_bits.iter().enumerate() {
            let bit = 1u32 << ri.min(31);
            // Both sorted: merge.
            let mut j = 0;
            for p in pairs {
                while all[j] < *p {
                    j += 1;
                }
                bits[j] |= bit;
            }
        }
        drop(rule_bits);
        let pairs: Vec<CandidatePair> = all
            .iter()
            .zip(bits)
            .map(|(&p, rules)| unpack(p, rules))
            .collect();
        stats.candidate_pairs = pairs.len() as u64;
        (pairs, stats)
    }

    /// The EM sessions: one per training blocking rule of the model, or, when
    /// it has none, one per prediction rule (from `candidates`).
    pub fn training_sessions(
        &mut self,
        model: &Model,
        candidates: &[CandidatePair],
    ) -> Vec<TrainingSession> {
        let max_block = model.spec().thresholds.max_block_size;
        let n_pred = model.blocking_rules().len();
        if model.training_rules().is_empty() {
            return model
                .blocking_rules()
                .iter()
                .enumerate()
                .map(|(ri, rule)| {
                    let bit = 1u32 << ri.min(31);
                    TrainingSession {
                        columns: rule.columns().iter().map(|c| c.to_string()).collect(),
                        pairs: candidates
                            .iter()
                            .filter(|p| p.rules & bit != 0)
                            .copied()
                            .collect(),
                    }
                })
                .collect();
        }
        let rules: Vec<(usize, Vec<String>)> = model
            .training_rules()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    n_pred + i,
                    r.columns().iter().map(|c| c.to_string()).collect(),
                )
            })
            .collect();
        rules
            .into_iter()
            .map(|(ri, columns)| {
                let (pairs, _, _) = self.rule_pairs(ri, max_block);
                TrainingSession {
                    columns,
                    pairs: pairs.into_iter().map(|p| unpack(p, 0)).collect(),
                }
            })
            .collect()
    }
}

fn unpack(p: u64, rules: u32) -> CandidatePair {
    CandidatePair {
        a: (p >> 32) as u32,
        b: p as u32,
        rules,
    }
}

fn rule_name(model: &Model, ri: usize) -> String {
    model
        .blocking_rules()
        .get(ri)
        .map_or_else(|| format!("rule{ri}"), |r| r.name.clone())
}

/// A scored candidate pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    pub a: u32,
    pub b: u32,
    pub weight: f64,
    pub cannot_link: bool,
}

/// The result of a batch run.
#[derive(Debug)]
pub struct DedupeResult {
    /// A cluster label per record (aligned with the dataset).
    pub labels: Vec<u32>,
    /// Candidate pairs (for blocking recall).
    pub candidates: Vec<CandidatePair>,
    /// Scored pairs at or above the review threshold.
    pub scored: Vec<ScoredPair>,
    pub blocking: BlockingStats,
    /// Whether the model was trained in this run.
    pub trained_here: bool,
}

/// Deduplicate (or link) a dataset. Trains the model first when it has no
/// weights (the trained model is left in `model`).
pub fn dedupe(
    model: &mut Model,
    data: &mut Dataset,
    progress: &dyn Progress,
) -> Result<DedupeResult> {
    let t = model.spec().thresholds.clone();
    progress.phase("blocking", 0);
    let (candidates, blocking) = data.candidate_pairs(model, t.max_block_size);
    progress.finish();
    let mut trained_here = false;
    if !model.is_trained() {
        progress.phase("training (u sampling, EM)", 0);
        let sessions = data.training_sessions(model, &candidates);
        let sides = if data.is_link() {
            Some(&data.sides[..])
        } else {
            None
        };
        let params = train(model, &data.prepared, sides, &sessions, &candidates)?;
        model.set_trained(params)?;
        trained_here = true;
        progress.finish();
    }
    progress.phase("scoring candidate pairs", candidates.len() as u64);
    let review_w = weight_of(t.review.min(t.cluster_edge()));
    let model_ref = &*model;
    let prepared = &data.prepared;
    let scored: Vec<ScoredPair> = candidates
        .par_chunks(16_384)
        .flat_map_iter(|chunk| {
            let out: Vec<ScoredPair> = chunk
                .iter()
                .filter_map(|p| {
                    let (w, cannot) = model_ref
                        .score_prepared(&prepared[p.a as usize], &prepared[p.b as usize])
                        .ok()?;
                    (w >= review_w).then_some(ScoredPair {
                        a: p.a,
                        b: p.b,
                        weight: w,
                        cannot_link: cannot.is_some(),
                    })
                })
                .collect();
            progress.advance(chunk.len() as u64);
            out
        })
        .collect();
    progress.finish();
    progress.phase("clustering", 0);
    let link_w = weight_of(t.cluster_edge());
    let edges: Vec<Edge> = scored
        .iter()
        .filter(|s| s.weight >= link_w && !s.cannot_link)
        .map(|s| Edge {
            a: s.a,
            b: s.b,
            probability: probability(s.weight),
        })
        .collect();
    let link = data.is_link();
    let sides_all = &data.sides;
    let score = |a: u32, b: u32| -> (f64, bool) {
        if link && sides_all[a as usize] == sides_all[b as usize] {
            // Records of the same file are distinct by assumption when linking.
            return (0.0, false);
        }
        match model_ref.score_prepared(&prepared[a as usize], &prepared[b as usize]) {
            Ok((w, c)) => (probability(w), c.is_some()),
            Err(_) => (0.0, true),
        }
    };
    let labels = cluster(data.len(), &edges, score, t.cluster_mean, t.cluster_min);
    progress.finish();
    Ok(DedupeResult {
        labels,
        candidates,
        scored,
        blocking,
        trained_here,
    })
}

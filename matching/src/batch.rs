//! Batch deduplication and linkage: prepare records, block, train when
//! needed, score candidate pairs in parallel, cluster.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};

use rayon::prelude::*;

use crate::blocking::{BlockingStats, KeyCache};
use crate::cluster::{cluster, Edge};
use crate::compare::Value;
use crate::error::Result;
use crate::model::{probability, weight_of, Model, PreparedRecord};
use crate::record::Record;
use crate::train::{train, CandidatePair, CandidateSample, TrainingSession};

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
#[derive(Debug)]
pub struct Dataset {
    /// Record identifiers, in input order.
    pub ids: Vec<String>,
    /// 0 for the first input, 1 for the second (linking two files).
    pub sides: Vec<u8>,
    /// Prepared values, aligned with `ids`.
    pub prepared: Vec<PreparedRecord>,
    /// Per blocking rule: (key hash, record index).
    keys: Vec<Vec<(u64, u32)>>,
    interner: Interner,
}

/// Gives every distinct name and place of a dataset an id, so that the
/// comparators can memoise their comparisons (see `compare::memo`). Ids
/// carry the dataset's number in their high half: two datasets' ids never
/// meet in a memo.
#[derive(Debug)]
struct Interner {
    batch: u64,
    /// Names by normalised form, Latin-script then Khmer-script (the script
    /// changes how loosely a name is compared).
    names: [HashMap<Box<str>, u64>; 2],
    places: HashMap<Box<str>, u64>,
    next: u64,
}

impl Interner {
    fn new() -> Self {
        static BATCHES: AtomicU32 = AtomicU32::new(0);
        Self {
            batch: u64::from(BATCHES.fetch_add(1, AtomicOrdering::Relaxed)) << 32,
            names: [HashMap::new(), HashMap::new()],
            places: HashMap::new(),
            next: 0,
        }
    }

    fn id(next: &mut u64, batch: u64, map: &mut HashMap<Box<str>, u64>, key: &str) -> u64 {
        if let Some(&id) = map.get(key) {
            return id;
        }
        // Ids are unique within the low 32 bits: past that many distinct
        // values, the rest are compared without the memo.
        if *next >= u64::from(u32::MAX) {
            return 0;
        }
        *next += 1;
        let id = batch | *next;
        map.insert(key.into(), id);
        id
    }

    fn intern(&mut self, value: &mut Value) {
        match value {
            Value::Name(n) => {
                let map = &mut self.names[usize::from(n.khmer)];
                n.id = Self::id(&mut self.next, self.batch, map, &n.norm);
            }
            Value::Location(places) => {
                for place in places.iter_mut().flatten() {
                    place.id = Self::id(&mut self.next, self.batch, &mut self.places, &place.name);
                }
            }
            _ => {}
        }
    }

    fn intern_record(&mut self, record: &mut PreparedRecord) {
        for value in &mut record.values {
            self.intern(value);
        }
        for (given, family) in &mut record.name_readings {
            self.intern(given);
            self.intern(family);
        }
    }
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
            ids: Vec::new(),
            sides: Vec::new(),
            prepared: Vec::new(),
            keys: vec![Vec::new(); model.blocking_rules().len() + model.training_rules().len()],
            interner: Interner::new(),
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
        for (i, (mut p, keys)) in prepared.into_iter().enumerate() {
            self.interner.intern_record(&mut p);
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

    /// Group the records into the prediction rules' blocks. Blocks larger
    /// than `max_block_size` are skipped and counted. The records' keys of
    /// those rules are released: add every record before blocking.
    pub fn block(&mut self, model: &Model, max_block_size: usize) -> (Blocks, BlockingStats) {
        let mut stats = BlockingStats::default();
        let mut blocks = self.empty_blocks();
        for ri in 0..model.blocking_rules().len() {
            let mut keys = std::mem::take(&mut self.keys[ri]);
            blocks.add_rule(&mut keys, rule_bit(ri), max_block_size, &mut stats);
            stats.pairs_per_rule.push((rule_name(model, ri), 0));
        }
        blocks.index_records(self.len());
        (blocks, stats)
    }

    fn empty_blocks(&self) -> Blocks {
        Blocks {
            block_start: vec![0],
            sides: self.is_link().then(|| self.sides.clone()),
            ..Blocks::default()
        }
    }

    /// Trains `model` on these records: u from random pairs, m by EM in the
    /// training sessions, the prior over a sample of `blocks`' candidates.
    /// Returns how many candidate pairs `blocks` holds.
    pub fn train_model(&mut self, model: &mut Model, blocks: &Blocks) -> Result<u64> {
        let sample = blocks.sample(model.spec().training.em_max_pairs);
        let sessions = self.training_sessions(model, blocks);
        let sides = self.is_link().then_some(&self.sides[..]);
        let params = train(model, &self.prepared, sides, &sessions, &sample)?;
        model.set_trained(params)?;
        Ok(sample.total)
    }

    /// The EM sessions: one per training blocking rule of the model, or, when
    /// it has none, one per prediction rule (from `blocks`).
    pub fn training_sessions(&mut self, model: &Model, blocks: &Blocks) -> Vec<TrainingSession> {
        let max_block = model.spec().thresholds.max_block_size;
        let n_pred = model.blocking_rules().len();
        if model.training_rules().is_empty() {
            return model
                .blocking_rules()
                .iter()
                .enumerate()
                .map(|(ri, rule)| TrainingSession {
                    columns: rule.columns().iter().map(|c| c.to_string()).collect(),
                    pairs: blocks.rule_pairs(rule_bit(ri)),
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
                let mut rule = self.empty_blocks();
                let bit = rule_bit(ri);
                rule.add_rule(
                    &mut self.keys[ri],
                    bit,
                    max_block,
                    &mut BlockingStats::default(),
                );
                TrainingSession {
                    columns,
                    pairs: rule.rule_pairs(bit),
                }
            })
            .collect()
    }
}

/// The bit of rule `ri` in [`CandidatePair::rules`] (rules past the 32nd share the last bit).
fn rule_bit(ri: usize) -> u32 {
    1u32 << ri.min(31)
}

/// Records grouped by the prediction rules' blocking keys. Candidate pairs
/// are generated from it record by record, never all held at once: at a
/// million records they number about a hundred million, and most of them
/// score far below any threshold.
#[derive(Debug, Default)]
pub struct Blocks {
    /// The records of every kept block, block after block, ascending within each.
    members: Vec<u32>,
    /// Where each block starts in `members` (one more entry: the end).
    block_start: Vec<usize>,
    /// The rule bit of each block.
    block_bit: Vec<u32>,
    /// Where each record's blocks start in `record_blocks` (one more entry: the end).
    record_start: Vec<usize>,
    /// The blocks of each record, ascending.
    record_blocks: Vec<u32>,
    /// Each record's side, when linking two files (pairs only across sides).
    sides: Option<Vec<u8>>,
    /// Pairs within blocks, counted with repeats across rules: an upper
    /// bound of the candidate pairs.
    pairs_bound: u64,
}

/// Records handed to one call of [`Blocks::map_candidates`]'s function.
const RECORDS_PER_CHUNK: usize = 2048;

impl Blocks {
    /// Add one rule's blocks: its (key, record) entries grouped by key,
    /// blocks of one record left out, blocks above `max_block_size` skipped
    /// and counted in `stats`.
    fn add_rule(
        &mut self,
        keys: &mut Vec<(u64, u32)>,
        bit: u32,
        max_block_size: usize,
        stats: &mut BlockingStats,
    ) {
        keys.par_sort_unstable();
        keys.dedup();
        for block in keys.chunk_by(|x, y| x.0 == y.0).filter(|b| b.len() >= 2) {
            if block.len() > max_block_size {
                stats.skipped_blocks += 1;
                stats.skipped_block_records += block.len() as u64;
                continue;
            }
            // Sorted by (key, record): each block's records ascend.
            self.members.extend(block.iter().map(|k| k.1));
            self.block_start.push(self.members.len());
            self.block_bit.push(bit);
            let n = block.len() as u64;
            self.pairs_bound += n * (n - 1) / 2;
        }
    }

    fn index_records(&mut self, records: usize) {
        let mut start = vec![0usize; records + 1];
        for &m in &self.members {
            start[m as usize + 1] += 1;
        }
        for i in 0..records {
            start[i + 1] += start[i];
        }
        let mut next = start.clone();
        self.record_blocks = vec![0; self.members.len()];
        for (block, bounds) in self.block_start.windows(2).enumerate() {
            for &m in &self.members[bounds[0]..bounds[1]] {
                self.record_blocks[next[m as usize]] = block as u32;
                next[m as usize] += 1;
            }
        }
        self.record_start = start;
    }

    fn records(&self) -> usize {
        self.record_start.len().saturating_sub(1)
    }

    fn blocks_of(&self, record: u32) -> &[u32] {
        let r = record as usize;
        &self.record_blocks[self.record_start[r]..self.record_start[r + 1]]
    }

    fn block(&self, block: u32) -> &[u32] {
        let b = block as usize;
        &self.members[self.block_start[b]..self.block_start[b + 1]]
    }

    fn across(&self, a: u32, b: u32) -> bool {
        self.sides
            .as_ref()
            .is_none_or(|s| s[a as usize] != s[b as usize])
    }

    /// Append the candidate pairs (a, b) with b > a, each once with all its
    /// rules' bits, ascending by b.
    fn candidates_of(&self, a: u32, out: &mut Vec<CandidatePair>) {
        let first = out.len();
        for &block in self.blocks_of(a) {
            let members = self.block(block);
            let rules = self.block_bit[block as usize];
            let after = members.partition_point(|&m| m <= a);
            for &b in &members[after..] {
                if self.across(a, b) {
                    out.push(CandidatePair { a, b, rules });
                }
            }
        }
        out[first..].sort_unstable_by_key(|p| p.b);
        let mut kept = first;
        for i in first..out.len() {
            if kept > first && out[kept - 1].b == out[i].b {
                out[kept - 1].rules |= out[i].rules;
            } else {
                out[kept] = out[i];
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    /// Run `f` on the candidate pairs of consecutive runs of records, in
    /// parallel; results in record order. Every candidate pair is in exactly
    /// one call.
    pub fn map_candidates<R, F>(&self, f: F) -> Vec<R>
    where
        R: Send,
        F: Fn(&[CandidatePair]) -> R + Sync,
    {
        let n = self.records();
        (0..n.div_ceil(RECORDS_PER_CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let mut pairs = Vec::new();
                let first = chunk * RECORDS_PER_CHUNK;
                for a in first..(first + RECORDS_PER_CHUNK).min(n) {
                    self.candidates_of(a as u32, &mut pairs);
                }
                f(&pairs)
            })
            .collect()
    }

    /// Every candidate pair, in (a, b) order. For small inputs and tools:
    /// batch runs use [`Blocks::map_candidates`].
    pub fn candidate_pairs(&self) -> Vec<CandidatePair> {
        self.map_candidates(<[CandidatePair]>::to_vec)
            .into_iter()
            .flatten()
            .collect()
    }

    /// A uniform, deterministic sample of at most about `max_pairs`
    /// candidate pairs (all of them when there are fewer), and their total
    /// count. The rate is `max_pairs` over the pairs counted once per block
    /// they share, known before any pair is generated: the more the rules
    /// overlap, the smaller the sample.
    pub fn sample(&self, max_pairs: usize) -> CandidateSample {
        let rate = (max_pairs as f64 / self.pairs_bound.max(1) as f64).min(1.0);
        let below = (rate * u64::MAX as f64) as u64;
        let chunks = self.map_candidates(|pairs| {
            let kept: Vec<CandidatePair> = pairs
                .iter()
                .filter(|p| rate >= 1.0 || mix((u64::from(p.a) << 32) | u64::from(p.b)) < below)
                .copied()
                .collect();
            (pairs.len() as u64, kept)
        });
        let mut sample = CandidateSample::default();
        for (count, kept) in chunks {
            sample.total += count;
            sample.pairs.extend(kept);
        }
        sample
    }

    /// The distinct pairs of the blocks of one rule bit.
    fn rule_pairs(&self, bit: u32) -> Vec<CandidatePair> {
        let mut pairs: Vec<u64> = (0..self.block_bit.len() as u32)
            .into_par_iter()
            .filter(|&b| self.block_bit[b as usize] == bit)
            .flat_map_iter(|block| {
                let members = self.block(block);
                let mut out = Vec::new();
                for (i, &a) in members.iter().enumerate() {
                    for &b in &members[i + 1..] {
                        if a != b && self.across(a, b) {
                            out.push((u64::from(a) << 32) | u64::from(b));
                        }
                    }
                }
                out
            })
            .collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        pairs.into_iter().map(|p| unpack(p, bit)).collect()
    }

    /// Whether two records share a block (are a candidate pair).
    pub fn contains_pair(&self, a: u32, b: u32) -> bool {
        if a == b || !self.across(a, b) {
            return false;
        }
        let (x, y) = (self.blocks_of(a), self.blocks_of(b));
        let (mut i, mut j) = (0, 0);
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

/// SplitMix64's finaliser: a well-spread hash of a pair, for sampling.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
    /// The blocks the candidate pairs came from (for blocking recall).
    pub blocks: Blocks,
    /// Scored pairs at or above the review threshold; those a cannot-link
    /// rule holds for only with [`DedupeOptions::keep_cannot_link_pairs`].
    pub scored: Vec<ScoredPair>,
    pub blocking: BlockingStats,
    /// Whether the model was trained in this run.
    pub trained_here: bool,
}

/// What a batch run keeps besides the clusters.
#[derive(Debug, Clone, Copy, Default)]
pub struct DedupeOptions {
    /// Keep scored pairs that a cannot-link rule holds for (to list them
    /// with their explanations). They are never clustering edges, and most
    /// candidate pairs are such (siblings and namesakes in one block), so
    /// without this their remaining comparisons are skipped.
    pub keep_cannot_link_pairs: bool,
}

/// Deduplicate (or link) a dataset. Trains the model first when it has no
/// weights (the trained model is left in `model`).
pub fn dedupe(
    model: &mut Model,
    data: &mut Dataset,
    progress: &dyn Progress,
) -> Result<DedupeResult> {
    dedupe_with(model, data, DedupeOptions::default(), progress)
}

/// [`dedupe`] with options.
pub fn dedupe_with(
    model: &mut Model,
    data: &mut Dataset,
    options: DedupeOptions,
    progress: &dyn Progress,
) -> Result<DedupeResult> {
    let t = model.spec().thresholds.clone();
    progress.phase("blocking", 0);
    let (blocks, mut blocking) = data.block(model, t.max_block_size);
    progress.finish();
    let mut trained_here = false;
    if !model.is_trained() {
        progress.phase("training (u sampling, EM)", 0);
        data.train_model(model, &blocks)?;
        trained_here = true;
        progress.finish();
    }
    progress.phase("scoring candidate pairs", data.len() as u64);
    let review_w = weight_of(t.review.min(t.cluster_edge()));
    let model_ref = &*model;
    let prepared = &data.prepared;
    let rules = blocking.pairs_per_rule.len();
    let records = data.len();
    let chunks = blocks.map_candidates(|pairs| {
        crate::compare::size_memos_for(records);
        let mut per_rule = vec![0u64; rules];
        let scored: Vec<ScoredPair> = pairs
            .iter()
            .filter_map(|p| {
                let mut bits = p.rules;
                while bits != 0 {
                    if let Some(n) = per_rule.get_mut(bits.trailing_zeros() as usize) {
                        *n += 1;
                    }
                    bits &= bits - 1;
                }
                let (w, cannot) = model_ref
                    .score_bounded(
                        &prepared[p.a as usize],
                        &prepared[p.b as usize],
                        review_w,
                        !options.keep_cannot_link_pairs,
                    )
                    .ok()??;
                Some(ScoredPair {
                    a: p.a,
                    b: p.b,
                    weight: w,
                    cannot_link: cannot.is_some(),
                })
            })
            .collect();
        progress.advance(RECORDS_PER_CHUNK as u64);
        (pairs.len() as u64, per_rule, scored)
    });
    let mut scored = Vec::new();
    for (count, per_rule, kept) in chunks {
        blocking.candidate_pairs += count;
        for ((_, total), n) in blocking.pairs_per_rule.iter_mut().zip(per_rule) {
            *total += n;
        }
        scored.extend(kept);
    }
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
    // Records of the same file are distinct by assumption when linking.
    let same_file = |a: u32, b: u32| link && sides_all[a as usize] == sides_all[b as usize];
    let score = |a: u32, b: u32| -> (f64, bool) {
        if same_file(a, b) {
            return (0.0, false);
        }
        match model_ref.score_prepared(&prepared[a as usize], &prepared[b as usize]) {
            Ok((w, c)) => (probability(w), c.is_some()),
            Err(_) => (0.0, true),
        }
    };
    let reconcile = |a: u32, b: u32, members: &[u32]| -> Option<f64> {
        if same_file(a, b) {
            return None;
        }
        let others = members
            .iter()
            .filter(|&&m| m != a && m != b)
            .map(|&m| &prepared[m as usize]);
        match model_ref.score_given_names_written_together(
            &prepared[a as usize],
            &prepared[b as usize],
            others,
        ) {
            Ok(Some((w, None))) => Some(probability(w)),
            _ => None,
        }
    };
    let labels = cluster(
        data.len(),
        &edges,
        score,
        reconcile,
        t.cluster_mean,
        t.cluster_min,
    );
    progress.finish();
    Ok(DedupeResult {
        labels,
        blocks,
        scored,
        blocking,
        trained_here,
    })
}

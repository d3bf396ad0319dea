//! Training: u from random pairs, m by expectation–maximisation over blocked
//! pairs, term-frequency tables, and the prior.
//!
//! As in Splink's documented workflow, m is estimated in one EM session per
//! blocking rule, on the pairs that rule produced; the comparisons that read
//! the rule's own columns are left out of that session (blocking made them
//! agree, so their agreement says nothing there). Each comparison's m is the
//! median over the sessions that estimated it, small sessions drawn towards
//! what all of them saw ([`combine_sessions`]). The prior
//! (probability that a candidate pair is a match) is then found by EM over
//! all candidate pairs with m, u and the term frequencies fixed.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::compare::{NameValue, Value, NULL_LEVEL};
use crate::error::{MatchError, Result};
use crate::model::{probability, weight_of, Model, PreparedRecord};
use crate::spec::{LevelParams, TfTable, TrainedParams};

/// A candidate pair: record indices (`a < b`) and the bit set of the blocking
/// rules that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandidatePair {
    pub a: u32,
    pub b: u32,
    pub rules: u32,
}

/// A uniform sample of the candidate pairs (for training), and how many
/// candidate pairs there are in all.
#[derive(Debug, Clone, Default)]
pub struct CandidateSample {
    pub pairs: Vec<CandidatePair>,
    pub total: u64,
}

impl CandidateSample {
    /// How many candidate pairs each sampled pair stands for.
    pub fn scale(&self) -> f64 {
        if self.pairs.is_empty() {
            1.0
        } else {
            self.total as f64 / self.pairs.len() as f64
        }
    }
}

/// The pairs of one EM session and the columns its blocking rule read.
#[derive(Debug, Clone, Default)]
pub struct TrainingSession {
    pub columns: Vec<String>,
    pub pairs: Vec<CandidatePair>,
}

/// A small deterministic generator (SplitMix64), enough for sampling pairs.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Count normalised values of the term-frequency comparisons.
pub fn term_frequencies(model: &Model, records: &[PreparedRecord]) -> BTreeMap<String, TfTable> {
    let mut out = BTreeMap::new();
    for (i, c) in model.comparators().iter().enumerate() {
        if !c.tf {
            continue;
        }
        let mut counts: HashMap<std::borrow::Cow<'_, str>, u64> = HashMap::new();
        let mut total = 0u64;
        for r in records {
            let key = match &r.values[i] {
                Value::Name(n) => (&*n.norm).into(),
                Value::Text(t) => (&**t).into(),
                Value::Date(d) => d.key().into(),
                _ => continue,
            };
            *counts.entry(key).or_default() += 1;
            total += 1;
        }
        let counts = counts
            .into_iter()
            .filter(|(_, c)| *c >= 2)
            .map(|(k, c)| (k.to_string(), c))
            .collect();
        out.insert(c.name.clone(), TfTable { total, counts });
    }
    if let Some((gi, fi)) = model.name_pair() {
        let (comps, mut counts, mut total) = (model.comparators(), HashMap::new(), 0u64);
        if comps[gi].tf && comps[fi].tf {
            for r in records {
                if let (Value::Name(given), Value::Name(family)) = (&r.values[gi], &r.values[fi]) {
                    *counts.entry(joint_name_key(given, family)).or_insert(0u64) += 1;
                    total += 1;
                }
            }
            let counts = counts.into_iter().filter(|(_, c)| *c >= 2).collect();
            out.insert(model.joint_tf_name(), TfTable { total, counts });
        }
    }
    out
}

/// The key of a given and family name together in the joint term-frequency
/// table: order-free, so names written the other way round count as one.
pub(crate) fn joint_name_key(given: &NameValue, family: &NameValue) -> String {
    let (lo, hi) = if given.norm <= family.norm {
        (&given.norm, &family.norm)
    } else {
        (&family.norm, &given.norm)
    };
    format!("{lo}|{hi}")
}

/// u per comparison and level, from random pairs (smoothed: never zero).
/// `sides`: when given, only pairs across sides are drawn (linking two files).
pub fn estimate_u(
    model: &Model,
    records: &[PreparedRecord],
    sides: Option<&[u8]>,
) -> Vec<Vec<f64>> {
    let n = records.len() as u64;
    let comps = model.comparators();
    let samples = model
        .spec()
        .training
        .u_sample_pairs
        .min((n * n.saturating_sub(1) / 2) as usize);
    let seed = model.spec().training.seed;
    let chunks = 64usize;
    let per_chunk = samples.div_ceil(chunks).max(1);
    let counts: Vec<Vec<u64>> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut rng =
                SplitMix64::new(seed ^ (chunk as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            let mut counts: Vec<Vec<u64>> = comps.iter().map(|c| vec![0; c.num_levels()]).collect();
            let mut drawn = 0;
            let mut attempts = 0;
            while drawn < per_chunk && attempts < per_chunk * 20 && n >= 2 {
                attempts += 1;
                let a = rng.below(n) as usize;
                let b = rng.below(n) as usize;
                if a == b {
                    continue;
                }
                if let Some(s) = sides {
                    if s[a] == s[b] {
                        continue;
                    }
                }
                drawn += 1;
                let g = model.gamma(&records[a], &records[b]);
                for (i, &l) in g.as_slice().iter().enumerate() {
                    if l != NULL_LEVEL {
                        counts[i][l as usize] += 1;
                    }
                }
            }
            counts
        })
        .reduce(
            || comps.iter().map(|c| vec![0; c.num_levels()]).collect(),
            |mut acc, c| {
                for (x, y) in acc.iter_mut().zip(c) {
                    for (p, q) in x.iter_mut().zip(y) {
                        *p += q;
                    }
                }
                acc
            },
        );
    counts
        .into_iter()
        .map(|levels| {
            let total: u64 = levels.iter().sum();
            let k = levels.len() as f64;
            levels
                .iter()
                .map(|&c| (c as f64 + 0.5) / (total as f64 + 0.5 * k))
                .collect()
        })
        .collect()
}

/// Level patterns of a set of pairs, with their counts.
fn patterns(
    model: &Model,
    records: &[PreparedRecord],
    pairs: &[CandidatePair],
    max_pairs: usize,
) -> Vec<(Vec<u8>, f64)> {
    let step = (pairs.len() / max_pairs.max(1)).max(1);
    let map: HashMap<Vec<u8>, u64> = pairs
        .par_iter()
        .step_by(step)
        .fold(HashMap::new, |mut map: HashMap<Vec<u8>, u64>, p| {
            let g = model.gamma(&records[p.a as usize], &records[p.b as usize]);
            // Pairs under a cannot-link rule (twins, different given names)
            // are non-matches by the model's own definition: left out, they
            // cannot teach EM that one child's records often disagree there.
            if model.cannot_link_rule(&g).is_none() {
                *map.entry(g.as_slice().to_vec()).or_default() += 1;
            }
            map
        })
        .reduce(HashMap::new, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
            a
        });
    let mut v: Vec<(Vec<u8>, f64)> = map.into_iter().map(|(k, c)| (k, c as f64)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn initial_m(levels: usize) -> Vec<f64> {
    let raw: Vec<f64> = (0..levels).map(|l| 0.25f64.powi(l as i32)).collect();
    let s: f64 = raw.iter().sum();
    raw.iter().map(|x| x / s).collect()
}

/// How much the pairs of an EM session that are not one child look like random pairs, in
/// pairs: the Dirichlet prior that session EM puts on their distribution (see [`em`]).
/// Small sessions (a few hundred pairs, as at 10,000 records) keep about the random pairs'
/// u; sessions of thousands learn their own. 0, 30, 100 and 300 were measured on four
/// generated populations at 10,000 and 200,000 records (BENCHMARKS.md, "Session 36").
const SESSION_NON_MATCH_PRIOR_PAIRS: f64 = 30.0;

/// How many pairs, drawn like random pairs, EM adds to the pairs it takes for one child
/// before estimating m: the Dirichlet prior on m.
///
/// Without it, a level EM sees no match at (a sex written wrongly, a second given name, a
/// year slipped) gets the floor m of 10⁻⁶, and one such slip then outweighs everything else
/// two records agree on: trained on 10,000 records of the third generated population, a sex
/// that differs weighed −18.9 bits where the ground truth says −6.2, one digit of a birth date
/// −12.1 where it says +1.9. With the prior, a level no match was seen at weighs
/// log₂(α / (n + α)) for a session of n matches: the less EM has seen, the less it concludes.
/// Shaped like random pairs, the prior never makes a level evidence for a match: a level rare
/// among random pairs gets almost none of it. 1 was measured against 0, 3 and 10, and against
/// the same mass spread evenly over the levels (which gave positive weights to levels seen in
/// neither class), on four generated populations at 10,000 and 200,000 records
/// (BENCHMARKS.md, "Session 39").
const MATCH_PRIOR_PAIRS: f64 = 1.0;

/// Which distribution EM gives the pairs that are not one child.
#[derive(Debug, Clone, Copy)]
enum NonMatches {
    /// Random pairs' u, fixed.
    Random,
    /// Learned from the pairs themselves, starting from random pairs' u and drawn back to
    /// it by a prior worth this many pairs (none: u is free).
    Learned { prior_pairs: f64 },
}

/// Two-class EM over the comparisons in `included`, from `start_lambda`: returns m, u and λ.
///
/// In a session, the pairs the anchor gathers that are not one child are not random pairs: two
/// children with the same common name and a father written by one common part, or cousins
/// named alike in one village, agree on place and birth year far more often than two
/// children drawn at random. With random pairs' u fixed, EM takes such pairs for matches
/// when they are many, and learns that one child's records disagree on place and birth
/// date (measured on a population of common names: m of "another place" 0.83 in the
/// session anchored on names and father, against 0.08 in truth). Learning their
/// distribution too lets EM set them apart.
fn em(
    pats: &[(Vec<u8>, f64)],
    u_random: &[Vec<f64>],
    included: &[bool],
    iterations: usize,
    start_lambda: f64,
    non_matches: NonMatches,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, f64) {
    let mut m: Vec<Vec<f64>> = u_random.iter().map(|l| initial_m(l.len())).collect();
    let mut u: Vec<Vec<f64>> = u_random.to_vec();
    let mut lambda = start_lambda;
    for _ in 0..iterations {
        let mut num_m: Vec<Vec<f64>> = u.iter().map(|l| vec![0.0; l.len()]).collect();
        let mut num_u = num_m.clone();
        let mut total_match = 0.0;
        let mut total = 0.0;
        for (gamma, count) in pats {
            let mut pm = lambda;
            let mut pu = 1.0 - lambda;
            for (i, &l) in gamma.iter().enumerate() {
                if !included[i] || l == NULL_LEVEL {
                    continue;
                }
                pm *= m[i][l as usize];
                pu *= u[i][l as usize];
            }
            let post = if pm + pu > 0.0 { pm / (pm + pu) } else { 0.0 };
            total_match += post * count;
            total += count;
            for (i, &l) in gamma.iter().enumerate() {
                if included[i] && l != NULL_LEVEL {
                    num_m[i][l as usize] += post * count;
                    num_u[i][l as usize] += (1.0 - post) * count;
                }
            }
        }
        for i in 0..m.len() {
            if !included[i] {
                continue;
            }
            let s: f64 = num_m[i].iter().sum();
            if s > 0.0 {
                m[i] = num_m[i]
                    .iter()
                    .zip(&u_random[i])
                    .map(|(x, random)| {
                        ((x + MATCH_PRIOR_PAIRS * random) / (s + MATCH_PRIOR_PAIRS)).max(1e-6)
                    })
                    .collect();
            }
            if let NonMatches::Learned { prior_pairs } = non_matches {
                let s = num_u[i].iter().sum::<f64>() + prior_pairs;
                if s > 0.0 {
                    u[i] = num_u[i]
                        .iter()
                        .zip(&u_random[i])
                        .map(|(x, random)| ((x + prior_pairs * random) / s).max(1e-6))
                        .collect();
                }
            }
        }
        if total > 0.0 {
            lambda = (total_match / total).clamp(1e-9, 1.0 - 1e-9);
        }
    }
    (m, u, lambda)
}

/// One EM session's m of one comparison, and how many of its pairs it took for one child.
struct SessionEstimate {
    m: Vec<f64>,
    matches: f64,
}

/// How many matches of its own a session needs before its estimate of a level counts as
/// much as what all the sessions saw together: each session's m is first drawn towards
/// the sessions' pooled m by this many matches (partial pooling). A session of a few dozen
/// matches (as at 10,000 records of a population with many typing slips) has seen no pair
/// at a level one child's records show 1 or 2 % of the time (day and month swapped); two
/// such sessions out of three made the median 0, and a swapped date counted −4 bits where
/// it is worth +9. Sessions of thousands of matches keep their own estimates.
const SESSION_POOLING_MATCHES: f64 = 100.0;

/// One m per level from several sessions' estimates: each session's m drawn towards the
/// pooled m ([`SESSION_POOLING_MATCHES`]), then the median of each level, renormalised
/// (the mean when there are fewer than three).
///
/// A session whose anchor also gathers many non-matches (names and a village
/// name that many places share gather namesakes) inflates m of the
/// disagreement levels: EM puts part of those pairs in the match class when
/// little else tells them apart. Averaging lets one such session set the
/// weight of, say, birth dates years apart (measured: m 0.16 in one session
/// against 0.01–0.02 in the two anchored on a parent); the median does not.
fn combine_sessions(estimates: &[SessionEstimate]) -> Vec<f64> {
    let Some(first) = estimates.first() else {
        return Vec::new();
    };
    let levels = first.m.len();
    let total_matches: f64 = estimates.iter().map(|e| e.matches).sum();
    let pooled: Vec<f64> = (0..levels)
        .map(|l| {
            let seen: f64 = estimates
                .iter()
                .map(|e| e.matches * e.m.get(l).copied().unwrap_or(0.0))
                .sum();
            seen / total_matches.max(f64::MIN_POSITIVE)
        })
        .collect();
    let per_level: Vec<f64> = (0..levels)
        .map(|l| {
            let mut values: Vec<f64> = estimates
                .iter()
                .filter_map(|e| {
                    let own = e.m.get(l).copied()?;
                    if total_matches <= 0.0 {
                        return Some(own);
                    }
                    Some(
                        (e.matches * own + SESSION_POOLING_MATCHES * pooled[l])
                            / (e.matches + SESSION_POOLING_MATCHES),
                    )
                })
                .collect();
            if values.len() < 3 {
                return values.iter().sum::<f64>() / values.len().max(1) as f64;
            }
            values.sort_by(f64::total_cmp);
            let mid = values.len() / 2;
            if values.len() % 2 == 1 {
                values[mid]
            } else {
                (values[mid - 1] + values[mid]) / 2.0
            }
        })
        .collect();
    let total: f64 = per_level.iter().sum();
    if total > 0.0 {
        per_level.iter().map(|x| x / total).collect()
    } else {
        per_level
    }
}

/// Train a model on prepared records and a sample of their candidate pairs.
pub fn train(
    model: &Model,
    records: &[PreparedRecord],
    sides: Option<&[u8]>,
    sessions: &[TrainingSession],
    candidates: &CandidateSample,
) -> Result<TrainedParams> {
    if records.len() < 2 {
        return Err(MatchError::Training("need at least two records".into()));
    }
    let pairs = &candidates.pairs[..];
    if pairs.is_empty() {
        return Err(MatchError::Training(
            "blocking produced no candidate pairs".into(),
        ));
    }
    let training = &model.spec().training;
    let comps = model.comparators();
    let u = estimate_u(model, records, sides);
    let tf = term_frequencies(model, records);

    // Every session's m for the comparisons it could estimate.
    let mut estimates: Vec<Vec<SessionEstimate>> = (0..comps.len()).map(|_| Vec::new()).collect();
    for session in sessions {
        if session.pairs.len() < 10 {
            continue;
        }
        let included: Vec<bool> = model
            .spec()
            .comparisons
            .iter()
            .map(|c| {
                !c.kind
                    .columns()
                    .iter()
                    .any(|col| session.columns.iter().any(|s| s == col))
            })
            .collect();
        if !included.iter().any(|x| *x) {
            continue;
        }
        let pats = patterns(model, records, &session.pairs, training.em_max_pairs);
        let non_matches = NonMatches::Learned {
            prior_pairs: SESSION_NON_MATCH_PRIOR_PAIRS,
        };
        // Two free distributions converge more slowly than one: three times the iterations.
        let iterations = training.em_iterations * 3;
        let (m, _, lambda) = em(&pats, &u, &included, iterations, 0.5, non_matches);
        let matches = lambda * pats.iter().map(|(_, count)| count).sum::<f64>();
        for (i, m) in m.into_iter().enumerate() {
            if included[i] {
                estimates[i].push(SessionEstimate { m, matches });
            }
        }
    }
    // Comparisons no session could estimate: one EM over all candidate pairs.
    if estimates.iter().any(Vec::is_empty) {
        let all = vec![true; comps.len()];
        let pats = patterns(model, records, pairs, training.em_max_pairs);
        let (m, _, _) = em(
            &pats,
            &u,
            &all,
            training.em_iterations,
            0.3,
            NonMatches::Random,
        );
        for (i, m) in m.into_iter().enumerate() {
            if estimates[i].is_empty() {
                estimates[i].push(SessionEstimate { m, matches: 0.0 });
            }
        }
    }
    let m: Vec<Vec<f64>> = estimates.iter().map(|e| combine_sessions(e)).collect();
    let (m, u) = if training.estimate_u_in_em {
        // u of the candidate population (siblings, namesakes), not of random
        // pairs: see `TrainingSpec::estimate_u_in_em`.
        let pats = patterns(model, records, pairs, training.em_max_pairs);
        let all = vec![true; comps.len()];
        let free = NonMatches::Learned { prior_pairs: 0.0 };
        let iterations = training.em_iterations * 3;
        let (m_full, u_full, _) = em(&pats, &u, &all, iterations, 0.05, free);
        (m_full, u_full)
    } else {
        (m, u)
    };

    let mut comparisons = BTreeMap::new();
    for (i, c) in comps.iter().enumerate() {
        comparisons.insert(
            c.name.clone(),
            c.labels
                .iter()
                .enumerate()
                .map(|(l, label)| LevelParams {
                    label: label.clone(),
                    m: m[i][l],
                    u: u[i][l],
                })
                .collect(),
        );
    }
    let mut trained = TrainedParams {
        prior: 0.5,
        comparisons,
        term_frequencies: tf,
        trained_on_records: records.len() as u64,
        household_odds_bits: None,
    };
    // The prior: EM over candidate pairs with every weight fixed.
    let mut with_weights = model.clone();
    with_weights.set_trained(trained.clone())?;
    let step = (pairs.len() / training.em_max_pairs.max(1)).max(1);
    // The child's own comparisons (those a household does not share), whose
    // levels tell one child's records from siblings among the pairs the
    // household's ceiling caps.
    let household = model.spec().household.as_ref();
    let fixed_household_bits = household.and_then(|h| h.max_odds_bits);
    let estimate_household = household.is_some() && fixed_household_bits.is_none();
    let own: Vec<usize> = (0..comps.len())
        .filter(|i| estimate_household && !model.household_comparisons().contains(i))
        .collect();
    let scored: Vec<(PriorPair, Vec<u8>)> = pairs
        .par_iter()
        .step_by(step)
        .map(|p| {
            let (a, b) = (&records[p.a as usize], &records[p.b as usize]);
            let g = with_weights.gamma(a, b);
            let pair = with_weights.score_gamma_before_household(a, b, &g).map_or(
                PriorPair::UNSCORABLE,
                |(weight, household, cannot)| PriorPair {
                    weight,
                    household,
                    cannot_link: cannot.is_some(),
                    own_levels: 0,
                },
            );
            let levels = own.iter().map(|&i| g.as_slice()[i]).collect();
            (pair, levels)
        })
        .collect();
    let mut own_patterns: Vec<Vec<u8>> = Vec::new();
    let mut pattern_index: HashMap<Vec<u8>, u32> = HashMap::new();
    let scored: Vec<PriorPair> = scored
        .into_iter()
        .map(|(mut pair, levels)| {
            pair.own_levels = *pattern_index.entry(levels).or_insert_with_key(|levels| {
                own_patterns.push(levels.clone());
                own_patterns.len() as u32 - 1
            });
            pair
        })
        .collect();
    let siblings = OwnLevels {
        patterns: own_patterns,
        m: own.iter().map(|&i| m[i].clone()).collect(),
        u: own.iter().map(|&i| u[i].clone()).collect(),
    };
    // The prior is the probability that two *random* records match (as in
    // Splink): the weights use u from random pairs, so the agreement that put
    // a pair among the candidates is already counted as evidence. Found by a
    // fixed point: λ = (expected matches among the candidates) / (all pairs);
    // pairs outside the candidates are taken as non-matches.
    let n = records.len() as f64;
    let total_pairs = match sides {
        Some(s) => {
            let left = s.iter().filter(|&&x| x == 0).count() as f64;
            left * (n - left)
        }
        None => n * (n - 1.0) / 2.0,
    }
    .max(1.0);
    let scale = step as f64 * candidates.scale();
    let mut estimated_household_bits = None;
    let mut lambda = (candidates.total as f64 / total_pairs * 0.1).clamp(1e-12, 0.5);
    for _ in 0..200 {
        let prior_weight = weight_of(lambda);
        let household_bits = fixed_household_bits.or(estimated_household_bits);
        let expected: f64 = scored
            .iter()
            .map(|pair| pair.posterior(prior_weight, household_bits))
            .sum();
        // The household's ceiling stands on the prior, so it is estimated
        // again in each round, over the pairs it caps then (at first, those
        // it would cap at even odds); a round whose ceiling caps too few
        // pairs to tell keeps the estimate it had.
        if estimate_household {
            let trial = estimated_household_bits.unwrap_or(0.0);
            if let Some(bits) = household_odds_bits(&scored, &siblings, prior_weight, trial) {
                estimated_household_bits = Some(bits);
            }
        }
        lambda = (expected * scale / total_pairs).clamp(1e-15, 1.0 - 1e-9);
    }
    trained.prior = lambda;
    trained.household_odds_bits = estimated_household_bits;
    Ok(trained)
}

/// Fewer capped pairs than this leave the household's ceiling unestimated:
/// the share of them that are one child would be noise.
const MIN_HOUSEHOLD_PAIRS: usize = 100;

/// Rounds of the household's EM in each round of the prior's fixed point.
const HOUSEHOLD_EM_ITERATIONS: usize = 50;

/// The levels of the child's own comparisons seen among the sampled pairs,
/// with what training learned of them: m (one child's records) and u
/// (random pairs), u being where siblings' EM starts.
struct OwnLevels {
    patterns: Vec<Vec<u8>>,
    m: Vec<Vec<f64>>,
    u: Vec<Vec<f64>>,
}

/// The household's ceiling from the pairs it caps, nearly all of them one
/// child's records or siblings. A sibling's given name, birth date and sex
/// differ from a brother's or sister's otherwise than a stranger's do (the
/// same family's names are alike more often; twins share a birth date), so
/// u from random pairs would misjudge them. An EM over the capped pairs'
/// own levels learns how siblings differ, with m as training learned it,
/// and the share of them that are one child. The ceiling is the log₂ odds
/// of one child among the capped pairs no cannot-link rule keeps apart:
/// what the household says of a pair whose own fields must decide. `None`
/// when too few pairs reach `household_bits` to tell.
fn household_odds_bits(
    pairs: &[PriorPair],
    own: &OwnLevels,
    prior_weight: f64,
    household_bits: f64,
) -> Option<f64> {
    // Capped pairs per pattern of own levels: [no rule holds, a rule holds].
    let mut counts = vec![[0.0_f64; 2]; own.patterns.len()];
    let mut capped = 0;
    for pair in pairs
        .iter()
        .filter(|pair| pair.capped(prior_weight, Some(household_bits)))
    {
        counts[pair.own_levels as usize][usize::from(pair.cannot_link)] += 1.0;
        capped += 1;
    }
    if capped < MIN_HOUSEHOLD_PAIRS {
        return None;
    }
    // Where the rules have spoken, the pair's class is known: a pair under a
    // cannot-link rule is two children, and one whose own comparisons all
    // agree at their first level (the same given name, birth date and sex)
    // is one child. Without the second, a population whose siblings often
    // share one of those fields lets the siblings' class take in one child's
    // records too.
    let certain = |levels: &[u8]| levels.iter().all(|&l| l == 0);
    let mut same_child = 0.5;
    let mut siblings = own.u.clone();
    let mut posterior = vec![0.0; own.patterns.len()];
    for _ in 0..HOUSEHOLD_EM_ITERATIONS {
        let mut sibling_levels: Vec<Vec<f64>> =
            siblings.iter().map(|l| vec![0.0; l.len()]).collect();
        let mut expected_same = 0.0;
        for ((levels, &[open, ruled_apart]), post) in
            own.patterns.iter().zip(&counts).zip(&mut posterior)
        {
            if open + ruled_apart == 0.0 {
                continue;
            }
            *post = if certain(levels) {
                1.0
            } else {
                let (mut pm, mut pu) = (same_child, 1.0 - same_child);
                for (i, &l) in levels.iter().enumerate() {
                    if l != NULL_LEVEL {
                        pm *= own.m[i][l as usize];
                        pu *= siblings[i][l as usize];
                    }
                }
                if pm + pu > 0.0 {
                    pm / (pm + pu)
                } else {
                    0.0
                }
            };
            expected_same += *post * open;
            let apart = (1.0 - *post) * open + ruled_apart;
            for (i, &l) in levels.iter().enumerate() {
                if l != NULL_LEVEL {
                    sibling_levels[i][l as usize] += apart;
                }
            }
        }
        same_child = (expected_same / capped as f64).clamp(1e-6, 1.0 - 1e-6);
        for (levels, counted) in siblings.iter_mut().zip(sibling_levels) {
            let total: f64 = counted.iter().sum();
            let k = counted.len() as f64;
            for (level, c) in levels.iter_mut().zip(counted) {
                *level = (c + 0.5) / (total + 0.5 * k);
            }
        }
    }
    let (mut one_child, mut others) = (0.0, 0.0);
    for (count, post) in counts.iter().zip(&posterior) {
        one_child += count[0] * post;
        others += count[0] * (1.0 - post);
    }
    Some((one_child.max(1.0) / others.max(1.0)).log2())
}

/// A sampled candidate pair, as training's prior and household ceiling need it.
struct PriorPair {
    /// log₂ Bayes factor before the household's ceiling.
    weight: f64,
    /// The household's comparisons' positive weights together.
    household: f64,
    /// Under a cannot-link rule: no match, whatever its weight.
    cannot_link: bool,
    /// The levels of the child's own comparisons: an index into
    /// [`OwnLevels::patterns`].
    own_levels: u32,
}

impl PriorPair {
    /// A pair the model could not compare counts as no evidence either way.
    const UNSCORABLE: Self = Self {
        weight: 0.0,
        household: 0.0,
        cannot_link: false,
        own_levels: 0,
    };

    fn excess(&self, prior_weight: f64, household_bits: Option<f64>) -> f64 {
        household_bits.map_or(0.0, |bits| {
            crate::model::household_excess(self.household, bits, prior_weight)
        })
    }

    fn capped(&self, prior_weight: f64, household_bits: Option<f64>) -> bool {
        self.excess(prior_weight, household_bits) > 0.0
    }

    fn posterior(&self, prior_weight: f64, household_bits: Option<f64>) -> f64 {
        if self.cannot_link {
            return 0.0;
        }
        let weight = (self.weight - self.excess(prior_weight, household_bits)).clamp(-200.0, 200.0);
        probability(prior_weight + weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session whose anchor gathers one child's records (a tenth of its pairs) and many
    /// more pairs of namesakes who, unlike random pairs, often share a village, a birth
    /// date or a mother: three comparisons, level 0 agreeing and 1 not, independent within
    /// each class.
    fn namesake_heavy_session() -> Vec<(Vec<u8>, f64)> {
        two_class_session(&[(200.0, [0.9, 0.8, 0.7]), (1_800.0, [0.3, 0.1, 0.2])])
    }

    /// The level patterns of a session of two classes, each `(pairs, chance that each of the
    /// three comparisons agrees)`, the comparisons independent within a class.
    fn two_class_session(classes: &[(f64, [f64; 3])]) -> Vec<(Vec<u8>, f64)> {
        (0..8u8)
            .map(|gamma| {
                let levels: Vec<u8> = (0..3).map(|i| (gamma >> i) & 1).collect();
                let count = classes
                    .iter()
                    .map(|(pairs, agree)| {
                        let product: f64 = levels
                            .iter()
                            .zip(agree)
                            .map(|(level, p)| if *level == 0 { *p } else { 1.0 - p })
                            .product();
                        pairs * product
                    })
                    .sum();
                (levels, count)
            })
            .collect()
    }

    fn random_pairs() -> Vec<Vec<f64>> {
        vec![vec![0.01, 0.99]; 3]
    }

    #[test]
    fn session_em_sets_apart_namesakes_who_share_more_than_random_pairs() {
        let patterns = namesake_heavy_session();
        let random_pairs = random_pairs();
        let all = [true; 3];
        let learned = NonMatches::Learned {
            prior_pairs: SESSION_NON_MATCH_PRIOR_PAIRS,
        };
        let (m, _, lambda) = em(&patterns, &random_pairs, &all, 300, 0.5, learned);
        // Three yes-or-no comparisons tell the classes apart so weakly that the prior on m
        // (`MATCH_PRIOR_PAIRS`), one pseudo-pair, moves a few namesakes across: λ 0.135 and
        // m 0.17 / 0.31 / 0.36 with it, against 0.1 and 0.1 / 0.2 / 0.3 in truth. Still far
        // from what the random pairs' u makes of them (below).
        assert!((lambda - 0.1).abs() < 0.05, "one child's share {lambda}");
        // The prior on u draws the namesakes a little towards random pairs, and so some of
        // them into the one child's class.
        assert!(
            (m[0][1] - 0.1).abs() < 0.12,
            "m of another place {:?}",
            m[0]
        );
        assert!((m[1][1] - 0.2).abs() < 0.12, "m of another date {:?}", m[1]);
        assert!(
            (m[2][1] - 0.3).abs() < 0.12,
            "m of another mother {:?}",
            m[2]
        );

        // With the random pairs' u the namesakes pass for one child, and the child's
        // records seem to disagree on place most of the time.
        let (m, _, lambda) = em(&patterns, &random_pairs, &all, 100, 0.3, NonMatches::Random);
        assert!(lambda > 0.5, "{lambda}");
        assert!(m[0][1] > 0.4, "{:?}", m[0]);
    }

    #[test]
    fn a_level_no_match_was_seen_at_weighs_what_the_session_can_tell() {
        // 300 pairs of one child, every one agreeing on the second comparison, among 3,000
        // random pairs: EM sees no match at "disagrees" there.
        let patterns =
            two_class_session(&[(300.0, [0.9, 1.0, 0.8]), (3_000.0, [0.01, 0.01, 0.01])]);
        let random_pairs = random_pairs();
        let (m, _, _) = em(
            &patterns,
            &random_pairs,
            &[true; 3],
            100,
            0.3,
            NonMatches::Random,
        );
        // One pseudo-pair drawn like random pairs among about 300 matches: "disagrees" weighs
        // about log2(1 / 301) (a little more: EM leaves some random pairs in the child's
        // class), not the −20 bits of the floor m.
        let weight = (m[1][1] / random_pairs[1][1]).log2();
        let expected = (MATCH_PRIOR_PAIRS / (300.0 + MATCH_PRIOR_PAIRS)).log2();
        assert!(
            weight > expected - 0.5 && weight < expected + 1.5,
            "{weight} bits, expected about {expected}"
        );
        // The levels EM did see keep their estimates.
        assert!((m[0][1] - 0.1).abs() < 0.02, "{:?}", m[0]);
        assert!((m[2][1] - 0.2).abs() < 0.02, "{:?}", m[2]);
    }

    #[test]
    fn a_small_session_keeps_about_the_random_pairs_u() {
        // Twenty pairs: the prior outweighs them, so EM behaves as with u fixed.
        let patterns: Vec<(Vec<u8>, f64)> = namesake_heavy_session()
            .into_iter()
            .map(|(gamma, count)| (gamma, count / 100.0))
            .collect();
        let random_pairs = random_pairs();
        let all = [true; 3];
        let learned = NonMatches::Learned {
            prior_pairs: SESSION_NON_MATCH_PRIOR_PAIRS,
        };
        let (m_learned, _, _) = em(&patterns, &random_pairs, &all, 300, 0.5, learned);
        let (m_fixed, _, _) = em(&patterns, &random_pairs, &all, 100, 0.3, NonMatches::Random);
        for (learned, fixed) in m_learned.iter().zip(&m_fixed) {
            for (a, b) in learned.iter().zip(fixed) {
                assert!((a - b).abs() < 0.1, "{m_learned:?} against {m_fixed:?}");
            }
        }
    }

    #[test]
    fn small_sessions_lean_on_what_all_the_sessions_saw() {
        let session = |m: [f64; 2], matches: f64| SessionEstimate {
            m: m.to_vec(),
            matches,
        };
        // Two sessions of twenty matches saw no pair at a level the third, of a
        // thousand, saw a tenth of the time: the plain median would be 0.
        let m = combine_sessions(&[
            session([1.0, 0.0], 20.0),
            session([0.9, 0.1], 1000.0),
            session([1.0, 0.0], 20.0),
        ]);
        assert!(m[1] > 0.05, "{m:?}");
        // Sessions of thousands keep their own estimates, and one that gathered
        // namesakes does not set the level's m (the mean would be 0.063).
        let m = combine_sessions(&[
            session([0.99, 0.01], 5000.0),
            session([0.84, 0.16], 5000.0),
            session([0.98, 0.02], 5000.0),
        ]);
        assert!((m[1] - 0.02).abs() < 0.005, "{m:?}");
    }
}

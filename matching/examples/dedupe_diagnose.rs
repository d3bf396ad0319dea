//! Where batch dedupe loses accuracy, on a file with ground truth.
//!
//! ```sh
//! cargo run --release -p matching --example dedupe_diagnose -- \
//!     MODEL.toml|json RECORDS.csv TRUTH.csv [SAMPLES.txt]
//! ```
//!
//! Runs `dedupe` (training first when the model has no weights), then sorts
//! every missed true pair and every false pair into the stage that lost it:
//! - missed, not blocked: no blocking rule puts the two records together
//!   (split by whether the pair would score as an edge);
//! - missed, under a cannot-link rule;
//! - missed, scored below the clustering edge threshold;
//! - missed, an edge, but clustering kept the two apart;
//! - false, a direct edge (the model scored two children as one);
//! - false, no direct edge (clustering joined them through others).
//!
//! Then it asks how far the model's comparisons can go at all
//! ([`print_pair_ceilings`]): the best pairwise F1 of single pairs by the
//! model's probability, by an oracle that reads the ground truth of every
//! group of pairs with the same comparison levels (in-sample, and each half of
//! the pairs judged by the other half, drawn towards the model where that
//! half saw few), and of clusterings that join every
//! true edge, or every true candidate pair, and nothing else.
//!
//! With `SAMPLES.txt` it writes a sample of each kind, both records side by
//! side with the pair's explanation, to read what the engine got wrong
//! (`SAMPLES_PER_KIND=N` or `=all` for more than 40 of each).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/pair_text.rs"]
mod pair_text;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;

use matching::csvio::{read_clusters, read_records, ReadOptions};
use matching::model::probability;
use matching::{dedupe, Dataset, Model, NoProgress, Record};

const SAMPLES_PER_KIND: usize = 40;
/// Issue 5's precision for links made without a steward: how many true pairs
/// single pairs can find at that precision says what online linking can.
const AUTOMATIC_LINK_PRECISION: f64 = 0.995;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: dedupe_diagnose MODEL RECORDS.csv TRUTH.csv [SAMPLES.txt]");
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&args[1]).expect("model file");
    let mut model = Model::from_text(&text).expect("valid model");
    let mut records: Vec<Record> = Vec::new();
    read_records(
        &model,
        File::open(&args[2]).expect("records file"),
        ReadOptions::default(),
        &mut HashSet::new(),
        |c| records.extend(c),
    )
    .expect("readable records");
    let raw = records.clone();
    let mut data = Dataset::new(&model);
    data.extend(&model, records, 0);
    let truth = read_clusters(File::open(&args[3]).expect("truth file")).expect("truth rows");
    let child: Vec<&str> = data.ids.iter().map(|id| truth[id].as_str()).collect();

    let started = std::time::Instant::now();
    let result = dedupe(&mut model, &mut data, &NoProgress).expect("dedupe");
    println!(
        "dedupe {:.1} s, {} candidate pairs",
        started.elapsed().as_secs_f64(),
        result.blocking.candidate_pairs
    );
    println!(
        "skipped blocks {} ({} records); pairs per rule: {}",
        result.blocking.skipped_blocks,
        result.blocking.skipped_block_records,
        result
            .blocking
            .pairs_per_rule
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let edge = model.spec().thresholds.cluster_edge();

    let mut members: HashMap<&str, Vec<u32>> = HashMap::new();
    for (i, c) in child.iter().enumerate() {
        members.entry(c).or_default().push(i as u32);
    }
    let mut predicted: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, &l) in result.labels.iter().enumerate() {
        predicted.entry(l).or_default().push(i as u32);
    }
    let pairs_of = |ids: &[u32]| {
        let mut out = Vec::new();
        for (k, &a) in ids.iter().enumerate() {
            for &b in &ids[k + 1..] {
                out.push((a.min(b), a.max(b)));
            }
        }
        out
    };

    let mut kinds: HashMap<&'static str, Vec<(u32, u32)>> = HashMap::new();
    let mut true_pairs = 0u64;
    let mut found = 0u64;
    for ids in members.values() {
        for (a, b) in pairs_of(ids) {
            true_pairs += 1;
            if result.labels[a as usize] == result.labels[b as usize] {
                found += 1;
                continue;
            }
            let (w, cannot) = model
                .score_prepared(&data.prepared[a as usize], &data.prepared[b as usize])
                .expect("trained");
            let kind = if !result.blocks.contains_pair(a, b) {
                if cannot.is_none() && probability(w) >= edge {
                    "missed: not blocked, would be an edge"
                } else {
                    "missed: not blocked, would not be an edge"
                }
            } else {
                if cannot.is_some() {
                    "missed: cannot-link"
                } else if probability(w) < edge {
                    "missed: scored below the edge threshold"
                } else {
                    "missed: an edge, split by clustering"
                }
            };
            kinds.entry(kind).or_default().push((a, b));
        }
    }
    let mut predicted_pairs = 0u64;
    for ids in predicted.values() {
        for (a, b) in pairs_of(ids) {
            predicted_pairs += 1;
            if child[a as usize] == child[b as usize] {
                continue;
            }
            let direct = result.blocks.contains_pair(a, b)
                && model
                    .score_prepared(&data.prepared[a as usize], &data.prepared[b as usize])
                    .map(|(w, c)| c.is_none() && probability(w) >= edge)
                    .unwrap_or(false);
            let kind = if direct {
                "false: a direct edge"
            } else {
                "false: joined through others"
            };
            kinds.entry(kind).or_default().push((a, b));
        }
    }
    let precision = found as f64 / predicted_pairs.max(1) as f64;
    let recall = found as f64 / true_pairs.max(1) as f64;
    println!(
        "records {}  true pairs {true_pairs}  predicted pairs {predicted_pairs}  \
         P {precision:.4}  R {recall:.4}  F1 {:.4}",
        data.len(),
        2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE)
    );
    let (blocked, all) = matching::evaluate::blocking_recall(&result.blocks, &child, None);
    println!("blocking recall {:.4}", blocked as f64 / all.max(1) as f64);
    let scores = matching::evaluate::score_clusters(&result.labels, &child);
    println!(
        "B-cubed P {:.4}  R {:.4}  F1 {:.4}  largest cluster {} (true {})",
        scores.bcubed_precision,
        scores.bcubed_recall,
        scores.bcubed_f1,
        scores.largest_predicted_cluster,
        scores.largest_true_cluster
    );
    let mut names: Vec<&&str> = kinds.keys().collect();
    names.sort();
    for k in &names {
        println!(
            "{:<45} {:>8} pairs ({:.2}% of true pairs)",
            k,
            kinds[**k].len(),
            100.0 * kinds[**k].len() as f64 / true_pairs.max(1) as f64
        );
    }

    let candidates = result.blocks.candidate_pairs();
    print_m_against_truth(&model, &data, &candidates, &child);
    print_household_odds(&model, &data, &candidates, &child);
    print_pair_ceilings(&model, &data, &candidates, &child, true_pairs);
    for kind in [
        "false: a direct edge",
        "missed: scored below the edge threshold",
    ] {
        print_levels(
            &model,
            &data,
            kind,
            kinds.get(kind).map_or(&[][..], Vec::as_slice),
        );
    }

    let Some(out) = args.get(4) else { return };
    // `SAMPLES_PER_KIND=all` (or a number) to read more of a kind than the default.
    let per_kind = match std::env::var("SAMPLES_PER_KIND").as_deref() {
        Ok("all") => usize::MAX,
        Ok(n) => n.parse().expect("SAMPLES_PER_KIND: a number or `all`"),
        Err(_) => SAMPLES_PER_KIND,
    };
    let mut text = String::new();
    for k in names {
        let list = &kinds[*k];
        let stride = (list.len() / per_kind).max(1);
        writeln!(text, "===== {k} ({})", list.len()).unwrap();
        for &(a, b) in list.iter().step_by(stride).take(per_kind) {
            let e = model
                .explain_prepared(&data.prepared[a as usize], &data.prepared[b as usize])
                .expect("trained");
            writeln!(
                text,
                "--- p={:.6} w={:.2} swapped={} cannot={:?} blocked={}",
                e.match_probability,
                e.match_weight,
                e.names_swapped,
                e.cannot_link,
                result.blocks.contains_pair(a, b)
            )
            .unwrap();
            for r in [&raw[a as usize], &raw[b as usize]] {
                writeln!(text, "    {}", pair_text::record_line(&model, r)).unwrap();
            }
            if !result.blocks.contains_pair(a, b) {
                for r in [&raw[a as usize], &raw[b as usize]] {
                    writeln!(text, "      keys: {}", model.blocking_keys(r).join(" ")).unwrap();
                }
            }
            writeln!(text, "    {}", pair_text::comparisons_line(&e)).unwrap();
        }
    }
    std::fs::write(out, text).expect("samples file");
}

/// Per comparison and level: the m EM learned, the share of true pairs among
/// the candidates at that level (what m should approach), u, and the weight.
fn print_m_against_truth(
    model: &Model,
    data: &Dataset,
    candidates: &[matching::train::CandidatePair],
    child: &[&str],
) {
    let Some(trained) = &model.spec().trained else {
        return;
    };
    for (ci, c) in model.comparators().iter().enumerate() {
        let mut counts = vec![0u64; c.num_levels()];
        for p in candidates
            .iter()
            .filter(|p| child[p.a as usize] == child[p.b as usize])
        {
            let g = model.gamma(&data.prepared[p.a as usize], &data.prepared[p.b as usize]);
            if let Some(n) = counts.get_mut(g.as_slice()[ci] as usize) {
                *n += 1;
            }
        }
        let known: u64 = counts.iter().sum();
        println!("{}", c.name);
        for (level, (params, n)) in trained.comparisons[&c.name].iter().zip(&counts).enumerate() {
            let truth = *n as f64 / known.max(1) as f64;
            println!(
                "  {level} {:<26} m {:.4}  true m {:.4}  u {:.6}  weight {:+.2} (true {:+.2})",
                params.label,
                params.m,
                truth,
                params.u,
                (params.m / params.u).log2(),
                (truth / params.u).log2()
            );
        }
    }
}

/// The household's ceiling against the ground truth: among the candidate
/// pairs it caps, the log₂ odds that a pair is one child, which is what
/// `max_odds_bits` stands for; split by whether a cannot-link rule holds.
fn print_household_odds(
    model: &Model,
    data: &Dataset,
    candidates: &[matching::train::CandidatePair],
    child: &[&str],
) {
    let (Some(bits), Some(trained)) = (model.household_odds_bits(), &model.spec().trained) else {
        return;
    };
    let prior_weight = matching::model::weight_of(trained.prior);
    // [cannot-link][true pair]
    let mut counts = [[0u64; 2]; 2];
    let mut expected = 0.0;
    for p in candidates {
        let (a, b) = (&data.prepared[p.a as usize], &data.prepared[p.b as usize]);
        let Ok((weight, together, cannot)) = model.score_before_household(a, b) else {
            continue;
        };
        let excess = matching::model::household_excess(together, bits, prior_weight);
        if excess <= 0.0 {
            continue;
        }
        if cannot.is_none() {
            expected += probability(prior_weight + weight - excess);
        }
        let same = child[p.a as usize] == child[p.b as usize];
        counts[usize::from(cannot.is_some())][usize::from(same)] += 1;
    }
    let odds = |yes: u64, no: u64| (yes.max(1) as f64 / no.max(1) as f64).log2();
    let [[open_no, open_yes], [cannot_no, cannot_yes]] = counts;
    let capped = open_no + open_yes + cannot_no + cannot_yes;
    println!(
        "household ceiling {bits:+.2} bits: {capped} candidate pairs capped, true log2 odds {:+.2} \
         (model expects {:+.2}); without a cannot-link rule {} pairs, {:+.2}; under one {} pairs, {:+.2}",
        odds(open_yes + cannot_yes, open_no + cannot_no),
        odds(expected.round() as u64, capped - expected.round() as u64),
        open_no + open_yes,
        odds(open_yes, open_no),
        cannot_no + cannot_yes,
        odds(cannot_yes, cannot_no),
    );
}

/// How well single pairs can be told apart at all, before clustering: the
/// best pairwise F1 of the model's own probability at any threshold, against
/// the best any classifier could reach that sees only what the model sees.
///
/// The "oracle" groups candidate pairs by their comparison levels (and the
/// cannot-link rule), or by those levels and the model's weight rounded to a
/// whole bit (which carries the term-frequency adjustment), and links a group
/// when the ground truth says most of its pairs match. No model built on the
/// same levels can do better on these pairs, whatever weights or dependence
/// between fields it learns; the gap between it and the model is what better
/// weighting could still win, and the gap between it and 1 is what the
/// comparisons cannot see (or blocking never offered). True pairs that
/// blocking missed count as missed in every row.
fn print_pair_ceilings(
    model: &Model,
    data: &Dataset,
    candidates: &[matching::train::CandidatePair],
    child: &[&str],
    true_pairs: u64,
) {
    let mut by_levels: HashMap<Vec<u8>, (u64, u64)> = HashMap::new();
    let mut by_levels_and_weight: HashMap<(Vec<u8>, i32), (u64, u64)> = HashMap::new();
    // The same tallies in two halves of the pairs, to score each half by
    // what the other half says: the oracle above also learns groups of a
    // handful of pairs by heart, which no model could.
    // The third field: the model's probability summed over both halves.
    type Halves = ([(u64, u64); 2], f64);
    let mut halves_by_levels: HashMap<Vec<u8>, Halves> = HashMap::new();
    let mut halves_by_levels_and_weight: HashMap<(Vec<u8>, i32), Halves> = HashMap::new();
    let mut by_probability: Vec<(f64, bool)> = Vec::with_capacity(candidates.len());
    // The model's true edges only: what a clustering that never joined two
    // children could at best put together.
    let edge = model.spec().thresholds.cluster_edge();
    let mut true_edges = matching::cluster::UnionFind::new(data.len());
    let mut true_candidates = matching::cluster::UnionFind::new(data.len());
    for p in candidates {
        let (a, b) = (&data.prepared[p.a as usize], &data.prepared[p.b as usize]);
        let g = model.gamma(a, b);
        let (w, cannot) = model.score_prepared(a, b).expect("trained");
        let matched = child[p.a as usize] == child[p.b as usize];
        let mut key = g.as_slice().to_vec();
        key.push(cannot.map_or(u8::MAX, |c| c as u8));
        key.push(u8::from(g.swapped));
        let tally = |t: &mut (u64, u64)| {
            if matched {
                t.0 += 1;
            } else {
                t.1 += 1;
            }
        };
        let half = (u64::from(p.a).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(p.b))
            .wrapping_mul(0xBF58_476D_1CE4_E5B9)
            >> 63;
        let half = half as usize;
        let p_model = if cannot.is_some() {
            0.0
        } else {
            probability(w)
        };
        for h in [
            halves_by_levels_and_weight
                .entry((key.clone(), w.round() as i32))
                .or_default(),
            halves_by_levels.entry(key.clone()).or_default(),
        ] {
            tally(&mut h.0[half]);
            h.1 += p_model;
        }
        tally(
            by_levels_and_weight
                .entry((key.clone(), w.round() as i32))
                .or_default(),
        );
        tally(by_levels.entry(key).or_default());
        if matched {
            true_candidates.union(p.a, p.b);
            if p_model >= edge {
                true_edges.union(p.a, p.b);
            }
        }
        by_probability.push((p_model, matched));
    }
    let best = |mut groups: Vec<(f64, u64, u64)>| {
        groups.sort_by(|x, y| y.0.total_cmp(&x.0));
        let (mut tp, mut fp, mut best) = (0u64, 0u64, (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64));
        let mut i = 0;
        while i < groups.len() {
            // Groups of one score are taken whole: a threshold cannot split them.
            let score = groups[i].0;
            while i < groups.len() && groups[i].0 == score {
                tp += groups[i].1;
                fp += groups[i].2;
                i += 1;
            }
            let f1 = 2.0 * tp as f64 / (2 * tp + fp + (true_pairs - tp)) as f64;
            let precision = tp as f64 / (tp + fp).max(1) as f64;
            let recall = tp as f64 / true_pairs.max(1) as f64;
            if f1 > best.0 {
                (best.0, best.1, best.2, best.3) = (f1, precision, recall, score);
            }
            if precision >= AUTOMATIC_LINK_PRECISION {
                best.4 = best.4.max(recall);
            }
        }
        best
    };
    let share = |(t, f): (u64, u64)| (t as f64 / (t + f) as f64, t, f);
    // Each half's groups scored by the other half's share of true pairs,
    // drawn towards the model's mean probability over the group (which reads
    // no ground truth) as if that were a few pairs more: a group the other
    // half saw twice is not trusted as if it were certain.
    const PRIOR_PAIRS: f64 = 4.0;
    let held_out = |with_weight: bool| {
        let score = |h: &Halves, half: usize| {
            let (t, f) = h.0[1 - half];
            let [(t0, f0), (t1, f1)] = h.0;
            let model_mean = h.1 / (t0 + f0 + t1 + f1) as f64;
            (t as f64 + PRIOR_PAIRS * model_mean) / ((t + f) as f64 + PRIOR_PAIRS)
        };
        let halves: Vec<&Halves> = if with_weight {
            halves_by_levels_and_weight.values().collect()
        } else {
            halves_by_levels.values().collect()
        };
        let mut groups = Vec::new();
        for h in halves {
            for half in 0..2 {
                groups.push((score(h, half), h.0[half].0, h.0[half].1));
            }
        }
        best(groups)
    };
    let rows = [
        (
            "the model's probability, best threshold",
            best(
                by_probability
                    .iter()
                    .map(|&(p, m)| (p, u64::from(m), u64::from(!m)))
                    .collect(),
            ),
        ),
        (
            "oracle on the comparison levels",
            best(by_levels.values().map(|&t| share(t)).collect()),
        ),
        (
            "oracle on the levels and the weight (1 bit)",
            best(by_levels_and_weight.values().map(|&t| share(t)).collect()),
        ),
        (
            "the same, each half scored by the other half",
            held_out(false),
        ),
        (
            "the same with the weight, scored by the other half",
            held_out(true),
        ),
    ];
    println!(
        "single pairs, before clustering ({} candidate pairs, {} level patterns):",
        candidates.len(),
        by_levels.len()
    );
    for (name, (f1, precision, recall, at, recall_precise)) in rows {
        println!(
            "  {name:<50} F1 {f1:.4}  P {precision:.4}  R {recall:.4}  (at {at:.4});  \
             R {recall_precise:.4} at P ≥ {AUTOMATIC_LINK_PRECISION}"
        );
    }
    for (name, joined) in [
        ("every true edge", &mut true_edges),
        ("every true candidate pair", &mut true_candidates),
    ] {
        let mut component_sizes: HashMap<u32, u64> = HashMap::new();
        for i in 0..data.len() as u32 {
            *component_sizes.entry(joined.find(i)).or_default() += 1;
        }
        let joinable: u64 = component_sizes.values().map(|n| n * (n - 1) / 2).sum();
        let recall = joinable as f64 / true_pairs.max(1) as f64;
        println!(
            "  a clustering that joins {name} and nothing else: R {recall:.4}, F1 {:.4}",
            2.0 * recall / (1.0 + recall)
        );
    }
    // Where even the oracle errs: the level patterns that hold both true and
    // false pairs in number, by the pairs the oracle gets wrong in them.
    let mut mixed: Vec<(&Vec<u8>, u64, u64)> = by_levels
        .iter()
        .map(|(k, &(t, f))| (k, t, f))
        .filter(|(_, t, f)| t.min(f) > &0)
        .collect();
    mixed.sort_by_key(|(_, t, f)| std::cmp::Reverse(*t.min(f)));
    // Where the model is surest and wrong: the groups it scores at 0.999 on
    // average that hold the most false pairs (what an automatic link at a
    // high threshold gets wrong).
    let mut trusted: Vec<(&Vec<u8>, u64, u64, f64)> = halves_by_levels
        .iter()
        .map(|(k, h)| {
            let [(t0, f0), (t1, f1)] = h.0;
            (k, t0 + t1, f0 + f1, h.1 / (t0 + f0 + t1 + f1) as f64)
        })
        .filter(|(_, _, f, mean)| *f > 0 && *mean >= 0.999)
        .collect();
    trusted.sort_by_key(|(_, _, f, _)| std::cmp::Reverse(*f));
    let describe = |key: &[u8]| {
        let comps = model.comparators();
        let levels: Vec<String> = comps
            .iter()
            .zip(key.iter())
            .map(|(c, &l)| {
                let label = c.labels.get(l as usize).map_or("null", String::as_str);
                format!("{}={label}", c.name)
            })
            .collect();
        format!(
            "{}{}{}",
            levels.join(" "),
            if key[comps.len()] == u8::MAX {
                ""
            } else {
                " cannot-link"
            },
            if key[comps.len() + 1] == 1 {
                " swapped"
            } else {
                ""
            }
        )
    };
    println!("  level patterns the model scores ≥ 0.999 on average, by false pairs (true / false, mean p):");
    for (key, t, f, mean) in trusted.into_iter().take(12) {
        println!("    {t:>6} / {f:<6} {mean:.5} {}", describe(key));
    }
    println!("  level patterns the oracle gets most wrong (true / false pairs):");
    for (key, t, f) in mixed.into_iter().take(15) {
        println!("    {t:>6} / {f:<6} {}", describe(key));
    }
}

/// How often each comparison sits at each level among the pairs of one kind.
fn print_levels(model: &Model, data: &Dataset, kind: &str, pairs: &[(u32, u32)]) {
    println!("levels among \"{kind}\" ({} pairs)", pairs.len());
    let comps = model.comparators();
    let mut counts: Vec<Vec<u64>> = comps.iter().map(|c| vec![0; c.num_levels() + 1]).collect();
    for &(a, b) in pairs {
        let g = model.gamma(&data.prepared[a as usize], &data.prepared[b as usize]);
        for (i, &l) in g.as_slice().iter().enumerate() {
            let slot = (l as usize).min(comps[i].num_levels());
            counts[i][slot] += 1;
        }
    }
    for (c, n) in comps.iter().zip(&counts) {
        let parts: Vec<String> = c
            .labels
            .iter()
            .map(String::as_str)
            .chain(["null"])
            .zip(n)
            .filter(|(_, k)| **k > 0)
            .map(|(l, k)| format!("{l} {:.0}%", 100.0 * *k as f64 / pairs.len().max(1) as f64))
            .collect();
        println!("  {:<14} {}", c.name, parts.join(", "));
    }
}

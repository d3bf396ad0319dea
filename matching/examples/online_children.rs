//! Online linking as the registry does it, one arriving record at a time, on a
//! file with ground truth, and whether deciding on the whole child instead of
//! its best record would let it link more at the same precision.
//!
//! ```sh
//! cargo run --release -p matching --example online_children -- \
//!     MODEL.toml|json RECORDS.csv TRUTH.csv
//! ```
//!
//! An untrained model is first trained on the file, as a registry trains its
//! own on the records it holds (`child-registry train`). `LINK` and `REVIEW`
//! set one pair of thresholds instead of the grid.
//!
//! Records arrive in file order. Each is compared with the earlier records
//! that share a blocking key (the registry's candidates) and, per child those
//! records belong to, the registry's plan applies (`registry::linkage::plan`):
//! exactly one child certain (at or above `link`, not under a cannot-link
//! rule) is linked; otherwise any child at or above `review` sends the record
//! to review, where it gets a child of its own, as a steward's queue would
//! leave it until decided; else a new child. A child is judged by:
//! - `best record`: its best compared record (the registry today);
//! - `no weak record`: the same, and no record of the child scores below
//!   the model's `cluster_min` against the arriving one (batch clustering's
//!   veto), every record of the child compared;
//! - `whole child`: the same, and the mean probability over all the child's
//!   records at least `cluster_mean` (batch clustering's rule for joining two
//!   groups).
//!
//! For a grid of link thresholds it prints the pairwise F1 of the clustering
//! the registry would hold, the precision of the automatic links (the record
//! joined a child holding a record of its own true child), and the share of
//! records sent to review (`review` at the model's review threshold, or at a
//! fixed 0.5 below a link threshold under it).
//!
//! `WRONG_LINKS=FILE` writes every wrong automatic link (the record joined a
//! child holding no record of its true child) of the `best record` rule: the
//! arriving record, the child's record it scored best against, and the
//! comparison levels and weights of that pair.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/pair_text.rs"]
mod pair_text;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;

use matching::csvio::{read_clusters, read_records, ReadOptions};
use matching::model::probability;
use matching::{Dataset, Model, Record};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    BestRecord,
    NoWeakRecord,
    WholeChild,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::BestRecord => "best record",
            Rule::NoWeakRecord => "no weak record",
            Rule::WholeChild => "whole child",
        }
    }
}

/// What one child looks like to an arriving record.
#[derive(Default)]
struct ChildView {
    best: f64,
    vetoed: bool,
    weakest: f64,
    mean: f64,
}

struct Outcome {
    f1: f64,
    link_precision: f64,
    links: u64,
    review_share: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: online_children MODEL RECORDS.csv TRUTH.csv");
        std::process::exit(2);
    }
    let mut model = Model::from_text(&std::fs::read_to_string(&args[1]).expect("model file"))
        .expect("valid model");
    let mut records = Vec::new();
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
    let (blocks, _) = data.block(&model, model.spec().thresholds.max_block_size);
    if !model.is_trained() {
        // As a registry trains its own model on the records it holds.
        data.train_model(&mut model, &blocks).expect("trainable");
    }
    if let Some(bits) = model.household_odds_bits() {
        println!("household ceiling {bits:+.2} bits");
    }
    // Each arriving record's candidates, scored once for every threshold.
    let mut earlier: HashMap<u32, Vec<(u32, f64, bool)>> = HashMap::new();
    let scored: Vec<(u32, u32, f64, bool)> = blocks
        .candidate_pairs()
        .par_iter()
        .map(|p| {
            let (a, b) = (&data.prepared[p.a as usize], &data.prepared[p.b as usize]);
            let (w, cannot) = model.score_prepared(a, b).expect("trained");
            (p.a, p.b, probability(w), cannot.is_some())
        })
        .collect();
    for (a, b, p, cannot) in scored {
        earlier.entry(b).or_default().push((a, p, cannot));
    }
    let thresholds = &model.spec().thresholds;
    println!(
        "records {}  model review {} link {}  cluster_min {} cluster_mean {}",
        data.len(),
        thresholds.review,
        thresholds.link,
        thresholds.cluster_min,
        thresholds.cluster_mean
    );
    println!(
        "{:<16} {:>9} {:>8} {:>10} {:>8} {:>8}",
        "rule", "link", "F1", "link P", "links", "review"
    );
    let rules: Vec<Rule> = if std::env::var("BEST_ONLY").is_ok() {
        vec![Rule::BestRecord]
    } else {
        vec![Rule::BestRecord, Rule::NoWeakRecord, Rule::WholeChild]
    };
    // With FINE set, link thresholds every half bit of weight from 0 to 30,
    // and the model's own.
    let fixed_link = std::env::var("LINK")
        .ok()
        .and_then(|v| v.parse::<f64>().ok());
    let links: Vec<f64> = if let Some(link) = fixed_link {
        vec![link]
    } else if std::env::var("FINE").is_ok() {
        let mut links: Vec<f64> = (0..=60).map(|k| probability(f64::from(k) / 2.0)).collect();
        links.push(thresholds.link);
        links.sort_by(f64::total_cmp);
        links
    } else {
        vec![
            0.5,
            0.9,
            0.99,
            0.995,
            0.998,
            0.999,
            0.9995,
            0.9999,
            0.99995,
            thresholds.link,
        ]
    };
    let fixed_review = std::env::var("REVIEW")
        .ok()
        .and_then(|v| v.parse::<f64>().ok());
    let wrong_links_file = std::env::var("WRONG_LINKS").ok();
    for link in links {
        let review = match fixed_review {
            Some(review) => review,
            None if link > thresholds.review => thresholds.review,
            None => 0.5,
        };
        for &rule in &rules {
            let mut wrong = Vec::new();
            let o = run(
                &model, &data, &child, &earlier, rule, link, review, &mut wrong,
            );
            if let (Some(file), Rule::BestRecord) = (&wrong_links_file, rule) {
                write_wrong_links(&model, &data, &raw, &wrong, file);
            }
            println!(
                "{:<16} {link:>9} {:>8.4} {:>10.4} {:>8} {:>7.2}%",
                rule.name(),
                o.f1,
                o.link_precision,
                o.links,
                100.0 * o.review_share
            );
        }
    }
}

/// Each wrong link as (arriving record, the linked child's best record).
#[allow(clippy::too_many_arguments)]
fn run(
    model: &Model,
    data: &Dataset,
    truth: &[&str],
    earlier: &HashMap<u32, Vec<(u32, f64, bool)>>,
    rule: Rule,
    link: f64,
    review: f64,
    wrong: &mut Vec<(u32, u32)>,
) -> Outcome {
    let thresholds = &model.spec().thresholds;
    let score = |a: u32, b: u32| {
        let (w, cannot) = model
            .score_prepared(&data.prepared[a as usize], &data.prepared[b as usize])
            .expect("trained");
        (probability(w), cannot.is_some())
    };
    let mut label: Vec<u32> = Vec::with_capacity(data.len());
    let mut members: Vec<Vec<u32>> = Vec::new();
    let (mut links, mut right_links, mut reviews) = (0u64, 0u64, 0u64);
    for r in 0..data.len() as u32 {
        let mut views: BTreeMap<u32, ChildView> = BTreeMap::new();
        for &(a, p, cannot) in earlier.get(&r).map_or(&[][..], Vec::as_slice) {
            let view = views.entry(label[a as usize]).or_default();
            view.best = view.best.max(p);
            view.vetoed |= cannot;
        }
        if rule != Rule::BestRecord {
            for (c, view) in views.iter_mut().filter(|(_, v)| v.best >= review) {
                let all: Vec<f64> = members[*c as usize]
                    .iter()
                    .map(|&a| score(a, r))
                    .map(|(p, cannot)| if cannot { 0.0 } else { p })
                    .collect();
                view.weakest = all.iter().copied().fold(1.0, f64::min);
                view.mean = all.iter().sum::<f64>() / all.len() as f64;
            }
        }
        let holds = |v: &ChildView| match rule {
            Rule::BestRecord => true,
            Rule::NoWeakRecord => v.weakest >= thresholds.cluster_min,
            Rule::WholeChild => {
                v.weakest >= thresholds.cluster_min && v.mean >= thresholds.cluster_mean
            }
        };
        let certain: Vec<u32> = views
            .iter()
            .filter(|(_, v)| v.best >= link && !v.vetoed && holds(v))
            .map(|(c, _)| *c)
            .collect();
        let possible = views.values().any(|v| v.best >= review);
        let joined = if let [only] = certain[..] {
            links += 1;
            if members[only as usize]
                .iter()
                .any(|&a| truth[a as usize] == truth[r as usize])
            {
                right_links += 1;
            } else if let Some(&(best, _, _)) = earlier[&r]
                .iter()
                .filter(|(a, _, _)| label[*a as usize] == only)
                .max_by(|x, y| x.1.total_cmp(&y.1))
            {
                wrong.push((r, best));
            }
            only
        } else {
            if possible {
                reviews += 1;
            }
            members.push(Vec::new());
            members.len() as u32 - 1
        };
        label.push(joined);
        members[joined as usize].push(r);
    }
    let scores = matching::evaluate::score_clusters(&label, truth);
    Outcome {
        f1: scores.pairwise_f1,
        link_precision: right_links as f64 / links.max(1) as f64,
        links,
        review_share: reviews as f64 / data.len() as f64,
    }
}

fn write_wrong_links(
    model: &Model,
    data: &Dataset,
    raw: &[Record],
    wrong: &[(u32, u32)],
    file: &str,
) {
    let mut text = format!("===== wrong automatic links ({})\n", wrong.len());
    for &(arriving, best) in wrong {
        let e = model
            .explain_prepared(
                &data.prepared[arriving as usize],
                &data.prepared[best as usize],
            )
            .expect("trained");
        writeln!(
            text,
            "--- p={:.7} w={:.2} swapped={}",
            e.match_probability, e.match_weight, e.names_swapped
        )
        .unwrap();
        for r in [&raw[arriving as usize], &raw[best as usize]] {
            writeln!(text, "    {}", pair_text::record_line(model, r)).unwrap();
        }
        writeln!(text, "    {}", pair_text::comparisons_line(&e)).unwrap();
    }
    std::fs::write(file, text).expect("wrong links file");
}

//! How a trained model would behave online, one arriving record at a time,
//! on a file with ground truth.
//!
//! ```sh
//! cargo run --release -p matching --example online_eval -- \
//!     MODEL.json RECORDS.csv TRUTH.csv [LINK REVIEW]
//! ```
//!
//! Records arrive in file order; each is compared with the earlier records
//! that share a blocking key (exactly the registry's candidates). For a grid
//! of link thresholds it prints:
//! - pair precision: true matches among the pairs scored at or above `link`
//!   (cannot-link pairs never link);
//! - pair recall: true pairs (earlier record, later record) linked at `link`,
//!   over all true pairs;
//! - record precision: arriving records whose best linked candidate is the
//!   same child, over records with any link;
//! - review share: arriving records with no link but a candidate in
//!   `[review, link)`, over all records.
//!
//! With `LINK REVIEW` given, it also prints samples of the false links and of
//! the true pairs the model scores below `review`, with explanations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::fs::File;

use matching::csvio::{read_clusters, read_records, ReadOptions};
use matching::{Dataset, Model};

/// A scored candidate pair: earlier record, later record, probability,
/// under a cannot-link rule, same child.
type Scored = (u32, u32, f64, bool, bool);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: online_eval MODEL RECORDS.csv TRUTH.csv [LINK REVIEW]");
        std::process::exit(2);
    }
    let model = Model::from_text(&std::fs::read_to_string(&args[1]).expect("model file"))
        .expect("valid model");
    assert!(model.is_trained(), "the model must be trained");
    let mut data = Dataset::new(&model);
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
    data.extend(&model, records, 0);
    let truth = read_clusters(File::open(&args[3]).expect("truth file")).expect("truth rows");
    let cluster: Vec<&str> = data.ids.iter().map(|id| truth[id].as_str()).collect();
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    for c in &cluster {
        *sizes.entry(c).or_default() += 1;
    }
    let true_pairs: u64 = sizes.values().map(|n| n * (n - 1) / 2).sum();

    let m = model;
    let (blocks, _) = data.block(&m, m.spec().thresholds.max_block_size);
    let candidates = blocks.candidate_pairs();
    let in_candidates = candidates
        .iter()
        .filter(|p| cluster[p.a as usize] == cluster[p.b as usize])
        .count() as u64;
    println!(
        "records {}  true pairs {true_pairs}  candidate pairs {}  blocking recall {:.4}",
        data.len(),
        candidates.len(),
        in_candidates as f64 / true_pairs.max(1) as f64
    );
    // (probability, cannot_link, same child) per candidate pair, with the later record.
    let scored: Vec<Scored> = candidates
        .iter()
        .map(|p| {
            let (w, cannot) = m
                .score_prepared(&data.prepared[p.a as usize], &data.prepared[p.b as usize])
                .expect("trained");
            (
                p.a,
                p.b,
                matching::model::probability(w),
                cannot.is_some(),
                cluster[p.a as usize] == cluster[p.b as usize],
            )
        })
        .collect();
    // The level distribution of the true pairs among the candidates: what
    // EM's m should approach.
    {
        let comps = m.comparators();
        let mut counts: Vec<Vec<u64>> = comps.iter().map(|c| vec![0; c.num_levels() + 1]).collect();
        for p in candidates
            .iter()
            .filter(|p| cluster[p.a as usize] == cluster[p.b as usize])
        {
            let g = m.gamma(&data.prepared[p.a as usize], &data.prepared[p.b as usize]);
            for (i, &l) in g.as_slice().iter().enumerate() {
                let slot = if l == u8::MAX {
                    comps[i].num_levels()
                } else {
                    l as usize
                };
                counts[i][slot] += 1;
            }
        }
        for (c, n) in comps.iter().zip(&counts) {
            let known: u64 = n[..c.num_levels()].iter().sum();
            let parts: Vec<String> = c
                .labels
                .iter()
                .zip(n)
                .map(|(l, k)| format!("{l}={:.3}", *k as f64 / known.max(1) as f64))
                .collect();
            println!("true-pair m  {:<14} {}", c.name, parts.join(" "));
        }
    }
    let mut by_later: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, s) in scored.iter().enumerate() {
        by_later.entry(s.1).or_default().push(i);
    }
    let review = args
        .get(5)
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.5);
    println!("review threshold {review}");
    println!("link      pairP   pairR   recP    recLinks  reviewShare");
    for link in [
        0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
    ] {
        let linked: Vec<&Scored> = scored.iter().filter(|s| s.2 >= link && !s.3).collect();
        let tp = linked.iter().filter(|s| s.4).count() as f64;
        let (mut rec_links, mut rec_ok, mut rec_review) = (0u64, 0u64, 0u64);
        for idx in by_later.values() {
            let best = idx
                .iter()
                .map(|&i| &scored[i])
                .filter(|s| !s.3)
                .max_by(|x, y| x.2.total_cmp(&y.2));
            if let Some(b) = best {
                if b.2 >= link {
                    rec_links += 1;
                    rec_ok += u64::from(b.4);
                } else if b.2 >= review {
                    rec_review += 1;
                }
            }
        }
        println!(
            "{link:<9} {:.4}  {:.4}  {:.4}  {rec_links:>8}  {:.4}",
            tp / linked.len().max(1) as f64,
            tp / true_pairs.max(1) as f64,
            rec_ok as f64 / rec_links.max(1) as f64,
            rec_review as f64 / data.len() as f64
        );
    }
    if let Some(link) = args.get(4).and_then(|s| s.parse::<f64>().ok()) {
        let show = |title: &str, filter: &dyn Fn(&Scored) -> bool| {
            println!("\n== {title}");
            for s in scored.iter().filter(|s| filter(s)).take(12) {
                let (a, b) = (&raw[s.0 as usize], &raw[s.1 as usize]);
                let line = |r: &matching::Record| {
                    r.fields()
                        .filter(|(c, _)| *c != "source_record_id")
                        .map(|(_, v)| v)
                        .collect::<Vec<_>>()
                        .join(" | ")
                };
                println!("p={:.6}\n  {}\n  {}", s.2, line(a), line(b));
                let e = m.compare(a, b).expect("trained");
                let parts: Vec<String> = e
                    .comparisons
                    .iter()
                    .map(|c| format!("{}={}({:+.1})", c.comparison, c.level, c.weight))
                    .collect();
                println!(
                    "  prior {:+.1} {} swapped={}",
                    e.prior_weight,
                    parts.join(" "),
                    e.names_swapped
                );
            }
        };
        show("false links", &|s| s.2 >= link && !s.3 && !s.4);
        show("true pairs scored below review", &|s| s.2 < review && s.4);
        // True pairs blocking missed.
        let cand: HashSet<(u32, u32)> = candidates.iter().map(|p| (p.a, p.b)).collect();
        let mut members: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, c) in cluster.iter().enumerate() {
            members.entry(c).or_default().push(i as u32);
        }
        println!("\n== true pairs not among the candidates");
        let mut shown = 0;
        'outer: for ms in members.values() {
            for x in 0..ms.len() {
                for y in x + 1..ms.len() {
                    if !cand.contains(&(ms[x], ms[y])) {
                        let line = |r: &matching::Record| {
                            r.fields()
                                .filter(|(c, _)| *c != "source_record_id")
                                .map(|(_, v)| v)
                                .collect::<Vec<_>>()
                                .join(" | ")
                        };
                        println!(
                            "  {}\n  {}\n",
                            line(&raw[ms[x] as usize]),
                            line(&raw[ms[y] as usize])
                        );
                        shown += 1;
                        if shown >= 15 {
                            break 'outer;
                        }
                    }
                }
            }
        }
    }
}

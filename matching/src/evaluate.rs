//! Scoring a clustering against ground truth: pairwise precision/recall/F1,
//! B-cubed, and blocking recall.

use std::collections::HashMap;

use serde::Serialize;

use crate::batch::Blocks;

/// Accuracy of a clustering.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClusterScores {
    pub pairwise_precision: f64,
    pub pairwise_recall: f64,
    pub pairwise_f1: f64,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
    pub bcubed_f1: f64,
    pub predicted_pairs: u64,
    pub true_pairs: u64,
    pub true_positive_pairs: u64,
    pub largest_predicted_cluster: u64,
    pub largest_true_cluster: u64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Score predicted labels against true labels (aligned by record).
pub fn score_clusters<P, T>(predicted: &[P], truth: &[T]) -> ClusterScores
where
    P: std::hash::Hash + Eq + Clone,
    T: std::hash::Hash + Eq + Clone,
{
    let mut pred_size: HashMap<&P, u64> = HashMap::new();
    let mut true_size: HashMap<&T, u64> = HashMap::new();
    let mut both: HashMap<(&P, &T), u64> = HashMap::new();
    for (p, t) in predicted.iter().zip(truth) {
        *pred_size.entry(p).or_default() += 1;
        *true_size.entry(t).or_default() += 1;
        *both.entry((p, t)).or_default() += 1;
    }
    let predicted_pairs: u64 = pred_size.values().map(|&n| pairs(n)).sum();
    let true_pairs: u64 = true_size.values().map(|&n| pairs(n)).sum();
    let tp: u64 = both.values().map(|&n| pairs(n)).sum();
    let precision = if predicted_pairs == 0 {
        1.0
    } else {
        tp as f64 / predicted_pairs as f64
    };
    let recall = if true_pairs == 0 {
        1.0
    } else {
        tp as f64 / true_pairs as f64
    };
    let n = predicted.len().max(1) as f64;
    let (mut bp, mut br) = (0.0, 0.0);
    for ((p, t), &k) in &both {
        let k = k as f64;
        bp += k * k / pred_size[p] as f64;
        br += k * k / true_size[t] as f64;
    }
    let (bp, br) = (bp / n, br / n);
    ClusterScores {
        pairwise_precision: precision,
        pairwise_recall: recall,
        pairwise_f1: f1(precision, recall),
        bcubed_precision: bp,
        bcubed_recall: br,
        bcubed_f1: f1(bp, br),
        predicted_pairs,
        true_pairs,
        true_positive_pairs: tp,
        largest_predicted_cluster: pred_size.values().copied().max().unwrap_or(0),
        largest_true_cluster: true_size.values().copied().max().unwrap_or(0),
    }
}

/// Blocking recall: true pairs among the candidates, and all true pairs.
/// With `sides`, only true pairs across sides count (linking two files).
pub fn blocking_recall<T>(blocks: &Blocks, truth: &[T], sides: Option<&[u8]>) -> (u64, u64)
where
    T: std::hash::Hash + Eq,
{
    let mut clusters: HashMap<&T, Vec<u32>> = HashMap::new();
    for (record, t) in truth.iter().enumerate() {
        clusters.entry(t).or_default().push(record as u32);
    }
    let (mut found, mut total) = (0, 0);
    for members in clusters.values() {
        for (i, &a) in members.iter().enumerate() {
            for &b in &members[i + 1..] {
                if sides.is_some_and(|s| s[a as usize] == s[b as usize]) {
                    continue;
                }
                total += 1;
                found += u64::from(blocks.contains_pair(a, b));
            }
        }
    }
    (found, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_imperfect_clusterings() {
        let truth = [1, 1, 1, 2, 2, 3];
        let s = score_clusters(&truth, &truth);
        assert!((s.pairwise_f1 - 1.0).abs() < 1e-12);
        assert!((s.bcubed_f1 - 1.0).abs() < 1e-12);
        let all_one = [0, 0, 0, 0, 0, 0];
        let s = score_clusters(&all_one, &truth);
        assert_eq!(s.true_positive_pairs, 4);
        assert_eq!(s.predicted_pairs, 15);
        assert!((s.pairwise_recall - 1.0).abs() < 1e-12);
    }
}

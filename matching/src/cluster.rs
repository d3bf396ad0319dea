//! Clustering that resists chaining.
//!
//! Connected components over every pair above the link threshold chain errors
//! together: one wrong edge between two children merges both, and in a
//! population of siblings and twins wrong edges are common enough that
//! components grow far beyond any true cluster. We therefore use connected
//! components only to find *where* to look, and decide each component by
//! constrained average-linkage agglomeration:
//!
//! 1. Components of the graph of pairs at or above the link threshold that
//!    are not under a cannot-link rule.
//! 2. Inside a component of three or more records, every record starts alone;
//!    edges are visited from strongest to weakest; two groups merge only if
//!    (a) no pair across them is under a cannot-link rule (twins: same birth
//!    date, different given name; conflicting identifiers) that the two
//!    groups' other records do not reconcile (a child known by two given
//!    names, each agency writing one, when another record writes both) and (b) the mean
//!    match probability over *all* pairs across them, scored on demand, is at
//!    least `cluster_mean`, and (c) no pair across them scores below
//!    `cluster_min`. A chain a–b–c where a and c disagree stops at the
//!    weak link instead of pulling a and c together.
//!
//! This is the "centre/average-linkage refinement" family of methods; it keeps
//! the good recall of components for true clusters (all their cross pairs
//! score high) while a single spurious edge can no longer merge two children.

use std::collections::HashMap;

use rayon::prelude::*;

/// A union–find (disjoint set) over `0..n`.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    /// Merge the sets of `a` and `b`; returns the new root.
    pub fn union(&mut self, a: u32, b: u32) -> u32 {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
        ra
    }
}

/// An edge: two records and the pair's match probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    pub probability: f64,
}

/// Cross pairs scored at most per merge decision (a deterministic sample beyond).
const MAX_CROSS_PAIRS: usize = 4096;

/// Cluster `n` records. `edges`: pairs at or above the link threshold and not
/// under a cannot-link rule. `score(a, b)` returns the probability of any pair
/// and whether it is under a cannot-link rule. `reconcile(a, b, members)`,
/// asked about a pair under a cannot-link rule when the two groups holding
/// `a` and `b` could merge, may lift the rule in view of the other records of
/// those groups (`members`), and returns the pair's probability when it does
/// (see [`crate::Model::score_given_names_written_together`]). Returns a
/// cluster label per record (labels are `0..k`, in order of first appearance).
pub fn cluster<F, R>(
    n: usize,
    edges: &[Edge],
    score: F,
    reconcile: R,
    cluster_mean: f64,
    cluster_min: f64,
) -> Vec<u32>
where
    F: Fn(u32, u32) -> (f64, bool) + Sync,
    R: Fn(u32, u32, &[u32]) -> Option<f64> + Sync,
{
    let mut uf = UnionFind::new(n);
    for e in edges {
        uf.union(e.a, e.b);
    }
    // Group edges by component.
    let mut by_component: HashMap<u32, Vec<Edge>> = HashMap::new();
    for e in edges {
        let r = uf.find(e.a);
        by_component.entry(r).or_default().push(*e);
    }
    let mut members: HashMap<u32, Vec<u32>> = HashMap::new();
    for x in 0..n as u32 {
        let r = uf.find(x);
        if by_component.contains_key(&r) {
            members.entry(r).or_default().push(x);
        }
    }
    let components: Vec<(Vec<u32>, Vec<Edge>)> = by_component
        .into_iter()
        .map(|(r, es)| (members.remove(&r).unwrap_or_default(), es))
        .collect();
    let refined: Vec<Vec<(u32, u32)>> = components
        .into_par_iter()
        .map(|(nodes, es)| refine(&nodes, es, &score, &reconcile, cluster_mean, cluster_min))
        .collect();
    let mut final_uf = UnionFind::new(n);
    for merges in refined {
        for (a, b) in merges {
            final_uf.union(a, b);
        }
    }
    let mut labels = vec![u32::MAX; n];
    let mut by_root: HashMap<u32, u32> = HashMap::new();
    for x in 0..n as u32 {
        let r = final_uf.find(x);
        let next = by_root.len() as u32;
        labels[x as usize] = *by_root.entry(r).or_insert(next);
    }
    labels
}

/// Decide one component: the merges (pairs of records) to apply.
fn refine<F, R>(
    nodes: &[u32],
    mut edges: Vec<Edge>,
    score: &F,
    reconcile: &R,
    cluster_mean: f64,
    cluster_min: f64,
) -> Vec<(u32, u32)>
where
    F: Fn(u32, u32) -> (f64, bool) + Sync,
    R: Fn(u32, u32, &[u32]) -> Option<f64> + Sync,
{
    if nodes.len() <= 2 {
        return edges.iter().map(|e| (e.a, e.b)).collect();
    }
    edges.sort_by(|x, y| {
        y.probability
            .total_cmp(&x.probability)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    let local: HashMap<u32, u32> = nodes
        .iter()
        .enumerate()
        .map(|(i, &x)| (x, i as u32))
        .collect();
    let mut uf = UnionFind::new(nodes.len());
    let mut groups: Vec<Vec<u32>> = nodes.iter().map(|&x| vec![x]).collect();
    let mut cache: HashMap<(u32, u32), (f64, bool)> = HashMap::new();
    for e in &edges {
        let (Some(&la), Some(&lb)) = (local.get(&e.a), local.get(&e.b)) else {
            continue;
        };
        let (ra, rb) = (uf.find(la), uf.find(lb));
        if ra == rb {
            continue;
        }
        let (ga, gb) = (&groups[ra as usize], &groups[rb as usize]);
        let total = ga.len() * gb.len();
        let stride = total.div_ceil(MAX_CROSS_PAIRS).max(1);
        let mut sum = 0.0;
        let mut count = 0usize;
        let mut blocked = false;
        let mut members: Vec<u32> = Vec::new();
        'outer: for (k, (x, y)) in ga
            .iter()
            .flat_map(|x| gb.iter().map(move |y| (*x, *y)))
            .enumerate()
        {
            if k % stride != 0 {
                continue;
            }
            let key = (x.min(y), x.max(y));
            let (mut p, cannot) = *cache.entry(key).or_insert_with(|| score(key.0, key.1));
            if cannot {
                if members.is_empty() {
                    members.extend(ga.iter().chain(gb.iter()));
                }
                match reconcile(key.0, key.1, &members) {
                    Some(reconciled) => p = reconciled,
                    None => {
                        blocked = true;
                        break 'outer;
                    }
                }
            }
            if p < cluster_min {
                blocked = true;
                break 'outer;
            }
            sum += p;
            count += 1;
        }
        if blocked || count == 0 || sum / (count as f64) < cluster_mean {
            continue;
        }
        let root = uf.union(ra, rb);
        let other = if root == ra { rb } else { ra };
        let moved = std::mem::take(&mut groups[other as usize]);
        groups[root as usize].extend(moved);
    }
    let mut merges = Vec::new();
    for g in groups {
        for w in g.windows(2) {
            merges.push((w[0], w[1]));
        }
    }
    merges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never_reconciled(_: u32, _: u32, _: &[u32]) -> Option<f64> {
        None
    }

    fn edge(a: u32, b: u32, probability: f64) -> Edge {
        Edge { a, b, probability }
    }

    #[test]
    fn a_weak_link_does_not_chain_two_clusters() {
        // 0-1-2 are one child, 3-4 another; a spurious edge 2-3.
        let strong = |a, b| Edge {
            a,
            b,
            probability: 0.999,
        };
        let edges = vec![
            strong(0, 1),
            strong(1, 2),
            strong(0, 2),
            strong(3, 4),
            edge(2, 3, 0.95),
        ];
        let score = |a: u32, b: u32| {
            let same = (a < 3) == (b < 3);
            if same {
                (0.999, false)
            } else if (a, b) == (2, 3) {
                (0.95, false)
            } else {
                (0.01, false)
            }
        };
        let labels = cluster(6, &edges, score, never_reconciled, 0.5, 0.0);
        assert_eq!(labels[0], labels[1]);
        assert_eq!(labels[1], labels[2]);
        assert_eq!(labels[3], labels[4]);
        assert_ne!(labels[2], labels[3]);
        assert_ne!(labels[5], labels[0]);
    }

    #[test]
    fn a_cannot_link_pair_reconciled_by_its_groups_merges() {
        // 0 and 1 are under a cannot-link rule that record 2, in the same
        // group, reconciles; 3 is under one that nothing reconciles.
        let edges = vec![edge(0, 2, 0.99), edge(1, 2, 0.98), edge(2, 3, 0.97)];
        let score = |a: u32, b: u32| match (a, b) {
            (0, 1) | (0, 3) | (1, 3) => (0.9, true),
            _ => (0.99, false),
        };
        let reconcile = |a: u32, b: u32, members: &[u32]| {
            ((a, b) == (0, 1) && members.contains(&2)).then_some(0.8)
        };
        let labels = cluster(4, &edges, score, reconcile, 0.5, 0.0);
        assert_eq!(labels[0], labels[1]);
        assert_eq!(labels[1], labels[2]);
        assert_ne!(labels[2], labels[3]);
    }

    #[test]
    fn cannot_link_keeps_twins_apart() {
        // Twins 0 and 1 each match record 2 (a parent-only record)? No: 2 is a
        // duplicate of 0 that also scores high with 1.
        let edges = vec![edge(0, 2, 0.99), edge(1, 2, 0.97)];
        let score = |a: u32, b: u32| match (a, b) {
            (0, 1) => (0.9, true),
            (0, 2) => (0.99, false),
            (1, 2) => (0.97, false),
            _ => (0.0, false),
        };
        let labels = cluster(3, &edges, score, never_reconciled, 0.5, 0.0);
        assert_eq!(labels[0], labels[2]);
        assert_ne!(labels[0], labels[1]);
    }
}

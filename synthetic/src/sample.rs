//! Small sampling helpers: Zipf-weighted tables and coin flips.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The generator's random source everywhere in the crate.
pub(crate) type Rand = ChaCha8Rng;

/// `true` with probability `p` (clamped to 0..=1).
pub(crate) fn chance(rng: &mut Rand, p: f64) -> bool {
    p > 0.0 && (p >= 1.0 || rng.gen::<f64>() < p)
}

/// Picks uniformly from a non-empty slice.
pub(crate) fn pick<'a, T>(rng: &mut Rand, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// Picks uniformly from a non-empty slice of `Copy` items and returns a copy.
pub(crate) fn pick_copy<T: Copy>(rng: &mut Rand, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// A table of items drawn with Zipf-like frequency: the item at rank `r` (0-based) has weight
/// `1 / (r + offset)^exponent`, so the first few are very common and the rest form a long tail.
#[derive(Debug, Clone)]
pub(crate) struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    pub(crate) fn new(len: usize, exponent: f64, offset: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (0..len)
            .map(|rank| {
                total += 1.0 / (rank as f64 + offset).powf(exponent);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    /// A rank in `0..len`.
    pub(crate) fn sample(&self, rng: &mut Rand) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.gen::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c <= target)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

/// Draws an index from explicit weights.
pub(crate) fn weighted(rng: &mut Rand, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut target = rng.gen::<f64>() * total;
    for (index, weight) in weights.iter().enumerate() {
        if target < *weight {
            return index;
        }
        target -= weight;
    }
    weights.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn zipf_head_is_common_and_tail_is_reached() {
        let zipf = Zipf::new(100, 1.0, 1.0);
        let mut rng = Rand::seed_from_u64(1);
        let mut counts = [0usize; 100];
        for _ in 0..20_000 {
            counts[zipf.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[10] * 5);
        assert!(counts[50..].iter().sum::<usize>() > 0);
    }
}

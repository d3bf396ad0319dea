//! Small-cell suppression with complementary suppression, for one indicator: its total and
//! each of its disaggregations (a list of cells that add up to the total).
//!
//! Rules (see `docs/indicators.md`):
//! 1. Primary: a count from 1 to `threshold - 1` is hidden. Zeros are shown (as in the CMS
//!    1–10 rule): showing that nobody is in a cell discloses nobody.
//! 2. A hidden total hides nothing else by itself, but every disaggregation must then hide at
//!    least one cell, or the total would be their sum.
//! 3. Where the total is shown, each disaggregation hides either no cell or at least two, and
//!    the hidden cells must not be pinned by what a reader knows of them: they are all at least
//!    1 (zeros are shown), so their sum must exceed their number; and when all of them are
//!    primary (at most `threshold - 1`), their sum must not be the largest possible. Until that
//!    holds, the smallest shown non-zero cell is hidden too; with none left, the total is
//!    hidden (everywhere, so no disaggregation gives it away).

/// Which numbers of one indicator are hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    pub total: bool,
    /// Per disaggregation, per cell.
    pub cells: Vec<Vec<bool>>,
}

fn is_primary(value: u64, threshold: u64) -> bool {
    value > 0 && value < threshold
}

/// Whether a disaggregation's hidden cells can be worked out from a shown total.
fn pinned(cells: &[u64], hidden: &[bool], threshold: u64) -> bool {
    let hidden_values: Vec<u64> = cells
        .iter()
        .zip(hidden)
        .filter(|(_, hidden)| **hidden)
        .map(|(value, _)| *value)
        .collect();
    let count = hidden_values.len() as u64;
    if count == 0 {
        return false;
    }
    let sum: u64 = hidden_values.iter().sum();
    let all_primary = hidden_values
        .iter()
        .all(|value| is_primary(*value, threshold));
    count == 1 || sum <= count || (all_primary && sum >= count * (threshold.max(1) - 1))
}

/// Hides the smallest shown non-zero cell; false when there is none.
fn hide_smallest_shown(cells: &[u64], hidden: &mut [bool]) -> bool {
    let smallest = cells
        .iter()
        .enumerate()
        .filter(|(index, value)| !hidden[*index] && **value > 0)
        .min_by_key(|(index, value)| (**value, *index))
        .map(|(index, _)| index);
    match smallest {
        Some(index) => {
            hidden[index] = true;
            true
        }
        None => false,
    }
}

/// Decides which of `total` and `disaggregations` (each a list of cells summing to `total`)
/// are hidden with the given threshold (counts below it are hidden).
pub fn suppress(total: u64, disaggregations: &[Vec<u64>], threshold: u64) -> Suppressed {
    let primary = |cells: &Vec<u64>| -> Vec<bool> {
        cells
            .iter()
            .map(|value| is_primary(*value, threshold))
            .collect()
    };
    let mut total_hidden = is_primary(total, threshold);
    let mut cells: Vec<Vec<bool>> = disaggregations.iter().map(primary).collect();
    if !total_hidden {
        'tables: for (values, hidden) in disaggregations.iter().zip(cells.iter_mut()) {
            while pinned(values, hidden, threshold) {
                if !hide_smallest_shown(values, hidden) {
                    total_hidden = true;
                    break 'tables;
                }
            }
        }
    }
    if total_hidden {
        // Start again from the primary cells: the hidden total is the second unknown of every
        // disaggregation that hides a cell; one that hides none hides its smallest cell.
        cells = disaggregations.iter().map(primary).collect();
        for (values, hidden) in disaggregations.iter().zip(cells.iter_mut()) {
            if !hidden.iter().any(|hidden| *hidden) {
                hide_smallest_shown(values, hidden);
            }
        }
    }
    Suppressed {
        total: total_hidden,
        cells,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        let hidden = suppress(40, &[vec![3, 12, 25, 0]], 10);
        assert!(!hidden.total);
        assert_eq!(hidden.cells, vec![vec![true, true, false, false]]);
    }

    #[test]
    fn a_small_total_is_hidden_with_its_cells() {
        let hidden = suppress(7, &[vec![4, 3], vec![7, 0]], 10);
        assert!(hidden.total);
        assert_eq!(hidden.cells, vec![vec![true, true], vec![true, false]]);
    }

    #[test]
    fn ones_that_would_be_known_to_be_ones_are_protected() {
        // Two hidden cells summing to 2 can only be 1 and 1.
        let hidden = suppress(22, &[vec![1, 1, 20]], 10);
        assert_eq!(hidden.cells, vec![vec![true, true, true]]);
    }

    #[test]
    fn with_no_cell_left_to_hide_the_total_goes() {
        // Ten districts of one child each: the shown total would pin all ten.
        let hidden = suppress(10, &[vec![1; 10], vec![10]], 10);
        assert!(hidden.total);
        assert_eq!(hidden.cells[1], vec![true]);
    }

    fn indicator() -> impl Strategy<Value = (Vec<Vec<u64>>, u64)> {
        (1usize..4, 1usize..7, 2u64..12).prop_flat_map(|(tables, cells, threshold)| {
            prop::collection::vec(0u64..30, cells).prop_flat_map(move |first| {
                let total: u64 = first.iter().sum();
                // Other disaggregations split the same total differently.
                let others = prop::collection::vec(
                    prop::collection::vec(0u64..=total.max(1), 1..6)
                        .prop_map(move |weights| split(total, &weights)),
                    tables - 1,
                );
                (Just(first), others).prop_map(move |(first, others)| {
                    let mut all = vec![first];
                    all.extend(others);
                    (all, threshold)
                })
            })
        })
    }

    /// Splits `total` into cells in proportion to `weights` (the last cell takes the rest).
    fn split(total: u64, weights: &[u64]) -> Vec<u64> {
        let sum: u64 = weights.iter().sum::<u64>().max(1);
        let mut cells: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
        let used: u64 = cells.iter().sum();
        if let Some(last) = cells.last_mut() {
            *last += total - used;
        }
        cells
    }

    proptest! {
        #[test]
        fn no_hidden_number_can_be_recovered((tables, threshold) in indicator()) {
            let total: u64 = tables[0].iter().sum();
            let hidden = suppress(total, &tables, threshold);
            if is_primary(total, threshold) {
                prop_assert!(hidden.total);
            }
            for (values, hidden_cells) in tables.iter().zip(&hidden.cells) {
                // Every small count is hidden.
                for (value, cell_hidden) in values.iter().zip(hidden_cells) {
                    if is_primary(*value, threshold) {
                        prop_assert!(*cell_hidden, "{} shown in {:?}", value, values);
                    }
                }
                // Subtraction: the table's equation (total = sum of cells) never has exactly
                // one unknown.
                let unknowns = hidden_cells.iter().filter(|h| **h).count()
                    + usize::from(hidden.total);
                prop_assert_ne!(unknowns, 1, "{:?} {:?} total hidden {}", values, hidden_cells, hidden.total);
                // With the total shown, the hidden cells are not pinned by their bounds.
                if !hidden.total {
                    prop_assert!(!pinned(values, hidden_cells, threshold), "{:?} {:?}", values, hidden_cells);
                    // And the reader's brute force agrees: more than one assignment of the
                    // hidden cells (each at least 1) gives the shown total.
                    let hidden_sum: u64 = values.iter().zip(hidden_cells).filter(|(_, h)| **h).map(|(v, _)| *v).sum();
                    let count = hidden_cells.iter().filter(|h| **h).count() as u64;
                    prop_assert!(count == 0 || (count >= 2 && hidden_sum > count));
                }
            }
        }
    }
}

//! The first hits ranked by the matching model.
//!
//! The index's scores are sums of hand-weighted clauses; the matching model knows more about
//! what makes two spellings the same child: how rare each name is (and each pair of names),
//! which slips agencies make, a birth date's day and month swapped, a guessed year. So the
//! first [`RANKED_HITS`] hits are ordered again by the model's match weight between the query
//! (read as a record, [`crate::query`]) and the closest of each child's records, plus the
//! index's own score, which still carries what the model does not compare (a run-together
//! name, a parent or place typed in the query). Measured in `BENCHMARKS.md` ("Search",
//! `examples/quality.rs`); the weights were tuned on seed 11 and reported on seed 7.

use matching::PreparedRecord;
use registry::linkage::{Matcher, NO_SOURCE_SYSTEM};
use registry::model::ChildData;
use tantivy::DocAddress;

use crate::document::StoredChild;

/// How many of the first hits the model ranks. Ranking a fixed window whatever the page size
/// keeps pages consistent: a cursor past the window continues in the index's order.
pub const RANKED_HITS: usize = 20;
/// What one point of the index's score is worth against one bit of match weight.
const INDEX_SCORE_WEIGHT: f64 = 1.0;

/// The model's weight of the best pair between the query and a child's records; `None` when
/// the model cannot score (an untrained model) or the child has no records to compare.
fn best_weight(matcher: &Matcher, query: &PreparedRecord, child: &StoredChild) -> Option<f64> {
    child
        .spellings
        .iter()
        .filter_map(|spelling| {
            let record = ChildData {
                given_name: spelling.given_name.clone(),
                family_name: spelling.family_name.clone(),
                date_of_birth: spelling.date_of_birth,
                date_of_birth_estimated: spelling.date_of_birth_estimated,
                ..ChildData::default()
            };
            // The model's cannot-link rules (a twin: same birth date, another given name) are
            // for linking; in a search the other given name is more often a nickname or a
            // second name, and counting the rules lost true children (BENCHMARKS.md).
            matcher
                .model()
                .score_prepared(query, &matcher.prepare(NO_SOURCE_SYSTEM, &record))
                .ok()
                .map(|(weight, _)| weight)
        })
        .reduce(f64::max)
}

/// A hit as read from the index: its score, where its document is, what it stores.
pub(crate) struct FoundHit {
    pub score: f32,
    pub address: DocAddress,
    pub stored: StoredChild,
}

/// Orders `hits` (the index's first hits, best first) by the model's weight plus the index's
/// score, and gives each its combined score. Hits the model cannot score keep their place
/// after those it can (none is dropped); ties keep the index's order (a stable sort).
pub(crate) fn rank(matcher: &Matcher, query: &ChildData, hits: Vec<FoundHit>) -> Vec<FoundHit> {
    // A search is no agency's record, and a child's spellings are stored without the system
    // that wrote them.
    let query = matcher.prepare(NO_SOURCE_SYSTEM, query);
    let mut keyed: Vec<(Option<f64>, FoundHit)> = hits
        .into_iter()
        .map(|hit| {
            let combined = best_weight(matcher, &query, &hit.stored)
                .map(|weight| weight + INDEX_SCORE_WEIGHT * f64::from(hit.score));
            (combined, hit)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) => b.total_cmp(a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    keyed
        .into_iter()
        .map(|(combined, mut hit)| {
            if let Some(combined) = combined {
                hit.score = combined as f32;
            }
            hit
        })
        .collect()
}

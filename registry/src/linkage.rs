//! Online record linkage: how an arriving record is compared with the children the registry
//! already holds, and what the registry does with the scores. The SQL that finds candidates and
//! stores the outcome lives in the store; the decisions live here, free of I/O, so they are
//! tested on their own.

use std::collections::BTreeMap;

use matching::{Bounded, ChildFields, Model, PairExplanation, PreparedRecord, Record};
use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};
use crate::ids::ChildId;
use crate::model::{ChildData, Sex};

/// The active model and its stored version.
#[derive(Debug)]
pub struct Matcher {
    version: i64,
    model: Model,
    /// The match weight of the review threshold, less [`REVIEW_MARGIN`]: the floor of
    /// [`Matcher::score_for_review`].
    review_floor: f64,
}

/// How far below the review threshold a pair is still scored in full and explained: the
/// explanation sums the same weights in another order, and it is the explanation's probability
/// that the thresholds judge.
const REVIEW_MARGIN: f64 = 1e-9;

impl Matcher {
    /// A matcher for a trained model; an untrained model cannot decide and is refused.
    pub fn new(version: i64, model: Model) -> Result<Self> {
        if !model.is_trained() {
            return Err(RegistryError::Conflict {
                code: "model_untrained",
                message: format!("model version {version} has no trained weights"),
            });
        }
        let review_floor =
            matching::model::weight_of(model.spec().thresholds.review - REVIEW_MARGIN);
        Ok(Matcher {
            version,
            model,
            review_floor,
        })
    }

    /// The model file text (JSON) as stored in the registry.
    pub fn from_stored(version: i64, spec: &str) -> Result<Self> {
        let model = Model::from_text(spec).map_err(|error| {
            RegistryError::Corrupt(format!("stored model version {version}: {error}"))
        })?;
        Self::new(version, model)
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Records at or above this probability join a child automatically.
    pub fn link_threshold(&self) -> f64 {
        self.model.spec().thresholds.link
    }

    /// Records between this and the link threshold go to a data steward.
    pub fn review_threshold(&self) -> f64 {
        self.model.spec().thresholds.review
    }

    /// The record's blocking keys under this model: records sharing a key are compared.
    pub fn blocking_keys(&self, child: &ChildData) -> Vec<String> {
        // No blocking rule reads the source system: the keys are the child's alone.
        let mut keys = self
            .model
            .blocking_keys(&to_match_record(NO_SOURCE_SYSTEM, child));
        keys.sort();
        keys.dedup();
        keys
    }

    /// A record of `source_system` prepared for comparison (the model weighs two records
    /// from one system as less likely one child).
    pub fn prepare(&self, source_system: &str, child: &ChildData) -> PreparedRecord {
        self.model.prepare(&to_match_record(source_system, child))
    }

    /// The probability that two prepared records are the same child, and whether a
    /// cannot-link rule holds for them: the comparison without its explanation.
    pub fn score(&self, a: &PreparedRecord, b: &PreparedRecord) -> Result<(f64, bool)> {
        let (weight, cannot_link) = self
            .model
            .score_prepared(a, b)
            .map_err(|error| RegistryError::Corrupt(format!("scoring failed: {error}")))?;
        Ok((matching::model::probability(weight), cannot_link.is_some()))
    }

    /// As [`Matcher::score`] for placing a record: the probability only when the pair could
    /// reach review (`None` below it, where the costlier comparisons are skipped), and whether
    /// a cannot-link rule holds, for every pair (it keeps the pair's child from an automatic
    /// link). A pair a rounding margin below the review threshold still counts as reaching it.
    pub fn score_for_review(
        &self,
        a: &PreparedRecord,
        b: &PreparedRecord,
    ) -> Result<(Option<f64>, bool)> {
        let scored = self
            .model
            .score_floor(a, b, self.review_floor)
            .map_err(|error| RegistryError::Corrupt(format!("scoring failed: {error}")))?;
        Ok(match scored {
            Bounded::Kept {
                weight,
                cannot_link,
            } => (
                Some(matching::model::probability(weight)),
                cannot_link.is_some(),
            ),
            Bounded::Below { cannot_link } => (None, cannot_link.is_some()),
        })
    }

    /// The explained comparison of two prepared records.
    pub fn explain(&self, a: &PreparedRecord, b: &PreparedRecord) -> Result<PairExplanation> {
        self.model
            .explain_prepared(a, b)
            .map_err(|error| RegistryError::Corrupt(format!("scoring failed: {error}")))
    }
}

/// The source system of a record no agency sent (a search, a `$match` look-up): the model's
/// source-system comparison is left out (level `null`, weight 0).
pub const NO_SOURCE_SYSTEM: &str = "";

/// The matching engine's view of a record of `source_system`: the canonical child columns.
pub fn to_match_record(source_system: &str, child: &ChildData) -> Record {
    to_match_record_with_id("", source_system, child)
}

/// As [`to_match_record`], with a record ID (training needs records told apart).
pub fn to_match_record_with_id(record_id: &str, source_system: &str, child: &ChildData) -> Record {
    let date_of_birth = child
        .date_of_birth
        .map(|date| date.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let sex = match child.sex {
        Some(Sex::F) => "F",
        Some(Sex::M) => "M",
        Some(Sex::X) => "X",
        Some(Sex::Unknown) | None => "",
    };
    Record::child(&ChildFields {
        record_id,
        source_system,
        source_record_id: "",
        given_name: child.given_name.as_deref().unwrap_or_default(),
        family_name: child.family_name.as_deref().unwrap_or_default(),
        sex,
        date_of_birth: &date_of_birth,
        date_of_birth_estimated: Some(child.date_of_birth_estimated),
        district: child.district.as_deref().unwrap_or_default(),
        subcounty: child.subcounty.as_deref().unwrap_or_default(),
        village: child.village.as_deref().unwrap_or_default(),
        mother_name: child.mother_name.as_deref().unwrap_or_default(),
        father_name: child.father_name.as_deref().unwrap_or_default(),
    })
}

/// The 64-bit hash of a blocking key or identifier. It is how blocking keys are stored (an
/// integer indexes and compares faster than the text; a collision only adds a candidate, which
/// scoring judges on its fields) and the lock a registration takes: registrations that could
/// match each other take the same lock, so two gateways registering the same child at once are
/// serialised. Stored, so it must never change: the first 8 bytes of SHA-256, big-endian.
pub fn key_hash(text: &str) -> i64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// A record's blocking keys as stored: their distinct hashes (the table has no key of its own
/// that would drop a repeat).
pub fn key_hashes(keys: &[String]) -> Vec<i64> {
    let mut hashes: Vec<i64> = keys.iter().map(|key| key_hash(key)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// One stored record that shares a blocking key with the arriving one.
#[derive(Debug, Clone)]
pub struct CandidateRecord {
    pub record_key: i64,
    pub child_id: ChildId,
    pub source_system: String,
    pub child: ChildData,
}

/// A stored record as the model sees it, with where it sits now and how it got there.
#[derive(Debug, Clone)]
pub struct StoredMatchRecord {
    pub record_key: i64,
    pub source_system: String,
    pub source_record_id: String,
    pub child_id: ChildId,
    /// `new`, `identifier`, `automatic` or `manual`.
    pub link_method: String,
    pub child: ChildData,
}

/// How strongly the arriving record matches one existing child: its best-scoring record.
#[derive(Debug, Clone)]
pub struct ChildScore {
    pub child_id: ChildId,
    pub probability: f64,
    pub explanation: PairExplanation,
    /// A cannot-link rule held against one of the child's records (e.g. conflicting
    /// identifiers): the child may be reviewed, never linked automatically.
    pub vetoed: bool,
    pub district: Option<String>,
}

/// One scored pair of the arriving record with a record of `child_id`; `pair` is what the
/// caller keeps of the best one.
pub struct PairScore<T> {
    pub child_id: ChildId,
    pub probability: f64,
    /// A cannot-link rule holds for this pair.
    pub vetoed: bool,
    pub pair: T,
}

/// Each child's best pair (the highest probability, the first of equals), in child order; a
/// child is vetoed when any of its pairs is.
pub fn best_per_child<T>(pairs: impl IntoIterator<Item = PairScore<T>>) -> Vec<PairScore<T>> {
    let mut best: BTreeMap<ChildId, PairScore<T>> = BTreeMap::new();
    for pair in pairs {
        match best.get_mut(&pair.child_id) {
            Some(current) => {
                let vetoed = current.vetoed || pair.vetoed;
                if pair.probability > current.probability {
                    *current = pair;
                }
                current.vetoed = vetoed;
            }
            None => {
                best.insert(pair.child_id, pair);
            }
        }
    }
    best.into_values().collect()
}

/// The pairs under a cannot-link rule that another record of the same child reconciles: a
/// child known by two given names, the arriving record writing one and the stored record the
/// other, while a third of the child's records writes both (batch clustering does the same,
/// see `matching::cluster`). `pairs`: each compared stored record's child, its prepared record
/// and whether a cannot-link rule holds for it. Returns the positions whose veto is lifted.
pub fn reconciled_vetoes(
    matcher: &Matcher,
    arriving: &PreparedRecord,
    pairs: &[(ChildId, &PreparedRecord, bool)],
) -> Result<Vec<usize>> {
    if !pairs.iter().any(|(_, _, vetoed)| *vetoed) {
        return Ok(Vec::new());
    }
    let mut by_child: BTreeMap<ChildId, Vec<usize>> = BTreeMap::new();
    for (position, (child_id, _, _)) in pairs.iter().enumerate() {
        by_child.entry(*child_id).or_default().push(position);
    }
    // Left out, the given name no longer says "another child"; the rest must still say "this
    // child" as far as review at least.
    let reaches_review =
        |weight: f64| matching::model::probability(weight) >= matcher.review_threshold();
    let mut lifted = Vec::new();
    for (position, (child_id, stored, vetoed)) in pairs.iter().enumerate() {
        let siblings = by_child.get(child_id).map_or(&[][..], Vec::as_slice);
        if !vetoed || siblings.len() < 2 {
            continue;
        }
        let others = siblings
            .iter()
            .filter(|&&other| other != position)
            .map(|&other| pairs[other].1);
        let reconciled = matcher
            .model
            .score_given_names_written_together(arriving, stored, others)
            .map_err(|error| RegistryError::Corrupt(format!("scoring failed: {error}")))?;
        if matches!(reconciled, Some((weight, None)) if reaches_review(weight)) {
            lifted.push(position);
        }
    }
    Ok(lifted)
}

/// Scores the arriving record against every candidate record, keeping each child's best pair.
/// Every pair is scored; only each child's best pair is explained (the explanation is what a
/// steward reads, and building one for every namesake in a block is most of the cost).
pub fn score_children(
    matcher: &Matcher,
    source_system: &str,
    arriving: &ChildData,
    candidates: &[CandidateRecord],
) -> Result<Vec<ChildScore>> {
    let arriving = matcher.prepare(source_system, arriving);
    let mut pairs = candidates
        .iter()
        .map(|candidate| {
            let prepared = matcher.prepare(&candidate.source_system, &candidate.child);
            let (probability, vetoed) = matcher.score(&arriving, &prepared)?;
            Ok(PairScore {
                child_id: candidate.child_id,
                probability,
                vetoed,
                pair: (candidate, prepared),
            })
        })
        .collect::<Result<Vec<PairScore<_>>>>()?;
    let compared: Vec<(ChildId, &PreparedRecord, bool)> = pairs
        .iter()
        .map(|pair| (pair.child_id, &pair.pair.1, pair.vetoed))
        .collect();
    for position in reconciled_vetoes(matcher, &arriving, &compared)? {
        pairs[position].vetoed = false;
    }
    let mut scores = best_per_child(pairs)
        .into_iter()
        .map(|best| {
            let (candidate, prepared) = best.pair;
            let explanation = matcher.explain(&arriving, &prepared)?;
            Ok(ChildScore {
                child_id: best.child_id,
                probability: explanation.match_probability,
                explanation,
                vetoed: best.vetoed,
                district: candidate.child.district.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    sort_best_first(&mut scores);
    Ok(scores)
}

/// The most probable child first.
pub fn sort_best_first(scores: &mut [ChildScore]) {
    scores.sort_by(|a, b| b.probability.total_cmp(&a.probability));
}

/// What the registry does with an arriving record.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Nothing close: a new child.
    New,
    /// Exactly one child above the automatic threshold: the record joins it.
    Link(ChildScore),
    /// Possible matches (or several certain ones): a new child now, and a review candidate per
    /// child, best first.
    Review(Vec<ChildScore>),
}

/// Applies the thresholds. Two children above the automatic threshold are never chosen
/// between automatically: that would be merging them by proxy.
pub fn plan(scores: Vec<ChildScore>, link: f64, review: f64) -> Plan {
    let certain = scores
        .iter()
        .filter(|score| score.probability >= link && !score.vetoed)
        .count();
    let mut possible: Vec<ChildScore> = scores
        .into_iter()
        .filter(|score| score.probability >= review)
        .collect();
    if certain == 1 && possible.len() == 1 {
        return Plan::Link(possible.remove(0));
    }
    if certain == 1 {
        // One certain child and others merely possible: link to the certain one; the possible
        // ones are weaker evidence than the link and would only add noise to the queue.
        if let Some(position) = possible
            .iter()
            .position(|score| score.probability >= link && !score.vetoed)
        {
            return Plan::Link(possible.swap_remove(position));
        }
    }
    if possible.is_empty() {
        Plan::New
    } else {
        Plan::Review(possible)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn score(child: ChildId, probability: f64, vetoed: bool) -> ChildScore {
        ChildScore {
            child_id: child,
            probability,
            explanation: PairExplanation {
                prior_weight: 0.0,
                prior_probability: 0.5,
                comparisons: Vec::new(),
                names_swapped: false,
                whole_name_read: false,
                match_weight: 0.0,
                match_probability: probability,
                cannot_link: None,
            },
            vetoed,
            district: None,
        }
    }

    #[test]
    fn two_records_of_one_agency_system_weigh_less_than_records_of_two() {
        let matcher = Matcher::new(1, Model::default_child().unwrap()).unwrap();
        let child = ChildData {
            given_name: Some("Bopha".into()),
            family_name: Some("Chenda".into()),
            sex: Some(Sex::F),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(2014, 3, 9),
            district: Some("Kandal".into()),
            ..ChildData::default()
        };
        let stored = [CandidateRecord {
            record_key: 1,
            child_id: ChildId::random(),
            source_system: "school-kh".into(),
            child: child.clone(),
        }];
        let scored = |system: &str| {
            let scores = score_children(&matcher, system, &child, &stored).unwrap();
            let explanation = scores[0].explanation.clone();
            let level = explanation
                .comparisons
                .iter()
                .find(|step| step.comparison == "source_system")
                .map(|step| step.level.clone());
            (explanation.match_weight, level)
        };
        let (same_weight, same_level) = scored("school-kh");
        let (other_weight, other_level) = scored("police-kh");
        let (unknown_weight, unknown_level) = scored("");
        assert_eq!(same_level.as_deref(), Some("exact"));
        assert_eq!(other_level.as_deref(), Some("else"));
        assert_eq!(unknown_level.as_deref(), Some("null"));
        assert!(same_weight < unknown_weight && unknown_weight < other_weight);
    }

    #[test]
    fn one_certain_child_is_linked() {
        let a = ChildId::random();
        match plan(vec![score(a, 0.9995, false)], 0.999, 0.5) {
            Plan::Link(chosen) => assert_eq!(chosen.child_id, a),
            other => panic!("expected a link, got {other:?}"),
        }
    }

    #[test]
    fn two_certain_children_go_to_review() {
        let (a, b) = (ChildId::random(), ChildId::random());
        match plan(
            vec![score(a, 0.9999, false), score(b, 0.9995, false)],
            0.999,
            0.5,
        ) {
            Plan::Review(children) => assert_eq!(children.len(), 2),
            other => panic!("expected review, got {other:?}"),
        }
    }

    #[test]
    fn a_vetoed_child_is_reviewed_not_linked() {
        let a = ChildId::random();
        assert!(matches!(
            plan(vec![score(a, 0.99999, true)], 0.999, 0.5),
            Plan::Review(_)
        ));
    }

    #[test]
    fn nothing_close_is_new() {
        let a = ChildId::random();
        assert!(matches!(
            plan(vec![score(a, 0.2, false)], 0.999, 0.5),
            Plan::New
        ));
        assert!(matches!(plan(Vec::new(), 0.999, 0.5), Plan::New));
    }

    #[test]
    fn key_hashes_are_stable_and_distinct() {
        assert_eq!(
            key_hash("names_year:sok_2016"),
            key_hash("names_year:sok_2016")
        );
        assert_ne!(
            key_hash("names_year:sok_2016"),
            key_hash("names_year:sok_2017")
        );
    }
}

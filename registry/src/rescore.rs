//! Model lifecycle: what a new model version would do to the registry's automatic links,
//! before it is activated. Manual decisions are never touched.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::Result;
use crate::ids::ChildId;
use crate::linkage::{self, CandidateRecord, ChildScore, Matcher, Plan, StoredMatchRecord};
use crate::review::{ModelVersion, RescoreChange, RescoreReport};
use crate::store::{Decision, Store};

/// The stored model versions and whether the registry has outgrown the active one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelStatus {
    pub versions: Vec<ModelVersion>,
    /// Source records the registry holds now.
    pub records: u64,
    /// Why the active model should be trained again, when it should ([`retrain_advice`]).
    pub retrain_advice: Option<String>,
}

/// Reads [`ModelStatus`]; counting the records takes a moment at a million.
pub async fn model_status(store: &dyn Store) -> Result<ModelStatus> {
    let versions = store.model_versions().await?;
    let records = store.source_record_count().await?;
    let retrain_advice = versions
        .iter()
        .find(|version| version.active)
        .and_then(|active| retrain_advice(active, records));
    Ok(ModelStatus {
        versions,
        records,
        retrain_advice,
    })
}

/// From this many records a registry's own records teach a model more than the bundled one
/// knows: measured on generated sets, EM on 5,000 records matches about as well as the
/// bundled model, on 10,000 and more better (it learns the registry's own agencies and
/// names); on a population nobody tuned it to (BENCHMARKS.md, session 36), the bundled model's
/// automatic links fell to precision 0.989 where the same model trained on that population's
/// own records kept 0.998.
pub const OWN_TRAINING_RECORDS: u64 = 10_000;

/// A registry that has grown to this many times the records its active model learned from
/// has other names, agencies and duplicates than the model's weights and name frequencies
/// describe.
pub const GROWTH_BEFORE_RETRAINING: u64 = 2;

/// Why the active model should be trained again on the registry's `records`, if it should:
/// a bundled model once the registry holds [`OWN_TRAINING_RECORDS`] of its own, a trained one
/// once the registry has grown [`GROWTH_BEFORE_RETRAINING`] times past what it learned from.
/// Training only stores a new version; `child-registry rescore --dry-run` shows what it would
/// change before anything is activated.
pub fn retrain_advice(active: &ModelVersion, records: u64) -> Option<String> {
    if records < OWN_TRAINING_RECORDS {
        return None;
    }
    let why = if active.origin == "bundled" {
        format!(
            "the active model (version {}) is the one bundled with the release, trained on \
             generated children; the registry now holds {records} records of its own",
            active.version
        )
    } else {
        let learned_from = active.trained_on_records?;
        if records < learned_from.saturating_mul(GROWTH_BEFORE_RETRAINING) {
            return None;
        }
        format!(
            "the active model (version {}) learned from {learned_from} records; the registry \
             now holds {records}",
            active.version
        )
    };
    Some(format!(
        "{why}: train a new version on them (`child-registry train`) and compare it \
         (`child-registry rescore --model-version N --dry-run`) before activating it"
    ))
}

/// The report and the work `apply` would do.
#[derive(Debug)]
pub struct RescorePlan {
    pub report: RescoreReport,
    /// Records that would leave their child (automatic links the model no longer believes).
    breaks: Vec<(String, String)>,
    /// Records to queue for review against these children.
    reviews: Vec<(i64, Vec<ChildScore>)>,
}

/// Scores every record under `matcher` as if it had just arrived, and compares with where it
/// is now.
pub fn plan(matcher: &Matcher, records: &[StoredMatchRecord]) -> Result<RescorePlan> {
    let max_block = matcher.model().spec().thresholds.max_block_size;
    let mut by_child: HashMap<ChildId, Vec<usize>> = HashMap::new();
    let mut blocks: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        by_child.entry(record.child_id).or_default().push(index);
        for key in matcher.blocking_keys(&record.child) {
            blocks.entry(key).or_default().push(index);
        }
    }
    blocks.retain(|_, members| members.len() <= max_block);
    let as_candidate = |index: usize| CandidateRecord {
        record_key: records[index].record_key,
        child_id: records[index].child_id,
        source_system: records[index].source_system.clone(),
        child: records[index].child.clone(),
    };
    let mut report = RescoreReport {
        model_version: matcher.version(),
        records_scored: 0,
        make: 0,
        r#break: 0,
        review: 0,
        unchanged: 0,
        manual_kept: 0,
        changes: Vec::new(),
        applied: false,
    };
    let (mut breaks, mut reviews) = (Vec::new(), Vec::new());
    let mut counted_pairs: BTreeSet<(ChildId, ChildId)> = BTreeSet::new();
    for (index, record) in records.iter().enumerate() {
        if record.link_method == "manual" {
            report.manual_kept += 1;
            continue;
        }
        report.records_scored += 1;
        let siblings: Vec<CandidateRecord> = by_child[&record.child_id]
            .iter()
            .filter(|&&other| other != index)
            .map(|&other| as_candidate(other))
            .collect();
        let change = |kind: &str, other: Option<ChildId>, probability: f64| RescoreChange {
            source_system: record.source_system.clone(),
            source_record_id: record.source_record_id.clone(),
            child_id: record.child_id,
            change: kind.to_owned(),
            other_child_id: other,
            probability,
        };
        if record.link_method == "automatic" && !siblings.is_empty() {
            let own =
                linkage::score_children(matcher, &record.source_system, &record.child, &siblings)?;
            let best = own.first();
            if best.is_some_and(|score| {
                score.probability >= matcher.review_threshold() && !score.vetoed
            }) {
                report.unchanged += 1;
            } else {
                report.r#break += 1;
                report
                    .changes
                    .push(change("break", None, best.map_or(0.0, |s| s.probability)));
                breaks.push((
                    record.source_system.clone(),
                    record.source_record_id.clone(),
                ));
            }
            continue;
        }
        if !siblings.is_empty() {
            // The record founded its child or came by identifier: it anchors the child.
            report.unchanged += 1;
            continue;
        }
        let mut members: BTreeMap<usize, ()> = BTreeMap::new();
        for key in matcher.blocking_keys(&record.child) {
            for &other in blocks.get(&key).map(Vec::as_slice).unwrap_or_default() {
                if records[other].child_id != record.child_id {
                    members.insert(other, ());
                }
            }
        }
        let candidates: Vec<CandidateRecord> =
            members.keys().map(|&other| as_candidate(other)).collect();
        let scores =
            linkage::score_children(matcher, &record.source_system, &record.child, &candidates)?;
        match linkage::plan(scores, matcher.link_threshold(), matcher.review_threshold()) {
            Plan::New => report.unchanged += 1,
            Plan::Link(score) => {
                let pair = ordered(record.child_id, score.child_id);
                if counted_pairs.insert(pair) {
                    report.make += 1;
                    report
                        .changes
                        .push(change("make", Some(score.child_id), score.probability));
                    reviews.push((record.record_key, vec![score]));
                } else {
                    report.unchanged += 1;
                }
            }
            Plan::Review(scores) => {
                let fresh: Vec<ChildScore> = scores
                    .into_iter()
                    .filter(|score| counted_pairs.insert(ordered(record.child_id, score.child_id)))
                    .collect();
                if let Some(best) = fresh.first() {
                    report.review += 1;
                    report
                        .changes
                        .push(change("review", Some(best.child_id), best.probability));
                    reviews.push((record.record_key, fresh));
                } else {
                    report.unchanged += 1;
                }
            }
        }
    }
    Ok(RescorePlan {
        report,
        breaks,
        reviews,
    })
}

fn ordered(a: ChildId, b: ChildId) -> (ChildId, ChildId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Activates the version and carries out the plan: records the model no longer links leave
/// their child (recorded as a decision of the rescore), and links it would make go to review,
/// because two existing children are never merged automatically.
pub async fn apply(store: &dyn Store, mut plan: RescorePlan) -> Result<RescoreReport> {
    let version = plan.report.model_version;
    store.activate_model_version(version).await?;
    for (record_key, scores) in &plan.reviews {
        store.queue_candidates(*record_key, scores, version).await?;
    }
    let decision = Decision {
        actor: format!("rescore (model version {version})"),
        reason: "the new model version no longer links this record to its child".to_owned(),
    };
    for (source_system, source_record_id) in &plan.breaks {
        store
            .unlink_record(source_system, source_record_id, &decision)
            .await?;
    }
    plan.report.applied = true;
    Ok(plan.report)
}

/// How often a server looks for a model version activated by another process.
pub const MODEL_FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// What `serve` runs: a version activated by `rescore --apply` from the command line, or by
/// another gateway on the same database, is matched with within [`MODEL_FOLLOW_INTERVAL`]
/// instead of at the next restart.
pub async fn follow_active_model(store: std::sync::Arc<dyn Store>) {
    loop {
        tokio::time::sleep(MODEL_FOLLOW_INTERVAL).await;
        if let Err(error) = store.follow_active_model().await {
            tracing::warn!(%error, "looking for a newly activated model version failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn version(origin: &str, trained_on_records: Option<u64>) -> ModelVersion {
        ModelVersion {
            version: 3,
            origin: origin.into(),
            note: String::new(),
            created_at: Utc::now(),
            activated_at: Some(Utc::now()),
            active: true,
            trained_on_records,
        }
    }

    #[test]
    fn retraining_is_advised_once_the_registry_has_records_of_its_own() {
        let bundled = version("bundled", Some(200_000));
        assert_eq!(retrain_advice(&bundled, OWN_TRAINING_RECORDS - 1), None);
        let advice = retrain_advice(&bundled, OWN_TRAINING_RECORDS).unwrap();
        assert!(advice.contains("bundled"), "{advice}");
        assert!(advice.contains("child-registry train"), "{advice}");
        // Fewer records than the bundled model's training set still say more about this
        // registry's own agencies than generated children do.
        assert!(retrain_advice(&bundled, 50_000).is_some());
    }

    #[test]
    fn retraining_is_advised_when_the_registry_has_outgrown_its_model() {
        let trained = version("trained", Some(40_000));
        assert_eq!(retrain_advice(&trained, 79_999), None);
        let advice = retrain_advice(&trained, 80_000).unwrap();
        assert!(advice.contains("learned from 40000 records"), "{advice}");
        // A model trained on a small registry is still not worth replacing below the size
        // where training pays.
        assert_eq!(
            retrain_advice(&version("trained", Some(2_000)), OWN_TRAINING_RECORDS - 1),
            None
        );
        // An untrained model (weights fixed by hand) is left to whoever wrote it.
        assert_eq!(retrain_advice(&version("test", None), 1_000_000), None);
    }
}

//! The review queue: match candidates a data steward decides, their statistics, and the model
//! versions that produced them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::ChildId;
use crate::model::{ChildData, GoldenRecord};

/// Where a candidate is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateStatus {
    /// Waiting for a steward.
    Open,
    /// A steward put it aside for later; it still needs a decision.
    Deferred,
    /// A steward linked the record to the candidate child.
    Linked,
    /// A steward decided they are different children.
    NotAMatch,
    /// Settled by another decision (e.g. the two were merged another way).
    Superseded,
}

impl CandidateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateStatus::Open => "open",
            CandidateStatus::Deferred => "deferred",
            CandidateStatus::Linked => "linked",
            CandidateStatus::NotAMatch => "not_a_match",
            CandidateStatus::Superseded => "superseded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(CandidateStatus::Open),
            "deferred" => Some(CandidateStatus::Deferred),
            "linked" => Some(CandidateStatus::Linked),
            "not_a_match" => Some(CandidateStatus::NotAMatch),
            "superseded" => Some(CandidateStatus::Superseded),
            _ => None,
        }
    }

    /// Still waiting for a decision.
    pub fn is_pending(self) -> bool {
        matches!(self, CandidateStatus::Open | CandidateStatus::Deferred)
    }
}

/// What a steward decides about a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateDecision {
    /// Same child: the record's child is merged into the candidate child.
    Link,
    /// Different children: remembered, never linked automatically again.
    NotAMatch,
    /// Not sure yet: set aside, still pending.
    Defer,
}

impl CandidateDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateDecision::Link => "link",
            CandidateDecision::NotAMatch => "not_a_match",
            CandidateDecision::Defer => "defer",
        }
    }
}

/// Queue order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateSort {
    /// Oldest first: nobody waits for ever.
    #[default]
    Oldest,
    /// Most probable first: the quickest decisions.
    Probability,
}

/// Which candidates to list, by who holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClaimFilter {
    /// Claimed or not.
    #[default]
    Any,
    /// What this steward may take up: unclaimed, claimed by them, or claimed by someone whose
    /// claim has run out.
    Available { steward: String },
    /// Only what this steward holds a live claim on.
    Mine { steward: String },
}

impl ClaimFilter {
    pub fn as_str(&self) -> &'static str {
        match self {
            ClaimFilter::Any => "any",
            ClaimFilter::Available { .. } => "available",
            ClaimFilter::Mine { .. } => "mine",
        }
    }

    pub fn steward(&self) -> Option<&str> {
        match self {
            ClaimFilter::Any => None,
            ClaimFilter::Available { steward } | ClaimFilter::Mine { steward } => Some(steward),
        }
    }
}

/// Which candidates to list.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateQuery {
    pub status: CandidateStatus,
    /// Either side's district (compared without case).
    pub district: Option<String>,
    pub claims: ClaimFilter,
    pub sort: CandidateSort,
    pub limit: i64,
    pub offset: i64,
}

/// A steward's hold on a pending candidate while they decide it: until it is released, runs
/// out or the candidate is decided, no other steward can decide it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CandidateClaim {
    /// The match candidate.
    pub id: i64,
    /// The steward holding it (as decisions name them).
    pub claimed_by: String,
    pub claimed_until: DateTime<Utc>,
}

impl CandidateClaim {
    /// Whether the claim still holds at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.claimed_until > now
    }
}

/// The arriving record of a candidate pair, as the agency sent it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CandidateRecord {
    pub source_system: String,
    pub source_record_id: String,
    /// The record version that was scored.
    pub version: i64,
    /// The child the record belongs to now.
    pub child_id: ChildId,
    pub child: ChildData,
}

/// The existing child the record may be.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CandidateChild {
    /// The child as scored (it may since have been merged).
    pub child_id: ChildId,
    /// The surviving child now.
    pub current_child_id: ChildId,
    pub summary: GoldenRecord,
}

/// The steward's decision on a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CandidateDecisionView {
    pub decision: CandidateDecision,
    pub decided_by: String,
    pub reason: String,
    pub decided_at: DateTime<Utc>,
}

/// A possible match waiting for (or settled by) a data steward.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MatchCandidate {
    pub id: i64,
    pub status: CandidateStatus,
    pub probability: f64,
    pub model_version: i64,
    pub created_at: DateTime<Utc>,
    pub record: CandidateRecord,
    pub candidate: CandidateChild,
    /// The per-field evidence: each comparison's level and weight, the prior, the total (the
    /// match-weight waterfall).
    #[schema(value_type = Object)]
    pub explanation: serde_json::Value,
    /// Every decision taken on it, oldest first (a deferred candidate may be decided again).
    pub decisions: Vec<CandidateDecisionView>,
    /// The steward deciding it now, while their claim lasts; absent when nobody holds it.
    pub claim: Option<CandidateClaim>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CandidatePage {
    pub candidates: Vec<MatchCandidate>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DecisionOutcome {
    pub id: i64,
    pub status: CandidateStatus,
    /// For `link`: the child both now belong to.
    pub child_id: Option<ChildId>,
}

/// How many decisions one steward took.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StewardDecisions {
    pub steward: String,
    pub decisions: i64,
    pub links: i64,
    pub not_a_match: i64,
    pub defers: i64,
}

/// The state of the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CandidateStats {
    /// Candidates waiting (open and deferred).
    pub open: i64,
    pub deferred: i64,
    /// Waiting candidates a steward holds a live claim on.
    pub claimed: i64,
    /// Age of the waiting candidates in hours: median, 90th and 99th percentile, oldest.
    pub age_hours_p50: Option<f64>,
    pub age_hours_p90: Option<f64>,
    pub age_hours_p99: Option<f64>,
    pub age_hours_max: Option<f64>,
    pub decisions_by_steward: Vec<StewardDecisions>,
    /// Share of all decisions that were `defer` (0 when none yet).
    pub defer_share: f64,
}

/// A stored model version.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelVersion {
    pub version: i64,
    /// `bundled` (shipped with the release, trained on generated children), `trained` (by
    /// `child-registry train` on the registry's own records), or what a tool wrote.
    pub origin: String,
    pub note: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub active: bool,
    /// How many records its weights were learned from; `None` for an untrained model.
    pub trained_on_records: Option<u64>,
}

/// One record whose automatic placement a model version would change.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RescoreChange {
    pub source_system: String,
    pub source_record_id: String,
    pub child_id: ChildId,
    /// `make` (would link to another child), `break` (would leave its child), `review`.
    pub change: String,
    pub other_child_id: Option<ChildId>,
    pub probability: f64,
}

/// What activating a model version does to the automatic links.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RescoreReport {
    pub model_version: i64,
    pub records_scored: i64,
    pub make: i64,
    pub r#break: i64,
    pub review: i64,
    pub unchanged: i64,
    /// Manually decided records, which no model changes.
    pub manual_kept: i64,
    pub changes: Vec<RescoreChange>,
    pub applied: bool,
}

/// Percentile by nearest rank over sorted values.
pub fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(50.0));
        assert_eq!(percentile(&values, 0.9), Some(90.0));
        assert_eq!(percentile(&values, 0.99), Some(99.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}

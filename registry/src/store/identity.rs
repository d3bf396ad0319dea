//! How outside systems find a child without registering anything (the FHIR interface's
//! identifier search, PIX cross-reference and `$match`): part of every [`Store`](super::Store),
//! in a trait of its own. The SQL lives in `identity_sql.rs`, compiled once per backend.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;
use crate::ids::ChildId;
use crate::linkage::{ChildScore, Matcher};
use crate::model::ChildData;
use crate::store::ReadScope;

/// Below this probability a child is not worth naming at all: the model finds a different
/// child more likely than the same one.
pub const POSSIBLE_FLOOR: f64 = 0.5;

/// How sure the registry is that a submitted record is one of its children, in the terms of
/// FHIR's `match-grade` extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchGrade {
    /// A registration would join this child automatically: at or above the active model's
    /// link threshold without a cannot-link veto, or the only child holding one of the
    /// record's identifiers.
    Certain,
    /// A registration would put this child before a data steward: at or above the review
    /// threshold (or above the link threshold but vetoed, or one of several children sharing
    /// an identifier).
    Probable,
    /// Below the review threshold, yet more likely the same child than not.
    Possible,
}

impl MatchGrade {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchGrade::Certain => "certain",
            MatchGrade::Probable => "probable",
            MatchGrade::Possible => "possible",
        }
    }

    /// The grade of a scored child under the model's thresholds; `None` below
    /// [`POSSIBLE_FLOOR`].
    pub fn of(score: &ChildScore, matcher: &Matcher) -> Option<MatchGrade> {
        if score.probability >= matcher.link_threshold() && !score.vetoed {
            Some(MatchGrade::Certain)
        } else if score.probability >= matcher.review_threshold() {
            Some(MatchGrade::Probable)
        } else if score.probability >= POSSIBLE_FLOOR {
            Some(MatchGrade::Possible)
        } else {
            None
        }
    }
}

/// One child a submitted record could be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradedMatch {
    pub child_id: ChildId,
    /// The model's match probability of the child's best record (1 for the only child holding
    /// one of the record's identifiers: registration links on that alone).
    pub probability: f64,
    pub grade: MatchGrade,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The children within `scope` holding a current record with this identifier (type and
    /// value, compared as registration compares them: case and punctuation ignored).
    async fn children_with_identifier(
        &self,
        kind: &str,
        value: &str,
        scope: &ReadScope,
    ) -> Result<Vec<ChildId>>;

    /// The children within `scope` that a registration of `child` would be compared with, each
    /// graded under the active model, best first, without storing anything. Uses the same
    /// identifier and blocking-key candidate look-up as registration.
    async fn preview_matches(
        &self,
        child: &ChildData,
        scope: &ReadScope,
    ) -> Result<Vec<GradedMatch>>;
}

//! The SQL of [`IdentityStore`](crate::store::IdentityStore), shared by both backends like
//! `engine.rs` (compiled once inside `sqlite.rs`, once inside `postgres.rs`).

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::engine::{children_sharing_identifiers, parse_child_id, visible_child};
use super::linking::{candidate_records, current_matcher, records_of_children};
use super::Backend;
use crate::error::Result;
use crate::ids::ChildId;
use crate::linkage;
use crate::model::ChildData;
use crate::store::identity::{GradedMatch, IdentityStore, MatchGrade};
use crate::store::ReadScope;
use crate::validate::identifier_key;

#[async_trait]
impl IdentityStore for Backend {
    async fn children_with_identifier(
        &self,
        kind: &str,
        value: &str,
        scope: &ReadScope,
    ) -> Result<Vec<ChildId>> {
        let key = identifier_key(value);
        if key.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT sr.child_id FROM record_identifiers ri \
             JOIN source_records sr ON sr.record_key = ri.record_key \
             WHERE ri.kind = $1 AND ri.value_key = $2 AND {} ORDER BY sr.child_id",
            visible_child("sr.child_id", 3)
        ))
        .bind(kind)
        .bind(key)
        .bind(scope.kind())
        .bind(scope.value())
        .fetch_all(&self.read)
        .await?;
        ids.iter().map(|id| parse_child_id(id)).collect()
    }

    async fn preview_matches(
        &self,
        child: &ChildData,
        scope: &ReadScope,
    ) -> Result<Vec<GradedMatch>> {
        let matcher = current_matcher(&self.matcher);
        let mut graded: BTreeMap<ChildId, GradedMatch> = BTreeMap::new();
        // Read-only: the transaction only gives the candidate look-up one consistent snapshot.
        let mut tx = self.read.begin().await?;
        let sharing = children_sharing_identifiers(&mut tx, child).await?;
        if let [only] = sharing.as_slice() {
            graded.insert(
                *only,
                GradedMatch {
                    child_id: *only,
                    probability: 1.0,
                    grade: MatchGrade::Certain,
                },
            );
        } else if !sharing.is_empty() {
            // Several children claim one identifier: registration sends them all to review.
            let records = records_of_children(&mut tx, &sharing).await?;
            for score in
                linkage::score_children(&matcher, linkage::NO_SOURCE_SYSTEM, child, &records)?
            {
                graded.insert(
                    score.child_id,
                    GradedMatch {
                        child_id: score.child_id,
                        probability: score.probability,
                        grade: MatchGrade::Probable,
                    },
                );
            }
        }
        let candidates =
            candidate_records(&mut tx, &matcher, &matcher.blocking_keys(child), None).await?;
        for score in
            linkage::score_children(&matcher, linkage::NO_SOURCE_SYSTEM, child, &candidates)?
        {
            if graded.contains_key(&score.child_id) {
                continue;
            }
            if let Some(grade) = MatchGrade::of(&score, &matcher) {
                graded.insert(
                    score.child_id,
                    GradedMatch {
                        child_id: score.child_id,
                        probability: score.probability,
                        grade,
                    },
                );
            }
        }
        tx.rollback().await?;
        let mut visible = Vec::with_capacity(graded.len());
        for (child_id, graded) in graded {
            let seen: Option<String> = sqlx::query_scalar(&format!(
                "SELECT c.child_id FROM children c WHERE c.child_id = $1 AND {}",
                visible_child("c.child_id", 2)
            ))
            .bind(child_id.to_string())
            .bind(scope.kind())
            .bind(scope.value())
            .fetch_optional(&self.read)
            .await?;
            if seen.is_some() {
                visible.push(graded);
            }
        }
        visible.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then(a.grade.cmp(&b.grade))
        });
        Ok(visible)
    }
}

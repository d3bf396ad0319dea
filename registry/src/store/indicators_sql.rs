//! The indicators' projection: the SQL of [`IndicatorStore`](super::IndicatorStore), shared by
//! both backends like `engine.rs`.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::engine::parse_child_id;
use super::Backend;
use crate::error::Result;
use crate::ids::{ChildId, ChildIdRange};
use crate::indicators::{ChildFacts, EventFact, IndicatorFacts, ReferralFact};
use crate::referrals::ReferralStatus;
use crate::store::{IndicatorStore, Store};

/// A referral as read: child, from, to, status, referred on, accepted at.
type ReferralRow = (
    String,
    String,
    String,
    String,
    NaiveDate,
    Option<DateTime<Utc>>,
);

/// Children per page read for the projection.
const PAGE: i64 = 1000;

/// Follows merged IDs to their survivors, in memory (`merged` maps each merged ID to the
/// child it was merged into).
fn survivor(merged: &HashMap<ChildId, ChildId>, mut child: ChildId) -> ChildId {
    for _ in 0..1000 {
        match merged.get(&child) {
            Some(next) => child = *next,
            None => break,
        }
    }
    child
}

#[async_trait]
impl IndicatorStore for Backend {
    async fn indicator_facts(&self) -> Result<IndicatorFacts> {
        let merged: HashMap<ChildId, ChildId> = sqlx::query_as::<_, (String, String)>(
            "SELECT child_id, merged_into FROM children WHERE status = 'merged'",
        )
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(|(from, into)| Ok((parse_child_id(&from)?, parse_child_id(&into)?)))
        .collect::<Result<_>>()?;

        let mut children = Vec::new();
        let mut position: HashMap<ChildId, usize> = HashMap::new();
        let mut range = ChildIdRange::ALL;
        loop {
            let page = self.active_children(range, PAGE).await?;
            let Some(last) = page.last() else { break };
            range.after = Some(last.child_id);
            let full = page.len() as i64 == PAGE;
            for view in page {
                position.insert(view.child_id, children.len());
                children.push(ChildFacts {
                    child_id: view.child_id,
                    registered_at: view.created_at,
                    registered_on: view.created_at.date_naive(),
                    sex: view.summary.sex,
                    date_of_birth: view.summary.date_of_birth,
                    district: view.summary.district,
                    source_systems: view
                        .records
                        .iter()
                        .map(|record| record.source_system.clone())
                        .collect::<BTreeSet<_>>(),
                    events: Vec::new(),
                });
            }
            if !full {
                break;
            }
        }

        let events: Vec<(String, String, NaiveDate)> = sqlx::query_as(
            "SELECT sr.child_id, e.event_type, e.event_date FROM events e \
             JOIN source_records sr ON sr.record_key = e.record_key \
             JOIN children c ON c.child_id = sr.child_id AND c.status = 'active' \
             WHERE e.retracted_in_version IS NULL",
        )
        .fetch_all(&self.read)
        .await?;
        for (child, event_type, date) in events {
            if let Some(index) = position.get(&parse_child_id(&child)?) {
                children[*index].events.push(EventFact { event_type, date });
            }
        }

        let referral_rows: Vec<ReferralRow> = sqlx::query_as(
            "SELECT COALESCE(sr.child_id, r.child_id), r.from_system, r.to_system, r.status, \
                 r.referred_on, r.accepted_at FROM referrals r \
                 LEFT JOIN events e ON e.event_key = r.event_key \
                 LEFT JOIN source_records sr ON sr.record_key = e.record_key",
        )
        .fetch_all(&self.read)
        .await?;
        let mut referrals = Vec::with_capacity(referral_rows.len());
        for (child, from, to, status, referred_on, accepted_at) in referral_rows {
            let Some(status) = ReferralStatus::parse(&status) else {
                continue;
            };
            referrals.push(ReferralFact {
                child_id: survivor(&merged, parse_child_id(&child)?),
                from,
                to,
                status,
                referred_on,
                accepted_on: accepted_at.map(|at| at.date_naive()),
            });
        }

        // Undecided candidates (open or set aside): each pair may yet be one child.
        let pairs: Vec<(String, String)> = sqlx::query_as(
            "SELECT sr.child_id, mc.candidate_child_id FROM match_candidates mc \
             JOIN source_records sr ON sr.record_key = mc.record_key \
             WHERE mc.status IN ('open', 'deferred')",
        )
        .fetch_all(&self.read)
        .await?;
        let mut open_pairs = BTreeSet::new();
        for (a, b) in pairs {
            let a = survivor(&merged, parse_child_id(&a)?);
            let b = survivor(&merged, parse_child_id(&b)?);
            if a != b && position.contains_key(&a) && position.contains_key(&b) {
                open_pairs.insert((a.min(b), a.max(b)));
            }
        }
        Ok(IndicatorFacts {
            children,
            referrals,
            open_pairs: open_pairs.into_iter().collect(),
        })
    }
}

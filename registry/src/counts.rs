//! Running totals behind the dashboard: children by district, agency and month, per read
//! scope. Counting them from the records takes seconds at a million children, so the totals
//! are a projection of the change feed, kept by a background folder: each change names a
//! child, the folder reads what that child counts towards now, compares it with what it
//! counted before, and adds the difference. Whatever the write (registration, import, merge,
//! unlink, update), the totals follow without the write path knowing about them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::model::{Count, RegistrationCounts};
use crate::store::{ReadScope, Store};

/// Change-feed entries folded per transaction.
pub const FOLD_BATCH: i64 = 5_000;

/// How often the folder looks for new changes when it has caught up.
pub const FOLD_INTERVAL: Duration = Duration::from_millis(500);

/// What one active child counts towards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedChild {
    /// `YYYY-MM` (UTC) of the child ID's issue.
    pub month: String,
    /// Lower-cased districts of the child's current records; `""` for a record without one.
    pub districts: BTreeSet<String>,
    /// Source systems holding records of the child.
    pub agencies: BTreeSet<String>,
}

/// The dimensions a scope's totals are kept along; their names are stored.
pub mod dimension {
    pub const CHILDREN: &str = "children";
    pub const DISTRICT: &str = "district";
    pub const AGENCY: &str = "agency";
    pub const MONTH: &str = "month";
}

/// One running total: the children within a scope (`scope_kind`, `scope_value`) counted under
/// `bucket` of `dimension`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TotalKey {
    pub scope_kind: &'static str,
    pub scope_value: String,
    pub dimension: &'static str,
    pub bucket: String,
}

impl CountedChild {
    /// The scopes that see this child, as stored: everyone, each agency holding one of its
    /// records, each district one of its records places it in (the read scopes'
    /// visibility rule).
    fn scopes(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        std::iter::once(("all", ""))
            .chain(
                self.agencies
                    .iter()
                    .map(|agency| ("source_system", agency.as_str())),
            )
            .chain(
                self.districts
                    .iter()
                    .filter(|district| !district.is_empty())
                    .map(|district| ("district", district.as_str())),
            )
    }

    /// Every total this child adds one to.
    pub fn totals(&self) -> Vec<TotalKey> {
        let buckets: Vec<(&'static str, &str)> = std::iter::once((dimension::CHILDREN, ""))
            .chain(
                self.districts
                    .iter()
                    .map(|d| (dimension::DISTRICT, d.as_str())),
            )
            .chain(
                self.agencies
                    .iter()
                    .map(|a| (dimension::AGENCY, a.as_str())),
            )
            .chain(std::iter::once((dimension::MONTH, self.month.as_str())))
            .collect();
        self.scopes()
            .flat_map(|(scope_kind, scope_value)| {
                buckets.iter().map(move |(dimension, bucket)| TotalKey {
                    scope_kind,
                    scope_value: scope_value.to_owned(),
                    dimension,
                    bucket: (*bucket).to_owned(),
                })
            })
            .collect()
    }
}

/// What changes in the totals when children move from what was counted (`before`) to what
/// they count towards now (`now`; `None` for a child no longer active). Zero differences are
/// left out.
pub fn differences<'a>(
    changed: impl IntoIterator<Item = (Option<&'a CountedChild>, Option<&'a CountedChild>)>,
) -> HashMap<TotalKey, i64> {
    let mut deltas: HashMap<TotalKey, i64> = HashMap::new();
    for (before, now) in changed {
        if before == now {
            continue;
        }
        for key in before.map(CountedChild::totals).unwrap_or_default() {
            *deltas.entry(key).or_default() -= 1;
        }
        for key in now.map(CountedChild::totals).unwrap_or_default() {
            *deltas.entry(key).or_default() += 1;
        }
    }
    deltas.retain(|_, delta| *delta != 0);
    deltas
}

/// The dashboard's counts from a scope's stored totals (`dimension`, `bucket`, `children`):
/// districts and agencies largest first, months in order.
pub fn counts_from_totals(rows: Vec<(String, String, i64)>) -> RegistrationCounts {
    let mut counts = RegistrationCounts::default();
    for (dimension_name, bucket, children) in rows {
        if children <= 0 {
            continue;
        }
        let count = Count {
            key: bucket,
            children,
        };
        match dimension_name.as_str() {
            dimension::CHILDREN => counts.children = children,
            dimension::DISTRICT => counts.by_district.push(count),
            dimension::AGENCY => counts.by_agency.push(count),
            dimension::MONTH => counts.by_month.push(count),
            _ => {}
        }
    }
    let largest_first = |a: &Count, b: &Count| b.children.cmp(&a.children).then(a.key.cmp(&b.key));
    counts.by_district.sort_by(largest_first);
    counts.by_agency.sort_by(largest_first);
    counts.by_month.sort_by(|a, b| a.key.cmp(&b.key));
    counts
}

/// The stored scope a read scope's totals are kept under; `None` for a scope that sees no
/// child. A district is stored lower-cased: the store lower-cases the value when it reads.
pub fn stored_scope(scope: &ReadScope) -> Option<(&'static str, String)> {
    match scope {
        ReadScope::All => Some(("all", String::new())),
        ReadScope::SourceSystem(system) => Some(("source_system", system.clone())),
        ReadScope::District(district) => Some(("district", district.clone())),
        ReadScope::Nothing => None,
    }
}

/// Folds the change feed into the totals until caught up; returns the entries folded.
pub async fn catch_up(store: &dyn Store) -> crate::Result<u64> {
    let mut folded = 0;
    loop {
        let batch = store.fold_registration_totals(FOLD_BATCH).await?;
        folded += batch;
        if batch == 0 {
            return Ok(folded);
        }
    }
}

/// The folder `serve` runs: keeps the totals within about [`FOLD_INTERVAL`] of the change
/// feed, for ever. Several gateways on one database may each run one; a fold that another
/// committed first is simply not applied.
pub async fn follow_forever(store: Arc<dyn Store>) {
    loop {
        if let Err(error) = catch_up(store.as_ref()).await {
            tracing::warn!(%error, "folding changes into the dashboard's totals failed");
        }
        tokio::time::sleep(FOLD_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(month: &str, districts: &[&str], agencies: &[&str]) -> CountedChild {
        CountedChild {
            month: month.to_owned(),
            districts: districts.iter().map(|d| (*d).to_owned()).collect(),
            agencies: agencies.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn total(deltas: &HashMap<TotalKey, i64>, scope: (&str, &str), dim: &str, bucket: &str) -> i64 {
        deltas
            .iter()
            .find(|(key, _)| {
                key.scope_kind == scope.0
                    && key.scope_value == scope.1
                    && key.dimension == dim
                    && key.bucket == bucket
            })
            .map_or(0, |(_, delta)| *delta)
    }

    #[test]
    fn a_new_child_counts_in_every_scope_that_sees_it() {
        let new = child("2026-11", &["gulu", "wakiso"], &["police-ug"]);
        let deltas = differences([(None, Some(&new))]);
        for scope in [
            ("all", ""),
            ("source_system", "police-ug"),
            ("district", "gulu"),
            ("district", "wakiso"),
        ] {
            assert_eq!(total(&deltas, scope, dimension::CHILDREN, ""), 1);
            assert_eq!(total(&deltas, scope, dimension::DISTRICT, "gulu"), 1);
            assert_eq!(total(&deltas, scope, dimension::DISTRICT, "wakiso"), 1);
            assert_eq!(total(&deltas, scope, dimension::AGENCY, "police-ug"), 1);
            assert_eq!(total(&deltas, scope, dimension::MONTH, "2026-11"), 1);
        }
        assert_eq!(deltas.len(), 4 * 5);
    }

    #[test]
    fn a_record_without_a_district_counts_but_opens_no_scope() {
        let new = child("2026-11", &[""], &["school-ug"]);
        let deltas = differences([(None, Some(&new))]);
        assert_eq!(total(&deltas, ("all", ""), dimension::DISTRICT, ""), 1);
        assert!(deltas.keys().all(|key| key.scope_kind != "district"));
    }

    #[test]
    fn only_what_changed_moves() {
        let before = child("2026-10", &["gulu"], &["police-ug"]);
        let now = child("2026-10", &["gulu"], &["police-ug", "school-ug"]);
        let deltas = differences([(Some(&before), Some(&now))]);
        assert_eq!(total(&deltas, ("all", ""), dimension::CHILDREN, ""), 0);
        assert_eq!(
            total(&deltas, ("all", ""), dimension::AGENCY, "school-ug"),
            1
        );
        // The school now sees the child, everything about it.
        assert_eq!(
            total(
                &deltas,
                ("source_system", "school-ug"),
                dimension::CHILDREN,
                ""
            ),
            1
        );
        assert_eq!(
            total(
                &deltas,
                ("source_system", "school-ug"),
                dimension::DISTRICT,
                "gulu"
            ),
            1
        );
        assert_eq!(
            total(
                &deltas,
                ("district", "gulu"),
                dimension::AGENCY,
                "school-ug"
            ),
            1
        );
        assert_eq!(differences([(Some(&now), Some(&now))]).len(), 0);
    }

    #[test]
    fn a_merged_child_leaves_every_total() {
        let gone = child("2026-09", &["gulu"], &["court-ug"]);
        let deltas = differences([(Some(&gone), None)]);
        assert!(deltas.values().all(|delta| *delta == -1));
        assert_eq!(deltas.len(), 3 * 4);
    }

    #[test]
    fn totals_read_back_in_the_dashboards_order() {
        let counts = counts_from_totals(vec![
            ("children".into(), String::new(), 3),
            ("district".into(), "wakiso".into(), 1),
            ("district".into(), "gulu".into(), 2),
            ("district".into(), "arua".into(), 0),
            ("month".into(), "2026-11".into(), 1),
            ("month".into(), "2026-10".into(), 2),
        ]);
        assert_eq!(counts.children, 3);
        let keys = |counts: &[Count]| counts.iter().map(|c| c.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&counts.by_district), ["gulu", "wakiso"]);
        assert_eq!(keys(&counts.by_month), ["2026-10", "2026-11"]);
    }
}

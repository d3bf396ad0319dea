//! Running totals behind the dashboard: children by district, agency and month, per read
//! scope. Counting them from the records takes seconds at a million children, so the totals
//! are a projection of the change feed, kept by a background folder: each change names a
//! child, the folder reads what that child counts towards now, compares it with what it
//! counted before, and adds the difference. Whatever the write (registration, import, merge,
//! unlink, update), the totals follow without the write path knowing about them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::model::{Count, RegistrationCounts, Rest};
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
    /// The read scopes that see this child: everyone's, each agency holding one of its
    /// records, each district one of its records places it in (the visibility rule).
    fn scopes(&self) -> impl Iterator<Item = ReadScope> + '_ {
        std::iter::once(ReadScope::All)
            .chain(self.agencies.iter().cloned().map(ReadScope::SourceSystem))
            .chain(
                self.districts
                    .iter()
                    .filter(|district| !district.is_empty())
                    .cloned()
                    .map(ReadScope::District),
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
            .flat_map(|scope| {
                let scope_value = scope.value().unwrap_or_default().to_owned();
                buckets.iter().map(move |(dimension, bucket)| TotalKey {
                    scope_kind: scope.kind(),
                    scope_value: scope_value.clone(),
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

/// Keeps the `largest` districts and agencies (largest first) and the `largest` latest months
/// (in order), summing what is left out; the lists come sorted as
/// [`Store::registration_counts`] returns them.
pub fn keep_largest(mut counts: RegistrationCounts, largest: usize) -> RegistrationCounts {
    let rest = |left_out: Vec<Count>| Rest {
        buckets: left_out.len() as i64,
        children: left_out.iter().map(|count| count.children).sum(),
    };
    if counts.by_district.len() > largest {
        counts.other_districts = rest(counts.by_district.split_off(largest));
    }
    if counts.by_agency.len() > largest {
        counts.other_agencies = rest(counts.by_agency.split_off(largest));
    }
    if counts.by_month.len() > largest {
        let latest = counts.by_month.split_off(counts.by_month.len() - largest);
        counts.earlier_months = rest(std::mem::replace(&mut counts.by_month, latest));
    }
    counts
}

/// Sorts as the dashboard lists: districts and agencies largest first (then by name),
/// months in order.
pub fn sort_for_listing(counts: &mut RegistrationCounts) {
    let largest_first = |a: &Count, b: &Count| b.children.cmp(&a.children).then(a.key.cmp(&b.key));
    counts.by_district.sort_by(largest_first);
    counts.by_agency.sort_by(largest_first);
    counts.by_month.sort_by(|a, b| a.key.cmp(&b.key));
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
    fn what_is_left_out_is_summed() {
        let count = |key: &str, children| Count {
            key: key.to_owned(),
            children,
        };
        let counts = keep_largest(
            RegistrationCounts {
                children: 6,
                by_district: vec![count("gulu", 3), count("lira", 2), count("arua", 1)],
                by_agency: vec![count("police-ug", 6)],
                by_month: vec![
                    count("2026-09", 1),
                    count("2026-10", 2),
                    count("2026-11", 3),
                ],
                ..RegistrationCounts::default()
            },
            2,
        );
        assert_eq!(counts.by_district, [count("gulu", 3), count("lira", 2)]);
        assert_eq!(
            counts.other_districts,
            Rest {
                buckets: 1,
                children: 1
            }
        );
        assert_eq!(counts.other_agencies, Rest::default());
        assert_eq!(counts.by_month, [count("2026-10", 2), count("2026-11", 3)]);
        assert_eq!(
            counts.earlier_months,
            Rest {
                buckets: 1,
                children: 1
            }
        );
    }
}

//! The dashboard: children registered by district, agency and month (charts with the table
//! behind each), and for stewards the review queue's size and age.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use registry::model::RegistrationCounts;
use registry::store::ReadScope;

use super::view::{self, BarChart, Page};
use super::{PageContext, UiError};
use crate::audit::RequestMeta;
use crate::auth::{ChildReader, Steward};
use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;

/// Counts younger than this are shown as they are.
const COUNTS_FRESH_FOR: Duration = Duration::from_secs(60);
/// Counts older than [`COUNTS_FRESH_FOR`] but younger than this are shown while they are
/// counted again in the background; older ones make the page wait for a new count.
const COUNTS_USABLE_FOR: Duration = Duration::from_secs(15 * 60);
/// Rows per chart: the largest districts and agencies, the latest months; the rest are
/// summed in one row, so the page stays light however many spellings agencies used.
const CHART_ROWS: usize = 25;

/// The dashboard's counts, per read scope. Counting scans every child and record the caller
/// may see, which takes seconds in a registry of millions; a dashboard a minute old serves
/// as well, so each scope is counted at most once a minute however many officials look,
/// and nobody waits for a recount while the last count is under a quarter of an hour old.
#[derive(Default)]
pub struct CountsCache {
    entries: Mutex<HashMap<ReadScope, CachedCounts>>,
}

#[derive(Clone)]
struct CachedCounts {
    counted: Instant,
    counted_at: DateTime<Utc>,
    counts: Arc<RegistrationCounts>,
    recounting: bool,
}

enum Kept {
    Fresh(CachedCounts),
    /// Usable; the caller that got it recounts in the background.
    Stale(CachedCounts),
    Missing,
}

impl CountsCache {
    fn look_up(&self, scope: &ReadScope) -> Kept {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|_, kept| kept.counted.elapsed() < COUNTS_USABLE_FOR);
        match entries.get_mut(scope) {
            Some(entry) if entry.counted.elapsed() < COUNTS_FRESH_FOR || entry.recounting => {
                Kept::Fresh(entry.clone())
            }
            Some(entry) => {
                entry.recounting = true;
                Kept::Stale(entry.clone())
            }
            None => Kept::Missing,
        }
    }

    fn keep(&self, scope: ReadScope, counts: RegistrationCounts) -> CachedCounts {
        let entry = CachedCounts {
            counted: Instant::now(),
            counted_at: Utc::now(),
            counts: Arc::new(counts),
            recounting: false,
        };
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(scope, entry.clone());
        entry
    }

    fn recount_failed(&self, scope: &ReadScope) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = entries.get_mut(scope) {
            entry.recounting = false;
        }
    }

    /// The counts for `scope`: kept ones when recent enough, else counted now.
    async fn counts(
        &self,
        state: &AppState,
        scope: ReadScope,
    ) -> Result<CachedCounts, registry::RegistryError> {
        match self.look_up(&scope) {
            Kept::Fresh(entry) => Ok(entry),
            Kept::Stale(entry) => {
                let state = state.clone();
                tokio::spawn(async move {
                    let cache = Arc::clone(&state.dashboard_counts);
                    match state.store.registration_counts(&scope).await {
                        Ok(counts) => {
                            cache.keep(scope, counts);
                        }
                        Err(error) => {
                            tracing::warn!(%error, "recounting the dashboard failed");
                            cache.recount_failed(&scope);
                        }
                    }
                });
                Ok(entry)
            }
            Kept::Missing => {
                let counts = state.store.registration_counts(&scope).await?;
                Ok(self.keep(scope, counts))
            }
        }
    }
}

/// The first `limit` rows, and the rest summed in one row labelled by `rest_label`.
fn first_rows_and_rest(
    rows: Vec<(String, i64)>,
    limit: usize,
    rest_label: impl FnOnce(usize) -> String,
) -> Vec<(String, i64)> {
    if rows.len() <= limit {
        return rows;
    }
    let mut rows = rows;
    let rest = rows.split_off(limit);
    let rest_total = rest.iter().map(|(_, count)| count).sum();
    rows.push((rest_label(rest.len()), rest_total));
    rows
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Page,
    children: String,
    counted_at: String,
    charts: Vec<BarChart>,
    queue: Option<QueueSummary>,
}

struct QueueSummary {
    open: String,
    deferred: String,
    median_age: String,
    oldest_age: String,
}

pub async fn dashboard_page(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    reader: Result<ChildReader, ApiError>,
) -> Result<Response, UiError> {
    let fail = |error| context.fail(error);
    let ChildReader(caller) = reader.map_err(fail)?;
    let tr = context.tr();
    let cached = state
        .dashboard_counts
        .counts(&state, caller.read_scope())
        .await
        .map_err(|error| fail(error.into()))?;
    let counts = &cached.counts;
    let pairs = |counts: &[registry::model::Count], label: fn(&str) -> String| {
        counts
            .iter()
            .map(|count| {
                let label = if count.key.is_empty() {
                    tr.t("value-unknown")
                } else {
                    label(&count.key)
                };
                (label, count.children)
            })
            .collect::<Vec<_>>()
    };
    let others = |more: usize| tr.t_count("dashboard-others", more as i64);
    // Months run oldest first: the latest are kept and the earlier ones summed first.
    let mut months = pairs(&counts.by_month, str::to_owned);
    months.reverse();
    let mut months = first_rows_and_rest(months, CHART_ROWS, |more| {
        tr.t_count("dashboard-earlier-months", more as i64)
    });
    months.reverse();
    let charts = vec![
        view::bar_chart(
            tr.t("dashboard-by-district"),
            tr.t("field-district"),
            &first_rows_and_rest(
                pairs(&counts.by_district, view::place_label),
                CHART_ROWS,
                others,
            ),
            &tr,
        ),
        view::bar_chart(
            tr.t("dashboard-by-agency"),
            tr.t("field-agency"),
            &first_rows_and_rest(pairs(&counts.by_agency, str::to_owned), CHART_ROWS, others),
            &tr,
        ),
        view::bar_chart(
            tr.t("dashboard-by-month"),
            tr.t("field-month"),
            &months,
            &tr,
        ),
    ];
    let queue = if caller.role == registry::clients::Role::DataSteward {
        let Json(stats) = routes::match_candidates::candidate_stats(
            State(state.clone()),
            Steward(caller.clone()),
            meta,
        )
        .await
        .map_err(fail)?;
        let hours = |value: Option<f64>| {
            value.map_or_else(
                || "–".to_owned(),
                |hours| tr.t_count("age-hours", hours.round() as i64),
            )
        };
        Some(QueueSummary {
            open: tr.number(stats.open),
            deferred: tr.number(stats.deferred),
            median_age: hours(stats.age_hours_p50),
            oldest_age: hours(stats.age_hours_max),
        })
    } else {
        None
    };
    Ok(view::html(&DashboardPage {
        page: context.page(&caller, tr.t("dashboard-title")),
        children: tr.number(counts.children),
        counted_at: tr.t_args(
            "dashboard-counted-at",
            &[("time", &cached.counted_at.format("%H:%M UTC").to_string())],
        ),
        charts,
        queue,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tails_are_summed_in_one_row() {
        let rows: Vec<(String, i64)> = (0..30).map(|n| (format!("d{n}"), 100 - n)).collect();
        let shown = first_rows_and_rest(rows.clone(), 25, |more| format!("{more} others"));
        assert_eq!(shown.len(), 26);
        assert_eq!(shown[24], ("d24".to_owned(), 76));
        assert_eq!(shown[25], ("5 others".to_owned(), 75 + 74 + 73 + 72 + 71));
        assert_eq!(
            first_rows_and_rest(rows[..3].to_vec(), 25, |_| unreachable!()).len(),
            3
        );
    }
}

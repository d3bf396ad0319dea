//! The dashboard: children registered by district, agency and month (charts with the table
//! behind each), and for stewards the review queue's size and age.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Json;

use super::view::{self, BarChart, Page};
use super::{PageContext, UiError};
use crate::audit::RequestMeta;
use crate::auth::{ChildReader, Steward};
use crate::error::ApiError;
use crate::routes;
use crate::state::AppState;

/// Rows per chart: the largest districts and agencies, the latest months; the rest are
/// summed in one row, so the page stays light however many spellings agencies used.
const CHART_ROWS: usize = 25;

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
    let counts = state
        .store
        .registration_counts(&caller.read_scope())
        .await
        .map_err(|error| fail(error.into()))?;
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
        counted_at: counts
            .counted_at
            .map(|time| {
                tr.t_args(
                    "dashboard-counted-at",
                    &[("time", &time.format("%H:%M UTC").to_string())],
                )
            })
            .unwrap_or_default(),
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

//! The dashboard: children registered by district, agency and month (charts with the table
//! behind each), and for stewards the review queue's size and age.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use registry::model::Rest;

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

/// The listed rows and, when the store left buckets out, one row summing them labelled by
/// `rest_label` (given how many).
fn with_rest(
    mut rows: Vec<(String, i64)>,
    rest: Rest,
    rest_label: impl FnOnce(usize) -> String,
) -> Vec<(String, i64)> {
    if rest.buckets > 0 {
        rows.push((
            rest_label(usize::try_from(rest.buckets).unwrap_or(usize::MAX)),
            rest.children,
        ));
    }
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
        .registration_counts(&caller.read_scope(), CHART_ROWS)
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
    // Months run oldest first, the earlier ones summed before them.
    let mut months = with_rest(Vec::new(), counts.earlier_months, |more| {
        tr.t_count("dashboard-earlier-months", more as i64)
    });
    months.extend(pairs(&counts.by_month, str::to_owned));
    let charts = vec![
        view::bar_chart(
            tr.t("dashboard-by-district"),
            tr.t("field-district"),
            &with_rest(
                pairs(&counts.by_district, view::place_label),
                counts.other_districts,
                others,
            ),
            &tr,
        ),
        view::bar_chart(
            tr.t("dashboard-by-agency"),
            tr.t("field-agency"),
            &with_rest(
                pairs(&counts.by_agency, str::to_owned),
                counts.other_agencies,
                others,
            ),
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
        let rows: Vec<(String, i64)> = (0..25).map(|n| (format!("d{n}"), 100 - n)).collect();
        let rest = Rest {
            buckets: 5,
            children: 365,
        };
        let shown = with_rest(rows.clone(), rest, |more| format!("{more} others"));
        assert_eq!(shown.len(), 26);
        assert_eq!(shown[25], ("5 others".to_owned(), 365));
        assert_eq!(
            with_rest(rows, Rest::default(), |_| unreachable!()).len(),
            25
        );
    }
}

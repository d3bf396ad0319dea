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

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Page,
    children: String,
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
    let charts = vec![
        view::bar_chart(
            tr.t("dashboard-by-district"),
            tr.t("field-district"),
            &pairs(&counts.by_district, view::place_label),
            &tr,
        ),
        view::bar_chart(
            tr.t("dashboard-by-agency"),
            tr.t("field-agency"),
            &pairs(&counts.by_agency, str::to_owned),
            &tr,
        ),
        view::bar_chart(
            tr.t("dashboard-by-month"),
            tr.t("field-month"),
            &pairs(&counts.by_month, str::to_owned),
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
        charts,
        queue,
    }))
}

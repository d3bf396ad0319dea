//! Child-protection indicators for dashboards: national officials read any district or the
//! whole country; district officials read their own district; nobody else reads them.

use axum::extract::State;
use axum::Json;
use registry::clients::Role;
use registry::indicators::{self, IndicatorReport, Period};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IndicatorParams {
    /// A year (`2026`), a quarter (`2026-Q3`) or a month (`2026-11`); the current year when
    /// absent.
    pub period: Option<String>,
    /// Restricts every count to children whose summary places them in this district. A
    /// district official's default and only choice is their own district.
    pub district: Option<String>,
}

/// The district a caller's request is restricted to, or a 403 for callers who do not read
/// indicators.
fn district_for(caller: &Caller, asked: Option<String>) -> Result<Option<String>, ApiError> {
    let asked = asked
        .map(|district| district.trim().to_owned())
        .filter(|district| !district.is_empty());
    match (caller.role, caller.district.as_deref()) {
        (Role::NationalOfficial, _) => Ok(asked),
        (Role::DistrictOfficial, Some(own)) => match asked {
            Some(asked) if !asked.eq_ignore_ascii_case(own) => Err(ApiError::Forbidden(format!(
                "a district official reads the indicators of {own} only"
            ))),
            _ => Ok(Some(own.to_owned())),
        },
        (role, _) => Err(ApiError::Forbidden(format!(
            "only national and district officials read indicators; this caller is {role}"
        ))),
    }
}

/// At least 15 child-protection indicators counted on deduplicated children, each number with
/// its range under the open review candidates, small counts suppressed.
#[utoipa::path(
    get, path = "/v1/indicators", tag = "indicators",
    security(("api_key" = [])),
    params(IndicatorParams),
    responses(
        (status = 200, body = IndicatorReport),
        (status = 400, description = "A bad period; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an official, or another district", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_indicators(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<IndicatorParams>,
) -> Result<Json<IndicatorReport>, ApiError> {
    let district = district_for(&caller, params.district)?;
    let period = match params.period.as_deref().map(str::trim) {
        None | Some("") => Period::year_of(chrono::Utc::now().date_naive()),
        Some(text) => text.parse::<Period>()?,
    };
    let facts = state.store.indicator_facts().await?;
    let threshold = state.suppression_threshold;
    let report = {
        let district = district.clone();
        let period = period.clone();
        // Splitting candidate groups every way is CPU work: off the async threads.
        tokio::task::spawn_blocking(move || {
            indicators::compute(&facts, &period, district.as_deref(), threshold)
        })
        .await
        .map_err(|_| ApiError::Internal)?
    };
    let target = AuditTarget::named(format!("indicators/{}", period.label))
        .with_details(serde_json::json!({"period": period.label, "district": district}));
    state
        .audit(&caller, AuditAction::IndicatorsRead, target, &meta)
        .await?;
    Ok(Json(report))
}

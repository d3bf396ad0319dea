//! The review queue: possible matches the model was not sure about, decided by data stewards.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use registry::review::{
    CandidateDecision, CandidatePage, CandidateQuery, CandidateSort, CandidateStats,
    CandidateStatus, DecisionOutcome, MatchCandidate,
};
use registry::store::Decision;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::routes::children::required_reason;
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// Which candidates to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CandidateParams {
    /// `open` (default), `deferred`, `linked`, `not_a_match` or `superseded`.
    pub status: Option<String>,
    /// Only candidates where either side lives in this district.
    pub district: Option<String>,
    /// `oldest` (default) or `probability` (most probable first).
    pub sort: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl CandidateParams {
    fn parse(self) -> Result<CandidateQuery, ApiError> {
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => CandidateStatus::Open,
            Some(text) => CandidateStatus::parse(text).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_status",
                    "status",
                    "status must be open, deferred, linked, not_a_match or superseded",
                )
            })?,
        };
        let sort = match self.sort.as_deref().map(str::trim) {
            None | Some("") | Some("oldest") => CandidateSort::Oldest,
            Some("probability") => CandidateSort::Probability,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_sort",
                    "sort",
                    "sort must be oldest or probability",
                ))
            }
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = match self.cursor.as_deref().map(str::trim) {
            None | Some("") => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|offset| *offset >= 0)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_cursor",
                        "cursor",
                        "cursor must be a next_cursor value from a previous page",
                    )
                })?,
        };
        Ok(CandidateQuery {
            status,
            district: self
                .district
                .map(|district| district.trim().to_owned())
                .filter(|district| !district.is_empty()),
            sort,
            limit,
            offset,
        })
    }
}

fn candidate_id(path: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(text) = path.map_err(|rejection| {
        ApiError::bad_request("invalid_candidate_id", "id", rejection.body_text())
    })?;
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_candidate_id",
                "id",
                "a match candidate ID is a positive number",
            )
        })
}

/// Possible matches waiting for a data steward, each with both sides, the probability and
/// the per-field explanation (the match-weight waterfall).
#[utoipa::path(
    get, path = "/v1/match-candidates", tag = "review",
    security(("api_key" = [])),
    params(CandidateParams),
    responses(
        (status = 200, body = CandidatePage),
        (status = 400, description = "A bad parameter; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_candidates(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<CandidateParams>, QueryRejection>,
) -> Result<Json<CandidatePage>, ApiError> {
    caller.check_is_steward()?;
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request("invalid_query_string", "query", rejection.body_text())
    })?;
    Ok(Json(state.store.match_candidates(&params.parse()?).await?))
}

/// The state of the review queue: how many wait, for how long, who decided what.
#[utoipa::path(
    get, path = "/v1/match-candidates/stats", tag = "review",
    security(("api_key" = [])),
    responses(
        (status = 200, body = CandidateStats),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn candidate_stats(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CandidateStats>, ApiError> {
    caller.check_is_steward()?;
    Ok(Json(state.store.match_candidate_stats().await?))
}

/// One match candidate with its decisions.
#[utoipa::path(
    get, path = "/v1/match-candidates/{id}", tag = "review",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "Match candidate ID")),
    responses(
        (status = 200, body = MatchCandidate),
        (status = 400, description = "Malformed ID", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such candidate", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_candidate(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<MatchCandidate>, ApiError> {
    caller.check_is_steward()?;
    let id = candidate_id(path)?;
    state
        .store
        .match_candidate(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no match candidate {id}")))
}

/// A steward's decision on a candidate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `link` (same child: the record's child is merged into the candidate child),
    /// `not_a_match` (different children, never linked automatically again) or `defer`.
    pub decision: CandidateDecision,
    /// Why: recorded with the decision.
    pub reason: String,
}

/// Decides a match candidate.
#[utoipa::path(
    post, path = "/v1/match-candidates/{id}/decision", tag = "review", request_body = DecisionRequest,
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "Match candidate ID")),
    responses(
        (status = 200, body = DecisionOutcome),
        (status = 400, description = "Invalid input; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such candidate", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn decide_candidate(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionOutcome>, ApiError> {
    caller.check_is_steward()?;
    let id = candidate_id(path)?;
    let decision = Decision {
        actor: caller.actor(),
        reason: required_reason(request.reason)?,
    };
    Ok(Json(
        state
            .store
            .decide_match_candidate(id, request.decision, &decision)
            .await?,
    ))
}

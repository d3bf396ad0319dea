//! The review queue: possible matches the model was not sure about, decided by data stewards.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Duration, Utc};
use registry::review::{
    CandidateClaim, CandidateDecision, CandidatePage, CandidateQuery, CandidateSort,
    CandidateStats, CandidateStatus, ClaimFilter, DecisionOutcome, MatchCandidate,
};
use registry::store::Decision;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::{Caller, Steward};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::children::required_reason;
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;
/// How long a claim lasts unless asked otherwise: time to read both sides and ask around.
pub const DEFAULT_CLAIM_MINUTES: i64 = 30;
/// The longest claim: a working day, so a forgotten claim frees itself by the next.
const MAX_CLAIM_MINUTES: i64 = 480;

/// Which candidates to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CandidateParams {
    /// `open` (default), `deferred`, `linked`, `not_a_match` or `superseded`.
    pub status: Option<String>,
    /// Only candidates where either side lives in this district.
    pub district: Option<String>,
    /// `any` (default), `available` (not held by another steward's live claim) or `mine`
    /// (held by the caller's live claim).
    pub claim: Option<String>,
    /// `oldest` (default) or `probability` (most probable first).
    pub sort: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl CandidateParams {
    fn parse(self, caller: &Caller) -> Result<CandidateQuery, ApiError> {
        let steward = caller.actor();
        let claims = match self.claim.as_deref().map(str::trim) {
            None | Some("") | Some("any") => ClaimFilter::Any,
            Some("available") => ClaimFilter::Available { steward },
            Some("mine") => ClaimFilter::Mine { steward },
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_claim",
                    "claim",
                    "claim must be any, available or mine",
                ))
            }
        };
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
            claims,
            sort,
            limit,
            offset,
        })
    }
}

/// A district-scoped steward works only on candidates where either side is in the district.
fn within_scope(caller: &Caller, candidate: &MatchCandidate) -> bool {
    let Some(district) = &caller.district else {
        return true;
    };
    [
        candidate.record.child.district.as_deref(),
        candidate.candidate.summary.district.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|side| side.eq_ignore_ascii_case(district))
}

/// The children a page of candidates names, for the audit log.
fn named_children(candidates: &[MatchCandidate]) -> Vec<registry::ChildId> {
    candidates
        .iter()
        .flat_map(|c| [c.record.child_id, c.candidate.current_child_id])
        .collect()
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
    Steward(caller): Steward,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<CandidateParams>,
) -> Result<Json<CandidatePage>, ApiError> {
    let mut query = params.parse(&caller)?;
    if let Some(district) = &caller.district {
        // The store filters by district; a scoped steward's district is the filter, and asking
        // for another district finds nothing.
        if query
            .district
            .as_ref()
            .is_some_and(|asked| !asked.eq_ignore_ascii_case(district))
        {
            return Ok(Json(CandidatePage {
                candidates: Vec::new(),
                next_cursor: None,
            }));
        }
        query.district = Some(district.clone());
    }
    let page = state.store.match_candidates(&query).await?;
    let target = AuditTarget::none()
        .with_children(named_children(&page.candidates))
        .with_details(serde_json::json!({
            "status": query.status.as_str(),
            "district": query.district,
            "candidates": page.candidates.iter().map(|c| c.id).collect::<Vec<_>>(),
        }));
    state
        .audit(&caller, AuditAction::MatchCandidatesRead, target, &meta)
        .await?;
    Ok(Json(page))
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
    Steward(caller): Steward,
    meta: RequestMeta,
) -> Result<Json<CandidateStats>, ApiError> {
    let stats = state.store.match_candidate_stats().await?;
    state
        .audit(
            &caller,
            AuditAction::MatchStatsRead,
            AuditTarget::none(),
            &meta,
        )
        .await?;
    Ok(Json(stats))
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
    Steward(caller): Steward,
    meta: RequestMeta,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<MatchCandidate>, ApiError> {
    let id = candidate_id(path)?;
    let candidate = scoped_candidate(&state, &caller, id).await?;
    let target = AuditTarget::named(format!("match-candidate/{id}"))
        .with_children(named_children(std::slice::from_ref(&candidate)));
    state
        .audit(&caller, AuditAction::MatchCandidatesRead, target, &meta)
        .await?;
    Ok(Json(candidate))
}

/// The candidate if it exists and the steward's scope covers it (else 404: no oracle).
async fn scoped_candidate(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<MatchCandidate, ApiError> {
    state
        .store
        .match_candidate(id)
        .await?
        .filter(|candidate| within_scope(caller, candidate))
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
        (status = 409, description = "Already decided (`candidate_decided`), or another steward holds a live claim on it (`candidate_claimed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn decide_candidate(
    State(state): State<AppState>,
    Steward(caller): Steward,
    meta: RequestMeta,
    path: Result<Path<String>, PathRejection>,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionOutcome>, ApiError> {
    let id = candidate_id(path)?;
    let decision = Decision {
        actor: caller.actor(),
        reason: required_reason(request.reason)?,
    };
    let candidate = scoped_candidate(&state, &caller, id).await?;
    let outcome = state
        .store
        .decide_match_candidate(id, request.decision, &decision)
        .await?;
    let target = AuditTarget::named(format!("match-candidate/{id}"))
        .with_children(named_children(std::slice::from_ref(&candidate)))
        .with_details(serde_json::json!({
            "decision": request.decision.as_str(),
            "status": outcome.status.as_str(),
            "reason": decision.reason,
        }));
    state
        .audit(&caller, AuditAction::MatchDecision, target, &meta)
        .await?;
    Ok(Json(outcome))
}

/// How long to hold a candidate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Minutes from now, 1 to 480 (default 30). Claiming again renews the claim.
    pub minutes: Option<i64>,
}

/// Claims a pending candidate for the caller while they decide it: other stewards see who
/// holds it (`claim` on the candidate, `claim=available` in the list) and cannot decide it
/// until it is released, runs out or is decided. Claiming one's own claim again renews it.
#[utoipa::path(
    post, path = "/v1/match-candidates/{id}/claim", tag = "review", request_body = ClaimRequest,
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "Match candidate ID")),
    responses(
        (status = 200, body = CandidateClaim),
        (status = 400, description = "Invalid input; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such candidate", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided (`candidate_decided`), or another steward holds a live claim on it (`candidate_claimed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn claim_candidate(
    State(state): State<AppState>,
    Steward(caller): Steward,
    meta: RequestMeta,
    path: Result<Path<String>, PathRejection>,
    ApiJson(request): ApiJson<ClaimRequest>,
) -> Result<Json<CandidateClaim>, ApiError> {
    let id = candidate_id(path)?;
    let minutes = request.minutes.unwrap_or(DEFAULT_CLAIM_MINUTES);
    if !(1..=MAX_CLAIM_MINUTES).contains(&minutes) {
        return Err(ApiError::bad_request(
            "invalid_minutes",
            "minutes",
            format!("minutes must be between 1 and {MAX_CLAIM_MINUTES}"),
        ));
    }
    let candidate = scoped_candidate(&state, &caller, id).await?;
    claim_read_candidate(&state, &caller, &meta, &candidate, minutes)
        .await
        .map(Json)
}

/// Claims `candidate` for the caller for `minutes`, and audits it. The candidate was read
/// within the caller's scope already (the web UI claims the one it just showed, without
/// reading it again).
pub async fn claim_read_candidate(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    candidate: &MatchCandidate,
    minutes: i64,
) -> Result<CandidateClaim, ApiError> {
    let id = candidate.id;
    let until = Utc::now() + Duration::minutes(minutes);
    let claim = state
        .store
        .claim_match_candidate(id, &caller.actor(), until)
        .await?;
    let target = AuditTarget::named(format!("match-candidate/{id}"))
        .with_children(named_children(std::slice::from_ref(candidate)))
        .with_details(serde_json::json!({ "claimed_until": claim.claimed_until }));
    state
        .audit(caller, AuditAction::MatchClaimed, target, meta)
        .await?;
    Ok(claim)
}

/// Gives up the caller's claim on a candidate, so another steward can take it up. Nothing to
/// do when there is none.
#[utoipa::path(
    delete, path = "/v1/match-candidates/{id}/claim", tag = "review",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "Match candidate ID")),
    responses(
        (status = 204, description = "The caller holds no claim on it now"),
        (status = 400, description = "Malformed ID", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such candidate", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided (`candidate_decided`), or the claim is another steward's (`candidate_claimed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn release_candidate(
    State(state): State<AppState>,
    Steward(caller): Steward,
    meta: RequestMeta,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = candidate_id(path)?;
    let candidate = scoped_candidate(&state, &caller, id).await?;
    if state
        .store
        .release_match_candidate(id, &caller.actor())
        .await?
    {
        let target = AuditTarget::named(format!("match-candidate/{id}"))
            .with_children(named_children(std::slice::from_ref(&candidate)));
        state
            .audit(&caller, AuditAction::MatchReleased, target, &meta)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

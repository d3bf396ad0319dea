use axum::extract::State;
use axum::Json;
use registry::model::{ChildView, Timeline};
use registry::store::{Decision, MergeResult};
use registry::ChildId;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ChildIdPath};
use crate::state::AppState;

/// The child: a summary ("golden") view and every current source record.
#[utoipa::path(
    get, path = "/v1/children/{child_id}", tag = "children",
    security(("api_key" = [])),
    params(("child_id" = String, Path, description = "Child ID, hyphens optional, any case")),
    responses(
        (status = 200, body = ChildView),
        (status = 400, description = "Malformed child ID or wrong check character", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child visible to this client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_child(
    State(state): State<AppState>,
    caller: Caller,
    ChildIdPath(child_id): ChildIdPath,
) -> Result<Json<ChildView>, ApiError> {
    state
        .store
        .child(child_id, &caller.read_scope())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no child {child_id}")))
}

/// Every event any agency reported about the child, ordered by date, with provenance.
#[utoipa::path(
    get, path = "/v1/children/{child_id}/timeline", tag = "children",
    security(("api_key" = [])),
    params(("child_id" = String, Path, description = "Child ID, hyphens optional, any case")),
    responses(
        (status = 200, body = Timeline),
        (status = 400, description = "Malformed child ID or wrong check character", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child visible to this client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_timeline(
    State(state): State<AppState>,
    caller: Caller,
    ChildIdPath(child_id): ChildIdPath,
) -> Result<Json<Timeline>, ApiError> {
    state
        .store
        .timeline(child_id, &caller.read_scope())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no child {child_id}")))
}

/// A steward's decision that two child IDs are one child.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The child that remains.
    pub into: ChildId,
    /// Why: recorded with the decision.
    pub reason: String,
}

/// A decision needs a reason, recorded with it.
pub fn required_reason(reason: String) -> Result<String, ApiError> {
    let reason = reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ApiError::bad_request(
            "invalid_reason",
            "reason",
            "a reason of 1 to 2000 characters is required",
        ));
    }
    Ok(reason)
}

/// Merges this child into another (data stewards). The merged ID keeps answering with the
/// surviving child; every record and event moves to the survivor.
#[utoipa::path(
    post, path = "/v1/children/{child_id}/merge", tag = "children", request_body = MergeRequest,
    security(("api_key" = [])),
    params(("child_id" = String, Path, description = "The child that is merged away")),
    responses(
        (status = 200, body = MergeResult),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same child, or already merged", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn merge_child(
    State(state): State<AppState>,
    caller: Caller,
    ChildIdPath(child_id): ChildIdPath,
    ApiJson(request): ApiJson<MergeRequest>,
) -> Result<Json<MergeResult>, ApiError> {
    caller.check_is_steward()?;
    let decision = Decision {
        actor: caller.actor(),
        reason: required_reason(request.reason)?,
    };
    Ok(Json(
        state
            .store
            .merge_children(child_id, request.into, &decision)
            .await?,
    ))
}

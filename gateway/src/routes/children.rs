use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use registry::model::{ChildView, Timeline};
use registry::store::{Decision, MergeResult};
use registry::{ChildId, ReadScope};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::{ChildReader, Steward};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ChildIdPath};
use crate::redact;
use crate::state::AppState;

/// The child with its summary and records (the web UI reads it through this too).
pub async fn get_child(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    ChildIdPath(child_id): ChildIdPath,
) -> Result<Json<ChildView>, ApiError> {
    let view = state.store.child(child_id, &caller.read_scope()).await?;
    let target = AuditTarget::child(child_id);
    let Some(view) = view else {
        // Attempts on children outside the caller's scope are recorded too.
        let target = target.with_details(serde_json::json!({"outcome": "not_found"}));
        state
            .audit(&caller, AuditAction::ChildRead, target, &meta)
            .await?;
        return Err(ApiError::NotFound(format!("no child {child_id}")));
    };
    let view = redact::child(&caller, view);
    let target = target.with_children(view.merged_into);
    state
        .audit(&caller, AuditAction::ChildRead, target, &meta)
        .await?;
    Ok(Json(view))
}

/// The child: a summary ("golden") view and every current source record.
#[utoipa::path(
    get, path = "/v1/children/{child_id}", tag = "children",
    security(("api_key" = [])),
    params(("child_id" = String, Path, description = "Child ID, hyphens optional, any case")),
    responses(
        (status = 200, body = ChildView, headers(
            ("ETag" = String, description = "The child's revision; send it as `If-Match` with a merge"),
        )),
        (status = 400, description = "Malformed child ID or wrong check character", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child visible to this client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_child_with_etag(
    State(state): State<AppState>,
    reader: ChildReader,
    meta: RequestMeta,
    ChildIdPath(child_id): ChildIdPath,
) -> Result<Response, ApiError> {
    // Read before the view: should the child change in between, the ETag is older than what
    // the caller sees, and a decision sent with it is refused (412) rather than applied to a
    // view the caller never saw.
    let revision = state.store.child_revision(child_id).await?;
    let view = get_child(State(state), reader, meta, ChildIdPath(child_id)).await?;
    let etag = HeaderValue::from_str(&etag(revision.unwrap_or_default()))
        .map_err(|_| ApiError::Internal)?;
    Ok(([(header::ETAG, etag)], view).into_response())
}

/// The strong entity tag of a child revision: `"r<revision>"`.
fn etag(revision: i64) -> String {
    format!("\"r{revision}\"")
}

/// The revision an `If-Match` header names: `None` without the header or for `*` (any current
/// version), an error when it is not one of our entity tags.
fn if_match_revision(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_value",
            "If-Match",
            "If-Match must be the ETag of GET /v1/children/{child_id}, e.g. \"r3\"",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(None);
    }
    // A weak tag names the same revision: our tags are per revision, never per encoding.
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix("\"r")
        .and_then(|rest| rest.strip_suffix('"'))
        .and_then(|number| number.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(invalid)
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
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    ChildIdPath(child_id): ChildIdPath,
) -> Result<Json<Timeline>, ApiError> {
    let timeline = state.store.timeline(child_id, &caller.read_scope()).await?;
    let target = AuditTarget::child(child_id);
    let Some(timeline) = timeline else {
        let target = target.with_details(serde_json::json!({"outcome": "not_found"}));
        state
            .audit(&caller, AuditAction::TimelineRead, target, &meta)
            .await?;
        return Err(ApiError::NotFound(format!("no child {child_id}")));
    };
    let (timeline, redaction) = redact::timeline(&caller, timeline, meta.purpose.is_some());
    let target = target
        .with_children([timeline.child_id])
        .flagged(redaction.confidential_shown)
        .with_details(serde_json::json!({"confidential_shown": redaction.confidential_shown}));
    state
        .audit(&caller, AuditAction::TimelineRead, target, &meta)
        .await?;
    Ok(Json(timeline))
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

/// A steward merges this child into another, whatever its current state (the web UI).
pub async fn merge_child(
    State(state): State<AppState>,
    steward: Steward,
    meta: RequestMeta,
    child_id: ChildIdPath,
    request: ApiJson<MergeRequest>,
) -> Result<Json<MergeResult>, ApiError> {
    merge_child_at(State(state), steward, meta, child_id, None, request).await
}

/// Merges this child into another (data stewards). The merged ID keeps answering with the
/// surviving child; every record and event moves to the survivor.
#[utoipa::path(
    post, path = "/v1/children/{child_id}/merge", tag = "children", request_body = MergeRequest,
    security(("api_key" = [])),
    params(
        ("child_id" = String, Path, description = "The child that is merged away"),
        ("If-Match" = Option<String>, Header, description = "The child's ETag as read: the merge happens only if it has not changed since"),
    ),
    responses(
        (status = 200, body = MergeResult),
        (status = 412, description = "The child changed since the ETag sent in If-Match was read", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same child, or already merged", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn merge_child_if_match(
    state: State<AppState>,
    steward: Steward,
    meta: RequestMeta,
    child_id: ChildIdPath,
    headers: HeaderMap,
    request: ApiJson<MergeRequest>,
) -> Result<Json<MergeResult>, ApiError> {
    let expected_revision = if_match_revision(&headers)?;
    merge_child_at(state, steward, meta, child_id, expected_revision, request).await
}

/// Merges, checking the child's revision first when the caller named one.
async fn merge_child_at(
    State(state): State<AppState>,
    Steward(caller): Steward,
    meta: RequestMeta,
    ChildIdPath(child_id): ChildIdPath,
    expected_revision: Option<i64>,
    ApiJson(request): ApiJson<MergeRequest>,
) -> Result<Json<MergeResult>, ApiError> {
    let decision = Decision {
        actor: caller.actor(),
        reason: required_reason(request.reason)?,
    };
    // A district-scoped steward decides only about children of the district.
    let scope = caller.read_scope();
    if scope != ReadScope::All {
        for child in [child_id, request.into] {
            if state.store.child(child, &scope).await?.is_none() {
                return Err(ApiError::NotFound(format!("no child {child}")));
            }
        }
    }
    let merged = match expected_revision {
        Some(revision) => {
            state
                .store
                .merge_children_at_revision(child_id, request.into, &decision, revision)
                .await?
        }
        None => {
            state
                .store
                .merge_children(child_id, request.into, &decision)
                .await?
        }
    };
    let target = AuditTarget::child(child_id)
        .with_children([merged.into])
        .with_details(serde_json::json!({
            "into": merged.into.to_string(),
            "records_moved": merged.records_moved,
            "reason": decision.reason,
        }));
    state
        .audit(&caller, AuditAction::Merge, target, &meta)
        .await?;
    Ok(Json(merged))
}

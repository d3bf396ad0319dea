use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use registry::model::{RecordHistory, RecordSubmission, Registration};
use registry::store::{Decision, UnlinkResult};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::routes::children::required_reason;
use crate::state::AppState;

/// Registers a source record, or updates it. Idempotent: the same body again returns the same
/// child ID and version and stores nothing.
#[utoipa::path(
    post, path = "/v1/records", tag = "records", request_body = RecordSubmission,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "A new source record was stored", body = Registration),
        (status = 200, description = "An update (new version) or a repeat of the current version", body = Registration),
        (status = 400, description = "Invalid input; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to register for this source system", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_record(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(submission): ApiJson<RecordSubmission>,
) -> Result<(StatusCode, Json<Registration>), ApiError> {
    let record = submission.validate(chrono::Utc::now().date_naive())?;
    caller.check_may_register(&record.source_system)?;
    let registration = state
        .store
        .register(record, &caller.client.client_id)
        .await?;
    let status = if registration.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(registration)))
}

/// A source record with every version received, newest first.
#[utoipa::path(
    get, path = "/v1/records/{source_system}/{source_record_id}", tag = "records",
    security(("api_key" = [])),
    params(("source_system" = String, Path), ("source_record_id" = String, Path)),
    responses(
        (status = 200, body = RecordHistory),
        (status = 404, description = "No such record visible to this client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_history(
    State(state): State<AppState>,
    caller: Caller,
    Path((source_system, source_record_id)): Path<(String, String)>,
) -> Result<Json<RecordHistory>, ApiError> {
    state
        .store
        .record_history(&source_system, &source_record_id, &caller.read_scope())
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no record '{source_record_id}' from '{source_system}'"
            ))
        })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlinkRequest {
    /// Why: recorded with the decision.
    pub reason: String,
}

/// Takes a record away from its child (data stewards): it returns to the child it came from
/// with a merge, or gets a new child ID.
#[utoipa::path(
    post, path = "/v1/records/{source_system}/{source_record_id}/unlink", tag = "records",
    request_body = UnlinkRequest, security(("api_key" = [])),
    params(("source_system" = String, Path), ("source_record_id" = String, Path)),
    responses(
        (status = 200, body = UnlinkResult),
        (status = 403, description = "Not a data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The record is its child's only record", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn unlink_record(
    State(state): State<AppState>,
    caller: Caller,
    Path((source_system, source_record_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<UnlinkRequest>,
) -> Result<Json<UnlinkResult>, ApiError> {
    caller.check_is_steward()?;
    let decision = Decision {
        actor: caller.actor(),
        reason: required_reason(request.reason)?,
    };
    Ok(Json(
        state
            .store
            .unlink_record(&source_system, &source_record_id, &decision)
            .await?,
    ))
}

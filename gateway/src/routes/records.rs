use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use registry::model::{RecordHistory, RecordSubmission, Registration};
use registry::store::{Decision, UnlinkResult};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::{Caller, ChildReader, Steward};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::redact;
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
    meta: RequestMeta,
    ApiJson(submission): ApiJson<RecordSubmission>,
) -> Result<(StatusCode, Json<Registration>), ApiError> {
    let registration = register_submission(&state, &caller, &meta, submission).await?;
    let status = if registration.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(registration)))
}

/// The one registration path (`POST /v1/records`, `POST /fhir/Patient`): validates, checks the
/// caller registers for its own source system, registers and audits.
pub async fn register_submission(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    submission: RecordSubmission,
) -> Result<Registration, ApiError> {
    let record = submission.validate(chrono::Utc::now().date_naive())?;
    caller.check_may_register(&record.source_system)?;
    // The entry is written in the registration's own transaction: no record without the entry
    // saying who sent it, and one durable commit for both.
    let audit = state.registration_audit(
        caller,
        AuditTarget::record(&record.source_system, &record.source_record_id, None),
        meta,
    );
    let registration = state
        .store
        .register_audited(record, &caller.id, audit)
        .await?;
    state.metrics.count_registration(&registration);
    Ok(registration)
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
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    Path((source_system, source_record_id)): Path<(String, String)>,
) -> Result<Json<RecordHistory>, ApiError> {
    let history = state
        .store
        .record_history(&source_system, &source_record_id, &caller.read_scope())
        .await?;
    let child_id = history.as_ref().map(|history| history.child_id);
    let (history, redaction) = match history {
        Some(history) => redact::record_history(&caller, history, meta.purpose.is_some()),
        None => (None, redact::Redaction::default()),
    };
    let target = AuditTarget::record(&source_system, &source_record_id, child_id)
        .flagged(redaction.confidential_shown)
        .with_details(serde_json::json!({
            "outcome": if history.is_some() { "read" } else { "not_found" },
            "confidential_shown": redaction.confidential_shown,
        }));
    state
        .audit(&caller, AuditAction::RecordRead, target, &meta)
        .await?;
    history.map(Json).ok_or_else(|| {
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
    Steward(caller): Steward,
    meta: RequestMeta,
    Path((source_system, source_record_id)): Path<(String, String)>,
    ApiJson(request): ApiJson<UnlinkRequest>,
) -> Result<Json<UnlinkResult>, ApiError> {
    let decision = Decision {
        actor: caller.actor(),
        reason: required_reason(request.reason)?,
    };
    // A district-scoped steward decides only about children of the district.
    let scope = caller.read_scope();
    if scope != registry::ReadScope::All
        && state
            .store
            .record_history(&source_system, &source_record_id, &scope)
            .await?
            .is_none()
    {
        return Err(ApiError::NotFound(format!(
            "no record '{source_record_id}' from '{source_system}'"
        )));
    }
    let unlinked = state
        .store
        .unlink_record(&source_system, &source_record_id, &decision)
        .await?;
    let target = AuditTarget::record(
        &source_system,
        &source_record_id,
        Some(unlinked.previous_child_id),
    )
    .with_children([unlinked.child_id])
    .with_details(serde_json::json!({
        "to": unlinked.child_id.to_string(),
        "returned_to_origin": unlinked.returned_to_origin,
        "reason": decision.reason,
    }));
    state
        .audit(&caller, AuditAction::Unlink, target, &meta)
        .await?;
    Ok(Json(unlinked))
}

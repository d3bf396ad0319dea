//! The audit log as auditors and stewards read it.

use axum::extract::State;
use axum::Json;
use registry::audit::AuditEntry;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::AuditReader;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, ChildIdPath};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogParams {
    /// Entries to return, newest first: 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLog {
    pub child_id: registry::ChildId,
    /// Newest first.
    pub entries: Vec<AuditEntry>,
}

/// Who has read, searched for or changed this child (auditors and data stewards). Reading the
/// access log is itself recorded.
#[utoipa::path(
    get, path = "/v1/children/{child_id}/access-log", tag = "audit",
    security(("api_key" = [])),
    params(("child_id" = String, Path, description = "Child ID, hyphens optional, any case"), AccessLogParams),
    responses(
        (status = 200, body = AccessLog),
        (status = 400, description = "Malformed child ID or limit", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither auditor nor data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A district-scoped steward asked about a child outside the district", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn access_log(
    State(state): State<AppState>,
    AuditReader(caller): AuditReader,
    meta: RequestMeta,
    ChildIdPath(child_id): ChildIdPath,
    ApiQuery(params): ApiQuery<AccessLogParams>,
) -> Result<Json<AccessLog>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    // A steward reads the access log of the children they may read; an auditor's work is the
    // log itself, whatever child it names.
    if caller.role != registry::clients::Role::Auditor
        && state
            .store
            .child(child_id, &caller.read_scope())
            .await?
            .is_none()
    {
        return Err(ApiError::NotFound(format!("no child {child_id}")));
    }
    let entries = state.store.access_log(child_id, limit).await?;
    state
        .audit(
            &caller,
            AuditAction::AccessLogRead,
            AuditTarget::child(child_id),
            &meta,
        )
        .await?;
    Ok(Json(AccessLog { child_id, entries }))
}

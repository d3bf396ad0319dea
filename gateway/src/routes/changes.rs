//! The change feed: `GET /v1/changes?after=&limit=`, the outbox as the caller may read it.

use axum::extract::State;
use axum::Json;
use registry::model::OutboxEntry;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::ChildReader;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::redact;
use crate::state::AppState;
use crate::webhooks::audience;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// The `next_cursor` of the previous page; absent or `0` starts at the beginning.
    pub after: Option<String>,
    /// Entries per page: 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesPage {
    /// Entries the caller may see, in commit order.
    pub entries: Vec<OutboxEntry>,
    /// Pass as `after` for the next page. It moves past entries the caller may not see, so
    /// a client polling an empty page keeps its place.
    pub next_cursor: String,
    /// The page was full: ask again right away.
    pub has_more: bool,
}

/// The change feed: `child.created`, `record.registered`, `record.linked`, `record.updated`,
/// `record.unlinked`, `child.merged`, `child.unmerged`, `event.added` (and `referral.*`) in
/// commit order, for the children the caller may read. Payloads name records, never event
/// content. Reading the feed is recorded in the audit log.
#[utoipa::path(
    get, path = "/v1/changes", tag = "changes",
    security(("api_key" = [])),
    params(ChangesParams),
    responses(
        (status = 200, body = ChangesPage),
        (status = 400, description = "Malformed cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that does not read child data", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_changes(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<ChangesParams>,
) -> Result<Json<ChangesPage>, ApiError> {
    let after = match params.after.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|after| *after >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "after",
                    "after must be a next_cursor this feed returned (or 0)",
                )
            })?,
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let page = state
        .store
        .changes(after, limit, &audience(&caller))
        .await?;
    let entries: Vec<OutboxEntry> = page
        .entries
        .into_iter()
        .map(|entry| redact::change(&caller, entry))
        .collect();
    let target = AuditTarget::none()
        .with_children(entries.iter().map(|entry| entry.child_id))
        .with_details(serde_json::json!({
            "after": after,
            "entries": entries.len(),
            "next_cursor": page.next_cursor,
        }));
    state
        .audit(&caller, AuditAction::ChangesRead, target, &meta)
        .await?;
    Ok(Json(ChangesPage {
        entries,
        next_cursor: page.next_cursor.to_string(),
        has_more: page.has_more,
    }))
}

//! `GET /v1/search`: cross-agency search over the registry's active children.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use search::{InvalidParameter, SearchError, SearchParams, SearchResults};

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::ChildReader;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::redact;
use crate::state::AppState;

impl From<InvalidParameter> for ApiError {
    fn from(invalid: InvalidParameter) -> Self {
        ApiError::bad_request(invalid.code, invalid.field, invalid.detail)
    }
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Registry(error) => error.into(),
            other => {
                tracing::error!(error = %other, "search failed");
                ApiError::Internal
            }
        }
    }
}

/// Finds children across agencies by name (any order, typos, phonetic and Khmer-script
/// spellings), birth year or date, child ID or identifier, with filters. Only children the
/// caller may read are counted and returned: an agency client sees the children it holds
/// records for.
#[utoipa::path(
    get, path = "/v1/search", tag = "search",
    security(("api_key" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "Hits, best first", body = SearchResults),
        (status = 400, description = "Empty query without filters, a bad date, limit out of range or a bad cursor; `field` names the parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The search index is not running", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let request = params.parse()?;
    let index = state.search.as_ref().ok_or(ApiError::Unavailable)?;
    let audit_query = serde_json::json!({
        "q": request.text,
        "district": request.district,
        "source_system": request.source_system,
        "born_from": request.born_from,
        "born_to": request.born_to,
        "offset": request.offset,
    });
    // The caller's scope is part of the tantivy query (before counting and paging), by the
    // same rule as the registry's reads: every hit is a child the caller may then open.
    // The active model (the one registrations are matched with) orders the first hits.
    let ranking = state.store.matcher(None).await?;
    let results = index
        .search(request, caller.read_scope(), Some(ranking))
        .await?;
    let results = redact::search_results(&caller, results);
    let hits: Vec<_> = results.hits.iter().map(|hit| hit.child_id).collect();
    let target = AuditTarget::none()
        .with_children(hits.iter().copied())
        .with_details(serde_json::json!({
            "query": audit_query,
            "returned": hits.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "total": results.total,
        }));
    state
        .audit(&caller, AuditAction::Search, target, &meta)
        .await?;
    Ok(Json(results))
}

/// Middleware: after a request that may have written child data (any method but GET, HEAD or
/// OPTIONS that succeeded or redirected, as the web UI's form posts do), wakes the search
/// index follower so the change is searchable within milliseconds rather than at the next
/// poll. A wake-up with nothing new costs one outbox read.
pub async fn wake_index_after_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let may_write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let response = next.run(request).await;
    let status = response.status();
    if may_write && (status.is_success() || status.is_redirection()) {
        if let Some(index) = &state.search {
            index.registry_changed();
        }
    }
    response
}

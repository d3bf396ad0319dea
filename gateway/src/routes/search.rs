//! `GET /v1/search`: cross-agency search over the registry's active children.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use search::{InvalidParameter, SearchError, SearchParams, SearchResults};

use registry::ReadScope;

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::ChildReader;
use crate::error::{ApiError, Problem};
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
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request("invalid_query_string", "query", rejection.body_text())
    })?;
    let mut request = params.parse()?;
    let index = state.search.as_ref().ok_or(ApiError::Unavailable)?;
    // The search crate scopes by source system inside the query; a district scope is applied
    // here as the index's district filter. The index knows each child's summary district only,
    // so a district official may miss a child whose other records are in their district (never
    // the reverse: the summary district comes from one of the child's records).
    // The search crate knows no "nothing" scope: such a caller gets no hits here.
    let mut sees_nothing = false;
    let scope = match caller.read_scope() {
        ReadScope::District(district) => {
            let asked = request.district.as_deref().map(str::to_lowercase);
            if asked.is_some_and(|asked| asked.trim() != district.trim().to_lowercase()) {
                sees_nothing = true;
            }
            request.district = Some(district);
            ReadScope::All
        }
        ReadScope::Nothing => {
            sees_nothing = true;
            ReadScope::Nothing
        }
        other => other,
    };
    let audit_query = serde_json::json!({
        "q": request.text,
        "district": request.district,
        "source_system": request.source_system,
        "born_from": request.born_from,
        "born_to": request.born_to,
        "offset": request.offset,
    });
    let results = if sees_nothing {
        SearchResults {
            hits: Vec::new(),
            total: 0,
            next_cursor: None,
        }
    } else {
        index.search(request, scope).await?
    };
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

//! `GET /v1/search`: cross-agency search over the registry's active children.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use search::{InvalidParameter, SearchError, SearchParams, SearchResults};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
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
    caller: Caller,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request("invalid_query_string", "query", rejection.body_text())
    })?;
    let request = params.parse()?;
    let index = state.search.as_ref().ok_or(ApiError::Unavailable)?;
    Ok(Json(index.search(request, caller.read_scope()).await?))
}

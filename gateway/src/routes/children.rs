use axum::extract::State;
use axum::Json;
use registry::model::{ChildView, Timeline};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::ChildIdPath;
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

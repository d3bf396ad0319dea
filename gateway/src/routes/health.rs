use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers and this node's search index is at most
/// `--ready-max-index-lag` change-feed entries behind it (a node that just started, or whose
/// index is being rebuilt, takes no traffic: its searches would miss recent children).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Database unavailable (`unavailable`) or the search index is catching up (`not_ready`)", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    let head = state.store.outbox_head().await?;
    let index_lag = state
        .search
        .as_ref()
        .map(|index| (head - index.position()).max(0));
    if let Some(lag) = index_lag {
        if lag > state.ready_max_index_lag {
            return Err(ApiError::NotReady(format!(
                "the search index is {lag} change-feed entries behind the database (ready at {} or fewer)",
                state.ready_max_index_lag
            )));
        }
    }
    Ok(Json(json!({
        "status": "ready",
        "database": state.store.backend(),
        "index_lag": index_lag,
    })))
}

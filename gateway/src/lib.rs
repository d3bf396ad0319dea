//! The `child-registry` binary's library: HTTP API, authentication, and the CLI commands.
//! `build_app` is the one router; tests start exactly what the binary serves.

pub mod audit;
pub mod auth;
pub mod commands;
pub mod error;
pub mod extract;
pub mod fhir;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod redact;
pub mod routes;
pub mod session;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod ui;
pub mod webhooks;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{middleware, Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::error::{
    close_connection_after_unread_body, ensure_problem_body, problem_response, ApiError,
};
pub use crate::state::AppState;

/// The whole HTTP application.
pub fn build_app(state: AppState) -> Router {
    let state_for_metrics = state.clone();
    let child_data = Router::new()
        .route("/v1/records", post(routes::records::register_record))
        .route(
            "/v1/records/{source_system}/{source_record_id}",
            get(routes::records::record_history),
        )
        .route(
            "/v1/records/{source_system}/{source_record_id}/unlink",
            post(routes::records::unlink_record),
        )
        .route(
            "/v1/children/{child_id}",
            get(routes::children::get_child_with_etag),
        )
        .route("/v1/search", get(routes::search::search))
        .route(
            "/v1/children/{child_id}/merge",
            post(routes::children::merge_child_if_match),
        )
        .route(
            "/v1/children/{child_id}/timeline",
            get(routes::children::get_timeline),
        )
        .route(
            "/v1/match-candidates",
            get(routes::match_candidates::list_candidates),
        )
        .route(
            "/v1/match-candidates/stats",
            get(routes::match_candidates::candidate_stats),
        )
        .route(
            "/v1/match-candidates/{id}",
            get(routes::match_candidates::get_candidate),
        )
        .route(
            "/v1/match-candidates/{id}/decision",
            post(routes::match_candidates::decide_candidate),
        )
        .route(
            "/v1/match-candidates/{id}/claim",
            post(routes::match_candidates::claim_candidate)
                .delete(routes::match_candidates::release_candidate),
        )
        // Bulk import (issue 9): bodies up to their own, larger limit.
        .route(
            "/v1/imports",
            post(routes::imports::create_import)
                .layer(DefaultBodyLimit::max(routes::imports::IMPORT_BODY_LIMIT)),
        )
        .route("/v1/imports/{id}", get(routes::imports::get_import))
        .route(
            "/v1/imports/{id}/results",
            get(routes::imports::import_results),
        )
        // People, roles and the audit log (issue 7).
        .route(
            "/v1/children/{child_id}/access-log",
            get(routes::audit::access_log),
        )
        // FHIR R4 (issue 9).
        .merge(fhir::router())
        // Change feed and webhooks (issue 9).
        .route("/v1/changes", get(routes::changes::list_changes))
        .route(
            "/v1/webhooks",
            get(routes::webhooks::list_webhooks).post(routes::webhooks::create_webhook),
        )
        .route(
            "/v1/webhooks/{id}",
            delete(routes::webhooks::delete_webhook),
        )
        .route(
            "/v1/webhooks/{id}/deliveries",
            get(routes::webhooks::list_deliveries),
        )
        // Referrals and indicators (issue 9).
        .route(
            "/v1/referrals",
            get(routes::referrals::list_referrals).post(routes::referrals::create_referral),
        )
        .route("/v1/referrals/{id}", get(routes::referrals::get_referral))
        .route(
            "/v1/referrals/{id}/status",
            post(routes::referrals::change_status),
        )
        .route("/v1/indicators", get(routes::indicators::get_indicators))
        // Child data must never sit in a browser or proxy cache.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .merge(child_data)
        .merge(ui::router())
        .route(
            "/v1/session",
            post(routes::session::login)
                .get(routes::session::who_am_i)
                .delete(routes::session::logout),
        )
        .route(
            "/v1/users",
            get(routes::admin::list_users).post(routes::admin::create_user),
        )
        .route(
            "/v1/users/{username}/disable",
            post(routes::admin::disable_user),
        )
        .route(
            "/v1/clients",
            get(routes::admin::list_clients).post(routes::admin::create_client),
        )
        .route(
            "/v1/clients/{client_id}/revoke",
            post(routes::admin::revoke_client),
        )
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/openapi.json",
            get(|| async { Json(openapi::ApiDoc::openapi()) }),
        )
        .fallback(|| async { ApiError::NotFound("no such route".to_owned()).into_response() })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            routes::search::wake_index_after_writes,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit_rate,
        ))
        .with_state(state)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(middleware::map_response(ensure_problem_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            problem_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred".to_owned(),
                None,
            )
        }))
        // Errors of /fhir requests, wherever they arose, as FHIR OperationOutcomes.
        .layer(middleware::from_fn(fhir::outcome::problems_as_outcomes))
        .layer(middleware::map_response(close_connection_after_unread_body))
        // Latency by route template, measured around everything above (timeouts, panics).
        .layer(middleware::from_fn_with_state(
            state_for_metrics,
            metrics::track_requests,
        ))
        // A span per request with its method and route template only: a path can hold a child
        // ID and a query string a child's name (`/v1/search?q=…`), and no child's personal
        // data goes to logs or traces.
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

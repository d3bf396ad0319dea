//! Prometheus metrics: request latency by route template, registrations by outcome, the review
//! queue, the search index's lag behind the outbox and database pool use.
//!
//! Labels never carry personal data: requests are labelled with the route *template*
//! (`/v1/children/{child_id}`), never the path (a child ID is personal data) or the query (a
//! search's `q` is a child's name).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::auth::Operator;
use crate::error::ApiError;
use crate::state::AppState;

/// Requests that matched no route share one label value, whatever their path.
const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets (seconds): a read takes milliseconds, a registration waits for a durable
/// commit, a search or a slow PostgreSQL may take a second.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The registry's metrics. Each app has its own Prometheus registry, so tests running several
/// apps in one process do not mix their figures.
pub struct Metrics {
    registry: Registry,
    request_duration: HistogramVec,
    registrations: IntCounterVec,
    review_queue_waiting: IntGaugeVec,
    review_queue_oldest_age: Gauge,
    outbox_head: IntGauge,
    match_model_version: IntGauge,
    index_position: IntGauge,
    index_lag: IntGauge,
    pool_connections: IntGaugeVec,
    pool_max: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("child_registry".to_owned()), None)?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method, route template and status",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route", "status"],
        )?;
        let registrations = IntCounterVec::new(
            Opts::new(
                "registrations_total",
                "Acknowledged registrations: kind created|updated (an update or an idempotent repeat), outcome new|linked|review",
            ),
            &["kind", "outcome"],
        )?;
        let review_queue_waiting = IntGaugeVec::new(
            Opts::new(
                "review_queue_candidates",
                "Match candidates waiting for a data steward, by status",
            ),
            &["status"],
        )?;
        let review_queue_oldest_age = Gauge::new(
            "review_queue_oldest_age_seconds",
            "Age of the oldest waiting match candidate (0 when none)",
        )?;
        let outbox_head = IntGauge::new(
            "outbox_head",
            "The highest committed position of the change feed",
        )?;
        let match_model_version = IntGauge::new(
            "match_model_version",
            "The model version this node matches registrations with (it takes up a version \
             activated elsewhere within seconds)",
        )?;
        let index_position = IntGauge::new(
            "search_index_position",
            "The change-feed position this node's search index has committed",
        )?;
        let index_lag = IntGauge::new(
            "search_index_lag",
            "Change-feed entries committed but not yet in this node's search index",
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database connections by pool and state (in_use|idle)",
            ),
            &["pool", "state"],
        )?;
        let pool_max = IntGaugeVec::new(
            Opts::new("db_pool_max_connections", "Each pool's connection limit"),
            &["pool"],
        )?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(registrations.clone()))?;
        registry.register(Box::new(review_queue_waiting.clone()))?;
        registry.register(Box::new(review_queue_oldest_age.clone()))?;
        registry.register(Box::new(outbox_head.clone()))?;
        registry.register(Box::new(match_model_version.clone()))?;
        registry.register(Box::new(index_position.clone()))?;
        registry.register(Box::new(index_lag.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        Ok(Metrics {
            registry,
            request_duration,
            registrations,
            review_queue_waiting,
            review_queue_oldest_age,
            outbox_head,
            match_model_version,
            index_position,
            index_lag,
            pool_connections,
            pool_max,
        })
    }

    pub fn count_registration(&self, registration: &registry::model::Registration) {
        let kind = if registration.created {
            "created"
        } else {
            "updated"
        };
        self.registrations
            .with_label_values(&[kind, registration.match_result.outcome.as_str()])
            .inc();
    }

    fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.request_duration
            .with_label_values(&[method, route, &status.to_string()])
            .observe(seconds);
    }

    /// Reads the gauges that live in the database and the index, then renders everything in
    /// Prometheus' text format.
    pub async fn render(&self, state: &AppState) -> Result<String, ApiError> {
        let stats = state.store.match_candidate_stats().await?;
        self.review_queue_waiting
            .with_label_values(&["open"])
            .set(stats.open);
        self.review_queue_waiting
            .with_label_values(&["deferred"])
            .set(stats.deferred);
        self.review_queue_oldest_age
            .set(stats.age_hours_max.unwrap_or(0.0) * 3600.0);
        let head = state.store.outbox_head().await?;
        self.outbox_head.set(head);
        self.match_model_version
            .set(state.store.matcher(None).await?.version());
        if let Some(index) = &state.search {
            self.index_position.set(index.position());
            self.index_lag.set((head - index.position()).max(0));
        }
        for pool in state.store.pool_use() {
            let idle = i64::from(pool.idle);
            let open = i64::from(pool.open);
            self.pool_connections
                .with_label_values(&[pool.pool, "in_use"])
                .set((open - idle).max(0));
            self.pool_connections
                .with_label_values(&[pool.pool, "idle"])
                .set(idle);
            self.pool_max
                .with_label_values(&[pool.pool])
                .set(i64::from(pool.max));
        }
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .map_err(|error| {
                tracing::error!(%error, "encoding metrics failed");
                ApiError::Internal
            })?;
        String::from_utf8(text).map_err(|_| ApiError::Internal)
    }
}

/// Times every request and counts it under its route template.
pub async fn track_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = route_template(&request);
    let response = next.run(request).await;
    state.metrics.observe_request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The standard methods by name, anything else as `other`: a client inventing methods must not
/// grow the number of series without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route a request matched, as written in the router (`/v1/children/{child_id}`).
pub fn route_template<B>(request: &axum::http::Request<B>) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned()
}

/// `GET /metrics` on the API port: administrators and auditors only (the figures describe the
/// registry's activity). Prometheus scrapes the unauthenticated `--metrics-listen` port.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "No credentials", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator or auditor", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn metrics(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Response, ApiError> {
    exposition(&state).await
}

/// The metrics in Prometheus' text format, for either listener.
pub async fn exposition(state: &AppState) -> Result<Response, ApiError> {
    let text = state.metrics.render(state).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// The separate, unauthenticated metrics listener (`serve --metrics-listen`): `/metrics` only.
pub fn scrape_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(
                |State(state): State<AppState>| async move { exposition(&state).await },
            ),
        )
        .with_state(state)
}

//! Logs and traces.
//!
//! Logs go to stderr (`CHILD_REGISTRY_LOG` sets the level). Traces are OpenTelemetry spans: one
//! per request (named by its route template) and one per registry operation, exported over
//! OTLP/HTTP when `--otlp-endpoint` is set. Without an endpoint spans are still made, so a
//! request's log lines carry its `trace_id` (continued from an incoming `traceparent`), but
//! nothing leaves the process.

use std::io::IsTerminal;

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The target of the per-request span: always enabled for the log layer too, so every log line
/// written while serving a request names the request's route and trace.
const REQUEST_TARGET: &str = "gateway::request";

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes spans not yet exported.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Installs the global subscriber. `otlp_endpoint` is the collector's base URL (e.g.
    /// `http://otel-collector:4318`); spans go to its `/v1/traces`.
    pub fn init(otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
        let mut provider = SdkTracerProvider::builder().with_resource(
            Resource::builder()
                .with_service_name("child-registry")
                .build(),
        );
        if let Some(endpoint) = otlp_endpoint {
            let endpoint = endpoint.trim_end_matches('/');
            let endpoint = if endpoint.ends_with("/v1/traces") {
                endpoint.to_owned()
            } else {
                format!("{endpoint}/v1/traces")
            };
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()?;
            // The batch processor exports from a thread of its own, never on a request's path.
            provider = provider.with_batch_exporter(exporter);
        }
        let provider = provider.build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

        // tantivy warns when a background merge finishes after one of its segments was
        // dropped (every document in it replaced meanwhile, as the follower's updates do):
        // the merge is discarded and nothing is lost, so by default that is not a warning.
        let log_filter = EnvFilter::try_from_env("CHILD_REGISTRY_LOG")
            .unwrap_or_else(|_| EnvFilter::new("warn,tantivy::indexer::segment_manager=error"))
            .add_directive(format!("{REQUEST_TARGET}=info").parse()?);
        // Colours only on a terminal: a log file or journald gets plain text to search.
        let log_layer = tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .with_filter(log_filter);
        // Our own crates' spans; dependencies' internals (sqlx, hyper) stay out of traces.
        let trace_filter = Targets::new()
            .with_target("gateway", LevelFilter::INFO)
            .with_target("registry", LevelFilter::INFO)
            .with_target("search", LevelFilter::INFO);
        let trace_layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("child-registry"))
            .with_filter(trace_filter);
        // A second initialisation (tests calling commands in one process) keeps the first.
        let _ = tracing_subscriber::registry()
            .with(log_layer)
            .with(trace_layer)
            .try_init();
        Ok(Telemetry { provider })
    }

    /// Exports the spans still buffered. Call outside the async runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("warning: exporting the last traces failed: {error}");
        }
    }
}

/// The span of one HTTP request: method and route template only. Never the path (a child ID
/// is personal data) nor the query (a search's `q` is a child's name). An incoming W3C
/// `traceparent` makes it part of the caller's trace; its trace ID is recorded for the logs.
pub fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let route = crate::metrics::route_template(request);
    let span = tracing::info_span!(
        target: REQUEST_TARGET,
        "request",
        otel.name = %format!("{} {route}", request.method()),
        otel.kind = "server",
        method = %request.method(),
        route = %route,
        trace_id = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    if parent.span().span_context().is_valid() {
        // Fails only when the span is disabled, and then there is nothing to continue.
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
    span
}

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

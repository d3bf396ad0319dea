use std::sync::Arc;

use registry::audit::AuditKey;
use registry::Store;
use search::SearchIndex;

use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;
use crate::session::SecurityConfig;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// The search index; `None` answers searches with 503.
    pub search: Option<Arc<SearchIndex>>,
    /// Keys the audit chain. `new` draws a random one (tests); servers set the configured key
    /// with [`AppState::with_audit_key`].
    pub audit_key: Arc<AuditKey>,
    pub security: Arc<SecurityConfig>,
    pub rate_limits: Arc<RateLimits>,
    pub metrics: Arc<Metrics>,
    /// `/readyz` answers 503 while the search index is more than this many change-feed
    /// entries behind the database.
    pub ready_max_index_lag: i64,
    /// Webhook targets allowed, retries and timing (`serve --webhook-…`).
    pub webhooks: Arc<crate::webhooks::WebhookConfig>,
    /// Indicator counts from 1 to this minus one are hidden.
    pub suppression_threshold: u64,
    /// The URL clients reach this server at (`serve --public-url`), for the absolute links
    /// FHIR Bundles carry; unset, each request's `Host` decides.
    pub public_url: Option<Arc<str>>,
}

/// The default of `serve --ready-max-index-lag`.
pub const DEFAULT_READY_MAX_INDEX_LAG: i64 = 500;

impl AppState {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let security = SecurityConfig::default();
        AppState {
            store,
            search: None,
            audit_key: Arc::new(AuditKey::random()),
            rate_limits: Arc::new(RateLimits::new(&security)),
            security: Arc::new(security),
            // The metric names and options are fixed: a failure here is a programming error
            // that every test would catch.
            metrics: Arc::new(Metrics::new().expect("the metrics are well-formed")),
            ready_max_index_lag: DEFAULT_READY_MAX_INDEX_LAG,
            webhooks: Arc::default(),
            suppression_threshold: registry::indicators::DEFAULT_SUPPRESSION_THRESHOLD,
            public_url: None,
        }
    }

    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url.map(Arc::from);
        self
    }

    pub fn with_ready_max_index_lag(mut self, entries: i64) -> Self {
        self.ready_max_index_lag = entries;
        self
    }

    pub fn with_webhooks(mut self, config: crate::webhooks::WebhookConfig) -> Self {
        self.webhooks = Arc::new(config);
        self
    }

    pub fn with_suppression_threshold(mut self, threshold: u64) -> Self {
        self.suppression_threshold = threshold;
        self
    }

    pub fn with_search(mut self, index: Arc<SearchIndex>) -> Self {
        self.search = Some(index);
        self
    }

    pub fn with_audit_key(mut self, key: AuditKey) -> Self {
        self.audit_key = Arc::new(key);
        self
    }

    pub fn with_security(mut self, security: SecurityConfig) -> Self {
        self.rate_limits = Arc::new(RateLimits::new(&security));
        self.security = Arc::new(security);
        self
    }
}

//! `child-registry serve`: the HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls::ServerConfig;

use super::instance_lock::InstanceLock;
use super::reindex::{index_dir, start_search};
use super::security_args::SecurityArgs;
use super::store_args::{block_on, StoreArgs};
use crate::tls::{TlsListener, TlsPeer};
use crate::{build_app, AppState};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address and port to listen on.
    #[arg(long, env = "CHILD_REGISTRY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the search index (default: `search-index` in --data-dir for the embedded
    /// database, `child-registry-index` with --database-url).
    #[arg(long, env = "CHILD_REGISTRY_INDEX_DIR")]
    pub index_dir: Option<PathBuf>,
    #[command(flatten)]
    pub security: SecurityArgs,
    /// PEM certificate chain: serve HTTPS (with --tls-key); cookies are then marked Secure.
    #[arg(long, env = "CHILD_REGISTRY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "CHILD_REGISTRY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Also serve `GET /metrics` without authentication on this address, for Prometheus (keep
    /// it on an internal network; on the API port `/metrics` needs an admin or auditor).
    #[arg(long, env = "CHILD_REGISTRY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Export traces over OTLP/HTTP to this collector, e.g. `http://otel-collector:4318`.
    /// Off by default.
    #[arg(long, env = "CHILD_REGISTRY_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// `/readyz` answers 503 while this node's search index is more than this many change-feed
    /// entries behind the database.
    #[arg(long, env = "CHILD_REGISTRY_READY_MAX_INDEX_LAG", default_value_t = crate::state::DEFAULT_READY_MAX_INDEX_LAG)]
    pub ready_max_index_lag: i64,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookArgs,
    /// Indicator counts from 1 to this minus one are hidden (`GET /v1/indicators`).
    #[arg(long, env = "CHILD_REGISTRY_SUPPRESS_BELOW", default_value_t = registry::indicators::DEFAULT_SUPPRESSION_THRESHOLD)]
    pub suppress_below: u64,
    /// The URL clients reach this server at, e.g. https://registry.example.org (behind a proxy
    /// the request's Host may not be it): the absolute links FHIR Bundles carry start with it.
    /// Unset, each request's Host decides.
    #[arg(long, env = "CHILD_REGISTRY_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,
}

/// How long a stopping node waits for its search index to reach the database's change feed.
const INDEX_FLUSH_LIMIT: Duration = Duration::from_secs(30);

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let dir = index_dir(&args.store, args.index_dir.as_deref());
    // Before anything is opened: a second server on this directory stops here, changing nothing.
    let _lock = InstanceLock::for_node(&args.store, &dir)?;
    block_on(async move {
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            _ => None,
        };
        let audit_key = args.security.audit.resolve(&args.store.data_dir)?;
        let webhooks = args.webhooks.config();
        let store = args.store.open().await?;
        let (index, follower) = start_search(store.clone(), &dir).await?;
        let state = AppState::new(store.clone())
            .with_search(Arc::clone(&index))
            .with_audit_key(audit_key)
            .with_webhooks(webhooks)
            .with_security(args.security.config(tls.is_some()))
            .with_ready_max_index_lag(args.ready_max_index_lag)
            .with_suppression_threshold(args.suppress_below)
            .with_public_url(args.public_url);
        let background = BackgroundTasks::start(&state)?;
        // From here a signal stops the node cleanly; until now (opening the database, catching
        // the index up) the default action ends it at once, which loses nothing.
        let shutdown = Shutdown::listen()?;
        let metrics = match args.metrics_listen {
            Some(address) => {
                let listener = tokio::net::TcpListener::bind(address).await?;
                let url = format!("http://{}/metrics", listener.local_addr()?);
                Some((listener, url))
            }
            None => None,
        };
        let metrics_url = metrics.as_ref().map(|(_, url)| url.clone());
        let metrics_server = metrics.map(|(listener, _)| {
            let app = crate::metrics::scrape_router(state.clone());
            let stopped = shutdown.clone().wait();
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::error!(%error, "the metrics listener failed");
                }
            })
        });
        serve(state, args.listen, tls, shutdown, |url| {
            // One line: scripts and tests read the URLs from the first line.
            let metrics = metrics_url
                .map(|metrics_url| format!("; metrics for Prometheus on {metrics_url}"))
                .unwrap_or_default();
            println!(
                "child registry listening on {url} ({}){metrics}",
                args.store.describe()
            );
        })
        .await?;
        // Requests are drained; what they wrote is committed. Let the index follow it before
        // stopping, so the next start has nothing to catch up and a search right after a
        // restart finds every acknowledged child.
        flush_index(store.as_ref(), &index).await;
        follower.abort();
        background.stop();
        if let Some(metrics_server) = metrics_server {
            metrics_server.abort();
        }
        Ok(())
    })
}

/// The work a serving node does besides answering requests: webhook deliveries, bulk import
/// jobs and the dashboard's running totals, each resuming from the database after a restart.
pub struct BackgroundTasks {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl BackgroundTasks {
    pub fn start(state: &AppState) -> anyhow::Result<Self> {
        let store = &state.store;
        let webhook_worker = crate::webhooks::worker::Worker::new(
            store.clone(),
            Arc::clone(&state.webhooks),
            Arc::clone(&state.audit_key),
        )?
        .spawn();
        let import_runner = tokio::spawn(registry::imports::run_forever(
            store.clone(),
            Arc::clone(&state.audit_key),
        ));
        let totals_folder = tokio::spawn(registry::counts::follow_forever(store.clone()));
        let match_cache_warmer = tokio::spawn(warm_match_cache(store.clone()));
        let model_follower = tokio::spawn(registry::rescore::follow_active_model(store.clone()));
        tokio::spawn(advise_retraining(store.clone()));
        Ok(BackgroundTasks {
            tasks: vec![
                webhook_worker,
                import_runner,
                totals_folder,
                match_cache_warmer,
                model_follower,
            ],
        })
    }

    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Prepares the stored records for matching once, after starting (`--match-cache-records`
/// of them): until then a registration reads and prepares its neighbours itself, which is
/// slower but gives the same answers, so a failure is only logged.
async fn warm_match_cache(store: Arc<dyn registry::Store>) {
    let started = Instant::now();
    match store.warm_match_cache().await {
        Ok(records) => tracing::info!(
            records,
            seconds = started.elapsed().as_secs_f64(),
            "stored records prepared for matching"
        ),
        Err(error) => tracing::warn!(%error, "preparing stored records for matching stopped"),
    }
}

/// Tells the operator, once at start, when the registry has outgrown its active model (see
/// `child-registry models`). Counting the records takes a moment at a million, so it runs
/// beside the start.
async fn advise_retraining(store: Arc<dyn registry::Store>) {
    match registry::rescore::model_status(store.as_ref()).await {
        Ok(status) => {
            if let Some(advice) = status.retrain_advice {
                tracing::warn!(%advice, "the matching model should be retrained");
            }
        }
        Err(error) => tracing::warn!(%error, "cannot tell whether the matching model is current"),
    }
}

/// Waits (at most [`INDEX_FLUSH_LIMIT`]) until the index has committed the change feed's head
/// as it is now. The follower does the work: one writer, commits in order.
async fn flush_index(store: &dyn registry::Store, index: &search::SearchIndex) {
    let started = Instant::now();
    let head = match store.outbox_head().await {
        Ok(head) => head,
        Err(error) => {
            tracing::warn!(%error, "cannot read the change feed's head; not waiting for the index");
            return;
        }
    };
    while index.position() < head {
        if started.elapsed() > INDEX_FLUSH_LIMIT {
            tracing::warn!(
                position = index.position(),
                head,
                "stopping before the search index caught up; it resumes at the next start"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(position = index.position(), "search index flushed");
}

/// Serves until `shutdown` (Ctrl-C or SIGTERM), then drains requests in flight. `on_ready`
/// gets the URL once the port is bound.
pub async fn serve(
    state: AppState,
    listen: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
    shutdown: Shutdown,
    on_ready: impl FnOnce(&str),
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    tracing::info!(%url, backend = state.store.backend(), "listening");
    on_ready(&url);
    // The peer address feeds the per-address rate limit and the audit log.
    let app = build_app(state);
    match tls {
        Some(config) => {
            let app = app.into_make_service_with_connect_info::<TlsPeer>();
            axum::serve(TlsListener::new(listener, config)?, app)
                .with_graceful_shutdown(shutdown.wait())
                .await?
        }
        None => {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.wait())
                .await?
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM (what `docker stop`, systemd and Kubernetes send), listened for from the
/// moment [`Shutdown::listen`] is called, before the node says it is listening: a signal sent
/// as soon as the "listening" line appears stops it cleanly once the server runs, instead of
/// killing it by the default action in between.
#[derive(Debug, Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// Installs the signal handlers now (inside the runtime).
    pub fn listen() -> anyhow::Result<Self> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        #[cfg(unix)]
        let signalled = {
            use tokio::signal::unix::{signal, SignalKind};
            let mut terminate = signal(SignalKind::terminate())?;
            let mut interrupt = signal(SignalKind::interrupt())?;
            async move {
                tokio::select! {
                    _ = terminate.recv() => {},
                    _ = interrupt.recv() => {},
                }
            }
        };
        #[cfg(not(unix))]
        let signalled = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::spawn(async move {
            signalled.await;
            tracing::info!("shutting down");
            // Nobody waiting any more is fine: the node is stopping anyway.
            let _ = stop.send(true);
        });
        Ok(Shutdown(stopped))
    }

    /// Resolves once a signal came (at once if one already did).
    pub async fn wait(mut self) {
        if self.0.wait_for(|stopped| *stopped).await.is_err() {
            // The listener is gone without a signal: never stop on that account.
            std::future::pending::<()>().await;
        }
    }
}

/// An absolute http(s) URL with a host, kept without a trailing slash.
fn public_url(value: &str) -> Result<String, String> {
    let uri: axum::http::Uri = value
        .parse()
        .map_err(|error| format!("not a URL: {error}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.authority().is_none() || uri.query().is_some() {
        return Err("give an absolute http(s) URL such as https://registry.example.org".to_owned());
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::public_url;

    #[test]
    fn the_public_url_is_an_absolute_http_url() {
        assert_eq!(
            public_url("https://registry.example.org/").as_deref(),
            Ok("https://registry.example.org")
        );
        assert!(public_url("http://10.0.0.5:8080/registry").is_ok());
        for wrong in [
            "registry.example.org",
            "ftp://registry.example.org",
            "https://x.org/?a=1",
        ] {
            assert!(public_url(wrong).is_err(), "{wrong}");
        }
    }
}

//! `child-registry serve`: the HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;

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
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    block_on(async move {
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            _ => None,
        };
        let audit_key = args.security.audit.resolve(&args.store.data_dir)?;
        let store = args.store.open().await?;
        let dir = index_dir(&args.store, args.index_dir.as_deref());
        let (index, _follower) = start_search(store.clone(), &dir).await?;
        serve(
            AppState::new(store)
                .with_search(index)
                .with_audit_key(audit_key)
                .with_security(args.security.config(tls.is_some())),
            args.listen,
            tls,
            |url| {
                println!(
                    "child registry listening on {url} ({})",
                    args.store.describe()
                );
            },
        )
        .await
    })
}

/// Serves until Ctrl-C or SIGTERM, then drains requests in flight. `on_ready` gets the URL
/// once the port is bound.
pub async fn serve(
    state: AppState,
    listen: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
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
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
        None => {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

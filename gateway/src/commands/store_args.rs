use std::path::PathBuf;
use std::sync::Arc;

use registry::Store;

/// Where the registry's data lives: the embedded SQLite file in `--data-dir`, or a server
/// named by `--database-url`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite database (used unless --database-url is given).
    #[arg(
        long,
        env = "CHILD_REGISTRY_DATA_DIR",
        default_value = "child-registry-data"
    )]
    pub data_dir: PathBuf,
    /// `postgres://user@host:port/db` (or `sqlite://path`) instead of the embedded database.
    #[arg(long, env = "CHILD_REGISTRY_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// Opens the store and applies pending migrations.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        let store = match &self.database_url {
            Some(url) => registry::store::open(url).await?,
            None => registry::store::open_data_dir(&self.data_dir).await?,
        };
        Ok(store)
    }

    /// Where the data is, for messages (never prints a password).
    pub fn describe(&self) -> String {
        match &self.database_url {
            Some(url) => match url.split_once('@') {
                Some((_, server)) => {
                    format!("{}//…@{server}", url.split("//").next().unwrap_or(""))
                }
                None => url.clone(),
            },
            None => format!("{}", self.data_dir.join("registry.db").display()),
        }
    }
}

/// Runs an async command on a fresh multi-threaded runtime.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(
    future: F,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

//! `child-registry backup` and `child-registry restore`.

use std::path::PathBuf;

use registry::backup::Database;

use super::instance_lock::InstanceLock;
use super::store_args::{block_on, StoreArgs};

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file to write (must not exist). SQLite: a database file; PostgreSQL: a
    /// `pg_dump` custom-format archive.
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file to load.
    #[arg(long)]
    pub from: PathBuf,
    /// Replace a database that already holds a registry (everything in it is lost).
    #[arg(long)]
    pub force: bool,
}

impl StoreArgs {
    /// The database these flags name, for backup and restore.
    pub fn database(&self) -> anyhow::Result<Database> {
        Ok(match self.connection_url()? {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Database::Postgres(url)
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(path) => Database::Sqlite(PathBuf::from(path)),
                None => {
                    anyhow::bail!("unsupported database URL: use sqlite://PATH or postgres://…")
                }
            },
            None => Database::Sqlite(self.data_dir.join("registry.db")),
        })
    }
}

pub fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    block_on(async move {
        let started = std::time::Instant::now();
        let bytes = registry::backup::backup(&args.store.database()?, &args.to).await?;
        println!(
            "backed up {} to {} ({bytes} bytes, {:.1} s); keep the audit key apart from it",
            args.store.describe(),
            args.to.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

pub fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    // The embedded database's file is replaced: never under a running server.
    let _lock = InstanceLock::for_database(&args.store)?;
    block_on(async move {
        registry::backup::restore(&args.store.database()?, &args.from, args.force).await?;
        // Migrations the backup predates are applied now, so a restored registry is current.
        args.store.open().await?;
        println!(
            "restored {} into {}; rebuild the search index with `child-registry reindex` before serving",
            args.from.display(),
            args.store.describe()
        );
        Ok(())
    })
}

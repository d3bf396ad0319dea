//! The production backend: PostgreSQL. Row locks (`FOR UPDATE`) serialise writers of the same
//! source record; the outbox head row serialises commits of the change feed.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::error::Result;

// The shared SQL engine is compiled once per backend on purpose, each time for its own driver.
#[allow(clippy::duplicate_mod)]
#[path = "engine.rs"]
mod engine;

type Db = sqlx::Postgres;
type Backend = PostgresStore;

const BACKEND_NAME: &str = "postgres";
const LOCK_RECORD_ROW: &str = " FOR UPDATE OF sr";
const LOCK_ROWS: &str = " FOR UPDATE";
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

const CONNECTIONS: u32 = 32;

pub struct PostgresStore {
    write: PgPool,
    read: PgPool,
    writer: tokio::sync::mpsc::Sender<engine::WriteJob>,
}

impl PostgresStore {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore {
            read: pool.clone(),
            writer: engine::spawn_group_committer(pool.clone()),
            write: pool,
        })
    }
}

/// Creates an empty database with a random name on the server of `base_url` and returns its
/// URL: each test and benchmark run gets a registry of its own.
pub async fn create_scratch_database(base_url: &str) -> Result<String> {
    let options = PgConnectOptions::from_str(base_url)?;
    let mut connection = options.connect().await?;
    let name = format!("child_registry_scratch_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(url_with_database(base_url, &name))
}

/// Drops a database made by [`create_scratch_database`].
pub async fn drop_scratch_database(base_url: &str, name: &str) -> Result<()> {
    let options = PgConnectOptions::from_str(base_url)?;
    let mut connection = options.connect().await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

/// `base_url` with its database name replaced, query parameters (e.g. `sslmode`) kept.
fn url_with_database(base_url: &str, database: &str) -> String {
    let (head, query) = match base_url.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (base_url, String::new()),
    };
    let authority_start = head.find("://").map_or(0, |i| i + 3);
    let server = match head[authority_start..].find('/') {
        Some(slash) => &head[..authority_start + slash],
        None => head,
    };
    format!("{server}/{database}{query}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn scratch_urls_keep_server_and_parameters() {
        assert_eq!(
            super::url_with_database(
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                "x"
            ),
            "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(
            super::url_with_database("postgres://h", "x"),
            "postgres://h/x"
        );
    }
}

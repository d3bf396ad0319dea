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
#[allow(clippy::duplicate_mod)]
#[path = "linking.rs"]
mod linking;

// People, sessions and the audit log, likewise compiled once per backend.
#[allow(clippy::duplicate_mod)]
#[path = "access.rs"]
mod access;

// Identifier look-ups and match previews (the FHIR interface), likewise.
#[allow(clippy::duplicate_mod)]
#[path = "identity_sql.rs"]
mod identity_sql;
// The change feed by audience and webhooks (issue 9), likewise compiled once per backend.
#[allow(clippy::duplicate_mod)]
#[path = "webhooks.rs"]
mod webhooks;
// Referrals and the indicators' projection, likewise compiled once per backend.
#[allow(clippy::duplicate_mod)]
#[path = "indicators_sql.rs"]
mod indicators_sql;
#[allow(clippy::duplicate_mod)]
#[path = "referrals_sql.rs"]
mod referrals_sql;
// The dashboard's running totals (issue 8), likewise compiled once per backend.
#[allow(clippy::duplicate_mod)]
#[path = "counts_sql.rs"]
mod counts_sql;
// Bulk import jobs (issue 9), likewise compiled once per backend.
#[allow(clippy::duplicate_mod)]
#[path = "imports.rs"]
mod imports;

type Db = sqlx::Postgres;
type Backend = PostgresStore;

const BACKEND_NAME: &str = "postgres";
const LOCK_RECORD_ROW: &str = " FOR UPDATE OF sr";
/// The month (`YYYY-MM`, UTC) of `c.created_at`.
const MONTH_CREATED: &str = "to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM')";
const LOCK_ROWS: &str = " FOR UPDATE";

/// Transaction-scoped advisory locks on the batch's blocking keys and identifiers, taken in
/// ascending order (the caller sorts) so two batches never deadlock. Another gateway
/// registering a record that could match waits until this batch commits, then sees it.
///
/// Every such batch first shares the matching gate, which a bulk import chunk with too many keys
/// for the lock table takes alone instead ([`lock_all_matching`]).
async fn lock_match_keys(tx: &mut sqlx::Transaction<'_, Db>, keys: &[i64]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1, $2)")
        .bind(MATCHING_GATE.0)
        .bind(MATCHING_GATE.1)
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock(key) FROM UNNEST($1::BIGINT[]) WITH ORDINALITY AS k(key, n) ORDER BY n")
        .bind(keys)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The matching gate's advisory lock, in the two-integer key space so no blocking-key lock
/// (one 64-bit key) can collide with it.
const MATCHING_GATE: (i32, i32) = (0x4352, 1);

/// Excludes every other matching transaction until this one commits: what a chunk whose
/// blocking keys would overflow PostgreSQL's lock table (`max_locks_per_transaction`) takes
/// instead of one lock per key.
async fn lock_all_matching(tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(MATCHING_GATE.0)
        .bind(MATCHING_GATE.1)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The tables a registration looks its neighbours up in.
const MATCHING_TABLES: &str = "blocking_keys, source_records, record_identifiers";
/// Refreshes the planner's statistics of the tables a registration looks up. An import into a
/// young registry grows them many times over between autovacuum's visits, and the planner,
/// still believing them nearly empty, scans them whole for every blocking-key look-up.
async fn refresh_planner_statistics(pool: &sqlx::Pool<Db>) -> Result<()> {
    sqlx::query(&format!("ANALYZE {MATCHING_TABLES}"))
        .execute(pool)
        .await?;
    Ok(())
}
/// Vacuums and analyses the tables a registration looks up, after a bulk load. Besides the
/// planner's statistics, a vacuum marks the loaded pages all-visible: until then an index-only
/// scan (a block's record keys, a neighbour's child and version) must visit the table for every
/// row it returns, and the registrations after a load would wait on autovacuum for that.
async fn settle_after_bulk_load(pool: &sqlx::Pool<Db>) -> Result<()> {
    sqlx::query(&format!("VACUUM (ANALYZE) {MATCHING_TABLES}"))
        .execute(pool)
        .await?;
    Ok(())
}
/// What an insert of `source_records` with reserved record keys says before `VALUES`: the key
/// is an identity column, which takes a given value only when told to.
const RESERVED_KEY_INSERT: &str = "OVERRIDING SYSTEM VALUE";
/// `count` record keys for new source records, drawn from the key's identity sequence (as an
/// insert would draw them), so that other sessions never draw the same ones.
async fn reserve_record_keys(tx: &mut sqlx::Transaction<'_, Db>, count: usize) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('source_records', 'record_key')) \
         FROM generate_series(1, $1)",
    )
    .bind(count as i64)
    .fetch_all(&mut **tx)
    .await?)
}
/// A write transaction: rows and keys are locked as they are read or written (`LOCK_ROWS`,
/// advisory locks), so PostgreSQL's default will do.
async fn begin_write(pool: &PgPool) -> Result<sqlx::Transaction<'static, Db>> {
    Ok(pool.begin().await?)
}
/// A read-only transaction whose statements all see one snapshot (PostgreSQL's default, read
/// committed, takes a new one for each statement).
async fn begin_snapshot(pool: &PgPool) -> Result<sqlx::Transaction<'static, Db>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
/// Memory for the sorts and hash tables of one import chunk's statements. Reading a chunk's
/// blocks groups a few hundred thousand `(key_hash, record_key)` rows; with the server's
/// default `work_mem` (4 MB) the grouping spilled to an external merge sort on disk.
async fn size_import_chunk(tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut **tx)
        .await?;
    Ok(())
}
/// Inserts `(key_hash, record_key)` blocking-key rows with one statement of two arrays: a bulk
/// import writes about ten per row, and thousands of bound parameters cost PostgreSQL more to
/// parse than to store.
async fn insert_blocking_keys(
    tx: &mut sqlx::Transaction<'_, Db>,
    rows: &[(i64, i64)],
) -> Result<()> {
    let (hashes, record_keys): (Vec<i64>, Vec<i64>) = rows.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO blocking_keys (key_hash, record_key) \
         SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[])",
    )
    .bind(hashes)
    .bind(record_keys)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The stored blocks of `hashes`: each block's size and, when it holds at most `max_block`
/// records (larger ones are never compared), its record keys.
async fn stored_blocks(
    tx: &mut sqlx::Transaction<'_, Db>,
    hashes: &[i64],
    max_block: usize,
) -> Result<Vec<(i64, i64, Vec<i64>)>> {
    Ok(sqlx::query_as(
        "SELECT key_hash, count(*), \
           CASE WHEN count(*) <= $2 THEN array_agg(record_key) ELSE '{}' END \
         FROM blocking_keys WHERE key_hash = ANY($1) GROUP BY key_hash",
    )
    .bind(hashes)
    .bind(max_block as i64)
    .fetch_all(&mut **tx)
    .await?)
}

/// Which of `sources` (source system, source record ID) are stored already, by pair (the
/// unique index on the pair answers).
async fn stored_sources(
    tx: &mut sqlx::Transaction<'_, Db>,
    sources: &[(&str, &str)],
) -> Result<Vec<(String, String)>> {
    let (systems, ids): (Vec<&str>, Vec<&str>) = sources.iter().copied().unzip();
    Ok(sqlx::query_as(
        "SELECT sr.source_system, sr.source_record_id \
         FROM UNNEST($1::TEXT[], $2::TEXT[]) AS wanted (source_system, source_record_id) \
         JOIN source_records sr ON sr.source_system = wanted.source_system \
           AND sr.source_record_id = wanted.source_record_id",
    )
    .bind(systems)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?)
}

/// Each record's child and current version, for `record_keys`.
async fn current_records(
    tx: &mut sqlx::Transaction<'_, Db>,
    record_keys: &[i64],
) -> Result<Vec<(i64, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT record_key, child_id, current_version FROM source_records \
         WHERE record_key = ANY($1)",
    )
    .bind(record_keys)
    .fetch_all(&mut **tx)
    .await?)
}
/// The stored blocking keys (key hash, record key) of a page of records that
/// [`linking::refresh_blocking_keys`] keys again.
async fn stored_blocking_keys(
    tx: &mut sqlx::Transaction<'_, Db>,
    record_keys: &[i64],
) -> Result<Vec<(i64, i64)>> {
    Ok(
        sqlx::query_as("SELECT key_hash, record_key FROM blocking_keys WHERE record_key = ANY($1)")
            .bind(record_keys)
            .fetch_all(&mut **tx)
            .await?,
    )
}

/// Deletes blocking-key rows (key hash, record key).
async fn delete_blocking_keys(
    tx: &mut sqlx::Transaction<'_, Db>,
    rows: &[(i64, i64)],
) -> Result<()> {
    let (hashes, record_keys): (Vec<i64>, Vec<i64>) = rows.iter().copied().unzip();
    sqlx::query(
        "DELETE FROM blocking_keys b USING UNNEST($1::BIGINT[], $2::BIGINT[]) AS d (key_hash, record_key) \
         WHERE b.key_hash = d.key_hash AND b.record_key = d.record_key",
    )
    .bind(hashes)
    .bind(record_keys)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a page of re-keyed records as keyed for model `version`; a record stored without
/// match fields gets those of an empty child, which its keys were computed from.
async fn mark_keyed(
    tx: &mut sqlx::Transaction<'_, Db>,
    record_keys: &[i64],
    version: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE source_records SET blocking_model_version = $2, \
         match_child = COALESCE(match_child, $3) WHERE record_key = ANY($1)",
    )
    .bind(record_keys)
    .bind(version)
    .bind(sqlx::types::Json(crate::model::ChildData::default()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

const CONNECTIONS: u32 = 32;
/// Registration batches committed at once: a registration is mostly round trips to the
/// server, which several connections overlap.
const COMMITTERS: usize = 4;

pub struct PostgresStore {
    write: PgPool,
    read: PgPool,
    writer: tokio::sync::mpsc::Sender<engine::WriteJob>,
    auditor: tokio::sync::mpsc::Sender<access::AuditJob>,
    matcher: linking::MatcherCell,
    /// Stored records prepared for comparison, kept between import chunks.
    prepared: std::sync::Arc<super::prepared::PreparedCache>,
    /// An import's next chunk scored while the one before is written.
    pipeline: imports::ImportPipeline,
}

impl PostgresStore {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &super::StoreOptions::default()).await
    }

    /// [`PostgresStore::connect`] with options.
    pub async fn connect_with(url: &str, store_options: &super::StoreOptions) -> Result<Self> {
        // Plan each statement for its actual parameters and the tables' current size. A generic
        // plan cached while a registry is young (tables nearly empty) would keep scanning whole
        // tables for blocking-key look-ups once they hold millions of rows.
        let options =
            PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let matcher = std::sync::Arc::new(linking::load_active_matcher(&pool).await?);
        linking::refresh_blocking_keys(&pool, &pool, &matcher).await?;
        let matcher = std::sync::Arc::new(std::sync::RwLock::new(matcher));
        let prepared = std::sync::Arc::new(super::prepared::PreparedCache::new(
            store_options.prepared_records,
        ));
        Ok(PostgresStore {
            read: pool.clone(),
            writer: engine::spawn_group_committer(
                pool.clone(),
                matcher.clone(),
                std::sync::Arc::clone(&prepared),
                COMMITTERS,
            ),
            auditor: access::spawn_audit_committer(pool.clone()),
            write: pool,
            matcher,
            prepared,
            pipeline: imports::ImportPipeline::default(),
        })
    }

    /// Reads and writes share one pool.
    fn pools(&self) -> Vec<(&'static str, &PgPool)> {
        vec![("shared", &self.write)]
    }
}

/// An empty database with a random name on a PostgreSQL server: each test and benchmark run
/// gets a registry of its own.
pub struct ScratchDatabase {
    /// The URL to open the scratch database with.
    pub url: String,
    name: String,
    base_url: String,
}

impl ScratchDatabase {
    /// Creates the database on the server of `base_url`.
    pub async fn create(base_url: &str) -> Result<Self> {
        Self::create_as(base_url, "").await
    }

    /// A copy of the database `template` on the same server, copied file by file (fast for a
    /// large registry; nothing may be connected to `template` meanwhile). Benchmarks load a
    /// registry once and measure on copies of it.
    pub async fn copy_of(base_url: &str, template: &str) -> Result<Self> {
        Self::create_as(
            base_url,
            &format!(" TEMPLATE {template} STRATEGY FILE_COPY"),
        )
        .await
    }

    /// `CREATE DATABASE` of a new random name, with `options` after the name.
    async fn create_as(base_url: &str, options: &str) -> Result<Self> {
        let name = format!("child_registry_scratch_{:016x}", rand::random::<u64>());
        run_on_server(base_url, &format!("CREATE DATABASE {name}{options}")).await?;
        Ok(ScratchDatabase {
            url: url_with_database(base_url, &name),
            name,
            base_url: base_url.to_owned(),
        })
    }

    /// Drops the database, closing any connection still open to it.
    pub async fn drop_database(&self) -> Result<()> {
        run_on_server(
            &self.base_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await
    }
}

/// Runs one statement that cannot run inside a transaction (`CREATE/DROP DATABASE`).
async fn run_on_server(base_url: &str, statement: &str) -> Result<()> {
    let mut connection = PgConnectOptions::from_str(base_url)?.connect().await?;
    sqlx::query(statement).execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

/// `base_url` with its database name replaced, query parameters (e.g. `sslmode`) kept.
pub fn url_with_database(base_url: &str, database: &str) -> String {
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

//! The embedded backend: one SQLite file, WAL journal, `synchronous=FULL` so an acknowledged
//! write survives power loss, one writer connection and a pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::SqlitePool;

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

type Db = sqlx::Sqlite;
type Backend = SqliteStore;

const BACKEND_NAME: &str = "sqlite";
/// SQLite has one writer at a time (our single write connection), so rows need no lock.
const LOCK_RECORD_ROW: &str = "";
/// The month (`YYYY-MM`, UTC) of `c.created_at`.
const MONTH_CREATED: &str = "substr(c.created_at, 1, 7)";
const LOCK_ROWS: &str = "";

/// One writer connection already serialises every registration.
async fn lock_match_keys(_tx: &mut sqlx::Transaction<'_, Db>, _keys: &[i64]) -> Result<()> {
    Ok(())
}
/// Likewise nothing to take: SQLite's one writer already excludes every other transaction.
async fn lock_all_matching(_tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
    Ok(())
}
/// SQLite plans its look-ups from the indexes alone (no statistics are kept without ANALYZE),
/// so a growing table changes no plan.
async fn refresh_planner_statistics(_pool: &sqlx::Pool<Db>) -> Result<()> {
    Ok(())
}
/// SQLite keeps no visibility map nor statistics: a loaded registry needs nothing more.
async fn settle_after_bulk_load(_pool: &sqlx::Pool<Db>) -> Result<()> {
    Ok(())
}
/// What an insert of `source_records` with reserved record keys says before `VALUES`: nothing,
/// SQLite takes an explicit `INTEGER PRIMARY KEY`.
const RESERVED_KEY_INSERT: &str = "";
/// `count` record keys for new source records, taken after the largest stored one (the key
/// SQLite would have chosen): the one writer holds the database until this transaction ends.
async fn reserve_record_keys(tx: &mut sqlx::Transaction<'_, Db>, count: usize) -> Result<Vec<i64>> {
    let largest: i64 =
        sqlx::query_scalar("SELECT coalesce(max(record_key), 0) FROM source_records")
            .fetch_one(&mut **tx)
            .await?;
    Ok((1..=count as i64).map(|offset| largest + offset).collect())
}
/// A write transaction, holding SQLite's write lock from its first statement. Within one
/// process the single write connection already orders writers; but a command run beside a
/// server (`rescore --apply`, `import`, `clients create`) is another process on the same file,
/// and a transaction begun the default way reads first and takes the lock only at its first
/// write: if the other process committed in between, SQLite refuses to make the stale reader a
/// writer ("database is locked") instead of waiting, and a registration or re-keying fails.
/// Taken at `BEGIN`, the lock is waited for (the busy timeout) and every read sees the latest
/// commit, which is what "the one writer" the engine assumes means.
async fn begin_write(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, Db>> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}
/// A read transaction: in WAL mode its first read fixes the snapshot every later one sees.
async fn begin_snapshot(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, Db>> {
    Ok(pool.begin().await?)
}
/// SQLite sorts and groups in its page cache; an import chunk needs no other setting.
async fn size_import_chunk(_tx: &mut sqlx::Transaction<'_, Db>) -> Result<()> {
    Ok(())
}
/// Inserts `(key_hash, record_key)` blocking-key rows in one statement, the rows passed as one
/// JSON array: a multi-row `VALUES` list is compiled anew for every length and bound a
/// parameter at a time, which cost an import more than SQLite's own B-tree work.
async fn insert_blocking_keys(
    tx: &mut sqlx::Transaction<'_, Db>,
    rows: &[(i64, i64)],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO blocking_keys (key_hash, record_key) \
         SELECT value ->> 0, value ->> 1 FROM json_each($1)",
    )
    .bind(Json(rows))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The stored blocks of `hashes`: each block's size and, when it holds at most `max_block`
/// records (larger ones are never compared), its record keys. The hashes go in as one JSON
/// array and the blocks come back as one JSON document: sqlx hands each result row from
/// SQLite's thread to the caller's one at a time, and a chunk's blocks are hundreds of
/// thousands of rows.
async fn stored_blocks(
    tx: &mut sqlx::Transaction<'_, Db>,
    hashes: &[i64],
    max_block: usize,
) -> Result<Vec<(i64, i64, Vec<i64>)>> {
    let blocks: Json<Vec<(i64, i64, Vec<i64>)>> = sqlx::query_scalar(
        "SELECT json_group_array(json_array(key_hash, size, json(record_keys))) FROM ( \
           SELECT key_hash, count(*) AS size, \
             CASE WHEN count(*) <= $2 THEN json_group_array(record_key) ELSE '[]' END \
               AS record_keys \
           FROM blocking_keys WHERE key_hash IN (SELECT value FROM json_each($1)) \
           GROUP BY key_hash)",
    )
    .bind(Json(hashes))
    .bind(max_block as i64)
    .fetch_one(&mut **tx)
    .await?;
    Ok(blocks.0)
}

/// Each record's child and current version, for `record_keys` (one JSON array in, one JSON
/// document out, as [`stored_blocks`]). From the narrow index that holds just these columns:
/// SQLite would look each key up in the table itself, a leaf page of wide rows per record
/// (twice as slow at a million records).
async fn current_records(
    tx: &mut sqlx::Transaction<'_, Db>,
    record_keys: &[i64],
) -> Result<Vec<(i64, String, i64)>> {
    let records: Json<Vec<(i64, String, i64)>> = sqlx::query_scalar(
        "SELECT json_group_array(json_array(record_key, child_id, current_version)) \
         FROM source_records INDEXED BY source_records_current \
         WHERE record_key IN (SELECT value FROM json_each($1))",
    )
    .bind(Json(record_keys))
    .fetch_one(&mut **tx)
    .await?;
    Ok(records.0)
}

/// Which of `sources` (source system, source record ID) are stored already. By pair, so that
/// the unique index on the pair answers (by record ID alone, SQLite scanned the whole table).
async fn stored_sources(
    tx: &mut sqlx::Transaction<'_, Db>,
    sources: &[(&str, &str)],
) -> Result<Vec<(String, String)>> {
    let found: Json<Vec<(String, String)>> = sqlx::query_scalar(
        "SELECT json_group_array(json_array(sr.source_system, sr.source_record_id)) \
         FROM json_each($1) AS wanted CROSS JOIN source_records sr \
         ON sr.source_system = wanted.value ->> 0 AND sr.source_record_id = wanted.value ->> 1",
    )
    .bind(Json(sources))
    .fetch_one(&mut **tx)
    .await?;
    Ok(found.0)
}
/// The stored blocking keys (key hash, record key) of a page of records that
/// [`linking::refresh_blocking_keys`] keys again, as one JSON document (see [`stored_blocks`]).
async fn stored_blocking_keys(
    tx: &mut sqlx::Transaction<'_, Db>,
    record_keys: &[i64],
) -> Result<Vec<(i64, i64)>> {
    let rows: Json<Vec<(i64, i64)>> = sqlx::query_scalar(
        "SELECT json_group_array(json_array(key_hash, record_key)) FROM blocking_keys \
         WHERE record_key IN (SELECT value FROM json_each($1))",
    )
    .bind(Json(record_keys))
    .fetch_one(&mut **tx)
    .await?;
    Ok(rows.0)
}

/// Deletes blocking-key rows (key hash, record key).
async fn delete_blocking_keys(
    tx: &mut sqlx::Transaction<'_, Db>,
    rows: &[(i64, i64)],
) -> Result<()> {
    sqlx::query(
        "DELETE FROM blocking_keys WHERE (key_hash, record_key) IN \
         (SELECT value ->> 0, value ->> 1 FROM json_each($1))",
    )
    .bind(Json(rows))
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
         match_child = COALESCE(match_child, $3) \
         WHERE record_key IN (SELECT value FROM json_each($1))",
    )
    .bind(Json(record_keys))
    .bind(version)
    .bind(Json(crate::model::ChildData::default()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

const READERS: u32 = 8;

/// How much of the database file each read connection maps into memory.
const READ_MMAP_BYTES: u64 = 2 << 30;

pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    writer: tokio::sync::mpsc::Sender<engine::WriteJob>,
    auditor: tokio::sync::mpsc::Sender<access::AuditJob>,
    matcher: linking::MatcherCell,
    /// Stored records prepared for comparison, kept between import chunks.
    prepared: std::sync::Arc<super::prepared::PreparedCache>,
    /// An import's next chunk scored while the one before is written.
    pipeline: imports::ImportPipeline,
    _checkpointer: Checkpointer,
}

/// Log pages after which the writer checkpoints by itself (512 MiB): only when the
/// checkpointer falls behind.
const WRITER_CHECKPOINT_PAGES: u32 = 131_072;

/// How often the checkpointer copies the log back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the write-ahead log back into the database file on its own connection, beside the
/// writer. When the writer did it (every 128 MiB of log), the commit that crossed the mark
/// waited for the copy and its `fsync`: every registration in that group commit waited with
/// it. A passive checkpoint takes no lock the writer needs; the log starts over once a
/// checkpoint has copied all of it and no reader still needs it.
struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

impl Checkpointer {
    async fn start(options: SqliteConnectOptions) -> Result<Self> {
        use sqlx::ConnectOptions;
        // A checkpoint after a bulk load copies hundreds of megabytes: more than the second
        // after which sqlx warns of a slow statement, and nobody waits for it.
        let mut connection = options
            .log_slow_statements(tracing::log::LevelFilter::Debug, Duration::from_secs(1))
            .connect()
            .await?;
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&mut connection)
                    .await
                {
                    // The writer's own checkpoints stand in until the next tick.
                    tracing::warn!(%error, "a background checkpoint failed");
                }
            }
        });
        Ok(Checkpointer { task })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &super::StoreOptions::default()).await
    }

    /// [`SqliteStore::open`] with options.
    pub async fn open_with(path: &Path, store_options: &super::StoreOptions) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // A registration runs in a savepoint; its sub-journal stays in memory instead of a
            // temporary file written for every batch (durability is the WAL's, not this).
            .pragma("temp_store", "memory");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            // The one connection is a local file's: nothing to check before each transaction.
            .test_before_acquire(false)
            // 64 MiB of page cache for the one writer (SQLite's default is 2 MiB): the
            // blocking-key and source-record indexes it walks for every registration stay hot.
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-65536")
                    // The checkpointer below copies the log back into the database beside the
                    // writer; the writer checkpoints by itself only if the log outgrows it.
                    .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string()),
            )
            .await?;
        MIGRATOR.run(&write).await?;
        let checkpointer = Checkpointer::start(options.clone()).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(
                options
                    .read_only(true)
                    // Readers map the file instead of copying each page through `pread`: a
                    // million-child `reindex` spent a third of its CPU in the kernel doing
                    // that copy. SQLite caps the map at its compile-time limit (2 GiB); pages
                    // beyond it, and pages still in the WAL, are read as before.
                    .pragma("mmap_size", READ_MMAP_BYTES.to_string()),
            )
            .await?;
        let matcher = std::sync::Arc::new(linking::load_active_matcher(&write).await?);
        linking::refresh_blocking_keys(&read, &write, &matcher).await?;
        let matcher = std::sync::Arc::new(std::sync::RwLock::new(matcher));
        let prepared = std::sync::Arc::new(super::prepared::PreparedCache::new(
            store_options.prepared_records,
        ));
        let writer = engine::spawn_group_committer(
            write.clone(),
            matcher.clone(),
            std::sync::Arc::clone(&prepared),
            1,
        );
        let auditor = access::spawn_audit_committer(write.clone());
        Ok(SqliteStore {
            _checkpointer: checkpointer,
            auditor,
            write,
            read,
            writer,
            matcher,
            prepared,
            pipeline: imports::ImportPipeline::default(),
        })
    }

    /// The one writer connection and the readers, reported apart: a busy writer is the
    /// embedded backend's limit.
    fn pools(&self) -> Vec<(&'static str, &SqlitePool)> {
        vec![("writer", &self.write), ("readers", &self.read)]
    }
}

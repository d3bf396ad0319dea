//! Online backup and restore of the registry's database.
//!
//! - SQLite: `VACUUM INTO` writes a consistent, compacted copy from one read transaction while
//!   the server keeps writing (WAL readers never block the writer). The copy is written beside
//!   the target under a temporary name, synced, then renamed, so a crash never leaves half a
//!   backup under the final name.
//! - PostgreSQL: `pg_dump --format=custom` (one repeatable-read snapshot, no write locks) and
//!   `pg_restore` in one transaction.
//!
//! The audit log's key is not in a backup (keep the two apart); restore the key file with
//! the database, or `audit verify` fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

/// Which database a backup is taken from or restored into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded database file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0} already exists; choose another file (a backup never overwrites one)")]
    TargetExists(PathBuf),
    #[error("the target database already holds a registry ({children} children); restore with --force to replace it")]
    NotEmpty { children: i64 },
    #[error("{0} is not a usable SQLite backup: {1}")]
    NotABackup(PathBuf, String),
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        tool: &'static str,
        status: String,
        stderr: String,
    },
    #[error("cannot run {tool} (is the PostgreSQL client installed?): {source}")]
    ToolMissing {
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a backup of `database` to `to`, which must not exist. Safe while the registry
/// serves. Returns the backup's size in bytes.
pub async fn backup(database: &Database, to: &Path) -> Result<u64, BackupError> {
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_owned()));
    }
    let partial = partial_path(to);
    // A partial file from an earlier crash is ours to replace.
    let _ = std::fs::remove_file(&partial);
    match database {
        Database::Sqlite(path) => sqlite_backup(path, &partial).await?,
        Database::Postgres(url) => {
            let partial_name = partial.display().to_string();
            run_pg_tool(
                "pg_dump",
                url,
                &["--format=custom", "--no-owner", "--file", &partial_name],
            )
            .await?
        }
    }
    sync_file(&partial)?;
    std::fs::rename(&partial, to).map_err(io_error(to))?;
    sync_parent(to)?;
    Ok(std::fs::metadata(to).map_err(io_error(to))?.len())
}

/// Loads the backup `from` into `database`. Refuses a database already holding a registry
/// unless `force`, which replaces it entirely. The server must be stopped.
pub async fn restore(database: &Database, from: &Path, force: bool) -> Result<(), BackupError> {
    std::fs::metadata(from).map_err(io_error(from))?;
    match database {
        Database::Sqlite(path) => sqlite_restore(path, from, force).await,
        Database::Postgres(url) => postgres_restore(url, from, force).await,
    }
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    to.with_file_name(name)
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(io_error(path))
}

/// Makes a rename durable: the directory entry is synced too.
fn sync_parent(path: &Path) -> Result<(), BackupError> {
    match path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        Some(parent) => sync_file(parent),
        None => sync_file(Path::new(".")),
    }
}

async fn sqlite_connection(
    path: &Path,
    create: bool,
) -> Result<sqlx::SqliteConnection, BackupError> {
    Ok(SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await?)
}

async fn sqlite_backup(path: &Path, to: &Path) -> Result<(), BackupError> {
    let mut connection = sqlite_connection(path, false).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(to.display().to_string())
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

/// Children in a SQLite file, `None` when it holds no registry (no `children` table).
async fn sqlite_children(
    connection: &mut sqlx::SqliteConnection,
) -> Result<Option<i64>, BackupError> {
    let has_table: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'children'",
    )
    .fetch_optional(&mut *connection)
    .await?;
    if has_table.is_none() {
        return Ok(None);
    }
    Ok(Some(
        sqlx::query_scalar("SELECT COUNT(*) FROM children")
            .fetch_one(&mut *connection)
            .await?,
    ))
}

async fn sqlite_restore(path: &Path, from: &Path, force: bool) -> Result<(), BackupError> {
    // The backup must be an intact registry before anything is replaced.
    let mut source = sqlite_connection(from, false).await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut source)
        .await?;
    if check != "ok" {
        return Err(BackupError::NotABackup(from.to_owned(), check));
    }
    if sqlite_children(&mut source).await?.is_none() {
        return Err(BackupError::NotABackup(
            from.to_owned(),
            "it holds no registry".to_owned(),
        ));
    }
    source.close().await?;
    if path.exists() && !force {
        let mut target = sqlite_connection(path, false).await?;
        let children = sqlite_children(&mut target).await?;
        target.close().await?;
        if let Some(children) = children.filter(|count| *count > 0) {
            return Err(BackupError::NotEmpty { children });
        }
    }
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let partial = partial_path(path);
    std::fs::copy(from, &partial).map_err(io_error(&partial))?;
    sync_file(&partial)?;
    // The old database's write-ahead log belongs to the old file: it must not be replayed
    // into the restored one.
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(&name)) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(BackupError::Io {
                    path: PathBuf::from(name),
                    source,
                })
            }
        }
    }
    std::fs::rename(&partial, path).map_err(io_error(path))?;
    sync_parent(path)?;
    Ok(())
}

async fn postgres_restore(url: &str, from: &Path, force: bool) -> Result<(), BackupError> {
    let mut connection = sqlx::postgres::PgConnectOptions::from_str(url)?
        .connect()
        .await?;
    let has_table: Option<String> =
        sqlx::query_scalar("SELECT CAST(to_regclass('public.children') AS TEXT)")
            .fetch_one(&mut connection)
            .await?;
    if has_table.is_some() {
        let children: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM children")
            .fetch_one(&mut connection)
            .await?;
        if !force && children > 0 {
            return Err(BackupError::NotEmpty { children });
        }
        // The dump recreates every table, sequence and index of the schema; an empty or
        // replaced registry's own objects would collide with them.
        sqlx::query("DROP SCHEMA public CASCADE")
            .execute(&mut connection)
            .await?;
        sqlx::query("CREATE SCHEMA public")
            .execute(&mut connection)
            .await?;
    }
    connection.close().await?;
    let from_name = from.display().to_string();
    run_pg_tool(
        "pg_restore",
        url,
        &[
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            &from_name,
        ],
    )
    .await
}

/// Runs `pg_dump` or `pg_restore` against `url`. The password travels in `PGPASSWORD`, never
/// on the command line where other local users could read it.
async fn run_pg_tool(tool: &'static str, url: &str, args: &[&str]) -> Result<(), BackupError> {
    let (url, password) = split_password(url);
    let mut command = tokio::process::Command::new(tool);
    command
        .arg("--dbname")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .output()
        .await
        .map_err(|source| BackupError::ToolMissing { tool, source })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool {
            tool,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// `postgres://user:secret@host/db` → (`postgres://user@host/db`, `secret`), percent-escapes
/// in the password decoded.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_owned(), None);
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let Some((user, password)) = credentials.split_once(':') else {
        return (url.to_owned(), None);
    };
    let stripped = format!(
        "{}{user}@{host}{}",
        &url[..scheme_end],
        &url[authority_end..]
    );
    (stripped, Some(percent_decode(password)))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://registry:s%40cret@db:5432/registry?sslmode=require"),
            (
                "postgres://registry@db:5432/registry?sslmode=require".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1:5432/test"),
            ("postgres://postgres@127.0.0.1:5432/test".to_owned(), None)
        );
        assert_eq!(
            split_password("postgres://db/registry"),
            ("postgres://db/registry".to_owned(), None)
        );
    }

    #[test]
    fn partial_files_sit_beside_the_target() {
        assert_eq!(
            partial_path(Path::new("/backups/registry-2026.db")),
            PathBuf::from("/backups/registry-2026.db.partial")
        );
    }
}

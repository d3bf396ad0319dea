//! One process at a time owns a directory's writer-side state.
//!
//! `serve`, `demo`, `reindex` and `restore` own what must have one user: the embedded
//! database's writer (SQLite takes one at a time, and a server sends every registration through
//! its own group committer), the search index's one tantivy writer and its position in the
//! change feed, the demo's freshly printed credentials (a second demo would revoke them);
//! `restore` replaces the database file itself. Each holds an exclusive lock on `server.lock` in
//! the directory it owns for as long as it runs, and a second one stops before opening anything,
//! naming the directory and the holder's PID. Every other command (`clients`, `users`, `backup`,
//! `audit verify`, `import`, `migrate`, `train`, `rescore`, `indicators export`) only goes
//! through the database, whose own locking orders its writes with a server's, and runs beside a
//! server unlocked.
//!
//! The directory owned is the embedded database's (`--data-dir`, or the folder of a
//! `sqlite://` file). PostgreSQL is shared by any number of gateways; what a gateway owns alone
//! there is its search index directory, so that is the one locked.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows): it ends with
//! the process however the process ends, so a crash leaves nothing to clean up. The file stays
//! behind, holding the last owner's PID; it is not deleted, since a process that recreated it
//! while another held the old one would lock a different file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use registry::backup::Database;

use super::store_args::StoreArgs;

/// The lock file, in the directory it guards.
pub const LOCK_FILE: &str = "server.lock";

/// An exclusive hold on a directory, released when dropped or when the process ends.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// For `serve`, `demo` and `reindex`: the embedded database's directory, or with PostgreSQL
    /// `index_dir`.
    pub fn for_node(store: &StoreArgs, index_dir: &Path) -> anyhow::Result<Self> {
        match store.database()? {
            Database::Sqlite(file) => Self::acquire(&parent_dir(&file), "data directory"),
            Database::Postgres(_) => Self::acquire(index_dir, "search index directory"),
        }
    }

    /// For `restore`: the embedded database's directory. Nothing with PostgreSQL, whose
    /// servers may run on other machines: stopping them is the operator's part.
    pub fn for_database(store: &StoreArgs) -> anyhow::Result<Option<Self>> {
        match store.database()? {
            Database::Sqlite(file) => Self::acquire(&parent_dir(&file), "data directory").map(Some),
            Database::Postgres(_) => Ok(None),
        }
    }

    /// Locks `dir` (created if missing; `what` names it in messages) or fails at once if
    /// another process holds it.
    pub fn acquire(dir: &Path, what: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the {what} {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        // Not truncated on opening: until the lock is ours, the PID in the file is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder_pid(&mut file)
                    .map_or_else(|| "PID unknown".to_owned(), |pid| format!("PID {pid}"));
                anyhow::bail!(
                    "the {what} {} is in use by another child-registry process ({holder}, \
                     holding {}): only one serve, demo, reindex or restore may use it at a time; \
                     stop that process first, or give this one another directory",
                    dir.display(),
                    path.display()
                );
            }
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(InstanceLock { _file: file })
    }
}

/// The PID a holder wrote, if it has written it yet.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The directory of a database file (`registry.db` is `--data-dir`'s).
fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = InstanceLock::acquire(&data, "data directory").unwrap();
        let pid = std::fs::read_to_string(data.join(LOCK_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());

        // `flock` locks belong to an open file, so a second open in this process is refused
        // like another process would be.
        let refused = InstanceLock::acquire(&data, "data directory")
            .unwrap_err()
            .to_string();
        assert!(refused.contains(&data.display().to_string()), "{refused}");
        assert!(
            refused.contains(&format!(
                "another child-registry process (PID {}",
                std::process::id()
            )),
            "{refused}"
        );
        assert_eq!(
            std::fs::read_to_string(data.join(LOCK_FILE)).unwrap(),
            pid,
            "a refused process leaves the holder's PID"
        );

        drop(first);
        InstanceLock::acquire(&data, "data directory").unwrap();
    }

    #[test]
    fn the_embedded_database_locks_its_directory_and_postgres_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index");
        let mut store = StoreArgs {
            data_dir: dir.path().join("data"),
            database_url: None,
            database_password_file: None,
            match_cache_records: 1,
        };
        let held = InstanceLock::for_node(&store, &index).unwrap();
        assert!(store.data_dir.join(LOCK_FILE).exists());
        assert!(InstanceLock::for_database(&store).is_err(), "restore waits");
        drop(held);

        store.database_url = Some("postgres://registry@db.invalid/registry".to_owned());
        let _node = InstanceLock::for_node(&store, &index).unwrap();
        assert!(index.join(LOCK_FILE).exists());
        assert!(
            InstanceLock::for_node(&store, &dir.path().join("other-index")).is_ok(),
            "another gateway on the same database, with its own index"
        );
        assert!(InstanceLock::for_database(&store).unwrap().is_none());
    }
}

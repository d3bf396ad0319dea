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
    /// A file holding the database password (a Docker or Kubernetes secret), used with
    /// --database-url in place of `PGPASSWORD`; one trailing newline is ignored.
    #[arg(
        long,
        env = "CHILD_REGISTRY_DATABASE_PASSWORD_FILE",
        requires = "database_url"
    )]
    pub database_password_file: Option<PathBuf>,
    /// Stored records kept prepared in memory for matching (about 1.3 KB each): a
    /// registration compares the arriving record with every stored record sharing a blocking
    /// key, and one not kept is read and prepared again. Size it to the registry's source
    /// records where memory allows.
    #[arg(
        long,
        env = "CHILD_REGISTRY_MATCH_CACHE_RECORDS",
        default_value_t = registry::store::DEFAULT_PREPARED_RECORDS
    )]
    pub match_cache_records: usize,
}

impl StoreArgs {
    /// Opens the store and applies pending migrations.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        let options = registry::store::StoreOptions {
            prepared_records: self.match_cache_records,
        };
        let store = match self.connection_url()? {
            Some(url) => registry::store::open_with(&url, &options).await?,
            None => registry::store::open_data_dir_with(&self.data_dir, &options).await?,
        };
        Ok(store)
    }

    /// `--database-url` with the password of `--database-password-file` put in (the URL's
    /// own password, if any, gives way to the file's).
    pub fn connection_url(&self) -> anyhow::Result<Option<String>> {
        let Some(url) = &self.database_url else {
            return Ok(None);
        };
        let Some(file) = &self.database_password_file else {
            return Ok(Some(url.clone()));
        };
        let contents = std::fs::read_to_string(file).map_err(|error| {
            anyhow::anyhow!(
                "cannot read the database password file {}: {error}",
                file.display()
            )
        })?;
        let password = contents
            .strip_suffix('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .unwrap_or(&contents);
        if password.is_empty() {
            anyhow::bail!("the database password file {} is empty", file.display());
        }
        let mut parsed = url::Url::parse(url)
            .map_err(|error| anyhow::anyhow!("--database-url is not a URL: {error}"))?;
        // `Url` leaves `%` as it is in a password (it takes it for an escape, and the driver
        // would decode it): every byte but letters and digits is escaped here first.
        let encoded =
            percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        if parsed.username().is_empty() || parsed.set_password(Some(&encoded)).is_err() {
            anyhow::bail!("--database-url names no user for the password file's password");
        }
        Ok(Some(parsed.into()))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn args(url: &str, password: Option<&str>, dir: &std::path::Path) -> StoreArgs {
        let database_password_file = password.map(|password| {
            let file = dir.join("db_password");
            std::fs::write(&file, password).unwrap();
            file
        });
        StoreArgs {
            data_dir: PathBuf::from("unused"),
            database_url: Some(url.to_owned()),
            database_password_file,
            match_cache_records: registry::store::DEFAULT_PREPARED_RECORDS,
        }
    }

    #[test]
    fn the_password_file_goes_into_the_url_percent_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let url = args(
            "postgres://registry@db:5432/registry?sslmode=require",
            Some("p@ss:w/rd %\n"),
            dir.path(),
        )
        .connection_url()
        .unwrap()
        .unwrap();
        assert_eq!(
            url,
            "postgres://registry:p%40ss%3Aw%2Frd%20%25@db:5432/registry?sslmode=require"
        );
    }

    #[test]
    fn without_a_password_file_the_url_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let url = "postgres://registry:inline@db/registry";
        assert_eq!(
            args(url, None, dir.path()).connection_url().unwrap(),
            Some(url.to_owned())
        );
    }

    #[test]
    fn an_empty_password_file_or_a_url_without_a_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = args("postgres://registry@db/registry", Some("\n"), dir.path());
        assert!(empty
            .connection_url()
            .unwrap_err()
            .to_string()
            .contains("is empty"));
        let no_user = args("postgres://db/registry", Some("secret"), dir.path());
        assert!(no_user
            .connection_url()
            .unwrap_err()
            .to_string()
            .contains("names no user"));
    }
}

//! Test helpers: start the real app on port 0 against a fresh SQLite directory or a fresh
//! PostgreSQL database, and talk HTTP to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod server;

use std::sync::Arc;

use gateway::{build_app, AppState};
use registry::clients::{NewClient, Role};
use registry::store::{self, postgres as pg};
use registry::Store;

/// A person [`TestApp::person`] creates.
pub struct Person<'a> {
    pub username: &'a str,
    pub role: Role,
    pub agency: Option<&'a str>,
    pub district: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn postgres_base_url() -> String {
    std::env::var("CHILD_REGISTRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, migrated registry: a temporary SQLite directory or a scratch PostgreSQL database.
pub struct TestDatabase {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database; `None` means SQLite in `dir`.
    pub scratch: Option<pg::ScratchDatabase>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let scratch = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                pg::ScratchDatabase::create(&postgres_base_url())
                    .await
                    .expect("PostgreSQL must be reachable at CHILD_REGISTRY_TEST_DATABASE_URL"),
            ),
        };
        TestDatabase {
            backend,
            dir,
            scratch,
        }
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        match &self.scratch {
            Some(scratch) => store::open(&scratch.url).await.unwrap(),
            None => store::open_data_dir(self.dir.path()).await.unwrap(),
        }
    }

    /// Flags for the binary: `--data-dir DIR`, and `--database-url URL` on PostgreSQL. The data
    /// directory is given on PostgreSQL too: files the binary keeps there (the audit key) must
    /// land in the test's temporary directory, not in the working directory.
    pub fn cli_flags(&self) -> Vec<String> {
        let mut flags = vec!["--data-dir".into(), self.dir.path().display().to_string()];
        if let Some(scratch) = &self.scratch {
            flags.extend(["--database-url".into(), scratch.url.clone()]);
        }
        flags
    }

    pub async fn drop_database(&self) {
        if let Some(scratch) = &self.scratch {
            scratch.drop_database().await.unwrap();
        }
    }
}

pub struct TestApp {
    pub url: String,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    pub database: TestDatabase,
    pub search: Arc<search::SearchIndex>,
    server: tokio::task::JoinHandle<()>,
    follower: tokio::task::JoinHandle<()>,
    totals_folder: tokio::task::JoinHandle<()>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |state| state).await
    }

    /// Starts the app with its state adjusted first (security settings, audit key).
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> Self {
        let database = TestDatabase::new(backend).await;
        let store = database.open().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (search, follower) = gateway::commands::reindex::start_search(
            store.clone(),
            &database.dir.path().join("search-index"),
        )
        .await
        .unwrap();
        let app = build_app(configure(
            AppState::new(store.clone()).with_search(search.clone()),
        ));
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let totals_folder = tokio::spawn(registry::counts::follow_forever(store.clone()));
        TestApp {
            url,
            store,
            http: reqwest::Client::new(),
            database,
            search,
            server,
            follower,
            totals_folder,
        }
    }

    /// Creates an API client and returns its key.
    pub async fn key(&self, role: Role, agency: Option<&str>) -> String {
        let (_, key) = self
            .store
            .create_client(NewClient {
                name: format!("test {role}"),
                agency: agency.map(str::to_owned),
                role,
                expires_at: None,
            })
            .await
            .unwrap();
        key
    }

    /// Creates a person who signs in with `password`, scoped to an agency or a district.
    pub async fn person(&self, new: Person<'_>, password: &'static str) {
        let password_hash =
            tokio::task::spawn_blocking(move || registry::users::hash_password(password))
                .await
                .unwrap()
                .unwrap();
        self.store
            .create_user(registry::users::NewUser {
                username: new.username.to_owned(),
                role: new.role,
                agency: new.agency.map(str::to_owned),
                district: new.district.map(str::to_owned),
                password_hash,
            })
            .await
            .unwrap();
    }

    pub async fn post_json(
        &self,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, key: &str) -> reqwest::Response {
        self.http
            .delete(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }

    pub async fn finish(self) {
        self.server.abort();
        self.follower.abort();
        self.totals_folder.abort();
        drop(self.store);
        self.database.drop_database().await;
    }
}

/// Stores a version of the active model with a wider review band than the bundled one's
/// narrow band (tuned for a small queue), so a plainly doubtful record is reviewed whatever the
/// bundled weights are. Not activated; returns its number.
pub async fn add_wider_review_band(store: &dyn Store) -> i64 {
    let mut spec = store.matcher(None).await.unwrap().model().spec().clone();
    spec.thresholds.review = 0.9;
    let wider = matching::Model::new(spec).unwrap().to_json().unwrap();
    store
        .add_model_version(&wider, "test", "wider review band")
        .await
        .unwrap()
}

/// Reads a problem+json response and checks its shape.
pub async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["code"].is_string() && body["type"].is_string() && body["title"].is_string());
    body
}

/// Instantiates each listed async test case for SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(super::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(super::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

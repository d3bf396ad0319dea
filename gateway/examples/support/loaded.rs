//! A registry of generated children, loaded, indexed and counted, with the people who use
//! it; kept in a directory so that a million children are loaded once and measured often.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use gateway::commands::demo::submission_from_generated;
use registry::audit::AuditKey;
use registry::clients::Role;
use registry::model::RecordSubmission;
use registry::users::{self, NewUser};
use registry::Store;

use super::Database;

/// The password of every person [`open_or_load`] creates: `official`, `steward`, `admin`.
pub const PASSWORD: &str = "page-timing-password-7";

/// Written into the kept directory once the registry is loaded, indexed and counted.
const LOADED_MARKER: &str = "ui-pages-loaded";

/// The generator's seed: the children and the names searched for come from it.
pub const SEED: u64 = 4711;

pub struct Loaded {
    pub store: Arc<dyn Store>,
    pub index: Arc<search::SearchIndex>,
    /// The key of the audit chain: a kept registry's own (`audit.key` in its directory, as
    /// `serve --data-dir` uses), so `audit verify` passes on it after any run; else random.
    pub audit_key: AuditKey,
    /// The scratch database, when nothing is kept.
    pub database: Option<Database>,
}

impl Loaded {
    /// The real router over this registry, with the rate limits out of the way: one official
    /// searching back to back, or many officials sharing one login, would pass them.
    pub fn unthrottled_app(&self) -> axum::Router {
        let unthrottled = gateway::session::SecurityConfig {
            requests_per_minute_per_credential: u32::MAX,
            requests_per_minute_per_address: u32::MAX,
            ..Default::default()
        };
        gateway::build_app(
            gateway::AppState::new(self.store.clone())
                .with_search(self.index.clone())
                .with_audit_key(self.audit_key.clone())
                .with_security(unthrottled),
        )
    }

    pub async fn finish(self) {
        drop(self.index);
        if let Some(database) = self.database {
            database.finish().await;
        }
    }
}

/// Where to load and how much.
pub struct Population<'a> {
    pub children: usize,
    /// Records of already loaded children registered with matching (they fill the queue).
    pub duplicates: usize,
    pub backend: &'a str,
    pub postgres_url: &'a str,
    /// The embedded registry and its index live here; one loaded by an earlier run with the
    /// same directory is measured again without loading.
    pub keep: Option<&'a Path>,
}

/// Logs a person in and returns the session cookie to send.
pub async fn session_cookie(http: &reqwest::Client, base: &str, username: &str) -> String {
    let response = http
        .post(format!("{base}/v1/session"))
        .json(&serde_json::json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "login {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("cr_session="))
        .unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// `count` searches as an official types them: the names and birth date of generated records
/// of the same population [`open_or_load`] loads `children` from, spread evenly over it (every
/// child searched for is in the registry, under one spelling or another).
pub fn search_queries(children: usize, count: usize) -> Vec<String> {
    let generated = synthetic::generate(&synthetic::GeneratorConfig {
        records: children * 2,
        seed: SEED,
        ..Default::default()
    })
    .records;
    let step = (generated.len() / count).max(1);
    generated
        .iter()
        .step_by(step)
        .take(count)
        .map(|record| {
            [&record.given_name, &record.family_name]
                .into_iter()
                .flatten()
                .cloned()
                .chain(record.date_of_birth.map(|date| date.to_string()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The registry kept in `population.keep` if an earlier run loaded it, else a new one.
pub async fn open_or_load(population: &Population<'_>) -> Loaded {
    if let Some(dir) = population
        .keep
        .filter(|dir| dir.join(LOADED_MARKER).exists())
    {
        let (store, index) = open_kept(dir).await;
        // An index of another schema was cleared on opening: rebuilt, not replayed.
        search::follower::rebuild_if_empty(&store, &index)
            .await
            .unwrap();
        search::follower::catch_up(store.as_ref(), &index, 2000)
            .await
            .unwrap();
        eprintln!(
            "measuring the registry kept in {} ({} children indexed)",
            dir.display(),
            index.num_children()
        );
        return Loaded {
            store,
            index,
            audit_key: kept_audit_key(dir),
            database: None,
        };
    }
    load(population).await
}

fn kept_audit_key(dir: &Path) -> AuditKey {
    AuditKey::load_or_create(&dir.join("audit.key")).unwrap()
}

/// The embedded registry in `dir` and its index beside it, as `serve --data-dir` keeps them.
async fn open_kept(dir: &Path) -> (Arc<dyn Store>, Arc<search::SearchIndex>) {
    let store = registry::store::open_data_dir(dir).await.unwrap();
    let index = search::SearchIndex::open(&dir.join("search-index")).unwrap();
    (store, index)
}

/// Loads `children` distinct children and `duplicates` further records, indexes them, folds
/// the dashboard totals and creates the people; into `keep` when given.
async fn load(population: &Population<'_>) -> Loaded {
    let generated = synthetic::generate(&synthetic::GeneratorConfig {
        records: population.children * 2,
        seed: SEED,
        ..Default::default()
    })
    .records;
    let today = chrono::Utc::now().date_naive();
    let mut seen = HashSet::new();
    let mut load = Vec::with_capacity(population.children);
    let mut duplicates: Vec<RecordSubmission> = Vec::new();
    for record in &generated {
        if load.len() < population.children && seen.insert(record.cluster_id) {
            load.push(
                submission_from_generated(record)
                    .unwrap()
                    .validate(today)
                    .unwrap(),
            );
        } else if seen.contains(&record.cluster_id) && duplicates.len() < population.duplicates {
            duplicates.push(submission_from_generated(record).unwrap());
        }
    }
    let (store, database, index) = match population.keep {
        Some(dir) => {
            let (store, index) = open_kept(dir).await;
            (store, None, index)
        }
        None => {
            let database = Database::fresh(population.backend, population.postgres_url).await;
            (
                database.store.clone(),
                Some(database),
                search::SearchIndex::in_ram().unwrap(),
            )
        }
    };
    let started = Instant::now();
    store.bulk_load(load, "bulk").await.unwrap();
    eprintln!("bulk load: {:.0} s", started.elapsed().as_secs_f64());
    for submission in duplicates {
        let valid = submission.validate(today).unwrap();
        store.register(valid, "page-timing").await.unwrap();
    }
    let started = Instant::now();
    search::follower::rebuild(
        &store,
        &index,
        search::follower::REBUILD_READERS,
        search::follower::REBUILD_PAGE,
    )
    .await
    .unwrap();
    eprintln!("index: {:.0} s", started.elapsed().as_secs_f64());
    // The dashboard's running totals, folded from the whole change feed as a deployment
    // upgrading to them does once.
    let started = Instant::now();
    let folded = registry::counts::catch_up(store.as_ref()).await.unwrap();
    eprintln!(
        "dashboard totals: {folded} changes folded in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let hash = users::hash_password(PASSWORD).unwrap();
    for (username, role) in [
        ("official", Role::NationalOfficial),
        ("steward", Role::DataSteward),
        ("admin", Role::Admin),
    ] {
        store
            .create_user(NewUser {
                username: username.to_owned(),
                role,
                agency: None,
                district: None,
                password_hash: hash.clone(),
            })
            .await
            .unwrap();
    }
    if let Some(dir) = population.keep {
        std::fs::write(
            dir.join(LOADED_MARKER),
            format!("{}\n", population.children),
        )
        .unwrap();
    }
    Loaded {
        store,
        index,
        audit_key: population
            .keep
            .map_or_else(AuditKey::random, kept_audit_key),
        database,
    }
}

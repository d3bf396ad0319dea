//! `child-registry demo`: a registry with seeded synthetic Ugandan and Cambodian children,
//! several agencies and years of timeline events, plus ready-to-use credentials.

use std::net::SocketAddr;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use registry::clients::{NewClient, Role};
use registry::model::RecordSubmission;
use registry::users::{self, NewUser};
use synthetic::{GeneratedRecord, GeneratorConfig};

use super::instance_lock::InstanceLock;
use super::reindex::start_search;
use super::serve::{serve, BackgroundTasks, Shutdown};
use super::store_args::{block_on, StoreArgs};
use crate::AppState;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory of the demo's embedded SQLite database.
    #[arg(
        long,
        env = "CHILD_REGISTRY_DEMO_DATA_DIR",
        default_value = "demo-data"
    )]
    pub data_dir: PathBuf,
    /// Use this database instead (e.g. a scratch PostgreSQL database).
    #[arg(long, env = "CHILD_REGISTRY_DEMO_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Address and port to listen on.
    #[arg(long, env = "CHILD_REGISTRY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Source records to generate into an empty registry.
    #[arg(long, env = "CHILD_REGISTRY_DEMO_RECORDS", default_value_t = 3000)]
    pub records: usize,
    /// Seed of the generator: the same seed gives the same children.
    #[arg(long, env = "CHILD_REGISTRY_DEMO_SEED", default_value_t = 2026)]
    pub seed: u64,
    /// Load the data and print credentials, then exit instead of serving.
    #[arg(long, env = "CHILD_REGISTRY_DEMO_NO_SERVE")]
    pub no_serve: bool,
}

/// The `/v1/records` body an agency system would send for a generated record.
pub fn submission_from_generated(record: &GeneratedRecord) -> anyhow::Result<RecordSubmission> {
    Ok(serde_json::from_value(record.api_body())?)
}

const DEMO_CLIENT_PREFIX: &str = "demo: ";

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let store_args = StoreArgs {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        database_password_file: None,
        match_cache_records: registry::store::DEFAULT_PREPARED_RECORDS,
    };
    let index_dir = args.data_dir.join("search-index");
    // Even with --no-serve: loading the data and drawing new credentials (which revokes the
    // ones a running demo printed) wait until no demo or server uses the directory.
    let _lock = InstanceLock::for_node(&store_args, &index_dir)?;
    block_on(async move {
        let store = store_args.open().await?;

        if store.outbox_head().await? == 0 {
            eprintln!(
                "generating {} synthetic records (seed {}) …",
                args.records, args.seed
            );
            let config = GeneratorConfig {
                seed: args.seed,
                records: args.records,
                ..GeneratorConfig::default()
            };
            let dataset = tokio::task::spawn_blocking(move || synthetic::generate(&config)).await?;
            let progress = ProgressBar::new(dataset.records.len() as u64).with_style(
                ProgressStyle::with_template(
                    "registering {bar:40} {pos}/{len} records ({per_sec}, {eta} left)",
                )?,
            );
            let today = chrono::Utc::now().date_naive();
            for record in &dataset.records {
                let valid = submission_from_generated(record)?.validate(today)?;
                store.register(valid, "demo-loader").await?;
                progress.inc(1);
            }
            progress.finish_and_clear();
        } else {
            eprintln!("using the demo data already in {}", store_args.describe());
        }

        // Fresh keys every run: keys are stored hashed, so old ones cannot be shown again.
        for client in store.list_clients().await? {
            if client.name.starts_with(DEMO_CLIENT_PREFIX) && client.revoked_at.is_none() {
                store.revoke_client(&client.client_id).await?;
            }
        }
        let mut credentials = Vec::new();
        for (role, name) in [
            (Role::NationalOfficial, "national official"),
            (Role::DataSteward, "data steward"),
        ] {
            let (client, key) = store
                .create_client(NewClient {
                    name: format!("{DEMO_CLIENT_PREFIX}{name}"),
                    agency: None,
                    role,
                    expires_at: Some(chrono::Utc::now() + chrono::Duration::days(30)),
                })
                .await?;
            credentials.push((client.role.to_string(), "-".to_owned(), key));
        }
        let agencies = store.source_systems().await?;
        for agency in agencies {
            let (_, key) = store
                .create_client(NewClient {
                    name: format!("{DEMO_CLIENT_PREFIX}{agency}"),
                    agency: Some(agency.clone()),
                    role: Role::Agency,
                    expires_at: Some(chrono::Utc::now() + chrono::Duration::days(30)),
                })
                .await?;
            credentials.push(("agency".to_owned(), agency, key));
        }

        let people = demo_people(store.as_ref()).await?;

        let sample_child = store
            .outbox_after(0, 1)
            .await?
            .first()
            .map(|entry| entry.child_id.to_string());
        let print_credentials = |url: &str| {
            println!();
            println!(
                "Child registry demo ({}), API at {url}",
                store_args.describe()
            );
            println!("Web UI: {url}/ (log in as one of these people; passwords are new each run)");
            for person in &people {
                let agency = person
                    .agency
                    .as_ref()
                    .map(|agency| format!(" (staff of {agency})"))
                    .unwrap_or_default();
                println!(
                    "  person {:<20} {:<16} {}{agency}",
                    person.role, person.username, person.password
                );
            }
            println!("API keys (send as 'Authorization: Bearer <key>'):");
            for (role, agency, key) in &credentials {
                println!("  {role:<18} {agency:<12} {key}");
            }
            if let (Some(child), Some((_, _, official))) = (&sample_child, credentials.first()) {
                println!("Try:");
                println!("  curl -H 'Authorization: Bearer {official}' {url}/v1/children/{child}");
                println!("  curl -H 'Authorization: Bearer {official}' {url}/v1/children/{child}/timeline");
            }
            println!("API description: {url}/openapi.json");
        };
        if args.no_serve {
            print_credentials(&format!("http://{}", args.listen));
            return Ok(());
        }
        let (index, _follower) = start_search(store.clone(), &index_dir).await?;
        // The demo keeps its audit key beside its data, so `audit verify --data-dir` works.
        let audit_key =
            registry::audit::AuditKey::load_or_create(&args.data_dir.join("audit.key"))?;
        let state = AppState::new(store)
            .with_search(index)
            .with_audit_key(audit_key);
        let background = BackgroundTasks::start(&state)?;
        let shutdown = Shutdown::listen()?;
        serve(state, args.listen, None, shutdown, print_credentials).await?;
        background.stop();
        Ok(())
    })
}

/// A demo person and the password they log in with this run.
struct DemoPerson {
    role: Role,
    username: String,
    password: String,
    agency: Option<String>,
}

/// One person per kind of user of the web UI. Passwords are drawn fresh each run (and the
/// accounts unlocked), since only their digests are stored.
async fn demo_people(store: &dyn registry::Store) -> anyhow::Result<Vec<DemoPerson>> {
    let agencies = store.source_systems().await?;
    let school = agencies
        .iter()
        .find(|agency| agency.starts_with("school"))
        .cloned();
    let mut wanted = vec![
        (Role::NationalOfficial, "official", None, None),
        (Role::DataSteward, "steward", None, None),
        (Role::Admin, "admin", None, None),
        (Role::Auditor, "auditor", None, None),
    ];
    if let Some(school) = school {
        wanted.push((Role::Agency, "teacher", Some(school), None));
    }
    let mut people = Vec::new();
    for (role, username, agency, district) in wanted {
        let password = format!("demo-{}", &users::new_secret()[..16]);
        let hash = {
            let password = password.clone();
            tokio::task::spawn_blocking(move || users::hash_password(&password))
                .await?
                .map_err(|error| anyhow::anyhow!("hashing a demo password failed: {error}"))?
        };
        if store.set_user_password(username, &hash).await?.is_none() {
            store
                .create_user(NewUser {
                    username: username.to_owned(),
                    role,
                    agency: agency.clone(),
                    district,
                    password_hash: hash,
                })
                .await?;
        }
        people.push(DemoPerson {
            role,
            username: username.to_owned(),
            password,
            agency,
        });
    }
    Ok(people)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_record_is_a_valid_registration() {
        let config = GeneratorConfig {
            records: 3000,
            seed: 5,
            ..GeneratorConfig::default()
        };
        let today = config.reference_date;
        for record in synthetic::generate(&config).records {
            let submission = submission_from_generated(&record).unwrap();
            assert_eq!(submission.events.len(), record.events.len());
            assert_eq!(submission.child.identifiers.len(), record.identifiers.len());
            if let Err(invalid) = submission.validate(today) {
                panic!("{}: {invalid}", record.record_id);
            }
        }
    }
}

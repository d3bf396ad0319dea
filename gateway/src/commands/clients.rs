//! `child-registry clients create|revoke|list`: API clients for agency systems and officials.

use chrono::{Duration, Utc};
use registry::clients::{NewClient, Role};

use registry::audit::AuditAction;

use super::security_args::{audit_cli_action, AuditKeyArgs};
use super::store_args::{block_on, StoreArgs};

#[derive(Debug, clap::Args)]
pub struct ClientsArgs {
    #[command(subcommand)]
    pub command: ClientsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClientsCommand {
    /// Create a client; its API key is printed once, on the last line.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        audit: AuditKeyArgs,
        /// The source system an `agency` client registers under, e.g. `police-ug`.
        #[arg(long, env = "CHILD_REGISTRY_CLIENT_AGENCY")]
        agency: Option<String>,
        /// A name people recognise, e.g. "Uganda Police CPU".
        #[arg(long, env = "CHILD_REGISTRY_CLIENT_NAME")]
        name: String,
        /// agency, national_official, data_steward, admin or auditor (district officials are
        /// people: `users create`).
        #[arg(long, env = "CHILD_REGISTRY_CLIENT_ROLE", value_parser = parse_role)]
        role: Role,
        /// The key stops working after this many days (1 to 3650).
        #[arg(long, env = "CHILD_REGISTRY_CLIENT_EXPIRES_IN_DAYS", default_value_t = 365,
              value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: u32,
    },
    /// Revoke a client: its key stops working at once.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        audit: AuditKeyArgs,
        /// The client ID printed by `clients create` or `clients list`.
        #[arg(env = "CHILD_REGISTRY_CLIENT_ID")]
        client_id: String,
    },
    /// List clients (never their keys).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| {
        let roles: Vec<_> = Role::ALL.iter().map(|role| role.as_str()).collect();
        format!("unknown role '{text}': use one of {}", roles.join(", "))
    })
}

pub fn run(args: ClientsArgs) -> anyhow::Result<()> {
    block_on(async move {
        match args.command {
            ClientsCommand::Create {
                store,
                audit,
                agency,
                name,
                role,
                expires_in_days,
            } => {
                if role == Role::Agency && agency.is_none() {
                    anyhow::bail!(
                        "an agency client needs --agency <source system>, e.g. --agency police-ug"
                    );
                }
                if role == Role::DistrictOfficial {
                    anyhow::bail!(
                        "district officials are people: create them with `users create --district`"
                    );
                }
                if let Some(agency) = &agency {
                    registry::validate::code_text("--agency", agency)?;
                }
                let audit_key = audit.resolve(&store.data_dir)?;
                let store = store.open().await?;
                let (client, key) = store
                    .create_client(NewClient {
                        name,
                        agency,
                        role,
                        expires_at: Some(Utc::now() + Duration::days(i64::from(expires_in_days))),
                    })
                    .await?;
                audit_cli_action(
                    store.as_ref(),
                    &audit_key,
                    AuditAction::ClientCreated,
                    &client.client_id,
                    serde_json::json!({"role": client.role, "agency": client.agency, "name": client.name}),
                )
                .await?;
                println!("client_id: {}", client.client_id);
                println!("role: {}", client.role);
                if let Some(agency) = &client.agency {
                    println!("agency: {agency}");
                }
                if let Some(expiry) = client.expires_at {
                    println!("expires_at: {}", expiry.to_rfc3339());
                }
                println!("API key (shown once, store it now):");
                println!("{key}");
            }
            ClientsCommand::Revoke {
                store,
                audit,
                client_id,
            } => {
                let key = audit.resolve(&store.data_dir)?;
                let store = store.open().await?;
                if !store.revoke_client(&client_id).await? {
                    anyhow::bail!("no client '{client_id}'");
                }
                audit_cli_action(
                    store.as_ref(),
                    &key,
                    AuditAction::ClientRevoked,
                    &client_id,
                    serde_json::json!({}),
                )
                .await?;
                println!("revoked {client_id}");
            }
            ClientsCommand::List { store } => {
                let store = store.open().await?;
                for client in store.list_clients().await? {
                    let state = if client.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}…",
                        client.client_id,
                        client.role,
                        client.agency.as_deref().unwrap_or("-"),
                        state,
                        client.name,
                        client.key_prefix
                    );
                }
            }
        }
        Ok(())
    })
}

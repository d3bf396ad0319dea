//! `child-registry users create|disable|reset-password|list`: people who log in.
//!
//! Passwords are read from the terminal without echo, or from standard input when it is not a
//! terminal (one line); never from a flag, where they would end up in shell history and `ps`.

use std::io::{BufRead, IsTerminal};

use registry::audit::AuditAction;
use registry::clients::Role;
use registry::users;

use super::security_args::{audit_cli_action, AuditKeyArgs};
use super::store_args::{block_on, StoreArgs};

#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Create a person; the password is prompted for (or read from standard input).
    Create {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        audit: AuditKeyArgs,
        #[arg(long, env = "CHILD_REGISTRY_USERNAME")]
        username: String,
        /// national_official, district_official, data_steward, agency, admin or auditor.
        #[arg(long, env = "CHILD_REGISTRY_USER_ROLE", value_parser = super::clients::parse_role)]
        role: Role,
        /// The source system a person of the `agency` role works for (e.g. school-ug).
        #[arg(long, env = "CHILD_REGISTRY_USER_AGENCY")]
        agency: Option<String>,
        /// The district a district official works in (optional for data stewards).
        #[arg(long, env = "CHILD_REGISTRY_USER_DISTRICT")]
        district: Option<String>,
    },
    /// Disable a person: they cannot log in and their sessions end at once.
    Disable {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        audit: AuditKeyArgs,
        #[arg(env = "CHILD_REGISTRY_USERNAME")]
        username: String,
    },
    /// Set a new password (prompted for, or read from standard input); unlocks the account and
    /// ends its sessions.
    ResetPassword {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        audit: AuditKeyArgs,
        #[arg(env = "CHILD_REGISTRY_USERNAME")]
        username: String,
    },
    /// List people (never their passwords).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Reads a new password: twice without echo on a terminal, one line from a pipe.
fn read_new_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let second = rpassword::prompt_password("Repeat it: ")?;
        if first != second {
            anyhow::bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// A new password for an existing person, read, checked against the policy and hashed.
async fn hashed_password(username: &str) -> anyhow::Result<String> {
    let password = read_new_password()?;
    users::check_password_policy(username, &password)?;
    let hash = tokio::task::spawn_blocking(move || users::hash_password(&password))
        .await?
        .map_err(|error| anyhow::anyhow!("hashing the password failed: {error}"))?;
    Ok(hash)
}

pub fn run(args: UsersArgs) -> anyhow::Result<()> {
    block_on(async move {
        match args.command {
            UsersCommand::Create {
                store,
                audit,
                username,
                role,
                agency,
                district,
            } => {
                users::check_new_user(&username, role, agency.as_deref(), district.as_deref())?;
                let key = audit.resolve(&store.data_dir)?;
                let password = read_new_password()?;
                let new = tokio::task::spawn_blocking(move || {
                    users::new_user(username, role, agency, district, &password)
                })
                .await??;
                let store = store.open().await?;
                let user = store.create_user(new).await?;
                audit_cli_action(
                    store.as_ref(),
                    &key,
                    AuditAction::UserCreated,
                    &user.username,
                    serde_json::json!({
                        "user_id": user.user_id,
                        "role": user.role,
                        "agency": user.agency,
                        "district": user.district,
                    }),
                )
                .await?;
                println!("user_id: {}", user.user_id);
                println!("username: {}", user.username);
                println!("role: {}", user.role);
                if let Some(agency) = &user.agency {
                    println!("agency: {agency}");
                }
                if let Some(district) = &user.district {
                    println!("district: {district}");
                }
            }
            UsersCommand::Disable {
                store,
                audit,
                username,
            } => {
                let key = audit.resolve(&store.data_dir)?;
                let store = store.open().await?;
                let Some(user) = store.disable_user(&username).await? else {
                    anyhow::bail!("no user '{username}'");
                };
                audit_cli_action(
                    store.as_ref(),
                    &key,
                    AuditAction::UserDisabled,
                    &user.username,
                    serde_json::json!({"user_id": user.user_id}),
                )
                .await?;
                println!("disabled {username}");
            }
            UsersCommand::ResetPassword {
                store,
                audit,
                username,
            } => {
                let key = audit.resolve(&store.data_dir)?;
                let password_hash = hashed_password(&username).await?;
                let store = store.open().await?;
                let Some(user) = store.set_user_password(&username, &password_hash).await? else {
                    anyhow::bail!("no user '{username}'");
                };
                audit_cli_action(
                    store.as_ref(),
                    &key,
                    AuditAction::PasswordReset,
                    &user.username,
                    serde_json::json!({"user_id": user.user_id}),
                )
                .await?;
                println!("new password set for {username}; their sessions have ended");
            }
            UsersCommand::List { store } => {
                let store = store.open().await?;
                for user in store.list_users().await? {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        user.user_id,
                        user.username,
                        user.role,
                        user.district.as_deref().unwrap_or("-"),
                        if user.disabled_at.is_some() {
                            "disabled"
                        } else {
                            "active"
                        }
                    );
                }
            }
        }
        Ok(())
    })
}

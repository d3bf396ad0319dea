//! Flags shared by the commands that serve or write the audit log: the audit key, session
//! lifetimes, cookie flags and rate limits.

use std::path::{Path, PathBuf};

use registry::audit::{Actor, AuditAction, AuditDraft, AuditKey};
use registry::Store;

use crate::session::SecurityConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct AuditKeyArgs {
    /// The key of the audit chain (at least 32 characters). Without it, the key is read from
    /// --audit-key-file, which is created with a random key on first use.
    #[arg(long, env = "CHILD_REGISTRY_AUDIT_KEY", hide_env_values = true)]
    pub audit_key: Option<String>,
    /// File holding the audit key (default: `audit.key` in --data-dir).
    #[arg(long, env = "CHILD_REGISTRY_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
}

impl AuditKeyArgs {
    pub fn resolve(&self, data_dir: &Path) -> anyhow::Result<AuditKey> {
        Ok(match (&self.audit_key, &self.audit_key_file) {
            (Some(text), _) => AuditKey::from_text(text)?,
            (None, Some(path)) => AuditKey::load_or_create(path)?,
            (None, None) => AuditKey::load_or_create(&data_dir.join("audit.key"))?,
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct SecurityArgs {
    #[command(flatten)]
    pub audit: AuditKeyArgs,
    /// Minutes without a request after which a session ends.
    #[arg(
        long,
        env = "CHILD_REGISTRY_SESSION_IDLE_MINUTES",
        default_value_t = 30
    )]
    pub session_idle_minutes: u32,
    /// Hours after login at which a session ends, however active.
    #[arg(
        long,
        env = "CHILD_REGISTRY_SESSION_ABSOLUTE_HOURS",
        default_value_t = 12
    )]
    pub session_absolute_hours: u32,
    /// Mark cookies Secure even without --tls-cert (a TLS proxy in front).
    #[arg(long, env = "CHILD_REGISTRY_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Requests per minute allowed for one API key or session.
    #[arg(
        long,
        env = "CHILD_REGISTRY_RATE_LIMIT_PER_CREDENTIAL",
        default_value_t = 6000
    )]
    pub rate_limit_per_credential: u32,
    /// Requests per minute allowed from one address.
    #[arg(
        long,
        env = "CHILD_REGISTRY_RATE_LIMIT_PER_ADDRESS",
        default_value_t = 12000
    )]
    pub rate_limit_per_address: u32,
    /// Login attempts per minute allowed from one address.
    #[arg(long, env = "CHILD_REGISTRY_LOGIN_RATE_LIMIT", default_value_t = 10)]
    pub login_rate_limit: u32,
}

impl SecurityArgs {
    pub fn config(&self, tls: bool) -> SecurityConfig {
        SecurityConfig {
            session_idle: chrono::Duration::minutes(i64::from(self.session_idle_minutes.max(1))),
            session_absolute: chrono::Duration::hours(i64::from(
                self.session_absolute_hours.max(1),
            )),
            secure_cookies: tls || self.secure_cookies,
            requests_per_minute_per_credential: self.rate_limit_per_credential,
            requests_per_minute_per_address: self.rate_limit_per_address,
            logins_per_minute_per_address: self.login_rate_limit,
        }
    }
}

/// Records an administrative action taken on the command line.
pub async fn audit_cli_action(
    store: &dyn Store,
    key: &AuditKey,
    action: AuditAction,
    target: &str,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let operator = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    store
        .append_audit(
            AuditDraft {
                actor: Actor {
                    kind: "cli".to_owned(),
                    id: operator,
                    role: Some("admin".to_owned()),
                },
                action,
                target: Some(target.to_owned()),
                children: Vec::new(),
                details,
                purpose: None,
                flagged: false,
                request_id: None,
            },
            key,
        )
        .await?;
    Ok(())
}

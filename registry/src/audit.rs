//! The audit log: who read or changed what, when, why. Entries are hash-chained and keyed:
//! each entry's hash is `HMAC-SHA256(key, previous hash ‖ canonical entry)`, so an entry that is
//! modified, deleted, inserted or moved breaks the chain at that entry, and nobody without the
//! key can forge a consistent chain. The tables are append-only in both backends (triggers).

use std::fmt;
use std::path::Path;

use chrono::{DateTime, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;

use crate::ids::ChildId;

/// The hash the first entry chains from.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The secret that keys the chain. Never printed.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error("the audit key must have at least 32 characters (e.g. 64 hex digits)")]
    TooShort,
    #[error("cannot read or write the audit key file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl AuditKey {
    /// A key given in configuration (any text of at least 32 characters).
    pub fn from_text(text: &str) -> Result<Self, AuditKeyError> {
        let text = text.trim();
        if text.len() < 32 {
            return Err(AuditKeyError::TooShort);
        }
        Ok(AuditKey(text.as_bytes().to_vec()))
    }

    /// A fresh random key (tests, and the first start of an embedded registry).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        AuditKey(hex::encode(bytes).into_bytes())
    }

    /// Reads the key file, creating it with a random key (readable by the owner only) when it
    /// does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditKeyError> {
        let file_error = |source| AuditKeyError::File {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => AuditKey::from_text(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = AuditKey::random();
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(file_error)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(file_error)?;
                std::io::Write::write_all(&mut file, &key.0).map_err(file_error)?;
                file.sync_all().map_err(file_error)?;
                Ok(key)
            }
            Err(error) => Err(file_error(error)),
        }
    }
}

/// What happened. The lead's review-queue routes have their own actions here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum AuditAction {
    #[serde(rename = "child.read")]
    ChildRead,
    #[serde(rename = "child.timeline_read")]
    TimelineRead,
    #[serde(rename = "record.read")]
    RecordRead,
    #[serde(rename = "search")]
    Search,
    #[serde(rename = "record.registered")]
    RecordRegistered,
    #[serde(rename = "child.merged")]
    Merge,
    #[serde(rename = "record.unlinked")]
    Unlink,
    #[serde(rename = "child.access_log_read")]
    AccessLogRead,
    #[serde(rename = "match.candidates_read")]
    MatchCandidatesRead,
    #[serde(rename = "match.stats_read")]
    MatchStatsRead,
    #[serde(rename = "match.decided")]
    MatchDecision,
    /// A steward took or renewed the claim on a candidate.
    #[serde(rename = "match.claimed")]
    MatchClaimed,
    #[serde(rename = "match.released")]
    MatchReleased,
    #[serde(rename = "session.login")]
    Login,
    #[serde(rename = "session.login_failed")]
    LoginFailed,
    #[serde(rename = "session.logout")]
    Logout,
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.disabled")]
    UserDisabled,
    #[serde(rename = "user.password_reset")]
    PasswordReset,
    #[serde(rename = "client.created")]
    ClientCreated,
    #[serde(rename = "client.revoked")]
    ClientRevoked,
    #[serde(rename = "user.list_read")]
    UsersRead,
    #[serde(rename = "client.list_read")]
    ClientsRead,
    /// `POST /fhir/Patient/$match`: a record scored against the registry, nothing stored.
    #[serde(rename = "fhir.patient_match")]
    PatientMatch,
    /// `GET /fhir/Patient/$ihe-pix`: a child's identifiers cross-referenced.
    #[serde(rename = "fhir.pix_query")]
    PixQuery,
    #[serde(rename = "changes.read")]
    ChangesRead,
    #[serde(rename = "webhook.created")]
    WebhookCreated,
    #[serde(rename = "webhook.deleted")]
    WebhookDeleted,
    #[serde(rename = "webhook.list_read")]
    WebhooksRead,
    #[serde(rename = "webhook.deliveries_read")]
    WebhookDeliveriesRead,
    /// A change-feed entry about a child went to a subscriber's endpoint.
    #[serde(rename = "webhook.delivered")]
    WebhookDelivered,
    #[serde(rename = "referral.created")]
    ReferralCreated,
    #[serde(rename = "referral.read")]
    ReferralsRead,
    #[serde(rename = "referral.status_changed")]
    ReferralStatusChanged,
    #[serde(rename = "indicators.read")]
    IndicatorsRead,
    #[serde(rename = "indicators.exported")]
    IndicatorsExported,
    #[serde(rename = "import.submitted")]
    ImportSubmitted,
    /// A bulk import's rows are all registered; the entry names every child it wrote.
    #[serde(rename = "import.completed")]
    ImportCompleted,
    #[serde(rename = "import.results_read")]
    ImportResultsRead,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ChildRead => "child.read",
            AuditAction::TimelineRead => "child.timeline_read",
            AuditAction::RecordRead => "record.read",
            AuditAction::Search => "search",
            AuditAction::RecordRegistered => "record.registered",
            AuditAction::Merge => "child.merged",
            AuditAction::Unlink => "record.unlinked",
            AuditAction::AccessLogRead => "child.access_log_read",
            AuditAction::MatchCandidatesRead => "match.candidates_read",
            AuditAction::MatchStatsRead => "match.stats_read",
            AuditAction::MatchDecision => "match.decided",
            AuditAction::MatchClaimed => "match.claimed",
            AuditAction::MatchReleased => "match.released",
            AuditAction::Login => "session.login",
            AuditAction::LoginFailed => "session.login_failed",
            AuditAction::Logout => "session.logout",
            AuditAction::UserCreated => "user.created",
            AuditAction::UserDisabled => "user.disabled",
            AuditAction::PasswordReset => "user.password_reset",
            AuditAction::ClientCreated => "client.created",
            AuditAction::ClientRevoked => "client.revoked",
            AuditAction::UsersRead => "user.list_read",
            AuditAction::ClientsRead => "client.list_read",
            AuditAction::PatientMatch => "fhir.patient_match",
            AuditAction::PixQuery => "fhir.pix_query",
            AuditAction::ChangesRead => "changes.read",
            AuditAction::WebhookCreated => "webhook.created",
            AuditAction::WebhookDeleted => "webhook.deleted",
            AuditAction::WebhooksRead => "webhook.list_read",
            AuditAction::WebhookDeliveriesRead => "webhook.deliveries_read",
            AuditAction::WebhookDelivered => "webhook.delivered",
            AuditAction::ReferralCreated => "referral.created",
            AuditAction::ReferralsRead => "referral.read",
            AuditAction::ReferralStatusChanged => "referral.status_changed",
            AuditAction::IndicatorsRead => "indicators.read",
            AuditAction::IndicatorsExported => "indicators.exported",
            AuditAction::ImportSubmitted => "import.submitted",
            AuditAction::ImportCompleted => "import.completed",
            AuditAction::ImportResultsRead => "import.results_read",
        }
    }
}

/// Who acted: an API client, a person, the command line, or someone not (yet) authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Actor {
    /// `client`, `user`, `cli` or `anonymous`.
    pub kind: String,
    /// Client ID, user ID, the operating-system user, or the address of an anonymous caller.
    pub id: String,
    pub role: Option<String>,
}

/// An entry to append: the store adds its position, time and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDraft {
    pub actor: Actor,
    pub action: AuditAction,
    /// What was acted on, e.g. a child ID, `police-ug/CPU-1`, a username.
    pub target: Option<String>,
    /// The children the entry names (read, written, or returned by a search).
    pub children: Vec<ChildId>,
    /// Anything else worth keeping: a search's query, an outcome, a reason.
    pub details: serde_json::Value,
    /// The purpose the caller stated (`X-Purpose`).
    pub purpose: Option<String>,
    /// Set when confidential content was read ("break the glass"): reviewed later.
    pub flagged: bool,
    pub request_id: Option<String>,
}

/// The audit entry of a registration, appended in the registration's own transaction: the
/// record and the entry saying who sent it commit together or not at all, and a registration
/// costs one durable commit instead of two.
#[derive(Debug, Clone)]
pub struct RegistrationAudit {
    /// The entry as the caller knows it before registering (actor, target, request); the
    /// store adds the child and the outcome ([`RegistrationAudit::completed`]).
    pub draft: AuditDraft,
    pub key: AuditKey,
}

impl RegistrationAudit {
    /// The draft naming the child the record joined and what the registration did.
    pub fn completed(
        mut self,
        registration: &crate::model::Registration,
    ) -> (AuditDraft, AuditKey) {
        self.draft.children.push(registration.child_id);
        let outcome = serde_json::json!({
            "version": registration.record_version,
            "created": registration.created,
            "outcome": registration.match_result.outcome.as_str(),
        });
        match (&mut self.draft.details, outcome) {
            (serde_json::Value::Object(details), serde_json::Value::Object(outcome)) => {
                details.extend(outcome);
            }
            (details, outcome) => *details = outcome,
        }
        (self.draft, self.key)
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub target: Option<String>,
    /// The canonical JSON text of the details, exactly as hashed.
    #[serde(skip)]
    pub details_text: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub purpose: Option<String>,
    pub flagged: bool,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub entry_hash: String,
}

/// The time an entry records: UTC to the microsecond, which both backends store exactly.
pub fn entry_time(now: DateTime<Utc>) -> DateTime<Utc> {
    now.trunc_subsecs(6)
}

/// The details as the text that is stored and hashed.
pub fn details_text(details: &serde_json::Value) -> String {
    details.to_string()
}

/// `HMAC-SHA256(key, prev_hash ‖ canonical entry)` in hex. The canonical entry is a JSON array
/// of every stored field in a fixed order, so no field can change without changing the hash.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    key: &AuditKey,
    prev_hash: &str,
    seq: i64,
    at: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    target: Option<&str>,
    details_text: &str,
    purpose: Option<&str>,
    flagged: bool,
    request_id: Option<&str>,
) -> String {
    let canonical = serde_json::json!([
        seq,
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        actor.kind,
        actor.id,
        actor.role,
        action,
        target,
        details_text,
        purpose,
        flagged,
        request_id,
    ]);
    // An HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(prev_hash.as_bytes());
    mac.update(canonical.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

impl AuditEntry {
    fn expected_hash(&self, key: &AuditKey, prev_hash: &str) -> String {
        entry_hash(
            key,
            prev_hash,
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            self.target.as_deref(),
            &self.details_text,
            self.purpose.as_deref(),
            self.flagged,
            self.request_id.as_deref(),
        )
    }
}

/// The first entry that breaks the chain, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq}: {problem}")]
pub struct ChainBroken {
    pub seq: i64,
    pub problem: String,
}

/// Walks the chain in order. `entries` are every entry by ascending `seq`; `head` the stored
/// end of the chain (`last_seq`, `last_hash`). Returns the number of entries verified.
pub fn verify_chain<'a>(
    key: &AuditKey,
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    head: (i64, &str),
) -> Result<i64, ChainBroken> {
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut count = 0;
    for (expected_seq, entry) in (1i64..).zip(entries) {
        let broken = |problem: String| ChainBroken {
            seq: entry.seq,
            problem,
        };
        if entry.seq > expected_seq {
            return Err(ChainBroken {
                seq: expected_seq,
                problem: format!("is missing (deleted?); the next entry is {}", entry.seq),
            });
        }
        if entry.seq < expected_seq {
            return Err(broken("out of order or duplicated".to_owned()));
        }
        if entry.prev_hash != prev_hash {
            return Err(broken(
                "does not chain from the entry before it (inserted, deleted or reordered)"
                    .to_owned(),
            ));
        }
        if entry.expected_hash(key, &prev_hash) != entry.entry_hash {
            return Err(broken(
                "its hash does not match its content (modified, forged, or another key)".to_owned(),
            ));
        }
        prev_hash = entry.entry_hash.clone();
        count = expected_seq;
    }
    let (last_seq, last_hash) = head;
    if last_seq != count || last_hash != prev_hash {
        return Err(ChainBroken {
            seq: last_seq.max(count),
            problem: format!(
                "the log ends at entry {count} but its head records entry {last_seq} \
                 (entries deleted from the end, or appended outside the registry)"
            ),
        });
    }
    Ok(count)
}

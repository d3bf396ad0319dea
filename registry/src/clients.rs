//! API clients: agency systems and other callers that authenticate with a bearer key.
//!
//! Keys carry 256 random bits, so a fast SHA-256 digest is as safe to store as a slow password
//! hash (nobody can guess the input) and lets every request authenticate with one indexed
//! look-up. People's passwords are a different matter and use argon2.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// What a caller may do. API clients and people share these role names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An agency system: registers under its own source system, reads the children it holds
    /// records for.
    Agency,
    /// Reads every child nationwide.
    NationalOfficial,
    /// Works the review queue and decides links; reads every child (or, for a person given a
    /// district, the children with a record in that district).
    DataSteward,
    /// A person who reads the children with a record in their district.
    DistrictOfficial,
    /// Manages people and API clients; never sees child data.
    Admin,
    /// Reads the audit log; sees no child data beyond what the log names.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agency => "agency",
            Role::NationalOfficial => "national_official",
            Role::DataSteward => "data_steward",
            Role::DistrictOfficial => "district_official",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    pub const ALL: [Role; 6] = [
        Role::Agency,
        Role::NationalOfficial,
        Role::DataSteward,
        Role::DistrictOfficial,
        Role::Admin,
        Role::Auditor,
    ];

    /// Whether the role reads child records at all (admins and auditors never do).
    pub fn reads_child_data(self) -> bool {
        !matches!(self, Role::Admin | Role::Auditor)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered API client, as stored (never with its key).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApiClient {
    pub client_id: String,
    pub name: String,
    /// The source system an `agency` client registers under.
    pub agency: Option<String>,
    pub role: Role,
    pub key_prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiClient {
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| expiry > now)
    }
}

/// A client to create.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub agency: Option<String>,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A freshly minted key: the secret is shown once and only its digest is stored.
pub struct MintedKey {
    pub secret: String,
    pub digest: String,
    pub prefix: String,
}

const KEY_PREFIX: &str = "crk_";

pub fn mint_key() -> MintedKey {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    MintedKey {
        digest: key_digest(&secret),
        prefix: secret[..KEY_PREFIX.len() + 8].to_owned(),
        secret,
    }
}

pub fn key_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn new_client_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("cli_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_digested() {
        let first = mint_key();
        let second = mint_key();
        assert_ne!(first.secret, second.secret);
        assert_eq!(first.digest, key_digest(&first.secret));
        assert!(first.secret.starts_with(&first.prefix));
        assert_eq!(first.secret.len(), 4 + 64);
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}

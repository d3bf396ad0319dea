//! People: named accounts with a role (and optionally a district), passwords hashed with
//! argon2id, a password policy, sessions and lockout.
//!
//! Hashing and verifying are CPU-heavy on purpose; callers on an async runtime run
//! [`hash_password`] and [`verify_password`] in `spawn_blocking`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::clients::Role;

/// A person as stored (never with the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct User {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    /// The source system an `agency` person works for (a school's registrar sees what the
    /// school's API client sees).
    pub agency: Option<String>,
    /// The district a `district_official` (or a district-scoped steward) works in.
    pub district: Option<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub failed_logins: i64,
    #[serde(skip)]
    pub locked_until: Option<DateTime<Utc>>,
}

impl User {
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// A person to create; `password_hash` comes from [`hash_password`].
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub role: Role,
    pub agency: Option<String>,
    pub district: Option<String>,
    pub password_hash: String,
}

/// A session as stored: known only by digests of its secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub token_hash: String,
    pub user_id: String,
    pub csrf_hash: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
}

/// After this many failed logins in a row an account locks.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: chrono::Duration = chrono::Duration::minutes(15);
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted (argon2 takes any length; this bounds the work per login).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("this password is too common or too predictable; choose a longer phrase of your own")]
    Common,
    #[error("the password must not contain the username")]
    ContainsUsername,
}

/// Why a person's role and scope do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeRejected {
    #[error("a district official needs a district, e.g. Wakiso")]
    DistrictMissing,
    #[error("only district officials and data stewards are scoped to a district")]
    DistrictNotAllowed,
    #[error("a person of the agency role needs the agency (source system) they work for")]
    AgencyMissing,
    #[error("only people of the agency role work for an agency")]
    AgencyNotAllowed,
}

/// Checks that a person's agency and district fit their role: a district official works in a
/// district, an agency person for an agency; nobody else carries either (stewards may be
/// scoped to a district).
pub fn check_scope(
    role: Role,
    agency: Option<&str>,
    district: Option<&str>,
) -> Result<(), ScopeRejected> {
    let has = |value: Option<&str>| value.is_some_and(|value| !value.trim().is_empty());
    match role {
        Role::DistrictOfficial if !has(district) => Err(ScopeRejected::DistrictMissing),
        Role::Agency if !has(agency) => Err(ScopeRejected::AgencyMissing),
        _ if role != Role::Agency && agency.is_some() => Err(ScopeRejected::AgencyNotAllowed),
        Role::DistrictOfficial | Role::DataSteward => Ok(()),
        _ if district.is_some() => Err(ScopeRejected::DistrictNotAllowed),
        _ => Ok(()),
    }
}

/// Common passwords and the words they are built from, lower case, one a line. Written for
/// this project from the patterns public breach corpora show (keyboard walks, digit runs,
/// everyday words, seasons, sports, the product's own words); no people's names.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Checks a new password against the policy (ASVS 2.1): length, the common-password list
/// (also after undoing leetspeak and dropping leading or trailing digits and symbols), and
/// the username.
pub fn check_password_policy(username: &str, password: &str) -> Result<(), PasswordRejected> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordRejected::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordRejected::TooLong);
    }
    let lower = password.to_lowercase();
    if !username.trim().is_empty() && lower.contains(&username.trim().to_lowercase()) {
        return Err(PasswordRejected::ContainsUsername);
    }
    let distinct: std::collections::BTreeSet<char> = lower.chars().collect();
    if distinct.len() < 5 {
        return Err(PasswordRejected::Common);
    }
    let unleet = |text: &str| -> String {
        text.chars()
            .map(|c| match c {
                '@' | '4' => 'a',
                '3' => 'e',
                '1' | '!' => 'i',
                '0' => 'o',
                '$' | '5' => 's',
                '7' => 't',
                other => other,
            })
            .collect()
    };
    // The password without the digits and symbols people put before and after a word.
    let core = |text: &str| {
        text.trim_matches(|c: char| !c.is_alphabetic())
            .replace([' ', '-', '_', '.'], "")
    };
    let candidates = [
        lower.clone(),
        unleet(&lower),
        core(&lower),
        unleet(&core(&lower)),
        core(&unleet(&lower)),
        lower.replace([' ', '-', '_', '.'], ""),
    ];
    let is_common = COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .any(|common| candidates.iter().any(|candidate| candidate == common));
    // Nothing but digits and symbols once the common decorations are gone.
    if is_common || core(&lower).is_empty() {
        return Err(PasswordRejected::Common);
    }
    Ok(())
}

/// Hashes a password with argon2id and the `argon2` crate's default parameters (PHC string).
/// CPU-heavy: call off the async runtime.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the stored PHC hash; a malformed hash never matches.
/// CPU-heavy: call off the async runtime.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash of a password nobody has, verified against when the username is unknown so that
/// an unknown name takes as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        hash_password(&hex::encode(secret)).unwrap_or_default()
    })
}

/// A new random secret (256 bits, hex) for a session cookie or a CSRF token.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The digest stored for a session or CSRF secret: the secrets are random and long, so a fast
/// digest is enough.
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn new_user_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("usr_{}", hex::encode(bytes))
}

/// Why a new person was refused; [`NewUserRejected::field`] names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewUserRejected {
    #[error("a username has 3 to 64 letters, digits, '.', '-', '_' or '@'")]
    Username,
    #[error(transparent)]
    Scope(#[from] ScopeRejected),
    #[error(transparent)]
    Password(#[from] PasswordRejected),
    #[error("hashing the password failed: {0}")]
    Hashing(String),
}

impl NewUserRejected {
    pub fn field(&self) -> &'static str {
        match self {
            NewUserRejected::Username => "username",
            NewUserRejected::Scope(
                ScopeRejected::AgencyMissing | ScopeRejected::AgencyNotAllowed,
            ) => "agency",
            NewUserRejected::Scope(
                ScopeRejected::DistrictMissing | ScopeRejected::DistrictNotAllowed,
            ) => "district",
            NewUserRejected::Password(_) | NewUserRejected::Hashing(_) => "password",
        }
    }
}

/// Checks a new person's username and scope: what can be refused before a password is asked.
pub fn check_new_user(
    username: &str,
    role: Role,
    agency: Option<&str>,
    district: Option<&str>,
) -> Result<(), NewUserRejected> {
    if !valid_username(username) {
        return Err(NewUserRejected::Username);
    }
    check_scope(role, agency, district)?;
    Ok(())
}

/// A new person ready to store, whoever creates them (the API or the command line): everything
/// checked, the password hashed. CPU-heavy: call off the async runtime.
pub fn new_user(
    username: String,
    role: Role,
    agency: Option<String>,
    district: Option<String>,
    password: &str,
) -> Result<NewUser, NewUserRejected> {
    check_new_user(&username, role, agency.as_deref(), district.as_deref())?;
    check_password_policy(&username, password)?;
    let password_hash =
        hash_password(password).map_err(|error| NewUserRejected::Hashing(error.to_string()))?;
    Ok(NewUser {
        username,
        role,
        agency,
        district,
        password_hash,
    })
}

/// Usernames: 3 to 64 characters of letters, digits, `.`, `-`, `_` and `@`.
pub fn valid_username(username: &str) -> bool {
    (3..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_person_is_refused_naming_the_field() {
        let refused = |username: &str, role, agency: Option<&str>, district: Option<&str>| {
            new_user(
                username.to_owned(),
                role,
                agency.map(str::to_owned),
                district.map(str::to_owned),
                "violet harbour tractor eleven",
            )
            .map(|_| ())
            .map_err(|rejected| rejected.field())
        };
        assert_eq!(refused("a", Role::Auditor, None, None), Err("username"));
        assert_eq!(refused("okot", Role::Agency, None, None), Err("agency"));
        assert_eq!(
            refused("okot", Role::Auditor, None, Some("Gulu")),
            Err("district")
        );
        let weak = new_user("okot".into(), Role::Auditor, None, None, "password123");
        assert_eq!(weak.map(|_| ()).map_err(|r| r.field()), Err("password"));
        let made = new_user(
            "okot".into(),
            Role::DistrictOfficial,
            None,
            Some("Gulu".into()),
            "violet harbour tractor eleven",
        )
        .unwrap();
        assert!(verify_password(
            "violet harbour tractor eleven",
            &made.password_hash
        ));
        assert_eq!(made.district.as_deref(), Some("Gulu"));
    }

    #[test]
    fn scopes_fit_roles() {
        assert_eq!(check_scope(Role::NationalOfficial, None, None), Ok(()));
        assert_eq!(check_scope(Role::DataSteward, None, Some("Wakiso")), Ok(()));
        assert_eq!(check_scope(Role::Agency, Some("school-ug"), None), Ok(()));
        assert_eq!(
            check_scope(Role::DistrictOfficial, None, None),
            Err(ScopeRejected::DistrictMissing)
        );
        assert_eq!(
            check_scope(Role::Agency, Some(" "), None),
            Err(ScopeRejected::AgencyMissing)
        );
        assert_eq!(
            check_scope(Role::Admin, Some("school-ug"), None),
            Err(ScopeRejected::AgencyNotAllowed)
        );
        assert_eq!(
            check_scope(Role::Auditor, None, Some("Wakiso")),
            Err(ScopeRejected::DistrictNotAllowed)
        );
    }

    #[test]
    fn the_policy_refuses_short_common_and_predictable_passwords() {
        let refuse = |password: &str| check_password_policy("amina", password).unwrap_err();
        assert_eq!(refuse("short"), PasswordRejected::TooShort);
        assert_eq!(refuse("password1234"), PasswordRejected::Common);
        assert_eq!(refuse("P@ssw0rd2026!"), PasswordRejected::Common);
        assert_eq!(refuse("qwertyuiop123"), PasswordRejected::Common);
        assert_eq!(refuse("123456789012"), PasswordRejected::Common);
        assert_eq!(refuse("aaaaaaaaaaaaaaaa"), PasswordRejected::Common);
        assert_eq!(refuse("Welcome-2026!!"), PasswordRejected::Common);
        assert_eq!(
            refuse("amina-is-here-2026"),
            PasswordRejected::ContainsUsername
        );
        assert_eq!(
            refuse(&"x1y2".repeat(100)),
            PasswordRejected::TooLong,
            "bounded work per login"
        );
        check_password_policy("amina", "river lantern okra seventeen").unwrap();
        check_password_policy("amina", "Tq8#vLz2!mWp").unwrap();
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hash = hash_password("river lantern okra seventeen").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("river lantern okra seventeen", &hash));
        assert!(!verify_password("river lantern okra seventeem", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert!(!verify_password("anything", decoy_hash()));
    }

    #[test]
    fn usernames_are_plain() {
        assert!(valid_username("amina.k@moglsd"));
        assert!(!valid_username("a"));
        assert!(!valid_username("amina k"));
    }
}

//! Authentication and authorisation live in extractor types, so a handler cannot forget them.
//!
//! [`Caller`] authenticates: a bearer API key, or a person's session cookie (with a CSRF token
//! on writes). The role extractors ([`ChildReader`], [`Steward`], [`AuditReader`]) authorise;
//! [`Caller::read_scope`] narrows every child query inside the store.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, Method};
use chrono::Utc;
use registry::clients::{ApiClient, Role};
use registry::users::{secret_digest, User};
use registry::ReadScope;

use crate::error::ApiError;
use crate::session::{session_cookie, CSRF_HEADER};
use crate::state::AppState;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer <key>` of an API client.
    ApiKey,
    /// A person's session cookie; the digest identifies the session.
    Session { token_hash: String },
}

/// An authenticated caller: an API client or a person, with the role and scope they act in.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client ID (`cli_…`) or user ID (`usr_…`).
    pub id: String,
    /// The client's name or the person's username.
    pub name: String,
    pub role: Role,
    /// The source system an agency registers under.
    pub agency: Option<String>,
    /// The district a district official (or a district-scoped steward) works in.
    pub district: Option<String>,
    pub credential: Credential,
}

impl Caller {
    pub fn from_client(client: ApiClient) -> Self {
        Caller {
            id: client.client_id,
            name: client.name,
            role: client.role,
            agency: client.agency,
            district: None,
            credential: Credential::ApiKey,
        }
    }

    pub fn from_user(user: User, token_hash: String) -> Self {
        Caller {
            id: user.user_id,
            name: user.username,
            role: user.role,
            agency: user.agency,
            district: user.district,
            credential: Credential::Session { token_hash },
        }
    }

    /// The children this caller may read.
    pub fn read_scope(&self) -> ReadScope {
        match (self.role, &self.agency, &self.district) {
            (Role::NationalOfficial, _, _) => ReadScope::All,
            (Role::DataSteward, _, None) => ReadScope::All,
            (Role::DataSteward | Role::DistrictOfficial, _, Some(district)) => {
                ReadScope::District(district.clone())
            }
            (Role::Agency, Some(agency), _) => ReadScope::SourceSystem(agency.clone()),
            // An agency without a source system, a district official without a district, an
            // admin or an auditor: no child at all.
            (Role::Agency | Role::DistrictOfficial | Role::Admin | Role::Auditor, _, _) => {
                ReadScope::Nothing
            }
        }
    }

    /// The name recorded as the author of a decision.
    pub fn actor(&self) -> String {
        format!("{} ({})", self.id, self.name)
    }

    /// Only agency systems register, and only under their own source system.
    pub fn check_may_register(&self, source_system: &str) -> Result<(), ApiError> {
        match (self.role, &self.agency) {
            (Role::Agency, Some(agency)) if agency == source_system => Ok(()),
            (Role::Agency, _) => Err(ApiError::Forbidden(format!(
                "this client registers records for '{}' only, not '{source_system}'",
                self.agency.as_deref().unwrap_or("no source system")
            ))),
            (role, _) => Err(ApiError::Forbidden(format!(
                "the {role} role cannot register records"
            ))),
        }
    }
}

/// The bearer key of the request, if it sends one.
pub fn bearer_key(parts: &axum::http::HeaderMap) -> Option<&str> {
    parts
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, key) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        })
        .filter(|key| !key.is_empty())
}

/// Requests that change nothing need no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(key) = bearer_key(&parts.headers) {
            let client = state
                .store
                .client_by_key(key)
                .await?
                .filter(|client| client.is_usable(Utc::now()))
                .ok_or(ApiError::Unauthenticated)?;
            return Ok(Caller::from_client(client));
        }
        let token = session_cookie(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        let token_hash = secret_digest(&token);
        let (session, user) = state
            .store
            .session(&token_hash)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let now = Utc::now();
        let config = &state.security;
        let expired = now >= session.expires_at
            || now >= session.created_at + config.session_absolute
            || now >= session.last_seen_at + config.session_idle
            || user.disabled_at.is_some();
        if expired {
            state.store.delete_session(&token_hash).await?;
            return Err(ApiError::Unauthenticated);
        }
        if !is_safe(&parts.method) {
            // Synchroniser token: the header must carry the token issued at login, which a
            // cross-site page cannot read.
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|value| value.to_str().ok())
                .map(secret_digest);
            if presented.as_deref() != Some(session.csrf_hash.as_str()) {
                return Err(ApiError::CsrfRejected);
            }
        }
        // Sliding idle timeout; a write at most every half minute per session.
        if now - session.last_seen_at > chrono::Duration::seconds(30) {
            state.store.touch_session(&token_hash, now).await?;
        }
        Ok(Caller::from_user(user, token_hash))
    }
}

/// Declares an extractor that admits a caller whose role passes `$admits` and answers every
/// other caller `403` with `$refusal` (which names the caller's role).
macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $admits:expr, $refusal:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                let caller = Caller::from_request_parts(parts, state).await?;
                let admits: fn(Role) -> bool = $admits;
                if admits(caller.role) {
                    Ok($name(caller))
                } else {
                    Err(ApiError::Forbidden(format!($refusal, caller.role)))
                }
            }
        }
    };
}

role_extractor!(
    /// A caller whose role reads child data (not admins, not auditors).
    ChildReader,
    Role::reads_child_data,
    "the {} role does not read child data"
);

role_extractor!(
    /// A data steward: merges, unlinks and the review queue.
    Steward,
    |role| role == Role::DataSteward,
    "only data stewards decide links; this caller is {}"
);

role_extractor!(
    /// An auditor or a data steward: reads the audit log.
    AuditReader,
    |role| matches!(role, Role::Auditor | Role::DataSteward),
    "only auditors and data stewards read the audit log; this caller is {}"
);

role_extractor!(
    /// An administrator: people and API clients.
    Admin,
    |role| role == Role::Admin,
    "only administrators manage people and API clients; this caller is {}"
);

role_extractor!(
    /// An administrator or an auditor: the operations metrics.
    Operator,
    |role| matches!(role, Role::Admin | Role::Auditor),
    "only administrators and auditors read the operations metrics; this caller is {}"
);

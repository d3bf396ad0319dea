//! The one way handlers write the audit log: [`AppState::audit`] with the [`Caller`], an
//! [`AuditAction`], an [`AuditTarget`] and the [`RequestMeta`] of the request.
//!
//! ```ignore
//! state.audit(&caller, AuditAction::MatchDecision, AuditTarget::child(child_id), &meta).await?;
//! ```

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use registry::audit::{Actor, AuditDraft, AuditKey, RegistrationAudit};
use registry::ChildId;

pub use registry::audit::AuditAction;

use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use crate::state::AppState;

/// The header naming why confidential content is read ("break the glass").
pub const PURPOSE_HEADER: &str = "x-purpose";
const MAX_PURPOSE_CHARS: usize = 500;

/// What the audit log needs of every request: its ID, the stated purpose, the peer address.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// `x-request-id` (set by the request-ID layer when the client sent none).
    pub request_id: Option<String>,
    /// `X-Purpose`, trimmed; absent when empty.
    pub purpose: Option<String>,
    pub peer: Option<IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header_text = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let mut meta = RequestMeta {
            request_id: header_text("x-request-id"),
            purpose: None,
            peer: crate::tls::peer_address(&parts.extensions),
        };
        meta.state_purpose(header_text(PURPOSE_HEADER).as_deref(), "X-Purpose")?;
        Ok(meta)
    }
}

impl RequestMeta {
    /// Records why confidential content is asked for (`X-Purpose`, or the web UI's purpose
    /// field named `field`): trimmed, absent when empty, at most 500 characters.
    pub fn state_purpose(&mut self, purpose: Option<&str>, field: &str) -> Result<(), ApiError> {
        let purpose = purpose.map(str::trim).filter(|purpose| !purpose.is_empty());
        if purpose.is_some_and(|purpose| purpose.chars().count() > MAX_PURPOSE_CHARS) {
            return Err(ApiError::bad_request(
                "invalid_purpose",
                field,
                format!("a purpose has at most {MAX_PURPOSE_CHARS} characters"),
            ));
        }
        self.purpose = purpose.map(str::to_owned);
        Ok(())
    }
}

/// What an entry is about.
#[derive(Debug, Clone, Default)]
pub struct AuditTarget {
    pub target: Option<String>,
    pub children: Vec<ChildId>,
    pub details: serde_json::Value,
    /// Confidential content was shown: flag the entry for review.
    pub flagged: bool,
}

impl AuditTarget {
    /// Nothing in particular (a login, a listing).
    pub fn none() -> Self {
        AuditTarget {
            details: serde_json::json!({}),
            ..AuditTarget::default()
        }
    }

    /// One child.
    pub fn child(child_id: ChildId) -> Self {
        AuditTarget {
            target: Some(child_id.to_string()),
            children: vec![child_id],
            ..AuditTarget::none()
        }
    }

    /// A source record of a child.
    pub fn record(source_system: &str, source_record_id: &str, child_id: Option<ChildId>) -> Self {
        AuditTarget {
            target: Some(format!("{source_system}/{source_record_id}")),
            children: child_id.into_iter().collect(),
            ..AuditTarget::none()
        }
    }

    /// Something named: a username, a client ID, a review item.
    pub fn named(name: impl Into<String>) -> Self {
        AuditTarget {
            target: Some(name.into()),
            ..AuditTarget::none()
        }
    }

    /// Further children the entry names (a search's hits, the other side of a merge).
    pub fn with_children(mut self, children: impl IntoIterator<Item = ChildId>) -> Self {
        self.children.extend(children);
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    pub fn flagged(mut self, flagged: bool) -> Self {
        self.flagged = flagged;
        self
    }
}

impl Caller {
    /// The caller as the audit log names them.
    pub fn audit_actor(&self) -> Actor {
        Actor {
            kind: match self.credential {
                Credential::ApiKey => "client",
                Credential::Session { .. } => "user",
            }
            .to_owned(),
            id: self.id.clone(),
            role: Some(self.role.as_str().to_owned()),
        }
    }
}

impl AppState {
    /// Appends one audit entry for what `caller` did. A handler that reads child data calls
    /// this before answering: when the entry cannot be written the caller gets a 503, not the
    /// data.
    pub async fn audit(
        &self,
        caller: &Caller,
        action: AuditAction,
        target: AuditTarget,
        meta: &RequestMeta,
    ) -> Result<(), ApiError> {
        self.audit_as(caller.audit_actor(), action, target, meta)
            .await
    }

    /// Like [`AppState::audit`] for someone not authenticated (a failed login).
    pub async fn audit_as(
        &self,
        actor: Actor,
        action: AuditAction,
        target: AuditTarget,
        meta: &RequestMeta,
    ) -> Result<(), ApiError> {
        let draft = audit_draft(actor, action, target, meta);
        self.store.append_audit(draft, &self.audit_key).await?;
        Ok(())
    }

    /// What a registration's audit entry says before the registration: the store completes it
    /// with the child and the outcome and appends it in the registration's own transaction.
    pub fn registration_audit(
        &self,
        caller: &Caller,
        target: AuditTarget,
        meta: &RequestMeta,
    ) -> RegistrationAudit {
        RegistrationAudit {
            draft: audit_draft(
                caller.audit_actor(),
                AuditAction::RecordRegistered,
                target,
                meta,
            ),
            key: AuditKey::clone(&self.audit_key),
        }
    }
}

/// The entry to append for `target`, with the request's purpose, ID and peer address.
fn audit_draft(
    actor: Actor,
    action: AuditAction,
    target: AuditTarget,
    meta: &RequestMeta,
) -> AuditDraft {
    let mut details = target.details;
    if let (Some(peer), serde_json::Value::Object(map)) = (meta.peer, &mut details) {
        map.insert("address".to_owned(), serde_json::json!(peer.to_string()));
    }
    AuditDraft {
        actor,
        action,
        target: target.target,
        children: target.children,
        details,
        purpose: meta.purpose.clone(),
        flagged: target.flagged,
        request_id: meta.request_id.clone(),
    }
}

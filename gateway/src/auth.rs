//! Authentication and authorisation live in extractor types, so a handler cannot forget them.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use chrono::Utc;
use registry::clients::{ApiClient, Role};
use registry::ReadScope;

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated API client (`Authorization: Bearer <key>`), usable now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub client: ApiClient,
}

impl Caller {
    /// The children this caller may read.
    pub fn read_scope(&self) -> ReadScope {
        match (self.client.role, &self.client.agency) {
            (Role::NationalOfficial | Role::DataSteward, _) => ReadScope::All,
            (Role::Agency, Some(agency)) => ReadScope::SourceSystem(agency.clone()),
            // An agency client without a source system can see nothing; scope it to a name no
            // record can have (source systems are validated codes).
            (Role::Agency, None) => ReadScope::SourceSystem(" ".to_owned()),
        }
    }

    /// Link decisions (merge, unlink) are for data stewards.
    pub fn check_is_steward(&self) -> Result<(), ApiError> {
        if self.client.role == Role::DataSteward {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only data stewards merge and unlink; this client is {}",
                self.client.role
            )))
        }
    }

    /// The name recorded as the author of a decision.
    pub fn actor(&self) -> String {
        format!("{} ({})", self.client.client_id, self.client.name)
    }

    /// Only agency systems register, and only under their own source system.
    pub fn check_may_register(&self, source_system: &str) -> Result<(), ApiError> {
        match (self.client.role, &self.client.agency) {
            (Role::Agency, Some(agency)) if agency == source_system => Ok(()),
            (Role::Agency, _) => Err(ApiError::Forbidden(format!(
                "this client registers records for '{}' only, not '{source_system}'",
                self.client.agency.as_deref().unwrap_or("no source system")
            ))),
            (role, _) => Err(ApiError::Forbidden(format!(
                "the {role} role cannot register records"
            ))),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, key) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            })
            .filter(|key| !key.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        let client = state
            .store
            .client_by_key(key)
            .await?
            .filter(|client| client.is_usable(Utc::now()))
            .ok_or(ApiError::Unauthenticated)?;
        Ok(Caller { client })
    }
}

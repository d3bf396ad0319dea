//! Referrals between agencies: made with a `referral` event in a record (or directly here),
//! listed by the receiving and the referring agency, moved by the receiving agency.
//!
//! Who sees what (`docs/referrals.md`): an agency that is a party to a referral (its `from` or
//! `to`) sees it with the minimum of the child needed to act on it, even without a record of
//! the child; officials and stewards see the referrals of the children in their scope. Only the
//! receiving agency, or a data steward within scope, moves a referral.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use registry::clients::Role;
use registry::referrals::{
    optional_text, NewReferral, Referral, ReferralPage, ReferralQuery, ReferralStatus,
};
use registry::validate::code_text;
use registry::{ChildId, ReadScope};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::{Caller, ChildReader};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// A referral made directly by the calling agency.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralRequest {
    /// A child the calling agency holds a record of.
    pub child_id: ChildId,
    /// The receiving agency's source system, e.g. `welfare-ug`.
    pub to: String,
    pub reason: Option<String>,
}

/// A move of a referral by the receiving agency.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `accepted` or `declined` (from `pending`), `closed` (from `accepted`).
    pub status: ReferralStatus,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReferralParams {
    /// Referrals to this agency (source system). An agency's default: its own.
    pub to: Option<String>,
    /// Referrals from this agency (source system).
    pub from: Option<String>,
    /// `pending`, `accepted`, `declined` or `closed`.
    pub status: Option<String>,
    /// `next_after` of the previous page.
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<i64>,
}

fn agency_filter(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(code_text(field, text)?)),
    }
}

impl ReferralParams {
    fn parse(self) -> Result<ReferralQuery, ApiError> {
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(ReferralStatus::parse(text).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_status",
                    "status",
                    "status must be pending, accepted, declined or closed",
                )
            })?),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(ReferralQuery {
            to: agency_filter("to", self.to)?,
            from: agency_filter("from", self.from)?,
            status,
            after: self.after,
            limit,
        })
    }
}

/// The scope a caller lists referrals in. An agency lists only referrals it is a party to
/// (named in `to` or `from`), whether or not it holds a record of the child: the referral is
/// what lets it act. Everyone else reads within their child scope.
fn listing_scope(caller: &Caller, query: &mut ReferralQuery) -> Result<ReadScope, ApiError> {
    if caller.role != Role::Agency {
        return Ok(caller.read_scope());
    }
    let Some(agency) = caller.agency.as_deref() else {
        return Err(ApiError::Forbidden(
            "this agency client has no source system".to_owned(),
        ));
    };
    if query.to.is_none() && query.from.is_none() {
        query.to = Some(agency.to_owned());
    }
    let party = query.to.as_deref() == Some(agency) || query.from.as_deref() == Some(agency);
    if !party {
        return Err(ApiError::Forbidden(format!(
            "an agency lists referrals to or from itself: ask for to={agency} or from={agency}"
        )));
    }
    Ok(ReadScope::All)
}

/// Whether the caller may see this referral at all.
async fn may_see(state: &AppState, caller: &Caller, referral: &Referral) -> Result<bool, ApiError> {
    if caller.role == Role::Agency {
        let agency = caller.agency.as_deref();
        return Ok(agency == Some(referral.to.as_str()) || agency == Some(referral.from.as_str()));
    }
    let scope = caller.read_scope();
    Ok(scope == ReadScope::All
        || state
            .store
            .child(referral.child_id, &scope)
            .await?
            .is_some())
}

fn referral_id(path: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(text) = path.map_err(|rejection| {
        ApiError::bad_request("invalid_referral_id", "id", rejection.body_text())
    })?;
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_referral_id",
                "id",
                "a referral ID is a positive number",
            )
        })
}

fn audit_target(referral: &Referral) -> AuditTarget {
    AuditTarget::named(format!("referral/{}", referral.referral_id))
        .with_children([referral.child_id])
        .with_details(serde_json::json!({
            "from": referral.from,
            "to": referral.to,
            "status": referral.status.as_str(),
        }))
}

/// Refers a child the calling agency holds a record of to another agency. (A `referral`
/// event in `POST /v1/records` does the same and shows on the child's timeline.)
#[utoipa::path(
    post, path = "/v1/referrals", tag = "referrals", request_body = ReferralRequest,
    security(("api_key" = [])),
    responses(
        (status = 201, body = Referral),
        (status = 400, description = "Invalid input; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agency", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such child among the agency's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_referral(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(request): ApiJson<ReferralRequest>,
) -> Result<(StatusCode, Json<Referral>), ApiError> {
    let from = match (caller.role, caller.agency.as_deref()) {
        (Role::Agency, Some(agency)) => agency.to_owned(),
        (role, _) => {
            return Err(ApiError::Forbidden(format!(
                "only agency systems make referrals; this caller is {role}"
            )))
        }
    };
    let to = code_text("to", &request.to)?;
    if to == from {
        return Err(ApiError::bad_request(
            "referral_to_self",
            "to",
            "an agency does not refer a child to itself",
        ));
    }
    let reason = optional_text("reason", request.reason)?;
    if state
        .store
        .child(request.child_id, &caller.read_scope())
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound(format!(
            "no child {} among this agency's",
            request.child_id
        )));
    }
    let referral = state
        .store
        .create_referral(
            NewReferral {
                child_id: request.child_id,
                from,
                to,
                reason,
                referred_on: chrono::Utc::now().date_naive(),
            },
            &caller.actor(),
        )
        .await?;
    state
        .audit(
            &caller,
            AuditAction::ReferralCreated,
            audit_target(&referral),
            &meta,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(referral)))
}

/// Referrals to (`to=`) or from (`from=`) an agency, optionally by status, oldest first.
#[utoipa::path(
    get, path = "/v1/referrals", tag = "referrals",
    security(("api_key" = [])),
    params(ReferralParams),
    responses(
        (status = 200, body = ReferralPage),
        (status = 400, description = "A bad parameter; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An agency asking about other agencies' referrals", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_referrals(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<ReferralParams>,
) -> Result<Json<ReferralPage>, ApiError> {
    let mut query = params.parse()?;
    let scope = listing_scope(&caller, &mut query)?;
    let page = state.store.referrals(&query, &scope).await?;
    let target = AuditTarget::none()
        .with_children(page.referrals.iter().map(|referral| referral.child_id))
        .with_details(serde_json::json!({
            "to": query.to,
            "from": query.from,
            "status": query.status.map(ReferralStatus::as_str),
            "referrals": page.referrals.iter().map(|r| r.referral_id).collect::<Vec<_>>(),
        }));
    state
        .audit(&caller, AuditAction::ReferralsRead, target, &meta)
        .await?;
    Ok(Json(page))
}

/// One referral with its status history.
#[utoipa::path(
    get, path = "/v1/referrals/{id}", tag = "referrals",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "Referral ID")),
    responses(
        (status = 200, body = Referral),
        (status = 404, description = "No such referral visible to this caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_referral(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Referral>, ApiError> {
    let id = referral_id(path)?;
    let referral = match state.store.referral(id).await? {
        Some(referral) if may_see(&state, &caller, &referral).await? => referral,
        _ => return Err(ApiError::NotFound(format!("no referral {id}"))),
    };
    state
        .audit(
            &caller,
            AuditAction::ReferralsRead,
            audit_target(&referral),
            &meta,
        )
        .await?;
    Ok(Json(referral))
}

/// Moves a referral: the receiving agency accepts or declines it, and closes it when done; a
/// data steward within scope may do the same. Any other move is a 409.
#[utoipa::path(
    post, path = "/v1/referrals/{id}/status", tag = "referrals", request_body = StatusRequest,
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "Referral ID")),
    responses(
        (status = 200, body = Referral),
        (status = 400, description = "Invalid input; `field` names it", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the receiving agency or a data steward", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such referral visible to this caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a move the referral's status allows", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_status(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    path: Result<Path<String>, PathRejection>,
    ApiJson(request): ApiJson<StatusRequest>,
) -> Result<Json<Referral>, ApiError> {
    let id = referral_id(path)?;
    let note = optional_text("note", request.note)?;
    let referral = match state.store.referral(id).await? {
        Some(referral) if may_see(&state, &caller, &referral).await? => referral,
        _ => return Err(ApiError::NotFound(format!("no referral {id}"))),
    };
    let receiving =
        caller.role == Role::Agency && caller.agency.as_deref() == Some(referral.to.as_str());
    if !(receiving || caller.role == Role::DataSteward) {
        return Err(ApiError::Forbidden(format!(
            "only the receiving agency ({}) or a data steward moves this referral",
            referral.to
        )));
    }
    let moved = state
        .store
        .move_referral(id, request.status, note.clone(), &caller.actor())
        .await?;
    let target = audit_target(&moved).with_details(serde_json::json!({
        "from": moved.from,
        "to": moved.to,
        "previous_status": referral.status.as_str(),
        "status": moved.status.as_str(),
        "note": note,
    }));
    state
        .audit(&caller, AuditAction::ReferralStatusChanged, target, &meta)
        .await?;
    Ok(Json(moved))
}

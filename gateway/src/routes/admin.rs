//! Administration over the API: people (`/v1/users`) and API clients (`/v1/clients`).
//! Administrators only; every read and change is in the audit log. The web UI's admin pages
//! call these handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use registry::clients::{ApiClient, NewClient, Role};
use registry::users::{self, NewUserRejected, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::Admin;
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;

/// Longest validity of a new API key, in days.
const MAX_KEY_DAYS: i64 = 3650;
const DEFAULT_KEY_DAYS: i64 = 365;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// 3 to 64 letters, digits, `.`, `-`, `_` or `@`.
    pub username: String,
    /// `national_official`, `district_official`, `agency`, `data_steward`, `admin` or `auditor`.
    pub role: String,
    /// The source system an `agency` person works for.
    pub agency: Option<String>,
    /// The district of a `district_official` (or a district-scoped `data_steward`).
    pub district: Option<String>,
    /// At least 12 characters, not a common password, not the username.
    pub password: String,
}

// Never print a password, not even in a debug log.
impl std::fmt::Debug for NewUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserRequest")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientRequest {
    pub name: String,
    /// Any role; an `agency` client needs `agency`.
    pub role: String,
    /// The source system an `agency` client registers under.
    pub agency: Option<String>,
    /// How long the key is valid: 1 to 3650 days, 365 when absent.
    pub valid_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ApiClient>,
}

/// A new client with its key: the only time the key is ever shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCreated {
    pub client: ApiClient,
    /// Send as `Authorization: Bearer <key>`. Stored only as a digest: keep it now.
    pub key: String,
}

/// A text field trimmed, or `None` when empty.
fn present(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    Role::parse(role).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_value",
            "role",
            format!(
                "unknown role '{role}'; one of {}",
                Role::ALL.map(Role::as_str).join(", ")
            ),
        )
    })
}

/// Everyone who may log in, with role, scope and whether disabled.
#[utoipa::path(
    get, path = "/v1/users", tag = "admin",
    responses(
        (status = 200, description = "People", body = UserList),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    Admin(caller): Admin,
    meta: RequestMeta,
) -> Result<Json<UserList>, ApiError> {
    let users = state.store.list_users().await?;
    state
        .audit(&caller, AuditAction::UsersRead, AuditTarget::none(), &meta)
        .await?;
    Ok(Json(UserList { users }))
}

/// Creates a person who logs in with a username and password.
#[utoipa::path(
    post, path = "/v1/users", tag = "admin", request_body = NewUserRequest,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "A field is invalid (`field` names it)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    Admin(caller): Admin,
    meta: RequestMeta,
    ApiJson(request): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let username = request.username.trim().to_owned();
    let role = parse_role(&request.role)?;
    let agency = present(request.agency.as_deref());
    let district = present(request.district.as_deref());
    let password = request.password;
    let new = tokio::task::spawn_blocking(move || {
        users::new_user(username, role, agency, district, &password)
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(|rejected| match rejected {
        NewUserRejected::Hashing(_) => ApiError::Internal,
        NewUserRejected::Password(_) => {
            ApiError::bad_request("weak_password", "password", rejected.to_string())
        }
        _ => ApiError::bad_request("invalid_value", rejected.field(), rejected.to_string()),
    })?;
    let user = state.store.create_user(new).await?;
    let target = AuditTarget::named(user.username.clone()).with_details(serde_json::json!({
        "user_id": user.user_id,
        "role": user.role,
        "agency": user.agency,
        "district": user.district,
    }));
    state
        .audit(&caller, AuditAction::UserCreated, target, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Disables a person: they can no longer log in and their sessions end.
#[utoipa::path(
    post, path = "/v1/users/{username}/disable", tag = "admin",
    params(("username" = String, Path, description = "The person's username")),
    responses(
        (status = 200, description = "Disabled", body = User),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disable_user(
    State(state): State<AppState>,
    Admin(caller): Admin,
    meta: RequestMeta,
    Path(username): Path<String>,
) -> Result<Json<User>, ApiError> {
    let user = state
        .store
        .disable_user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user '{username}'")))?;
    state
        .audit(
            &caller,
            AuditAction::UserDisabled,
            AuditTarget::named(username),
            &meta,
        )
        .await?;
    Ok(Json(user))
}

/// Every API client, with role, agency, key prefix, expiry and revocation (never the key).
#[utoipa::path(
    get, path = "/v1/clients", tag = "admin",
    responses(
        (status = 200, description = "API clients", body = ClientList),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_clients(
    State(state): State<AppState>,
    Admin(caller): Admin,
    meta: RequestMeta,
) -> Result<Json<ClientList>, ApiError> {
    let clients = state.store.list_clients().await?;
    state
        .audit(
            &caller,
            AuditAction::ClientsRead,
            AuditTarget::none(),
            &meta,
        )
        .await?;
    Ok(Json(ClientList { clients }))
}

/// Creates an API client and returns its key, once.
#[utoipa::path(
    post, path = "/v1/clients", tag = "admin", request_body = NewClientRequest,
    responses(
        (status = 201, description = "Created; the key is in this response only", body = ClientCreated),
        (status = 400, description = "A field is invalid (`field` names it)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_client(
    State(state): State<AppState>,
    Admin(caller): Admin,
    meta: RequestMeta,
    ApiJson(request): ApiJson<NewClientRequest>,
) -> Result<(StatusCode, Json<ClientCreated>), ApiError> {
    let name = request.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "missing_field",
            "name",
            "a client needs a name",
        ));
    }
    let role = parse_role(&request.role)?;
    let agency = present(request.agency.as_deref());
    if role == Role::Agency && agency.is_none() {
        return Err(ApiError::bad_request(
            "missing_field",
            "agency",
            "an agency client needs the source system it registers under",
        ));
    }
    let days = request.valid_days.unwrap_or(DEFAULT_KEY_DAYS);
    if !(1..=MAX_KEY_DAYS).contains(&days) {
        return Err(ApiError::bad_request(
            "invalid_value",
            "valid_days",
            format!("a key is valid for 1 to {MAX_KEY_DAYS} days"),
        ));
    }
    let (client, key) = state
        .store
        .create_client(NewClient {
            name,
            agency,
            role,
            expires_at: Some(Utc::now() + chrono::Duration::days(days)),
        })
        .await?;
    let target = AuditTarget::named(client.client_id.clone()).with_details(serde_json::json!({
        "name": client.name,
        "role": client.role,
        "agency": client.agency,
    }));
    state
        .audit(&caller, AuditAction::ClientCreated, target, &meta)
        .await?;
    Ok((StatusCode::CREATED, Json(ClientCreated { client, key })))
}

/// Revokes an API client's key at once.
#[utoipa::path(
    post, path = "/v1/clients/{client_id}/revoke", tag = "admin",
    params(("client_id" = String, Path, description = "The client's ID")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_client(
    State(state): State<AppState>,
    Admin(caller): Admin,
    meta: RequestMeta,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.store.revoke_client(&client_id).await? {
        return Err(ApiError::NotFound(format!("no client '{client_id}'")));
    }
    state
        .audit(
            &caller,
            AuditAction::ClientRevoked,
            AuditTarget::named(client_id),
            &meta,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Administration: people and API clients, created, disabled and revoked; a new API key is
//! shown once, on the page that created it, and never again.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use chrono::Utc;
use registry::clients::{NewClient, Role};
use registry::users::{self, NewUser};
use serde::Deserialize;

use super::view::{self, Page};
use super::{see_other, PageContext, UiError};
use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::state::AppState;

struct UserRow {
    username: String,
    role: String,
    scope: String,
    disabled: bool,
}

struct ClientRow {
    client_id: String,
    name: String,
    role: String,
    agency: String,
    key_prefix: String,
    expires: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    page: Page,
    users: Vec<UserRow>,
    clients: Vec<ClientRow>,
    roles: Vec<(&'static str, String)>,
    new_key: Option<String>,
    message: Option<String>,
    error: Option<String>,
}

async fn admin_view(
    state: &AppState,
    context: &PageContext,
    caller: &crate::auth::Caller,
    status: StatusCode,
    new_key: Option<String>,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let tr = context.tr();
    let fail = |error: registry::RegistryError| context.fail(error.into());
    let users = state
        .store
        .list_users()
        .await
        .map_err(fail)?
        .into_iter()
        .map(|user| UserRow {
            role: tr.t(&format!("role-{}", user.role.as_str())),
            scope: user
                .agency
                .clone()
                .or_else(|| user.district.clone())
                .unwrap_or_default(),
            disabled: user.disabled_at.is_some(),
            username: user.username,
        })
        .collect();
    let now = Utc::now();
    let clients = state
        .store
        .list_clients()
        .await
        .map_err(fail)?
        .into_iter()
        .map(|client| ClientRow {
            role: tr.t(&format!("role-{}", client.role.as_str())),
            agency: client.agency.clone().unwrap_or_default(),
            key_prefix: client.key_prefix.clone(),
            expires: client
                .expires_at
                .map(|at| tr.date(at.date_naive()))
                .unwrap_or_default(),
            revoked: !client.is_usable(now),
            client_id: client.client_id,
            name: client.name,
        })
        .collect();
    Ok(view::render(
        status,
        &AdminPage {
            page: context.page(caller, tr.t("admin-title")),
            users,
            clients,
            roles: Role::ALL
                .iter()
                .map(|role| (role.as_str(), tr.t(&format!("role-{}", role.as_str()))))
                .collect(),
            new_key,
            message,
            error,
        },
    ))
}

pub async fn admin_page(
    State(state): State<AppState>,
    context: PageContext,
    admin: Result<Admin, ApiError>,
) -> Result<Response, UiError> {
    let Admin(caller) = admin.map_err(|error| context.fail(error))?;
    let message = context
        .here
        .contains("done=")
        .then(|| context.tr().t("admin-done"));
    admin_view(
        &state,
        &context,
        &caller,
        StatusCode::OK,
        None,
        message,
        None,
    )
    .await
}

fn optional(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

#[derive(Deserialize)]
pub struct NewUserForm {
    username: String,
    role: String,
    agency: Option<String>,
    district: Option<String>,
    password: String,
}

/// Why a form was refused, for the person who filled it in.
fn check_new_user(form: &NewUserForm) -> Result<Role, String> {
    let role = Role::parse(&form.role).ok_or_else(|| format!("unknown role '{}'", form.role))?;
    if !users::valid_username(&form.username) {
        return Err("a username has 3 to 64 letters, digits, '.', '-', '_' or '@'".to_owned());
    }
    users::check_scope(
        role,
        optional(form.agency.clone()).as_deref(),
        optional(form.district.clone()).as_deref(),
    )
    .map_err(|rejected| rejected.to_string())?;
    users::check_password_policy(&form.username, &form.password)
        .map_err(|rejected| rejected.to_string())?;
    Ok(role)
}

pub async fn create_user(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    admin: Result<Admin, ApiError>,
    Form(form): Form<NewUserForm>,
) -> Result<Response, UiError> {
    let Admin(caller) = admin.map_err(|error| context.fail(error))?;
    let role = match check_new_user(&form) {
        Ok(role) => role,
        Err(error) => {
            return admin_view(
                &state,
                &context,
                &caller,
                StatusCode::BAD_REQUEST,
                None,
                None,
                Some(error),
            )
            .await
        }
    };
    let password = form.password;
    let password_hash = tokio::task::spawn_blocking(move || users::hash_password(&password))
        .await
        .map_err(|_| context.fail(ApiError::Internal))?
        .map_err(|_| context.fail(ApiError::Internal))?;
    let created = state
        .store
        .create_user(NewUser {
            username: form.username.trim().to_owned(),
            role,
            agency: optional(form.agency),
            district: optional(form.district),
            password_hash,
        })
        .await;
    let user = match created {
        Ok(user) => user,
        Err(registry::RegistryError::Conflict { message, .. }) => {
            return admin_view(
                &state,
                &context,
                &caller,
                StatusCode::CONFLICT,
                None,
                None,
                Some(message),
            )
            .await
        }
        Err(error) => return Err(context.fail(error.into())),
    };
    let target = AuditTarget::named(user.username.clone()).with_details(serde_json::json!({
        "user_id": user.user_id,
        "role": user.role,
        "agency": user.agency,
        "district": user.district,
    }));
    state
        .audit(&caller, AuditAction::UserCreated, target, &meta)
        .await
        .map_err(|error| context.fail(error))?;
    Ok(see_other("/admin?done=user"))
}

pub async fn disable_user(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    admin: Result<Admin, ApiError>,
    Path(username): Path<String>,
) -> Result<Response, UiError> {
    let Admin(caller) = admin.map_err(|error| context.fail(error))?;
    let disabled = state
        .store
        .disable_user(&username)
        .await
        .map_err(|error| context.fail(error.into()))?;
    if disabled.is_none() {
        return Err(context.fail(ApiError::NotFound(format!("no user '{username}'"))));
    }
    state
        .audit(
            &caller,
            AuditAction::UserDisabled,
            AuditTarget::named(username),
            &meta,
        )
        .await
        .map_err(|error| context.fail(error))?;
    Ok(see_other("/admin?done=disabled"))
}

#[derive(Deserialize)]
pub struct NewClientForm {
    name: String,
    role: String,
    agency: Option<String>,
    valid_days: Option<String>,
}

pub async fn create_client(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    admin: Result<Admin, ApiError>,
    Form(form): Form<NewClientForm>,
) -> Result<Response, UiError> {
    let Admin(caller) = admin.map_err(|error| context.fail(error))?;
    let agency = optional(form.agency);
    let days = optional(form.valid_days)
        .map(|days| days.parse::<i64>())
        .transpose();
    let checked = match (Role::parse(&form.role), days) {
        (None, _) => Err(format!("unknown role '{}'", form.role)),
        (_, Err(_)) | (_, Ok(Some(i64::MIN..=0))) | (_, Ok(Some(3651..))) => {
            Err("a key is valid for 1 to 3650 days".to_owned())
        }
        (Some(_), _) if form.name.trim().is_empty() => Err("a client needs a name".to_owned()),
        (Some(Role::Agency), _) if agency.is_none() => {
            Err("an agency client needs its source system".to_owned())
        }
        (Some(role), Ok(days)) => Ok((role, days.unwrap_or(365))),
    };
    let (role, days) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            return admin_view(
                &state,
                &context,
                &caller,
                StatusCode::BAD_REQUEST,
                None,
                None,
                Some(error),
            )
            .await
        }
    };
    let (client, key) = state
        .store
        .create_client(NewClient {
            name: form.name.trim().to_owned(),
            agency,
            role,
            expires_at: Some(Utc::now() + chrono::Duration::days(days)),
        })
        .await
        .map_err(|error| context.fail(error.into()))?;
    let target = AuditTarget::named(client.client_id.clone()).with_details(serde_json::json!({
        "name": client.name,
        "role": client.role,
        "agency": client.agency,
    }));
    state
        .audit(&caller, AuditAction::ClientCreated, target, &meta)
        .await
        .map_err(|error| context.fail(error))?;
    // The key is shown on this response only: it is stored as a digest.
    admin_view(
        &state,
        &context,
        &caller,
        StatusCode::CREATED,
        Some(key),
        Some(context.tr().t("admin-key-once")),
        None,
    )
    .await
}

pub async fn revoke_client(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    admin: Result<Admin, ApiError>,
    Path(client_id): Path<String>,
) -> Result<Response, UiError> {
    let Admin(caller) = admin.map_err(|error| context.fail(error))?;
    let revoked = state
        .store
        .revoke_client(&client_id)
        .await
        .map_err(|error| context.fail(error.into()))?;
    if !revoked {
        return Err(context.fail(ApiError::NotFound(format!("no client '{client_id}'"))));
    }
    state
        .audit(
            &caller,
            AuditAction::ClientRevoked,
            AuditTarget::named(client_id),
            &meta,
        )
        .await
        .map_err(|error| context.fail(error))?;
    Ok(see_other("/admin?done=revoked"))
}

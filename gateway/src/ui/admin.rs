//! Administration: people and API clients, created, disabled and revoked; a new API key is
//! shown once, on the page that created it, and never again.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use chrono::Utc;
use registry::clients::Role;
use serde::Deserialize;

use super::view::{self, Page};
use super::{see_other, PageContext, UiError};
use crate::audit::RequestMeta;
use crate::auth::{Admin, Caller};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes;
use crate::routes::admin::{ClientList, NewClientRequest, NewUserRequest, UserList};
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

/// What the admin page says above its tables after an action.
#[derive(Default)]
struct Outcome {
    new_key: Option<String>,
    message: Option<String>,
    error: Option<String>,
}

async fn admin_view(
    state: &AppState,
    context: &PageContext,
    caller: &Caller,
    meta: &RequestMeta,
    status: StatusCode,
    outcome: Outcome,
) -> Result<Response, UiError> {
    let Outcome {
        new_key,
        message,
        error,
    } = outcome;
    let tr = context.tr();
    let fail = |error: ApiError| context.fail(error);
    let Json(UserList { users }) =
        routes::admin::list_users(State(state.clone()), Admin(caller.clone()), meta.clone())
            .await
            .map_err(fail)?;
    let users = users
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
    let Json(ClientList { clients }) =
        routes::admin::list_clients(State(state.clone()), Admin(caller.clone()), meta.clone())
            .await
            .map_err(fail)?;
    let clients = clients
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
    meta: RequestMeta,
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
        &meta,
        StatusCode::OK,
        Outcome {
            message,
            ..Outcome::default()
        },
    )
    .await
}

/// A refused form is shown again on the admin page with the API's reason; anything else is
/// an error page.
async fn refused_or_failed(
    state: &AppState,
    context: &PageContext,
    caller: &Caller,
    meta: &RequestMeta,
    error: ApiError,
) -> Result<Response, UiError> {
    match error {
        ApiError::BadRequest { .. } | ApiError::Invalid(_) | ApiError::Conflict { .. } => {
            let status = error.status();
            admin_view(
                state,
                context,
                caller,
                meta,
                status,
                Outcome {
                    error: Some(error.to_string()),
                    ..Outcome::default()
                },
            )
            .await
        }
        other => Err(context.fail(other)),
    }
}

/// Form fields arrive as text; an empty optional field means "none".
fn optional(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

#[derive(Deserialize)]
pub struct NewUserForm {
    username: String,
    role: String,
    agency: Option<String>,
    district: Option<String>,
    password: String,
}

pub async fn create_user(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    admin: Result<Admin, ApiError>,
    Form(form): Form<NewUserForm>,
) -> Result<Response, UiError> {
    let Admin(caller) = admin.map_err(|error| context.fail(error))?;
    let request = NewUserRequest {
        username: form.username,
        role: form.role,
        agency: optional(form.agency),
        district: optional(form.district),
        password: form.password,
    };
    match routes::admin::create_user(
        State(state.clone()),
        Admin(caller.clone()),
        meta.clone(),
        ApiJson(request),
    )
    .await
    {
        Ok(_) => Ok(see_other("/admin?done=user")),
        Err(error) => refused_or_failed(&state, &context, &caller, &meta, error).await,
    }
}

pub async fn disable_user(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    admin: Result<Admin, ApiError>,
    Path(username): Path<String>,
) -> Result<Response, UiError> {
    let Admin(caller) = admin.map_err(|error| context.fail(error))?;
    let _disabled = routes::admin::disable_user(State(state), Admin(caller), meta, Path(username))
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
    let valid_days = match optional(form.valid_days).map(|days| days.trim().parse::<i64>()) {
        None => None,
        Some(Ok(days)) => Some(days),
        Some(Err(_)) => {
            let error = ApiError::bad_request(
                "invalid_value",
                "valid_days",
                "a key is valid for a whole number of days",
            );
            return refused_or_failed(&state, &context, &caller, &meta, error).await;
        }
    };
    let request = NewClientRequest {
        name: form.name,
        role: form.role,
        agency: optional(form.agency),
        valid_days,
    };
    let created = routes::admin::create_client(
        State(state.clone()),
        Admin(caller.clone()),
        meta.clone(),
        ApiJson(request),
    )
    .await;
    match created {
        // The key is shown on this response only: it is stored as a digest.
        Ok((_, Json(created))) => {
            admin_view(
                &state,
                &context,
                &caller,
                &meta,
                StatusCode::CREATED,
                Outcome {
                    new_key: Some(created.key),
                    message: Some(context.tr().t("admin-key-once")),
                    error: None,
                },
            )
            .await
        }
        Err(error) => refused_or_failed(&state, &context, &caller, &meta, error).await,
    }
}

pub async fn revoke_client(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    admin: Result<Admin, ApiError>,
    Path(client_id): Path<String>,
) -> Result<Response, UiError> {
    let Admin(caller) = admin.map_err(|error| context.fail(error))?;
    routes::admin::revoke_client(State(state), Admin(caller), meta, Path(client_id))
        .await
        .map_err(|error| context.fail(error))?;
    Ok(see_other("/admin?done=revoked"))
}

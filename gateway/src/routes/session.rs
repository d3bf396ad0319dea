//! People log in and out: `POST /v1/session`, `GET /v1/session`, `DELETE /v1/session`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use registry::audit::Actor;
use registry::users::{self, SessionRecord, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::{Caller, Credential};
use crate::error::{ApiError, Problem};
use crate::extract::ApiJson;
use crate::session::{clear_session_cookie, set_session_cookie};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

// Never print a password, not even in a debug log.
impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A new session. The session token itself travels only in the HttpOnly cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionCreated {
    pub user: User,
    /// Send this in `X-CSRF-Token` with every write made with the session cookie.
    pub csrf_token: String,
    /// The session ends at this time at the latest.
    pub expires_at: DateTime<Utc>,
    /// The session ends after this many seconds without a request.
    pub idle_timeout_seconds: i64,
}

/// Who is logged in.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub id: String,
    pub name: String,
    pub role: String,
    pub agency: Option<String>,
    pub district: Option<String>,
    /// `api_key` or `session`.
    pub authenticated_by: String,
}

/// Logs a person in: sets an HttpOnly, SameSite=Strict session cookie and returns the CSRF
/// token for writes. Five wrong passwords in a row lock the account for 15 minutes.
#[utoipa::path(
    post, path = "/v1/session", tag = "session", request_body = LoginRequest,
    responses(
        (status = 201, description = "Logged in; the cookie is set", body = SessionCreated),
        (status = 401, description = "Wrong username or password or disabled account (`invalid_credentials`), or an account locked after five failures (`account_locked`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let (body, token) = start_session(&state, &meta, request).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        set_session_cookie(&token, &state.security),
    );
    headers.insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok((StatusCode::CREATED, headers, Json(body)).into_response())
}

/// Checks a person's password and opens a session: the session and its token (for the
/// cookie). Wrong passwords count towards the lock; every attempt is audited. The web UI's
/// login form uses this too.
pub async fn start_session(
    state: &AppState,
    meta: &RequestMeta,
    request: LoginRequest,
) -> Result<(SessionCreated, String), ApiError> {
    let now = Utc::now();
    let found = state
        .store
        .user_with_password_hash(&request.username)
        .await?;
    // An unknown username costs the same argon2 work as a wrong password.
    let stored_hash = found
        .as_ref()
        .map_or_else(|| users::decoy_hash().to_owned(), |(_, hash)| hash.clone());
    let password = request.password;
    let password_matches =
        tokio::task::spawn_blocking(move || users::verify_password(&password, &stored_hash))
            .await
            .map_err(|_| ApiError::Internal)?;
    let failure = |reason: &str, user: Option<&User>| {
        AuditTarget::named(request.username.clone()).with_details(serde_json::json!({
            "reason": reason,
            "locked": user.is_some_and(|user| user.is_locked(now)),
        }))
    };
    let anonymous = Actor {
        kind: "anonymous".to_owned(),
        id: meta
            .peer
            .map_or_else(|| "unknown".to_owned(), |peer| peer.to_string()),
        role: None,
    };
    let user = match found {
        None => {
            state
                .audit_as(
                    anonymous,
                    AuditAction::LoginFailed,
                    failure("unknown_user", None),
                    meta,
                )
                .await?;
            return Err(ApiError::InvalidCredentials);
        }
        Some((user, _)) => user,
    };
    let refusal = if user.disabled_at.is_some() {
        Some("disabled")
    } else if user.is_locked(now) {
        Some("locked")
    } else if !password_matches {
        Some("wrong_password")
    } else {
        None
    };
    if let Some(reason) = refusal {
        let user = if reason == "wrong_password" {
            state.store.record_failed_login(&user.user_id, now).await?
        } else {
            user
        };
        let actor = Actor {
            kind: "user".to_owned(),
            id: user.user_id.clone(),
            role: Some(user.role.as_str().to_owned()),
        };
        state
            .audit_as(
                actor,
                AuditAction::LoginFailed,
                failure(reason, Some(&user)),
                meta,
            )
            .await?;
        // A locked account is said to be locked (and until when), so a person knows to wait
        // rather than keep guessing; a disabled account gets no more than a wrong password.
        return Err(match user.locked_until {
            Some(until) if until > now && reason != "disabled" => ApiError::AccountLocked { until },
            _ => ApiError::InvalidCredentials,
        });
    }
    state.store.record_successful_login(&user.user_id).await?;
    let token = users::new_secret();
    let csrf_token = users::new_secret();
    let session = SessionRecord {
        token_hash: users::secret_digest(&token),
        user_id: user.user_id.clone(),
        csrf_hash: users::secret_digest(&csrf_token),
        created_at: now,
        last_seen_at: now,
        expires_at: now + state.security.session_absolute,
    };
    state.store.create_session(&session).await?;
    let caller = Caller::from_user(user.clone(), session.token_hash.clone());
    state
        .audit(
            &caller,
            AuditAction::Login,
            AuditTarget::named(user.username.clone()),
            meta,
        )
        .await?;
    let body = SessionCreated {
        user,
        csrf_token,
        expires_at: session.expires_at,
        idle_timeout_seconds: state.security.session_idle.num_seconds(),
    };
    Ok((body, token))
}

/// Who the caller is: the person of the session cookie or the API client of the key.
#[utoipa::path(
    get, path = "/v1/session", tag = "session",
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn who_am_i(caller: Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        authenticated_by: match caller.credential {
            Credential::ApiKey => "api_key",
            Credential::Session { .. } => "session",
        }
        .to_owned(),
        id: caller.id,
        name: caller.name,
        role: caller.role.as_str().to_owned(),
        agency: caller.agency,
        district: caller.district,
    })
}

/// Logs out: ends the session and clears the cookie (needs the CSRF token).
#[utoipa::path(
    delete, path = "/v1/session", tag = "session",
    responses(
        (status = 204, description = "Logged out"),
        (status = 400, description = "Authenticated with an API key, not a session", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
) -> Result<Response, ApiError> {
    let Credential::Session { token_hash } = &caller.credential else {
        return Err(ApiError::BadRequest {
            code: "not_a_session",
            detail: "API keys have no session to end; revoke the key instead".to_owned(),
            field: None,
        });
    };
    state.store.delete_session(token_hash).await?;
    state
        .audit(
            &caller,
            AuditAction::Logout,
            AuditTarget::named(caller.name.clone()),
            &meta,
        )
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, clear_session_cookie(&state.security));
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

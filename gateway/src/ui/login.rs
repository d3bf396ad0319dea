//! Logging in and out, and the language switch.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::i18n::{cookie, Lang, LANGUAGE_COOKIE};
use super::view::{self, Page};
use super::{see_other, PageContext, UiError, CSRF_COOKIE};
use crate::audit::RequestMeta;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::session::{logout, start_session, LoginRequest};
use crate::session::{clear_session_cookie, set_session_cookie, strict_cookie};
use crate::state::AppState;
use registry::users;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    notice: Option<String>,
    error: Option<String>,
    username: String,
    next: String,
    login_token: String,
}

/// The cookie holding the login form's token. Login has no session to bind a CSRF token to,
/// so the form and a SameSite=Strict cookie carry the same random token (double submit): a
/// form posted from another site arrives without the cookie and is refused, so nobody can
/// log a person in to an account of the attacker's choosing.
const LOGIN_TOKEN_COOKIE: &str = "cr_login";

/// A login page with a fresh form token, and the cookie that must come back with it.
fn login_form(status: StatusCode, state: &AppState, page: LoginPage) -> Response {
    let cookie = strict_cookie(
        LOGIN_TOKEN_COOKIE,
        &page.login_token,
        "/login",
        3600,
        &state.security,
    );
    let mut response = view::render(status, &page);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    reason: Option<String>,
    next: Option<String>,
}

/// Only a path on this site is a place to return to (no `//elsewhere` or `https://…`).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/search".to_owned(),
    }
}

pub async fn login_page(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<LoginQuery>,
) -> Response {
    let tr = context.tr();
    let notice = match query.reason.as_deref() {
        Some("expired") => Some(tr.t("login-expired")),
        Some("logged-out") => Some(tr.t("login-logged-out")),
        _ => None,
    };
    login_form(
        StatusCode::OK,
        &state,
        LoginPage {
            page: Page::new(&context, None, tr.t("login-title")),
            notice,
            error: None,
            username: String::new(),
            next: local_path(query.next.as_deref()),
            login_token: users::new_secret(),
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
    login_token: Option<String>,
}

pub async fn log_in(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let tr = context.tr();
    let next = local_path(form.next.as_deref());
    let expected = cookie(&headers, LOGIN_TOKEN_COOKIE);
    let token_matches = matches!(
        (&expected, &form.login_token),
        (Some(expected), Some(sent)) if !expected.is_empty() && expected == sent
    );
    if !token_matches {
        return login_form(
            StatusCode::FORBIDDEN,
            &state,
            LoginPage {
                page: Page::new(&context, None, tr.t("login-title")),
                notice: None,
                error: Some(tr.t("error-csrf")),
                username: form.username,
                next,
                login_token: users::new_secret(),
            },
        );
    }
    let request = LoginRequest {
        username: form.username.trim().to_owned(),
        password: form.password,
    };
    let (status, error) = match start_session(&state, &meta, request).await {
        Ok((session, token)) => {
            let mut response = see_other(&next);
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_session_cookie(&token, &state.security),
            );
            headers.append(header::SET_COOKIE, csrf_cookie(&session.csrf_token, &state));
            return response;
        }
        Err(ApiError::AccountLocked { until }) => {
            // Rounded up: "try again in 14 minutes" at 14:30 left would fail once more.
            let seconds = (until - chrono::Utc::now()).num_seconds();
            let minutes = ((seconds + 59) / 60).max(1);
            (
                StatusCode::UNAUTHORIZED,
                tr.t_count("login-locked", minutes),
            )
        }
        Err(ApiError::InvalidCredentials) => (StatusCode::UNAUTHORIZED, tr.t("login-wrong")),
        Err(ApiError::TooManyRequests { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, tr.t("error-too-many"))
        }
        Err(other) => return context.fail(other).into_response(),
    };
    login_form(
        status,
        &state,
        LoginPage {
            page: Page::new(&context, None, tr.t("login-title")),
            notice: None,
            error: Some(error),
            username: form.username,
            next,
            login_token: users::new_secret(),
        },
    )
}

fn csrf_cookie(token: &str, state: &AppState) -> HeaderValue {
    strict_cookie(
        CSRF_COOKIE,
        token,
        "/",
        state.security.session_absolute.num_seconds(),
        &state.security,
    )
}

pub async fn log_out(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    caller: Result<Caller, ApiError>,
) -> Result<Response, UiError> {
    let caller = caller.map_err(|error| context.fail(error))?;
    logout(State(state.clone()), caller, meta)
        .await
        .map_err(|error| context.fail(error))?;
    let mut response = see_other("/login?reason=logged-out");
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie(&state.security));
    response.headers_mut().append(
        header::SET_COOKIE,
        strict_cookie(CSRF_COOKIE, "", "/", 0, &state.security),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct LanguageQuery {
    lang: String,
    back: Option<String>,
}

/// The language switch: remembers the person's choice for a year and goes back.
pub async fn choose_language(Query(query): Query<LanguageQuery>) -> Response {
    let back = local_path(query.back.as_deref());
    let Some(lang) = Lang::from_tag(&query.lang) else {
        return see_other(&back);
    };
    let mut headers = HeaderMap::new();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{LANGUAGE_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    )) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    (headers, see_other(&back)).into_response()
}

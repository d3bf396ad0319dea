//! The web UI for officials, data stewards and administrators, served at `/`.
//!
//! Pages are rendered on the server (askama templates, Fluent translations) so they are light
//! on slow links and work without scripts; one small script adds search-as-you-type and
//! keyboard shortcuts. Every page calls the same API handlers as any other client, with the
//! person's session as the caller, so permissions, redaction and the audit log are the API's.
//! Forms carry the session's CSRF token in a hidden field; [`csrf_field_to_header`] hands it to
//! the API's check.

mod admin;
mod assets;
mod child;
pub mod dashboard;
pub mod i18n;
mod login;
mod review;
mod search;
mod view;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::session::{session_cookie, CSRF_HEADER};
use crate::state::AppState;
use i18n::{Lang, Tr};

/// The cookie that hands the session's CSRF token back to the server when it renders a form
/// (HttpOnly and SameSite=Strict like the session cookie: only our own pages ever see it).
pub const CSRF_COOKIE: &str = "cr_csrf";

/// Largest form body accepted.
const FORM_LIMIT: usize = 64 * 1024;

/// Scripts only from our own origin, no framing, no plugins, forms only to ourselves.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(home))
        .route("/login", get(login::login_page).post(login::log_in))
        .route("/logout", post(login::log_out))
        .route("/language", get(login::choose_language))
        .route("/search", get(search::search_page))
        .route("/go", get(search::go_to_child))
        .route("/children/{child_id}", get(child::child_page))
        .route("/children/{child_id}/merge", post(child::merge))
        .route(
            "/records/{source_system}/{source_record_id}/unlink",
            post(child::unlink),
        )
        .route("/review", get(review::queue_page))
        .route(
            "/review/{id}",
            get(review::candidate_page).post(review::decide),
        )
        .route("/review/{id}/release", post(review::release))
        .route("/dashboard", get(dashboard::dashboard_page))
        .route("/admin", get(admin::admin_page))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/{username}/disable", post(admin::disable_user))
        .route("/admin/clients", post(admin::create_client))
        .route(
            "/admin/clients/{client_id}/revoke",
            post(admin::revoke_client),
        )
        .layer(middleware::from_fn(csrf_field_to_header))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .merge(pages)
        // Only the assets are compressed: pages hold the CSRF token beside text a request can
        // choose (a search), and compressing both together leaks the token by size (BREACH).
        .route(
            "/assets/{file}",
            get(assets::asset).layer(CompressionLayer::new()),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

async fn home(context: PageContext) -> Redirect {
    if context.has_session {
        Redirect::to("/search")
    } else {
        Redirect::to("/login")
    }
}

/// A form post's `csrf_token` field becomes the `X-CSRF-Token` header, so the API's one
/// CSRF check (in the [`Caller`] extractor) guards forms too.
async fn csrf_field_to_header(request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
        return ApiError::PayloadTooLarge { limit: FORM_LIMIT }.into_response();
    };
    let token = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "csrf_token")
        .map(|(_, value)| value.into_owned());
    if let Some(value) = token.and_then(|token| HeaderValue::from_str(&token).ok()) {
        parts.headers.insert(CSRF_HEADER, value);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// What every page knows about its request before authentication: the language, where it
/// is, whether a session cookie came with it and the CSRF token for its forms.
#[derive(Debug, Clone)]
pub struct PageContext {
    pub lang: Lang,
    /// Path and query, for the language switch and the way back after login.
    pub here: String,
    pub has_session: bool,
    pub csrf: String,
}

impl<S: Send + Sync> FromRequestParts<S> for PageContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(lang) = Lang::from_request_parts(parts, state).await;
        Ok(PageContext {
            lang,
            here: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |path| path.as_str().to_owned()),
            has_session: session_cookie(&parts.headers).is_some(),
            csrf: i18n::cookie(&parts.headers, CSRF_COOKIE).unwrap_or_default(),
        })
    }
}

impl PageContext {
    pub fn tr(&self) -> Tr {
        Tr::new(self.lang)
    }

    /// The frame of a page for a logged-in person.
    pub fn page(&self, caller: &Caller, title: String) -> view::Page {
        view::Page::new(self, Some(caller), title)
    }

    /// Turns an API error into what a person sees: the login page when not logged in, else
    /// an error page in their language.
    pub fn fail(&self, error: ApiError) -> UiError {
        UiError {
            error,
            context: self.clone(),
        }
    }
}

/// An error on a page: rendered as HTML with the API error's status and message.
#[derive(Debug)]
pub struct UiError {
    error: ApiError,
    context: PageContext,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let context = &self.context;
        if matches!(self.error, ApiError::Unauthenticated) {
            let reason = if context.has_session {
                "expired"
            } else {
                "login"
            };
            let next: String = form_urlencoded::byte_serialize(context.here.as_bytes()).collect();
            return Redirect::to(&format!("/login?reason={reason}&next={next}")).into_response();
        }
        let status = self.error.status();
        let tr = context.tr();
        let message = match &self.error {
            ApiError::NotFound(_) => tr.t("error-not-found"),
            ApiError::Forbidden(_) => tr.t("error-forbidden"),
            ApiError::CsrfRejected => tr.t("error-csrf"),
            ApiError::PreconditionFailed(_) => tr.t("error-stale"),
            ApiError::TooManyRequests { .. } => tr.t("error-too-many"),
            ApiError::Unavailable | ApiError::Internal => tr.t("error-unavailable"),
            other => other.to_string(),
        };
        let page = view::Page::new(context, None, tr.t("error-title"));
        view::render(status, &view::ErrorPage { page, message })
    }
}

/// A `303 See Other` after a form post, so reloading the page does not post again.
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
    )
        .into_response()
}

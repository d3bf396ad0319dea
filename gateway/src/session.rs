//! Session cookies and the security settings of the HTTP layer.

use axum::http::{header, HeaderMap, HeaderValue};

/// The cookie holding a person's session token.
pub const SESSION_COOKIE: &str = "cr_session";
/// The header that must carry the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Session lifetimes, cookie flags and rate limits.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// A session unused this long ends.
    pub session_idle: chrono::Duration,
    /// A session ends this long after login, however active.
    pub session_absolute: chrono::Duration,
    /// Mark cookies `Secure` (served over TLS, directly or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Requests per minute for one API key or session.
    pub requests_per_minute_per_credential: u32,
    /// Requests per minute from one address.
    pub requests_per_minute_per_address: u32,
    /// Login attempts per minute from one address.
    pub logins_per_minute_per_address: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            session_idle: chrono::Duration::minutes(30),
            session_absolute: chrono::Duration::hours(12),
            secure_cookies: false,
            requests_per_minute_per_credential: 6000,
            requests_per_minute_per_address: 12000,
            logins_per_minute_per_address: 10,
        }
    }
}

/// The session token from the `Cookie` header(s), if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a new session: HttpOnly (no script reads it), SameSite=Strict (no
/// cross-site request carries it), Secure when served over TLS, and no longer-lived than the
/// session's absolute timeout.
pub fn set_session_cookie(token: &str, config: &SecurityConfig) -> HeaderValue {
    strict_cookie(
        SESSION_COOKIE,
        token,
        "/",
        config.session_absolute.num_seconds(),
        config,
    )
}

/// `Set-Cookie` that removes the session cookie (logout).
pub fn clear_session_cookie(config: &SecurityConfig) -> HeaderValue {
    strict_cookie(SESSION_COOKIE, "", "/", 0, config)
}

/// `Set-Cookie` for a cookie only this site's own requests carry and no script reads: HttpOnly,
/// SameSite=Strict, Secure when served over TLS. `max_age_seconds` 0 removes it.
pub fn strict_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age_seconds: i64,
    config: &SecurityConfig,
) -> HeaderValue {
    let secure = if config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

//! Rate limits per credential (API key or session) and per address, with `governor`'s keyed
//! GCRA limiters. Answers `429` problem+json with `Retry-After`.
//!
//! A middleware rather than `tower_governor`: the credential key is the digest of the bearer
//! key or session cookie (not a header value kept in memory), and three limits (credential,
//! address, logins per address) apply to one request.

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use registry::users::secret_digest;

use crate::auth::bearer_key;
use crate::error::ApiError;
use crate::session::{session_cookie, SecurityConfig};
use crate::state::AppState;

pub struct RateLimits {
    per_credential: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
}

/// Forget idle keys once a limiter holds this many, so memory stays bounded.
const MAX_KEYS: usize = 100_000;

fn per_minute(limit: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(limit.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl RateLimits {
    pub fn new(config: &SecurityConfig) -> Self {
        RateLimits {
            per_credential: RateLimiter::keyed(per_minute(
                config.requests_per_minute_per_credential,
            )),
            per_address: RateLimiter::keyed(per_minute(config.requests_per_minute_per_address)),
            logins: RateLimiter::keyed(per_minute(config.logins_per_minute_per_address)),
        }
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), ApiError> {
    if limiter.len() > MAX_KEYS {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::TooManyRequests {
            retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
}

/// Applies the limits to every `/v1` request.
pub async fn limit_rate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(error) = check_request(&state, &request) {
        return error.into_response();
    }
    next.run(request).await
}

fn check_request(state: &AppState, request: &Request) -> Result<(), ApiError> {
    if !request.uri().path().starts_with("/v1/") {
        return Ok(());
    }
    let limits = &state.rate_limits;
    let address = crate::tls::peer_address(request.extensions());
    if let Some(address) = address {
        if request.method() == Method::POST && request.uri().path() == "/v1/session" {
            check(&limits.logins, &address)?;
        }
        check(&limits.per_address, &address)?;
    }
    let credential = bearer_key(request.headers())
        .map(secret_digest)
        .or_else(|| session_cookie(request.headers()).map(|token| secret_digest(&token)));
    if let Some(credential) = credential {
        check(&limits.per_credential, &credential)?;
    }
    Ok(())
}

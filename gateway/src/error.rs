//! Every error the API returns, as `application/problem+json` (RFC 9457). Clients branch on the
//! stable `code`; people read `detail`. This is the one place library errors become HTTP.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use registry::validate::InvalidField;
use registry::RegistryError;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:child-registry:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable reason, e.g. `date_of_birth_in_future`.
    pub code: String,
    /// JSON path of the offending field or the name of the offending parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(#[from] InvalidField),
    #[error("{detail}")]
    BadRequest {
        code: &'static str,
        detail: String,
        field: Option<String>,
    },
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("missing or invalid credentials: send 'Authorization: Bearer <key>' or log in")]
    Unauthenticated,
    #[error("wrong username or password, or the account is locked or disabled")]
    InvalidCredentials,
    #[error("too many failed logins: the account is locked until {until} (UTC)")]
    AccountLocked {
        until: chrono::DateTime<chrono::Utc>,
    },
    #[error(
        "a cookie-authenticated write needs the session's CSRF token in the X-CSRF-Token header"
    )]
    CsrfRejected,
    #[error("too many requests; retry after {retry_after_seconds} s")]
    TooManyRequests { retry_after_seconds: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// `If-Match` named a version of the resource that is no longer current.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Up, but not ready to serve (the search index is catching up, the database is down).
    #[error("{0}")]
    NotReady(String),
    #[error("an internal error occurred")]
    Internal,
}

impl ApiError {
    pub fn bad_request(
        code: &'static str,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &str, Option<&str>) {
        match self {
            ApiError::Invalid(invalid) => {
                (StatusCode::BAD_REQUEST, invalid.code, Some(&invalid.field))
            }
            ApiError::BadRequest { code, field, .. } => {
                (StatusCode::BAD_REQUEST, code, field.as_deref())
            }
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
            ),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None)
            }
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated", None),
            ApiError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials", None),
            ApiError::AccountLocked { .. } => (StatusCode::UNAUTHORIZED, "account_locked", None),
            ApiError::CsrfRejected => (StatusCode::FORBIDDEN, "csrf_token_invalid", None),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests", None)
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code, None),
            ApiError::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "stale", Some("If-Match"))
            }
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
            ApiError::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready", None),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        }
    }
}

impl From<registry::users::PasswordRejected> for ApiError {
    fn from(rejected: registry::users::PasswordRejected) -> Self {
        ApiError::bad_request("weak_password", "password", rejected.to_string())
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Invalid(invalid) => ApiError::Invalid(invalid),
            RegistryError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            RegistryError::Conflict { code, message } => ApiError::Conflict { code, message },
            stale @ RegistryError::Stale { .. } => ApiError::PreconditionFailed(stale.to_string()),
            RegistryError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::Unavailable
            }
            RegistryError::BatchFailed(_) | RegistryError::WriterStopped => {
                tracing::warn!(%error, "registration not committed");
                ApiError::Unavailable
            }
            busy if busy.is_transient() => {
                tracing::warn!(error = ?busy, "the database refused for a moment; the request can be retried");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = ?other, "registry error");
                ApiError::Internal
            }
        }
    }
}

pub fn problem_response(
    status: StatusCode,
    code: &str,
    detail: String,
    field: Option<String>,
) -> Response {
    let problem = Problem {
        problem_type: format!("urn:child-registry:problem:{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
        field,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let (status, code, field) = self.parts();
        let mut response = problem_response(status, code, detail, field.map(str::to_owned));
        if let ApiError::TooManyRequests {
            retry_after_seconds,
        } = self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_seconds.max(1)),
            );
        }
        response
    }
}

/// Asks the client to open a new connection after a request whose body the server may have
/// left unread (too large, timed out). Hyper closes such a connection once the answer is sent;
/// without the header a pooling client can reuse it in that instant and lose its next request.
pub async fn close_connection_after_unread_body(mut response: Response) -> Response {
    if matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Gives every error response that a layer or the router produced without a body (405, 408,
/// 413 from limits, ...) a problem body, so clients see one error format everywhere.
pub async fn ensure_problem_body(response: Response) -> Response {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let is_problem =
        content_type.is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    // The web UI's error pages are for people and already say what went wrong.
    let is_page = content_type.is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        status if status.is_server_error() => "internal",
        _ => "bad_request",
    };
    let detail = status.canonical_reason().unwrap_or("Error").to_owned();
    let mut problem = problem_response(status, code, detail, None);
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = response.headers().get(&name) {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    problem
}

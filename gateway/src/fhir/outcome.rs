//! FHIR errors: every error a `/fhir` route answers is an `OperationOutcome` in
//! `application/fhir+json`. Handlers and extractors keep returning [`ApiError`] (the one
//! mapping of library errors to HTTP status); a middleware around the whole app re-encodes the
//! resulting problem document for `/fhir` requests, so authentication failures, body limits,
//! rate limits, timeouts and unknown routes under `/fhir` answer in FHIR too.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::PROBLEM_JSON;
use crate::fhir::FHIR_JSON;

/// The code system of the registry's stable error codes (`urn:child-registry:problem:<code>`
/// in problem documents), carried in `OperationOutcome.issue.details`.
pub const PROBLEM_CODE_SYSTEM: &str = "urn:child-registry:problem";

/// Problem documents are small; anything bigger is not one of ours.
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// The FHIR `IssueType` for an HTTP status and the registry's error code.
fn issue_type(status: StatusCode, code: &str) -> &'static str {
    match (status, code) {
        (StatusCode::BAD_REQUEST, "missing_field" | "required" | "name_required") => "required",
        (StatusCode::BAD_REQUEST, "malformed_json" | "unknown_field" | "unreadable_body") => {
            "structure"
        }
        (StatusCode::BAD_REQUEST, "not_supported") => "not-supported",
        (StatusCode::BAD_REQUEST, _) => "invalid",
        (StatusCode::UNAUTHORIZED, _) => "login",
        (StatusCode::FORBIDDEN, _) => "forbidden",
        (StatusCode::NOT_FOUND, _) => "not-found",
        (StatusCode::METHOD_NOT_ALLOWED | StatusCode::UNSUPPORTED_MEDIA_TYPE, _) => "not-supported",
        (StatusCode::REQUEST_TIMEOUT, _) => "timeout",
        (StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED, _) => "conflict",
        (StatusCode::PAYLOAD_TOO_LARGE, _) => "too-long",
        (StatusCode::TOO_MANY_REQUESTS, _) => "throttled",
        (StatusCode::SERVICE_UNAVAILABLE, _) => "transient",
        (status, _) if status.is_client_error() => "invalid",
        _ => "exception",
    }
}

/// An `OperationOutcome` with one error issue: `code` is the registry's stable error code,
/// `expression` the FHIRPath of the offending element or the name of the offending parameter.
pub fn operation_outcome(
    status: StatusCode,
    code: &str,
    diagnostics: &str,
    expression: Option<&str>,
) -> Value {
    let mut issue = json!({
        "severity": if status.is_server_error() { "fatal" } else { "error" },
        "code": issue_type(status, code),
        "details": {
            "coding": [{"system": PROBLEM_CODE_SYSTEM, "code": code}],
            "text": diagnostics,
        },
        "diagnostics": diagnostics,
    });
    if let Some(expression) = expression.filter(|expression| !expression.is_empty()) {
        issue["expression"] = json!([expression]);
    }
    json!({"resourceType": "OperationOutcome", "issue": [issue]})
}

/// A FHIR resource as the response body, `application/fhir+json`.
pub fn fhir_response(status: StatusCode, resource: &Value) -> Response {
    let body = serde_json::to_vec(resource).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// The part of a problem document an `OperationOutcome` carries.
#[derive(Debug, Deserialize)]
struct ProblemParts {
    code: String,
    detail: String,
    field: Option<String>,
}

/// Middleware: re-encodes the problem document of an error answered to a `/fhir` request as an
/// `OperationOutcome`, keeping the status and the headers that go with it (`WWW-Authenticate`,
/// `Retry-After`, `Allow`).
pub async fn problems_as_outcomes(request: Request, next: Next) -> Response {
    let is_fhir = request.uri().path() == "/fhir" || request.uri().path().starts_with("/fhir/");
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !is_fhir || !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let problem = axum::body::to_bytes(body, MAX_PROBLEM_BYTES)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice::<ProblemParts>(&bytes).ok());
    let outcome = match &problem {
        Some(problem) => operation_outcome(
            parts.status,
            &problem.code,
            &problem.detail,
            problem.field.as_deref(),
        ),
        None => operation_outcome(
            parts.status,
            "internal",
            parts.status.canonical_reason().unwrap_or("Error"),
            None,
        ),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&outcome).unwrap_or_default()),
    )
}

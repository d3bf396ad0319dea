//! Extractors that turn malformed requests into problem responses naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use registry::ChildId;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body: wrong content type, syntax errors, unknown fields and wrong types are all
/// answered with a 4xx that names the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit: BODY_LIMIT }
                } else {
                    ApiError::bad_request("unreadable_body", "body", rejection.body_text())
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, reporting the path of the field that failed (`child.date_of_birth`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(head, _)| head)
            .to_owned();
        let field = if path == "." { None } else { Some(path) };
        let code = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "malformed_json"
            }
            serde_json::error::Category::Data if message.starts_with("unknown field") => {
                "unknown_field"
            }
            serde_json::error::Category::Data if message.starts_with("missing field") => {
                "missing_field"
            }
            _ => "invalid_value",
        };
        let field = match (code, field) {
            // serde names the missing field only in its message; make it part of the path.
            ("missing_field", field) => {
                let name = field_named_in(&message).unwrap_or_default();
                Some(match field {
                    Some(parent) => format!("{parent}.{name}"),
                    None => name.to_owned(),
                })
            }
            (_, field) => field,
        };
        ApiError::BadRequest {
            code,
            detail: message,
            field,
        }
    })
}

/// The field serde names only in its message (``missing field `x` ``, ``unknown field `x` ``).
fn field_named_in(message: &str) -> Option<&str> {
    message.split('`').nth(1)
}

/// A child ID from the path, read the forgiving Crockford way; a malformed one is a 400 naming
/// `child_id`.
pub struct ChildIdPath(pub ChildId);

impl<S: Send + Sync> FromRequestParts<S> for ChildIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|rejection| {
                    ApiError::bad_request("invalid_path", "child_id", rejection.body_text())
                })?;
        raw.parse::<ChildId>().map(ChildIdPath).map_err(|error| {
            ApiError::bad_request("invalid_child_id", "child_id", error.to_string())
        })
    }
}

/// A query string: an unknown value or a wrong type is a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> ApiQuery<T> {
    /// Reads the query string of `uri`; the web UI asks the API's handlers this way.
    pub fn try_from_uri(uri: &axum::http::Uri) -> Result<Self, ApiError> {
        let query = uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." {
                    field_named_in(&error.inner().to_string())
                        .unwrap_or("query")
                        .to_owned()
                } else {
                    path
                };
                ApiError::bad_request(
                    "invalid_query_string",
                    field,
                    error.into_inner().to_string(),
                )
            })
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::try_from_uri(&parts.uri)
    }
}

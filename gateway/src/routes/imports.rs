//! Bulk import jobs (issue 9): `POST /v1/imports` stores the body and answers 202 with a job;
//! the runner `serve` starts registers its rows in chunks; `GET /v1/imports/{id}` reports
//! progress and `GET /v1/imports/{id}/results` each row's outcome as CSV.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use registry::imports::{self, ImportFormat, ImportJob, ImportMapping, NewImport};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Largest import body accepted, in bytes (about 400,000 canonical CSV rows).
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `csv` or `ndjson`; by default the `Content-Type` decides (`text/csv`,
    /// `application/x-ndjson`).
    pub format: Option<String>,
    /// `primero` or `oscar` to map a Primero case export or an OSCaR client export; by default
    /// the canonical child columns (CSV) or `/v1/records` bodies (NDJSON).
    pub mapping: Option<String>,
}

/// Where to follow the job.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportLinks {
    /// `GET` for progress.
    #[serde(rename = "self")]
    pub self_link: String,
    /// `GET` for every row's outcome (CSV).
    pub results: String,
}

/// A job, its progress and where to follow it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportJobView {
    #[serde(flatten)]
    pub job: ImportJob,
    pub links: ImportLinks,
}

impl From<ImportJob> for ImportJobView {
    fn from(job: ImportJob) -> Self {
        let self_link = format!("/v1/imports/{}", job.id);
        ImportJobView {
            links: ImportLinks {
                results: format!("{self_link}/results"),
                self_link,
            },
            job,
        }
    }
}

fn format_of(params: &ImportParams, headers: &HeaderMap) -> Result<ImportFormat, ApiError> {
    if let Some(format) = &params.format {
        return ImportFormat::parse(format).ok_or_else(|| {
            ApiError::bad_request("invalid_format", "format", "format is csv or ndjson")
        });
    }
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match mime.as_str() {
        "text/csv" | "application/csv" => Ok(ImportFormat::Csv),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            Ok(ImportFormat::Ndjson)
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// Starts a bulk import of CSV or NDJSON rows for the caller's own source system. Answers at
/// once with the job; rows are registered in the background, each with the same matching as
/// `POST /v1/records`.
#[utoipa::path(
    post, path = "/v1/imports", tag = "imports", params(ImportParams),
    request_body(content = String, description = "CSV (text/csv) or NDJSON (application/x-ndjson)", content_type = "text/csv"),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "Accepted: the job, queued", body = ImportJobView),
        (status = 400, description = "The body cannot be read as a whole (its header); `field` names the column", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an agency system", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither CSV nor NDJSON", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_import(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<ImportJobView>,
    ),
    ApiError,
> {
    let agency = caller.agency.clone().unwrap_or_default();
    caller.check_may_register(&agency)?;
    let format = format_of(&params, &headers)?;
    let mapping = match params.mapping.as_deref() {
        None => ImportMapping::Canonical,
        Some(mapping) => ImportMapping::parse(mapping).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_mapping",
                "mapping",
                "mapping is primero or oscar (or canonical)",
            )
        })?,
    };
    let body = body.to_vec();
    let (checked, body) = {
        let agency = agency.clone();
        tokio::task::spawn_blocking(move || {
            let checked = imports::check_body(&body, format, mapping, Some(&agency))
                .map(|rows| rows.len() as i64);
            (checked, body)
        })
        .await
        .map_err(|_| ApiError::Internal)?
    };
    let total_rows = checked?;
    let job = state
        .store
        .create_import(
            NewImport {
                format,
                mapping,
                source_system: Some(agency),
                submitted_by: caller.id.clone(),
                body,
            },
            total_rows,
        )
        .await?;
    let target = AuditTarget::named(&job.id).with_details(serde_json::json!({
        "format": format.as_str(),
        "mapping": mapping.as_str(),
        "rows": total_rows,
    }));
    state
        .audit(&caller, AuditAction::ImportSubmitted, target, &meta)
        .await?;
    let view = ImportJobView::from(job);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, view.links.self_link.clone())],
        Json(view),
    ))
}

/// The job if this caller submitted it; anyone else is told it does not exist.
async fn own_job(state: &AppState, caller: &Caller, id: &str) -> Result<ImportJob, ApiError> {
    state
        .store
        .import_job(id)
        .await?
        .filter(|job| job.submitted_by == caller.id)
        .ok_or_else(|| ApiError::NotFound(format!("no import job '{id}'")))
}

/// A job's progress: rows done of the total, and how many linked, were new, await review or
/// were rejected.
#[utoipa::path(
    get, path = "/v1/imports/{id}", tag = "imports",
    params(("id" = String, Path, description = "The job ID (`imp_…`)")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = ImportJobView),
        (status = 404, description = "No such job submitted by this caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ImportJobView>, ApiError> {
    Ok(Json(own_job(&state, &caller, &id).await?.into()))
}

/// Every processed row's outcome, as CSV: `row,line,source_system,source_record_id,child_id,
/// outcome,error_field,error_code,error_message`.
#[utoipa::path(
    get, path = "/v1/imports/{id}/results", tag = "imports",
    params(("id" = String, Path, description = "The job ID (`imp_…`)")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "One line per processed row", body = String, content_type = "text/csv"),
        (status = 404, description = "No such job submitted by this caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn import_results(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = own_job(&state, &caller, &id).await?;
    let results = state.store.import_results(&job.id).await?;
    let csv = imports::results_csv(&results).map_err(|error| {
        tracing::error!(%error, "cannot write import results");
        ApiError::Internal
    })?;
    state
        .audit(
            &caller,
            AuditAction::ImportResultsRead,
            AuditTarget::named(&job.id).with_details(serde_json::json!({ "rows": results.len() })),
            &meta,
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-results.csv\"", job.id),
            ),
        ],
        csv,
    )
        .into_response())
}

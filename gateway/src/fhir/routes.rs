//! The `/fhir/Patient` handlers: each translates FHIR into calls on the store, the matching
//! model and the search index, with the same authorisation, scope, redaction and audit as the
//! equivalent `/v1` route.

use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use registry::model::{ChildView, RecordSubmission, Sex};
use registry::{ChildId, ReadScope};
use search::SearchRequest;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::{Caller, ChildReader};
use crate::error::ApiError;
use crate::extract::{ApiJson, ChildIdPath};
use crate::fhir::outcome::fhir_response;
use crate::fhir::patient::{
    parse_resource, patient, patient_expression, sex_of_gender, PatientResource,
};
use crate::fhir::systems::{parse_child_reference, split_token, IdentifierSystem};
use crate::redact;
use crate::routes::children::get_child;
use crate::routes::records::register_submission;
use crate::state::AppState;

/// The FHIR extension grading a `$match` result.
pub const MATCH_GRADE: &str = "http://hl7.org/fhir/StructureDefinition/match-grade";
/// Search results per page unless `_count` says otherwise, and the most it may ask.
const DEFAULT_COUNT: usize = 20;
const MAX_COUNT: usize = 100;
/// How many search-index hits a name, birth date or gender search examines.
const INDEX_HITS: usize = 100;
/// `$match` results unless `count` says otherwise.
const DEFAULT_MATCH_COUNT: usize = 10;

/// A Patient id from the path (or a full child ID); a malformed one is a 400 naming `id`.
pub struct PatientIdPath(pub ChildId);

impl<S: Send + Sync> FromRequestParts<S> for PatientIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request("invalid_path", "id", rejection.body_text())
            })?;
        parse_child_reference(&raw)
            .map(PatientIdPath)
            .map_err(|error| ApiError::bad_request("invalid_child_id", "id", error.to_string()))
    }
}

/// `GET /fhir/Patient/{id}`: the child as a Patient; a merged ID answers `active: false` with a
/// `replaced-by` link to the survivor. Read and audited exactly like `GET /v1/children/{id}`.
#[utoipa::path(
    get, path = "/fhir/Patient/{id}", tag = "fhir",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "Patient id (the child ID without its check symbol) or the full child ID")),
    responses(
        (status = 200, description = "The Patient; a merged ID has active false and a replaced-by link", body = Object, content_type = "application/fhir+json"),
        (status = 404, description = "No such child visible to this caller (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    )
)]
pub async fn read_patient(
    State(state): State<AppState>,
    reader: ChildReader,
    meta: RequestMeta,
    PatientIdPath(child_id): PatientIdPath,
) -> Result<Response, ApiError> {
    let axum::Json(view) = get_child(State(state), reader, meta, ChildIdPath(child_id)).await?;
    Ok(fhir_response(StatusCode::OK, &patient(&view)))
}

/// `POST /fhir/Patient`: registers the Patient as a source record of the calling agency,
/// through the same path as `POST /v1/records` (idempotent; 201 for a new record, 200 for an
/// update or a repeat).
#[utoipa::path(
    post, path = "/fhir/Patient", tag = "fhir", request_body(content = Object, content_type = "application/fhir+json"),
    security(("api_key" = [])),
    responses(
        (status = 201, description = "A new source record was stored; Location names the child", body = Object, content_type = "application/fhir+json"),
        (status = 200, description = "An update or a repeat of the current version", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "Invalid Patient; expression names the element (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
        (status = 403, description = "Not an agency, or another agency's record (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    )
)]
pub async fn create_patient(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let resource: PatientResource = parse_resource(body, "Patient")?;
    let agency = caller.agency.clone().unwrap_or_default();
    caller.check_may_register(&agency)?;
    let mut submission = resource.submission(&agency)?;
    submission.events = current_events(&state, &submission).await?;
    let registration = register_submission(&state, &caller, &meta, submission)
        .await
        .map_err(in_patient_terms)?;
    let view = state
        .store
        .child(registration.child_id, &caller.read_scope())
        .await?
        .ok_or(ApiError::Internal)?;
    let view = redact::child(&caller, view);
    state
        .audit(
            &caller,
            AuditAction::ChildRead,
            AuditTarget::child(registration.child_id)
                .with_details(json!({"via": "POST /fhir/Patient"})),
            &meta,
        )
        .await?;
    let status = if registration.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = fhir_response(status, &patient(&view));
    let location = HeaderValue::from_str(&format!(
        "/fhir/Patient/{}",
        registration.child_id.without_check()
    ))
    .map_err(|_| ApiError::Internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// A Patient carries no events: an update of a record keeps the events its current version
/// reports (a registration without them would retract them).
async fn current_events(
    state: &AppState,
    submission: &RecordSubmission,
) -> Result<Vec<registry::model::EventData>, ApiError> {
    let scope = ReadScope::SourceSystem(submission.source_system.clone());
    let history = state
        .store
        .record_history(
            &submission.source_system,
            &submission.source_record_id,
            &scope,
        )
        .await?;
    Ok(history
        .and_then(|history| {
            let current = history.current_version;
            history
                .versions
                .into_iter()
                .find(|version| version.version == current)
        })
        .map(|version| version.events)
        .unwrap_or_default())
}

/// A validation error of the registration, naming the Patient element instead of the
/// `/v1/records` field.
fn in_patient_terms(error: ApiError) -> ApiError {
    match error {
        ApiError::Invalid(invalid) => ApiError::BadRequest {
            code: invalid.code,
            field: Some(patient_expression(&invalid.field)),
            detail: invalid.message,
        },
        other => other,
    }
}

/// A parsed `birthdate` search value: the days it covers.
fn birthdate_range(value: &str) -> Result<(Option<NaiveDate>, Option<NaiveDate>), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_date",
            "birthdate",
            format!("birthdate must be [eq|ge|gt|le|lt]YYYY[-MM[-DD]], not '{value}'"),
        )
    };
    let (prefix, date) = match value.get(..2) {
        Some(prefix @ ("eq" | "ge" | "gt" | "le" | "lt")) => (prefix, &value[2..]),
        _ => ("eq", value),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let number = |part: &str, digits: usize| -> Option<u32> {
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (first, last) = match parts.as_slice() {
        [year] => {
            let year = number(year, 4).ok_or_else(invalid)? as i32;
            (
                NaiveDate::from_ymd_opt(year, 1, 1),
                NaiveDate::from_ymd_opt(year, 12, 31),
            )
        }
        [year, month] => {
            let first = NaiveDate::from_ymd_opt(
                number(year, 4).ok_or_else(invalid)? as i32,
                number(month, 2).ok_or_else(invalid)?,
                1,
            );
            let last = first
                .and_then(|first| first.checked_add_months(chrono::Months::new(1)))
                .and_then(|next| next.pred_opt());
            (first, last)
        }
        [year, month, day] => {
            let date = NaiveDate::from_ymd_opt(
                number(year, 4).ok_or_else(invalid)? as i32,
                number(month, 2).ok_or_else(invalid)?,
                number(day, 2).ok_or_else(invalid)?,
            );
            (date, date)
        }
        _ => (None, None),
    };
    let (first, last) = first.zip(last).ok_or_else(invalid)?;
    Ok(match prefix {
        "ge" => (Some(first), None),
        "gt" => (last.succ_opt(), None),
        "le" => (None, Some(last)),
        "lt" => (None, first.pred_opt()),
        _ => (Some(first), Some(last)),
    })
}

/// The parameters of a Patient search.
#[derive(Debug, Default)]
struct PatientSearch {
    family: Option<String>,
    given: Option<String>,
    born_from: Option<NaiveDate>,
    born_to: Option<NaiveDate>,
    gender: Option<Sex>,
    identifier: Option<(IdentifierSystem, String)>,
    count: usize,
    /// Matches skipped before the page (the `next` link's `_offset`).
    offset: usize,
}

impl PatientSearch {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut search = PatientSearch {
            count: DEFAULT_COUNT,
            ..PatientSearch::default()
        };
        let mut seen = std::collections::HashSet::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim().to_owned();
            if name != "birthdate" && !seen.insert(name.to_string()) {
                return Err(ApiError::bad_request(
                    "repeated_parameter",
                    name.to_string(),
                    format!("{name} may be given once"),
                ));
            }
            if value.is_empty() {
                return Err(ApiError::bad_request(
                    "invalid_value",
                    name.to_string(),
                    format!("{name} must not be empty"),
                ));
            }
            match name.as_ref() {
                "family" => search.family = Some(value),
                "given" => search.given = Some(value),
                "birthdate" => {
                    let (from, to) = birthdate_range(&value)?;
                    search.born_from = search.born_from.max(from);
                    search.born_to = match (search.born_to, to) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                "gender" => {
                    search.gender = Some(sex_of_gender(&value).ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_value",
                            "gender",
                            format!("gender must be male, female, other or unknown, not '{value}'"),
                        )
                    })?)
                }
                "identifier" => search.identifier = Some(identifier_token(&value, "identifier")?),
                "_count" => {
                    search.count = value
                        .parse::<usize>()
                        .ok()
                        .filter(|count| (1..=MAX_COUNT).contains(count))
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                "invalid_value",
                                "_count",
                                format!("_count must be a whole number from 1 to {MAX_COUNT}"),
                            )
                        })?
                }
                "_offset" => {
                    search.offset = value
                        .parse::<usize>()
                        .ok()
                        .filter(|offset| *offset < INDEX_HITS)
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                "invalid_value",
                                "_offset",
                                format!("_offset must be a whole number from 0 to {}", INDEX_HITS - 1),
                            )
                        })?
                }
                // The answer is FHIR JSON whatever the format asked for.
                "_format" => {}
                other => {
                    return Err(ApiError::bad_request(
                        "not_supported",
                        other.to_owned(),
                        format!(
                            "the search parameter '{other}' is not supported: use family, given, birthdate, gender, identifier, _count or _offset"
                        ),
                    ))
                }
            }
        }
        let has_criterion = search.family.is_some()
            || search.given.is_some()
            || search.born_from.is_some()
            || search.born_to.is_some()
            || search.gender.is_some()
            || search.identifier.is_some();
        if !has_criterion {
            return Err(ApiError::bad_request(
                "required",
                "family",
                "search with at least one of family, given, birthdate, gender or identifier",
            ));
        }
        if let (Some(from), Some(to)) = (search.born_from, search.born_to) {
            if from > to {
                return Err(ApiError::bad_request(
                    "invalid_date_range",
                    "birthdate",
                    "the birthdate parameters exclude every date",
                ));
            }
        }
        Ok(search)
    }

    /// Whether the child as the caller sees it meets every parameter (FHIR semantics: strings
    /// match from the start of a name or a word of it, ignoring case and accents).
    fn accepts(&self, view: &ChildView) -> bool {
        if view.merged_into.is_some() {
            // A merged ID is found only by itself.
            return matches!(&self.identifier, Some((IdentifierSystem::ChildId, _)))
                && self.family.is_none()
                && self.given.is_none()
                && self.born_from.is_none()
                && self.born_to.is_none()
                && self.gender.is_none();
        }
        let summary = &view.summary;
        let family_names = summary.family_name.iter().chain(
            view.records
                .iter()
                .filter_map(|r| r.child.family_name.as_ref()),
        );
        let given_names = summary
            .given_name
            .iter()
            .chain(summary.other_names.iter())
            .chain(
                view.records
                    .iter()
                    .filter_map(|r| r.child.given_name.as_ref()),
            );
        let family_ok = self.family.as_deref().is_none_or(|wanted| {
            family_names
                .into_iter()
                .any(|name| starts_with(name, wanted))
        });
        let given_ok = self.given.as_deref().is_none_or(|wanted| {
            given_names
                .into_iter()
                .any(|name| starts_with(name, wanted))
        });
        let born = summary.date_of_birth;
        let born_ok = self
            .born_from
            .is_none_or(|from| born.is_some_and(|d| d >= from))
            && self.born_to.is_none_or(|to| born.is_some_and(|d| d <= to));
        let gender_ok = self.gender.is_none_or(|gender| summary.sex == Some(gender));
        let identifier_ok = match &self.identifier {
            None => true,
            Some((IdentifierSystem::ChildId, value)) => {
                parse_child_reference(value).ok() == Some(view.child_id)
            }
            Some((IdentifierSystem::Record(system), value)) => view
                .records
                .iter()
                .any(|r| &r.source_system == system && &r.source_record_id == value),
            Some((IdentifierSystem::Kind(kind), value)) => {
                let key = registry::validate::identifier_key(value);
                summary.identifiers.iter().any(|identifier| {
                    &identifier.kind == kind
                        && registry::validate::identifier_key(&identifier.value) == key
                })
            }
        };
        family_ok && given_ok && born_ok && gender_ok && identifier_ok
    }
}

/// FHIR string matching: `wanted` starts the name or one of its words, ignoring case, accents
/// and punctuation.
fn starts_with(name: &str, wanted: &str) -> bool {
    let name = matching::normalize::normalize(name);
    let wanted = matching::normalize::normalize(wanted);
    !wanted.is_empty()
        && (name.starts_with(&wanted)
            || name
                .match_indices(' ')
                .any(|(at, _)| name[at + 1..].starts_with(&wanted)))
}

/// A `system|value` token in one of the registry's identifier systems.
fn identifier_token(token: &str, field: &str) -> Result<(IdentifierSystem, String), ApiError> {
    let (system, value) = split_token(token).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_value",
            field.to_owned(),
            format!("{field} must be system|value, e.g. urn:child-registry:identifier:birth_registration|UG-BR-2022-123"),
        )
    })?;
    let system = IdentifierSystem::parse(system).ok_or_else(|| {
        ApiError::bad_request(
            "unknown_identifier_system",
            field.to_owned(),
            format!("'{system}' is not an identifier system of the registry (see /fhir/metadata)"),
        )
    })?;
    Ok((system, value.to_owned()))
}

/// The children holding an identifier within the caller's scope (merged IDs included for the
/// child-ID system: they answer with their `replaced-by` link).
async fn children_with(
    state: &AppState,
    caller: &Caller,
    system: &IdentifierSystem,
    value: &str,
) -> Result<Vec<ChildId>, ApiError> {
    let scope = caller.read_scope();
    Ok(match system {
        IdentifierSystem::ChildId => parse_child_reference(value).ok().into_iter().collect(),
        IdentifierSystem::Record(source_system) => state
            .store
            .record_history(source_system, value, &scope)
            .await?
            .map(|history| history.child_id)
            .into_iter()
            .collect(),
        IdentifierSystem::Kind(kind) => {
            state
                .store
                .children_with_identifier(kind, value, &scope)
                .await?
        }
    })
}

/// The children among `ids` the caller may see, as the caller may see them.
async fn visible_views(
    state: &AppState,
    caller: &Caller,
    ids: &[ChildId],
) -> Result<Vec<ChildView>, ApiError> {
    let scope = caller.read_scope();
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(view) = state.store.child(*id, &scope).await? {
            views.push(redact::child(caller, view));
        }
    }
    Ok(views)
}

/// A searchset Bundle; `total` counts every match, `entries` may be one page of them, `links`
/// are `(relation, url)` (`self`, `next`, `previous`).
fn searchset(total: usize, entries: Vec<Value>, links: Vec<(&str, String)>) -> Value {
    let mut bundle = json!({"resourceType": "Bundle", "type": "searchset", "total": total});
    if !links.is_empty() {
        bundle["link"] = links
            .into_iter()
            .map(|(relation, url)| json!({"relation": relation, "url": url}))
            .collect();
    }
    // FHIR JSON has no empty arrays: no match, no `entry`.
    if !entries.is_empty() {
        bundle["entry"] = json!(entries);
    }
    bundle
}

/// A searchset entry for a child: its resource and the absolute URL it is read at.
fn patient_entry(base: &FhirBase, view: &ChildView, search: Value) -> Value {
    json!({
        "fullUrl": base.patient_url(view.child_id),
        "resource": patient(view),
        "search": search,
    })
}

/// The absolute URL of this server's FHIR endpoint, for `fullUrl` and paging links:
/// `serve --public-url` when set, else the request's `Host` (https when the server sets Secure
/// cookies: over TLS or behind a TLS proxy).
pub struct FhirBase(String);

impl FhirBase {
    fn patient_url(&self, child_id: ChildId) -> String {
        format!("{}/Patient/{}", self.0, child_id.without_check())
    }

    /// `/Patient?` with the search's own parameters, `_offset` set to `offset`.
    fn search_url(&self, query: &str, offset: usize) -> String {
        let mut url = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if name != "_offset" {
                url.append_pair(&name, &value);
            }
        }
        if offset > 0 {
            url.append_pair("_offset", &offset.to_string());
        }
        format!("{}/Patient?{}", self.0, url.finish())
    }
}

impl FromRequestParts<AppState> for FhirBase {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(public) = &state.public_url {
            return Ok(FhirBase(format!("{}/fhir", public.trim_end_matches('/'))));
        }
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .filter(|host| !host.is_empty())
            .or_else(|| parts.uri.authority().map(|authority| authority.as_str()))
            .unwrap_or("localhost");
        let scheme = if state.security.secure_cookies {
            "https"
        } else {
            "http"
        };
        Ok(FhirBase(format!("{scheme}://{host}/fhir")))
    }
}

/// `GET /fhir/Patient?family=&given=&birthdate=&gender=&identifier=system|value&_count=`:
/// a searchset Bundle. Identifier searches read the store; the others ask the search index for
/// candidates (scoped inside its query) and keep those meeting every parameter. Audited like
/// `GET /v1/search`.
#[utoipa::path(
    get, path = "/fhir/Patient", tag = "fhir",
    security(("api_key" = [])),
    params(
        ("family" = Option<String>, Query), ("given" = Option<String>, Query),
        ("birthdate" = Option<String>, Query, description = "[eq|ge|gt|le|lt]YYYY[-MM[-DD]], up to twice"),
        ("gender" = Option<String>, Query), ("identifier" = Option<String>, Query, description = "system|value"),
        ("_count" = Option<u32>, Query), ("_offset" = Option<u32>, Query, description = "matches to skip: the `next` link's paging"),
    ),
    responses(
        (status = 200, description = "A searchset Bundle", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "A bad or unsupported parameter (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    )
)]
pub async fn search_patients(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    base: FhirBase,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let search = PatientSearch::parse(&query)?;
    let candidates: Vec<ChildId> = match &search.identifier {
        Some((system, value)) => children_with(&state, &caller, system, value).await?,
        None => {
            let index = state.search.as_ref().ok_or(ApiError::Unavailable)?;
            // Given name first: the model reads the last word as the family name.
            let text = [search.given.as_deref(), search.family.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let request = SearchRequest {
                text,
                sex: search.gender,
                born_from: search.born_from,
                born_to: search.born_to,
                limit: INDEX_HITS,
                ..SearchRequest::default()
            };
            let ranking = state.store.matcher(None).await?;
            index
                .search(request, caller.read_scope(), Some(ranking))
                .await?
                .hits
                .into_iter()
                .map(|hit| hit.child_id)
                .collect()
        }
    };
    let views = visible_views(&state, &caller, &candidates).await?;
    let matching: Vec<&ChildView> = views.iter().filter(|view| search.accepts(view)).collect();
    let total = matching.len();
    let found: Vec<&ChildView> = matching
        .into_iter()
        .skip(search.offset)
        .take(search.count)
        .collect();
    let returned: Vec<ChildId> = found.iter().map(|view| view.child_id).collect();
    let target = AuditTarget::none()
        .with_children(returned.iter().copied())
        .with_details(json!({
            "query": {"fhir": query},
            "returned": returned.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "total": total,
        }));
    state
        .audit(&caller, AuditAction::Search, target, &meta)
        .await?;
    let entries = found
        .iter()
        .map(|view| patient_entry(&base, view, json!({"mode": "match"})))
        .collect();
    let mut links = vec![("self", base.search_url(&query, search.offset))];
    if search.offset + search.count < total {
        links.push((
            "next",
            base.search_url(&query, search.offset + search.count),
        ));
    }
    if search.offset > 0 {
        let previous = search.offset.saturating_sub(search.count);
        links.push(("previous", base.search_url(&query, previous)));
    }
    Ok(fhir_response(
        StatusCode::OK,
        &searchset(total, entries, links),
    ))
}

/// A `Parameters` resource as `$match` reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameters {
    resource_type: String,
    #[serde(default)]
    parameter: Vec<Parameter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameter {
    name: String,
    resource: Option<Value>,
    value_boolean: Option<bool>,
    value_integer: Option<i64>,
}

/// `POST /fhir/Patient/$match`: the children a registration of the Patient would be compared
/// with, scored by the active matching model without storing anything; a searchset Bundle
/// ordered by score, each entry graded certain / probable / possible.
#[utoipa::path(
    post, path = "/fhir/Patient/$match", tag = "fhir", request_body(content = Object, content_type = "application/fhir+json"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A searchset Bundle ordered by score, graded with match-grade", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "Invalid Parameters (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    )
)]
pub async fn match_patients(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    base: FhirBase,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let parameters: Parameters = parse_resource(body, "Parameters")?;
    if parameters.resource_type != "Parameters" {
        return Err(ApiError::bad_request(
            "not_parameters",
            "Parameters.resourceType",
            format!(
                "$match takes a Parameters resource, not a {}",
                parameters.resource_type
            ),
        ));
    }
    let mut resource = None;
    let mut only_certain = false;
    let mut count = DEFAULT_MATCH_COUNT;
    for (index, parameter) in parameters.parameter.into_iter().enumerate() {
        let field = format!("Parameters.parameter[{index}]");
        match parameter.name.as_str() {
            "resource" => {
                let value = parameter.resource.ok_or_else(|| {
                    ApiError::bad_request(
                        "required",
                        format!("{field}.resource"),
                        "the resource parameter needs a Patient",
                    )
                })?;
                resource = Some(parse_resource::<PatientResource>(value, "Patient")?);
            }
            "onlyCertainMatches" => {
                only_certain = parameter.value_boolean.ok_or_else(|| {
                    ApiError::bad_request(
                        "required",
                        format!("{field}.valueBoolean"),
                        "onlyCertainMatches needs valueBoolean",
                    )
                })?;
            }
            "count" => {
                count = parameter
                    .value_integer
                    .and_then(|count| usize::try_from(count).ok())
                    .filter(|count| (1..=MAX_COUNT).contains(count))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_value",
                            format!("{field}.valueInteger"),
                            format!("count must be an integer from 1 to {MAX_COUNT}"),
                        )
                    })?;
            }
            other => {
                return Err(ApiError::bad_request(
                    "not_supported",
                    format!("{field}.name"),
                    format!("$match takes resource, onlyCertainMatches and count, not '{other}'"),
                ))
            }
        }
    }
    let resource = resource.ok_or_else(|| {
        ApiError::bad_request(
            "required",
            "Parameters.parameter",
            "$match needs a 'resource' parameter holding a Patient",
        )
    })?;
    let (child, _) = resource.child_data()?;
    // The same checks as a registration, so $match scores what registering would.
    let child = RecordSubmission {
        source_system: "match".to_owned(),
        source_record_id: "match".to_owned(),
        child,
        events: Vec::new(),
    }
    .validate(chrono::Utc::now().date_naive())
    .map_err(|invalid| in_patient_terms(ApiError::Invalid(invalid)))?
    .child;
    let graded = state
        .store
        .preview_matches(&child, &caller.read_scope())
        .await?;
    let graded: Vec<_> = graded
        .into_iter()
        .filter(|graded| {
            !only_certain || graded.grade == registry::store::identity::MatchGrade::Certain
        })
        .take(count)
        .collect();
    let ids: Vec<ChildId> = graded.iter().map(|graded| graded.child_id).collect();
    let views = visible_views(&state, &caller, &ids).await?;
    let mut entries = Vec::with_capacity(views.len());
    for graded in &graded {
        if let Some(view) = views.iter().find(|view| view.child_id == graded.child_id) {
            entries.push(patient_entry(
                &base,
                view,
                json!({
                    "extension": [{"url": MATCH_GRADE, "valueCode": graded.grade.as_str()}],
                    "mode": "match",
                    "score": graded.probability,
                }),
            ));
        }
    }
    let target = AuditTarget::none()
        .with_children(ids.iter().copied())
        .with_details(json!({
            "returned": graded.iter().map(|graded| json!({
                "child_id": graded.child_id.to_string(),
                "grade": graded.grade.as_str(),
                "score": graded.probability,
            })).collect::<Vec<_>>(),
            "only_certain": only_certain,
            "count": count,
        }));
    state
        .audit(&caller, AuditAction::PatientMatch, target, &meta)
        .await?;
    Ok(fhir_response(
        StatusCode::OK,
        &searchset(entries.len(), entries, Vec::new()),
    ))
}

/// `GET /fhir/Patient/$ihe-pix?sourceIdentifier=system|value[&targetSystem=…]`: the IHE PIXm
/// cross-reference. A `Parameters` resource with a `targetIdentifier` for the child ID and for
/// every identifier of the child in another system (as far as the caller may see them:
/// an agency sees its own records only) and a `targetId` per child.
#[utoipa::path(
    get, path = "/fhir/Patient/$ihe-pix", tag = "fhir",
    security(("api_key" = [])),
    params(
        ("sourceIdentifier" = String, Query, description = "system|value"),
        ("targetSystem" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "Parameters with targetIdentifier and targetId", body = Object, content_type = "application/fhir+json"),
        (status = 403, description = "targetSystem unknown (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
        (status = 404, description = "sourceIdentifier unknown (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    )
)]
pub async fn cross_reference(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let mut source = None;
    let mut targets = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "sourceIdentifier" if source.is_none() => {
                source = Some(identifier_token(&value, "sourceIdentifier")?)
            }
            "sourceIdentifier" => {
                return Err(ApiError::bad_request(
                    "repeated_parameter",
                    "sourceIdentifier",
                    "sourceIdentifier may be given once",
                ))
            }
            "targetSystem" => {
                // PIXm: a target domain the manager does not know is 403.
                let system = IdentifierSystem::parse(&value).ok_or_else(|| {
                    ApiError::Forbidden(format!(
                        "targetSystem '{value}' is not an identifier system of the registry"
                    ))
                })?;
                targets.push(system.uri());
            }
            "_format" => {}
            other => {
                return Err(ApiError::bad_request(
                    "not_supported",
                    other.to_owned(),
                    format!("$ihe-pix takes sourceIdentifier and targetSystem, not '{other}'"),
                ))
            }
        }
    }
    let (system, value) = source.ok_or_else(|| {
        ApiError::bad_request(
            "required",
            "sourceIdentifier",
            "$ihe-pix needs sourceIdentifier=system|value",
        )
    })?;
    let ids = children_with(&state, &caller, &system, &value).await?;
    let views = visible_views(&state, &caller, &ids).await?;
    let source_uri = system.uri();
    let mut parameters = Vec::new();
    let mut found = Vec::new();
    for view in &views {
        // A merged ID cross-references to its survivor (whose records it answers with).
        let child_id = view.merged_into.unwrap_or(view.child_id);
        let resource = patient(&ChildView {
            child_id,
            status: registry::model::ChildStatus::Active,
            merged_into: None,
            ..view.clone()
        });
        found.push(child_id);
        let identifiers = resource["identifier"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for identifier in identifiers {
            let identifier_system = identifier["system"].as_str().unwrap_or_default();
            if identifier_system == source_uri
                || (!targets.is_empty()
                    && !targets.iter().any(|target| target == identifier_system))
            {
                continue;
            }
            parameters.push(json!({"name": "targetIdentifier", "valueIdentifier": identifier}));
        }
        parameters.push(json!({"name": "targetId", "valueReference": {"reference": format!("Patient/{}", child_id.without_check())}}));
    }
    let target = AuditTarget::none()
        .with_children(found.iter().copied())
        .with_details(json!({
            "source_system": source_uri,
            "target_systems": targets,
            "returned": found.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }));
    state
        .audit(&caller, AuditAction::PixQuery, target, &meta)
        .await?;
    if found.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no child with {source_uri}|{value}"
        )));
    }
    Ok(fhir_response(
        StatusCode::OK,
        &json!({"resourceType": "Parameters", "parameter": parameters}),
    ))
}

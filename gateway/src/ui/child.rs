//! The child profile: the summary, every source record, the longitudinal timeline across
//! agencies (redacted by role, confidential content behind a stated purpose), a printable
//! view, and the steward's merge and unlink.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::{Form, Json};
use registry::model::Sensitivity;
use serde::Deserialize;

use super::view::{self, Page};
use super::{see_other, PageContext, UiError};
use crate::audit::RequestMeta;
use crate::auth::{ChildReader, Steward};
use crate::error::ApiError;
use crate::extract::{ApiJson, ChildIdPath};
use crate::routes;
use crate::state::AppState;

#[derive(Debug, Clone)]
struct Fact {
    label: String,
    value: String,
}

#[derive(Debug, Clone)]
struct RecordRow {
    source_system: String,
    source_record_id: String,
    version: String,
    received: String,
    first_received: String,
    name: String,
    birth: String,
    district: String,
    unlink_action: String,
}

#[derive(Debug, Clone)]
struct EventRow {
    date: String,
    iso_date: String,
    kind: String,
    sensitivity: &'static str,
    withheld: bool,
    details: Vec<Fact>,
    source: String,
    provenance: String,
}

#[derive(Template)]
#[template(path = "child.html")]
struct ChildPage {
    page: Page,
    child_id: String,
    name: String,
    merged_from: Option<String>,
    facts: Vec<Fact>,
    records: Vec<RecordRow>,
    events: Vec<EventRow>,
    withheld: usize,
    withheld_message: String,
    purpose: String,
    printable: bool,
    message: Option<String>,
    /// The child's revision as shown, sent back with a merge so that a merge decided on a
    /// stale page is refused.
    revision: i64,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChildQuery {
    purpose: Option<String>,
    print: Option<String>,
    done: Option<String>,
    merged_from: Option<String>,
}

pub async fn child_page(
    State(state): State<AppState>,
    context: PageContext,
    mut meta: RequestMeta,
    reader: Result<ChildReader, ApiError>,
    child_id: Result<ChildIdPath, ApiError>,
    query: Result<Query<ChildQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, UiError> {
    let fail = |error| context.fail(error);
    let ChildReader(caller) = reader.map_err(fail)?;
    let ChildIdPath(child_id) = child_id.map_err(fail)?;
    let Query(query) = query.unwrap_or_default();
    meta.state_purpose(query.purpose.as_deref(), "purpose")
        .map_err(fail)?;
    let tr = context.tr();
    let Json(child) = routes::children::get_child(
        State(state.clone()),
        ChildReader(caller.clone()),
        meta.clone(),
        ChildIdPath(child_id),
    )
    .await
    .map_err(fail)?;
    // A merged ID keeps working: it opens the surviving child, saying so.
    if let Some(survivor) = child.merged_into {
        return Ok(see_other(&format!(
            "/children/{survivor}?merged_from={child_id}"
        )));
    }
    let Json(timeline) = routes::children::get_timeline(
        State(state.clone()),
        ChildReader(caller.clone()),
        meta.clone(),
        ChildIdPath(child.child_id),
    )
    .await
    .map_err(fail)?;

    let summary = &child.summary;
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let place = [&summary.village, &summary.subcounty, &summary.district]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let facts = [
        ("field-other-names", summary.other_names.join(", ")),
        ("field-sex", view::sex_label(summary.sex, &tr)),
        (
            "field-birth",
            view::birth_label(summary.date_of_birth, summary.date_of_birth_estimated, &tr),
        ),
        ("field-place", place),
        ("field-mother", text(&summary.mother_name)),
        ("field-father", text(&summary.father_name)),
        (
            "field-identifiers",
            summary
                .identifiers
                .iter()
                .map(|identifier| format!("{}: {}", identifier.kind, identifier.value))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("field-agencies", summary.source_systems.join(", ")),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(label, value)| Fact {
        label: tr.t(label),
        value,
    })
    .collect();
    let records = child
        .records
        .iter()
        .map(|record| RecordRow {
            source_system: record.source_system.clone(),
            source_record_id: record.source_record_id.clone(),
            version: tr.number(record.version),
            received: tr.date(record.received_at.date_naive()),
            first_received: tr.date(record.first_received_at.date_naive()),
            name: view::display_name(
                record.child.given_name.as_deref(),
                record.child.family_name.as_deref(),
                &tr,
            ),
            birth: view::birth_label(
                record.child.date_of_birth,
                record.child.date_of_birth_estimated,
                &tr,
            ),
            district: text(&record.child.district),
            unlink_action: format!(
                "/records/{}/{}/unlink",
                path_segment(&record.source_system),
                path_segment(&record.source_record_id)
            ),
        })
        .collect();
    let events: Vec<EventRow> = timeline
        .events
        .iter()
        .map(|event| {
            let withheld = event.event_type == "confidential"
                && event.sensitivity == Sensitivity::Confidential;
            let details = match &event.details {
                serde_json::Value::Object(map) if !withheld => map
                    .iter()
                    .map(|(key, value)| Fact {
                        label: key.replace('_', " "),
                        value: match value {
                            serde_json::Value::String(text) => text.clone(),
                            other => other.to_string(),
                        },
                    })
                    .collect(),
                _ => Vec::new(),
            };
            EventRow {
                date: tr.date(event.date),
                iso_date: event.date.to_string(),
                kind: if withheld {
                    tr.t("event-withheld")
                } else {
                    event.event_type.replace(['.', '_'], " ")
                },
                sensitivity: match event.sensitivity {
                    Sensitivity::Normal => "normal",
                    Sensitivity::Restricted => "restricted",
                    Sensitivity::Confidential => "confidential",
                },
                withheld,
                details,
                source: event.provenance.source_system.clone(),
                provenance: tr.t_args(
                    "event-provenance",
                    &[
                        ("record", &event.provenance.source_record_id),
                        ("version", &tr.number(event.provenance.record_version)),
                        (
                            "received",
                            &tr.date(event.provenance.received_at.date_naive()),
                        ),
                    ],
                ),
            }
        })
        .collect();
    let withheld = events.iter().filter(|event| event.withheld).count();
    let name = view::display_name(
        summary.given_name.as_deref(),
        summary.family_name.as_deref(),
        &tr,
    );
    let revision = if caller.role == registry::clients::Role::DataSteward {
        state
            .store
            .child_revision(child.child_id)
            .await
            .map_err(|error| fail(error.into()))?
            .unwrap_or_default()
    } else {
        0
    };
    let message = match query.done.as_deref() {
        Some("merged") => Some(tr.t("child-merged-done")),
        Some("unlinked") => Some(tr.t("child-unlinked-done")),
        _ => None,
    };
    Ok(view::html(&ChildPage {
        page: context.page(&caller, name.clone()),
        child_id: child.child_id.to_string(),
        merged_from: query
            .merged_from
            .as_deref()
            .and_then(|old| old.parse::<registry::ChildId>().ok())
            .map(|old| old.to_string()),
        name,
        facts,
        records,
        events,
        withheld,
        withheld_message: tr.t_count("child-withheld", withheld as i64),
        purpose: meta.purpose.unwrap_or_default(),
        printable: query.print.is_some(),
        message,
        revision,
    }))
}

/// A path segment with everything but unreserved characters percent-encoded.
fn path_segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[derive(Deserialize)]
pub struct MergeForm {
    into: String,
    reason: String,
    /// The revision the page showed; absent from forms of older pages.
    revision: Option<String>,
}

pub async fn merge(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    steward: Result<Steward, ApiError>,
    child_id: Result<ChildIdPath, ApiError>,
    Form(form): Form<MergeForm>,
) -> Result<Response, UiError> {
    let fail = |error| context.fail(error);
    let steward = steward.map_err(fail)?;
    let child_id = child_id.map_err(fail)?;
    let into = form
        .into
        .parse()
        .map_err(|error: registry::ids::ChildIdError| {
            fail(ApiError::bad_request(
                "invalid_child_id",
                "into",
                error.to_string(),
            ))
        })?;
    let request = routes::children::MergeRequest {
        into,
        reason: form.reason,
    };
    // The page's revision travels as the API's If-Match: a child changed since the steward
    // looked at it is not merged (412, explained on the error page).
    let mut headers = axum::http::HeaderMap::new();
    if let Some(revision) = form
        .revision
        .as_deref()
        .and_then(|revision| revision.trim().parse::<i64>().ok())
    {
        if let Ok(value) = axum::http::HeaderValue::from_str(&format!("\"r{revision}\"")) {
            headers.insert(axum::http::header::IF_MATCH, value);
        }
    }
    let Json(merged) = routes::children::merge_child_if_match(
        State(state),
        steward,
        meta,
        child_id,
        headers,
        ApiJson(request),
    )
    .await
    .map_err(fail)?;
    Ok(see_other(&format!("/children/{}?done=merged", merged.into)))
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    reason: String,
}

pub async fn unlink(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    steward: Result<Steward, ApiError>,
    Path(record): Path<(String, String)>,
    Form(form): Form<UnlinkForm>,
) -> Result<Response, UiError> {
    let fail = |error| context.fail(error);
    let steward = steward.map_err(fail)?;
    let request = routes::records::UnlinkRequest {
        reason: form.reason,
    };
    let Json(unlinked) =
        routes::records::unlink_record(State(state), steward, meta, Path(record), ApiJson(request))
            .await
            .map_err(fail)?;
    Ok(see_other(&format!(
        "/children/{}?done=unlinked",
        unlinked.child_id
    )))
}

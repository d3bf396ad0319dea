//! `GET /fhir/metadata`: the CapabilityStatement, listing exactly what is implemented.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::fhir::outcome::fhir_response;
use crate::fhir::systems::{CHILD_ID_SYSTEM, IDENTIFIER_SYSTEM_PREFIX, RECORD_SYSTEM_PREFIX};
use crate::fhir::{FHIR_JSON, FHIR_VERSION};

/// The search parameters of `GET /fhir/Patient`, with what each does here.
pub const PATIENT_SEARCH_PARAMETERS: &[(&str, &str, &str)] = &[
    ("family", "string", "Starts with, ignoring case and accents, on any family name the caller sees"),
    ("given", "string", "Starts with, ignoring case and accents, on any given or other name the caller sees"),
    ("birthdate", "date", "YYYY, YYYY-MM or YYYY-MM-DD with the prefixes eq (default), ge, gt, le, lt; twice for a range"),
    ("gender", "token", "male, female, other or unknown"),
    ("identifier", "token", "system|value in one of the registry's identifier systems"),
];

/// The CapabilityStatement (public: it names no child).
#[utoipa::path(
    get, path = "/fhir/metadata", tag = "fhir",
    responses((status = 200, description = "The CapabilityStatement", body = Object, content_type = "application/fhir+json"))
)]
pub async fn metadata() -> Response {
    fhir_response(StatusCode::OK, &capability_statement())
}

pub fn capability_statement() -> Value {
    let search_params: Vec<Value> = PATIENT_SEARCH_PARAMETERS
        .iter()
        .map(|(name, kind, documentation)| {
            json!({"name": name, "type": kind, "documentation": documentation})
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
        "publisher": "Child wellbeing registry",
        "kind": "instance",
        "software": {"name": "child-registry", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "National child wellbeing registry: one child ID across agencies"},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": format!(
                "Identifier systems: {CHILD_ID_SYSTEM} (the child ID), {RECORD_SYSTEM_PREFIX}<source system> (record IDs), {IDENTIFIER_SYSTEM_PREFIX}<type> (birth registration, student number, ...). Errors are OperationOutcome resources."
            ),
            "security": {
                "description": "Authorization: Bearer <API key>, or a person's session cookie; reads, search, $match and $ihe-pix need a role that reads child data and see only the children of the caller's scope; create needs an agency client and registers under its own source system. Every call is audited.",
            },
            "resource": [{
                "type": "Patient",
                "interaction": [
                    {"code": "read"},
                    {"code": "search-type"},
                    {"code": "create", "documentation": "Registers a source record like POST /v1/records; idempotent"},
                ],
                "versioning": "no-version",
                "readHistory": false,
                "updateCreate": false,
                "conditionalCreate": false,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
                "searchParam": search_params,
                "operation": [
                    {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"},
                    {"name": "ihe-pix", "definition": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix"},
                ],
            }],
        }],
    })
}

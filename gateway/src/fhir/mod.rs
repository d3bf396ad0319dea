//! The FHIR R4 interface (`/fhir`): the registry as a client registry in the conventions of
//! OpenCR, SanteMPI and HAPI MDM. Patient read, search and create, `$match` and the IHE PIXm
//! cross-reference, on the same store, matching model, search index, authorisation, scope,
//! redaction and audit as the `/v1` routes. `docs/fhir.md` is the conformance statement.

pub mod capability;
pub mod outcome;
pub mod patient;
pub mod routes;
pub mod systems;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// The FHIR JSON media type; requests may send `application/json` too.
pub const FHIR_JSON: &str = "application/fhir+json";
/// The FHIR version the interface implements.
pub const FHIR_VERSION: &str = "4.0.1";

/// The `/fhir` routes. Their errors become `OperationOutcome`s in
/// [`outcome::problems_as_outcomes`], which wraps the whole app.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/fhir/metadata", get(capability::metadata))
        .route(
            "/fhir/Patient",
            get(routes::search_patients).post(routes::create_patient),
        )
        .route("/fhir/Patient/$match", post(routes::match_patients))
        .route("/fhir/Patient/$ihe-pix", get(routes::cross_reference))
        .route("/fhir/Patient/{id}", get(routes::read_patient))
}

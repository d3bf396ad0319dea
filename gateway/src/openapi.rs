//! The OpenAPI document, generated from the route annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Child wellbeing registry", description = "National child registry: one child ID, one longitudinal timeline across agencies."),
    paths(
        routes::records::register_record,
        routes::records::record_history,
        routes::children::get_child_with_etag,
        routes::children::get_timeline,
        routes::children::merge_child_if_match,
        routes::records::unlink_record,
        routes::search::search,
        routes::match_candidates::list_candidates,
        routes::match_candidates::candidate_stats,
        routes::match_candidates::get_candidate,
        routes::match_candidates::decide_candidate,
        routes::match_candidates::claim_candidate,
        routes::match_candidates::release_candidate,
        routes::health::healthz,
        routes::health::readyz,
        crate::metrics::metrics,
        routes::session::login,
        routes::session::who_am_i,
        routes::session::logout,
        routes::audit::access_log,
        routes::admin::list_users,
        routes::admin::create_user,
        routes::admin::disable_user,
        routes::admin::list_clients,
        routes::admin::create_client,
        routes::admin::revoke_client,
        crate::fhir::capability::metadata,
        crate::fhir::routes::read_patient,
        crate::fhir::routes::search_patients,
        crate::fhir::routes::create_patient,
        crate::fhir::routes::match_patients,
        crate::fhir::routes::cross_reference,
        routes::changes::list_changes,
        routes::webhooks::create_webhook,
        routes::webhooks::list_webhooks,
        routes::webhooks::delete_webhook,
        routes::webhooks::list_deliveries,
        routes::referrals::create_referral,
        routes::referrals::list_referrals,
        routes::referrals::get_referral,
        routes::referrals::change_status,
        routes::indicators::get_indicators,
        routes::imports::create_import,
        routes::imports::get_import,
        routes::imports::import_results,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerKey, &CommonProblems),
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Answers any route may give whatever its handler does, produced by the layers in front of it
/// (authentication, body limits, rate limits, the database being down). Documented on every
/// operation that does not document them itself, so a client generated from the document
/// (or a schema-driven fuzzer) expects them.
struct CommonProblems;

const COMMON_PROBLEMS: &[(&str, &str)] = &[
    ("400", "Invalid input; `field` names it"),
    ("401", "Missing or invalid credentials"),
    ("403", "Not allowed for this caller"),
    ("413", "Body too large"),
    ("415", "Body is not JSON"),
    ("429", "Too many requests; `Retry-After` says when to retry"),
    (
        "503",
        "The database is unavailable or the node is not ready; retry",
    ),
];

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Schema};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for (path, item) in openapi.paths.paths.iter_mut() {
            // FHIR routes answer the same errors as an OperationOutcome.
            let (content_type, schema, suffix) = if path.starts_with("/fhir") {
                (
                    crate::fhir::FHIR_JSON,
                    RefOr::T(Schema::Object(ObjectBuilder::new().build())),
                    " (OperationOutcome)",
                )
            } else {
                (
                    crate::error::PROBLEM_JSON,
                    RefOr::Ref(Ref::from_schema_name("Problem")),
                    "",
                )
            };
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, description) in COMMON_PROBLEMS {
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(format!("{description}{suffix}"))
                                    .content(
                                        content_type,
                                        ContentBuilder::new().schema(Some(schema.clone())).build(),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

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
        routes::health::healthz,
        routes::health::readyz,
        crate::metrics::metrics,
        routes::session::login,
        routes::session::who_am_i,
        routes::session::logout,
        routes::audit::access_log,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerKey),
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

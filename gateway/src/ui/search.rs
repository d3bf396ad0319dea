//! The search page: results as you type (the script asks for `?fragment=1`, the list alone),
//! filters, and a child ID that jumps straight to the child.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Response;
use registry::ChildId;
use search::SearchParams;
use serde::Deserialize;

use super::view::{self, Page};
use super::{see_other, PageContext, UiError};
use crate::audit::RequestMeta;
use crate::auth::ChildReader;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::routes;
use crate::state::AppState;

#[derive(Debug, Clone)]
struct Hit {
    child_id: String,
    name: String,
    other_names: String,
    birth: String,
    sex: String,
    district: String,
    agencies: String,
    matched: String,
}

#[derive(Debug, Default)]
struct Results {
    hits: Vec<Hit>,
    summary: String,
    next_page: Option<String>,
    error: Option<String>,
    searched: bool,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    page: Page,
    form: SearchForm,
    agencies: Vec<String>,
    results: Results,
}

#[derive(Template)]
#[template(path = "search_results.html")]
struct ResultsFragment {
    page: Page,
    results: Results,
}

/// The filters as the person typed them, to refill the form.
#[derive(Debug, Default, Deserialize)]
struct SearchForm {
    q: Option<String>,
    district: Option<String>,
    sex: Option<String>,
    born_from: Option<String>,
    born_to: Option<String>,
    source_system: Option<String>,
    fragment: Option<String>,
}

impl SearchForm {
    fn is_empty(&self) -> bool {
        [
            &self.q,
            &self.district,
            &self.sex,
            &self.born_from,
            &self.born_to,
            &self.source_system,
        ]
        .iter()
        .all(|value| value.as_deref().is_none_or(|value| value.trim().is_empty()))
    }

    /// A filter's value as typed, for refilling the form.
    fn value(&self, name: &str) -> &str {
        let value = match name {
            "q" => &self.q,
            "district" => &self.district,
            "sex" => &self.sex,
            "born_from" => &self.born_from,
            "born_to" => &self.born_to,
            "source_system" => &self.source_system,
            _ => &None,
        };
        value.as_deref().unwrap_or_default()
    }
}

pub async fn search_page(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    reader: Result<ChildReader, ApiError>,
    uri: Uri,
) -> Result<Response, UiError> {
    let ChildReader(caller) = reader.map_err(|error| context.fail(error))?;
    let tr = context.tr();
    let form: SearchForm = Query::try_from_uri(&uri)
        .map(|Query(form)| form)
        .unwrap_or_default();
    let mut results = Results::default();
    if !form.is_empty() {
        results.searched = true;
        // The page asks exactly what `GET /v1/search` is asked: same parameters, same
        // handler, same scope and audit.
        let api = match ApiQuery::<SearchParams>::try_from_uri(&uri) {
            Ok(params) => {
                routes::search::search(
                    State(state.clone()),
                    ChildReader(caller.clone()),
                    meta,
                    params,
                )
                .await
            }
            Err(error) => Err(error),
        };
        match api {
            Ok(axum::Json(found)) => {
                let typed_id = form.q.as_deref().and_then(|q| q.parse::<ChildId>().ok());
                let exact =
                    typed_id.filter(|id| found.hits.first().is_some_and(|hit| hit.child_id == *id));
                if let (Some(id), None) = (exact, &form.fragment) {
                    return Ok(see_other(&format!("/children/{id}")));
                }
                results.summary = tr.t_count("results-count", found.total as i64);
                results.next_page = found.next_cursor.as_ref().map(|cursor| {
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    for (name, value) in
                        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                    {
                        if name != "cursor" && name != "fragment" {
                            query.append_pair(&name, &value);
                        }
                    }
                    query.append_pair("cursor", cursor);
                    format!("/search?{}", query.finish())
                });
                results.hits = found
                    .hits
                    .into_iter()
                    .map(|hit| Hit {
                        child_id: hit.child_id.to_string(),
                        name: hit.display_name.clone(),
                        other_names: hit.other_names.join(", "),
                        birth: view::birth_label(
                            hit.date_of_birth,
                            hit.date_of_birth_estimated,
                            &tr,
                        ),
                        sex: view::sex_label(hit.sex, &tr),
                        district: hit.district.unwrap_or_default(),
                        agencies: hit.agencies.join(", "),
                        matched: hit
                            .matched_fields
                            .iter()
                            .map(|field| {
                                serde_json::to_value(field)
                                    .ok()
                                    .and_then(|value| value.as_str().map(str::to_owned))
                                    .unwrap_or_default()
                            })
                            .filter(|field| !field.is_empty())
                            .map(|field| tr.t(&format!("matched-{field}")))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                    .collect();
            }
            Err(ApiError::Invalid(invalid)) => results.error = Some(invalid.to_string()),
            Err(ApiError::BadRequest { detail, .. }) => results.error = Some(detail),
            Err(other) => return Err(context.fail(other)),
        }
    }
    let page = context.page(&caller, tr.t("search-title"));
    if form.fragment.is_some() {
        return Ok(view::html(&ResultsFragment { page, results }));
    }
    let agencies = state
        .store
        .source_systems()
        .await
        .map_err(|error| context.fail(error.into()))?;
    Ok(view::html(&SearchPage {
        page,
        form,
        agencies,
        results,
    }))
}

#[derive(Debug, Deserialize)]
pub struct GoQuery {
    id: String,
}

/// A child ID pasted anywhere lands here: a well-formed ID opens the child, anything else is
/// searched for.
pub async fn go_to_child(Query(query): Query<GoQuery>) -> Response {
    match query.id.parse::<ChildId>() {
        Ok(id) => see_other(&format!("/children/{id}")),
        Err(_) => {
            let q: String = form_urlencoded::byte_serialize(query.id.as_bytes()).collect();
            see_other(&format!("/search?q={q}"))
        }
    }
}

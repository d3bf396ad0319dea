//! The review queue for data stewards: candidates oldest first or most probable first, each
//! with both sides side by side (differences marked), the match-weight waterfall drawn from
//! the stored explanation, the decision history, and link / not a match / defer with a
//! reason (keyboard: `l`, `n`, `d`, then Enter). Opening a waiting candidate claims it for the
//! steward (renewed on each visit), so two stewards do not decide the same pair; the queue
//! shows who holds what, and a claim can be released for someone else.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use registry::review::{CandidateDecision, MatchCandidate};
use serde::Deserialize;

use super::view::{self, ComparedField, Page, Waterfall};
use super::{see_other, PageContext, UiError};
use crate::audit::RequestMeta;
use crate::auth::Steward;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::routes;
use crate::routes::match_candidates::{CandidateParams, DecisionRequest};
use crate::state::AppState;

/// The statuses a steward can list, in tab order.
const STATUSES: [&str; 4] = ["open", "deferred", "linked", "not_a_match"];

#[derive(Debug, Clone)]
struct Tab {
    label: String,
    href: String,
    current: bool,
}

#[derive(Debug, Clone)]
struct QueueRow {
    id: i64,
    created: String,
    probability: String,
    record_name: String,
    record_source: String,
    child_name: String,
    child_id: String,
    district: String,
    decided: String,
    claimed: String,
}

#[derive(Template)]
#[template(path = "review.html")]
struct QueuePage {
    page: Page,
    tabs: Vec<Tab>,
    sorts: Vec<Tab>,
    rows: Vec<QueueRow>,
    next_page: Option<String>,
    open: String,
    age: String,
    defer_share: String,
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    status: Option<String>,
    sort: Option<String>,
    district: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

fn queue_link(status: &str, sort: &str, cursor: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("status", status);
    query.append_pair("sort", sort);
    if let Some(cursor) = cursor {
        query.append_pair("cursor", cursor);
    }
    format!("/review?{}", query.finish())
}

fn candidate_names(candidate: &MatchCandidate, tr: &super::i18n::Tr) -> (String, String) {
    let record = &candidate.record.child;
    let child = &candidate.candidate.summary;
    (
        view::display_name(
            record.given_name.as_deref(),
            record.family_name.as_deref(),
            tr,
        ),
        view::display_name(
            child.given_name.as_deref(),
            child.family_name.as_deref(),
            tr,
        ),
    )
}

pub async fn queue_page(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    steward: Result<Steward, ApiError>,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, UiError> {
    let fail = |error| context.fail(error);
    let Steward(caller) = steward.map_err(fail)?;
    let Query(query) = query.unwrap_or_default();
    let tr = context.tr();
    let status = query.status.clone().unwrap_or_else(|| "open".to_owned());
    let sort = query.sort.clone().unwrap_or_else(|| "oldest".to_owned());
    let params = CandidateParams {
        status: Some(status.clone()),
        district: query.district.clone(),
        claim: None,
        sort: Some(sort.clone()),
        limit: Some(50),
        cursor: query.cursor.clone(),
    };
    let Json(found) = routes::match_candidates::list_candidates(
        State(state.clone()),
        Steward(caller.clone()),
        meta.clone(),
        ApiQuery(params),
    )
    .await
    .map_err(fail)?;
    let Json(stats) = routes::match_candidates::candidate_stats(
        State(state.clone()),
        Steward(caller.clone()),
        meta,
    )
    .await
    .map_err(fail)?;
    let rows = found
        .candidates
        .iter()
        .map(|candidate| {
            let (record_name, child_name) = candidate_names(candidate, &tr);
            QueueRow {
                id: candidate.id,
                created: tr.date(candidate.created_at.date_naive()),
                probability: tr.percent(candidate.probability),
                record_name,
                record_source: candidate.record.source_system.clone(),
                child_name,
                child_id: candidate.candidate.current_child_id.to_string(),
                district: candidate
                    .record
                    .child
                    .district
                    .clone()
                    .or_else(|| candidate.candidate.summary.district.clone())
                    .unwrap_or_default(),
                decided: candidate
                    .decisions
                    .last()
                    .map(|decision| format!("{} · {}", decision.decided_by, decision.reason))
                    .unwrap_or_default(),
                claimed: candidate
                    .claim
                    .as_ref()
                    .map(|claim| {
                        tr.t_args(
                            "review-claimed-by",
                            &[
                                ("steward", &claim.claimed_by),
                                ("until", &tr.moment(claim.claimed_until)),
                            ],
                        )
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let hours = |value: Option<f64>| {
        value.map_or_else(
            || "–".to_owned(),
            |hours| tr.t_count("age-hours", hours.round() as i64),
        )
    };
    let message = match query.done.as_deref() {
        Some("link") => Some(tr.t("review-done-link")),
        Some("not_a_match") => Some(tr.t("review-done-not-a-match")),
        Some("defer") => Some(tr.t("review-done-defer")),
        Some("release") => Some(tr.t("review-done-release")),
        _ => None,
    };
    Ok(view::html(&QueuePage {
        page: context.page(&caller, tr.t("review-title")),
        tabs: STATUSES
            .iter()
            .map(|candidate_status| Tab {
                label: tr.t(&format!("status-{candidate_status}")),
                href: queue_link(candidate_status, &sort, None),
                current: *candidate_status == status,
            })
            .collect(),
        sorts: ["oldest", "probability"]
            .iter()
            .map(|order| Tab {
                label: tr.t(&format!("sort-{order}")),
                href: queue_link(&status, order, None),
                current: *order == sort,
            })
            .collect(),
        rows,
        next_page: found
            .next_cursor
            .as_deref()
            .map(|cursor| queue_link(&status, &sort, Some(cursor))),
        open: tr.number(stats.open),
        age: tr.t_args(
            "review-age",
            &[
                ("median", &hours(stats.age_hours_p50)),
                ("oldest", &hours(stats.age_hours_max)),
            ],
        ),
        defer_share: tr.percent(stats.defer_share),
        message,
    }))
}

#[derive(Debug, Clone)]
struct DecisionRow {
    decision: String,
    by: String,
    reason: String,
    at: String,
}

#[derive(Template)]
#[template(path = "candidate.html")]
struct CandidatePage {
    page: Page,
    id: i64,
    /// Waiting for a decision and not held by another steward: the form is shown.
    open: bool,
    /// Who holds the candidate and until when, if anyone.
    claim_notice: Option<String>,
    /// The caller holds it: they may release it.
    claimed_by_caller: bool,
    status: String,
    probability: String,
    model_version: String,
    record_label: String,
    child_label: String,
    record_child_id: String,
    child_id: String,
    fields: Vec<ComparedField>,
    waterfall: Option<Waterfall>,
    decisions: Vec<DecisionRow>,
    error: Option<String>,
}

/// The candidate ID as the path gave it (the API route checks it is a number).
fn candidate_path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|rejection| {
        ApiError::bad_request("invalid_candidate_id", "id", rejection.body_text())
    })?;
    Ok(id)
}

pub async fn candidate_page(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    steward: Result<Steward, ApiError>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, UiError> {
    let fail = |error| context.fail(error);
    let Steward(caller) = steward.map_err(fail)?;
    let id = candidate_path(path).map_err(fail)?;
    let read = |state: AppState, meta: RequestMeta, id: String| {
        routes::match_candidates::get_candidate(
            State(state),
            Steward(caller.clone()),
            meta,
            Ok(Path(id)),
        )
    };
    let Json(mut candidate) = read(state.clone(), meta.clone(), id.clone())
        .await
        .map_err(fail)?;
    let held_by_other = candidate
        .claim
        .as_ref()
        .is_some_and(|claim| claim.claimed_by != caller.actor());
    if candidate.status.is_pending() && !held_by_other {
        let claimed = routes::match_candidates::claim_read_candidate(
            &state,
            &caller,
            &meta,
            &candidate,
            routes::match_candidates::DEFAULT_CLAIM_MINUTES,
        )
        .await;
        match claimed {
            Ok(claim) => candidate.claim = Some(claim),
            // Another steward claimed it a moment ago: show theirs.
            Err(ApiError::Conflict { .. }) => {
                Json(candidate) = read(state, meta, id).await.map_err(fail)?;
            }
            Err(other) => return Err(fail(other)),
        }
    }
    Ok(candidate_view(&context, &caller, &candidate, None))
}

fn candidate_view(
    context: &PageContext,
    caller: &crate::auth::Caller,
    candidate: &MatchCandidate,
    error: Option<(StatusCode, String)>,
) -> Response {
    let tr = context.tr();
    let (record_name, child_name) = candidate_names(candidate, &tr);
    let claimed_by_caller = candidate
        .claim
        .as_ref()
        .is_some_and(|claim| claim.claimed_by == caller.actor());
    let claim_notice = candidate.claim.as_ref().map(|claim| {
        let until = tr.moment(claim.claimed_until);
        if claimed_by_caller {
            tr.t_args("candidate-claimed-mine", &[("until", &until)])
        } else {
            tr.t_args(
                "candidate-claimed-other",
                &[("steward", &claim.claimed_by), ("until", &until)],
            )
        }
    });
    let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
    let page = CandidatePage {
        page: context.page(
            caller,
            tr.t_args("candidate-title", &[("id", &candidate.id.to_string())]),
        ),
        id: candidate.id,
        open: candidate.status.is_pending() && (candidate.claim.is_none() || claimed_by_caller),
        claim_notice,
        claimed_by_caller,
        status: tr.t(&format!("status-{}", candidate.status.as_str())),
        probability: tr.percent(candidate.probability),
        model_version: tr.number(candidate.model_version),
        record_label: tr.t_args(
            "candidate-record",
            &[
                ("name", &record_name),
                ("source", &candidate.record.source_system),
                ("record", &candidate.record.source_record_id),
            ],
        ),
        child_label: tr.t_args("candidate-child", &[("name", &child_name)]),
        record_child_id: candidate.record.child_id.to_string(),
        child_id: candidate.candidate.current_child_id.to_string(),
        fields: view::compare(&candidate.record.child, &candidate.candidate.summary, &tr),
        waterfall: view::waterfall(&candidate.explanation, &tr),
        decisions: candidate
            .decisions
            .iter()
            .map(|decision| DecisionRow {
                decision: tr.t(&format!("decision-{}", decision.decision.as_str())),
                by: decision.decided_by.clone(),
                reason: decision.reason.clone(),
                at: tr.date(decision.decided_at.date_naive()),
            })
            .collect(),
        error: error.map(|(_, message)| message),
    };
    view::render(status, &page)
}

#[derive(Deserialize)]
pub struct DecisionForm {
    decision: Option<String>,
    reason: String,
}

pub async fn decide(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    steward: Result<Steward, ApiError>,
    path: Result<Path<String>, PathRejection>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, UiError> {
    let fail = |error| context.fail(error);
    let Steward(caller) = steward.map_err(fail)?;
    let id = candidate_path(path).map_err(fail)?;
    let decision: Option<CandidateDecision> = form
        .decision
        .as_deref()
        .and_then(|decision| serde_json::from_value(serde_json::json!(decision)).ok());
    let outcome = match decision {
        Some(decision) => {
            routes::match_candidates::decide_candidate(
                State(state.clone()),
                Steward(caller.clone()),
                meta.clone(),
                Ok(Path(id.clone())),
                ApiJson(DecisionRequest {
                    decision,
                    reason: form.reason,
                }),
            )
            .await
        }
        None => Err(ApiError::bad_request(
            "invalid_decision",
            "decision",
            context.tr().t("review-choose-decision"),
        )),
    };
    // A missing reason or decision, or someone else's claim or decision in between: the same
    // page again, saying why.
    let problem = match outcome {
        Ok(_) => {
            let done = decision.map_or("", CandidateDecision::as_str);
            return Ok(see_other(&format!("/review?done={done}")));
        }
        Err(ApiError::BadRequest {
            code: "invalid_reason",
            ..
        }) => (
            StatusCode::BAD_REQUEST,
            context.tr().t("review-reason-required"),
        ),
        Err(ApiError::BadRequest { detail, .. }) => (StatusCode::BAD_REQUEST, detail),
        Err(ApiError::Conflict { message, .. }) => (StatusCode::CONFLICT, message),
        Err(other) => return Err(fail(other)),
    };
    let Json(candidate) = routes::match_candidates::get_candidate(
        State(state),
        Steward(caller.clone()),
        meta,
        Ok(Path(id)),
    )
    .await
    .map_err(fail)?;
    Ok(candidate_view(&context, &caller, &candidate, Some(problem)))
}

/// Gives the steward's claim up and goes back to the queue.
pub async fn release(
    State(state): State<AppState>,
    context: PageContext,
    meta: RequestMeta,
    steward: Result<Steward, ApiError>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, UiError> {
    let fail = |error| context.fail(error);
    let Steward(caller) = steward.map_err(fail)?;
    routes::match_candidates::release_candidate(State(state), Steward(caller), meta, path)
        .await
        .map_err(fail)?;
    Ok(see_other("/review?done=release"))
}

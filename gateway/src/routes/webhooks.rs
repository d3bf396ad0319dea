//! Webhook subscriptions: `POST/GET /v1/webhooks`, `DELETE /v1/webhooks/{id}` and the delivery
//! log `GET /v1/webhooks/{id}/deliveries`. A subscription belongs to the API client that made
//! it; another client neither sees nor deletes it (it answers 404, as for no subscription).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use registry::webhooks::{DeliveryLog, NewWebhook, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{AuditAction, AuditTarget, RequestMeta};
use crate::auth::{Caller, ChildReader, Credential};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::webhooks::{signature, target, EVENT_TYPES};

/// Subscriptions one client may hold.
const MAX_SUBSCRIPTIONS: usize = 20;
const MAX_URL_LENGTH: usize = 2048;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookRequest {
    /// Where deliveries are POSTed: https, a public address (internal hosts only when the
    /// operator allowed them with `--webhook-allow-hosts`).
    pub url: String,
    /// Change-feed kinds to deliver, e.g. `["record.registered", "child.merged"]`.
    pub event_types: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The signing secret (`whsec_…`, Standard Webhooks). Shown only in this answer.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// Deliveries to return, newest first: 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub webhook_id: String,
    /// Newest first.
    pub deliveries: Vec<DeliveryLog>,
}

/// Webhooks are an integration's: the subscriber is an API client, whose scope is checked
/// again at every delivery.
fn subscriber(caller: Caller) -> Result<Caller, ApiError> {
    match caller.credential {
        Credential::ApiKey => Ok(caller),
        Credential::Session { .. } => Err(ApiError::Forbidden(
            "webhook subscriptions belong to API clients; call with the client's key".to_owned(),
        )),
    }
}

/// Subscribes the calling API client to change-feed entries it may see. Deliveries start with
/// the entries committed after this call.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    security(("api_key" = [])),
    request_body = NewWebhookRequest,
    responses(
        (status = 201, body = WebhookCreated),
        (status = 400, description = "Bad `url` (not https, internal, unresolvable) or `event_types`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an API client that reads child data", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The client holds the most subscriptions allowed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    ApiJson(request): ApiJson<NewWebhookRequest>,
) -> Result<(StatusCode, Json<WebhookCreated>), ApiError> {
    let caller = subscriber(caller)?;
    if request.url.len() > MAX_URL_LENGTH {
        return Err(ApiError::bad_request(
            "invalid_url",
            "url",
            format!("the URL is longer than {MAX_URL_LENGTH} characters"),
        ));
    }
    if request.event_types.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_event_types",
            "event_types",
            format!("name at least one of: {}", EVENT_TYPES.join(", ")),
        ));
    }
    let mut event_types: Vec<String> = Vec::new();
    for (position, kind) in request.event_types.iter().enumerate() {
        if !EVENT_TYPES.contains(&kind.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_event_type",
                format!("event_types[{position}]"),
                format!(
                    "'{kind}' is not a change-feed kind; one of: {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        if !event_types.contains(kind) {
            event_types.push(kind.clone());
        }
    }
    let url = target::check_target(&request.url, &state.webhooks.allow)
        .await
        .map_err(|refused| ApiError::bad_request("invalid_url", "url", refused.to_string()))?;
    if state.store.webhooks_of(&caller.id).await?.len() >= MAX_SUBSCRIPTIONS {
        return Err(ApiError::Conflict {
            code: "too_many_webhooks",
            message: format!(
                "a client holds at most {MAX_SUBSCRIPTIONS} subscriptions; delete one first"
            ),
        });
    }
    let secret = signature::new_secret();
    let webhook = state
        .store
        .create_webhook(NewWebhook {
            client_id: caller.id.clone(),
            url: url.to_string(),
            event_types,
            secret: secret.clone(),
        })
        .await?;
    let target = AuditTarget::named(webhook.id.clone()).with_details(serde_json::json!({
        "url": webhook.url,
        "event_types": webhook.event_types,
    }));
    state
        .audit(&caller, AuditAction::WebhookCreated, target, &meta)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated { webhook, secret }),
    ))
}

/// The calling client's subscriptions (never their secrets).
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    security(("api_key" = [])),
    responses(
        (status = 200, body = WebhookList),
        (status = 403, description = "Not an API client that reads child data", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
) -> Result<Json<WebhookList>, ApiError> {
    let caller = subscriber(caller)?;
    let webhooks = state.store.webhooks_of(&caller.id).await?;
    state
        .audit(
            &caller,
            AuditAction::WebhooksRead,
            AuditTarget::none(),
            &meta,
        )
        .await?;
    Ok(Json(WebhookList { webhooks }))
}

/// Deletes one of the calling client's subscriptions and its pending deliveries.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "Subscription ID (`whk_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an API client that reads child data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such subscription", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let caller = subscriber(caller)?;
    if !state.store.delete_webhook(&caller.id, &id).await? {
        return Err(ApiError::NotFound(format!("no webhook {id}")));
    }
    state
        .audit(
            &caller,
            AuditAction::WebhookDeleted,
            AuditTarget::named(id),
            &meta,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The subscription's delivery log: each delivery's status and every attempt (time, the
/// receiver's status code, the error).
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "Subscription ID (`whk_…`)"), DeliveriesParams),
    responses(
        (status = 200, body = DeliveryList),
        (status = 400, description = "Malformed limit", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an API client that reads child data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The client has no such subscription", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    ChildReader(caller): ChildReader,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DeliveriesParams>,
) -> Result<Json<DeliveryList>, ApiError> {
    let caller = subscriber(caller)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let owned = state
        .store
        .webhook(&id)
        .await?
        .is_some_and(|webhook| webhook.client_id == caller.id);
    if !owned {
        return Err(ApiError::NotFound(format!("no webhook {id}")));
    }
    let deliveries = state.store.deliveries(&id, limit).await?;
    let target = AuditTarget::named(id.clone())
        .with_children(deliveries.iter().map(|delivery| delivery.child_id));
    state
        .audit(&caller, AuditAction::WebhookDeliveriesRead, target, &meta)
        .await?;
    Ok(Json(DeliveryList {
        webhook_id: id,
        deliveries,
    }))
}

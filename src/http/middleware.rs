//! The request context middleware: assigns the request id (echoing a sane client
//! `X-Request-Id`), renders every error as RFC 9457 problem JSON in the caller's language
//! (including actix's own 404/405 and errors raised outside our handlers), logs internal
//! errors with their cause, and logs each request. Everything logged while a request runs
//! (here, in handlers and in their blocking database work) is inside the request's span,
//! so every line carries its `request_id` and, once the token is checked, the `account_id`
//! (ids only: never a name, a phone number or a query string).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use tracing::Instrument;

use crate::base::error::{self, ApiError};
use crate::http::extract::{sane_request_id, RequestId, JSON_LIMIT};
use crate::http::problem::{lang_of, render};
use crate::http::state::AppState;

pub async fn request_context(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = sane_request_id(req.headers()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!("request", request_id = %request_id, account_id = tracing::field::Empty);
    // Reads and writes take database connections through different gates (`store::db`).
    let write = !matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
    crate::store::db::WRITE_REQUEST.scope(write, in_context(req, next, request_id).instrument(span)).await
}

async fn in_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    request_id: String,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let lang = lang_of(req.headers());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let path = req.path().to_owned();
    // The template the path matches (`/api/v1/classes/{id}`), for metrics and the log.
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let state = req.app_data::<web::Data<AppState>>().cloned();

    // Inner middleware answer errors as responses (`HttpResponse::from_error`), so they get
    // the same rendering here; an `Err` would bypass it.
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let mut res = if let Some(api) = res.response().error().and_then(|e| e.as_error::<ApiError>()) {
        if status.is_server_error() {
            tracing::error!(%method, path = %path, cause = api.cause.as_deref().unwrap_or(""), "internal error");
        }
        let rendered = render(api, lang, Some(&request_id));
        res.into_response(rendered)
    } else if status.is_client_error() || status.is_server_error() {
        if is_problem(&res) {
            res
        } else {
            // An error that did not come from our handlers (actix's default 405, a
            // panic, an error from another middleware): give it the same shape.
            if status.is_server_error() {
                let cause = res.response().error().map(|e| e.to_string()).unwrap_or_default();
                tracing::error!(%method, path = %path, cause = %cause, "internal error");
            }
            let api = match status {
                StatusCode::NOT_FOUND => error::route_not_found(),
                StatusCode::METHOD_NOT_ALLOWED => error::method_not_allowed(),
                StatusCode::PAYLOAD_TOO_LARGE => error::payload_too_large(JSON_LIMIT),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => error::unsupported_media_type(),
                s if s.is_client_error() => {
                    error::bad_request("bad_request", error::Text::new("Yêu cầu không hợp lệ.", "The request is not valid."))
                }
                _ => ApiError::internal("unrendered server error"),
            };
            let rendered = render(&api, lang, Some(&request_id));
            res.into_response(rendered)
        }
    } else {
        res
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(header::HeaderName::from_static("x-request-id"), v);
    }
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state.metrics.observe_request(method.as_str(), &route, res.status().as_u16(), elapsed);
    }
    tracing::info!(
        %method,
        path = %path,
        route = %route,
        status = res.status().as_u16(),
        ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    Ok(res)
}

fn is_problem(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/problem+json"))
}

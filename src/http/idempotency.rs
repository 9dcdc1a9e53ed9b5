//! The `Idempotency-Key` middleware for POST requests (IETF httpapi draft): the first
//! response to a POST with a key is stored for 24 hours and replayed for the same key and
//! the same request; the same key with another request is 422 `idempotency_key_reused`; a
//! key whose first request is still being processed is 409 `idempotency_key_in_progress`.
//! The records live in the database ([`crate::domain::idempotency`]), so a retry that
//! reaches another instance is answered the same.
//!
//! Sign-in, refresh, reset and password changes are excluded: their responses carry
//! secrets that must not be stored. Server errors (5xx) are not stored, so the client may
//! retry them.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, Error, HttpMessage, HttpResponse};
use futures_util::StreamExt;

use crate::base::error::{self, ApiError, Text};
use crate::domain::idempotency::{self, Claim, StoredResponse};
use crate::http::extract::{RequestId, PUSH_LIMIT};
use crate::http::problem::lang_of;
use crate::http::state::AppState;

/// Paths whose responses must never be stored. An import is safe to repeat by design
/// (docs/IMPORT.md): its upload (up to 20 MB) is not buffered here.
fn excluded(path: &str) -> bool {
    path.starts_with("/api/v1/auth/") || path == "/api/v1/me/password" || path == "/api/v1/imports"
}

pub async fn middleware(mut req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<BoxBody>, Error> {
    let key = req.headers().get("idempotency-key").map(|v| v.to_str().map(str::to_owned));
    if req.method() != Method::POST || key.is_none() || excluded(req.path()) {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let lang = lang_of(req.headers());
    let key = match key {
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => k,
        _ => {
            let e = error::bad_request(
                "invalid_idempotency_key",
                Text::new(
                    "Idempotency-Key phải gồm 1–255 ký tự ASCII nhìn thấy được.",
                    "An Idempotency-Key has 1–255 visible ASCII characters.",
                ),
            );
            return Ok(refuse(req, e));
        }
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    // The account, from the token; an invalid token is left to the handler (401).
    let account = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_owned()))
        .and_then(|t| state.jwt.verify(&t).ok())
        .map(|c| c.sub);
    let Some(account) = account else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    // Read the body (bounded by the sync push limit) to fingerprint it, then put it back.
    let mut body = web::BytesMut::new();
    let (_, payload) = req.parts_mut();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > PUSH_LIMIT {
            return Ok(refuse(req, error::payload_too_large(PUSH_LIMIT)));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    // Keyed (HMAC with the token secret): the body may hold a person's ID number, and a
    // plain hash of it could be brute-forced back.
    let hash = state.jwt.keyed_hash_bytes(&[req.path().as_bytes(), b"\n", req.query_string().as_bytes(), b"\n", &body]);
    req.set_payload(actix_http::Payload::from(body));

    let (acc, key2, hash2) = (account.clone(), key.clone(), hash.clone());
    let claim = match state.db.run(move |conn| idempotency::claim(conn, &acc, &key2, &hash2)).await {
        Ok(c) => c,
        Err(e) => return Ok(refuse(req, e)),
    };
    if let Claim::Replay { status, body, content_type, etag } = claim {
        let mut res = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
        if let Some(ct) = content_type {
            res.insert_header((header::CONTENT_TYPE, ct));
        }
        if let Some(tag) = etag {
            res.insert_header((header::ETAG, tag));
        }
        res.insert_header(("idempotency-replayed", "true"));
        return Ok(req.into_response(res.body(body)));
    }

    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) => {
            forget(&state, account, key).await;
            return Err(e);
        }
    };
    let status = res.status();
    // An error from a handler is stored as the client saw it (language, request id).
    let rendered: Option<Bytes> = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
        .and_then(|api| serde_json::to_vec(&api.problem(lang, request_id.as_deref())).ok())
        .map(Bytes::from);
    let content_type = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let etag = res.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (http_req, response) = res.into_parts();
    let (response, body) = response.into_parts();
    let bytes = match rendered {
        Some(b) => b,
        None => actix_web::body::to_bytes(body).await.map_err(|_| ApiError::internal("reading the response body"))?,
    };
    if status.is_server_error() {
        forget(&state, account, key).await;
    } else {
        let response = StoredResponse { status: status.as_u16(), body: String::from_utf8_lossy(&bytes).into_owned(), content_type, etag };
        let stored = state.db.run(move |conn| idempotency::store(conn, &account, &key, response)).await;
        if let Err(e) = stored {
            tracing::error!(cause = %e, "storing an idempotent response failed");
        }
    }
    let mut out = response.set_body(BoxBody::new(bytes));
    if out.headers().get(header::CONTENT_LENGTH).is_some() {
        out.headers_mut().remove(header::CONTENT_LENGTH);
    }
    Ok(ServiceResponse::new(http_req, out))
}

/// Answers with an error as a response (with the error attached, so the request-context
/// middleware renders it in the caller's language with the request id).
fn refuse(req: ServiceRequest, e: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(HttpResponse::from_error(e))
}

/// Drops the claim after a failure the client may retry.
async fn forget(state: &AppState, account: String, key: String) {
    let _ = state.db.run(move |conn| idempotency::forget(conn, &account, &key)).await;
}

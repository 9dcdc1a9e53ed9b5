//! Extractors shared by every resource: the caller, request metadata (request id, client
//! address), `If-Match`, and the extractor configs that turn actix's own errors (bad JSON,
//! wrong content type, body too large, bad query) into problems.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::access::caller::{self, Caller, RequestMeta};
use crate::base::error::{self, ApiError, Text};
use crate::domain::records::IfMatch;
use crate::http::state::AppState;

/// Default JSON body limit. Sync pushes get their own, larger limit.
pub const JSON_LIMIT: usize = 256 * 1024;

/// Body limit of a sync push (up to 1,000 operations) and of idempotent-request buffering.
pub const PUSH_LIMIT: usize = 8 * 1024 * 1024;

/// The id of this request: the client's `X-Request-Id` when it is sane, else a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let trust_proxy = req.app_data::<web::Data<crate::http::state::AppState>>().map(|s| s.config.trust_proxy).unwrap_or(false);
        let client_addr = if trust_proxy {
            req.connection_info().realip_remote_addr().map(strip_port).unwrap_or("unknown").to_owned()
        } else {
            req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".to_owned())
        };
        ready(Ok(RequestMeta { request_id, client_addr }))
    }
}

fn strip_port(addr: &str) -> &str {
    // "1.2.3.4:5678" → "1.2.3.4"; "[::1]:80" → "[::1]"; a bare IPv6 address stays as is.
    match addr.rfind(':') {
        Some(i) if addr[..i].matches(':').count() == 0 || addr.starts_with('[') => &addr[..i],
        _ => addr,
    }
}

/// Accepts a client request id of 1–128 visible ASCII characters; anything else is replaced.
pub fn sane_request_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("x-request-id")?.to_str().ok()?;
    if !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()) {
        Some(v.to_owned())
    } else {
        None
    }
}

/// A JSON body a client may leave out (a DELETE from Retrofit's `@DELETE`, which sends no
/// body): `None` when the body is empty, otherwise read with the same limit and the same
/// problems as `web::Json`.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req.mime_type().ok().flatten().is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes.await.map_err(|e| match e.as_response_error().status_code().as_u16() {
                413 => error::payload_too_large(JSON_LIMIT),
                _ => error::bad_request(
                    "malformed_json",
                    Text::new("Không đọc được nội dung yêu cầu.", "The request body could not be read."),
                ),
            })?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            if !is_json {
                return Err(error::unsupported_media_type());
            }
            serde_json::from_slice(&body)
                .map(|v| OptionalJson(Some(v)))
                .map_err(|e| json_error(JsonPayloadError::Deserialize(e), JSON_LIMIT))
        })
    }
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |err, _req| json_error(err, limit).into())
}

fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::ContentType => error::unsupported_media_type(),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => error::payload_too_large(limit),
        JsonPayloadError::Deserialize(e) if e.is_data() => error::bad_request(
            "invalid_body",
            Text::new(
                format!("Nội dung JSON không đúng cấu trúc: {}", describe_serde(&e)),
                format!("The JSON body does not have the expected shape: {}", describe_serde(&e)),
            ),
        ),
        JsonPayloadError::Deserialize(_) => {
            error::bad_request("malformed_json", Text::new("Nội dung không phải JSON hợp lệ.", "The body is not valid JSON."))
        }
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => error::payload_too_large(limit),
        _ => error::bad_request("malformed_json", Text::new("Không đọc được nội dung yêu cầu.", "The request body could not be read.")),
    }
}

/// serde's message without the line/column noise and without the value it quotes, kept
/// short: it names the field and the expected type, never what was sent (which could be a
/// person's ID number sent as a JSON number).
fn describe_serde(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    };
    without_values(&msg).chars().take(200).collect()
}

/// Drops the value serde quotes after "invalid type: <kind>" / "invalid value: <kind>"
/// (`integer `123``, `string "…"`); field and variant names elsewhere stay.
fn without_values(msg: &str) -> String {
    let mut out = msg.to_owned();
    for marker in ["invalid type: ", "invalid value: ", "invalid length "] {
        let Some(at) = out.find(marker) else { continue };
        let start = at + marker.len();
        let rest = &out[start..];
        // The kind is the words up to the quoted value; the value ends where ", expected" starts.
        let (Some(q), Some(end)) = (rest.find(['`', '"']), rest.find(", expected")) else { continue };
        if q < end {
            let kind = rest[..q].trim_end().to_owned();
            out = format!("{}{}{}", &out[..start], kind, &rest[end..]);
        }
    }
    out
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(err).into())
}

fn query_error(err: QueryPayloadError) -> ApiError {
    let why = match &err {
        QueryPayloadError::Deserialize(e) => without_values(&e.to_string()),
        _ => String::from("unreadable query string"),
    };
    let why: String = why.chars().take(200).collect();
    error::bad_request(
        "invalid_query",
        Text::new(format!("Tham số truy vấn không hợp lệ: {why}"), format!("Invalid query parameters: {why}")),
    )
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| path_error(err).into())
}

fn path_error(_err: PathError) -> ApiError {
    error::bad_request("invalid_path", Text::new("Tham số đường dẫn không hợp lệ.", "Invalid path parameter."))
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.headers().get(header::IF_MATCH).map(|v| v.to_str().unwrap_or("").to_owned());
        ready(Ok(IfMatch::from_header(raw)))
    }
}

/// The authenticated caller: a bearer JWT (HS256, issuer, audience, expiry) naming a live
/// session of an active account ([`caller::load_caller`], one query on the blocking pool).
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned));
        // The request's span (request_context's): every later log line of the request names
        // the account.
        let span = tracing::Span::current();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = match header {
                None => return Err(error::unauthorized("missing_token")),
                Some(Err(_)) => return Err(error::unauthorized("invalid_token")),
                Some(Ok(v)) => match v.split_once(' ') {
                    Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => t.trim().to_owned(),
                    _ => return Err(error::unauthorized("invalid_token")),
                },
            };
            let claims = state.jwt.verify(&token)?;
            let caller = state.db.run(move |conn| caller::load_caller(conn, &claims.sub, &claims.sid)).await?;
            span.record("account_id", caller.user.id.as_str());
            Ok(caller)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn serde_messages_lose_the_values_they_quote() {
        assert_eq!(without_values("invalid type: integer `51116100482`, expected a string"), "invalid type: integer, expected a string");
        assert_eq!(without_values("invalid value: string \"0905 111\", expected a date"), "invalid value: string, expected a date");
        assert_eq!(
            without_values("unknown field `comune`, expected one of `commune`"),
            "unknown field `comune`, expected one of `commune`"
        );
    }
}

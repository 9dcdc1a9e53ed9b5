//! HTTP plumbing shared by every resource: request metadata (request id, language, client
//! address), ETag / If-Match, opaque cursors, and the extractor configs that turn actix's
//! own errors (bad JSON, wrong content type, body too large, bad query) into problems.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::{ready, Ready};

use crate::error::{self, ApiError, Text};

/// Default JSON body limit. Sync pushes get their own, larger limit.
pub const JSON_LIMIT: usize = 256 * 1024;

/// Body limit of a sync push (up to 1,000 operations) and of idempotent-request buffering.
pub const PUSH_LIMIT: usize = 8 * 1024 * 1024;

/// The id of this request: the client's `X-Request-Id` when it is sane, else a new UUID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// What handlers may need to know about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub client_addr: String,
}

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let trust_proxy = req.app_data::<web::Data<crate::app::AppState>>().map(|s| s.config.trust_proxy).unwrap_or(false);
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

/// The ETag of a record version.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The `If-Match` header of a request, read up front so that it can travel into blocking
/// database work (an `HttpRequest` cannot).
#[derive(Debug, Clone)]
pub struct IfMatch(Option<String>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.headers().get(header::IF_MATCH).map(|v| v.to_str().unwrap_or("").to_owned());
        ready(Ok(IfMatch(raw)))
    }
}

impl IfMatch {
    /// The precondition "the record is still at `version`" (the batch push's `base_version`).
    pub fn version(version: i64) -> Self {
        IfMatch(Some(etag(version)))
    }

    /// No precondition (where `If-Match` is optional).
    pub fn none() -> Self {
        IfMatch(None)
    }

    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }

    /// 428 when the header is absent (checked before any database work).
    pub fn require(&self) -> Result<(), ApiError> {
        match self.0 {
            Some(_) => Ok(()),
            None => Err(error::precondition_required()),
        }
    }

    /// 428 when absent; 412 (with the current version) when it names another version.
    /// `*` matches any existing version.
    pub fn check(&self, current_version: i64) -> Result<(), ApiError> {
        let Some(raw) = &self.0 else {
            return Err(error::precondition_required());
        };
        let matches = raw.split(',').map(str::trim).any(|tag| {
            tag == "*"
                || tag.trim_start_matches("W/").trim_matches('"').strip_prefix('v').and_then(|v| v.parse::<i64>().ok())
                    == Some(current_version)
        });
        if matches {
            Ok(())
        } else {
            Err(error::precondition_failed(current_version))
        }
    }
}

/// Encodes a keyset position as an opaque cursor (base64url of JSON).
pub fn encode_cursor<T: Serialize>(position: &T) -> String {
    let json = serde_json::to_vec(position).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor made by [`encode_cursor`]; a tampered or foreign cursor is a 400.
pub fn decode_cursor<T: DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid_cursor())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())
}

pub fn invalid_cursor() -> ApiError {
    error::bad_request(
        "invalid_cursor",
        Text::new(
            "Con trỏ phân trang không hợp lệ; hãy bắt đầu lại từ trang đầu.",
            "The pagination cursor is invalid; start again from the first page.",
        ),
    )
}

/// Page size from `limit`: default 50, between 1 and 500.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(error::validation(vec![error::FieldError::new(
            "limit",
            "range",
            Text::new("Giá trị phải từ 1 đến 500.", "Must be between 1 and 500."),
        )])),
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

/// serde's message without the line/column noise, kept short; it names the field and type
/// and never echoes secrets (serde does not quote string values of unknown content).
fn describe_serde(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    };
    msg.chars().take(200).collect()
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(err).into())
}

fn query_error(err: QueryPayloadError) -> ApiError {
    let why = match &err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
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

/// A path id must be a UUID; anything else cannot name a record.
pub fn parse_uuid(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw).map(|u| u.to_string()).map_err(|_| error::not_found())
}

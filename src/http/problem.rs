//! Renders the API's error ([`ApiError`]) as an RFC 9457 `application/problem+json`
//! response: status, body in the caller's language, and the headers some problems carry
//! (`WWW-Authenticate`, `Retry-After`, the current `ETag`).

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::base::error::{ApiError, Lang};
use crate::domain::records::etag;

/// The full HTTP response of `e` in `lang`, with `request_id` when known.
pub fn render(e: &ApiError, lang: Lang, request_id: Option<&str>) -> HttpResponse {
    let mut builder = HttpResponse::build(status_of(e));
    builder.insert_header((header::CONTENT_TYPE, "application/problem+json"));
    if e.status == 401 {
        let error = match e.code {
            "missing_token" => String::new(),
            code => format!(", error=\"invalid_token\", error_description=\"{code}\""),
        };
        builder.insert_header((header::WWW_AUTHENTICATE, format!("Bearer realm=\"hocvuso\"{error}")));
    }
    if let Some(secs) = e.retry_after {
        builder.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    if let Some(v) = e.current_version {
        builder.insert_header((header::ETAG, etag(v)));
    }
    builder.json(e.problem(lang, request_id))
}

fn status_of(e: &ApiError) -> StatusCode {
    StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The language a request asks for.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// The fallback rendering (Vietnamese, no request id); the request-context middleware
/// renders again with the request's language and id.
impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self)
    }

    fn error_response(&self) -> HttpResponse {
        render(self, Lang::Vi, None)
    }
}

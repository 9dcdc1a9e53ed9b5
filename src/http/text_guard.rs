//! One rule for text input, on both backends: no control characters. PostgreSQL cannot
//! store U+0000 in text (it answered 500 `internal_error`) while SQLite stored it; neither
//! belongs in a name, a code or a search. So before any handler runs:
//!
//! - a query parameter (name or value) holding a control character is 422
//!   `validation_failed`, the entry naming the parameter (`control_character`);
//! - a string of a JSON body holding one (other than tab, line feed and carriage return,
//!   which free-text notes may carry) is 422 the same way, the entry naming the field by
//!   its path (`operations[3].body.full_name`);
//! - a path segment holding one names no record: 404 `not_found`.
//!
//! Control characters are Unicode's `Cc` category: U+0000–U+001F, U+007F–U+009F.
//!
//! The same pass makes one tolerance for phones: a whole number written with a fraction
//! (`90.0`, as Dart's `jsonEncode` writes a double) is taken as the integer it is, so integer
//! fields accept it; `90.5` stays a refused fraction.

use actix_http::encoding::Decoder;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};
use futures_util::StreamExt;
use serde_json::Value;

use crate::base::error::{self, ApiError, FieldError, Text};
use crate::http::extract::PUSH_LIMIT;

fn control(c: char) -> bool {
    c.is_control()
}

fn control_in_body_text(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn refused(field: String) -> ApiError {
    error::validation(vec![FieldError::new(
        field,
        "control_character",
        Text::new("Không được chứa ký tự điều khiển.", "Must not contain control characters."),
    )])
}

/// The first query parameter holding a control character.
pub fn bad_query_parameter(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.chars().any(control) || value.chars().any(control))
        .map(|(name, _)| name.chars().filter(|c| !control(*c)).collect())
}

/// The path (`a.b[2].c`) of the first string of `v` (or object key) holding a control
/// character other than tab and line breaks.
pub fn bad_json_field(v: &Value) -> Option<String> {
    fn walk(v: &Value, at: &str) -> Option<String> {
        match v {
            Value::String(s) if s.chars().any(control_in_body_text) => Some(at.to_owned()),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| walk(x, &format!("{at}[{i}]"))),
            Value::Object(map) => map.iter().find_map(|(k, x)| {
                let clean: String = k.chars().filter(|c| !control(*c)).collect();
                let here = if at.is_empty() { clean } else { format!("{at}.{clean}") };
                if k.chars().any(control) {
                    Some(here)
                } else {
                    walk(x, &here)
                }
            }),
            _ => None,
        }
    }
    walk(v, "")
}

/// Whether a JSON body could hold a control character inside a string: JSON writes C0
/// characters only as `\u` escapes; DEL and C1 characters may also come raw.
fn may_hold_control(body: &[u8]) -> bool {
    body.windows(2).any(|w| w == b"\\u" || w[0] == 0x7f || (w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]))) || body.last() == Some(&0x7f)
}

/// Whether a JSON body may hold a whole number written with a fraction or an exponent
/// (`90.0`, `9e1`): a digit, then `.` and only zeros, or `e`/`E`.
fn may_hold_whole_float(body: &[u8]) -> bool {
    body.windows(2).enumerate().any(|(i, w)| {
        w[0].is_ascii_digit()
            && match w[1] {
                b'e' | b'E' => true,
                b'.' => {
                    let rest = &body[i + 2..];
                    let zeros = rest.iter().take_while(|b| **b == b'0').count();
                    zeros > 0 && !rest.get(zeros).is_some_and(u8::is_ascii_digit)
                }
                _ => false,
            }
    })
}

/// Turns every whole-valued float of `v` into the integer it is; says whether one changed.
pub fn whole_floats_to_integers(v: &mut Value) -> bool {
    match v {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                *v = Value::from(f as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, x| whole_floats_to_integers(x) | changed),
        Value::Object(map) => map.values_mut().fold(false, |changed, x| whole_floats_to_integers(x) | changed),
        _ => false,
    }
}

fn unreadable() -> ApiError {
    error::bad_request("malformed_json", Text::new("Không đọc được nội dung yêu cầu.", "The request body could not be read."))
}

fn is_json(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            ct == "application/json" || ct.ends_with("+json")
        })
        .unwrap_or(false)
}

pub async fn middleware(mut req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<BoxBody>, Error> {
    let path = percent_encoding::percent_decode_str(req.path()).decode_utf8_lossy().into_owned();
    if path.chars().any(control) {
        return Ok(req.into_response(HttpResponse::from_error(error::not_found())));
    }
    if let Some(name) = bad_query_parameter(req.query_string()) {
        return Ok(req.into_response(HttpResponse::from_error(refused(name))));
    }
    if is_json(&req) {
        // Read the body (bounded by the largest limit, after decompression: a phone sends
        // its pushes gzipped), look, and put it back decompressed.
        let mut body = web::BytesMut::new();
        let mut payload = Decoder::from_headers(req.take_payload(), req.headers());
        while let Some(chunk) = payload.next().await {
            let Ok(chunk) = chunk else {
                return Ok(req.into_response(HttpResponse::from_error(unreadable())));
            };
            if body.len() + chunk.len() > PUSH_LIMIT {
                return Ok(req.into_response(HttpResponse::from_error(error::payload_too_large(PUSH_LIMIT))));
            }
            body.extend_from_slice(&chunk);
        }
        req.headers_mut().remove(header::CONTENT_ENCODING);
        req.headers_mut().remove(header::CONTENT_LENGTH);
        let mut body = body.freeze();
        let (control, floats) = (may_hold_control(&body), may_hold_whole_float(&body));
        // A body that is not JSON is left to the handler's extractor (400).
        if let (true, Ok(mut value)) = (control || floats, serde_json::from_slice::<Value>(&body)) {
            if let Some(field) = bad_json_field(&value) {
                return Ok(req.into_response(HttpResponse::from_error(refused(field))));
            }
            if whole_floats_to_integers(&mut value) {
                body = serde_json::to_vec(&value).map(web::Bytes::from).unwrap_or(body);
            }
        }
        req.set_payload(actix_http::Payload::from(body));
    }
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_control_characters_where_they_are() {
        assert_eq!(bad_query_parameter("q=lan%00&limit=5"), Some("q".into()));
        assert_eq!(bad_query_parameter("q=lan&campaign=a%0Ab"), Some("campaign".into()));
        assert_eq!(bad_query_parameter("q=S%C6%A1n+H%C3%A0&limit=5"), None);
        let v: Value =
            serde_json::from_str(r#"{"operations": [{"body": {"full_name": "A"}}, {"body": {"full_name": "B\u0000"}}]}"#).unwrap();
        assert_eq!(bad_json_field(&v), Some("operations[1].body.full_name".into()));
        let ok: Value = serde_json::from_str(r#"{"note": "line one\nline two\ttab", "name": "Tổ \u00e9"}"#).unwrap();
        assert_eq!(bad_json_field(&ok), None);
        assert!(may_hold_control(br#"{"a": "\u0001"}"#));
        assert!(!may_hold_control("{\"a\": \"Sơn Hà\"}".as_bytes()));
        assert!(may_hold_whole_float(br#"{"a": 90.0}"#) && may_hold_whole_float(br#"{"a": 9e1}"#));
        assert!(!may_hold_whole_float(br#"{"a": 90.5, "b": 90}"#) && !may_hold_whole_float(br#"{"a": 1.05}"#));
        let mut v: Value = serde_json::from_str(r#"{"a": [90.0, 90.5, 7], "b": {"c": 1e2}}"#).unwrap();
        assert!(whole_floats_to_integers(&mut v));
        assert_eq!(v, serde_json::json!({"a": [90, 90.5, 7], "b": {"c": 100}}));
    }
}

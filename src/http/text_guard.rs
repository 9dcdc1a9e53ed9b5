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
/// character other than tab and line breaks. The path is put together only for that one.
pub fn bad_json_field(v: &Value) -> Option<String> {
    /// The path's steps, innermost first.
    fn walk(v: &Value) -> Option<Vec<String>> {
        match v {
            Value::String(s) if s.chars().any(control_in_body_text) => Some(Vec::new()),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| {
                walk(x).map(|mut steps| {
                    steps.push(format!("[{i}]"));
                    steps
                })
            }),
            Value::Object(map) => map.iter().find_map(|(k, x)| {
                let steps = if k.chars().any(control) { Some(Vec::new()) } else { walk(x) };
                steps.map(|mut steps| {
                    steps.push(format!(".{}", k.chars().filter(|c| !control(*c)).collect::<String>()));
                    steps
                })
            }),
            _ => None,
        }
    }
    walk(v).map(|steps| {
        let path: String = steps.iter().rev().map(String::as_str).collect();
        path.strip_prefix('.').map(str::to_owned).unwrap_or(path)
    })
}

/// What a JSON body may hold, found in one pass over its bytes without parsing it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Suspects {
    /// A control character inside a string: an escape `\u0000`–`\u001F`, `\u007F`–`\u009F`,
    /// or a raw DEL or C1 character (JSON allows those unescaped; raw C0 characters make
    /// the body invalid JSON, which the handler's extractor refuses).
    control: bool,
    /// A number outside strings written with an exponent (`9e1`) or with a fraction of
    /// zeros only (`90.0`): possibly a whole number.
    whole_float: bool,
}

/// The bytes [`scan`] stops at inside a string: its end, an escape, DEL and the first byte
/// of a C1 character.
const STOP_IN_STRING: [bool; 256] = stops(true);
/// … and outside: a string's start, a digit, DEL and the first byte of a C1 character.
const STOP_OUTSIDE: [bool; 256] = stops(false);

const fn stops(in_string: bool) -> [bool; 256] {
    let mut t = [false; 256];
    t[0x7f] = true;
    t[0xc2] = true;
    t[b'"' as usize] = true;
    if in_string {
        t[b'\\' as usize] = true;
    } else {
        let mut d = b'0';
        while d <= b'9' {
            t[d as usize] = true;
            d += 1;
        }
    }
    t
}

/// Scans `body` once. Escapes of other characters (`\u1EC5`, as encoders that write ASCII
/// only put Vietnamese letters) and hex digits inside strings (ids) raise nothing, so a
/// body that holds neither suspect is handed on untouched, without a parse of its own.
/// Bytes that cannot matter are skipped by table (the scan was 2 % of a 1,000-operation
/// push when it looked at each byte in turn).
fn scan(body: &[u8]) -> Suspects {
    let mut found = Suspects::default();
    let mut in_string = false;
    let mut i = 0;
    while i < body.len() {
        let stop = if in_string { &STOP_IN_STRING } else { &STOP_OUTSIDE };
        match body[i..].iter().position(|b| stop[usize::from(*b)]) {
            Some(skip) => i += skip,
            None => break,
        }
        let b = body[i];
        if b == 0x7f || (b == 0xc2 && body.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n))) {
            found.control = true;
        }
        if in_string {
            match b {
                b'"' => in_string = false,
                b'\\' => {
                    if body.get(i + 1) == Some(&b'u') {
                        let code = body
                            .get(i + 2..i + 6)
                            .and_then(|hex| std::str::from_utf8(hex).ok())
                            .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                        if code.and_then(char::from_u32).is_some_and(control) {
                            found.control = true;
                        }
                    }
                    // The escaped character is never the string's end.
                    i += 1;
                }
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_digit() {
            match body.get(i + 1) {
                Some(b'e' | b'E') => found.whole_float = true,
                Some(b'.') => {
                    let rest = &body[i + 2..];
                    let zeros = rest.iter().take_while(|b| **b == b'0').count();
                    if zeros > 0 && !rest.get(zeros).is_some_and(u8::is_ascii_digit) {
                        found.whole_float = true;
                    }
                }
                _ => {}
            }
        }
        if found.control && found.whole_float {
            break;
        }
        i += 1;
    }
    found
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
        let suspects = scan(&body);
        // A body that is not JSON is left to the handler's extractor (400).
        if let (true, Ok(mut value)) = (suspects.control || suspects.whole_float, serde_json::from_slice::<Value>(&body)) {
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
        let control = |body: &[u8]| scan(body).control;
        let whole_float = |body: &[u8]| scan(body).whole_float;
        assert!(control(br#"{"a": "\u0001"}"#) && control(br#"{"a": "x\u007F"}"#) && control(br#"{"a": "\u009f"}"#));
        assert!(control("{\"a\": \"\u{85}\"}".as_bytes()) && control(b"{\"a\": \"\x7f\"}"));
        assert!(!control("{\"a\": \"Sơn Hà\"}".as_bytes()));
        // Escapes of letters, and an escaped backslash before a `u`, are not controls.
        assert!(!control(br#"{"a": "Nguy\u1ec5n Th\u1ecb", "b": "\u00e9\u00A0", "c": "\\u0001"}"#));
        assert!(whole_float(br#"{"a": 90.0}"#) && whole_float(br#"{"a": 9e1}"#) && whole_float(br#"[1E2]"#));
        assert!(!whole_float(br#"{"a": 90.5, "b": 90}"#) && !whole_float(br#"{"a": 1.05}"#));
        // Hex digits of an id or a number inside a string are not numbers.
        assert!(!whole_float(br#"{"id": "3e4f0a1c-5b4a-4392-8170-6f5e4d3c2b1a", "n": "90.0", "q": "a\"9e1"}"#));
        let mut v: Value = serde_json::from_str(r#"{"a": [90.0, 90.5, 7], "b": {"c": 1e2}}"#).unwrap();
        assert!(whole_floats_to_integers(&mut v));
        assert_eq!(v, serde_json::json!({"a": [90, 90.5, 7], "b": {"c": 100}}));
    }

    /// The scan before it skipped by table, byte by byte: the reference.
    fn scan_bytewise(body: &[u8]) -> Suspects {
        let mut found = Suspects::default();
        let mut in_string = false;
        let mut i = 0;
        while i < body.len() {
            let b = body[i];
            if b == 0x7f || (b == 0xc2 && body.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n))) {
                found.control = true;
            }
            if in_string {
                match b {
                    b'"' => in_string = false,
                    b'\\' => {
                        if body.get(i + 1) == Some(&b'u') {
                            let code = body
                                .get(i + 2..i + 6)
                                .and_then(|hex| std::str::from_utf8(hex).ok())
                                .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                            if code.and_then(char::from_u32).is_some_and(control) {
                                found.control = true;
                            }
                        }
                        // The escaped character is never the string's end.
                        i += 1;
                    }
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            } else if b.is_ascii_digit() {
                match body.get(i + 1) {
                    Some(b'e' | b'E') => found.whole_float = true,
                    Some(b'.') => {
                        let rest = &body[i + 2..];
                        let zeros = rest.iter().take_while(|b| **b == b'0').count();
                        if zeros > 0 && !rest.get(zeros).is_some_and(u8::is_ascii_digit) {
                            found.whole_float = true;
                        }
                    }
                    _ => {}
                }
            }
            if found.control && found.whole_float {
                break;
            }
            i += 1;
        }
        found
    }

    #[test]
    fn the_table_scan_finds_what_the_bytewise_scan_found() {
        let alphabet: &[&[u8]] = &[
            b"\"",
            b"\\",
            b"\\u0001",
            b"\\u1ec5",
            b"\\u007f",
            b"9",
            b"0",
            b".",
            b".0",
            b"e",
            b"a",
            b" ",
            b"{",
            b":",
            b"\x7f",
            b"\xc2\x85",
            b"\xc2\xa0",
            b"\xc3\xa0",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut body = Vec::new();
            for _ in 0..(x % 24) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                body.extend_from_slice(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            assert_eq!(scan(&body), scan_bytewise(&body), "{:?}", String::from_utf8_lossy(&body));
        }
    }
}

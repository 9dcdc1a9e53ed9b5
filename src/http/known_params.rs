//! Query parameters an operation does not take are refused (400 `unknown_parameter`,
//! naming it) instead of ignored: `GET /classes?comune=21025` (a typo) used to return every
//! class in scope. What an operation takes is read from the OpenAPI document itself, so the
//! server and the document cannot disagree: a parameter missing from the document is refused
//! by the server, and tests find it.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use serde_json::Value;

use crate::base::error::{self, ApiError, FieldError, Text};

/// (method, path template with its placeholders emptied) → the query parameters it takes.
type Known = HashMap<(String, String), BTreeSet<String>>;

/// `/api/v1/classes/{id}` → `/api/v1/classes/{}`: actix and the document may name a
/// placeholder differently.
fn template(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect::<Vec<_>>().join("/")
}

fn query_names(parameters: &Value) -> impl Iterator<Item = String> + '_ {
    parameters.as_array().into_iter().flatten().filter(|p| p["in"] == "query").filter_map(|p| p["name"].as_str().map(str::to_owned))
}

fn known() -> &'static Known {
    static KNOWN: OnceLock<Known> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let spec = crate::http::openapi::document();
        let mut map = Known::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            for method in ["get", "put", "post", "delete", "patch"] {
                let Some(op) = item.get(method) else { continue };
                let names = query_names(&item["parameters"]).chain(query_names(&op["parameters"])).collect();
                map.insert((method.to_ascii_uppercase(), template(path)), names);
            }
        }
        map
    })
}

fn refused(name: &str, allowed: &BTreeSet<String>) -> ApiError {
    let list = if allowed.is_empty() { "none".to_owned() } else { allowed.iter().cloned().collect::<Vec<_>>().join(", ") };
    let mut e = error::bad_request(
        "unknown_parameter",
        Text::new(
            format!("Tham số truy vấn `{name}` không dùng được ở đây (các tham số hợp lệ: {list})."),
            format!("Unknown query parameter `{name}` (this operation takes: {list})."),
        ),
    );
    e.errors = vec![FieldError::new(
        name,
        "unknown_parameter",
        Text::new(format!("Các tham số hợp lệ: {list}."), format!("This operation takes: {list}.")),
    )];
    e
}

/// The first query parameter `method path` does not take, with what it takes; `None` when
/// every one is known or the operation is not in the document (`/docs`, unknown routes).
pub fn unknown_parameter(method: &str, pattern: &str, query: &str) -> Option<(String, &'static BTreeSet<String>)> {
    let method = if method == "HEAD" { "GET" } else { method };
    let allowed = known().get(&(method.to_owned(), template(pattern)))?;
    form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name)
        .find(|name| !allowed.contains(name.as_ref()))
        .map(|n| (n.into_owned(), allowed))
}

pub async fn middleware(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<BoxBody>, Error> {
    if !req.query_string().is_empty() {
        if let Some(pattern) = req.request().match_pattern() {
            if let Some((name, allowed)) = unknown_parameter(req.method().as_str(), &pattern, req.query_string()) {
                return Ok(req.into_response(HttpResponse::from_error(refused(&name, allowed))));
            }
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_each_operation_takes_from_the_document() {
        assert_eq!(unknown_parameter("GET", "/api/v1/classes", "commune=21025&limit=5"), None);
        assert_eq!(unknown_parameter("GET", "/api/v1/classes", "comune=21025").unwrap().0, "comune");
        assert_eq!(unknown_parameter("GET", "/api/v1/classes/{class_id}", "x=1").unwrap().0, "x");
        assert_eq!(unknown_parameter("GET", "/no/such/thing", "x=1"), None);
        assert_eq!(template("/api/v1/classes/{id}/sessions"), "/api/v1/classes/{}/sessions");
    }
}

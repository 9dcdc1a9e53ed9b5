//! The committed OpenAPI document is exactly what the code generates, and every operation
//! documents its security and its error responses with the problem schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

#[test]
fn committed_spec_matches_the_code() {
    let generated = hocvuso::http::openapi::json();
    let committed = std::fs::read_to_string("openapi/openapi.json").unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/openapi.json is out of date. Regenerate it with:\n    cargo run -- openapi > openapi/openapi.json\nand commit it."
    );
}

#[test]
fn every_operation_documents_security_and_problems() {
    let spec: Value = serde_json::from_str(&hocvuso::http::openapi::json()).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let public = ["/healthz", "/readyz", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/reset"];
    let mut count = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let id = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            if path == "/healthz" {
                continue;
            }
            let problems: Vec<&String> = responses
                .iter()
                .filter(|(code, _)| code.starts_with('4') || code.starts_with('5'))
                .map(|(code, r)| {
                    // A shared response is a reference to `components/responses`.
                    let r = match r["$ref"].as_str() {
                        Some(name) => &spec["components"]["responses"][name.trim_start_matches("#/components/responses/")],
                        None => r,
                    };
                    let schema = &r["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/Problem", "{id} {code} must use the problem schema");
                    code
                })
                .collect();
            assert!(!problems.is_empty(), "{id} documents no error response");
            if public.contains(&path.as_str()) {
                assert!(op.get("security").is_none(), "{id} is public");
            } else if path == "/metrics" {
                assert_eq!(op["security"], serde_json::json!([{"metrics_token": []}]), "{id}: the operators' token");
            } else {
                assert_eq!(op["security"], serde_json::json!([{"bearer": []}]), "{id} must document bearer security");
                assert!(responses.contains_key("401"), "{id} must document 401");
            }
        }
    }
    assert!(count >= 13, "only {count} operations documented");
}

#[test]
fn every_reference_resolves() {
    let spec: Value = serde_json::from_str(&hocvuso::http::openapi::json()).unwrap();
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    let defined = |r: &str| {
        let (kind, name) = r.trim_start_matches("#/components/").split_once('/').unwrap_or(("", ""));
        spec["components"][kind].get(name).is_some()
    };
    let dangling: Vec<&String> = all.iter().filter(|r| !defined(r)).collect();
    assert!(dangling.is_empty(), "references to components the document does not define: {dangling:?}");
}

#[test]
fn closed_value_sets_are_enums() {
    // A generated client gets an enum type for every closed set (issue #11): check a few
    // fields of each kind (request body, response body, query parameter).
    let spec: Value = serde_json::from_str(&hocvuso::http::openapi::json()).unwrap();
    let schemas = &spec["components"]["schemas"];
    assert_eq!(schemas["ClassMode"]["enum"], serde_json::json!(["in_person", "online", "mixed"]));
    assert_eq!(schemas["NewClass"]["properties"]["mode"]["$ref"], "#/components/schemas/ClassMode");
    assert_eq!(schemas["Class"]["properties"]["status"]["$ref"], "#/components/schemas/ClassStatus");
    assert_eq!(schemas["NewTrainee"]["properties"]["target_groups"]["items"]["$ref"], "#/components/schemas/TargetGroup");
    assert_eq!(schemas["OpResult"]["properties"]["status"]["$ref"], "#/components/schemas/OpStatus");
    let params = spec["paths"]["/api/v1/classes"]["get"]["parameters"].as_array().unwrap();
    let status = params.iter().find(|p| p["name"] == "status").unwrap();
    assert_eq!(status["schema"]["$ref"], "#/components/schemas/ClassStatus");
}

/// The component a `$ref` names, or the value itself.
fn resolved<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => {
            let (kind, name) = r.trim_start_matches("#/components/").split_once('/').unwrap();
            &spec["components"][kind][name]
        }
        None => v,
    }
}

#[test]
fn every_operation_documents_what_any_request_can_meet() {
    // What a generator takes literally (issue #14): the statuses every request can meet, the
    // headers, page sizes, descriptions and a server.
    let spec: Value = serde_json::from_str(&hocvuso::http::openapi::json()).unwrap();
    assert_eq!(spec["servers"][0]["url"], "/");
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = format!("{method} {path}");
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "{id}: operation id used twice");
            assert!(op["description"].as_str().is_some_and(|d| !d.trim().is_empty()), "{id} has no description");
            let responses = op["responses"].as_object().unwrap();
            let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().map(|p| resolved(&spec, p)).collect();
            let mut need = vec!["400", "500", "503"];
            if op.get("requestBody").is_some() {
                need.extend(["413", "415", "422"]);
            }
            if params.iter().any(|p| p["in"] == "query") {
                need.push("422");
            }
            if params.iter().any(|p| p["in"] == "path") {
                need.push("404");
            }
            if let Some(p) = params.iter().find(|p| p["in"] == "header" && p["name"] == "If-Match") {
                need.push("412");
                if p["required"] == true {
                    need.push("428");
                }
            }
            if method != "get" {
                need.push("507");
            }
            if op.get("security").is_some() {
                need.push("401");
            }
            for code in need {
                assert!(responses.contains_key(code), "{id} does not document {code}");
            }
            // Every POST of the API takes an Idempotency-Key, except those whose answers hold
            // secrets and the roster upload (safe to repeat by itself, too large to buffer).
            let takes_key = params.iter().any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
            let exempt = path.starts_with("/api/v1/auth/") || path == "/api/v1/me/password" || path == "/api/v1/imports";
            assert_eq!(takes_key, method == "post" && path.starts_with("/api/v1/") && !exempt, "{id}: Idempotency-Key");
            for (code, r) in responses {
                let r = resolved(&spec, r);
                for (media, content) in r["content"].as_object().into_iter().flatten() {
                    assert!(content.is_object(), "{id} {code} {media}: a media type without a schema");
                }
                assert!(r["headers"].get("X-Request-Id").is_some(), "{id} {code}: X-Request-Id");
                if ["429", "503", "507"].contains(&code.as_str()) {
                    assert!(r["headers"].get("Retry-After").is_some(), "{id} {code}: Retry-After");
                }
                if code == "412" {
                    assert!(r["headers"].get("ETag").is_some(), "{id} {code}: ETag");
                }
            }
            for p in params.iter().filter(|p| p["name"] == "limit") {
                assert_eq!(p["schema"]["minimum"], 1, "{id}: limit");
                assert!(p["schema"]["maximum"].as_i64().is_some(), "{id}: limit");
            }
        }
    }
    // Examples of problems have their response's status; pages name their item schema;
    // the push's examples are real ones.
    let push = &spec["paths"]["/api/v1/sync/push"]["post"];
    assert_eq!(push["responses"]["400"]["content"]["application/problem+json"]["example"]["status"], 400);
    assert_eq!(resolved(&spec, &push["responses"]["415"])["content"]["application/problem+json"]["example"]["status"], 415);
    assert_eq!(spec["components"]["schemas"]["Page_Class"]["properties"]["items"]["items"]["$ref"], "#/components/schemas/Class");
    let example = &spec["components"]["schemas"]["PushResponse"]["example"];
    assert_eq!(example["results"][0]["status"], "applied");
    assert!(example["results"][0]["version"].as_i64().unwrap() < 1000);
    // A pushed operation is one of five kinds, told apart by `type`.
    let operation = &spec["components"]["schemas"]["Operation"];
    assert_eq!(operation["discriminator"]["propertyName"], "type");
    assert_eq!(operation["oneOf"].as_array().unwrap().len(), 5);
    let session = &spec["components"]["schemas"]["ClassSessionOperation"]["properties"];
    assert_eq!(session["type"]["enum"], serde_json::json!(["class_session"]));
    assert_eq!(session["body"]["anyOf"][0]["$ref"], "#/components/schemas/PushNewSession");
    // Names that read well in a generated client.
    assert_eq!(spec["paths"]["/api/v1/stats/units"]["get"]["operationId"], "get_stats_by_unit");
    assert_eq!(spec["paths"]["/api/v1/units"]["get"]["operationId"], "list_units");
}

#[test]
fn the_etag_list_is_the_handlers_that_send_one() {
    // Handlers answering through `respond::created`, `with_etag` or `ok_with_etag` send an
    // ETag; the document's list must name exactly those.
    let sending: std::collections::BTreeSet<String> = handlers()
        .into_iter()
        .filter(|(_, _, body)| body.contains("with_etag(") || body.contains(" created(") || body.contains("(created("))
        .map(|(name, _, _)| name)
        .collect();
    let listed: std::collections::BTreeSet<String> = hocvuso::http::openapi::ETAG_OPERATIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, sending);
    // Replayable creates (410 when the record was deleted since) are those answering through `created`.
    let replayable: std::collections::BTreeSet<String> =
        handlers().into_iter().filter(|(_, _, body)| body.contains("(created(")).map(|(name, _, _)| name).collect();
    let listed: std::collections::BTreeSet<String> = hocvuso::http::openapi::REPLAYABLE_CREATES.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, replayable);
    let spec: Value = serde_json::from_str(&hocvuso::http::openapi::json()).unwrap();
    let get_class = &spec["paths"]["/api/v1/classes/{id}"]["get"]["responses"]["200"];
    assert_eq!(get_class["headers"]["ETag"]["$ref"], "#/components/headers/ETag");
}

#[test]
fn every_handler_taking_if_match_declares_it() {
    let spec: Value = serde_json::from_str(&hocvuso::http::openapi::json()).unwrap();
    let mut declared = std::collections::BTreeMap::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let has = op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == "If-Match");
            declared.insert(op["operationId"].as_str().unwrap().to_owned(), has);
        }
    }
    for (name, signature, _) in handlers() {
        if let Some(has) = declared.get(&name) {
            assert_eq!(signature.contains("IfMatch"), *has, "{name}: takes If-Match in the code but not in the document, or the reverse");
        }
    }
}

/// Every handler of `src/http`: (name, signature, body).
fn handlers() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("src/http").unwrap() {
        let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for part in src.split("\npub async fn ").skip(1) {
            let name = part.split('(').next().unwrap().trim().to_owned();
            let signature = part.split('{').next().unwrap().to_owned();
            let body = part.split("\n}\n").next().unwrap().to_owned();
            out.push((name, signature, body));
        }
    }
    out
}

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

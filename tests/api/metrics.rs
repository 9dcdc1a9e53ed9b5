//! Prometheus metrics: off unless configured, a bearer token on the API's address, open on
//! a separate address; requests by route template (never an id), pushes by result, the
//! sync lag by province, the pool and the access log. And the log: every line of a request
//! names its request id and account.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "metrics-token-0123456789-abcdefghijklmnop";

/// The value of the series `name{labels}` (labels as Prometheus writes them), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

#[actix_web::test]
async fn metrics_are_off_unless_configured() {
    let app = app().await;
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "route_not_found");
}

#[actix_web::test]
async fn the_token_guards_the_metrics_and_they_count_what_happened() {
    let app = app_with(|c| c.metrics_token = Some(hocvuso::base::config::Secret::new(TOKEN.as_bytes().to_vec()))).await;
    let admin = app.admin_token().await;

    let r = app.get("/metrics", None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_token"));
    let r = app.get("/metrics", Some("metrics-token-0123456789-abcdefghijklmnoX")).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    // An access token is not the metrics token.
    let r = app.get("/metrics", Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));

    // Something to count: a read by template, a push with one applied and one rejected
    // operation, and a device of Quảng Ngãi with changes unsent for an hour.
    assert_eq!(app.get("/api/v1/me", Some(&admin)).await.status, StatusCode::OK);
    let r = app
        .post(
            "/api/v1/trainees",
            Some(&admin),
            json!({"commune_code": QN_CAM_THANH, "full_name": "Đinh Thị Lan", "gender": "female", "birth_year": 1970,
                   "consent": {"basic": true, "method": "paper"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let trainee = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/trainees/{trainee}"), Some(&admin)).await.status, StatusCode::OK);
    let (_, officer) = app.user_with_token(&admin, "canbo_camthanh", "officer", "commune", Some(QN_CAM_THANH)).await;
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = app
        .call(
            auth(TestRequest::post().uri("/api/v1/sync/push"), Some(&officer))
                .insert_header(("X-Outbox-Depth", "4"))
                .insert_header(("X-Oldest-Unsynced", hour_ago.as_str()))
                .set_json(json!({"device_id": "tablet-cam-thanh", "operations": [
                    {"op_id": uuid::Uuid::new_v4().to_string(), "type": "trainee", "action": "upsert",
                     "id": uuid::Uuid::new_v4().to_string(),
                     "body": {"commune_code": QN_CAM_THANH, "full_name": "Hồ Văn Nam", "gender": "male", "birth_year": 1965,
                              "consent": {"basic": true, "method": "paper"}}},
                    {"op_id": uuid::Uuid::new_v4().to_string(), "type": "trainee", "action": "upsert",
                     "id": uuid::Uuid::new_v4().to_string(), "body": {"commune_code": QN_CAM_THANH}},
                ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let statuses: Vec<&str> = r.body["results"].as_array().unwrap().iter().map(|x| x["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["applied", "rejected"]);

    let r = app.get("/metrics", Some(TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"), "{:?}", r.header("content-type"));
    let text = String::from_utf8(r.raw.clone()).unwrap();
    assert_eq!(value(&text, r#"hocvuso_http_requests_total{method="GET",route="/api/v1/me",status="200"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, r#"hocvuso_http_requests_total{method="GET",route="/api/v1/trainees/{id}",status="200"}"#), Some(1.0));
    assert_eq!(value(&text, r#"hocvuso_http_requests_total{method="GET",route="/metrics",status="401"}"#), Some(3.0));
    assert_eq!(value(&text, r#"hocvuso_http_request_duration_seconds_count{method="POST",route="/api/v1/sync/push"}"#), Some(1.0));
    assert!(!text.contains(&trainee), "an id in a label: {text}");
    assert_eq!(value(&text, "hocvuso_sync_pushes_total"), Some(1.0));
    assert_eq!(value(&text, r#"hocvuso_sync_push_operations_total{result="applied"}"#), Some(1.0));
    assert_eq!(value(&text, r#"hocvuso_sync_push_operations_total{result="rejected"}"#), Some(1.0));
    assert_eq!(value(&text, r#"hocvuso_sync_push_operations_total{result="conflict"}"#), Some(0.0));
    let lag = value(&text, r#"hocvuso_sync_lag_seconds{province="51"}"#).unwrap();
    assert!((3590.0..3700.0).contains(&lag), "{lag}");
    assert_eq!(value(&text, "hocvuso_db_pool_max_connections"), Some(4.0));
    assert!(value(&text, r#"hocvuso_db_pool_connections{state="idle"}"#).is_some());
    assert!(value(&text, "hocvuso_access_log_buffered_entries").is_some());

    // The device sends everything: no lag left for its province.
    let r = app
        .call(
            auth(TestRequest::get().uri("/api/v1/sync/changes?limit=1"), Some(&officer))
                .insert_header(("X-Device-Id", "tablet-cam-thanh"))
                .insert_header(("X-Outbox-Depth", "0")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let text = String::from_utf8(app.get("/metrics", Some(TOKEN)).await.raw).unwrap();
    assert_eq!(value(&text, r#"hocvuso_sync_lag_seconds{province="51"}"#), None, "{text}");
}

/// A free port on the loopback (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[actix_web::test]
async fn the_metrics_address_serves_metrics_only_and_log_lines_name_request_and_account() {
    let dir = tempfile::tempdir().unwrap();
    let (api, metrics) = (free_port(), free_port());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hocvuso"));
    for (name, _) in std::env::vars() {
        if name.starts_with("HOCVUSO_") || name == "DATABASE_URL" {
            cmd.env_remove(name);
        }
    }
    let child = cmd
        .env("HOCVUSO_DATA_DIR", dir.path().join("data"))
        .env("HOCVUSO_BIND", format!("127.0.0.1:{api}"))
        .env("HOCVUSO_METRICS_BIND", format!("127.0.0.1:{metrics}"))
        .env("HOCVUSO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("HOCVUSO_LOG_FORMAT", "json")
        .env("HOCVUSO_WORKERS", "1")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let api_url = format!("http://127.0.0.1:{api}");
    let mut up = false;
    for _ in 0..300 {
        if client.get(format!("{api_url}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "the server did not start");
    let login: Value = client
        .post(format!("{api_url}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let me = client.get(format!("{api_url}/api/v1/me")).bearer_auth(token).header("X-Request-Id", "req-me-0001").send().await.unwrap();
    assert_eq!(me.status(), 200);
    let account = me.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    // Without a token, no metrics on the API's address; on the metrics address, only metrics.
    assert_eq!(client.get(format!("{api_url}/metrics")).send().await.unwrap().status(), 404);
    let r = client.get(format!("http://127.0.0.1:{metrics}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert_eq!(value(&text, r#"hocvuso_http_requests_total{method="GET",route="/api/v1/me",status="200"}"#), Some(1.0), "{text}");
    let r = client.get(format!("http://127.0.0.1:{metrics}/api/v1/me")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // SIGTERM, then read the log.
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let of_me: Vec<&Value> = lines.iter().filter(|l| l["span"]["request_id"] == "req-me-0001").collect();
    assert!(!of_me.is_empty(), "no line of the request: {log}");
    for line in &of_me {
        assert_eq!(line["span"]["account_id"], account.as_str(), "{line}");
    }
    assert!(of_me.iter().any(|l| l["fields"]["message"] == "request" && l["fields"]["route"] == "/api/v1/me"), "{log}");
    // Every line written while a request ran names the request.
    for line in lines.iter().filter(|l| l["fields"]["message"] == "request") {
        assert!(line["span"]["request_id"].is_string(), "{line}");
    }
    assert!(!log.contains(ADMIN_PASSWORD));
}

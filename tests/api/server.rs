//! One test against a real listening server over TCP: compression, request ids, sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::HttpServer;
use serde_json::{json, Value};

#[actix_web::test]
async fn a_real_server_answers_over_tcp() {
    let db = common::TestDb::new();
    let state = hocvuso::server::bootstrap(common::test_config(&db)).unwrap();
    let st = state.clone();
    let server = HttpServer::new(move || hocvuso::server::build(st.clone())).workers(1).bind(("127.0.0.1", 0)).unwrap();
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);

    let client = reqwest::Client::builder().gzip(true).build().unwrap();
    let base = format!("http://{addr}");
    let r = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));

    // A large body is compressed when the client accepts gzip.
    let r = client.get(format!("{base}/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .unwrap()
        .get(format!("{base}/api/v1/openapi.json"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers().get("content-encoding").unwrap(), "gzip");
    let spec: Value = r.json().await.unwrap();
    assert_eq!(spec["info"]["title"], "hocvuso");

    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": common::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let me: Value = client.get(format!("{base}/api/v1/me")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["username"], "admin");

    let r = client.get(format!("{base}/api/v1/nope")).header("Accept-Language", "en").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers().get("content-type").unwrap(), "application/problem+json");
    handle.stop(true).await;
}

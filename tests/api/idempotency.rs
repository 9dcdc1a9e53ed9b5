//! Idempotency-Key on POST: replay of the first response, 422 for another body, 409
//! while the first is in progress, per-account keys, no storage of secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use hocvuso::store::schema::{classes, idempotency_keys as k, teams};
use serde_json::{json, Value};

fn post(path: &str, token: &str, key: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Idempotency-Key", key))
        .set_json(body)
}

fn team_body(name: &str) -> Value {
    json!({"commune_code": QN_CAM_THANH, "name": name, "kind": "other", "level": "commune"})
}

#[actix_web::test]
async fn the_first_response_is_replayed_for_the_same_key_and_body() {
    let app = app().await;
    let admin = app.admin_token().await;
    let first = app.call(post("/api/v1/teams", &admin, "key-1", team_body("Tổ A"))).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(first.header("idempotency-replayed").is_none());
    let again = app.call(post("/api/v1/teams", &admin, "key-1", team_body("Tổ A"))).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotency-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("etag"), first.header("etag"));
    let n: i64 = teams::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(n, 1, "a server-made id would have created a second team without the key");
    // Same key, another body.
    let other = app.call(post("/api/v1/teams", &admin, "key-1", team_body("Tổ B"))).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.code(), "idempotency_key_reused");
    // Another key: a new team.
    assert_eq!(app.call(post("/api/v1/teams", &admin, "key-2", team_body("Tổ A"))).await.status, StatusCode::CREATED);
    let n: i64 = teams::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(n, 2);
}

#[actix_web::test]
async fn keys_belong_to_accounts_and_errors_are_replayed_too() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    app.call(post("/api/v1/teams", &admin, "shared-key", team_body("Tổ của admin"))).await;
    let r = app.call(post("/api/v1/teams", &officer, "shared-key", team_body("Tổ của cán bộ"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // A refused request is stored as the client saw it.
    let bad = json!({"commune_code": QN_CAM_THANH, "name": "", "kind": "other", "level": "commune"});
    let first = app.call(post("/api/v1/teams", &officer, "bad-1", bad.clone())).await;
    assert_eq!(first.status, StatusCode::UNPROCESSABLE_ENTITY);
    let again = app.call(post("/api/v1/teams", &officer, "bad-1", bad)).await;
    assert_eq!((again.status, again.header("idempotency-replayed")), (StatusCode::UNPROCESSABLE_ENTITY, Some("true".to_owned())));
    assert_eq!(again.body, first.body);
    assert_eq!(again.body["request_id"], first.body["request_id"]);
}

#[actix_web::test]
async fn a_key_in_progress_is_409_and_an_abandoned_one_is_taken_over() {
    let app = app().await;
    let admin = app.admin_token().await;
    let me: Value = app.get("/api/v1/me", Some(&admin)).await.body;
    let account = me["id"].as_str().unwrap().to_owned();
    let body = team_body("Tổ A");
    // Fingerprint of the request as the middleware computes it: path, query, body.
    let first = app.call(post("/api/v1/teams", &admin, "probe", body.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let hash: String = k::table.find((&account, "probe")).select(k::request_hash).first(&mut app.conn()).unwrap();
    let now = hocvuso::store::db::now();
    diesel::insert_into(k::table)
        .values((
            k::account_id.eq(&account),
            k::idem_key.eq("busy"),
            k::request_hash.eq(&hash),
            k::state.eq("processing"),
            k::created_at.eq(now),
            k::expires_at.eq(now + chrono::Duration::hours(24)),
        ))
        .execute(&mut app.conn())
        .unwrap();
    let r = app.call(post("/api/v1/teams", &admin, "busy", body.clone())).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "idempotency_key_in_progress"));
    // The instance that took it died two minutes ago: the key is taken over.
    diesel::update(k::table.find((&account, "busy")))
        .set(k::created_at.eq(now - chrono::Duration::minutes(2)))
        .execute(&mut app.conn())
        .unwrap();
    let r = app.call(post("/api/v1/teams", &admin, "busy", team_body("Tổ A"))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let state: String = k::table.find((&account, "busy")).select(k::state).first(&mut app.conn()).unwrap();
    assert_eq!(state, "done");
    // An expired record is forgotten and purged.
    diesel::update(k::table.find((&account, "probe")))
        .set(k::expires_at.eq(now - chrono::Duration::seconds(1)))
        .execute(&mut app.conn())
        .unwrap();
    let purged = hocvuso::domain::idempotency::purge(&mut app.conn()).unwrap();
    assert_eq!(purged, 1);
}

#[actix_web::test]
async fn secrets_are_never_stored_and_bad_keys_are_refused() {
    let app = app().await;
    let login = json!({"username": "admin", "password": ADMIN_PASSWORD});
    let a =
        app.call(TestRequest::post().uri("/api/v1/auth/login").insert_header(("Idempotency-Key", "login-1")).set_json(login.clone())).await;
    let b = app.call(TestRequest::post().uri("/api/v1/auth/login").insert_header(("Idempotency-Key", "login-1")).set_json(login)).await;
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_ne!(a.body["access_token"], b.body["access_token"]);
    let stored: i64 = k::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(stored, 0);
    let token = a.body["access_token"].as_str().unwrap();
    let r = app.call(post("/api/v1/teams", token, "has spaces", team_body("X"))).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_idempotency_key"));
    let n: i64 = classes::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(n, 0);
}

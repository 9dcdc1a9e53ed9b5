//! Sign-in, tokens, sessions, throttling and password changes, end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use hocvuso::store::schema::{auth_sessions, login_throttle, refresh_tokens, users};
use serde_json::json;

#[actix_web::test]
async fn login_returns_tokens_and_me_works() {
    let app = app().await;
    let r = app.post("/api/v1/auth/login", None, json!({"username": "Admin ", "password": ADMIN_PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert_eq!(r.body["refresh_expires_in"], 2_592_000);
    assert_eq!(r.body["user"]["username"], "admin");
    assert_eq!(r.body["user"]["role"], "admin");
    assert_eq!(r.body["user"]["scope_kind"], "country");
    assert!(r.body["user"].get("password_hash").is_none());
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let token = r.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], "admin");
    assert_eq!(me.body["version"], 1);
    // Refresh token stored hashed only.
    let stored: Vec<String> = refresh_tokens::table.select(refresh_tokens::token_hash).load(&mut app.conn()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], r.body["refresh_token"].as_str().unwrap());
    assert_eq!(stored[0].len(), 64);
}

#[actix_web::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = app().await;
    let wrong = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": "not-the-password"})).await;
    let unknown = app.post("/api/v1/auth/login", None, json!({"username": "nobody", "password": "not-the-password"})).await;
    let expected = json!({
        "type": "urn:hocvuso:problem:invalid_credentials", "title": "Chưa xác thực", "status": 401,
        "detail": "Tên đăng nhập hoặc mật khẩu không đúng.", "code": "invalid_credentials"
    });
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.problem(), expected);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.problem(), expected);
    assert!(wrong.header("www-authenticate").unwrap().starts_with("Bearer realm=\"hocvuso\""));
}

#[actix_web::test]
async fn unknown_user_costs_a_password_verification() {
    // Timing must not reveal whether an account exists: the unknown-user path runs one
    // argon2 verification against a dummy hash made with the same parameters as real ones.
    // Checked by counting the verifications run (a wall-clock comparison is flaky on a
    // loaded machine) and comparing the hashes' parameters.
    let app = app().await;
    let passwords = &app.state.passwords;
    let before = passwords.verifications();
    let r = app.post("/api/v1/auth/login", None, json!({"username": "ghost", "password": "wrong-password"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(passwords.verifications(), before + 1, "unknown user: one verification");
    let r = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": "wrong-password"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(passwords.verifications(), before + 2, "known user, wrong password: one verification");
    // A malformed body is refused before any hashing.
    let r = app.post("/api/v1/auth/login", None, json!({"username": "ghost"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(passwords.verifications(), before + 2);

    let real: String = users::table.filter(users::username.eq("admin")).select(users::password_hash).first(&mut app.conn()).unwrap();
    let params = |phc: &str| -> String {
        // $argon2id$v=19$m=19456,t=2,p=1$salt$hash: everything before the salt.
        phc.split('$').take(4).collect::<Vec<_>>().join("$")
    };
    assert_eq!(params(passwords.dummy_hash()), params(&real));
    assert!(params(&real).starts_with("$argon2id$v=19$m=19456,t=2,p=1"), "{}", params(&real));
}

#[actix_web::test]
async fn repeated_failures_for_a_username_are_throttled_in_the_database() {
    let app = app().await;
    for _ in 0..5 {
        let r = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": "wrong-password"})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused until the lock-out ends.
    let r = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 890 && retry <= 900, "retry-after {retry}");
    assert_eq!(r.code(), "too_many_attempts");
    assert_eq!(r.body["retry_after"], retry);
    // A second instance (or a restart) on the same database sees the same block.
    let (_state, other) = instance_on(&app.db).await;
    let r2 = send(&other, TestRequest::post().uri("/api/v1/auth/login").set_json(json!({"username": "admin", "password": ADMIN_PASSWORD})))
        .await;
    assert_eq!(r2.status, StatusCode::TOO_MANY_REQUESTS);
    let failures: i32 = login_throttle::table.find("user:admin").select(login_throttle::failures).first(&mut app.conn()).unwrap();
    assert_eq!(failures, 5);
}

#[actix_web::test]
async fn repeated_failures_from_one_address_are_throttled() {
    let app = app().await;
    let from = |name: String| {
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .peer_addr("203.0.113.7:5000".parse().unwrap())
            .set_json(json!({"username": name, "password": "wrong-password"}))
    };
    for i in 0..20 {
        let r = app.call(from(format!("user{i}"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = app.call(from("someone-else".into())).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is not affected.
    let ok = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_success_clears_the_username_failures() {
    let app = app().await;
    for _ in 0..4 {
        app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": "wrong-password"})).await;
    }
    app.admin_token().await;
    let left: i64 = login_throttle::table.filter(login_throttle::key.eq("user:admin")).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(left, 0);
    for _ in 0..4 {
        app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": "wrong-password"})).await;
    }
    app.admin_token().await;
}

#[actix_web::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = app().await;
    let first = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    let rt1 = first.body["refresh_token"].as_str().unwrap().to_owned();
    let second = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": rt1})).await;
    assert_eq!(second.status, StatusCode::OK);
    let rt2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    let at2 = second.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(app.get("/api/v1/me", Some(&at2)).await.status, StatusCode::OK);

    // Presenting the used token again: reuse. The whole family dies.
    let reuse = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": rt1})).await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reuse.code(), "refresh_token_reused");
    let after = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": rt2})).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.code(), "session_revoked");
    let me = app.get("/api/v1/me", Some(&at2)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.code(), "session_revoked");
    let reason: Option<String> = auth_sessions::table.select(auth_sessions::revoked_reason).first(&mut app.conn()).unwrap();
    assert_eq!(reason.as_deref(), Some("refresh_token_reused"));
    // Other sessions of the same user are untouched.
    app.admin_token().await;
}

#[actix_web::test]
async fn unknown_and_expired_refresh_tokens_are_refused() {
    let app = app().await;
    let r = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": "made-up"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "invalid_refresh_token");
    let login = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    let rt = login.body["refresh_token"].as_str().unwrap();
    let past = hocvuso::store::db::now() - chrono::Duration::seconds(1);
    diesel::update(refresh_tokens::table).set(refresh_tokens::expires_at.eq(past)).execute(&mut app.conn()).unwrap();
    let r = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": rt})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "invalid_refresh_token");
}

#[actix_web::test]
async fn logout_stops_access_and_refresh_tokens() {
    let app = app().await;
    let login = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    let at = login.body["access_token"].as_str().unwrap();
    let rt = login.body["refresh_token"].as_str().unwrap();
    let out = app.post("/api/v1/auth/logout", Some(at), json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = app.get("/api/v1/me", Some(at)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.code(), "session_revoked");
    let r = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": rt})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "session_revoked");
    assert_eq!(app.post("/api/v1/auth/logout", None, json!({})).await.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn deactivation_stops_tokens_on_the_next_request() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token(&admin, "lan", "team_member", "commune", Some(QN_CAM_THANH)).await;
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::OK);
    let r = app.patch(&format!("/api/v1/users/{id}"), Some(&admin), Some("\"v1\""), json!({"active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.code(), "session_revoked");
    let login = app.post("/api/v1/auth/login", None, json!({"username": "lan", "password": user_password("lan")})).await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login.code(), "invalid_credentials");
    // Reactivated: can sign in again, the old token stays dead.
    let r = app.patch(&format!("/api/v1/users/{id}"), Some(&admin), Some("\"v2\""), json!({"active": true})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::UNAUTHORIZED);
    app.login("lan", &user_password("lan")).await;
}

#[actix_web::test]
async fn password_change_ends_every_session_and_returns_a_new_one() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_id, phone1) = app.user_with_token(&admin, "hoa", "officer", "commune", Some(QN_CAM_THANH)).await;
    let phone2 = app.login("hoa", &user_password("hoa")).await;
    let r = app
        .post("/api/v1/me/password", Some(&phone1), json!({"current_password": user_password("hoa"), "new_password": "Sông-Trà-Khúc-2026"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = r.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", Some(&phone1)).await.code(), "session_revoked");
    assert_eq!(app.get("/api/v1/me", Some(&phone2)).await.code(), "session_revoked");
    let me = app.get("/api/v1/me", Some(fresh)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["version"], 2);
    let old = app.post("/api/v1/auth/login", None, json!({"username": "hoa", "password": user_password("hoa")})).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    app.login("hoa", "Sông-Trà-Khúc-2026").await;
}

#[actix_web::test]
async fn password_change_checks_the_current_password_and_the_policy() {
    let app = app().await;
    let admin = app.admin_token().await;
    let r = app
        .post("/api/v1/me/password", Some(&admin), json!({"current_password": "wrong-one-here", "new_password": "Sông-Trà-Khúc-2026"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"], json!([{"field": "current_password", "code": "incorrect", "message": "Mật khẩu hiện tại không đúng."}]));
    let r = app.post("/api/v1/me/password", Some(&admin), json!({"current_password": ADMIN_PASSWORD, "new_password": "1234567890"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "new_password");
    assert_eq!(r.body["errors"][0]["code"], "too_common");
    let r = app.post("/api/v1/me/password", Some(&admin), json!({"current_password": ADMIN_PASSWORD, "new_password": "short"})).await;
    assert_eq!(r.body["errors"][0]["code"], "too_short");
    // Nothing changed.
    let version: i64 = users::table.filter(users::username.eq("admin")).select(users::version).first(&mut app.conn()).unwrap();
    assert_eq!(version, 1);
    assert_eq!(app.get("/api/v1/me", Some(&admin)).await.status, StatusCode::OK);
}

fn forge(claims: serde_json::Value, secret: &[u8], alg: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
}

#[actix_web::test]
async fn bad_tokens_are_refused() {
    let app = app().await;
    let login = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    let good = login.body["access_token"].as_str().unwrap().to_owned();
    let claims: serde_json::Value = {
        use base64::Engine;
        let payload = good.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    use base64::Engine;
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    // Tampered payload (another subject) with the original signature.
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&with("sub", json!("someone-else"))), parts[2]);
    // alg: none.
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), parts[1]);
    let cases = vec![
        ("tampered", tampered, "invalid_token"),
        ("alg none", none, "invalid_token"),
        ("garbage", "abc.def.ghi".to_owned(), "invalid_token"),
        (
            "wrong secret",
            forge(claims.clone(), b"another-secret-another-secret-another-secret", jsonwebtoken::Algorithm::HS256),
            "invalid_token",
        ),
        ("HS512", forge(claims.clone(), JWT_SECRET, jsonwebtoken::Algorithm::HS512), "invalid_token"),
        ("wrong audience", forge(with("aud", json!("other-api")), JWT_SECRET, jsonwebtoken::Algorithm::HS256), "invalid_token"),
        ("wrong issuer", forge(with("iss", json!("evil")), JWT_SECRET, jsonwebtoken::Algorithm::HS256), "invalid_token"),
        ("expired", forge(with("exp", json!(now - 120)), JWT_SECRET, jsonwebtoken::Algorithm::HS256), "token_expired"),
        (
            "unknown session",
            forge(with("sid", json!("00000000-0000-0000-0000-000000000000")), JWT_SECRET, jsonwebtoken::Algorithm::HS256),
            "invalid_token",
        ),
    ];
    for (what, token, code) in cases {
        let r = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(r.code(), code, "{what}");
        assert!(r.header("www-authenticate").unwrap().contains("invalid_token"), "{what}");
    }
    let r = app.call(TestRequest::get().uri("/api/v1/me").insert_header(("Authorization", "Basic YWRtaW46YWRtaW4="))).await;
    assert_eq!(r.code(), "invalid_token");
    let missing = app.get("/api/v1/me", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.header("www-authenticate").as_deref(), Some("Bearer realm=\"hocvuso\""));
    assert_eq!(
        missing.problem(),
        json!({"type": "urn:hocvuso:problem:missing_token", "title": "Chưa xác thực", "status": 401,
               "detail": "Cần đăng nhập: thiếu mã truy cập (Authorization: Bearer …).", "code": "missing_token"})
    );
    // The good token still works.
    assert_eq!(app.get("/api/v1/me", Some(&good)).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn reset_code_lets_a_field_worker_set_a_new_password_once() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (officer_id, officer) = app.user_with_token(&admin, "officer1", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (worker_id, worker_token) = app.user_with_token(&admin, "worker1", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let r = app.post(&format!("/api/v1/users/{worker_id}/reset-code"), Some(&officer), json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let code = r.body["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);
    let wrong =
        app.post("/api/v1/auth/reset", None, json!({"username": "worker1", "code": "00000000", "new_password": "Núi-Ấn-Sông-Trà-1"})).await;
    if code != "00000000" {
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.code(), "invalid_reset_code");
    }
    let bad_pw = app.post("/api/v1/auth/reset", None, json!({"username": "worker1", "code": code, "new_password": "short"})).await;
    assert_eq!(bad_pw.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app.post("/api/v1/auth/reset", None, json!({"username": "worker1", "code": code, "new_password": "Núi-Ấn-Sông-Trà-1"})).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    assert_eq!(app.get("/api/v1/me", Some(&worker_token)).await.code(), "session_revoked");
    app.login("worker1", "Núi-Ấn-Sông-Trà-1").await;
    let again =
        app.post("/api/v1/auth/reset", None, json!({"username": "worker1", "code": code, "new_password": "Núi-Ấn-Sông-Trà-2"})).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.code(), "invalid_reset_code");
    // An officer cannot reset another officer; a team member cannot reset anyone.
    let (_, worker2) = app.user_with_token(&admin, "worker2", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let r = app.post(&format!("/api/v1/users/{officer_id}/reset-code"), Some(&officer), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post(&format!("/api/v1/users/{worker_id}/reset-code"), Some(&worker2), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn expired_reset_codes_do_not_work() {
    let app = app().await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "worker3", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let r = app.post(&format!("/api/v1/users/{id}/reset-code"), Some(&admin), json!({})).await;
    let code = r.body["code"].as_str().unwrap().to_owned();
    let past = hocvuso::store::db::now() - chrono::Duration::seconds(1);
    diesel::update(hocvuso::store::schema::reset_codes::table)
        .set(hocvuso::store::schema::reset_codes::expires_at.eq(past))
        .execute(&mut app.conn())
        .unwrap();
    let r = app.post("/api/v1/auth/reset", None, json!({"username": "worker3", "code": code, "new_password": "Núi-Ấn-Sông-Trà-1"})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "invalid_reset_code");
}

#[actix_web::test]
async fn an_account_created_without_password_gets_a_reset_code() {
    let app = app().await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"username": "minh", "full_name": "Đinh Văn Minh", "role": "team_member", "scope_kind": "commune", "scope_code": QN_NGHIA_LO}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let code = r.body["reset_code"]["code"].as_str().unwrap();
    let ok = app.post("/api/v1/auth/reset", None, json!({"username": "minh", "code": code, "new_password": "Cà-phê-sáng-2026"})).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    app.login("minh", "Cà-phê-sáng-2026").await;
}

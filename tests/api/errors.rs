//! Every error path has the RFC 9457 shape with its stable code, in both languages, with
//! the request id; operational endpoints answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use serde_json::{json, Value};

#[actix_web::test]
async fn unknown_route_is_a_404_problem() {
    let app = app().await;
    let r = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:route_not_found", "title": "Không tìm thấy", "status": 404,
               "detail": "Không có đường dẫn API này. Xem /docs để biết danh sách.", "code": "route_not_found"})
    );
    let en = app.call(TestRequest::get().uri("/nothing").insert_header(("Accept-Language", "en"))).await;
    assert_eq!(
        en.problem(),
        json!({"type": "urn:hocvuso:problem:route_not_found", "title": "Not found", "status": 404,
               "detail": "There is no such API path. See /docs for the list.", "code": "route_not_found"})
    );
}

#[actix_web::test]
async fn wrong_method_is_a_405_problem() {
    let app = app().await;
    let r = app.call(TestRequest::delete().uri("/api/v1/auth/login")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:method_not_allowed", "title": "Phương thức không được hỗ trợ", "status": 405,
               "detail": "Đường dẫn này không hỗ trợ phương thức HTTP đã dùng.", "code": "method_not_allowed"})
    );
}

#[actix_web::test]
async fn malformed_json_is_a_400_problem() {
    let app = app().await;
    let r = app
        .call(
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{\"username\": "),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:malformed_json", "title": "Yêu cầu không hợp lệ", "status": 400,
               "detail": "Nội dung không phải JSON hợp lệ.", "code": "malformed_json"})
    );
    // Well-formed JSON of the wrong shape names the field, not the value.
    let r = app.post("/api/v1/auth/login", None, json!({"username": 5, "password": "secret-value"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_body");
    assert!(!r.body["detail"].as_str().unwrap().contains("secret-value"));
    // Invalid UTF-8 in the body.
    let r = app
        .call(
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .insert_header(("Content-Type", "application/json"))
                .set_payload(b"{\"username\": \"\xff\xfe\", \"password\": \"x\"}".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "malformed_json");
}

#[actix_web::test]
async fn wrong_content_type_is_a_415_problem() {
    let app = app().await;
    let r = app
        .call(TestRequest::post().uri("/api/v1/auth/login").insert_header(("Content-Type", "text/plain")).set_payload("username=admin"))
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:unsupported_media_type", "title": "Kiểu nội dung không được hỗ trợ", "status": 415,
               "detail": "Nội dung phải là JSON (Content-Type: application/json).", "code": "unsupported_media_type"})
    );
}

#[actix_web::test]
async fn body_over_the_limit_is_a_413_problem() {
    let app = app().await;
    let big = "x".repeat(300 * 1024);
    let r = app.post("/api/v1/auth/login", None, json!({"username": big, "password": "x"})).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:payload_too_large", "title": "Dữ liệu gửi lên quá lớn", "status": 413,
               "detail": "Dữ liệu gửi lên vượt quá giới hạn 262144 byte.", "code": "payload_too_large"})
    );
}

#[actix_web::test]
async fn validation_is_a_422_problem_with_field_entries() {
    let app = app().await;
    let r = app.post("/api/v1/auth/login", None, json!({"username": "", "password": ""})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:validation_failed", "title": "Dữ liệu không hợp lệ", "status": 422,
        "detail": "Một số trường không hợp lệ.", "code": "validation_failed",
        "errors": [
            {"field": "password", "code": "length", "message": "Độ dài phải từ 1 đến 1024 ký tự."},
            {"field": "username", "code": "length", "message": "Độ dài phải từ 1 đến 64 ký tự."}
        ]})
    );
}

#[actix_web::test]
async fn role_violation_is_a_403_problem() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, analyst) = app.user_with_token(&admin, "analyst1", "analyst", "country", None).await;
    let r = app.get("/api/v1/users", Some(&analyst)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:forbidden", "title": "Không có quyền", "status": 403,
               "detail": "Vai trò của bạn không được phép thực hiện thao tác này.", "code": "forbidden"})
    );
}

#[actix_web::test]
async fn conflict_is_a_409_problem() {
    let app = app().await;
    let admin = app.admin_token().await;
    let body = json!({"username": "admin", "full_name": "Hai", "role": "analyst", "scope_kind": "country", "password": user_password("")});
    let r = app.post("/api/v1/users", Some(&admin), body).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:username_taken", "title": "Xung đột", "status": 409,
               "detail": "Tên đăng nhập đã được dùng.", "code": "username_taken"})
    );
}

#[actix_web::test]
async fn throttling_is_a_429_problem() {
    let app = app_with(|c| c.throttle_user_failures = 1).await;
    app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": "wrong-password"})).await;
    let r = app.post("/api/v1/auth/login", None, json!({"username": "admin", "password": "wrong-password"})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let secs = r.body["retry_after"].as_u64().unwrap();
    assert_eq!(r.header("retry-after"), Some(secs.to_string()));
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:too_many_attempts", "title": "Quá nhiều yêu cầu", "status": 429,
               "detail": format!("Quá nhiều lần thử không thành công. Vui lòng thử lại sau {secs} giây."),
               "code": "too_many_attempts", "retry_after": secs})
    );
}

#[actix_web::test]
async fn request_ids_are_echoed_or_made() {
    let app = app().await;
    let r = app.call(TestRequest::get().uri("/healthz").insert_header(("X-Request-Id", "phone-42-abc"))).await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("phone-42-abc"));
    let r = app.call(TestRequest::get().uri("/healthz").insert_header(("X-Request-Id", "has spaces"))).await;
    let made = r.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(&made).is_ok());
    let r = app.call(TestRequest::get().uri("/missing").insert_header(("X-Request-Id", "trace-7"))).await;
    assert_eq!(r.body["request_id"], "trace-7");
}

#[test]
fn internal_errors_hide_their_cause() {
    let e = hocvuso::base::error::ApiError::internal("SELECT * FROM users: disk I/O error at /var/lib/x");
    let p = serde_json::to_value(e.problem(hocvuso::base::error::Lang::En, Some("rid-1"))).unwrap();
    assert_eq!(
        p,
        json!({"type": "urn:hocvuso:problem:internal_error", "title": "Internal server error", "status": 500,
               "detail": "Something went wrong on the server. Please retry; if it happens again, report the request id.",
               "code": "internal_error", "request_id": "rid-1"})
    );
}

#[actix_web::test]
async fn health_and_readiness() {
    let app = app().await;
    let r = app.get("/healthz", None).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!({"status": "ok"})));
    let r = app.get("/readyz", None).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!({"status": "ok"})));
}

#[actix_web::test]
async fn docs_and_spec_are_served() {
    let app = app().await;
    let r = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
    let r = app.get("/docs/", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.raw).contains("swagger"));
    let r = app.get("/docs", None).await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    // The root leads to the documentation.
    let r = app.get("/", None).await;
    assert_eq!((r.status, r.header("location").as_deref()), (StatusCode::FOUND, Some("/docs/")));
    // Swagger UI asks no outside validator about this server.
    let r = app.get("/docs/swagger-initializer.js", None).await;
    let js = String::from_utf8_lossy(&r.raw);
    assert!(js.contains(r#""validatorUrl": "none""#), "{js}");
}

/// One rule for text on both backends (PostgreSQL answered 500 to any U+0000): a control
/// character in a query parameter or a JSON string is 422 naming it; in a path, 404.
#[actix_web::test]
async fn control_characters_are_refused_naming_the_field() {
    let app = app().await;
    let admin = app.admin_token().await;
    let expect_422 = |r: &Resp, field: &str| {
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {}", r.body);
        assert_eq!(r.code(), "validation_failed", "{}", r.body);
        assert_eq!((r.body["errors"][0]["field"].as_str(), r.body["errors"][0]["code"].as_str()), (Some(field), Some("control_character")));
    };
    for (path, field) in [
        ("/api/v1/trainees?q=lan%00", "q"),
        ("/api/v1/teams?hamlet=%00", "hamlet"),
        ("/api/v1/units?q=s%C6%A1n%01", "q"),
        ("/api/v1/audit?actor=%7F", "actor"),
        ("/api/v1/stats/overview?campaign=a%0Ab", "campaign"),
    ] {
        expect_422(&app.get(path, Some(&admin)).await, field);
    }
    // Bodies: sign-in (no account needed), a create, a field deep in a push.
    let login = app.call(TestRequest::post().uri("/api/v1/auth/login").set_json(json!({"username": "admin\u{0}", "password": "x"}))).await;
    expect_422(&login, "username");
    let team = app
        .post(
            "/api/v1/teams",
            Some(&admin),
            json!({"commune_code": QN_CAM_THANH, "name": "Tổ\u{0} 1", "kind": "other", "level": "commune"}),
        )
        .await;
    expect_422(&team, "name");
    let push = app
        .post(
            "/api/v1/sync/push",
            Some(&admin),
            json!({"device_id": "d1", "operations": [{"op_id": "o1", "type": "trainee", "action": "create", "id": "x",
                   "body": {"full_name": "Lan\u{1b}[31m"}}]}),
        )
        .await;
    expect_422(&push, "operations[0].body.full_name");
    // Nothing was stored; an escaped letter is fine.
    let ok = app
        .post(
            "/api/v1/teams",
            Some(&admin),
            json!({"commune_code": QN_CAM_THANH, "name": "Tổ \u{e9}", "kind": "other", "level": "commune"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let teams = app.get("/api/v1/teams", Some(&admin)).await;
    assert_eq!(teams.body["items"].as_array().unwrap().len(), 1, "only the clean team was stored: {}", teams.body);
    // A gzipped body (as phones send pushes) is looked at after decompression.
    let gz = |v: Value| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, v.to_string().as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let zipped = |v: Value| {
        TestRequest::post()
            .uri("/api/v1/teams")
            .insert_header(("Authorization", format!("Bearer {admin}")))
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("Content-Encoding", "gzip"))
            .set_payload(gz(v))
    };
    let r = app.call(zipped(json!({"commune_code": QN_CAM_THANH, "name": "Tổ\u{0} 2", "kind": "other", "level": "commune"}))).await;
    expect_422(&r, "name");
    let r = app.call(zipped(json!({"commune_code": QN_CAM_THANH, "name": "Tổ nén", "kind": "other", "level": "commune"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.call(zipped(json!({})).set_payload(b"not gzip".to_vec())).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json"), "{}", r.body);
    let teams = app.get("/api/v1/teams", Some(&admin)).await;
    assert_eq!(teams.body["items"].as_array().unwrap().len(), 2, "{}", teams.body);
    // A path segment with one names no record.
    let r = app.get("/api/v1/trainees/abc%00def", Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}

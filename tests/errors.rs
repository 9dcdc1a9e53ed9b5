//! Every error path has the RFC 9457 shape with its stable code, in both languages, with
//! the request id; operational endpoints answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use serde_json::json;

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
}

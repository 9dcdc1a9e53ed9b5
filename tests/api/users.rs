//! Account management: every role against every endpoint, scopes (404 on reads, 403 on
//! writes outside the scope), validation, preconditions and the audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use hocvuso::store::schema::{audit_log, users};
use serde_json::json;

struct World {
    admin: String,
    qn_admin: String,
    officer: String,
    member: String,
    analyst: String,
    own_member_id: String,
    foreign_member_id: String,
}

async fn world<S, B>(app: &TestApp<S>) -> World
where
    S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let admin = app.admin_token().await;
    let (_, qn_admin) = app.user_with_token(&admin, "qn.admin", "admin", "province", Some(QN)).await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (own_member_id, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, analyst) = app.user_with_token(&admin, "qn.analyst", "analyst", "province", Some(QN)).await;
    let foreign_member_id = app.create_user(&admin, "hn.member", "team_member", "commune", Some(HN_BA_DINH)).await;
    World { admin, qn_admin, officer, member, analyst, own_member_id, foreign_member_id }
}

fn new_user(name: &str, scope_kind: &str, scope_code: Option<&str>) -> serde_json::Value {
    json!({"username": name, "full_name": "Phạm Thị Hương", "role": "team_member", "scope_kind": scope_kind,
           "scope_code": scope_code, "password": user_password(name)})
}

#[actix_web::test]
async fn role_matrix_for_account_endpoints() {
    let app = app().await;
    let w = world(&app).await;
    let own = format!("/api/v1/users/{}", w.own_member_id);

    // List.
    for (who, token, status) in
        [("admin", &w.admin, 200), ("officer", &w.officer, 200), ("member", &w.member, 403), ("analyst", &w.analyst, 403)]
    {
        assert_eq!(app.get("/api/v1/users", Some(token)).await.status.as_u16(), status, "list as {who}");
    }
    // Create.
    for (who, token, status) in [("officer", &w.officer, 403), ("member", &w.member, 403), ("analyst", &w.analyst, 403)] {
        let r = app.post("/api/v1/users", Some(token), new_user(&format!("x{who}"), "commune", Some(QN_CAM_THANH))).await;
        assert_eq!(r.status.as_u16(), status, "create as {who}");
        assert_eq!(r.code(), "forbidden");
    }
    let r = app.post("/api/v1/users", Some(&w.qn_admin), new_user("qn.new", "commune", Some(QN_CAM_THANH))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Read one.
    for (who, token, status) in [
        ("admin", &w.admin, 200),
        ("qn admin", &w.qn_admin, 200),
        ("officer", &w.officer, 200),
        ("member", &w.member, 403),
        ("analyst", &w.analyst, 403),
    ] {
        assert_eq!(app.get(&own, Some(token)).await.status.as_u16(), status, "get as {who}");
    }
    // Change.
    for (who, token, status) in [("officer", &w.officer, 403), ("member", &w.member, 403), ("analyst", &w.analyst, 403)] {
        let r = app.patch(&own, Some(token), Some("\"v1\""), json!({"full_name": "Tên mới"})).await;
        assert_eq!(r.status.as_u16(), status, "patch as {who}");
    }
    let r = app.patch(&own, Some(&w.qn_admin), Some("\"v1\""), json!({"full_name": "Tên mới"})).await;
    assert_eq!(r.status, StatusCode::OK);
    // Reset code.
    for (who, token, status) in
        [("admin", &w.admin, 201), ("officer", &w.officer, 201), ("member", &w.member, 403), ("analyst", &w.analyst, 403)]
    {
        let r = app.post(&format!("{own}/reset-code"), Some(token), json!({})).await;
        assert_eq!(r.status.as_u16(), status, "reset-code as {who}");
    }
    // No token at all: 401 everywhere.
    assert_eq!(app.get("/api/v1/users", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.post("/api/v1/users", None, new_user("y", "country", None)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get(&own, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.patch(&own, None, Some("\"v1\""), json!({})).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.post(&format!("{own}/reset-code"), None, json!({})).await.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn outside_the_scope_reads_are_404_and_writes_are_403() {
    let app = app().await;
    let w = world(&app).await;
    let foreign = format!("/api/v1/users/{}", w.foreign_member_id);
    for (who, token) in [("qn admin", &w.qn_admin), ("officer", &w.officer)] {
        let r = app.get(&foreign, Some(token)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who}");
        // Same body as a record that does not exist at all.
        let missing = app.get("/api/v1/users/7b0e2a8c-0000-4000-8000-000000000000", Some(token)).await;
        assert_eq!(r.problem(), missing.problem());
    }
    let r = app.patch(&foreign, Some(&w.qn_admin), Some("\"v1\""), json!({"full_name": "X"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:out_of_scope", "title": "Không có quyền", "status": 403,
               "detail": "Bản ghi nằm ngoài địa bàn bạn được phân quyền.", "code": "out_of_scope"})
    );
    let r = app.post(&format!("{foreign}/reset-code"), Some(&w.officer), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "out_of_scope");
    // Creating outside the scope, or widening a scope beyond one's own.
    let r = app.post("/api/v1/users", Some(&w.qn_admin), new_user("hn.x", "commune", Some(HN_BA_DINH))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "out_of_scope");
    let mut analyst = new_user("all.x", "country", None);
    analyst["role"] = json!("analyst");
    let r = app.post("/api/v1/users", Some(&w.qn_admin), analyst).await;
    assert_eq!(r.code(), "out_of_scope");
    let own = format!("/api/v1/users/{}", w.own_member_id);
    let r = app.patch(&own, Some(&w.qn_admin), Some("\"v1\""), json!({"scope_kind": "commune", "scope_code": HN_BA_DINH})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let count: i64 = users::table.filter(users::username.eq_any(["hn.x", "all.x"])).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn lists_show_only_accounts_in_scope_with_cursor_pages() {
    let app = app().await;
    let w = world(&app).await;
    let names =
        |r: &Resp| r.body["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let officer_view = app.get("/api/v1/users", Some(&w.officer)).await;
    assert_eq!(names(&officer_view), vec!["ct.member", "ct.officer"]);
    let qn_view = app.get("/api/v1/users", Some(&w.qn_admin)).await;
    assert_eq!(names(&qn_view), vec!["ct.member", "ct.officer", "qn.admin", "qn.analyst"]);
    let all = app.get("/api/v1/users?role=team_member", Some(&w.admin)).await;
    assert_eq!(names(&all), vec!["ct.member", "hn.member"]);
    // Pages of two, stable while rows are added between pages.
    let p1 = app.get("/api/v1/users?limit=2", Some(&w.admin)).await;
    assert_eq!(names(&p1), vec!["admin", "ct.member"]);
    let cursor = p1.body["next_cursor"].as_str().unwrap().to_owned();
    app.create_user(&w.admin, "aaa.first", "analyst", "country", None).await;
    let p2 = app.get(&format!("/api/v1/users?limit=2&cursor={cursor}"), Some(&w.admin)).await;
    assert_eq!(names(&p2), vec!["ct.officer", "hn.member"]);
    let c2 = p2.body["next_cursor"].as_str().unwrap().to_owned();
    let p3 = app.get(&format!("/api/v1/users?limit=2&cursor={c2}"), Some(&w.admin)).await;
    assert_eq!(names(&p3), vec!["qn.admin", "qn.analyst"]);
    assert!(p3.body["next_cursor"].is_null(), "last page has no next cursor");
    // Bad paging input.
    let r = app.get("/api/v1/users?limit=0", Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "limit");
    let r = app.get("/api/v1/users?limit=501", Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get("/api/v1/users?cursor=not-a-cursor!", Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_cursor");
    let r = app.get("/api/v1/users?active=maybe", Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_query");
}

#[actix_web::test]
async fn create_validates_every_field_at_once() {
    let app = app().await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"id": "not-a-uuid", "username": "Bad Name!", "full_name": "   ", "phone": "12345", "role": "boss",
                   "scope_kind": "commune", "scope_code": QN_CAM_THANH, "password": "123"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.problem(),
        json!({
            "type": "urn:hocvuso:problem:validation_failed", "title": "Dữ liệu không hợp lệ", "status": 422,
            "detail": "Một số trường không hợp lệ.", "code": "validation_failed",
            "errors": [
                {"field": "full_name", "code": "length", "message": "Độ dài phải từ 1 đến 200 ký tự (không tính khoảng trắng đầu cuối)."},
                {"field": "id", "code": "invalid_uuid", "message": "Mã định danh phải là UUID."},
                {"field": "password", "code": "too_short", "message": "Mật khẩu cần ít nhất 10 ký tự."},
                {"field": "phone", "code": "invalid_phone", "message": "Số điện thoại Việt Nam không hợp lệ (ví dụ 0912345678 hoặc +84912345678)."},
                {"field": "role", "code": "invalid_choice", "message": "Vai trò phải là admin, officer, team_member hoặc analyst."},
                {"field": "username", "code": "invalid_username", "message": "Tên đăng nhập gồm 3–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch dưới, gạch ngang."}
            ]
        })
    );
    // Scope rules.
    let r = app.post("/api/v1/users", Some(&admin), new_user("tm.province", "province", Some(QN))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["code"], "commune_required");
    let r = app.post("/api/v1/users", Some(&admin), new_user("tm.nowhere", "commune", Some("99999"))).await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_unit");
    let r = app.post("/api/v1/users", Some(&admin), new_user("tm.nocode", "commune", None)).await;
    assert_eq!(r.body["errors"][0]["code"], "required");
    let r = app.post("/api/v1/users", Some(&admin), json!({"username": "x"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "invalid_body");
    let count: i64 = users::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn create_normalises_and_stores_what_it_returns() {
    let app = app().await;
    let admin = app.admin_token().await;
    let id = "3f2b8c1e-5d4a-4e7b-9c1d-2a3b4c5d6e7f";
    let r = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"id": id, "username": " Huong.TCNS ", "full_name": "  Phạm   Thị Hương ", "phone": "+84 912.345.678",
                   "role": "team_member", "scope_kind": "commune", "scope_code": QN_NGHIA_LO, "password": user_password("x")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
    let u = &r.body["user"];
    assert_eq!(u["id"], id);
    assert_eq!(u["username"], "huong.tcns");
    assert_eq!(u["full_name"], "Phạm Thị Hương");
    assert_eq!(u["phone"], "0912345678");
    assert_eq!(u["scope_code"], QN_NGHIA_LO);
    assert!(r.body["reset_code"].is_null());
    let (name, phone, version): (String, Option<String>, i64) =
        users::table.find(id).select((users::full_name, users::phone, users::version)).first(&mut app.conn()).unwrap();
    assert_eq!((name.as_str(), phone.as_deref(), version), ("Phạm Thị Hương", Some("0912345678"), 1));
    let again = app.post("/api/v1/users", Some(&admin), new_user("huong.tcns", "commune", Some(QN_NGHIA_LO))).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "username_taken");
    let mut same_id = new_user("other.name", "commune", Some(QN_NGHIA_LO));
    same_id["id"] = json!(id);
    let r = app.post("/api/v1/users", Some(&admin), same_id).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "id_taken");
    let audit: Vec<(String, String, Option<String>)> = audit_log::table
        .filter(audit_log::entity_id.eq(id))
        .select((audit_log::action, audit_log::changed_fields, audit_log::actor_role))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(
        audit,
        vec![("create".to_owned(), "[\"username\",\"full_name\",\"phone\",\"role\",\"scope\"]".to_owned(), Some("admin".to_owned()))]
    );
}

#[actix_web::test]
async fn patch_needs_a_current_if_match() {
    let app = app().await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "tuan", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let path = format!("/api/v1/users/{id}");
    let r = app.patch(&path, Some(&admin), None, json!({"full_name": "Lê Tuấn"})).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(r.code(), "precondition_required");
    let ok = app.patch(&path, Some(&admin), Some("\"v1\""), json!({"full_name": "Lê Tuấn", "phone": "0987654321"})).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["version"], 2);
    assert_eq!(ok.header("etag").as_deref(), Some("\"v2\""));
    let stale = app.patch(&path, Some(&admin), Some("\"v1\""), json!({"full_name": "Khác"})).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        stale.problem(),
        json!({"type": "urn:hocvuso:problem:precondition_failed", "title": "Điều kiện tiên quyết không thỏa", "status": 412,
               "detail": "Bản ghi đã được người khác thay đổi; hãy tải lại rồi sửa.", "code": "precondition_failed", "current_version": 2})
    );
    assert_eq!(stale.header("etag").as_deref(), Some("\"v2\""));
    // Role change to an incompatible scope, then a valid move.
    let r = app.patch(&path, Some(&admin), Some("\"v2\""), json!({"scope_kind": "province", "scope_code": QN})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .patch(&path, Some(&admin), Some("\"v2\""), json!({"role": "officer", "scope_kind": "province", "scope_code": QN, "phone": ""}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["role"], "officer");
    assert!(r.body["phone"].is_null());
    // No change: same version.
    let r = app.patch(&path, Some(&admin), Some("\"v3\""), json!({"role": "officer"})).await;
    assert_eq!(r.body["version"], 3);
    let actions: Vec<String> =
        audit_log::table.filter(audit_log::entity_id.eq(&id)).order(audit_log::id).select(audit_log::action).load(&mut app.conn()).unwrap();
    assert_eq!(actions, vec!["create", "update", "update"]);
    // Unknown id and a non-UUID id.
    assert_eq!(
        app.patch("/api/v1/users/7b0e2a8c-0000-4000-8000-000000000000", Some(&admin), Some("\"v1\""), json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/api/v1/users/42", Some(&admin)).await.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn an_admin_cannot_lock_itself_out() {
    let app = app().await;
    let admin = app.admin_token().await;
    let me = app.get("/api/v1/me", Some(&admin)).await;
    let path = format!("/api/v1/users/{}", me.body["id"].as_str().unwrap());
    let r = app.patch(&path, Some(&admin), Some("\"v1\""), json!({"active": false})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "cannot_change_self");
    let r = app.patch(&path, Some(&admin), Some("\"v1\""), json!({"role": "analyst"})).await;
    assert_eq!(r.code(), "cannot_change_self");
    let r = app.patch(&path, Some(&admin), Some("\"v1\""), json!({"full_name": "Quản trị tỉnh"})).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[actix_web::test]
async fn english_problem_texts_on_request() {
    let app = app().await;
    let admin = app.admin_token().await;
    let r = app
        .call(
            auth(TestRequest::post().uri("/api/v1/users"), Some(&admin))
                .insert_header(("Accept-Language", "en-US,en;q=0.9,vi;q=0.5"))
                .set_json(new_user("tm.nocode", "commune", None)),
        )
        .await;
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:validation_failed", "title": "Unprocessable content", "status": 422,
               "detail": "Some fields are invalid.", "code": "validation_failed",
               "errors": [{"field": "scope_code", "code": "required", "message": "A province or commune code is required."}]})
    );
}

#[actix_web::test]
async fn concurrent_account_edits_with_the_same_etag_let_exactly_one_through() {
    let app = app().await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "qn.shared", "officer", "commune", Some(QN_CAM_THANH)).await;
    let path = format!("/api/v1/users/{id}");
    let app = &app;
    let edits = (0..8).map(|i| {
        let (path, admin) = (path.clone(), admin.clone());
        async move { app.patch(&path, Some(&admin), Some("\"v1\""), json!({"full_name": format!("Tên {i}")})).await }
    });
    let results = futures_util::future::join_all(edits).await;
    let ok = results.iter().filter(|r| r.status == StatusCode::OK).count();
    let stale = results.iter().filter(|r| r.status == StatusCode::PRECONDITION_FAILED).count();
    assert_eq!((ok, stale), (1, 7), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    let mut conn = app.conn();
    assert_eq!(sql_count(&mut conn, &format!("SELECT version AS n FROM users WHERE id = '{id}'")), 2);
}

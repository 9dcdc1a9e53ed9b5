//! A full disk is a clear, retryable 507 `storage_full` (never 500 `internal_error`) and
//! readiness says writes fail until one succeeds again. SQLite's `max_page_count` stands in
//! for a full disk (same error code, SQLITE_FULL). Its own test binary: readiness keeps the
//! state of the process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::http::StatusCode;
use common::*;
use diesel::connection::SimpleConnection;
use serde_json::json;

#[actix_web::test]
async fn a_full_disk_answers_507_and_readiness_reports_it() {
    let db = TestDb::new_sqlite();
    let mut config = test_config(&db);
    // One connection, so the page limit below applies to every request.
    config.pool_size = 1;
    let state = hocvuso::server::bootstrap(config).unwrap();
    let svc = actix_web::test::init_service(hocvuso::server::build(state.clone())).await;
    let app = TestApp { svc, state, db };
    let admin = app.admin_token().await;
    let body = |i: usize| {
        json!({"commune_code": QN_CAM_THANH, "full_name": format!("Học viên {i} {}", "x".repeat(150)), "gender": "male",
               "birth_year": 1970, "consent": {"basic": true, "method": "paper"}})
    };
    // The database may not grow by a page more.
    app.state.db.run(|c| c.batch_execute("PRAGMA max_page_count = 1").map_err(Into::into)).await.unwrap();
    let mut stored = 0;
    let mut full = None;
    for i in 0..500 {
        let r = app.post("/api/v1/trainees", Some(&admin), body(i)).await;
        match r.status {
            StatusCode::CREATED => stored += 1,
            _ => {
                full = Some(r);
                break;
            }
        }
    }
    let r = full.expect("the database filled up");
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE, "{}", r.body);
    assert_eq!(r.code(), "storage_full");
    assert_eq!(r.header("content-type").as_deref(), Some("application/problem+json"));
    // Reads still work, and nothing half-written is visible.
    let list = app.get("/api/v1/trainees?limit=500", Some(&admin)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"].as_array().unwrap().len(), stored);
    let ready = app.get("/readyz", None).await;
    assert_eq!((ready.status, ready.code()), (StatusCode::SERVICE_UNAVAILABLE, "storage_full"), "{}", ready.body);
    // Room again: ready, and the same write goes through.
    app.state.db.run(|c| c.batch_execute("PRAGMA max_page_count = 1073741823").map_err(Into::into)).await.unwrap();
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let r = app.post("/api/v1/trainees", Some(&admin), body(stored)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

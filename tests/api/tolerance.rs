//! Where phones and client generators differ, the server is forgiving when the meaning is
//! the same, and says so when it is not: an unknown query parameter (a typo) is a 400
//! naming it; an empty `?cursor=` is the first page; `90.0` is the integer 90; an empty
//! optional header is an absent one; a drop can come without a body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use serde_json::json;

#[actix_web::test]
async fn a_query_parameter_an_operation_does_not_take_is_a_400_naming_it() {
    let app = app().await;
    let admin = app.admin_token().await;
    let r = app.get(&format!("/api/v1/classes?comune={QN_CAM_THANH}"), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "unknown_parameter"), "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "comune");
    assert!(r.body["detail"].as_str().unwrap().contains("commune"), "the detail lists what it takes: {}", r.body);
    // Operations without query parameters, and other methods, too.
    let r = app.get("/api/v1/me?verbose=1", Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "unknown_parameter"));
    let r = app.post("/api/v1/teams?dry_run=true", Some(&admin), json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "unknown_parameter"));
    // Documented ones pass (and a typo never reads as "every class in scope").
    let r = app.get(&format!("/api/v1/classes?commune={QN_CAM_THANH}&limit=5"), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get("/api/v1/stats/breakdown?by=gender&province=51&from=2026-01-01&to=2026-06-30", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Routes outside the API document are left alone.
    assert_eq!(app.get("/docs/?url=x", None).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn clients_that_differ_in_form_but_not_meaning_are_understood() {
    let app = app().await;
    let admin = app.admin_token().await;
    // An empty cursor is the first page, on every list and the feed.
    for path in ["/api/v1/trainees?cursor=", "/api/v1/classes?cursor=&limit=5", "/api/v1/users?cursor=", "/api/v1/sync/changes?cursor="] {
        let r = app.get(path, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
    // A whole number written as a double (Dart's jsonEncode) is that integer; a fraction is not.
    let body = |year: serde_json::Value| {
        json!({"commune_code": QN_CAM_THANH, "full_name": "Lò Thị Xuân", "gender": "female", "birth_year": year,
               "consent": {"basic": true, "method": "paper"}})
    };
    let r = app.post("/api/v1/trainees", Some(&admin), body(json!(1968.0))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["birth_year"], 1968);
    let r = app.post("/api/v1/trainees", Some(&admin), body(json!(1968.5))).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_body"), "{}", r.body);
    // An empty optional device header is an absent one, never a refused batch.
    let r = app
        .call(
            TestRequest::post()
                .uri("/api/v1/sync/push")
                .insert_header(("Authorization", format!("Bearer {admin}")))
                .insert_header(("X-App-Version", ""))
                .insert_header(("X-Outbox-Depth", " "))
                .set_json(json!({"device_id": "phone-1", "operations": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[actix_web::test]
async fn an_enrollment_is_dropped_without_a_body() {
    let app = app().await;
    let admin = app.admin_token().await;
    let team = app.post("/api/v1/teams", Some(&admin), team_body()).await;
    let class = app
        .post(
            "/api/v1/classes",
            Some(&admin),
            json!({"commune_code": QN_CAM_THANH, "team_id": team.body["id"], "title": "VNeID", "topic_ids": ["vneid_e_identity"],
                   "mode": "in_person", "language": "vi", "start_date": "2026-01-05", "end_date": "2026-02-05", "planned_sessions": 4}),
        )
        .await;
    let class = class.body["id"].as_str().unwrap().to_owned();
    let mut enrollments = Vec::new();
    for name in ["Hà", "Xuân"] {
        let t = app
            .post(
                "/api/v1/trainees",
                Some(&admin),
                json!({"commune_code": QN_CAM_THANH, "full_name": name, "gender": "female", "birth_year": 1960,
                       "consent": {"basic": true, "method": "paper"}}),
            )
            .await;
        let e = app.post(&format!("/api/v1/classes/{class}/enrollments"), Some(&admin), json!({"trainee_id": t.body["id"]})).await;
        assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
        enrollments.push(e.body["id"].as_str().unwrap().to_owned());
    }
    let delete = |path: String| {
        TestRequest::delete().uri(&path).insert_header(("Authorization", format!("Bearer {admin}"))).insert_header(("If-Match", "\"v1\""))
    };
    // No body and no reason: the reason is still required.
    let r = app.call(delete(format!("/api/v1/classes/{class}/enrollments/{}", enrollments[0]))).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "reason");
    // The reason as a query parameter (Retrofit's @DELETE with @Query).
    let r = app.call(delete(format!("/api/v1/classes/{class}/enrollments/{}?reason=Chuy%E1%BB%83n%20%C4%91i", enrollments[0]))).await;
    assert_eq!((r.status, r.body["drop_reason"].as_str()), (StatusCode::OK, Some("Chuyển đi")), "{}", r.body);
    // The body still works, and wins over the query.
    let r = app
        .call(delete(format!("/api/v1/classes/{class}/enrollments/{}?reason=x", enrollments[1])).set_json(json!({"reason": "Ốm dài ngày"})))
        .await;
    assert_eq!((r.status, r.body["drop_reason"].as_str()), (StatusCode::OK, Some("Ốm dài ngày")), "{}", r.body);
}

/// A replayed create that means the same is the same request: lists in another order or
/// repeated, an explicit default, `null` or `""` for a field left out. Another meaning is
/// still 409 `id_conflict`.
#[actix_web::test]
async fn a_replayed_create_that_means_the_same_is_a_replay() {
    let app = app().await;
    let admin = app.admin_token().await;
    let team = app.post("/api/v1/teams", Some(&admin), team_body()).await;
    let class = |extra: serde_json::Value| {
        let mut body = json!({"id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "commune_code": QN_CAM_THANH, "team_id": team.body["id"],
                              "title": "VNeID", "topic_ids": ["vneid_e_identity", "online_public_services"], "mode": "in_person",
                              "language": "vi", "start_date": "2026-01-05", "end_date": "2026-02-05", "planned_sessions": 4});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let first = app.post("/api/v1/classes", Some(&admin), class(json!({}))).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    for same in [
        json!({"topic_ids": ["online_public_services", "vneid_e_identity"]}),
        json!({"topic_ids": ["online_public_services", "vneid_e_identity", "online_public_services"]}),
        json!({"interpreter_used": false, "instructor_ids": [], "min_attendance_ratio": 0.75}),
        json!({"venue": null, "hamlet_id": "", "campaign": null}),
    ] {
        let r = app.post("/api/v1/classes", Some(&admin), class(same.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "{same}: {}", r.body);
        assert_eq!(r.body["version"], 1);
    }
    for other in [json!({"interpreter_used": true}), json!({"topic_ids": ["vneid_e_identity"]}), json!({"title": "VNeID 2"})] {
        let r = app.post("/api/v1/classes", Some(&admin), class(other.clone())).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "id_conflict"), "{other}: {}", r.body);
    }
    // Trainees: target groups as a set, consent for ethnicity false by default.
    let trainee = |groups: serde_json::Value, consent: serde_json::Value| {
        json!({"id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "commune_code": QN_CAM_THANH, "full_name": "Lò Thị Xuân", "gender": "female",
               "birth_year": 1960, "target_groups": groups, "consent": consent})
    };
    let r =
        app.post("/api/v1/trainees", Some(&admin), trainee(json!(["elderly", "farmer"]), json!({"basic": true, "method": "paper"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            "/api/v1/trainees",
            Some(&admin),
            trainee(json!(["farmer", "elderly"]), json!({"basic": true, "ethnicity": false, "method": "paper"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.post("/api/v1/trainees", Some(&admin), trainee(json!(["farmer"]), json!({"basic": true, "method": "paper"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "id_conflict"), "{}", r.body);
}

fn team_body() -> serde_json::Value {
    json!({"commune_code": QN_CAM_THANH, "name": "Tổ A", "kind": "community_tech_team", "level": "commune"})
}

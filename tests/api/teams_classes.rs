//! Teams and classes: units, hamlets, topics, teams, members, classes and sessions, with
//! the rules every record endpoint follows (replay-safe creates, If-Match, tombstones,
//! cursor pages, audit) and the whole role × endpoint × own/foreign-commune matrix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use hocvuso::store::schema::{audit_log, class_topics, classes, hamlets, teams};
use serde_json::{json, Value};

struct Tokens {
    admin: String,
    officer: String,
    member: String,
    analyst: String,
    hn_officer: String,
    hn_member: String,
}

async fn tokens<S, B>(app: &TestApp<S>) -> Tokens
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, analyst) = app.user_with_token(&admin, "qn.analyst", "analyst", "province", Some(QN)).await;
    let (_, hn_officer) = app.user_with_token(&admin, "hn.officer", "officer", "commune", Some(HN_BA_DINH)).await;
    let (_, hn_member) = app.user_with_token(&admin, "hn.member", "team_member", "commune", Some(HN_BA_DINH)).await;
    Tokens { admin, officer, member, analyst, hn_officer, hn_member }
}

fn id_of(r: &Resp) -> String {
    r.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", r.body)).to_owned()
}

async fn hamlet(app: &impl App, token: &str, commune: &str, name: &str) -> String {
    let r = app.req("POST", &format!("/api/v1/units/{commune}/hamlets"), token, None, Some(json!({"name": name, "kind": "village"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id_of(&r)
}

async fn team(app: &impl App, token: &str, commune: &str, name: &str) -> String {
    let r = app
        .req(
            "POST",
            "/api/v1/teams",
            token,
            None,
            Some(json!({"commune_code": commune, "name": name, "kind": "community_tech_team", "level": "commune"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id_of(&r)
}

async fn member(app: &impl App, token: &str, team_id: &str, name: &str) -> String {
    let r = app
        .req(
            "POST",
            &format!("/api/v1/teams/{team_id}/members"),
            token,
            None,
            Some(json!({"full_name": name, "role": "member", "affiliation": "volunteer"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id_of(&r)
}

fn class_body(commune: &str, team_id: &str) -> Value {
    json!({"commune_code": commune, "team_id": team_id, "title": "Sử dụng VNeID", "topic_ids": ["vneid_e_identity"],
           "mode": "in_person", "language": "vi", "start_date": "2026-12-01", "end_date": "2026-12-20", "planned_sessions": 4})
}

async fn class(app: &impl App, token: &str, commune: &str, team_id: &str) -> String {
    let r = app.req("POST", "/api/v1/classes", token, None, Some(class_body(commune, team_id))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id_of(&r)
}

async fn session(app: &impl App, token: &str, class_id: &str, day: &str) -> String {
    let r = app
        .req("POST", &format!("/api/v1/classes/{class_id}/sessions"), token, None, Some(json!({"held_on": day, "duration_minutes": 90})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id_of(&r)
}

#[actix_web::test]
async fn units_search_folds_diacritics_and_tone_mark_placement() {
    let app = app().await;
    let t = app.admin_token().await;
    let names = |r: &Resp| r.body["items"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let r = app.get("/api/v1/units?q=son%20ha&province=51", Some(&t)).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut found = names(&r);
    found.sort();
    assert_eq!(found, vec!["Sơn Hà", "Sơn Hạ"]);
    // Without a province: the names themselves first, then names that start with the text
    // (the two Sơn Hải, of provinces 24 and 91, which come first by code); by code within
    // each. Pages keep the order.
    let r = app.get("/api/v1/units?q=son%20ha", Some(&t)).await;
    assert_eq!(names(&r), ["Sơn Hà", "Sơn Hạ", "Sơn Hải", "Sơn Hải"], "{}", r.body);
    let r = app.get("/api/v1/units?q=son%20tay&province=51", Some(&t)).await;
    assert_eq!(names(&r), ["Sơn Tây", "Sơn Tây Thượng", "Sơn Tây Hạ"]);
    let r = app.get("/api/v1/units?q=son&province=51", Some(&t)).await;
    let found = names(&r);
    assert_eq!(found.len(), 13);
    assert_eq!(found[10..], ["Bình Sơn", "Đông Sơn", "Lý Sơn"], "names that start with the text come first: {found:?}");
    let p1 = app.get("/api/v1/units?q=son%20ha&limit=3", Some(&t)).await;
    let c = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let p2 = app.get(&format!("/api/v1/units?q=son%20ha&limit=3&cursor={c}"), Some(&t)).await;
    assert_eq!([names(&p1), names(&p2)].concat(), ["Sơn Hà", "Sơn Hạ", "Sơn Hải", "Sơn Hải"]);
    assert!(p2.body["next_cursor"].is_null(), "{}", p2.body);
    let r = app.get("/api/v1/units?q=ba%20to&province=51", Some(&t)).await;
    let found = names(&r);
    assert!(found.contains(&"Ba Tơ".to_owned()) && found.contains(&"Ba Tô".to_owned()), "{found:?}");
    // "Thủy" (statistics office spelling) and "Thuỷ" both fold to "thuy".
    let r = app.get("/api/v1/units?q=TH%E1%BB%A6Y&limit=500", Some(&t)).await; // THỦY
    let r2 = app.get("/api/v1/units?q=thu%E1%BB%B7&limit=500", Some(&t)).await; // thuỷ
    assert!(!names(&r).is_empty());
    assert_eq!(names(&r), names(&r2));
    let r = app.get("/api/v1/units?province=51&type=special_zone", Some(&t)).await;
    assert_eq!(names(&r), vec!["Lý Sơn"]);
    let r = app.get("/api/v1/units?type=hamlet", Some(&t)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Pages of the 96 Quảng Ngãi units.
    let p1 = app.get("/api/v1/units?province=51&limit=60", Some(&t)).await;
    let c = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let p2 = app.get(&format!("/api/v1/units?province=51&limit=60&cursor={c}"), Some(&t)).await;
    assert_eq!(p1.body["items"].as_array().unwrap().len() + p2.body["items"].as_array().unwrap().len(), 96);
    assert!(p2.body["next_cursor"].is_null());
    // Analysts may read reference data.
    let (_, analyst) = app.user_with_token(&t, "an.x", "analyst", "country", None).await;
    assert_eq!(app.get("/api/v1/units?q=ly%20son", Some(&analyst)).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn unit_detail_counts_live_records_in_scope() {
    let app = app().await;
    let tk = tokens(&app).await;
    let h = hamlet(&app, &tk.officer, QN_CAM_THANH, "Thôn Một").await;
    hamlet(&app, &tk.officer, QN_CAM_THANH, "Thôn Hai").await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    team(&app, &tk.officer, QN_CAM_THANH, "Tổ B").await;
    class(&app, &tk.member, QN_CAM_THANH, &t1).await;
    let trainee = json!({"commune_code": QN_CAM_THANH, "full_name": "Phạm Văn Tư", "gender": "male", "birth_year": 1958,
                         "consent": {"basic": true, "method": "paper"}});
    assert_eq!(app.req("POST", "/api/v1/trainees", &tk.member, None, Some(trainee)).await.status, StatusCode::CREATED);
    let r = app.req("DELETE", &format!("/api/v1/hamlets/{h}"), &tk.officer, Some("\"v1\""), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/api/v1/units/{QN_CAM_THANH}"), Some(&tk.member)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "Cẩm Thành");
    assert_eq!(r.body["province_name"], "Quảng Ngãi");
    assert_eq!(r.body["counts"], json!({"hamlets": 1, "teams": 2, "active_teams": 2, "classes": 1, "trainees": 1}));
    // Outside the scope: 404; unknown unit: 404.
    assert_eq!(app.get(&format!("/api/v1/units/{QN_CAM_THANH}"), Some(&tk.hn_officer)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/units/99999", Some(&tk.admin)).await.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn topics_are_seeded_and_admins_grow_and_retire_them() {
    let app = app().await;
    let tk = tokens(&app).await;
    let r = app.get("/api/v1/topics", Some(&tk.analyst)).await;
    let ids: Vec<&str> = r.body.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    for needed in [
        "digital_devices_basics",
        "vneid_e_identity",
        "online_public_services",
        "cashless_payment",
        "e_commerce",
        "cyber_safety_fraud",
        "personal_data_protection",
        "ai_basics",
        "digital_signature_vneid",
    ] {
        assert!(ids.contains(&needed), "{needed} missing");
    }
    let vneid = r.body.as_array().unwrap().iter().find(|t| t["id"] == "vneid_e_identity").unwrap();
    assert_eq!(vneid["name_en"], "VNeID and electronic identity");
    let new = json!({"id": "digital_agriculture", "name_vi": "Nông nghiệp số", "name_en": "Digital agriculture"});
    for who in [&tk.officer, &tk.member, &tk.analyst] {
        assert_eq!(app.req("POST", "/api/v1/topics", who, None, Some(new.clone())).await.status, StatusCode::FORBIDDEN);
    }
    let r = app.req("POST", "/api/v1/topics", &tk.admin, None, Some(new.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.req("POST", "/api/v1/topics", &tk.admin, None, Some(new)).await.code(), "topic_exists");
    let bad = app.req("POST", "/api/v1/topics", &tk.admin, None, Some(json!({"id": "Bad Id", "name_vi": "", "name_en": "x"}))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"].as_array().unwrap().len(), 2);
    // A class uses it; then it is retired.
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    let mut body = class_body(QN_CAM_THANH, &t1);
    body["topic_ids"] = json!(["digital_agriculture", "vneid_e_identity"]);
    let c = app.req("POST", "/api/v1/classes", &tk.member, None, Some(body.clone())).await;
    assert_eq!(c.status, StatusCode::CREATED);
    let r = app.req("PATCH", "/api/v1/topics/digital_agriculture", &tk.admin, None, Some(json!({"retired": true}))).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    let r = app.req("PATCH", "/api/v1/topics/digital_agriculture", &tk.admin, Some("\"v1\""), Some(json!({"retired": true}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["retired"], true);
    assert!(!app.get("/api/v1/topics", Some(&tk.member)).await.body.as_array().unwrap().iter().any(|t| t["id"] == "digital_agriculture"));
    assert!(app
        .get("/api/v1/topics?include_retired=true", Some(&tk.member))
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == "digital_agriculture"));
    // Old class keeps it; a new class cannot choose it; editing the old class keeps it.
    let cid = id_of(&c);
    let r = app.get(&format!("/api/v1/classes/{cid}"), Some(&tk.member)).await;
    assert_eq!(r.body["topic_ids"], json!(["digital_agriculture", "vneid_e_identity"]));
    let r = app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["code"], "retired_topic");
    let r = app
        .req(
            "PATCH",
            &format!("/api/v1/classes/{cid}"),
            &tk.member,
            Some("\"v1\""),
            Some(json!({"topic_ids": ["digital_agriculture", "ai_basics"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["topic_ids"], json!(["ai_basics", "digital_agriculture"]));
    let unknown = app.req("PATCH", "/api/v1/topics/nope", &tk.admin, Some("\"v1\""), Some(json!({"retired": true}))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn hamlets_belong_to_a_commune_and_are_tombstoned() {
    let app = app().await;
    let tk = tokens(&app).await;
    let id = hamlet(&app, &tk.officer, QN_CAM_THANH, "  Tổ dân phố   Một ").await;
    let list = app.get(&format!("/api/v1/units/{QN_CAM_THANH}/hamlets"), Some(&tk.member)).await;
    assert_eq!(list.body["items"][0]["name"], "Tổ dân phố Một");
    let r =
        app.req("PATCH", &format!("/api/v1/hamlets/{id}"), &tk.officer, Some("\"v1\""), Some(json!({"kind": "residential_group"}))).await;
    assert_eq!((r.status, r.body["version"].clone()), (StatusCode::OK, json!(2)));
    let r = app.req("DELETE", &format!("/api/v1/hamlets/{id}"), &tk.officer, Some("\"v1\""), None).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.body["current_version"], 2);
    let r = app.req("DELETE", &format!("/api/v1/hamlets/{id}"), &tk.officer, None, None).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    let r = app.req("DELETE", &format!("/api/v1/hamlets/{id}"), &tk.officer, Some("\"v2\""), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Tombstone: gone from the API, still in the table with a deletion time and a new version.
    let list = app.get(&format!("/api/v1/units/{QN_CAM_THANH}/hamlets"), Some(&tk.member)).await;
    assert_eq!(list.body["items"], json!([]));
    let (deleted, version): (Option<chrono::NaiveDateTime>, i64) =
        hamlets::table.find(&id).select((hamlets::deleted_at, hamlets::version)).first(&mut app.conn()).unwrap();
    assert!(deleted.is_some());
    assert_eq!(version, 3);
    assert_eq!(
        app.req("PATCH", &format!("/api/v1/hamlets/{id}"), &tk.officer, Some("\"v3\""), Some(json!({"name": "X"}))).await.status,
        StatusCode::NOT_FOUND
    );
    // A hamlet of another commune cannot be used for a team here.
    let hn = hamlet(&app, &tk.hn_officer, HN_BA_DINH, "Tổ 1").await;
    let r = app
        .req(
            "POST",
            "/api/v1/teams",
            &tk.officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "hamlet_id": hn, "name": "Tổ X", "kind": "other", "level": "hamlet"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["code"], "other_commune");
    // Unknown commune.
    let r = app.req("POST", "/api/v1/units/99999/hamlets", &tk.admin, None, Some(json!({"name": "X", "kind": "village"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn teams_members_and_one_team_per_commune() {
    let app = app().await;
    let tk = tokens(&app).await;
    let h = hamlet(&app, &tk.officer, QN_CAM_THANH, "Thôn Phú Thọ").await;
    let r = app
        .req(
            "POST",
            "/api/v1/teams",
            &tk.officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "hamlet_id": h, "name": "Tổ CNS thôn Phú Thọ", "kind": "community_tech_team",
                         "level": "hamlet", "decision_number": "125/QĐ-UBND", "decision_date": "2025-08-12"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
    assert_eq!(r.body["decision_date"], "2025-08-12");
    assert_eq!(r.body["active"], true);
    let t1 = id_of(&r);
    let t2 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ CNS cấp xã").await;
    let me: Value = app.get("/api/v1/me", Some(&tk.member)).await.body;
    let r = app
        .req(
            "POST",
            &format!("/api/v1/teams/{t1}/members"),
            &tk.officer,
            None,
            Some(json!({"full_name": "Trần Văn Bình", "phone": "+84 912 345 678", "role": "leader", "affiliation": "youth_union",
                         "joined_on": "2025-08-12", "user_id": me["id"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["phone"], "0912345678");
    let m1 = id_of(&r);
    // Same person (account or phone) in a second team of the commune: refused.
    let r = app
        .req(
            "POST",
            &format!("/api/v1/teams/{t2}/members"),
            &tk.officer,
            None,
            Some(json!({"full_name": "Trần Văn Bình", "role": "member", "affiliation": "youth_union", "user_id": me["id"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "already_in_team");
    let r = app
        .req(
            "POST",
            &format!("/api/v1/teams/{t2}/members"),
            &tk.officer,
            None,
            Some(json!({"full_name": "Bình", "phone": "0912345678", "role": "member", "affiliation": "other"})),
        )
        .await;
    assert_eq!(r.code(), "already_in_team");
    // Once they have left the first team, they may join the second.
    let r = app
        .req("PATCH", &format!("/api/v1/teams/{t1}/members/{m1}"), &tk.officer, Some("\"v1\""), Some(json!({"left_on": "2025-08-01"})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["code"], "before_joined_on");
    let r = app
        .req("PATCH", &format!("/api/v1/teams/{t1}/members/{m1}"), &tk.officer, Some("\"v1\""), Some(json!({"left_on": "2026-10-31"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .req(
            "POST",
            &format!("/api/v1/teams/{t2}/members"),
            &tk.officer,
            None,
            Some(json!({"full_name": "Trần Văn Bình", "role": "member", "affiliation": "youth_union", "user_id": me["id"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // An account of another commune cannot be linked.
    let hn_me: Value = app.get("/api/v1/me", Some(&tk.hn_member)).await.body;
    let r = app
        .req(
            "POST",
            &format!("/api/v1/teams/{t1}/members"),
            &tk.officer,
            None,
            Some(json!({"full_name": "Người Hà Nội", "role": "member", "affiliation": "other", "user_id": hn_me["id"]})),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "other_commune");
    // Members list, include_left filter.
    let all = app.get(&format!("/api/v1/teams/{t1}/members"), Some(&tk.member)).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
    let current = app.get(&format!("/api/v1/teams/{t1}/members?include_left=false"), Some(&tk.member)).await;
    assert_eq!(current.body["items"], json!([]));
    // A member of one team is not reachable through another team's path.
    assert_eq!(
        app.req("DELETE", &format!("/api/v1/teams/{t2}/members/{m1}"), &tk.officer, Some("\"v2\""), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.req("DELETE", &format!("/api/v1/teams/{t1}/members/{m1}"), &tk.officer, Some("\"v2\""), None).await.status,
        StatusCode::NO_CONTENT
    );
    // Level rules; a team with classes cannot be deleted; an inactive team cannot get new classes.
    let r = app.req("PATCH", &format!("/api/v1/teams/{t2}"), &tk.officer, Some("\"v1\""), Some(json!({"level": "hamlet"}))).await;
    assert_eq!(r.body["errors"][0]["code"], "required");
    class(&app, &tk.member, QN_CAM_THANH, &t2).await;
    let r = app.req("DELETE", &format!("/api/v1/teams/{t2}"), &tk.officer, Some("\"v1\""), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "team_has_classes");
    let r = app.req("PATCH", &format!("/api/v1/teams/{t2}"), &tk.officer, Some("\"v1\""), Some(json!({"active": false}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.req("POST", "/api/v1/classes", &tk.member, None, Some(class_body(QN_CAM_THANH, &t2))).await;
    assert_eq!(r.body["errors"][0]["code"], "team_inactive");
    let filtered = app.get("/api/v1/teams?active=false", Some(&tk.officer)).await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
    let r = app.req("DELETE", &format!("/api/v1/teams/{t1}"), &tk.officer, Some("\"v1\""), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/v1/teams/{t1}"), Some(&tk.officer)).await.status, StatusCode::NOT_FOUND);
    let deleted: Option<chrono::NaiveDateTime> = teams::table.find(&t1).select(teams::deleted_at).first(&mut app.conn()).unwrap();
    assert!(deleted.is_some());
}

#[actix_web::test]
async fn class_status_moves_forward_or_is_cancelled() {
    let app = app().await;
    let tk = tokens(&app).await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    let m = member(&app, &tk.officer, &t1, "Lê Thị Hoa").await;
    let mut body = class_body(QN_CAM_THANH, &t1);
    body["instructor_ids"] = json!([m]);
    body["language"] = json!("hre");
    body["interpreter_used"] = json!(true);
    body["campaign"] = json!("digital_transformation_day_10_10");
    let r = app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "planned");
    assert_eq!(r.body["instructor_ids"], json!([m]));
    assert_eq!(r.body["min_attendance_ratio"], 0.75);
    let id = id_of(&r);
    let path = format!("/api/v1/classes/{id}");
    let bad = app.req("PATCH", &path, &tk.member, Some("\"v1\""), Some(json!({"status": "completed"}))).await;
    assert_eq!(bad.status, StatusCode::CONFLICT);
    assert_eq!(bad.code(), "invalid_status_transition");
    let r = app.req("PATCH", &path, &tk.member, Some("\"v1\""), Some(json!({"status": "ongoing"}))).await;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("ongoing")));
    let back = app.req("PATCH", &path, &tk.member, Some("\"v2\""), Some(json!({"status": "planned"}))).await;
    assert_eq!(back.code(), "invalid_status_transition");
    let cancel_via_patch = app.req("PATCH", &path, &tk.member, Some("\"v2\""), Some(json!({"status": "cancelled"}))).await;
    assert_eq!(cancel_via_patch.code(), "invalid_status_transition");
    // Sessions within the dates only.
    let s1 = session(&app, &tk.member, &id, "2026-12-02").await;
    let out = app
        .req("POST", &format!("{path}/sessions"), &tk.member, None, Some(json!({"held_on": "2026-12-25", "duration_minutes": 60})))
        .await;
    assert_eq!(out.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(out.body["errors"][0]["code"], "outside_class_dates");
    let wrong_topic = app
        .req(
            "POST",
            &format!("{path}/sessions"),
            &tk.member,
            None,
            Some(json!({"held_on": "2026-12-03", "duration_minutes": 60, "topic_ids": ["ai_basics"]})),
        )
        .await;
    assert_eq!(wrong_topic.body["errors"][0]["code"], "not_class_topic");
    // Shrinking the class dates past a session is refused.
    let r = app.req("PATCH", &path, &tk.member, Some("\"v2\""), Some(json!({"start_date": "2026-12-05"}))).await;
    assert_eq!(r.body["errors"][0]["code"], "sessions_outside_dates");
    // Cancel needs a reason; then nothing more can change.
    let r = app.req("POST", &format!("{path}/cancel"), &tk.member, Some("\"v2\""), Some(json!({"reason": "  "}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Like every change, a cancel names the version it saw.
    let r = app.req("POST", &format!("{path}/cancel"), &tk.member, None, Some(json!({"reason": "Bão"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::PRECONDITION_REQUIRED, "precondition_required"));
    let r = app.req("POST", &format!("{path}/cancel"), &tk.member, Some("\"v1\""), Some(json!({"reason": "Bão"}))).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = app.req("POST", &format!("{path}/cancel"), &tk.member, Some("\"v2\""), Some(json!({"reason": "Bão số 13"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!((r.body["status"].clone(), r.body["cancel_reason"].clone()), (json!("cancelled"), json!("Bão số 13")));
    let again = app.req("POST", &format!("{path}/cancel"), &tk.member, Some("\"v3\""), Some(json!({"reason": "x"}))).await;
    assert_eq!(again.code(), "invalid_status_transition");
    let r = app.req("PATCH", &path, &tk.member, Some("\"v3\""), Some(json!({"title": "Mới"}))).await;
    assert_eq!(r.code(), "class_cancelled");
    let r = app
        .req("POST", &format!("{path}/sessions"), &tk.member, None, Some(json!({"held_on": "2026-12-04", "duration_minutes": 60})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "class_cancelled");
    let r = app.req("PATCH", &format!("{path}/sessions/{s1}"), &tk.member, Some("\"v1\""), Some(json!({"notes": "x"}))).await;
    assert_eq!(r.code(), "class_cancelled");
    // A completed class cannot be cancelled.
    let c2 = class(&app, &tk.member, QN_CAM_THANH, &t1).await;
    let p2 = format!("/api/v1/classes/{c2}");
    app.req("PATCH", &p2, &tk.member, Some("\"v1\""), Some(json!({"status": "ongoing"}))).await;
    app.req("PATCH", &p2, &tk.member, Some("\"v2\""), Some(json!({"status": "completed"}))).await;
    let r = app.req("POST", &format!("{p2}/cancel"), &tk.member, Some("*"), Some(json!({"reason": "x"}))).await;
    assert_eq!(r.code(), "invalid_status_transition");
}

#[actix_web::test]
async fn sessions_are_recorded_listed_changed_and_tombstoned() {
    let app = app().await;
    let tk = tokens(&app).await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    let c = class(&app, &tk.member, QN_CAM_THANH, &t1).await;
    let r = app
        .req(
            "POST",
            &format!("/api/v1/classes/{c}/sessions"),
            &tk.member,
            None,
            Some(json!({"held_on": "2026-12-02", "duration_minutes": 90, "topic_ids": ["vneid_e_identity"], "notes": "Cài VNeID"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["topic_ids"], json!(["vneid_e_identity"]));
    let s1 = id_of(&r);
    session(&app, &tk.member, &c, "2026-12-01").await;
    let list = app.get(&format!("/api/v1/classes/{c}/sessions"), Some(&tk.officer)).await;
    let days: Vec<&str> = list.body["items"].as_array().unwrap().iter().map(|s| s["held_on"].as_str().unwrap()).collect();
    assert_eq!(days, vec!["2026-12-01", "2026-12-02"]);
    let r = app
        .req("PATCH", &format!("/api/v1/classes/{c}/sessions/{s1}"), &tk.member, Some("\"v1\""), Some(json!({"duration_minutes": 0})))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "duration_minutes");
    let r = app
        .req("PATCH", &format!("/api/v1/classes/{c}/sessions/{s1}"), &tk.member, Some("\"v1\""), Some(json!({"duration_minutes": 120})))
        .await;
    assert_eq!((r.status, r.body["version"].clone()), (StatusCode::OK, json!(2)));
    let r = app.req("DELETE", &format!("/api/v1/classes/{c}/sessions/{s1}"), &tk.member, Some("\"v2\""), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let list = app.get(&format!("/api/v1/classes/{c}/sessions"), Some(&tk.officer)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    // A session id under another class is not found.
    let c2 = class(&app, &tk.member, QN_CAM_THANH, &t1).await;
    let s3 = session(&app, &tk.member, &c2, "2026-12-03").await;
    assert_eq!(
        app.req("PATCH", &format!("/api/v1/classes/{c}/sessions/{s3}"), &tk.member, Some("\"v1\""), Some(json!({"notes": "x"})))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn creates_are_replay_safe() {
    let app = app().await;
    let tk = tokens(&app).await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    let id = "0d8f6b3a-1c2e-4f5a-9b8c-7d6e5f4a3b2c";
    let mut body = class_body(QN_CAM_THANH, &t1);
    body["id"] = json!(id);
    let first = app.req("POST", "/api/v1/classes", &tk.member, None, Some(body.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED);
    // The phone lost the response and sends it again: same record, 200, nothing duplicated.
    let again = app.req("POST", "/api/v1/classes", &tk.member, None, Some(body.clone())).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    let n: i64 = classes::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(n, 1);
    let links: i64 = class_topics::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(links, 1);
    // Same id, different body: conflict, nothing changed.
    let mut other = body.clone();
    other["title"] = json!("Khác");
    let r = app.req("POST", "/api/v1/classes", &tk.member, None, Some(other)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:id_conflict", "title": "Xung đột", "status": 409,
               "detail": "Mã định danh này đã được dùng cho một bản ghi khác nội dung.", "code": "id_conflict"})
    );
    // After an edit, the original create is still a replay (answers with the current record).
    app.req("PATCH", &format!("/api/v1/classes/{id}"), &tk.member, Some("\"v1\""), Some(json!({"venue": "Nhà văn hóa"}))).await;
    let r = app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await;
    assert_eq!((r.status, r.body["version"].clone(), r.body["venue"].clone()), (StatusCode::OK, json!(2), json!("Nhà văn hóa")));
    // Hamlets, teams, members, sessions behave the same.
    for (path, body) in [
        (
            format!("/api/v1/units/{QN_CAM_THANH}/hamlets"),
            json!({"id": "11111111-2222-4333-8444-555555555555", "name": "Thôn X", "kind": "village"}),
        ),
        (
            "/api/v1/teams".to_owned(),
            json!({"id": "21111111-2222-4333-8444-555555555555", "commune_code": QN_CAM_THANH, "name": "Tổ Y", "kind": "other", "level": "commune"}),
        ),
        (
            format!("/api/v1/teams/{t1}/members"),
            json!({"id": "31111111-2222-4333-8444-555555555555", "full_name": "Z", "role": "member", "affiliation": "other"}),
        ),
        (
            format!("/api/v1/classes/{id}/sessions"),
            json!({"id": "41111111-2222-4333-8444-555555555555", "held_on": "2026-12-05", "duration_minutes": 45}),
        ),
    ] {
        let a = app.req("POST", &path, &tk.officer, None, Some(body.clone())).await;
        let b = app.req("POST", &path, &tk.officer, None, Some(body.clone())).await;
        assert_eq!((a.status, b.status), (StatusCode::CREATED, StatusCode::OK), "{path}");
        assert_eq!(a.body, b.body);
        let mut changed = body.clone();
        changed.as_object_mut().unwrap().insert("id".into(), body["id"].clone());
        let key = if body.get("name").is_some() {
            "name"
        } else if body.get("full_name").is_some() {
            "full_name"
        } else {
            "duration_minutes"
        };
        changed[key] = if key == "duration_minutes" { json!(50) } else { json!("Khác") };
        assert_eq!(app.req("POST", &path, &tk.officer, None, Some(changed)).await.code(), "id_conflict", "{path}");
    }
    // A malformed client id.
    let mut bad = class_body(QN_CAM_THANH, &t1);
    bad["id"] = json!("not-a-uuid");
    assert_eq!(app.req("POST", "/api/v1/classes", &tk.member, None, Some(bad)).await.body["errors"][0]["code"], "invalid_uuid");
}

#[actix_web::test]
async fn bad_input_is_refused_field_by_field() {
    let app = app().await;
    let tk = tokens(&app).await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    let hn_team = team(&app, &tk.hn_officer, HN_BA_DINH, "Tổ HN").await;
    let codes = |r: &Resp| -> Vec<(String, String)> {
        r.body["errors"]
            .as_array()
            .unwrap_or(&vec![])
            .iter()
            .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
            .collect()
    };
    // Class: everything wrong at once.
    let r = app
        .req("POST", "/api/v1/classes", &tk.member, None,
             Some(json!({"commune_code": QN_CAM_THANH, "team_id": "nope", "title": "", "topic_ids": [], "mode": "radio", "language": "english",
                         "start_date": "2026-13-01", "end_date": "1999-01-01", "planned_sessions": 0, "min_attendance_ratio": 1.5,
                         "campaign": "x".repeat(101), "venue": "v".repeat(301)})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        codes(&r),
        vec![
            ("campaign".into(), "length".into()),
            ("end_date".into(), "invalid_date".into()),
            ("language".into(), "invalid_language".into()),
            ("min_attendance_ratio".into(), "range".into()),
            ("mode".into(), "invalid_choice".into()),
            ("planned_sessions".into(), "range".into()),
            ("start_date".into(), "invalid_date".into()),
            ("team_id".into(), "invalid_uuid".into()),
            ("title".into(), "length".into()),
            ("topic_ids".into(), "required".into()),
            ("venue".into(), "length".into()),
        ]
    );
    let mut body = class_body(QN_CAM_THANH, &t1);
    body["end_date"] = json!("2026-11-01");
    assert_eq!(
        codes(&app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await),
        vec![("end_date".into(), "before_start_date".into())]
    );
    let body = class_body(QN_CAM_THANH, &hn_team);
    assert_eq!(
        codes(&app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await),
        vec![("team_id".into(), "other_commune".into())]
    );
    let body = class_body(QN_CAM_THANH, "9a9a9a9a-0000-4000-8000-000000000000");
    assert_eq!(
        codes(&app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await),
        vec![("team_id".into(), "unknown_reference".into())]
    );
    let mut body = class_body(QN_CAM_THANH, &t1);
    body["topic_ids"] = json!(["no_such_topic"]);
    assert_eq!(
        codes(&app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await),
        vec![("topic_ids".into(), "unknown_topic".into())]
    );
    let mut body = class_body(QN_CAM_THANH, &t1);
    body["instructor_ids"] = json!(["9a9a9a9a-0000-4000-8000-000000000000"]);
    assert_eq!(
        codes(&app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await),
        vec![("instructor_ids".into(), "not_team_member".into())]
    );
    let body = class_body("99999", &t1);
    assert_eq!(
        codes(&app.req("POST", "/api/v1/classes", &tk.admin, None, Some(body)).await),
        vec![("commune_code".into(), "unknown_unit".into())]
    );
    let mut body = class_body(QN_CAM_THANH, &t1);
    body["surprise"] = json!(1);
    assert_eq!(app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await.code(), "invalid_body");
    // Team and member.
    let r = app
        .req(
            "POST",
            "/api/v1/teams",
            &tk.officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "name": "", "kind": "club", "level": "district", "decision_date": "12/08/2025"})),
        )
        .await;
    assert_eq!(
        codes(&r),
        vec![
            ("decision_date".into(), "invalid_date".into()),
            ("kind".into(), "invalid_choice".into()),
            ("level".into(), "invalid_choice".into()),
            ("name".into(), "length".into())
        ]
    );
    let r = app
        .req(
            "POST",
            &format!("/api/v1/teams/{t1}/members"),
            &tk.officer,
            None,
            Some(json!({"full_name": "x".repeat(201), "phone": "123", "role": "boss", "affiliation": "mafia"})),
        )
        .await;
    assert_eq!(
        codes(&r),
        vec![
            ("affiliation".into(), "invalid_choice".into()),
            ("full_name".into(), "length".into()),
            ("phone".into(), "invalid_phone".into()),
            ("role".into(), "invalid_choice".into())
        ]
    );
    // Hamlet.
    let r = app
        .req("POST", &format!("/api/v1/units/{QN_CAM_THANH}/hamlets"), &tk.officer, None, Some(json!({"name": " ", "kind": "district"})))
        .await;
    assert_eq!(codes(&r), vec![("kind".into(), "invalid_choice".into()), ("name".into(), "length".into())]);
    // Filters.
    assert_eq!(app.get("/api/v1/classes?status=done", Some(&tk.member)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/classes?from=yesterday", Some(&tk.member)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/classes?limit=9999", Some(&tk.member)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/classes?cursor=zzz", Some(&tk.member)).await.code(), "invalid_cursor");
    // Nothing was half-written.
    let n: i64 = classes::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(n, 0);
}

/// Expected status per caller for one request.
struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    if_match: Option<&'static str>,
    body: Option<Value>,
    /// admin, officer, member, analyst (own province/commune), hn_officer, hn_member (foreign).
    expect: [u16; 6],
}

#[actix_web::test]
async fn role_by_endpoint_by_commune_matrix() {
    let app = app().await;
    let tk = tokens(&app).await;
    let h = hamlet(&app, &tk.officer, QN_CAM_THANH, "Thôn A").await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    let m1 = member(&app, &tk.officer, &t1, "Thành viên A").await;
    let c1 = class(&app, &tk.member, QN_CAM_THANH, &t1).await;
    let s1 = session(&app, &tk.member, &c1, "2026-12-02").await;
    // Unchanged-value PATCHes keep the version at 1, so every caller can send "v1".
    let cases = vec![
        Case {
            what: "list hamlets",
            method: "GET",
            path: format!("/api/v1/units/{QN_CAM_THANH}/hamlets"),
            if_match: None,
            body: None,
            expect: [200, 200, 200, 403, 404, 404],
        },
        Case {
            what: "create hamlet",
            method: "POST",
            path: format!("/api/v1/units/{QN_CAM_THANH}/hamlets"),
            if_match: None,
            body: Some(json!({"name": "Thôn B", "kind": "village"})),
            expect: [201, 201, 403, 403, 403, 403],
        },
        Case {
            what: "patch hamlet",
            method: "PATCH",
            path: format!("/api/v1/hamlets/{h}"),
            if_match: Some("\"v1\""),
            body: Some(json!({"name": "Thôn A"})),
            expect: [200, 200, 403, 403, 403, 403],
        },
        Case {
            what: "list teams",
            method: "GET",
            path: "/api/v1/teams".into(),
            if_match: None,
            body: None,
            expect: [200, 200, 200, 403, 200, 200],
        },
        Case {
            what: "get team",
            method: "GET",
            path: format!("/api/v1/teams/{t1}"),
            if_match: None,
            body: None,
            expect: [200, 200, 200, 403, 404, 404],
        },
        Case {
            what: "create team",
            method: "POST",
            path: "/api/v1/teams".into(),
            if_match: None,
            body: Some(json!({"commune_code": QN_CAM_THANH, "name": "Tổ mới", "kind": "other", "level": "commune"})),
            expect: [201, 201, 403, 403, 403, 403],
        },
        Case {
            what: "patch team",
            method: "PATCH",
            path: format!("/api/v1/teams/{t1}"),
            if_match: Some("\"v1\""),
            body: Some(json!({"name": "Tổ A"})),
            expect: [200, 200, 403, 403, 403, 403],
        },
        Case {
            what: "list members",
            method: "GET",
            path: format!("/api/v1/teams/{t1}/members"),
            if_match: None,
            body: None,
            expect: [200, 200, 200, 403, 404, 404],
        },
        Case {
            what: "create member",
            method: "POST",
            path: format!("/api/v1/teams/{t1}/members"),
            if_match: None,
            body: Some(json!({"full_name": "Người mới", "role": "member", "affiliation": "other"})),
            expect: [201, 201, 403, 403, 403, 403],
        },
        Case {
            what: "patch member",
            method: "PATCH",
            path: format!("/api/v1/teams/{t1}/members/{m1}"),
            if_match: Some("\"v1\""),
            body: Some(json!({"role": "member"})),
            expect: [200, 200, 403, 403, 403, 403],
        },
        Case {
            what: "list classes",
            method: "GET",
            path: "/api/v1/classes".into(),
            if_match: None,
            body: None,
            expect: [200, 200, 200, 403, 200, 200],
        },
        Case {
            what: "get class",
            method: "GET",
            path: format!("/api/v1/classes/{c1}"),
            if_match: None,
            body: None,
            expect: [200, 200, 200, 403, 404, 404],
        },
        Case {
            what: "create class",
            method: "POST",
            path: "/api/v1/classes".into(),
            if_match: None,
            body: Some(class_body(QN_CAM_THANH, &t1)),
            expect: [201, 201, 201, 403, 403, 403],
        },
        Case {
            what: "patch class",
            method: "PATCH",
            path: format!("/api/v1/classes/{c1}"),
            if_match: Some("\"v1\""),
            body: Some(json!({"mode": "in_person"})),
            expect: [200, 200, 200, 403, 403, 403],
        },
        Case {
            what: "list sessions",
            method: "GET",
            path: format!("/api/v1/classes/{c1}/sessions"),
            if_match: None,
            body: None,
            expect: [200, 200, 200, 403, 404, 404],
        },
        Case {
            what: "create session",
            method: "POST",
            path: format!("/api/v1/classes/{c1}/sessions"),
            if_match: None,
            body: Some(json!({"held_on": "2026-12-03", "duration_minutes": 60})),
            expect: [201, 201, 201, 403, 403, 403],
        },
        Case {
            what: "patch session",
            method: "PATCH",
            path: format!("/api/v1/classes/{c1}/sessions/{s1}"),
            if_match: Some("\"v1\""),
            body: Some(json!({"duration_minutes": 90})),
            expect: [200, 200, 200, 403, 403, 403],
        },
        Case {
            what: "audit",
            method: "GET",
            path: "/api/v1/audit".into(),
            if_match: None,
            body: None,
            expect: [200, 200, 403, 403, 200, 403],
        },
        Case {
            what: "unit detail",
            method: "GET",
            path: format!("/api/v1/units/{QN_CAM_THANH}"),
            if_match: None,
            body: None,
            expect: [200, 200, 200, 200, 404, 404],
        },
    ];
    let callers = [&tk.admin, &tk.officer, &tk.member, &tk.analyst, &tk.hn_officer, &tk.hn_member];
    let names = ["admin", "officer", "member", "analyst", "hn_officer", "hn_member"];
    for case in &cases {
        for (i, token) in callers.iter().enumerate() {
            let r = app.req(case.method, &case.path, token, case.if_match, case.body.clone()).await;
            assert_eq!(r.status.as_u16(), case.expect[i], "{} as {}: {}", case.what, names[i], r.body);
            // A foreign caller has the role of its own-commune counterpart: when that role is
            // refused at home, the refusal is about the role (`forbidden`), else the scope.
            let same_role = [0, 1, 2, 3, 1, 2][i];
            match case.expect[i] {
                403 if case.expect[same_role] == 403 => assert_eq!(r.code(), "forbidden", "{} as {}", case.what, names[i]),
                403 => assert_eq!(r.code(), "out_of_scope", "{} as {}", case.what, names[i]),
                404 => assert_eq!(r.code(), "not_found", "{} as {}", case.what, names[i]),
                _ => {}
            }
        }
    }
    // Foreign lists see nothing of Quảng Ngãi.
    let r = app.get("/api/v1/classes", Some(&tk.hn_officer)).await;
    assert_eq!(r.body["items"], json!([]));
    let r = app.get(&format!("/api/v1/classes?commune={QN_CAM_THANH}"), Some(&tk.hn_member)).await;
    assert_eq!(r.body["items"], json!([]));
    // Deletes (destructive): foreign 403, wrong role 403, own 204.
    for (path, own) in [
        (format!("/api/v1/classes/{c1}/sessions/{s1}"), &tk.member),
        (format!("/api/v1/teams/{t1}/members/{m1}"), &tk.officer),
        (format!("/api/v1/hamlets/{h}"), &tk.officer),
    ] {
        let version = "\"v1\"";
        assert_eq!(app.req("DELETE", &path, &tk.hn_officer, Some(version), None).await.code(), "out_of_scope", "{path}");
        assert_eq!(app.req("DELETE", &path, &tk.analyst, Some(version), None).await.code(), "forbidden", "{path}");
        assert_eq!(app.req("DELETE", &path, own, Some(version), None).await.status, StatusCode::NO_CONTENT, "{path}");
    }
    let r = app.req("DELETE", &format!("/api/v1/teams/{t1}"), &tk.member, Some("\"v1\""), None).await;
    assert_eq!(r.code(), "forbidden");
    // Cancel: the recording roles of the commune only.
    assert_eq!(
        app.req("POST", &format!("/api/v1/classes/{c1}/cancel"), &tk.hn_member, Some("*"), Some(json!({"reason": "x"}))).await.code(),
        "out_of_scope"
    );
    assert_eq!(
        app.req("POST", &format!("/api/v1/classes/{c1}/cancel"), &tk.analyst, Some("*"), Some(json!({"reason": "x"}))).await.code(),
        "forbidden"
    );
    assert_eq!(
        app.req("POST", &format!("/api/v1/classes/{c1}/cancel"), &tk.member, Some("*"), Some(json!({"reason": "x"}))).await.status,
        StatusCode::OK
    );
    // Creating in a foreign commune by body.
    let r = app.req("POST", "/api/v1/classes", &tk.member, None, Some(class_body(HN_BA_DINH, &t1))).await;
    assert_eq!(r.code(), "out_of_scope");
}

#[actix_web::test]
async fn class_lists_filter_sort_and_page_stably() {
    let app = app().await;
    let tk = tokens(&app).await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    let t2 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ B").await;
    let mut ids = Vec::new();
    for (i, day) in ["2026-12-05", "2026-12-01", "2026-12-03", "2026-12-01", "2026-12-09"].iter().enumerate() {
        let mut body = class_body(QN_CAM_THANH, if i % 2 == 0 { &t1 } else { &t2 });
        body["start_date"] = json!(day);
        body["end_date"] = json!("2026-12-31");
        if i == 4 {
            body["topic_ids"] = json!(["ai_basics"]);
            body["campaign"] = json!("science_day_18_5");
        }
        ids.push(id_of(&app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await));
    }
    let dates =
        |r: &Resp| r.body["items"].as_array().unwrap().iter().map(|c| c["start_date"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let all = app.get("/api/v1/classes", Some(&tk.officer)).await;
    assert_eq!(dates(&all), vec!["2026-12-01", "2026-12-01", "2026-12-03", "2026-12-05", "2026-12-09"]);
    assert_eq!(app.get(&format!("/api/v1/classes?team={t2}"), Some(&tk.officer)).await.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(dates(&app.get("/api/v1/classes?topic=ai_basics", Some(&tk.officer)).await), vec!["2026-12-09"]);
    assert_eq!(dates(&app.get("/api/v1/classes?campaign=science_day_18_5", Some(&tk.officer)).await), vec!["2026-12-09"]);
    assert_eq!(dates(&app.get("/api/v1/classes?from=2026-12-02&to=2026-12-05", Some(&tk.officer)).await), vec!["2026-12-03", "2026-12-05"]);
    assert_eq!(app.get("/api/v1/classes?status=planned", Some(&tk.officer)).await.body["items"].as_array().unwrap().len(), 5);
    // Pages of two; a class added before the cursor position does not shift later pages.
    let p1 = app.get("/api/v1/classes?limit=2", Some(&tk.officer)).await;
    let cur = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let mut early = class_body(QN_CAM_THANH, &t1);
    early["start_date"] = json!("2026-11-30");
    app.req("POST", "/api/v1/classes", &tk.member, None, Some(early)).await;
    let p2 = app.get(&format!("/api/v1/classes?limit=2&cursor={cur}"), Some(&tk.officer)).await;
    assert_eq!(dates(&p2), vec!["2026-12-03", "2026-12-05"]);
    let cur = p2.body["next_cursor"].as_str().unwrap().to_owned();
    let p3 = app.get(&format!("/api/v1/classes?limit=2&cursor={cur}"), Some(&tk.officer)).await;
    assert_eq!(dates(&p3), vec!["2026-12-09"]);
    assert!(p3.body["next_cursor"].is_null());
}

#[actix_web::test]
async fn officers_search_classes_teams_and_accounts_by_text() {
    let app = app().await;
    let tk = tokens(&app).await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ công nghệ số thôn Phú Thọ").await;
    let t2 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ thanh niên tình nguyện").await;
    let hn_team = team(&app, &tk.hn_officer, HN_BA_DINH, "Tổ công nghệ số Phú Thọ Ba Đình").await;
    let mut hn = class_body(HN_BA_DINH, &hn_team);
    hn["title"] = json!("VNeID Ba Đình");
    assert_eq!(app.req("POST", "/api/v1/classes", &tk.hn_member, None, Some(hn)).await.status, StatusCode::CREATED);
    let names = |r: &Resp, field: &str| {
        r.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.body))
            .iter()
            .map(|c| c[field].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    // Without diacritics, any case; only the caller's scope.
    let r = app.get("/api/v1/teams?q=PHU%20THO", Some(&tk.officer)).await;
    assert_eq!(names(&r, "name"), ["Tổ công nghệ số thôn Phú Thọ"]);
    assert_eq!(names(&app.get("/api/v1/teams?q=ph%C3%BA%20th%E1%BB%8D", Some(&tk.admin)).await, "name").len(), 2); // phú thọ
    assert_eq!(names(&app.get("/api/v1/teams?q=", Some(&tk.officer)).await, "name").len(), 2, "a blank q filters nothing");
    // Classes: by title or venue; matches are paged like the list (here one by one).
    for (i, title) in
        ["Cài đặt VNeID", "Dịch vụ công trực tuyến", "VNeID mức 2 cho người cao tuổi", "Thanh toán không tiền mặt"].iter().enumerate()
    {
        let mut body = class_body(QN_CAM_THANH, if i % 2 == 0 { &t1 } else { &t2 });
        body["title"] = json!(title);
        body["start_date"] = json!(format!("2026-12-0{}", i + 1));
        if i == 3 {
            body["venue"] = json!("Nhà văn hóa thôn Phú Thọ");
        }
        assert_eq!(app.req("POST", "/api/v1/classes", &tk.member, None, Some(body)).await.status, StatusCode::CREATED);
    }
    let r = app.get("/api/v1/classes?q=vneid", Some(&tk.officer)).await;
    assert_eq!(names(&r, "title"), ["Cài đặt VNeID", "VNeID mức 2 cho người cao tuổi"]);
    let p1 = app.get("/api/v1/classes?q=vneid&limit=1", Some(&tk.officer)).await;
    assert_eq!(names(&p1, "title"), ["Cài đặt VNeID"]);
    let cur = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let p2 = app.get(&format!("/api/v1/classes?q=vneid&limit=1&cursor={cur}"), Some(&tk.officer)).await;
    assert_eq!(names(&p2, "title"), ["VNeID mức 2 cho người cao tuổi"]);
    assert!(p2.body["next_cursor"].is_null(), "{}", p2.body);
    assert_eq!(names(&app.get("/api/v1/classes?q=phu%20tho", Some(&tk.officer)).await, "title"), ["Thanh toán không tiền mặt"]);
    assert_eq!(names(&app.get("/api/v1/classes?q=vneid", Some(&tk.hn_officer)).await, "title"), ["VNeID Ba Đình"]);
    // Text and the other filters together.
    assert_eq!(names(&app.get(&format!("/api/v1/classes?q=vneid&team={t2}"), Some(&tk.officer)).await, "title"), Vec::<String>::new());
    // Accounts: by username or full name ("Người dùng ct.member" and so on).
    let r = app.get("/api/v1/users?q=NGUOI%20DUNG%20CT", Some(&tk.admin)).await;
    assert_eq!(names(&r, "username"), ["ct.member", "ct.officer"]);
    let p1 = app.get("/api/v1/users?q=nguoi%20dung&limit=2", Some(&tk.admin)).await;
    let cur = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app.get(&format!("/api/v1/users?q=nguoi%20dung&limit=50&cursor={cur}"), Some(&tk.admin)).await;
    assert_eq!(names(&p1, "username").len() + names(&rest, "username").len(), 5);
    assert_eq!(names(&app.get("/api/v1/users?q=hn.", Some(&tk.officer)).await, "username"), Vec::<String>::new(), "another commune's");
}

#[actix_web::test]
async fn every_write_is_audited_in_scope() {
    let app = app().await;
    let tk = tokens(&app).await;
    let t1 = team(&app, &tk.officer, QN_CAM_THANH, "Tổ A").await;
    let c1 = class(&app, &tk.member, QN_CAM_THANH, &t1).await;
    let r = app
        .call(
            auth(TestRequest::patch().uri(&format!("/api/v1/classes/{c1}")), Some(&tk.member))
                .insert_header(("If-Match", "\"v1\""))
                .insert_header(("X-Request-Id", "phone-7-req-9"))
                .set_json(json!({"status": "ongoing", "venue": "Nhà văn hóa"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    hn_noise(&app, &tk).await;
    type Entry = (String, String, Option<String>, Option<String>, Option<String>, String);
    let rows: Vec<Entry> = audit_log::table
        .filter(audit_log::entity_id.eq(&c1))
        .order(audit_log::id)
        .select((
            audit_log::action,
            audit_log::entity,
            audit_log::actor_role,
            audit_log::commune_code,
            audit_log::request_id,
            audit_log::changed_fields,
        ))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1],
        (
            "update".into(),
            "class".into(),
            Some("team_member".into()),
            Some(QN_CAM_THANH.into()),
            Some("phone-7-req-9".into()),
            "[\"venue\",\"status\"]".into()
        )
    );
    // The officer of the commune sees its entries; Hà Nội's officer sees only Hà Nội's.
    let r = app.get(&format!("/api/v1/audit?entity=class&entity_id={c1}"), Some(&tk.officer)).await;
    let actions: Vec<&str> = r.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, vec!["update", "create"]);
    assert_eq!(r.body["items"][0]["changed_fields"], json!(["venue", "status"]));
    let r = app.get(&format!("/api/v1/audit?entity_id={c1}"), Some(&tk.hn_officer)).await;
    assert_eq!(r.body["items"], json!([]));
    let r = app.get("/api/v1/audit?entity=team", Some(&tk.hn_officer)).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["commune_code"], HN_BA_DINH);
    // A failed write leaves no audit entry.
    let before: i64 = audit_log::table.count().get_result(&mut app.conn()).unwrap();
    app.req("PATCH", &format!("/api/v1/classes/{c1}"), &tk.member, Some("\"v2\""), Some(json!({"status": "planned"}))).await;
    let after: i64 = audit_log::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(before, after);
    // Account entries (no commune) only for country-wide callers; paging newest first.
    let r = app.get("/api/v1/audit?entity=user&limit=2", Some(&tk.admin)).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let cur = r.body["next_cursor"].as_str().unwrap();
    let r2 = app.get(&format!("/api/v1/audit?entity=user&limit=2&cursor={cur}"), Some(&tk.admin)).await;
    assert!(r2.body["items"][0]["id"].as_i64().unwrap() < r.body["items"][1]["id"].as_i64().unwrap());
    assert_eq!(app.get("/api/v1/audit?entity=user", Some(&tk.officer)).await.body["items"], json!([]));
}

async fn hn_noise(app: &impl App, tk: &Tokens) {
    team(app, &tk.hn_officer, HN_BA_DINH, "Tổ Hà Nội").await;
}

#[actix_web::test]
async fn concurrent_team_edits_with_the_same_etag_let_exactly_one_through() {
    // On PostgreSQL the writers run in parallel: the edit must lock before it reads, or two
    // edits of version 1 both pass the If-Match check (a lost update) and the statistics
    // counters subtract a state that is no longer there.
    let app = app().await;
    let t = tokens(&app).await;
    let id = team(&app, &t.officer, QN_CAM_THANH, "Tổ chung").await;
    let app = &app;
    let edits = (0..8).map(|i| {
        let body = json!({"name": format!("Tổ {i}"), "active": i % 2 == 1});
        let path = format!("/api/v1/teams/{id}");
        let token = t.officer.clone();
        async move { app.req("PATCH", &path, &token, Some("\"v1\""), Some(body)).await }
    });
    let results = futures_util::future::join_all(edits).await;
    let ok = results.iter().filter(|r| r.status == StatusCode::OK).count();
    let stale = results.iter().filter(|r| r.status == StatusCode::PRECONDITION_FAILED).count();
    assert_eq!((ok, stale), (1, 7), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    let now = app.get(&format!("/api/v1/teams/{id}"), Some(&t.officer)).await;
    assert_eq!(now.body["version"], 2);
    let mut conn = app.conn();
    assert_eq!(
        sql_count(
            &mut conn,
            &format!("SELECT COUNT(*) AS n FROM audit_log WHERE entity = 'team' AND entity_id = '{id}' AND action = 'update'")
        ),
        1
    );
    assert!(hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap().is_empty(), "counters drifted");
}

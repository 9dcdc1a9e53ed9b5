//! Trainees, enrollment, attendance, completion and verification, with the privacy rules:
//! ID numbers never stored, ethnicity only with its own consent, analysts never see people,
//! every read logged, export and erase end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use common::*;
use diesel::prelude::*;
use hocvuso::store::schema::{access_log, attendance_marks, enrollments, trainees};
use serde_json::{json, Value};

struct W {
    admin: String,
    officer: String,
    member: String,
    analyst: String,
    hn_officer: String,
    team: String,
    class: String,
    sessions: Vec<String>,
}

async fn world<S, B>(app: &TestApp<S>) -> W
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, analyst) = app.user_with_token(&admin, "qn.analyst", "analyst", "province", Some(QN)).await;
    let (_, hn_officer) = app.user_with_token(&admin, "hn.officer", "officer", "commune", Some(HN_BA_DINH)).await;
    let r = app
        .req(
            "POST",
            "/api/v1/teams",
            &officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "name": "Tổ A", "kind": "community_tech_team", "level": "commune"})),
        )
        .await;
    let team = id_of(&r);
    let r = app
        .req("POST", "/api/v1/classes", &member, None,
             Some(json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "VNeID", "topic_ids": ["vneid_e_identity"], "mode": "in_person",
                         "language": "vi", "start_date": "2026-01-05", "end_date": "2026-02-05", "planned_sessions": 4})))
        .await;
    let class = id_of(&r);
    let mut sessions = Vec::new();
    for day in ["2026-01-06", "2026-01-13", "2026-01-20", "2026-01-27"] {
        let r = app
            .req("POST", &format!("/api/v1/classes/{class}/sessions"), &member, None, Some(json!({"held_on": day, "duration_minutes": 90})))
            .await;
        sessions.push(id_of(&r));
    }
    W { admin, officer, member, analyst, hn_officer, team, class, sessions }
}

fn trainee_body(name: &str) -> Value {
    json!({"commune_code": QN_CAM_THANH, "full_name": name, "gender": "female", "birth_year": 1961,
           "consent": {"basic": true, "method": "paper"}})
}

async fn trainee(app: &impl App, token: &str, name: &str) -> String {
    let r = app.req("POST", "/api/v1/trainees", token, None, Some(trainee_body(name))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id_of(&r)
}

async fn enroll(app: &impl App, token: &str, class: &str, trainee: &str) -> String {
    let r = app.req("POST", &format!("/api/v1/classes/{class}/enrollments"), token, None, Some(json!({"trainee_id": trainee}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id_of(&r)
}

fn id_of(r: &Resp) -> String {
    r.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", r.body)).to_owned()
}

fn codes(r: &Resp) -> Vec<(String, String)> {
    r.body["errors"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
        .collect()
}

#[actix_web::test]
async fn personal_id_is_never_stored_and_ethnicity_needs_its_consent() {
    let app = app().await;
    let w = world(&app).await;
    let mut body = trainee_body("Đinh Thị Lan");
    body["id"] = json!("5d0f3c2e-8a1b-4c7d-9e6f-1a2b3c4d5e6f");
    body["personal_id"] = json!("051161004821");
    body["phone"] = json!("+84 912 345 678");
    body["ethnicity_code"] = json!("19");
    body["target_groups"] = json!(["farmer", "elderly", "farmer"]);
    let r = app.req("POST", "/api/v1/trainees", &w.member, None, Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(codes(&r), vec![("ethnicity_code".into(), "consent_required".into())]);
    body["consent"]["ethnicity"] = json!(true);
    let r = app.req("POST", "/api/v1/trainees", &w.member, None, Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["personal_id_last4"], "4821");
    assert!(r.body.get("personal_id").is_none());
    assert_eq!((r.body["ethnicity_name"].clone(), r.body["is_ethnic_minority"].clone()), (json!("Hrê"), json!(true)));
    assert_eq!(r.body["target_groups"], json!(["elderly", "farmer"]));
    assert_eq!(r.body["phone"], "0912345678");
    assert_eq!(r.body["consent"]["ethnicity"], true);
    let id = id_of(&r);
    // The 12 digits appear nowhere in the stored row, not even inside the replay digest.
    let row: (Option<String>, Option<String>, String) =
        trainees::table.find(&id).select((trainees::id_hash, trainees::id_last4, trainees::create_digest)).first(&mut app.conn()).unwrap();
    assert_eq!(row.1.as_deref(), Some("4821"));
    assert_eq!(row.0.as_ref().unwrap().len(), 64);
    assert!(!row.0.unwrap().contains("051161004821"));
    // Replay of the same create: 200, same record.
    assert_eq!(id, "5d0f3c2e-8a1b-4c7d-9e6f-1a2b3c4d5e6f");
    let again = app.req("POST", "/api/v1/trainees", &w.member, None, Some(body.clone())).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["personal_id_last4"], "4821");
    body["personal_id"] = json!("051161009999");
    assert_eq!(app.req("POST", "/api/v1/trainees", &w.member, None, Some(body)).await.code(), "id_conflict");
    let n: i64 = trainees::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(n, 1);
}

#[actix_web::test]
async fn bad_trainee_input_is_refused_with_precise_codes() {
    let app = app().await;
    let w = world(&app).await;
    let next_year = chrono::Utc::now().format("%Y").to_string().parse::<i32>().unwrap() + 1;
    let r = app
        .req(
            "POST",
            "/api/v1/trainees",
            &w.member,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "full_name": "   ", "gender": "unknown", "birth_year": next_year, "phone": "12345",
                         "personal_id": "12345", "ethnicity_code": "99", "target_groups": ["aliens"], "occupation": "x".repeat(201),
                         "consent": {"basic": false, "method": "telepathy", "ethnicity": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        codes(&r),
        vec![
            ("birth_year".into(), "range".into()),
            ("consent.basic".into(), "consent_required".into()),
            ("consent.method".into(), "invalid_choice".into()),
            ("ethnicity_code".into(), "unknown_ethnicity".into()),
            ("full_name".into(), "length".into()),
            ("gender".into(), "invalid_choice".into()),
            ("occupation".into(), "length".into()),
            ("personal_id".into(), "invalid_personal_id".into()),
            ("phone".into(), "invalid_phone".into()),
            ("target_groups".into(), "invalid_choice".into()),
        ]
    );
    let mut b = trainee_body(&"x".repeat(201));
    b["birth_year"] = json!(1899);
    assert_eq!(
        codes(&app.req("POST", "/api/v1/trainees", &w.member, None, Some(b)).await),
        vec![("birth_year".into(), "range".into()), ("full_name".into(), "length".into())]
    );
    // Invalid UTF-8 is refused before any validation.
    let raw = app
        .call(
            auth(actix_web::test::TestRequest::post().uri("/api/v1/trainees"), Some(&w.member))
                .insert_header(("Content-Type", "application/json"))
                .set_payload(b"{\"full_name\": \"\xc3\x28\"}".to_vec()),
        )
        .await;
    assert_eq!(raw.status, StatusCode::BAD_REQUEST);
    // Unknown ids.
    assert_eq!(app.get("/api/v1/trainees/7b0e2a8c-0000-4000-8000-000000000000", Some(&w.member)).await.status, StatusCode::NOT_FOUND);
    let r = app
        .req(
            "POST",
            &format!("/api/v1/classes/{}/enrollments", w.class),
            &w.member,
            None,
            Some(json!({"trainee_id": "7b0e2a8c-0000-4000-8000-000000000000"})),
        )
        .await;
    assert_eq!(codes(&r), vec![("trainee_id".into(), "unknown_reference".into())]);
    let r = app
        .req(
            "POST",
            "/api/v1/classes/7b0e2a8c-0000-4000-8000-000000000000/enrollments",
            &w.member,
            None,
            Some(json!({"trainee_id": "7b0e2a8c-0000-4000-8000-000000000000"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let n: i64 = trainees::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(n, 0);
}

#[actix_web::test]
async fn duplicates_are_reported_never_merged_silently() {
    let app = app().await;
    let w = world(&app).await;
    let mut a = trainee_body("Nguyễn Văn A");
    a["personal_id"] = json!("051090001234");
    let first = app.req("POST", "/api/v1/trainees", &w.member, None, Some(a.clone())).await;
    assert_eq!(first.body["possible_duplicates"], json!([]));
    let first_id = id_of(&first);
    // Same ID number, other name.
    let mut b = trainee_body("Nguyen Van Be");
    b["personal_id"] = json!("051090001234");
    b["birth_year"] = json!(1990);
    let r = app.req("POST", "/api/v1/trainees", &w.member, None, Some(b)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.body["possible_duplicates"],
        json!([{"id": first_id, "full_name": "Nguyễn Văn A", "birth_year": 1961, "commune_code": QN_CAM_THANH, "reason": "same_personal_id"}])
    );
    // Same name (typed without diacritics), birth year and commune.
    let r = app.req("POST", "/api/v1/trainees", &w.member, None, Some(trainee_body("nguyen van a"))).await;
    assert_eq!(r.body["possible_duplicates"][0]["reason"], "same_name_birth_year_commune");
    assert_eq!(r.body["possible_duplicates"][0]["id"], first_id.as_str());
    let n: i64 = trainees::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(n, 3);
}

#[actix_web::test]
async fn search_filters_and_access_log() {
    let app = app().await;
    let w = world(&app).await;
    let a = trainee(&app, &w.member, "Nguyễn Văn A").await;
    let mut b = trainee_body("Trần Thị Bích");
    b["phone"] = json!("0987 654 321");
    b["target_groups"] = json!(["farmer"]);
    let b = id_of(&app.req("POST", "/api/v1/trainees", &w.member, None, Some(b)).await);
    trainee(&app, &w.member, "Lê Văn Cường").await;
    let names =
        |r: &Resp| r.body["items"].as_array().unwrap().iter().map(|t| t["full_name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(&app.get("/api/v1/trainees?q=nguyen%20van%20a", Some(&w.member)).await), vec!["Nguyễn Văn A"]);
    assert_eq!(names(&app.get("/api/v1/trainees?q=BICH", Some(&w.member)).await), vec!["Trần Thị Bích"]);
    assert_eq!(names(&app.get("/api/v1/trainees?q=654321", Some(&w.member)).await), vec!["Trần Thị Bích"]);
    assert_eq!(names(&app.get("/api/v1/trainees?target_group=farmer", Some(&w.member)).await), vec!["Trần Thị Bích"]);
    enroll(&app, &w.member, &w.class, &a).await;
    assert_eq!(names(&app.get(&format!("/api/v1/trainees?class={}", w.class), Some(&w.member)).await), vec!["Nguyễn Văn A"]);
    assert_eq!(names(&app.get("/api/v1/trainees?completion=none", Some(&w.member)).await).len(), 3);
    assert_eq!(app.get("/api/v1/trainees?completion=maybe", Some(&w.member)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = app.get("/api/v1/trainees?limit=2", Some(&w.officer)).await;
    assert_eq!(names(&page), vec!["Lê Văn Cường", "Nguyễn Văn A"]);
    let next = app.get(&format!("/api/v1/trainees?limit=2&cursor={}", page.body["next_cursor"].as_str().unwrap()), Some(&w.officer)).await;
    assert_eq!(names(&next), vec!["Trần Thị Bích"]);
    // Another commune's officer finds nobody.
    assert_eq!(names(&app.get("/api/v1/trainees?q=nguyen", Some(&w.hn_officer)).await), Vec::<String>::new());
    app.get(&format!("/api/v1/trainees/{b}"), Some(&w.officer)).await;
    // Reads are logged in batches: flush, then look.
    app.state.access_log.flush(&app.state.db).await.unwrap();
    let log: Vec<(String, String, Option<String>, i32)> = access_log::table
        .order(access_log::id)
        .select((access_log::actor_role, access_log::action, access_log::entity_id, access_log::row_count))
        .load(&mut app.conn())
        .unwrap();
    assert!(log.contains(&("officer".into(), "read".into(), Some(b.clone()), 1)), "{log:?}");
    assert!(log.contains(&("officer".into(), "list".into(), None, 2)), "{log:?}");
    assert!(log.contains(&("team_member".into(), "list".into(), None, 3)), "{log:?}");
    // Ten reads: nine lists (the refused one is not logged) and one record; each list
    // also logs every person it returned (issue #13), so a person's export shows it.
    let summaries = log.iter().filter(|e| !(e.1 == "list" && e.2.is_some())).count();
    assert_eq!(summaries, 10, "{log:?}");
    assert!(log.contains(&("officer".into(), "list".into(), Some(b.clone()), 1)), "{log:?}");
}

#[actix_web::test]
async fn analysts_never_see_people_and_other_communes_are_out_of_scope() {
    let app = app().await;
    let w = world(&app).await;
    let t = trainee(&app, &w.member, "Đinh Văn Hùng").await;
    let other = trainee(&app, &w.member, "Đinh Văn Hưng").await;
    let e = enroll(&app, &w.member, &w.class, &t).await;
    let s = &w.sessions[0];
    let c = &w.class;
    let person_level: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/trainees".into(), None),
        ("POST", "/api/v1/trainees".into(), Some(trainee_body("X"))),
        ("GET", format!("/api/v1/trainees/{t}"), None),
        ("PATCH", format!("/api/v1/trainees/{t}"), Some(json!({"occupation": "x"}))),
        ("DELETE", format!("/api/v1/trainees/{t}"), None),
        ("POST", format!("/api/v1/trainees/{t}/merge"), Some(json!({"into": other}))),
        ("POST", format!("/api/v1/trainees/{t}/erase"), None),
        ("GET", format!("/api/v1/trainees/{t}/export"), None),
        ("POST", format!("/api/v1/trainees/{t}/consent/withdraw"), Some(json!({"consent": "ethnicity"}))),
        ("GET", format!("/api/v1/trainees/{t}/completions"), None),
        (
            "POST",
            format!("/api/v1/trainees/{t}/platform-certificates"),
            Some(json!({"certificate_ref": "A", "course": "B", "issued_on": "2026-01-01"})),
        ),
        ("GET", format!("/api/v1/classes/{c}/enrollments"), None),
        ("POST", format!("/api/v1/classes/{c}/enrollments"), Some(json!({"trainee_id": t}))),
        ("DELETE", format!("/api/v1/classes/{c}/enrollments/{e}"), Some(json!({"reason": "x"}))),
        ("GET", format!("/api/v1/classes/{c}/sessions/{s}/attendance"), None),
        ("PUT", format!("/api/v1/classes/{c}/sessions/{s}/attendance"), Some(json!({"present": [t]}))),
        (
            "POST",
            format!("/api/v1/enrollments/{e}/completion"),
            Some(json!({"result": "failed", "evidence": "in_class_assessment", "completed_on": "2026-01-28"})),
        ),
        ("POST", format!("/api/v1/enrollments/{e}/verify"), Some(json!({"decision": "verified"}))),
    ];
    for (method, path, body) in &person_level {
        let r = app.req(method, path, &w.analyst, Some("\"v1\""), body.clone()).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "analyst {method} {path}");
    }
    // Another commune's officer: 404 on reads, 403 on writes.
    for (method, path, body) in &person_level {
        let r = app.req(method, path, &w.hn_officer, Some("\"v1\""), body.clone()).await;
        let expected = match (*method, path.as_str()) {
            ("GET", "/api/v1/trainees") => StatusCode::OK,
            ("GET", _) => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(r.status, expected, "hn officer {method} {path}: {}", r.body);
    }
    // A team member may not verify, merge, erase or export.
    for (method, path, body) in &person_level[5..8] {
        assert_eq!(app.req(method, path, &w.member, None, body.clone()).await.code(), "forbidden", "member {method} {path}");
    }
    let r = app.req("POST", &format!("/api/v1/enrollments/{e}/verify"), &w.member, None, Some(json!({"decision": "verified"}))).await;
    assert_eq!(r.code(), "forbidden");
}

#[actix_web::test]
async fn enrollment_rules() {
    let app = app().await;
    let w = world(&app).await;
    // A trainee of another commune may join a class here (people travel): enrolled by
    // someone whose scope holds both communes (issue #13: never by a bare id).
    let hn_trainee = app
        .req("POST", "/api/v1/trainees", &w.hn_officer, None,
             Some(json!({"commune_code": HN_BA_DINH, "full_name": "Người Hà Nội", "gender": "male", "birth_year": 1970, "consent": {"basic": true, "method": "app"}})))
        .await;
    let hn_id = id_of(&hn_trainee);
    let r = app.req("POST", &format!("/api/v1/classes/{}/enrollments", w.class), &w.member, None, Some(json!({"trainee_id": hn_id}))).await;
    assert_eq!(
        codes(&r),
        vec![("trainee_id".into(), "unknown_reference".into())],
        "a commune's member cannot reach another commune's trainee"
    );
    let e = enroll(&app, &w.admin, &w.class, &hn_id).await;
    let again =
        app.req("POST", &format!("/api/v1/classes/{}/enrollments", w.class), &w.admin, None, Some(json!({"trainee_id": hn_id}))).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "already_enrolled"));
    let list = app.get(&format!("/api/v1/classes/{}/enrollments", w.class), Some(&w.officer)).await;
    assert_eq!(list.body["items"][0]["trainee_name"], "Người Hà Nội");
    // The Hà Nội officer may not enroll into a Quảng Ngãi class.
    let r =
        app.req("POST", &format!("/api/v1/classes/{}/enrollments", w.class), &w.hn_officer, None, Some(json!({"trainee_id": hn_id}))).await;
    assert_eq!(r.code(), "out_of_scope");
    // Drop needs If-Match and a reason.
    let path = format!("/api/v1/classes/{}/enrollments/{e}", w.class);
    assert_eq!(
        app.req("DELETE", &path, &w.member, None, Some(json!({"reason": "Chuyển đi"}))).await.status,
        StatusCode::PRECONDITION_REQUIRED
    );
    assert_eq!(
        app.req("DELETE", &path, &w.member, Some("\"v1\""), Some(json!({"reason": ""}))).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = app.req("DELETE", &path, &w.member, Some("\"v1\""), Some(json!({"reason": "Chuyển đi làm ăn xa"}))).await;
    assert_eq!(
        (r.status, r.body["status"].clone(), r.body["drop_reason"].clone()),
        (StatusCode::OK, json!("dropped"), json!("Chuyển đi làm ăn xa"))
    );
    assert_eq!(app.req("DELETE", &path, &w.member, Some("\"v2\""), Some(json!({"reason": "x"}))).await.code(), "already_dropped");
    // Re-enrolling after a drop is a new enrollment.
    enroll(&app, &w.admin, &w.class, &hn_id).await;
    // A cancelled class takes nobody.
    let t = trainee(&app, &w.member, "Võ Thị Mai").await;
    app.req("POST", &format!("/api/v1/classes/{}/cancel", w.class), &w.member, Some("*"), Some(json!({"reason": "Lũ"}))).await;
    let r = app.req("POST", &format!("/api/v1/classes/{}/enrollments", w.class), &w.member, None, Some(json!({"trainee_id": t}))).await;
    assert_eq!(r.code(), "class_cancelled");
}

#[actix_web::test]
async fn attendance_replaces_the_list_idempotently_and_only_for_enrolled_trainees() {
    let app = app().await;
    let w = world(&app).await;
    let a = trainee(&app, &w.member, "Trainee A").await;
    let b = trainee(&app, &w.member, "Trainee B").await;
    let outsider = trainee(&app, &w.member, "Trainee C").await;
    enroll(&app, &w.member, &w.class, &a).await;
    enroll(&app, &w.member, &w.class, &b).await;
    let path = format!("/api/v1/classes/{}/sessions/{}/attendance", w.class, w.sessions[0]);
    let empty = app.get(&path, Some(&w.member)).await;
    assert_eq!((empty.body["present"].clone(), empty.body["version"].clone()), (json!([]), json!(0)));
    let r = app.req("PUT", &path, &w.member, None, Some(json!({"present": [a, b, a]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!((r.body["present"].clone(), r.body["version"].clone()), (json!(both), json!(1)));
    // Same list again: nothing changes.
    let r = app.req("PUT", &path, &w.member, None, Some(json!({"present": [b, a]}))).await;
    assert_eq!(r.body["version"], 1);
    // Replace with one; stale If-Match refused.
    assert_eq!(
        app.req("PUT", &path, &w.member, Some("\"v0\""), Some(json!({"present": [a]}))).await.status,
        StatusCode::PRECONDITION_FAILED
    );
    let r = app.req("PUT", &path, &w.member, Some("\"v1\""), Some(json!({"present": [a]}))).await;
    assert_eq!((r.body["present"].clone(), r.body["version"].clone()), (json!([a]), json!(2)));
    let marks: i64 = attendance_marks::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(marks, 1);
    // Not enrolled: refused whole.
    let r = app.req("PUT", &path, &w.member, None, Some(json!({"present": [a, outsider]}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(codes(&r), vec![("present".into(), "not_enrolled".into())]);
    assert_eq!(app.get(&path, Some(&w.member)).await.body["present"], json!([a]));
    // A session of another class through this class's path: 404.
    let r = app
        .req(
            "POST",
            "/api/v1/classes",
            &w.member,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "team_id": w.team, "title": "Khác", "topic_ids": ["ai_basics"], "mode": "online",
                         "language": "vi", "start_date": "2026-01-05", "end_date": "2026-02-05", "planned_sessions": 1})),
        )
        .await;
    let other_class = id_of(&r);
    let r = app
        .req(
            "PUT",
            &format!("/api/v1/classes/{other_class}/sessions/{}/attendance", w.sessions[0]),
            &w.member,
            None,
            Some(json!({"present": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Migration `2026-12-07-000017` moves SQLite's attendance marks into a table keyed by
/// (session, trainee) without rowid; undone and done again on a database with marks, every
/// mark survives both ways and lists still replace. PostgreSQL's side is a no-op, run the same.
#[actix_web::test]
async fn attendance_marks_survive_their_move_to_the_session_keyed_table() {
    use diesel::migration::MigrationSource;
    use diesel_migrations::MigrationHarness;
    use hocvuso::store::db::{AnyConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    const MOVE: &str = "2026-12-07-000017";
    let app = app().await;
    let w = world(&app).await;
    let a = trainee(&app, &w.member, "Trainee A").await;
    let b = trainee(&app, &w.member, "Trainee B").await;
    enroll(&app, &w.member, &w.class, &a).await;
    enroll(&app, &w.member, &w.class, &b).await;
    let path = |s: &str| format!("/api/v1/classes/{}/sessions/{s}/attendance", w.class);
    for s in &w.sessions[..2] {
        let r = app.req("PUT", &path(s), &w.member, None, Some(json!({"present": [a, b]}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let marks = |conn: &mut AnyConnection| -> Vec<(String, String, String)> {
        attendance_marks::table
            .select((attendance_marks::session_id, attendance_marks::trainee_id, attendance_marks::class_id))
            .order((attendance_marks::session_id, attendance_marks::trainee_id))
            .load(conn)
            .unwrap()
    };
    // A table without rowid says so in the SQL SQLite keeps for it.
    let clustered = |conn: &mut AnyConnection| -> Option<bool> {
        #[derive(QueryableByName)]
        struct Sql {
            #[diesel(sql_type = diesel::sql_types::Text)]
            sql: String,
        }
        let AnyConnection::Sqlite(c) = conn else { return None };
        let t: Sql =
            diesel::sql_query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'attendance_marks'").get_result(c).unwrap();
        Some(t.sql.contains("WITHOUT ROWID"))
    };
    let mut conn = app.conn();
    let before = marks(&mut conn);
    assert_eq!(before.len(), 4);
    let sqlite = matches!(*conn, AnyConnection::Sqlite(_));
    assert_eq!(clustered(&mut conn), sqlite.then_some(true));
    fn revert<DB: diesel::backend::Backend>(c: &mut impl MigrationHarness<DB>, source: impl MigrationSource<DB>) {
        let all = source.migrations().unwrap();
        let m = all.iter().find(|m| m.name().to_string().starts_with(MOVE)).unwrap();
        c.revert_migration(&**m).unwrap();
    }
    match &mut *conn {
        AnyConnection::Sqlite(c) => revert(c, SQLITE_MIGRATIONS),
        AnyConnection::Postgresql(c) => revert(c, POSTGRES_MIGRATIONS),
    }
    assert_eq!(clustered(&mut conn), sqlite.then_some(false));
    assert_eq!(marks(&mut conn), before);
    hocvuso::store::db::migrate_connection(&mut conn).unwrap();
    assert_eq!(clustered(&mut conn), sqlite.then_some(true));
    assert_eq!(marks(&mut conn), before);
    drop(conn);
    // The moved lists still read and replace.
    let mut ab = vec![a.clone(), b.clone()];
    ab.sort();
    assert_eq!(app.get(&path(&w.sessions[0]), Some(&w.member)).await.body["present"], json!(ab));
    let r = app.req("PUT", &path(&w.sessions[0]), &w.member, Some("\"v1\""), Some(json!({"present": [b]}))).await;
    assert_eq!((r.status, r.body["present"].clone(), r.body["version"].clone()), (StatusCode::OK, json!([b]), json!(2)));
    assert_eq!(marks(&mut app.conn()).len(), 3);
}

#[actix_web::test]
async fn completion_needs_attendance_unless_an_officer_overrides_and_officers_verify() {
    let app = app().await;
    let w = world(&app).await;
    let good = trainee(&app, &w.member, "Chăm chỉ").await;
    let poor = trainee(&app, &w.member, "Vắng nhiều").await;
    let e_good = enroll(&app, &w.member, &w.class, &good).await;
    let e_poor = enroll(&app, &w.member, &w.class, &poor).await;
    for (i, s) in w.sessions.iter().enumerate() {
        let present = if i == 0 { json!([good, poor]) } else { json!([good]) };
        app.req("PUT", &format!("/api/v1/classes/{}/sessions/{s}/attendance", w.class), &w.member, None, Some(json!({"present": present})))
            .await;
    }
    let pass = json!({"result": "passed", "evidence": "in_class_assessment", "completed_on": "2026-01-28", "score": 9});
    let r = app.req("POST", &format!("/api/v1/enrollments/{e_poor}/completion"), &w.member, None, Some(pass.clone())).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:attendance_below_minimum", "title": "Dữ liệu không hợp lệ", "status": 422,
               "detail": "Người học dự 1/4 buổi, dưới mức tối thiểu 75%; cán bộ xã có thể ghi nhận kèm lý do (override_reason).",
               "code": "attendance_below_minimum"})
    );
    let mut over = pass.clone();
    over["override_reason"] = json!("Ốm, học bù tại nhà");
    assert_eq!(
        app.req("POST", &format!("/api/v1/enrollments/{e_poor}/completion"), &w.member, None, Some(over.clone())).await.code(),
        "forbidden"
    );
    let r = app.req("POST", &format!("/api/v1/enrollments/{e_poor}/completion"), &w.officer, None, Some(over)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["completion"]["attendance_override_reason"], "Ốm, học bù tại nhà");
    let r = app.req("POST", &format!("/api/v1/enrollments/{e_good}/completion"), &w.member, None, Some(pass.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["completion"]["result"], "passed");
    let twice = app.req("POST", &format!("/api/v1/enrollments/{e_good}/completion"), &w.member, None, Some(pass)).await;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "completion_exists"));
    let bad = app
        .req(
            "POST",
            &format!("/api/v1/enrollments/{e_good}/completion"),
            &w.member,
            None,
            Some(json!({"result": "maybe", "evidence": "gut_feeling", "completed_on": "2999-01-01", "score": 101})),
        )
        .await;
    assert_eq!(
        codes(&bad),
        vec![
            ("completed_on".into(), "invalid_date".into()),
            ("evidence".into(), "invalid_choice".into()),
            ("result".into(), "invalid_choice".into()),
            ("score".into(), "range".into())
        ]
    );
    // Verification.
    let verify = format!("/api/v1/enrollments/{e_good}/verify");
    assert_eq!(app.req("POST", &verify, &w.member, None, Some(json!({"decision": "verified"}))).await.code(), "forbidden");
    assert_eq!(
        codes(&app.req("POST", &verify, &w.officer, None, Some(json!({"decision": "rejected"}))).await),
        vec![("reason".into(), "required".into())]
    );
    let r = app.req("POST", &verify, &w.officer, None, Some(json!({"decision": "verified", "reason": "Đã kiểm tra"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["verification"]["decision"], "verified");
    assert_eq!(app.req("POST", &verify, &w.hn_officer, None, Some(json!({"decision": "verified"}))).await.code(), "out_of_scope");
    let none_yet = trainee(&app, &w.member, "Chưa xong").await;
    let e3 = enroll(&app, &w.member, &w.class, &none_yet).await;
    assert_eq!(
        app.req("POST", &format!("/api/v1/enrollments/{e3}/verify"), &w.officer, None, Some(json!({"decision": "verified"}))).await.code(),
        "no_completion"
    );
    // The trainee's completions: the class completion and a platform certificate, apart.
    let cert = app
        .req(
            "POST",
            &format!("/api/v1/trainees/{good}/platform-certificates"),
            &w.member,
            None,
            Some(json!({"certificate_ref": "BDHVS-2026-000123", "course": "Kỹ năng số cơ bản", "issued_on": "2026-01-10"})),
        )
        .await;
    assert_eq!(cert.status, StatusCode::CREATED);
    let dup = app
        .req(
            "POST",
            &format!("/api/v1/trainees/{good}/platform-certificates"),
            &w.member,
            None,
            Some(json!({"certificate_ref": "BDHVS-2026-000123", "course": "Khác", "issued_on": "2026-01-11"})),
        )
        .await;
    assert_eq!(dup.code(), "certificate_exists");
    let c = app.get(&format!("/api/v1/trainees/{good}/completions"), Some(&w.officer)).await;
    assert_eq!(c.body["class_completions"].as_array().unwrap().len(), 1);
    assert_eq!(c.body["class_completions"][0]["verification"]["decision"], "verified");
    assert_eq!(c.body["platform_certificates"][0]["certificate_ref"], "BDHVS-2026-000123");
    let filtered = app.get("/api/v1/trainees?completion=verified", Some(&w.officer)).await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
    // A completed enrollment cannot be dropped.
    let r = app
        .req(
            "DELETE",
            &format!("/api/v1/classes/{}/enrollments/{e_good}", w.class),
            &w.member,
            Some("\"v3\""),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(r.code(), "already_completed");
}

#[actix_web::test]
async fn export_erase_and_consent_withdrawal() {
    let app = app().await;
    let w = world(&app).await;
    let mut body = trainee_body("Hồ Thị Xuân");
    body["personal_id"] = json!("051161004821");
    body["phone"] = json!("0912345678");
    body["ethnicity_code"] = json!("30");
    body["consent"]["ethnicity"] = json!(true);
    body["occupation"] = json!("Trồng keo");
    let t = id_of(&app.req("POST", "/api/v1/trainees", &w.member, None, Some(body)).await);
    let e = enroll(&app, &w.member, &w.class, &t).await;
    for s in &w.sessions {
        app.req("PUT", &format!("/api/v1/classes/{}/sessions/{s}/attendance", w.class), &w.member, None, Some(json!({"present": [t]})))
            .await;
    }
    app.req(
        "POST",
        &format!("/api/v1/enrollments/{e}/completion"),
        &w.member,
        None,
        Some(json!({"result": "passed", "evidence": "in_class_assessment", "completed_on": "2026-01-28"})),
    )
    .await;
    app.get(&format!("/api/v1/trainees/{t}"), Some(&w.member)).await;
    // Export: everything held, including who read it.
    assert_eq!(app.get(&format!("/api/v1/trainees/{t}/export"), Some(&w.member)).await.code(), "forbidden");
    let x = app.get(&format!("/api/v1/trainees/{t}/export"), Some(&w.officer)).await;
    assert_eq!(x.status, StatusCode::OK);
    assert_eq!(x.body["trainee"]["full_name"], "Hồ Thị Xuân");
    assert_eq!(x.body["enrollments"][0]["completion"]["result"], "passed");
    assert_eq!(x.body["attendance"].as_array().unwrap().len(), 4);
    assert_eq!(x.body["access_log"][0]["actor_role"], "team_member");
    assert_eq!(x.body["access_log"][0]["action"], "read");
    // Withdrawing ethnicity consent removes the ethnicity only.
    let r =
        app.req("POST", &format!("/api/v1/trainees/{t}/consent/withdraw"), &w.member, None, Some(json!({"consent": "ethnicity"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["ethnicity_code"].clone(), r.body["consent"]["ethnicity"].clone(), r.body["full_name"].clone()),
        (Value::Null, json!(false), json!("Hồ Thị Xuân"))
    );
    let r = app.req("PATCH", &format!("/api/v1/trainees/{t}"), &w.member, Some("\"v2\""), Some(json!({"ethnicity_code": "30"}))).await;
    assert_eq!(codes(&r), vec![("ethnicity_code".into(), "consent_required".into())]);
    // Erase: identifying data goes, de-identified facts stay.
    assert_eq!(app.req("POST", &format!("/api/v1/trainees/{t}/erase"), &w.member, None, None).await.code(), "forbidden");
    let r = app.req("POST", &format!("/api/v1/trainees/{t}/erase"), &w.officer, None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["erased"], true);
    type Left = (String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, String, i32);
    let row: Left = trainees::table
        .find(&t)
        .select((
            trainees::full_name,
            trainees::phone,
            trainees::id_hash,
            trainees::id_last4,
            trainees::ethnicity_code,
            trainees::occupation,
            trainees::gender,
            trainees::birth_year,
        ))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(row, (String::new(), None, None, None, None, None, "female".to_owned(), 1961));
    let kept: (String, Option<String>) =
        enrollments::table.find(&e).select((enrollments::status, enrollments::completion_result)).first(&mut app.conn()).unwrap();
    assert_eq!(kept, ("enrolled".to_owned(), Some("passed".to_owned())));
    let marks: i64 = attendance_marks::table.filter(attendance_marks::trainee_id.eq(&t)).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(marks, 4);
    assert_eq!(app.req("POST", &format!("/api/v1/trainees/{t}/erase"), &w.officer, None, None).await.code(), "trainee_erased");
    assert_eq!(
        app.req("PATCH", &format!("/api/v1/trainees/{t}"), &w.officer, Some("\"v3\""), Some(json!({"full_name": "X"}))).await.code(),
        "trainee_erased"
    );
    // The unit still counts the person.
    assert_eq!(app.get(&format!("/api/v1/units/{QN_CAM_THANH}"), Some(&w.officer)).await.body["counts"]["trainees"], 1);
    // Withdrawing basic consent erases too.
    let t2 = trainee(&app, &w.member, "Người thứ hai").await;
    let r = app.req("POST", &format!("/api/v1/trainees/{t2}/consent/withdraw"), &w.member, None, Some(json!({"consent": "basic"}))).await;
    assert_eq!(
        (r.body["erased"].clone(), r.body["consent"]["basic"].clone(), r.body["full_name"].clone()),
        (json!(true), json!(false), json!(""))
    );
    assert_eq!(
        codes(&app.req("POST", &format!("/api/v1/trainees/{t2}/consent/withdraw"), &w.member, None, Some(json!({"consent": "all"}))).await),
        vec![("consent".into(), "invalid_choice".into())]
    );
}

#[actix_web::test]
async fn merge_moves_enrollments_and_leaves_a_pointer() {
    let app = app().await;
    let w = world(&app).await;
    let survivor = trainee(&app, &w.member, "Phan Văn Tài").await;
    let dup = trainee(&app, &w.member, "Phan Van Tai").await;
    enroll(&app, &w.member, &w.class, &dup).await;
    let path = format!("/api/v1/classes/{}/sessions/{}/attendance", w.class, w.sessions[0]);
    app.req("PUT", &path, &w.member, None, Some(json!({"present": [dup]}))).await;
    assert_eq!(
        app.req("POST", &format!("/api/v1/trainees/{dup}/merge"), &w.member, None, Some(json!({"into": survivor}))).await.code(),
        "forbidden"
    );
    assert_eq!(
        codes(&app.req("POST", &format!("/api/v1/trainees/{dup}/merge"), &w.officer, None, Some(json!({"into": dup}))).await),
        vec![("into".into(), "same_record".into())]
    );
    let r = app.req("POST", &format!("/api/v1/trainees/{dup}/merge"), &w.officer, None, Some(json!({"into": survivor}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], survivor.as_str());
    // The duplicate answers with a pointer to the survivor (issue #13).
    let gone = app.get(&format!("/api/v1/trainees/{dup}"), Some(&w.officer)).await;
    assert_eq!((gone.status, gone.code(), gone.body["merged_into"].clone()), (StatusCode::GONE, "record_merged", json!(survivor)));
    let pointer: (Option<String>, bool) =
        trainees::table.find(&dup).select((trainees::merged_into, trainees::deleted_at.is_not_null())).first(&mut app.conn()).unwrap();
    assert_eq!(pointer, (Some(survivor.clone()), true));
    let enrolled: Vec<String> =
        enrollments::table.filter(enrollments::class_id.eq(&w.class)).select(enrollments::trainee_id).load(&mut app.conn()).unwrap();
    assert_eq!(enrolled, vec![survivor.clone()]);
    assert_eq!(app.get(&path, Some(&w.member)).await.body["present"], json!([survivor]));
    // Deleting a trainee with enrollments is refused; without, it is a tombstone.
    let r = app.req("DELETE", &format!("/api/v1/trainees/{survivor}"), &w.officer, Some("\"v1\""), None).await;
    assert_eq!(r.code(), "trainee_has_enrollments");
    let lone = trainee(&app, &w.member, "Nhập nhầm").await;
    assert_eq!(
        app.req("DELETE", &format!("/api/v1/trainees/{lone}"), &w.member, Some("\"v1\""), None).await.status,
        StatusCode::NO_CONTENT
    );
}

#[actix_web::test]
async fn moving_a_trainee_needs_both_communes() {
    let app = app().await;
    let w = world(&app).await;
    let t = trainee(&app, &w.member, "Đi xa").await;
    let r = app.req("PATCH", &format!("/api/v1/trainees/{t}"), &w.member, Some("\"v1\""), Some(json!({"commune_code": HN_BA_DINH}))).await;
    assert_eq!(r.code(), "out_of_scope");
    let r = app.req("PATCH", &format!("/api/v1/trainees/{t}"), &w.admin, None, Some(json!({"commune_code": HN_BA_DINH}))).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_REQUIRED);
    let r = app
        .req(
            "PATCH",
            &format!("/api/v1/trainees/{t}"),
            &w.admin,
            Some("\"v1\""),
            Some(json!({"commune_code": HN_BA_DINH, "phone": "0987654321"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!((r.body["commune_code"].clone(), r.body["version"].clone()), (json!(HN_BA_DINH), json!(2)));
    assert_eq!(app.get(&format!("/api/v1/trainees/{t}"), Some(&w.member)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/trainees/{t}"), Some(&w.hn_officer)).await.status, StatusCode::OK);
}

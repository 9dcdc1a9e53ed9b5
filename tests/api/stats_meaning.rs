//! Statistics that mean what they say (issue #13): days are Vietnamese calendar days, a
//! cancelled class counts none of its enrollments, a dimension that cannot split a
//! measure leaves it out, and a province's report is closed and reopened by its own
//! admins, visibly in its audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use common::*;
use diesel::prelude::*;
use hocvuso::store::schema::trainees;
use serde_json::{json, Value};

fn at(s: &str) -> chrono::NaiveDateTime {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

async fn new_trainee(app: &impl App, token: &str) -> String {
    let r = app
        .req("POST", "/api/v1/trainees", token, None,
             Some(json!({"commune_code": QN_CAM_THANH, "full_name": "Người học", "gender": "female", "birth_year": 1960, "consent": {"basic": true, "method": "paper"}})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn trainees_of(r: &Resp) -> Value {
    r.body["trainees"].clone()
}

#[actix_web::test]
async fn days_are_vietnamese_calendar_days_at_a_window_edge() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let late = new_trainee(&app, &member).await;
    let early = new_trainee(&app, &member).await;
    {
        // Recorded at 23:30 on 14 June and at 00:30 on 15 June, Quảng Ngãi time: the last
        // day of the Decree 09 window of H1 and the first of H2.
        let mut conn = app.conn();
        diesel::update(trainees::table.find(&late)).set(trainees::created_at.eq(at("2026-06-14 16:30:00"))).execute(&mut conn).unwrap();
        diesel::update(trainees::table.find(&early)).set(trainees::created_at.eq(at("2026-06-14 17:30:00"))).execute(&mut conn).unwrap();
        hocvuso::domain::stats::rebuild::rebuild(&mut conn, true).unwrap();
    }
    let day = |d: &str| format!("/api/v1/stats/overview?from={d}&to={d}");
    assert_eq!(trainees_of(&app.get(&day("2026-06-14"), Some(&admin)).await), json!(1));
    assert_eq!(trainees_of(&app.get(&day("2026-06-15"), Some(&admin)).await), json!(1));
    assert_eq!(trainees_of(&app.get(&day("2026-06-13"), Some(&admin)).await), json!(0));
    let h1 = app.get("/api/v1/reports/2026-H1", Some(&admin)).await;
    let h2 = app.get("/api/v1/reports/2026-H2", Some(&admin)).await;
    assert_eq!((h1.body["overview"]["trainees"].clone(), h2.body["overview"]["trainees"].clone()), (json!(1), json!(1)));

    // The write path counts in the same days: an edit moves nothing, the counters still
    // equal a count from the records.
    let r = app.req("PATCH", &format!("/api/v1/trainees/{late}"), &member, Some("\"v1\""), Some(json!({"phone": "0905111222"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(hocvuso::domain::stats::rebuild::rebuild(&mut app.conn(), false).unwrap().is_empty());

    // Counters counted in another calendar (an upgrade from UTC days) are counted again at
    // start-up, once.
    {
        let mut conn = app.conn();
        diesel::sql_query("DELETE FROM stat_facts").execute(&mut conn).unwrap();
        hocvuso::store::settings::set(&mut conn, "stats_time_zone", "+00:00").unwrap();
    }
    let (_, _second) = instance_on(&app.db).await;
    assert!(hocvuso::domain::stats::rebuild::rebuild(&mut app.conn(), false).unwrap().is_empty());
    assert_eq!(hocvuso::store::settings::get(&mut app.conn(), "stats_time_zone").unwrap().as_deref(), Some("+07:00"));
    assert_eq!(trainees_of(&app.get(&day("2026-06-15"), Some(&admin)).await), json!(1));

    // Counters kept before people had keys (an upgrade past migration 000013: key sums 0)
    // are counted again at start-up too, once.
    {
        let mut conn = app.conn();
        diesel::sql_query("UPDATE stat_facts SET k = 0").execute(&mut conn).unwrap();
        diesel::sql_query("UPDATE stat_province_dims SET k = 0").execute(&mut conn).unwrap();
        diesel::sql_query("DELETE FROM server_settings WHERE name = 'stats_cell_keys'").execute(&mut conn).unwrap();
        assert!(!hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap().is_empty(), "the rebuild checks key sums");
    }
    let (_, _third) = instance_on(&app.db).await;
    assert!(hocvuso::domain::stats::rebuild::rebuild(&mut app.conn(), false).unwrap().is_empty());
    assert_eq!(hocvuso::store::settings::get(&mut app.conn(), "stats_cell_keys").unwrap().as_deref(), Some("1"));
}

#[actix_web::test]
async fn a_cancelled_class_counts_none_of_its_enrollments_anywhere() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let team = app
        .req(
            "POST",
            "/api/v1/teams",
            &officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "name": "Tổ A", "kind": "other", "level": "commune"})),
        )
        .await;
    let team = team.body["id"].as_str().unwrap().to_owned();
    let member = app
        .req(
            "POST",
            &format!("/api/v1/teams/{team}/members"),
            &officer,
            None,
            Some(json!({"full_name": "Trần Văn Bình", "role": "leader", "affiliation": "youth_union"})),
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{}", member.body);
    let class = app
        .req("POST", "/api/v1/classes", &officer, None,
             Some(json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "VNeID", "topic_ids": ["vneid_e_identity"], "mode": "in_person",
                         "language": "vi", "start_date": "2026-05-04", "end_date": "2026-05-30", "planned_sessions": 1})))
        .await;
    let class = class.body["id"].as_str().unwrap().to_owned();
    let mut enrolled = Vec::new();
    for _ in 0..2 {
        let t = new_trainee(&app, &officer).await;
        let e = app.req("POST", &format!("/api/v1/classes/{class}/enrollments"), &officer, None, Some(json!({"trainee_id": t}))).await;
        enrolled.push(e.body["id"].as_str().unwrap().to_owned());
    }
    let passed = app
        .req(
            "POST",
            &format!("/api/v1/enrollments/{}/completion", enrolled[0]),
            &officer,
            None,
            Some(
                json!({"result": "passed", "evidence": "officer_confirmation", "completed_on": "2026-05-20", "override_reason": "Học bù"}),
            ),
        )
        .await;
    assert_eq!(passed.status, StatusCode::CREATED, "{}", passed.body);
    let overview = app.get("/api/v1/stats/overview", Some(&admin)).await.body;
    assert_eq!(
        (
            overview["enrollments"].clone(),
            overview["completions_passed"].clone(),
            overview["completion_rate"].clone(),
            overview["people_confirmed"].clone()
        ),
        (json!(2), json!(1), json!(0.5), json!(1))
    );

    // Cancelled: it counts once, in classes_cancelled, and nowhere else.
    let c = app.req("POST", &format!("/api/v1/classes/{class}/cancel"), &officer, Some("*"), Some(json!({"reason": "Bão"}))).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    let overview = app.get("/api/v1/stats/overview", Some(&admin)).await.body;
    assert_eq!(
        (
            overview["classes_cancelled"].clone(),
            overview["enrollments"].clone(),
            overview["completions_passed"].clone(),
            overview["people_confirmed"].clone()
        ),
        (json!(1), json!(0), json!(0), json!(0))
    );
    assert!(overview.get("completion_rate").is_none(), "no rate over nothing: {overview}");
    let unit = app.get(&format!("/api/v1/stats/units?commune={QN_CAM_THANH}"), Some(&admin)).await.body;
    assert_eq!(unit["units"][0]["enrollments"], 0);
    let by_gender = app.get("/api/v1/stats/breakdown?by=gender", Some(&admin)).await.body;
    assert_eq!(by_gender["total"]["enrollments"], 0);
    let report = app.get("/api/v1/reports/2026-H1", Some(&admin)).await.body;
    assert_eq!((report["overview"]["enrollments"].clone(), report["overview"]["classes_cancelled"].clone()), (json!(0), json!(1)));
    assert!(hocvuso::domain::stats::rebuild::rebuild(&mut app.conn(), false).unwrap().is_empty());

    // A breakdown by team computes the team's own measures, and leaves out what a team
    // cannot split (people by gender).
    let by_team = app.get("/api/v1/stats/breakdown?by=team", Some(&admin)).await.body;
    let cell = by_team["cells"].as_array().unwrap().iter().find(|c| c["key"]["team"] == team.as_str()).unwrap().clone();
    assert_eq!(
        (cell["teams_active"].clone(), cell["team_members"].clone(), cell["classes_cancelled"].clone()),
        (json!(1), json!(1), json!(1))
    );
    assert!(cell.get("trainees").is_none() && cell.get("people_confirmed").is_none(), "{cell}");
}

#[actix_web::test]
async fn a_province_closes_its_own_report_in_its_own_audit_log() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, qn_admin) = app.user_with_token(&admin, "qn.admin", "admin", "province", Some(QN)).await;
    let (_, hn_admin) = app.user_with_token(&admin, "hn.admin", "admin", "province", Some(HN)).await;
    let (_, ct_admin) = app.user_with_token(&admin, "ct.admin", "admin", "commune", Some(QN_CAM_THANH)).await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    new_trainee(&app, &member).await;

    let closed = app.req("POST", "/api/v1/reports/2026/close", &qn_admin, None, None).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!((closed.body["status"].clone(), closed.body["province"].clone()), (json!("closed"), json!(QN)));
    // Closing Quảng Ngãi's report closes nothing else; a commune's admin closes none.
    assert_eq!(app.req("POST", "/api/v1/reports/2026/close", &hn_admin, None, None).await.status, StatusCode::OK);
    assert_eq!(app.req("POST", "/api/v1/reports/2026/close", &ct_admin, None, None).await.code(), "forbidden");
    assert_eq!(app.req("POST", "/api/v1/reports/2026/close", &admin, None, None).await.status, StatusCode::OK, "the country's is separate");

    // The closed report is frozen for the province's readers: a trainee recorded after the
    // closing is not in it, but is in the live statistics.
    new_trainee(&app, &member).await;
    let frozen = app.get("/api/v1/reports/2026", Some(&qn_admin)).await.body;
    assert_eq!((frozen["status"].clone(), frozen["overview"]["trainees"].clone()), (json!("closed"), json!(1)));
    assert_eq!(app.get("/api/v1/stats/overview", Some(&qn_admin)).await.body["trainees"], 2);

    // The province's admins see the closing and the reopening in their audit log; another
    // province's do not.
    let reopen = app.req("POST", "/api/v1/reports/2026/reopen", &qn_admin, None, Some(json!({"reason": "Bổ sung số liệu"}))).await;
    assert_eq!(reopen.status, StatusCode::OK, "{}", reopen.body);
    let log = app.get("/api/v1/audit?entity=report", Some(&qn_admin)).await.body;
    let actions: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["reopen_report", "close_report"], "{log}");
    let theirs = app.get("/api/v1/audit?entity=report", Some(&hn_admin)).await.body;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1, "only Hà Nội's own closing: {theirs}");
    assert_eq!(app.get("/api/v1/reports/2026", Some(&qn_admin)).await.body["overview"]["trainees"], 2);
}

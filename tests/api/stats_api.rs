//! The statistics endpoints: exact numbers against counts taken independently from the
//! records, filters, scope, breakdowns, populations, roles and bad input, and what analysts
//! read (perturbed person counts; the attacks are in tests/stats_privacy.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use common::*;
use diesel::prelude::*;
use serde_json::{json, Value};

struct Data {
    admin: String,
    officer: String,
    analyst: String,
    member: String,
}

async fn trainee<A: App>(
    app: &A,
    token: &str,
    commune: &str,
    gender: &str,
    birth_year: i32,
    groups: Value,
    ethnicity: Option<&str>,
) -> String {
    let mut body = json!({"commune_code": commune, "full_name": "Người học", "gender": gender, "birth_year": birth_year,
                          "target_groups": groups, "consent": {"basic": true, "method": "paper"}});
    if let Some(e) = ethnicity {
        body["ethnicity_code"] = json!(e);
        body["consent"]["ethnicity"] = json!(true);
    }
    let r = app.req("POST", "/api/v1/trainees", token, None, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Cẩm Thành: 12 trainees (8 women, 4 men), 10 enrolled in one class, 6 passed, 3 of them
/// verified, one more person confirmed by a platform certificate. Nghĩa Lộ: 3 women.
/// Ba Đình (Hà Nội): 2 people.
async fn seed<A: App + Tokens>(app: &A) -> Data {
    let admin = app.admin().await;
    let officer = app.token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let member = app.token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let analyst = app.token(&admin, "an.quoc", "analyst", "country", None).await;
    let team = app
        .req(
            "POST",
            "/api/v1/teams",
            &officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "name": "Tổ 1", "kind": "other", "level": "commune"})),
        )
        .await;
    let team = team.body["id"].as_str().unwrap().to_owned();
    let class = app
        .req(
            "POST",
            "/api/v1/classes",
            &member,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "VNeID", "topic_ids": ["vneid_e_identity"],
                        "mode": "in_person", "language": "hre", "campaign": "science_day_18_5",
                        "start_date": "2026-05-04", "end_date": "2026-06-30", "planned_sessions": 2})),
        )
        .await;
    assert_eq!(class.status, StatusCode::CREATED, "{}", class.body);
    let class = class.body["id"].as_str().unwrap().to_owned();
    app.req(
        "POST",
        &format!("/api/v1/classes/{class}/sessions"),
        &member,
        None,
        Some(json!({"held_on": "2026-05-05", "duration_minutes": 90})),
    )
    .await;
    let mut people = vec![];
    for i in 0..12 {
        let gender = if i < 8 { "female" } else { "male" };
        let year = [1950, 1990, 1970, 2010][i % 4];
        let eth = if i < 2 { Some("19") } else { None };
        people.push(trainee(app, &member, QN_CAM_THANH, gender, year, json!(["farmer"]), eth).await);
    }
    let mut enrollments = vec![];
    for p in &people[..10] {
        let r = app.req("POST", &format!("/api/v1/classes/{class}/enrollments"), &member, None, Some(json!({"trainee_id": p}))).await;
        enrollments.push(r.body["id"].as_str().unwrap().to_owned());
    }
    for (i, e) in enrollments[..6].iter().enumerate() {
        let r = app
            .req(
                "POST",
                &format!("/api/v1/enrollments/{e}/completion"),
                &officer,
                None,
                Some(json!({"result": "passed", "evidence": "in_class_assessment", "completed_on": "2026-05-20", "override_reason": "Đủ năng lực"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        if i < 3 {
            let v =
                app.req("POST", &format!("/api/v1/enrollments/{e}/verify"), &officer, None, Some(json!({"decision": "verified"}))).await;
            assert_eq!(v.status, StatusCode::OK);
        }
    }
    let cert = app
        .req(
            "POST",
            &format!("/api/v1/trainees/{}/platform-certificates", people[11]),
            &officer,
            None,
            Some(json!({"certificate_ref": "BDHVS-1", "course": "Kỹ năng số cơ bản", "issued_on": "2026-06-01"})),
        )
        .await;
    assert_eq!(cert.status, StatusCode::CREATED, "{}", cert.body);
    for _ in 0..3 {
        trainee(app, &admin, QN_NGHIA_LO, "female", 1980, json!([]), None).await;
    }
    for _ in 0..2 {
        trainee(app, &admin, HN_BA_DINH, "male", 1985, json!([]), None).await;
    }
    Data { admin, officer, analyst, member }
}

#[allow(async_fn_in_trait)]
trait Tokens {
    async fn admin(&self) -> String;
    async fn token(&self, admin: &str, user: &str, role: &str, kind: &str, code: Option<&str>) -> String;
}

impl<S, B> Tokens for TestApp<S>
where
    S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    async fn admin(&self) -> String {
        self.admin_token().await
    }
    async fn token(&self, admin: &str, user: &str, role: &str, kind: &str, code: Option<&str>) -> String {
        self.user_with_token(admin, user, role, kind, code).await.1
    }
}

#[actix_web::test]
async fn overview_numbers_match_counts_taken_from_the_records() {
    let app = app().await;
    let d = seed(&app).await;
    let r = app.get("/api/v1/stats/overview", Some(&d.officer)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut conn = app.conn();
    let ct = QN_CAM_THANH;
    let expected_trainees =
        sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM trainees WHERE commune_code = '{ct}' AND deleted_at IS NULL"));
    let expected_enrolled = sql_count(
        &mut conn,
        &format!("SELECT COUNT(*) AS n FROM enrollments WHERE commune_code = '{ct}' AND deleted_at IS NULL AND status = 'enrolled'"),
    );
    let expected_passed = sql_count(
        &mut conn,
        &format!("SELECT COUNT(*) AS n FROM enrollments WHERE commune_code = '{ct}' AND completion_result = 'passed'"),
    );
    let expected_verified =
        sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM enrollments WHERE commune_code = '{ct}' AND verification = 'verified'"));
    assert_eq!((expected_trainees, expected_enrolled, expected_passed, expected_verified), (12, 10, 6, 3));
    assert_eq!(
        r.body,
        json!({"teams_active": 1, "team_members": 0, "classes_planned": 1, "classes_ongoing": 0, "classes_completed": 0,
               "classes_cancelled": 0, "classes_total": 1, "sessions_held": 1, "trainees": expected_trainees,
               "enrollments": expected_enrolled, "completions_passed": expected_passed, "completions_verified": expected_verified,
               "people_confirmed": 7, "completion_rate": 0.6, "verification_rate": 0.5})
    );
    // The admin's country view, a province, a commune, and periods.
    let all = app.get("/api/v1/stats/overview", Some(&d.admin)).await;
    assert_eq!(all.body["trainees"], 17);
    let qn = app.get(&format!("/api/v1/stats/overview?province={QN}"), Some(&d.admin)).await;
    assert_eq!(qn.body["trainees"], 15);
    let nl = app.get(&format!("/api/v1/stats/overview?commune={QN_NGHIA_LO}"), Some(&d.admin)).await;
    assert_eq!((nl.body["trainees"].as_i64(), nl.body["enrollments"].as_i64()), (Some(3), Some(0)));
    assert_eq!(nl.body["completion_rate"], Value::Null);
    let may = app.get("/api/v1/stats/overview?from=2026-05-01&to=2026-05-31", Some(&d.officer)).await;
    assert_eq!(may.body["completions_passed"], 6);
    assert_eq!(may.body["sessions_held"], 1);
    // Dates off the half-month boundaries are answered from the day-level counters.
    let day = app.get("/api/v1/stats/overview?from=2026-05-20&to=2026-05-20", Some(&d.officer)).await;
    assert_eq!((day.body["completions_passed"].as_i64(), day.body["sessions_held"].as_i64()), (Some(6), Some(0)));
    let around = app.get("/api/v1/stats/overview?from=2026-05-03&to=2026-05-21", Some(&d.admin)).await;
    assert_eq!((around.body["completions_passed"].as_i64(), around.body["sessions_held"].as_i64()), (Some(6), Some(1)));
    let june = app.get("/api/v1/stats/overview?from=2026-06-01&to=2026-06-30", Some(&d.officer)).await;
    assert_eq!(june.body["completions_passed"], 0);
    assert_eq!(june.body["people_confirmed"], 1, "the certificate holder qualified on 1 June: {}", june.body);
    assert_eq!(may.body["people_confirmed"], 6);
    // Topic and campaign filters: class measures only.
    let topic = app.get("/api/v1/stats/overview?topic=vneid_e_identity", Some(&d.officer)).await;
    assert_eq!((topic.body["enrollments"].as_i64(), topic.body["trainees"].clone()), (Some(10), Value::Null));
    let other = app.get("/api/v1/stats/overview?topic=online_public_services", Some(&d.officer)).await;
    assert_eq!(other.body["enrollments"], 0);
    let camp = app.get("/api/v1/stats/overview?campaign=science_day_18_5", Some(&d.officer)).await;
    assert_eq!((camp.body["completions_passed"].as_i64(), camp.body["people_confirmed"].clone()), (Some(6), Value::Null));
    // A later edit is counted at once: a dropped enrollment, a moved trainee.
    let id: String = {
        use hocvuso::store::schema::trainees as t;
        t::table.filter(t::commune_code.eq(QN_CAM_THANH)).filter(t::gender.eq("male")).select(t::id).order(t::id).first(&mut conn).unwrap()
    };
    let moved = app.patch(&format!("/api/v1/trainees/{id}"), Some(&d.admin), Some("*"), json!({"commune_code": QN_NGHIA_LO})).await;
    assert_eq!(moved.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/stats/overview", Some(&d.officer)).await.body["trainees"], 11);
    assert_eq!(app.get(&format!("/api/v1/stats/overview?commune={QN_NGHIA_LO}"), Some(&d.admin)).await.body["trainees"], 4);
    assert!(hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap().is_empty());
}

#[actix_web::test]
async fn units_breakdowns_and_population() {
    let app = app().await;
    let d = seed(&app).await;
    let r = app.get("/api/v1/stats/units", Some(&d.officer)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["level"], "commune");
    assert_eq!(r.body["units"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["units"][0]["code"], QN_CAM_THANH);
    assert_eq!(r.body["units"][0]["trainees"], 12);
    assert_eq!(r.body["total"]["trainees"], 12);
    let p = app.get(&format!("/api/v1/stats/units?province={QN}&level=commune"), Some(&d.admin)).await;
    let units = p.body["units"].as_array().unwrap();
    assert_eq!(units.len(), 96, "every unit of Quảng Ngãi, also those with nothing");
    let nl = units.iter().find(|u| u["code"] == QN_NGHIA_LO).unwrap();
    assert_eq!(nl["trainees"], 3);
    assert_eq!(p.body["total"]["trainees"], 15);
    let country = app.get("/api/v1/stats/units", Some(&d.admin)).await;
    assert_eq!(country.body["level"], "province");
    assert_eq!(country.body["units"].as_array().unwrap().len(), 34);
    let hn = country.body["units"].as_array().unwrap().iter().find(|u| u["code"] == HN).unwrap().clone();
    assert_eq!((hn["trainees"].as_i64(), hn["kind"].as_str()), (Some(2), Some("province")));

    // Population: admins only; the participation rate follows.
    let bad = app
        .req(
            "PUT",
            &format!("/api/v1/units/{QN_CAM_THANH}/population"),
            &d.admin,
            None,
            Some(json!({"adults": 0, "year": 1990, "source": ""})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"].as_array().unwrap().len(), 3);
    let pop = json!({"adults": 240, "year": 2025, "source": "Thống kê phường"});
    assert_eq!(
        app.req("PUT", &format!("/api/v1/units/{QN_CAM_THANH}/population"), &d.officer, None, Some(pop.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.req("PUT", "/api/v1/units/99999/population", &d.admin, None, Some(pop.clone())).await.status, StatusCode::NOT_FOUND);
    let ok = app.req("PUT", &format!("/api/v1/units/{QN_CAM_THANH}/population"), &d.admin, None, Some(pop)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let r = app.get("/api/v1/stats/units", Some(&d.officer)).await;
    assert_eq!(r.body["units"][0]["adult_population"], 240);
    assert_eq!(r.body["units"][0]["participation_rate"], 0.05);

    // Breakdowns, one and two dimensions.
    let g = app.get("/api/v1/stats/breakdown?by=gender", Some(&d.officer)).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let cells = g.body["cells"].as_array().unwrap();
    let female = cells.iter().find(|c| c["key"]["gender"] == "female").unwrap();
    let male = cells.iter().find(|c| c["key"]["gender"] == "male").unwrap();
    assert_eq!((female["trainees"].as_i64(), male["trainees"].as_i64()), (Some(8), Some(4)));
    assert_eq!((female["enrollments"].as_i64(), male["enrollments"].as_i64()), (Some(8), Some(2)));
    assert!(female.get("sessions_held").is_none(), "class measures do not break down by gender: absent (issue #13)");
    assert_eq!(g.body["total"]["trainees"], 12);
    let ga = app.get("/api/v1/stats/breakdown?by=gender,age_band", Some(&d.officer)).await;
    let c = ga.body["cells"].as_array().unwrap();
    let old_women = c.iter().find(|c| c["key"] == json!({"gender": "female", "age_band": "60+"})).unwrap();
    assert_eq!(old_women["trainees"], 2);
    let young = c.iter().find(|c| c["key"] == json!({"gender": "female", "age_band": "<18"})).unwrap();
    assert_eq!(young["trainees"], 2);
    let tg = app.get("/api/v1/stats/breakdown?by=target_group", Some(&d.officer)).await;
    assert_eq!(tg.body["cells"][0]["key"]["target_group"], "farmer");
    assert_eq!(tg.body["cells"][0]["trainees"], 12);
    let topic = app.get("/api/v1/stats/breakdown?by=topic", Some(&d.officer)).await;
    assert_eq!(topic.body["cells"][0]["key"]["topic"], "vneid_e_identity");
    assert_eq!(topic.body["cells"][0]["sessions_held"], 1);
    let lang = app.get("/api/v1/stats/breakdown?by=language,month", Some(&d.officer)).await;
    let may =
        lang.body["cells"].as_array().unwrap().iter().find(|c| c["key"] == json!({"language": "hre", "month": "2026-05"})).unwrap().clone();
    assert_eq!(may["completions_passed"], 6);
    // A province or the country is answered from the province rollup: the same numbers.
    let pg = app.get(&format!("/api/v1/stats/breakdown?by=gender&province={QN}"), Some(&d.admin)).await;
    let cell = |g: &str| pg.body["cells"].as_array().unwrap().iter().find(|c| c["key"]["gender"] == g).unwrap().clone();
    assert_eq!((cell("female")["trainees"].as_i64(), cell("male")["trainees"].as_i64()), (Some(11), Some(4)));
    assert_eq!((cell("female")["enrollments"].as_i64(), cell("male")["enrollments"].as_i64()), (Some(8), Some(2)));
    let all = app.get("/api/v1/stats/breakdown?by=language,month", Some(&d.admin)).await;
    let may_all =
        all.body["cells"].as_array().unwrap().iter().find(|c| c["key"] == json!({"language": "hre", "month": "2026-05"})).unwrap().clone();
    assert_eq!(may_all, may);
    let topic_all = app.get("/api/v1/stats/breakdown?by=topic,gender", Some(&d.admin)).await;
    let women = topic_all.body["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == json!({"topic": "vneid_e_identity", "gender": "female"}))
        .unwrap()
        .clone();
    assert_eq!(women["completions_passed"], 6);
    // Ethnicity is suppressed below 5 even for officers: 2 people of ethnicity 19.
    let eth = app.get("/api/v1/stats/breakdown?by=ethnicity", Some(&d.officer)).await;
    let e19 = eth.body["cells"].as_array().unwrap().iter().find(|c| c["key"]["ethnicity"] == "19").unwrap().clone();
    assert_eq!(e19["trainees"], Value::Null);
    assert!(e19["suppressed"].as_array().unwrap().contains(&json!("trainees")));

    // Bad input and wrong roles.
    for q in ["by=colour", "by=gender,gender", "by=gender,age_band,month", "by="] {
        let r = app.get(&format!("/api/v1/stats/breakdown?{q}"), Some(&d.officer)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(r.body["errors"][0]["code"], "invalid_dimensions");
    }
    let r = app.get("/api/v1/stats/breakdown?by=target_group,topic", Some(&d.officer)).await;
    assert_eq!(r.body["errors"][0]["code"], "unsupported_combination");
    let r = app.get("/api/v1/stats/overview?from=2026-06-01&to=2026-05-01", Some(&d.officer)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get("/api/v1/stats/overview?from=yesterday", Some(&d.officer)).await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_date");
    assert_eq!(app.get("/api/v1/stats/overview", Some(&d.member)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/stats/overview", None).await.status, StatusCode::UNAUTHORIZED);
    let r = app.get(&format!("/api/v1/stats/overview?commune={QN_NGHIA_LO}"), Some(&d.officer)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another commune is outside the officer's scope");
    let r = app.get("/api/v1/stats/units?level=village", Some(&d.officer)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Units that do not exist, or do not fit together, are errors, not zeros.
    for path in ["overview?commune=99999", "overview?province=99", "units?province=99", "breakdown?by=gender&commune=99999"] {
        let r = app.get(&format!("/api/v1/stats/{path}"), Some(&d.admin)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
        assert_eq!(r.code(), "not_found");
    }
    for path in ["overview", "units", "breakdown?by=gender&"] {
        let sep = if path.ends_with('&') { "" } else { "?" };
        let r = app.get(&format!("/api/v1/stats/{path}{sep}province={HN}&commune={QN_CAM_THANH}"), Some(&d.admin)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", r.body);
        assert_eq!(
            r.body["errors"][0],
            json!({"field": "commune", "code": "not_in_province",
            "message": "Xã/phường này không thuộc tỉnh/thành đã chọn."})
        );
    }
    let r = app.get(&format!("/api/v1/stats/overview?province={QN}&commune={QN_CAM_THANH}"), Some(&d.admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, app.get(&format!("/api/v1/stats/overview?commune={QN_CAM_THANH}"), Some(&d.admin)).await.body);
    // A province-scoped reader naming a commune of another province: outside the scope.
    let qn_analyst = app.token(&d.admin, "an.quangngai", "analyst", "province", Some(QN)).await;
    let r = app.get(&format!("/api/v1/stats/overview?commune={HN_BA_DINH}"), Some(&qn_analyst)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.get(&format!("/api/v1/stats/overview?commune={QN_CAM_THANH}"), Some(&qn_analyst)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// The live trainees of a commune: how many, and the sum of their keys.
fn trainees_of(mut conn: hocvuso::store::db::PooledConn, commune: &str) -> (i64, i64) {
    use hocvuso::store::schema::trainees as t;
    let keys: Vec<i64> = t::table
        .filter(t::commune_code.eq(commune))
        .filter(t::deleted_at.is_null())
        .filter(t::merged_into.is_null())
        .select(t::cell_key)
        .load(&mut conn)
        .unwrap();
    (keys.len() as i64, keys.iter().sum())
}

/// Every person count in a body (at any depth).
fn person_counts(body: &Value) -> Vec<(String, i64)> {
    let mut out = vec![];
    let mut stack = vec![body.clone()];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, val) in map {
                    if ["trainees", "enrollments", "completions_passed", "completions_verified", "people_confirmed", "team_members"]
                        .contains(&k.as_str())
                    {
                        if let Some(n) = val.as_i64() {
                            out.push((k, n));
                        }
                    } else {
                        stack.push(val);
                    }
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

#[actix_web::test]
async fn analysts_read_person_counts_perturbed_by_their_cell_keys() {
    let app = app().await;
    let d = seed(&app).await;
    let keys = cell_keys();
    // Nghĩa Lộ has 3 people: the analyst reads the published value of (3, their key sum),
    // the admin the true 3. Counts of things, not people, are exact.
    let (n, k) = trainees_of(app.conn(), QN_NGHIA_LO);
    assert_eq!(n, 3);
    let nl = app.get(&format!("/api/v1/stats/overview?commune={QN_NGHIA_LO}"), Some(&d.analyst)).await;
    assert_eq!(nl.status, StatusCode::OK);
    assert_eq!(nl.body["trainees"].as_i64(), Some(keys.publish(3, k)), "{}", nl.body);
    assert!(nl.body.get("suppressed").is_none(), "nothing is withheld, it is perturbed: {}", nl.body);
    let admin_nl = app.get(&format!("/api/v1/stats/overview?commune={QN_NGHIA_LO}"), Some(&d.admin)).await;
    assert_eq!(admin_nl.body["trainees"], 3);
    assert_eq!(nl.body["teams_active"], admin_nl.body["teams_active"]);
    assert_eq!(nl.body["classes_total"], admin_nl.body["classes_total"]);
    assert_eq!(nl.body["sessions_held"], admin_nl.body["sessions_held"]);
    // The same people are the same number wherever they are asked for: the commune's row
    // of the province table, the overview, again.
    let units = app.get(&format!("/api/v1/stats/units?province={QN}&level=commune"), Some(&d.analyst)).await;
    let rows = units.body["units"].as_array().unwrap().clone();
    let row = |code: &str| rows.iter().find(|u| u["code"] == code).unwrap().clone();
    assert_eq!(row(QN_NGHIA_LO)["trainees"], nl.body["trainees"]);
    assert_eq!(app.get(&format!("/api/v1/stats/overview?commune={QN_NGHIA_LO}"), Some(&d.analyst)).await.body, nl.body);
    // The total is perturbed on its own key, not summed from the perturbed rows.
    let (ct_n, ct_k) = trainees_of(app.conn(), QN_CAM_THANH);
    assert_eq!(row(QN_CAM_THANH)["trainees"].as_i64(), Some(keys.publish(ct_n, ct_k)));
    assert_eq!(units.body["total"]["trainees"].as_i64(), Some(keys.publish(ct_n + n, ct_k + k)));
    // The participation and completion rates are those of the published counts.
    let ov = app.get("/api/v1/stats/overview", Some(&d.analyst)).await;
    let (p, e) = (ov.body["completions_passed"].as_i64().unwrap(), ov.body["enrollments"].as_i64().unwrap());
    if e > 0 {
        assert_eq!(ov.body["completion_rate"].as_f64().unwrap(), ((p as f64 / e as f64) * 10_000.0).round() / 10_000.0);
    }
    // No person count an analyst reads, anywhere, is 1 or 2; officers read exact ones.
    let mut small_for_officer = 0;
    for path in [
        "/api/v1/stats/overview".to_owned(),
        format!("/api/v1/stats/overview?commune={QN_NGHIA_LO}"),
        format!("/api/v1/stats/breakdown?by=gender,age_band&province={QN}"),
        "/api/v1/stats/breakdown?by=target_group".to_owned(),
        "/api/v1/stats/breakdown?by=team".to_owned(),
        format!("/api/v1/stats/units?province={QN}"),
        "/api/v1/reports/2026-H2?level=commune".to_owned(),
    ] {
        let r = app.get(&path, Some(&d.analyst)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        for (m, v) in person_counts(&r.body) {
            assert!(v != 1 && v != 2, "{path}: {m} = {v} published to an analyst");
        }
        let exact = app.get(&path, Some(&d.admin)).await;
        small_for_officer += person_counts(&exact.body).iter().filter(|(_, v)| *v == 1 || *v == 2).count();
    }
    assert!(small_for_officer > 0, "the data has small counts (else the check above proves nothing)");
}

#[actix_web::test]
async fn periodic_reports_windows_formats_and_closing() {
    let app = app().await;
    let d = seed(&app).await;
    // Decree 09 window of H1 2026: 15/12/2025 → 14/06/2026 (the completions of 20 May).
    let h1 = app.get("/api/v1/reports/2026-H1", Some(&d.officer)).await;
    assert_eq!(h1.status, StatusCode::OK, "{}", h1.body);
    assert_eq!(
        (h1.body["from"].as_str(), h1.body["to"].as_str(), h1.body["status"].as_str()),
        (Some("2025-12-15"), Some("2026-06-14"), Some("open"))
    );
    assert_eq!(h1.body["overview"]["completions_passed"], 6);
    assert_eq!(h1.body["overview"]["trainees"], 0, "trainees are counted on the day they were recorded (today)");
    assert_eq!(h1.body["units"]["units"][0]["code"], QN_CAM_THANH);
    let by: Vec<Value> = h1.body["breakdowns"].as_array().unwrap().iter().map(|b| b["by"].clone()).collect();
    assert_eq!(
        by,
        vec![json!(["gender", "age_band"]), json!(["target_group"]), json!(["ethnicity"]), json!(["topic"]), json!(["language"])]
    );
    let cal = app.get("/api/v1/reports/2026-Q2?calendar=true", Some(&d.officer)).await;
    assert_eq!((cal.body["from"].as_str(), cal.body["to"].as_str()), (Some("2026-04-01"), Some("2026-06-30")));
    assert_eq!(cal.body["overview"]["people_confirmed"], 7);
    // Today (26/11/2026) lies in H2 (15/06 → 14/12).
    let h2 = app.get("/api/v1/reports/2026-H2", Some(&d.officer)).await;
    assert_eq!(h2.body["overview"]["trainees"], 12);

    // Closing freezes the report; later edits in the field do not change it.
    assert_eq!(app.req("POST", "/api/v1/reports/2026-H2/close", &d.officer, None, None).await.status, StatusCode::FORBIDDEN);
    let closed = app.req("POST", "/api/v1/reports/2026-H2/close", &d.admin, None, None).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    let again = app.req("POST", "/api/v1/reports/2026-H2/close", &d.admin, None, None).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "report_closed"));
    trainee(&app, &d.member, QN_CAM_THANH, "female", 1966, json!([]), None).await;
    assert_eq!(app.get("/api/v1/stats/overview", Some(&d.officer)).await.body["trainees"], 13);
    let frozen = app.get("/api/v1/reports/2026-H2", Some(&d.officer)).await;
    assert_eq!((frozen.body["status"].as_str(), frozen.body["overview"]["trainees"].as_i64()), (Some("closed"), Some(12)));
    assert!(frozen.body["closed_at"].is_string());
    // The calendar report of the same period is a different report, still open.
    assert_eq!(app.get("/api/v1/reports/2026-H2?calendar=true", Some(&d.officer)).await.body["overview"]["trainees"], 13);
    // Reopening needs a reason, is audited, and the report follows the counters again.
    let no_reason = app.req("POST", "/api/v1/reports/2026-H2/reopen", &d.admin, None, Some(json!({"reason": " "}))).await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reopened =
        app.req("POST", "/api/v1/reports/2026-H2/reopen", &d.admin, None, Some(json!({"reason": "Bổ sung số liệu xã Cẩm Thành"}))).await;
    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.body);
    assert_eq!(app.get("/api/v1/reports/2026-H2", Some(&d.officer)).await.body["overview"]["trainees"], 13);
    let twice = app.req("POST", "/api/v1/reports/2026-H2/reopen", &d.admin, None, Some(json!({"reason": "x"}))).await;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "report_not_closed"));
    let audit = app.get("/api/v1/audit?entity=report", Some(&d.admin)).await;
    let actions: Vec<&str> = audit.body["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"close_report") && actions.contains(&"reopen_report"), "{actions:?}");

    // CSV and XLSX, by query or Accept.
    let csv = app.get("/api/v1/reports/2026-H2?format=csv", Some(&d.officer)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8(csv.raw.clone()).unwrap();
    let all: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    // What the file is (after a reopen: provisional), a blank line, then the table.
    assert_eq!(all[0], "\"Báo cáo Bình dân học vụ số, kỳ\",2026-H2");
    assert!(all[1].starts_with("Khung thời gian,Nghị định 09/2019/NĐ-CP: "), "{}", all[1]);
    assert_eq!(all[2], "Trạng thái,\"Tạm tính (chưa chốt, còn thay đổi)\"");
    assert!(all[3].starts_with("Thời điểm lập,"), "{}", all[3]);
    assert_eq!(all[4], "");
    let disposition = csv.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment; filename=\"bao-cao-bdhvs-2026-H2-nd09-tam-tinh-"), "{disposition}");
    let lines = &all[5..];
    assert!(lines[0].starts_with("Mã đơn vị,Tên đơn vị,Loại,Tổ công nghệ số đang hoạt động"), "{}", lines[0]);
    let trainees_col = lines[0].split(',').position(|h| h == "Người học").unwrap();
    let ct: Vec<&str> = lines[1].split(',').collect();
    assert_eq!((ct[0], ct[trainees_col]), (QN_CAM_THANH, "13"));
    assert!(lines.last().unwrap().contains("Tổng cộng"));
    let xlsx = app
        .call(
            auth(actix_web::test::TestRequest::get().uri("/api/v1/reports/2026"), Some(&d.admin))
                .insert_header(("Accept", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
        )
        .await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert_eq!(xlsx.header("content-type").as_deref(), Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"));
    assert_eq!(&xlsx.raw[..2], b"PK", "an XLSX file is a zip archive");
    let disposition = xlsx.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"bao-cao-bdhvs-2026-nd09-") && disposition.ends_with(".xlsx\""),
        "{disposition}"
    );
    // A calendar report of the same period downloads under another name.
    let calendar = app.get("/api/v1/reports/2026?format=csv&calendar=true", Some(&d.admin)).await;
    let disposition = calendar.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment; filename=\"bao-cao-bdhvs-2026-lich-"), "{disposition}");
    assert!(String::from_utf8(calendar.raw.clone()).unwrap().contains("Khung thời gian,Năm dương lịch: 01/01/2026 – 31/12/2026"));

    // Bad input and wrong roles.
    for bad in ["2026-Q5", "26", "2026-h1"] {
        let r = app.get(&format!("/api/v1/reports/{bad}"), Some(&d.officer)).await;
        assert_eq!((r.status, r.body["errors"][0]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_period")), "{bad}");
    }
    assert_eq!(app.get("/api/v1/reports/2026?format=pdf", Some(&d.officer)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/reports/2026", Some(&d.member)).await.status, StatusCode::FORBIDDEN);
    // Analysts read reports perturbed as the endpoints: the same people, the same number.
    let an = app.get("/api/v1/reports/2026-H2?level=commune", Some(&d.analyst)).await;
    let nl = an.body["units"]["units"].as_array().unwrap().iter().find(|u| u["code"] == QN_NGHIA_LO).unwrap().clone();
    let live = app.get(&format!("/api/v1/stats/overview?commune={QN_NGHIA_LO}&from=2026-06-15&to=2026-12-14"), Some(&d.analyst)).await;
    assert_eq!(nl["trainees"], live.body["trainees"]);
    let (_, k) = trainees_of(app.conn(), QN_NGHIA_LO);
    assert_eq!(nl["trainees"].as_i64(), Some(cell_keys().publish(3, k)));
}

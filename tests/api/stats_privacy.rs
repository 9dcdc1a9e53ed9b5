//! An analyst of province 51 attacking the statistics for small counts (issue #13): every
//! attack of the report and a few more, each run twice — against the exact numbers an
//! admin reads (where it recovers every small count: the attack is real) and against
//! the analyst's perturbed view (where it must not).
//!
//! The protection is probabilistic: an estimate is the true count plus a sum of
//! perturbations, which can happen to cancel, and the attacker cannot tell when it did.
//! So the test draws the people's keys from a seeded generator (keys are uniform random
//! numbers; a seeded draw is one such draw, and makes the outcome reproducible on both
//! backends) and requires of every attack that it leaves most small counts wrong, and of
//! every published value that it is never 1 or 2 and always the same for the same people.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use common::recount::{Area, Query, Records};
use common::*;
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The minority groups of the data: group `GROUPS[j]` is small (j + 1 people) in commune
/// j and has 5–7 people in each other commune.
const GROUPS: [&str; 4] = ["02", "03", "04", "05"];
const LAST_DAY: &str = "2026-04-30";

struct World {
    admin: String,
    analyst: String,
    communes: Vec<String>,
    /// The days with passed completions (in communes[0]'s class).
    days: Vec<String>,
}

async fn post(app: &impl App, token: &str, path: &str, body: Value) -> Value {
    let r = app.req("POST", path, token, None, Some(body)).await;
    assert!(r.status == StatusCode::CREATED || r.status == StatusCode::OK, "{path}: {}", r.body);
    r.body
}

/// Four communes of Quảng Ngãi with 24–26 people each (genders, ages, minority groups
/// giving many cells of 1–4 people), one class whose completions fall 1–3 a day.
async fn world(app: &impl App, admin: String, analyst: String, communes: Vec<String>) -> World {
    let years = [1950, 1995, 1970, 2010, 2000, 1960];
    let mut people: Vec<Vec<String>> = vec![];
    for (c, commune) in communes.iter().enumerate() {
        let mut ethnicities = vec!["01"; 4];
        for (j, g) in GROUPS.iter().enumerate() {
            let n = if j == c { j + 1 } else { 5 + (j + c) % 3 };
            ethnicities.extend(std::iter::repeat_n(*g, n));
        }
        let mut ids = vec![];
        for (i, e) in ethnicities.iter().enumerate() {
            let gender = if i <= c % 3 {
                "other"
            } else if i % 2 == 0 {
                "female"
            } else {
                "male"
            };
            let body = json!({"commune_code": commune, "full_name": format!("Học viên {c}-{i:02}"), "gender": gender,
                              "birth_year": years[(i + c) % years.len()], "ethnicity_code": e,
                              "consent": {"basic": true, "ethnicity": true, "method": "paper"}});
            ids.push(post(app, &admin, "/api/v1/trainees", body).await["id"].as_str().unwrap().to_owned());
        }
        people.push(ids);
    }
    // A class in the first commune; 40 of its people pass, 1–3 on each of 20 days.
    let team =
        post(app, &admin, "/api/v1/teams", json!({"commune_code": communes[0], "name": "Tổ 1", "kind": "other", "level": "commune"})).await;
    let class = post(
        app,
        &admin,
        "/api/v1/classes",
        json!({"commune_code": communes[0], "team_id": team["id"], "title": "Kỹ năng số", "topic_ids": ["vneid_e_identity"],
               "mode": "in_person", "language": "vi", "start_date": "2026-02-02", "end_date": "2026-04-30", "planned_sessions": 2}),
    )
    .await;
    let class = class["id"].as_str().unwrap().to_owned();
    let mut days = vec![];
    let pupils: Vec<&String> = people[0].iter().chain(people[1].iter()).take(40).collect();
    let mut next = 0;
    for d in 0..20 {
        let day = (chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + chrono::Duration::days(d * 2)).to_string();
        for _ in 0..(d % 3 + 1) {
            let Some(p) = pupils.get(next) else { break };
            next += 1;
            let e = post(app, &admin, &format!("/api/v1/classes/{class}/enrollments"), json!({"trainee_id": p})).await;
            post(
                app,
                &admin,
                &format!("/api/v1/enrollments/{}/completion", e["id"].as_str().unwrap()),
                json!({"result": "passed", "evidence": "in_class_assessment", "completed_on": day, "override_reason": "Đủ năng lực"}),
            )
            .await;
        }
        days.push(day);
    }
    World { admin, analyst, communes, days }
}

/// The keys of one seeded draw, then the counters recounted with them.
fn seeded_keys(mut conn: hocvuso::store::db::PooledConn) {
    let mut rng = StdRng::seed_from_u64(57);
    {
        use hocvuso::store::schema::trainees as t;
        let ids: Vec<String> = t::table.order(t::full_name).select(t::id).load(&mut conn).unwrap();
        for id in ids {
            diesel::update(t::table.find(&id))
                .set(t::cell_key.eq(rng.gen_range(0..hocvuso::domain::stats::perturb::KEY_SPACE)))
                .execute(&mut conn)
                .unwrap();
        }
    }
    hocvuso::domain::stats::rebuild::rebuild(&mut conn, true).unwrap();
}

async fn get(app: &impl App, token: &str, path: &str) -> Value {
    let r = app.get_as(path, token).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.body
}

/// A breakdown's cells by their key values (joined by `/`).
fn cells(body: &Value) -> BTreeMap<String, Value> {
    body["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let key: Vec<&str> = c["key"].as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
            (key.join("/"), c.clone())
        })
        .collect()
}

/// What an attack estimated, per small count it went after.
#[derive(Default)]
struct Outcome {
    /// (what, true count, estimate)
    tries: Vec<(String, i64, Option<i64>)>,
}

impl Outcome {
    fn hits(&self) -> usize {
        self.tries.iter().filter(|(_, t, e)| Some(*t) == *e).count()
    }
}

fn q(area: Area, from: Option<&'static str>, to: Option<&'static str>) -> Query {
    Query { area, from, to, topic: None, campaign: None }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Subtraction inside one table: total − the other cells of a breakdown by gender and by
/// age band, per commune.
async fn subtraction(app: &impl App, token: &str, w: &World, rec: &Records) -> Outcome {
    let mut out = Outcome::default();
    for c in &w.communes {
        for dim in ["gender", "age_band"] {
            let body = get(app, token, &format!("/api/v1/stats/breakdown?by={dim}&commune={c}")).await;
            let cs = cells(&body);
            let truth = rec.count(&q(Area::Commune(c.clone()), None, None), dim, "", &["trainees"]);
            for ((v, _), t) in &truth {
                let t = t["trainees"];
                if !(1..5).contains(&t) {
                    continue;
                }
                let others: Option<i64> = cs.iter().filter(|(k, _)| *k != v).map(|(_, cell)| cell["trainees"].as_i64()).sum();
                let est = body["total"]["trainees"].as_i64().zip(others).map(|(a, b)| a - b);
                out.tries.push((format!("{c} {dim}={v}"), t, est));
            }
        }
    }
    out
}

/// Margins: a cell of gender × age band = the gender's count (one-dimension table) − the
/// other age bands of that gender (two-dimension table).
async fn margins(app: &impl App, token: &str, w: &World, rec: &Records) -> Outcome {
    let mut out = Outcome::default();
    for c in &w.communes {
        let two = cells(&get(app, token, &format!("/api/v1/stats/breakdown?by=gender,age_band&commune={c}")).await);
        let one = cells(&get(app, token, &format!("/api/v1/stats/breakdown?by=gender&commune={c}")).await);
        let truth = rec.count(&q(Area::Commune(c.clone()), None, None), "gender", "age_band", &["trainees"]);
        for ((g, a), t) in &truth {
            let t = t["trainees"];
            if !(1..5).contains(&t) {
                continue;
            }
            // Cells are keyed by their dimensions in name order: age_band/gender.
            let others: Option<i64> = two
                .iter()
                .filter(|(k, _)| k.ends_with(&format!("/{g}")) && **k != format!("{a}/{g}"))
                .map(|(_, cell)| cell["trainees"].as_i64())
                .sum();
            let est = one.get(g.as_str()).and_then(|m| m["trainees"].as_i64()).zip(others).map(|(a, b)| a - b);
            out.tries.push((format!("{c} {g}/{a}"), t, est));
        }
    }
    out
}

/// Another endpoint: the province's unit table for one day (total − the other communes),
/// and the commune's overview for the same day, which must say the same as its row.
async fn other_endpoint(app: &impl App, token: &str, w: &World, rec: &Records) -> Outcome {
    let mut out = Outcome::default();
    for day in &w.days {
        let units = get(app, token, &format!("/api/v1/stats/units?province={QN}&level=commune&from={day}&to={day}")).await;
        let rows = units["units"].as_array().unwrap();
        let c0 = &w.communes[0];
        let row = rows.iter().find(|r| r["code"] == c0.as_str()).unwrap();
        let ov = get(app, token, &format!("/api/v1/stats/overview?commune={c0}&from={day}&to={day}")).await;
        assert_eq!(ov["completions_passed"], row["completions_passed"], "the same people, the same number ({day})");
        let others: Option<i64> = rows.iter().filter(|r| r["code"] != c0.as_str()).map(|r| r["completions_passed"].as_i64()).sum();
        let est = units["total"]["completions_passed"].as_i64().zip(others).map(|(a, b)| a - b);
        let d = leak(day.clone());
        let t = rec.count(&q(Area::Commune(c0.clone()), Some(d), Some(d)), "", "", &["completions_passed"]);
        let t = t.values().next().map(|m| m["completions_passed"]).unwrap_or(0);
        out.tries.push((format!("completions on {day}"), t, est));
    }
    out
}

/// Several tables and communes of one period solved together: a minority group's count
/// in a commune = the province's count of the group − the other communes' counts.
async fn ethnicity_across_communes(app: &impl App, token: &str, w: &World, rec: &Records) -> Outcome {
    let mut out = Outcome::default();
    let province = cells(&get(app, token, &format!("/api/v1/stats/breakdown?by=ethnicity&province={QN}")).await);
    let mut per_commune = vec![];
    for c in &w.communes {
        per_commune.push(cells(&get(app, token, &format!("/api/v1/stats/breakdown?by=ethnicity&commune={c}")).await));
    }
    for (j, g) in GROUPS.iter().enumerate() {
        let target = &w.communes[j];
        let t = rec.count(&q(Area::Commune(target.clone()), None, None), "ethnicity", "", &["trainees"]);
        let t = t.get(&(g.to_string(), String::new())).map(|m| m["trainees"]).unwrap_or(0);
        let others: Option<i64> =
            (0..w.communes.len()).filter(|i| *i != j).map(|i| per_commune[i].get(*g).and_then(|cell| cell["trainees"].as_i64())).sum();
        let est = province.get(*g).and_then(|cell| cell["trainees"].as_i64()).zip(others).map(|(a, b)| a - b);
        out.tries.push((format!("{target} ethnicity {g}"), t, est));
    }
    out
}

/// Two periods that differ by one day: the completions of that day.
async fn one_day_apart(app: &impl App, token: &str, w: &World, rec: &Records) -> Outcome {
    let mut out = Outcome::default();
    for day in &w.days {
        let next = (chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap() + chrono::Duration::days(1)).to_string();
        let a = get(app, token, &format!("/api/v1/stats/overview?province={QN}&from={day}&to={LAST_DAY}")).await;
        let b = get(app, token, &format!("/api/v1/stats/overview?province={QN}&from={next}&to={LAST_DAY}")).await;
        let est = a["completions_passed"].as_i64().zip(b["completions_passed"].as_i64()).map(|(a, b)| a - b);
        let d = leak(day.clone());
        let t = rec.count(&q(Area::Province(QN.into()), Some(d), Some(d)), "", "", &["completions_passed"]);
        let t = t.values().next().map(|m| m["completions_passed"]).unwrap_or(0);
        out.tries.push((format!("completions on {day}"), t, est));
    }
    out
}

/// Every person count in a body (at any depth).
fn person_counts(body: &Value, out: &mut Vec<i64>) {
    match body {
        Value::Object(map) => {
            for (k, v) in map {
                if ["trainees", "enrollments", "completions_passed", "completions_verified", "people_confirmed", "team_members"]
                    .contains(&k.as_str())
                {
                    out.extend(v.as_i64());
                } else {
                    person_counts(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| person_counts(v, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn an_analyst_recovers_no_small_count_by_any_attack() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, analyst) = app.user_with_token(&admin, "an.qn", "analyst", "province", Some(QN)).await;
    let communes: Vec<String> = {
        use hocvuso::store::schema::units as u;
        u::table.filter(u::province_code.eq(QN)).select(u::code).order(u::code).limit(4).load(&mut app.conn()).unwrap()
    };
    let w = world(&app, admin, analyst, communes).await;
    seeded_keys(app.conn());
    let rec = Records::load(&mut app.conn());
    macro_rules! run {
        ($attack:ident, $min_targets:expr) => {{
            let exact = $attack(&app, &w.admin, &w, &rec).await;
            let analyst = $attack(&app, &w.analyst, &w, &rec).await;
            let n = exact.tries.len();
            assert!(n >= $min_targets, "{}: only {n} small counts to go after", stringify!($attack));
            assert_eq!(exact.hits(), n, "{}: the attack must work on exact numbers: {:?}", stringify!($attack), exact.tries);
            let wrong: Vec<_> = analyst.tries.iter().filter(|(_, t, e)| Some(*t) != *e).collect();
            eprintln!(
                "{}: {} small counts; exact numbers give all of them away, the analyst's view {} ({} wrong)",
                stringify!($attack),
                n,
                analyst.hits(),
                wrong.len()
            );
            // Right by chance on fewer than half, and the attacker cannot tell which.
            assert!(analyst.hits() * 2 < n, "{}: {} of {n} recovered: {:?}", stringify!($attack), analyst.hits(), analyst.tries);
        }};
    }
    run!(subtraction, 8);
    run!(margins, 15);
    run!(other_endpoint, 20);
    run!(ethnicity_across_communes, 4);
    run!(one_day_apart, 20);

    // Whatever the analyst asks, no person count is 1 or 2, and the same people always
    // come out as the same number: asking again, or in other ways, averages nothing away.
    let c0 = &w.communes[0];
    let mut seen = vec![];
    for path in [
        format!("/api/v1/stats/overview?province={QN}"),
        format!("/api/v1/stats/units?province={QN}"),
        format!("/api/v1/stats/breakdown?by=gender,age_band&province={QN}"),
        format!("/api/v1/stats/breakdown?by=ethnicity,gender&commune={c0}"),
        format!("/api/v1/stats/breakdown?by=month&commune={c0}"),
        format!("/api/v1/stats/breakdown?by=team&commune={c0}"),
        "/api/v1/reports/2026-Q1?calendar=true&level=commune".to_owned(),
    ] {
        person_counts(&get(&app, &w.analyst, &path).await, &mut seen);
    }
    assert!(seen.len() > 100, "{}", seen.len());
    assert!(seen.iter().all(|v| *v != 1 && *v != 2), "{seen:?}");
    let day = &w.days[0];
    let same = [
        format!("/api/v1/stats/overview?commune={c0}&from={day}&to={day}"),
        format!("/api/v1/stats/overview?commune={c0}&from=2026-03-01&to={day}"),
        format!("/api/v1/stats/overview?province={QN}&from={day}&to={day}"),
        format!("/api/v1/stats/overview?province={QN}&from=2025-01-01&to={day}"),
        format!("/api/v1/stats/breakdown?by=language&commune={c0}&from={day}&to={day}"),
    ];
    let mut values = vec![];
    for path in &same {
        let body = get(&app, &w.analyst, path).await;
        let v =
            if path.contains("breakdown") { body["cells"][0]["completions_passed"].clone() } else { body["completions_passed"].clone() };
        values.push(v);
    }
    assert!(values.windows(2).all(|p| p[0] == p[1]), "the same people, asked {} ways: {values:?}", same.len());
}

#[allow(async_fn_in_trait)]
trait GetAs {
    async fn get_as(&self, path: &str, token: &str) -> Resp;
}

impl<T: App> GetAs for T {
    async fn get_as(&self, path: &str, token: &str) -> Resp {
        self.req("GET", path, token, None, None).await
    }
}

//! Statistics recounted from the records, independently of `hocvuso::stats`: one plain SQL
//! query per measure lists every counted thing with its dimensions, and the grouping,
//! filtering, age bands and months are done here. `check_everything` then asks every
//! statistics endpoint (overview, units, every breakdown by one and by two dimensions)
//! for several areas, periods and filters, and compares every number it returns.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use hocvuso::domain::stats::perturb::CellKeys;
use serde_json::Value;

/// One counted thing: a measure, the day it counts on and its dimensions.
#[derive(Debug, Clone, QueryableByName)]
pub struct Item {
    #[diesel(sql_type = Text)]
    pub measure: String,
    #[diesel(sql_type = Text)]
    pub commune: String,
    #[diesel(sql_type = Text)]
    pub day: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub gender: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub birth_year: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub ethnicity: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub groups: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub class_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub team: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub language: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub campaign: Option<String>,
    /// The counted person's key (0 for classes, sessions, teams).
    #[diesel(sql_type = BigInt)]
    pub key: i64,
}

#[derive(QueryableByName)]
struct Pair {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Text)]
    b: String,
}

const NO_PERSON: &str =
    "CAST(NULL AS TEXT) AS gender, CAST(NULL AS TEXT) AS birth_year, CAST(NULL AS TEXT) AS ethnicity, CAST(NULL AS TEXT) AS groups";
const NO_CLASS: &str =
    "CAST(NULL AS TEXT) AS class_id, CAST(NULL AS TEXT) AS team, CAST(NULL AS TEXT) AS language, CAST(NULL AS TEXT) AS campaign";
const PERSON_KEY: &str = "t.cell_key AS key";
const NO_KEY: &str = "CAST(0 AS BIGINT) AS key";
const PERSON: &str =
    "t.gender AS gender, CAST(t.birth_year AS TEXT) AS birth_year, t.ethnicity_code AS ethnicity, t.target_groups AS groups";
const CLASS: &str = "c.id AS class_id, c.team_id AS team, c.language AS language, c.campaign AS campaign";
const LIVE_TRAINEE: &str = "t.deleted_at IS NULL AND t.merged_into IS NULL";

/// The Vietnamese calendar day (UTC+07:00) of a stored UTC time given as text; a date
/// stays as it is.
fn local_day(text: &str) -> String {
    match chrono::NaiveDateTime::parse_from_str(&text[..text.len().min(19)], "%Y-%m-%d %H:%M:%S") {
        Ok(t) => (t + chrono::Duration::hours(7)).date().to_string(),
        Err(_) => text[..text.len().min(10)].to_owned(),
    }
}

/// Everything the statistics count, straight from the record tables.
pub struct Records {
    pub items: Vec<Item>,
    pub topics: HashMap<String, Vec<String>>,
    pub province: HashMap<String, String>,
    pub communes_of: BTreeMap<String, Vec<String>>,
}

impl Records {
    pub fn load(conn: &mut hocvuso::store::db::AnyConnection) -> Records {
        let enrollment = |measure: &str, day: &str, cond: &str| {
            format!(
                "SELECT CAST('{measure}' AS TEXT) AS measure, e.commune_code AS commune, CAST({day} AS TEXT) AS day, {PERSON}, {CLASS}, {PERSON_KEY}
                 FROM enrollments e JOIN classes c ON c.id = e.class_id JOIN trainees t ON t.id = e.trainee_id
                 WHERE e.deleted_at IS NULL AND c.deleted_at IS NULL AND c.status <> 'cancelled' AND {cond}"
            )
        };
        let queries = [
            format!(
                "SELECT CAST('trainees' AS TEXT) AS measure, t.commune_code AS commune, CAST(t.created_at AS TEXT) AS day, {PERSON}, {NO_CLASS}, {PERSON_KEY}
                 FROM trainees t WHERE {LIVE_TRAINEE}"
            ),
            format!(
                "SELECT CAST('people_confirmed' AS TEXT) AS measure, t.commune_code AS commune, CAST(q.d AS TEXT) AS day, {PERSON}, {NO_CLASS}, {PERSON_KEY}
                 FROM trainees t JOIN (
                   SELECT u.tid AS tid, MIN(u.d) AS d FROM (
                     SELECT e.trainee_id AS tid, e.completed_on AS d FROM enrollments e JOIN classes c ON c.id = e.class_id
                     WHERE e.deleted_at IS NULL AND c.deleted_at IS NULL AND c.status <> 'cancelled' AND e.completion_result = 'passed' AND e.completed_on IS NOT NULL
                     UNION ALL
                     SELECT p.trainee_id AS tid, p.issued_on AS d FROM platform_certificates p WHERE p.deleted_at IS NULL
                   ) u GROUP BY u.tid
                 ) q ON q.tid = t.id
                 WHERE {LIVE_TRAINEE}"
            ),
            enrollment("enrollments", "e.created_at", "e.status = 'enrolled'"),
            enrollment("completions_passed", "e.completed_on", "e.completion_result = 'passed' AND e.completed_on IS NOT NULL"),
            enrollment(
                "completions_verified",
                "e.verified_at",
                "e.completion_result = 'passed' AND e.verification = 'verified' AND e.verified_at IS NOT NULL",
            ),
            format!(
                "SELECT 'classes_' || c.status AS measure, c.commune_code AS commune, CAST(c.start_date AS TEXT) AS day, {NO_PERSON}, {CLASS}, {NO_KEY}
                 FROM classes c WHERE c.deleted_at IS NULL"
            ),
            format!(
                "SELECT CAST('sessions_held' AS TEXT) AS measure, s.commune_code AS commune, CAST(s.held_on AS TEXT) AS day, {NO_PERSON}, {CLASS}, {NO_KEY}
                 FROM class_sessions s JOIN classes c ON c.id = s.class_id WHERE s.deleted_at IS NULL AND c.deleted_at IS NULL"
            ),
            format!(
                "SELECT CAST('teams_active' AS TEXT) AS measure, tm.commune_code AS commune, CAST(tm.created_at AS TEXT) AS day, {NO_PERSON},
                        CAST(NULL AS TEXT) AS class_id, tm.id AS team, CAST(NULL AS TEXT) AS language, CAST(NULL AS TEXT) AS campaign, {NO_KEY}
                 FROM teams tm WHERE tm.deleted_at IS NULL AND tm.active"
            ),
            format!(
                "SELECT CAST('team_members' AS TEXT) AS measure, m.commune_code AS commune,
                        COALESCE(CAST(m.joined_on AS TEXT), CAST(m.created_at AS TEXT)) AS day, {NO_PERSON},
                        CAST(NULL AS TEXT) AS class_id, m.team_id AS team, CAST(NULL AS TEXT) AS language, CAST(NULL AS TEXT) AS campaign,
                        m.cell_key AS key
                 FROM team_members m JOIN teams tm ON tm.id = m.team_id
                 WHERE m.deleted_at IS NULL AND m.left_on IS NULL AND tm.deleted_at IS NULL"
            ),
        ];
        let mut items = Vec::new();
        for q in &queries {
            let mut rows: Vec<Item> = diesel::sql_query(q.as_str()).load(conn).unwrap_or_else(|e| panic!("{e}: {q}"));
            for r in &mut rows {
                r.day = local_day(&r.day);
            }
            items.extend(rows);
        }
        let mut topics: HashMap<String, Vec<String>> = HashMap::new();
        for p in diesel::sql_query("SELECT class_id AS a, topic_id AS b FROM class_topics").load::<Pair>(conn).unwrap() {
            topics.entry(p.a).or_default().push(p.b);
        }
        let mut province = HashMap::new();
        let mut communes_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in diesel::sql_query("SELECT code AS a, province_code AS b FROM units").load::<Pair>(conn).unwrap() {
            communes_of.entry(p.b.clone()).or_default().push(p.a.clone());
            province.insert(p.a, p.b);
        }
        Records { items, topics, province, communes_of }
    }

    /// The values of one dimension an item counts under (several for topics and target groups).
    fn values(&self, it: &Item, dim: &str, topic: Option<&str>) -> Vec<String> {
        let one = |s: &Option<String>| vec![s.clone().unwrap_or_default()];
        match dim {
            "" => vec![String::new()],
            "commune" => vec![it.commune.clone()],
            "province" => vec![self.province[&it.commune].clone()],
            "gender" => one(&it.gender),
            "age_band" => {
                let year: i32 = it.day[..4].parse().unwrap();
                let born: i32 = it.birth_year.as_deref().unwrap().parse().unwrap();
                let band = match year - born {
                    a if a < 18 => "<18",
                    a if a <= 35 => "18-35",
                    a if a <= 59 => "36-59",
                    _ => "60+",
                };
                vec![band.to_owned()]
            }
            "ethnicity" => one(&it.ethnicity),
            "target_group" => serde_json::from_str(it.groups.as_deref().unwrap_or("[]")).unwrap(),
            "topic" => match topic {
                Some(t) => vec![t.to_owned()],
                None => self.topics_of(it),
            },
            "team" => one(&it.team),
            "language" => one(&it.language),
            "month" => vec![it.day[..7].to_owned()],
            other => panic!("dimension {other}"),
        }
    }

    fn topics_of(&self, it: &Item) -> Vec<String> {
        it.class_id.as_ref().and_then(|c| self.topics.get(c)).cloned().unwrap_or_default()
    }

    /// Counts per (value of d1, value of d2) and measure, for the items of `q`.
    pub fn count(&self, q: &Query, d1: &str, d2: &str, names: &[&str]) -> BTreeMap<(String, String), BTreeMap<String, i64>> {
        self.count_keyed(q, d1, d2, names)
            .into_iter()
            .map(|(cell, measures)| (cell, measures.into_iter().map(|(m, (n, _))| (m, n)).collect()))
            .collect()
    }

    /// Counts and the sums of the counted people's keys, per cell and measure.
    pub fn count_keyed(&self, q: &Query, d1: &str, d2: &str, names: &[&str]) -> BTreeMap<(String, String), Counts> {
        let mut out: BTreeMap<(String, String), Counts> = BTreeMap::new();
        for it in &self.items {
            if !names.contains(&it.measure.as_str()) {
                continue;
            }
            match &q.area {
                Area::Country => {}
                Area::Province(p) if &self.province[&it.commune] == p => {}
                Area::Commune(c) if &it.commune == c => {}
                _ => continue,
            }
            if q.from.is_some_and(|f| it.day.as_str() < f) || q.to.is_some_and(|t| it.day.as_str() > t) {
                continue;
            }
            if let Some(t) = q.topic {
                if !self.topics_of(it).iter().any(|x| x == t) {
                    continue;
                }
            }
            if let Some(c) = q.campaign {
                if it.campaign.as_deref() != Some(c) {
                    continue;
                }
            }
            for a in self.values(it, d1, q.topic) {
                for b in self.values(it, d2, q.topic) {
                    let e = out.entry((a.clone(), b)).or_default().entry(it.measure.clone()).or_default();
                    e.0 += 1;
                    e.1 += it.key;
                }
            }
        }
        out
    }
}

/// Per measure: the count and the sum of the counted people's keys.
pub type Counts = BTreeMap<String, (i64, i64)>;

#[derive(Debug, Clone)]
pub enum Area {
    Country,
    Province(String),
    Commune(String),
}

/// One statistics request: the area, the period and the class filters.
#[derive(Debug, Clone)]
pub struct Query {
    pub area: Area,
    pub from: Option<&'static str>,
    pub to: Option<&'static str>,
    pub topic: Option<&'static str>,
    pub campaign: Option<&'static str>,
}

impl Query {
    /// The query string (without the area when the caller's own scope gives it).
    pub fn params(&self, with_area: bool) -> String {
        let mut p = vec![];
        if with_area {
            match &self.area {
                Area::Country => {}
                Area::Province(c) => p.push(format!("province={c}")),
                Area::Commune(c) => p.push(format!("commune={c}")),
            }
        }
        for (k, v) in [("from", self.from), ("to", self.to), ("topic", self.topic), ("campaign", self.campaign)] {
            if let Some(v) = v {
                p.push(format!("{k}={v}"));
            }
        }
        p.join("&")
    }
}

pub const ALL: &[&str] = &[
    "teams_active",
    "team_members",
    "classes_planned",
    "classes_ongoing",
    "classes_completed",
    "classes_cancelled",
    "sessions_held",
    "trainees",
    "enrollments",
    "completions_passed",
    "completions_verified",
    "people_confirmed",
];
const CLASS_MEASURES: &[&str] = &[
    "classes_planned",
    "classes_ongoing",
    "classes_completed",
    "classes_cancelled",
    "sessions_held",
    "enrollments",
    "completions_passed",
    "completions_verified",
];
const PERSON_MEASURES: &[&str] = &["trainees", "people_confirmed", "enrollments", "completions_passed", "completions_verified"];
const COUNTS_PEOPLE: &[&str] =
    &["trainees", "people_confirmed", "enrollments", "completions_passed", "completions_verified", "team_members"];
pub const DIMS: &[&str] = &["gender", "age_band", "target_group", "ethnicity", "topic", "team", "language", "month"];

/// The measures a breakdown by `dims` carries under the query's filters (the documented
/// contract: person dimensions carry person measures, class dimensions class measures,
/// a topic or campaign filter keeps only class measures).
pub fn measures_of(dims: &[&str], q: &Query) -> Vec<&'static str> {
    ALL.iter()
        .copied()
        .filter(|m| {
            dims.iter().all(|d| match *d {
                "gender" | "age_band" | "ethnicity" | "target_group" => PERSON_MEASURES.contains(m),
                "topic" | "language" => CLASS_MEASURES.contains(m),
                // A team also counts itself and its members (issue #13: computed, not null).
                "team" => CLASS_MEASURES.contains(m) || ["teams_active", "team_members"].contains(m),
                _ => true,
            })
        })
        .filter(|m| (q.topic.is_none() && q.campaign.is_none()) || CLASS_MEASURES.contains(m))
        .collect()
}

fn rate(a: Option<i64>, b: Option<i64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0 => serde_json::json!(((a as f64 / b as f64) * 10_000.0).round() / 10_000.0),
        _ => Value::Null,
    }
}

/// Compares one row of measures (overview, unit, cell or total) with the recount: every
/// measure of `names` equal, the others absent, totals and rates derived from them. With
/// `keys` (analysts), person counts are the published values of the recount's (count, key
/// sum), looked up with the public function and the test server's secret. With
/// `suppressed` (ethnicity), person counts of 1–4 must be hidden and any hidden one must be
/// non-zero (secondary suppression may hide a bigger one); visible ones must be exact.
pub fn check_row(what: &str, row: &Value, expected: Option<&Counts>, names: &[&str], keys: Option<&CellKeys>, suppressed: bool) {
    let empty = BTreeMap::new();
    let expected = expected.unwrap_or(&empty);
    for m in ALL {
        let want = names.contains(m).then(|| {
            let (n, k) = expected.get(*m).copied().unwrap_or((0, 0));
            match keys {
                Some(keys) if COUNTS_PEOPLE.contains(m) => keys.publish(n, k),
                _ => n,
            }
        });
        let got = &row[*m];
        match want {
            // A measure the row cannot split is absent (issue #13), not null.
            None => assert!(row.get(*m).is_none(), "{what}: {m} should be absent: {row}"),
            Some(w) if suppressed && COUNTS_PEOPLE.contains(m) && got.is_null() => {
                assert!(w > 0, "{what}: {m} hidden but 0: {row}");
                assert!(row["suppressed"].as_array().unwrap().iter().any(|s| s == m), "{what}: {m} hidden, not named: {row}");
            }
            Some(w) => {
                assert_eq!(got.as_i64(), Some(w), "{what}: {m} (expected {w}): {row}");
                if suppressed && COUNTS_PEOPLE.contains(m) {
                    assert!(!(1..5).contains(&w), "{what}: {m} = {w} shown: {row}");
                }
            }
        }
    }
    let class = ["classes_planned", "classes_ongoing", "classes_completed", "classes_cancelled"];
    let total = if class.iter().all(|c| !row[*c].is_null()) {
        serde_json::json!(class.iter().map(|c| row[*c].as_i64().unwrap()).sum::<i64>())
    } else {
        Value::Null
    };
    assert_eq!(row["classes_total"], total, "{what}: classes_total: {row}");
    assert_eq!(row["completion_rate"], rate(row["completions_passed"].as_i64(), row["enrollments"].as_i64()), "{what}: {row}");
    assert_eq!(row["verification_rate"], rate(row["completions_verified"].as_i64(), row["completions_passed"].as_i64()), "{what}: {row}");
}

/// A caller of the statistics endpoints.
pub struct Asker<'a> {
    pub token: &'a str,
    /// The area its scope gives (`None`: it names the area in the query).
    pub own_area: Option<Area>,
    /// Analysts: person counts come back perturbed by these cell keys.
    pub keys: Option<CellKeys>,
}

fn whole(rec: &Records, q: &Query, names: &[&str]) -> Option<Counts> {
    rec.count_keyed(q, "", "", names).remove(&(String::new(), String::new()))
}

/// A per-unit table (`units`, `total`) against the recount; returns the numbers compared.
pub fn check_units(rec: &Records, q: &Query, level: &str, body: &Value, keys: Option<&CellKeys>) -> usize {
    let names = measures_of(&[], q);
    let per_unit = rec.count_keyed(q, level, "", &names);
    let units = body["units"].as_array().unwrap();
    let expected_units = match (&q.area, level) {
        (Area::Country, "province") => rec.communes_of.len(),
        (Area::Country, _) => rec.province.len(),
        (Area::Province(p), _) => rec.communes_of[p].len(),
        (Area::Commune(_), _) => 1,
    };
    assert_eq!(units.len(), expected_units, "{q:?} {level}");
    for u in units {
        let code = u["code"].as_str().unwrap().to_owned();
        check_row(&format!("unit {code} {q:?}"), u, per_unit.get(&(code.clone(), String::new())), &names, keys, false);
    }
    check_row(&format!("units total {q:?}"), &body["total"], whole(rec, q, &names).as_ref(), &names, keys, false);
    names.len() * (units.len() + 1)
}

/// A breakdown (`cells`, `total`) against the recount; returns the numbers compared.
pub fn check_breakdown(rec: &Records, q: &Query, dims: &[&str], body: &Value, keys: Option<&CellKeys>) -> usize {
    let d1 = dims[0];
    let d2 = dims.get(1).copied().unwrap_or("");
    let by = dims.join(",");
    let names = measures_of(dims, q);
    let expected = rec.count_keyed(q, d1, d2, &names);
    let hidden = dims.contains(&"ethnicity");
    let mut seen = 0;
    let cells = body["cells"].as_array().unwrap();
    for cell in cells {
        let k1 = cell["key"][d1].as_str().unwrap().to_owned();
        let k2 = if d2.is_empty() { String::new() } else { cell["key"][d2].as_str().unwrap().to_owned() };
        let want = expected.get(&(k1.clone(), k2.clone()));
        if want.is_some() {
            seen += 1;
        }
        check_row(&format!("{by} {k1}/{k2} {q:?}"), cell, want, &names, keys, hidden);
    }
    assert_eq!(seen, expected.len(), "{by} {q:?}: cells with counts missing from {body}");
    check_row(&format!("{by} total {q:?}"), &body["total"], whole(rec, q, &names).as_ref(), &names, keys, hidden);
    names.len() * (cells.len() + 1)
}

/// Asks every statistics endpoint for `queries` and compares every number with the
/// recount. Returns how many numbers were compared.
pub async fn check_everything<A: super::App>(app: &A, rec: &Records, asker: &Asker<'_>, queries: &[Query]) -> usize {
    let mut compared = 0;
    for q in queries {
        let params = q.params(asker.own_area.is_none());
        let sep = if params.is_empty() { "" } else { "&" };
        // The overview.
        let r = app.req("GET", &format!("/api/v1/stats/overview?{params}"), asker.token, None, None).await;
        assert_eq!(r.status.as_u16(), 200, "{q:?}: {}", r.body);
        let names = measures_of(&[], q);
        check_row(&format!("overview {q:?}"), &r.body, whole(rec, q, &names).as_ref(), &names, asker.keys.as_ref(), false);
        compared += names.len();
        // The unit table, at each level the area has.
        let levels: &[&str] = match q.area {
            Area::Country => &["province", "commune"],
            _ => &["commune"],
        };
        for level in levels {
            let r = app.req("GET", &format!("/api/v1/stats/units?level={level}{sep}{params}"), asker.token, None, None).await;
            assert_eq!(r.status.as_u16(), 200, "{q:?} {level}: {}", r.body);
            compared += check_units(rec, q, level, &r.body, asker.keys.as_ref());
        }
        // Every breakdown by one and by two dimensions.
        for (i, d1) in DIMS.iter().enumerate() {
            for d2 in std::iter::once(&"").chain(DIMS[i + 1..].iter()) {
                let dims: Vec<&str> = [*d1, *d2].into_iter().filter(|d| !d.is_empty()).collect();
                let by = dims.join(",");
                let r = app.req("GET", &format!("/api/v1/stats/breakdown?by={by}{sep}{params}"), asker.token, None, None).await;
                if dims.contains(&"target_group") && (dims.contains(&"topic") || q.topic.is_some()) {
                    assert_eq!(r.status.as_u16(), 422, "{by} {q:?}");
                    continue;
                }
                assert_eq!(r.status.as_u16(), 200, "{by} {q:?}: {}", r.body);
                compared += check_breakdown(rec, q, &dims, &r.body, asker.keys.as_ref());
            }
        }
    }
    compared
}

/// A periodic report (JSON) of the country at commune level against the recount of its
/// window: overview, unit table and every breakdown (`keys`: read by an analyst).
pub async fn check_report<A: super::App>(app: &A, rec: &Records, token: &str, keys: Option<&CellKeys>, path: &str, q: &Query) -> usize {
    let r = app.req("GET", path, token, None, None).await;
    assert_eq!(r.status.as_u16(), 200, "{path}: {}", r.body);
    assert_eq!((r.body["from"].as_str(), r.body["to"].as_str()), (q.from, q.to), "{path}");
    let names = measures_of(&[], q);
    check_row(&format!("{path} overview"), &r.body["overview"], whole(rec, q, &names).as_ref(), &names, keys, false);
    let mut compared = names.len() + check_units(rec, q, "commune", &r.body["units"], keys);
    for b in r.body["breakdowns"].as_array().unwrap() {
        let dims: Vec<&str> = b["by"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        compared += check_breakdown(rec, q, &dims, b, keys);
    }
    compared
}

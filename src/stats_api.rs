//! Statistics endpoints: `/stats/overview`, `/stats/units`, `/stats/breakdown` and the
//! adult population of units. Every number is a sum of counter rows (`stat_facts`, kept in
//! the write transaction by [`crate::stats`]), grouped in SQL: a read never scans
//! trainees. Analysts get small cells suppressed (see [`suppress`]).

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpResponse};
use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::db::AnyConnection;
use crate::error::{self, ApiError, FieldError, Problem, Text as T};
use crate::policy::{self, Access, Capability, Principal, Role, Scope};
use crate::records;
use crate::schema::{provinces, unit_populations, units};

/// Cells describing fewer people than this are suppressed for analysts.
pub const MIN_CELL: i64 = 5;

/// Measures that count people (suppressed for analysts when small).
pub const PERSON_MEASURES: &[&str] =
    &["trainees", "people_confirmed", "enrollments", "completions_passed", "completions_verified", "team_members"];

/// Every measure a row carries.
#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq)]
pub struct Measures {
    pub teams_active: Option<i64>,
    pub team_members: Option<i64>,
    pub classes_planned: Option<i64>,
    pub classes_ongoing: Option<i64>,
    pub classes_completed: Option<i64>,
    pub classes_cancelled: Option<i64>,
    pub classes_total: Option<i64>,
    pub sessions_held: Option<i64>,
    pub trainees: Option<i64>,
    pub enrollments: Option<i64>,
    /// Passed completions.
    pub completions_passed: Option<i64>,
    pub completions_verified: Option<i64>,
    /// People with a passed class completion or a platform certificate, each once.
    pub people_confirmed: Option<i64>,
    /// completions_passed / enrollments.
    pub completion_rate: Option<f64>,
    /// completions_verified / completions_passed.
    pub verification_rate: Option<f64>,
    /// trainees / adult population, when the population is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participation_rate: Option<f64>,
    /// Measures withheld because they describe fewer than 5 people (analysts; ethnicity).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<String>,
}

impl Measures {
    fn slot(&mut self, measure: &str) -> Option<&mut Option<i64>> {
        Some(match measure {
            "teams_active" => &mut self.teams_active,
            "team_members" => &mut self.team_members,
            "classes_planned" => &mut self.classes_planned,
            "classes_ongoing" => &mut self.classes_ongoing,
            "classes_completed" => &mut self.classes_completed,
            "classes_cancelled" => &mut self.classes_cancelled,
            "sessions_held" => &mut self.sessions_held,
            "trainees" => &mut self.trainees,
            "enrollments" => &mut self.enrollments,
            "completions_passed" => &mut self.completions_passed,
            "completions_verified" => &mut self.completions_verified,
            "people_confirmed" => &mut self.people_confirmed,
            _ => return None,
        })
    }

    /// Starts every measure of `names` at 0 (the others stay absent).
    fn zero(names: &[&str]) -> Self {
        let mut m = Measures::default();
        for n in names {
            if let Some(s) = m.slot(n) {
                *s = Some(0);
            }
        }
        m
    }

    fn add(&mut self, measure: &str, n: i64) {
        if let Some(Some(v)) = self.slot(measure) {
            *v += n;
        }
    }

    fn get(&mut self, measure: &str) -> Option<i64> {
        self.slot(measure).and_then(|s| *s)
    }

    /// Totals and rates from the counts (call after suppression).
    fn finish(&mut self) {
        let classes = [self.classes_planned, self.classes_ongoing, self.classes_completed, self.classes_cancelled];
        self.classes_total = if classes.iter().all(Option::is_some) { Some(classes.iter().flatten().sum()) } else { None };
        let rate = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => Some(((a as f64 / b as f64) * 10_000.0).round() / 10_000.0),
            _ => None,
        };
        self.completion_rate = rate(self.completions_passed, self.enrollments);
        self.verification_rate = rate(self.completions_verified, self.completions_passed);
    }
}

const ALL: &[&str] = &[
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
/// Measures that belong to a class (so to a topic, team, language and campaign).
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
/// Measures that belong to a person (so to a gender, age band, ethnicity, target group).
const PERSON_DIM_MEASURES: &[&str] = &["trainees", "people_confirmed", "enrollments", "completions_passed", "completions_verified"];

/// Filters shared by the statistics endpoints.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day (YYYY-MM-DD), inclusive.
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD), inclusive.
    pub to: Option<String>,
    /// A province code (2 digits) within the caller's scope.
    pub province: Option<String>,
    /// A commune code (5 digits) within the caller's scope.
    pub commune: Option<String>,
    /// A topic id: class measures of classes with that topic (person-only measures are null).
    pub topic: Option<String>,
    /// A campaign: class measures of classes of that campaign (person-only measures are null).
    pub campaign: Option<String>,
}

/// Validated filters.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub topic: Option<String>,
    pub campaign: Option<String>,
}

impl StatsQuery {
    pub fn check(&self, caller: &Caller) -> Result<Filters, ApiError> {
        let mut errors = Vec::new();
        let from = records::optional_date("from", self.from.as_deref(), &mut errors);
        let to = records::optional_date("to", self.to.as_deref(), &mut errors);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                errors.push(FieldError::new("to", "before_from", T::new("`to` phải sau `from`.", "`to` must not be before `from`.")));
            }
        }
        records::fail_if_any(errors)?;
        let f = Filters {
            from,
            to,
            province: records::optional_text(self.province.as_deref()),
            commune: records::optional_text(self.commune.as_deref()),
            topic: records::optional_text(self.topic.as_deref()),
            campaign: records::optional_text(self.campaign.as_deref()),
        };
        // A filter outside the scope answers 404, as a record outside it would.
        match (caller.scope(), &f.province, &f.commune) {
            (Scope::Commune(c), Some(_), _) | (Scope::Commune(c), _, Some(_)) if f.commune.as_deref() != Some(c) => {
                return Err(error::not_found())
            }
            (Scope::Province(p), Some(q), _) if p != q => return Err(error::not_found()),
            _ => {}
        }
        Ok(f)
    }
}

impl Filters {
    /// Checks the named units against the records: an unknown province or commune, or a
    /// commune of another province than a province-scoped caller's, answers 404 (as a
    /// unit outside the scope would); a commune that is not in the named province, 422.
    /// Without this such filters would quietly count nothing.
    pub fn settle(&self, conn: &mut AnyConnection, caller: &Caller) -> Result<(), ApiError> {
        if let Some(p) = &self.province {
            let known: i64 = provinces::table.filter(provinces::code.eq(p)).count().get_result(conn)?;
            if known == 0 {
                return Err(error::not_found());
            }
        }
        let Some(c) = &self.commune else { return Ok(()) };
        let Some(province) = crate::units::province_of(conn, c)? else { return Err(error::not_found()) };
        if matches!(caller.scope(), Scope::Province(sp) if *sp != province) {
            return Err(error::not_found());
        }
        if self.province.as_ref().is_some_and(|p| *p != province) {
            return Err(error::validation(vec![FieldError::new(
                "commune",
                "not_in_province",
                T::new("Xã/phường này không thuộc tỉnh/thành đã chọn.", "This commune is not in the province given."),
            )]));
        }
        Ok(())
    }
}

/// Where the counters come from: the live table, or a closed report's frozen copy.
#[derive(Debug, Clone)]
pub enum Source {
    Live,
    Closed(String),
}

#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Date(NaiveDate),
}

#[derive(Debug, QueryableByName)]
pub struct Cell {
    #[diesel(sql_type = Text)]
    pub k1: String,
    #[diesel(sql_type = Text)]
    pub k2: String,
    #[diesel(sql_type = Text)]
    pub measure: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// A dimension of a breakdown or of the per-unit table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    None,
    Commune,
    Province,
    Gender,
    AgeBand,
    Ethnicity,
    TargetGroup,
    Topic,
    Team,
    Language,
    Month,
}

pub const BREAKDOWN_DIMS: &[&str] = &["gender", "age_band", "target_group", "ethnicity", "topic", "team", "language", "month"];

impl Dim {
    pub fn parse(s: &str) -> Option<Dim> {
        Some(match s {
            "gender" => Dim::Gender,
            "age_band" => Dim::AgeBand,
            "ethnicity" => Dim::Ethnicity,
            "target_group" => Dim::TargetGroup,
            "topic" => Dim::Topic,
            "team" => Dim::Team,
            "language" => Dim::Language,
            "month" => Dim::Month,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Dim::None => "",
            Dim::Commune => "commune",
            Dim::Province => "province",
            Dim::Gender => "gender",
            Dim::AgeBand => "age_band",
            Dim::Ethnicity => "ethnicity",
            Dim::TargetGroup => "target_group",
            Dim::Topic => "topic",
            Dim::Team => "team",
            Dim::Language => "language",
            Dim::Month => "month",
        }
    }

    fn expr(self, pg: bool, bucketed: bool) -> &'static str {
        match self {
            Dim::Month if bucketed && pg => "to_char(bucket, 'YYYY-MM')",
            Dim::Month if bucketed => "substr(bucket, 1, 7)",
            Dim::None => "CAST('' AS TEXT)",
            Dim::Commune => "commune_code",
            Dim::Province => "province_code",
            Dim::Gender => "gender",
            Dim::AgeBand => "age_band",
            Dim::Ethnicity => "ethnicity",
            Dim::TargetGroup | Dim::Topic => "facet_value",
            Dim::Team => "team_id",
            Dim::Language => "language",
            Dim::Month if pg => "to_char(day, 'YYYY-MM')",
            Dim::Month => "substr(day, 1, 7)",
        }
    }

    /// The measures a cell of this dimension can carry.
    pub fn measures(self) -> &'static [&'static str] {
        match self {
            Dim::Gender | Dim::AgeBand | Dim::Ethnicity | Dim::TargetGroup => PERSON_DIM_MEASURES,
            Dim::Topic | Dim::Team | Dim::Language => CLASS_MEASURES,
            _ => ALL,
        }
    }
}

/// Sums counters grouped by up to two dimensions (and the measure).
pub fn grouped(conn: &mut AnyConnection, source: &Source, scope: &Scope, f: &Filters, d1: Dim, d2: Dim) -> Result<Vec<Cell>, ApiError> {
    let facet = match (d1, d2, &f.topic) {
        (Dim::TargetGroup, Dim::Topic, _)
        | (Dim::Topic, Dim::TargetGroup, _)
        | (Dim::TargetGroup, _, Some(_))
        | (_, Dim::TargetGroup, Some(_)) => {
            return Err(error::validation(vec![FieldError::new(
                "by",
                "unsupported_combination",
                T::new("Không thể kết hợp nhóm đối tượng với chủ đề.", "Target groups cannot be combined with topics."),
            )]))
        }
        (Dim::TargetGroup, _, _) | (_, Dim::TargetGroup, _) => "target_group",
        (Dim::Topic, _, _) | (_, Dim::Topic, _) | (_, _, Some(_)) => "topic",
        _ => "",
    };
    // Without person or class dimensions, the rollups answer with a few rows per unit (or
    // per province) and period instead of every fact.
    let plain = |d: Dim| matches!(d, Dim::None | Dim::Commune | Dim::Province);
    let rollup = matches!(source, Source::Live) && plain(d1) && plain(d2) && f.campaign.is_none();
    let by_province = rollup && !matches!(scope, Scope::Commune(_)) && f.commune.is_none() && d1 != Dim::Commune && d2 != Dim::Commune;
    // Breakdowns by person dimensions, language, topic, target group or month of a province
    // or the country read the province rollup that keeps those dimensions.
    let dims_ok = |d: Dim| {
        matches!(
            d,
            Dim::None
                | Dim::Province
                | Dim::Gender
                | Dim::AgeBand
                | Dim::Ethnicity
                | Dim::Language
                | Dim::TargetGroup
                | Dim::Topic
                | Dim::Month
        )
    };
    let with_dims = matches!(source, Source::Live)
        && !(plain(d1) && plain(d2))
        && dims_ok(d1)
        && dims_ok(d2)
        && f.campaign.is_none()
        && !matches!(scope, Scope::Commune(_))
        && f.commune.is_none();
    let table = match source {
        Source::Live if with_dims => "stat_province_dims",
        Source::Live if by_province => "stat_province_buckets",
        Source::Live if rollup => "stat_commune_buckets",
        Source::Live => "stat_facts",
        Source::Closed(_) => "report_facts",
    };
    let windows = if table.starts_with("stat_") && table != "stat_facts" {
        rollup_windows(f.from, f.to)
    } else {
        vec![Window { grain: None, from: f.from, to: f.to }]
    };
    // Each window is one query; cells of the same key are summed.
    let mut sums: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for w in windows {
        for c in grouped_window(conn, table, &w, source, scope, f, facet, d1, d2)? {
            *sums.entry((c.k1, c.k2, c.measure)).or_default() += c.n;
        }
    }
    Ok(sums.into_iter().map(|((k1, k2, measure), n)| Cell { k1, k2, measure, n }).collect())
}

/// A part of a period answered by rollup rows of one grain (`h`: half-months, whose first
/// days lie in `from..=to`; `d`: days), or by the day-level table (`grain` none).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub grain: Option<&'static str>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

fn aligned(d: NaiveDate) -> bool {
    d.day() == 1 || d.day() == 15
}

/// Splits `from..=to` into the half-months it covers whole and the days at its edges.
pub fn rollup_windows(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<Window> {
    // First half-month start at or after `from`; last one at or before the day after `to`.
    let start = from.map(|d| if aligned(d) { d } else { next_boundary(d) });
    let end = to.and_then(|t| t.succ_opt()).map(|e| if aligned(e) { e } else { crate::stats::bucket(e) });
    let days = |from: Option<NaiveDate>, to: Option<NaiveDate>| Window { grain: Some("d"), from, to };
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            return vec![days(from, to)];
        }
    }
    let mut out = vec![];
    if let (Some(f), Some(s)) = (from, start) {
        if f < s {
            out.push(days(Some(f), s.pred_opt()));
        }
    }
    out.push(Window { grain: Some("h"), from: start, to: end.and_then(|e| e.pred_opt()) });
    if let (Some(t), Some(e)) = (to, end) {
        if e <= t {
            out.push(days(Some(e), Some(t)));
        }
    }
    out
}

fn next_boundary(d: NaiveDate) -> NaiveDate {
    if d.day() < 15 {
        d.with_day(15).unwrap_or(d)
    } else {
        let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
        NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
    }
}

/// One query: counters of `table` in one window, grouped by up to two dimensions.
#[allow(clippy::too_many_arguments)]
fn grouped_window(
    conn: &mut AnyConnection,
    table: &str,
    w: &Window,
    source: &Source,
    scope: &Scope,
    f: &Filters,
    facet: &str,
    d1: Dim,
    d2: Dim,
) -> Result<Vec<Cell>, ApiError> {
    let pg = matches!(conn, AnyConnection::Postgresql(_));
    let bucketed = w.grain.is_some();
    let day = if bucketed { "bucket" } else { "day" };
    let mut sql = format!(
        "SELECT {} AS k1, {} AS k2, measure, CAST(SUM(n) AS BIGINT) AS n FROM {table} WHERE facet = ?",
        d1.expr(pg, bucketed),
        d2.expr(pg, bucketed)
    );
    let mut binds = vec![Bind::Text(facet.to_owned())];
    if let Some(g) = w.grain {
        sql.push_str(" AND grain = ?");
        binds.push(Bind::Text(g.to_owned()));
    }
    if let Source::Closed(key) = source {
        sql.push_str(" AND report_key = ?");
        binds.push(Bind::Text(key.clone()));
    }
    match scope {
        Scope::Country => {}
        Scope::Province(p) => {
            sql.push_str(" AND province_code = ?");
            binds.push(Bind::Text(p.clone()));
        }
        Scope::Commune(c) => {
            sql.push_str(" AND commune_code = ?");
            binds.push(Bind::Text(c.clone()));
        }
    }
    let mut text = |sql: &mut String, col: &str, v: &Option<String>| {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            binds.push(Bind::Text(v.clone()));
        }
    };
    text(&mut sql, "province_code", &f.province);
    text(&mut sql, "commune_code", &f.commune);
    text(&mut sql, "facet_value", &f.topic);
    text(&mut sql, "campaign", &f.campaign);
    if let Some(d) = w.from {
        sql.push_str(&format!(" AND {day} >= ?"));
        binds.push(Bind::Date(d));
    }
    if let Some(d) = w.to {
        sql.push_str(&format!(" AND {day} <= ?"));
        binds.push(Bind::Date(d));
    }
    // Constants (an absent dimension) cannot appear in PostgreSQL's GROUP BY.
    let mut group: Vec<&str> = [d1, d2].iter().filter(|d| **d != Dim::None).map(|d| d.expr(pg, bucketed)).collect();
    group.push("measure");
    sql.push_str(&format!(" GROUP BY {}", group.join(", ")));
    macro_rules! exec {
        ($c:expr, $db:ty, $sql:expr) => {{
            let mut q = diesel::sql_query($sql).into_boxed::<$db>();
            for b in &binds {
                q = match b {
                    Bind::Text(s) => q.bind::<Text, _>(s.clone()),
                    Bind::Date(d) => q.bind::<Date, _>(*d),
                };
            }
            q.load::<Cell>($c)?
        }};
    }
    Ok(match conn {
        AnyConnection::Sqlite(c) => exec!(c, diesel::sqlite::Sqlite, sql),
        AnyConnection::Postgresql(c) => {
            let mut numbered = String::with_capacity(sql.len() + 16);
            let mut i = 0;
            for ch in sql.chars() {
                if ch == '?' {
                    i += 1;
                    numbered.push_str(&format!("${i}"));
                } else {
                    numbered.push(ch);
                }
            }
            exec!(c, diesel::pg::Pg, numbered)
        }
    })
}

/// Measures that a topic or campaign filter cannot apply to are unknown, not zero.
fn applicable(f: &Filters, names: &'static [&'static str]) -> Vec<&'static str> {
    if f.topic.is_some() || f.campaign.is_some() {
        names.iter().copied().filter(|m| CLASS_MEASURES.contains(m)).collect()
    } else {
        names.to_vec()
    }
}

/// Suppresses small person counts in `rows` for one measure at a time: every cell with
/// 1–4 people becomes null; when a measure then has exactly one suppressed cell among
/// several, the next smallest non-zero cell is suppressed too, so that no suppressed
/// value can be recovered by subtracting the visible cells from a published total.
/// Zero is shown (it describes nobody).
pub fn suppress(rows: &mut [&mut Measures]) {
    for m in PERSON_MEASURES {
        let mut small = 0;
        for r in rows.iter_mut() {
            if let Some(v) = r.get(m) {
                if v > 0 && v < MIN_CELL {
                    if let Some(s) = r.slot(m) {
                        *s = None;
                    }
                    r.suppressed.push((*m).to_owned());
                    small += 1;
                }
            }
        }
        if small == 1 && rows.len() > 1 {
            let mut best: Option<(i64, usize)> = None;
            for (i, r) in rows.iter_mut().enumerate() {
                if let Some(v) = r.get(m) {
                    if v > 0 && best.is_none_or(|(b, _)| v < b) {
                        best = Some((v, i));
                    }
                }
            }
            if let Some((_, i)) = best {
                if let Some(s) = rows[i].slot(m) {
                    *s = None;
                }
                rows[i].suppressed.push((*m).to_owned());
            }
        }
    }
}

fn suppresses(caller: &Caller) -> bool {
    caller.role() == Role::Analyst
}

/// The overview of the filters' area.
pub fn overview(conn: &mut AnyConnection, source: &Source, caller: &Caller, f: &Filters) -> Result<Measures, ApiError> {
    let cells = grouped(conn, source, caller.scope(), f, Dim::None, Dim::None)?;
    let mut m = Measures::zero(&applicable(f, ALL));
    for c in cells {
        m.add(&c.measure, c.n);
    }
    if suppresses(caller) {
        suppress(&mut [&mut m]);
    }
    m.finish();
    Ok(m)
}

/// One unit's row.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    /// `commune`, `ward`, `special_zone` or `province`.
    pub kind: String,
    #[serde(flatten)]
    pub measures: Measures,
    /// Adults living in the unit, when known.
    pub adult_population: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitTable {
    /// `commune` or `province`.
    pub level: String,
    pub units: Vec<UnitRow>,
    /// The whole area (as /stats/overview).
    pub total: Measures,
}

pub fn unit_table(conn: &mut AnyConnection, source: &Source, caller: &Caller, f: &Filters, level: Dim) -> Result<UnitTable, ApiError> {
    let cells = grouped(conn, source, caller.scope(), f, level, Dim::None)?;
    let names = applicable(f, ALL);
    let mut by_unit: HashMap<String, Measures> = HashMap::new();
    for c in cells {
        by_unit.entry(c.k1).or_insert_with(|| Measures::zero(&names)).add(&c.measure, c.n);
    }
    let populations: HashMap<String, i64> = unit_populations::table
        .select((unit_populations::code, unit_populations::adults))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    // The units of the area, also those with nothing recorded.
    let mut q = units::table.select((units::code, units::name, units::kind, units::province_code)).into_boxed();
    q = match caller.scope() {
        Scope::Country => q,
        Scope::Province(p) => q.filter(units::province_code.eq(p.clone())),
        Scope::Commune(c) => q.filter(units::code.eq(c.clone())),
    };
    if let Some(p) = &f.province {
        q = q.filter(units::province_code.eq(p.clone()));
    }
    if let Some(c) = &f.commune {
        q = q.filter(units::code.eq(c.clone()));
    }
    let unit_list: Vec<(String, String, String, String)> = q.order(units::code).load(conn)?;
    let mut rows: Vec<UnitRow> = Vec::new();
    if level == Dim::Province {
        let mut adults: BTreeMap<String, (i64, bool)> = BTreeMap::new();
        for (code, _, _, province) in &unit_list {
            let e = adults.entry(province.clone()).or_insert((0, true));
            match populations.get(code) {
                Some(n) => e.0 += n,
                None => e.1 = false,
            }
        }
        let names_of: HashMap<String, String> =
            provinces::table.select((provinces::code, provinces::name)).load(conn)?.into_iter().collect();
        for (code, (sum, complete)) in adults {
            rows.push(UnitRow {
                name: names_of.get(&code).cloned().unwrap_or_default(),
                kind: "province".into(),
                measures: by_unit.remove(&code).unwrap_or_else(|| Measures::zero(&names)),
                adult_population: complete.then_some(sum),
                code,
            });
        }
    } else {
        for (code, name, kind, _) in unit_list {
            rows.push(UnitRow {
                measures: by_unit.remove(&code).unwrap_or_else(|| Measures::zero(&names)),
                adult_population: populations.get(&code).copied(),
                code,
                name,
                kind,
            });
        }
    }
    let mut total = Measures::zero(&names);
    for r in &rows {
        for m in ALL {
            if let Some(v) = r.measures.clone().get(m) {
                total.add(m, v);
            }
        }
    }
    if suppresses(caller) {
        let mut refs: Vec<&mut Measures> = rows.iter_mut().map(|r| &mut r.measures).collect();
        suppress(&mut refs);
        suppress(&mut [&mut total]);
    }
    for r in &mut rows {
        r.measures.participation_rate = match (r.measures.trainees, r.adult_population) {
            (Some(t), Some(a)) if a > 0 => Some(((t as f64 / a as f64) * 10_000.0).round() / 10_000.0),
            _ => None,
        };
        r.measures.finish();
    }
    total.finish();
    Ok(UnitTable { level: level.name().to_owned(), units: rows, total })
}

/// One cell of a breakdown.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakdownCell {
    /// The cell's value of each dimension of `by` (e.g. `{"gender": "female", "age_band": "60+"}`).
    #[schema(value_type = Object)]
    pub key: BTreeMap<String, String>,
    #[serde(flatten)]
    pub measures: Measures,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Breakdown {
    pub by: Vec<String>,
    pub cells: Vec<BreakdownCell>,
    /// The whole area for the same measures.
    pub total: Measures,
}

pub fn breakdown(conn: &mut AnyConnection, source: &Source, caller: &Caller, f: &Filters, dims: &[Dim]) -> Result<Breakdown, ApiError> {
    let d1 = dims.first().copied().unwrap_or(Dim::None);
    let d2 = dims.get(1).copied().unwrap_or(Dim::None);
    // The measures both dimensions can carry.
    let names: Vec<&'static str> =
        applicable(f, d1.measures()).into_iter().filter(|m| d2 == Dim::None || d2.measures().contains(m)).collect();
    let cells = grouped(conn, source, caller.scope(), f, d1, d2)?;
    let mut by_key: BTreeMap<(String, String), Measures> = BTreeMap::new();
    for c in cells {
        if names.contains(&c.measure.as_str()) {
            by_key.entry((c.k1, c.k2)).or_insert_with(|| Measures::zero(&names)).add(&c.measure, c.n);
        }
    }
    // Totals come from base rows (a person in two target groups is one person).
    let mut total = Measures::zero(&names);
    for c in grouped(conn, source, caller.scope(), &Filters { topic: f.topic.clone(), ..f.clone() }, Dim::None, Dim::None)? {
        if names.contains(&c.measure.as_str()) {
            total.add(&c.measure, c.n);
        }
    }
    let mut cells: Vec<BreakdownCell> = by_key
        .into_iter()
        .map(|((k1, k2), measures)| {
            let mut key = BTreeMap::new();
            key.insert(d1.name().to_owned(), k1);
            if d2 != Dim::None {
                key.insert(d2.name().to_owned(), k2);
            }
            BreakdownCell { key, measures }
        })
        .collect();
    if suppresses(caller) || dims.contains(&Dim::Ethnicity) {
        let mut refs: Vec<&mut Measures> = cells.iter_mut().map(|c| &mut c.measures).collect();
        suppress(&mut refs);
        suppress(&mut [&mut total]);
    }
    for c in &mut cells {
        c.measures.finish();
    }
    total.finish();
    Ok(Breakdown { by: dims.iter().map(|d| d.name().to_owned()).collect(), cells, total })
}

// ---- HTTP ------------------------------------------------------------------------------------

/// Measures of the caller's scope (analysts, officers, admins).
#[utoipa::path(
    get, path = "/api/v1/stats/overview", tag = "stats", params(StatsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The measures; for analysts, counts of 1–4 people are null and named in `suppressed`", body = Measures),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Team members do not read statistics", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A province or commune outside the scope, or unknown", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad dates; a commune not in the province given", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_overview(state: web::Data<AppState>, caller: Caller, query: web::Query<StatsQuery>) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadStats, None, Access::Read)?;
    let f = query.check(&caller)?;
    let body = state
        .db
        .run(move |conn| {
            f.settle(conn, &caller)?;
            overview(conn, &Source::Live, &caller, &f)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitsQuery {
    /// `commune` (default within a province or commune) or `province` (default for the country).
    pub level: Option<String>,
}

/// One row per unit of the scope, with the same measures and the participation rate.
#[utoipa::path(
    get, path = "/api/v1/stats/units", tag = "stats", params(StatsQuery, UnitsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rows and the total", body = UnitTable),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Team members do not read statistics", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A province or commune outside the scope, or unknown", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad dates or level; a commune not in the province given", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_units(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StatsQuery>,
    level: web::Query<UnitsQuery>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadStats, None, Access::Read)?;
    let f = query.check(&caller)?;
    let level = parse_level(level.level.as_deref(), &caller)?;
    let body = state
        .db
        .run(move |conn| {
            f.settle(conn, &caller)?;
            unit_table(conn, &Source::Live, &caller, &f, level)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

pub fn parse_level(raw: Option<&str>, caller: &Caller) -> Result<Dim, ApiError> {
    match raw {
        None if matches!(caller.scope(), Scope::Country) => Ok(Dim::Province),
        None | Some("commune") => Ok(Dim::Commune),
        Some("province") => Ok(Dim::Province),
        Some(_) => Err(error::validation(vec![FieldError::new(
            "level",
            "invalid_choice",
            T::new("Giá trị phải là một trong: commune, province.", "Must be one of: commune, province."),
        )])),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    /// One or two of `gender`, `age_band`, `target_group`, `ethnicity`, `topic`, `team`,
    /// `language`, `month`, comma-separated.
    pub by: String,
}

pub fn parse_dims(raw: &str) -> Result<Vec<Dim>, ApiError> {
    let parts: Vec<&str> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let dims: Option<Vec<Dim>> = parts.iter().map(|p| Dim::parse(p)).collect();
    match dims {
        Some(d) if (1..=2).contains(&d.len()) && !(d.len() == 2 && d[0] == d[1]) => Ok(d),
        _ => Err(error::validation(vec![FieldError::new(
            "by",
            "invalid_dimensions",
            T::new(
                format!("Chọn một hoặc hai chiều khác nhau trong: {}.", BREAKDOWN_DIMS.join(", ")),
                format!("Choose one or two different dimensions of: {}.", BREAKDOWN_DIMS.join(", ")),
            ),
        )])),
    }
}

/// Measures broken down by one or two dimensions. Ethnicity is always suppressed below 5.
#[utoipa::path(
    get, path = "/api/v1/stats/breakdown", tag = "stats", params(StatsQuery, BreakdownQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cells and the total", body = Breakdown),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Team members do not read statistics", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A province or commune outside the scope, or unknown", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad dimensions or dates; a commune not in the province given", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_breakdown(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StatsQuery>,
    by: web::Query<BreakdownQuery>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadStats, None, Access::Read)?;
    let f = query.check(&caller)?;
    let dims = parse_dims(&by.by)?;
    let body = state
        .db
        .run(move |conn| {
            f.settle(conn, &caller)?;
            breakdown(conn, &Source::Live, &caller, &f, &dims)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// A unit's adult population.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"adults": 18450, "year": 2025, "source": "Cục Thống kê tỉnh Quảng Ngãi"}))]
pub struct Population {
    /// Adults (18 and over), 1–10,000,000.
    pub adults: i64,
    /// 2000–2100.
    pub year: i32,
    /// Where the figure comes from (1–300 characters).
    pub source: String,
}

/// Set a commune-level unit's adult population (admins).
#[utoipa::path(
    put, path = "/api/v1/units/{code}/population", tag = "stats", request_body = Population,
    params(("code" = String, Path, description = "Unit code (5 digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored", body = Population),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such unit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid figures", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_population(
    state: web::Data<AppState>,
    caller: Caller,
    meta: crate::http::RequestMeta,
    path: web::Path<String>,
    form: web::Json<Population>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ManageAccounts, None, Access::Write)?;
    let code = path.into_inner();
    let form = form.into_inner();
    let mut errors = Vec::new();
    if !(1..=10_000_000).contains(&form.adults) {
        errors.push(FieldError::new("adults", "range", T::new("Giá trị phải từ 1 đến 10.000.000.", "Must be between 1 and 10,000,000.")));
    }
    if !(2000..=2100).contains(&form.year) {
        errors.push(FieldError::new("year", "range", T::new("Năm phải từ 2000 đến 2100.", "The year must be between 2000 and 2100.")));
    }
    let source = records::required_text("source", &form.source, 300, &mut errors);
    records::fail_if_any(errors)?;
    let body = Population { adults: form.adults, year: form.year, source };
    let stored = state
        .db
        .run(move |conn| {
            records::in_write_tx(conn, &caller, &meta, |conn, w| {
                let exists: i64 = units::table.filter(units::code.eq(&code)).count().get_result(conn)?;
                if exists == 0 {
                    return Err(error::not_found());
                }
                let updated = diesel::update(unit_populations::table.find(&code))
                    .set((
                        unit_populations::adults.eq(body.adults),
                        unit_populations::year.eq(body.year),
                        unit_populations::source.eq(&body.source),
                        unit_populations::updated_at.eq(w.now),
                        unit_populations::updated_by.eq(&w.caller.user.id),
                    ))
                    .execute(conn)?;
                if updated == 0 {
                    diesel::insert_into(unit_populations::table)
                        .values((
                            unit_populations::code.eq(&code),
                            unit_populations::adults.eq(body.adults),
                            unit_populations::year.eq(body.year),
                            unit_populations::source.eq(&body.source),
                            unit_populations::updated_at.eq(w.now),
                            unit_populations::updated_by.eq(&w.caller.user.id),
                        ))
                        .execute(conn)?;
                }
                w.audit(conn, "set_population", "unit", &code, Some(&code), &["adults", "year", "source"])?;
                Ok(body)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }

    fn w(grain: &'static str, from: &str, to: &str) -> Window {
        Window { grain: Some(grain), from: d(from), to: d(to) }
    }

    #[test]
    fn periods_split_into_half_months_and_edge_days() {
        // On the boundaries: half-months only.
        assert_eq!(rollup_windows(d("2026-01-01"), d("2026-03-14")), vec![w("h", "2026-01-01", "2026-03-14")]);
        assert_eq!(rollup_windows(None, None), vec![Window { grain: Some("h"), from: None, to: None }]);
        // Off them: the edge days, and the half-months between.
        assert_eq!(
            rollup_windows(d("2026-01-10"), d("2026-04-20")),
            vec![w("d", "2026-01-10", "2026-01-14"), w("h", "2026-01-15", "2026-04-14"), w("d", "2026-04-15", "2026-04-20")]
        );
        assert_eq!(
            rollup_windows(d("2026-12-20"), None),
            vec![w("d", "2026-12-20", "2026-12-31"), Window { grain: Some("h"), from: d("2027-01-01"), to: None }]
        );
        assert_eq!(
            rollup_windows(None, d("2026-02-27")),
            vec![Window { grain: Some("h"), from: None, to: d("2026-02-14") }, w("d", "2026-02-15", "2026-02-27")]
        );
        // Within one half-month, or across one boundary without a whole half-month: days.
        assert_eq!(rollup_windows(d("2026-05-03"), d("2026-05-09")), vec![w("d", "2026-05-03", "2026-05-09")]);
        assert_eq!(rollup_windows(d("2026-05-20"), d("2026-05-20")), vec![w("d", "2026-05-20", "2026-05-20")]);
        assert_eq!(rollup_windows(d("2026-05-10"), d("2026-05-20")), vec![w("d", "2026-05-10", "2026-05-20")]);
        assert_eq!(rollup_windows(d("2026-05-15"), d("2026-05-31")), vec![w("h", "2026-05-15", "2026-05-31")]);
    }
}

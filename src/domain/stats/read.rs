//! Reading the stored counters: the sources (live rollups or a closed report's copy),
//! the dimensions a table can be split by, and the windows a period is summed from
//! (half-months plus edge days).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text};

use crate::access::caller::Caller;
use crate::access::policy::{Principal, Scope};
use crate::base::error::{self, ApiError, FieldError, Text as T};
use crate::store::db::AnyConnection;
use crate::store::schema::provinces;
use crate::store::values::BreakdownDim;

pub(super) const ALL: &[&str] = &[
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
pub(super) const CLASS_MEASURES: &[&str] = &[
    "classes_planned",
    "classes_ongoing",
    "classes_completed",
    "classes_cancelled",
    "sessions_held",
    "enrollments",
    "completions_passed",
    "completions_verified",
];

/// What a breakdown by team counts: the class measures, and the teams and members themselves.
pub(super) const TEAM_MEASURES: &[&str] = &[
    "teams_active",
    "team_members",
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
pub(super) const PERSON_DIM_MEASURES: &[&str] =
    &["trainees", "people_confirmed", "enrollments", "completions_passed", "completions_verified"];

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
        let Some(province) = crate::access::policy::province_of(conn, c)? else { return Err(error::not_found()) };
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
    /// The sum of the counted people's keys.
    #[diesel(sql_type = BigInt)]
    pub k: i64,
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

impl From<BreakdownDim> for Dim {
    fn from(d: BreakdownDim) -> Dim {
        match d {
            BreakdownDim::Gender => Dim::Gender,
            BreakdownDim::AgeBand => Dim::AgeBand,
            BreakdownDim::Ethnicity => Dim::Ethnicity,
            BreakdownDim::TargetGroup => Dim::TargetGroup,
            BreakdownDim::Topic => Dim::Topic,
            BreakdownDim::Team => Dim::Team,
            BreakdownDim::Language => Dim::Language,
            BreakdownDim::Month => Dim::Month,
        }
    }
}

impl Dim {
    /// The breakdown dimension this is, if it is one.
    pub fn breakdown(self) -> Option<BreakdownDim> {
        BreakdownDim::parse(self.name())
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
            Dim::Topic | Dim::Language => CLASS_MEASURES,
            // Teams and their members split by team too.
            Dim::Team => TEAM_MEASURES,
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
    let mut sums: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for w in windows {
        for c in grouped_window(conn, table, &w, source, scope, f, facet, d1, d2)? {
            let e = sums.entry((c.k1, c.k2, c.measure)).or_default();
            e.0 += c.n;
            e.1 += c.k;
        }
    }
    Ok(sums.into_iter().map(|((k1, k2, measure), (n, k))| Cell { k1, k2, measure, n, k }).collect())
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
    let end = to.and_then(|t| t.succ_opt()).map(|e| if aligned(e) { e } else { crate::domain::stats::bucket(e) });
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
        "SELECT {} AS k1, {} AS k2, measure, CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(k) AS BIGINT) AS k FROM {table} WHERE facet = ?",
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

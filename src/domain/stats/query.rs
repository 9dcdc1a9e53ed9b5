//! Statistics endpoints: `/stats/overview`, `/stats/units`, `/stats/breakdown` and the
//! adult population of units. Every number is a sum of counter rows (`stat_facts`, kept in
//! the write transaction by [`crate::domain::stats`]), grouped in SQL: a read never scans
//! trainees. Analysts read person counts perturbed by their cell keys
//! ([`crate::domain::stats::perturb`]); ethnicity cells under 5 are withheld for everyone
//! ([`suppress`]).

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Capability, Principal, Scope};
use crate::base::error::{self, ApiError, FieldError, Text as T};
use crate::domain::records;
use crate::domain::stats::perturb::CellKeys;
use crate::domain::stats::read::{grouped, Dim, Filters, Source, ALL, CLASS_MEASURES};
use crate::store::db::AnyConnection;
use crate::store::schema::{provinces, unit_populations, units};
use crate::store::values::Role;
use crate::store::values::{AreaKind, BreakdownDim, Choice, ClosedSet, UnitKind, UnitLevel};

/// Ethnicity cells describing fewer people than this are withheld.
pub const MIN_CELL: i64 = 5;

/// Measures that count people (perturbed for analysts; withheld when small by ethnicity).
pub const PERSON_MEASURES: &[&str] =
    &["trainees", "people_confirmed", "enrollments", "completions_passed", "completions_verified", "team_members"];

/// Every measure a row carries. A measure the row's filter or dimension cannot split
/// (classes by gender, people by topic) is **absent**; a withheld one is absent too and
/// named in `suppressed` (docs/STATS.md). For analysts every person count is perturbed
/// (docs/STATS.md, "Protecting small counts"); counts of classes, sessions and teams are exact.
#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq)]
#[schema(example = json!({"teams_active": 12, "team_members": 58, "classes_total": 40, "classes_planned": 6, "classes_ongoing": 9, "classes_completed": 23, "classes_cancelled": 2, "sessions_held": 131, "trainees": 1204, "enrollments": 1390, "completions_passed": 951, "completions_verified": 820, "people_confirmed": 803, "completion_rate": 0.684, "verification_rate": 0.862, "participation_rate": 0.071, "suppressed": []}))]
pub struct Measures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teams_active: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_members: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes_planned: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes_ongoing: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes_completed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes_cancelled: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes_total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_held: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trainees: Option<i64>,
    /// Live, not dropped enrollments of classes that were not cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollments: Option<i64>,
    /// Passed completions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completions_passed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completions_verified: Option<i64>,
    /// People with a passed class completion or a platform certificate, each once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people_confirmed: Option<i64>,
    /// completions_passed / enrollments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_rate: Option<f64>,
    /// completions_verified / completions_passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_rate: Option<f64>,
    /// trainees / adult population, when the population is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participation_rate: Option<f64>,
    /// Measures withheld because they describe fewer than 5 people (ethnicity breakdowns).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<String>,
    /// The sums of the counted people's keys, per person measure (never shown).
    #[serde(skip)]
    key_sums: BTreeMap<&'static str, i64>,
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

    /// Adds `n` things whose keys sum to `k` to `measure`, if the row carries it.
    fn add(&mut self, measure: &str, n: i64, k: i64) {
        if let Some(Some(v)) = self.slot(measure) {
            *v += n;
            if let Some(name) = PERSON_MEASURES.iter().find(|m| **m == measure) {
                *self.key_sums.entry(name).or_default() += k;
            }
        }
    }

    /// Adds every count of `other` (with its key sums).
    fn absorb(&mut self, other: &Measures) {
        let mut other = other.clone();
        for m in ALL {
            if let Some(v) = other.get(m) {
                let k = other.key_sums.get(m).copied().unwrap_or(0);
                self.add(m, v, k);
            }
        }
    }

    /// Replaces every person count by the value an analyst reads: the true count moved by
    /// the perturbation its cell key looks up (each count on its own key, totals too).
    fn perturb(&mut self, keys: &CellKeys) {
        for m in PERSON_MEASURES {
            let k = self.key_sums.get(m).copied().unwrap_or(0);
            if let Some(Some(v)) = self.slot(m) {
                *v = keys.publish(*v, k);
            }
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

/// Measures that a topic or campaign filter cannot apply to are unknown, not zero.
fn applicable(f: &Filters, names: &'static [&'static str]) -> Vec<&'static str> {
    if f.topic.is_some() || f.campaign.is_some() {
        names.iter().copied().filter(|m| CLASS_MEASURES.contains(m)).collect()
    } else {
        names.to_vec()
    }
}

/// Withholds small person counts in `rows` for one measure at a time: every cell with
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

/// Analysts read perturbed person counts; officers and admins, who file the official
/// reports, read exact ones.
fn perturbs(caller: &Caller) -> bool {
    caller.role() == Role::Analyst
}

/// The overview of the filters' area.
pub fn overview(conn: &mut AnyConnection, source: &Source, caller: &Caller, keys: &CellKeys, f: &Filters) -> Result<Measures, ApiError> {
    let cells = grouped(conn, source, caller.scope(), f, Dim::None, Dim::None)?;
    let mut m = Measures::zero(&applicable(f, ALL));
    for c in cells {
        m.add(&c.measure, c.n, c.k);
    }
    if perturbs(caller) {
        m.perturb(keys);
    }
    m.finish();
    Ok(m)
}

/// One unit's row.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    pub kind: AreaKind,
    #[serde(flatten)]
    pub measures: Measures,
    /// Adults living in the unit, when known.
    pub adult_population: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitTable {
    pub level: UnitLevel,
    pub units: Vec<UnitRow>,
    /// The whole area (as /stats/overview).
    pub total: Measures,
}

pub fn unit_table(
    conn: &mut AnyConnection,
    source: &Source,
    caller: &Caller,
    keys: &CellKeys,
    f: &Filters,
    level: Dim,
) -> Result<UnitTable, ApiError> {
    let cells = grouped(conn, source, caller.scope(), f, level, Dim::None)?;
    let names = applicable(f, ALL);
    let mut by_unit: HashMap<String, Measures> = HashMap::new();
    for c in cells {
        by_unit.entry(c.k1).or_insert_with(|| Measures::zero(&names)).add(&c.measure, c.n, c.k);
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
    let unit_list: Vec<(String, String, UnitKind, String)> = q.order(units::code).load(conn)?;
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
                kind: AreaKind::Province,
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
                kind: kind.into(),
            });
        }
    }
    // The units partition the area: the total counts (and keys) are the rows' sums, and
    // the total is then perturbed on its own key, not summed from perturbed rows.
    let mut total = Measures::zero(&names);
    for r in &rows {
        total.absorb(&r.measures);
    }
    if perturbs(caller) {
        for r in &mut rows {
            r.measures.perturb(keys);
        }
        total.perturb(keys);
    }
    for r in &mut rows {
        r.measures.participation_rate = match (r.measures.trainees, r.adult_population) {
            (Some(t), Some(a)) if a > 0 => Some(((t as f64 / a as f64) * 10_000.0).round() / 10_000.0),
            _ => None,
        };
        r.measures.finish();
    }
    total.finish();
    let level = if level == Dim::Province { UnitLevel::Province } else { UnitLevel::Commune };
    Ok(UnitTable { level, units: rows, total })
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
    pub by: Vec<BreakdownDim>,
    pub cells: Vec<BreakdownCell>,
    /// The whole area for the same measures.
    pub total: Measures,
}

pub fn breakdown(
    conn: &mut AnyConnection,
    source: &Source,
    caller: &Caller,
    keys: &CellKeys,
    f: &Filters,
    dims: &[Dim],
) -> Result<Breakdown, ApiError> {
    let d1 = dims.first().copied().unwrap_or(Dim::None);
    let d2 = dims.get(1).copied().unwrap_or(Dim::None);
    // The measures both dimensions can carry.
    let names: Vec<&'static str> =
        applicable(f, d1.measures()).into_iter().filter(|m| d2 == Dim::None || d2.measures().contains(m)).collect();
    let cells = grouped(conn, source, caller.scope(), f, d1, d2)?;
    let mut by_key: BTreeMap<(String, String), Measures> = BTreeMap::new();
    for c in cells {
        if names.contains(&c.measure.as_str()) {
            by_key.entry((c.k1, c.k2)).or_insert_with(|| Measures::zero(&names)).add(&c.measure, c.n, c.k);
        }
    }
    // Totals come from base rows (a person in two target groups is one person).
    let mut total = Measures::zero(&names);
    for c in grouped(conn, source, caller.scope(), &Filters { topic: f.topic.clone(), ..f.clone() }, Dim::None, Dim::None)? {
        if names.contains(&c.measure.as_str()) {
            total.add(&c.measure, c.n, c.k);
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
    if perturbs(caller) {
        for c in &mut cells {
            c.measures.perturb(keys);
        }
        total.perturb(keys);
    }
    // Ethnicity is sensitive data: its small cells are withheld for every reader (for
    // analysts, by their published values).
    if dims.contains(&Dim::Ethnicity) {
        let mut refs: Vec<&mut Measures> = cells.iter_mut().map(|c| &mut c.measures).collect();
        suppress(&mut refs);
        suppress(&mut [&mut total]);
    }
    for c in &mut cells {
        c.measures.finish();
    }
    total.finish();
    Ok(Breakdown { by: dims.iter().filter_map(|d| d.breakdown()).collect(), cells, total })
}

// ---- the endpoints' domain ---------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitsQuery {
    /// Default: `commune` within a province or commune, `province` for the country.
    #[param(value_type = Option<UnitLevel>)]
    pub level: Option<Choice<UnitLevel>>,
}

pub fn parse_level(raw: Option<&Choice<UnitLevel>>, caller: &Caller) -> Result<Dim, ApiError> {
    let mut errors = Vec::new();
    let level = raw.map(|l| l.check("level", &mut errors));
    records::fail_if_any(errors)?;
    Ok(match level.flatten() {
        None if matches!(caller.scope(), Scope::Country) => Dim::Province,
        None | Some(UnitLevel::Commune) => Dim::Commune,
        Some(UnitLevel::Province) => Dim::Province,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    /// One or two different dimensions, comma-separated (`by=gender,age_band`).
    #[param(value_type = Vec<BreakdownDim>, style = Form, explode = false)]
    pub by: String,
}

pub fn parse_dims(raw: &str) -> Result<Vec<Dim>, ApiError> {
    let parts: Vec<&str> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let dims: Option<Vec<Dim>> = parts.iter().map(|p| BreakdownDim::parse(p).map(Dim::from)).collect();
    match dims {
        Some(d) if (1..=2).contains(&d.len()) && !(d.len() == 2 && d[0] == d[1]) => Ok(d),
        _ => Err(error::validation(vec![FieldError::new(
            "by",
            "invalid_dimensions",
            T::new(
                format!("Chọn một hoặc hai chiều khác nhau trong: {}.", BreakdownDim::listed()),
                format!("Choose one or two different dimensions of: {}.", BreakdownDim::listed()),
            ),
        )])),
    }
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

/// Measures of the caller's scope (analysts, officers, admins).
pub fn get_overview(conn: &mut AnyConnection, caller: &Caller, keys: &CellKeys, query: StatsQuery) -> Result<Measures, ApiError> {
    policy::authorize(caller, Capability::ReadStats, None, Access::Read)?;
    let f = query.check(caller)?;
    {
        f.settle(conn, caller)?;
        overview(conn, &Source::Live, caller, keys, &f)
    }
}

/// One row per unit of the scope, with the same measures and the participation rate.
pub fn get_units(
    conn: &mut AnyConnection,
    caller: &Caller,
    keys: &CellKeys,
    query: StatsQuery,
    level: UnitsQuery,
) -> Result<UnitTable, ApiError> {
    policy::authorize(caller, Capability::ReadStats, None, Access::Read)?;
    let f = query.check(caller)?;
    let level = parse_level(level.level.as_ref(), caller)?;
    {
        f.settle(conn, caller)?;
        unit_table(conn, &Source::Live, caller, keys, &f, level)
    }
}

/// Measures broken down by one or two dimensions. Ethnicity cells are withheld below 5.
pub fn get_breakdown(
    conn: &mut AnyConnection,
    caller: &Caller,
    keys: &CellKeys,
    query: StatsQuery,
    by: BreakdownQuery,
) -> Result<Breakdown, ApiError> {
    policy::authorize(caller, Capability::ReadStats, None, Access::Read)?;
    let f = query.check(caller)?;
    let dims = parse_dims(&by.by)?;
    {
        f.settle(conn, caller)?;
        breakdown(conn, &Source::Live, caller, keys, &f, &dims)
    }
}

/// Set a commune-level unit's adult population (admins).
pub fn put_population(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    form: Population,
) -> Result<Population, ApiError> {
    policy::authorize(caller, Capability::ManageAccounts, None, Access::Write)?;
    let code = path.to_owned();
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
    {
        records::in_write_tx(conn, caller, meta, |conn, w| {
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
    }
}

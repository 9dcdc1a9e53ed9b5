//! Reference data: Vietnam's 34 provinces and 3,321 commune-level units (in force since
//! 1 July 2025). The official lists are embedded from `reference/` and loaded on first
//! start; `hocvuso units import FILE.csv` upserts a newer list. Codes are text.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::base::text::fold;
use crate::store::db::{self, insert_chunked, AnyConnection};
use crate::store::schema::{provinces, units};

pub const PROVINCES_CSV: &str = include_str!("../../reference/vn-provinces.csv");
pub const UNITS_CSV: &str = include_str!("../../reference/vn-units.csv");

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = provinces, treat_none_as_default_value = false)]
struct NewProvince {
    code: String,
    name: String,
    kind: String,
    updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = units, treat_none_as_default_value = false)]
struct NewUnit {
    code: String,
    name: String,
    kind: String,
    province_code: String,
    search_name: String,
    updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Deserialize)]
struct CsvRow {
    code: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    province_code: Option<String>,
}

/// What an import changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub provinces_inserted: usize,
    pub provinces_updated: usize,
    pub units_inserted: usize,
    pub units_updated: usize,
    pub unchanged: usize,
}

/// Loads the embedded lists when the database has no provinces yet.
pub fn seed_if_empty(conn: &mut AnyConnection) -> Result<Option<ImportReport>, String> {
    let count: i64 = provinces::table.count().get_result(conn).map_err(|e| format!("reading provinces: {e}"))?;
    if count > 0 {
        return Ok(None);
    }
    let mut report = import_csv(conn, PROVINCES_CSV, None)?;
    let units = import_csv(conn, UNITS_CSV, None)?;
    report.units_inserted = units.units_inserted;
    Ok(Some(report))
}

/// Upserts the rows of a CSV file. The header says what it holds:
/// `code,name,type,province_code` — commune-level units; `code,name,type` with
/// `province` given — units of that province (the Quảng Ngãi file); `code,name,type`
/// with province types — provinces. The whole file is applied in one transaction or not
/// at all; the first bad row stops it with its line number.
pub fn import_csv(conn: &mut AnyConnection, csv_text: &str, province: Option<&str>) -> Result<ImportReport, String> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(csv_text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("cannot read the CSV header: {e}"))?.clone();
    let names: Vec<&str> = headers.iter().collect();
    if names.first() != Some(&"code") || names.get(1) != Some(&"name") || names.get(2) != Some(&"type") {
        return Err("the CSV header must be `code,name,type` or `code,name,type,province_code`".into());
    }
    let has_province_column = names.get(3) == Some(&"province_code");
    let mut rows: Vec<(usize, CsvRow)> = Vec::new();
    // Each row's own line in the file (where its record starts), right after blank lines
    // and multi-line quoted fields; a code twice is an error naming both lines.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| match e.position() {
            Some(p) => format!("line {}: {e}", line_at(csv_text, p.byte() as usize)),
            None => e.to_string(),
        })?;
        // From the byte offset: the reader's own line count misses skipped blank lines.
        let line = record.position().map(|p| line_at(csv_text, p.byte() as usize)).unwrap_or(0);
        let row: CsvRow = record.deserialize(Some(&headers)).map_err(|e| format!("line {line}: {e}"))?;
        if row.name.chars().any(char::is_control) {
            return Err(format!("line {line}: the name holds a control character (a line break inside quotes?)"));
        }
        if let Some(first) = seen.insert(row.code.clone(), line) {
            return Err(format!("lines {first} and {line} both have the code `{}`; a code may appear once", row.code));
        }
        rows.push((line, row));
    }
    if rows.is_empty() {
        return Err("the CSV file has no rows".into());
    }
    let is_province_list =
        !has_province_column && province.is_none() && rows.iter().all(|(_, r)| matches!(r.kind.as_str(), "province" | "municipality"));
    db::write_tx(conn, |conn| -> Result<ImportReport, ImportError> {
        Ok(if is_province_list { upsert_provinces(conn, &rows)? } else { upsert_units(conn, &rows, province)? })
    })
    .map_err(|e| e.0)
}

/// The 1-based line of the record that starts at a byte offset, blank lines included (the
/// reader gives the offset where it began looking, before the blank lines it skipped).
fn line_at(text: &str, byte: usize) -> usize {
    let bytes = text.as_bytes();
    let mut at = byte.min(bytes.len());
    while at < bytes.len() && matches!(bytes[at], b'\n' | b'\r') {
        at += 1;
    }
    1 + bytes[..at].iter().filter(|b| **b == b'\n').count()
}

/// An import failure message; also carries a failed BEGIN/COMMIT.
struct ImportError(String);

impl From<String> for ImportError {
    fn from(s: String) -> Self {
        ImportError(s)
    }
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        ImportError(format!("database: {e}"))
    }
}

fn upsert_provinces(conn: &mut AnyConnection, rows: &[(usize, CsvRow)]) -> Result<ImportReport, String> {
    let now = db::now();
    let existing: HashMap<String, (String, String)> = provinces::table
        .select((provinces::code, provinces::name, provinces::kind))
        .load::<(String, String, String)>(conn)
        .map_err(|e| format!("reading provinces: {e}"))?
        .into_iter()
        .map(|(c, n, k)| (c, (n, k)))
        .collect();
    let mut report = ImportReport::default();
    let mut new_rows = Vec::new();
    for (line, r) in rows {
        if r.code.len() != 2 || !r.code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("line {line}: province code `{}` must be 2 digits (keep the leading zero)", r.code));
        }
        if r.name.is_empty() {
            return Err(format!("line {line}: the name is empty"));
        }
        match existing.get(&r.code) {
            None => new_rows.push(NewProvince { code: r.code.clone(), name: r.name.clone(), kind: r.kind.clone(), updated_at: now }),
            Some((n, k)) if n == &r.name && k == &r.kind => report.unchanged += 1,
            Some(_) => {
                diesel::update(provinces::table.find(&r.code))
                    .set((provinces::name.eq(&r.name), provinces::kind.eq(&r.kind), provinces::updated_at.eq(now)))
                    .execute(conn)
                    .map_err(|e| format!("line {line}: {e}"))?;
                report.provinces_updated += 1;
            }
        }
    }
    report.provinces_inserted = (|| -> QueryResult<usize> { Ok(insert_chunked!(conn, provinces::table, new_rows)) })()
        .map_err(|e| format!("inserting provinces: {e}"))?;
    Ok(report)
}

fn upsert_units(conn: &mut AnyConnection, rows: &[(usize, CsvRow)], province: Option<&str>) -> Result<ImportReport, String> {
    let now = db::now();
    let known_provinces: Vec<String> =
        provinces::table.select(provinces::code).load(conn).map_err(|e| format!("reading provinces: {e}"))?;
    let existing: HashMap<String, (String, String, String)> = units::table
        .select((units::code, units::name, units::kind, units::province_code))
        .load::<(String, String, String, String)>(conn)
        .map_err(|e| format!("reading units: {e}"))?
        .into_iter()
        .map(|(c, n, k, p)| (c, (n, k, p)))
        .collect();
    let mut report = ImportReport::default();
    let mut new_rows = Vec::new();
    for (line, r) in rows {
        if r.code.len() != 5 || !r.code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("line {line}: unit code `{}` must be 5 digits (keep the leading zeros)", r.code));
        }
        if r.name.is_empty() {
            return Err(format!("line {line}: the name is empty"));
        }
        if !matches!(r.kind.as_str(), "commune" | "ward" | "special_zone") {
            return Err(format!("line {line}: type `{}` must be commune, ward or special_zone", r.kind));
        }
        let province_code = match (r.province_code.as_deref().filter(|p| !p.is_empty()), province) {
            (Some(p), _) => p.to_owned(),
            (None, Some(p)) => p.to_owned(),
            (None, None) => {
                return Err(format!("line {line}: no province_code column and no --province given; say which province the units belong to"))
            }
        };
        if !known_provinces.contains(&province_code) {
            return Err(format!("line {line}: unknown province code `{province_code}`; import the province list first (code,name,type)"));
        }
        match existing.get(&r.code) {
            None => new_rows.push(NewUnit {
                code: r.code.clone(),
                name: r.name.clone(),
                kind: r.kind.clone(),
                province_code,
                search_name: fold(&r.name),
                updated_at: now,
            }),
            Some((n, k, p)) if n == &r.name && k == &r.kind && p == &province_code => report.unchanged += 1,
            Some(_) => {
                diesel::update(units::table.find(&r.code))
                    .set((
                        units::name.eq(&r.name),
                        units::kind.eq(&r.kind),
                        units::province_code.eq(&province_code),
                        units::search_name.eq(fold(&r.name)),
                        units::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .map_err(|e| format!("line {line}: {e}"))?;
                report.units_updated += 1;
            }
        }
    }
    report.units_inserted =
        (|| -> QueryResult<usize> { Ok(insert_chunked!(conn, units::table, new_rows)) })().map_err(|e| format!("inserting units: {e}"))?;
    Ok(report)
}

// ---- reading units ------------------------------------------------------------------

use utoipa::{IntoParams, ToSchema};

use crate::access::caller::Caller;
use crate::access::policy::{Area, Principal};
use crate::base::error::{self, ApiError};
use crate::domain::records::{self, page_limit, Page, Position};
use crate::store::schema::{classes, hamlets, teams, trainees};
use crate::store::values::{Choice, UnitKind};

/// A commune-level unit (commune, ward or special zone).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "21025", "name": "Cẩm Thành", "kind": "ward", "province_code": "51", "province_name": "Quảng Ngãi"}))]
pub struct Unit {
    /// 5 digits, leading zeros kept.
    pub code: String,
    /// Short name without the "Xã"/"Phường"/"Đặc khu" prefix.
    pub name: String,
    pub kind: UnitKind,
    pub province_code: String,
    pub province_name: String,
}

/// A unit with the number of records in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDetail {
    #[serde(flatten)]
    pub unit: Unit,
    pub counts: UnitCounts,
}

/// Live (not deleted) records in a unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitCounts {
    pub hamlets: i64,
    pub teams: i64,
    pub active_teams: i64,
    pub classes: i64,
    /// Trainees recorded in the unit (not deleted or merged away).
    pub trainees: i64,
}

#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitQuery {
    /// Province code (2 digits).
    pub province: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<UnitKind>)]
    pub kind: Option<Choice<UnitKind>>,
    /// Name search without diacritics and with either tone-mark placement ("son ha" finds
    /// Sơn Hà and Sơn Hạ; "thuy" finds Thủy and Thuỷ). Ranked: the name itself first, then
    /// names that start with it, then names with a word that starts with it, then the rest;
    /// by code within each.
    pub q: Option<String>,
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

type UnitTuple = (String, String, UnitKind, String, String);

fn unit_view(t: &UnitTuple) -> Unit {
    Unit { code: t.0.clone(), name: t.1.clone(), kind: t.2, province_code: t.3.clone(), province_name: t.4.clone() }
}

/// Commune-level units of Vietnam (reference data; every signed-in role).
pub fn list_units(conn: &mut AnyConnection, q: UnitQuery) -> Result<Page<Unit>, ApiError> {
    let limit = page_limit(q.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(q.cursor.as_deref())?;
    let mut errors = Vec::new();
    let kind = q.kind.as_ref().map(|k| k.check("type", &mut errors));
    records::fail_if_any(errors)?;
    let kind = kind.map(records::valid).transpose()?;
    let mut query = units::table
        .inner_join(provinces::table)
        .select((units::code, units::name, units::kind, units::province_code, provinces::name))
        .into_boxed();
    if let Some(p) = q.province {
        query = query.filter(units::province_code.eq(p));
    }
    if let Some(k) = kind {
        query = query.filter(units::kind.eq(k));
    }
    let Some(text) = q.q.as_deref().map(fold).filter(|t| !t.is_empty()) else {
        if let Some(Position(code, _)) = after {
            query = query.filter(units::code.gt(code));
        }
        let rows: Vec<UnitTuple> = query.order(units::code).limit(limit + 1).load(conn)?;
        return records::page(rows, limit, |r| Position(r.0.clone(), String::new()), |r| Ok(unit_view(r)));
    };
    // `search_name` is stored folded, so a LIKE on it is diacritic-insensitive on both
    // backends; % and _ in the input are escaped. The matches of a name search are few
    // (a few hundred of 3,321 units at most), so they are ranked here, in memory, and the
    // cursor carries (code, rank).
    let pattern = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let mut rows: Vec<(u8, UnitTuple)> = query
        .filter(units::search_name.like(pattern).escape('\\'))
        .load::<UnitTuple>(conn)?
        .into_iter()
        .map(|r| (name_rank(&fold(&r.1), &text), r))
        .collect();
    rows.sort_by(|a, b| (a.0, &a.1 .0).cmp(&(b.0, &b.1 .0)));
    let start = match &after {
        Some(Position(code, rank)) => {
            let rank: u8 = rank.parse().unwrap_or(0);
            rows.iter().position(|(r, t)| (*r, t.0.as_str()) > (rank, code.as_str())).unwrap_or(rows.len())
        }
        None => 0,
    };
    let rows: Vec<(u8, UnitTuple)> = rows.into_iter().skip(start).take(limit as usize + 1).collect();
    records::page(rows, limit, |(rank, r)| Position(r.0.clone(), rank.to_string()), |(_, r)| Ok(unit_view(r)))
}

/// How well a folded name matches a folded search text: 0 the name itself, 1 the name
/// starts with it, 2 a word of the name starts with it, 3 it is inside a word.
fn name_rank(name: &str, text: &str) -> u8 {
    if name == text {
        0
    } else if name.starts_with(text) {
        1
    } else if name.match_indices(text).any(|(i, _)| i == 0 || name.as_bytes()[i - 1] == b' ') {
        2
    } else {
        3
    }
}

/// One unit, with the number of hamlets, teams, classes and trainees in it. Only inside the
/// caller's scope (404 otherwise): the counts describe people of the unit.
pub fn get_unit(conn: &mut AnyConnection, caller: &Caller, code: &str) -> Result<UnitDetail, ApiError> {
    let t: UnitTuple = units::table
        .inner_join(provinces::table)
        .filter(units::code.eq(code))
        .select((units::code, units::name, units::kind, units::province_code, provinces::name))
        .first(conn)?;
    let area = Area::Commune { code: t.0.clone(), province: t.3.clone() };
    if !caller.scope().covers(&area) {
        return Err(error::not_found());
    }
    let hamlets: i64 =
        hamlets::table.filter(hamlets::commune_code.eq(code)).filter(hamlets::deleted_at.is_null()).count().get_result(conn)?;
    let team_q = teams::table.filter(teams::commune_code.eq(code)).filter(teams::deleted_at.is_null());
    let teams_n: i64 = team_q.count().get_result(conn)?;
    let active: i64 = team_q.filter(teams::active.eq(true)).count().get_result(conn)?;
    let classes_n: i64 =
        classes::table.filter(classes::commune_code.eq(code)).filter(classes::deleted_at.is_null()).count().get_result(conn)?;
    let trainees_n: i64 =
        trainees::table.filter(trainees::commune_code.eq(code)).filter(trainees::deleted_at.is_null()).count().get_result(conn)?;
    Ok(UnitDetail {
        unit: unit_view(&t),
        counts: UnitCounts { hamlets, teams: teams_n, active_teams: active, classes: classes_n, trainees: trainees_n },
    })
}

//! Reference data: Vietnam's 34 provinces and 3,321 commune-level units (in force since
//! 1 July 2025). The official lists are embedded from `reference/` and loaded on first
//! start; `hocvuso units import FILE.csv` upserts a newer list. Codes are text.

use std::collections::HashMap;

use diesel::prelude::*;
use serde::Deserialize;

use crate::db::{self, AnyConnection};
use crate::schema::{provinces, units};
use crate::text::fold;

pub const PROVINCES_CSV: &str = include_str!("../reference/vn-provinces.csv");
pub const UNITS_CSV: &str = include_str!("../reference/vn-units.csv");

/// Inserts several rows with one statement per chunk. Multi-row `.values(&vec)` does not
/// compile through the MultiConnection, so this matches on the backend and runs the same
/// statement on the inner connection.
macro_rules! insert_chunked {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut n = 0usize;
        for chunk in $rows.chunks(500) {
            n += match $conn {
                AnyConnection::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c)?,
                AnyConnection::Postgresql(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?
                }
            };
        }
        n
    }};
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = provinces)]
struct NewProvince {
    code: String,
    name: String,
    kind: String,
    updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = units)]
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
    let count: i64 = provinces::table
        .count()
        .get_result(conn)
        .map_err(|e| format!("reading provinces: {e}"))?;
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
pub fn import_csv(
    conn: &mut AnyConnection,
    csv_text: &str,
    province: Option<&str>,
) -> Result<ImportReport, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the CSV header: {e}"))?
        .clone();
    let names: Vec<&str> = headers.iter().collect();
    if names.first() != Some(&"code")
        || names.get(1) != Some(&"name")
        || names.get(2) != Some(&"type")
    {
        return Err(
            "the CSV header must be `code,name,type` or `code,name,type,province_code`".into(),
        );
    }
    let has_province_column = names.get(3) == Some(&"province_code");
    let mut rows = Vec::new();
    for (i, record) in reader.deserialize::<CsvRow>().enumerate() {
        let line = i + 2;
        let row = record.map_err(|e| format!("line {line}: {e}"))?;
        rows.push((line, row));
    }
    if rows.is_empty() {
        return Err("the CSV file has no rows".into());
    }
    let is_province_list = !has_province_column
        && province.is_none()
        && rows
            .iter()
            .all(|(_, r)| matches!(r.kind.as_str(), "province" | "municipality"));
    db::write_tx(conn, |conn| -> Result<ImportReport, ImportError> {
        Ok(if is_province_list {
            upsert_provinces(conn, &rows)?
        } else {
            upsert_units(conn, &rows, province)?
        })
    })
    .map_err(|e| e.0)
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

fn upsert_provinces(
    conn: &mut AnyConnection,
    rows: &[(usize, CsvRow)],
) -> Result<ImportReport, String> {
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
            return Err(format!(
                "line {line}: province code `{}` must be 2 digits (keep the leading zero)",
                r.code
            ));
        }
        if r.name.is_empty() {
            return Err(format!("line {line}: the name is empty"));
        }
        match existing.get(&r.code) {
            None => new_rows.push(NewProvince {
                code: r.code.clone(),
                name: r.name.clone(),
                kind: r.kind.clone(),
                updated_at: now,
            }),
            Some((n, k)) if n == &r.name && k == &r.kind => report.unchanged += 1,
            Some(_) => {
                diesel::update(provinces::table.find(&r.code))
                    .set((
                        provinces::name.eq(&r.name),
                        provinces::kind.eq(&r.kind),
                        provinces::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .map_err(|e| format!("line {line}: {e}"))?;
                report.provinces_updated += 1;
            }
        }
    }
    report.provinces_inserted =
        (|| -> QueryResult<usize> { Ok(insert_chunked!(conn, provinces::table, new_rows)) })()
            .map_err(|e| format!("inserting provinces: {e}"))?;
    Ok(report)
}

fn upsert_units(
    conn: &mut AnyConnection,
    rows: &[(usize, CsvRow)],
    province: Option<&str>,
) -> Result<ImportReport, String> {
    let now = db::now();
    let known_provinces: Vec<String> = provinces::table
        .select(provinces::code)
        .load(conn)
        .map_err(|e| format!("reading provinces: {e}"))?;
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
            return Err(format!(
                "line {line}: unit code `{}` must be 5 digits (keep the leading zeros)",
                r.code
            ));
        }
        if r.name.is_empty() {
            return Err(format!("line {line}: the name is empty"));
        }
        if !matches!(r.kind.as_str(), "commune" | "ward" | "special_zone") {
            return Err(format!(
                "line {line}: type `{}` must be commune, ward or special_zone",
                r.kind
            ));
        }
        let province_code = match (r.province_code.as_deref().filter(|p| !p.is_empty()), province) {
            (Some(p), _) => p.to_owned(),
            (None, Some(p)) => p.to_owned(),
            (None, None) => {
                return Err(format!(
                    "line {line}: no province_code column and no --province given; say which province the units belong to"
                ))
            }
        };
        if !known_provinces.contains(&province_code) {
            return Err(format!(
                "line {line}: unknown province code `{province_code}`; import the province list first (code,name,type)"
            ));
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
            Some((n, k, p)) if n == &r.name && k == &r.kind && p == &province_code => {
                report.unchanged += 1
            }
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
        (|| -> QueryResult<usize> { Ok(insert_chunked!(conn, units::table, new_rows)) })()
            .map_err(|e| format!("inserting units: {e}"))?;
    Ok(report)
}

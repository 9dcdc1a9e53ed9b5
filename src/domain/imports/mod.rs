//! Roster import (docs/IMPORT.md): lists kept in Excel or typed from paper come in as one
//! XLSX sheet or CSV file per kind, are checked row by row and applied through the very
//! `*_in` functions of the REST endpoints (validation, scope, audit, statistics counters,
//! sync feed), in one write transaction per file.
//!
//! - **Dry run** (`dry_run=true`): the file runs exactly as a commit would, in a
//!   transaction that is rolled back; the report says what would happen.
//! - **All or nothing**: a file with a bad row applies nothing, unless `skip_invalid=true`,
//!   and then the report names every row skipped.
//! - **Safe to repeat**: a row carries its record's id (the export and the template have
//!   an id column) or gets one derived from the file: a keyed hash of the commune, the file
//!   name, the person's folded name and birth year (and which such person of the file it
//!   is). The same file again finds the same records; a corrected file updates them.
//!   An enrollment is matched by its class and trainee.
//! - **No copy of a person's data**: a stored report holds row numbers, columns, codes and
//!   record ids, never a name or a phone number, so erasure has nothing to chase in it.

pub mod columns;
mod lists;
pub mod sheet;
pub mod workbook;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Area, Capability, Principal, Scope};
use crate::base::config::Secret;
use crate::base::error::{self, ApiError, FieldError, Lang, Text};
use crate::base::text::fold;
use crate::domain::enrollments::{CompletionForm, NewEnrollment};
use crate::domain::records::{self, IfMatch, Write};
use crate::domain::trainees::{ConsentForm, NewTrainee, TraineePatch};
use crate::store::db::{self, AnyConnection};
use crate::store::rows::{EnrollmentRow, TraineeRow};
use crate::store::schema::{enrollments, hamlets, imports, trainees};
use crate::store::values::{
    Choice, CompletionResult, ConsentMethod, EnrollmentStatus, Evidence, Gender, ImportKind, ImportOutcome, TargetGroup,
};
use columns::Column;
pub use sheet::CsvEncoding;

/// An uploaded file and what to do with it.
pub struct Upload {
    pub kind: ImportKind,
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub dry_run: bool,
    pub skip_invalid: bool,
    pub encoding: CsvEncoding,
}

/// One problem of a row, in the response language.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RowProblem {
    /// The row number as the spreadsheet shows it.
    pub row: usize,
    /// The column's header as written in the file (absent for a problem of the whole row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The field (`birth_year`, `consent.basic`).
    pub field: String,
    /// A stable machine code (`range`, `required`, `invalid_choice`, `out_of_scope` …).
    pub code: String,
    pub message: String,
}

/// A person already recorded (or earlier in the file) who looks like the row's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RowWarning {
    pub row: usize,
    /// `possible_duplicate`.
    pub code: String,
    pub message: String,
    /// The look-alike's trainee id.
    pub trainee_id: String,
    /// `same_personal_id` or `same_name_birth_year_commune`.
    pub reason: String,
}

/// What happened (or would happen) to one row.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RowResult {
    pub row: usize,
    pub outcome: ImportOutcome,
    /// The record the row created or matched: the trainee, the enrollment (enrollment
    /// lists), the team (team lists) or the class (class lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The enrollment the row created or matched (trainee lists with a class).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment_id: Option<String>,
    /// The member the row created or matched (team lists; `id` is the team).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
}

/// The report of an import.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "6a1f0e52-3b7d-4c9e-8f21-0d4b5a6c7e8f", "kind": "trainees", "file_name": "hoc_vien_thon_1.xlsx",
    "dry_run": true, "applied": false, "format": "xlsx", "encoding": null, "sheet": "Học viên", "rows_read": 3, "created": 1,
    "updated": 1, "unchanged": 0, "skipped": 0, "failed": 1,
    "problems": [{"row": 4, "column": "Năm sinh (*)", "field": "birth_year", "code": "range", "message": "Năm sinh phải từ 1900 đến 2026."}],
    "warnings": [], "rows": [{"row": 2, "outcome": "created", "id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"},
    {"row": 3, "outcome": "updated", "id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55"}, {"row": 4, "outcome": "failed"}],
    "created_at": "2026-12-06T08:00:00Z", "created_by": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55"}))]
pub struct ImportReport {
    pub id: String,
    pub kind: ImportKind,
    pub file_name: String,
    pub dry_run: bool,
    /// True when the rows were written (a commit without errors, or with `skip_invalid`).
    pub applied: bool,
    /// `xlsx` or `csv`.
    pub format: String,
    /// The encoding a CSV file was read in.
    pub encoding: Option<String>,
    /// The sheet of a workbook that was read.
    pub sheet: Option<String>,
    /// Data rows read (rows that hold anything under the header).
    pub rows_read: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Bad rows left out of a commit with `skip_invalid=true`.
    pub skipped: usize,
    /// Bad rows (a commit without `skip_invalid` then applies nothing).
    pub failed: usize,
    pub problems: Vec<RowProblem>,
    pub warnings: Vec<RowWarning>,
    pub rows: Vec<RowResult>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

// ---- one row, read -------------------------------------------------------------------

/// The cells of one row, by column key.
struct Cells<'a> {
    number: usize,
    map: HashMap<&'static str, (&'a str, &'a str)>, // key → (value, header as written)
    problems: Vec<(Option<String>, FieldError)>,
}

impl<'a> Cells<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.map.get(key).map(|(v, _)| *v).filter(|v| !v.is_empty())
    }

    fn present(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn problem(&mut self, key: &str, code: &str, message: Text) {
        let header = self.map.get(key).map(|(_, h)| (*h).to_owned());
        self.problems.push((header, FieldError::new(key, code, message)));
    }

    fn choice<T: Copy>(&mut self, key: &str, labels: &[(T, &str, &str)], code: impl Fn(T) -> &'static str) -> Option<T> {
        let raw = self.get(key)?;
        match columns::label_value(labels, code, raw) {
            Some(v) => Some(v),
            None => {
                let allowed: Vec<&str> = labels.iter().map(|(_, vi, _)| *vi).collect();
                let allowed = allowed.join(" / ");
                self.problem(key, "invalid_choice", Text::new(format!("Chọn một trong: {allowed}."), format!("Choose one of: {allowed}.")));
                None
            }
        }
    }

    fn yes_no(&mut self, key: &str) -> Option<bool> {
        let raw = self.get(key)?;
        let v = columns::yes_no(raw);
        if v.is_none() {
            self.problem(key, "invalid_choice", Text::new("Ghi Có hoặc Không.", "Write Yes or No."));
        }
        v
    }

    fn date(&mut self, key: &str) -> Option<NaiveDate> {
        let raw = self.get(key)?;
        let v = parse_date(raw);
        if v.is_none() {
            self.problem(key, "invalid_date", Text::new("Ngày phải có dạng dd/mm/yyyy.", "A date must look like dd/mm/yyyy."));
        }
        v
    }

    fn year(&mut self, key: &str) -> Option<i32> {
        let raw = self.get(key)?;
        let v = raw.trim().parse::<i32>().ok().or_else(|| parse_date(raw).map(|d| chrono::Datelike::year(&d)));
        if v.is_none() {
            self.problem(key, "invalid_year", Text::new("Năm sinh phải là số có 4 chữ số.", "The birth year must be a 4-digit number."));
        }
        v
    }

    fn score(&mut self, key: &str) -> Option<f64> {
        let raw = self.get(key)?;
        let v = raw.trim().replace(',', ".").parse::<f64>().ok().filter(|f| f.is_finite());
        if v.is_none() {
            self.problem(key, "invalid_number", Text::new("Điểm phải là số.", "The score must be a number."));
        }
        v
    }

    fn required(&mut self, key: &str) -> Option<&'a str> {
        let v = self.get(key);
        if v.is_none() {
            self.problem(key, "required", Text::new("Bắt buộc.", "Required."));
        }
        v
    }
}

/// `dd/mm/yyyy`, `d/m/yyyy`, `dd-mm-yyyy`, `dd.mm.yyyy` or ISO `yyyy-mm-dd` (what the
/// reader makes of a date cell).
fn parse_date(raw: &str) -> Option<NaiveDate> {
    let t = raw.trim();
    let t = t.split('T').next().unwrap_or(t);
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .or_else(|| ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"].iter().find_map(|f| NaiveDate::parse_from_str(t, f).ok()))
}

/// A cell's text for a phone or ID number that Excel stored as a number and so lost its
/// leading zero (`912345678` → `0912345678`).
fn restore_leading_zero(raw: &str, digits: usize) -> String {
    let t = raw.trim();
    if t.len() < digits && t.len() + 2 >= digits && t.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}{t}", "0".repeat(digits - t.len()))
    } else {
        t.to_owned()
    }
}

/// Target groups separated by semicolons (or commas, where a label does not hold one).
fn target_groups(cells: &mut Cells<'_>) -> Option<Vec<TargetGroup>> {
    let raw = cells.get("target_groups")?;
    let mut out = Vec::new();
    let mut bad = false;
    for part in raw.split([';', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(g) = columns::label_value(columns::TARGET_GROUPS, TargetGroup::as_str, part) {
            out.push(g);
            continue;
        }
        for piece in part.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match columns::label_value(columns::TARGET_GROUPS, TargetGroup::as_str, piece) {
                Some(g) => out.push(g),
                None => bad = true,
            }
        }
    }
    if bad {
        cells.problem(
            "target_groups",
            "invalid_choice",
            Text::new(
                "Có nhóm đối tượng không có trong danh sách (xem trang Danh mục của tệp mẫu).",
                "A target group is not in the list (see the template's Lists sheet).",
            ),
        );
        return None;
    }
    out.sort_by_key(|g| g.as_str());
    out.dedup();
    Some(out)
}

/// The completion columns of a row.
struct CompletionCells {
    result: Option<CompletionResult>,
    evidence: Evidence,
    completed_on: Option<NaiveDate>,
    score: Option<f64>,
    override_reason: Option<String>,
}

fn completion_cells(cells: &mut Cells<'_>) -> CompletionCells {
    let result = cells.choice("result", columns::RESULTS, CompletionResult::as_str);
    let evidence = cells.choice("evidence", columns::EVIDENCE, Evidence::as_str).unwrap_or(Evidence::InClassAssessment);
    let completed_on = cells.date("completed_on");
    let score = cells.score("score");
    let override_reason = cells.get("override_reason").map(str::to_owned);
    if result.is_some() && completed_on.is_none() && cells.get("completed_on").is_none() {
        cells.problem(
            "completed_on",
            "required",
            Text::new("Cần ngày hoàn thành khi ghi kết quả.", "A completion date is needed with a result."),
        );
    }
    if result.is_none() && cells.get("result").is_none() && (completed_on.is_some() || score.is_some()) {
        cells.problem("result", "required", Text::new("Ghi kết quả (Đạt / Không đạt).", "Write the result (Passed / Failed)."));
    }
    CompletionCells { result, evidence, completed_on, score, override_reason }
}

// ---- the run ---------------------------------------------------------------------------

/// What the whole file needs to know while its rows run.
struct Context<'s> {
    secret: &'s Secret,
    file_key: String,
    /// Hamlets of the communes named, by (commune, folded name) and by id.
    hamlets_by_name: HashMap<(String, String), Vec<String>>,
    /// The caller's one commune, the default of an empty commune cell.
    default_commune: Option<String>,
    /// How many rows of each derived key came before (two people of the same name and
    /// birth year in one file are two people).
    seen: HashMap<String, usize>,
    /// The topic catalogue: (id, Vietnamese name, English name).
    topics: Vec<(String, String, String)>,
    /// Trainee ids of the file that no record had when the import began, and (class,
    /// trainee) pairs not enrolled then: looked up once for the whole file instead of once
    /// per row. An entry is used once (a second row with the same id asks the database).
    absent_trainees: std::cell::RefCell<HashSet<String>>,
    absent_enrollments: std::cell::RefCell<HashSet<(String, String)>>,
}

/// Imports a file: reads it, runs every row in one write transaction, and keeps the
/// report. Rolled back for a dry run, or when a row failed and `skip_invalid` is off.
pub fn import(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    secret: &Secret,
    upload: Upload,
    lang: Lang,
) -> Result<ImportReport, ApiError> {
    policy::authorize(caller, Capability::ImportRecords, None, Access::Write)?;
    let kind = upload.kind;
    let started = std::time::Instant::now();
    let table = sheet::read(&upload.bytes, upload.encoding, columns::sheet_names(kind), &|h| columns::find(kind, h).is_some())?;
    drop(upload.bytes);
    let layout = layout(kind, &table.headers)?;
    let file_name = clean_file_name(&upload.file_name);
    let mut report = ImportReport {
        id: db::new_id(),
        kind,
        file_name: file_name.clone(),
        dry_run: upload.dry_run,
        applied: false,
        format: table.format.to_owned(),
        encoding: table.encoding.map(str::to_owned),
        sheet: table.sheet.clone(),
        rows_read: table.rows.len(),
        created: 0,
        updated: 0,
        unchanged: 0,
        skipped: 0,
        failed: 0,
        problems: Vec::new(),
        warnings: Vec::new(),
        rows: Vec::new(),
        created_at: crate::base::time::utc(db::now()),
        created_by: caller.user.id.clone(),
    };
    if table.rows.is_empty() {
        return Err(error::unprocessable(
            "no_rows",
            Text::new("Tệp không có dòng dữ liệu nào dưới dòng tiêu đề.", "The file has no data rows under the header."),
        ));
    }
    let default_commune = match caller.scope() {
        Scope::Commune(c) => Some(c.clone()),
        _ => None,
    };
    let communes = named_communes(&table, &layout, default_commune.as_deref());
    let mut ctx = Context {
        secret,
        file_key: fold(&file_name),
        hamlets_by_name: hamlet_names(conn, &communes)?,
        default_commune,
        seen: HashMap::new(),
        topics: crate::store::schema::topics::table
            .filter(crate::store::schema::topics::retired_at.is_null())
            .select((crate::store::schema::topics::id, crate::store::schema::topics::name_vi, crate::store::schema::topics::name_en))
            .load(conn)?,
        absent_trainees: Default::default(),
        absent_enrollments: Default::default(),
    };
    // Rows as values the domain takes; a row with unreadable cells fails before the database.
    let mut rows: Vec<(usize, Result<RowPlan, CellProblems>)> = Vec::with_capacity(table.rows.len());
    for (number, cells) in &table.rows {
        let mut c = Cells { number: *number, map: HashMap::new(), problems: Vec::new() };
        for (i, col) in layout.iter().enumerate() {
            if let Some((col, header)) = col {
                let v = cells.get(i).map(String::as_str).unwrap_or("");
                c.map.insert(col.key, (v, header.as_str()));
            }
        }
        let plan = plan_row(&mut c, kind, &mut ctx);
        let number = c.number;
        rows.push((number, if c.problems.is_empty() { plan.ok_or_else(Vec::new) } else { Err(c.problems) }));
    }
    let apply = !upload.dry_run;
    let skip_invalid = upload.skip_invalid;
    let planned = started.elapsed();
    let outcome = run_rows(conn, caller, meta, &ctx, &rows, lang, apply, skip_invalid, &mut report)?;
    report.applied = outcome;
    tracing::info!(
        kind = kind.as_str(),
        rows = report.rows_read,
        dry_run = report.dry_run,
        applied = report.applied,
        read_ms = planned.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "import"
    );
    if !report.applied {
        // Nothing was written: the report alone is kept (and audited).
        db::write_tx(conn, |conn| -> Result<(), ApiError> {
            let mut w = Write::new(caller, meta);
            keep_report(conn, &mut w, caller, &report)?;
            w.finish(conn)
        })?;
    }
    Ok(report)
}

/// Fills the context's sets of absent trainees and enrollments for the rows of a trainee
/// list, with a query per 500 ids instead of one per row.
fn look_ahead(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    ctx: &Context<'_>,
    rows: &[(usize, Result<RowPlan, CellProblems>)],
) -> Result<(), ApiError> {
    let plans: Vec<&TraineePlan> = rows
        .iter()
        .filter_map(|(_, p)| match p {
            Ok(RowPlan::Trainee(t)) => Some(t.as_ref()),
            _ => None,
        })
        .collect();
    let ids: Vec<String> = plans.iter().map(|p| p.id.clone()).collect();
    let mut absent: HashSet<String> = ids.iter().cloned().collect();
    for chunk in ids.chunks(500) {
        let found: Vec<String> = trainees::table.filter(trainees::id.eq_any(chunk)).select(trainees::id).load(conn)?;
        for id in found {
            absent.remove(&id);
        }
    }
    let classes: Vec<String> = plans.iter().filter_map(|p| p.class_id.clone()).collect::<HashSet<_>>().into_iter().collect();
    let mut enrolled: HashSet<(String, String)> = HashSet::new();
    for chunk in classes.chunks(100) {
        let found: Vec<(String, String)> = enrollments::table
            .filter(enrollments::class_id.eq_any(chunk))
            .filter(enrollments::deleted_at.is_null())
            .filter(enrollments::status.eq(EnrollmentStatus::Enrolled))
            .select((enrollments::class_id, enrollments::trainee_id))
            .load(conn)?;
        enrolled.extend(found);
    }
    let pairs: HashSet<(String, String)> =
        plans.iter().filter_map(|p| p.class_id.clone().map(|c| (c, p.id.clone()))).filter(|pair| !enrolled.contains(pair)).collect();
    // The enrollments the rows would create, by the ids they would get.
    let new_enrollments: Vec<String> = pairs.iter().map(|(c, t)| derived_id(ctx.secret, &["enrollment", c, t])).collect();
    let mut absent_enrollments: HashSet<String> = new_enrollments.iter().cloned().collect();
    for chunk in new_enrollments.chunks(500) {
        let found: Vec<String> = enrollments::table.filter(enrollments::id.eq_any(chunk)).select(enrollments::id).load(conn)?;
        for id in found {
            absent_enrollments.remove(&id);
        }
    }
    w.note_absent("trainees", absent.iter().cloned());
    w.note_absent("enrollments", absent_enrollments);
    *ctx.absent_trainees.borrow_mut() = absent;
    *ctx.absent_enrollments.borrow_mut() = pairs;
    Ok(())
}

/// The file name as kept: its last path part, at most 200 characters, no control characters.
fn clean_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let name: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
    if name.trim().is_empty() {
        "upload".to_owned()
    } else {
        name.trim().to_owned()
    }
}

/// Which column each header names; refuses unknown, repeated and missing columns.
fn layout(kind: ImportKind, headers: &[String]) -> Result<Vec<Option<(&'static Column, String)>>, ApiError> {
    let mut unknown = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut repeated = Vec::new();
    let mut out = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        if h.trim().is_empty() {
            out.push(None);
            continue;
        }
        match columns::find(kind, h) {
            Some(c) if !seen.insert(c.key) => {
                repeated.push(h.clone());
                out.push(None);
            }
            Some(c) if c.read_only => out.push(None),
            Some(c) => out.push(Some((c, h.clone()))),
            None => {
                unknown.push(format!("{} ({})", h, sheet::column_letters(i)));
                out.push(None);
            }
        }
    }
    let missing: Vec<&str> = columns::columns(kind).iter().filter(|c| c.required && !seen.contains(c.key)).map(|c| c.vi).collect();
    if !unknown.is_empty() || !repeated.is_empty() || !missing.is_empty() {
        let named = |list: &[String]| list.join(", ");
        let missing: Vec<String> = missing.iter().map(|m| (*m).to_owned()).collect();
        let errors = [
            (named(&unknown), "unknown_column", "Cột không có trong tệp mẫu", "Columns not in the template"),
            (named(&repeated), "duplicate_column", "Cột bị lặp", "Repeated columns"),
            (named(&missing), "missing_column", "Thiếu cột bắt buộc", "Required columns missing"),
        ]
        .into_iter()
        .filter(|(list, ..)| !list.is_empty())
        .map(|(list, code, vi, en)| FieldError::new("columns", code, Text::new(format!("{vi}: {list}."), format!("{en}: {list}."))))
        .collect();
        let mut e = error::unprocessable(
            "invalid_columns",
            Text::new(
                "Tiêu đề cột không khớp tệp mẫu; không dòng nào được đọc.",
                "The column headers do not match the template; no row was read.",
            ),
        );
        e.errors = errors;
        return Err(e);
    }
    Ok(out)
}

/// The communes the rows name (for the hamlet lookup).
fn named_communes(table: &sheet::Table, layout: &[Option<(&'static Column, String)>], default: Option<&str>) -> Vec<String> {
    let at = layout.iter().position(|c| c.as_ref().is_some_and(|(c, _)| c.key == "commune_code"));
    let mut set: HashSet<String> = default.map(str::to_owned).into_iter().collect();
    if let Some(at) = at {
        for (_, cells) in &table.rows {
            if let Some(c) = cells.get(at).map(|c| c.trim()).filter(|c| !c.is_empty()) {
                set.insert(c.to_owned());
            }
        }
    }
    set.into_iter().collect()
}

fn hamlet_names(conn: &mut AnyConnection, communes: &[String]) -> Result<HashMap<(String, String), Vec<String>>, ApiError> {
    let mut out: HashMap<(String, String), Vec<String>> = HashMap::new();
    for chunk in communes.chunks(500) {
        let rows: Vec<(String, String, String)> = hamlets::table
            .filter(hamlets::commune_code.eq_any(chunk))
            .filter(hamlets::deleted_at.is_null())
            .select((hamlets::id, hamlets::commune_code, hamlets::name))
            .load(conn)?;
        for (id, commune, name) in rows {
            out.entry((commune, fold(&name))).or_default().push(id);
        }
    }
    Ok(out)
}

/// A row's problems found before the database: (the column as written, the problem).
type CellProblems = Vec<(Option<String>, FieldError)>;

/// A row ready for the domain.
enum RowPlan {
    Trainee(Box<TraineePlan>),
    Enrollment(EnrollmentPlan),
    Team(Box<lists::TeamPlan>),
    Class(Box<lists::ClassPlan>),
}

struct TraineePlan {
    /// The id named in the row, or derived from the file.
    id: String,
    named_id: bool,
    commune: String,
    hamlet: Option<Option<String>>,
    full_name: String,
    gender: Gender,
    birth_year: i32,
    phone: Option<Option<String>>,
    personal_id: Option<String>,
    ethnicity: Option<Option<String>>,
    consent_ethnicity: Option<bool>,
    target_groups: Option<Vec<TargetGroup>>,
    occupation: Option<Option<String>>,
    consent_method: ConsentMethod,
    consent_at: Option<DateTime<Utc>>,
    class_id: Option<String>,
    completion: CompletionCells,
}

struct EnrollmentPlan {
    class_id: String,
    trainee_id: Option<String>,
    by_name: Option<(String, i32)>,
    completion: CompletionCells,
}

fn uuid_cell(cells: &mut Cells<'_>, key: &str) -> Option<String> {
    let raw = cells.get(key)?;
    match uuid::Uuid::parse_str(raw.trim()) {
        Ok(u) => Some(u.to_string()),
        Err(_) => {
            cells.problem(
                key,
                "invalid_uuid",
                Text::new("Mã phải là UUID (sao chép từ hocvuso).", "An id must be a UUID (copy it from hocvuso)."),
            );
            None
        }
    }
}

/// An id derived from the file and the row (a keyed hash, so it tells nothing of the name
/// it was made from), shaped as a UUID.
fn derived_id(secret: &Secret, parts: &[&str]) -> String {
    let hex = crate::domain::privacy::id_hash(secret, &format!("import-row\n{}", parts.join("\n")));
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn plan_row(c: &mut Cells<'_>, kind: ImportKind, ctx: &mut Context<'_>) -> Option<RowPlan> {
    match kind {
        ImportKind::Trainees => plan_trainee(c, ctx).map(|p| RowPlan::Trainee(Box::new(p))),
        ImportKind::Enrollments => plan_enrollment(c).map(RowPlan::Enrollment),
        ImportKind::Teams => lists::plan_team(c, ctx).map(|p| RowPlan::Team(Box::new(p))),
        ImportKind::Classes => lists::plan_class(c, ctx).map(|p| RowPlan::Class(Box::new(p))),
    }
}

fn plan_trainee(c: &mut Cells<'_>, ctx: &mut Context<'_>) -> Option<TraineePlan> {
    let named = uuid_cell(c, "id");
    let commune = match c.get("commune_code") {
        Some(v) => Some(v.trim().to_owned()),
        None => ctx.default_commune.clone(),
    };
    if commune.is_none() {
        c.problem("commune_code", "required", Text::new("Cần mã xã/phường.", "The commune code is required."));
    }
    let full_name = c.required("full_name").map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "));
    let gender = c.choice("gender", columns::GENDERS, Gender::as_str);
    if c.get("gender").is_none() {
        c.required("gender");
    }
    let birth_year = if c.get("birth_year").is_some() { c.year("birth_year") } else { c.required("birth_year").and(None) };
    let phone = c.present("phone").then(|| c.get("phone").map(|p| restore_leading_zero(p, 10)));
    let personal_id = c.get("personal_id").map(|p| restore_leading_zero(p, 12));
    let ethnicity = if c.present("ethnicity") {
        match c.get("ethnicity") {
            None => Some(None),
            Some(raw) => match columns::ethnicity(raw) {
                Some(code) => Some(Some(code.to_owned())),
                None => {
                    c.problem(
                        "ethnicity",
                        "unknown_ethnicity",
                        Text::new("Không có dân tộc này trong danh mục 54 dân tộc.", "No such group among the 54 ethnic groups."),
                    );
                    None
                }
            },
        }
    } else {
        None
    };
    let consent_ethnicity = c.yes_no("consent_ethnicity");
    let groups =
        if c.present("target_groups") { target_groups(c).or_else(|| c.get("target_groups").is_none().then(Vec::new)) } else { None };
    let occupation = c.present("occupation").then(|| c.get("occupation").map(str::to_owned));
    let consent_basic = if c.get("consent_basic").is_some() { c.yes_no("consent_basic") } else { c.required("consent_basic").and(None) };
    if consent_basic == Some(false) {
        c.problem(
            "consent_basic",
            "consent_required",
            Text::new(
                "Chỉ nhập người đã đồng ý xử lý dữ liệu cá nhân.",
                "Only people who consented to the processing of their data can be imported.",
            ),
        );
    }
    let consent_method = if c.get("consent_method").is_some() {
        c.choice("consent_method", columns::CONSENT_METHODS, ConsentMethod::as_str)
    } else {
        c.required("consent_method").and(None)
    };
    let consent_at = c.date("consent_date").and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc());
    let class_id = uuid_cell(c, "class_id");
    let completion = completion_cells(c);
    if completion.result.is_some() && class_id.is_none() && c.get("class_id").is_none() {
        c.problem("class_id", "required", Text::new("Cần mã lớp để ghi kết quả.", "A class id is needed to record a result."));
    }
    if !c.problems.is_empty() {
        return None;
    }
    let (commune, full_name, gender, birth_year, consent_method) = (commune?, full_name?, gender?, birth_year?, consent_method?);
    let hamlet = lists::hamlet_of_row(c, ctx, &commune)?;
    let (id, named_id) = match named {
        Some(id) => (id, true),
        None => {
            let key = format!("{commune}\n{}\n{}\n{birth_year}", ctx.file_key, fold(&full_name));
            let n = ctx.seen.entry(key.clone()).or_insert(0);
            *n += 1;
            (derived_id(ctx.secret, &["trainee", &key, &n.to_string()]), false)
        }
    };
    Some(TraineePlan {
        id,
        named_id,
        commune,
        hamlet,
        full_name,
        gender,
        birth_year,
        phone,
        personal_id,
        ethnicity,
        consent_ethnicity,
        target_groups: groups,
        occupation,
        consent_method,
        consent_at,
        class_id,
        completion,
    })
}

fn plan_enrollment(c: &mut Cells<'_>) -> Option<EnrollmentPlan> {
    let class_id = if c.get("class_id").is_some() { uuid_cell(c, "class_id") } else { c.required("class_id").map(str::to_owned) };
    let trainee_id = uuid_cell(c, "trainee_id");
    let name = c.get("full_name").map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "));
    let year = if c.get("birth_year").is_some() { c.year("birth_year") } else { None };
    if trainee_id.is_none() && c.get("trainee_id").is_none() && (name.is_none() || year.is_none()) && c.problems.is_empty() {
        c.problem(
            "trainee_id",
            "required",
            Text::new("Cần mã học viên, hoặc Họ và tên cùng Năm sinh.", "A trainee id, or full name and birth year, is required."),
        );
    }
    let completion = completion_cells(c);
    if !c.problems.is_empty() {
        return None;
    }
    Some(EnrollmentPlan { class_id: class_id?, by_name: if trainee_id.is_none() { name.zip(year) } else { None }, trainee_id, completion })
}

/// Why an attempt at the rows was rolled back.
enum Attempt {
    NeedsSavepoints,
    RollBack,
    Failed(ApiError),
}

impl From<ApiError> for Attempt {
    fn from(e: ApiError) -> Self {
        Attempt::Failed(e)
    }
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Attempt::Failed(e.into())
    }
}

/// Runs the rows in one write transaction. Returns whether they were written. First
/// without a savepoint per row; when a row fails the attempt is rolled back and runs
/// again with one per row, so that each row's problems are its own.
#[allow(clippy::too_many_arguments)]
fn run_rows(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    ctx: &Context<'_>,
    rows: &[(usize, Result<RowPlan, CellProblems>)],
    lang: Lang,
    apply: bool,
    skip_invalid: bool,
    report: &mut ImportReport,
) -> Result<bool, ApiError> {
    let attempt = |conn: &mut AnyConnection, savepoints: bool, report: &mut ImportReport| {
        db::write_tx(conn, |conn| -> Result<bool, Attempt> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            report.problems.clear();
            report.warnings.clear();
            report.rows.clear();
            let mut state = lists::RunState::default();
            let mut created: Vec<(usize, TraineeRow)> = Vec::new();
            // Inside the transaction (after the write lock on PostgreSQL), so what it finds
            // absent stays absent until this write adds it.
            let t0 = std::time::Instant::now();
            look_ahead(conn, &mut w, ctx, rows)?;
            let mut failed = 0usize;
            for (number, plan) in rows {
                let number = *number;
                let plan = match plan {
                    Ok(p) => p,
                    Err(problems) => {
                        failed += 1;
                        for (column, e) in problems {
                            report.problems.push(row_problem(number, column.clone(), e, lang));
                        }
                        report.rows.push(RowResult {
                            row: number,
                            outcome: ImportOutcome::Failed,
                            id: None,
                            enrollment_id: None,
                            member_id: None,
                        });
                        continue;
                    }
                };
                let mark = w.mark();
                let ran = if savepoints {
                    conn.transaction(|conn| apply_row(conn, &mut w, ctx, &state, plan))
                } else {
                    apply_row(conn, &mut w, ctx, &state, plan)
                };
                match ran {
                    Ok(done) => {
                        if let Some(t) = done.created_trainee {
                            created.push((number, t));
                        }
                        if let Some((key, id)) = done.team_done {
                            state.teams_done.insert(key, id);
                        }
                        report.rows.push(RowResult {
                            row: number,
                            outcome: done.outcome,
                            id: Some(done.id),
                            enrollment_id: done.enrollment,
                            member_id: done.member,
                        });
                    }
                    Err(e) if e.is_server_error() => return Err(Attempt::Failed(e)),
                    Err(_) if !savepoints => return Err(Attempt::NeedsSavepoints),
                    Err(e) => {
                        w.rollback_to(mark);
                        failed += 1;
                        push_domain_problems(report, number, &e, lang);
                        report.rows.push(RowResult {
                            row: number,
                            outcome: ImportOutcome::Failed,
                            id: None,
                            enrollment_id: None,
                            member_id: None,
                        });
                    }
                }
            }
            let t_rows = t0.elapsed();
            // Look-alikes of the people created, with the API's duplicate rules, once all rows
            // are in (so two rows of the file that look alike point at each other).
            let probes: Vec<crate::domain::trainees::Probe<'_>> =
                created.iter().map(|(_, t)| crate::domain::trainees::Probe::of(t)).collect();
            let hints = crate::domain::trainees::duplicates_many(conn, caller, &probes)?;
            for ((number, _), found) in created.iter().zip(hints) {
                for d in found {
                    report.warnings.push(RowWarning {
                        row: *number,
                        code: "possible_duplicate".into(),
                        message: Text::new(
                            "Có thể trùng với người đã được ghi nhận (mã trong trainee_id); kiểm tra trước khi gộp.",
                            "May be the same person as one already recorded (id in trainee_id); check before merging.",
                        )
                        .get(lang)
                        .to_owned(),
                        trainee_id: d.id,
                        reason: d.reason,
                    });
                }
            }
            let t_dups = t0.elapsed();
            let count = |o: ImportOutcome| report.rows.iter().filter(|r| r.outcome == o).count();
            report.created = count(ImportOutcome::Created);
            report.updated = count(ImportOutcome::Updated);
            report.unchanged = count(ImportOutcome::Unchanged);
            let write = apply && (failed == 0 || skip_invalid);
            if write && failed > 0 {
                for r in report.rows.iter_mut().filter(|r| r.outcome == ImportOutcome::Failed) {
                    r.outcome = ImportOutcome::Skipped;
                }
                report.skipped = failed;
                report.failed = 0;
            } else {
                report.failed = failed;
                report.skipped = 0;
            }
            if !write {
                return Err(Attempt::RollBack);
            }
            report.applied = true;
            keep_report(conn, &mut w, caller, report)?;
            w.finish(conn)?;
            tracing::debug!(
                rows_ms = t_rows.as_millis() as u64,
                duplicates_ms = (t_dups - t_rows).as_millis() as u64,
                finish_ms = (t0.elapsed() - t_dups).as_millis() as u64,
                "import phases"
            );
            Ok(true)
        })
    };
    let first = attempt(conn, false, report);
    let result = match first {
        Err(Attempt::NeedsSavepoints) => attempt(conn, true, report),
        other => other,
    };
    match result {
        Ok(written) => Ok(written),
        Err(Attempt::RollBack) => Ok(false),
        Err(Attempt::Failed(e)) => Err(e),
        Err(Attempt::NeedsSavepoints) => Err(ApiError::internal("import: a row failed with savepoints on")),
    }
}

fn row_problem(row: usize, column: Option<String>, e: &FieldError, lang: Lang) -> RowProblem {
    RowProblem { row, column, field: e.field.clone(), code: e.code.clone(), message: e.message.get(lang).to_owned() }
}

/// A domain refusal of a row as problems: one per field it names, or one for the row.
fn push_domain_problems(report: &mut ImportReport, row: usize, e: &ApiError, lang: Lang) {
    if e.errors.is_empty() {
        report.problems.push(RowProblem {
            row,
            column: None,
            field: String::new(),
            code: e.code.to_owned(),
            message: e.detail.get(lang).to_owned(),
        });
    } else {
        for f in &e.errors {
            report.problems.push(row_problem(row, None, f, lang));
        }
    }
}

struct RowDone {
    outcome: ImportOutcome,
    id: String,
    enrollment: Option<String>,
    member: Option<String>,
    /// The trainee the row created (its look-alikes are looked for once the rows are in).
    created_trainee: Option<TraineeRow>,
    /// A team the row settled (its key in the file, its id).
    team_done: Option<(String, String)>,
}

fn apply_row(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    ctx: &Context<'_>,
    state: &lists::RunState,
    plan: &RowPlan,
) -> Result<RowDone, ApiError> {
    match plan {
        RowPlan::Trainee(p) => apply_trainee(conn, w, ctx, p),
        RowPlan::Enrollment(p) => apply_enrollment(conn, w, ctx, p),
        RowPlan::Team(p) => lists::apply_team(conn, w, state, p),
        RowPlan::Class(p) => lists::apply_class(conn, w, ctx, p),
    }
}

fn apply_trainee(conn: &mut AnyConnection, w: &mut Write<'_>, ctx: &Context<'_>, p: &TraineePlan) -> Result<RowDone, ApiError> {
    // Scope first: a row for another commune names the row, whatever else it holds.
    let area = w.unit(conn, "commune_code", &p.commune)?;
    policy::authorize(w.caller, Capability::ImportRecords, Some(&area), Access::Write)?;
    let known_absent = ctx.absent_trainees.borrow_mut().remove(&p.id);
    let existing: Option<TraineeRow> = if known_absent { None } else { trainees::table.find(&p.id).first(conn).optional()? };
    let mut outcome = ImportOutcome::Unchanged;
    let mut created = None;
    match existing {
        Some(row) if row.deleted_at.is_some() => return Err(error::gone_record()),
        Some(row) => {
            let patch = trainee_patch(ctx.secret, &row, p);
            if let Some(patch) = patch {
                crate::domain::trainees::update_in(conn, w, ctx.secret, &p.id, &IfMatch::version(row.version), patch)?;
                outcome = ImportOutcome::Updated;
            }
        }
        None if p.named_id => return Err(error::not_found()),
        None => {
            let form = NewTrainee {
                id: Some(p.id.clone()),
                commune_code: p.commune.clone(),
                hamlet_id: p.hamlet.clone().flatten(),
                full_name: p.full_name.clone(),
                gender: Choice::Known(p.gender),
                birth_year: p.birth_year,
                phone: p.phone.clone().flatten(),
                personal_id: p.personal_id.clone(),
                ethnicity_code: p.ethnicity.clone().flatten(),
                target_groups: p.target_groups.as_ref().map(|g| g.iter().map(|x| Choice::Known(*x)).collect()),
                occupation: p.occupation.clone().flatten(),
                consent: ConsentForm {
                    basic: true,
                    ethnicity: p.consent_ethnicity,
                    method: Choice::Known(p.consent_method),
                    obtained_at: p.consent_at,
                    obtained_by: None,
                },
            };
            let (_, row) = crate::domain::trainees::create_in(conn, w, ctx.secret, form)?;
            created = Some(row);
            outcome = ImportOutcome::Created;
        }
    }
    let mut enrollment = None;
    if let Some(class_id) = &p.class_id {
        let (eid, changed) = enroll(conn, w, ctx, class_id, &p.id, &p.completion)?;
        enrollment = Some(eid);
        if changed && outcome == ImportOutcome::Unchanged {
            outcome = ImportOutcome::Updated;
        }
    }
    Ok(RowDone { outcome, id: p.id.clone(), enrollment, member: None, created_trainee: created, team_done: None })
}

/// The changes a row makes to a stored trainee (`None` when it changes nothing). Empty
/// cells clear optional fields, except the personal ID number, which an export cannot
/// carry; columns the file does not have change nothing.
fn trainee_patch(secret: &Secret, row: &TraineeRow, p: &TraineePlan) -> Option<TraineePatch> {
    let mut patch = TraineePatch {
        commune_code: None,
        hamlet_id: None,
        full_name: None,
        gender: None,
        birth_year: None,
        phone: None,
        personal_id: None,
        ethnicity_code: None,
        consent_ethnicity: None,
        target_groups: None,
        occupation: None,
    };
    let mut any = false;
    if p.commune != row.commune_code {
        patch.commune_code = Some(p.commune.clone());
        any = true;
    }
    if let Some(h) = &p.hamlet {
        if *h != row.hamlet_id {
            patch.hamlet_id = Some(h.clone().unwrap_or_default());
            any = true;
        }
    }
    if p.full_name != row.full_name {
        patch.full_name = Some(p.full_name.clone());
        any = true;
    }
    if p.gender != row.gender {
        patch.gender = Some(Choice::Known(p.gender));
        any = true;
    }
    if p.birth_year != row.birth_year {
        patch.birth_year = Some(p.birth_year);
        any = true;
    }
    if let Some(phone) = &p.phone {
        let normalized = phone.as_deref().map(|v| crate::base::text::normalize_phone(v).unwrap_or_else(|| v.to_owned()));
        if normalized != row.phone {
            patch.phone = Some(phone.clone().unwrap_or_default());
            any = true;
        }
    }
    if let Some(pid) = &p.personal_id {
        let same = crate::domain::privacy::ReducedId::from_input(secret, pid).is_some_and(|r| Some(&r.hash) == row.id_hash.as_ref());
        if !same {
            patch.personal_id = Some(pid.clone());
            any = true;
        }
    }
    if let Some(consent) = p.consent_ethnicity {
        if consent != row.consent_ethnicity {
            patch.consent_ethnicity = Some(consent);
            any = true;
        }
    }
    if let Some(e) = &p.ethnicity {
        if *e != row.ethnicity_code {
            patch.ethnicity_code = Some(e.clone().unwrap_or_default());
            any = true;
        }
    }
    if let Some(groups) = &p.target_groups {
        let stored: Vec<TargetGroup> = serde_json::from_str(&row.target_groups).unwrap_or_default();
        if *groups != stored {
            patch.target_groups = Some(groups.iter().map(|g| Choice::Known(*g)).collect());
            any = true;
        }
    }
    if let Some(o) = &p.occupation {
        if records::optional_text(o.as_deref()) != row.occupation {
            patch.occupation = Some(o.clone().unwrap_or_default());
            any = true;
        }
    }
    any.then_some(patch)
}

/// Enrolls a trainee in a class (or finds the enrollment) and records the completion the
/// row gives. Returns the enrollment and whether anything was written.
fn enroll(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    ctx: &Context<'_>,
    class_id: &str,
    trainee_id: &str,
    completion: &CompletionCells,
) -> Result<(String, bool), ApiError> {
    let known_absent = ctx.absent_enrollments.borrow_mut().remove(&(class_id.to_owned(), trainee_id.to_owned()));
    let existing: Option<EnrollmentRow> = if known_absent {
        None
    } else {
        enrollments::table
            .filter(enrollments::class_id.eq(class_id))
            .filter(enrollments::trainee_id.eq(trainee_id))
            .filter(enrollments::deleted_at.is_null())
            .filter(enrollments::status.eq(EnrollmentStatus::Enrolled))
            .first(conn)
            .optional()?
    };
    let mut changed = false;
    let (eid, stored_result) = match existing {
        Some(e) => {
            // The enrollment's class must be one the importer may write to.
            crate::domain::classes::class_for_write(conn, w, class_id, Capability::RecordPersonData)?;
            (e.id.clone(), e.completion_result.map(|r| (r, e.completed_on, e.score)))
        }
        None => {
            let id = derived_id(ctx.secret, &["enrollment", class_id, trainee_id]);
            let form = NewEnrollment { id: Some(id), trainee_id: trainee_id.to_owned() };
            let (_, e, _) = crate::domain::enrollments::create_enrollment_in(conn, w, class_id.to_owned(), form)?;
            changed = true;
            (e.id, None)
        }
    };
    if let Some(result) = completion.result {
        match stored_result {
            Some((r, on, score))
                if r == result
                    && (completion.completed_on.is_none() || on == completion.completed_on)
                    && (completion.score.is_none() || score == completion.score) => {}
            Some(_) => {
                return Err(error::conflict(
                    "completion_exists",
                    Text::new(
                        "Lượt ghi danh đã có kết quả khác; không sửa kết quả bằng tệp nhập.",
                        "The enrollment already has a different completion; an import does not change it.",
                    ),
                ))
            }
            None => {
                let form = CompletionForm {
                    result: Choice::Known(result),
                    evidence: Choice::Known(completion.evidence),
                    completed_on: completion.completed_on.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
                    score: completion.score,
                    certificate_ref: None,
                    override_reason: completion.override_reason.clone(),
                };
                crate::domain::enrollments::record_completion_row_in(conn, w, eid.clone(), form)?;
                changed = true;
            }
        }
    }
    Ok((eid, changed))
}

fn apply_enrollment(conn: &mut AnyConnection, w: &mut Write<'_>, ctx: &Context<'_>, p: &EnrollmentPlan) -> Result<RowDone, ApiError> {
    let class = crate::domain::classes::class_for_write(conn, w, &p.class_id, Capability::RecordPersonData)?;
    let area = w.area(conn, &class.commune_code)?;
    policy::authorize(w.caller, Capability::ImportRecords, Some(&area), Access::Write)?;
    let trainee_id = match (&p.trainee_id, &p.by_name) {
        (Some(id), _) => id.clone(),
        (None, Some((name, year))) => {
            let found: Vec<String> = trainees::table
                .filter(trainees::commune_code.eq(&class.commune_code))
                .filter(trainees::search_name.eq(fold(name)))
                .filter(trainees::birth_year.eq(*year))
                .filter(trainees::deleted_at.is_null())
                .filter(trainees::erased_at.is_null())
                .select(trainees::id)
                .limit(2)
                .load(conn)?;
            match found.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(error::validation(vec![FieldError::new(
                        "trainee_id",
                        "unknown_trainee",
                        Text::new(
                            "Không tìm thấy người học này trong xã của lớp: nhập danh sách học viên trước.",
                            "No such trainee in the class's commune: import the trainees first.",
                        ),
                    )]))
                }
                _ => {
                    return Err(error::validation(vec![FieldError::new(
                        "trainee_id",
                        "ambiguous_trainee",
                        Text::new(
                            "Xã có nhiều người cùng họ tên và năm sinh: ghi mã học viên.",
                            "Several trainees of the commune share this name and birth year: write the trainee id.",
                        ),
                    )]))
                }
            }
        }
        (None, None) => return Err(records::unknown_reference("trainee_id")),
    };
    let (eid, changed) = enroll(conn, w, ctx, &p.class_id, &trainee_id, &p.completion)?;
    Ok(RowDone {
        outcome: if changed { ImportOutcome::Created } else { ImportOutcome::Unchanged },
        id: eid,
        enrollment: None,
        member: None,
        created_trainee: None,
        team_done: None,
    })
}

// ---- reports ---------------------------------------------------------------------------

/// Stores the report and audits the import (its file name and counts; never a row's data).
fn keep_report(conn: &mut AnyConnection, w: &mut Write<'_>, caller: &Caller, report: &ImportReport) -> Result<(), ApiError> {
    let (commune, province) = match caller.scope() {
        Scope::Country => (None, None),
        Scope::Province(p) => (None, Some(p.clone())),
        Scope::Commune(c) => (Some(c.clone()), w.province(conn, c)?),
    };
    let body = serde_json::to_string(report).map_err(|e| ApiError::internal(format!("import report: {e}")))?;
    diesel::insert_into(imports::table)
        .values((
            imports::id.eq(&report.id),
            imports::kind.eq(report.kind.as_str()),
            imports::file_name.eq(&report.file_name),
            imports::dry_run.eq(report.dry_run),
            imports::applied.eq(report.applied),
            imports::account_id.eq(&caller.user.id),
            imports::commune_code.eq(&commune),
            imports::province_code.eq(&province),
            imports::rows_read.eq(report.rows_read as i32),
            imports::created.eq(report.created as i32),
            imports::updated.eq(report.updated as i32),
            imports::unchanged.eq(report.unchanged as i32),
            imports::skipped.eq(report.skipped as i32),
            imports::failed.eq(report.failed as i32),
            imports::report.eq(body),
            imports::created_at.eq(w.now),
        ))
        .execute(conn)?;
    let action = if report.dry_run {
        "import_dry_run"
    } else if report.applied {
        "import"
    } else {
        "import_rejected"
    };
    let fields: Vec<String> = vec![
        format!("file_name={}", report.file_name),
        format!("kind={}", report.kind.as_str()),
        format!("rows_read={}", report.rows_read),
        format!("created={}", report.created),
        format!("updated={}", report.updated),
        format!("unchanged={}", report.unchanged),
        format!("skipped={}", report.skipped),
        format!("failed={}", report.failed),
    ];
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    match (&commune, &province) {
        (Some(c), _) => w.audit(conn, action, "import", &report.id, Some(c), &fields),
        (None, p) => w.audit_in_province(action, "import", &report.id, p.as_deref(), &fields),
    }
}

/// An import's report: to the account that made it, or to an officer or admin whose scope
/// holds the importer's.
pub fn get_import(conn: &mut AnyConnection, caller: &Caller, id: &str) -> Result<ImportReport, ApiError> {
    policy::authorize(caller, Capability::ImportRecords, None, Access::Read)?;
    let id = records::parse_uuid(id)?;
    let found: Option<(String, Option<String>, Option<String>, String)> = imports::table
        .find(&id)
        .select((imports::account_id, imports::commune_code, imports::province_code, imports::report))
        .first(conn)
        .optional()?;
    let Some((account, commune, province, body)) = found else { return Err(error::not_found()) };
    let visible = account == caller.user.id
        || match (commune, province) {
            (Some(c), _) => caller.scope().covers(&Area::of_commune(conn, &c)?),
            (None, Some(p)) => caller.scope().covers(&Area::Province(p)),
            (None, None) => caller.scope() == &Scope::Country,
        };
    if !visible {
        return Err(error::not_found());
    }
    serde_json::from_str(&body).map_err(|e| ApiError::internal(format!("stored import report: {e}")))
}

/// How long the report of an import is kept (the audit log keeps that it happened, with
/// its file name and counts, as long as it keeps everything else).
pub const REPORT_DAYS: i64 = 90;

/// Forgets the reports of imports older than [`REPORT_DAYS`].
pub fn purge(conn: &mut AnyConnection) -> Result<usize, ApiError> {
    let before = db::now() - chrono::Duration::days(REPORT_DAYS);
    Ok(diesel::delete(imports::table.filter(imports::created_at.lt(before))).execute(conn)?)
}

/// The trainee ids a report names as possible duplicates (for the access log).
pub fn duplicate_ids(report: &ImportReport) -> impl Iterator<Item = &str> {
    report.warnings.iter().map(|w| w.trainee_id.as_str())
}

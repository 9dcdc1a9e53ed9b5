//! Periodic reports (quarterly, 6-monthly, yearly): `GET /reports/{period}` with the
//! overview, the per-unit table and the breakdowns of the period's window, in JSON, CSV or
//! XLSX with Vietnamese headers; `POST /reports/{period}/close` freezes the counters of the
//! window (later edits in the field do not change a closed report) and
//! `POST /reports/{period}/reopen` (audited, with a reason) lets it follow them again.
//!
//! Windows follow the state reporting convention of Decree 09/2019/NĐ-CP: from the 15th
//! of the month before the period to the 14th of its last month (H1 2026 = 15/12/2025 →
//! 14/06/2026); `?calendar=true` gives calendar windows.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Date, Text};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Capability, Principal, Scope};
use crate::base::error::{self, ApiError, FieldError, Text as T};
use crate::base::time::utc;
use crate::domain::records;
use crate::domain::stats::perturb::CellKeys;
use crate::domain::stats::query::{self, Breakdown, Measures, UnitTable};
use crate::domain::stats::read::{Dim, Filters, Source};
use crate::store::db::{self, AnyConnection};
use crate::store::schema::report_snapshots as rs;
use crate::store::values::{Choice, ReportFormat, ReportStatus, UnitLevel};

/// A reporting period and its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub name: String,
    pub calendar: bool,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// `2026-Q1`…`2026-Q4`, `2026-H1`, `2026-H2` or `2026`.
    pub fn parse(raw: &str, calendar: bool) -> Option<Period> {
        let (year, part) = match raw.split_once('-') {
            Some((y, p)) => (y, Some(p)),
            None => (raw, None),
        };
        if year.len() != 4 {
            return None;
        }
        let year: i32 = year.parse().ok().filter(|y| (2000..=2100).contains(y))?;
        // First and last month of the period.
        let (first, last) = match part {
            None => (1, 12),
            Some("H1") => (1, 6),
            Some("H2") => (7, 12),
            Some("Q1") => (1, 3),
            Some("Q2") => (4, 6),
            Some("Q3") => (7, 9),
            Some("Q4") => (10, 12),
            Some(_) => return None,
        };
        let (from, to) = if calendar {
            let to =
                if last == 12 { NaiveDate::from_ymd_opt(year, 12, 31)? } else { NaiveDate::from_ymd_opt(year, last + 1, 1)?.pred_opt()? };
            (NaiveDate::from_ymd_opt(year, first, 1)?, to)
        } else {
            let from = if first == 1 { NaiveDate::from_ymd_opt(year - 1, 12, 15)? } else { NaiveDate::from_ymd_opt(year, first - 1, 15)? };
            (from, NaiveDate::from_ymd_opt(year, last, 14)?)
        };
        Some(Period { name: raw.to_owned(), calendar, from, to })
    }

    /// The key of this period's report of an area: the country's (`n:2026-H1`) or a
    /// province's (`p:51:2026-H1`); `:calendar` for the calendar window.
    pub fn key(&self, province: Option<&str>) -> String {
        let area = match province {
            Some(p) => format!("p:{p}"),
            None => "n".to_owned(),
        };
        if self.calendar {
            format!("{area}:{}:calendar", self.name)
        } else {
            format!("{area}:{}", self.name)
        }
    }
}

/// A periodic report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    pub period: String,
    /// Calendar window (`?calendar=true`) instead of the Decree 09 window.
    pub calendar: bool,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub status: ReportStatus,
    pub closed_at: Option<DateTime<Utc>>,
    /// When this copy was made (a report that is not closed changes with every write).
    pub generated_at: DateTime<Utc>,
    pub overview: Measures,
    pub units: UnitTable,
    /// Breakdowns: `gender,age_band`, `target_group`, `ethnicity`, `topic`, `language`.
    pub breakdowns: Vec<Breakdown>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Calendar window instead of the Decree 09/2019 window.
    pub calendar: Option<bool>,
    /// Default `json`, or what `Accept` asks for (`text/csv`, the XLSX media type).
    #[param(value_type = Option<ReportFormat>)]
    pub format: Option<Choice<ReportFormat>>,
    /// Rows per commune or per province (default: province for a national scope).
    #[param(value_type = Option<UnitLevel>)]
    pub level: Option<Choice<UnitLevel>>,
}

/// A period named in a path, or 422.
pub fn parse_period(raw: &str, calendar: bool) -> Result<Period, ApiError> {
    Period::parse(raw, calendar).ok_or_else(|| {
        error::validation(vec![FieldError::new(
            "period",
            "invalid_period",
            T::new("Kỳ báo cáo có dạng 2026-Q1…Q4, 2026-H1, 2026-H2 hoặc 2026.", "A period is 2026-Q1…Q4, 2026-H1, 2026-H2 or 2026."),
        )])
    })
}

type SnapshotRow = (String, Option<chrono::NaiveDateTime>);

fn snapshot(conn: &mut AnyConnection, key: &str) -> Result<Option<SnapshotRow>, ApiError> {
    Ok(rs::table.find(key).select((rs::status, rs::reopened_at)).first::<(String, Option<chrono::NaiveDateTime>)>(conn).optional()?)
}

/// Builds the report for the caller's scope.
pub fn build(conn: &mut AnyConnection, caller: &Caller, keys: &CellKeys, period: &Period, level: Dim) -> Result<Report, ApiError> {
    // Which report a reader reads: a province's (for a reader of the province or of one
    // of its communes) once its admins have closed it — and, after they reopened it, the
    // live counters again; until then the country's, which country-wide readers always
    // read. Each area's report is closed and reopened by that area's admins.
    let province = match caller.scope() {
        Scope::Country => None,
        Scope::Province(p) => Some(p.clone()),
        Scope::Commune(c) => crate::access::policy::province_of(conn, c)?,
    };
    let mut key = period.key(None);
    if let Some(p) = &province {
        let own = period.key(Some(p));
        if snapshot(conn, &own)?.is_some() {
            key = own;
        }
    }
    let closed: Option<chrono::NaiveDateTime> =
        rs::table.find(&key).filter(rs::status.eq("closed")).select(rs::closed_at).first(conn).optional()?;
    let source = if closed.is_some() { Source::Closed(key) } else { Source::Live };
    let f = Filters { from: Some(period.from), to: Some(period.to), ..Filters::default() };
    let overview = query::overview(conn, &source, caller, keys, &f)?;
    let units = query::unit_table(conn, &source, caller, keys, &f, level)?;
    let mut breakdowns = Vec::new();
    for dims in [&[Dim::Gender, Dim::AgeBand][..], &[Dim::TargetGroup], &[Dim::Ethnicity], &[Dim::Topic], &[Dim::Language]] {
        breakdowns.push(query::breakdown(conn, &source, caller, keys, &f, dims)?);
    }
    Ok(Report {
        period: period.name.clone(),
        calendar: period.calendar,
        from: period.from,
        to: period.to,
        status: if closed.is_some() { ReportStatus::Closed } else { ReportStatus::Open },
        closed_at: closed.map(utc),
        generated_at: utc(db::now()).with_nanosecond(0).unwrap_or_else(|| utc(db::now())),
        overview,
        units,
        breakdowns,
    })
}

/// The XLSX media type.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The format a report is asked for: `format=` wins over the `Accept` header.
pub fn format_of(accept: &str, q: Option<&Choice<ReportFormat>>) -> Result<ReportFormat, ApiError> {
    if let Some(q) = q {
        let mut errors = Vec::new();
        let format = q.check("format", &mut errors);
        records::fail_if_any(errors)?;
        return records::valid(format);
    }
    Ok(if accept.contains("text/csv") {
        ReportFormat::Csv
    } else if accept.contains(XLSX) {
        ReportFormat::Xlsx
    } else {
        ReportFormat::Json
    })
}

/// Column headers (Vietnamese) and the measures they show.
const COLUMNS: &[(&str, &str)] = &[
    ("Tổ công nghệ số đang hoạt động", "teams_active"),
    ("Thành viên tổ", "team_members"),
    ("Lớp đã lên kế hoạch", "classes_planned"),
    ("Lớp đang học", "classes_ongoing"),
    ("Lớp đã kết thúc", "classes_completed"),
    ("Lớp đã hủy", "classes_cancelled"),
    ("Tổng số lớp", "classes_total"),
    ("Buổi học đã tổ chức", "sessions_held"),
    ("Người học", "trainees"),
    ("Lượt ghi danh", "enrollments"),
    ("Hoàn thành (đạt)", "completions_passed"),
    ("Hoàn thành đã xác nhận", "completions_verified"),
    ("Người được công nhận", "people_confirmed"),
    ("Tỷ lệ hoàn thành", "completion_rate"),
    ("Tỷ lệ xác nhận", "verification_rate"),
];

/// A measure as a spreadsheet cell: a number, or empty (unknown or suppressed).
fn cell(v: &serde_json::Value, name: &str) -> Option<f64> {
    v.get(name).and_then(|x| x.as_f64())
}

fn values(m: &Measures) -> serde_json::Value {
    serde_json::to_value(m).unwrap_or_default()
}

/// The report as CSV (UTF-8, Vietnamese headers).
/// What a report file says about itself, in Vietnamese: the period and its window, whether
/// it is closed (final) or provisional, and when it was made (local time). The CSV's first
/// lines and the XLSX's first rows.
fn about(r: &Report) -> [(String, String); 4] {
    let local = |t: DateTime<Utc>| t.with_timezone(&crate::base::time::zone()).format("%d/%m/%Y %H:%M").to_string();
    let window = if r.calendar { "Năm dương lịch" } else { "Nghị định 09/2019/NĐ-CP" };
    [
        ("Báo cáo Bình dân học vụ số, kỳ".to_owned(), r.period.clone()),
        ("Khung thời gian".to_owned(), format!("{window}: {} – {}", r.from.format("%d/%m/%Y"), r.to.format("%d/%m/%Y"))),
        (
            "Trạng thái".to_owned(),
            match r.closed_at {
                Some(at) if r.status == ReportStatus::Closed => format!("Đã chốt lúc {}", local(at)),
                _ => "Tạm tính (chưa chốt, còn thay đổi)".to_owned(),
            },
        ),
        ("Thời điểm lập".to_owned(), local(r.generated_at)),
    ]
}

/// The report's file name, without extension: period, window (`nd09` or `lich`), closed
/// (`chot`) or provisional (`tam-tinh`), and the local time it was made, so two reports
/// of one period never download under the same name.
pub fn file_name(r: &Report) -> String {
    let made = r.generated_at.with_timezone(&crate::base::time::zone()).format("%Y%m%d-%H%M%S");
    let window = if r.calendar { "lich" } else { "nd09" };
    let state = if r.status == ReportStatus::Closed { "chot" } else { "tam-tinh" };
    format!("bao-cao-bdhvs-{}-{window}-{state}-{made}", r.period)
}

pub fn csv_body(r: &Report) -> Result<Vec<u8>, ApiError> {
    let fail = |e: csv::Error| ApiError::internal(format!("csv: {e}"));
    // What the file is, then a blank line, then the table.
    let mut preamble = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec()); // so that spreadsheet programs read UTF-8
    for (k, v) in about(r) {
        preamble.write_record([k, v]).map_err(fail)?;
    }
    let mut bytes = preamble.into_inner().map_err(|e| ApiError::internal(format!("csv: {e}")))?;
    bytes.push(b'\n');
    let mut w = csv::Writer::from_writer(bytes);
    let mut head = vec!["Mã đơn vị".to_owned(), "Tên đơn vị".to_owned(), "Loại".to_owned()];
    head.extend(COLUMNS.iter().map(|(h, _)| (*h).to_owned()));
    head.push("Dân số trưởng thành".into());
    head.push("Tỷ lệ tham gia".into());
    w.write_record(&head).map_err(fail)?;
    let num = |v: Option<f64>| v.map(|x| if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x}") }).unwrap_or_default();
    for u in &r.units.units {
        let mut row = vec![u.code.clone(), u.name.clone(), u.kind.to_string()];
        let v = values(&u.measures);
        row.extend(COLUMNS.iter().map(|(_, m)| num(cell(&v, m))));
        row.push(u.adult_population.map(|a| a.to_string()).unwrap_or_default());
        row.push(num(u.measures.participation_rate));
        w.write_record(&row).map_err(fail)?;
    }
    let mut total = vec![String::new(), "Tổng cộng".to_owned(), String::new()];
    let v = values(&r.units.total);
    total.extend(COLUMNS.iter().map(|(_, m)| num(cell(&v, m))));
    total.extend([String::new(), String::new()]);
    w.write_record(&total).map_err(fail)?;
    w.into_inner().map_err(|e| ApiError::internal(format!("csv: {e}")))
}

/// The report as an XLSX workbook (Vietnamese headers, a sheet per table).
pub fn xlsx_body(r: &Report) -> Result<Vec<u8>, ApiError> {
    use rust_xlsxwriter::{Format as XFormat, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| ApiError::internal(format!("xlsx: {e}"));
    let mut book = Workbook::new();
    let bold = XFormat::new().set_bold();
    let title = format!(
        "Báo cáo phong trào Bình dân học vụ số — kỳ {} ({} đến {}{})",
        r.period,
        r.from.format("%d/%m/%Y"),
        r.to.format("%d/%m/%Y"),
        if r.status == ReportStatus::Closed { ", đã chốt" } else { "" }
    );
    let note = "Ô để trống: số liệu dưới 5 người không được công bố, hoặc không áp dụng.";
    {
        let s = book.add_worksheet().set_name("Tổng quan").map_err(fail)?;
        s.write_string_with_format(0, 0, &title, &bold).map_err(fail)?;
        for (i, (k, v)) in about(r).iter().enumerate() {
            s.write_string(1 + i as u32, 0, k).map_err(fail)?;
            s.write_string(1 + i as u32, 1, v).map_err(fail)?;
        }
        s.write_string(5, 0, note).map_err(fail)?;
        let o = values(&r.overview);
        for (i, (h, m)) in COLUMNS.iter().enumerate() {
            let row = 7 + i as u32;
            s.write_string(row, 0, *h).map_err(fail)?;
            if let Some(v) = cell(&o, m) {
                s.write_number(row, 1, v).map_err(fail)?;
            }
        }
        s.set_column_width(0, 36).map_err(fail)?;
    }
    {
        let s = book.add_worksheet().set_name("Theo đơn vị").map_err(fail)?;
        let heads = ["Mã đơn vị", "Tên đơn vị", "Loại"]
            .into_iter()
            .chain(COLUMNS.iter().map(|(h, _)| *h))
            .chain(["Dân số trưởng thành", "Tỷ lệ tham gia"]);
        for (col, h) in heads.enumerate() {
            s.write_string_with_format(0, col as u16, h, &bold).map_err(fail)?;
        }
        let mut row = 1u32;
        for u in &r.units.units {
            s.write_string(row, 0, &u.code).map_err(fail)?;
            s.write_string(row, 1, &u.name).map_err(fail)?;
            s.write_string(row, 2, u.kind.as_str()).map_err(fail)?;
            let vals = values(&u.measures);
            for (i, (_, m)) in COLUMNS.iter().enumerate() {
                if let Some(v) = cell(&vals, m) {
                    s.write_number(row, 3 + i as u16, v).map_err(fail)?;
                }
            }
            let c = 3 + COLUMNS.len() as u16;
            if let Some(a) = u.adult_population {
                s.write_number(row, c, a as f64).map_err(fail)?;
            }
            if let Some(p) = u.measures.participation_rate {
                s.write_number(row, c + 1, p).map_err(fail)?;
            }
            row += 1;
        }
        s.write_string_with_format(row, 1, "Tổng cộng", &bold).map_err(fail)?;
        let t = values(&r.units.total);
        for (i, (_, m)) in COLUMNS.iter().enumerate() {
            if let Some(v) = cell(&t, m) {
                s.write_number(row, 3 + i as u16, v).map_err(fail)?;
            }
        }
    }
    for (b, name) in r.breakdowns.iter().zip(["Giới tính - độ tuổi", "Nhóm đối tượng", "Dân tộc", "Chủ đề", "Ngôn ngữ giảng dạy"])
    {
        let s = book.add_worksheet().set_name(name).map_err(fail)?;
        let mut col = 0u16;
        for d in &b.by {
            s.write_string_with_format(0, col, d.as_str(), &bold).map_err(fail)?;
            col += 1;
        }
        let first = col;
        for (h, _) in COLUMNS {
            s.write_string_with_format(0, col, *h, &bold).map_err(fail)?;
            col += 1;
        }
        for (i, c) in b.cells.iter().enumerate() {
            let row = 1 + i as u32;
            for (j, d) in b.by.iter().enumerate() {
                s.write_string(row, j as u16, c.key.get(d.as_str()).map(String::as_str).unwrap_or("")).map_err(fail)?;
            }
            let vals = values(&c.measures);
            for (k, (_, m)) in COLUMNS.iter().enumerate() {
                if let Some(v) = cell(&vals, m) {
                    s.write_number(row, first + k as u16, v).map_err(fail)?;
                }
            }
        }
    }
    book.save_to_buffer().map_err(fail)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CloseQuery {
    /// Close the calendar-window report instead of the Decree 09 one.
    pub calendar: Option<bool>,
}

/// The state of a report after closing or reopening.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"period": "2026-H1", "calendar": false, "from": "2025-12-15", "to": "2026-06-14", "status": "closed", "province": "51"}))]
pub struct ReportState {
    pub period: String,
    pub calendar: bool,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub status: ReportStatus,
    /// The province whose report this is; absent for the country's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
}

impl Period {
    fn state(&self, status: ReportStatus, province: Option<String>) -> ReportState {
        ReportState { period: self.name.clone(), calendar: self.calendar, from: self.from, to: self.to, status, province }
    }
}

/// Copies the counters of the window (of one province, or of the country) under `key`.
fn copy_window(conn: &mut AnyConnection, key: &str, from: NaiveDate, to: NaiveDate, province: Option<&str>) -> Result<(), ApiError> {
    let cols = "fact_key, commune_code, province_code, day, measure, facet, facet_value, gender, age_band, ethnicity, team_id, language, campaign, n, k";
    // The province filter matches every row for the country (`?` bound to '').
    let sql = format!(
        "INSERT INTO report_facts (report_key, {cols}) SELECT ?, {cols} FROM stat_facts \
         WHERE day >= ? AND day <= ? AND (n <> 0 OR k <> 0) AND (? = '' OR province_code = ?)"
    );
    let p = province.unwrap_or("");
    match conn {
        AnyConnection::Sqlite(c) => {
            diesel::sql_query(sql)
                .bind::<Text, _>(key)
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .bind::<Text, _>(p)
                .bind::<Text, _>(p)
                .execute(c)?;
        }
        AnyConnection::Postgresql(c) => {
            let mut sql = sql;
            for i in 1..=5 {
                sql = sql.replacen('?', &format!("${i}"), 1);
            }
            diesel::sql_query(sql)
                .bind::<Text, _>(key)
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .bind::<Text, _>(p)
                .bind::<Text, _>(p)
                .execute(c)?;
        }
    }
    Ok(())
}

/// The area whose report an admin closes or reopens: its province, or the country.
/// Closing is an admin's act for the area it answers for; a commune's admin files no
/// periodic report.
fn report_area(caller: &Caller) -> Result<Option<String>, ApiError> {
    match caller.scope() {
        Scope::Country => Ok(None),
        Scope::Province(p) => Ok(Some(p.clone())),
        Scope::Commune(_) => Err(error::forbidden()),
    }
}

/// Why a closed report is reopened.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Bổ sung số liệu phường Cẩm Thành"}))]
pub struct ReopenForm {
    /// 1–500 characters.
    pub reason: String,
}

/// The report of `period` for the caller's scope, at `level` (analysts, officers, admins).
pub fn get_report(
    conn: &mut AnyConnection,
    caller: &Caller,
    keys: &CellKeys,
    period: &Period,
    level: Option<&Choice<UnitLevel>>,
) -> Result<Report, ApiError> {
    policy::authorize(caller, Capability::ReadStats, None, Access::Read)?;
    let level = query::parse_level(level, caller)?;
    build(conn, caller, keys, period, level)
}

/// Close a report: freeze the counters of its window (admins).
pub fn close_report(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    query: CloseQuery,
) -> Result<ReportState, ApiError> {
    policy::authorize(caller, Capability::ManageAccounts, None, Access::Write)?;
    let area = report_area(caller)?;
    let period = parse_period(path, query.calendar.unwrap_or(false))?;
    {
        records::in_write_tx(conn, caller, meta, |conn, w| {
            let key = period.key(area.as_deref());
            match snapshot(conn, &key)? {
                Some((status, _)) if status == "closed" => {
                    return Err(error::conflict(
                        "report_closed",
                        T::new("Báo cáo kỳ này đã được chốt.", "The report of this period is already closed."),
                    ))
                }
                Some(_) => {
                    diesel::update(rs::table.find(&key))
                        .set((rs::status.eq("closed"), rs::closed_at.eq(w.now), rs::closed_by.eq(&w.caller.user.id)))
                        .execute(conn)?;
                }
                None => {
                    diesel::insert_into(rs::table)
                        .values((
                            rs::report_key.eq(&key),
                            rs::period.eq(&period.name),
                            rs::calendar.eq(period.calendar),
                            rs::from_day.eq(period.from),
                            rs::to_day.eq(period.to),
                            rs::status.eq("closed"),
                            rs::closed_at.eq(w.now),
                            rs::closed_by.eq(&w.caller.user.id),
                        ))
                        .execute(conn)?;
                }
            }
            copy_window(conn, &key, period.from, period.to, area.as_deref())?;
            // In the province's audit log when it is a province's report.
            w.audit_in_province("close_report", "report", &key, area.as_deref(), &["status"])?;
            Ok(period.state(ReportStatus::Closed, area.clone()))
        })
    }
}

/// Reopen a closed report (admins; audited): it follows the live counters again.
pub fn reopen_report(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    query: CloseQuery,
    form: ReopenForm,
) -> Result<ReportState, ApiError> {
    policy::authorize(caller, Capability::ManageAccounts, None, Access::Write)?;
    let area = report_area(caller)?;
    let period = parse_period(path, query.calendar.unwrap_or(false))?;
    let mut errors = Vec::new();
    let reason = records::required_text("reason", &form.reason, 500, &mut errors);
    records::fail_if_any(errors)?;
    {
        records::in_write_tx(conn, caller, meta, |conn, w| {
            let key = period.key(area.as_deref());
            if !matches!(snapshot(conn, &key)?, Some((s, _)) if s == "closed") {
                return Err(error::conflict(
                    "report_not_closed",
                    T::new("Báo cáo kỳ này chưa được chốt.", "The report of this period is not closed."),
                ));
            }
            diesel::delete(crate::store::schema::report_facts::table.filter(crate::store::schema::report_facts::report_key.eq(&key)))
                .execute(conn)?;
            diesel::update(rs::table.find(&key))
                .set((
                    rs::status.eq("reopened"),
                    rs::reopened_at.eq(Some(w.now)),
                    rs::reopened_by.eq(Some(&w.caller.user.id)),
                    rs::reopen_reason.eq(Some(&reason)),
                ))
                .execute(conn)?;
            w.audit_in_province("reopen_report", "report", &key, area.as_deref(), &["status", "reopen_reason"])?;
            Ok(period.state(ReportStatus::Open, area.clone()))
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    #[test]
    fn decree_09_and_calendar_windows() {
        let w = |p: &str, c: bool| Period::parse(p, c).map(|p| (p.from, p.to));
        assert_eq!(w("2026-H1", false), Some((d(2025, 12, 15), d(2026, 6, 14))));
        assert_eq!(w("2026-H2", false), Some((d(2026, 6, 15), d(2026, 12, 14))));
        assert_eq!(w("2026", false), Some((d(2025, 12, 15), d(2026, 12, 14))));
        assert_eq!(w("2026-Q1", false), Some((d(2025, 12, 15), d(2026, 3, 14))));
        assert_eq!(w("2026-Q3", false), Some((d(2026, 6, 15), d(2026, 9, 14))));
        assert_eq!(w("2026-Q1", true), Some((d(2026, 1, 1), d(2026, 3, 31))));
        assert_eq!(w("2026-Q2", true), Some((d(2026, 4, 1), d(2026, 6, 30))));
        assert_eq!(w("2026", true), Some((d(2026, 1, 1), d(2026, 12, 31))));
        for bad in ["2026-Q5", "26-Q1", "2026-", "abcd", "1999", "2026-h1"] {
            assert_eq!(w(bad, false), None, "{bad}");
        }
    }
}

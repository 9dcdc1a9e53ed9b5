//! The XLSX files hocvuso hands out: the template of each kind (the list sheet with its
//! headers and drop-down lists, an instruction sheet, a sheet of lists) and the export of
//! the trainees of a scope in the very same layout, so that a list exported, edited in
//! Excel and uploaded again updates the same records.

use diesel::prelude::*;
use rust_xlsxwriter::{DataValidation, DataValidationErrorStyle, Format, Formula, Workbook, Worksheet, XlsxError};

use crate::access::caller::Caller;
use crate::access::policy::{self, filter_to_scope, Access, Capability, Principal};
use crate::base::error::ApiError;
use crate::domain::imports::columns::{self, Column};
use crate::store::db::AnyConnection;
use crate::store::rows::TraineeRow;
use crate::store::schema::{hamlets, trainees, units};
use crate::store::values::ImportKind;

/// Rows of the list sheet that carry the drop-down lists.
const LIST_ROWS: u32 = 50_001;
const LISTS_SHEET: &str = "Danh mục";

fn fail(e: XlsxError) -> ApiError {
    ApiError::internal(format!("xlsx: {e}"))
}

/// The communes and hamlets the caller may import into, for the drop-down lists.
struct Places {
    communes: Vec<(String, String)>,
    hamlets: Vec<String>,
    /// Names of the topics of the catalogue (not retired).
    topics: Vec<String>,
}

fn places(conn: &mut AnyConnection, caller: &Caller) -> Result<Places, ApiError> {
    let scope = caller.scope().clone();
    let q = units::table.select((units::code, units::name)).order(units::code).into_boxed();
    let communes: Vec<(String, String)> = match &scope {
        policy::Scope::Country => Vec::new(), // 3,321 units: too many for a list; typed codes are checked
        policy::Scope::Province(p) => q.filter(units::province_code.eq(p.clone())).load(conn)?,
        policy::Scope::Commune(c) => q.filter(units::code.eq(c.clone())).load(conn)?,
    };
    let mut hamlet_names: Vec<String> = if communes.is_empty() {
        Vec::new()
    } else {
        let codes: Vec<String> = communes.iter().map(|(c, _)| c.clone()).collect();
        let mut names = Vec::new();
        for chunk in codes.chunks(500) {
            let found: Vec<String> = hamlets::table
                .filter(hamlets::commune_code.eq_any(chunk))
                .filter(hamlets::deleted_at.is_null())
                .select(hamlets::name)
                .load(conn)?;
            names.extend(found);
        }
        names
    };
    hamlet_names.sort();
    hamlet_names.dedup();
    let topics: Vec<String> = crate::store::schema::topics::table
        .filter(crate::store::schema::topics::retired_at.is_null())
        .order(crate::store::schema::topics::id)
        .select(crate::store::schema::topics::name_vi)
        .load(conn)?;
    Ok(Places { communes, hamlets: hamlet_names, topics })
}

/// The template of a kind, with the caller's communes and hamlets in its lists.
pub fn template(conn: &mut AnyConnection, caller: &Caller, kind: ImportKind) -> Result<Vec<u8>, ApiError> {
    policy::authorize(caller, Capability::ImportRecords, None, Access::Read)?;
    let places = places(conn, caller)?;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    list_sheet(sheet, kind, &places).map_err(fail)?;
    instructions(book.add_worksheet(), kind).map_err(fail)?;
    lists(book.add_worksheet(), &places).map_err(fail)?;
    book.save_to_buffer().map_err(fail)
}

/// The list sheet: headers, column formats and drop-down lists.
fn list_sheet(sheet: &mut Worksheet, kind: ImportKind, places: &Places) -> Result<(), XlsxError> {
    sheet.set_name(columns::sheet_names(kind)[0])?;
    let header = Format::new().set_bold().set_background_color("#DDEBF7").set_text_wrap();
    let required = Format::new().set_bold().set_background_color("#FCE4D6").set_text_wrap();
    let text = Format::new().set_num_format("@");
    for (i, c) in columns::columns(kind).iter().enumerate() {
        let col = i as u16;
        sheet.write_string_with_format(0, col, columns::template_header(c), if c.required { &required } else { &header })?;
        sheet.set_column_width(col, (c.vi.chars().count() as f64 + 4.0).clamp(12.0, 40.0))?;
        // Codes, phones and ID numbers as text, so Excel keeps their leading zeros.
        if matches!(
            c.key,
            "id" | "commune_code"
                | "phone"
                | "personal_id"
                | "personal_id_last4"
                | "class_id"
                | "trainee_id"
                | "team_id"
                | "member_id"
                | "member_phone"
        ) {
            sheet.set_column_format(col, &text)?;
        }
        if let Some(v) = validation(c, places)? {
            sheet.add_data_validation(1, col, LIST_ROWS, col, &v)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// The drop-down list of a column, when its values form a closed set (lists of the
/// "Danh mục" sheet, by range, as a list of more than 255 characters must be).
fn validation(c: &Column, places: &Places) -> Result<Option<DataValidation>, XlsxError> {
    let list_column = match c.key {
        "gender" => "A",
        "consent_basic" | "consent_ethnicity" | "interpreter_used" => "B",
        "consent_method" => "C",
        "result" => "D",
        "evidence" => "E",
        "target_groups" => "F",
        "ethnicity" => "G",
        "commune_code" if !places.communes.is_empty() => "H",
        "hamlet" if !places.hamlets.is_empty() => "J",
        "team_kind" => "K",
        "team_level" => "L",
        "member_role" => "M",
        "affiliation" => "N",
        "mode" => "O",
        "topics" if !places.topics.is_empty() => "P",
        _ => return Ok(None),
    };
    let len = match list_column {
        "A" => columns::GENDERS.len(),
        "B" => columns::YES_NO.len(),
        "C" => columns::CONSENT_METHODS.len(),
        "D" => columns::RESULTS.len(),
        "E" => columns::EVIDENCE.len(),
        "F" => columns::TARGET_GROUPS.len(),
        "G" => crate::domain::ethnicities::GROUPS.len(),
        "H" => places.communes.len(),
        "J" => places.hamlets.len(),
        "K" => columns::TEAM_KINDS.len(),
        "L" => columns::TEAM_LEVELS.len(),
        "M" => columns::MEMBER_ROLES.len(),
        "N" => columns::AFFILIATIONS.len(),
        "O" => columns::CLASS_MODES.len(),
        _ => places.topics.len(),
    };
    let range = format!("='{LISTS_SHEET}'!${list_column}$2:${list_column}${}", len + 1);
    let mut v = DataValidation::new().allow_list_formula(Formula::new(range));
    // Several target groups go in one cell, and a hamlet may also be given by id: the list
    // helps, it does not refuse.
    if matches!(c.key, "target_groups" | "hamlet" | "topics") {
        v = v.set_error_style(DataValidationErrorStyle::Information);
    }
    Ok(Some(v.set_input_title(c.vi)?.set_input_message(truncate(c.help_vi, 250))?))
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn instructions(sheet: &mut Worksheet, kind: ImportKind) -> Result<(), XlsxError> {
    sheet.set_name("Hướng dẫn")?;
    let bold = Format::new().set_bold();
    let wrap = Format::new().set_text_wrap();
    sheet.write_string_with_format(0, 0, "Cách điền / How to fill in", &bold)?;
    sheet.write_string(
        1,
        0,
        "Mỗi dòng của trang đầu là một bản ghi. Cột có (*) là bắt buộc. Tải lên với dry_run=true để kiểm tra trước; \
         tải lại cùng tệp không tạo bản ghi trùng. Xem docs/IMPORT.md.",
    )?;
    sheet.write_string(
        2,
        0,
        "One record per row of the first sheet. Columns marked (*) are required. Upload with dry_run=true to check first; \
         uploading the same file again creates nothing twice. See docs/IMPORT.md.",
    )?;
    for (i, h) in ["Cột", "Column", "Bắt buộc / Required", "Hướng dẫn", "Help"].iter().enumerate() {
        sheet.write_string_with_format(4, i as u16, *h, &bold)?;
    }
    for (i, c) in columns::columns(kind).iter().enumerate() {
        let row = 5 + i as u32;
        sheet.write_string(row, 0, c.vi)?;
        sheet.write_string(row, 1, c.en)?;
        sheet.write_string(row, 2, if c.required { "Có / Yes" } else { "" })?;
        sheet.write_string_with_format(row, 3, c.help_vi, &wrap)?;
        sheet.write_string_with_format(row, 4, c.help_en, &wrap)?;
    }
    sheet.set_column_width(0, 30)?;
    sheet.set_column_width(1, 24)?;
    sheet.set_column_width(2, 16)?;
    sheet.set_column_width(3, 60)?;
    sheet.set_column_width(4, 60)?;
    Ok(())
}

fn lists(sheet: &mut Worksheet, places: &Places) -> Result<(), XlsxError> {
    sheet.set_name(LISTS_SHEET)?;
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let heads = [
        "Giới tính",
        "Có/Không",
        "Hình thức đồng ý",
        "Kết quả",
        "Căn cứ",
        "Nhóm đối tượng",
        "Dân tộc",
        "Mã xã",
        "Tên xã",
        "Thôn/tổ",
        "Loại tổ",
        "Cấp tổ",
        "Vai trò",
        "Thành phần",
        "Hình thức học",
        "Chủ đề",
    ];
    for (i, h) in heads.iter().enumerate() {
        sheet.write_string_with_format(0, i as u16, *h, &bold)?;
    }
    let column = |sheet: &mut Worksheet, col: u16, values: &[&str]| -> Result<(), XlsxError> {
        for (i, v) in values.iter().enumerate() {
            sheet.write_string_with_format(1 + i as u32, col, *v, &text)?;
        }
        Ok(())
    };
    column(sheet, 0, &columns::GENDERS.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 1, &columns::YES_NO.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 2, &columns::CONSENT_METHODS.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 3, &columns::RESULTS.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 4, &columns::EVIDENCE.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 5, &columns::TARGET_GROUPS.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 6, &crate::domain::ethnicities::GROUPS.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 7, &places.communes.iter().map(|x| x.0.as_str()).collect::<Vec<_>>())?;
    column(sheet, 8, &places.communes.iter().map(|x| x.1.as_str()).collect::<Vec<_>>())?;
    column(sheet, 9, &places.hamlets.iter().map(String::as_str).collect::<Vec<_>>())?;
    column(sheet, 10, &columns::TEAM_KINDS.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 11, &columns::TEAM_LEVELS.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 12, &columns::MEMBER_ROLES.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 13, &columns::AFFILIATIONS.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 14, &columns::CLASS_MODES.iter().map(|x| x.1).collect::<Vec<_>>())?;
    column(sheet, 15, &places.topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    for c in 0..16u16 {
        sheet.set_column_width(c, 22)?;
    }
    Ok(())
}

/// Checks an export's optional commune against the caller's scope (404 outside it).
fn export_scope(conn: &mut AnyConnection, caller: &Caller, commune: Option<&str>) -> Result<policy::Scope, ApiError> {
    policy::authorize(caller, Capability::ImportRecords, None, Access::Read)?;
    if let Some(c) = commune {
        let area = crate::access::policy::Area::of_commune(conn, c).map_err(|_| crate::base::error::not_found())?;
        policy::authorize(caller, Capability::ImportRecords, Some(&area), Access::Read)?;
        return Ok(policy::Scope::Commune(c.to_owned()));
    }
    Ok(caller.scope().clone())
}

/// A workbook of a kind's list with `rows` (cells in the order of the kind's columns).
fn export_book(conn: &mut AnyConnection, caller: &Caller, kind: ImportKind, rows: &[Vec<String>]) -> Result<Vec<u8>, ApiError> {
    let places = places(conn, caller)?;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    list_sheet(sheet, kind, &places).map_err(fail)?;
    let text = Format::new().set_num_format("@");
    for (i, r) in rows.iter().enumerate() {
        for (c, value) in r.iter().enumerate() {
            if !value.is_empty() {
                sheet.write_string_with_format(1 + i as u32, c as u16, value, &text).map_err(fail)?;
            }
        }
    }
    instructions(book.add_worksheet(), kind).map_err(fail)?;
    lists(book.add_worksheet(), &places).map_err(fail)?;
    book.save_to_buffer().map_err(fail)
}

fn day(d: chrono::NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// Names by id, or the id where the name is not unique among `(group, name)` pairs.
fn names_or_ids(rows: Vec<(String, String, String)>) -> std::collections::HashMap<String, String> {
    let mut count: std::collections::HashMap<(String, String), usize> = std::collections::HashMap::new();
    for (_, group, name) in &rows {
        *count.entry((group.clone(), crate::base::text::fold(name))).or_default() += 1;
    }
    rows.into_iter()
        .map(|(id, group, name)| {
            let unique = count.get(&(group, crate::base::text::fold(&name))).copied().unwrap_or(0) == 1;
            (id.clone(), if unique { name } else { id })
        })
        .collect()
}

/// Hamlet names (or ids where a commune has two of one name) of the given communes.
fn hamlet_labels(conn: &mut AnyConnection, communes: &[String]) -> Result<std::collections::HashMap<String, String>, ApiError> {
    let mut rows = Vec::new();
    for chunk in communes.chunks(500) {
        let found: Vec<(String, String, String)> = hamlets::table
            .filter(hamlets::commune_code.eq_any(chunk))
            .filter(hamlets::deleted_at.is_null())
            .select((hamlets::id, hamlets::commune_code, hamlets::name))
            .load(conn)?;
        rows.extend(found);
    }
    Ok(names_or_ids(rows))
}

/// The teams of the caller's scope with their members, one row per member (a team without
/// members on a row of its own), in the team template's layout.
pub fn export_teams(conn: &mut AnyConnection, caller: &Caller, commune: Option<&str>) -> Result<(Vec<u8>, usize), ApiError> {
    use crate::store::rows::{MemberRow, TeamRow};
    use crate::store::schema::{team_members, teams};
    let scope = export_scope(conn, caller, commune)?;
    let q = teams::table.filter(teams::deleted_at.is_null()).into_boxed();
    let q = filter_to_scope!(q, teams::commune_code, &scope);
    let team_rows: Vec<TeamRow> = q.order((teams::commune_code, teams::name, teams::id)).load(conn)?;
    let ids: Vec<String> = team_rows.iter().map(|t| t.id.clone()).collect();
    let mut members: std::collections::HashMap<String, Vec<MemberRow>> = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let found: Vec<MemberRow> = team_members::table
            .filter(team_members::team_id.eq_any(chunk))
            .filter(team_members::deleted_at.is_null())
            .order((team_members::full_name, team_members::id))
            .load(conn)?;
        for m in found {
            members.entry(m.team_id.clone()).or_default().push(m);
        }
    }
    let communes: Vec<String> =
        team_rows.iter().map(|t| t.commune_code.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let hamlet_names = hamlet_labels(conn, &communes)?;
    let mut rows = Vec::new();
    let mut people = 0usize;
    for t in &team_rows {
        let list = members.remove(&t.id).unwrap_or_default();
        let team_cells = |m: Option<&MemberRow>| -> Vec<String> {
            columns::TEAM_COLUMNS
                .iter()
                .map(|col| match col.key {
                    "team_id" => t.id.clone(),
                    "commune_code" => t.commune_code.clone(),
                    "hamlet" => t.hamlet_id.as_ref().map(|h| hamlet_names.get(h).cloned().unwrap_or_else(|| h.clone())).unwrap_or_default(),
                    "team_name" => t.name.clone(),
                    "team_kind" => columns::label_of(columns::TEAM_KINDS, t.kind).to_owned(),
                    "team_level" => columns::label_of(columns::TEAM_LEVELS, t.level).to_owned(),
                    "decision_number" => t.decision_number.clone().unwrap_or_default(),
                    "decision_date" => t.decision_date.map(day).unwrap_or_default(),
                    "member_id" => m.map(|m| m.id.clone()).unwrap_or_default(),
                    "member_name" => m.map(|m| m.full_name.clone()).unwrap_or_default(),
                    "member_phone" => m.and_then(|m| m.phone.clone()).unwrap_or_default(),
                    "member_role" => m.map(|m| columns::label_of(columns::MEMBER_ROLES, m.role).to_owned()).unwrap_or_default(),
                    "affiliation" => m.map(|m| columns::label_of(columns::AFFILIATIONS, m.affiliation).to_owned()).unwrap_or_default(),
                    "joined_on" => m.and_then(|m| m.joined_on).map(day).unwrap_or_default(),
                    "left_on" => m.and_then(|m| m.left_on).map(day).unwrap_or_default(),
                    _ => String::new(),
                })
                .collect()
        };
        if list.is_empty() {
            rows.push(team_cells(None));
        }
        for m in &list {
            rows.push(team_cells(Some(m)));
            people += 1;
        }
    }
    Ok((export_book(conn, caller, ImportKind::Teams, &rows)?, people))
}

/// The classes of the caller's scope with the days of their sessions, one row per class,
/// in the class template's layout.
pub fn export_classes(conn: &mut AnyConnection, caller: &Caller, commune: Option<&str>) -> Result<(Vec<u8>, usize), ApiError> {
    use crate::store::rows::ClassRow;
    use crate::store::schema::{class_sessions, class_topics, classes, teams, topics};
    let scope = export_scope(conn, caller, commune)?;
    let q = classes::table.filter(classes::deleted_at.is_null()).into_boxed();
    let q = filter_to_scope!(q, classes::commune_code, &scope);
    let class_rows: Vec<ClassRow> = q.order((classes::commune_code, classes::start_date, classes::id)).load(conn)?;
    let ids: Vec<String> = class_rows.iter().map(|c| c.id.clone()).collect();
    let topic_names: std::collections::HashMap<String, String> =
        topics::table.select((topics::id, topics::name_vi)).load(conn)?.into_iter().collect();
    let mut class_topic: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    let mut sessions: std::collections::HashMap<String, Vec<chrono::NaiveDate>> = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        let links: Vec<(String, String)> = class_topics::table
            .filter(class_topics::class_id.eq_any(chunk))
            .select((class_topics::class_id, class_topics::topic_id))
            .load(conn)?;
        for (c, t) in links {
            class_topic.entry(c).or_default().push(topic_names.get(&t).cloned().unwrap_or(t));
        }
        let held: Vec<(String, chrono::NaiveDate)> = class_sessions::table
            .filter(class_sessions::class_id.eq_any(chunk))
            .filter(class_sessions::deleted_at.is_null())
            .order(class_sessions::held_on)
            .select((class_sessions::class_id, class_sessions::held_on))
            .load(conn)?;
        for (c, d) in held {
            sessions.entry(c).or_default().push(d);
        }
    }
    let communes: Vec<String> =
        class_rows.iter().map(|c| c.commune_code.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let hamlet_names = hamlet_labels(conn, &communes)?;
    let mut team_rows: Vec<(String, String, String)> = Vec::new();
    for chunk in communes.chunks(500) {
        let found: Vec<(String, String, String)> = teams::table
            .filter(teams::commune_code.eq_any(chunk))
            .filter(teams::deleted_at.is_null())
            .select((teams::id, teams::commune_code, teams::name))
            .load(conn)?;
        team_rows.extend(found);
    }
    let team_names = names_or_ids(team_rows);
    let rows: Vec<Vec<String>> = class_rows
        .iter()
        .map(|c| {
            columns::CLASS_COLUMNS
                .iter()
                .map(|col| match col.key {
                    "class_id" => c.id.clone(),
                    "commune_code" => c.commune_code.clone(),
                    "hamlet" => c.hamlet_id.as_ref().map(|h| hamlet_names.get(h).cloned().unwrap_or_else(|| h.clone())).unwrap_or_default(),
                    "team" => team_names.get(&c.team_id).cloned().unwrap_or_else(|| c.team_id.clone()),
                    "title" => c.title.clone(),
                    "topics" => class_topic.get(&c.id).map(|t| t.join("; ")).unwrap_or_default(),
                    "mode" => columns::label_of(columns::CLASS_MODES, c.mode).to_owned(),
                    "language" => c.language.clone(),
                    "interpreter_used" => columns::label_of(columns::YES_NO, c.interpreter_used).to_owned(),
                    "venue" => c.venue.clone().unwrap_or_default(),
                    "start_date" => day(c.start_date),
                    "end_date" => day(c.end_date),
                    "planned_sessions" => c.planned_sessions.to_string(),
                    "campaign" => c.campaign.clone().unwrap_or_default(),
                    "session_dates" => {
                        sessions.get(&c.id).map(|d| d.iter().map(|d| day(*d)).collect::<Vec<_>>().join("; ")).unwrap_or_default()
                    }
                    _ => String::new(),
                })
                .collect()
        })
        .collect();
    Ok((export_book(conn, caller, ImportKind::Classes, &rows)?, rows.len()))
}

/// The trainees of the caller's scope (or of one commune of it) in the template's layout:
/// ids filled in, the personal ID number left empty (only its last four are known), the
/// enrollment columns empty. Returns the workbook and the number of trainees in it.
pub fn export_trainees(conn: &mut AnyConnection, caller: &Caller, commune: Option<&str>) -> Result<(Vec<u8>, usize), ApiError> {
    policy::authorize(caller, Capability::ImportRecords, None, Access::Read)?;
    if let Some(c) = commune {
        let area = crate::access::policy::Area::of_commune(conn, c).map_err(|_| crate::base::error::not_found())?;
        policy::authorize(caller, Capability::ImportRecords, Some(&area), Access::Read)?;
    }
    let scope = caller.scope().clone();
    let q = trainees::table.filter(trainees::deleted_at.is_null()).filter(trainees::erased_at.is_null()).into_boxed();
    let q = filter_to_scope!(q, trainees::commune_code, &scope);
    let q = match commune {
        Some(c) => q.filter(trainees::commune_code.eq(c.to_owned())),
        None => q,
    };
    let rows: Vec<TraineeRow> = q.order((trainees::commune_code, trainees::search_name, trainees::id)).load(conn)?;
    let hamlet_ids: Vec<String> =
        rows.iter().filter_map(|r| r.hamlet_id.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    // A hamlet by its name, unless another hamlet of its commune has the same name.
    let mut hamlet_names = std::collections::HashMap::new();
    for chunk in hamlet_ids.chunks(500) {
        let found: Vec<(String, String, String)> =
            hamlets::table.filter(hamlets::id.eq_any(chunk)).select((hamlets::id, hamlets::commune_code, hamlets::name)).load(conn)?;
        for (id, commune, name) in found {
            let same: i64 = hamlets::table
                .filter(hamlets::commune_code.eq(&commune))
                .filter(hamlets::deleted_at.is_null())
                .filter(hamlets::search_name.eq(crate::base::text::fold(&name)))
                .count()
                .get_result(conn)?;
            hamlet_names.insert(id.clone(), if same > 1 { id } else { name });
        }
    }
    let places = places(conn, caller)?;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    list_sheet(sheet, ImportKind::Trainees, &places).map_err(fail)?;
    let text = Format::new().set_num_format("@");
    let date = |t: chrono::NaiveDateTime| t.date().format("%d/%m/%Y").to_string();
    for (i, r) in rows.iter().enumerate() {
        let row = 1 + i as u32;
        let groups: Vec<crate::store::values::TargetGroup> = serde_json::from_str(&r.target_groups).unwrap_or_default();
        for (c, col) in columns::TRAINEE_COLUMNS.iter().enumerate() {
            let value: String = match col.key {
                "id" => r.id.clone(),
                "commune_code" => r.commune_code.clone(),
                // The hamlet's name when it is unique in the commune's list, else its id.
                "hamlet" => r.hamlet_id.as_ref().map(|h| hamlet_names.get(h).cloned().unwrap_or_else(|| h.clone())).unwrap_or_default(),
                "full_name" => r.full_name.clone(),
                "gender" => columns::label_of(columns::GENDERS, r.gender).to_owned(),
                "birth_year" => r.birth_year.to_string(),
                "phone" => r.phone.clone().unwrap_or_default(),
                "personal_id_last4" => r.id_last4.clone().unwrap_or_default(),
                "ethnicity" => r.ethnicity_code.as_deref().and_then(crate::domain::ethnicities::name).unwrap_or("").to_owned(),
                "consent_ethnicity" => columns::label_of(columns::YES_NO, r.consent_ethnicity).to_owned(),
                "target_groups" => groups.iter().map(|g| columns::label_of(columns::TARGET_GROUPS, *g)).collect::<Vec<_>>().join("; "),
                "occupation" => r.occupation.clone().unwrap_or_default(),
                "consent_basic" => columns::label_of(columns::YES_NO, r.consent_basic).to_owned(),
                "consent_method" => columns::label_of(columns::CONSENT_METHODS, r.consent_method).to_owned(),
                "consent_date" => date(r.consent_at),
                _ => String::new(),
            };
            if value.is_empty() {
                continue;
            }
            if col.key == "birth_year" {
                sheet.write_number(row, c as u16, r.birth_year as f64).map_err(fail)?;
            } else {
                sheet.write_string_with_format(row, c as u16, &value, &text).map_err(fail)?;
            }
        }
    }
    instructions(book.add_worksheet(), ImportKind::Trainees).map_err(fail)?;
    lists(book.add_worksheet(), &places).map_err(fail)?;
    Ok((book.save_to_buffer().map_err(fail)?, rows.len()))
}

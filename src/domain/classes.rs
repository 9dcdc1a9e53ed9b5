//! "Bình dân học vụ số" classes and their sessions (buổi học). Team members record them in
//! their commune; officers and admins too. A class moves `planned → ongoing → completed`,
//! or is cancelled (with a reason) from planned or ongoing; any other move is a 409.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::access::caller::Caller;
use crate::access::policy::{self, filter_to_scope, Access, Area, Capability, Principal};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::text::fold;
use crate::base::time::utc;
use crate::domain::records::{self, page_limit, parse_uuid, CreateOutcome, IfMatch, Page, Position, Write};
use crate::domain::stats::Rec;
use crate::store::db::AnyConnection;
use crate::store::rows::ClassRow;
use crate::store::schema::{class_instructors, class_sessions, class_topics, classes, team_members, teams};
use crate::store::values::{Choice, ClassMode, ClassStatus};

/// Campaign tags with a fixed meaning; any other text (1–100 characters) is kept as given.
pub const CAMPAIGNS: &[&str] = &["science_day_18_5", "innovation_day_1_10", "digital_transformation_day_10_10"];
pub const DEFAULT_MIN_ATTENDANCE: f64 = 0.75;

/// A class.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "commune_code": "21025", "hamlet_id": null,
    "team_id": "8d1f6a8e-2b1c-4c3e-9a7d-1e2f3a4b5c6d", "title": "Cài đặt và sử dụng VNeID mức 2",
    "topic_ids": ["vneid_e_identity", "online_public_services"], "mode": "in_person", "language": "hre",
    "interpreter_used": true, "venue": "Nhà văn hóa thôn Phú Thọ", "start_date": "2026-12-01", "end_date": "2026-12-15",
    "planned_sessions": 4, "campaign": null, "instructor_ids": ["c4d2e1f0-6a5b-4c3d-8e9f-0a1b2c3d4e5f"],
    "status": "planned", "cancel_reason": null, "min_attendance_ratio": 0.75, "version": 1,
    "created_at": "2026-11-26T08:00:00Z", "updated_at": "2026-11-26T08:00:00Z"}))]
pub struct Class {
    pub id: String,
    pub commune_code: String,
    pub hamlet_id: Option<String>,
    pub team_id: String,
    pub title: String,
    pub topic_ids: Vec<String>,
    pub mode: ClassMode,
    /// `vi` or an ISO 639-3 code of the ethnic language taught in (e.g. `hre` Hrê, `cua` Co,
    /// `sed` Xơ Đăng, `bdq` Ba Na, `jeh` Giẻ Triêng, `jra` Gia Rai).
    pub language: String,
    pub interpreter_used: bool,
    pub venue: Option<String>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub planned_sessions: i32,
    pub campaign: Option<String>,
    /// Team members who teach it.
    pub instructor_ids: Vec<String>,
    pub status: ClassStatus,
    pub cancel_reason: Option<String>,
    /// Share of held sessions a trainee must attend to complete (default 0.75).
    pub min_attendance_ratio: f64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn view(r: &ClassRow, topic_ids: Vec<String>, instructor_ids: Vec<String>) -> Class {
    Class {
        id: r.id.clone(),
        commune_code: r.commune_code.clone(),
        hamlet_id: r.hamlet_id.clone(),
        team_id: r.team_id.clone(),
        title: r.title.clone(),
        topic_ids,
        mode: r.mode,
        language: r.language.clone(),
        interpreter_used: r.interpreter_used,
        venue: r.venue.clone(),
        start_date: r.start_date,
        end_date: r.end_date,
        planned_sessions: r.planned_sessions,
        campaign: r.campaign.clone(),
        instructor_ids,
        status: r.status,
        cancel_reason: r.cancel_reason.clone(),
        min_attendance_ratio: r.min_attendance_ratio,
        version: r.version,
        created_at: utc(r.created_at),
        updated_at: utc(r.updated_at),
    }
}

/// Topic and instructor ids of several classes, in two queries.
/// Ids linked to each class id.
pub(crate) type LinkMap = HashMap<String, Vec<String>>;

pub(crate) fn links(conn: &mut AnyConnection, ids: &[String]) -> Result<(LinkMap, LinkMap), ApiError> {
    let mut topics = LinkMap::new();
    for (c, t) in class_topics::table
        .filter(class_topics::class_id.eq_any(ids))
        .order((class_topics::class_id, class_topics::topic_id))
        .load::<(String, String)>(conn)?
    {
        topics.entry(c).or_default().push(t);
    }
    let mut instructors = LinkMap::new();
    for (c, m) in class_instructors::table
        .filter(class_instructors::class_id.eq_any(ids))
        .order((class_instructors::class_id, class_instructors::member_id))
        .load::<(String, String)>(conn)?
    {
        instructors.entry(c).or_default().push(m);
    }
    Ok((topics, instructors))
}

/// Topic and instructor ids of one class. Equality filters (not `IN` lists) let diesel
/// reuse its prepared statements on this hot path.
pub fn links_of(conn: &mut AnyConnection, id: &str) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let topics = class_topics::table
        .filter(class_topics::class_id.eq(id))
        .select(class_topics::topic_id)
        .order(class_topics::topic_id)
        .load(conn)?;
    let instructors = class_instructors::table
        .filter(class_instructors::class_id.eq(id))
        .select(class_instructors::member_id)
        .order(class_instructors::member_id)
        .load(conn)?;
    Ok((topics, instructors))
}

pub fn load_class(conn: &mut AnyConnection, id: &str) -> Result<ClassRow, ApiError> {
    Ok(classes::table.find(id).filter(classes::deleted_at.is_null()).first(conn)?)
}

fn load_view(conn: &mut AnyConnection, id: &str) -> Result<(i64, Class), ApiError> {
    let row = load_class(conn, id)?;
    let (t, i) = links_of(conn, &row.id)?;
    Ok((row.version, view(&row, t, i)))
}

/// A new class. Re-sending the same request with the same `id` returns the stored record.
#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "commune_code": "21025",
    "team_id": "8d1f6a8e-2b1c-4c3e-9a7d-1e2f3a4b5c6d", "title": "Cài đặt và sử dụng VNeID mức 2",
    "topic_ids": ["vneid_e_identity"], "mode": "in_person", "language": "hre", "interpreter_used": true,
    "venue": "Nhà văn hóa thôn Phú Thọ", "start_date": "2026-12-01", "end_date": "2026-12-15", "planned_sessions": 4,
    "instructor_ids": ["c4d2e1f0-6a5b-4c3d-8e9f-0a1b2c3d4e5f"]}))]
pub struct NewClass {
    pub id: Option<String>,
    pub commune_code: String,
    pub hamlet_id: Option<String>,
    /// A team of the same commune.
    pub team_id: String,
    /// 1–300 characters.
    pub title: String,
    /// At least one topic of the catalogue (not retired).
    pub topic_ids: Vec<String>,
    #[schema(value_type = ClassMode)]
    pub mode: Choice<ClassMode>,
    /// `vi` or an ISO 639-3 code (three lowercase letters).
    pub language: String,
    pub interpreter_used: Option<bool>,
    /// Up to 300 characters.
    #[validate(length(max = 300))]
    pub venue: Option<String>,
    pub start_date: String,
    pub end_date: String,
    /// 1–200.
    #[validate(range(min = 1, max = 200))]
    pub planned_sessions: i32,
    /// `science_day_18_5`, `innovation_day_1_10`, `digital_transformation_day_10_10` or free text
    /// (up to 100 characters).
    #[validate(length(max = 100))]
    pub campaign: Option<String>,
    /// Members of the class's team.
    pub instructor_ids: Option<Vec<String>>,
    /// 0–1, default 0.75.
    #[validate(range(min = 0.0, max = 1.0))]
    pub min_attendance_ratio: Option<f64>,
}

/// Changes to a class; `""` clears an optional text. `status` moves it forward
/// (`planned → ongoing → completed`); cancelling has its own endpoint.
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "ongoing"}))]
pub struct ClassPatch {
    pub hamlet_id: Option<String>,
    pub team_id: Option<String>,
    pub title: Option<String>,
    pub topic_ids: Option<Vec<String>>,
    #[schema(value_type = Option<ClassMode>)]
    pub mode: Option<Choice<ClassMode>>,
    pub language: Option<String>,
    pub interpreter_used: Option<bool>,
    #[validate(length(max = 300))]
    pub venue: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    #[validate(range(min = 1, max = 200))]
    pub planned_sessions: Option<i32>,
    #[validate(length(max = 100))]
    pub campaign: Option<String>,
    pub instructor_ids: Option<Vec<String>>,
    #[schema(value_type = Option<ClassStatus>)]
    pub status: Option<Choice<ClassStatus>>,
    #[validate(range(min = 0.0, max = 1.0))]
    pub min_attendance_ratio: Option<f64>,
}

/// Why a class is cancelled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Bão số 13, không tổ chức được"}))]
pub struct CancelForm {
    /// 1–500 characters.
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClassQuery {
    pub commune: Option<String>,
    pub hamlet: Option<String>,
    pub team: Option<String>,
    /// Classes that cover this topic.
    pub topic: Option<String>,
    #[param(value_type = Option<ClassStatus>)]
    pub status: Option<Choice<ClassStatus>>,
    /// Classes starting on or after this date (YYYY-MM-DD).
    pub from: Option<String>,
    /// Classes starting on or before this date (YYYY-MM-DD).
    pub to: Option<String>,
    pub campaign: Option<String>,
    /// Text in the title or venue, without diacritics ("vneid" finds "Cài đặt VNeID").
    pub q: Option<String>,
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn check_language(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let v = raw.trim().to_owned();
    if !(v == "vi" || (v.len() == 3 && v.chars().all(|c| c.is_ascii_lowercase()))) {
        errors.push(FieldError::new(
            "language",
            "invalid_language",
            Text::new(
                "Ngôn ngữ là `vi` hoặc mã ISO 639-3 của tiếng dân tộc (ví dụ `hre`, `cua`, `sed`).",
                "The language is `vi` or an ISO 639-3 code of an ethnic language (e.g. `hre`, `cua`, `sed`).",
            ),
        ));
    }
    v
}

fn check_topic_list(ids: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.trim().to_owned()).collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        errors.push(FieldError::new("topic_ids", "required", Text::new("Cần ít nhất một chủ đề.", "At least one topic is required.")));
    }
    v
}

fn check_id_list(field: &str, ids: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| records::reference(field, s, errors)).collect();
    v.sort();
    v.dedup();
    v
}

fn check_range(start: NaiveDate, end: NaiveDate) -> Result<(), ApiError> {
    if end < start {
        return Err(error::validation(vec![FieldError::new(
            "end_date",
            "before_start_date",
            Text::new("Ngày kết thúc không thể trước ngày bắt đầu.", "end_date cannot be before start_date."),
        )]));
    }
    Ok(())
}

/// The team must be a live team of the commune; a new class also needs it active.
fn check_team(conn: &mut AnyConnection, team_id: &str, commune: &str, must_be_active: bool) -> Result<(), ApiError> {
    let found: Option<(String, bool)> = teams::table
        .find(team_id)
        .filter(teams::deleted_at.is_null())
        .select((teams::commune_code, teams::active))
        .first(conn)
        .optional()?;
    let err = |code: &'static str, vi: &str, en: &str| error::validation(vec![FieldError::new("team_id", code, Text::new(vi, en))]);
    match found {
        None => Err(records::unknown_reference("team_id")),
        Some((c, _)) if c != commune => Err(err("other_commune", "Tổ thuộc xã khác.", "The team belongs to another commune.")),
        Some((_, false)) if must_be_active => Err(err("team_inactive", "Tổ đã ngừng hoạt động.", "The team is inactive.")),
        Some(_) => Ok(()),
    }
}

/// Instructors must be live members of the team.
fn check_instructors(conn: &mut AnyConnection, team_id: &str, ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let found: i64 = team_members::table
        .filter(team_members::id.eq_any(ids))
        .filter(team_members::team_id.eq(team_id))
        .filter(team_members::deleted_at.is_null())
        .count()
        .get_result(conn)?;
    if found as usize != ids.len() {
        return Err(error::validation(vec![FieldError::new(
            "instructor_ids",
            "not_team_member",
            Text::new("Người dạy phải là thành viên của tổ.", "Instructors must be members of the class's team."),
        )]));
    }
    Ok(())
}

fn replace_links(
    conn: &mut AnyConnection,
    class_id: &str,
    topic_ids: Option<&[String]>,
    instructor_ids: Option<&[String]>,
) -> Result<(), ApiError> {
    // Row by row: multi-row inserts do not compile through the MultiConnection, and a
    // class has a handful of topics and instructors.
    if let Some(ids) = topic_ids {
        diesel::delete(class_topics::table.filter(class_topics::class_id.eq(class_id))).execute(conn)?;
        for t in ids {
            diesel::insert_into(class_topics::table)
                .values((class_topics::class_id.eq(class_id), class_topics::topic_id.eq(t)))
                .execute(conn)?;
        }
    }
    if let Some(ids) = instructor_ids {
        diesel::delete(class_instructors::table.filter(class_instructors::class_id.eq(class_id))).execute(conn)?;
        for m in ids {
            diesel::insert_into(class_instructors::table)
                .values((class_instructors::class_id.eq(class_id), class_instructors::member_id.eq(m)))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Creates a class inside the caller's write transaction (REST create and batch push).
pub(crate) fn create_class_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    form: NewClass,
) -> Result<(CreateOutcome, (i64, Class)), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordClasses, None, Access::Write)?;
    let digest = records::digest_with(
        &form,
        &[
            ("interpreter_used", serde_json::json!(false)),
            ("instructor_ids", serde_json::json!([])),
            ("min_attendance_ratio", serde_json::json!(DEFAULT_MIN_ATTENDANCE)),
        ],
    );
    let mut errors = Vec::new();
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let title = records::required_text("title", &form.title, 300, &mut errors);
    let topic_ids = check_topic_list(&form.topic_ids, &mut errors);
    let mode = form.mode.check("mode", &mut errors);
    let language = check_language(&form.language, &mut errors);
    records::validate_form(&form, &mut errors);
    let venue = records::optional_text(form.venue.as_deref());
    let start = records::date("start_date", &form.start_date, &mut errors);
    let end = records::date("end_date", &form.end_date, &mut errors);
    let campaign = records::optional_text(form.campaign.as_deref());
    let instructor_ids = check_id_list("instructor_ids", form.instructor_ids.as_deref().unwrap_or(&[]), &mut errors);
    let ratio = form.min_attendance_ratio.unwrap_or(DEFAULT_MIN_ATTENDANCE);
    let team_id = records::reference("team_id", &form.team_id, &mut errors);
    let hamlet_id = form.hamlet_id.as_deref().filter(|h| !h.is_empty()).map(|h| records::reference("hamlet_id", h, &mut errors));
    records::fail_if_any(errors)?;
    let mode = records::valid(mode)?;
    let (Some(start), Some(end)) = (start, end) else { return Err(error::internal_invariant()) };
    check_range(start, end)?;
    let commune = form.commune_code.trim().to_owned();
    let interpreter = form.interpreter_used.unwrap_or(false);
    let planned = form.planned_sessions;
    let existing = classes::table
        .find(&id)
        .select((classes::create_digest, classes::deleted_at.is_not_null()))
        .first::<(String, bool)>(conn)
        .optional()?;
    if records::check_replay(existing, &digest, &form)? == CreateOutcome::Replay {
        let row = load_class(conn, &id)?;
        let area = Area::of_commune(conn, &row.commune_code)?;
        policy::authorize(caller, Capability::RecordClasses, Some(&area), Access::Write)?;
        return Ok((CreateOutcome::Replay, load_view(conn, &id)?));
    }
    let area = w.unit(conn, "commune_code", &commune)?;
    policy::authorize(caller, Capability::RecordClasses, Some(&area), Access::Write)?;
    crate::domain::hamlets::check_hamlet(conn, hamlet_id.as_deref(), &commune)?;
    check_team(conn, &team_id, &commune, true)?;
    crate::domain::topics::check_topics(conn, "topic_ids", &topic_ids, &[])?;
    check_instructors(conn, &team_id, &instructor_ids)?;
    w.touch_new(Rec::Class(id.clone()));
    let seq = w.seq(conn)?;
    diesel::insert_into(classes::table)
        .values((
            classes::id.eq(&id),
            classes::version.eq(1i64),
            classes::created_at.eq(w.now),
            classes::updated_at.eq(w.now),
            classes::deleted_at.eq(None::<NaiveDateTime>),
            classes::change_seq.eq(seq),
            classes::create_digest.eq(digest.stored()),
            classes::commune_code.eq(&commune),
            classes::hamlet_id.eq(&hamlet_id),
            classes::team_id.eq(&team_id),
            classes::title.eq(&title),
            classes::mode.eq(mode),
            classes::language.eq(&language),
            classes::interpreter_used.eq(interpreter),
            classes::venue.eq(&venue),
            classes::start_date.eq(start),
            classes::end_date.eq(end),
            classes::planned_sessions.eq(planned),
            classes::campaign.eq(&campaign),
            classes::status.eq(ClassStatus::Planned),
            classes::cancel_reason.eq(None::<String>),
            classes::min_attendance_ratio.eq(ratio),
        ))
        .execute(conn)?;
    replace_links(conn, &id, Some(&topic_ids), Some(&instructor_ids))?;
    w.audit(
        conn,
        "create",
        "class",
        &id,
        Some(&commune),
        &["title", "team_id", "topic_ids", "dates", "mode", "language", "instructor_ids"],
    )?;
    Ok((CreateOutcome::New, load_view(conn, &id)?))
}

fn transition_allowed(from: ClassStatus, to: ClassStatus) -> bool {
    use ClassStatus::*;
    from == to || matches!((from, to), (Planned, Ongoing) | (Ongoing, Completed))
}

fn invalid_transition(from: ClassStatus, to: ClassStatus) -> ApiError {
    error::conflict(
        "invalid_status_transition",
        Text::new(
            format!("Không thể chuyển lớp từ `{from}` sang `{to}` (chỉ planned → ongoing → completed; hủy lớp bằng /cancel)."),
            format!("A class cannot move from `{from}` to `{to}` (only planned → ongoing → completed; cancel with /cancel)."),
        ),
    )
}

pub(crate) fn class_cancelled() -> ApiError {
    error::conflict("class_cancelled", Text::new("Lớp đã bị hủy.", "The class has been cancelled."))
}

/// Changes a class inside the caller's write transaction (REST PATCH and batch push).
pub(crate) fn update_class_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    id: String,
    if_match: &IfMatch,
    p: ClassPatch,
) -> Result<(i64, Class), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordClasses, None, Access::Write)?;
    if_match.require()?;
    let mut errors = Vec::new();
    let hamlet_id: Option<Option<String>> =
        p.hamlet_id.as_deref().map(|h| if h.is_empty() { None } else { Some(records::reference("hamlet_id", h, &mut errors)) });
    let team_id = p.team_id.as_deref().map(|t| records::reference("team_id", t, &mut errors));
    let title = p.title.as_deref().map(|t| records::required_text("title", t, 300, &mut errors));
    let topic_ids = p.topic_ids.as_deref().map(|t| check_topic_list(t, &mut errors));
    let mode = p.mode.as_ref().map(|m| m.check("mode", &mut errors));
    let language = p.language.as_deref().map(|l| check_language(l, &mut errors));
    records::validate_form(&p, &mut errors);
    let venue: Option<Option<String>> = p.venue.as_deref().map(|v| records::optional_text(Some(v)));
    let start = p.start_date.as_deref().map(|d| records::date("start_date", d, &mut errors));
    let end = p.end_date.as_deref().map(|d| records::date("end_date", d, &mut errors));
    let campaign: Option<Option<String>> = p.campaign.as_deref().map(|c| records::optional_text(Some(c)));
    let instructor_ids = p.instructor_ids.as_deref().map(|i| check_id_list("instructor_ids", i, &mut errors));
    let status = p.status.as_ref().map(|s| s.check("status", &mut errors));
    records::fail_if_any(errors)?;
    let mode = mode.map(records::valid).transpose()?;
    let status = status.map(records::valid).transpose()?;
    let row = load_class(conn, &id)?;
    let area = Area::of_commune(conn, &row.commune_code)?;
    policy::authorize(caller, Capability::RecordClasses, Some(&area), Access::Write)?;
    if_match.check(row.version)?;
    if row.status == ClassStatus::Cancelled {
        return Err(class_cancelled());
    }
    let new_status = status.unwrap_or(row.status);
    if !transition_allowed(row.status, new_status) {
        return Err(invalid_transition(row.status, new_status));
    }
    let new_start = start.flatten().unwrap_or(row.start_date);
    let new_end = end.flatten().unwrap_or(row.end_date);
    check_range(new_start, new_end)?;
    if new_start != row.start_date || new_end != row.end_date {
        let outside: i64 = class_sessions::table
            .filter(class_sessions::class_id.eq(&id))
            .filter(class_sessions::deleted_at.is_null())
            .filter(class_sessions::held_on.lt(new_start).or(class_sessions::held_on.gt(new_end)))
            .count()
            .get_result(conn)?;
        if outside > 0 {
            return Err(error::validation(vec![FieldError::new(
                "start_date",
                "sessions_outside_dates",
                Text::new(
                    format!("{outside} buổi học sẽ nằm ngoài khoảng ngày mới."),
                    format!("{outside} sessions would fall outside the new dates."),
                ),
            )]));
        }
    }
    let new_team = team_id.clone().unwrap_or(row.team_id.clone());
    if new_team != row.team_id {
        check_team(conn, &new_team, &row.commune_code, true)?;
    }
    let new_hamlet = hamlet_id.clone().unwrap_or(row.hamlet_id.clone());
    if new_hamlet != row.hamlet_id {
        crate::domain::hamlets::check_hamlet(conn, new_hamlet.as_deref(), &row.commune_code)?;
    }
    let (old_topics, old_instructors) = links_of(conn, &row.id)?;
    if let Some(ts) = &topic_ids {
        crate::domain::topics::check_topics(conn, "topic_ids", ts, &old_topics)?;
    }
    let new_instructors = instructor_ids.clone().unwrap_or(old_instructors.clone());
    if new_team != row.team_id || instructor_ids.is_some() {
        check_instructors(conn, &new_team, &new_instructors)?;
    }
    let new_title = title.clone().unwrap_or(row.title.clone());
    let new_mode = mode.unwrap_or(row.mode);
    let new_lang = language.clone().unwrap_or(row.language.clone());
    let new_interp = p.interpreter_used.unwrap_or(row.interpreter_used);
    let new_venue = venue.clone().unwrap_or(row.venue.clone());
    let new_planned = p.planned_sessions.unwrap_or(row.planned_sessions);
    let new_campaign = campaign.clone().unwrap_or(row.campaign.clone());
    let new_ratio = p.min_attendance_ratio.unwrap_or(row.min_attendance_ratio);
    let changed = records::changed_fields(&[
        ("hamlet_id", new_hamlet != row.hamlet_id),
        ("team_id", new_team != row.team_id),
        ("title", new_title != row.title),
        ("topic_ids", topic_ids.as_ref().is_some_and(|t| t != &old_topics)),
        ("mode", new_mode != row.mode),
        ("language", new_lang != row.language),
        ("interpreter_used", new_interp != row.interpreter_used),
        ("venue", new_venue != row.venue),
        ("start_date", new_start != row.start_date),
        ("end_date", new_end != row.end_date),
        ("planned_sessions", new_planned != row.planned_sessions),
        ("campaign", new_campaign != row.campaign),
        ("instructor_ids", new_instructors != old_instructors),
        ("status", new_status != row.status),
        ("min_attendance_ratio", new_ratio != row.min_attendance_ratio),
    ]);
    if changed.is_empty() {
        return Ok((row.version, view(&row, old_topics, old_instructors)));
    }
    w.touch(conn, Rec::Class(id.clone()))?;
    let seq = w.seq(conn)?;
    diesel::update(classes::table.find(&id))
        .set((
            classes::hamlet_id.eq(new_hamlet),
            classes::team_id.eq(new_team),
            classes::title.eq(new_title),
            classes::mode.eq(new_mode),
            classes::language.eq(new_lang),
            classes::interpreter_used.eq(new_interp),
            classes::venue.eq(new_venue),
            classes::start_date.eq(new_start),
            classes::end_date.eq(new_end),
            classes::planned_sessions.eq(new_planned),
            classes::campaign.eq(new_campaign),
            classes::status.eq(new_status),
            classes::min_attendance_ratio.eq(new_ratio),
            classes::version.eq(row.version + 1),
            classes::updated_at.eq(w.now),
            classes::change_seq.eq(seq),
        ))
        .execute(conn)?;
    replace_links(conn, &id, topic_ids.as_deref(), instructor_ids.as_deref())?;
    w.audit(conn, "update", "class", &id, Some(&row.commune_code), &changed)?;
    load_view(conn, &id)
}

/// Cancels a class inside the caller's write transaction (REST and batch push).
pub(crate) fn cancel_class_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    id: String,
    if_match: &IfMatch,
    form: CancelForm,
) -> Result<(i64, Class), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordClasses, None, Access::Write)?;
    let mut errors = Vec::new();
    let reason = records::required_text("reason", &form.reason, 500, &mut errors);
    records::fail_if_any(errors)?;
    let row = load_class(conn, &id)?;
    let area = Area::of_commune(conn, &row.commune_code)?;
    policy::authorize(caller, Capability::RecordClasses, Some(&area), Access::Write)?;
    // Like every change: a phone with a stale copy cannot cancel a class someone has
    // just edited without seeing the edit first.
    if_match.check(row.version)?;
    if !matches!(row.status, ClassStatus::Planned | ClassStatus::Ongoing) {
        return Err(invalid_transition(row.status, ClassStatus::Cancelled));
    }
    w.touch(conn, Rec::Class(id.clone()))?;
    let seq = w.seq(conn)?;
    diesel::update(classes::table.find(&id))
        .set((
            classes::status.eq(ClassStatus::Cancelled),
            classes::cancel_reason.eq(Some(&reason)),
            classes::version.eq(row.version + 1),
            classes::updated_at.eq(w.now),
            classes::change_seq.eq(seq),
        ))
        .execute(conn)?;
    w.audit(conn, "cancel", "class", &id, Some(&row.commune_code), &["status", "cancel_reason"])?;
    load_view(conn, &id)
}

// ---- sessions -------------------------------------------------------------------------

/// The class of a write, checked against the writer's scope (403 outside it, 404 when
/// there is no such class); the class and its unit are read once per write.
pub(crate) fn class_for_write(conn: &mut AnyConnection, w: &mut Write<'_>, class_id: &str, cap: Capability) -> Result<ClassRow, ApiError> {
    let class = match w.cached_class(class_id) {
        Some(c) => c,
        None => {
            let c = load_class(conn, class_id)?;
            w.cache_class(&c);
            c
        }
    };
    let area = w.area(conn, &class.commune_code)?;
    policy::authorize(w.caller, cap, Some(&area), Access::Write)?;
    Ok(class)
}

/// The class, checked against the caller's scope (404 reads, 403 writes outside it).
pub(crate) fn class_in_scope(
    conn: &mut AnyConnection,
    caller: &Caller,
    class_id: &str,
    cap: Capability,
    access: Access,
) -> Result<ClassRow, ApiError> {
    let class = load_class(conn, class_id)?;
    let area = Area::of_commune(conn, &class.commune_code)?;
    policy::authorize(caller, cap, Some(&area), access)?;
    Ok(class)
}

/// Classes in the caller's scope, by start date.
pub fn list_classes(conn: &mut AnyConnection, caller: &Caller, query: ClassQuery) -> Result<Page<Class>, ApiError> {
    policy::authorize(caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let q = query;
    let limit = page_limit(q.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(q.cursor.as_deref())?;
    let mut errors = Vec::new();
    let from = records::optional_date("from", q.from.as_deref(), &mut errors);
    let to = records::optional_date("to", q.to.as_deref(), &mut errors);
    let status = q.status.as_ref().map(|s| s.check("status", &mut errors));
    records::fail_if_any(errors)?;
    let status = status.map(records::valid).transpose()?;
    let scope = caller.scope().clone();
    {
        let load = |conn: &mut AnyConnection, after: Option<Position>, n: i64| -> Result<Vec<ClassRow>, ApiError> {
            let mut query =
                filter_to_scope!(classes::table.filter(classes::deleted_at.is_null()).into_boxed(), classes::commune_code, &scope);
            if let Some(c) = q.commune.clone() {
                query = query.filter(classes::commune_code.eq(c));
            }
            if let Some(h) = q.hamlet.clone() {
                query = query.filter(classes::hamlet_id.eq(h));
            }
            if let Some(t) = q.team.clone() {
                query = query.filter(classes::team_id.eq(t));
            }
            if let Some(t) = q.topic.clone() {
                query = query
                    .filter(classes::id.eq_any(class_topics::table.filter(class_topics::topic_id.eq(t)).select(class_topics::class_id)));
            }
            if let Some(s) = status {
                query = query.filter(classes::status.eq(s));
            }
            if let Some(f) = from {
                query = query.filter(classes::start_date.ge(f));
            }
            if let Some(t) = to {
                query = query.filter(classes::start_date.le(t));
            }
            if let Some(c) = q.campaign.clone() {
                query = query.filter(classes::campaign.eq(c));
            }
            if let Some(Position(date, id)) = after {
                let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| records::invalid_cursor())?;
                query = query.filter(classes::start_date.gt(date).or(classes::start_date.eq(date).and(classes::id.gt(id))));
            }
            Ok(query.order((classes::start_date, classes::id)).limit(n).load(conn)?)
        };
        let key = |r: &ClassRow| Position(r.start_date.to_string(), r.id.clone());
        let rows: Vec<ClassRow> = match records::search_text(q.q.as_deref()) {
            None => load(conn, after, limit + 1)?,
            Some(text) => records::scan_matching(
                after,
                limit,
                key,
                |after, n| load(conn, after, n),
                |r| fold(&r.title).contains(&text) || r.venue.as_deref().is_some_and(|v| fold(v).contains(&text)),
            )?,
        };
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let (mut topics, mut instructors) = links(conn, &ids)?;
        records::page(
            rows,
            limit,
            |r| Position(r.start_date.to_string(), r.id.clone()),
            |r| Ok(view(r, topics.remove(&r.id).unwrap_or_default(), instructors.remove(&r.id).unwrap_or_default())),
        )
    }
}

/// One class.
pub fn get_class(conn: &mut AnyConnection, caller: &Caller, path: &str) -> Result<(i64, Class), ApiError> {
    policy::authorize(caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let id = parse_uuid(path)?;
    {
        let row = load_class(conn, &id)?;
        let area = Area::of_commune(conn, &row.commune_code)?;
        policy::authorize(caller, Capability::ReadFieldRecords, Some(&area), Access::Read)?;
        let (t, i) = links_of(conn, &row.id)?;
        Ok((row.version, view(&row, t, i)))
    }
}

//! Sessions (buổi học) of a class: dated meetings within the class's dates, each with
//! its topic; attendance is recorded per session (`crate::domain::enrollments`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::access::caller::Caller;
use crate::access::policy::{self, Access, Capability};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::time::utc;
use crate::domain::classes::{class_cancelled, class_for_write, class_in_scope, links_of};
use crate::domain::records::{self, page_limit, parse_uuid, CreateOutcome, IfMatch, Page, Position, Write};
use crate::domain::stats::Rec;
use crate::store::db::AnyConnection;
use crate::store::rows::{ClassRow, SessionRow};
use crate::store::schema::{class_sessions, session_attendance};
use crate::store::values::ClassStatus;

/// A session (buổi học) of a class.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "class_id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b",
    "held_on": "2026-12-02", "duration_minutes": 90, "topic_ids": ["vneid_e_identity"], "notes": "Cài VNeID cho 12 người",
    "version": 1, "created_at": "2026-12-02T10:00:00Z", "updated_at": "2026-12-02T10:00:00Z"}))]
pub struct Session {
    pub id: String,
    pub class_id: String,
    pub held_on: NaiveDate,
    pub duration_minutes: i32,
    /// Topics covered (a subset of the class's topics).
    pub topic_ids: Vec<String>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&SessionRow> for Session {
    fn from(r: &SessionRow) -> Self {
        Session {
            id: r.id.clone(),
            class_id: r.class_id.clone(),
            held_on: r.held_on,
            duration_minutes: r.duration_minutes,
            topic_ids: serde_json::from_str(&r.topic_ids).unwrap_or_default(),
            notes: r.notes.clone(),
            version: r.version,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A held session.
#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"held_on": "2026-12-02", "duration_minutes": 90, "topic_ids": ["vneid_e_identity"], "notes": "Cài VNeID cho 12 người"}))]
pub struct NewSession {
    pub id: Option<String>,
    /// Within the class's dates.
    pub held_on: String,
    /// 1–600.
    #[validate(range(min = 1, max = 600))]
    pub duration_minutes: i32,
    /// Topics of the class covered in this session (default: none listed).
    pub topic_ids: Option<Vec<String>>,
    /// Up to 2,000 characters.
    #[validate(length(max = 2000))]
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"duration_minutes": 120, "notes": "Thêm 3 người cài VNeID mức 2"}))]
pub struct SessionPatch {
    pub held_on: Option<String>,
    #[validate(range(min = 1, max = 600))]
    pub duration_minutes: Option<i32>,
    pub topic_ids: Option<Vec<String>>,
    #[validate(length(max = 2000))]
    pub notes: Option<String>,
}

fn check_session_fits(conn: &mut AnyConnection, class: &ClassRow, held_on: NaiveDate, topic_ids: &[String]) -> Result<(), ApiError> {
    if class.status == ClassStatus::Cancelled {
        return Err(class_cancelled());
    }
    let mut errors = Vec::new();
    if held_on < class.start_date || held_on > class.end_date {
        errors.push(FieldError::new(
            "held_on",
            "outside_class_dates",
            Text::new(
                format!("Ngày học phải trong khoảng {} – {} của lớp.", class.start_date, class.end_date),
                format!("The session must fall within the class dates {} – {}.", class.start_date, class.end_date),
            ),
        ));
    }
    if !topic_ids.is_empty() {
        let (class_topics, _) = links_of(conn, &class.id)?;
        if topic_ids.iter().any(|id| !class_topics.contains(id)) {
            errors.push(FieldError::new(
                "topic_ids",
                "not_class_topic",
                Text::new("Chủ đề buổi học phải thuộc các chủ đề của lớp.", "Session topics must be topics of the class."),
            ));
        }
    }
    records::fail_if_any(errors)
}

fn load_session(conn: &mut AnyConnection, class_id: &str, id: &str) -> Result<SessionRow, ApiError> {
    Ok(class_sessions::table
        .find(id)
        .filter(class_sessions::class_id.eq(class_id))
        .filter(class_sessions::deleted_at.is_null())
        .first(conn)?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Creates a session inside the caller's write transaction (REST create and batch push).
pub(crate) fn create_session_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    class_id: String,
    form: NewSession,
) -> Result<(CreateOutcome, SessionRow), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordClasses, None, Access::Write)?;
    let digest = records::digest_with(&form, &[("topic_ids", serde_json::json!([]))]);
    let mut errors = Vec::new();
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let held_on = records::date("held_on", &form.held_on, &mut errors);
    records::validate_form(&form, &mut errors);
    let mut topic_ids: Vec<String> = form.topic_ids.clone().unwrap_or_default().iter().map(|t| t.trim().to_owned()).collect();
    topic_ids.sort();
    topic_ids.dedup();
    let notes = records::optional_text(form.notes.as_deref());
    records::fail_if_any(errors)?;
    let Some(held_on) = held_on else { return Err(error::internal_invariant()) };
    let duration = form.duration_minutes;
    let class = class_for_write(conn, w, &class_id, Capability::RecordClasses)?;
    let existing = class_sessions::table
        .find(&id)
        .select((class_sessions::create_digest, class_sessions::deleted_at.is_not_null(), class_sessions::class_id))
        .first::<(String, bool, String)>(conn)
        .optional()?;
    if records::check_replay_in(existing, &class_id, &digest, &form)? == CreateOutcome::Replay {
        return Ok((CreateOutcome::Replay, load_session(conn, &class_id, &id)?));
    }
    check_session_fits(conn, &class, held_on, &topic_ids)?;
    w.touch_new(Rec::Session(id.clone()));
    let seq = w.seq(conn)?;
    diesel::insert_into(class_sessions::table)
        .values((
            class_sessions::id.eq(&id),
            class_sessions::version.eq(1i64),
            class_sessions::created_at.eq(w.now),
            class_sessions::updated_at.eq(w.now),
            class_sessions::deleted_at.eq(None::<NaiveDateTime>),
            class_sessions::change_seq.eq(seq),
            class_sessions::create_digest.eq(digest.stored()),
            class_sessions::class_id.eq(&class_id),
            class_sessions::commune_code.eq(&class.commune_code),
            class_sessions::held_on.eq(held_on),
            class_sessions::duration_minutes.eq(duration),
            class_sessions::topic_ids.eq(serde_json::to_string(&topic_ids).unwrap_or_else(|_| "[]".into())),
            class_sessions::notes.eq(&notes),
        ))
        .execute(conn)?;
    w.audit(conn, "create", "class_session", &id, Some(&class.commune_code), &["held_on", "duration_minutes", "topic_ids", "notes"])?;
    Ok((CreateOutcome::New, load_session(conn, &class_id, &id)?))
}

/// Changes a session inside the caller's write transaction (REST PATCH and batch push).
pub(crate) fn update_session_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    class_id: String,
    session_id: String,
    if_match: &IfMatch,
    p: SessionPatch,
) -> Result<SessionRow, ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordClasses, None, Access::Write)?;
    if_match.require()?;
    let mut errors = Vec::new();
    let held_on = p.held_on.as_deref().map(|d| records::date("held_on", d, &mut errors));
    records::validate_form(&p, &mut errors);
    let notes: Option<Option<String>> = p.notes.as_deref().map(|n| records::optional_text(Some(n)));
    records::fail_if_any(errors)?;
    let topic_ids = p.topic_ids.map(|ts| {
        let mut v: Vec<String> = ts.iter().map(|t| t.trim().to_owned()).collect();
        v.sort();
        v.dedup();
        v
    });
    let class = class_for_write(conn, w, &class_id, Capability::RecordClasses)?;
    let row = load_session(conn, &class_id, &session_id)?;
    if_match.check(row.version)?;
    let old_topics: Vec<String> = serde_json::from_str(&row.topic_ids).unwrap_or_default();
    let new_held = held_on.flatten().unwrap_or(row.held_on);
    let new_topics = topic_ids.clone().unwrap_or(old_topics.clone());
    check_session_fits(conn, &class, new_held, if topic_ids.is_some() { &new_topics } else { &[] })?;
    let new_duration = p.duration_minutes.unwrap_or(row.duration_minutes);
    let new_notes = notes.clone().unwrap_or(row.notes.clone());
    let changed = records::changed_fields(&[
        ("held_on", new_held != row.held_on),
        ("duration_minutes", new_duration != row.duration_minutes),
        ("topic_ids", new_topics != old_topics),
        ("notes", new_notes != row.notes),
    ]);
    if changed.is_empty() {
        return Ok(row);
    }
    w.touch(conn, Rec::Session(row.id.clone()))?;
    let seq = w.seq(conn)?;
    diesel::update(class_sessions::table.find(&row.id))
        .set((
            class_sessions::held_on.eq(new_held),
            class_sessions::duration_minutes.eq(new_duration),
            class_sessions::topic_ids.eq(serde_json::to_string(&new_topics).unwrap_or_else(|_| "[]".into())),
            class_sessions::notes.eq(new_notes),
            class_sessions::version.eq(row.version + 1),
            class_sessions::updated_at.eq(w.now),
            class_sessions::change_seq.eq(seq),
        ))
        .execute(conn)?;
    w.audit(conn, "update", "class_session", &row.id, Some(&row.commune_code), &changed)?;
    load_session(conn, &class_id, &session_id)
}

/// Deletes a session inside the caller's write transaction (REST DELETE and batch push).
pub(crate) fn delete_session_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    class_id: String,
    session_id: String,
    if_match: &IfMatch,
) -> Result<i64, ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordClasses, None, Access::Write)?;
    if_match.require()?;
    class_for_write(conn, w, &class_id, Capability::RecordClasses)?;
    let row = load_session(conn, &class_id, &session_id)?;
    if_match.check(row.version)?;
    w.touch(conn, Rec::Session(row.id.clone()))?;
    let seq = w.seq(conn)?;
    records::tombstone!(conn, class_sessions, &row.id, row.version, w.now, seq);
    // The attendance list is part of the session: it goes too (a tombstone in the feed).
    let list: Option<i64> = session_attendance::table
        .find(&row.id)
        .filter(session_attendance::deleted_at.is_null())
        .select(session_attendance::version)
        .first(conn)
        .optional()?;
    if let Some(version) = list {
        let seq = w.seq(conn)?;
        diesel::update(session_attendance::table.find(&row.id))
            .set((
                session_attendance::deleted_at.eq(Some(w.now)),
                session_attendance::version.eq(version + 1),
                session_attendance::updated_at.eq(w.now),
                session_attendance::change_seq.eq(seq),
            ))
            .execute(conn)?;
    }
    w.audit(conn, "delete", "class_session", &row.id, Some(&row.commune_code), &[])?;
    Ok(row.version + 1)
}

/// Sessions of a class, by date.
pub fn list_sessions(conn: &mut AnyConnection, caller: &Caller, path: &str, query: SessionQuery) -> Result<Page<Session>, ApiError> {
    policy::authorize(caller, Capability::ReadFieldRecords, None, Access::Read)?;
    let class_id = parse_uuid(path)?;
    let limit = page_limit(query.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(query.cursor.as_deref())?;
    {
        class_in_scope(conn, caller, &class_id, Capability::ReadFieldRecords, Access::Read)?;
        let mut q =
            class_sessions::table.filter(class_sessions::class_id.eq(&class_id)).filter(class_sessions::deleted_at.is_null()).into_boxed();
        if let Some(Position(date, id)) = after {
            let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| records::invalid_cursor())?;
            q = q.filter(class_sessions::held_on.gt(date).or(class_sessions::held_on.eq(date).and(class_sessions::id.gt(id))));
        }
        let rows: Vec<SessionRow> = q.order((class_sessions::held_on, class_sessions::id)).limit(limit + 1).load(conn)?;
        records::page(rows, limit, |r| Position(r.held_on.to_string(), r.id.clone()), |r| Ok(Session::from(r)))
    }
}

//! Enrollment of trainees in classes, attendance per session, completion (with the
//! class's attendance minimum) and its verification by an officer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::app::AppState;
use crate::auth::Caller;
use crate::classes::{class_cancelled, class_in_scope};
use crate::db::AnyConnection;
use crate::error::{self, ApiError, FieldError, Problem, Text};
use crate::http::{self, IfMatch, RequestMeta};
use crate::policy::{self, Access, Area, Capability, Principal};
use crate::records::{self, CreateOutcome, Page, Position, Write};
use crate::schema::{attendance_marks, class_sessions, enrollments, session_attendance, trainees};
use crate::stats::Rec;
use crate::users::utc;

pub const RESULTS: &[&str] = &["passed", "failed"];
pub const EVIDENCE: &[&str] = &["in_class_assessment", "platform_certificate", "officer_confirmation"];

#[derive(Debug, Clone, Queryable)]
pub struct EnrollmentRow {
    pub id: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub change_seq: i64,
    pub create_digest: String,
    pub class_id: String,
    pub trainee_id: String,
    pub commune_code: String,
    pub status: String,
    pub drop_reason: Option<String>,
    pub completion_result: Option<String>,
    pub completion_evidence: Option<String>,
    pub completed_on: Option<NaiveDate>,
    pub score: Option<f64>,
    pub certificate_ref: Option<String>,
    pub attendance_override_reason: Option<String>,
    pub completion_recorded_by: Option<String>,
    pub verification: Option<String>,
    pub verification_reason: Option<String>,
    pub verified_by: Option<String>,
    pub verified_at: Option<NaiveDateTime>,
}

/// A trainee's completion of a class.
#[derive(Debug, Serialize, ToSchema)]
pub struct Completion {
    /// `passed` or `failed`.
    pub result: String,
    /// `in_class_assessment`, `platform_certificate` or `officer_confirmation`.
    pub evidence: String,
    pub completed_on: NaiveDate,
    pub score: Option<f64>,
    pub certificate_ref: Option<String>,
    /// Set when an officer recorded it below the attendance minimum.
    pub attendance_override_reason: Option<String>,
    pub recorded_by: Option<String>,
}

/// An officer's decision on a completion.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// `verified` or `rejected`.
    pub decision: String,
    pub reason: Option<String>,
    pub verified_by: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
}

/// A trainee's enrollment in a class.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", "class_id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b",
    "trainee_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "trainee_name": "Đinh Thị Lan", "status": "enrolled", "drop_reason": null,
    "completion": null, "verification": null, "version": 1, "created_at": "2026-12-01T08:00:00Z", "updated_at": "2026-12-01T08:00:00Z"}))]
pub struct Enrollment {
    pub id: String,
    pub class_id: String,
    pub trainee_id: String,
    pub trainee_name: String,
    /// `enrolled` or `dropped`.
    pub status: String,
    pub drop_reason: Option<String>,
    pub completion: Option<Completion>,
    pub verification: Option<Verification>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn view(r: &EnrollmentRow, trainee_name: String) -> Enrollment {
    let completion = match (&r.completion_result, &r.completion_evidence, r.completed_on) {
        (Some(result), Some(evidence), Some(on)) => Some(Completion {
            result: result.clone(),
            evidence: evidence.clone(),
            completed_on: on,
            score: r.score,
            certificate_ref: r.certificate_ref.clone(),
            attendance_override_reason: r.attendance_override_reason.clone(),
            recorded_by: r.completion_recorded_by.clone(),
        }),
        _ => None,
    };
    Enrollment {
        id: r.id.clone(),
        class_id: r.class_id.clone(),
        trainee_id: r.trainee_id.clone(),
        trainee_name,
        status: r.status.clone(),
        drop_reason: r.drop_reason.clone(),
        completion,
        verification: r.verification.as_ref().map(|d| Verification {
            decision: d.clone(),
            reason: r.verification_reason.clone(),
            verified_by: r.verified_by.clone(),
            verified_at: r.verified_at.map(utc),
        }),
        version: r.version,
        created_at: utc(r.created_at),
        updated_at: utc(r.updated_at),
    }
}

fn load_enrollment(conn: &mut AnyConnection, id: &str) -> Result<EnrollmentRow, ApiError> {
    Ok(enrollments::table.find(id).filter(enrollments::deleted_at.is_null()).first(conn)?)
}

pub(crate) fn with_name(conn: &mut AnyConnection, r: &EnrollmentRow) -> Result<Enrollment, ApiError> {
    let name: String = trainees::table.find(&r.trainee_id).select(trainees::full_name).first(conn)?;
    Ok(view(r, name))
}

/// Every live enrollment of a trainee, by creation.
pub fn of_trainee(conn: &mut AnyConnection, trainee_id: &str) -> Result<Vec<Enrollment>, ApiError> {
    let rows: Vec<EnrollmentRow> = enrollments::table
        .filter(enrollments::trainee_id.eq(trainee_id))
        .filter(enrollments::deleted_at.is_null())
        .order((enrollments::created_at, enrollments::id))
        .load(conn)?;
    rows.iter().map(|r| with_name(conn, r)).collect()
}

/// Enroll a trainee.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"trainee_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}))]
pub struct NewEnrollment {
    pub id: Option<String>,
    pub trainee_id: String,
}

/// Enroll a trainee in a class. A trainee of another commune may join (people travel); the
/// caller must be allowed on the class's commune.
#[utoipa::path(
    post, path = "/api/v1/classes/{id}/enrollments", tag = "enrollments", request_body = NewEnrollment,
    params(("id" = String, Path, description = "Class id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Enrolled", body = Enrollment),
        (status = 200, description = "Replay of an earlier identical create", body = Enrollment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts never touch person-level data; or the class is outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already enrolled; class cancelled; trainee erased; id used by another record", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown trainee", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_enrollment(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<NewEnrollment>,
) -> Result<HttpResponse, ApiError> {
    let class_id = http::parse_uuid(&path)?;
    let form = form.into_inner();
    let (outcome, body, version) = state
        .db
        .run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| create_enrollment_in(conn, w, class_id, form)))
        .await?;
    Ok(records::created(outcome, version, &body))
}

/// Enrolls a trainee inside the caller's write transaction (REST create and batch push).
pub(crate) fn create_enrollment_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    class_id: String,
    form: NewEnrollment,
) -> Result<(CreateOutcome, Enrollment, i64), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let digest = records::digest(&form);
    let mut errors = Vec::new();
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let trainee_id = records::reference("trainee_id", &form.trainee_id, &mut errors);
    records::fail_if_any(errors)?;
    let class = crate::classes::class_for_write(conn, w, &class_id, Capability::RecordPersonData)?;
    let existing = enrollments::table
        .find(&id)
        .select((enrollments::create_digest, enrollments::deleted_at.is_not_null()))
        .first::<(String, bool)>(conn)
        .optional()?;
    if records::check_replay(existing, &digest)? == CreateOutcome::Replay {
        let row = load_enrollment(conn, &id)?;
        return Ok((CreateOutcome::Replay, with_name(conn, &row)?, row.version));
    }
    if class.status == "cancelled" {
        return Err(class_cancelled());
    }
    let trainee: Option<(Option<NaiveDateTime>, String)> = trainees::table
        .find(&trainee_id)
        .filter(trainees::deleted_at.is_null())
        .select((trainees::erased_at, trainees::full_name))
        .first(conn)
        .optional()?;
    let name = match trainee {
        None => return Err(records::unknown_reference("trainee_id")),
        Some((Some(_), _)) => {
            return Err(error::conflict(
                "trainee_erased",
                Text::new("Dữ liệu cá nhân của người này đã bị xóa.", "This person's data has been erased."),
            ))
        }
        Some((None, name)) => name,
    };
    let already: i64 = enrollments::table
        .filter(enrollments::class_id.eq(&class_id))
        .filter(enrollments::trainee_id.eq(&trainee_id))
        .filter(enrollments::deleted_at.is_null())
        .filter(enrollments::status.eq("enrolled"))
        .count()
        .get_result(conn)?;
    if already > 0 {
        return Err(error::conflict(
            "already_enrolled",
            Text::new("Người học đã ghi danh lớp này.", "The trainee is already enrolled in this class."),
        ));
    }
    w.touch_new(Rec::Enrollment(id.clone()));
    let seq = w.seq(conn)?;
    let row = diesel::insert_into(enrollments::table)
        .values((
            enrollments::id.eq(&id),
            enrollments::version.eq(1i64),
            enrollments::created_at.eq(w.now),
            enrollments::updated_at.eq(w.now),
            enrollments::deleted_at.eq(None::<NaiveDateTime>),
            enrollments::change_seq.eq(seq),
            enrollments::create_digest.eq(&digest),
            enrollments::class_id.eq(&class_id),
            enrollments::trainee_id.eq(&trainee_id),
            enrollments::commune_code.eq(&class.commune_code),
            enrollments::status.eq("enrolled"),
        ))
        .get_result::<EnrollmentRow>(conn)?;
    w.audit(conn, "create", "enrollment", &id, Some(&class.commune_code), &["class_id", "trainee_id"])?;
    Ok((CreateOutcome::New, view(&row, name), row.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrollmentQuery {
    /// `enrolled` or `dropped`.
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Enrollments of a class, by trainee name (access-logged).
#[utoipa::path(
    get, path = "/api/v1/classes/{id}/enrollments", tag = "enrollments",
    params(("id" = String, Path, description = "Class id"), EnrollmentQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Enrollments", body = Page<Enrollment>),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts never read person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such class in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_enrollments(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    query: web::Query<EnrollmentQuery>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadPersonData, None, Access::Read)?;
    let class_id = http::parse_uuid(&path)?;
    let q = query.into_inner();
    let limit = http::page_limit(q.limit)?;
    let after: Option<Position> = q.cursor.as_deref().map(http::decode_cursor).transpose()?;
    let c = caller.clone();
    let page = state
        .db
        .run(move |conn| {
            class_in_scope(conn, &c, &class_id, Capability::ReadPersonData, Access::Read)?;
            let mut query = enrollments::table
                .inner_join(trainees::table)
                .filter(enrollments::class_id.eq(&class_id))
                .filter(enrollments::deleted_at.is_null())
                .select((enrollments::all_columns, trainees::full_name, trainees::search_name))
                .into_boxed();
            if let Some(s) = q.status {
                query = query.filter(enrollments::status.eq(s));
            }
            if let Some(Position(name, id)) = after {
                query = query.filter(trainees::search_name.gt(name.clone()).or(trainees::search_name.eq(name).and(enrollments::id.gt(id))));
            }
            let rows: Vec<(EnrollmentRow, String, String)> =
                query.order((trainees::search_name, enrollments::id)).limit(limit + 1).load(conn)?;
            records::page(rows, limit, |r| Position(r.2.clone(), r.0.id.clone()), |r| Ok(view(&r.0, r.1.clone())))
        })
        .await?;
    state.access_log.record(&caller, &meta.request_id, "list", "enrollment", None, page.items.len());
    Ok(HttpResponse::Ok().json(page))
}

/// Why a trainee left a class.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DropForm {
    /// 1–500 characters.
    pub reason: String,
}

/// Drop an enrollment (the trainee left), with the reason. Needs `If-Match`.
#[utoipa::path(
    delete, path = "/api/v1/classes/{id}/enrollments/{enrollment_id}", tag = "enrollments", request_body = DropForm,
    params(("id" = String, Path, description = "Class id"), ("enrollment_id" = String, Path, description = "Enrollment id"),
           ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Dropped", body = Enrollment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts never touch person-level data; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such enrollment in this class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already dropped, or completed", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn drop_enrollment(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
    form: web::Json<DropForm>,
) -> Result<HttpResponse, ApiError> {
    let (class_id, eid) = path.into_inner();
    let (class_id, eid) = (http::parse_uuid(&class_id)?, http::parse_uuid(&eid)?);
    let (body, version) = state
        .db
        .run(move |conn| {
            records::in_write_tx(conn, &caller, &meta, |conn, w| drop_enrollment_in(conn, w, class_id, eid, &if_match, form.into_inner()))
        })
        .await?;
    Ok(records::with_etag(StatusCode::OK, version, &body))
}

/// Drops an enrollment inside the caller's write transaction (REST DELETE and batch push).
pub(crate) fn drop_enrollment_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    class_id: String,
    eid: String,
    if_match: &IfMatch,
    form: DropForm,
) -> Result<(Enrollment, i64), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    if_match.require()?;
    let mut errors = Vec::new();
    let reason = records::required_text("reason", &form.reason, 500, &mut errors);
    records::fail_if_any(errors)?;
    let class = crate::classes::class_for_write(conn, w, &class_id, Capability::RecordPersonData)?;
    let row = load_enrollment(conn, &eid)?;
    if row.class_id != class.id {
        return Err(error::not_found());
    }
    if_match.check(row.version)?;
    if row.status == "dropped" {
        return Err(error::conflict("already_dropped", Text::new("Đã rút tên khỏi lớp.", "The enrollment is already dropped.")));
    }
    if row.completion_result.is_some() {
        return Err(error::conflict(
            "already_completed",
            Text::new("Người học đã có kết quả hoàn thành.", "The trainee already has a completion."),
        ));
    }
    w.touch(conn, Rec::Enrollment(eid.clone()))?;
    let seq = w.seq(conn)?;
    diesel::update(enrollments::table.find(&eid))
        .set((
            enrollments::status.eq("dropped"),
            enrollments::drop_reason.eq(Some(&reason)),
            enrollments::version.eq(row.version + 1),
            enrollments::updated_at.eq(w.now),
            enrollments::change_seq.eq(seq),
        ))
        .execute(conn)?;
    w.audit(conn, "drop", "enrollment", &eid, Some(&class.commune_code), &["status", "drop_reason"])?;
    let row = load_enrollment(conn, &eid)?;
    Ok((with_name(conn, &row)?, row.version))
}

// ---- attendance -------------------------------------------------------------------------

/// The attendance list of a session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"session_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "class_id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b",
    "present": ["9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"], "version": 1}))]
pub struct Attendance {
    pub session_id: String,
    pub class_id: String,
    /// Trainee ids marked present, sorted.
    pub present: Vec<String>,
    /// 0 until the list is first recorded; +1 per change.
    pub version: i64,
}

/// Who was present (replaces the session's list).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendanceForm {
    /// Trainee ids; each must be enrolled (not dropped) in the class.
    pub present: Vec<String>,
}

/// One trainee present at one session.
#[derive(Insertable)]
// Without `treat_none_as_default_value = false` diesel inserts a batch row by row on SQLite.
#[diesel(table_name = attendance_marks, treat_none_as_default_value = false)]
struct Mark {
    session_id: String,
    trainee_id: String,
    class_id: String,
}

/// Bumps the version and change number of a session's attendance list (creating it).
pub fn bump_attendance(conn: &mut AnyConnection, w: &mut Write<'_>, session_id: &str) -> Result<i64, ApiError> {
    let seq = w.seq(conn)?;
    let updated = diesel::update(session_attendance::table.find(session_id))
        .set((
            session_attendance::version.eq(session_attendance::version + 1),
            session_attendance::updated_at.eq(w.now),
            session_attendance::change_seq.eq(seq),
        ))
        .execute(conn)?;
    if updated == 0 {
        let (class_id, commune): (String, String) =
            class_sessions::table.find(session_id).select((class_sessions::class_id, class_sessions::commune_code)).first(conn)?;
        diesel::insert_into(session_attendance::table)
            .values((
                session_attendance::session_id.eq(session_id),
                session_attendance::version.eq(1i64),
                session_attendance::updated_at.eq(w.now),
                session_attendance::change_seq.eq(seq),
                session_attendance::class_id.eq(class_id),
                session_attendance::commune_code.eq(commune),
            ))
            .execute(conn)?;
    }
    Ok(session_attendance::table.find(session_id).select(session_attendance::version).first(conn)?)
}

pub(crate) fn load_attendance(conn: &mut AnyConnection, class_id: &str, session_id: &str) -> Result<Attendance, ApiError> {
    let present: Vec<String> = attendance_marks::table
        .filter(attendance_marks::session_id.eq(session_id))
        .select(attendance_marks::trainee_id)
        .order(attendance_marks::trainee_id)
        .load(conn)?;
    let version: Option<i64> = session_attendance::table.find(session_id).select(session_attendance::version).first(conn).optional()?;
    Ok(Attendance { session_id: session_id.to_owned(), class_id: class_id.to_owned(), present, version: version.unwrap_or(0) })
}

fn session_of_class(conn: &mut AnyConnection, class_id: &str, session_id: &str) -> Result<(), ApiError> {
    let n: i64 = class_sessions::table
        .filter(class_sessions::id.eq(session_id))
        .filter(class_sessions::class_id.eq(class_id))
        .filter(class_sessions::deleted_at.is_null())
        .count()
        .get_result(conn)?;
    if n == 0 {
        return Err(error::not_found());
    }
    Ok(())
}

/// Record who was present at a session. Replaces the list; sending the same list again
/// changes nothing. `If-Match` (the list's version) is checked when sent.
#[utoipa::path(
    put, path = "/api/v1/classes/{id}/sessions/{session_id}/attendance", tag = "enrollments", request_body = AttendanceForm,
    params(("id" = String, Path, description = "Class id"), ("session_id" = String, Path, description = "Session id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The list as stored", body = Attendance),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts never touch person-level data; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session in this class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The class is cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A listed trainee is not enrolled in the class", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_attendance(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
    form: web::Json<AttendanceForm>,
) -> Result<HttpResponse, ApiError> {
    let (class_id, session_id) = path.into_inner();
    let (class_id, session_id) = (http::parse_uuid(&class_id)?, http::parse_uuid(&session_id)?);
    let body = state
        .db
        .run(move |conn| {
            records::in_write_tx(conn, &caller, &meta, |conn, w| {
                put_attendance_in(conn, w, class_id, session_id, &if_match, form.into_inner())
            })
        })
        .await?;
    Ok(records::with_etag(StatusCode::OK, body.version, &body))
}

/// Replaces a session's attendance list inside the caller's write transaction (REST PUT and batch push).
pub(crate) fn put_attendance_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    class_id: String,
    session_id: String,
    if_match: &IfMatch,
    form: AttendanceForm,
) -> Result<Attendance, ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let mut errors = Vec::new();
    let mut present: Vec<String> = form.present.iter().map(|t| records::reference("present", t, &mut errors)).collect();
    records::fail_if_any(errors)?;
    present.sort();
    present.dedup();
    let class = crate::classes::class_for_write(conn, w, &class_id, Capability::RecordPersonData)?;
    session_of_class(conn, &class_id, &session_id)?;
    let current = load_attendance(conn, &class_id, &session_id)?;
    if if_match.is_present() {
        if_match.check(current.version)?;
    }
    if class.status == "cancelled" {
        return Err(class_cancelled());
    }
    if current.present == present {
        return Ok(current);
    }
    let enrolled: Vec<String> = enrollments::table
        .filter(enrollments::class_id.eq(&class_id))
        .filter(enrollments::deleted_at.is_null())
        .filter(enrollments::status.eq("enrolled"))
        .filter(enrollments::trainee_id.eq_any(&present))
        .select(enrollments::trainee_id)
        .load(conn)?;
    let missing: Vec<&String> = present.iter().filter(|t| !enrolled.contains(t)).collect();
    if !missing.is_empty() {
        let list = missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        return Err(error::validation(vec![FieldError::new(
            "present",
            "not_enrolled",
            Text::new(format!("Không ghi danh trong lớp: {list}."), format!("Not enrolled in the class: {list}.")),
        )]));
    }
    diesel::delete(attendance_marks::table.filter(attendance_marks::session_id.eq(&session_id))).execute(conn)?;
    let marks: Vec<Mark> =
        present.iter().map(|t| Mark { session_id: session_id.clone(), trainee_id: t.clone(), class_id: class_id.clone() }).collect();
    crate::db::insert_chunked!(conn, attendance_marks::table, &marks);
    bump_attendance(conn, w, &session_id)?;
    w.audit(conn, "record_attendance", "attendance", &session_id, Some(&class.commune_code), &["present"])?;
    load_attendance(conn, &class_id, &session_id)
}

/// Who was present at a session.
#[utoipa::path(
    get, path = "/api/v1/classes/{id}/sessions/{session_id}/attendance", tag = "enrollments",
    params(("id" = String, Path, description = "Class id"), ("session_id" = String, Path, description = "Session id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The list", body = Attendance),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts never read person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session in this class, or outside the scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_attendance(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadPersonData, None, Access::Read)?;
    let (class_id, session_id) = path.into_inner();
    let (class_id, session_id) = (http::parse_uuid(&class_id)?, http::parse_uuid(&session_id)?);
    let body = state
        .db
        .run(move |conn| {
            class_in_scope(conn, &caller, &class_id, Capability::ReadPersonData, Access::Read)?;
            session_of_class(conn, &class_id, &session_id)?;
            load_attendance(conn, &class_id, &session_id)
        })
        .await?;
    Ok(records::with_etag(StatusCode::OK, body.version, &body))
}

// ---- completion and verification ----------------------------------------------------------

/// A completion.
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"result": "passed", "evidence": "in_class_assessment", "completed_on": "2026-12-15", "score": 8.5}))]
pub struct CompletionForm {
    /// `passed` or `failed`.
    pub result: String,
    /// `in_class_assessment`, `platform_certificate` or `officer_confirmation`.
    pub evidence: String,
    /// Not in the future.
    pub completed_on: String,
    /// 0–100.
    #[validate(range(min = 0.0, max = 100.0))]
    pub score: Option<f64>,
    #[validate(length(max = 100))]
    pub certificate_ref: Option<String>,
    /// Officers and admins only: record a pass below the class's attendance minimum.
    #[validate(length(max = 500))]
    pub override_reason: Option<String>,
}

/// Record a trainee's completion of a class. A pass below the class's attendance minimum
/// (`min_attendance_ratio` of the held sessions) is 422 unless an officer gives an
/// `override_reason`. One completion per enrollment.
#[utoipa::path(
    post, path = "/api/v1/enrollments/{id}/completion", tag = "enrollments", request_body = CompletionForm,
    params(("id" = String, Path, description = "Enrollment id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = Enrollment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Analysts never touch person-level data; a team member gave an override; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such enrollment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Completion already recorded; enrollment dropped", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; attendance below the minimum", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_completion(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<CompletionForm>,
) -> Result<HttpResponse, ApiError> {
    let eid = http::parse_uuid(&path)?;
    let form = form.into_inner();
    let (body, version) =
        state.db.run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| record_completion_in(conn, w, eid, form))).await?;
    Ok(records::with_etag(StatusCode::CREATED, version, &body))
}

/// Records a completion inside the caller's write transaction (REST and batch push).
pub(crate) fn record_completion_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    eid: String,
    form: CompletionForm,
) -> Result<(Enrollment, i64), ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let mut errors = Vec::new();
    records::validate_form(&form, &mut errors);
    let result = records::choice("result", &form.result, RESULTS, &mut errors);
    let evidence = records::choice("evidence", &form.evidence, EVIDENCE, &mut errors);
    let completed_on = records::date("completed_on", &form.completed_on, &mut errors);
    if completed_on.is_some_and(|d| d > Utc::now().date_naive()) {
        errors.push(FieldError::new(
            "completed_on",
            "in_future",
            Text::new("Ngày hoàn thành không thể ở tương lai.", "The completion date cannot be in the future."),
        ));
    }
    records::fail_if_any(errors)?;
    let override_reason = records::optional_text(form.override_reason.as_deref());
    if override_reason.is_some() && !policy::role_can(caller.role(), Capability::VerifyAndManagePersonData) {
        return Err(error::forbidden());
    }
    let Some(completed_on) = completed_on else { return Err(error::internal_invariant()) };
    let certificate_ref = records::optional_text(form.certificate_ref.as_deref());
    let score = form.score;
    let row = load_enrollment(conn, &eid)?;
    let class = crate::classes::class_for_write(conn, w, &row.class_id, Capability::RecordPersonData)?;
    if row.completion_result.is_some() {
        return Err(error::conflict(
            "completion_exists",
            Text::new("Đã ghi kết quả hoàn thành cho lượt ghi danh này.", "A completion is already recorded for this enrollment."),
        ));
    }
    if row.status != "enrolled" {
        return Err(error::conflict(
            "enrollment_dropped",
            Text::new("Người học đã rút tên khỏi lớp.", "The trainee has dropped out of the class."),
        ));
    }
    if result == "passed" {
        let held: i64 = class_sessions::table
            .filter(class_sessions::class_id.eq(&class.id))
            .filter(class_sessions::deleted_at.is_null())
            .count()
            .get_result(conn)?;
        let attended: i64 = attendance_marks::table
            .inner_join(class_sessions::table.on(class_sessions::id.eq(attendance_marks::session_id)))
            .filter(attendance_marks::class_id.eq(&class.id))
            .filter(attendance_marks::trainee_id.eq(&row.trainee_id))
            .filter(class_sessions::deleted_at.is_null())
            .count()
            .get_result(conn)?;
        let ratio = if held == 0 { 0.0 } else { attended as f64 / held as f64 };
        if ratio + 1e-9 < class.min_attendance_ratio && override_reason.is_none() {
            return Err(error::unprocessable(
                            "attendance_below_minimum",
                            Text::new(
                                format!(
                                    "Người học dự {attended}/{held} buổi, dưới mức tối thiểu {:.0}%; cán bộ xã có thể ghi nhận kèm lý do (override_reason).",
                                    class.min_attendance_ratio * 100.0
                                ),
                                format!(
                                    "The trainee attended {attended} of {held} sessions, below the minimum of {:.0}%; an officer may record it with an override_reason.",
                                    class.min_attendance_ratio * 100.0
                                ),
                            ),
                        ));
        }
    }
    w.touch(conn, Rec::Enrollment(eid.clone()))?;
    w.touch(conn, Rec::Trainee(row.trainee_id.clone()))?;
    let seq = w.seq(conn)?;
    diesel::update(enrollments::table.find(&eid))
        .set((
            enrollments::completion_result.eq(Some(&result)),
            enrollments::completion_evidence.eq(Some(&evidence)),
            enrollments::completed_on.eq(Some(completed_on)),
            enrollments::score.eq(score),
            enrollments::certificate_ref.eq(&certificate_ref),
            enrollments::attendance_override_reason.eq(&override_reason),
            enrollments::completion_recorded_by.eq(Some(&caller.user.id)),
            enrollments::version.eq(row.version + 1),
            enrollments::updated_at.eq(w.now),
            enrollments::change_seq.eq(seq),
        ))
        .execute(conn)?;
    w.audit(conn, "record_completion", "enrollment", &eid, Some(&class.commune_code), &["completion"])?;
    let row = load_enrollment(conn, &eid)?;
    Ok((with_name(conn, &row)?, row.version))
}

/// An officer's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "verified", "reason": "Đã kiểm tra tại lớp"}))]
pub struct VerifyForm {
    /// `verified` or `rejected`.
    pub decision: String,
    /// Required to reject (1–500 characters).
    pub reason: Option<String>,
}

/// Verify or reject a completion (officers and admins of the class's commune).
#[utoipa::path(
    post, path = "/api/v1/enrollments/{id}/verify", tag = "enrollments", request_body = VerifyForm,
    params(("id" = String, Path, description = "Enrollment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Decided", body = Enrollment),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only officers and admins verify; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such enrollment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No completion to verify", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid decision, or a rejection without reason", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify_completion(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<VerifyForm>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::VerifyAndManagePersonData, None, Access::Write)?;
    let eid = http::parse_uuid(&path)?;
    let mut errors = Vec::new();
    let decision = records::choice("decision", &form.decision, &["verified", "rejected"], &mut errors);
    let reason = records::optional_text(form.reason.as_deref());
    if decision == "rejected" && reason.is_none() {
        errors.push(FieldError::new("reason", "required", Text::new("Cần lý do khi không xác nhận.", "A rejection needs a reason.")));
    }
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        errors.push(FieldError::new("reason", "length", Text::new("Tối đa 500 ký tự.", "Must be at most 500 characters.")));
    }
    records::fail_if_any(errors)?;
    let (body, version) = state
        .db
        .run(move |conn| {
            crate::db::write_tx(conn, |conn| {
                let row = load_enrollment(conn, &eid)?;
                let area = Area::of_commune(conn, &row.commune_code)?;
                policy::authorize(&caller, Capability::VerifyAndManagePersonData, Some(&area), Access::Write)?;
                if row.completion_result.is_none() {
                    return Err(error::conflict(
                        "no_completion",
                        Text::new("Chưa có kết quả hoàn thành để xác nhận.", "There is no completion to verify."),
                    ));
                }
                let mut w = Write::new(&caller, &meta);
                w.touch(conn, Rec::Enrollment(eid.clone()))?;
                let seq = w.seq(conn)?;
                diesel::update(enrollments::table.find(&eid))
                    .set((
                        enrollments::verification.eq(Some(&decision)),
                        enrollments::verification_reason.eq(&reason),
                        enrollments::verified_by.eq(Some(&caller.user.id)),
                        enrollments::verified_at.eq(Some(w.now)),
                        enrollments::version.eq(row.version + 1),
                        enrollments::updated_at.eq(w.now),
                        enrollments::change_seq.eq(seq),
                    ))
                    .execute(conn)?;
                w.audit(conn, "verify_completion", "enrollment", &eid, Some(&row.commune_code), &["verification"])?;
                w.finish(conn)?;
                let row = load_enrollment(conn, &eid)?;
                Ok((with_name(conn, &row)?, row.version))
            })
        })
        .await?;
    Ok(records::with_etag(StatusCode::OK, version, &body))
}

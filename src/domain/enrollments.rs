//! Enrollment of trainees in classes, attendance per session, completion (with the
//! class's attendance minimum) and its verification by an officer.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Area, Capability, Principal};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::time::utc;
use crate::domain::classes::{class_cancelled, class_in_scope};
use crate::domain::held::Mark;
use crate::domain::records::{self, page_limit, parse_uuid, CreateOutcome, IfMatch, Page, Position, Write};
use crate::domain::stats::Rec;
use crate::store::db::AnyConnection;
use crate::store::rows::EnrollmentRow;
use crate::store::schema::{attendance_marks, class_sessions, enrollments, session_attendance, trainees};
use crate::store::values::{Choice, ClassStatus, CompletionResult, EnrollmentStatus, Evidence, VerificationDecision};

/// A trainee's completion of a class.
#[derive(Debug, Serialize, ToSchema)]
pub struct Completion {
    pub result: CompletionResult,
    pub evidence: Evidence,
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
    pub decision: VerificationDecision,
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
    pub status: EnrollmentStatus,
    pub drop_reason: Option<String>,
    pub completion: Option<Completion>,
    pub verification: Option<Verification>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn view(r: &EnrollmentRow, trainee_name: String) -> Enrollment {
    let completion = match (r.completion_result, r.completion_evidence, r.completed_on) {
        (Some(result), Some(evidence), Some(on)) => Some(Completion {
            result,
            evidence,
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
        status: r.status,
        drop_reason: r.drop_reason.clone(),
        completion,
        verification: r.verification.map(|decision| Verification {
            decision,
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
    let class = crate::domain::classes::class_for_write(conn, w, &class_id, Capability::RecordPersonData)?;
    let existing = if w.take_absent("enrollments", &id) {
        None
    } else {
        if w.holds("enrollments", &id) {
            w.flush(conn)?;
        }
        enrollments::table
            .find(&id)
            .select((enrollments::create_digest, enrollments::deleted_at.is_not_null(), enrollments::class_id))
            .first::<(String, bool, String)>(conn)
            .optional()?
    };
    if records::check_replay_in(existing, &class_id, &digest, &form)? == CreateOutcome::Replay {
        let row = load_enrollment(conn, &id)?;
        return Ok((CreateOutcome::Replay, with_name(conn, &row)?, row.version));
    }
    if class.status == ClassStatus::Cancelled {
        return Err(class_cancelled());
    }
    let trainee: Option<(Option<NaiveDateTime>, String, String)> = match w.cached_trainee(&trainee_id) {
        Some(t) => Some((t.erased_at, t.full_name.clone(), t.commune_code.clone())),
        None => {
            if w.holds("trainees", &trainee_id) {
                w.flush(conn)?;
            }
            trainees::table
                .find(&trainee_id)
                .filter(trainees::deleted_at.is_null())
                .select((trainees::erased_at, trainees::full_name, trainees::commune_code))
                .first(conn)
                .optional()?
        }
    };
    // The caller must be able to read the trainee: a trainee of another commune is enrolled
    // by someone whose scope holds both (docs/DECISIONS.md), never by a bare id, which
    // would hand the name to anyone who learned the id. Out of scope looks like no trainee.
    let in_scope = match &trainee {
        Some((_, _, commune)) => caller.scope().covers(&w.area(conn, commune)?),
        None => false,
    };
    let name = match trainee.filter(|_| in_scope).map(|(erased, name, _)| (erased, name)) {
        None => return Err(records::unknown_reference("trainee_id")),
        Some((Some(_), _)) => {
            return Err(error::conflict(
                "trainee_erased",
                Text::new("Dữ liệu cá nhân của người này đã bị xóa.", "This person's data has been erased."),
            ))
        }
        Some((None, name)) => name,
    };
    // A person created earlier in this write has no enrollment but those this write made.
    let already: i64 = if w.cached_trainee(&trainee_id).is_some() && !w.enrolled_here(&class_id, &trainee_id) {
        0
    } else {
        if w.holds_enrollments() {
            w.flush(conn)?;
        }
        enrollments::table
            .filter(enrollments::class_id.eq(&class_id))
            .filter(enrollments::trainee_id.eq(&trainee_id))
            .filter(enrollments::deleted_at.is_null())
            .filter(enrollments::status.eq(EnrollmentStatus::Enrolled))
            .count()
            .get_result(conn)?
    };
    if already > 0 {
        return Err(error::conflict(
            "already_enrolled",
            Text::new("Người học đã ghi danh lớp này.", "The trainee is already enrolled in this class."),
        ));
    }
    w.touch_new(Rec::Enrollment(id.clone()));
    let seq = w.seq(conn)?;
    let row = EnrollmentRow {
        id: id.clone(),
        version: 1,
        created_at: w.now,
        updated_at: w.now,
        deleted_at: None,
        change_seq: seq,
        create_digest: digest.stored().to_owned(),
        class_id: class_id.clone(),
        trainee_id: trainee_id.clone(),
        commune_code: class.commune_code.clone(),
        status: EnrollmentStatus::Enrolled,
        drop_reason: None,
        completion_result: None,
        completion_evidence: None,
        completed_on: None,
        score: None,
        certificate_ref: None,
        attendance_override_reason: None,
        completion_recorded_by: None,
        verification: None,
        verification_reason: None,
        verified_by: None,
        verified_at: None,
    };
    let row = w.insert_enrollment(conn, row)?;
    w.cache_enrollment(&row);
    w.note_enrolled(&class_id, &trainee_id);
    w.audit(conn, "create", "enrollment", &id, Some(&class.commune_code), &["class_id", "trainee_id"])?;
    Ok((CreateOutcome::New, view(&row, name), row.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrollmentQuery {
    /// `enrolled` or `dropped`.
    #[param(value_type = Option<EnrollmentStatus>)]
    pub status: Option<Choice<EnrollmentStatus>>,
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Why a trainee left a class.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DropForm {
    /// 1–500 characters.
    pub reason: String,
}

/// `?reason=` of a drop sent without a body.
#[derive(Debug, Deserialize)]
pub struct DropQuery {
    pub reason: Option<String>,
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
    let class = crate::domain::classes::class_for_write(conn, w, &class_id, Capability::RecordPersonData)?;
    let row = load_enrollment(conn, &eid)?;
    if row.class_id != class.id {
        return Err(error::not_found());
    }
    if_match.check(row.version)?;
    if row.status == EnrollmentStatus::Dropped {
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
            enrollments::status.eq(EnrollmentStatus::Dropped),
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
#[schema(example = json!({"present": ["9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55"]}))]
pub struct AttendanceForm {
    /// Trainee ids; each must be enrolled (not dropped) in the class.
    pub present: Vec<String>,
}

/// Bumps the version and change number of a session's attendance list (creating it).
pub fn bump_attendance(conn: &mut AnyConnection, w: &mut Write<'_>, session_id: &str) -> Result<i64, ApiError> {
    let seq = w.seq(conn)?;
    let updated: Option<i64> = diesel::update(session_attendance::table.find(session_id))
        .set((
            session_attendance::version.eq(session_attendance::version + 1),
            session_attendance::updated_at.eq(w.now),
            session_attendance::change_seq.eq(seq),
        ))
        .returning(session_attendance::version)
        .get_result(conn)
        .optional()?;
    if let Some(version) = updated {
        return Ok(version);
    }
    {
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
    Ok(1)
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

/// The trainee ids of an attendance form, checked, sorted and without repeats (after the
/// caller's right to record).
fn present_of(caller: &Caller, form: &AttendanceForm) -> Result<Vec<String>, ApiError> {
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let mut errors = Vec::new();
    let mut present: Vec<String> = form.present.iter().map(|t| records::reference("present", t, &mut errors)).collect();
    records::fail_if_any(errors)?;
    present.sort();
    present.dedup();
    Ok(present)
}

/// 422 `not_enrolled` unless each of `trainees` has a live enrollment (not dropped) in the class.
fn all_enrolled(conn: &mut AnyConnection, class_id: &str, trainees: &[&String]) -> Result<(), ApiError> {
    let enrolled: Vec<String> = enrollments::table
        .filter(enrollments::class_id.eq(class_id))
        .filter(enrollments::deleted_at.is_null())
        .filter(enrollments::status.eq(EnrollmentStatus::Enrolled))
        .filter(enrollments::trainee_id.eq_any(trainees))
        .select(enrollments::trainee_id)
        .load(conn)?;
    let missing: Vec<&str> = trainees.iter().filter(|t| !enrolled.contains(t)).map(|s| s.as_str()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(", ");
    Err(error::validation(vec![FieldError::new(
        "present",
        "not_enrolled",
        Text::new(format!("Không ghi danh trong lớp: {list}."), format!("Not enrolled in the class: {list}.")),
    )]))
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
    let present = present_of(w.caller, &form)?;
    let class = crate::domain::classes::class_for_write(conn, w, &class_id, Capability::RecordPersonData)?;
    session_of_class(conn, &class_id, &session_id)?;
    let current = load_attendance(conn, &class_id, &session_id)?;
    if if_match.is_present() {
        if_match.check(current.version)?;
    }
    if class.status == ClassStatus::Cancelled {
        return Err(class_cancelled());
    }
    if current.present == present {
        return Ok(current);
    }
    all_enrolled(conn, &class_id, &present.iter().collect::<Vec<_>>())?;
    diesel::delete(attendance_marks::table.filter(attendance_marks::session_id.eq(&session_id))).execute(conn)?;
    let marks: Vec<Mark> =
        present.iter().map(|t| Mark { session_id: session_id.clone(), trainee_id: t.clone(), class_id: class_id.clone() }).collect();
    crate::store::db::insert_chunked!(conn, attendance_marks::table, marks);
    let version = bump_attendance(conn, w, &session_id)?;
    w.audit(conn, "record_attendance", "attendance", &session_id, Some(&class.commune_code), &["present"])?;
    Ok(Attendance { session_id, class_id, present, version })
}

/// [`put_attendance_in`] for live session `session_id` of class `class_id` in a batch that
/// holds its writes: the same checks, the same answer, the list held in `w`.
pub(crate) fn put_attendance_held(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    class_id: String,
    session_id: String,
    commune: String,
    form: AttendanceForm,
) -> Result<Attendance, ApiError> {
    let present = present_of(w.caller, &form)?;
    let class = crate::domain::classes::class_for_write(conn, w, &class_id, Capability::RecordPersonData)?;
    let current = w.lists.list(conn, &session_id)?;
    if class.status == ClassStatus::Cancelled {
        return Err(class_cancelled());
    }
    if current.present == present {
        return Ok(Attendance { session_id, class_id, present, version: current.version });
    }
    // Enrolled: by an enrollment this batch holds, or one stored.
    let unheld: Vec<&String> = present.iter().filter(|t| !w.holds_enrolled(&class_id, t)).collect();
    if !unheld.is_empty() {
        all_enrolled(conn, &class_id, &unheld)?;
    }
    let seq = w.seq(conn)?;
    let version = current.version + 1;
    let now = w.now;
    w.lists.hold(&session_id, &class_id, commune, present.clone(), version, current.deleted_at, seq, now);
    w.audit(conn, "record_attendance", "attendance", &session_id, Some(&class.commune_code), &["present"])?;
    Ok(Attendance { session_id, class_id, present, version })
}

// ---- completion and verification ----------------------------------------------------------

/// A completion.
#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"result": "passed", "evidence": "in_class_assessment", "completed_on": "2026-12-15", "score": 8.5}))]
pub struct CompletionForm {
    /// `passed` or `failed`.
    #[schema(value_type = CompletionResult)]
    pub result: Choice<CompletionResult>,
    /// `in_class_assessment`, `platform_certificate` or `officer_confirmation`.
    #[schema(value_type = Evidence)]
    pub evidence: Choice<Evidence>,
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

/// Records a completion inside the caller's write transaction (REST and batch push).
pub(crate) fn record_completion_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    eid: String,
    form: CompletionForm,
) -> Result<(Enrollment, i64), ApiError> {
    let row = record_completion_row_in(conn, w, eid, form)?;
    Ok((with_name(conn, &row)?, row.version))
}

/// [`record_completion_in`] without the trainee's name: the enrollment as written.
pub(crate) fn record_completion_row_in(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    eid: String,
    form: CompletionForm,
) -> Result<EnrollmentRow, ApiError> {
    let caller = w.caller;
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let mut errors = Vec::new();
    records::validate_form(&form, &mut errors);
    let result = form.result.check("result", &mut errors);
    let evidence = form.evidence.check("evidence", &mut errors);
    let completed_on = records::date("completed_on", &form.completed_on, &mut errors);
    if completed_on.is_some_and(|d| d > crate::base::time::local_today()) {
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
    let (result, evidence, completed_on) = (records::valid(result)?, records::valid(evidence)?, records::valid(completed_on)?);
    let certificate_ref = records::optional_text(form.certificate_ref.as_deref());
    let score = form.score;
    let row = match w.cached_enrollment(&eid) {
        Some(r) => r,
        None => load_enrollment(conn, &eid)?,
    };
    let class = crate::domain::classes::class_for_write(conn, w, &row.class_id, Capability::RecordPersonData)?;
    if row.completion_result.is_some() {
        return Err(error::conflict(
            "completion_exists",
            Text::new("Đã ghi kết quả hoàn thành cho lượt ghi danh này.", "A completion is already recorded for this enrollment."),
        ));
    }
    if row.status != EnrollmentStatus::Enrolled {
        return Err(error::conflict(
            "enrollment_dropped",
            Text::new("Người học đã rút tên khỏi lớp.", "The trainee has dropped out of the class."),
        ));
    }
    if result == CompletionResult::Passed {
        let held: i64 = match w.cached_sessions_held(&class.id) {
            Some(n) => n,
            None => {
                let n = class_sessions::table
                    .filter(class_sessions::class_id.eq(&class.id))
                    .filter(class_sessions::deleted_at.is_null())
                    .count()
                    .get_result(conn)?;
                w.cache_sessions_held(&class.id, n);
                n
            }
        };
        // No session held, none attended (a class kept on paper): no need to count.
        let attended: i64 = if held == 0 {
            0
        } else {
            attendance_marks::table
                .inner_join(class_sessions::table.on(class_sessions::id.eq(attendance_marks::session_id)))
                .filter(attendance_marks::class_id.eq(&class.id))
                .filter(attendance_marks::trainee_id.eq(&row.trainee_id))
                .filter(class_sessions::deleted_at.is_null())
                .count()
                .get_result(conn)?
        };
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
            enrollments::completion_result.eq(Some(result)),
            enrollments::completion_evidence.eq(Some(evidence)),
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
    // The row as written (what a reload would read back).
    let mut row = row;
    row.completion_result = Some(result);
    row.completion_evidence = Some(evidence);
    row.completed_on = Some(completed_on);
    row.score = score;
    row.certificate_ref = certificate_ref;
    row.attendance_override_reason = override_reason;
    row.completion_recorded_by = Some(caller.user.id.clone());
    row.version += 1;
    row.updated_at = w.now;
    row.change_seq = seq;
    Ok(row)
}

/// An officer's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "verified", "reason": "Đã kiểm tra tại lớp"}))]
pub struct VerifyForm {
    /// `verified` or `rejected`.
    #[schema(value_type = VerificationDecision)]
    pub decision: Choice<VerificationDecision>,
    /// Required to reject (1–500 characters).
    pub reason: Option<String>,
}

/// Enrollments of a class, by trainee name (access-logged).
pub fn list_enrollments(
    conn: &mut AnyConnection,
    caller: &Caller,
    path: &str,
    query: EnrollmentQuery,
) -> Result<Page<Enrollment>, ApiError> {
    policy::authorize(caller, Capability::ReadPersonData, None, Access::Read)?;
    let class_id = parse_uuid(path)?;
    let q = query;
    let limit = page_limit(q.limit)?;
    let after: Option<Position> = crate::domain::records::cursor_position(q.cursor.as_deref())?;
    let mut errors = Vec::new();
    let status = q.status.as_ref().map(|s| s.check("status", &mut errors));
    records::fail_if_any(errors)?;
    let status = status.map(records::valid).transpose()?;
    {
        class_in_scope(conn, caller, &class_id, Capability::ReadPersonData, Access::Read)?;
        let mut query = enrollments::table
            .inner_join(trainees::table)
            .filter(enrollments::class_id.eq(&class_id))
            .filter(enrollments::deleted_at.is_null())
            .select((enrollments::all_columns, trainees::full_name, trainees::search_name))
            .into_boxed();
        if let Some(s) = status {
            query = query.filter(enrollments::status.eq(s));
        }
        if let Some(Position(name, id)) = after {
            query = query.filter(trainees::search_name.gt(name.clone()).or(trainees::search_name.eq(name).and(enrollments::id.gt(id))));
        }
        let rows: Vec<(EnrollmentRow, String, String)> =
            query.order((trainees::search_name, enrollments::id)).limit(limit + 1).load(conn)?;
        records::page(rows, limit, |r| Position(r.2.clone(), r.0.id.clone()), |r| Ok(view(&r.0, r.1.clone())))
    }
}

/// Who was present at a session.
pub fn get_attendance(conn: &mut AnyConnection, caller: &Caller, path: (String, String)) -> Result<Attendance, ApiError> {
    policy::authorize(caller, Capability::ReadPersonData, None, Access::Read)?;
    let (class_id, session_id) = path;
    let (class_id, session_id) = (parse_uuid(&class_id)?, parse_uuid(&session_id)?);
    {
        class_in_scope(conn, caller, &class_id, Capability::ReadPersonData, Access::Read)?;
        session_of_class(conn, &class_id, &session_id)?;
        load_attendance(conn, &class_id, &session_id)
    }
}

/// Verify or reject a completion (officers and admins of the class's commune).
pub fn verify_completion(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    form: VerifyForm,
) -> Result<(i64, Enrollment), ApiError> {
    policy::authorize(caller, Capability::VerifyAndManagePersonData, None, Access::Write)?;
    let eid = parse_uuid(path)?;
    let mut errors = Vec::new();
    let decision = form.decision.check("decision", &mut errors);
    let reason = records::optional_text(form.reason.as_deref());
    if decision == Some(VerificationDecision::Rejected) && reason.is_none() {
        errors.push(FieldError::new("reason", "required", Text::new("Cần lý do khi không xác nhận.", "A rejection needs a reason.")));
    }
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        errors.push(FieldError::new("reason", "length", Text::new("Tối đa 500 ký tự.", "Must be at most 500 characters.")));
    }
    records::fail_if_any(errors)?;
    let decision = records::valid(decision)?;
    let (body, version) = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let row = load_enrollment(conn, &eid)?;
            let area = Area::of_commune(conn, &row.commune_code)?;
            policy::authorize(caller, Capability::VerifyAndManagePersonData, Some(&area), Access::Write)?;
            if row.completion_result.is_none() {
                return Err(error::conflict(
                    "no_completion",
                    Text::new("Chưa có kết quả hoàn thành để xác nhận.", "There is no completion to verify."),
                ));
            }
            w.touch(conn, Rec::Enrollment(eid.clone()))?;
            let seq = w.seq(conn)?;
            diesel::update(enrollments::table.find(&eid))
                .set((
                    enrollments::verification.eq(Some(decision)),
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
    }?;
    Ok((version, body))
}

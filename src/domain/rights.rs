//! A person's rights and records beyond the trainee itself: merging duplicates, erasure
//! (keeping de-identified facts), consent withdrawal, the export of everything held,
//! completions and platform certificates.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Area, Capability};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::time::utc;
use crate::domain::records::{self, parse_uuid, CreateOutcome, Write};
use crate::domain::stats::Rec;
use crate::domain::trainees::{load_trainee, trainee_erased, trainee_in_scope, Trainee};
use crate::store::db::AnyConnection;
use crate::store::rows::TraineeRow;
use crate::store::schema::{attendance_marks, enrollments, platform_certificates, trainees};
use crate::store::values::{Choice, ConsentKind};

/// Which duplicate to merge into which survivor.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"into": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}))]
pub struct MergeForm {
    /// The record that stays.
    pub into: String,
}

/// Removes what identifies a person, keeping de-identified facts (commune, gender, birth
/// year, target groups, enrollments, attendance, completions) so statistics stay right.
pub fn erase_personal_data(conn: &mut AnyConnection, w: &mut Write<'_>, row: &TraineeRow, reason: &str) -> Result<(), ApiError> {
    w.touch(conn, Rec::Trainee(row.id.clone()))?;
    let seq = w.seq(conn)?;
    diesel::update(trainees::table.find(&row.id))
        .set((
            trainees::full_name.eq(""),
            trainees::search_name.eq(""),
            trainees::phone.eq(None::<String>),
            trainees::id_hash.eq(None::<String>),
            trainees::id_last4.eq(None::<String>),
            trainees::ethnicity_code.eq(None::<String>),
            trainees::consent_ethnicity.eq(false),
            trainees::occupation.eq(None::<String>),
            trainees::hamlet_id.eq(None::<String>),
            trainees::erased_at.eq(Some(w.now)),
            // The replay digest was computed from the person's data.
            trainees::create_digest.eq(""),
            trainees::version.eq(row.version + 1),
            trainees::updated_at.eq(w.now),
            trainees::change_seq.eq(seq),
        ))
        .execute(conn)?;
    // Free text that may name the person; phones get the enrollments again (without the
    // name, which went with the trainee).
    diesel::update(enrollments::table.filter(enrollments::trainee_id.eq(&row.id)))
        .set((
            enrollments::drop_reason.eq(None::<String>),
            enrollments::attendance_override_reason.eq(None::<String>),
            enrollments::verification_reason.eq(None::<String>),
        ))
        .execute(conn)?;
    crate::domain::trainees::resend_enrollments(conn, w, &row.id, true)?;
    forget_copies(conn, &row.id)?;
    w.audit(
        conn,
        reason,
        "trainee",
        &row.id,
        Some(&row.commune_code),
        &["full_name", "phone", "personal_id", "ethnicity_code", "occupation", "hamlet_id", "free text"],
    )
}

/// Removes the person's data from every other place the server kept it (docs/PRIVACY.md
/// lists them): platform certificate numbers, pushed operations remembered for replays,
/// bodies of conflict reports, stored idempotent responses.
fn forget_copies(conn: &mut AnyConnection, trainee_id: &str) -> Result<(), ApiError> {
    use crate::store::schema::{idempotency_keys, sync_conflicts, sync_ops};
    diesel::update(platform_certificates::table.filter(platform_certificates::trainee_id.eq(trainee_id)))
        .set((platform_certificates::certificate_ref.eq(""), platform_certificates::create_digest.eq("")))
        .execute(conn)?;
    diesel::delete(sync_ops::table.filter(sync_ops::entity.eq("trainee")).filter(sync_ops::entity_id.eq(trainee_id))).execute(conn)?;
    diesel::update(sync_conflicts::table.filter(sync_conflicts::entity.eq("trainee")).filter(sync_conflicts::entity_id.eq(trainee_id)))
        .set((
            sync_conflicts::device_body.eq("{}"),
            sync_conflicts::note.eq(None::<String>),
            sync_conflicts::resolution_note.eq(None::<String>),
        ))
        .execute(conn)?;
    // A stored response names the trainee by id (a create's 201, a push's results): a
    // replay of it must not bring the data back.
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::response_body.like(format!("%{trainee_id}%")))).execute(conn)?;
    Ok(())
}

/// Which consent is withdrawn.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"consent": "ethnicity"}))]
pub struct WithdrawForm {
    #[schema(value_type = ConsentKind)]
    pub consent: Choice<ConsentKind>,
}

/// A certificate of the national online platform (binhdanhocvuso.gov.vn).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "7c3d2e6b-1f4a-4e8f-9a0b-1c2d3e4f5a6b", "trainee_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "certificate_ref": "BDHVS-2026-004512", "course": "Kỹ năng số cơ bản", "issued_on": "2026-10-10", "version": 1, "created_at": "2026-10-10T09:00:00Z"}))]
pub struct PlatformCertificate {
    pub id: String,
    pub trainee_id: String,
    pub certificate_ref: String,
    pub course: String,
    pub issued_on: NaiveDate,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

type CertificateRow = (String, String, String, String, NaiveDate, i64, NaiveDateTime);

fn certificate_view(r: &CertificateRow) -> PlatformCertificate {
    PlatformCertificate {
        id: r.0.clone(),
        trainee_id: r.1.clone(),
        certificate_ref: r.2.clone(),
        course: r.3.clone(),
        issued_on: r.4,
        version: r.5,
        created_at: utc(r.6),
    }
}

fn load_certificates(conn: &mut AnyConnection, trainee_id: &str) -> Result<Vec<PlatformCertificate>, ApiError> {
    let rows: Vec<CertificateRow> = platform_certificates::table
        .filter(platform_certificates::trainee_id.eq(trainee_id))
        .filter(platform_certificates::deleted_at.is_null())
        .order((platform_certificates::issued_on, platform_certificates::id))
        .select((
            platform_certificates::id,
            platform_certificates::trainee_id,
            platform_certificates::certificate_ref,
            platform_certificates::course,
            platform_certificates::issued_on,
            platform_certificates::version,
            platform_certificates::created_at,
        ))
        .load(conn)?;
    Ok(rows.iter().map(certificate_view).collect())
}

/// A new platform certificate.
#[derive(Debug, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"certificate_ref": "BDHVS-2026-000123", "course": "Kỹ năng số cơ bản", "issued_on": "2026-10-10"}))]
pub struct NewCertificate {
    pub id: Option<String>,
    /// The certificate number printed by the platform (1–100 characters).
    #[validate(length(min = 1, max = 100))]
    pub certificate_ref: String,
    /// 1–200 characters.
    #[validate(length(min = 1, max = 200))]
    pub course: String,
    pub issued_on: String,
}

/// A trainee's completions: class completions (with verification) and platform certificates.
#[derive(Debug, Serialize, ToSchema)]
pub struct Completions {
    pub class_completions: Vec<crate::domain::enrollments::Enrollment>,
    pub platform_certificates: Vec<PlatformCertificate>,
}

/// Everything held about a person (the right of access).
#[derive(Debug, Serialize, ToSchema)]
pub struct TraineeExport {
    pub trainee: Trainee,
    pub enrollments: Vec<crate::domain::enrollments::Enrollment>,
    /// Dates of the sessions the person attended, per class.
    pub attendance: Vec<AttendedSession>,
    pub platform_certificates: Vec<PlatformCertificate>,
    /// Who read this person's data, and when.
    pub access_log: Vec<AccessRecord>,
    pub exported_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttendedSession {
    pub class_id: String,
    pub session_id: String,
    pub held_on: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRecord {
    pub at: DateTime<Utc>,
    pub actor_id: String,
    pub actor_role: String,
    pub action: String,
}

/// Merge this trainee (a duplicate) into a survivor (officers, admins): its enrollments,
/// attendance and platform certificates move to the survivor (an enrollment in a class the
/// survivor is already in is dropped as `merged`), and it stays as a tombstone that points
/// to the survivor.
pub fn merge_trainee(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    form: MergeForm,
) -> Result<Trainee, ApiError> {
    policy::authorize(caller, Capability::VerifyAndManagePersonData, None, Access::Write)?;
    let dup_id = parse_uuid(path)?;
    let mut errors = Vec::new();
    let into = records::reference("into", &form.into, &mut errors);
    records::fail_if_any(errors)?;
    if into == dup_id {
        return Err(error::validation(vec![FieldError::new(
            "into",
            "same_record",
            Text::new("Không thể gộp một bản ghi vào chính nó.", "A record cannot be merged into itself."),
        )]));
    }
    let survivor = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let dup = trainee_in_scope(conn, caller, &dup_id, Capability::VerifyAndManagePersonData, Access::Write)?;
            let survivor = match load_trainee(conn, &into) {
                Ok(s) => s,
                Err(e) if e.status == 404 => return Err(records::unknown_reference("into")),
                Err(e) => return Err(e),
            };
            let area = Area::of_commune(conn, &survivor.commune_code)?;
            policy::authorize(caller, Capability::VerifyAndManagePersonData, Some(&area), Access::Write)?;
            w.touch(conn, Rec::Trainee(dup_id.clone()))?;
            w.touch(conn, Rec::Trainee(into.clone()))?;
            let moved: Vec<(String, String, i64)> = enrollments::table
                .filter(enrollments::trainee_id.eq(&dup_id))
                .filter(enrollments::deleted_at.is_null())
                .select((enrollments::id, enrollments::class_id, enrollments::version))
                .load(conn)?;
            for (eid, class_id, version) in moved {
                let clash: i64 = enrollments::table
                    .filter(enrollments::trainee_id.eq(&into))
                    .filter(enrollments::class_id.eq(&class_id))
                    .filter(enrollments::deleted_at.is_null())
                    .count()
                    .get_result(conn)?;
                let seq = w.seq(conn)?;
                if clash > 0 {
                    diesel::update(enrollments::table.find(&eid))
                        .set((
                            enrollments::status.eq("dropped"),
                            enrollments::drop_reason.eq(Some("merged")),
                            enrollments::version.eq(version + 1),
                            enrollments::updated_at.eq(w.now),
                            enrollments::change_seq.eq(seq),
                        ))
                        .execute(conn)?;
                } else {
                    diesel::update(enrollments::table.find(&eid))
                        .set((
                            enrollments::trainee_id.eq(&into),
                            enrollments::version.eq(version + 1),
                            enrollments::updated_at.eq(w.now),
                            enrollments::change_seq.eq(seq),
                        ))
                        .execute(conn)?;
                }
            }
            // Attendance: keep the survivor's mark where both were marked present.
            let marks: Vec<(String, String)> = attendance_marks::table
                .filter(attendance_marks::trainee_id.eq(&dup_id))
                .select((attendance_marks::session_id, attendance_marks::class_id))
                .load(conn)?;
            for (session_id, class_id) in marks {
                diesel::delete(attendance_marks::table.find((&session_id, &dup_id))).execute(conn)?;
                let exists: i64 = attendance_marks::table.find((&session_id, &into)).count().get_result(conn)?;
                if exists == 0 {
                    diesel::insert_into(attendance_marks::table)
                        .values((
                            attendance_marks::session_id.eq(&session_id),
                            attendance_marks::trainee_id.eq(&into),
                            attendance_marks::class_id.eq(&class_id),
                        ))
                        .execute(conn)?;
                }
                crate::domain::enrollments::bump_attendance(conn, &mut w, &session_id)?;
            }
            diesel::update(platform_certificates::table.filter(platform_certificates::trainee_id.eq(&dup_id)))
                .set(platform_certificates::trainee_id.eq(&into))
                .execute(conn)?;
            let seq = w.seq(conn)?;
            diesel::update(trainees::table.find(&dup_id))
                .set((
                    trainees::deleted_at.eq(Some(w.now)),
                    trainees::merged_into.eq(Some(&into)),
                    trainees::version.eq(dup.version + 1),
                    trainees::updated_at.eq(w.now),
                    trainees::change_seq.eq(seq),
                ))
                .execute(conn)?;
            w.audit(conn, "merge", "trainee", &dup_id, Some(&dup.commune_code), &["merged_into"])?;
            w.audit(conn, "merge_into", "trainee", &into, Some(&survivor.commune_code), &["enrollments"])?;
            w.finish(conn)?;
            load_trainee(conn, &into)
        })
    }?;
    Ok(Trainee::from(&survivor))
}

/// Erase a person's data (officers, admins), keeping de-identified facts for statistics.
pub fn erase_trainee(conn: &mut AnyConnection, caller: &Caller, meta: &RequestMeta, path: &str) -> Result<Trainee, ApiError> {
    policy::authorize(caller, Capability::VerifyAndManagePersonData, None, Access::Write)?;
    let id = parse_uuid(path)?;
    let row = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let row = trainee_in_scope(conn, caller, &id, Capability::VerifyAndManagePersonData, Access::Write)?;
            if row.erased_at.is_some() {
                return Err(trainee_erased());
            }
            erase_personal_data(conn, &mut w, &row, "erase")?;
            w.finish(conn)?;
            load_trainee(conn, &id)
        })
    }?;
    Ok(Trainee::from(&row))
}

/// Record that the person withdrew a consent; what it covered is removed at once.
pub fn withdraw_consent(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    form: WithdrawForm,
) -> Result<Trainee, ApiError> {
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let id = parse_uuid(path)?;
    let mut errors = Vec::new();
    let which = form.consent.check("consent", &mut errors);
    records::fail_if_any(errors)?;
    let which = records::valid(which)?;
    let row = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let row = trainee_in_scope(conn, caller, &id, Capability::RecordPersonData, Access::Write)?;
            if row.erased_at.is_some() {
                return Err(trainee_erased());
            }
            if which == ConsentKind::Basic {
                erase_personal_data(conn, &mut w, &row, "withdraw_basic_consent")?;
                let seq = w.seq(conn)?;
                diesel::update(trainees::table.find(&id))
                    .set((trainees::consent_basic.eq(false), trainees::change_seq.eq(seq)))
                    .execute(conn)?;
            } else {
                w.touch(conn, Rec::Trainee(id.clone()))?;
                let seq = w.seq(conn)?;
                diesel::update(trainees::table.find(&id))
                    .set((
                        trainees::ethnicity_code.eq(None::<String>),
                        trainees::consent_ethnicity.eq(false),
                        trainees::version.eq(row.version + 1),
                        trainees::updated_at.eq(w.now),
                        trainees::change_seq.eq(seq),
                    ))
                    .execute(conn)?;
                w.audit(
                    conn,
                    "withdraw_ethnicity_consent",
                    "trainee",
                    &id,
                    Some(&row.commune_code),
                    &["ethnicity_code", "consent_ethnicity"],
                )?;
            }
            w.finish(conn)?;
            load_trainee(conn, &id)
        })
    }?;
    Ok(Trainee::from(&row))
}

/// Record a national-platform certificate of a trainee. Kept apart from class
/// completions; statistics count a person once however they qualified.
pub fn create_certificate(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    path: &str,
    form: NewCertificate,
) -> Result<(CreateOutcome, PlatformCertificate), ApiError> {
    policy::authorize(caller, Capability::RecordPersonData, None, Access::Write)?;
    let trainee_id = parse_uuid(path)?;
    let digest = records::digest(&form);
    let mut errors = Vec::new();
    records::validate_form(&form, &mut errors);
    let id = records::new_record_id(form.id.as_deref(), &mut errors);
    let issued_on = records::date("issued_on", &form.issued_on, &mut errors);
    records::fail_if_any(errors)?;
    let Some(issued_on) = issued_on else { return Err(error::internal_invariant()) };
    let (cref, course) = (form.certificate_ref.trim().to_owned(), form.course.trim().to_owned());
    let (outcome, cert) = {
        crate::store::db::write_tx(conn, |conn| -> Result<_, ApiError> {
            let mut w = Write::new(caller, meta);
            w.serialise(conn)?;
            let t = trainee_in_scope(conn, caller, &trainee_id, Capability::RecordPersonData, Access::Write)?;
            let existing = platform_certificates::table
                .find(&id)
                .select((
                    platform_certificates::create_digest,
                    platform_certificates::deleted_at.is_not_null(),
                    platform_certificates::trainee_id,
                ))
                .first::<(String, bool, String)>(conn)
                .optional()?;
            let outcome = records::check_replay_in(existing, &trainee_id, &digest, &form)?;
            if outcome == CreateOutcome::New {
                let same: i64 = platform_certificates::table
                    .filter(platform_certificates::trainee_id.eq(&trainee_id))
                    .filter(platform_certificates::certificate_ref.eq(&cref))
                    .filter(platform_certificates::deleted_at.is_null())
                    .count()
                    .get_result(conn)?;
                if same > 0 {
                    return Err(error::conflict(
                        "certificate_exists",
                        Text::new("Chứng chỉ này đã được ghi.", "This certificate is already recorded."),
                    ));
                }
                w.touch(conn, Rec::Trainee(trainee_id.clone()))?;
                let seq = w.seq(conn)?;
                diesel::insert_into(platform_certificates::table)
                    .values((
                        platform_certificates::id.eq(&id),
                        platform_certificates::version.eq(1i64),
                        platform_certificates::created_at.eq(w.now),
                        platform_certificates::updated_at.eq(w.now),
                        platform_certificates::deleted_at.eq(None::<NaiveDateTime>),
                        platform_certificates::change_seq.eq(seq),
                        platform_certificates::create_digest.eq(digest.stored()),
                        platform_certificates::trainee_id.eq(&trainee_id),
                        platform_certificates::commune_code.eq(&t.commune_code),
                        platform_certificates::certificate_ref.eq(&cref),
                        platform_certificates::course.eq(&course),
                        platform_certificates::issued_on.eq(issued_on),
                    ))
                    .execute(conn)?;
                w.audit(conn, "create", "platform_certificate", &id, Some(&t.commune_code), &["certificate_ref", "course", "issued_on"])?;
                w.finish(conn)?;
            }
            let cert = load_certificates(conn, &trainee_id)?.into_iter().find(|c| c.id == id).ok_or_else(error::not_found)?;
            Ok((outcome, cert))
        })
    }?;
    Ok((outcome, cert))
}

/// A trainee's completions (access-logged).
pub fn list_completions(conn: &mut AnyConnection, caller: &Caller, path: &str) -> Result<Completions, ApiError> {
    policy::authorize(caller, Capability::ReadPersonData, None, Access::Read)?;
    let id = parse_uuid(path)?;
    let c = caller.clone();
    let body = {
        trainee_in_scope(conn, &c, &id, Capability::ReadPersonData, Access::Read)?;
        let class_completions = crate::domain::enrollments::of_trainee(conn, &id)?.into_iter().filter(|e| e.completion.is_some()).collect();
        Completions { class_completions, platform_certificates: load_certificates(conn, &id)? }
    };
    Ok(body)
}

/// Export everything held about a trainee (officers, admins; access-logged).
pub fn export_trainee(conn: &mut AnyConnection, caller: &Caller, path: &str) -> Result<TraineeExport, ApiError> {
    policy::authorize(caller, Capability::VerifyAndManagePersonData, None, Access::Read)?;
    let id = parse_uuid(path)?;
    // Earlier reads must be in the export.
    let c = caller.clone();
    let body = {
        use crate::store::schema::{access_log, class_sessions};
        let row = trainee_in_scope(conn, &c, &id, Capability::VerifyAndManagePersonData, Access::Read)?;
        let attendance: Vec<(String, String, NaiveDate)> = attendance_marks::table
            .inner_join(class_sessions::table.on(class_sessions::id.eq(attendance_marks::session_id)))
            .filter(attendance_marks::trainee_id.eq(&id))
            .filter(class_sessions::deleted_at.is_null())
            .order(class_sessions::held_on)
            .select((attendance_marks::class_id, attendance_marks::session_id, class_sessions::held_on))
            .load(conn)?;
        let log: Vec<(NaiveDateTime, String, String, String)> = access_log::table
            .filter(access_log::entity_id.eq(&id))
            .order(access_log::id)
            .select((access_log::at, access_log::actor_id, access_log::actor_role, access_log::action))
            .load(conn)?;
        TraineeExport {
            trainee: Trainee::from(&row),
            enrollments: crate::domain::enrollments::of_trainee(conn, &id)?,
            attendance: attendance
                .into_iter()
                .map(|(class_id, session_id, held_on)| AttendedSession { class_id, session_id, held_on })
                .collect(),
            platform_certificates: load_certificates(conn, &id)?,
            access_log: log
                .into_iter()
                .map(|(at, actor_id, actor_role, action)| AccessRecord { at: utc(at), actor_id, actor_role, action })
                .collect(),
            exported_at: utc(crate::store::db::now()),
        }
    };
    Ok(body)
}

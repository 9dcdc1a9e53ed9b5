//! Enrollment, attendance and completion: `/classes/{id}/enrollments`,
//! `/classes/{id}/sessions/{session_id}/attendance`, `/enrollments/{id}/completion`,
//! `/enrollments/{id}/verify`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::base::error::{ApiError, Problem};
use crate::domain::enrollments::{
    self, create_enrollment_in, drop_enrollment_in, put_attendance_in, record_completion_in, Attendance, AttendanceForm, CompletionForm,
    DropForm, DropQuery, Enrollment, EnrollmentQuery, NewEnrollment, VerifyForm,
};
use crate::domain::records::{self, parse_uuid, IfMatch, Page};
use crate::http::extract::OptionalJson;
use crate::http::respond::{created, ok_with_etag, with_etag};
use crate::http::responses::{MissingIfMatch, StaleVersion, Unauthorized};
use crate::http::state::AppState;

/// Enroll a trainee in a class. A trainee of another commune may join (people travel); the
/// caller must be allowed on the class's commune.
#[utoipa::path(
    post, path = "/api/v1/classes/{id}/enrollments", tag = "enrollments", request_body = NewEnrollment,
    params(("id" = String, Path, description = "Class id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Enrolled", body = Enrollment),
        (status = 200, description = "Replay of an earlier identical create", body = Enrollment),
        (status = 401, response = Unauthorized),
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
    let class_id = parse_uuid(&path)?;
    let form = form.into_inner();
    let (outcome, body, version) = state
        .db
        .run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| create_enrollment_in(conn, w, class_id, form)))
        .await?;
    Ok(created(outcome, version, &body))
}

/// Enrollments of a class, by trainee name (access-logged).
#[utoipa::path(
    get, path = "/api/v1/classes/{id}/enrollments", tag = "enrollments",
    params(("id" = String, Path, description = "Class id"), EnrollmentQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Enrollments", body = Page<Enrollment>),
        (status = 401, response = Unauthorized),
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
    let who = caller.clone();
    let page = state.db.run(move |conn| enrollments::list_enrollments(conn, &who, &path, query.into_inner())).await?;
    state.access_log.record(&caller, &meta.request_id, "list", "enrollment", None, page.items.len());
    state.access_log.record_people(&caller, &meta.request_id, "list", page.items.iter().map(|e| e.trainee_id.as_str()));
    Ok(HttpResponse::Ok().json(page))
}

/// Drop an enrollment (the trainee left), with the reason. Needs `If-Match`.
#[utoipa::path(
    delete, path = "/api/v1/classes/{id}/enrollments/{enrollment_id}", tag = "enrollments",
    request_body(content = Option<DropForm>, description = "The reason; or leave the body out and give `?reason=`"),
    params(("id" = String, Path, description = "Class id"), ("enrollment_id" = String, Path, description = "Enrollment id"),
           ("reason" = Option<String>, Query, description = "The reason, for a client that sends no body (the body wins when both are given)"),
           ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Dropped", body = Enrollment),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never touch person-level data; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such enrollment in this class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already dropped, or completed", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json"),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn drop_enrollment(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
    query: web::Query<DropQuery>,
    form: OptionalJson<DropForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.0.unwrap_or(DropForm { reason: query.into_inner().reason.unwrap_or_default() });
    let (class_id, eid) = path.into_inner();
    let (class_id, eid) = (parse_uuid(&class_id)?, parse_uuid(&eid)?);
    let (body, version) = state
        .db
        .run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| drop_enrollment_in(conn, w, class_id, eid, &if_match, form)))
        .await?;
    Ok(ok_with_etag(version, &body))
}

/// Record who was present at a session. Replaces the list; sending the same list again
/// changes nothing. `If-Match` (the list's version) is checked when sent.
#[utoipa::path(
    put, path = "/api/v1/classes/{id}/sessions/{session_id}/attendance", tag = "enrollments", request_body = AttendanceForm,
    params(
        ("id" = String, Path, description = "Class id"), ("session_id" = String, Path, description = "Session id"),
        ("If-Match" = Option<String>, Header, description = "Optional: the list's ETag (`\"v0\"` before the first list); when sent, a stale one is 412"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The list as stored", body = Attendance),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never touch person-level data; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session in this class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The class is cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
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
    let (class_id, session_id) = (parse_uuid(&class_id)?, parse_uuid(&session_id)?);
    let body = state
        .db
        .run(move |conn| {
            records::in_write_tx(conn, &caller, &meta, |conn, w| {
                put_attendance_in(conn, w, class_id, session_id, &if_match, form.into_inner())
            })
        })
        .await?;
    Ok(ok_with_etag(body.version, &body))
}

/// Who was present at a session.
#[utoipa::path(
    get, path = "/api/v1/classes/{id}/sessions/{session_id}/attendance", tag = "enrollments",
    params(("id" = String, Path, description = "Class id"), ("session_id" = String, Path, description = "Session id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The list", body = Attendance),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never read person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session in this class, or outside the scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_attendance(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let body = state
        .db
        .run(move |conn| {
            let (class_id, session_id) = path.into_inner();
            enrollments::get_attendance(conn, &caller, (class_id, session_id))
        })
        .await?;
    Ok(ok_with_etag(body.version, &body))
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
        (status = 401, response = Unauthorized),
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
    let eid = parse_uuid(&path)?;
    let form = form.into_inner();
    let (body, version) =
        state.db.run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| record_completion_in(conn, w, eid, form))).await?;
    Ok(with_etag(StatusCode::CREATED, version, &body))
}

/// Verify or reject a completion (officers and admins of the class's commune).
#[utoipa::path(
    post, path = "/api/v1/enrollments/{id}/verify", tag = "enrollments", request_body = VerifyForm,
    params(("id" = String, Path, description = "Enrollment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Decided", body = Enrollment),
        (status = 401, response = Unauthorized),
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
    let (version, body) = state.db.run(move |conn| enrollments::verify_completion(conn, &caller, &meta, &path, form.into_inner())).await?;
    Ok(ok_with_etag(version, &body))
}

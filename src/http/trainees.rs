//! Trainees and a person's rights: `/trainees`, `/trainees/{id}`, merge, erase, export,
//! consent withdrawal, completions and platform certificates. Reads of personal data are
//! recorded in the access log here, after they succeed.

use actix_web::{web, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::base::error::{ApiError, Problem};
use crate::domain::records::{IfMatch, Page};
use crate::domain::rights::{self, Completions, MergeForm, NewCertificate, PlatformCertificate, TraineeExport, WithdrawForm};
use crate::domain::trainees::{self, NewTrainee, Trainee, TraineePatch, TraineeQuery, TraineeWithWarnings};
use crate::http::respond::{created, ok_with_etag};
use crate::http::responses::{BadQuery, InvalidFields, MissingIfMatch, StaleVersion, Unauthorized};
use crate::http::state::AppState;

/// Record a trainee (team members of the commune, officers, admins).
#[utoipa::path(
    post, path = "/api/v1/trainees", tag = "trainees", request_body = NewTrainee,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `possible_duplicates` lists look-alikes in scope", body = TraineeWithWarnings),
        (status = 200, description = "Replay of an earlier identical create", body = TraineeWithWarnings),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never touch person-level data; or the commune is outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is used by a different record", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, missing consent, ethnicity without its consent", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_trainee(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    form: web::Json<NewTrainee>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let (who, request_id) = (caller.clone(), meta.request_id.clone());
    let (outcome, body) =
        state.db.run(move |conn| trainees::create_trainee(conn, &caller, &meta, &st.config.id_hash_secret, form.into_inner())).await?;
    state.access_log.record_people(&who, &request_id, "duplicates", body.possible_duplicates.iter().map(|d| d.id.as_str()));
    Ok(created(outcome, body.trainee.version, &body))
}

/// One trainee (access-logged).
#[utoipa::path(
    get, path = "/api/v1/trainees/{id}", tag = "trainees",
    params(("id" = String, Path, description = "Trainee id")),
    security(("bearer" = [])),
    responses(
        (status = 410, description = "The trainee was merged into another (`record_merged`): `merged_into` names the survivor", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The trainee; ETag carries the version", body = Trainee),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never read person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_trainee(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let who = caller.clone();
    let trainee = state.db.run(move |conn| trainees::get_trainee(conn, &who, &path)).await?;
    state.access_log.record(&caller, &meta.request_id, "read", "trainee", Some(&trainee.id), 1);
    Ok(ok_with_etag(trainee.version, &trainee))
}

/// Trainees in the caller's scope, by name (access-logged with the number of rows).
#[utoipa::path(
    get, path = "/api/v1/trainees", tag = "trainees", params(TraineeQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Trainees", body = Page<Trainee>),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never read person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_trainees(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    query: web::Query<TraineeQuery>,
) -> Result<HttpResponse, ApiError> {
    let who = caller.clone();
    let page = state.db.run(move |conn| trainees::list_trainees(conn, &who, query.into_inner())).await?;
    state.access_log.record(&caller, &meta.request_id, "list", "trainee", None, page.items.len());
    state.access_log.record_people(&caller, &meta.request_id, "list", page.items.iter().map(|t| t.id.as_str()));
    Ok(HttpResponse::Ok().json(page))
}

/// Change a trainee. Needs `If-Match`. Moving a trainee to another commune needs the
/// caller to cover both.
#[utoipa::path(
    patch, path = "/api/v1/trainees/{id}", tag = "trainees", request_body = TraineePatch,
    params(("id" = String, Path, description = "Trainee id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; `possible_duplicates` lists look-alikes in scope", body = TraineeWithWarnings),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never touch person-level data; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The person's data was erased", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, response = InvalidFields),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn update_trainee(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
    patch: web::Json<TraineePatch>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let (who, request_id) = (caller.clone(), meta.request_id.clone());
    let body = state
        .db
        .run(move |conn| trainees::update_trainee(conn, &caller, &meta, &if_match, &path, &st.config.id_hash_secret, patch.into_inner()))
        .await?;
    state.access_log.record_people(&who, &request_id, "duplicates", body.possible_duplicates.iter().map(|d| d.id.as_str()));
    Ok(ok_with_etag(body.trainee.version, &body))
}

/// Delete a trainee recorded by mistake (tombstone). Refused while the trainee has
/// enrollments: drop them first, or merge the record into its duplicate.
#[utoipa::path(
    delete, path = "/api/v1/trainees/{id}", tag = "trainees",
    params(("id" = String, Path, description = "Trainee id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never touch person-level data; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The trainee has enrollments, dropped ones too (`trainee_has_enrollments`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn delete_trainee(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.db.run(move |conn| trainees::delete_trainee(conn, &caller, &meta, &if_match, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Merge this trainee (a duplicate) into a survivor (officers, admins): its enrollments,
/// attendance and platform certificates move to the survivor (an enrollment in a class the
/// survivor is already in is dropped as `merged`), and it stays as a tombstone that points
/// to the survivor.
#[utoipa::path(
    post, path = "/api/v1/trainees/{id}/merge", tag = "trainees", request_body = MergeForm,
    params(("id" = String, Path, description = "The duplicate")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The survivor after the merge", body = Trainee),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Only officers and admins merge; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Merging a record into itself or into an unknown record", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn merge_trainee(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<MergeForm>,
) -> Result<HttpResponse, ApiError> {
    let survivor = state.db.run(move |conn| rights::merge_trainee(conn, &caller, &meta, &path, form.into_inner())).await?;
    Ok(ok_with_etag(survivor.version, &survivor))
}

/// Erase a person's data (officers, admins), keeping de-identified facts for statistics.
#[utoipa::path(
    post, path = "/api/v1/trainees/{id}/erase", tag = "trainees",
    params(("id" = String, Path, description = "Trainee id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The de-identified record", body = Trainee),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Only officers and admins erase; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already erased", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn erase_trainee(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let trainee = state.db.run(move |conn| rights::erase_trainee(conn, &caller, &meta, &path)).await?;
    Ok(ok_with_etag(trainee.version, &trainee))
}

/// Record that the person withdrew a consent; what it covered is removed at once.
#[utoipa::path(
    post, path = "/api/v1/trainees/{id}/consent/withdraw", tag = "trainees", request_body = WithdrawForm,
    params(("id" = String, Path, description = "Trainee id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record after the withdrawal", body = Trainee),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never touch person-level data; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown consent", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn withdraw_consent(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<WithdrawForm>,
) -> Result<HttpResponse, ApiError> {
    let trainee = state.db.run(move |conn| rights::withdraw_consent(conn, &caller, &meta, &path, form.into_inner())).await?;
    Ok(ok_with_etag(trainee.version, &trainee))
}

/// Record a national-platform certificate of a trainee. Kept apart from class
/// completions; statistics count a person once however they qualified.
#[utoipa::path(
    post, path = "/api/v1/trainees/{id}/platform-certificates", tag = "trainees", request_body = NewCertificate,
    params(("id" = String, Path, description = "Trainee id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = PlatformCertificate),
        (status = 200, description = "Replay of an earlier identical create", body = PlatformCertificate),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never touch person-level data; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is used by a different record, or this certificate is already recorded", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn create_certificate(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<NewCertificate>,
) -> Result<HttpResponse, ApiError> {
    let (outcome, cert) = state.db.run(move |conn| rights::create_certificate(conn, &caller, &meta, &path, form.into_inner())).await?;
    Ok(created(outcome, cert.version, &cert))
}

/// A trainee's completions (access-logged).
#[utoipa::path(
    get, path = "/api/v1/trainees/{id}/completions", tag = "trainees",
    params(("id" = String, Path, description = "Trainee id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Class completions and platform certificates", body = Completions),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts never read person-level data", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_completions(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (who, id) = (caller.clone(), path.into_inner());
    let trainee_id = id.clone();
    let body = state.db.run(move |conn| rights::list_completions(conn, &who, &id)).await?;
    state.access_log.record(&caller, &meta.request_id, "read", "trainee_completions", Some(&trainee_id), 1);
    Ok(HttpResponse::Ok().json(body))
}

/// Export everything held about a trainee (officers, admins; access-logged).
#[utoipa::path(
    get, path = "/api/v1/trainees/{id}/export", tag = "trainees",
    params(("id" = String, Path, description = "Trainee id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Everything held about the person", body = TraineeExport),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Only officers and admins export", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such trainee in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_trainee(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // The export lists every read of the person's data: write the buffered ones first.
    state.access_log.flush(&state.db).await?;
    let who = caller.clone();
    let body = state.db.run(move |conn| rights::export_trainee(conn, &who, &path)).await?;
    state.access_log.record(&caller, &meta.request_id, "export", "trainee", Some(&body.trainee.id), 1);
    Ok(HttpResponse::Ok().json(body))
}

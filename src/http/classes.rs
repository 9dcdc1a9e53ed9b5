//! Classes and their sessions: `/classes`, `/classes/{id}`, `/classes/{id}/cancel`,
//! `/classes/{id}/sessions`, `/classes/{id}/sessions/{session_id}`.

use actix_web::{web, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::base::error::{ApiError, Problem};
use crate::domain::classes::{
    self, cancel_class_in, create_class_in, update_class_in, CancelForm, Class, ClassPatch, ClassQuery, NewClass,
};
use crate::domain::records::{self, parse_uuid, IfMatch, Page};
use crate::domain::sessions::{
    self, create_session_in, delete_session_in, update_session_in, NewSession, Session, SessionPatch, SessionQuery,
};
use crate::http::respond::{created, ok_with_etag};
use crate::http::responses::{BadQuery, InvalidFields, MissingIfMatch, StaleVersion, Unauthorized};
use crate::http::state::AppState;

/// Classes in the caller's scope, by start date.
#[utoipa::path(
    get, path = "/api/v1/classes", tag = "classes", params(ClassQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Classes", body = Page<Class>),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter values", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_classes(state: web::Data<AppState>, caller: Caller, query: web::Query<ClassQuery>) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| classes::list_classes(conn, &caller, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Record a class (team members of the commune, officers, admins).
#[utoipa::path(
    post, path = "/api/v1/classes", tag = "classes", request_body = NewClass,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Class),
        (status = 200, description = "Replay of an earlier identical create", body = Class),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts may not record; or the commune is outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is used by a different record", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or references", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_class(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    form: web::Json<NewClass>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let (outcome, (version, body)) =
        state.db.run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| create_class_in(conn, w, form))).await?;
    Ok(created(outcome, version, &body))
}

/// One class.
#[utoipa::path(
    get, path = "/api/v1/classes/{id}", tag = "classes",
    params(("id" = String, Path, description = "Class id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The class; ETag carries its version", body = Class),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such class in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_class(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (version, body) = state.db.run(move |conn| classes::get_class(conn, &caller, &path)).await?;
    Ok(ok_with_etag(version, &body))
}

/// Change a class. Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/classes/{id}", tag = "classes", request_body = ClassPatch,
    params(("id" = String, Path, description = "Class id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Class),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts may not record; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Status move not allowed, or the class is cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, response = InvalidFields),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn update_class(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
    patch: web::Json<ClassPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid(&path)?;
    let p = patch.into_inner();
    let (version, body) =
        state.db.run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| update_class_in(conn, w, id, &if_match, p))).await?;
    Ok(ok_with_etag(version, &body))
}

/// Cancel a planned or ongoing class, with the reason. Needs `If-Match`, like every change.
#[utoipa::path(
    post, path = "/api/v1/classes/{id}/cancel", tag = "classes", request_body = CancelForm,
    params(("id" = String, Path, description = "Class id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = Class),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts may not record; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The class is completed or already cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json"),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn cancel_class(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
    form: web::Json<CancelForm>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_uuid(&path)?;
    if_match.require()?;
    let (version, body) = state
        .db
        .run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| cancel_class_in(conn, w, id, &if_match, form.into_inner())))
        .await?;
    Ok(ok_with_etag(version, &body))
}

/// Sessions of a class, by date.
#[utoipa::path(
    get, path = "/api/v1/classes/{id}/sessions", tag = "classes",
    params(("id" = String, Path, description = "Class id"), SessionQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Sessions", body = Page<Session>),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such class in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_sessions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| sessions::list_sessions(conn, &caller, &path, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Record a session of a class.
#[utoipa::path(
    post, path = "/api/v1/classes/{id}/sessions", tag = "classes", request_body = NewSession,
    params(("id" = String, Path, description = "Class id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Session),
        (status = 200, description = "Replay of an earlier identical create", body = Session),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts may not record; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The class is cancelled, or the id is used by a different record", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; date outside the class dates", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_session(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<NewSession>,
) -> Result<HttpResponse, ApiError> {
    let class_id = parse_uuid(&path)?;
    let form = form.into_inner();
    let (outcome, row) =
        state.db.run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| create_session_in(conn, w, class_id, form))).await?;
    Ok(created(outcome, row.version, &Session::from(&row)))
}

/// Change a session. Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/classes/{id}/sessions/{session_id}", tag = "classes", request_body = SessionPatch,
    params(("id" = String, Path, description = "Class id"), ("session_id" = String, Path, description = "Session id"),
           ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Session),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts may not record; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session of this class", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The class is cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, response = InvalidFields),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn update_session(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
    patch: web::Json<SessionPatch>,
) -> Result<HttpResponse, ApiError> {
    let (class_id, session_id) = path.into_inner();
    let (class_id, session_id) = (parse_uuid(&class_id)?, parse_uuid(&session_id)?);
    let p = patch.into_inner();
    let row = state
        .db
        .run(move |conn| {
            records::in_write_tx(conn, &caller, &meta, |conn, w| update_session_in(conn, w, class_id, session_id, &if_match, p))
        })
        .await?;
    Ok(ok_with_etag(row.version, &Session::from(&row)))
}

/// Delete a session (tombstone).
#[utoipa::path(
    delete, path = "/api/v1/classes/{id}/sessions/{session_id}", tag = "classes",
    params(("id" = String, Path, description = "Class id"), ("session_id" = String, Path, description = "Session id"),
           ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts may not record; or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session of this class", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn delete_session(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (class_id, session_id) = path.into_inner();
    let (class_id, session_id) = (parse_uuid(&class_id)?, parse_uuid(&session_id)?);
    state
        .db
        .run(move |conn| records::in_write_tx(conn, &caller, &meta, |conn, w| delete_session_in(conn, w, class_id, session_id, &if_match)))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

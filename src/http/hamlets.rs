//! Hamlets (thôn) and residential groups (tổ dân phố): `/units/{code}/hamlets`,
//! `/hamlets/{id}`.

use actix_web::{web, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::base::error::{ApiError, Problem};
use crate::domain::hamlets::{self, Hamlet, HamletPatch, NewHamlet, PageQuery};
use crate::domain::records::{IfMatch, Page};
use crate::http::respond::{created, ok_with_etag};
use crate::http::responses::{InvalidFields, MissingIfMatch, StaleVersion, Unauthorized};
use crate::http::state::AppState;

/// Hamlets of a commune, by name.
#[utoipa::path(
    get, path = "/api/v1/units/{code}/hamlets", tag = "hamlets",
    params(("code" = String, Path, description = "Commune-level unit code (5 digits)"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Hamlets", body = Page<Hamlet>),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not read field records (analyst)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such unit in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_hamlets(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| hamlets::list_hamlets(conn, &caller, &path, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Add a hamlet to a commune (officer or admin of that commune).
#[utoipa::path(
    post, path = "/api/v1/units/{code}/hamlets", tag = "hamlets", request_body = NewHamlet,
    params(("code" = String, Path, description = "Commune-level unit code (5 digits)")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Hamlet),
        (status = 200, description = "Replay of an earlier identical create", body = Hamlet),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage hamlets, or the commune is outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such unit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is used by a different record", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn create_hamlet(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<NewHamlet>,
) -> Result<HttpResponse, ApiError> {
    let (outcome, hamlet) = state.db.run(move |conn| hamlets::create_hamlet(conn, &caller, &meta, &path, form.into_inner())).await?;
    Ok(created(outcome, hamlet.version, &hamlet))
}

/// Rename a hamlet or change its kind. Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/hamlets/{id}", tag = "hamlets", request_body = HamletPatch,
    params(("id" = String, Path, description = "Hamlet id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Hamlet),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage hamlets, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hamlet", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, response = InvalidFields),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn update_hamlet(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
    patch: web::Json<HamletPatch>,
) -> Result<HttpResponse, ApiError> {
    let hamlet = state.db.run(move |conn| hamlets::update_hamlet(conn, &caller, &meta, &if_match, &path, patch.into_inner())).await?;
    Ok(ok_with_etag(hamlet.version, &hamlet))
}

/// Delete a hamlet that no live team, class or trainee names (a tombstone).
#[utoipa::path(
    delete, path = "/api/v1/hamlets/{id}", tag = "hamlets",
    params(("id" = String, Path, description = "Hamlet id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 409, description = "Teams, classes or trainees name the hamlet (`hamlet_in_use`)", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage hamlets, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such hamlet", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn delete_hamlet(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.db.run(move |conn| hamlets::delete_hamlet(conn, &caller, &meta, &if_match, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

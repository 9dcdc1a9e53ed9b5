//! Teams and their members: `/teams`, `/teams/{id}`, `/teams/{id}/members`,
//! `/teams/{id}/members/{member_id}`.

use actix_web::{web, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::base::error::{ApiError, Problem};
use crate::domain::members::{self, Member, MemberPatch, MemberQuery, NewMember};
use crate::domain::records::{IfMatch, Page};
use crate::domain::teams::{self, NewTeam, Team, TeamPatch, TeamQuery};
use crate::http::respond::{created, ok_with_etag};
use crate::http::responses::{BadQuery, InvalidFields, MissingIfMatch, StaleVersion, Unauthorized};
use crate::http::state::AppState;

/// Teams in the caller's scope, by name.
#[utoipa::path(
    get, path = "/api/v1/teams", tag = "teams", params(TeamQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Teams", body = Page<Team>),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_teams(state: web::Data<AppState>, caller: Caller, query: web::Query<TeamQuery>) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| teams::list_teams(conn, &caller, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Set up a team (officer or admin of the commune).
#[utoipa::path(
    post, path = "/api/v1/teams", tag = "teams", request_body = NewTeam,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Team),
        (status = 200, description = "Replay of an earlier identical create", body = Team),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage teams, or the commune is outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is used by a different record", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or references", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_team(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    form: web::Json<NewTeam>,
) -> Result<HttpResponse, ApiError> {
    let (outcome, team) = state.db.run(move |conn| teams::create_team(conn, &caller, &meta, form.into_inner())).await?;
    Ok(created(outcome, team.version, &team))
}

/// One team.
#[utoipa::path(
    get, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "Team id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The team; ETag carries its version", body = Team),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_team(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let team = state.db.run(move |conn| teams::get_team(conn, &caller, &path)).await?;
    Ok(ok_with_etag(team.version, &team))
}

/// Change a team. Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/teams/{id}", tag = "teams", request_body = TeamPatch,
    params(("id" = String, Path, description = "Team id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Team),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, response = InvalidFields),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn update_team(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
    patch: web::Json<TeamPatch>,
) -> Result<HttpResponse, ApiError> {
    let team = state.db.run(move |conn| teams::update_team(conn, &caller, &meta, &if_match, &path, patch.into_inner())).await?;
    Ok(ok_with_etag(team.version, &team))
}

/// Delete a team (tombstone). Refused while classes of the team exist: cancel or move them
/// first, or mark the team inactive instead.
#[utoipa::path(
    delete, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "Team id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The team has classes (`team_has_classes`) or members (`team_has_members`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn delete_team(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.db.run(move |conn| teams::delete_team(conn, &caller, &meta, &if_match, &path)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Members of a team.
#[utoipa::path(
    get, path = "/api/v1/teams/{id}/members", tag = "teams",
    params(("id" = String, Path, description = "Team id"), MemberQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Members by name", body = Page<Member>),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Analysts do not read records", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_members(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| members::list_members(conn, &caller, &path, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Add a member to a team (officer or admin of the commune).
#[utoipa::path(
    post, path = "/api/v1/teams/{id}/members", tag = "teams", request_body = NewMember,
    params(("id" = String, Path, description = "Team id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Member),
        (status = 200, description = "Replay of an earlier identical create", body = Member),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Id used by another record, or the person is in another team of the commune", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn create_member(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<NewMember>,
) -> Result<HttpResponse, ApiError> {
    let (outcome, member) = state.db.run(move |conn| members::create_member(conn, &caller, &meta, &path, form.into_inner())).await?;
    Ok(created(outcome, member.version, &member))
}

/// Change a member (e.g. record the day they left). Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/teams/{id}/members/{member_id}", tag = "teams", request_body = MemberPatch,
    params(("id" = String, Path, description = "Team id"), ("member_id" = String, Path, description = "Member id"),
           ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Member),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member of this team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The person is in another team of the commune", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, response = InvalidFields),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn update_member(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
    patch: web::Json<MemberPatch>,
) -> Result<HttpResponse, ApiError> {
    let member = state
        .db
        .run(move |conn| {
            let (team_id, member_id) = path.into_inner();
            members::update_member(conn, &caller, &meta, &if_match, (team_id, member_id), patch.into_inner())
        })
        .await?;
    Ok(ok_with_etag(member.version, &member))
}

/// Remove a member record (tombstone). To record that someone left, set `left_on` instead.
#[utoipa::path(
    delete, path = "/api/v1/teams/{id}/members/{member_id}", tag = "teams",
    params(("id" = String, Path, description = "Team id"), ("member_id" = String, Path, description = "Member id"),
           ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 409, description = "The member teaches classes (`member_teaches_classes`)", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Deleted"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not manage teams, or outside the scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member of this team", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn delete_member(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    state
        .db
        .run(move |conn| {
            let (team_id, member_id) = path.into_inner();
            members::delete_member(conn, &caller, &meta, &if_match, (team_id, member_id))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

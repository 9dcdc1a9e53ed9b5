//! Accounts: `/users`, `/users/{id}`, `/users/{id}/reset-code`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::access::token;
use crate::base::error::{ApiError, Problem};
use crate::domain::records::IfMatch;
use crate::domain::users::{self, CreatedUser, NewUserForm, ResetCode, User, UserListQuery, UserPage, UserPatch};
use crate::http::respond::{ok_with_etag, with_etag};
use crate::http::responses::{InvalidFields, MalformedBody, MissingIfMatch, NotJson, StaleVersion, Unauthorized};
use crate::http::state::AppState;

/// List accounts in the caller's scope.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Accounts in scope, by username", body = UserPage),
        (status = 400, description = "Bad query or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not read accounts (team_member, analyst)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or role filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(state: web::Data<AppState>, caller: Caller, query: web::Query<UserListQuery>) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| users::list_users(conn, &caller, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Create an account (admin, inside its own scope).
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users", request_body = NewUserForm,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedUser),
        (status = 400, response = MalformedBody),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not an admin, or the new account's scope is outside the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or id already taken", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = NotJson),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn create_user(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    form: web::Json<NewUserForm>,
) -> Result<HttpResponse, ApiError> {
    let new = users::check_new_user(&caller, form.into_inner())?;
    // Hash before opening the write transaction: argon2 must not hold a database lock.
    let (password_hash, reset) = match new.password.clone() {
        Some(pw) => (state.passwords.hash(pw).await?, None),
        // An unusable hash (random, never revealed) until the reset code is redeemed.
        None => (state.passwords.hash(token::new_refresh_token()).await?, Some(token::new_reset_code())),
    };
    let st = state.clone();
    let body = state
        .db
        .run(move |conn| users::create_user(conn, &caller, &meta, (&st.jwt, st.config.reset_code_ttl), new, &password_hash, reset))
        .await?;
    Ok(with_etag(StatusCode::CREATED, body.user.version, &body))
}

/// Read one account in scope.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "Account id (UUID)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account; ETag carries its version", body = User),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not read accounts", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_user(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let user = state.db.run(move |conn| users::get_user(conn, &caller, &path)).await?;
    Ok(ok_with_etag(user.version, &user))
}

/// Change an account: name, phone, role, scope, or deactivate/reactivate. Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserPatch,
    params(
        ("id" = String, Path, description = "Account id (UUID)"),
        ("If-Match" = String, Header, description = "ETag of the version you read, e.g. \"v3\""),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed account", body = User),
        (status = 400, response = MalformedBody),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not an admin, or the account (or its new scope) is outside the caller's scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An admin cannot deactivate or demote itself", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, response = InvalidFields),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn update_user(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
    patch: web::Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    let user = state.db.run(move |conn| users::update_user(conn, &caller, &meta, &if_match, &path, patch.into_inner())).await?;
    Ok(ok_with_etag(user.version, &user))
}

/// Issue a one-time password reset code for an account (admin; officer for team members).
#[utoipa::path(
    post, path = "/api/v1/users/{id}/reset-code", tag = "users",
    params(("id" = String, Path, description = "Account id (UUID)")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The code, shown once; earlier unused codes stop working", body = ResetCode),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Role may not reset this account, or it is outside the caller's scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn issue_reset_code(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let code = state.db.run(move |conn| users::issue_reset_code(conn, &caller, &meta, (&st.jwt, st.config.reset_code_ttl), &path)).await?;
    Ok(HttpResponse::Created().json(code))
}

//! Sign-in, tokens and one's own account: `/auth/*`, `/me`, `/me/password`. Password
//! hashing runs on its own threads (`state.passwords`), the database work on the blocking
//! pool, each through [`crate::access::auth`].

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::auth::{self, Issuer, LoginForm, PasswordChangeForm, RefreshForm, ResetForm, TokenPair};
use crate::access::caller::{Caller, RequestMeta};
use crate::access::{password, throttle};
use crate::base::error::{self, ApiError, Problem};
use crate::domain::users::User;
use crate::http::responses::{MalformedBody, NotJson, Unauthorized};
use crate::http::state::AppState;
use crate::store::db;

/// Sign-in result.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub user: User,
}

/// Sign in with username and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginForm,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, response = MalformedBody),
        (status = 401, description = "Wrong username or password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = NotJson),
        (status = 422, description = "Empty or over-long fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures for this username or address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(state: web::Data<AppState>, meta: RequestMeta, form: web::Json<LoginForm>) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let username = auth::check_login(&form)?;
    let keys = auth::login_keys(&username, &meta);
    let found = {
        let keys = keys.clone();
        state.db.run(move |conn| auth::find_login_user(conn, &username, &keys)).await?
    };
    let ok = state.passwords.verify(form.password, found.as_ref().map(|u| u.password_hash.clone())).await?;
    match found {
        Some(user) if ok && user.active => {
            let st = state.clone();
            let body = state
                .db
                .run(move |conn| {
                    let tokens = auth::sign_in(conn, Issuer { jwt: &st.jwt, config: &st.config }, &user, &keys)?;
                    Ok(LoginResponse { tokens, user: User::from_row(&user)? })
                })
                .await?;
            Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
        }
        _ => {
            let cfg = state.config.clone();
            state.db.run(move |conn| auth::record_login_failure(conn, &cfg, &keys)).await?;
            Err(error::unauthorized("invalid_credentials"))
        }
    }
}

/// Exchange a refresh token for a new pair (the old refresh token stops working).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshForm,
    responses(
        (status = 200, description = "New token pair", body = TokenPair),
        (status = 400, response = MalformedBody),
        (status = 401, description = "Unknown/expired token (`invalid_refresh_token`), or reuse of a used one (`refresh_token_reused`: the whole session is revoked)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(state: web::Data<AppState>, form: web::Json<RefreshForm>) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let pair = state.db.run(move |conn| auth::refresh(conn, Issuer { jwt: &st.jwt, config: &st.config }, &form.refresh_token)).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(pair))
}

/// End the caller's session: its access and refresh tokens stop working at once.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, response = Unauthorized),
    )
)]
pub async fn logout(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    state.db.run(move |conn| auth::revoke_session(conn, &caller.session_id, "logout")).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set a new password with a one-time code from an officer or admin.
#[utoipa::path(
    post, path = "/api/v1/auth/reset", tag = "auth", request_body = ResetForm,
    responses(
        (status = 204, description = "Password set; all earlier sessions ended. Sign in with the new password."),
        (status = 400, response = MalformedBody),
        (status = 401, description = "Wrong, used or expired code (`invalid_reset_code`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the policy", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reset_password(state: web::Data<AppState>, meta: RequestMeta, form: web::Json<ResetForm>) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let username = auth::normalize_username(&form.username);
    let errors = password::check_policy("new_password", &form.new_password, &username);
    if !errors.is_empty() {
        return Err(error::validation(errors));
    }
    let keys = auth::reset_keys(&username, &meta);
    {
        let keys = keys.clone();
        state.db.run(move |conn| throttle::check(conn, &[&keys.0, &keys.1], db::now())).await?;
    }
    let new_hash = state.passwords.hash(form.new_password).await?;
    let st = state.clone();
    let code = form.code.trim().to_owned();
    let accepted = state
        .db
        .run(move |conn| {
            auth::redeem_reset_code(conn, Issuer { jwt: &st.jwt, config: &st.config }, &meta, &username, &code, &new_hash, &keys)
        })
        .await?;
    if accepted {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(error::unauthorized("invalid_reset_code"))
    }
}

/// The caller's own account.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in account", body = User),
        (status = 401, response = Unauthorized),
    )
)]
pub async fn get_me(caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(User::from_row(&caller.user)?))
}

/// Change the caller's password. Every session of the account ends (other phones are
/// signed out); the response carries tokens for a new session on this device.
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChangeForm,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; a new session", body = TokenPair),
        (status = 401, response = Unauthorized),
        (status = 422, description = "Wrong current password, or the new one breaks the policy", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    form: web::Json<PasswordChangeForm>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    auth::check_password_change(&caller, &form)?;
    let key = throttle::user_key(&caller.user.username);
    {
        let k = key.clone();
        state.db.run(move |conn| throttle::check(conn, &[&k], db::now())).await?;
    }
    if !state.passwords.verify(form.current_password, Some(caller.user.password_hash.clone())).await? {
        let cfg = state.config.clone();
        state.db.run(move |conn| throttle::record_failure(conn, &key, cfg.throttle_user_failures, cfg.throttle_window, db::now())).await?;
        return Err(auth::wrong_current_password());
    }
    let new_hash = state.passwords.hash(form.new_password).await?;
    let st = state.clone();
    let pair = state
        .db
        .run(move |conn| auth::change_password(conn, Issuer { jwt: &st.jwt, config: &st.config }, &caller, &meta, &new_hash))
        .await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(pair))
}

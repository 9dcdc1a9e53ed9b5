//! Who is calling: sign-in, token refresh with rotation and reuse detection, logout,
//! password change and reset, and the `Caller` extractor every protected handler takes.
//!
//! Each authenticated request costs one indexed query (session joined to its user), which
//! is what lets logout, a password change or a deactivation stop tokens on the very next
//! request, on every instance, without an in-memory revocation list.

pub mod password;
pub mod throttle;
pub mod token;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::db::{self, AnyConnection, ChangeSeq};
use crate::error::{self, ApiError, FieldError, Problem, Text};
use crate::http::RequestMeta;
use crate::policy::{Principal, Role, Scope};
use crate::schema::{auth_sessions, refresh_tokens, reset_codes, users};
use crate::users::{User, UserRow};

/// The authenticated caller: its account as stored now (not as it was when the token was
/// issued), its role and scope, and the session the token belongs to.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    pub role: Role,
    pub scope: Scope,
    pub session_id: String,
}

impl Principal for Caller {
    fn role(&self) -> Role {
        self.role
    }
    fn scope(&self) -> &Scope {
        &self.scope
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().map(str::to_owned));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = match header {
                None => return Err(error::unauthorized("missing_token")),
                Some(Err(_)) => return Err(error::unauthorized("invalid_token")),
                Some(Ok(v)) => match v.split_once(' ') {
                    Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => t.trim().to_owned(),
                    _ => return Err(error::unauthorized("invalid_token")),
                },
            };
            let claims = state.jwt.verify(&token)?;
            state.db.run(move |conn| load_caller(conn, &claims.sub, &claims.sid)).await
        })
    }
}

fn load_caller(conn: &mut AnyConnection, user_id: &str, session_id: &str) -> Result<Caller, ApiError> {
    type SessionInfo = (String, NaiveDateTime, Option<NaiveDateTime>);
    let found: Option<(SessionInfo, UserRow)> = auth_sessions::table
        .inner_join(users::table)
        .filter(auth_sessions::id.eq(session_id))
        .select(((auth_sessions::user_id, auth_sessions::expires_at, auth_sessions::revoked_at), users::all_columns))
        .first(conn)
        .optional()?;
    let Some(((session_user, expires_at, revoked_at), user)) = found else {
        return Err(error::unauthorized("invalid_token"));
    };
    if session_user != user_id {
        return Err(error::unauthorized("invalid_token"));
    }
    if revoked_at.is_some() || expires_at <= db::now() || user.deleted_at.is_some() {
        return Err(error::unauthorized("session_revoked"));
    }
    if !user.active {
        return Err(error::unauthorized("account_inactive"));
    }
    let (role, scope) = user.role_scope()?;
    Ok(Caller { user, role, scope, session_id: session_id.to_owned() })
}

/// Ends every open session of a user (password change, reset, deactivation).
pub fn revoke_all_sessions(conn: &mut AnyConnection, user_id: &str, reason: &str) -> Result<(), ApiError> {
    diesel::update(auth_sessions::table.filter(auth_sessions::user_id.eq(user_id)).filter(auth_sessions::revoked_at.is_null()))
        .set((auth_sessions::revoked_at.eq(Some(db::now())), auth_sessions::revoked_reason.eq(Some(reason))))
        .execute(conn)?;
    Ok(())
}

fn revoke_session(conn: &mut AnyConnection, session_id: &str, reason: &str) -> Result<(), ApiError> {
    diesel::update(auth_sessions::table.filter(auth_sessions::id.eq(session_id)).filter(auth_sessions::revoked_at.is_null()))
        .set((auth_sessions::revoked_at.eq(Some(db::now())), auth_sessions::revoked_reason.eq(Some(reason))))
        .execute(conn)?;
    Ok(())
}

/// Access and refresh tokens.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…", "token_type": "Bearer", "expires_in": 900,
    "refresh_token": "q9Xn3…", "refresh_expires_in": 2592000
}))]
pub struct TokenPair {
    /// JWT for `Authorization: Bearer …`.
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; exchange at `/auth/refresh` for a new pair. Single use: presenting it twice
    /// ends the whole session.
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

/// Sign-in result.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub user: User,
}

/// Starts a session for `user_id` and returns its first token pair.
fn open_session(conn: &mut AnyConnection, state: &AppState, user_id: &str) -> Result<TokenPair, ApiError> {
    let now = db::now();
    let session_id = db::new_id();
    let refresh_ttl = state.config.refresh_token_ttl;
    diesel::insert_into(auth_sessions::table)
        .values((
            auth_sessions::id.eq(&session_id),
            auth_sessions::user_id.eq(user_id),
            auth_sessions::created_at.eq(now),
            auth_sessions::expires_at.eq(now + Duration::seconds(refresh_ttl)),
            auth_sessions::revoked_at.eq(None::<NaiveDateTime>),
            auth_sessions::revoked_reason.eq(None::<String>),
        ))
        .execute(conn)?;
    issue_pair(conn, state, user_id, &session_id, now)
}

fn issue_pair(
    conn: &mut AnyConnection,
    state: &AppState,
    user_id: &str,
    session_id: &str,
    now: NaiveDateTime,
) -> Result<TokenPair, ApiError> {
    let refresh = token::new_refresh_token();
    let refresh_ttl = state.config.refresh_token_ttl;
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(token::sha256_hex(&refresh)),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(now + Duration::seconds(refresh_ttl)),
            refresh_tokens::used_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    // The session lives as long as its newest refresh token.
    diesel::update(auth_sessions::table.find(session_id))
        .set(auth_sessions::expires_at.eq(now + Duration::seconds(refresh_ttl)))
        .execute(conn)?;
    let access = state.jwt.issue(user_id, session_id, now.and_utc().timestamp(), state.config.access_token_ttl)?;
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer".to_owned(),
        expires_in: state.config.access_token_ttl,
        refresh_token: refresh,
        refresh_expires_in: refresh_ttl,
    })
}

/// Sign-in request.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "admin", "password": "…"}))]
pub struct LoginForm {
    pub username: String,
    #[schema(format = Password)]
    pub password: String,
}

fn normalize_username(raw: &str) -> String {
    raw.trim().to_lowercase()
}

fn check_nonempty(field: &str, value: &str, max: usize) -> Option<FieldError> {
    let len = value.chars().count();
    (len == 0 || len > max).then(|| {
        FieldError::new(
            field,
            "length",
            Text::new(format!("Độ dài phải từ 1 đến {max} ký tự."), format!("Length must be between 1 and {max} characters.")),
        )
    })
}

/// Sign in with username and password.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginForm,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong username or password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or over-long fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures for this username or address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(state: web::Data<AppState>, meta: RequestMeta, form: web::Json<LoginForm>) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let username = normalize_username(&form.username);
    let errors: Vec<FieldError> =
        [check_nonempty("username", &username, 64), check_nonempty("password", &form.password, 1024)].into_iter().flatten().collect();
    if !errors.is_empty() {
        return Err(error::validation(errors));
    }
    let user_key = throttle::user_key(&username);
    let addr_key = throttle::addr_key(&meta.client_addr);
    let (uk, ak, name) = (user_key.clone(), addr_key.clone(), username.clone());
    let found = state
        .db
        .run(move |conn| {
            throttle::check(conn, &[&uk, &ak], db::now())?;
            Ok(users::table.filter(users::username.eq(&name)).filter(users::deleted_at.is_null()).first::<UserRow>(conn).optional()?)
        })
        .await?;
    let ok = state.passwords.verify(form.password, found.as_ref().map(|u| u.password_hash.clone())).await?;
    let st = state.clone();
    match found {
        Some(user) if ok && user.active => {
            let body = state
                .db
                .run(move |conn| {
                    db::write_tx(conn, |conn| {
                        throttle::clear(conn, &user_key)?;
                        let tokens = open_session(conn, &st, &user.id)?;
                        Ok(LoginResponse { tokens, user: User::from_row(&user)? })
                    })
                })
                .await?;
            Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
        }
        _ => {
            let cfg = state.config.clone();
            state
                .db
                .run(move |conn| {
                    let now = db::now();
                    throttle::record_failure(conn, &user_key, cfg.throttle_user_failures, cfg.throttle_window, now)?;
                    throttle::record_failure(conn, &addr_key, cfg.throttle_addr_failures, cfg.throttle_window, now)
                })
                .await?;
            Err(error::unauthorized("invalid_credentials"))
        }
    }
}

/// Refresh request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshForm {
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair (the old refresh token stops working).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshForm,
    responses(
        (status = 200, description = "New token pair", body = TokenPair),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown/expired token (`invalid_refresh_token`), or reuse of a used one (`refresh_token_reused`: the whole session is revoked)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(state: web::Data<AppState>, form: web::Json<RefreshForm>) -> Result<HttpResponse, ApiError> {
    let hash = token::sha256_hex(form.refresh_token.trim());
    let st = state.clone();
    let pair = state
        .db
        .run(move |conn| {
            // Reuse is answered after the transaction commits, so the revocation sticks.
            db::write_tx(conn, |conn| -> Result<Result<TokenPair, ApiError>, ApiError> {
                let now = db::now();
                let found: Option<(String, NaiveDateTime, Option<NaiveDateTime>)> = refresh_tokens::table
                    .find(&hash)
                    .select((refresh_tokens::session_id, refresh_tokens::expires_at, refresh_tokens::used_at))
                    .first(conn)
                    .optional()?;
                let Some((session_id, expires_at, used_at)) = found else {
                    return Ok(Err(error::unauthorized("invalid_refresh_token")));
                };
                if used_at.is_some() {
                    revoke_session(conn, &session_id, "refresh_token_reused")?;
                    return Ok(Err(error::unauthorized("refresh_token_reused")));
                }
                if expires_at <= now {
                    return Ok(Err(error::unauthorized("invalid_refresh_token")));
                }
                // Marking it used is the atomic step: of two concurrent refreshes with the
                // same token only one updates the row; the other is treated as reuse.
                let claimed = diesel::update(refresh_tokens::table.find(&hash).filter(refresh_tokens::used_at.is_null()))
                    .set(refresh_tokens::used_at.eq(Some(now)))
                    .execute(conn)?;
                if claimed == 0 {
                    revoke_session(conn, &session_id, "refresh_token_reused")?;
                    return Ok(Err(error::unauthorized("refresh_token_reused")));
                }
                let (user_id, revoked_at): (String, Option<NaiveDateTime>) =
                    auth_sessions::table.find(&session_id).select((auth_sessions::user_id, auth_sessions::revoked_at)).first(conn)?;
                let active: bool = users::table.find(&user_id).select(users::active).first(conn)?;
                if revoked_at.is_some() || !active {
                    return Ok(Err(error::unauthorized("session_revoked")));
                }
                Ok(Ok(issue_pair(conn, &st, &user_id, &session_id, now)?))
            })?
        })
        .await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(pair))
}

/// End the caller's session: its access and refresh tokens stop working at once.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    state.db.run(move |conn| revoke_session(conn, &caller.session_id, "logout")).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Redeem a one-time reset code.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "lan.tcns", "code": "40718263", "new_password": "…"}))]
pub struct ResetForm {
    pub username: String,
    pub code: String,
    #[schema(format = Password)]
    pub new_password: String,
}

/// Set a new password with a one-time code from an officer or admin.
#[utoipa::path(
    post, path = "/api/v1/auth/reset", tag = "auth", request_body = ResetForm,
    responses(
        (status = 204, description = "Password set; all earlier sessions ended. Sign in with the new password."),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong, used or expired code (`invalid_reset_code`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password breaks the policy", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reset_password(state: web::Data<AppState>, meta: RequestMeta, form: web::Json<ResetForm>) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let username = normalize_username(&form.username);
    let errors = password::check_policy("new_password", &form.new_password, &username);
    if !errors.is_empty() {
        return Err(error::validation(errors));
    }
    let key = throttle::reset_key(&username);
    let addr_key = throttle::addr_key(&meta.client_addr);
    {
        let (k, a) = (key.clone(), addr_key.clone());
        state.db.run(move |conn| throttle::check(conn, &[&k, &a], db::now())).await?;
    }
    let new_hash = state.passwords.hash(form.new_password).await?;
    let keys = state.jwt.clone();
    let cfg = state.config.clone();
    let code = form.code.trim().to_owned();
    let outcome = state
        .db
        .run(move |conn| {
            let done = db::write_tx(conn, |conn| -> Result<bool, ApiError> {
                let now = db::now();
                let Some(user) = users::table.filter(users::username.eq(&username)).first::<UserRow>(conn).optional()? else {
                    return Ok(false);
                };
                let expected = keys.keyed_hash(&format!("{}:{}", user.id, code));
                let code_id: Option<String> = reset_codes::table
                    .filter(reset_codes::user_id.eq(&user.id))
                    .filter(reset_codes::code_hash.eq(&expected))
                    .filter(reset_codes::used_at.is_null())
                    .filter(reset_codes::expires_at.gt(now))
                    .select(reset_codes::id)
                    .first(conn)
                    .optional()?;
                let Some(code_id) = code_id else {
                    return Ok(false);
                };
                diesel::update(reset_codes::table.find(&code_id)).set(reset_codes::used_at.eq(Some(now))).execute(conn)?;
                set_password(conn, &user, &new_hash, now)?;
                revoke_all_sessions(conn, &user.id, "password_reset")?;
                throttle::clear(conn, &key)?;
                crate::audit::record(
                    conn,
                    &crate::audit::AuditEntry {
                        actor_id: Some(&user.id),
                        actor_role: Role::parse(&user.role),
                        action: "reset_password",
                        entity: "user",
                        entity_id: &user.id,
                        commune_code: None,
                        province_code: None,
                        request_id: Some(&meta.request_id),
                        changed_fields: &["password"],
                    },
                )?;
                Ok(true)
            })?;
            if !done {
                let now = db::now();
                throttle::record_failure(conn, &key, cfg.throttle_user_failures, cfg.throttle_window, now)?;
                throttle::record_failure(conn, &addr_key, cfg.throttle_addr_failures, cfg.throttle_window, now)?;
            }
            Ok(done)
        })
        .await?;
    if outcome {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(error::unauthorized("invalid_reset_code"))
    }
}

fn set_password(conn: &mut AnyConnection, user: &UserRow, hash: &str, now: NaiveDateTime) -> Result<(), ApiError> {
    let mut seq = ChangeSeq::default();
    let change_seq = seq.next(conn)?;
    diesel::update(users::table.find(&user.id))
        .set((
            users::password_hash.eq(hash),
            users::password_changed_at.eq(now),
            users::version.eq(users::version + 1),
            users::updated_at.eq(now),
            users::change_seq.eq(change_seq),
        ))
        .execute(conn)?;
    seq.finish(conn)?;
    Ok(())
}

/// The caller's own account.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in account", body = User),
        (status = 401, description = "Not signed in, or the token no longer counts", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_me(caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(User::from_row(&caller.user)?))
}

/// Change one's own password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChangeForm {
    #[schema(format = Password)]
    pub current_password: String,
    #[schema(format = Password)]
    pub new_password: String,
}

/// Change the caller's password. Every session of the account ends (other phones are
/// signed out); the response carries tokens for a new session on this device.
#[utoipa::path(
    post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChangeForm,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; a new session", body = TokenPair),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
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
    let mut errors = password::check_policy("new_password", &form.new_password, &caller.user.username);
    if form.new_password == form.current_password {
        errors.push(FieldError::new(
            "new_password",
            "unchanged",
            Text::new("Mật khẩu mới phải khác mật khẩu hiện tại.", "The new password must differ from the current one."),
        ));
    }
    if !errors.is_empty() {
        return Err(error::validation(errors));
    }
    let key = throttle::user_key(&caller.user.username);
    {
        let k = key.clone();
        state.db.run(move |conn| throttle::check(conn, &[&k], db::now())).await?;
    }
    if !state.passwords.verify(form.current_password, Some(caller.user.password_hash.clone())).await? {
        let cfg = state.config.clone();
        state.db.run(move |conn| throttle::record_failure(conn, &key, cfg.throttle_user_failures, cfg.throttle_window, db::now())).await?;
        return Err(error::validation(vec![FieldError::new(
            "current_password",
            "incorrect",
            Text::new("Mật khẩu hiện tại không đúng.", "The current password is wrong."),
        )]));
    }
    let new_hash = state.passwords.hash(form.new_password).await?;
    let st = state.clone();
    let pair = state
        .db
        .run(move |conn| {
            db::write_tx(conn, |conn| {
                let now = db::now();
                set_password(conn, &caller.user, &new_hash, now)?;
                revoke_all_sessions(conn, &caller.user.id, "password_changed")?;
                crate::audit::record(
                    conn,
                    &crate::audit::AuditEntry {
                        actor_id: Some(&caller.user.id),
                        actor_role: Some(caller.role),
                        action: "change_password",
                        entity: "user",
                        entity_id: &caller.user.id,
                        commune_code: None,
                        province_code: None,
                        request_id: Some(&meta.request_id),
                        changed_fields: &["password"],
                    },
                )?;
                open_session(conn, &st, &caller.user.id)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(pair))
}

//! Sign-in and sessions: opening a session with its first token pair, refresh with
//! rotation and reuse detection, logout, password change and reset codes. The HTTP layer
//! (`crate::http::auth`) runs these on the blocking pool and hashes passwords between
//! them.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::throttle;
use crate::access::token::{self, JwtKeys};
use crate::base::config::Config;
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::store::audit::{self, AuditEntry};
use crate::store::db::{self, AnyConnection, ChangeSeq};
use crate::store::rows::UserRow;
use crate::store::schema::{auth_sessions, refresh_tokens, reset_codes, users};

/// What issuing tokens needs: the signing keys and the configured lifetimes.
#[derive(Clone, Copy)]
pub struct Issuer<'a> {
    pub jwt: &'a JwtKeys,
    pub config: &'a Config,
}

/// Ends every open session of a user (password change, reset, deactivation).
pub fn revoke_all_sessions(conn: &mut AnyConnection, user_id: &str, reason: &str) -> Result<(), ApiError> {
    diesel::update(auth_sessions::table.filter(auth_sessions::user_id.eq(user_id)).filter(auth_sessions::revoked_at.is_null()))
        .set((auth_sessions::revoked_at.eq(Some(db::now())), auth_sessions::revoked_reason.eq(Some(reason))))
        .execute(conn)?;
    Ok(())
}

/// Ends one session (logout, or a refresh token presented twice).
pub fn revoke_session(conn: &mut AnyConnection, session_id: &str, reason: &str) -> Result<(), ApiError> {
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

/// Starts a session for `user_id` and returns its first token pair.
pub fn open_session(conn: &mut AnyConnection, issuer: Issuer<'_>, user_id: &str) -> Result<TokenPair, ApiError> {
    let now = db::now();
    let session_id = db::new_id();
    let refresh_ttl = issuer.config.refresh_token_ttl;
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
    issue_pair(conn, issuer, user_id, &session_id, now)
}

fn issue_pair(
    conn: &mut AnyConnection,
    issuer: Issuer<'_>,
    user_id: &str,
    session_id: &str,
    now: NaiveDateTime,
) -> Result<TokenPair, ApiError> {
    let refresh = token::new_refresh_token();
    let refresh_ttl = issuer.config.refresh_token_ttl;
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
    let access = issuer.jwt.issue(user_id, session_id, now.and_utc().timestamp(), issuer.config.access_token_ttl)?;
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer".to_owned(),
        expires_in: issuer.config.access_token_ttl,
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

pub fn normalize_username(raw: &str) -> String {
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

/// The checked form of a sign-in: its username folded, both fields of sane length.
pub fn check_login(form: &LoginForm) -> Result<String, ApiError> {
    let username = normalize_username(&form.username);
    let errors: Vec<FieldError> =
        [check_nonempty("username", &username, 64), check_nonempty("password", &form.password, 1024)].into_iter().flatten().collect();
    if !errors.is_empty() {
        return Err(error::validation(errors));
    }
    Ok(username)
}

/// The throttling keys of a sign-in attempt: (username, client address).
pub fn login_keys(username: &str, meta: &RequestMeta) -> (String, String) {
    (throttle::user_key(username), throttle::addr_key(&meta.client_addr))
}

/// The account a sign-in names (after the throttles let it through); `None` when there
/// is none, so that the caller still verifies a dummy hash.
pub fn find_login_user(conn: &mut AnyConnection, username: &str, keys: &(String, String)) -> Result<Option<UserRow>, ApiError> {
    throttle::check(conn, &[&keys.0, &keys.1], db::now())?;
    Ok(users::table.filter(users::username.eq(username)).filter(users::deleted_at.is_null()).first::<UserRow>(conn).optional()?)
}

/// A successful sign-in: clears the username's failures and opens a session.
pub fn sign_in(conn: &mut AnyConnection, issuer: Issuer<'_>, user: &UserRow, keys: &(String, String)) -> Result<TokenPair, ApiError> {
    db::write_tx(conn, |conn| {
        throttle::clear(conn, &keys.0)?;
        open_session(conn, issuer, &user.id)
    })
}

/// A failed sign-in: counts it against the username and the client address.
pub fn record_login_failure(conn: &mut AnyConnection, config: &Config, keys: &(String, String)) -> Result<(), ApiError> {
    let now = db::now();
    throttle::record_failure(conn, &keys.0, config.throttle_user_failures, config.throttle_window, now)?;
    throttle::record_failure(conn, &keys.1, config.throttle_addr_failures, config.throttle_window, now)
}

/// Refresh request.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"refresh_token": "b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4"}))]
pub struct RefreshForm {
    pub refresh_token: String,
}

/// Exchanges a refresh token for a new pair; the old one stops working. A second use of a
/// token revokes its whole session (the revocation commits before the 401 is answered).
pub fn refresh(conn: &mut AnyConnection, issuer: Issuer<'_>, refresh_token: &str) -> Result<TokenPair, ApiError> {
    let hash = token::sha256_hex(refresh_token.trim());
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
        Ok(Ok(issue_pair(conn, issuer, &user_id, &session_id, now)?))
    })?
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

/// The throttling keys of a reset attempt: (reset username, client address).
pub fn reset_keys(username: &str, meta: &RequestMeta) -> (String, String) {
    (throttle::reset_key(username), throttle::addr_key(&meta.client_addr))
}

/// Sets `new_hash` as the password of `username` if `code` is one of its live reset codes;
/// every session of the account ends. A wrong code counts as a failure. Returns whether
/// the code was accepted.
pub fn redeem_reset_code(
    conn: &mut AnyConnection,
    issuer: Issuer<'_>,
    meta: &RequestMeta,
    username: &str,
    code: &str,
    new_hash: &str,
    keys: &(String, String),
) -> Result<bool, ApiError> {
    let done = db::write_tx(conn, |conn| -> Result<bool, ApiError> {
        let now = db::now();
        let Some(user) = users::table.filter(users::username.eq(username)).first::<UserRow>(conn).optional()? else {
            return Ok(false);
        };
        let expected = issuer.jwt.keyed_hash(&format!("{}:{}", user.id, code));
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
        set_password(conn, &user, new_hash, now)?;
        revoke_all_sessions(conn, &user.id, "password_reset")?;
        throttle::clear(conn, &keys.0)?;
        audit::record(
            conn,
            &AuditEntry {
                actor_id: Some(&user.id),
                actor_role: Some(user.role.as_str()),
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
        throttle::record_failure(conn, &keys.0, issuer.config.throttle_user_failures, issuer.config.throttle_window, now)?;
        throttle::record_failure(conn, &keys.1, issuer.config.throttle_addr_failures, issuer.config.throttle_window, now)?;
    }
    Ok(done)
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

/// Change one's own password.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "Mây-trắng-Trường-Sơn-27", "new_password": "Đồi-chè-xanh-bên-suối-2026"}))]
pub struct PasswordChangeForm {
    #[schema(format = Password)]
    pub current_password: String,
    #[schema(format = Password)]
    pub new_password: String,
}

/// The rules a new password of the caller must follow (policy, differs from the current).
pub fn check_password_change(caller: &Caller, form: &PasswordChangeForm) -> Result<(), ApiError> {
    let mut errors = crate::access::password::check_policy("new_password", &form.new_password, &caller.user.username);
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
    Ok(())
}

/// 422 for a wrong current password.
pub fn wrong_current_password() -> ApiError {
    error::validation(vec![FieldError::new(
        "current_password",
        "incorrect",
        Text::new("Mật khẩu hiện tại không đúng.", "The current password is wrong."),
    )])
}

/// Stores the caller's new password hash, ends every session of the account and opens a
/// new one for this device.
pub fn change_password(
    conn: &mut AnyConnection,
    issuer: Issuer<'_>,
    caller: &Caller,
    meta: &RequestMeta,
    new_hash: &str,
) -> Result<TokenPair, ApiError> {
    db::write_tx(conn, |conn| {
        let now = db::now();
        set_password(conn, &caller.user, new_hash, now)?;
        revoke_all_sessions(conn, &caller.user.id, "password_changed")?;
        audit::record(
            conn,
            &AuditEntry {
                actor_id: Some(&caller.user.id),
                actor_role: Some(caller.role.as_str()),
                action: "change_password",
                entity: "user",
                entity_id: &caller.user.id,
                commune_code: None,
                province_code: None,
                request_id: Some(&meta.request_id),
                changed_fields: &["password"],
            },
        )?;
        open_session(conn, issuer, &caller.user.id)
    })
}

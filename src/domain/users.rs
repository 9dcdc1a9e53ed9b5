//! Accounts: the read model, creation by admins, changes of role/scope/status, and
//! one-time reset codes that an officer reads out to a field worker (who has a phone,
//! not e-mail) to set a new password at `POST /auth/reset`.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::auth;
use crate::access::caller::{Caller, RequestMeta};
use crate::access::password;
use crate::access::policy::{self, Access, Area, Capability, Principal, Scope};
use crate::access::token::{self, JwtKeys};
use crate::base::error::{self, ApiError, FieldError, Text};
use crate::base::time::utc;
use crate::domain::records::{encode_cursor, page_limit, parse_uuid, IfMatch, Position};
use crate::store::audit::{self, AuditEntry};
use crate::store::db::{self, AnyConnection, ChangeSeq};
use crate::store::rows::UserRow;
use crate::store::schema::{reset_codes, users};
use crate::store::values::{Choice, Role, ScopeKind};

/// An account as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "username": "lan.tcns", "full_name": "Nguyễn Thị Lan",
    "phone": "0912345678", "role": "team_member", "scope_kind": "commune", "scope_code": "21025",
    "active": true, "version": 1, "created_at": "2026-11-26T10:00:00Z", "updated_at": "2026-11-26T10:00:00Z"
}))]
pub struct User {
    pub id: String,
    pub username: String,
    pub full_name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub scope_kind: ScopeKind,
    /// Province (2 digits) or commune (5 digits) code; absent for a country scope.
    pub scope_code: Option<String>,
    pub active: bool,
    /// Starts at 1 and grows by one per change; the ETag is `"v{version}"`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    pub fn from_row(row: &UserRow) -> Result<User, ApiError> {
        let (role, scope) = row.role_scope()?;
        Ok(User {
            id: row.id.clone(),
            username: row.username.clone(),
            full_name: row.full_name.clone(),
            phone: row.phone.clone(),
            role,
            scope_kind: scope.kind(),
            scope_code: scope.code().map(str::to_owned),
            active: row.active,
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        })
    }
}

/// Creates an account. Without `password` the response carries a one-time reset code the
/// person redeems at `POST /auth/reset` to choose their own password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "username": "lan.tcns", "full_name": "Nguyễn Thị Lan", "phone": "0912 345 678",
    "role": "team_member", "scope_kind": "commune", "scope_code": "21025"
}))]
pub struct NewUserForm {
    /// Optional client-chosen UUID; the server makes one when absent.
    pub id: Option<String>,
    /// 3–64 characters: lowercase letters, digits, `.`, `_`, `-` (case is folded).
    pub username: String,
    /// 1–200 characters after trimming.
    pub full_name: String,
    /// A Vietnamese phone number; stored as `0XXXXXXXXX`.
    pub phone: Option<String>,
    #[schema(value_type = Role)]
    pub role: Choice<Role>,
    /// `country`, `province` or `commune` (a team member needs `commune`).
    #[schema(value_type = ScopeKind)]
    pub scope_kind: Choice<ScopeKind>,
    pub scope_code: Option<String>,
    /// Optional initial password (10–128 characters, not a common one).
    #[schema(format = Password)]
    pub password: Option<String>,
}

/// Changes an account. Every field is optional; `phone: ""` removes the phone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": false}))]
pub struct UserPatch {
    pub full_name: Option<String>,
    pub phone: Option<String>,
    #[schema(value_type = Option<Role>)]
    pub role: Option<Choice<Role>>,
    /// Send together with `scope_code` (omit the code for `country`).
    #[schema(value_type = Option<ScopeKind>)]
    pub scope_kind: Option<Choice<ScopeKind>>,
    pub scope_code: Option<String>,
    /// `false` deactivates the account and ends its sessions at once; `true` reactivates.
    pub active: Option<bool>,
}

/// Result of creating an account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"user": {"id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55", "username": "lan.tcns", "full_name": "Nguyễn Thị Lan", "role": "team_member", "scope_kind": "commune", "scope_code": "21025", "active": true, "version": 1}, "reset_code": {"code": "48213907", "expires_at": "2026-11-26T08:15:00Z"}}))]
pub struct CreatedUser {
    pub user: User,
    /// One-time code for `POST /auth/reset`, present when no password was given.
    pub reset_code: Option<ResetCode>,
}

/// A one-time password reset code. Shown once; only its keyed hash is stored.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "40718263", "expires_at": "2026-11-26T10:15:00Z"}))]
pub struct ResetCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Only this role.
    #[param(value_type = Option<Role>)]
    pub role: Option<Choice<Role>>,
    /// Only active (`true`) or deactivated (`false`) accounts.
    pub active: Option<bool>,
    /// Text in the username or full name, without diacritics ("lan" finds "Nguyễn Thị Lan").
    pub q: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of accounts, ordered by username.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn check_username(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let username = raw.trim().to_lowercase();
    let len = username.chars().count();
    if !(3..=64).contains(&len) || !username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')) {
        errors.push(FieldError::new(
            "username",
            "invalid_username",
            Text::new(
                "Tên đăng nhập gồm 3–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch dưới, gạch ngang.",
                "A username has 3–64 characters: lowercase letters without accents, digits, '.', '_' or '-'.",
            ),
        ));
    }
    username
}

/// Trims a person's name and checks it is 1–200 characters.
pub fn check_name(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = name.chars().count();
    if len == 0 || len > 200 {
        errors.push(FieldError::new(
            field,
            "length",
            Text::new("Độ dài phải từ 1 đến 200 ký tự (không tính khoảng trắng đầu cuối).", "Must be 1 to 200 characters after trimming."),
        ));
    }
    name
}

/// Normalises an optional phone; an empty string means "none".
pub fn check_phone(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    match crate::base::text::normalize_phone(raw) {
        Some(p) => Some(p),
        None => {
            errors.push(FieldError::new(
                field,
                "invalid_phone",
                Text::new(
                    "Số điện thoại Việt Nam không hợp lệ (ví dụ 0912345678 hoặc +84912345678).",
                    "Not a valid Vietnamese phone number (e.g. 0912345678 or +84912345678).",
                ),
            ));
            None
        }
    }
}

fn parse_role(raw: &Choice<Role>, errors: &mut Vec<FieldError>) -> Option<Role> {
    let role = match raw {
        Choice::Known(r) => Some(*r),
        Choice::Unknown(_) => None,
    };
    if role.is_none() {
        errors.push(FieldError::new(
            "role",
            "invalid_choice",
            Text::new("Vai trò phải là admin, officer, team_member hoặc analyst.", "Role must be admin, officer, team_member or analyst."),
        ));
    }
    role
}

fn parse_scope_kind(raw: &Choice<ScopeKind>, errors: &mut Vec<FieldError>) -> Option<ScopeKind> {
    let kind = match raw {
        Choice::Known(k) => Some(*k),
        Choice::Unknown(_) => None,
    };
    if kind.is_none() {
        errors.push(FieldError::new(
            "scope_kind",
            "invalid_choice",
            Text::new("Phạm vi phải là country, province hoặc commune.", "Scope kind must be country, province or commune."),
        ));
    }
    kind
}

fn load_user(conn: &mut AnyConnection, id: &str) -> Result<UserRow, ApiError> {
    Ok(users::table.find(id).filter(users::deleted_at.is_null()).first::<UserRow>(conn)?)
}

fn user_area(conn: &mut AnyConnection, row: &UserRow) -> Result<Area, ApiError> {
    let (_, scope) = row.role_scope()?;
    Area::of_scope(conn, &scope)
}

fn audit_entry<'a>(caller: &'a Caller, meta: &'a RequestMeta, action: &'a str, id: &'a str, fields: &'a [&'a str]) -> AuditEntry<'a> {
    AuditEntry {
        actor_id: Some(&caller.user.id),
        actor_role: Some(caller.role().as_str()),
        action,
        entity: "user",
        entity_id: id,
        commune_code: None,
        province_code: None,
        request_id: Some(&meta.request_id),
        changed_fields: fields,
    }
}

/// Stores the keyed hash of a new reset code; earlier unused codes of the user stop working.
fn store_reset_code(
    conn: &mut AnyConnection,
    keys: &token::JwtKeys,
    user_id: &str,
    created_by: &str,
    code: &str,
    now: NaiveDateTime,
    ttl: i64,
) -> Result<ResetCode, ApiError> {
    diesel::update(reset_codes::table.filter(reset_codes::user_id.eq(user_id)).filter(reset_codes::used_at.is_null()))
        .set(reset_codes::used_at.eq(Some(now)))
        .execute(conn)?;
    let expires_at = now + chrono::Duration::seconds(ttl);
    diesel::insert_into(reset_codes::table)
        .values((
            reset_codes::id.eq(db::new_id()),
            reset_codes::user_id.eq(user_id),
            reset_codes::code_hash.eq(keys.keyed_hash(&format!("{user_id}:{code}"))),
            reset_codes::created_by.eq(created_by),
            reset_codes::created_at.eq(now),
            reset_codes::expires_at.eq(expires_at),
            reset_codes::used_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(ResetCode { code: code.to_owned(), expires_at: utc(expires_at) })
}

/// Creates an account from the command line or at first start (no caller, no scope
/// check). Fails if the username exists.
pub fn create_user_unchecked(
    conn: &mut AnyConnection,
    username: &str,
    full_name: &str,
    role: Role,
    scope: &Scope,
    password_hash: &str,
) -> Result<String, ApiError> {
    let id = db::new_id();
    db::write_tx(conn, |conn| -> Result<_, ApiError> {
        let now = db::now();
        let mut seq = ChangeSeq::default();
        let change_seq = seq.next(conn)?;
        diesel::insert_into(users::table)
            .values((
                users::id.eq(&id),
                users::username.eq(username),
                users::full_name.eq(full_name),
                users::phone.eq(None::<String>),
                users::role.eq(role),
                users::scope_kind.eq(scope.kind()),
                users::scope_code.eq(scope.code()),
                users::password_hash.eq(password_hash),
                users::active.eq(true),
                users::password_changed_at.eq(now),
                users::version.eq(1i64),
                users::created_at.eq(now),
                users::updated_at.eq(now),
                users::deleted_at.eq(None::<NaiveDateTime>),
                users::change_seq.eq(change_seq),
            ))
            .execute(conn)?;
        seq.finish(conn)?;
        audit::record(
            conn,
            &AuditEntry {
                actor_id: None,
                actor_role: None,
                action: "create",
                entity: "user",
                entity_id: &id,
                commune_code: None,
                province_code: None,
                request_id: None,
                changed_fields: &["username", "full_name", "role", "scope"],
            },
        )?;
        Ok(id.clone())
    })
}

// ---- reading and writing accounts ---------------------------------------------------

/// Accounts in the caller's scope, by username.
pub fn list_users(conn: &mut AnyConnection, caller: &Caller, q: UserListQuery) -> Result<UserPage, ApiError> {
    policy::authorize(caller, Capability::ReadAccounts, None, Access::Read)?;
    let limit = page_limit(q.limit)?;
    let after: Option<String> = crate::domain::records::cursor_position(q.cursor.as_deref())?;
    let role = match q.role.as_ref() {
        Some(r) => {
            let mut errors = Vec::new();
            let role = parse_role(r, &mut errors);
            if !errors.is_empty() {
                return Err(error::validation(errors));
            }
            role
        }
        None => None,
    };
    let load = |conn: &mut AnyConnection, after: Option<String>, n: i64| -> Result<Vec<UserRow>, ApiError> {
        let mut query = policy::users_in_scope(users::table.into_boxed(), caller.scope()).filter(users::deleted_at.is_null());
        if let Some(role) = role {
            query = query.filter(users::role.eq(role));
        }
        if let Some(active) = q.active {
            query = query.filter(users::active.eq(active));
        }
        if let Some(after) = after {
            query = query.filter(users::username.gt(after));
        }
        Ok(query.order(users::username.asc()).limit(n).load::<UserRow>(conn)?)
    };
    let rows = match crate::domain::records::search_text(q.q.as_deref()) {
        None => load(conn, after, limit + 1)?,
        Some(text) => crate::domain::records::scan_matching(
            after.map(|a| Position(a, String::new())),
            limit,
            |r: &UserRow| Position(r.username.clone(), String::new()),
            |after, n| load(conn, after.map(|p| p.0), n),
            |r| crate::base::text::fold(&r.username).contains(&text) || crate::base::text::fold(&r.full_name).contains(&text),
        )?,
    };
    let more = rows.len() as i64 > limit;
    let items = rows.iter().take(limit as usize).map(User::from_row).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if more { items.last().map(|u| encode_cursor(&u.username)) } else { None };
    Ok(UserPage { items, next_cursor })
}

/// A new account's form, checked (before its password is hashed off the database).
pub struct CheckedNewUser {
    id: String,
    pub username: String,
    pub full_name: String,
    phone: Option<String>,
    pub role: Role,
    pub kind: ScopeKind,
    pub scope_code: Option<String>,
    /// The initial password, when one was given (else a reset code is issued).
    pub password: Option<String>,
}

/// Checks a new account's form: every failing field at once.
pub fn check_new_user(caller: &Caller, form: NewUserForm) -> Result<CheckedNewUser, ApiError> {
    policy::authorize(caller, Capability::ManageAccounts, None, Access::Write)?;
    check_new_user_form(form)
}

/// The form's own rules, the same for the API and `hocvuso user create`.
pub fn check_new_user_form(form: NewUserForm) -> Result<CheckedNewUser, ApiError> {
    let mut errors = Vec::new();
    let id = match form.id.as_deref() {
        Some(raw) => match uuid::Uuid::parse_str(raw) {
            Ok(u) => u.to_string(),
            Err(_) => {
                errors.push(FieldError::new("id", "invalid_uuid", Text::new("Mã định danh phải là UUID.", "The id must be a UUID.")));
                String::new()
            }
        },
        None => db::new_id(),
    };
    let username = check_username(&form.username, &mut errors);
    let full_name = check_name("full_name", &form.full_name, &mut errors);
    let phone = check_phone("phone", form.phone.as_deref(), &mut errors);
    let role = parse_role(&form.role, &mut errors);
    let kind = parse_scope_kind(&form.scope_kind, &mut errors);
    if let Some(pw) = &form.password {
        errors.extend(password::check_policy("password", pw, &username));
    }
    let (Some(role), Some(kind)) = (role, kind) else {
        return Err(error::validation(errors));
    };
    if !errors.is_empty() {
        return Err(error::validation(errors));
    }
    let scope_code = form.scope_code.map(|c| c.trim().to_owned());
    Ok(CheckedNewUser { id, username, full_name, phone, role, kind, scope_code, password: form.password })
}

/// Creates a checked account with `password_hash`; with `reset` (no password was given)
/// also stores a one-time reset code for it.
pub fn create_user(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    (keys, reset_ttl): (&JwtKeys, i64),
    new: CheckedNewUser,
    password_hash: &str,
    reset: Option<String>,
) -> Result<CreatedUser, ApiError> {
    let CheckedNewUser { id, username, full_name, phone, role, kind, scope_code, .. } = new;
    let (row, reset_code) = db::write_tx(conn, |conn| -> Result<_, ApiError> {
        ChangeSeq::serialise(conn)?;
        let scope = Scope::validate(conn, kind, scope_code.as_deref())?;
        policy::check_role_scope(role, &scope)?;
        let area = Area::of_scope(conn, &scope)?;
        policy::authorize(caller, Capability::ManageAccounts, Some(&area), Access::Write)?;
        let taken: i64 = users::table.filter(users::username.eq(&username)).count().get_result(conn)?;
        if taken > 0 {
            return Err(error::conflict("username_taken", Text::new("Tên đăng nhập đã được dùng.", "This username is already taken.")));
        }
        let exists: i64 = users::table.filter(users::id.eq(&id)).count().get_result(conn)?;
        if exists > 0 {
            return Err(error::conflict("id_taken", Text::new("Mã định danh đã được dùng.", "This id is already used.")));
        }
        let now = db::now();
        let mut seq = ChangeSeq::default();
        let change_seq = seq.next(conn)?;
        diesel::insert_into(users::table)
            .values((
                users::id.eq(&id),
                users::username.eq(&username),
                users::full_name.eq(&full_name),
                users::phone.eq(&phone),
                users::role.eq(role),
                users::scope_kind.eq(scope.kind()),
                users::scope_code.eq(scope.code()),
                users::password_hash.eq(password_hash),
                users::active.eq(true),
                users::password_changed_at.eq(now),
                users::version.eq(1i64),
                users::created_at.eq(now),
                users::updated_at.eq(now),
                users::deleted_at.eq(None::<NaiveDateTime>),
                users::change_seq.eq(change_seq),
            ))
            .execute(conn)?;
        let reset_code = match reset {
            Some(code) => Some(store_reset_code(conn, keys, &id, &caller.user.id, &code, now, reset_ttl)?),
            None => None,
        };
        seq.finish(conn)?;
        audit::record(conn, &audit_entry(caller, meta, "create", &id, &["username", "full_name", "phone", "role", "scope"]))?;
        Ok((load_user(conn, &id)?, reset_code))
    })?;
    Ok(CreatedUser { user: User::from_row(&row)?, reset_code })
}

/// One account in the caller's scope.
pub fn get_user(conn: &mut AnyConnection, caller: &Caller, id: &str) -> Result<User, ApiError> {
    policy::authorize(caller, Capability::ReadAccounts, None, Access::Read)?;
    let id = parse_uuid(id)?;
    let row = load_user(conn, &id)?;
    let area = user_area(conn, &row)?;
    policy::authorize(caller, Capability::ReadAccounts, Some(&area), Access::Read)?;
    User::from_row(&row)
}

/// Changes an account: name, phone, role, scope, or deactivates/reactivates it. An admin
/// cannot lock itself out; deactivation ends every session of the account.
pub fn update_user(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    if_match: &IfMatch,
    id: &str,
    patch: UserPatch,
) -> Result<User, ApiError> {
    policy::authorize(caller, Capability::ManageAccounts, None, Access::Write)?;
    if_match.require()?;
    let id = parse_uuid(id)?;
    let mut errors = Vec::new();
    let full_name = patch.full_name.as_deref().map(|n| check_name("full_name", n, &mut errors));
    let phone: Option<Option<String>> = patch.phone.as_deref().map(|p| check_phone("phone", Some(p), &mut errors));
    let role = patch.role.as_ref().and_then(|r| parse_role(r, &mut errors));
    let kind = patch.scope_kind.as_ref().and_then(|k| parse_scope_kind(k, &mut errors));
    if patch.scope_code.is_some() && patch.scope_kind.is_none() {
        errors.push(FieldError::new(
            "scope_kind",
            "required",
            Text::new("Gửi scope_kind cùng với scope_code.", "Send scope_kind together with scope_code."),
        ));
    }
    if !errors.is_empty() {
        return Err(error::validation(errors));
    }
    let scope_code = patch.scope_code.map(|c| c.trim().to_owned());
    let active = patch.active;
    let row = db::write_tx(conn, |conn| -> Result<_, ApiError> {
        ChangeSeq::serialise(conn)?;
        let row = load_user(conn, &id)?;
        let area = user_area(conn, &row)?;
        policy::authorize(caller, Capability::ManageAccounts, Some(&area), Access::Write)?;
        if_match.check(row.version)?;
        let (old_role, old_scope) = row.role_scope()?;
        let new_scope = match kind {
            Some(kind) => {
                let scope = Scope::validate(conn, kind, scope_code.as_deref())?;
                let new_area = Area::of_scope(conn, &scope)?;
                policy::authorize(caller, Capability::ManageAccounts, Some(&new_area), Access::Write)?;
                scope
            }
            None => old_scope.clone(),
        };
        let new_role = role.unwrap_or(old_role);
        policy::check_role_scope(new_role, &new_scope)?;
        if row.id == caller.user.id && (active == Some(false) || new_role != old_role || new_scope != old_scope) {
            return Err(error::conflict(
                "cannot_change_self",
                Text::new(
                    "Không thể tự khóa, đổi vai trò hay phạm vi của chính mình; nhờ một quản trị viên khác.",
                    "You cannot deactivate yourself or change your own role or scope; ask another admin.",
                ),
            ));
        }
        let mut changed: Vec<&str> = Vec::new();
        if full_name.as_ref().is_some_and(|n| n != &row.full_name) {
            changed.push("full_name");
        }
        if phone.as_ref().is_some_and(|p| p != &row.phone) {
            changed.push("phone");
        }
        if new_role != old_role {
            changed.push("role");
        }
        if new_scope != old_scope {
            changed.push("scope");
        }
        if active.is_some_and(|a| a != row.active) {
            changed.push("active");
        }
        if changed.is_empty() {
            return Ok(row);
        }
        let now = db::now();
        let mut seq = ChangeSeq::default();
        let change_seq = seq.next(conn)?;
        diesel::update(users::table.find(&row.id))
            .set((
                users::full_name.eq(full_name.clone().unwrap_or(row.full_name.clone())),
                users::phone.eq(phone.clone().unwrap_or(row.phone.clone())),
                users::role.eq(new_role),
                users::scope_kind.eq(new_scope.kind()),
                users::scope_code.eq(new_scope.code()),
                users::active.eq(active.unwrap_or(row.active)),
                users::version.eq(row.version + 1),
                users::updated_at.eq(now),
                users::change_seq.eq(change_seq),
            ))
            .execute(conn)?;
        seq.finish(conn)?;
        if active == Some(false) && row.active {
            auth::revoke_all_sessions(conn, &row.id, "deactivated")?;
        }
        let action = match active {
            Some(false) if row.active => "deactivate",
            Some(true) if !row.active => "reactivate",
            _ => "update",
        };
        audit::record(conn, &audit_entry(caller, meta, action, &row.id, &changed))?;
        load_user(conn, &row.id)
    })?;
    User::from_row(&row)
}

/// Issues a one-time password reset code for an account (admin; officer for team
/// members); earlier unused codes stop working.
pub fn issue_reset_code(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    (keys, ttl): (&JwtKeys, i64),
    id: &str,
) -> Result<ResetCode, ApiError> {
    policy::authorize(caller, Capability::IssueResetCode, None, Access::Write)?;
    let id = parse_uuid(id)?;
    db::write_tx(conn, |conn| -> Result<_, ApiError> {
        ChangeSeq::serialise(conn)?;
        let row = load_user(conn, &id)?;
        let area = user_area(conn, &row)?;
        policy::authorize(caller, Capability::IssueResetCode, Some(&area), Access::Write)?;
        let (target_role, _) = row.role_scope()?;
        policy::may_reset_role(caller, target_role)?;
        let code = token::new_reset_code();
        let issued = store_reset_code(conn, keys, &row.id, &caller.user.id, &code, db::now(), ttl)?;
        audit::record(conn, &audit_entry(caller, meta, "issue_reset_code", &row.id, &[]))?;
        Ok(issued)
    })
}

//! Who is calling and from where: the authenticated [`Caller`] (its account as stored
//! now, role, scope and session) and the request's [`RequestMeta`]. The HTTP layer
//! extracts both; the domain receives them.
//!
//! Each authenticated request costs one indexed query (session joined to its user), which
//! is what lets logout, a password change or a deactivation stop tokens on the very next
//! request, on every instance, without an in-memory revocation list.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::access::policy::{Principal, Scope};
use crate::base::error::{self, ApiError};
use crate::store::db::{self, AnyConnection};
use crate::store::rows::UserRow;
use crate::store::schema::{auth_sessions, users};
use crate::store::values::Role;

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

/// What the domain may need to know about the request besides its body.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub client_addr: String,
}

impl UserRow {
    /// Role and scope as policy types. A kind and code that do not fit together can only
    /// come from hand-edited data; it is treated as an internal error, not trusted.
    pub fn role_scope(&self) -> Result<(Role, Scope), ApiError> {
        let scope = Scope::from_parts(self.scope_kind, self.scope_code.as_deref())
            .ok_or_else(|| ApiError::internal(format!("user {} has an invalid scope", self.id)))?;
        Ok((self.role, scope))
    }
}

/// The caller of a verified access token: its session must be live, belong to the
/// token's user, and the account must be active.
pub fn load_caller(conn: &mut AnyConnection, user_id: &str, session_id: &str) -> Result<Caller, ApiError> {
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

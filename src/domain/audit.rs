//! Reading the audit log (`GET /audit`): entries of the caller's scope, newest first.
//! Writing entries is the store's job ([`crate::store::audit`]), inside each write.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::Caller;
use crate::access::policy::{self, Access, Capability, Principal, Scope};
use crate::base::error::ApiError;
use crate::base::time::utc;
use crate::domain::records::{encode_cursor, page_limit, Page};
use crate::store::schema::audit_log;
use crate::store::values::Role;

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 42, "at": "2026-11-26T08:00:00.123456Z", "actor_id": "0b6f1d1e-8a52-4c57-9d0e-2f6a1c3b7e55",
    "actor_role": "team_member", "action": "update", "entity": "class", "entity_id": "2e6b1f4a-7c3d-4e8f-9a0b-1c2d3e4f5a6b",
    "commune_code": "21025", "province_code": "51", "request_id": "5f0c6c1e-7d1e-4d7a-9a55-0b1f3c2a9e11",
    "changed_fields": ["status"]}))]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub actor_role: Option<Role>,
    /// `create`, `update`, `delete`, `cancel`, …
    pub action: String,
    /// `user`, `hamlet`, `team`, `team_member`, `topic`, `class`, `class_session`, …
    pub entity: String,
    pub entity_id: String,
    pub commune_code: Option<String>,
    pub province_code: Option<String>,
    pub request_id: Option<String>,
    /// Names of the fields the write changed (never their values).
    pub changed_fields: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// Account id of the actor.
    pub actor: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size: 1–500 (default 50).
    #[param(minimum = 1, maximum = 500, default = 50)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

type AuditRow =
    (i64, NaiveDateTime, Option<String>, Option<String>, String, String, String, Option<String>, Option<String>, Option<String>, String);

/// The audit log of the caller's scope, newest first (admins and officers). Entries that
/// belong to no commune (accounts, topics) are shown to country-wide callers only.
pub fn list_audit(conn: &mut crate::store::db::AnyConnection, caller: &Caller, q: AuditQuery) -> Result<Page<AuditRecord>, ApiError> {
    policy::authorize(caller, Capability::ReadAudit, None, Access::Read)?;
    let limit = page_limit(q.limit)?;
    let before: Option<i64> = crate::domain::records::cursor_position(q.cursor.as_deref())?;
    let mut query = audit_log::table.into_boxed();
    query = match caller.scope() {
        Scope::Country => query,
        Scope::Province(p) => query.filter(audit_log::province_code.eq(p.clone())),
        Scope::Commune(c) => query.filter(audit_log::commune_code.eq(c.clone())),
    };
    if let Some(e) = q.entity {
        query = query.filter(audit_log::entity.eq(e));
    }
    if let Some(id) = q.entity_id {
        query = query.filter(audit_log::entity_id.eq(id));
    }
    if let Some(a) = q.actor {
        query = query.filter(audit_log::actor_id.eq(a));
    }
    if let Some(f) = q.from {
        query = query.filter(audit_log::at.ge(f.naive_utc()));
    }
    if let Some(t) = q.to {
        query = query.filter(audit_log::at.lt(t.naive_utc()));
    }
    if let Some(b) = before {
        query = query.filter(audit_log::id.lt(b));
    }
    let rows: Vec<AuditRow> = query.order(audit_log::id.desc()).limit(limit + 1).load(conn)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<AuditRecord> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditRecord {
            id: r.0,
            at: utc(r.1),
            actor_id: r.2,
            actor_role: r.3.as_deref().and_then(Role::parse),
            action: r.4,
            entity: r.5,
            entity_id: r.6,
            commune_code: r.7,
            province_code: r.8,
            request_id: r.9,
            changed_fields: serde_json::from_str(&r.10).unwrap_or_default(),
        })
        .collect();
    let next_cursor = if more { items.last().map(|i| encode_cursor(&i.id)) } else { None };
    Ok(Page { items, next_cursor })
}

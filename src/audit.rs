//! The audit log: every write through the API appends who did what to which record, in
//! the same transaction as the write, so the log and the data never disagree.

use diesel::prelude::*;

use crate::db::{self, AnyConnection};
use crate::error::ApiError;
use crate::policy::Role;
use crate::schema::audit_log;

/// One audit entry. `changed_fields` lists field names only, never values: the log must
/// not become a second copy of personal data.
pub struct AuditEntry<'a> {
    pub actor_id: Option<&'a str>,
    pub actor_role: Option<Role>,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub commune_code: Option<&'a str>,
    pub province_code: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub changed_fields: &'a [&'a str],
}

/// An audit entry held until the end of its write ([`crate::records::Write`]), then
/// inserted with the others of the write in one statement.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct PendingEntry {
    pub at: chrono::NaiveDateTime,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub commune_code: Option<String>,
    pub province_code: Option<String>,
    pub request_id: Option<String>,
    pub changed_fields: String,
}

impl PendingEntry {
    pub fn new(entry: &AuditEntry<'_>) -> Result<Self, ApiError> {
        Ok(PendingEntry {
            at: db::now(),
            actor_id: entry.actor_id.map(str::to_owned),
            actor_role: entry.actor_role.map(|r| r.as_str().to_owned()),
            action: entry.action.to_owned(),
            entity: entry.entity.to_owned(),
            entity_id: entry.entity_id.to_owned(),
            commune_code: entry.commune_code.map(str::to_owned),
            province_code: entry.province_code.map(str::to_owned),
            request_id: entry.request_id.map(str::to_owned),
            changed_fields: serde_json::to_string(entry.changed_fields).map_err(|e| ApiError::internal(format!("audit fields: {e}")))?,
        })
    }
}

/// Inserts held entries, in order (their ids follow that order).
pub fn record_many(conn: &mut AnyConnection, entries: &[PendingEntry]) -> Result<(), ApiError> {
    db::insert_chunked!(conn, audit_log::table, entries);
    Ok(())
}

/// Inserts one entry now (writes that are not a [`crate::records::Write`]: accounts,
/// sign-in events).
pub fn record(conn: &mut AnyConnection, entry: &AuditEntry<'_>) -> Result<(), ApiError> {
    record_many(conn, &[PendingEntry::new(entry)?])
}

// ---- API ------------------------------------------------------------------------------

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::Problem;
use crate::policy::{self, Access, Capability, Principal, Scope};
use crate::records::Page;

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
    pub actor_role: Option<String>,
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
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

type AuditRow =
    (i64, NaiveDateTime, Option<String>, Option<String>, String, String, String, Option<String>, Option<String>, Option<String>, String);

/// The audit log of the caller's scope, newest first (admins and officers). Entries that
/// belong to no commune (accounts, topics) are shown to country-wide callers only.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entries, newest first", body = Page<AuditRecord>),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admins and officers read the audit log", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_audit(state: web::Data<AppState>, caller: Caller, query: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadAudit, None, Access::Read)?;
    let q = query.into_inner();
    let limit = crate::http::page_limit(q.limit)?;
    let before: Option<i64> = q.cursor.as_deref().map(crate::http::decode_cursor).transpose()?;
    let scope = caller.scope().clone();
    let page = state
        .db
        .run(move |conn| {
            let mut query = audit_log::table.into_boxed();
            query = match &scope {
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
                    at: crate::users::utc(r.1),
                    actor_id: r.2,
                    actor_role: r.3,
                    action: r.4,
                    entity: r.5,
                    entity_id: r.6,
                    commune_code: r.7,
                    province_code: r.8,
                    request_id: r.9,
                    changed_fields: serde_json::from_str(&r.10).unwrap_or_default(),
                })
                .collect();
            let next_cursor = if more { items.last().map(|i| crate::http::encode_cursor(&i.id)) } else { None };
            Ok(Page { items, next_cursor })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

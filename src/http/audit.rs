//! `GET /audit`.

use actix_web::{web, HttpResponse};

use crate::access::caller::Caller;
use crate::base::error::{ApiError, Problem};
use crate::domain::audit::{self, AuditQuery, AuditRecord};
use crate::domain::records::Page;
use crate::http::responses::{BadQuery, Unauthorized};
use crate::http::state::AppState;

/// The audit log of the caller's scope, newest first (admins and officers). Entries that
/// belong to no commune (accounts, topics) are shown to country-wide callers only.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entries, newest first", body = Page<AuditRecord>),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Only admins and officers read the audit log", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_audit(state: web::Data<AppState>, caller: Caller, query: web::Query<AuditQuery>) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| audit::list_audit(conn, &caller, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

//! Periodic reports: `GET /reports/{period}` (JSON, CSV or XLSX), `POST
//! /reports/{period}/close`, `POST /reports/{period}/reopen`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Capability};
use crate::base::error::{ApiError, Problem};
use crate::domain::stats::perturb::CellKeys;
use crate::domain::stats::reports::{self, parse_period, CloseQuery, ReopenForm, Report, ReportQuery, ReportState, XLSX};
use crate::http::responses::Unauthorized;
use crate::http::state::AppState;
use crate::store::values::ReportFormat;

/// Runs CPU-bound rendering off the executor.
async fn render(f: impl FnOnce() -> Result<Vec<u8>, ApiError> + Send + 'static) -> Result<Vec<u8>, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("blocking: {e}")))?
}

/// A periodic report of the caller's scope (analysts, officers, admins).
#[utoipa::path(
    get, path = "/api/v1/reports/{period}", tag = "stats",
    params(("period" = String, Path, description = "2026-Q1…Q4, 2026-H1, 2026-H2 or 2026"), ReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report: JSON by default; CSV or XLSX (`?format=` or `Accept`) with Vietnamese \
            headers, whose first lines say the period, the window (Decree 09 or calendar), whether it is closed or provisional, \
            and when it was made; the file name says the same (`bao-cao-bdhvs-2026-H1-nd09-tam-tinh-20260612-0930.csv`)",
            content(
                (Report = "application/json"),
                (String = "text/csv; charset=utf-8"),
                (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ),
            headers(("Content-Disposition" = String, description = "CSV and XLSX: `attachment; filename=\"…\"`"))),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members do not read statistics", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad period, format or level", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_report(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ReadStats, None, Access::Read)?;
    let query = query.into_inner();
    let period = parse_period(&path, query.calendar.unwrap_or(false))?;
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = reports::format_of(accept, query.format.as_ref())?;
    let keys = CellKeys::from_secret(&state.config.id_hash_secret);
    let report = state.db.run(move |conn| reports::get_report(conn, &caller, &keys, &period, query.level.as_ref())).await?;
    let file = reports::file_name(&report);
    Ok(match format {
        ReportFormat::Json => HttpResponse::Ok().json(report),
        ReportFormat::Csv => {
            let body = render(move || reports::csv_body(&report)).await?;
            HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}.csv\"")))
                .body(body)
        }
        ReportFormat::Xlsx => {
            let body = render(move || reports::xlsx_body(&report)).await?;
            HttpResponse::Ok()
                .content_type(XLSX)
                .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}.xlsx\"")))
                .body(body)
        }
    })
}

/// Close a report: freeze the counters of its window (admins).
#[utoipa::path(
    post, path = "/api/v1/reports/{period}/close", tag = "stats",
    params(("period" = String, Path, description = "2026-Q1…Q4, 2026-H1, 2026-H2 or 2026"), CloseQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Closed", body = ReportState),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already closed (`report_closed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad period", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn close_report(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    query: web::Query<CloseQuery>,
) -> Result<HttpResponse, ApiError> {
    let body = state.db.run(move |conn| reports::close_report(conn, &caller, &meta, &path, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Reopen a closed report (admins; audited): it follows the live counters again.
#[utoipa::path(
    post, path = "/api/v1/reports/{period}/reopen", tag = "stats", request_body = ReopenForm,
    params(("period" = String, Path, description = "2026-Q1…Q4, 2026-H1, 2026-H2 or 2026"), CloseQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Reopened", body = ReportState),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not closed (`report_not_closed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad period or missing reason", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reopen_report(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    query: web::Query<CloseQuery>,
    form: web::Json<ReopenForm>,
) -> Result<HttpResponse, ApiError> {
    let body = state.db.run(move |conn| reports::reopen_report(conn, &caller, &meta, &path, query.into_inner(), form.into_inner())).await?;
    Ok(HttpResponse::Ok().json(body))
}

//! Roster import and export (docs/IMPORT.md): `POST /imports` (a multipart upload),
//! `GET /imports/{id}`, `GET /imports/templates/{kind}.xlsx`, `GET /trainees/export.xlsx`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{self, Access, Capability};
use crate::base::error::{self, ApiError, FieldError, Problem, Text};
use crate::domain::imports::{self, sheet, CsvEncoding, ImportReport, Upload};
use crate::domain::stats::reports::XLSX;
use crate::http::problem::lang_of;
use crate::http::responses::{BadQuery, Unauthorized};
use crate::http::state::AppState;
use crate::store::values::{Choice, ImportKind};

/// How to import the uploaded file.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// What the file lists: `trainees` (optionally with a class and its result per row),
    /// `enrollments` (a class's list with results), `teams` (teams with their members, one
    /// row per member) or `classes` (classes with the days of their sessions).
    #[param(value_type = ImportKind)]
    pub kind: Choice<ImportKind>,
    /// Check only: the report of what would happen; nothing is written. Default false.
    pub dry_run: Option<bool>,
    /// Apply the good rows of a file with bad rows (the report names the rows skipped).
    /// Default false: a file with a bad row applies nothing.
    pub skip_invalid: Option<bool>,
    /// The text encoding of a CSV file: `auto` (default: UTF-8 when it is, with or without
    /// BOM, or UTF-16 with BOM; otherwise Windows-1258), `utf-8` or `windows-1258`.
    pub encoding: Option<String>,
}

/// The upload (multipart/form-data).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportUpload {
    /// The XLSX or CSV file (up to 20 MB and 50,000 rows); its file name is kept.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn upload_problem(code: &'static str, vi: &str, en: &str) -> ApiError {
    error::validation(vec![FieldError::new("file", code, Text::new(vi, en))])
}

/// Reads the `file` part of a multipart upload (refusing more than 20 MB).
async fn read_upload(req: &HttpRequest, payload: web::Payload) -> Result<(String, Vec<u8>), ApiError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(error::unsupported_media_type().with_detail(Text::new(
            "Tải tệp lên bằng multipart/form-data, phần tên \"file\".",
            "Upload the file as multipart/form-data, in a part named \"file\".",
        )));
    }
    let mut parts = actix_multipart::Multipart::new(req.headers(), payload);
    let unreadable = || upload_problem("unreadable_upload", "Không đọc được dữ liệu tải lên.", "The upload could not be read.");
    let mut found: Option<(String, Vec<u8>)> = None;
    while let Some(part) = parts.next().await {
        let mut part = part.map_err(|_| unreadable())?;
        let name = part.name().unwrap_or("").to_owned();
        let file_name = part.content_disposition().and_then(|d| d.get_filename()).unwrap_or("").to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            if bytes.len() + chunk.len() > sheet::MAX_FILE_BYTES {
                return Err(error::payload_too_large(sheet::MAX_FILE_BYTES));
            }
            if name == "file" {
                bytes.extend_from_slice(&chunk);
            }
        }
        if name == "file" && found.is_none() {
            found = Some((if file_name.is_empty() { "upload".to_owned() } else { file_name }, bytes));
        }
    }
    found.ok_or_else(|| upload_problem("required", "Cần tệp trong phần \"file\".", "A file is required in the part named \"file\"."))
}

/// Import a list from a spreadsheet (officers and admins).
#[utoipa::path(
    post, path = "/api/v1/imports", tag = "imports", params(ImportQuery),
    request_body(content = ImportUpload, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report. `applied` says whether the rows were written: false for a dry run, and for a \
            file with bad rows unless `skip_invalid=true` (then the good rows are written and the bad ones listed as `skipped`)",
            body = ImportReport),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members and analysts do not import", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file is larger than 20 MB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a multipart upload", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a spreadsheet (`not_a_spreadsheet`, `legacy_excel_format`, `empty_file`, \
            `invalid_encoding`), too big unpacked (`file_too_large_unpacked`), more than 50,000 rows (`too_many_rows`), a formula \
            (`formulas_not_allowed`), merged cells (`merged_cells`), no header row (`missing_header_row`), unknown, repeated or \
            missing columns (`invalid_columns`), no data rows (`no_rows`), or a bad query",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_import(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    policy::authorize(&caller, Capability::ImportRecords, None, Access::Write)?;
    let query = query.into_inner();
    let mut errors = Vec::new();
    let kind = query.kind.check("kind", &mut errors);
    let encoding = match query.encoding.as_deref().map(CsvEncoding::parse) {
        None => Some(CsvEncoding::Auto),
        Some(Some(e)) => Some(e),
        Some(None) => {
            errors.push(FieldError::new(
                "encoding",
                "invalid_choice",
                Text::new("encoding là auto, utf-8 hoặc windows-1258.", "encoding is auto, utf-8 or windows-1258."),
            ));
            None
        }
    };
    crate::domain::records::fail_if_any(errors)?;
    let (kind, encoding) = (crate::domain::records::valid(kind)?, crate::domain::records::valid(encoding)?);
    let (file_name, bytes) = read_upload(&req, payload).await?;
    let lang = lang_of(req.headers());
    let upload = Upload {
        kind,
        file_name,
        bytes,
        dry_run: query.dry_run.unwrap_or(false),
        skip_invalid: query.skip_invalid.unwrap_or(false),
        encoding,
    };
    let st = state.clone();
    let (who, request_id) = (caller.clone(), meta.request_id.clone());
    let report = state.db.run(move |conn| imports::import(conn, &caller, &meta, &st.config.id_hash_secret, upload, lang)).await?;
    state.access_log.record_people(&who, &request_id, "duplicates", imports::duplicate_ids(&report));
    Ok(HttpResponse::Ok().json(report))
}

/// The report of an earlier import (to the account that made it, and officers and admins
/// whose scope holds it).
#[utoipa::path(
    get, path = "/api/v1/imports/{id}", tag = "imports",
    params(("id" = String, Path, description = "Import id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report as the upload answered it", body = ImportReport),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members and analysts do not import", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such import in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_import(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let report = state.db.run(move |conn| imports::get_import(conn, &caller, &path)).await?;
    Ok(HttpResponse::Ok().json(report))
}

fn xlsx(file: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(XLSX)
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// The template of a list: Vietnamese headers, an instruction sheet and drop-down lists
/// (with the caller's communes and hamlets).
#[utoipa::path(
    get, path = "/api/v1/imports/templates/{file}", tag = "imports",
    params(("file" = String, Path, description = "`trainees.xlsx`, `enrollments.xlsx`, `teams.xlsx` or `classes.xlsx`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The template",
            content((String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"mau-nhap-….xlsx\"`"))),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members and analysts do not import", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No template of this name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_template(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let kind = path.strip_suffix(".xlsx").and_then(ImportKind::parse).ok_or_else(error::not_found)?;
    let body = state.db.run(move |conn| imports::workbook::template(conn, &caller, kind)).await?;
    Ok(xlsx(&format!("mau-nhap-{}.xlsx", kind.as_str()), body))
}

/// Which trainees to export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// One commune of the caller's scope (default: the whole scope).
    pub commune: Option<String>,
}

/// The trainees of the caller's scope in the import template's layout, ids included, so
/// that the list edited in Excel and uploaded again updates the same people
/// (officers and admins; access-logged).
#[utoipa::path(
    get, path = "/api/v1/trainees/export.xlsx", tag = "imports", params(ExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The trainees (erased people are left out; the personal ID number shows only its last four digits)",
            content((String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"hoc-vien-….xlsx\"`"))),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members and analysts do not export", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such commune in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_trainees(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let commune = query.into_inner().commune.map(|c| c.trim().to_owned());
    let who = caller.clone();
    let name = format!(
        "hoc-vien-{}-{}.xlsx",
        commune.clone().or_else(|| caller.scope.code().map(str::to_owned)).unwrap_or_else(|| "ca-nuoc".into()),
        crate::base::time::local_today().format("%Y%m%d")
    );
    let (body, rows) = state.db.run(move |conn| imports::workbook::export_trainees(conn, &who, commune.as_deref())).await?;
    state.access_log.record(&caller, &meta.request_id, "export", "trainee", None, rows);
    Ok(xlsx(&name, body))
}

/// The teams of the caller's scope with their members (one row per member) in the import
/// template's layout, ids included (officers and admins; access-logged).
#[utoipa::path(
    get, path = "/api/v1/teams/export.xlsx", tag = "imports", params(ExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The teams and members",
            content((String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"to-cong-nghe-so-….xlsx\"`"))),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members and analysts do not export", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such commune in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_teams(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let commune = query.into_inner().commune.map(|c| c.trim().to_owned());
    let name = export_name("to-cong-nghe-so", &caller, commune.as_deref());
    let who = caller.clone();
    let (body, people) = state.db.run(move |conn| imports::workbook::export_teams(conn, &who, commune.as_deref())).await?;
    state.access_log.record(&caller, &meta.request_id, "export", "team_member", None, people);
    Ok(xlsx(&name, body))
}

/// The classes of the caller's scope with the days of their sessions in the import
/// template's layout, ids included (officers and admins).
#[utoipa::path(
    get, path = "/api/v1/classes/export.xlsx", tag = "imports", params(ExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The classes",
            content((String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"lop-hoc-….xlsx\"`"))),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members and analysts do not export", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such commune in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_classes(state: web::Data<AppState>, caller: Caller, query: web::Query<ExportQuery>) -> Result<HttpResponse, ApiError> {
    let commune = query.into_inner().commune.map(|c| c.trim().to_owned());
    let name = export_name("lop-hoc", &caller, commune.as_deref());
    let (body, _) = state.db.run(move |conn| imports::workbook::export_classes(conn, &caller, commune.as_deref())).await?;
    Ok(xlsx(&name, body))
}

/// `{what}-{commune, province or ca-nuoc}-{local date}.xlsx`.
fn export_name(what: &str, caller: &Caller, commune: Option<&str>) -> String {
    let area = commune.map(str::to_owned).or_else(|| caller.scope.code().map(str::to_owned)).unwrap_or_else(|| "ca-nuoc".into());
    format!("{what}-{area}-{}.xlsx", crate::base::time::local_today().format("%Y%m%d"))
}

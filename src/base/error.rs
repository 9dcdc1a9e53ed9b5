//! The API's one error type and its RFC 9457 rendering.
//!
//! Handlers return `Result<_, ApiError>` and build errors with the constructors below
//! (`Err(not_found())`, `Err(validation(errors))`, …). Every error has a stable snake_case
//! `code` that clients switch on; `title` and `detail` are human text in Vietnamese (the
//! default) or English (`Accept-Language: en`). The language and the request id are only
//! known per request, so [`crate::http::middleware`] re-renders the body with them; the
//! `ResponseError` impl here is the fallback (Vietnamese, no request id).
//!
//! Use `internal(cause)` for anything the client did not cause: the cause is logged with
//! the request id and the client sees a generic body. Never put SQL, paths or input echoes
//! of secrets in a `detail`.

use std::fmt;

use serde::Serialize;
use utoipa::ToSchema;

/// Text in the two languages the API speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub vi: String,
    pub en: String,
}

impl Text {
    pub fn new(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self { vi: vi.into(), en: en.into() }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }
}

/// The response language, from `Accept-Language` (first of `vi`/`en` by preference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    /// From the value of an `Accept-Language` header (absent or unreadable: Vietnamese).
    pub fn from_accept_language(raw: Option<&str>) -> Lang {
        let Some(raw) = raw else {
            return Lang::Vi;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in raw.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else if tag == "vi" || tag.starts_with("vi-") {
                Lang::Vi
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::Vi)
    }
}

/// One failing field of a 422 response.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: Text,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: Text) -> Self {
        Self { field: field.into(), code: code.into(), message }
    }
}

/// RFC 9457 problem details, as sent on the wire.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:hocvuso:problem:validation_failed",
    "title": "Dữ liệu không hợp lệ",
    "status": 422,
    "detail": "Một số trường không hợp lệ.",
    "code": "validation_failed",
    "request_id": "5f0c6c1e-7d1e-4d7a-9a55-0b1f3c2a9e11",
    "errors": [{"field": "username", "code": "length", "message": "Độ dài phải từ 3 đến 64 ký tự."}]
}))]
pub struct Problem {
    /// A URI naming the problem type: `urn:hocvuso:problem:{code}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type, in the response language.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this request, in the response language.
    pub detail: String,
    /// Stable machine-readable code (snake_case). Clients switch on this.
    pub code: String,
    /// The request id (also in the `X-Request-Id` header): quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Per-field errors (validation), sorted by field then code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemFieldError>,
    /// For `precondition_failed`: the record's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// Seconds to wait before trying again (also in `Retry-After`): `too_many_attempts`,
    /// `service_unavailable`, `storage_full`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// For `record_merged`: the id of the record this one was merged into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemFieldError {
    /// The request field (dotted path for nested fields).
    pub field: String,
    /// Stable code of the rule that failed, e.g. `length`, `required`, `unknown_unit`.
    pub code: String,
    /// Human explanation in the response language.
    pub message: String,
}

/// The API error. Build it with the constructor functions of this module. Boxed, so that
/// `Result<T, ApiError>` stays one pointer wide on the happy path.
#[derive(Debug)]
pub struct ApiError(Box<ApiErrorData>);

impl std::ops::Deref for ApiError {
    type Target = ApiErrorData;
    fn deref(&self) -> &ApiErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorData {
        &mut self.0
    }
}

#[derive(Debug)]
pub struct ApiErrorData {
    /// The HTTP status code (the HTTP layer turns it into a response).
    pub status: u16,
    pub code: &'static str,
    pub detail: Text,
    pub errors: Vec<FieldError>,
    pub current_version: Option<i64>,
    pub retry_after: Option<u64>,
    pub merged_into: Option<String>,
    /// Logged, never sent.
    pub cause: Option<String>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, detail: Text) -> Self {
        Self(Box::new(ApiErrorData {
            status,
            code,
            detail,
            errors: Vec::new(),
            current_version: None,
            retry_after: None,
            merged_into: None,
            cause: None,
        }))
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        let mut e = Self::new(
            500,
            "internal_error",
            Text::new(
                "Đã có lỗi ở máy chủ. Vui lòng thử lại; nếu lỗi lặp lại, báo mã yêu cầu cho quản trị viên.",
                "Something went wrong on the server. Please retry; if it happens again, report the request id.",
            ),
        );
        e.cause = Some(cause.into());
        e
    }

    pub fn unavailable(cause: impl Into<String>) -> Self {
        let mut e = Self::new(
            503,
            "service_unavailable",
            Text::new(
                "Dịch vụ tạm thời không sẵn sàng. Vui lòng thử lại sau.",
                "The service is temporarily unavailable. Please retry later.",
            ),
        );
        e.cause = Some(cause.into());
        e.retry_after = Some(5);
        e
    }

    /// 410 Gone with a specific code (e.g. `resync_required`).
    pub fn gone(code: &'static str, detail: Text) -> Self {
        Self::new(410, code, detail)
    }

    pub fn with_detail(mut self, detail: Text) -> Self {
        self.detail = detail;
        self
    }

    pub fn title(&self) -> Text {
        title_for(self.status)
    }

    /// The problem body in `lang`, with `request_id` when known.
    pub fn problem(&self, lang: Lang, request_id: Option<&str>) -> Problem {
        let mut errors: Vec<ProblemFieldError> = self
            .errors
            .iter()
            .map(|e| ProblemFieldError { field: e.field.clone(), code: e.code.clone(), message: e.message.get(lang).to_owned() })
            .collect();
        errors.sort_by(|a, b| (&a.field, &a.code).cmp(&(&b.field, &b.code)));
        Problem {
            type_uri: format!("urn:hocvuso:problem:{}", self.code),
            title: self.title().get(lang).to_owned(),
            status: self.status,
            detail: self.detail.get(lang).to_owned(),
            code: self.code.to_owned(),
            request_id: request_id.map(str::to_owned),
            errors,
            current_version: self.current_version,
            retry_after: self.retry_after,
            merged_into: self.merged_into.clone(),
        }
    }

    /// A server-side failure (5xx), logged with its cause.
    pub fn is_server_error(&self) -> bool {
        self.status >= 500
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.code)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

fn title_for(status: u16) -> Text {
    let (vi, en) = match status {
        400 => ("Yêu cầu không hợp lệ", "Bad request"),
        401 => ("Chưa xác thực", "Unauthorized"),
        403 => ("Không có quyền", "Forbidden"),
        404 => ("Không tìm thấy", "Not found"),
        405 => ("Phương thức không được hỗ trợ", "Method not allowed"),
        409 => ("Xung đột", "Conflict"),
        410 => ("Không còn tồn tại", "Gone"),
        412 => ("Điều kiện tiên quyết không thỏa", "Precondition failed"),
        413 => ("Dữ liệu gửi lên quá lớn", "Payload too large"),
        415 => ("Kiểu nội dung không được hỗ trợ", "Unsupported media type"),
        422 => ("Dữ liệu không hợp lệ", "Unprocessable content"),
        428 => ("Thiếu điều kiện tiên quyết", "Precondition required"),
        429 => ("Quá nhiều yêu cầu", "Too many requests"),
        503 => ("Dịch vụ không sẵn sàng", "Service unavailable"),
        _ => ("Lỗi máy chủ", "Internal server error"),
    };
    Text::new(vi, en)
}

impl From<diesel::result::Error> for ApiError {
    /// `NotFound` → 404, unique violation → 409, foreign-key violation → 422; anything
    /// else is an internal error whose cause is logged, never sent.
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => not_found(),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => conflict(
                "already_exists",
                Text::new("Bản ghi đã tồn tại (trùng giá trị duy nhất).", "A record with the same unique value already exists."),
            ),
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                unprocessable("missing_reference", Text::new("Bản ghi tham chiếu không tồn tại.", "A referenced record does not exist."))
            }
            other if is_storage_full(&other.to_string()) => storage_full(format!("database: {other}")),
            // Two writers that each waited for the other (PostgreSQL broke the tie by
            // failing one): nothing was written; the same request may simply be sent again.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => write_race(info.message()),
            Error::DatabaseError(_, info) if info.message().contains("deadlock detected") => write_race(info.message()),
            other => ApiError::internal(format!("database: {other}")),
        }
    }
}

/// 503 with `Retry-After: 1` for a write that lost a race PostgreSQL resolved by failing it.
fn write_race(message: &str) -> ApiError {
    let mut e = ApiError::unavailable(format!("database: {message}"));
    e.retry_after = Some(1);
    e
}

/// Whether a database error says its storage is full: SQLite's `SQLITE_FULL` ("database or
/// disk is full") or PostgreSQL's "No space left on device" (53100 `disk_full`).
pub fn is_storage_full(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("database or disk is full") || m.contains("no space left on device") || m.contains("disk full")
}

/// When a write last failed for lack of storage (Unix seconds; 0: never or recovered).
/// Readiness reports it until a write succeeds again (`GET /readyz`).
pub static STORAGE_FULL_SINCE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// 503 from readiness: writes fail because the database's storage is full.
pub fn storage_full_unready() -> ApiError {
    ApiError::new(
        503,
        "storage_full",
        Text::new(
            "Máy chủ hết chỗ lưu trữ: không ghi được dữ liệu (vẫn đọc được).",
            "The server's storage is full: writes fail (reads still work).",
        ),
    )
}

/// 507: the database has no room for the write. Nothing was stored; retry later.
pub fn storage_full(cause: impl Into<String>) -> ApiError {
    let now = chrono::Utc::now().timestamp();
    let _ = STORAGE_FULL_SINCE.compare_exchange(0, now, std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst);
    let mut e = ApiError::new(
        507,
        "storage_full",
        Text::new(
            "Máy chủ hết chỗ lưu trữ: chưa lưu được gì. Vui lòng thử lại sau; quản trị viên đã được báo.",
            "The server's storage is full: nothing was stored. Please retry later; the operators are alerted.",
        ),
    );
    e.cause = Some(cause.into());
    e.retry_after = Some(60);
    e
}

// ---- constructors -------------------------------------------------------------------

pub fn not_found() -> ApiError {
    ApiError::new(
        404,
        "not_found",
        Text::new("Không tìm thấy bản ghi (hoặc bạn không có quyền xem).", "The record does not exist or is not visible to you."),
    )
}

pub fn route_not_found() -> ApiError {
    ApiError::new(
        404,
        "route_not_found",
        Text::new("Không có đường dẫn API này. Xem /docs để biết danh sách.", "There is no such API path. See /docs for the list."),
    )
}

pub fn method_not_allowed() -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        Text::new("Đường dẫn này không hỗ trợ phương thức HTTP đã dùng.", "This path does not support the HTTP method used."),
    )
}

pub fn bad_request(code: &'static str, detail: Text) -> ApiError {
    ApiError::new(400, code, detail)
}

pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        415,
        "unsupported_media_type",
        Text::new("Nội dung phải là JSON (Content-Type: application/json).", "The body must be JSON (Content-Type: application/json)."),
    )
}

pub fn payload_too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        Text::new(
            format!("Dữ liệu gửi lên vượt quá giới hạn {limit} byte."),
            format!("The request body is larger than the limit of {limit} bytes."),
        ),
    )
}

/// 422 with one entry per failing field.
pub fn validation(errors: Vec<FieldError>) -> ApiError {
    let mut e = ApiError::new(422, "validation_failed", Text::new("Một số trường không hợp lệ.", "Some fields are invalid."));
    e.errors = errors;
    e
}

/// 422 that is not about one field (a rule across records).
pub fn unprocessable(code: &'static str, detail: Text) -> ApiError {
    ApiError::new(422, code, detail)
}

/// 401; `code` says which: `missing_token`, `invalid_token`, `token_expired`,
/// `session_revoked`, `invalid_credentials`, `invalid_refresh_token`, `refresh_token_reused`,
/// `invalid_reset_code`.
pub fn unauthorized(code: &'static str) -> ApiError {
    let detail = match code {
        "missing_token" => {
            Text::new("Cần đăng nhập: thiếu mã truy cập (Authorization: Bearer …).", "Sign-in required: no bearer token was sent.")
        }
        "token_expired" => Text::new("Mã truy cập đã hết hạn; hãy làm mới phiên.", "The access token has expired; refresh it."),
        "session_revoked" => Text::new(
            "Phiên đăng nhập đã bị thu hồi (đăng xuất, đổi mật khẩu hoặc tài khoản bị khóa).",
            "The session was revoked (logout, password change or deactivated account).",
        ),
        "invalid_credentials" => Text::new("Tên đăng nhập hoặc mật khẩu không đúng.", "Wrong username or password."),
        "invalid_refresh_token" => Text::new("Mã làm mới không hợp lệ hoặc đã hết hạn.", "The refresh token is invalid or expired."),
        "refresh_token_reused" => Text::new(
            "Mã làm mới đã được dùng trước đó; toàn bộ phiên đã bị thu hồi để bảo vệ tài khoản.",
            "This refresh token was already used; the whole session was revoked to protect the account.",
        ),
        "account_inactive" => Text::new("Tài khoản đã bị khóa.", "The account has been deactivated."),
        "invalid_reset_code" => {
            Text::new("Mã đặt lại mật khẩu không đúng, đã dùng hoặc đã hết hạn.", "The reset code is wrong, used or expired.")
        }
        _ => Text::new("Mã truy cập không hợp lệ.", "The access token is invalid."),
    };
    ApiError::new(401, code, detail)
}

/// 403: the caller's role may not do this at all.
pub fn forbidden() -> ApiError {
    ApiError::new(403, "forbidden", Text::new("Vai trò của bạn không được phép thực hiện thao tác này.", "Your role may not do this."))
}

/// 403: the role may do this, but not on a record outside the caller's scope.
pub fn out_of_scope() -> ApiError {
    ApiError::new(
        403,
        "out_of_scope",
        Text::new("Bản ghi nằm ngoài địa bàn bạn được phân quyền.", "The record is outside the area you are responsible for."),
    )
}

pub fn conflict(code: &'static str, detail: Text) -> ApiError {
    ApiError::new(409, code, detail)
}

/// 410: the record was deleted (a replayed create of a record deleted since).
pub fn gone_record() -> ApiError {
    ApiError::new(410, "record_deleted", Text::new("Bản ghi này đã bị xóa.", "This record has been deleted."))
}

/// 410: the record was merged into another one (`merged_into`): re-point local links to it.
pub fn merged(into: &str) -> ApiError {
    let mut e = ApiError::new(
        410,
        "record_merged",
        Text::new(
            "Bản ghi này đã được gộp vào một bản ghi khác (merged_into); hãy dùng bản ghi đó.",
            "This record was merged into another one (merged_into); use that record.",
        ),
    );
    e.merged_into = Some(into.to_owned());
    e
}

/// A value validation already guaranteed is missing: a bug, reported as a 500.
pub fn internal_invariant() -> ApiError {
    ApiError::internal("validated value missing")
}

pub fn precondition_required() -> ApiError {
    ApiError::new(
        428,
        "precondition_required",
        Text::new(
            "Cần gửi If-Match với ETag của phiên bản bạn đã đọc để tránh ghi đè thay đổi của người khác.",
            "Send If-Match with the ETag of the version you read, so that nobody's change is overwritten.",
        ),
    )
}

pub fn precondition_failed(current_version: i64) -> ApiError {
    let mut e = ApiError::new(
        412,
        "precondition_failed",
        Text::new(
            "Bản ghi đã được người khác thay đổi; hãy tải lại rồi sửa.",
            "The record was changed by someone else; reload it and edit again.",
        ),
    );
    e.current_version = Some(current_version);
    e
}

pub fn too_many_attempts(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(
        429,
        "too_many_attempts",
        Text::new(
            format!("Quá nhiều lần thử không thành công. Vui lòng thử lại sau {retry_after} giây."),
            format!("Too many failed attempts. Try again in {retry_after} seconds."),
        ),
    );
    e.retry_after = Some(retry_after);
    e
}

/// Builds field errors from `validator`'s result, with messages in both languages.
pub fn from_validator(errs: &validator::ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect_validator(errs, "", &mut out);
    out
}

fn collect_validator(errs: &validator::ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errs.errors() {
        let name = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = match &e.message {
                        Some(m) => Text::new(m.to_string(), m.to_string()),
                        None => rule_message(&e.code, &e.params),
                    };
                    out.push(FieldError::new(name.clone(), e.code.to_string(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect_validator(inner, &name, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect_validator(inner, &format!("{name}[{i}]"), out);
                }
            }
        }
    }
}

fn rule_message(code: &str, params: &std::collections::HashMap<std::borrow::Cow<'static, str>, serde_json::Value>) -> Text {
    let p = |k: &str| params.get(k).map(|v| v.to_string());
    match code {
        "length" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => {
                Text::new(format!("Độ dài phải từ {min} đến {max} ký tự."), format!("Length must be between {min} and {max} characters."))
            }
            (Some(min), None) => Text::new(format!("Cần ít nhất {min} ký tự."), format!("Must be at least {min} characters.")),
            (None, Some(max)) => Text::new(format!("Tối đa {max} ký tự."), format!("Must be at most {max} characters.")),
            _ => Text::new("Độ dài không hợp lệ.", "Invalid length."),
        },
        "range" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => Text::new(format!("Giá trị phải từ {min} đến {max}."), format!("Must be between {min} and {max}.")),
            _ => Text::new("Giá trị ngoài khoảng cho phép.", "Value out of range."),
        },
        "required" => Text::new("Trường này là bắt buộc.", "This field is required."),
        _ => Text::new("Giá trị không hợp lệ.", "Invalid value."),
    }
}

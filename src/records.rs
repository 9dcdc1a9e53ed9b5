//! What every field record shares: client-suppliable UUIDs with replay-safe creates,
//! versions and ETags, tombstones, change-sequence numbers and audit entries written in
//! the write transaction, cursor pages, and the small validation helpers the forms use.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::audit::{self, AuditEntry};
use crate::auth::Caller;
use crate::db::{self, AnyConnection, ChangeSeq};
use crate::error::{self, ApiError, FieldError, Text};
use crate::http::{self, RequestMeta};
use crate::policy::Principal;

/// SHA-256 of the canonical JSON of a create request (the typed form, so key order and
/// whitespace do not matter). A create re-sent with the same id and the same body is a
/// replay; with another body it is a conflict.
pub fn digest<T: Serialize>(form: &T) -> String {
    let bytes = serde_json::to_vec(form).unwrap_or_default();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The id of a new record: the client's UUID (normalised) or a new one.
pub fn new_record_id(raw: Option<&str>, errors: &mut Vec<FieldError>) -> String {
    match raw {
        None => db::new_id(),
        Some(raw) => match uuid::Uuid::parse_str(raw.trim()) {
            Ok(u) => u.to_string(),
            Err(_) => {
                errors.push(FieldError::new("id", "invalid_uuid", Text::new("Mã định danh phải là UUID.", "The id must be a UUID.")));
                String::new()
            }
        },
    }
}

/// What to do with a create whose id may already exist.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    /// No such record: create it.
    New,
    /// Same id, same request: answer with the stored record (200).
    Replay,
}

/// `existing`: (digest, deleted?) of a stored record with the requested id.
pub fn check_replay(existing: Option<(String, bool)>, digest: &str) -> Result<CreateOutcome, ApiError> {
    match existing {
        None => Ok(CreateOutcome::New),
        Some((d, false)) if d == digest => Ok(CreateOutcome::Replay),
        Some((d, true)) if d == digest => Err(error::gone_record()),
        Some(_) => Err(error::conflict(
            "id_conflict",
            Text::new(
                "Mã định danh này đã được dùng cho một bản ghi khác nội dung.",
                "This id is already used by a record with different content.",
            ),
        )),
    }
}

/// 201 for a new record, 200 for a replay; the ETag carries the version.
pub fn created(outcome: CreateOutcome, version: i64, body: &impl Serialize) -> HttpResponse {
    let status = match outcome {
        CreateOutcome::New => StatusCode::CREATED,
        CreateOutcome::Replay => StatusCode::OK,
    };
    with_etag(status, version, body)
}

pub fn with_etag(status: StatusCode, version: i64, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::ETAG, http::etag(version))).json(body)
}

/// One write: its time, its change-sequence numbers, and its audit entries.
pub struct Write<'a> {
    pub caller: &'a Caller,
    pub meta: &'a RequestMeta,
    pub now: NaiveDateTime,
    seq: ChangeSeq,
    stats: crate::stats::Stats,
    /// Audit entries, inserted together by [`Write::finish`].
    audit: Vec<audit::PendingEntry>,
    /// Province of each commune looked up during this write.
    provinces: std::collections::HashMap<String, Option<String>>,
    /// Live classes read by [`crate::classes::class_for_write`] during this write; a class
    /// leaves it when it is touched (every change of a class touches it first) and all
    /// leave on a rollback to a savepoint.
    classes: std::collections::HashMap<String, crate::classes::ClassRow>,
}

impl<'a> Write<'a> {
    pub fn new(caller: &'a Caller, meta: &'a RequestMeta) -> Self {
        Self {
            caller,
            meta,
            now: db::now(),
            seq: ChangeSeq::default(),
            stats: crate::stats::Stats::default(),
            audit: Vec::new(),
            provinces: Default::default(),
            classes: Default::default(),
        }
    }

    pub fn seq(&mut self, conn: &mut AnyConnection) -> Result<i64, ApiError> {
        Ok(self.seq.next(conn)?)
    }

    /// Serialises this write with every other writer before it reads anything (see
    /// [`ChangeSeq::lock`]). Needed on PostgreSQL only: SQLite's `BEGIN IMMEDIATE`
    /// already holds the database's write lock.
    pub fn serialise(&mut self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        if matches!(conn, AnyConnection::Postgresql(_)) {
            self.seq.lock(conn)?;
        }
        Ok(())
    }

    /// Appends an audit entry (field names only, never values); it is inserted by
    /// [`Write::finish`], with the write's other entries, in the order they were made.
    pub fn audit(
        &mut self,
        conn: &mut AnyConnection,
        action: &str,
        entity: &str,
        id: &str,
        commune: Option<&str>,
        fields: &[&str],
    ) -> Result<(), ApiError> {
        let province = match commune {
            Some(c) => self.province(conn, c)?,
            None => None,
        };
        self.audit.push(audit::PendingEntry::new(&AuditEntry {
            actor_id: Some(&self.caller.user.id),
            actor_role: Some(self.caller.role()),
            action,
            entity,
            entity_id: id,
            commune_code: commune,
            province_code: province.as_deref(),
            request_id: Some(&self.meta.request_id),
            changed_fields: fields,
        })?);
        Ok(())
    }

    /// The province of a commune-level unit (`None` for an unknown code), looked up once
    /// per write.
    pub fn province(&mut self, conn: &mut AnyConnection, commune: &str) -> Result<Option<String>, ApiError> {
        if let Some(p) = self.provinces.get(commune) {
            return Ok(p.clone());
        }
        let p = crate::units::province_of(conn, commune)?;
        self.provinces.insert(commune.to_owned(), p.clone());
        Ok(p)
    }

    /// The area of an existing commune-level unit (for scope checks; 404 when unknown).
    pub fn area(&mut self, conn: &mut AnyConnection, commune: &str) -> Result<crate::policy::Area, ApiError> {
        match self.province(conn, commune)? {
            Some(province) => Ok(crate::policy::Area::Commune { code: commune.to_owned(), province }),
            None => Err(error::not_found()),
        }
    }

    /// The area of commune-level unit `code` given in `field` of a form: 422 when there is
    /// no such unit.
    pub fn unit(&mut self, conn: &mut AnyConnection, field: &str, code: &str) -> Result<crate::policy::Area, ApiError> {
        match self.province(conn, code)? {
            Some(province) => Ok(crate::policy::Area::Commune { code: code.to_owned(), province }),
            None => Err(crate::teams::unknown_unit(field)),
        }
    }

    /// A mark to roll the held audit entries back to (see [`Write::rollback_to`]).
    pub fn mark(&self) -> usize {
        self.audit.len()
    }

    /// Forgets the audit entries made since `mark` and the classes read: their savepoint
    /// was rolled back.
    pub fn rollback_to(&mut self, mark: usize) {
        self.audit.truncate(mark);
        self.classes.clear();
    }

    /// A class read earlier in this write and not changed since.
    pub fn cached_class(&self, id: &str) -> Option<crate::classes::ClassRow> {
        self.classes.get(id).cloned()
    }

    pub fn cache_class(&mut self, row: &crate::classes::ClassRow) {
        self.classes.insert(row.id.clone(), row.clone());
    }

    /// Notes that this write will change (or create) `rec`, so that the statistics
    /// counters follow: call before the change.
    pub fn touch(&mut self, conn: &mut AnyConnection, rec: crate::stats::Rec) -> Result<(), ApiError> {
        if let crate::stats::Rec::Class(id) = &rec {
            self.classes.remove(id);
        }
        self.stats.touch(conn, rec)
    }

    /// Like [`Write::touch`] for a record about to be created under an id no record has
    /// (checked by the caller): it counted nothing before and nothing hangs from it.
    pub fn touch_new(&mut self, rec: crate::stats::Rec) {
        self.stats.touch_new(rec)
    }

    /// Brings the statistics counters up to date and writes the change counter back;
    /// call last, before commit.
    pub fn finish(mut self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        self.stats.finish(conn)?;
        audit::record_many(conn, &self.audit)?;
        Ok(self.seq.finish(conn)?)
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Keyset position: the sort key and the id of the last item of a page.
#[derive(Debug, Serialize, Deserialize)]
pub struct Position(pub String, pub String);

/// Cuts `rows` (loaded with `limit + 1`) to a page and makes the next cursor.
pub fn page<R, T>(
    rows: Vec<R>,
    limit: i64,
    key: impl Fn(&R) -> Position,
    view: impl FnMut(&R) -> Result<T, ApiError>,
) -> Result<Page<T>, ApiError> {
    let more = rows.len() as i64 > limit;
    let kept = &rows[..rows.len().min(limit as usize)];
    let next_cursor = if more { kept.last().map(|r| http::encode_cursor(&key(r))) } else { None };
    Ok(Page { items: kept.iter().map(view).collect::<Result<Vec<_>, _>>()?, next_cursor })
}

// ---- form helpers -------------------------------------------------------------------

/// Required text: whitespace collapsed, 1..=max characters.
pub fn required_text(field: &str, raw: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let v = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let n = v.chars().count();
    if n == 0 || n > max {
        errors.push(FieldError::new(
            field,
            "length",
            Text::new(format!("Độ dài phải từ 1 đến {max} ký tự."), format!("Length must be between 1 and {max} characters.")),
        ));
    }
    v
}

/// Optional text: trimmed; empty becomes none. (Maximum lengths are declared on the form
/// with `validator` and checked by [`validate_form`].)
pub fn optional_text(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Runs the form's declared `validator` rules (lengths, ranges) and adds their failures.
pub fn validate_form(form: &impl validator::Validate, errors: &mut Vec<FieldError>) {
    if let Err(e) = form.validate() {
        errors.extend(error::from_validator(&e));
    }
}

/// One of a fixed set of values.
pub fn choice(field: &str, raw: &str, allowed: &[&str], errors: &mut Vec<FieldError>) -> String {
    if !allowed.contains(&raw) {
        let list = allowed.join(", ");
        errors.push(FieldError::new(
            field,
            "invalid_choice",
            Text::new(format!("Giá trị phải là một trong: {list}."), format!("Must be one of: {list}.")),
        ));
    }
    raw.to_owned()
}

/// A date in ISO form (YYYY-MM-DD), between 2000-01-01 and 2100-12-31.
pub fn date(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let parsed = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok();
    let ok = parsed.filter(|d| (NaiveDate::from_ymd_opt(2000, 1, 1)..=NaiveDate::from_ymd_opt(2100, 12, 31)).contains(&Some(*d)));
    if ok.is_none() {
        errors.push(FieldError::new(
            field,
            "invalid_date",
            Text::new("Ngày phải có dạng YYYY-MM-DD, từ năm 2000 đến 2100.", "A date must be YYYY-MM-DD, between 2000 and 2100."),
        ));
    }
    ok
}

pub fn optional_date(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    raw.filter(|s| !s.trim().is_empty()).and_then(|r| date(field, r, errors))
}

/// A UUID reference to another record.
pub fn reference(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> String {
    match uuid::Uuid::parse_str(raw.trim()) {
        Ok(u) => u.to_string(),
        Err(_) => {
            errors.push(FieldError::new(field, "invalid_uuid", Text::new("Phải là UUID.", "Must be a UUID.")));
            String::new()
        }
    }
}

/// 422 for a reference to a record that does not exist (or is not visible).
pub fn unknown_reference(field: &str) -> ApiError {
    error::validation(vec![FieldError::new(
        field,
        "unknown_reference",
        Text::new("Bản ghi được tham chiếu không tồn tại.", "The referenced record does not exist."),
    )])
}

pub fn fail_if_any(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(error::validation(errors))
    }
}

/// The names of the fields whose new value differs, for the audit entry.
pub fn changed_fields(pairs: &[(&'static str, bool)]) -> Vec<&'static str> {
    pairs.iter().filter(|(_, differs)| *differs).map(|(field, _)| *field).collect()
}

/// Turns a record into a tombstone: `deleted_at` set, version and change number moved on.
/// A macro because diesel's column types differ per table.
macro_rules! tombstone {
    ($conn:expr, $table:ident, $id:expr, $version:expr, $now:expr, $seq:expr) => {
        diesel::update($table::table.find($id))
            .set((
                $table::deleted_at.eq(Some($now)),
                $table::version.eq($version + 1),
                $table::updated_at.eq($now),
                $table::change_seq.eq($seq),
            ))
            .execute($conn)?
    };
}
pub(crate) use tombstone;

/// Runs `f` in a write transaction ([`db::write_tx`]) with a fresh [`Write`], finishing it
/// before commit: the shape of every single-record write of the REST API. The batch push
/// runs the same `f`s inside savepoints of one transaction instead.
pub fn in_write_tx<T>(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    f: impl FnOnce(&mut AnyConnection, &mut Write<'_>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    db::write_tx(conn, |conn| {
        let mut w = Write::new(caller, meta);
        w.serialise(conn)?;
        let value = f(conn, &mut w)?;
        w.finish(conn)?;
        Ok(value)
    })
}

//! What every field record shares: client-suppliable UUIDs with replay-safe creates,
//! versions and ETags, tombstones, change-sequence numbers and audit entries written in
//! the write transaction, cursor pages, and the small validation helpers the forms use.

use base64::Engine;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use crate::access::caller::{Caller, RequestMeta};
use crate::access::policy::{Area, Principal};
use serde_json::Value;

use crate::base::error::{self, ApiError, FieldError, Text};
use crate::store::audit::{self, AuditEntry};
use crate::store::db::{self, AnyConnection, ChangeSeq};
use crate::store::rows::{ClassRow, EnrollmentRow, TraineeRow};

/// SHA-256 of a value's JSON, hex. The JSON goes straight into the hash, without a buffer
/// (a push takes about 2,000 of these); a value that cannot be written as JSON (none of
/// ours) is taken as empty, as before.
pub fn plain_digest<T: Serialize>(value: &T) -> String {
    let mut hasher = Sha256::new();
    if serde_json::to_writer(&mut hasher, value).is_err() {
        hasher = Sha256::new();
    }
    base16ct::lower::encode_string(&hasher.finalize())
}

/// The fingerprint of a create request that decides whether a create re-sent with the same
/// id is a replay (200, the stored record) or a conflict (409 `id_conflict`). Requests that
/// mean the same are the same: it is taken over the typed form (key order and whitespace do
/// not matter) with absent, `null` and `""` alike, every list taken as the set it is (order
/// and repeats do not matter: every list of a create form is a set), and each field the
/// form gives a default taken with that default when left out (`"interpreter_used": false`
/// is the same as no `interpreter_used`).
#[derive(Debug, Clone)]
pub struct Digest {
    canonical: String,
}

impl Digest {
    /// What a new record stores.
    pub fn stored(&self) -> &str {
        &self.canonical
    }

    /// Whether `stored` is this request's digest: the canonical one, or the one records
    /// created before this rule carry (the form's JSON as it came), which is only worked
    /// out when the canonical one differs.
    fn matches<T: Serialize>(&self, stored: &str, form: &T) -> bool {
        stored == self.canonical || stored == plain_digest(form)
    }
}

pub fn digest<T: Serialize>(form: &T) -> Digest {
    digest_with(form, &[])
}

/// [`digest`] for a form with defaults: (`field` or `parent.field`, default value).
pub fn digest_with<T: Serialize>(form: &T, defaults: &[(&str, Value)]) -> Digest {
    let mut value = serde_json::to_value(form).unwrap_or_default();
    for (path, default) in defaults {
        let mut at = &mut value;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let Some(object) = at.as_object_mut() else { break };
            if parts.peek().is_none() {
                let slot = object.entry(part.to_owned()).or_insert(Value::Null);
                if slot.is_null() {
                    *slot = default.clone();
                }
                break;
            }
            at = object.entry(part.to_owned()).or_insert(Value::Null);
        }
    }
    canonical(&mut value);
    Digest { canonical: plain_digest(&value) }
}

fn canonical(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, x| !(x.is_null() || x.as_str() == Some("")));
            map.values_mut().for_each(canonical);
        }
        Value::Array(items) => {
            items.iter_mut().for_each(canonical);
            items.sort_by_key(|x| x.to_string());
            items.dedup();
        }
        _ => {}
    }
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

/// [`check_replay`] for a record created under a parent named by the URL (a commune's
/// hamlet, a class's session or enrollment, a team's member, a trainee's certificate):
/// `existing` also carries the stored record's parent. A record of another parent under
/// the same id is never a replay — answering it would show a record the URL does not
/// lead to — but the conflict a new create with a used id gets.
pub fn check_replay_in<T: Serialize>(
    existing: Option<(String, bool, String)>,
    parent: &str,
    digest: &Digest,
    form: &T,
) -> Result<CreateOutcome, ApiError> {
    match existing {
        Some((_, _, p)) if p != parent => check_replay(Some((String::new(), false)), digest, form),
        other => check_replay(other.map(|(d, deleted, _)| (d, deleted)), digest, form),
    }
}

/// `existing`: (digest, deleted?) of a stored record with the requested id.
/// `form` is the request the digest was taken of.
pub fn check_replay<T: Serialize>(existing: Option<(String, bool)>, digest: &Digest, form: &T) -> Result<CreateOutcome, ApiError> {
    match existing {
        None => Ok(CreateOutcome::New),
        Some((d, false)) if digest.matches(&d, form) => Ok(CreateOutcome::Replay),
        Some((d, true)) if digest.matches(&d, form) => Err(error::gone_record()),
        Some(_) => Err(error::conflict(
            "id_conflict",
            Text::new(
                "Mã định danh này đã được dùng cho một bản ghi khác nội dung.",
                "This id is already used by a record with different content.",
            ),
        )),
    }
}

/// One write: its time, its change-sequence numbers, and its audit entries.
pub struct Write<'a> {
    pub caller: &'a Caller,
    pub meta: &'a RequestMeta,
    pub now: NaiveDateTime,
    seq: ChangeSeq,
    /// Whether the caller's area is locked ([`Write::serialise`]).
    locked: bool,
    /// Communes outside the caller's area locked for linked records ([`Write::touch`]).
    linked_locks: foldhash::HashSet<String>,
    stats: crate::domain::stats::Stats,
    /// Audit entries, inserted together by [`Write::finish`].
    audit: Vec<audit::PendingEntry>,
    /// Province of each commune looked up during this write.
    provinces: foldhash::HashMap<String, Option<String>>,
    /// Live classes read by [`crate::domain::classes::class_for_write`] during this write; a class
    /// leaves it when it is touched (every change of a class touches it first) and all
    /// leave on a rollback to a savepoint.
    classes: foldhash::HashMap<String, ClassRow>,
    /// Trainees and enrollments created by this write and not changed since, and the
    /// number of sessions held per class, read back by the next steps of a batch (an
    /// import row enrolls the trainee it created and records the result). Any change of a
    /// trainee, an enrollment, a class or a session empties what it could affect.
    trainees: foldhash::HashMap<String, TraineeRow>,
    enrollments: foldhash::HashMap<String, EnrollmentRow>,
    sessions_held: foldhash::HashMap<String, i64>,
    /// (table, id) pairs known to name no record, found by one lookup for a whole batch
    /// under this write's lock: a create of such an id skips its own lookup.
    absent: foldhash::HashSet<(&'static str, String)>,
    /// (class, trainee) of every enrollment this write created.
    enrolled: foldhash::HashSet<(String, String)>,
    /// Whether new trainees and enrollments are held back and inserted together
    /// ([`Write::defer_inserts`]); those held, in the order they were made.
    deferring: bool,
    pending_trainees: Vec<TraineeRow>,
    pending_enrollments: Vec<EnrollmentRow>,
    /// (class, trainee) of the held enrollments that enroll (all of them: they are new).
    pending_pairs: foldhash::HashSet<(String, String)>,
    /// Attendance lists of a batch that holds its writes.
    pub(crate) lists: crate::domain::held::HeldLists,
}

impl<'a> Write<'a> {
    pub fn new(caller: &'a Caller, meta: &'a RequestMeta) -> Self {
        Self {
            caller,
            meta,
            now: db::now(),
            seq: ChangeSeq::deferred(),
            locked: false,
            linked_locks: Default::default(),
            stats: crate::domain::stats::Stats::default(),
            audit: Vec::new(),
            provinces: Default::default(),
            classes: Default::default(),
            trainees: Default::default(),
            enrollments: Default::default(),
            sessions_held: Default::default(),
            absent: Default::default(),
            enrolled: Default::default(),
            deferring: false,
            pending_trainees: Vec::new(),
            pending_enrollments: Vec::new(),
            pending_pairs: Default::default(),
            lists: Default::default(),
        }
    }

    pub fn seq(&mut self, conn: &mut AnyConnection) -> Result<i64, ApiError> {
        Ok(self.seq.next(conn)?)
    }

    /// Serialises this write with every other writer of the caller's area before it reads
    /// anything, so that a version read and checked is the version written: on PostgreSQL
    /// the advisory locks of that area ([`db::lock_area`]: a commune's writers wait for
    /// each other, not for other communes'); SQLite's `BEGIN IMMEDIATE` already holds the
    /// database's write lock. Everything a write touches lies in its caller's area (a
    /// caller reads and writes nothing outside it). Call before the first savepoint.
    pub fn serialise(&mut self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        if self.locked || !matches!(conn, AnyConnection::Postgresql(_)) {
            return Ok(());
        }
        match self.caller.scope.clone() {
            crate::access::policy::Scope::Country => db::lock_area(conn, db::LockArea::Everything)?,
            crate::access::policy::Scope::Province(p) => db::lock_area(conn, db::LockArea::Province(&p))?,
            crate::access::policy::Scope::Commune(c) => {
                let province = self.province(conn, &c)?.unwrap_or_default();
                db::lock_area(conn, db::LockArea::Commune { code: &c, province: &province })?
            }
        }
        self.locked = true;
        Ok(())
    }

    /// [`Write::serialise`] for a write of country-wide records (topics), whatever the
    /// caller's scope: it runs alone.
    pub fn serialise_everything(&mut self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        db::lock_area(conn, db::LockArea::Everything)?;
        self.locked = true;
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
            actor_role: Some(self.caller.role().as_str()),
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

    /// An audit entry about an area rather than a commune's record (a province's report):
    /// shown to readers of that province's audit log, or to country-wide readers only.
    pub fn audit_in_province(
        &mut self,
        action: &str,
        entity: &str,
        id: &str,
        province: Option<&str>,
        fields: &[&str],
    ) -> Result<(), ApiError> {
        self.audit.push(audit::PendingEntry::new(&AuditEntry {
            actor_id: Some(&self.caller.user.id),
            actor_role: Some(self.caller.role().as_str()),
            action,
            entity,
            entity_id: id,
            commune_code: None,
            province_code: province,
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
        let p = crate::access::policy::province_of(conn, commune)?;
        self.provinces.insert(commune.to_owned(), p.clone());
        Ok(p)
    }

    /// The area of an existing commune-level unit (for scope checks; 404 when unknown).
    pub fn area(&mut self, conn: &mut AnyConnection, commune: &str) -> Result<Area, ApiError> {
        match self.province(conn, commune)? {
            Some(province) => Ok(Area::Commune { code: commune.to_owned(), province }),
            None => Err(error::not_found()),
        }
    }

    /// The area of commune-level unit `code` given in `field` of a form: 422 when there is
    /// no such unit.
    pub fn unit(&mut self, conn: &mut AnyConnection, field: &str, code: &str) -> Result<Area, ApiError> {
        match self.province(conn, code)? {
            Some(province) => Ok(Area::Commune { code: code.to_owned(), province }),
            None => Err(unknown_unit(field)),
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
        // Locks taken inside the savepoint went with it.
        self.linked_locks.clear();
        self.classes.clear();
        self.trainees.clear();
        self.enrollments.clear();
        self.sessions_held.clear();
    }

    /// Notes ids of `table` that no record has (looked up under this write's lock).
    pub fn note_absent(&mut self, table: &'static str, ids: impl IntoIterator<Item = String>) {
        self.absent.extend(ids.into_iter().map(|id| (table, id)));
    }

    /// Whether `id` is known to name no record of `table`; the answer is given once (the
    /// caller creates the record).
    pub fn take_absent(&mut self, table: &'static str, id: &str) -> bool {
        self.absent.remove(&(table, id.to_owned()))
    }

    /// A trainee this write created, unchanged since.
    pub fn cached_trainee(&self, id: &str) -> Option<&TraineeRow> {
        self.trainees.get(id)
    }

    pub fn cache_trainee(&mut self, row: &TraineeRow) {
        self.trainees.insert(row.id.clone(), row.clone());
    }

    /// Whether this write created an enrollment of `trainee` in `class` (kept also when the
    /// enrollment changed or its savepoint was rolled back: the answer errs towards a look-up).
    pub fn enrolled_here(&self, class: &str, trainee: &str) -> bool {
        self.enrolled.contains(&(class.to_owned(), trainee.to_owned()))
    }

    pub fn note_enrolled(&mut self, class: &str, trainee: &str) {
        self.enrolled.insert((class.to_owned(), trainee.to_owned()));
    }

    /// From now on, new trainees and enrollments are held in memory and inserted together
    /// (a statement per 500 rows) by [`Write::flush`], which the batch push calls before
    /// any operation other than such a create and [`Write::finish`] calls last. Only for a
    /// run without savepoints: a held row is not undone by a rollback to a savepoint. The
    /// creates themselves flush first wherever they would read a held row from the
    /// database (an id or a pair made earlier in the batch).
    pub fn defer_inserts(&mut self) {
        self.deferring = true;
    }

    /// Inserts `row`, or holds it when deferring.
    pub fn insert_trainee(&mut self, conn: &mut AnyConnection, row: TraineeRow) -> Result<TraineeRow, ApiError> {
        if self.deferring {
            self.pending_trainees.push(row.clone());
        } else {
            db::insert_rows!(conn, crate::store::schema::trainees::table, row.clone());
        }
        Ok(row)
    }

    /// Inserts `row`, or holds it when deferring.
    pub fn insert_enrollment(&mut self, conn: &mut AnyConnection, row: EnrollmentRow) -> Result<EnrollmentRow, ApiError> {
        if self.deferring {
            if row.deleted_at.is_none() && row.status == crate::store::values::EnrollmentStatus::Enrolled {
                self.pending_pairs.insert((row.class_id.clone(), row.trainee_id.clone()));
            }
            self.pending_enrollments.push(row.clone());
        } else {
            db::insert_rows!(conn, crate::store::schema::enrollments::table, row.clone());
        }
        Ok(row)
    }

    /// Whether a trainee (`"trainees"`) or an enrollment (`"enrollments"`) with `id` is held.
    pub fn holds(&self, table: &str, id: &str) -> bool {
        match table {
            "trainees" => self.pending_trainees.iter().any(|r| r.id == id),
            "enrollments" => self.pending_enrollments.iter().any(|r| r.id == id),
            _ => false,
        }
    }

    /// Whether any enrollment is held.
    pub fn holds_enrollments(&self) -> bool {
        !self.pending_enrollments.is_empty()
    }

    /// Whether a held enrollment enrolls `trainee` in `class` (held rows are new: enrolled
    /// and live).
    pub fn holds_enrolled(&self, class: &str, trainee: &str) -> bool {
        self.pending_pairs.contains(&(class.to_owned(), trainee.to_owned()))
    }

    /// Inserts the held rows: trainees first (enrollments refer to them).
    pub fn flush(&mut self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        use crate::store::schema::{enrollments, trainees};
        if !self.pending_trainees.is_empty() {
            let rows = std::mem::take(&mut self.pending_trainees);
            db::insert_chunked!(conn, trainees::table, rows);
        }
        if !self.pending_enrollments.is_empty() {
            let rows = std::mem::take(&mut self.pending_enrollments);
            self.pending_pairs.clear();
            db::insert_chunked!(conn, enrollments::table, rows);
        }
        self.lists.flush(conn)
    }

    /// An enrollment this write created, unchanged since.
    pub fn cached_enrollment(&self, id: &str) -> Option<EnrollmentRow> {
        self.enrollments.get(id).cloned()
    }

    pub fn cache_enrollment(&mut self, row: &EnrollmentRow) {
        self.enrollments.insert(row.id.clone(), row.clone());
    }

    /// The live sessions of a class counted earlier in this write, no session changed since.
    pub fn cached_sessions_held(&self, class_id: &str) -> Option<i64> {
        self.sessions_held.get(class_id).copied()
    }

    pub fn cache_sessions_held(&mut self, class_id: &str, n: i64) {
        self.sessions_held.insert(class_id.to_owned(), n);
    }

    /// Empties what a change of `rec` could make stale.
    fn forget(&mut self, rec: &crate::domain::stats::Rec) {
        use crate::domain::stats::Rec;
        match rec {
            Rec::Class(id) => {
                self.classes.remove(id);
                self.enrollments.clear();
                self.sessions_held.clear();
            }
            Rec::Trainee(_) => {
                self.trainees.clear();
                self.enrollments.clear();
            }
            Rec::Enrollment(_) => self.enrollments.clear(),
            Rec::Session(_) => self.sessions_held.clear(),
            _ => {}
        }
    }

    /// A class read earlier in this write and not changed since.
    pub fn cached_class(&self, id: &str) -> Option<ClassRow> {
        self.classes.get(id).cloned()
    }

    pub fn cache_class(&mut self, row: &ClassRow) {
        self.classes.insert(row.id.clone(), row.clone());
    }

    /// Notes that this write will change (or create) `rec`, so that the statistics
    /// counters follow: call before the change.
    pub fn touch(&mut self, conn: &mut AnyConnection, rec: crate::domain::stats::Rec) -> Result<(), ApiError> {
        self.forget(&rec);
        self.lock_linked(conn, &rec)?;
        self.stats.touch(conn, rec)
    }

    /// A trainee enrolled in a class of another commune (enrolled by someone whose scope
    /// holds both) links two communes: a change of the trainee moves counters of the
    /// class's commune, and a change of the class those of the trainee's. On PostgreSQL
    /// such a change also locks the other commune before the statistics read what the
    /// records counted, or two writers of the two communes could both count the same
    /// enrollment's change. (Links are made only under a lock of a scope holding both
    /// communes, so they cannot change while this write holds its own.) Taken after the
    /// write's own lock, out of the usual order: two such writes may each wait for the
    /// other, and PostgreSQL then fails one (503, retry).
    fn lock_linked(&mut self, conn: &mut AnyConnection, rec: &crate::domain::stats::Rec) -> Result<(), ApiError> {
        use crate::access::policy::Scope;
        use crate::domain::stats::Rec;
        use crate::store::schema::{classes, enrollments, trainees};
        if !self.locked || !matches!(conn, AnyConnection::Postgresql(_)) || self.caller.scope == Scope::Country {
            return Ok(());
        }
        let mut linked: Vec<String> = match rec {
            Rec::Trainee(id) => enrollments::table
                .inner_join(classes::table.on(classes::id.eq(enrollments::class_id)))
                .filter(enrollments::trainee_id.eq(id))
                .select(classes::commune_code)
                .distinct()
                .load(conn)?,
            Rec::Class(id) => enrollments::table
                .inner_join(trainees::table.on(trainees::id.eq(enrollments::trainee_id)))
                .filter(enrollments::class_id.eq(id))
                .select(trainees::commune_code)
                .distinct()
                .load(conn)?,
            _ => return Ok(()),
        };
        linked.sort();
        for commune in linked {
            let province = self.province(conn, &commune)?.unwrap_or_default();
            let inside = match &self.caller.scope {
                Scope::Country => true,
                Scope::Province(p) => *p == province,
                Scope::Commune(c) => *c == commune,
            };
            if !inside && self.linked_locks.insert(commune.clone()) {
                db::lock_area(conn, db::LockArea::Commune { code: &commune, province: &province })?;
            }
        }
        Ok(())
    }

    /// Like [`Write::touch`] for a record about to be created under an id no record has
    /// (checked by the caller): it counted nothing before and nothing hangs from it.
    pub fn touch_new(&mut self, rec: crate::domain::stats::Rec) {
        if let crate::domain::stats::Rec::Session(_) = &rec {
            self.sessions_held.clear();
        }
        self.stats.touch_new(rec)
    }

    /// Brings the statistics counters up to date, inserts the audit entries and takes the
    /// change numbers (on PostgreSQL here, at the end: [`ChangeSeq::deferred`]);
    /// call last, before commit.
    pub fn finish(mut self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        self.flush(conn)?;
        // Rows other writers also update (the province's and the country's statistics,
        // the change counter) come last: their locks are held until commit, so everything
        // else of the write (the audit entries too) goes before them.
        audit::record_many(conn, std::mem::take(&mut self.audit))?;
        let known = crate::domain::stats::Known { trainees: &self.trainees, enrollments: &self.enrollments };
        self.stats.finish(conn, known)?;
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Position(pub String, pub String);

/// The rows of a keyset-ordered list that `keep` accepts, up to `limit + 1` (for
/// [`page`]), read in batches from `after` on. For text searches (`q`) the databases cannot
/// do alike: diacritic-insensitive matching on SQLite and PostgreSQL needs the folded text
/// (`base::text::fold`), which only names and titles of people have a column for. A list's
/// own filters and the caller's scope still run in the database; only the text is checked
/// here, so a search reads at most the rows of the caller's scope that pass them.
pub fn scan_matching<R>(
    after: Option<Position>,
    limit: i64,
    key: impl Fn(&R) -> Position,
    mut load: impl FnMut(Option<Position>, i64) -> Result<Vec<R>, ApiError>,
    keep: impl Fn(&R) -> bool,
) -> Result<Vec<R>, ApiError> {
    const BATCH: i64 = 500;
    let mut out = Vec::new();
    let mut after = after;
    loop {
        let rows = load(after.clone(), BATCH)?;
        let full = rows.len() as i64 == BATCH;
        after = rows.last().map(&key).or(after);
        for r in rows {
            if keep(&r) {
                out.push(r);
                if out.len() as i64 > limit {
                    return Ok(out);
                }
            }
        }
        if !full {
            return Ok(out);
        }
    }
}

/// The folded search text of a `q` parameter (`None` when absent or blank).
pub fn search_text(q: Option<&str>) -> Option<String> {
    q.map(crate::base::text::fold).filter(|t| !t.is_empty())
}

/// Cuts `rows` (loaded with `limit + 1`) to a page and makes the next cursor.
pub fn page<R, T>(
    rows: Vec<R>,
    limit: i64,
    key: impl Fn(&R) -> Position,
    view: impl FnMut(&R) -> Result<T, ApiError>,
) -> Result<Page<T>, ApiError> {
    let more = rows.len() as i64 > limit;
    let kept = &rows[..rows.len().min(limit as usize)];
    let next_cursor = if more { kept.last().map(|r| encode_cursor(&key(r))) } else { None };
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

/// 422: `field` names no commune-level unit.
pub fn unknown_unit(field: &str) -> ApiError {
    error::validation(vec![FieldError::new(
        field,
        "unknown_unit",
        Text::new("Không có xã/phường với mã này.", "No commune-level unit has this code."),
    )])
}

/// 409: a live record refers to this one, so it cannot be deleted (`code` says what
/// refers to it). The one rule for every reference: see docs/SYNC.md, "Deletes".
pub fn in_use(code: &'static str, vi: String, en: String) -> ApiError {
    error::conflict(code, Text::new(vi, en))
}

/// 422 for a reference to a record that does not exist (or is not visible).
pub fn unknown_reference(field: &str) -> ApiError {
    error::validation(vec![FieldError::new(
        field,
        "unknown_reference",
        Text::new("Bản ghi được tham chiếu không tồn tại.", "The referenced record does not exist."),
    )])
}

/// A value that validation has checked: present once [`fail_if_any`] passed (a missing one
/// is a bug, answered 500).
pub fn valid<T>(v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(error::internal_invariant)
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

/// Notes that a record left commune `from` (for `to`, or for nowhere), so that devices
/// whose scope held it and no longer does drop it. `version` is the record's version after
/// the change. A scope that holds both communes gets the record's update instead.
pub fn record_removal(
    conn: &mut AnyConnection,
    w: &mut Write<'_>,
    entity: &str,
    id: &str,
    from: &str,
    to: Option<&str>,
    version: i64,
) -> Result<(), ApiError> {
    use crate::store::schema::sync_removals as r;
    let seq = w.seq(conn)?;
    diesel::insert_into(r::table)
        .values((
            r::change_seq.eq(seq),
            r::entity.eq(entity),
            r::entity_id.eq(id),
            r::commune_code.eq(from),
            r::to_commune_code.eq(to),
            r::version.eq(version),
            r::at.eq(w.now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Runs `f` in a write transaction ([`db::write_tx`]) with a fresh [`Write`], finishing it
/// before commit: the shape of every single-record write of the REST API. The batch push
/// runs the same `f`s inside savepoints of one transaction instead.
pub fn in_write_tx<T>(
    conn: &mut AnyConnection,
    caller: &Caller,
    meta: &RequestMeta,
    f: impl FnOnce(&mut AnyConnection, &mut Write<'_>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    db::write_tx(conn, |conn| -> Result<_, ApiError> {
        let mut w = Write::new(caller, meta);
        w.serialise(conn)?;
        let value = f(conn, &mut w)?;
        w.finish(conn)?;
        Ok(value)
    })
}

// ---- versions, cursors, page sizes ----------------------------------------------------

/// The ETag of a record version.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The `If-Match` header of a request, read up front so that it can travel into blocking
/// database work (an `HttpRequest` cannot).
#[derive(Debug, Clone)]
pub struct IfMatch(Option<String>);

impl IfMatch {
    /// The raw header value (`None` when absent).
    pub fn from_header(raw: Option<String>) -> Self {
        IfMatch(raw)
    }

    /// The precondition "the record is still at `version`" (the batch push's `base_version`).
    pub fn version(version: i64) -> Self {
        IfMatch(Some(etag(version)))
    }

    /// No precondition (where `If-Match` is optional).
    pub fn none() -> Self {
        IfMatch(None)
    }

    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }

    /// 428 when the header is absent (checked before any database work).
    pub fn require(&self) -> Result<(), ApiError> {
        match self.0 {
            Some(_) => Ok(()),
            None => Err(error::precondition_required()),
        }
    }

    /// 428 when absent; 412 (with the current version) when it names another version.
    /// `*` matches any existing version.
    pub fn check(&self, current_version: i64) -> Result<(), ApiError> {
        let Some(raw) = &self.0 else {
            return Err(error::precondition_required());
        };
        let matches = raw.split(',').map(str::trim).any(|tag| {
            tag == "*"
                || tag.trim_start_matches("W/").trim_matches('"').strip_prefix('v').and_then(|v| v.parse::<i64>().ok())
                    == Some(current_version)
        });
        if matches {
            Ok(())
        } else {
            Err(error::precondition_failed(current_version))
        }
    }
}

/// Encodes a keyset position as an opaque cursor (base64url of JSON).
pub fn encode_cursor<T: Serialize>(position: &T) -> String {
    let json = serde_json::to_vec(position).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor made by [`encode_cursor`]; a tampered or foreign cursor is a 400.
/// The position a list page continues after: none for a first page, which is also what an
/// empty `?cursor=` asks for (some clients send the parameter always).
pub fn cursor_position<T: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<T>, ApiError> {
    cursor.map(str::trim).filter(|c| !c.is_empty()).map(decode_cursor).transpose()
}

pub fn decode_cursor<T: DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid_cursor())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())
}

pub fn invalid_cursor() -> ApiError {
    error::bad_request(
        "invalid_cursor",
        Text::new(
            "Con trỏ phân trang không hợp lệ; hãy bắt đầu lại từ trang đầu.",
            "The pagination cursor is invalid; start again from the first page.",
        ),
    )
}

/// Page size from `limit`: default 50, between 1 and 500.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(error::validation(vec![error::FieldError::new(
            "limit",
            "range",
            Text::new("Giá trị phải từ 1 đến 500.", "Must be between 1 and 500."),
        )])),
    }
}

/// A path id must be a UUID; anything else cannot name a record.
pub fn parse_uuid(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw).map(|u| u.to_string()).map_err(|_| error::not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Form {
        name: String,
        tags: Vec<String>,
        note: Option<String>,
    }

    /// A create re-sent is a replay whether the stored digest is the canonical one or the
    /// one records created before that rule carry (the form's JSON as it came, worked out
    /// only when the canonical one differs); any other stored digest is `id_conflict`.
    #[test]
    fn a_replay_matches_the_canonical_or_the_legacy_digest() -> Result<(), ApiError> {
        let form = Form { name: "Lan".into(), tags: vec!["b".into(), "a".into()], note: None };
        let d = digest(&form);
        let legacy = plain_digest(&form);
        assert_ne!(d.stored(), legacy);
        // Order of a set and an absent field do not matter to the canonical digest.
        let same = Form { name: "Lan".into(), tags: vec!["a".into(), "b".into(), "a".into()], note: Some(String::new()) };
        assert_eq!(digest(&same).stored(), d.stored());
        assert_eq!(check_replay(None, &d, &form)?, CreateOutcome::New);
        assert_eq!(check_replay(Some((d.stored().to_owned(), false)), &d, &form)?, CreateOutcome::Replay);
        assert_eq!(check_replay(Some((legacy.clone(), false)), &d, &form)?, CreateOutcome::Replay);
        assert_eq!(check_replay(Some((legacy, true)), &d, &form).map_err(|e| e.code), Err("record_deleted"));
        let other = plain_digest(&Form { name: "Lan".into(), tags: vec![], note: None });
        assert_eq!(check_replay(Some((other, false)), &d, &form).map_err(|e| e.code), Err("id_conflict"));
        Ok(())
    }
}

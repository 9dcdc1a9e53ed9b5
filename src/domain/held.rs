//! What a batch push holds in memory and writes at its end besides new rows: the
//! attendance lists of its sessions ([`HeldLists`]). Kept apart from the record modules so
//! that the write (`records::Write`) can own it without importing them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::base::error::{self, ApiError};
use crate::store::db::AnyConnection;
use crate::store::schema::{attendance_marks, class_sessions, session_attendance};

/// The attendance lists of a batch push that holds its writes ([`crate::domain::records::Write::defer_inserts`]):
/// the sessions and lists it names, read ahead in a few queries, and the lists it writes,
/// held and written together by [`HeldLists::flush`] (with the held trainees and
/// enrollments). A list written through here has the effect and the answer of
/// [`crate::domain::enrollments::put_attendance_in`]; whatever that would refuse fails here too, and the batch then
/// runs again operation by operation. Only between two other operations: the batch push
/// flushes and forgets everything read ahead before any operation that is not a create or
/// a list ([`HeldLists::forget_reads`]), so that nothing it reads is stale.
#[derive(Default)]
pub(crate) struct HeldLists {
    /// Session → (class, commune) of a live session; `None`: no live session.
    sessions: foldhash::HashMap<String, Option<(String, String)>>,
    /// Session → the list as it stands (sorted trainee ids, version, the record's
    /// `deleted_at`), read ahead or written by this batch.
    current: foldhash::HashMap<String, StoredList>,
    /// Sessions whose list this batch wrote and has not flushed: (class, commune, change
    /// number, time).
    held: foldhash::HashMap<String, (String, String, i64, NaiveDateTime)>,
}

#[derive(Clone)]
pub(crate) struct StoredList {
    pub present: Vec<String>,
    pub version: i64,
    pub deleted_at: Option<NaiveDateTime>,
}

impl HeldLists {
    /// Reads the sessions and the stored lists of `session_ids` (one query per table and
    /// 500 ids).
    pub(crate) fn read_ahead(&mut self, conn: &mut AnyConnection, session_ids: &[String]) -> Result<(), ApiError> {
        for chunk in session_ids.chunks(500) {
            let rows: Vec<(String, String, String, Option<NaiveDateTime>)> = class_sessions::table
                .filter(class_sessions::id.eq_any(chunk))
                .select((class_sessions::id, class_sessions::class_id, class_sessions::commune_code, class_sessions::deleted_at))
                .load(conn)?;
            for id in chunk {
                self.sessions.insert(id.clone(), None);
            }
            for (id, class_id, commune, deleted_at) in rows {
                if deleted_at.is_none() {
                    self.sessions.insert(id.clone(), Some((class_id, commune)));
                    self.current.insert(id, StoredList { present: Vec::new(), version: 0, deleted_at: None });
                }
            }
            let marks: Vec<(String, String)> = attendance_marks::table
                .filter(attendance_marks::session_id.eq_any(chunk))
                .select((attendance_marks::session_id, attendance_marks::trainee_id))
                .order((attendance_marks::session_id, attendance_marks::trainee_id))
                .load(conn)?;
            for (session, trainee) in marks {
                if let Some(list) = self.current.get_mut(&session) {
                    list.present.push(trainee);
                }
            }
            let versions: Vec<(String, i64, Option<NaiveDateTime>)> = session_attendance::table
                .filter(session_attendance::session_id.eq_any(chunk))
                .select((session_attendance::session_id, session_attendance::version, session_attendance::deleted_at))
                .load(conn)?;
            for (session, version, deleted_at) in versions {
                if let Some(list) = self.current.get_mut(&session) {
                    (list.version, list.deleted_at) = (version, deleted_at);
                }
            }
        }
        Ok(())
    }

    /// The class and commune of live session `id` (`None`: there is none).
    pub(crate) fn live_session(&mut self, conn: &mut AnyConnection, id: &str) -> Result<Option<(String, String)>, ApiError> {
        if let Some(known) = self.sessions.get(id) {
            return Ok(known.clone());
        }
        let row: Option<(String, String, Option<NaiveDateTime>)> = class_sessions::table
            .find(id)
            .select((class_sessions::class_id, class_sessions::commune_code, class_sessions::deleted_at))
            .first(conn)
            .optional()?;
        let live = row.filter(|r| r.2.is_none()).map(|(class_id, commune, _)| (class_id, commune));
        self.sessions.insert(id.to_owned(), live.clone());
        Ok(live)
    }

    pub(crate) fn list(&mut self, conn: &mut AnyConnection, session_id: &str) -> Result<StoredList, ApiError> {
        if let Some(list) = self.current.get(session_id) {
            return Ok(list.clone());
        }
        let mut present: Vec<String> =
            attendance_marks::table.filter(attendance_marks::session_id.eq(session_id)).select(attendance_marks::trainee_id).load(conn)?;
        present.sort();
        let stored: Option<(i64, Option<NaiveDateTime>)> = session_attendance::table
            .find(session_id)
            .select((session_attendance::version, session_attendance::deleted_at))
            .first(conn)
            .optional()?;
        let (version, deleted_at) = stored.unwrap_or((0, None));
        let list = StoredList { present, version, deleted_at };
        self.current.insert(session_id.to_owned(), list.clone());
        Ok(list)
    }

    /// Holds the new list of a session (its version and change number taken).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn hold(
        &mut self,
        session_id: &str,
        class_id: &str,
        commune: String,
        present: Vec<String>,
        version: i64,
        deleted_at: Option<NaiveDateTime>,
        seq: i64,
        at: NaiveDateTime,
    ) {
        self.current.insert(session_id.to_owned(), StoredList { present, version, deleted_at });
        self.held.insert(session_id.to_owned(), (class_id.to_owned(), commune, seq, at));
    }

    /// Forgets what was read ahead (call with nothing held: after [`HeldLists::flush`]).
    pub(crate) fn forget_reads(&mut self) {
        self.sessions.clear();
        self.current.clear();
    }

    /// Writes the held lists: their marks replaced, their records replaced by the new
    /// version (as [`crate::domain::enrollments::bump_attendance`] leaves them).
    pub(crate) fn flush(&mut self, conn: &mut AnyConnection) -> Result<(), ApiError> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let ids: Vec<&String> = held.keys().collect();
        let mut marks = Vec::new();
        let mut records = Vec::new();
        for (session_id, (class_id, commune, seq, at)) in &held {
            let list = self.current.get(session_id).ok_or_else(error::internal_invariant)?;
            marks.extend(list.present.iter().map(|t| Mark {
                session_id: session_id.clone(),
                trainee_id: t.clone(),
                class_id: class_id.clone(),
            }));
            records.push(ListRecord {
                session_id: session_id.clone(),
                version: list.version,
                updated_at: *at,
                change_seq: *seq,
                class_id: class_id.clone(),
                commune_code: commune.clone(),
                deleted_at: list.deleted_at,
            });
        }
        for chunk in ids.chunks(500) {
            diesel::delete(attendance_marks::table.filter(attendance_marks::session_id.eq_any(chunk))).execute(conn)?;
            diesel::delete(session_attendance::table.filter(session_attendance::session_id.eq_any(chunk))).execute(conn)?;
        }
        crate::store::db::insert_chunked!(conn, attendance_marks::table, marks);
        crate::store::db::insert_chunked!(conn, session_attendance::table, records);
        Ok(())
    }
}

/// A session's attendance record, as [`HeldLists::flush`] writes it.
#[derive(Insertable)]
#[diesel(table_name = session_attendance, treat_none_as_default_value = false)]
struct ListRecord {
    session_id: String,
    version: i64,
    #[diesel(serialize_as = crate::store::stamp::Stamp)]
    updated_at: NaiveDateTime,
    change_seq: i64,
    class_id: String,
    commune_code: String,
    deleted_at: Option<NaiveDateTime>,
}

/// One trainee present at one session.
#[derive(Insertable)]
// Without `treat_none_as_default_value = false` diesel inserts a batch row by row on SQLite.
#[diesel(table_name = attendance_marks, treat_none_as_default_value = false)]
pub(crate) struct Mark {
    pub session_id: String,
    pub trainee_id: String,
    pub class_id: String,
}

//! Database plumbing: the two backends behind one connection type, the pool, embedded
//! migrations, write transactions and the helpers that keep both backends returning the
//! same values (times truncated to microseconds, UUIDs as text).

use std::time::Duration;

use chrono::{NaiveDateTime, Timelike, Utc};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::base::config::DatabaseUrl;
use crate::base::error::ApiError;

/// How long a SQLite statement waits for another connection's write lock.
pub const SQLITE_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 10000;";

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to either backend. Queries are written once against this type; the
/// few places that need backend-specific SQL `match` on it and say why.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// r2d2 manager that opens the backend the URL names. The derived
/// `MultiConnection::establish` tries every backend and hides the real error
/// ("Invalid connection url for multiconnection"), so we open the right one ourselves.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    fn open(&self) -> Result<AnyConnection, ConnectionError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = diesel::SqliteConnection::establish(&path)?;
                // busy_timeout first, so that the switch to WAL (which needs a lock) waits for
                // another connection instead of failing; WAL lets readers proceed during a
                // write; foreign keys are off by default in SQLite; NORMAL is durable in WAL
                // mode except for the last transactions before a power cut. Checkpoints run
                // in the background ([`Checkpointer`]), not in the commit of a request.
                // A write's changed pages stay in memory until its commit up to 8,192 pages
                // (32 MiB; a 1,000-operation push changes about 1,500): by default the cache
                // (2 MiB) spilled them into the WAL halfway, and the commit wrote many again.
                // Statement journals (a multi-row insert keeps one, to undo itself alone)
                // stay in memory instead of temporary files.
                conn.batch_execute(&format!(
                    "{SQLITE_BUSY_TIMEOUT} PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA cache_spill = 8192; PRAGMA temp_store = MEMORY; {SQLITE_NO_AUTO_CHECKPOINT}"
                ))
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => Ok(AnyConnection::Postgresql(diesel::PgConnection::establish(url)?)),
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        self.open().map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        // A connection whose transaction manager is broken must not be reused.
        <AnyConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

pub type DbPool = Pool<ConnectionManager>;
pub type PooledConn = PooledConnection<ConnectionManager>;

/// The pool plus the backend it talks to, and the gates in front of it.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    url: DatabaseUrl,
    gates: std::sync::Arc<Gates>,
    /// SQLite: the background checkpointer runs as long as a clone of this is alive.
    _checkpointer: Option<std::sync::Arc<Checkpointer>>,
}

/// What SQLite's connections leave to the [`Checkpointer`]: no checkpoint at commit (by
/// default the commit that takes the WAL past 1,000 pages copies them into the database
/// file and syncs it: about 15 ms of a 1,000-operation push), and a WAL file cut back to
/// 64 MiB when it starts again from its beginning.
const SQLITE_NO_AUTO_CHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;";

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The WAL (in frames, 16 MiB) past which the checkpointer makes it start again.
const LONG_WAL: i32 = 4096;

/// How long the checkpointer waits for the writers' turn before it leaves the tail of the
/// WAL to its next round.
const CHECKPOINT_TURN: Duration = Duration::from_millis(100);

/// Copies SQLite's write-ahead log into the database file in the background, on a
/// connection of its own, every [`CHECKPOINT_EVERY`]. Stops when the last clone of the
/// [`Db`] is dropped.
///
/// - First a passive checkpoint: it copies what is committed and waits for no reader or
///   writer.
/// - Under a steady stream of writes that one never catches up with the last commit, and
///   the WAL starts again from its beginning only once all of it is copied. So it never
///   did: every commit extended the file (125 MB after twenty 1,000-operation pushes), and
///   writing into new space costs the file system far more than writing over pages it
///   holds (a third of a push's commit).
/// - So when the WAL is past [`LONG_WAL`] and frames are left (or a writer is at work,
///   whose commit would leave some), the checkpointer then takes every writer's turn at
///   the gate (waiting at most [`CHECKPOINT_TURN`] for the writers in progress; writers
///   that come meanwhile queue behind it) and copies the rest with a full checkpoint. The
///   next writer starts the WAL again from its beginning. Writers wait only for that tail;
///   a round that does not get the turn in time leaves it to the next.
struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// `PRAGMA wal_checkpoint`'s answer.
#[derive(QueryableByName)]
struct CheckpointRow {
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Frames copied into the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

impl Checkpointer {
    fn start(path: &std::path::Path, writes: std::sync::Arc<tokio::sync::Semaphore>, writers: u32) -> Result<Self, String> {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let path = path.to_string_lossy().into_owned();
        let mut conn = diesel::SqliteConnection::establish(&path).map_err(|e| format!("cannot open the SQLite database: {e}"))?;
        // The full checkpoint still waits (briefly) for a writer outside the gate (the CLI)
        // and for readers of an older snapshot.
        conn.batch_execute(&format!("{SQLITE_NO_AUTO_CHECKPOINT} PRAGMA busy_timeout = 200;"))
            .map_err(|e| format!("cannot set up the SQLite checkpointer: {e}"))?;
        let turns = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the SQLite checkpointer: {e}"))?;
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    let passive = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result::<CheckpointRow>(&mut conn);
                    // A long WAL with frames left, or with a writer at work (whose commit,
                    // once the passive checkpoint is done, would leave some).
                    let left = match passive {
                        Ok(row) => row.log >= LONG_WAL && (row.log > row.checkpointed || writes.available_permits() < writers as usize),
                        Err(e) => {
                            tracing::warn!(error = %e, "SQLite checkpoint failed; the next one tries again");
                            continue;
                        }
                    };
                    if !left {
                        continue;
                    }
                    let turn = turns.block_on(async { tokio::time::timeout(CHECKPOINT_TURN, writes.acquire_many(writers)).await });
                    if let Ok(Ok(_turn)) = turn {
                        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(FULL);") {
                            tracing::warn!(error = %e, "SQLite checkpoint failed; the next one tries again");
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the SQLite checkpointer: {e}"))?;
        Ok(Self { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Writers wait for their turn at a gate, asynchronously (holding no thread): at most all
/// connections but two at once, so reads never queue behind writers that hold their
/// connection while they wait for each other's locks, and waiting writers do not fill the
/// blocking pool that also compresses responses. Reads go straight to the pool (its queue
/// hands a returned connection to the next job without a trip through the executor).
struct Gates {
    writes: std::sync::Arc<tokio::sync::Semaphore>,
}

/// How long a writer waits for its turn before the answer is 503 (with `Retry-After`).
const GATE_TIMEOUT: Duration = Duration::from_secs(30);

tokio::task_local! {
    /// Whether the request being served may write (any method but GET and HEAD). Work
    /// outside a request counts as a write.
    pub static WRITE_REQUEST: bool;
}

impl Db {
    /// Opens the pool. On failure connects once directly so the message carries the
    /// database's own words (wrong password, no such database, TLS refused …).
    pub fn connect(url: DatabaseUrl, pool_size: u32) -> Result<Self, String> {
        if let DatabaseUrl::Sqlite(path) = &url {
            if let Some(parent) = path.parent() {
                crate::base::config::create_private_dir(parent).map_err(|e| format!("{e} (the folder of the SQLite database)"))?;
            }
            private_sqlite_files(path)?;
        }
        let manager = ConnectionManager::new(url.clone());
        if let DatabaseUrl::Sqlite(_) = &url {
            // Switch a new database file to WAL once, before the pool opens its connections
            // in parallel (each would otherwise race for the lock the switch needs).
            manager.open().map_err(|e| format!("cannot open the SQLite database: {e}"))?;
        }
        let pool =
            Pool::builder().max_size(pool_size.max(1)).connection_timeout(Duration::from_secs(5)).build(manager.clone()).map_err(|_| {
                match manager.open() {
                    Err(e) => format!("cannot connect to the {} database: {e}", url.backend_name()),
                    Ok(_) => format!("cannot open a pool of {pool_size} connections to the {} database", url.backend_name()),
                }
            })?;
        let writers = pool_size.max(1).saturating_sub(2).max(1);
        let gates = Gates { writes: std::sync::Arc::new(tokio::sync::Semaphore::new(writers as usize)) };
        let checkpointer = match &url {
            DatabaseUrl::Sqlite(path) => Some(std::sync::Arc::new(Checkpointer::start(path, gates.writes.clone(), writers)?)),
            DatabaseUrl::Postgres(_) => None,
        };
        Ok(Self { pool, url, gates: std::sync::Arc::new(gates), _checkpointer: checkpointer })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.url, DatabaseUrl::Sqlite(_))
    }

    /// A connection for synchronous work (CLI, start-up). Never call from async code.
    pub fn get(&self) -> Result<PooledConn, ApiError> {
        self.pool.get().map_err(|e| ApiError::internal(format!("database pool: {e}")))
    }

    /// The pool's connections now: (open, idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }

    /// Runs blocking database work on the blocking thread pool, never on the executor.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let write = WRITE_REQUEST.try_with(|w| *w).unwrap_or(true);
        let busy = || ApiError::unavailable("database: no connection free for 30 s");
        let write_turn = if write {
            Some(
                tokio::time::timeout(GATE_TIMEOUT, self.gates.writes.clone().acquire_owned())
                    .await
                    .map_err(|_| busy())?
                    .map_err(|_| busy())?,
            )
        } else {
            None
        };
        let pool = self.pool.clone();
        // What the work logs belongs to the request that asked for it.
        let span = tracing::Span::current();
        // The blocking pool of the current runtime (the HTTP server sizes it per worker).
        tokio::task::spawn_blocking(move || {
            let _in_request = span.enter();
            let result = match pool.get() {
                Ok(mut conn) => f(&mut conn),
                Err(e) => Err(ApiError::unavailable(format!("database pool: {e}"))),
            };
            // The turn ends here, with the connection back in the pool: the next writer may
            // start at once, not when this task is next polled.
            drop(write_turn);
            result
        })
        .await
        .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
    }
}

/// The SQLite database holds personal data: its file is created with mode 0600 before
/// SQLite opens it (SQLite gives its `-wal` and `-shm` files the database file's mode), and
/// an existing file, WAL or shared-memory file readable by others is made private.
fn private_sqlite_files(path: &std::path::Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot create the SQLite database {}: {e}", path.display()))?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("cannot make {} private (mode 0600): {e}", file.display()))?;
                tracing::info!(file = %file.display(), "made the database file private (mode 0600)");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// One round trip to the database (readiness).
pub fn ping(conn: &mut AnyConnection) -> Result<(), ApiError> {
    conn.batch_execute("SELECT 1").map_err(|e| ApiError::unavailable(format!("readiness query: {e}")))
}

impl Db {
    /// Applies every pending migration of this backend; returns the names applied.
    pub fn migrate(&self) -> Result<Vec<String>, String> {
        let mut conn = self.pool.get().map_err(|e| format!("database pool: {e}"))?;
        migrate_connection(&mut conn)
    }
}

pub fn migrate_connection(conn: &mut AnyConnection) -> Result<Vec<String>, String> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.iter().map(|m| m.to_string()).collect()),
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.iter().map(|m| m.to_string()).collect()),
    };
    applied.map_err(|e| format!("migration failed: {e}"))
}

/// Runs `f` in a write transaction. On SQLite the transaction starts with
/// `BEGIN IMMEDIATE`: a deferred transaction that reads first and writes later fails with
/// SQLITE_BUSY (not waiting for busy_timeout) when another writer got in between.
/// PostgreSQL needs nothing special: row locks taken inside serialise what must be.
pub fn write_tx<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        AnyConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            <AnyConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            // The original error matters more than a failed rollback; a connection whose
            // rollback failed is marked broken and dropped by the pool (`has_broken`).
            let _ = <AnyConnection as Connection>::TransactionManager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// Runs `f` in a read-only transaction whose statements all read one snapshot of the
/// database: on PostgreSQL `REPEATABLE READ` (by default each statement would see the
/// commits made since the previous one); on SQLite a deferred transaction, whose first
/// read fixes the snapshot for the rest of it (WAL mode).
pub fn snapshot_tx<T, F>(conn: &mut AnyConnection, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, ApiError>,
{
    conn.transaction(|conn| {
        if matches!(conn, AnyConnection::Postgresql(_)) {
            conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        f(conn)
    })
}

/// Current UTC time truncated to microseconds: PostgreSQL keeps microseconds and SQLite
/// keeps whatever it is given, so without this the two backends return different JSON.
pub fn now() -> NaiveDateTime {
    truncate_micros(Utc::now().naive_utc())
}

pub fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// A new random UUID (v4) in its canonical lowercase text form.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Allocates change-sequence numbers inside one write transaction.
///
/// Numbers must become visible in increasing order (the delta-sync feed uses them as a
/// cursor, docs/SYNC.md 2.4): a transaction holds the single counter row's lock from its
/// first number until it commits (a row lock on PostgreSQL; SQLite's write lock is
/// already held), so no other writer takes numbers before it commits.
///
/// - [`ChangeSeq::default`] takes the counter with its first number (account writes,
///   topics, start-up seeding: rare and short).
/// - [`ChangeSeq::deferred`] (every record write, [`crate::domain::records::Write`]) on
///   PostgreSQL hands out *placeholders* — negative numbers no committed row ever holds —
///   and takes the counter only in [`ChangeSeq::finish`], just before commit, where it
///   turns the placeholders into real numbers with one statement per table (in one
///   round trip). The counter is then held for a millisecond or two per transaction, not
///   for its whole length, so writers of different communes (which do not wait for each
///   other's locks, [`lock_area`]) run in parallel. Another transaction never sees the
///   placeholders: they are uncommitted until stamped. On SQLite, where one writer holds
///   the database anyway, deferred numbers are plain numbers.
#[derive(Debug, Default)]
pub struct ChangeSeq {
    next: Option<(i64, i64)>, // (last allocated, last written to the counter row)
    deferred: bool,
    /// Placeholders handed out (deferred mode on PostgreSQL).
    placeholders: i64,
}

/// The first placeholder of a deferred transaction is `PLACEHOLDER_BASE + 1`.
const PLACEHOLDER_BASE: i64 = -(1 << 62);

/// The tables whose rows a record write numbers (each has an index on `change_seq`).
/// Accounts are numbered by [`ChangeSeq::default`], never deferred.
const CHANGE_TABLES: [&str; 11] = [
    "topics",
    "hamlets",
    "teams",
    "team_members",
    "classes",
    "class_sessions",
    "trainees",
    "enrollments",
    "session_attendance",
    "sync_removals",
    "platform_certificates",
];

impl ChangeSeq {
    /// Numbers for a record write: on PostgreSQL allocated at [`ChangeSeq::finish`].
    pub fn deferred() -> Self {
        Self { deferred: true, ..Self::default() }
    }

    pub fn next(&mut self, conn: &mut AnyConnection) -> QueryResult<i64> {
        use crate::store::schema::change_counter::dsl::*;
        if self.deferred && matches!(conn, AnyConnection::Postgresql(_)) && self.next.is_none() {
            self.placeholders += 1;
            return Ok(PLACEHOLDER_BASE + self.placeholders);
        }
        match self.next {
            Some((last, written)) => {
                let value_now = last + 1;
                self.next = Some((value_now, written));
                Ok(value_now)
            }
            None => {
                let allocated: i64 =
                    diesel::update(change_counter.filter(id.eq(1))).set(value.eq(value + 1)).returning(value).get_result(conn)?;
                self.next = Some((allocated, allocated));
                Ok(allocated)
            }
        }
    }

    /// Takes the counter's lock without allocating a number: the transaction then runs
    /// alone among those that take numbers, until it commits.
    pub fn lock(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        use crate::store::schema::change_counter::dsl::*;
        if self.next.is_none() && self.placeholders == 0 {
            let current: i64 = diesel::update(change_counter.filter(id.eq(1))).set(value.eq(value)).returning(value).get_result(conn)?;
            self.next = Some((current, current));
        }
        Ok(())
    }

    /// For a write that must run alone (account changes, a statistics rebuild): on
    /// PostgreSQL it takes the exclusive lock of the whole country ([`lock_area`]), which
    /// waits for every record writer and holds new ones back, and the counter. SQLite's
    /// `BEGIN IMMEDIATE` already serialises writers.
    pub fn serialise(conn: &mut AnyConnection) -> QueryResult<()> {
        if matches!(conn, AnyConnection::Postgresql(_)) {
            lock_area(conn, LockArea::Everything)?;
            ChangeSeq::default().lock(conn)?;
        }
        Ok(())
    }

    /// Writes the last number allocated back to the counter row, and in deferred mode
    /// allocates the real numbers and puts them in place of the placeholders. Call last,
    /// before commit.
    pub fn finish(&mut self, conn: &mut AnyConnection) -> QueryResult<()> {
        use crate::store::schema::change_counter::dsl::*;
        if self.placeholders > 0 {
            let count = self.placeholders;
            let last: i64 =
                diesel::update(change_counter.filter(id.eq(1))).set(value.eq(value + count)).returning(value).get_result(conn)?;
            // Placeholder BASE + k becomes (last - count) + k: the same order, after every
            // number committed so far. Numbers only (no text from outside) go into the SQL.
            let first = last - count;
            let (lo, hi) = (PLACEHOLDER_BASE, PLACEHOLDER_BASE + count);
            let shift = first - PLACEHOLDER_BASE;
            let sql: String = CHANGE_TABLES
                .iter()
                .map(|t| format!("UPDATE {t} SET change_seq = change_seq + {shift} WHERE change_seq > {lo} AND change_seq <= {hi};"))
                .collect();
            conn.batch_execute(&sql)?;
            self.placeholders = 0;
            self.next = Some((last, last));
            return Ok(());
        }
        if let Some((last, written)) = self.next {
            if last != written {
                diesel::update(change_counter.filter(id.eq(1))).set(value.eq(last)).execute(conn)?;
                self.next = Some((last, last));
            }
        }
        Ok(())
    }
}

/// What a write transaction locks on PostgreSQL before it reads what it will change, so
/// that a version read and checked is the version written: the area its caller may
/// write in. Advisory transaction locks in a hierarchy, always taken top down:
///
/// | area | country lock | province lock | commune lock |
/// |---|---|---|---|
/// | everything (country-wide accounts, topics, rebuilds) | exclusive | — | — |
/// | a province | shared | exclusive | — |
/// | a commune | shared | shared | exclusive |
///
/// So writers of one commune run one after another; writers of different communes run in
/// parallel; a province-wide writer waits for that province's communes, and a
/// country-wide one for everybody. SQLite needs none of this: `BEGIN IMMEDIATE` holds the
/// database's single write lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockArea<'a> {
    Everything,
    Province(&'a str),
    Commune { code: &'a str, province: &'a str },
}

/// Advisory lock namespaces (the first key of PostgreSQL's two-key advisory locks).
const LOCK_COUNTRY: i32 = 0x4876_0001;
const LOCK_PROVINCE: i32 = 0x4876_0002;
const LOCK_COMMUNE: i32 = 0x4876_0003;

/// The second key of a unit's lock: its code as a number (official codes are digits), or
/// a hash of it. Two codes sharing a key only share a lock.
fn lock_key(code: &str) -> i32 {
    match code.parse::<i32>() {
        Ok(n) if n >= 0 => n,
        _ => {
            // FNV-1a, negative so as not to meet a numeric code.
            let mut h: u32 = 0x811c_9dc5;
            for b in code.bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
            -((h & 0x7fff_ffff) as i32) - 1
        }
    }
}

/// Takes the locks of `area` until the transaction ends (PostgreSQL; nothing on SQLite).
/// One round trip. Call before the first savepoint: a lock taken inside a savepoint that
/// is rolled back is released.
pub fn lock_area(conn: &mut AnyConnection, area: LockArea<'_>) -> QueryResult<()> {
    if !matches!(conn, AnyConnection::Postgresql(_)) {
        return Ok(());
    }
    let sql = match area {
        LockArea::Everything => format!("SELECT pg_advisory_xact_lock({LOCK_COUNTRY}, 0);"),
        LockArea::Province(p) => format!(
            "SELECT pg_advisory_xact_lock_shared({LOCK_COUNTRY}, 0); SELECT pg_advisory_xact_lock({LOCK_PROVINCE}, {});",
            lock_key(p)
        ),
        LockArea::Commune { code, province } => format!(
            "SELECT pg_advisory_xact_lock_shared({LOCK_COUNTRY}, 0); SELECT pg_advisory_xact_lock_shared({LOCK_PROVINCE}, {}); \
             SELECT pg_advisory_xact_lock({LOCK_COMMUNE}, {});",
            lock_key(province),
            lock_key(code)
        ),
    };
    conn.batch_execute(&sql)
}

/// Inserts several rows: a statement per chunk of 128 rows, then of 16, then per row.
/// Each chunk is a fixed-size array, so its statement is prepared once per connection and
/// kept in the connection's statement cache (diesel caches a batch insert only when its
/// number of rows is part of its type): parsing a statement of hundreds of rows each time
/// cost more than running it. Multi-row `.values(..)` does not compile through the
/// MultiConnection, so this matches on the backend and runs the same statement on the
/// inner connection. The row type needs `#[diesel(treat_none_as_default_value = false)]`,
/// or SQLite gets one statement per row.
macro_rules! insert_chunked {
    ($conn:expr, $table:expr, $rows:expr) => {{
        // Owned rows: a row type with `#[diesel(serialize_as = ..)]` fields
        // ([`crate::store::stamp`]) is insertable by value only.
        let mut rest = ::std::iter::IntoIterator::into_iter($rows);
        let mut n = 0usize;
        loop {
            let left = ::std::iter::ExactSizeIterator::len(&rest);
            if left == 0 {
                break;
            }
            let size = if left >= 128 {
                128
            } else if left >= 16 {
                16
            } else {
                1
            };
            let chunk: Vec<_> = rest.by_ref().take(size).collect();
            let short = |_| diesel::result::Error::QueryBuilderError("insert_chunked: a short chunk".into());
            n += match size {
                128 => $crate::store::db::insert_rows!($conn, $table, <[_; 128]>::try_from(chunk).map_err(short)?),
                16 => $crate::store::db::insert_rows!($conn, $table, <[_; 16]>::try_from(chunk).map_err(short)?),
                _ => $crate::store::db::insert_rows!($conn, $table, <[_; 1]>::try_from(chunk).map_err(short)?),
            };
        }
        n
    }};
}

/// One insert of `rows` (an array) on either backend; for [`insert_chunked`].
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::store::db::AnyConnection::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c)?,
            $crate::store::db::AnyConnection::Postgresql(c) => diesel::insert_into($table).values($rows).execute(c)?,
        }
    };
}
pub(crate) use insert_chunked;
pub(crate) use insert_rows;

#[cfg(test)]
mod tests {
    use super::*;

    /// A database `name` in a new temporary folder (removed with the returned guard), with
    /// a pool of `pool` connections.
    fn temp_sqlite(name: &str, pool: u32) -> Result<(tempfile::TempDir, std::path::PathBuf, Db), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join(name);
        let db = Db::connect(DatabaseUrl::Sqlite(path.clone()), pool)?;
        Ok((dir, path, db))
    }

    /// The server's connections never checkpoint at commit; the background checkpointer
    /// copies the WAL into the database file while the pool stays open.
    #[test]
    fn the_checkpointer_copies_the_wal_into_the_database_file() -> Result<(), String> {
        let (_dir, path, db) = temp_sqlite("c.db", 2)?;
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut conn = db.get().map_err(|e| e.to_string())?;
        conn.batch_execute("CREATE TABLE t (x TEXT NOT NULL);").map_err(|e| e.to_string())?;
        // About 1,500 pages in one commit: past the 1,000 at which a commit would
        // checkpoint by default.
        let filler = "x".repeat(4000);
        conn.transaction(|c| -> QueryResult<()> {
            for _ in 0..1500 {
                diesel::sql_query("INSERT INTO t (x) VALUES (?)").bind::<diesel::sql_types::Text, _>(&filler).execute(c)?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        let after_commit = size();
        assert!(after_commit < 1_000_000, "the commit itself checkpointed: the file has {after_commit} bytes");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() < 6_000_000 {
            assert!(std::time::Instant::now() < deadline, "no checkpoint within 10 s: the file has {} bytes", size());
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Under writes that never pause, the WAL still starts again from its beginning, round
    /// after round (a new start gives its header new salts). With passive checkpoints alone
    /// it never did: the checkpoint never caught up with the last commit, and the WAL grew
    /// by every page written.
    #[test]
    fn the_wal_starts_again_under_a_steady_stream_of_writes() -> Result<(), String> {
        let (_dir, path, db) = temp_sqlite("w.db", 4)?;
        let wal = path.with_extension("db-wal");
        // The salts of the WAL header (bytes 16–23).
        let salts = || {
            use std::io::Read;
            let mut header = [0u8; 24];
            std::fs::File::open(&wal).and_then(|mut f| f.read_exact(&mut header)).ok().map(|()| header[16..].to_vec())
        };
        db.get().map_err(|e| e.to_string())?.batch_execute("CREATE TABLE t (x TEXT NOT NULL);").map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let (mut starts, mut last) = (0, None);
        // Rounds come every 500 ms once the WAL is past 16 MiB: two within 10 s even on a
        // slow machine.
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while starts < 2 && std::time::Instant::now() < end {
            // Writes as the server makes them: each takes its turn at the gate.
            runtime
                .block_on(db.run(|conn| {
                    let filler = "x".repeat(3000);
                    conn.transaction(|c| -> QueryResult<()> {
                        for _ in 0..20 {
                            diesel::sql_query("INSERT INTO t (x) VALUES (?)").bind::<diesel::sql_types::Text, _>(&filler).execute(c)?;
                        }
                        Ok(())
                    })
                    .map_err(ApiError::from)
                }))
                .map_err(|e| e.to_string())?;
            let now = salts();
            if last.is_some() && now != last {
                starts += 1;
            }
            last = now;
        }
        assert!(starts >= 2, "the WAL started again {starts} times in 10 s of writes");
        Ok(())
    }

    /// A write of about 1,500 pages keeps them in memory until its commit: the WAL does not
    /// grow halfway through (with SQLite's default 2 MiB cache it held about 4 MB before
    /// the commit), and statement journals are kept in memory.
    #[test]
    fn a_large_write_reaches_the_wal_only_at_its_commit() -> Result<(), String> {
        let (_dir, path, db) = temp_sqlite("s.db", 2)?;
        let wal = path.with_extension("db-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let mut conn = db.get().map_err(|e| e.to_string())?;
        #[derive(QueryableByName)]
        struct TempStore {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            temp_store: i32,
        }
        let t: TempStore = diesel::sql_query("PRAGMA temp_store").get_result(&mut conn).map_err(|e| e.to_string())?;
        assert_eq!(t.temp_store, 2, "statement journals and temporary tables in memory");
        conn.batch_execute("CREATE TABLE t (x TEXT NOT NULL);").map_err(|e| e.to_string())?;
        let filler = "x".repeat(4000);
        let mut before_commit = 0;
        conn.transaction(|c| -> QueryResult<()> {
            for _ in 0..1500 {
                diesel::sql_query("INSERT INTO t (x) VALUES (?)").bind::<diesel::sql_types::Text, _>(&filler).execute(c)?;
            }
            before_commit = size();
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        assert!(before_commit < 500_000, "the write spilled into the WAL before its commit: {before_commit} bytes");
        assert!(size() > 6_000_000, "the commit wrote its pages: the WAL has {} bytes", size());
        Ok(())
    }

    /// The bundled SQLite is built as `.cargo/config.toml` asks: multi-thread mode (no
    /// mutex per connection and statement) and no memory statistics.
    #[test]
    fn sqlite_is_built_in_multi_thread_mode_without_memory_statistics() -> Result<(), String> {
        #[derive(QueryableByName)]
        struct Opt {
            #[diesel(sql_type = diesel::sql_types::Text)]
            compile_options: String,
        }
        let mut conn = diesel::SqliteConnection::establish(":memory:").map_err(|e| e.to_string())?;
        let opts: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<Opt>(&mut conn)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        assert!(opts.iter().any(|o| o == "THREADSAFE=2"), "{opts:?}");
        assert!(opts.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{opts:?}");
        Ok(())
    }
}

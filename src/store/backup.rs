//! `hocvuso backup FILE`: a consistent online copy of a SQLite database while the server
//! serves it. `VACUUM INTO` reads one snapshot (in WAL mode writers go on meanwhile) and
//! writes a compact copy; the copy is created private (0600) before SQLite writes into it,
//! then checked with `PRAGMA quick_check`. PostgreSQL is backed up with its own tools
//! (`pg_dump`, README "Backup and restore").

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

/// What a backup wrote.
#[derive(Debug)]
pub struct Backup {
    pub bytes: u64,
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    quick_check: String,
}

/// Copies the SQLite database at `database` into the new file `target`.
pub fn sqlite(database: &Path, target: &Path) -> Result<Backup, String> {
    if !database.is_file() {
        return Err(format!("there is no database at {}", database.display()));
    }
    if target.exists() {
        return Err(format!("{} already exists; a backup never overwrites a file: choose a new name", target.display()));
    }
    if let Some(folder) = target.parent().filter(|p| !p.as_os_str().is_empty() && !p.is_dir()) {
        return Err(format!("the folder {} does not exist", folder.display()));
    }
    let target_text = target.to_str().ok_or_else(|| format!("{} is not a UTF-8 path", target.display()))?;
    // An empty file is a valid target of VACUUM INTO; creating it first gives it mode 0600.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let result = copy(database, target_text);
    if result.is_err() {
        let _ = std::fs::remove_file(target);
    }
    result
}

fn copy(database: &Path, target: &str) -> Result<Backup, String> {
    let mut conn = SqliteConnection::establish(&database.to_string_lossy()).map_err(|e| format!("cannot open the database: {e}"))?;
    conn.batch_execute("PRAGMA busy_timeout = 10000;").map_err(|e| e.to_string())?;
    diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(target).execute(&mut conn).map_err(|e| format!("copying the database: {e}"))?;
    drop(conn);
    let mut copy = SqliteConnection::establish(target).map_err(|e| format!("cannot open the copy: {e}"))?;
    let checks: Vec<Check> = diesel::sql_query("PRAGMA quick_check").load(&mut copy).map_err(|e| format!("checking the copy: {e}"))?;
    if checks.len() != 1 || checks[0].quick_check != "ok" {
        let found: Vec<_> = checks.into_iter().map(|c| c.quick_check).take(5).collect();
        return Err(format!("the copy failed its check: {}", found.join("; ")));
    }
    drop(copy);
    let bytes = std::fs::metadata(target).map_err(|e| e.to_string())?.len();
    Ok(Backup { bytes })
}

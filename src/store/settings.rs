//! Settings that give stored data its meaning, kept in the database with the data
//! (`server_settings`): what a server started on this database must agree with, or act on.

use diesel::prelude::*;

use crate::store::db::{self, AnyConnection};
use crate::store::schema::server_settings as s;

/// The stored value of a setting, if any.
pub fn get(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<String>> {
    s::table.find(name).select(s::value).first(conn).optional()
}

/// Stores a setting (insert or replace).
pub fn set(conn: &mut AnyConnection, name: &str, value: &str) -> QueryResult<()> {
    let now = db::now();
    let updated = diesel::update(s::table.find(name)).set((s::value.eq(value), s::updated_at.eq(now))).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(s::table).values((s::name.eq(name), s::value.eq(value), s::updated_at.eq(now))).execute(conn)?;
    }
    Ok(())
}

/// A secret that gives stored data its meaning, and where an operator sets it.
pub struct KeptSecret<'a> {
    /// The setting that keeps its fingerprint (`secret_fingerprint_…`).
    pub setting: &'static str,
    /// The variable that sets it …
    pub variable: &'static str,
    /// … or the file it is read from when that variable is unset.
    pub file: std::path::PathBuf,
    /// What breaks with another one.
    pub meaning: &'static str,
    pub secret: &'a crate::base::config::Secret,
}

/// A fingerprint of a secret: the first 8 bytes of HMAC-SHA256 keyed by the secret over a
/// fixed text, hex. It identifies the secret without revealing it.
pub fn fingerprint(secret: &crate::base::config::Secret) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.expose()) else {
        return String::new();
    };
    mac.update(b"hocvuso secret fingerprint v1");
    base16ct::lower::encode_string(&mac.finalize().into_bytes()[..8])
}

/// Checks each secret against the fingerprint the database keeps, storing it on the first
/// start (and on the first start of a database made before fingerprints were kept). A
/// different secret is refused with a message naming it and where it is expected.
pub fn check_secrets(conn: &mut AnyConnection, secrets: &[KeptSecret]) -> Result<(), String> {
    for s in secrets {
        let configured = fingerprint(s.secret);
        match get(conn, s.setting).map_err(|e| format!("reading settings: {e}"))? {
            Some(stored) if stored == configured => {}
            Some(stored) => {
                return Err(format!(
                    "{var} is not the secret this database was used with (database fingerprint {stored}, configured \
                     {configured}): {meaning}. It is taken from {var} or, when that is unset, from the file {file}: \
                     restore that file from the backup (or set the original value) on every instance. See README, \
                     \"Backup and restore\".",
                    var = s.variable,
                    meaning = s.meaning,
                    file = s.file.display()
                ))
            }
            None => set(conn, s.setting, &configured).map_err(|e| format!("writing settings: {e}"))?,
        }
    }
    Ok(())
}

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

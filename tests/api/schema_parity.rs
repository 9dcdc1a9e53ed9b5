//! Both backends end with the same tables and columns (with the same nullability), and
//! both migration folders hold the same migration names. The expected list is committed in
//! tests/api/schema_columns.txt, so the SQLite-only run and the PostgreSQL run each check
//! their backend against the same list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use hocvuso::store::db::{AnyConnection, Db};

#[derive(QueryableByName)]
struct Col {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    c: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
}

fn columns(conn: &mut AnyConnection) -> Vec<String> {
    let rows: Vec<Col> = match conn {
        AnyConnection::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS t, p.name AS c, p.\"notnull\" AS \"notnull\" FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations' ORDER BY 1, 2",
        )
        .load(c)
        .unwrap(),
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "SELECT table_name::text AS t, column_name::text AS c, CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS \"notnull\" \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' ORDER BY 1, 2",
        )
        .load(c)
        .unwrap(),
    };
    // Sorted here, not in SQL: PostgreSQL's collation may order `_` differently.
    let mut v: Vec<String> =
        rows.into_iter().map(|r| format!("{}.{} {}", r.t, r.c, if r.notnull == 1 { "NOT NULL" } else { "NULL" })).collect();
    v.sort();
    v
}

fn expected() -> Vec<String> {
    include_str!("schema_columns.txt").lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

fn check(db: &common::TestDb) {
    let pool = Db::connect(db.url.clone(), 1).unwrap();
    pool.migrate().unwrap();
    let actual = columns(&mut pool.get().unwrap());
    assert_eq!(
        actual,
        expected(),
        "{} schema differs from tests/api/schema_columns.txt; a migration changed one backend only?\nactual:\n{}",
        db.url.backend_name(),
        actual.join("\n")
    );
}

#[test]
fn sqlite_schema_matches_the_committed_list() {
    check(&common::TestDb::new_sqlite());
}

#[test]
fn configured_backend_schema_matches_the_committed_list() {
    // On SQLite this repeats the test above; with TEST_DATABASE_URL=postgres://… it checks
    // PostgreSQL against the same list.
    check(&common::TestDb::new());
}

#[test]
fn both_migration_folders_have_the_same_migrations() {
    let names = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    let sqlite = names("migrations/sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("migrations/postgres"));
    for m in &sqlite {
        for f in ["up.sql", "down.sql"] {
            assert!(std::path::Path::new(&format!("migrations/sqlite/{m}/{f}")).exists());
            assert!(std::path::Path::new(&format!("migrations/postgres/{m}/{f}")).exists());
        }
    }
}

//! Start-up configuration: bad values are refused with a message that says what to do;
//! secrets are generated once with private file modes; TLS to PostgreSQL works from the
//! default build.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use clap::Parser;
use hocvuso::cli::Cli;

fn resolve(args: &[&str], data_dir: &std::path::Path) -> Result<hocvuso::base::config::Config, String> {
    let mut argv = vec!["hocvuso", "--data-dir", data_dir.to_str().unwrap()];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).map_err(|e| e.to_string())?.config.resolve()
}

#[test]
fn bad_values_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let err = resolve(&["--database-url", "mysql://x"], dir.path()).unwrap_err();
    assert!(err.contains("DATABASE_URL must start with sqlite://"), "{err}");
    let err = resolve(&["--database-url", "postgres://u:hunter2@h/db", "--bind", "nowhere"], dir.path()).unwrap_err();
    assert!(err.contains("HOCVUSO_BIND must be HOST:PORT"), "{err}");
    let err = resolve(&["--jwt-secret", "too-short"], dir.path()).unwrap_err();
    assert!(err.contains("HOCVUSO_JWT_SECRET is 9 bytes; it must be at least 32"), "{err}");
    let err = resolve(&["--access-token-ttl", "0"], dir.path()).unwrap_err();
    assert!(err.contains("HOCVUSO_ACCESS_TOKEN_TTL must be a positive number"), "{err}");
    let err = resolve(&["--pool-size", "0"], dir.path()).unwrap_err();
    assert!(err.contains("HOCVUSO_POOL_SIZE must be between 1 and 256"), "{err}");
    let err = resolve(&["--log-format", "xml"], dir.path()).unwrap_err();
    assert!(err.contains("xml"), "{err}");
    // Passwords in URLs never appear in messages.
    let err = resolve(&["--database-url", "mysql://u:hunter2@h/db"], dir.path()).unwrap_err();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_generated_jwt_secret_is_private_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let a = resolve(&[], dir.path()).unwrap();
    let b = resolve(&[], dir.path()).unwrap();
    assert_eq!(a.jwt_secret.expose(), b.jwt_secret.expose());
    assert!(a.jwt_secret.expose().len() >= 32);
    assert_eq!(format!("{:?}", a.jwt_secret), "Secret(***)");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("jwt-secret")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The default database lives in the data folder.
    assert_eq!(resolve(&[], dir.path()).unwrap().database_url, hocvuso::base::config::DatabaseUrl::Sqlite(dir.path().join("hocvuso.db")));
}

#[test]
fn a_mistyped_absolute_database_path_is_refused_unless_asked_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexistent/dir/x.db");
    let url = format!("sqlite://{}", missing.display());
    let err = resolve(&["--database-url", &url], dir.path()).unwrap_err();
    assert!(err.contains(&format!("the folder {} does not exist", dir.path().join("nonexistent/dir").display())), "{err}");
    assert!(err.contains("HOCVUSO_CREATE_DB_DIR=true"), "{err}");
    assert!(!dir.path().join("nonexistent").exists(), "nothing was created");
    let config = resolve(&["--database-url", &url, "--create-db-dir"], dir.path()).unwrap();
    assert_eq!(config.database_url, hocvuso::base::config::DatabaseUrl::Sqlite(missing));
    // A folder that exists is fine without the flag.
    let here = format!("sqlite://{}", dir.path().join("x.db").display());
    assert!(resolve(&["--database-url", &here], dir.path()).is_ok());
}

/// The database, its WAL and the data folder hold personal data and secrets: private to
/// the account that runs the server, also when they were made readable by others before.
#[cfg(unix)]
#[test]
fn the_database_files_and_the_data_folder_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let db = common::TestDb::new_sqlite();
    let mut config = common::test_config(&db);
    config.data_dir = db.dir.path().join("fresh/data");
    let hocvuso::base::config::DatabaseUrl::Sqlite(path) = config.database_url.clone() else { unreachable!() };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let state = hocvuso::server::bootstrap(config.clone()).unwrap();
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    assert_eq!((mode(&path), mode(&wal)), (0o600, 0o600));
    hocvuso::base::config::write_private_file(&config.data_dir.join("probe"), "x").unwrap();
    assert_eq!(mode(&config.data_dir), 0o700);
    drop(state);
    // Files left readable by an older version are made private at the next start.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _state = hocvuso::server::bootstrap(config).unwrap();
    assert_eq!(mode(&path), 0o600);
}

/// A database remembers the fingerprints of the secrets that give its data meaning; a
/// start with another one is refused, naming it and where it is read from.
#[test]
fn a_start_with_other_secrets_than_the_database_knows_is_refused() {
    let db = common::TestDb::new();
    let config = common::test_config(&db);
    drop(hocvuso::server::bootstrap(config.clone()).unwrap());
    let mut other = config.clone();
    other.id_hash_secret = hocvuso::base::config::Secret::new(b"another-id-hash-secret-of-enough-length-000".to_vec());
    let err = hocvuso::server::bootstrap(other).map(|_| ()).unwrap_err();
    assert!(err.starts_with("HOCVUSO_ID_HASH_SECRET is not the secret this database was used with"), "{err}");
    assert!(err.contains(&config.data_dir.join("id-hash-secret").display().to_string()), "{err}");
    assert!(!err.contains("another-id-hash"), "the secret itself is never shown: {err}");
    let mut other = config.clone();
    other.jwt_secret = hocvuso::base::config::Secret::new(b"another-jwt-secret-that-is-long-enough-0000".to_vec());
    let err = hocvuso::server::bootstrap(other.clone()).map(|_| ()).unwrap_err();
    assert!(err.starts_with("HOCVUSO_JWT_SECRET is not the secret"), "{err}");
    assert!(err.contains("hocvuso secrets rotate-jwt"), "{err}");
    // The configured secrets still start it.
    drop(hocvuso::server::bootstrap(config).unwrap());
    // Rotating the token secret on purpose: record the new one, then it starts.
    let mut conn = hocvuso::store::db::Db::connect(other.database_url.clone(), 1).unwrap().get().unwrap();
    let secrets = hocvuso::server::kept_secrets(&other);
    let jwt = secrets.iter().find(|s| s.variable == "HOCVUSO_JWT_SECRET").unwrap();
    hocvuso::store::settings::set(&mut conn, jwt.setting, &hocvuso::store::settings::fingerprint(jwt.secret)).unwrap();
    drop(conn);
    drop(hocvuso::server::bootstrap(other).unwrap());
}

#[test]
fn the_first_admin_password_is_written_once_with_mode_0600() {
    let db = common::TestDb::new();
    let mut config = common::test_config(&db);
    config.admin_password = None;
    let state = hocvuso::server::bootstrap(config.clone()).unwrap();
    let path = config.data_dir.join("initial-admin-password");
    let pw = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert_eq!(pw.len(), 20);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    drop(state);
    // A second start does not create another admin or a new password.
    std::fs::remove_file(&path).unwrap();
    let _again = hocvuso::server::bootstrap(config).unwrap();
    assert!(!path.exists());
}

#[test]
fn postgres_over_tls_works_from_the_default_build() {
    // Only meaningful against PostgreSQL; the SQLite run has nothing to connect to.
    let Some(base) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) else {
        return;
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}sslmode=require");
    let db = hocvuso::store::db::Db::connect(hocvuso::base::config::DatabaseUrl::parse(&url).unwrap(), 1).unwrap();
    let mut conn = db.get().unwrap();
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    let hocvuso::store::db::AnyConnection::Postgresql(pg) = &mut *conn else { panic!("not postgres") };
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").get_result(pg).unwrap();
    assert!(row.ssl, "connection is not encrypted");
}

//! `hocvuso backup`: a consistent copy of a SQLite database taken while it serves writes
//! holds every write acknowledged before the backup began, starts as a database of its own
//! (with the same secrets), and its statistics match its records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use common::*;
use diesel::prelude::*;
use serde_json::json;

#[actix_web::test]
async fn a_backup_taken_under_write_load_holds_every_acknowledged_write() {
    // Always SQLite: PostgreSQL is backed up with pg_dump (README).
    let db = TestDb::new_sqlite();
    let state = hocvuso::server::bootstrap(test_config(&db)).unwrap();
    let svc = actix_web::test::init_service(hocvuso::server::build(state.clone())).await;
    let app = TestApp { svc, state, db };
    let hocvuso::base::config::DatabaseUrl::Sqlite(path) = app.state.config.database_url.clone() else { unreachable!() };
    // Enough data that the copy takes a while, so that writes land while it runs.
    {
        let mut conn = app.conn();
        let plan = hocvuso::cli::bench::SeedPlan {
            province: QN.into(),
            communes: 4,
            teams_per_commune: 4,
            classes_per_team: 10,
            sessions_per_class: 4,
            trainees_per_commune: 500,
            enrollments_per_trainee: 2,
        };
        hocvuso::cli::bench::seed(&mut conn, &plan).unwrap();
        hocvuso::domain::stats::rebuild::rebuild(&mut conn, true).unwrap();
    }
    let admin = app.admin_token().await;
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let target = app.db.dir.path().join("backup.db");

    let writer = async {
        let mut i = 0;
        while !stop.load(Ordering::SeqCst) {
            i += 1;
            let body = json!({"commune_code": QN_CAM_THANH, "full_name": format!("Học viên sao lưu {i}"), "gender": "female",
                              "birth_year": 1960, "consent": {"basic": true, "method": "paper"}});
            let r = app.post("/api/v1/trainees", Some(&admin), body).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            acked.lock().unwrap().push((r.body["id"].as_str().unwrap().to_owned(), Instant::now()));
        }
    };
    let backup = async {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let began = Instant::now();
        let (from, to) = (path.clone(), target.clone());
        let done = actix_web::rt::task::spawn_blocking(move || hocvuso::store::backup::sqlite(&from, &to)).await.unwrap().unwrap();
        let ended = Instant::now();
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::SeqCst);
        (began, ended, done)
    };
    let ((), (began, ended, done)) = futures_util::future::join(writer, backup).await;
    assert!(done.bytes > 0);
    let acked = acked.lock().unwrap().clone();
    let before: Vec<&String> = acked.iter().filter(|(_, at)| *at < began).map(|(id, _)| id).collect();
    let during = acked.iter().filter(|(_, at)| *at >= began && *at <= ended).count();
    let after = acked.iter().filter(|(_, at)| *at > ended).count();
    assert!(before.len() >= 5 && after >= 1, "writes before ({}) and after ({after}) the backup", before.len());
    eprintln!("acknowledged before the backup: {}, during: {during}, after: {after}", before.len());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The copy starts as a server of its own with the same secrets …
    let copy = TestDb::new_sqlite();
    std::fs::copy(
        &target,
        match &copy.url {
            hocvuso::base::config::DatabaseUrl::Sqlite(p) => p,
            _ => unreachable!(),
        },
    )
    .unwrap();
    let state = hocvuso::server::bootstrap(test_config(&copy)).unwrap();
    let mut conn = state.db.get().unwrap();
    // … holds every write acknowledged before it began …
    use hocvuso::store::schema::trainees;
    let ids: Vec<String> = trainees::table.select(trainees::id).load(&mut conn).unwrap();
    let ids: std::collections::HashSet<String> = ids.into_iter().collect();
    let missing: Vec<_> = before.iter().filter(|id| !ids.contains(**id)).collect();
    assert!(missing.is_empty(), "{} acknowledged writes missing from the backup: {missing:?}", missing.len());
    assert_eq!(ids.len(), 2000 + before.len() + acked.iter().filter(|(id, at)| *at >= began && ids.contains(id)).count());
    // … and its statistics match its records.
    let diffs = hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap();
    assert!(diffs.is_empty(), "{} counters differ in the copy", diffs.len());

    // A backup never overwrites a file.
    let err = hocvuso::store::backup::sqlite(&path, &target).unwrap_err();
    assert!(err.contains("already exists"), "{err}");
    let err = hocvuso::store::backup::sqlite(&path, &app.db.dir.path().join("no/such/folder.db")).unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

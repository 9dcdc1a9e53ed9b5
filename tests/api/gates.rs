//! Reads never queue behind writers: database work takes a pooled connection through
//! gates (`store::db`): writes at most all connections but two, everything at most one job
//! per connection. Writers that hold their connection while they wait (for a lock, here for
//! a channel) must leave the reads a connection; before the gates, five such writers took
//! every connection of a pool of three and the reads waited 5 s for a 503.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use hocvuso::store::db::{ping, Db, WRITE_REQUEST};

use crate::common::TestDb;

#[actix_web::test]
async fn reads_get_a_connection_while_writers_hold_theirs() {
    let db = TestDb::new();
    let pool = Db::connect(db.url.clone(), 3).unwrap();
    pool.migrate().unwrap();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let held = Arc::new(Mutex::new(held));
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut writers = Vec::new();
    for _ in 0..5 {
        let (pool, held, started_tx) = (pool.clone(), held.clone(), started_tx.clone());
        writers.push(actix_web::rt::spawn(WRITE_REQUEST.scope(true, async move {
            pool.run(move |conn| {
                ping(conn)?;
                let _ = started_tx.send(());
                // Holds the connection until the test lets it go (one writer at a time
                // holds the lock; the others wait for it, each with its connection).
                let _ = held.lock().unwrap().recv();
                Ok(())
            })
            .await
        })));
    }
    started.recv().await.unwrap();
    for _ in 0..10 {
        let read = WRITE_REQUEST.scope(false, pool.run(ping)).await;
        assert!(read.is_ok(), "a read found no connection: {:?}", read.err().map(|e| e.to_string()));
    }
    // Work outside a request counts as a write, and waits its turn like one.
    for _ in 0..5 {
        release.send(()).unwrap();
    }
    for w in writers {
        w.await.unwrap().unwrap();
    }
    pool.run(ping).await.unwrap();
}

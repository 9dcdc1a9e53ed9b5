//! The delta feed's promise under concurrent writers (issue #12): a phone that follows the
//! feed from any cursor ends with exactly the server's records of its scope, whatever other
//! writers do meanwhile. A real server (two workers, TCP); writers in two communes of one
//! province create, edit, delete and move records through REST and `/sync/push`, while
//! followers of each commune, of the province and of the country pull small pages. At the
//! end each follower's replica, built the way docs/SYNC.md tells a phone to, must equal a
//! fresh snapshot of its scope, record by record, version by version, body by body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::HttpServer;
use common::*;
use serde_json::{json, Value};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(&self, method: &str, path: &str, token: &str, if_match: Option<String>, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut r = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "PATCH" => self.http.patch(url),
            "PUT" => self.http.put(url),
            "DELETE" => self.http.delete(url),
            _ => unreachable!(),
        }
        .bearer_auth(token);
        if let Some(tag) = if_match {
            r = r.header("If-Match", tag);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status < 500, "{method} {path}: {status} {body}");
        (status, body)
    }

    async fn ok(&self, method: &str, path: &str, token: &str, if_match: Option<String>, body: Option<Value>) -> Value {
        let (status, body) = self.call(method, path, token, if_match, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
        body
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn tag(v: &Value) -> Option<String> {
    v["version"].as_i64().map(|n| format!("\"v{n}\""))
}

/// A phone's copy of its scope: (type, id) → (version, body).
type Replica = BTreeMap<(String, String), (i64, Value)>;

/// Applies one page as docs/SYNC.md says: a removal or a tombstone deletes the local copy,
/// anything else replaces it.
fn apply(replica: &mut Replica, page: &Value) {
    for c in page["changes"].as_array().unwrap() {
        let key = (c["type"].as_str().unwrap().to_owned(), c["id"].as_str().unwrap().to_owned());
        if c["removed"] == true || c["deleted"] == true {
            replica.remove(&key);
        } else {
            replica.insert(key, (c["version"].as_i64().unwrap(), c["body"].clone()));
        }
    }
}

/// Follows the feed with small pages until told to stop, then until it is caught up.
async fn follow(client: Arc<Client>, token: String, done: Arc<AtomicBool>) -> Replica {
    let mut replica = Replica::new();
    let mut cursor: Option<String> = None;
    let mut idle_after_done = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/sync/changes?limit=3&cursor={c}"),
            None => "/api/v1/sync/changes?limit=3".to_owned(),
        };
        let page = client.ok("GET", &path, &token, None, None).await;
        apply(&mut replica, &page);
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
        if page["has_more"] == false && done.load(Ordering::SeqCst) {
            // Two empty pages after the writers stopped: caught up.
            if page["changes"].as_array().unwrap().is_empty() {
                idle_after_done += 1;
                if idle_after_done >= 2 {
                    return replica;
                }
            }
        }
        actix_web::rt::task::yield_now().await;
    }
}

/// A fresh snapshot of the scope, read page by page after every writer stopped.
async fn snapshot(client: &Client, token: &str) -> Replica {
    let mut replica = Replica::new();
    let mut page = client.ok("GET", "/api/v1/sync/changes?limit=1000", token, None, None).await;
    loop {
        apply(&mut replica, &page);
        if page["has_more"] == false {
            return replica;
        }
        let c = page["next_cursor"].as_str().unwrap().to_owned();
        page = client.ok("GET", &format!("/api/v1/sync/changes?limit=1000&cursor={c}"), token, None, None).await;
    }
}

fn new_trainee(commune: &str, name: &str) -> Value {
    json!({"id": uuid(), "commune_code": commune, "full_name": name, "gender": "female", "birth_year": 1968,
           "consent": {"basic": true, "method": "paper"}})
}

fn new_class(commune: &str, team: &str) -> Value {
    json!({"commune_code": commune, "team_id": team, "title": "Dịch vụ công trực tuyến", "topic_ids": ["online_public_services"],
           "mode": "in_person", "language": "vi", "start_date": "2026-01-05", "end_date": "2026-03-05", "planned_sessions": 20})
}

/// Member of commune A, through REST: trainees, enrollments, sessions and attendance, renames,
/// deleted sessions.
async fn rest_writer(client: Arc<Client>, token: String, class: String, rounds: usize) {
    for i in 0..rounds {
        let t = client.ok("POST", "/api/v1/trainees", &token, None, Some(new_trainee(QN_CAM_THANH, &format!("Học viên A{i}")))).await;
        let tid = t["id"].as_str().unwrap().to_owned();
        client.ok("POST", &format!("/api/v1/classes/{class}/enrollments"), &token, None, Some(json!({"trainee_id": tid}))).await;
        let s = client
            .ok(
                "POST",
                &format!("/api/v1/classes/{class}/sessions"),
                &token,
                None,
                Some(json!({"held_on": format!("2026-01-{:02}", 6 + i % 20), "duration_minutes": 60})),
            )
            .await;
        let sid = s["id"].as_str().unwrap().to_owned();
        client
            .ok("PUT", &format!("/api/v1/classes/{class}/sessions/{sid}/attendance"), &token, None, Some(json!({"present": [tid]})))
            .await;
        // Rename: the enrollment, which shows the name, must reach phones again.
        client
            .ok("PATCH", &format!("/api/v1/trainees/{tid}"), &token, tag(&t), Some(json!({"full_name": format!("Học viên A{i} (sửa)")})))
            .await;
        if i % 3 == 0 {
            // Deleting the session deletes its attendance list.
            client.ok("DELETE", &format!("/api/v1/classes/{class}/sessions/{sid}"), &token, Some("\"v1\"".into()), None).await;
        }
    }
}

/// Member of commune B, through `/sync/push`: batches of new trainees with their
/// enrollments (records of two tables in one transaction), and edits.
async fn push_writer(client: Arc<Client>, token: String, class: String, rounds: usize) {
    let op = |kind: &str, id: &str, base: Option<i64>, body: Value| {
        let mut o = json!({"op_id": uuid(), "type": kind, "action": "upsert", "id": id, "body": body});
        if let Some(b) = base {
            o["base_version"] = json!(b);
        }
        o
    };
    for i in 0..rounds {
        let mut ops = Vec::new();
        for j in 0..4 {
            let t = uuid();
            let mut body = new_trainee(QN_NGHIA_LO, &format!("Học viên B{i}.{j}"));
            body.as_object_mut().unwrap().remove("id");
            ops.push(op("trainee", &t, None, body));
            ops.push(op("enrollment", &uuid(), None, json!({"class_id": class, "trainee_id": t})));
            if j == 0 {
                ops.push(op("trainee", &t, Some(1), json!({"phone": "0912345678"})));
            }
        }
        let n = ops.len();
        let r = client.ok("POST", "/api/v1/sync/push", &token, None, Some(json!({"device_id": "phone-b", "operations": ops}))).await;
        assert_eq!(r["applied"], n, "{r}");
    }
}

/// A province officer: moves trainees between the two communes and back, deletes trainees
/// without enrollments, adds and deletes hamlets.
async fn mover(client: Arc<Client>, token: String, rounds: usize) {
    for i in 0..rounds {
        let from = if i % 2 == 0 { QN_CAM_THANH } else { QN_NGHIA_LO };
        let to = if i % 2 == 0 { QN_NGHIA_LO } else { QN_CAM_THANH };
        let t = client.ok("POST", "/api/v1/trainees", &token, None, Some(new_trainee(from, &format!("Người chuyển {i}")))).await;
        let tid = t["id"].as_str().unwrap().to_owned();
        let moved = client.ok("PATCH", &format!("/api/v1/trainees/{tid}"), &token, tag(&t), Some(json!({"commune_code": to}))).await;
        if i % 4 == 1 {
            client.ok("DELETE", &format!("/api/v1/trainees/{tid}"), &token, tag(&moved), None).await;
        } else if i % 4 == 2 {
            // And back again.
            client.ok("PATCH", &format!("/api/v1/trainees/{tid}"), &token, tag(&moved), Some(json!({"commune_code": from}))).await;
        }
        let h = client
            .ok(
                "POST",
                &format!("/api/v1/units/{from}/hamlets"),
                &token,
                None,
                Some(json!({"name": format!("Thôn {i}"), "kind": "village"})),
            )
            .await;
        if i % 2 == 0 {
            client.ok("DELETE", &format!("/api/v1/hamlets/{}", h["id"].as_str().unwrap()), &token, tag(&h), None).await;
        }
    }
}

#[actix_web::test]
async fn followers_end_with_exactly_the_servers_records() {
    let db = TestDb::new();
    let state = hocvuso::server::bootstrap(test_config(&db)).unwrap();
    let st = state.clone();
    let server = HttpServer::new(move || hocvuso::server::build(st.clone())).workers(2).bind(("127.0.0.1", 0)).unwrap();
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    let client = Arc::new(Client { http: reqwest::Client::new(), base: format!("http://{addr}") });

    // Accounts, teams and a class in each commune.
    let login = |u: &'static str, p: String| {
        let c = client.clone();
        async move {
            let r = c.http.post(format!("{}/api/v1/auth/login", c.base)).json(&json!({"username": u, "password": p})).send().await.unwrap();
            r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let admin = login("admin", ADMIN_PASSWORD.to_owned()).await;
    let user = |name: &'static str, role: &'static str, kind: &'static str, code: Option<&'static str>| {
        let (c, admin) = (client.clone(), admin.clone());
        async move {
            c.ok(
                "POST",
                "/api/v1/users",
                &admin,
                None,
                Some(json!({"username": name, "full_name": name, "role": role, "scope_kind": kind, "scope_code": code,
                            "password": user_password(name)})),
            )
            .await;
        }
    };
    user("officer.a", "officer", "commune", Some(QN_CAM_THANH)).await;
    user("member.a", "team_member", "commune", Some(QN_CAM_THANH)).await;
    user("member.b", "team_member", "commune", Some(QN_NGHIA_LO)).await;
    user("officer.qn", "officer", "province", Some(QN)).await;
    let officer_a = login("officer.a", user_password("officer.a")).await;
    let member_a = login("member.a", user_password("member.a")).await;
    let member_b = login("member.b", user_password("member.b")).await;
    let province = login("officer.qn", user_password("officer.qn")).await;
    let mut classes = Vec::new();
    for (commune, name) in [(QN_CAM_THANH, "Tổ A"), (QN_NGHIA_LO, "Tổ B")] {
        let team = client
            .ok(
                "POST",
                "/api/v1/teams",
                &province,
                None,
                Some(json!({"commune_code": commune, "name": name, "kind": "other", "level": "commune"})),
            )
            .await;
        let class = client.ok("POST", "/api/v1/classes", &province, None, Some(new_class(commune, team["id"].as_str().unwrap()))).await;
        classes.push(class["id"].as_str().unwrap().to_owned());
    }

    // Followers start from nothing (a snapshot, then deltas) while the writers run.
    let done = Arc::new(AtomicBool::new(false));
    let scopes = [officer_a.clone(), member_b.clone(), province.clone(), admin.clone()];
    let followers: Vec<Vec<_>> =
        scopes.iter().map(|t| (0..3).map(|_| actix_web::rt::spawn(follow(client.clone(), t.clone(), done.clone()))).collect()).collect();
    let rounds = if db.is_postgres() { 40 } else { 60 };
    let writers = vec![
        actix_web::rt::spawn(rest_writer(client.clone(), member_a.clone(), classes[0].clone(), rounds)),
        actix_web::rt::spawn(push_writer(client.clone(), member_b.clone(), classes[1].clone(), rounds)),
        actix_web::rt::spawn(mover(client.clone(), province.clone(), rounds)),
    ];
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let mut replicas: Vec<Vec<Replica>> = Vec::new();
    for group in followers {
        let mut r = Vec::new();
        for f in group {
            r.push(f.await.unwrap());
        }
        replicas.push(r);
    }

    let names = ["commune A", "commune B", "province", "country"];
    for ((name, token), group) in names.iter().zip(&scopes).zip(&replicas) {
        let truth = snapshot(&client, token).await;
        for replica in group {
            let missing: Vec<_> =
                truth.iter().filter(|(k, v)| replica.get(*k) != Some(*v)).map(|(k, v)| (k, v.0, replica.get(k).map(|r| r.0))).collect();
            let extra: Vec<_> = replica.keys().filter(|k| !truth.contains_key(*k)).collect();
            assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: the follower's replica differs from the server (held {} records, server {}):\n  missing or stale (key, server version, replica version): {missing:?}\n  extra: {extra:?}",
            replica.len(),
            truth.len()
        );
            assert!(truth.len() > 20, "{name}: the scenario wrote too little ({} records)", truth.len());
        }
    }
    handle.stop(true).await;
}

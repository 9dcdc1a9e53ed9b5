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
        // As a phone does: the pull names its device (recorded while writers write).
        let url = format!("{}{path}", client.base);
        let res = client.http.get(url).bearer_auth(&token).header("X-Device-Id", "follower").send().await.unwrap();
        let status = res.status().as_u16();
        let page: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{path}: {page}");
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

/// A team member through `/sync/push` from phone `device`: batches of new trainees of
/// `commune` with their enrollments (records of two tables in one transaction), and edits.
async fn push_writer(client: Arc<Client>, token: String, class: String, commune: &'static str, device: String, rounds: usize) {
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
            let mut body = new_trainee(commune, &format!("Học viên {device} {i}.{j}"));
            body.as_object_mut().unwrap().remove("id");
            ops.push(op("trainee", &t, None, body));
            ops.push(op("enrollment", &uuid(), None, json!({"class_id": class, "trainee_id": t})));
            if j == 0 {
                ops.push(op("trainee", &t, Some(1), json!({"phone": "0912345678"})));
            }
        }
        let n = ops.len();
        let r = client.ok("POST", "/api/v1/sync/push", &token, None, Some(json!({"device_id": device, "operations": ops}))).await;
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

/// A real server (two workers, TCP) on `db`: its state, a client and the server's handle.
fn serve(db: &TestDb) -> (actix_web::web::Data<hocvuso::http::state::AppState>, Arc<Client>, actix_web::dev::ServerHandle) {
    let state = hocvuso::server::bootstrap(test_config(db)).unwrap();
    let st = state.clone();
    let server = HttpServer::new(move || hocvuso::server::build(st.clone())).workers(2).bind(("127.0.0.1", 0)).unwrap();
    let addr = server.addrs()[0];
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(running);
    (state, Arc::new(Client { http: reqwest::Client::new(), base: format!("http://{addr}") }), handle)
}

#[actix_web::test]
async fn followers_end_with_exactly_the_servers_records() {
    let db = TestDb::new();
    let (_state, client, handle) = serve(&db);

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
        actix_web::rt::spawn(push_writer(client.clone(), member_b.clone(), classes[1].clone(), QN_NGHIA_LO, "phone-b".into(), rounds)),
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

impl Client {
    async fn login(&self, username: &str, password: &str) -> String {
        let r = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates an account (by `admin`) and signs it in.
    async fn account(&self, admin: &str, name: &str, role: &str, kind: &str, code: &str) -> String {
        let body = json!({"username": name, "full_name": name, "role": role, "scope_kind": kind, "scope_code": code,
                          "password": user_password(name)});
        self.ok("POST", "/api/v1/users", admin, None, Some(body)).await;
        self.login(name, &user_password(name)).await
    }

    /// Like [`Client::call`], sending the request again while the answer is 503 (two writers
    /// that waited for each other: PostgreSQL failed one), as a phone does.
    async fn retrying(&self, method: &str, path: &str, token: &str, if_match: Option<String>, body: Option<Value>) -> (u16, Value) {
        loop {
            let url = format!("{}{path}", self.base);
            let mut r = match method {
                "PATCH" => self.http.patch(url),
                _ => self.http.post(url),
            }
            .bearer_auth(token);
            if let Some(tag) = &if_match {
                r = r.header("If-Match", tag);
            }
            if let Some(b) = &body {
                r = r.json(b);
            }
            let res = r.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if status == 503 {
                assert_eq!(body["code"], "service_unavailable", "{body}");
                continue;
            }
            assert!(status < 500, "{method} {path}: {status} {body}");
            return (status, body);
        }
    }
}

/// Edits one trainee again and again, each time at the version it just read, through REST
/// (`If-Match`) or `/sync/push` (`base_version`), while others do the same: returns the
/// versions its edits were given. Every edit that went through must have a version of its
/// own (no lost update).
async fn contender(client: Arc<Client>, token: String, trainee: String, by_push: bool, rounds: usize) -> Vec<i64> {
    let mut won = Vec::new();
    for i in 0..rounds {
        let t = client.ok("GET", &format!("/api/v1/trainees/{trainee}"), &token, None, None).await;
        let version = t["version"].as_i64().unwrap();
        let phone = format!("09{:08}", (rand::random::<u32>() % 100_000_000) + i as u32 % 2);
        if by_push {
            let op = json!({"op_id": uuid(), "type": "trainee", "action": "upsert", "id": trainee, "base_version": version,
                            "body": {"phone": phone}});
            let (_, r) = client
                .retrying("POST", "/api/v1/sync/push", &token, None, Some(json!({"device_id": "phone-contender", "operations": [op]})))
                .await;
            match r["results"][0]["status"].as_str().unwrap() {
                "applied" => won.push(r["results"][0]["version"].as_i64().unwrap()),
                "conflict" => {}
                other => panic!("push edit: {other}: {r}"),
            }
        } else {
            let (status, r) =
                client.retrying("PATCH", &format!("/api/v1/trainees/{trainee}"), &token, tag(&t), Some(json!({"phone": phone}))).await;
            match status {
                200 => won.push(r["version"].as_i64().unwrap()),
                412 => {}
                other => panic!("PATCH: {other}: {r}"),
            }
        }
    }
    won
}

/// Issue #16: on PostgreSQL writers of different communes no longer wait for each other
/// (each write locks its caller's commune, `store::db::lock_area`, and takes its change
/// numbers only at commit). Four communes write at once: two phones each pushing batches,
/// several editors racing on one trainee through REST and push, and a trainee of one commune
/// enrolled in a class of another while both sides change what the enrollment counts under
/// (the class's team, the person's age). Afterwards: every accepted edit has a version of its
/// own, the statistics counters equal a rebuild from the records, and followers of two
/// communes and of the province hold exactly the server's records.
#[actix_web::test]
async fn communes_write_in_parallel_and_nothing_is_lost() {
    const COMMUNES: [&str; 4] = [QN_CAM_THANH, QN_NGHIA_LO, "21034", "21040"];
    let db = TestDb::new();
    let (state, client, handle) = serve(&db);

    let admin = client.login("admin", ADMIN_PASSWORD).await;
    let province = client.account(&admin, "officer.qn", "officer", "province", QN).await;
    let mut members = Vec::new();
    let mut classes = Vec::new();
    let mut teams = Vec::new();
    for (i, commune) in COMMUNES.iter().enumerate() {
        members.push(client.account(&admin, &format!("member.{i}"), "team_member", "commune", commune).await);
        let team = json!({"commune_code": commune, "name": format!("Tổ {i}"), "kind": "other", "level": "commune"});
        let team = client.ok("POST", "/api/v1/teams", &province, None, Some(team)).await["id"].as_str().unwrap().to_owned();
        let class = client.ok("POST", "/api/v1/classes", &province, None, Some(new_class(commune, &team))).await;
        classes.push(class["id"].as_str().unwrap().to_owned());
        teams.push(team);
    }
    let other_team = json!({"commune_code": COMMUNES[0], "name": "Tổ 0 bis", "kind": "other", "level": "commune"});
    let other_team = client.ok("POST", "/api/v1/teams", &province, None, Some(other_team)).await["id"].as_str().unwrap().to_owned();
    // A person of the second commune in a class of the first: only a scope that holds both
    // may link them.
    let linked = client.ok("POST", "/api/v1/trainees", &province, None, Some(new_trainee(COMMUNES[1], "Người ở xã bên"))).await;
    let linked_id = linked["id"].as_str().unwrap().to_owned();
    client
        .ok("POST", &format!("/api/v1/classes/{}/enrollments", classes[0]), &province, None, Some(json!({"trainee_id": linked_id})))
        .await;
    let shared = client.ok("POST", "/api/v1/trainees", &members[0], None, Some(new_trainee(COMMUNES[0], "Người ai cũng sửa"))).await;
    let shared_id = shared["id"].as_str().unwrap().to_owned();

    let done = Arc::new(AtomicBool::new(false));
    let scopes = [members[0].clone(), members[1].clone(), province.clone()];
    let followers: Vec<Vec<_>> =
        scopes.iter().map(|t| (0..2).map(|_| actix_web::rt::spawn(follow(client.clone(), t.clone(), done.clone()))).collect()).collect();
    let rounds = if db.is_postgres() { 12 } else { 10 };
    let mut writers = Vec::new();
    for (i, commune) in COMMUNES.iter().enumerate() {
        for k in 0..2 {
            let device = format!("phone-{i}-{k}");
            writers.push(actix_web::rt::spawn(push_writer(
                client.clone(),
                members[i].clone(),
                classes[i].clone(),
                commune,
                device,
                rounds,
            )));
        }
    }
    let contenders: Vec<_> = (0..4)
        .map(|k| actix_web::rt::spawn(contender(client.clone(), members[0].clone(), shared_id.clone(), k % 2 == 1, rounds * 2)))
        .collect();
    // The class side of the link: its team changes what its enrollments count under.
    let class_side = {
        let (client, token, class, teams) = (client.clone(), members[0].clone(), classes[0].clone(), [teams[0].clone(), other_team]);
        actix_web::rt::spawn(async move {
            for i in 0..rounds * 2 {
                let c = client.ok("GET", &format!("/api/v1/classes/{class}"), &token, None, None).await;
                let body = json!({"team_id": teams[(i + 1) % 2]});
                let (status, r) = client.retrying("PATCH", &format!("/api/v1/classes/{class}"), &token, tag(&c), Some(body)).await;
                assert_eq!(status, 200, "{r}");
            }
        })
    };
    // The person side: the age band changes what the enrollment counts under.
    let person_side = {
        let (client, token, id) = (client.clone(), members[1].clone(), linked_id.clone());
        actix_web::rt::spawn(async move {
            for i in 0..rounds * 2 {
                let t = client.ok("GET", &format!("/api/v1/trainees/{id}"), &token, None, None).await;
                let body = json!({"birth_year": if i % 2 == 0 { 1950 } else { 1990 }});
                let (status, r) = client.retrying("PATCH", &format!("/api/v1/trainees/{id}"), &token, tag(&t), Some(body)).await;
                assert_eq!(status, 200, "{r}");
            }
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    class_side.await.unwrap();
    person_side.await.unwrap();
    let mut won: Vec<i64> = Vec::new();
    for c in contenders {
        won.extend(c.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);

    // No lost update: the accepted edits got the versions 2, 3, … one each, and the record
    // is at the last of them.
    won.sort_unstable();
    let expected: Vec<i64> = (2..won.len() as i64 + 2).collect();
    assert_eq!(won, expected, "versions given to accepted edits of one record");
    assert!(won.len() >= rounds, "too few edits went through ({})", won.len());
    let now = client.ok("GET", &format!("/api/v1/trainees/{shared_id}"), &members[0], None, None).await;
    assert_eq!(now["version"].as_i64().unwrap(), won.len() as i64 + 1);

    // The counters are exactly what a rebuild from the records gives.
    let diffs = {
        let mut conn = state.db.get().unwrap();
        hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap()
    };
    assert!(diffs.is_empty(), "counters differ from the records after parallel writers: {diffs:#?}");

    let names = ["first commune", "second commune", "province"];
    for ((name, token), group) in names.iter().zip(&scopes).zip(followers) {
        let truth = snapshot(&client, token).await;
        for f in group {
            let replica = f.await.unwrap();
            let differ: Vec<_> = truth.iter().filter(|(k, v)| replica.get(*k) != Some(*v)).map(|(k, _)| k).collect();
            let extra: Vec<_> = replica.keys().filter(|k| !truth.contains_key(*k)).collect();
            assert!(differ.is_empty() && extra.is_empty(), "{name}: follower differs: missing or stale {differ:?}, extra {extra:?}");
            assert!(truth.len() > 20, "{name}: the scenario wrote too little ({} records)", truth.len());
        }
    }
    handle.stop(true).await;
}

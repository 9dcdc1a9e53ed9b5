//! A simulated phone runs the offline day of docs/SYNC.md end to end: it keeps a local
//! copy and an outbox, works offline, loses a push response, retries, meets a conflict,
//! reports it, and converges with the server after a pull.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use serde_json::{json, Value};

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The phone: a local store (type, id) → (version, body), an outbox and a feed cursor.
struct Phone {
    token: String,
    device: String,
    store: HashMap<(String, String), (i64, Value)>,
    outbox: Vec<Value>,
    cursor: Option<String>,
    conflicts: Vec<Value>,
    rejected: Vec<Value>,
}

impl Phone {
    fn new(token: String, device: &str) -> Self {
        Phone { token, device: device.into(), store: HashMap::new(), outbox: vec![], cursor: None, conflicts: vec![], rejected: vec![] }
    }

    fn version(&self, kind: &str, id: &str) -> Option<i64> {
        self.store.get(&(kind.to_owned(), id.to_owned())).map(|(v, _)| *v)
    }

    /// Records an operation offline (and applies it to the local copy optimistically).
    fn record(&mut self, kind: &str, action: &str, id: &str, base_version: Option<i64>, body: Value) {
        let mut op = json!({"op_id": uuid(), "type": kind, "action": action, "id": id, "body": body});
        if let Some(b) = base_version {
            op["base_version"] = json!(b);
        }
        self.outbox.push(op);
    }
}

async fn push<A: Caller>(app: &A, phone: &mut Phone, lose_response: bool) -> Value {
    let oldest = "2026-12-01T01:30:00Z";
    let r = app
        .send(
            auth(TestRequest::post().uri("/api/v1/sync/push"), Some(&phone.token))
                .insert_header(("X-App-Version", "1.4.2"))
                .insert_header(("X-Outbox-Depth", phone.outbox.len().to_string()))
                .insert_header(("X-Oldest-Unsynced", oldest))
                .set_json(json!({"device_id": phone.device, "operations": phone.outbox})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    if lose_response {
        // The answer never reaches the phone: the outbox stays as it was.
        return r.body;
    }
    let sent = std::mem::take(&mut phone.outbox);
    for (op, res) in sent.into_iter().zip(r.body["results"].as_array().unwrap()) {
        let kind = op["type"].as_str().unwrap().to_owned();
        let id = op["id"].as_str().unwrap().to_owned();
        match res["status"].as_str().unwrap() {
            "applied" | "duplicate" => {
                let v = res["version"].as_i64().unwrap();
                phone.store.insert((kind, id), (v, op["body"].clone()));
            }
            "conflict" => phone.conflicts.push(json!({"op": op, "result": res})),
            _ => phone.rejected.push(json!({"op": op, "result": res})),
        }
    }
    r.body
}

async fn pull<A: Caller>(app: &A, phone: &mut Phone) {
    loop {
        let uri = match &phone.cursor {
            Some(c) => format!("/api/v1/sync/changes?cursor={c}"),
            None => "/api/v1/sync/changes".to_owned(),
        };
        let r =
            app.send(auth(TestRequest::get().uri(&uri), Some(&phone.token)).insert_header(("X-Device-Id", phone.device.as_str()))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for c in r.body["changes"].as_array().unwrap() {
            let key = (c["type"].as_str().unwrap().to_owned(), c["id"].as_str().unwrap().to_owned());
            if c["deleted"] == true || c["removed"] == true {
                phone.store.remove(&key);
            } else {
                phone.store.insert(key, (c["version"].as_i64().unwrap(), c["body"].clone()));
            }
        }
        phone.cursor = Some(r.body["next_cursor"].as_str().unwrap().to_owned());
        if r.body["has_more"] == false {
            break;
        }
    }
}

#[allow(async_fn_in_trait)]
trait Caller {
    async fn send(&self, req: TestRequest) -> Resp;
}

impl<S, B> Caller for TestApp<S>
where
    S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    async fn send(&self, req: TestRequest) -> Resp {
        self.call(req).await
    }
}

#[actix_web::test]
async fn the_offline_day_of_the_sync_guide() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (_, member) = app.user_with_token(&admin, "ct.lan", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let team = app
        .post(
            "/api/v1/teams",
            Some(&officer),
            json!({"commune_code": QN_CAM_THANH, "name": "Tổ công nghệ số thôn An Phú", "kind": "other", "level": "commune"}),
        )
        .await;
    let team = team.body["id"].as_str().unwrap().to_owned();
    // A trainee recorded earlier (version 1), whom the phone will edit offline.
    let known = app
        .post(
            "/api/v1/trainees",
            Some(&officer),
            json!({"commune_code": QN_CAM_THANH, "full_name": "Đinh Văn Hùng", "gender": "male", "birth_year": 1958,
                   "consent": {"basic": true, "method": "paper"}}),
        )
        .await;
    let known = known.body["id"].as_str().unwrap().to_owned();

    // Morning, in coverage: the phone pulls its snapshot.
    let mut phone = Phone::new(member, "android-7f3a");
    pull(&app, &mut phone).await;
    assert_eq!(phone.version("team", &team), Some(1));
    assert_eq!(phone.version("trainee", &known), Some(1));

    // In the village, offline: a class, its first session, five trainees enrolled,
    // attendance, and a new phone number for the trainee it already knew.
    let class = uuid();
    let session = uuid();
    phone.record(
        "class",
        "upsert",
        &class,
        None,
        json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "Cài đặt VNeID mức 2", "topic_ids": ["vneid_e_identity"],
               "mode": "in_person", "language": "vi", "start_date": "2026-12-01", "end_date": "2026-12-15", "planned_sessions": 2}),
    );
    phone.record("class_session", "upsert", &session, None, json!({"class_id": class, "held_on": "2026-12-01", "duration_minutes": 90}));
    let mut trainees = vec![];
    for (i, name) in ["Đinh Thị Lan", "Hồ Văn Sáu", "Đinh Thị Bảy", "Phạm Văn Tám", "Hồ Thị Chín"].iter().enumerate() {
        let t = uuid();
        phone.record(
            "trainee",
            "upsert",
            &t,
            None,
            json!({"commune_code": QN_CAM_THANH, "full_name": name, "gender": if i % 2 == 0 { "female" } else { "male" },
                   "birth_year": 1960 + i as i32, "consent": {"basic": true, "method": "paper"}}),
        );
        phone.record("enrollment", "upsert", &uuid(), None, json!({"class_id": class, "trainee_id": t}));
        trainees.push(t);
    }
    phone.record("attendance", "upsert", &session, Some(0), json!({"present": trainees[..4]}));
    phone.record("trainee", "upsert", &known, Some(1), json!({"phone": "0905 111 222"}));

    // Meanwhile the officer corrects the same trainee's phone at the commune office.
    let edit = app.patch(&format!("/api/v1/trainees/{known}"), Some(&officer), Some("\"v1\""), json!({"phone": "0905 333 444"})).await;
    assert_eq!(edit.status, StatusCode::OK);

    // Back in coverage: the push goes through but its response is lost.
    let lost = push(&app, &mut phone, true).await;
    assert_eq!(lost["applied"], 13);
    assert_eq!(lost["conflicts"], 1);
    assert_eq!(phone.outbox.len(), 14);

    // The phone retries the same outbox: nothing is applied twice.
    let retry = push(&app, &mut phone, false).await;
    assert_eq!((retry["duplicates"].as_i64(), retry["conflicts"].as_i64(), retry["applied"].as_i64()), (Some(13), Some(1), Some(0)));
    assert!(phone.outbox.is_empty());
    assert!(phone.rejected.is_empty(), "{:?}", phone.rejected);
    assert_eq!(phone.conflicts.len(), 1);
    let conflict = phone.conflicts[0].clone();
    assert_eq!(conflict["result"]["current"]["phone"], "0905333444");
    assert_eq!(conflict["result"]["differing_fields"], json!(["phone"]));

    // The member cannot tell which number is right: the conflict goes to the officer.
    let report = app
        .post(
            "/api/v1/sync/conflicts",
            Some(&phone.token),
            json!({"device_id": phone.device, "type": "trainee", "record_id": known, "base_version": 1,
                   "body": conflict["op"]["body"], "note": "Ông Hùng đọc số mới tại lớp"}),
        )
        .await;
    assert_eq!(report.status, StatusCode::CREATED, "{}", report.body);
    let cid = report.body["id"].as_str().unwrap();
    let resolved = app
        .post(&format!("/api/v1/sync/conflicts/{cid}/resolve"), Some(&officer), json!({"decision": "apply_device", "note": "Đã gọi lại"}))
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);

    // The next pull brings the phone level with the server.
    pull(&app, &mut phone).await;
    assert_eq!(phone.version("trainee", &known), Some(3));
    assert_eq!(phone.store[&("trainee".to_owned(), known.clone())].1["phone"], "0905111222");
    assert_eq!(phone.version("class", &class), Some(1));
    assert_eq!(phone.version("attendance", &session), Some(1));
    assert_eq!(phone.store[&("attendance".to_owned(), session.clone())].1["present"].as_array().unwrap().len(), 4);
    let enrolled = phone.store.keys().filter(|(k, _)| k == "enrollment").count();
    assert_eq!(enrolled, 5);
    let server = app.get(&format!("/api/v1/classes/{class}/enrollments"), Some(&officer)).await;
    assert_eq!(server.body["items"].as_array().unwrap().len(), 5);
    // The officer sees the device: one push of 14 operations with 1 not applied.
    let devices = app.get("/api/v1/sync/devices", Some(&officer)).await;
    let d = devices.body["items"].as_array().unwrap().iter().find(|d| d["device_id"] == "android-7f3a").unwrap().clone();
    assert_eq!((d["last_operations"].as_i64(), d["last_rejects"].as_i64()), (Some(14), Some(1)));
    assert_eq!(d["outbox_depth"], Value::Null, "the last pull reported no outbox");
}

/// Everything the phone holds, as text (to look for a value anywhere in it).
fn everything(phone: &Phone) -> String {
    phone.store.values().map(|(_, b)| b.to_string()).collect::<Vec<_>>().join("\n")
}

#[actix_web::test]
async fn the_phone_follows_moves_deleted_sessions_and_erasure() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (_, member) = app.user_with_token(&admin, "ct.lan", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let team = app
        .post("/api/v1/teams", Some(&officer), json!({"commune_code": QN_CAM_THANH, "name": "Tổ A", "kind": "other", "level": "commune"}))
        .await;
    let team = team.body["id"].as_str().unwrap().to_owned();
    let class = app
        .post(
            "/api/v1/classes",
            Some(&member),
            json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "VNeID", "topic_ids": ["vneid_e_identity"], "mode": "in_person",
                   "language": "vi", "start_date": "2026-11-02", "end_date": "2026-11-30", "planned_sessions": 2}),
        )
        .await;
    let class = class.body["id"].as_str().unwrap().to_owned();
    let trainee = |name: &str, phone_no: &str| {
        json!({"commune_code": QN_CAM_THANH, "full_name": name, "gender": "female", "birth_year": 1957, "phone": phone_no,
               "consent": {"basic": true, "method": "paper"}})
    };
    let x =
        app.post("/api/v1/trainees", Some(&member), trainee("Đinh Thị Xuân", "0905 777 888")).await.body["id"].as_str().unwrap().to_owned();
    let y =
        app.post("/api/v1/trainees", Some(&member), trainee("Hồ Văn Yên", "0905 999 000")).await.body["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/classes/{class}/enrollments"), Some(&member), json!({"trainee_id": x})).await;
    let session = app
        .post(&format!("/api/v1/classes/{class}/sessions"), Some(&member), json!({"held_on": "2026-11-03", "duration_minutes": 90}))
        .await;
    let session = session.body["id"].as_str().unwrap().to_owned();
    let put = app
        .call(
            auth(TestRequest::put().uri(&format!("/api/v1/classes/{class}/sessions/{session}/attendance")), Some(&member))
                .set_json(json!({"present": [x]})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);

    let mut phone = Phone::new(member.clone(), "android-1");
    pull(&app, &mut phone).await;
    assert_eq!(phone.version("attendance", &session), Some(1));
    assert!(everything(&phone).contains("Đinh Thị Xuân"));

    // The session is deleted: its attendance list goes with it.
    let del = app.req("DELETE", &format!("/api/v1/classes/{class}/sessions/{session}"), &officer, Some("\"v1\""), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.body);
    // Y moves to Nghĩa Lộ: the phone is told to drop Y (the real type, the version after the move).
    let moved =
        app.req("PATCH", &format!("/api/v1/trainees/{y}"), &admin, Some("\"v1\""), Some(json!({"commune_code": QN_NGHIA_LO}))).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let before = phone.cursor.clone().unwrap();
    let delta = app.get(&format!("/api/v1/sync/changes?cursor={before}"), Some(&member)).await;
    let removal = delta.body["changes"].as_array().unwrap().iter().find(|c| c["removed"] == true).unwrap().clone();
    assert_eq!((removal["type"].clone(), removal["id"].clone(), removal["version"].clone()), (json!("trainee"), json!(y), json!(2)));
    pull(&app, &mut phone).await;
    assert_eq!(phone.version("attendance", &session), None, "the deleted session's attendance list is gone");
    assert_eq!(phone.version("class_session", &session), None);
    assert_eq!(phone.version("trainee", &y), None, "the trainee who moved away is gone");

    // X is erased: no copy of the name or the phone number stays on the phone (the
    // enrollment that showed the name is sent again), nor in any page from any cursor.
    let erased = app.post(&format!("/api/v1/trainees/{x}/erase"), Some(&officer), json!({})).await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);
    pull(&app, &mut phone).await;
    let held = everything(&phone);
    assert!(!held.contains("Xuân") && !held.contains("0905777888"), "erased data left on the phone: {held}");
    for cursor in [None, Some(before)] {
        let uri = match cursor {
            Some(c) => format!("/api/v1/sync/changes?cursor={c}"),
            None => "/api/v1/sync/changes".to_owned(),
        };
        let page = app.get(&uri, Some(&member)).await;
        assert!(!page.raw.windows("Xuân".len()).any(|w| w == "Xuân".as_bytes()), "{}", page.body);
    }

    // The phone holds exactly what a fresh snapshot holds.
    let mut fresh = Phone::new(member, "android-2");
    pull(&app, &mut fresh).await;
    assert_eq!(phone.store, fresh.store);
}

//! The batch push (`POST /sync/push`): per-operation results, replays, lost responses,
//! conflicts (two devices, delete against edit), scope, malformed items, dependencies,
//! concurrent pushers, device records, and the officers' conflict queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use diesel::prelude::*;
use hocvuso::store::schema::access_log;
use serde_json::{json, Value};

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn id_of(r: &Resp) -> String {
    r.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", r.body)).to_owned()
}

fn statuses(r: &Resp) -> Vec<String> {
    r.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {}", r.body))
        .iter()
        .map(|x| x["status"].as_str().unwrap().to_owned())
        .collect()
}

fn op(kind: &str, action: &str, id: &str, base: Option<i64>, body: Value) -> Value {
    let mut o = json!({"op_id": uuid(), "type": kind, "action": action, "id": id, "body": body});
    if let Some(b) = base {
        o["base_version"] = json!(b);
    }
    o
}

fn new_trainee(id: &str, name: &str, commune: &str) -> Value {
    op(
        "trainee",
        "upsert",
        id,
        None,
        json!({"commune_code": commune, "full_name": name, "gender": "female", "birth_year": 1970,
               "consent": {"basic": true, "method": "paper"}}),
    )
}

fn new_class(id: &str, team: &str) -> Value {
    op(
        "class",
        "upsert",
        id,
        None,
        json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "Cài đặt VNeID", "topic_ids": ["vneid_e_identity"],
               "mode": "in_person", "language": "vi", "start_date": "2026-01-05", "end_date": "2026-02-05", "planned_sessions": 2}),
    )
}

fn count(conn: &mut hocvuso::store::db::AnyConnection, table: &str) -> i64 {
    sql_count(conn, &format!("SELECT COUNT(*) AS n FROM {table}"))
}

fn counter(conn: &mut hocvuso::store::db::AnyConnection) -> i64 {
    use hocvuso::store::schema::change_counter::dsl::*;
    change_counter.filter(id.eq(1)).select(value).first(conn).unwrap()
}

struct Fx {
    officer: String,
    member: String,
    member2: String,
    team: String,
}

async fn setup<A: App + Accounts>(app: &A) -> Fx {
    let admin = app.admin().await;
    let officer = app.user(&admin, "ct.officer", "officer", Some(QN_CAM_THANH)).await;
    let member = app.user(&admin, "ct.member", "team_member", Some(QN_CAM_THANH)).await;
    let member2 = app.user(&admin, "ct.member2", "team_member", Some(QN_CAM_THANH)).await;
    let team = app
        .req(
            "POST",
            "/api/v1/teams",
            &officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "name": "Tổ công nghệ số thôn 1", "kind": "other", "level": "commune"})),
        )
        .await;
    assert_eq!(team.status, StatusCode::CREATED, "{}", team.body);
    Fx { officer, member, member2, team: id_of(&team) }
}

/// Account helpers on top of `App` (free functions cannot name `TestApp`'s service type).
#[allow(async_fn_in_trait)]
trait Accounts {
    async fn admin(&self) -> String;
    async fn user(&self, admin: &str, username: &str, role: &str, commune: Option<&str>) -> String;
    async fn push(&self, token: &str, device: &str, ops: Vec<Value>) -> Resp;
}

impl<S, B> Accounts for TestApp<S>
where
    S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    async fn admin(&self) -> String {
        self.admin_token().await
    }
    async fn user(&self, admin: &str, username: &str, role: &str, commune: Option<&str>) -> String {
        let kind = if commune.is_some() { "commune" } else { "country" };
        self.user_with_token(admin, username, role, kind, commune).await.1
    }
    async fn push(&self, token: &str, device: &str, ops: Vec<Value>) -> Resp {
        let r = self
            .call(
                auth(TestRequest::post().uri("/api/v1/sync/push"), Some(token))
                    .insert_header(("X-App-Version", "1.4.2"))
                    .set_json(json!({"device_id": device, "operations": ops})),
            )
            .await;
        r
    }
}

/// A class, a session, five trainees enrolled, attendance and one completion.
fn offline_day(team: &str) -> (Vec<Value>, Vec<String>) {
    let class = uuid();
    let session = uuid();
    let mut ops = vec![
        new_class(&class, team),
        op("class_session", "upsert", &session, None, json!({"class_id": class, "held_on": "2026-01-06", "duration_minutes": 90})),
    ];
    let mut trainees = Vec::new();
    let mut enrollments = Vec::new();
    for i in 0..5 {
        let t = uuid();
        let e = uuid();
        ops.push(new_trainee(&t, &format!("Đinh Văn {i}"), QN_CAM_THANH));
        ops.push(op("enrollment", "upsert", &e, None, json!({"class_id": class, "trainee_id": t})));
        trainees.push(t);
        enrollments.push(e);
    }
    ops.push(op("attendance", "upsert", &session, Some(0), json!({"present": trainees})));
    ops.push(op(
        "completion",
        "upsert",
        &enrollments[0],
        None,
        json!({"result": "passed", "evidence": "in_class_assessment", "completed_on": "2026-01-06"}),
    ));
    let mut ids = vec![class, session];
    ids.extend(trainees);
    ids.extend(enrollments);
    (ops, ids)
}

#[actix_web::test]
async fn a_whole_batch_replayed_three_times_changes_nothing_after_the_first() {
    let app = app().await;
    let fx = setup(&app).await;
    let (ops, _) = offline_day(&fx.team);
    let first = app.push(&fx.member, "android-1", ops.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(statuses(&first).iter().all(|s| s == "applied"), "{}", first.body);
    assert_eq!(first.body["applied"], 14);
    let mut conn = app.conn();
    let before: Vec<i64> = ["trainees", "enrollments", "classes", "class_sessions", "attendance_marks", "audit_log", "sync_ops"]
        .iter()
        .map(|t| count(&mut conn, t))
        .collect();
    let seq_before = counter(&mut conn);
    assert_eq!(&before[..5], &[5, 5, 1, 1, 5]);
    for _ in 0..2 {
        let again = app.push(&fx.member, "android-1", ops.clone()).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(statuses(&again).iter().all(|s| s == "duplicate"), "{}", again.body);
        assert_eq!(again.body["duplicates"], 14);
        // The same result as the first time: type, id and version of each operation.
        for (a, b) in first.body["results"].as_array().unwrap().iter().zip(again.body["results"].as_array().unwrap()) {
            for k in ["index", "op_id", "type", "id", "version"] {
                assert_eq!(a[k], b[k], "{k}");
            }
        }
    }
    let after: Vec<i64> = ["trainees", "enrollments", "classes", "class_sessions", "attendance_marks", "audit_log", "sync_ops"]
        .iter()
        .map(|t| count(&mut conn, t))
        .collect();
    assert_eq!(before, after);
    assert_eq!(seq_before, counter(&mut conn));
}

#[actix_web::test]
async fn a_lost_response_resent_with_one_more_operation() {
    let app = app().await;
    let fx = setup(&app).await;
    let (mut ops, ids) = offline_day(&fx.team);
    let first = app.push(&fx.member, "android-1", ops.clone()).await;
    assert_eq!(first.body["applied"], 14, "{}", first.body);
    // The phone never saw that answer; meanwhile it recorded one more trainee's phone.
    let t0 = &ids[2];
    ops.push(op("trainee", "upsert", t0, Some(1), json!({"phone": "0912 345 678"})));
    let again = app.push(&fx.member, "android-1", ops).await;
    let s = statuses(&again);
    assert!(s[..14].iter().all(|x| x == "duplicate"), "{s:?}");
    assert_eq!(s[14], "applied");
    assert_eq!(again.body["results"][14]["version"], 2);
    let t = app.get(&format!("/api/v1/trainees/{t0}"), Some(&fx.member)).await;
    assert_eq!(t.body["phone"], "0912345678");
    assert_eq!(count(&mut app.conn(), "trainees"), 5);
}

#[actix_web::test]
async fn two_devices_from_the_same_base_version_one_applied_one_conflict_nothing_lost() {
    let app = app().await;
    let fx = setup(&app).await;
    let t = uuid();
    let r = app.push(&fx.member, "phone-a", vec![new_trainee(&t, "Hồ Thị Mai", QN_CAM_THANH)]).await;
    assert_eq!(statuses(&r), ["applied"]);
    let a = app.push(&fx.member, "phone-a", vec![op("trainee", "upsert", &t, Some(1), json!({"phone": "0912 000 111"}))]).await;
    assert_eq!(statuses(&a), ["applied"], "{}", a.body);
    let b_op = op("trainee", "upsert", &t, Some(1), json!({"phone": "0987 222 333", "occupation": "Nông dân"}));
    let b = app.push(&fx.member2, "phone-b", vec![b_op.clone()]).await;
    assert_eq!(statuses(&b), ["conflict"], "{}", b.body);
    let res = &b.body["results"][0];
    assert_eq!(res["version"], 2);
    assert_eq!(res["deleted"], false);
    assert_eq!(res["current"]["phone"], "0912000111");
    assert_eq!(res["current"]["full_name"], "Hồ Thị Mai");
    assert_eq!(res["differing_fields"], json!(["occupation", "phone"]));
    assert_eq!(b.body["conflicts"], 1);
    // The conflict showed device B the server's record: a read of that person, logged once;
    // the applied operations returned nothing the devices had not sent.
    app.state.access_log.flush(&app.state.db).await.unwrap();
    let reads: Vec<(String, String, Option<String>)> =
        access_log::table.select((access_log::actor_role, access_log::action, access_log::entity_id)).load(&mut app.conn()).unwrap();
    assert_eq!(reads, vec![("team_member".to_owned(), "conflicts".to_owned(), Some(t.clone()))]);
    // Nothing overwritten: the server keeps device A's phone and version 2.
    let now = app.get(&format!("/api/v1/trainees/{t}"), Some(&fx.officer)).await;
    assert_eq!(now.body["phone"], "0912000111");
    assert_eq!(now.body["version"], 2);
    // A conflict is not remembered as applied: the device may re-base and send again.
    let rebased = app.push(&fx.member2, "phone-b", vec![op("trainee", "upsert", &t, Some(2), json!({"occupation": "Nông dân"}))]).await;
    assert_eq!(statuses(&rebased), ["applied"]);

    // Device B cannot decide about the phone number: it reports the conflict to the officers.
    let report = json!({"id": uuid(), "device_id": "phone-b", "type": "trainee", "record_id": t, "base_version": 1,
                        "body": {"phone": "0987 222 333"}, "note": "Người học báo số mới"});
    let mut bad = report.clone();
    bad["device_id"] = json!(" ");
    bad["type"] = json!("spaceship");
    bad["body"] = json!(7);
    let refused = app.req("POST", "/api/v1/sync/conflicts", &fx.member2, None, Some(bad)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> = refused.body["errors"].as_array().unwrap().iter().filter_map(|e| e["code"].as_str()).collect();
    assert_eq!(codes, ["not_an_object", "invalid_device_id", "invalid_choice"]);
    let unknown = json!({"device_id": "phone-b", "type": "trainee", "record_id": uuid(), "body": {}});
    assert_eq!(app.req("POST", "/api/v1/sync/conflicts", &fx.member2, None, Some(unknown)).await.status, StatusCode::NOT_FOUND);
    let posted = app.req("POST", "/api/v1/sync/conflicts", &fx.member2, None, Some(report.clone())).await;
    assert_eq!(posted.status, StatusCode::CREATED, "{}", posted.body);
    assert_eq!(posted.body["status"], "open");
    assert_eq!(posted.body["server_version"], 3);
    assert_eq!(posted.body["commune_code"], QN_CAM_THANH);
    let replay = app.req("POST", "/api/v1/sync/conflicts", &fx.member2, None, Some(report)).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.body["id"], posted.body["id"]);
    let cid = id_of(&posted);

    // A team member sees the reports their own account filed (not another member's); the
    // officer sees the commune's queue, with the record as it is now.
    let mine = app.get("/api/v1/sync/conflicts?device_id=phone-b", Some(&fx.member2)).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert_eq!((mine.body["items"][0]["id"].clone(), mine.body["items"][0]["status"].clone()), (json!(cid), json!("open")));
    assert_eq!(app.get("/api/v1/sync/conflicts?device_id=phone-a", Some(&fx.member2)).await.body["items"], json!([]));
    assert_eq!(app.get("/api/v1/sync/conflicts", Some(&fx.member)).await.body["items"], json!([]));
    let list = app.get("/api/v1/sync/conflicts", Some(&fx.officer)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["current"]["phone"], "0912000111");
    assert_eq!(list.body["items"][0]["device_body"], json!({"phone": "0987 222 333"}));
    let bad = app.req("POST", &format!("/api/v1/sync/conflicts/{cid}/resolve"), &fx.officer, None, Some(json!({"decision": "toss"}))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let member_try =
        app.req("POST", &format!("/api/v1/sync/conflicts/{cid}/resolve"), &fx.member, None, Some(json!({"decision": "keep_server"}))).await;
    assert_eq!(member_try.status, StatusCode::FORBIDDEN);
    let resolved = app
        .req(
            "POST",
            &format!("/api/v1/sync/conflicts/{cid}/resolve"),
            &fx.officer,
            None,
            Some(json!({"decision": "apply_device", "note": "Đã gọi xác nhận"})),
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.body["status"], "resolved");
    assert_eq!(resolved.body["result_version"], 4);
    assert_eq!(resolved.body["current"]["phone"], "0987222333");
    assert_eq!(resolved.body["current"]["occupation"], "Nông dân");
    let twice = app
        .req("POST", &format!("/api/v1/sync/conflicts/{cid}/resolve"), &fx.officer, None, Some(json!({"decision": "keep_server"})))
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(twice.code(), "already_resolved");
    let open = app.get("/api/v1/sync/conflicts", Some(&fx.officer)).await;
    assert_eq!(open.body["items"], json!([]));
    let done = app.get("/api/v1/sync/conflicts?status=resolved", Some(&fx.officer)).await;
    assert_eq!(done.body["items"][0]["decision"], "apply_device");
    // The reporting phone learns the outcome.
    let mine = app.get("/api/v1/sync/conflicts?status=resolved&device_id=phone-b", Some(&fx.member2)).await;
    assert_eq!(
        (mine.body["items"][0]["status"].clone(), mine.body["items"][0]["decision"].clone()),
        (json!("resolved"), json!("apply_device"))
    );
    assert_eq!(app.get("/api/v1/sync/conflicts?status=resolved", Some(&fx.member)).await.body["items"], json!([]));
    // Another commune's officer sees nothing of it.
    let admin = app.admin().await;
    let nl = app.user(&admin, "nl.officer", "officer", Some(QN_NGHIA_LO)).await;
    // Analysts read no person-level data.
    let analyst = app.user(&admin, "an.conflicts", "analyst", None).await;
    assert_eq!(app.get("/api/v1/sync/conflicts", Some(&analyst)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/sync/conflicts?status=resolved", Some(&nl)).await.body["items"], json!([]));
    let foreign =
        app.req("POST", &format!("/api/v1/sync/conflicts/{cid}/resolve"), &nl, None, Some(json!({"decision": "keep_server"}))).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn delete_on_one_device_while_the_other_edits() {
    let app = app().await;
    let fx = setup(&app).await;
    let (t1, t2) = (uuid(), uuid());
    app.push(&fx.member, "a", vec![new_trainee(&t1, "Phạm Văn Một", QN_CAM_THANH), new_trainee(&t2, "Phạm Văn Hai", QN_CAM_THANH)]).await;
    // Delete first, then the edit from the same base: the edit is a conflict with a tombstone.
    let del = app.push(&fx.member, "a", vec![op("trainee", "delete", &t1, Some(1), json!({}))]).await;
    assert_eq!(statuses(&del), ["applied"], "{}", del.body);
    assert_eq!(del.body["results"][0]["version"], 2);
    let edit = app.push(&fx.member2, "b", vec![op("trainee", "upsert", &t1, Some(1), json!({"phone": "0912 345 678"}))]).await;
    assert_eq!(statuses(&edit), ["conflict"], "{}", edit.body);
    assert_eq!(edit.body["results"][0]["deleted"], true);
    assert_eq!(edit.body["results"][0]["current"], Value::Null);
    assert_eq!(edit.body["results"][0]["version"], 2);
    // Edit first, then the delete from the same base: the delete is a conflict, the edit stays.
    let edit2 = app.push(&fx.member2, "b", vec![op("trainee", "upsert", &t2, Some(1), json!({"phone": "0912 345 678"}))]).await;
    assert_eq!(statuses(&edit2), ["applied"]);
    let del2 = app.push(&fx.member, "a", vec![op("trainee", "delete", &t2, Some(1), json!({}))]).await;
    assert_eq!(statuses(&del2), ["conflict"]);
    assert_eq!(del2.body["results"][0]["current"]["phone"], "0912345678");
    assert_eq!(app.get(&format!("/api/v1/trainees/{t2}"), Some(&fx.member)).await.status, StatusCode::OK);
    // A delete without base_version is refused (like DELETE without If-Match).
    let blind = app.push(&fx.member, "a", vec![op("trainee", "delete", &t2, None, json!({}))]).await;
    assert_eq!(statuses(&blind), ["rejected"]);
    assert_eq!(blind.body["results"][0]["problem"]["code"], "precondition_required");
}

#[actix_web::test]
async fn a_record_moved_out_of_scope_is_rejected_without_leaking_it() {
    let app = app().await;
    let fx = setup(&app).await;
    let admin = app.admin().await;
    let province_officer = app.user_with_token(&admin, "qn.officer", "officer", "province", Some(QN)).await.1;
    let t = uuid();
    app.push(&fx.member, "a", vec![new_trainee(&t, "Võ Thị Lý", QN_CAM_THANH)]).await;
    let moved =
        app.patch(&format!("/api/v1/trainees/{t}"), Some(&province_officer), Some("\"v1\""), json!({"commune_code": QN_NGHIA_LO})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let r = app.push(&fx.member, "a", vec![op("trainee", "upsert", &t, Some(1), json!({"phone": "0912 345 678"}))]).await;
    assert_eq!(statuses(&r), ["rejected"], "{}", r.body);
    let res = &r.body["results"][0];
    // The same answer as PATCH: a write outside the scope is 403, and nothing of the
    // record (now in another commune) is returned.
    assert_eq!(res["problem"]["code"], "out_of_scope");
    assert_eq!(res["problem"]["status"], 403);
    assert!(res.get("current").is_none(), "{res}");
    let after = app.get(&format!("/api/v1/trainees/{t}"), Some(&province_officer)).await;
    assert_eq!(after.body["phone"], Value::Null);
    assert_eq!(after.body["version"], 2);
}

#[actix_web::test]
async fn a_push_into_a_foreign_commune_is_rejected_per_item_and_its_dependants_fail() {
    let app = app().await;
    let fx = setup(&app).await;
    let (mine, foreign, class) = (uuid(), uuid(), uuid());
    let ops = vec![
        new_class(&class, &fx.team),
        new_trainee(&foreign, "Người xã khác", QN_NGHIA_LO),
        new_trainee(&mine, "Người trong xã", QN_CAM_THANH),
        op("enrollment", "upsert", &uuid(), None, json!({"class_id": class, "trainee_id": foreign})),
        op("enrollment", "upsert", &uuid(), None, json!({"class_id": class, "trainee_id": mine})),
    ];
    let r = app.push(&fx.member, "a", ops).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(statuses(&r), ["applied", "rejected", "applied", "dependency_failed", "applied"], "{}", r.body);
    assert_eq!(r.body["results"][1]["problem"]["code"], "out_of_scope");
    assert_eq!(r.body["results"][3]["depends_on"], foreign);
    assert_eq!(r.body["rejected"], 1);
    assert_eq!(r.body["dependency_failed"], 1);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "trainees"), 1);
    assert_eq!(count(&mut conn, "enrollments"), 1);
    // The device record shows the push and its rejects.
    let devices = app.get("/api/v1/sync/devices", Some(&fx.officer)).await;
    let d = devices.body["items"].as_array().unwrap().iter().find(|d| d["device_id"] == "a").unwrap().clone();
    assert_eq!(d["last_operations"], 5);
    assert_eq!(d["last_rejects"], 2);
    assert_eq!(d["app_version"], "1.4.2");
    assert!(d["last_push_at"].is_string());
}

#[actix_web::test]
async fn a_malformed_item_in_the_middle_of_a_batch_is_rejected_alone() {
    let app = app().await;
    let fx = setup(&app).await;
    let (a, b) = (uuid(), uuid());
    let mut bad_type = new_trainee(&uuid(), "X", QN_CAM_THANH);
    bad_type["type"] = json!("spaceship");
    let mut bad_body = new_trainee(&uuid(), "Y", QN_CAM_THANH);
    bad_body["body"]["gender"] = json!(7);
    let mut no_consent = new_trainee(&uuid(), "Z", QN_CAM_THANH);
    no_consent["body"]["consent"]["basic"] = json!(false);
    let ops = vec![
        new_trainee(&a, "Trần Văn A", QN_CAM_THANH),
        json!(42),
        json!({"type": "trainee", "action": "upsert", "id": uuid(), "body": {}}),
        json!({"op_id": "not-a-uuid", "type": "trainee", "action": "upsert", "id": uuid(), "body": {}}),
        bad_type,
        bad_body,
        no_consent,
        new_trainee(&b, "Trần Văn B", QN_CAM_THANH),
    ];
    let r = app.push(&fx.member, "a", ops).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(statuses(&r), ["applied", "rejected", "rejected", "rejected", "rejected", "rejected", "rejected", "applied"]);
    let res = r.body["results"].as_array().unwrap();
    assert_eq!(res[1]["problem"]["errors"][0]["code"], "invalid_operation");
    assert_eq!(res[1]["op_id"], Value::Null);
    assert_eq!(res[2]["problem"]["errors"][0]["code"], "invalid_operation");
    assert_eq!(res[3]["problem"]["errors"][0], json!({"field": "op_id", "code": "invalid_uuid", "message": "Phải là UUID."}));
    assert_eq!(res[3]["op_id"], "not-a-uuid");
    assert_eq!(res[4]["problem"]["errors"][0]["field"], "type");
    assert_eq!(res[5]["problem"]["errors"][0]["code"], "invalid_body");
    assert_eq!(res[6]["problem"]["errors"][0]["code"], "consent_required");
    assert_eq!(res[7]["index"], 7);
    assert_eq!(count(&mut app.conn(), "trainees"), 2);
}

#[actix_web::test]
async fn push_refuses_bad_requests_and_wrong_roles() {
    let app = app().await;
    let fx = setup(&app).await;
    let admin = app.admin().await;
    let analyst = app.user(&admin, "an.x", "analyst", None).await;
    let r = app.push(&analyst, "a", vec![]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.call(TestRequest::post().uri("/api/v1/sync/push").set_json(json!({"device_id": "a", "operations": []}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.push(&fx.member, "", vec![]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["code"], "invalid_device_id");
    let many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let r = app.push(&fx.member, "a", many).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["code"], "too_many_operations");
    let r = app.call(auth(TestRequest::post().uri("/api/v1/sync/push"), Some(&fx.member)).set_json(json!({"device_id": "a"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // An empty push is fine and answers nothing.
    let r = app.push(&fx.member, "a", vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["results"], json!([]));
    // One op_id, two different operations: the second is refused, also for another account.
    let t = uuid();
    let first = new_trainee(&t, "Lê Văn Tám", QN_CAM_THANH);
    assert_eq!(statuses(&app.push(&fx.member, "a", vec![first.clone()]).await), ["applied"]);
    let mut other = first.clone();
    other["body"]["full_name"] = json!("Lê Văn Chín");
    let r = app.push(&fx.member, "a", vec![other]).await;
    assert_eq!(statuses(&r), ["rejected"]);
    assert_eq!(r.body["results"][0]["problem"]["code"], "op_id_reused");
    let r = app.push(&fx.member2, "b", vec![first]).await;
    assert_eq!(statuses(&r), ["rejected"]);
    assert_eq!(r.body["results"][0]["problem"]["code"], "op_id_reused");
    // Unsupported actions are explained.
    let r = app.push(&fx.member, "a", vec![op("attendance", "delete", &uuid(), None, json!({}))]).await;
    assert_eq!(r.body["results"][0]["problem"]["code"], "unsupported_operation", "{}", r.body);
    // English on request.
    let r = app
        .call(
            auth(TestRequest::post().uri("/api/v1/sync/push"), Some(&fx.member))
                .insert_header(("Accept-Language", "en"))
                .set_json(json!({"device_id": "a", "operations": [op("trainee", "delete", &t, None, json!({}))]})),
        )
        .await;
    assert_eq!(r.body["results"][0]["problem"]["title"], "Precondition required");
}

#[actix_web::test]
async fn twenty_concurrent_pushers_on_one_commune() {
    let app = app().await;
    let fx = setup(&app).await;
    let admin = app.admin().await;
    let shared = uuid();
    app.push(&fx.member, "seed", vec![new_trainee(&shared, "Người dùng chung", QN_CAM_THANH)]).await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(app.user(&admin, &format!("ct.m{i:02}"), "team_member", Some(QN_CAM_THANH)).await);
    }
    let mut batches = Vec::new();
    for i in 0..20 {
        let mut ops: Vec<Value> = (0..5).map(|j| new_trainee(&uuid(), &format!("Người {i}-{j}"), QN_CAM_THANH)).collect();
        ops.push(op("trainee", "upsert", &shared, Some(1), json!({"occupation": format!("Nghề {i}")})));
        batches.push(ops);
    }
    let devices: Vec<String> = (0..20).map(|i| format!("dev-{i}")).collect();
    let pushes = tokens.iter().zip(&batches).zip(&devices).map(|((t, ops), d)| app.push(t, d, ops.clone()));
    let results = futures_util::future::join_all(pushes).await;
    let mut applied_edits = 0;
    let mut conflicts = 0;
    for r in &results {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let s = statuses(r);
        assert!(s[..5].iter().all(|x| x == "applied"), "{s:?}");
        match s[5].as_str() {
            "applied" => applied_edits += 1,
            "conflict" => {
                conflicts += 1;
                assert_eq!(r.body["results"][5]["version"], 2);
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!((applied_edits, conflicts), (1, 19));
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "trainees"), 101);
    let s = app.get(&format!("/api/v1/trainees/{shared}"), Some(&fx.officer)).await;
    assert_eq!(s.body["version"], 2);
    // Every acknowledged create is in the feed, each exactly once, in increasing order.
    let feed = app.get("/api/v1/sync/changes?limit=1000", Some(&fx.officer)).await;
    let seqs: Vec<i64> = feed.body["changes"].as_array().unwrap().iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let trainees = feed.body["changes"].as_array().unwrap().iter().filter(|c| c["type"] == "trainee").count();
    assert_eq!(trainees, 101);
}

#[actix_web::test]
async fn the_audit_log_and_the_operation_log_follow_a_mixed_batch_exactly() {
    // Audit entries and remembered operations are written together at the end of a push:
    // one per applied operation, in the batch's order, none for the others; an op_id sent
    // twice in one batch is a duplicate the second time, also when written in capitals.
    let app = app().await;
    let fx = setup(&app).await;
    let (a, class, e, foreign) = (uuid(), uuid(), uuid(), uuid());
    let create_a = new_trainee(&a, "Hồ Thị A", QN_CAM_THANH);
    // An edit: sent again without its op_id remembered, it would be a conflict (stale base).
    let edit_a = op("trainee", "upsert", &a, Some(1), json!({"phone": "0912 345 678"}));
    let upper = |o: &Value| {
        let mut o = o.clone();
        o["op_id"] = json!(o["op_id"].as_str().unwrap().to_uppercase());
        o
    };
    let mut reused_op_id = new_trainee(&uuid(), "Hồ Thị B", QN_CAM_THANH);
    reused_op_id["op_id"] = create_a["op_id"].clone();
    let ops = vec![
        create_a.clone(),
        edit_a.clone(),
        upper(&edit_a),
        reused_op_id,
        new_trainee(&foreign, "Người xã khác", QN_NGHIA_LO),
        new_class(&class, &fx.team),
        op("enrollment", "upsert", &e, None, json!({"class_id": class, "trainee_id": a})),
        op("enrollment", "upsert", &uuid(), None, json!({"class_id": class, "trainee_id": a})),
    ];
    let r = app
        .call(
            auth(TestRequest::post().uri("/api/v1/sync/push"), Some(&fx.member))
                .insert_header(("X-Request-Id", "push-audit-1"))
                .set_json(json!({"device_id": "tablet-7", "operations": ops})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(statuses(&r), ["applied", "applied", "duplicate", "rejected", "rejected", "applied", "applied", "rejected"], "{}", r.body);
    assert_eq!(r.body["results"][2]["version"], 2);
    assert_eq!(r.body["results"][2]["id"], a);
    assert_eq!(r.body["results"][3]["problem"]["code"], "op_id_reused");
    assert_eq!(r.body["results"][4]["problem"]["code"], "out_of_scope");
    assert_eq!(r.body["results"][7]["problem"]["code"], "already_enrolled");

    use hocvuso::store::schema::{audit_log, sync_ops};
    let mut conn = app.conn();
    type Entry = (String, String, String, Option<String>, Option<String>);
    let entries: Vec<Entry> = audit_log::table
        .filter(audit_log::request_id.eq("push-audit-1"))
        .order(audit_log::id)
        .select((audit_log::action, audit_log::entity, audit_log::entity_id, audit_log::commune_code, audit_log::province_code))
        .load(&mut conn)
        .unwrap();
    let commune = Some(QN_CAM_THANH.to_owned());
    let province = Some("51".to_owned());
    assert_eq!(
        entries,
        [
            ("create".to_owned(), "trainee".to_owned(), a.clone(), commune.clone(), province.clone()),
            ("update".to_owned(), "trainee".to_owned(), a.clone(), commune.clone(), province.clone()),
            ("create".to_owned(), "class".to_owned(), class.clone(), commune.clone(), province.clone()),
            ("create".to_owned(), "enrollment".to_owned(), e.clone(), commune.clone(), province.clone()),
        ]
    );
    let mut remembered: Vec<(String, String, String, i64)> =
        sync_ops::table.select((sync_ops::entity, sync_ops::entity_id, sync_ops::device_id, sync_ops::version)).load(&mut conn).unwrap();
    remembered.sort();
    let mut expected = vec![
        ("class".to_owned(), class.clone(), "tablet-7".to_owned(), 1),
        ("enrollment".to_owned(), e.clone(), "tablet-7".to_owned(), 1),
        ("trainee".to_owned(), a.clone(), "tablet-7".to_owned(), 1),
        ("trainee".to_owned(), a.clone(), "tablet-7".to_owned(), 2),
    ];
    expected.sort();
    assert_eq!(remembered, expected);
    drop(conn);

    // The next push sees them: the capitalised op_id is the same operation, and nothing
    // more is written.
    let audit_before = count(&mut app.conn(), "audit_log");
    let r2 = app.push(&fx.member, "tablet-7", vec![upper(&edit_a), upper(&create_a)]).await;
    assert_eq!(statuses(&r2), ["duplicate", "duplicate"], "{}", r2.body);
    assert_eq!(r2.body["results"][0]["version"], 2);
    assert_eq!(count(&mut app.conn(), "audit_log"), audit_before);
    assert_eq!(count(&mut app.conn(), "sync_ops"), 4);
}

#[actix_web::test]
async fn an_operation_that_fails_after_writing_leaves_nothing_and_the_rest_of_the_batch_applies() {
    // A push first runs without a savepoint per operation; an operation that fails once it
    // has written (here: attendance whose marks are rewritten before its version row trips
    // a unique index planted for the test) must leave nothing behind, and the operations
    // around it must still apply. On PostgreSQL the failed statement would also abort the
    // transaction for everything after it.
    let app = app().await;
    let fx = setup(&app).await;
    let (ops, ids) = offline_day(&fx.team);
    let first = app.push(&fx.member, "a", ops).await;
    assert_eq!(first.body["applied"], 14, "{}", first.body);
    let session = ids[1].clone();
    let trainees: Vec<String> = ids[2..7].to_vec();
    let marks = |conn: &mut hocvuso::store::db::AnyConnection| {
        use hocvuso::store::schema::attendance_marks;
        let mut v: Vec<String> = attendance_marks::table
            .filter(attendance_marks::session_id.eq(&session))
            .select(attendance_marks::trainee_id)
            .load(conn)
            .unwrap();
        v.sort();
        v
    };
    let mut all = trainees.clone();
    all.sort();
    assert_eq!(marks(&mut app.conn()), all);

    let tripwire = ["CREATE TABLE tripwire (x TEXT PRIMARY KEY)", "INSERT INTO tripwire VALUES ('boom')"];
    let trigger = if app.db.is_postgres() {
        vec![
            "CREATE FUNCTION trip() RETURNS trigger AS $$ BEGIN INSERT INTO tripwire VALUES ('boom'); RETURN NEW; END $$ LANGUAGE plpgsql"
                .to_owned(),
            "CREATE TRIGGER trip BEFORE UPDATE ON session_attendance FOR EACH ROW EXECUTE FUNCTION trip()".to_owned(),
        ]
    } else {
        vec!["CREATE TRIGGER trip BEFORE UPDATE ON session_attendance BEGIN INSERT INTO tripwire VALUES ('boom'); END".to_owned()]
    };
    {
        let mut conn = app.conn();
        for sql in tripwire.iter().map(|s| s.to_string()).chain(trigger) {
            diesel::sql_query(sql).execute(&mut conn).unwrap();
        }
    }
    let (before, after) = (uuid(), uuid());
    let ops = vec![
        new_trainee(&before, "Trước", QN_CAM_THANH),
        op("attendance", "upsert", &session, Some(1), json!({"present": [trainees[0]]})),
        new_trainee(&after, "Sau", QN_CAM_THANH),
    ];
    let r = app.push(&fx.member, "a", ops).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(statuses(&r), ["applied", "rejected", "applied"], "{}", r.body);
    assert_eq!(r.body["results"][1]["problem"]["code"], "already_exists");
    // The marks are as they were; both trainees are there, each with its one audit entry.
    assert_eq!(marks(&mut app.conn()), all);
    let mut conn = app.conn();
    for id in [&before, &after] {
        assert_eq!(sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM trainees WHERE id = '{id}'")), 1);
        assert_eq!(sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM audit_log WHERE entity_id = '{id}'")), 1);
    }
    assert_eq!(
        sql_count(
            &mut conn,
            &format!("SELECT COUNT(*) AS n FROM audit_log WHERE entity_id = '{session}' AND action = 'record_attendance'")
        ),
        1
    );
    assert_eq!(count(&mut conn, "sync_ops"), 16);
}

#[actix_web::test]
async fn a_class_cancelled_earlier_in_the_same_push_refuses_later_enrollments() {
    // Classes read by one operation are reused by the next ones of the push; a class
    // changed in between must be read again.
    let app = app().await;
    let fx = setup(&app).await;
    let (class, t1, t2, e1, e2) = (uuid(), uuid(), uuid(), uuid(), uuid());
    let ops = vec![
        new_class(&class, &fx.team),
        new_trainee(&t1, "Lê Văn Một", QN_CAM_THANH),
        new_trainee(&t2, "Lê Văn Hai", QN_CAM_THANH),
        op("enrollment", "upsert", &e1, None, json!({"class_id": class, "trainee_id": t1})),
        op("class", "delete", &class, Some(1), json!({"reason": "Mưa lũ, không tổ chức được"})),
        op("enrollment", "upsert", &e2, None, json!({"class_id": class, "trainee_id": t2})),
    ];
    let r = app.push(&fx.member, "a", ops).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(statuses(&r), ["applied", "applied", "applied", "applied", "applied", "rejected"], "{}", r.body);
    assert_eq!(r.body["results"][4]["version"], 2);
    assert_eq!(r.body["results"][5]["problem"]["code"], "class_cancelled");
    let mut conn = app.conn();
    assert_eq!(sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM enrollments WHERE class_id = '{class}'")), 1);
    assert_eq!(sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM classes WHERE id = '{class}' AND status = 'cancelled'")), 1);
}

/// An attendance list or a drop that names its `class_id` must name the record's class:
/// a mismatch is rejected (`class_mismatch`) and writes nothing; leaving it out is fine.
#[actix_web::test]
async fn a_class_id_named_in_attendance_or_a_drop_must_be_the_records_class() {
    let app = app().await;
    let fx = setup(&app).await;
    let (ops, ids) = offline_day(&fx.team);
    let first = app.push(&fx.member, "android-1", ops).await;
    assert!(statuses(&first).iter().all(|s| s == "applied"), "{}", first.body);
    let (class, session, trainees, enrollments) = (&ids[0], &ids[1], &ids[2..7], &ids[7..12]);
    let other = uuid();
    let rejected = |r: &Resp| {
        assert_eq!(r.body["results"][0]["status"], "rejected", "{}", r.body);
        assert_eq!(r.body["results"][0]["problem"]["errors"][0]["code"], "class_mismatch", "{}", r.body);
        assert_eq!(r.body["results"][0]["problem"]["errors"][0]["field"], "body.class_id", "{}", r.body);
    };
    let r = app
        .push(
            &fx.member,
            "android-1",
            vec![op("attendance", "upsert", session, Some(1), json!({"class_id": other, "present": [trainees[0]]}))],
        )
        .await;
    rejected(&r);
    let r = app
        .push(
            &fx.member,
            "android-1",
            vec![op("enrollment", "delete", &enrollments[1], Some(1), json!({"class_id": other, "reason": "Chuyển đi"}))],
        )
        .await;
    rejected(&r);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "attendance_marks"), 5, "nothing was written");
    // The right class (in capitals, as some phones write UUIDs) is applied.
    let r = app
        .push(
            &fx.member,
            "android-1",
            vec![op("attendance", "upsert", session, Some(1), json!({"class_id": class.to_uppercase(), "present": [trainees[0]]}))],
        )
        .await;
    assert_eq!(statuses(&r), vec!["applied"], "{}", r.body);
    let r = app
        .push(
            &fx.member,
            "android-1",
            vec![op("enrollment", "delete", &enrollments[1], Some(1), json!({"class_id": class, "reason": "Chuyển đi"}))],
        )
        .await;
    assert_eq!(statuses(&r), vec!["applied"], "{}", r.body);
    assert_eq!(count(&mut conn, "attendance_marks"), 1);
}

/// New trainees and enrollments of a push are held and inserted together (issue #16); the
/// rules still see them: the same person enrolled twice in one class within the batch, the
/// same id created twice (once alike, once different), and an enrollment of a person made
/// earlier in the batch whose record is then read by an edit.
#[actix_web::test]
async fn creates_held_for_one_insert_still_meet_every_rule_within_the_batch() {
    let app = app().await;
    let fx = setup(&app).await;
    let (class, class2, t, u, e1, e2, e3) = (uuid(), uuid(), uuid(), uuid(), uuid(), uuid(), uuid());
    let create_t = new_trainee(&t, "Phan Thị Mới", QN_CAM_THANH);
    let mut same_again = create_t.clone();
    same_again["op_id"] = json!(uuid());
    let ops = vec![
        new_class(&class, &fx.team),
        new_class(&class2, &fx.team),
        create_t,
        op("enrollment", "upsert", &e1, None, json!({"class_id": class, "trainee_id": t})),
        // Twice in the same class: refused, though nothing of it is in the database yet.
        op("enrollment", "upsert", &e2, None, json!({"class_id": class, "trainee_id": t})),
        // Another class is fine.
        op("enrollment", "upsert", &e3, None, json!({"class_id": class2, "trainee_id": t})),
        // The same id with the same body: the record already made (a replay), nothing new.
        same_again,
        // An edit of the held person reads it from the database.
        op("trainee", "upsert", &t, Some(1), json!({"phone": "0912345678"})),
        // The same id with another body: a conflict.
        new_trainee(&t, "Người khác hẳn", QN_CAM_THANH),
        // The enrollment id again, for another person: a conflict too.
        new_trainee(&u, "Phan Văn Hai", QN_CAM_THANH),
        op("enrollment", "upsert", &e1, None, json!({"class_id": class, "trainee_id": u})),
    ];
    let r = app.push(&fx.member, "held-1", ops).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        statuses(&r),
        ["applied", "applied", "applied", "applied", "rejected", "applied", "duplicate", "applied", "rejected", "applied", "rejected"],
        "{}",
        r.body
    );
    assert_eq!(r.body["results"][4]["problem"]["code"], "already_enrolled");
    assert_eq!(r.body["results"][6]["version"], 1);
    assert_eq!(r.body["results"][7]["version"], 2);
    assert_eq!(r.body["results"][8]["problem"]["code"], "id_conflict");
    assert_eq!(r.body["results"][10]["problem"]["code"], "id_conflict");
    let mut conn = app.conn();
    assert_eq!(sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM enrollments WHERE trainee_id = '{t}'")), 2);
    assert_eq!(sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM enrollments WHERE trainee_id = '{u}'")), 0);
    assert_eq!(
        sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM trainees WHERE id = '{t}' AND version = 2 AND phone IS NOT NULL")),
        1
    );
    // Every row has its own change number, and the counter is at the last of them.
    let distinct = sql_count(
        &mut conn,
        "SELECT COUNT(DISTINCT s) AS n FROM (SELECT change_seq AS s FROM trainees UNION ALL SELECT change_seq FROM enrollments \
         UNION ALL SELECT change_seq FROM classes) x WHERE s > 0",
    );
    assert_eq!(distinct, 6, "trainees, enrollments and classes with positive, distinct change numbers");
    assert_eq!(sql_count(&mut conn, "SELECT COUNT(*) AS n FROM trainees WHERE change_seq <= 0"), 0);
    let diffs = hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap();
    assert!(diffs.is_empty(), "{diffs:#?}");
    drop(conn);

    // A batch that goes through whole runs with its creates held to the end.
    let (class3, t2, e4, e5, e6) = (uuid(), uuid(), uuid(), uuid(), uuid());
    let create_t2 = new_trainee(&t2, "Đào Thị Ba", QN_CAM_THANH);
    let mut replay_t2 = create_t2.clone();
    replay_t2["op_id"] = json!(uuid());
    let ops = vec![
        new_class(&class3, &fx.team),
        create_t2,
        op("enrollment", "upsert", &e4, None, json!({"class_id": class3, "trainee_id": t2})),
        // A replay of a held create: found, the same record.
        replay_t2,
        // A person of the database in a class of this batch, and a held one in an older class.
        op("enrollment", "upsert", &e5, None, json!({"class_id": class3, "trainee_id": t})),
        op("enrollment", "upsert", &e6, None, json!({"class_id": class2, "trainee_id": t2})),
        op("trainee", "upsert", &t2, Some(1), json!({"birth_year": 1951})),
    ];
    let r = app.push(&fx.member, "held-1", ops).await;
    assert_eq!(statuses(&r), ["applied", "applied", "applied", "duplicate", "applied", "applied", "applied"], "{}", r.body);
    assert_eq!(r.body["results"][6]["version"], 2);
    let mut conn = app.conn();
    assert_eq!(sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM enrollments WHERE trainee_id = '{t2}'")), 2);
    assert_eq!(sql_count(&mut conn, &format!("SELECT COUNT(*) AS n FROM enrollments WHERE class_id = '{class3}'")), 2);
    assert_eq!(sql_count(&mut conn, "SELECT COUNT(*) AS n FROM enrollments WHERE change_seq <= 0"), 0);
    let diffs = hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap();
    assert!(diffs.is_empty(), "{diffs:#?}");
}

/// The attendance lists a batch holds and writes at its end answer and store what the same
/// lists written one at a time would: versions step by one per change, an unchanged list
/// keeps its version, a later edit with a base version and a completion read the lists
/// written before them, and an unenrolled person is still refused.
#[actix_web::test]
async fn attendance_lists_held_by_a_batch_end_as_if_written_one_at_a_time() {
    let app = app().await;
    let fx = setup(&app).await;
    let (class, s1, s2) = (uuid(), uuid(), uuid());
    let (a, b, c, d) = (uuid(), uuid(), uuid(), uuid());
    let (ea, eb, ed) = (uuid(), uuid(), uuid());
    let list =
        |session: &str, base: Option<i64>, present: &[&String]| op("attendance", "upsert", session, base, json!({"present": present}));
    let ops = vec![
        new_class(&class, &fx.team),
        op("class_session", "upsert", &s1, None, json!({"class_id": class, "held_on": "2026-01-06", "duration_minutes": 90})),
        op("class_session", "upsert", &s2, None, json!({"class_id": class, "held_on": "2026-01-08", "duration_minutes": 90})),
        new_trainee(&a, "Lê Thị An", QN_CAM_THANH),
        new_trainee(&b, "Lê Văn Bình", QN_CAM_THANH),
        new_trainee(&c, "Lê Thị Chi", QN_CAM_THANH),
        op("enrollment", "upsert", &ea, None, json!({"class_id": class, "trainee_id": a})),
        op("enrollment", "upsert", &eb, None, json!({"class_id": class, "trainee_id": b})),
        list(&s1, None, &[&a]),
        list(&s1, None, &[&a, &b]),
        // The same list again, in another order: no change, the same version.
        list(&s1, None, &[&b, &a, &a]),
        list(&s2, None, &[&a]),
        // A completion counts the attendance written before it in the batch.
        op("completion", "upsert", &ea, None, json!({"result": "passed", "evidence": "in_class_assessment", "completed_on": "2026-01-08"})),
    ];
    let r = app.push(&fx.member, "lists-1", ops).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["applied"], 13, "{}", r.body);
    let versions: Vec<i64> = (8..12).map(|i| r.body["results"][i]["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 2, 1]);

    let ops = vec![
        // Read from the database, held, then edited on top of the held version.
        list(&s1, None, &[&a]),
        list(&s1, Some(3), &[&b]),
        list(&s2, None, &[]),
        new_trainee(&d, "Lê Văn Dũng", QN_CAM_THANH),
        op("enrollment", "upsert", &ed, None, json!({"class_id": class, "trainee_id": d})),
        list(&s1, None, &[&d, &b]),
        // Based on a version that is no longer the list's: a conflict with the list as it is.
        list(&s1, Some(4), &[&a]),
    ];
    let r = app.push(&fx.member, "lists-1", ops).await;
    assert_eq!(statuses(&r), ["applied", "applied", "applied", "applied", "applied", "applied", "conflict"], "{}", r.body);
    let versions: Vec<i64> = [0, 1, 2, 5, 6].iter().map(|&i| r.body["results"][i]["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [3, 4, 2, 5, 5]);
    let mut present = vec![b.clone(), d.clone()];
    present.sort();
    assert_eq!(r.body["results"][6]["current"]["present"], json!(present));

    // C is not enrolled: refused, and the rest of the batch still applies.
    let r = app.push(&fx.member, "lists-1", vec![list(&s2, None, &[&a, &c]), list(&s1, None, &[&b])]).await;
    assert_eq!(statuses(&r), ["rejected", "applied"], "{}", r.body);
    assert_eq!(r.body["results"][0]["problem"]["errors"][0]["code"], "not_enrolled", "{}", r.body);
    assert_eq!(r.body["results"][1]["version"], 6);

    // What is stored is what the REST endpoint shows, with one change number per list.
    for (session, want, version) in [(&s1, vec![b.clone()], 6), (&s2, vec![], 2)] {
        let got = app.req("GET", &format!("/api/v1/classes/{class}/sessions/{session}/attendance"), &fx.officer, None, None).await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        assert_eq!(got.body["present"], json!(want));
        assert_eq!(got.body["version"], version);
    }
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "attendance_marks"), 1);
    assert_eq!(sql_count(&mut conn, "SELECT COUNT(DISTINCT change_seq) AS n FROM session_attendance WHERE change_seq > 0"), 2);
    assert_eq!(sql_count(&mut conn, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'record_attendance'"), 8);
    let diffs = hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap();
    assert!(diffs.is_empty(), "{diffs:#?}");
}

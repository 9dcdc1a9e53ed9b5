//! Personal data where it must not be (issue #13): the personal ID number is never stored,
//! digested or echoed as it arrived; an erasure reaches every copy. The checks scan the
//! whole database for the values, so they do not depend on a list of places to look.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use serde_json::{json, Value};

const ID_NUMBER: &str = "051161004821";
const NAME: &str = "Đinh Thị Mười Hai";
const PHONE: &str = "0905123987";

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn new_trainee(id: &str) -> Value {
    json!({"id": id, "commune_code": QN_CAM_THANH, "full_name": NAME, "gender": "female", "birth_year": 1959, "phone": PHONE,
           "personal_id": ID_NUMBER, "consent": {"basic": true, "method": "paper"}})
}

#[actix_web::test]
async fn the_id_number_is_kept_nowhere_and_echoed_nowhere() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;

    // Through REST with an Idempotency-Key, through a push, and inside a conflict report.
    let t1 = uuid();
    let r = app
        .call(
            auth(TestRequest::post().uri("/api/v1/trainees"), Some(&member))
                .insert_header(("Idempotency-Key", "create-t1"))
                .set_json(new_trainee(&t1)),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t2 = uuid();
    let mut body = new_trainee(&t2);
    body.as_object_mut().unwrap().remove("id");
    body["full_name"] = json!("Hồ Văn Mười Ba");
    let op = json!({"op_id": uuid(), "type": "trainee", "action": "upsert", "id": t2, "body": body});
    let pushed = app.post("/api/v1/sync/push", Some(&member), json!({"device_id": "phone-1", "operations": [op.clone()]})).await;
    assert_eq!(pushed.body["applied"], 1, "{}", pushed.body);
    let report = app
        .post(
            "/api/v1/sync/conflicts",
            Some(&member),
            json!({"device_id": "phone-1", "type": "trainee", "record_id": t1, "base_version": 1,
                   "body": {"personal_id": "0511 6100 4821", "phone": "0905 000 111"}}),
        )
        .await;
    assert_eq!(report.status, StatusCode::CREATED, "{}", report.body);
    let listed = app.get("/api/v1/sync/conflicts", Some(&officer)).await;
    let cid = report.body["id"].as_str().unwrap();
    let resolved = app.post(&format!("/api/v1/sync/conflicts/{cid}/resolve"), Some(&officer), json!({"decision": "keep_server"})).await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    for (what, r) in [("report", &report), ("list", &listed), ("resolve", &resolved)] {
        assert!(!r.body.to_string().contains("4821 ") && !r.body.to_string().contains(ID_NUMBER), "{what} echoes the number: {}", r.body);
    }
    assert_eq!(report.body["device_body"]["personal_id"], "********4821", "readers see the last four digits");

    // A JSON number where the number goes: refused without repeating it.
    let mut bad = new_trainee(&uuid());
    bad["personal_id"] = json!(51161004821_i64);
    let r = app.post("/api/v1/trainees", Some(&member), bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.raw.windows(11).any(|w| w == b"51161004821"), "the 400 echoes the number: {}", r.body);

    // Nowhere in the database, in any column of any table.
    let mut conn = app.conn();
    assert_eq!(columns_containing(&mut conn, ID_NUMBER), Vec::<String>::new());
    assert_eq!(columns_containing(&mut conn, "6100 4821"), Vec::<String>::new());

    // The digests kept for replays are computed after the number became its keyed hash:
    // the pushed operation's digest is the one of the reduced operation.
    use diesel::prelude::*;
    use hocvuso::store::schema::{idempotency_keys, sync_ops};
    let stored: String = sync_ops::table.select(sync_ops::digest).first(&mut *conn).unwrap();
    let secret = &app.state.config.id_hash_secret;
    let reduced_id = hocvuso::domain::privacy::ReducedId::from_input(secret, ID_NUMBER).unwrap().token();
    let mut reduced = op.clone();
    reduced["body"]["personal_id"] = json!(reduced_id);
    let digest_of = |v: &Value| {
        hocvuso::domain::records::plain_digest(&serde_json::from_value::<hocvuso::domain::sync::push::Operation>(v.clone()).unwrap())
    };
    assert_eq!(stored, digest_of(&reduced));
    assert_ne!(stored, digest_of(&op));
    // The idempotency record's request hash is keyed (HMAC with the server's secret).
    let (hash,): (String,) = idempotency_keys::table.select((idempotency_keys::request_hash,)).first(&mut *conn).unwrap();
    use sha2::Digest;
    let plain: String = sha2::Sha256::digest(serde_json::to_vec(&new_trainee(&t1)).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    assert_ne!(hash, plain);
    assert_eq!(hash.len(), 64);
}

#[actix_web::test]
async fn erasure_reaches_every_copy() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let team = app
        .post("/api/v1/teams", Some(&officer), json!({"commune_code": QN_CAM_THANH, "name": "Tổ A", "kind": "other", "level": "commune"}))
        .await;
    let class = app
        .post(
            "/api/v1/classes",
            Some(&member),
            json!({"commune_code": QN_CAM_THANH, "team_id": team.body["id"], "title": "VNeID", "topic_ids": ["vneid_e_identity"],
                   "mode": "in_person", "language": "vi", "start_date": "2026-11-02", "end_date": "2026-11-30", "planned_sessions": 2}),
        )
        .await;
    let class = class.body["id"].as_str().unwrap().to_owned();

    // The person's data goes to: the record, a stored idempotent response, a pushed
    // operation, a conflict report (body and note), an enrollment's drop reason, a
    // platform certificate, a sync feed page.
    let t = uuid();
    let create = auth(TestRequest::post().uri("/api/v1/trainees"), Some(&member))
        .insert_header(("Idempotency-Key", "k-1"))
        .set_json(new_trainee(&t));
    assert_eq!(app.call(create).await.status, StatusCode::CREATED);
    let op = json!({"op_id": uuid(), "type": "trainee", "action": "upsert", "id": t, "base_version": 1, "body": {"occupation": format!("Bà {NAME} bán hàng")}});
    assert_eq!(app.post("/api/v1/sync/push", Some(&member), json!({"device_id": "p1", "operations": [op]})).await.body["applied"], 1);
    let report = app
        .post(
            "/api/v1/sync/conflicts",
            Some(&member),
            json!({"device_id": "p1", "type": "trainee", "record_id": t, "base_version": 1, "body": {"phone": PHONE}, "note": format!("{NAME} đọc số mới")}),
        )
        .await;
    assert_eq!(report.status, StatusCode::CREATED, "{}", report.body);
    let e = app.post(&format!("/api/v1/classes/{class}/enrollments"), Some(&member), json!({"trainee_id": t})).await;
    let eid = e.body["id"].as_str().unwrap().to_owned();
    let dropped = app
        .req(
            "DELETE",
            &format!("/api/v1/classes/{class}/enrollments/{eid}"),
            &member,
            Some("\"v1\""),
            Some(json!({"reason": format!("{NAME} chuyển nhà")})),
        )
        .await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.body);
    let cert = app
        .post(
            &format!("/api/v1/trainees/{t}/platform-certificates"),
            Some(&member),
            json!({"certificate_ref": "BDHVS-2026-0048213", "course": "Kỹ năng số cơ bản", "issued_on": "2026-11-20"}),
        )
        .await;
    assert_eq!(cert.status, StatusCode::CREATED, "{}", cert.body);

    let erased = app.post(&format!("/api/v1/trainees/{t}/erase"), Some(&officer), json!({})).await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);

    // Nothing of the person left in any column of any table.
    let mut conn = app.conn();
    for value in [NAME, "Mười Hai", PHONE, ID_NUMBER, "BDHVS-2026-0048213"] {
        assert_eq!(columns_containing(&mut conn, value), Vec::<String>::new(), "{value} is still stored");
    }
    drop(conn);
    // A replay of the create with the same key does not bring it back.
    let replay = app
        .call(
            auth(TestRequest::post().uri("/api/v1/trainees"), Some(&member))
                .insert_header(("Idempotency-Key", "k-1"))
                .set_json(new_trainee(&t)),
        )
        .await;
    assert!(!replay.body.to_string().contains("Mười Hai"), "{} {}", replay.status, replay.body);
    assert_ne!(replay.header("idempotency-replayed").as_deref(), Some("true"));
    // Nor the conflict queue.
    let queue = app.get("/api/v1/sync/conflicts", Some(&officer)).await;
    assert!(!queue.body.to_string().contains("Mười Hai") && !queue.body.to_string().contains(PHONE), "{}", queue.body);
}

#[actix_web::test]
async fn replays_and_references_never_cross_communes() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer_a) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (_, officer_b) = app.user_with_token(&admin, "nl.officer", "officer", "commune", Some(QN_NGHIA_LO)).await;
    let (_, member_a) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, member_b) = app.user_with_token(&admin, "nl.member", "team_member", "commune", Some(QN_NGHIA_LO)).await;
    let (_, province) = app.user_with_token(&admin, "qn.officer", "officer", "province", Some(QN)).await;

    // A hamlet create re-sent to another commune's URL with a known id.
    let h = uuid();
    let made = app
        .post(
            &format!("/api/v1/units/{QN_CAM_THANH}/hamlets"),
            Some(&officer_a),
            json!({"id": h, "name": "Thôn Phú Thọ", "kind": "village"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let r = app
        .post(
            &format!("/api/v1/units/{QN_NGHIA_LO}/hamlets"),
            Some(&officer_b),
            json!({"id": h, "name": "Thôn Phú Thọ", "kind": "village"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "id_conflict"), "{}", r.body);

    // Classes and trainees in each commune.
    let class_in = |commune: &'static str, token: String| {
        let app = &app;
        async move {
            let team = app
                .post("/api/v1/teams", Some(&token), json!({"commune_code": commune, "name": "Tổ", "kind": "other", "level": "commune"}))
                .await;
            app.post(
                "/api/v1/classes",
                Some(&token),
                json!({"commune_code": commune, "team_id": team.body["id"], "title": "VNeID", "topic_ids": ["vneid_e_identity"], "mode": "in_person",
                       "language": "vi", "start_date": "2026-11-02", "end_date": "2026-11-30", "planned_sessions": 2}),
            )
            .await
            .body["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let class_a = class_in(QN_CAM_THANH, officer_a.clone()).await;
    let class_b = class_in(QN_NGHIA_LO, officer_b.clone()).await;
    let trainee_in = |commune: &str, name: &str| json!({"commune_code": commune, "full_name": name, "gender": "male", "birth_year": 1970, "consent": {"basic": true, "method": "paper"}});
    let tb =
        app.post("/api/v1/trainees", Some(&member_b), trainee_in(QN_NGHIA_LO, "Bùi Văn Bê")).await.body["id"].as_str().unwrap().to_owned();
    let ta =
        app.post("/api/v1/trainees", Some(&member_a), trainee_in(QN_CAM_THANH, "Lê Văn A")).await.body["id"].as_str().unwrap().to_owned();

    // A team member of A enrolls B's trainee by its id: refused as if there were none, no name.
    let r = app.post(&format!("/api/v1/classes/{class_a}/enrollments"), Some(&member_a), json!({"trainee_id": tb})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(!r.body.to_string().contains("Bê"), "{}", r.body);
    assert_eq!(r.body["errors"][0]["code"], "unknown_reference");

    // An enrollment of B re-sent into A's class under its id: the conflict a used id gets.
    let eb = uuid();
    assert_eq!(
        app.post(&format!("/api/v1/classes/{class_b}/enrollments"), Some(&member_b), json!({"id": eb, "trainee_id": tb})).await.status,
        StatusCode::CREATED
    );
    let r = app.post(&format!("/api/v1/classes/{class_a}/enrollments"), Some(&member_a), json!({"id": eb, "trainee_id": tb})).await;
    assert_ne!(r.status, StatusCode::OK);
    assert!(!r.body.to_string().contains("Bê"), "a replay must not show another commune's enrollment: {}", r.body);
    let r = app.post(&format!("/api/v1/classes/{class_a}/enrollments"), Some(&member_a), json!({"id": eb, "trainee_id": ta})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "id_conflict"), "{}", r.body);

    // Someone whose scope holds both communes enrolls B's trainee in A's class; A's team
    // then sees the name on the class list (it takes attendance), not the trainee record.
    let r = app.post(&format!("/api/v1/classes/{class_a}/enrollments"), Some(&province), json!({"trainee_id": tb})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let list = app.get(&format!("/api/v1/classes/{class_a}/enrollments"), Some(&member_a)).await;
    assert_eq!(list.body["items"][0]["trainee_name"], "Bùi Văn Bê");
    assert_eq!(app.get(&format!("/api/v1/trainees/{tb}"), Some(&member_a)).await.status, StatusCode::NOT_FOUND);

    // A merged duplicate points to its survivor, in GET and in the feed's tombstone.
    let dup =
        app.post("/api/v1/trainees", Some(&member_a), trainee_in(QN_CAM_THANH, "Le Van A")).await.body["id"].as_str().unwrap().to_owned();
    let before = app.get("/api/v1/sync/changes", Some(&member_a)).await.body["next_cursor"].as_str().unwrap().to_owned();
    let merged = app.post(&format!("/api/v1/trainees/{dup}/merge"), Some(&officer_a), json!({"into": ta})).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    let r = app.get(&format!("/api/v1/trainees/{dup}"), Some(&member_a)).await;
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:record_merged", "title": "Không còn tồn tại", "status": 410,
               "detail": "Bản ghi này đã được gộp vào một bản ghi khác (merged_into); hãy dùng bản ghi đó.", "code": "record_merged",
               "merged_into": ta})
    );
    assert_eq!(
        app.get(&format!("/api/v1/trainees/{dup}"), Some(&member_b)).await.status,
        StatusCode::NOT_FOUND,
        "other communes learn nothing"
    );
    let feed = app.get(&format!("/api/v1/sync/changes?cursor={before}"), Some(&member_a)).await;
    let tomb = feed.body["changes"].as_array().unwrap().iter().find(|c| c["id"] == dup.as_str()).unwrap().clone();
    assert_eq!((tomb["deleted"].clone(), tomb["merged_into"].clone()), (json!(true), json!(ta)));
}

#[actix_web::test]
async fn a_persons_export_shows_every_read_of_their_data() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (officer_id, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let team = app
        .post("/api/v1/teams", Some(&officer), json!({"commune_code": QN_CAM_THANH, "name": "Tổ A", "kind": "other", "level": "commune"}))
        .await;
    let class = app
        .post(
            "/api/v1/classes",
            Some(&member),
            json!({"commune_code": QN_CAM_THANH, "team_id": team.body["id"], "title": "VNeID", "topic_ids": ["vneid_e_identity"],
                   "mode": "in_person", "language": "vi", "start_date": "2026-11-02", "end_date": "2026-11-30", "planned_sessions": 2}),
        )
        .await;
    let class = class.body["id"].as_str().unwrap().to_owned();
    let x = uuid();
    let mut body = new_trainee(&x);
    body.as_object_mut().unwrap().remove("personal_id");
    assert_eq!(app.post("/api/v1/trainees", Some(&member), body).await.status, StatusCode::CREATED);
    app.post(&format!("/api/v1/classes/{class}/enrollments"), Some(&member), json!({"trainee_id": x})).await;

    // Reads that return the person among others.
    assert_eq!(app.get("/api/v1/trainees?q=muoi", Some(&officer)).await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/sync/changes", Some(&member)).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/classes/{class}/enrollments"), Some(&officer)).await.status, StatusCode::OK);
    let report = app
        .post(
            "/api/v1/sync/conflicts",
            Some(&member),
            json!({"device_id": "p1", "type": "trainee", "record_id": x, "base_version": 1, "body": {"phone": "0905 000 111"}}),
        )
        .await;
    assert_eq!(report.status, StatusCode::CREATED, "{}", report.body);
    assert_eq!(app.get("/api/v1/sync/conflicts", Some(&officer)).await.status, StatusCode::OK);

    let export = app.get(&format!("/api/v1/trainees/{x}/export"), Some(&officer)).await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    let log: Vec<(String, String)> = export.body["access_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor_role"].as_str().unwrap().to_owned(), e["action"].as_str().unwrap().to_owned()))
        .collect();
    for expected in [("officer", "list"), ("team_member", "sync"), ("officer", "conflicts")] {
        assert!(log.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} missing from {log:?}");
    }
    let lists = log.iter().filter(|(r, a)| r == "officer" && a == "list").count();
    assert_eq!(lists, 2, "the search and the enrollment list: {log:?}");
    assert!(export.body["access_log"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor_id"] == officer_id.as_str() || e["actor_role"] == "team_member"));
}

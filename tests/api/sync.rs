//! The delta-sync pull feed: snapshot, deltas with tombstones, paging, scope, removals
//! when a record leaves the scope, expired cursors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::http::StatusCode;
use base64::Engine;
use common::*;
use serde_json::{json, Value};

fn kinds(r: &Resp) -> Vec<String> {
    r.body["changes"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap().to_owned()).collect()
}

fn seqs(r: &Resp) -> Vec<i64> {
    r.body["changes"].as_array().unwrap().iter().map(|c| c["seq"].as_i64().unwrap()).collect()
}

fn id_of(r: &Resp) -> String {
    r.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", r.body)).to_owned()
}

#[actix_web::test]
async fn snapshot_then_deltas_with_tombstones_and_removals() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, other) = app.user_with_token(&admin, "nl.member", "team_member", "commune", Some(QN_NGHIA_LO)).await;
    let (_, analyst) = app.user_with_token(&admin, "an.x", "analyst", "country", None).await;
    let team = id_of(
        &app.req(
            "POST",
            "/api/v1/teams",
            &officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "name": "Tổ A", "kind": "other", "level": "commune"})),
        )
        .await,
    );
    let class = id_of(
        &app.req("POST", "/api/v1/classes", &member, None,
                 Some(json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "VNeID", "topic_ids": ["vneid_e_identity"], "mode": "in_person",
                             "language": "vi", "start_date": "2026-01-05", "end_date": "2026-02-05", "planned_sessions": 2})))
            .await,
    );
    let s1 = id_of(
        &app.req(
            "POST",
            &format!("/api/v1/classes/{class}/sessions"),
            &member,
            None,
            Some(json!({"held_on": "2026-01-06", "duration_minutes": 90})),
        )
        .await,
    );
    let trainee = id_of(
        &app.req("POST", "/api/v1/trainees", &member, None,
                 Some(json!({"commune_code": QN_CAM_THANH, "full_name": "Lê Thị Hoa", "gender": "female", "birth_year": 1960, "consent": {"basic": true, "method": "paper"}})))
            .await,
    );
    app.req("POST", &format!("/api/v1/classes/{class}/enrollments"), &member, None, Some(json!({"trainee_id": trainee}))).await;
    app.req("PUT", &format!("/api/v1/classes/{class}/sessions/{s1}/attendance"), &member, None, Some(json!({"present": [trainee]}))).await;

    // Snapshot.
    let snap = app.get("/api/v1/sync/changes", Some(&member)).await;
    assert_eq!(snap.status, StatusCode::OK, "{}", snap.body);
    let k = kinds(&snap);
    for kind in ["topic", "team", "class", "class_session", "trainee", "enrollment", "attendance"] {
        assert!(k.contains(&kind.to_owned()), "{kind} missing from {k:?}");
    }
    let s = seqs(&snap);
    assert!(s.windows(2).all(|w| w[0] < w[1]), "not in change order: {s:?}");
    assert_eq!(snap.body["has_more"], false);
    assert_eq!(
        snap.body["units"],
        json!([{"code": QN_CAM_THANH, "name": "Cẩm Thành", "kind": "ward", "province_code": "51", "province_name": "Quảng Ngãi"}])
    );
    let class_change = snap.body["changes"].as_array().unwrap().iter().find(|c| c["type"] == "class").unwrap();
    assert_eq!(class_change["body"]["topic_ids"], json!(["vneid_e_identity"]));
    let att = snap.body["changes"].as_array().unwrap().iter().find(|c| c["type"] == "attendance").unwrap();
    assert_eq!(att["body"]["present"], json!([trainee]));
    let cursor = snap.body["next_cursor"].as_str().unwrap().to_owned();

    // Nothing new.
    let idle = app.get(&format!("/api/v1/sync/changes?cursor={cursor}"), Some(&member)).await;
    assert_eq!(idle.body["changes"], json!([]));
    assert!(idle.body.get("units").is_none());
    let cursor = idle.body["next_cursor"].as_str().unwrap().to_owned();

    // An edit and a delete arrive as a new version and a tombstone.
    app.req("PATCH", &format!("/api/v1/classes/{class}"), &member, Some("\"v1\""), Some(json!({"status": "ongoing"}))).await;
    let s2 = id_of(
        &app.req(
            "POST",
            &format!("/api/v1/classes/{class}/sessions"),
            &member,
            None,
            Some(json!({"held_on": "2026-01-07", "duration_minutes": 60})),
        )
        .await,
    );
    app.req("DELETE", &format!("/api/v1/classes/{class}/sessions/{s2}"), &member, Some("\"v1\""), None).await;
    let delta = app.get(&format!("/api/v1/sync/changes?cursor={cursor}"), Some(&member)).await;
    let changes = delta.body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{}", delta.body);
    assert_eq!(
        (changes[0]["type"].clone(), changes[0]["version"].clone(), changes[0]["body"]["status"].clone()),
        (json!("class"), json!(2), json!("ongoing"))
    );
    assert_eq!(
        (changes[1]["type"].clone(), changes[1]["id"].clone(), changes[1]["deleted"].clone(), changes[1]["body"].clone()),
        (json!("class_session"), json!(s2), json!(true), Value::Null)
    );
    let cursor = delta.body["next_cursor"].as_str().unwrap().to_owned();

    // The trainee moves to Nghĩa Lộ: Cẩm Thành's devices are told to drop it; Nghĩa Lộ's get it.
    let moved =
        app.req("PATCH", &format!("/api/v1/trainees/{trainee}"), &admin, Some("\"v1\""), Some(json!({"commune_code": QN_NGHIA_LO}))).await;
    assert_eq!(moved.status, StatusCode::OK);
    let delta = app.get(&format!("/api/v1/sync/changes?cursor={cursor}"), Some(&member)).await;
    let changes = delta.body["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{}", delta.body);
    assert_eq!(
        (changes[0]["type"].clone(), changes[0]["id"].clone(), changes[0]["removed"].clone()),
        (json!("trainee"), json!(trainee), json!(true))
    );
    let theirs = app.get("/api/v1/sync/changes", Some(&other)).await;
    let t: Vec<&Value> = theirs.body["changes"].as_array().unwrap().iter().filter(|c| c["type"] == "trainee").collect();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["body"]["commune_code"], QN_NGHIA_LO);
    assert!(!kinds(&theirs).contains(&"class".to_owned()), "Nghĩa Lộ must not see Cẩm Thành's class");

    // Analysts do not sync; bad input.
    assert_eq!(app.get("/api/v1/sync/changes", Some(&analyst)).await.code(), "forbidden");
    assert_eq!(app.get("/api/v1/sync/changes?cursor=nope", Some(&member)).await.code(), "invalid_cursor");
    assert_eq!(app.get("/api/v1/sync/changes?limit=0", Some(&member)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn pages_cover_everything_once_and_old_cursors_expire() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    for i in 0..7 {
        app.req(
            "POST",
            &format!("/api/v1/units/{QN_CAM_THANH}/hamlets"),
            &officer,
            None,
            Some(json!({"name": format!("Thôn {i}"), "kind": "village"})),
        )
        .await;
    }
    let all = app.get("/api/v1/sync/changes", Some(&officer)).await;
    let expected = seqs(&all);
    let mut seen = Vec::new();
    let mut url = "/api/v1/sync/changes?limit=4".to_owned();
    loop {
        let page = app.get(&url, Some(&officer)).await;
        seen.extend(seqs(&page));
        if page.body["has_more"] == false {
            break;
        }
        url = format!("/api/v1/sync/changes?limit=4&cursor={}", page.body["next_cursor"].as_str().unwrap());
    }
    assert_eq!(seen, expected);
    assert_eq!(expected.len(), 17, "10 topics and 7 hamlets");
    // A cursor from beyond the horizon (90 days) must start again.
    let old = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!({"s": 1, "t": chrono::Utc::now().timestamp() - 91 * 86_400})).unwrap());
    let r = app.get(&format!("/api/v1/sync/changes?cursor={old}"), Some(&officer)).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:resync_required", "title": "Không còn tồn tại", "status": 410,
               "detail": "Con trỏ đồng bộ đã quá hạn; hãy đồng bộ lại toàn bộ (gọi không kèm cursor).", "code": "resync_required"})
    );
}

#[actix_web::test]
async fn pulls_record_devices_per_account_and_officers_see_who_has_not_synced() {
    use actix_web::test::TestRequest;
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (lan_id, lan) = app.user_with_token(&admin, "lan", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, binh) = app.user_with_token(&admin, "binh", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, hn) = app.user_with_token(&admin, "hn.member", "team_member", "commune", Some(HN_BA_DINH)).await;
    let pull = |token: &str, device: &str, extra: &[(&str, &str)]| {
        let mut r = TestRequest::get()
            .uri("/api/v1/sync/changes")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("X-Device-Id", device.to_owned()));
        for (k, v) in extra {
            r = r.insert_header((k.to_string(), v.to_string()));
        }
        r
    };
    // Two members share one phone; a third member elsewhere.
    let r = app
        .call(pull(&lan, "phone-1", &[("X-App-Version", "1.4.2"), ("X-Outbox-Depth", "12"), ("X-Oldest-Unsynced", "2026-11-24T07:30:00Z")]))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    app.call(pull(&binh, "phone-1", &[("X-App-Version", "1.4.2")])).await;
    app.call(pull(&hn, "phone-9", &[])).await;
    let list = app.get("/api/v1/sync/devices", Some(&officer)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "only Cẩm Thành's devices: {}", list.body);
    let lan_row = items.iter().find(|d| d["username"] == "lan").unwrap();
    assert_eq!(lan_row["account_id"], lan_id.as_str());
    assert_eq!(lan_row["device_id"], "phone-1");
    assert_eq!(lan_row["app_version"], "1.4.2");
    assert_eq!(lan_row["outbox_depth"], 12);
    assert_eq!(lan_row["oldest_unsynced"], "2026-11-24T07:30:00Z");
    assert!(lan_row["last_pull_at"].is_string());
    // Lan syncs again with an empty outbox: her row changes, Bình's stays.
    app.call(pull(&lan, "phone-1", &[("X-Outbox-Depth", "0")])).await;
    let list = app.get("/api/v1/sync/devices", Some(&officer)).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items[0]["username"], "binh", "the longest without sync comes first");
    assert_eq!(items[1]["outbox_depth"], 0);
    assert_eq!(app.get("/api/v1/sync/devices", Some(&admin)).await.body["items"].as_array().unwrap().len(), 3);
    // Team members do not list devices; bad headers are refused.
    assert_eq!(app.get("/api/v1/sync/devices", Some(&lan)).await.code(), "forbidden");
    let r = app.call(pull(&lan, "phone-1", &[("X-Outbox-Depth", "-3")])).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_header"));
    let r = app.call(pull(&lan, "phone-1", &[("X-Oldest-Unsynced", "yesterday")])).await;
    assert_eq!(r.code(), "invalid_header");
}

/// A signed cursor as the server makes one (`2.<payload>.<mac>`), for forging tests.
fn signed_cursor(payload: &Value, secret: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap());
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).unwrap();
    mac.update(format!("hocvuso sync cursor 2:{p}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("2.{p}.{}", &hex[..32])
}

#[actix_web::test]
async fn cursors_are_signed_and_bound_to_the_scope() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, a) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, b) = app.user_with_token(&admin, "nl.member", "team_member", "commune", Some(QN_NGHIA_LO)).await;
    let first = app.get("/api/v1/sync/changes", Some(&a)).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    assert!(cursor.starts_with("2."), "{cursor}");
    // The same cursor works; an empty one is the first page.
    assert_eq!(app.get(&format!("/api/v1/sync/changes?cursor={cursor}"), Some(&a)).await.status, StatusCode::OK);
    let empty = app.get("/api/v1/sync/changes?cursor=", Some(&a)).await;
    assert_eq!((empty.status, empty.body["units"].is_array()), (StatusCode::OK, true));

    // Altered: one character of the payload changed (or a MAC made up).
    let (head, mac) = cursor.rsplit_once('.').unwrap();
    let mut altered = head.to_owned().into_bytes();
    let i = altered.len() - 3;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    let altered = format!("{}.{mac}", String::from_utf8(altered).unwrap());
    let r = app.get(&format!("/api/v1/sync/changes?cursor={altered}"), Some(&a)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "cursor_tampered"));
    let forged = signed_cursor(&json!({"s": 0, "t": chrono::Utc::now().timestamp(), "k": format!("c:{QN_CAM_THANH}")}), b"not the secret");
    let r = app.get(&format!("/api/v1/sync/changes?cursor={forged}"), Some(&a)).await;
    assert_eq!(
        r.problem(),
        json!({"type": "urn:hocvuso:problem:cursor_tampered", "title": "Yêu cầu không hợp lệ", "status": 400,
               "detail": "Con trỏ đồng bộ đã bị sửa hoặc không do máy chủ cấp; hãy đồng bộ lại toàn bộ (gọi không kèm cursor).",
               "code": "cursor_tampered"})
    );

    // Future-dated (signed with the real key, as a leaked key or a broken clock would).
    let future = signed_cursor(&json!({"s": 0, "t": chrono::Utc::now().timestamp() + 3600, "k": format!("c:{QN_CAM_THANH}")}), JWT_SECRET);
    let r = app.get(&format!("/api/v1/sync/changes?cursor={future}"), Some(&a)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "cursor_from_future"));

    // Another scope's cursor: the phone must sync its own scope again.
    let r = app.get(&format!("/api/v1/sync/changes?cursor={cursor}"), Some(&b)).await;
    assert_eq!((r.status, r.code()), (StatusCode::GONE, "resync_required"));
    assert!(r.body["detail"].as_str().unwrap().contains("địa bàn khác"), "{}", r.body);

    // Beyond the horizon, signed or from before cursors were signed.
    let old =
        signed_cursor(&json!({"s": 1, "t": chrono::Utc::now().timestamp() - 91 * 86_400, "k": format!("c:{QN_CAM_THANH}")}), JWT_SECRET);
    let r = app.get(&format!("/api/v1/sync/changes?cursor={old}"), Some(&a)).await;
    assert_eq!((r.status, r.code()), (StatusCode::GONE, "resync_required"));
    let unsigned = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!({"s": 1, "t": chrono::Utc::now().timestamp()})).unwrap());
    let r = app.get(&format!("/api/v1/sync/changes?cursor={unsigned}"), Some(&a)).await;
    assert_eq!((r.status, r.code()), (StatusCode::GONE, "resync_required"));
    assert!(r.body["detail"].as_str().unwrap().contains("kiểu cũ"), "{}", r.body);
}

#[actix_web::test]
async fn a_move_inside_a_scope_is_an_update_and_a_removal_only_outside_it() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, province) = app.user_with_token(&admin, "qn.officer", "officer", "province", Some(QN)).await;
    let (_, a) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let t = id_of(
        &app.req("POST", "/api/v1/trainees", &a, None,
                 Some(json!({"commune_code": QN_CAM_THANH, "full_name": "Lê Văn Tư", "gender": "male", "birth_year": 1961, "consent": {"basic": true, "method": "paper"}})))
            .await,
    );
    let cursor_of = |r: &Resp| r.body["next_cursor"].as_str().unwrap().to_owned();
    let p0 = cursor_of(&app.get("/api/v1/sync/changes", Some(&province)).await);
    let n0 = cursor_of(&app.get("/api/v1/sync/changes", Some(&admin)).await);
    let a0 = cursor_of(&app.get("/api/v1/sync/changes", Some(&a)).await);
    let moved =
        app.req("PATCH", &format!("/api/v1/trainees/{t}"), &province, Some("\"v1\""), Some(json!({"commune_code": QN_NGHIA_LO}))).await;
    assert_eq!(moved.status, StatusCode::OK);
    for (who, token, cursor) in [("province", &province, &p0), ("country", &admin, &n0)] {
        let d = app.get(&format!("/api/v1/sync/changes?cursor={cursor}"), Some(token)).await;
        let changes = d.body["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{who}: {}", d.body);
        assert_eq!(
            (
                changes[0]["type"].clone(),
                changes[0]["removed"].clone(),
                changes[0]["version"].clone(),
                changes[0]["body"]["commune_code"].clone()
            ),
            (json!("trainee"), json!(false), json!(2), json!(QN_NGHIA_LO)),
            "{who}"
        );
    }
    let d = app.get(&format!("/api/v1/sync/changes?cursor={a0}"), Some(&a)).await;
    assert_eq!(
        d.body["changes"],
        json!([{"seq": d.body["changes"][0]["seq"], "type": "trainee", "id": t, "version": 2, "deleted": false, "removed": true, "body": null}])
    );
}

#[actix_web::test]
async fn nothing_is_deleted_while_a_live_record_refers_to_it() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let hamlet = app
        .req("POST", &format!("/api/v1/units/{QN_CAM_THANH}/hamlets"), &officer, None, Some(json!({"name": "Thôn 1", "kind": "village"})))
        .await;
    let hamlet = id_of(&hamlet);
    let team = id_of(
        &app.req(
            "POST",
            "/api/v1/teams",
            &officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "hamlet_id": hamlet, "name": "Tổ thôn 1", "kind": "other", "level": "hamlet"})),
        )
        .await,
    );
    let member = id_of(
        &app.req(
            "POST",
            &format!("/api/v1/teams/{team}/members"),
            &officer,
            None,
            Some(json!({"full_name": "Trần Văn Bình", "role": "leader", "affiliation": "youth_union"})),
        )
        .await,
    );
    let class = id_of(
        &app.req("POST", "/api/v1/classes", &officer, None,
                 Some(json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "VNeID", "topic_ids": ["vneid_e_identity"], "mode": "in_person",
                             "language": "vi", "start_date": "2026-01-05", "end_date": "2026-02-05", "planned_sessions": 2, "instructor_ids": [member]})))
            .await,
    );
    let trainee = id_of(
        &app.req("POST", "/api/v1/trainees", &officer, None,
                 Some(json!({"commune_code": QN_CAM_THANH, "full_name": "Lê Thị Hoa", "gender": "female", "birth_year": 1960, "consent": {"basic": true, "method": "paper"}})))
            .await,
    );
    let enrollment = id_of(
        &app.req("POST", &format!("/api/v1/classes/{class}/enrollments"), &officer, None, Some(json!({"trainee_id": trainee}))).await,
    );
    let drop = app
        .req(
            "DELETE",
            &format!("/api/v1/classes/{class}/enrollments/{enrollment}"),
            &officer,
            Some("\"v1\""),
            Some(json!({"reason": "Chuyển đi"})),
        )
        .await;
    assert_eq!(drop.status, StatusCode::OK, "{}", drop.body);

    let r = app.req("DELETE", &format!("/api/v1/hamlets/{hamlet}"), &officer, Some("\"v1\""), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "hamlet_in_use"));
    assert_eq!(
        r.problem()["detail"],
        "Thôn/tổ dân phố đang được dùng (1 tổ, 0 lớp, 0 người học); hãy chuyển các bản ghi đó trước khi xóa."
    );
    let r = app.req("DELETE", &format!("/api/v1/teams/{team}/members/{member}"), &officer, Some("\"v1\""), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "member_teaches_classes"));
    // A dropped enrollment still names the trainee.
    let r = app.req("DELETE", &format!("/api/v1/trainees/{trainee}"), &officer, Some("\"v1\""), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "trainee_has_enrollments"));

    // Once nothing refers to them, they go. (A team with classes stays: team_has_classes.)
    let unlink = app.req("PATCH", &format!("/api/v1/classes/{class}"), &officer, Some("\"v1\""), Some(json!({"instructor_ids": []}))).await;
    assert_eq!(unlink.status, StatusCode::OK, "{}", unlink.body);
    let r = app.req("DELETE", &format!("/api/v1/teams/{team}"), &officer, Some("\"v1\""), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "team_has_classes"));
    let r = app.req("DELETE", &format!("/api/v1/teams/{team}/members/{member}"), &officer, Some("\"v1\""), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let other = id_of(
        &app.req(
            "POST",
            "/api/v1/teams",
            &officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "name": "Tổ 2", "kind": "other", "level": "commune"})),
        )
        .await,
    );
    let m2 = id_of(
        &app.req(
            "POST",
            &format!("/api/v1/teams/{other}/members"),
            &officer,
            None,
            Some(json!({"full_name": "Lò Văn Ba", "role": "member", "affiliation": "volunteer"})),
        )
        .await,
    );
    let r = app.req("DELETE", &format!("/api/v1/teams/{other}"), &officer, Some("\"v1\""), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "team_has_members"));
    app.req("DELETE", &format!("/api/v1/teams/{other}/members/{m2}"), &officer, Some("\"v1\""), None).await;
    assert_eq!(app.req("DELETE", &format!("/api/v1/teams/{other}"), &officer, Some("\"v1\""), None).await.status, StatusCode::NO_CONTENT);
}

/// A pull does not wait behind a write to record its device (issue #16): on SQLite, while
/// another connection holds the database's write lock, the page comes at once (before, the
/// report waited for the lock: up to 10 s, then a 500) and the report of that pull is
/// skipped; the next pull records it. (On PostgreSQL the report waits only for a push of the
/// same device, which holds that device's row: nothing to show here.)
#[actix_web::test]
async fn a_pull_does_not_wait_behind_a_write_to_record_its_device() {
    use actix_web::test::TestRequest;
    use diesel::connection::SimpleConnection;
    let app = app().await;
    if app.db.is_postgres() {
        return;
    }
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (_, lan) = app.user_with_token(&admin, "lan", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let pull = |depth: &str| {
        TestRequest::get()
            .uri("/api/v1/sync/changes")
            .insert_header(("Authorization", format!("Bearer {lan}")))
            .insert_header(("X-Device-Id", "phone-1"))
            .insert_header(("X-Outbox-Depth", depth.to_owned()))
    };
    assert_eq!(app.call(pull("3")).await.status, StatusCode::OK);
    let mut writer = app.conn();
    writer.batch_execute("BEGIN IMMEDIATE").unwrap();
    let r = app.call(pull("7")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["changes"].as_array().is_some_and(|c| !c.is_empty()), "{}", r.body);
    writer.batch_execute("ROLLBACK").unwrap();
    let devices = app.get("/api/v1/sync/devices", Some(&officer)).await;
    assert_eq!(devices.body["items"][0]["outbox_depth"], 3, "the report of the pull made during the write is skipped");
    assert_eq!(app.call(pull("0")).await.status, StatusCode::OK);
    let devices = app.get("/api/v1/sync/devices", Some(&officer)).await;
    assert_eq!(devices.body["items"][0]["outbox_depth"], 0, "{}", devices.body);
}

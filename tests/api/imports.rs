//! Roster import (docs/IMPORT.md), end to end on both backends: a clean import and its dry
//! run, every kind of row error, a repeat upload, a corrected re-upload, a foreign-commune
//! row, each bad file, the export → edit → import round trip, and enrollments with results.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::*;
use diesel::RunQueryDsl;
use serde_json::json;

const BOUNDARY: &str = "hocvuso-test-boundary-7f3a";

fn multipart(file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload<S, B>(app: &TestApp<S>, token: &str, query: &str, file_name: &str, bytes: &[u8]) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let req = TestRequest::post()
        .uri(&format!("/api/v1/imports?{query}"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}")))
        .set_payload(multipart(file_name, bytes));
    app.call(req).await
}

fn count(app_conn: &mut hocvuso::store::db::AnyConnection, sql: &str) -> i64 {
    sql_count(app_conn, sql)
}

const HEADER: &str = "Họ và tên (*),Giới tính (*),Năm sinh (*),Số điện thoại,Số định danh cá nhân,Thôn/tổ dân phố,Nhóm đối tượng,\
Đồng ý xử lý dữ liệu cá nhân (*),Hình thức đồng ý (*)";

fn csv(rows: &[&str]) -> Vec<u8> {
    let mut s = String::from(HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s.into_bytes()
}

struct W {
    admin: String,
    officer: String,
    member: String,
    analyst: String,
    hn_officer: String,
}

async fn world<S, B>(app: &TestApp<S>) -> W
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let admin = app.admin_token().await;
    let (_, officer) = app.user_with_token(&admin, "ct.officer", "officer", "commune", Some(QN_CAM_THANH)).await;
    let (_, member) = app.user_with_token(&admin, "ct.member", "team_member", "commune", Some(QN_CAM_THANH)).await;
    let (_, analyst) = app.user_with_token(&admin, "qn.analyst", "analyst", "province", Some(QN)).await;
    let (_, hn_officer) = app.user_with_token(&admin, "hn.officer", "officer", "commune", Some(HN_BA_DINH)).await;
    let r = app
        .req(
            "POST",
            &format!("/api/v1/units/{QN_CAM_THANH}/hamlets"),
            &officer,
            None,
            Some(json!({"name": "Thôn Phú Lộc", "kind": "village"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    W { admin, officer, member, analyst, hn_officer }
}

fn rows_of(r: &Resp) -> Vec<(u64, String)> {
    r.body["rows"].as_array().unwrap().iter().map(|x| (x["row"].as_u64().unwrap(), x["outcome"].as_str().unwrap().to_owned())).collect()
}

fn problems_of(r: &Resp) -> Vec<(u64, String, String)> {
    r.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["row"].as_u64().unwrap(), p["field"].as_str().unwrap().to_owned(), p["code"].as_str().unwrap().to_owned()))
        .collect()
}

fn three_people() -> Vec<u8> {
    csv(&[
        "Đinh Thị Lan,Nữ,1961,0912 345 678,051161004821,Thôn Phú Lộc,Nông dân; Người cao tuổi,Có,Ký giấy",
        "Hồ Văn Minh,Nam,1958,,,,\"Công nhân, người lao động\",Có,Trên ứng dụng",
        "Phạm Thị Hoa,nữ,1990,912000111,,,,có,Nói, có người chứng kiến",
    ])
}

#[actix_web::test]
async fn dry_run_commit_repeat_and_correction() {
    let app = app().await;
    let w = world(&app).await;
    let file = three_people();
    // A cell holding a comma is quoted, as Excel writes it.
    let file = String::from_utf8(file).unwrap().replace("Nói, có người chứng kiến", "\"Nói, có người chứng kiến\"").into_bytes();

    let dry = upload(&app, &w.officer, "kind=trainees&dry_run=true", "ds_thon_phu_loc.csv", &file).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert_eq!(
        (dry.body["dry_run"].clone(), dry.body["applied"].clone(), dry.body["rows_read"].clone(), dry.body["created"].clone()),
        (json!(true), json!(false), json!(3), json!(3))
    );
    assert_eq!(dry.body["format"], "csv");
    assert_eq!(dry.body["encoding"], "utf-8");
    assert_eq!(rows_of(&dry), vec![(2, "created".into()), (3, "created".into()), (4, "created".into())]);
    assert!(dry.body["problems"].as_array().unwrap().is_empty(), "{}", dry.body);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 0, "a dry run writes nothing");
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'create' AND entity = 'trainee'"), 0);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'import_dry_run'"), 1);

    let done = upload(&app, &w.officer, "kind=trainees", "ds_thon_phu_loc.csv", &file).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!((done.body["applied"].clone(), done.body["created"].clone()), (json!(true), json!(3)));
    // The dry run said exactly what the commit did, ids included.
    assert_eq!(dry.body["rows"], done.body["rows"]);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 3);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'create' AND entity = 'trainee'"), 3);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'import' AND entity = 'import'"), 1);
    let lan = done.body["rows"][0]["id"].as_str().unwrap().to_owned();
    let t = app.req("GET", &format!("/api/v1/trainees/{lan}"), &w.officer, None, None).await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.body["full_name"], "Đinh Thị Lan");
    assert_eq!(t.body["phone"], "0912345678");
    assert_eq!(t.body["personal_id_last4"], "4821");
    assert_eq!(t.body["target_groups"], json!(["elderly", "farmer"]));
    assert!(t.body["hamlet_id"].is_string());
    assert_eq!(t.body["consent"]["method"], "paper");
    let hoa = done.body["rows"][2]["id"].as_str().unwrap().to_owned();
    let t = app.req("GET", &format!("/api/v1/trainees/{hoa}"), &w.officer, None, None).await;
    assert_eq!(t.body["phone"], "0912000111", "a leading zero Excel dropped is restored");
    // The statistics counters follow (the same write path as REST): they hold the three
    // people, and equal a recount from the records.
    assert!(count(&mut conn, "SELECT COUNT(*) AS n FROM stat_facts") > 0);
    assert!(hocvuso::domain::stats::rebuild::rebuild(&mut conn, false).unwrap().is_empty());
    // The sync feed carries them.
    let feed = app.req("GET", "/api/v1/sync/changes?limit=1000", &w.officer, None, None).await;
    let fed: Vec<&str> =
        feed.body["changes"].as_array().unwrap().iter().filter(|c| c["type"] == "trainee").filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(fed.len(), 3);

    // The same file again creates nothing.
    let again = upload(&app, &w.officer, "kind=trainees", "ds_thon_phu_loc.csv", &file).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!((again.body["created"].clone(), again.body["unchanged"].clone()), (json!(0), json!(3)));
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 3);

    // A corrected file updates what changed, and only that.
    let corrected = String::from_utf8(file.clone()).unwrap().replace("0912 345 678", "0905 111 222").into_bytes();
    let fixed = upload(&app, &w.officer, "kind=trainees", "ds_thon_phu_loc.csv", &corrected).await;
    assert_eq!(
        (fixed.body["updated"].clone(), fixed.body["unchanged"].clone(), fixed.body["created"].clone()),
        (json!(1), json!(2), json!(0))
    );
    assert_eq!(fixed.body["rows"][0]["id"], json!(lan));
    let t = app.req("GET", &format!("/api/v1/trainees/{lan}"), &w.officer, None, None).await;
    assert_eq!((t.body["phone"].clone(), t.body["version"].clone()), (json!("0905111222"), json!(2)));
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 3);

    // A person already recorded through the app is reported as a possible duplicate.
    let r = app
        .req(
            "POST",
            "/api/v1/trainees",
            &w.member,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "full_name": "Lê Văn Tám", "gender": "male", "birth_year": 1970,
                         "consent": {"basic": true, "method": "paper"}})),
        )
        .await;
    let tam = r.body["id"].as_str().unwrap().to_owned();
    let dup = upload(&app, &w.officer, "kind=trainees&dry_run=true", "them.csv", &csv(&["LE VAN TAM,Nam,1970,,,,,Có,Ký giấy"])).await;
    assert_eq!(dup.body["created"], 1);
    assert_eq!(dup.body["warnings"][0]["trainee_id"], json!(tam));
    assert_eq!(dup.body["warnings"][0]["reason"], "same_name_birth_year_commune");
    assert_eq!(dup.body["warnings"][0]["row"], 2);

    // The report can be fetched again, by its author and officers of its commune only.
    let id = done.body["id"].as_str().unwrap();
    let back = app.req("GET", &format!("/api/v1/imports/{id}"), &w.officer, None, None).await;
    assert_eq!(back.status, StatusCode::OK);
    assert_eq!(back.body, done.body);
    assert_eq!(app.req("GET", &format!("/api/v1/imports/{id}"), &w.admin, None, None).await.status, StatusCode::OK);
    assert_eq!(app.req("GET", &format!("/api/v1/imports/{id}"), &w.hn_officer, None, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.req("GET", &format!("/api/v1/imports/{id}"), &w.member, None, None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.req("GET", "/api/v1/imports/not-a-uuid", &w.officer, None, None).await.status, StatusCode::NOT_FOUND);
    // Reports are kept 90 days (the audit log keeps the import for good).
    let old = dry.body["id"].as_str().unwrap();
    diesel::sql_query(format!("UPDATE imports SET created_at = '2020-01-01 00:00:00' WHERE id = '{old}'")).execute(&mut conn).unwrap();
    let purged = hocvuso::domain::imports::purge(&mut conn).unwrap();
    assert_eq!(purged, 1);
    assert_eq!(app.req("GET", &format!("/api/v1/imports/{old}"), &w.officer, None, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'import_dry_run'"), 2, "both dry runs stay audited");
    // A stored report names no one: the file's names and numbers are not in it. (Not a bare
    // '%4821%' or '%0912%': the report's record ids are random hex, and one in a few hundred
    // runs held those digits.)
    let stored = count(
        &mut conn,
        "SELECT COUNT(*) AS n FROM imports WHERE report LIKE '%Lan%' OR report LIKE '%0912345678%' OR report LIKE '%0912 345 678%' \
         OR report LIKE '%051161004821%' OR report LIKE '%\"4821\"%' OR report LIKE '%*4821%' OR report LIKE '% 4821%'",
    );
    assert_eq!(stored, 0);

    // Team members and analysts do not import.
    for token in [&w.member, &w.analyst] {
        let r = upload(&app, token, "kind=trainees", "x.csv", &file).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    }
}

#[actix_web::test]
async fn every_row_error_is_named_and_nothing_is_half_applied() {
    let app = app().await;
    let w = world(&app).await;
    let header = "Họ và tên,Giới tính,Năm sinh,Số điện thoại,Thôn/tổ dân phố,Dân tộc,Đồng ý ghi dân tộc,Mã xã/phường,\
Đồng ý xử lý dữ liệu cá nhân,Hình thức đồng ý,Ngày đồng ý";
    let rows = [
        "Người Tốt,Nữ,1961,,,,,,Có,Ký giấy,",                         // 2 fine
        ",Nữ,1961,,,,,,Có,Ký giấy,",                                  // 3 no name
        "Người Hai,Cái,1961,,,,,,Có,Ký giấy,",                        // 4 bad gender
        "Người Ba,Nam,1800,,,,,,Có,Ký giấy,",                         // 5 birth year out of range (domain)
        "Người Bốn,Nam,1970,12345,,,,,Có,Ký giấy,",                   // 6 bad phone (domain)
        "Người Năm,Nam,1970,,,,,,Không,Ký giấy,",                     // 7 no consent
        "Người Sáu,Nam,1970,,Thôn Không Có,,,,Có,Ký giấy,",           // 8 unknown hamlet
        "Người Bảy,Nam,1970,,,Tày,,,Có,Ký giấy,",                     // 9 ethnicity without its consent (domain)
        "Người Tám,Nam,1970,,,Người Sao Hỏa,Có,,Có,Ký giấy,",         // 10 unknown ethnicity
        &format!("Người Chín,Nam,1970,,,,,{HN_BA_DINH},Có,Ký giấy,"), // 11 another commune
        "Người Mười,Nam,1970,,,,,99999,Có,Ký giấy,",                  // 12 no such commune
        "Người Mười Một,Nam,1970,,,,,,Có,Ký giấy,31/02/2026",         // 13 bad date
        "Người Mười Hai,Nam,năm bảy mươi,,,,,,Có,Ký giấy,",           // 14 birth year not a number
        "Người Mười Ba,Nam,1970,,,,,,Có,Gửi thư,",                    // 15 bad consent method
    ];
    let file = format!("{header}\n{}\n", rows.join("\n")).into_bytes();
    let dry = upload(&app, &w.officer, "kind=trainees&dry_run=true", "loi.csv", &file).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert_eq!((dry.body["created"].clone(), dry.body["failed"].clone()), (json!(1), json!(13)));
    let mut problems = problems_of(&dry);
    problems.sort();
    assert_eq!(
        problems,
        vec![
            (3, "full_name".into(), "required".into()),
            (4, "gender".into(), "invalid_choice".into()),
            (5, "birth_year".into(), "range".into()),
            (6, "phone".into(), "invalid_phone".into()),
            (7, "consent_basic".into(), "consent_required".into()),
            (8, "hamlet".into(), "unknown_hamlet".into()),
            (9, "ethnicity_code".into(), "consent_required".into()),
            (10, "ethnicity".into(), "unknown_ethnicity".into()),
            (11, "".into(), "out_of_scope".into()),
            (12, "commune_code".into(), "unknown_unit".into()),
            (13, "consent_date".into(), "invalid_date".into()),
            (14, "birth_year".into(), "invalid_year".into()),
            (15, "consent_method".into(), "invalid_choice".into()),
        ]
    );
    // A cell problem names the column as the file wrote it; messages follow Accept-Language.
    let p = dry.body["problems"].as_array().unwrap().iter().find(|p| p["row"] == 4).unwrap().clone();
    assert_eq!(p["column"], "Giới tính");
    assert!(p["message"].as_str().unwrap().starts_with("Chọn một trong"), "{p}");
    let en = app
        .call(
            TestRequest::post()
                .uri("/api/v1/imports?kind=trainees&dry_run=true")
                .insert_header(("Authorization", format!("Bearer {}", w.officer)))
                .insert_header(("Accept-Language", "en"))
                .insert_header(("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}")))
                .set_payload(multipart("loi.csv", &file)),
        )
        .await;
    let p = en.body["problems"].as_array().unwrap().iter().find(|p| p["row"] == 4).unwrap().clone();
    assert!(p["message"].as_str().unwrap().starts_with("Choose one of"), "{p}");

    // A commit of a file with bad rows applies nothing…
    let mut conn = app.conn();
    let r = upload(&app, &w.officer, "kind=trainees", "loi.csv", &file).await;
    assert_eq!((r.status, r.body["applied"].clone(), r.body["failed"].clone()), (StatusCode::OK, json!(false), json!(13)));
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 0);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'import_rejected'"), 1);
    // …unless asked to skip them, and then it says which.
    let r = upload(&app, &w.officer, "kind=trainees&skip_invalid=true", "loi.csv", &file).await;
    assert_eq!(
        (r.body["applied"].clone(), r.body["created"].clone(), r.body["skipped"].clone(), r.body["failed"].clone()),
        (json!(true), json!(1), json!(13), json!(0))
    );
    let skipped: Vec<u64> = rows_of(&r).into_iter().filter(|(_, o)| o == "skipped").map(|(n, _)| n).collect();
    assert_eq!(skipped, (3..=15).collect::<Vec<u64>>());
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 1);
    assert_eq!(count(&mut conn, &format!("SELECT COUNT(*) AS n FROM trainees WHERE commune_code = '{HN_BA_DINH}'")), 0);

    // Bad query parameters.
    let r = upload(&app, &w.officer, "kind=courses", "x.csv", &file).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    let r = upload(&app, &w.officer, "kind=trainees&encoding=latin-1", "x.csv", &file).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    let r = upload(&app, &w.officer, "kind=trainees&dry_run=perhaps", "x.csv", &file).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// A ZIP archive whose one part inflates to `inflated` bytes of zeros (and says so):
/// deflate blocks ending in a sync flush are byte-aligned, so one compressed megabyte
/// block can be repeated.
fn zip_bomb(inflated: usize) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![0u8; 1 << 20]).unwrap();
    enc.flush().unwrap();
    let block = enc.get_ref().clone();
    let mut data = Vec::new();
    for _ in 0..inflated / (1 << 20) {
        data.extend_from_slice(&block);
    }
    data.extend_from_slice(&[0x03, 0x00]); // a final empty fixed block
    let name = b"xl/worksheets/sheet1.xml";
    let mut out = Vec::new();
    let local = |out: &mut Vec<u8>| {
        out.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&0u32.to_le_bytes()); // crc (never reached)
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(inflated as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
    };
    local(&mut out);
    out.extend_from_slice(&data);
    let cd_start = out.len() as u32;
    out.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(inflated as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0u8; 12]);
    out.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    out.extend_from_slice(name);
    let cd_len = out.len() as u32 - cd_start;
    out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0]);
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn xlsx(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    build(sheet);
    book.save_to_buffer().unwrap()
}

#[actix_web::test]
async fn bad_files_get_a_clear_4xx_and_write_nothing() {
    let app = app().await;
    let w = world(&app).await;
    let headers = ["Họ và tên", "Giới tính", "Năm sinh", "Đồng ý xử lý dữ liệu cá nhân", "Hình thức đồng ý"];
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("image.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0".to_vec(), 422, "not_a_spreadsheet"),
        ("empty.csv", b"  \n".to_vec(), 422, "empty_file"),
        ("old.xls", vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0], 422, "legacy_excel_format"),
        ("notes.csv", "ghi chú\nkhông phải danh sách\n".as_bytes().to_vec(), 422, "missing_header_row"),
        ("cols.csv", "Họ và tên,Giới tính,Năm sinh,Màu mắt\nA,Nam,1970,nâu\n".as_bytes().to_vec(), 422, "invalid_columns"),
        (
            "header-only.csv",
            "Họ và tên,Giới tính,Năm sinh,Đồng ý xử lý dữ liệu cá nhân,Hình thức đồng ý\n".as_bytes().to_vec(),
            422,
            "no_rows",
        ),
        ("bomb.xlsx", zip_bomb(450 << 20), 422, "file_too_large_unpacked"),
        (
            "zip.xlsx",
            {
                let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                z.start_file("readme.txt", zip::write::SimpleFileOptions::default()).unwrap();
                std::io::Write::write_all(&mut z, b"hello").unwrap();
                z.finish().unwrap().into_inner()
            },
            422,
            "not_a_spreadsheet",
        ),
        (
            "formula.xlsx",
            xlsx(|s| {
                s.write_row(0, 0, headers).unwrap();
                s.write_row(1, 0, ["Đinh Thị Lan", "Nữ"]).unwrap();
                s.write_formula(1, 2, "=1960+1").unwrap();
                s.write_row(1, 3, ["Có", "Ký giấy"]).unwrap();
            }),
            422,
            "formulas_not_allowed",
        ),
        (
            "merged.xlsx",
            xlsx(|s| {
                s.write_row(0, 0, headers).unwrap();
                s.write_row(1, 0, ["Đinh Thị Lan", "Nữ", "1961", "Có", "Ký giấy"]).unwrap();
                s.merge_range(2, 1, 3, 1, "Nam", &rust_xlsxwriter::Format::new()).unwrap();
                s.write_row(2, 0, ["Hồ Văn A"]).unwrap();
            }),
            422,
            "merged_cells",
        ),
        (
            "empty-rows.xlsx",
            xlsx(|s| {
                s.write_row(0, 0, headers).unwrap();
                let f = rust_xlsxwriter::Format::new().set_bold();
                for row in 1..1_000_000u32 {
                    s.write_blank(row, 0, &f).unwrap();
                }
            }),
            422,
            "no_rows",
        ),
        (
            "too-many.csv",
            {
                let mut s = String::from("Họ và tên,Giới tính,Năm sinh,Đồng ý xử lý dữ liệu cá nhân,Hình thức đồng ý\n");
                for i in 0..50_001 {
                    s.push_str(&format!("Người {i},Nam,1970,Có,Ký giấy\n"));
                }
                s.into_bytes()
            },
            422,
            "too_many_rows",
        ),
        ("huge.csv", vec![b'a'; 20 * 1024 * 1024 + 1], 413, "payload_too_large"),
    ];
    for (name, bytes, status, code) in cases {
        let r = upload(&app, &w.officer, "kind=trainees&dry_run=true", name, &bytes).await;
        assert_eq!((r.status.as_u16(), r.code()), (status, code), "{name}: {}", r.body);
        assert_eq!(r.header("content-type").as_deref(), Some("application/problem+json"), "{name}");
    }
    // A title above the header and a merged title cell are fine (only the list matters).
    let titled = xlsx(|s| {
        s.merge_range(0, 0, 0, 4, "DANH SÁCH HỌC VIÊN THÔN PHÚ LỘC", &rust_xlsxwriter::Format::new()).unwrap();
        s.write_row(2, 0, headers).unwrap();
        s.write_row(3, 0, ["Đinh Thị Lan", "Nữ"]).unwrap();
        s.write_number(3, 2, 1961).unwrap();
        s.write_row(3, 3, ["Có", "Ký giấy"]).unwrap();
    });
    let r = upload(&app, &w.officer, "kind=trainees&dry_run=true", "titled.xlsx", &titled).await;
    assert_eq!((r.status, r.body["created"].clone(), r.body["sheet"].clone()), (StatusCode::OK, json!(1), json!("Sheet1")), "{}", r.body);
    assert_eq!(rows_of(&r), vec![(4, "created".into())]);
    // Not multipart, or no file part.
    let r = app.req("POST", "/api/v1/imports?kind=trainees", &w.officer, None, Some(json!({"file": "x"}))).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    let req = TestRequest::post()
        .uri("/api/v1/imports?kind=trainees")
        .insert_header(("Authorization", format!("Bearer {}", w.officer)))
        .insert_header(("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}")))
        .set_payload(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n"));
    let r = app.call(req).await;
    assert_eq!((r.status, r.body["errors"][0]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("file")));
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 0);
}

#[actix_web::test]
async fn legacy_encodings_and_bom_are_read() {
    let app = app().await;
    let w = world(&app).await;
    // Windows-1258, as Vietnamese Excel saves "CSV": "Hồ" is o-circumflex (F4) + combining grave (CC).
    let mut cp = b"full_name,gender,birth_year,consent_basic,consent_method\n".to_vec();
    cp.extend_from_slice(b"H\xF4\xCC V\xE3n An,Nam,1970,C\xF3,Ky\xEC gi\xE2\xECy\n");
    let r = upload(&app, &w.officer, "kind=trainees", "cp1258.csv", &cp).await;
    assert_eq!(
        (r.status, r.body["encoding"].clone(), r.body["created"].clone()),
        (StatusCode::OK, json!("windows-1258"), json!(1)),
        "{}",
        r.body
    );
    let id = r.body["rows"][0]["id"].as_str().unwrap();
    let t = app.req("GET", &format!("/api/v1/trainees/{id}"), &w.officer, None, None).await;
    assert_eq!(t.body["full_name"], "Hồ Văn An");
    // UTF-8 with BOM and semicolons (Excel in a locale with a decimal comma).
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(
        "Họ và tên;Giới tính;Năm sinh;Đồng ý xử lý dữ liệu cá nhân;Hình thức đồng ý\nNguyễn Thị Bé;Nữ;1985;Có;Ký giấy\n".as_bytes(),
    );
    let r = upload(&app, &w.officer, "kind=trainees", "bom.csv", &bom).await;
    assert_eq!((r.status, r.body["encoding"].clone(), r.body["created"].clone()), (StatusCode::OK, json!("utf-8"), json!(1)), "{}", r.body);
    // Chosen explicitly: UTF-8 that is not UTF-8 is refused.
    let r = upload(&app, &w.officer, "kind=trainees&encoding=utf-8", "cp1258.csv", &cp).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_encoding"));
}

/// The cells of the first sheet of a workbook, as text.
fn read_sheet(bytes: &[u8]) -> (String, Vec<Vec<String>>) {
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).unwrap();
    let rows = range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    (name, rows)
}

fn sheet_xml(bytes: &[u8], part: &str) -> String {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut f = z.by_name(part).unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut f, &mut s).unwrap();
    s
}

#[actix_web::test]
async fn template_export_edit_and_import_round_trip() {
    let app = app().await;
    let w = world(&app).await;
    // The template: Vietnamese headers, drop-down lists, the caller's hamlets in its lists.
    let t = app.req("GET", "/api/v1/imports/templates/trainees.xlsx", &w.officer, None, None).await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.header("content-type").as_deref(), Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"));
    assert!(t.header("content-disposition").unwrap().contains("mau-nhap-trainees.xlsx"));
    let (sheet, rows) = read_sheet(&t.raw);
    assert_eq!(sheet, "Học viên");
    assert_eq!(rows[0][0], "Mã học viên");
    assert!(rows[0].contains(&"Họ và tên (*)".to_owned()));
    let xml = sheet_xml(&t.raw, "xl/worksheets/sheet1.xml");
    assert!(xml.matches("<dataValidation ").count() >= 8, "drop-down lists: {xml:.300}");
    let lists = sheet_xml(&t.raw, "xl/sharedStrings.xml");
    assert!(lists.contains("Thôn Phú Lộc") && lists.contains("Cẩm Thành") && lists.contains("Hrê"));
    for (path, token, status) in [
        ("/api/v1/imports/templates/enrollments.xlsx", &w.officer, StatusCode::OK),
        ("/api/v1/imports/templates/classes.xlsx", &w.officer, StatusCode::OK),
        ("/api/v1/imports/templates/teams.xlsx", &w.officer, StatusCode::OK),
        ("/api/v1/imports/templates/courses.xlsx", &w.officer, StatusCode::NOT_FOUND),
        ("/api/v1/imports/templates/trainees.csv", &w.officer, StatusCode::NOT_FOUND),
        ("/api/v1/imports/templates/trainees.xlsx", &w.member, StatusCode::FORBIDDEN),
        ("/api/v1/trainees/export.xlsx", &w.member, StatusCode::FORBIDDEN),
        ("/api/v1/trainees/export.xlsx", &w.analyst, StatusCode::FORBIDDEN),
    ] {
        assert_eq!(app.req("GET", path, token, None, None).await.status, status, "{path}");
    }

    // Two people recorded in the app, one imported.
    for (name, year) in [("Đinh Thị Lan", 1961), ("Hồ Văn Minh", 1958)] {
        let r = app
            .req(
                "POST",
                "/api/v1/trainees",
                &w.member,
                None,
                Some(json!({"commune_code": QN_CAM_THANH, "full_name": name, "gender": "female", "birth_year": year,
                             "phone": "0912345678", "personal_id": "051161004821", "target_groups": ["farmer"],
                             "consent": {"basic": true, "method": "paper"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = app.req("GET", "/api/v1/trainees/export.xlsx", &w.officer, None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_, mut rows) = read_sheet(&r.raw);
    assert_eq!(rows.len(), 3);
    let header = rows[0].clone();
    let col = |name: &str| header.iter().position(|h| h.starts_with(name)).unwrap();
    let (phone, last4, pid, name) = (col("Số điện thoại"), col("4 số cuối"), col("Số định danh"), col("Họ và tên"));
    assert_eq!(rows[1][last4], "4821");
    assert_eq!(rows[1][pid], "", "the export never holds an ID number");
    // Exported from another commune: nothing of this one.
    let other = app.req("GET", "/api/v1/trainees/export.xlsx", &w.hn_officer, None, None).await;
    assert_eq!(read_sheet(&other.raw).1.len(), 1);
    assert_eq!(
        app.req("GET", &format!("/api/v1/trainees/export.xlsx?commune={QN_CAM_THANH}"), &w.hn_officer, None, None).await.status,
        StatusCode::NOT_FOUND
    );

    // Edited in Excel: one phone changed, one row added.
    let minh = rows.iter().position(|r| r[name] == "Hồ Văn Minh").unwrap();
    rows[minh][phone] = "0905 999 888".into();
    let mut added = vec![String::new(); rows[0].len()];
    added[name] = "Trần Văn Mới".into();
    added[col("Giới tính")] = "Nam".into();
    added[col("Năm sinh")] = "1999".into();
    added[col("Đồng ý xử lý")] = "Có".into();
    added[col("Hình thức đồng ý")] = "Ký giấy".into();
    rows.push(added);
    let edited = xlsx(|s| {
        s.set_name("Học viên").unwrap();
        for (i, r) in rows.iter().enumerate() {
            s.write_row(i as u32, 0, r.iter().map(String::as_str)).unwrap();
        }
    });
    let r = upload(&app, &w.officer, "kind=trainees", "hoc-vien.xlsx", &edited).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["format"].clone(), r.body["created"].clone(), r.body["updated"].clone(), r.body["unchanged"].clone()),
        (json!("xlsx"), json!(1), json!(1), json!(1)),
        "{}",
        r.body
    );
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 3);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees WHERE phone = '0905999888'"), 1);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees WHERE id_last4 = '4821'"), 2, "an empty ID cell keeps the stored one");
    // The access log records the export.
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM access_log WHERE action = 'export' AND entity = 'trainee'"), 0);
    app.state.access_log.flush(&app.state.db).await.unwrap();
    assert!(count(&mut conn, "SELECT COUNT(*) AS n FROM access_log WHERE action = 'export' AND entity = 'trainee'") >= 1);
}

#[actix_web::test]
async fn a_finished_paper_class_comes_in_with_its_results() {
    let app = app().await;
    let w = world(&app).await;
    let team = app
        .req(
            "POST",
            "/api/v1/teams",
            &w.officer,
            None,
            Some(json!({"commune_code": QN_CAM_THANH, "name": "Tổ A", "kind": "community_tech_team", "level": "commune"})),
        )
        .await;
    let team = team.body["id"].as_str().unwrap().to_owned();
    let class = app
        .req("POST", "/api/v1/classes", &w.officer, None,
             Some(json!({"commune_code": QN_CAM_THANH, "team_id": team, "title": "VNeID", "topic_ids": ["vneid_e_identity"], "mode": "in_person",
                         "language": "vi", "start_date": "2026-01-05", "end_date": "2026-02-05", "planned_sessions": 4})))
        .await;
    let class = class.body["id"].as_str().unwrap().to_owned();
    let header = "Họ và tên,Giới tính,Năm sinh,Đồng ý xử lý dữ liệu cá nhân,Hình thức đồng ý,Mã lớp,Kết quả,Ngày hoàn thành,Điểm,\
Lý do công nhận khi thiếu điểm danh";
    let file = format!(
        "{header}\nĐinh Thị Lan,Nữ,1961,Có,Ký giấy,{class},Đạt,05/02/2026,8.5,Lớp ghi trên giấy\n\
         Hồ Văn Minh,Nam,1958,Có,Ký giấy,{class},Không đạt,05/02/2026,,\n\
         Phạm Thị Hoa,Nữ,1990,Có,Ký giấy,{class},Đạt,05/02/2026,,\n\
         Lê Văn Tư,Nam,1980,Có,Ký giấy,{class},,,,\n"
    );
    let r = upload(&app, &w.officer, "kind=trainees", "lop-vneid.csv", file.as_bytes()).await;
    // A pass without attendance needs its reason: row 4 is refused, so nothing is applied.
    assert_eq!((r.body["applied"].clone(), problems_of(&r)), (json!(false), vec![(4, "".into(), "attendance_below_minimum".into())]));
    let file = file.replace("Phạm Thị Hoa,Nữ,1990,Có,Ký giấy,{class},Đạt,05/02/2026,,", "").replace(
        &format!("Phạm Thị Hoa,Nữ,1990,Có,Ký giấy,{class},Đạt,05/02/2026,,"),
        &format!("Phạm Thị Hoa,Nữ,1990,Có,Ký giấy,{class},Đạt,05/02/2026,,Lớp ghi trên giấy"),
    );
    let r = upload(&app, &w.officer, "kind=trainees", "lop-vneid.csv", file.as_bytes()).await;
    assert_eq!((r.body["applied"].clone(), r.body["created"].clone()), (json!(true), json!(4)), "{}", r.body);
    let e = app.req("GET", &format!("/api/v1/classes/{class}/enrollments"), &w.officer, None, None).await;
    let items = e.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let passed = items.iter().filter(|i| i["completion"]["result"] == "passed").count();
    let failed = items.iter().filter(|i| i["completion"]["result"] == "failed").count();
    assert_eq!((passed, failed), (2, 1), "{}", e.body);
    // Again: nothing new.
    let again = upload(&app, &w.officer, "kind=trainees", "lop-vneid.csv", file.as_bytes()).await;
    assert_eq!(
        (again.body["created"].clone(), again.body["updated"].clone(), again.body["unchanged"].clone()),
        (json!(0), json!(0), json!(4))
    );
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM enrollments"), 4);

    // An enrollment list names trainees by name and birth year; the result of Lê Văn Tư comes later.
    let list = format!(
        "Mã lớp,Họ và tên,Năm sinh,Kết quả,Ngày hoàn thành,Căn cứ công nhận,Lý do công nhận khi thiếu điểm danh\n\
                        {class},Lê Văn Tư,1980,Đạt,06/02/2026,Cán bộ xác nhận,Lớp ghi trên giấy\n\
                        {class},Không Có Ai,1980,Đạt,06/02/2026,,\n"
    );
    let r = upload(&app, &w.officer, "kind=enrollments&skip_invalid=true", "ket-qua.csv", list.as_bytes()).await;
    assert_eq!(
        (r.body["applied"].clone(), r.body["unchanged"].clone(), r.body["skipped"].clone()),
        (json!(true), json!(0), json!(1)),
        "{}",
        r.body
    );
    assert_eq!(rows_of(&r), vec![(2, "created".into()), (3, "skipped".into())]);
    assert_eq!(problems_of(&r), vec![(3, "trainee_id".into(), "unknown_trainee".into())]);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM enrollments WHERE completion_evidence = 'officer_confirmation'"), 1);
    // A class of another commune is out of scope for this officer.
    let r = upload(&app, &w.hn_officer, "kind=enrollments&dry_run=true", "ket-qua.csv", list.as_bytes()).await;
    assert!(problems_of(&r).iter().all(|(_, _, code)| code == "out_of_scope" || code == "not_found"), "{}", r.body);
    assert_eq!(r.body["failed"], 2);
}

#[actix_web::test]
async fn a_province_admin_imports_into_its_communes_only() {
    let app = app().await;
    let w = world(&app).await;
    let (_, qn_admin) = app.user_with_token(&w.admin, "qn.admin", "admin", "province", Some(QN)).await;
    let file = format!(
        "Mã xã/phường,Họ và tên,Giới tính,Năm sinh,Đồng ý xử lý dữ liệu cá nhân,Hình thức đồng ý\n\
         {QN_CAM_THANH},Người Cẩm Thành,Nam,1970,Có,Ký giấy\n\
         {QN_NGHIA_LO},Người Nghĩa Lộ,Nữ,1971,Có,Ký giấy\n\
         {HN_BA_DINH},Người Ba Đình,Nữ,1972,Có,Ký giấy\n\
         ,Người Không Xã,Nữ,1972,Có,Ký giấy\n"
    );
    let r = upload(&app, &qn_admin, "kind=trainees&skip_invalid=true", "tinh.csv", file.as_bytes()).await;
    assert_eq!((r.body["created"].clone(), r.body["skipped"].clone()), (json!(2), json!(2)), "{}", r.body);
    assert_eq!(problems_of(&r), vec![(4, "".into(), "out_of_scope".into()), (5, "commune_code".into(), "required".into())]);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM trainees"), 2);
    // A province import's report: to its author and country-wide admins, not to a commune officer.
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(app.req("GET", &format!("/api/v1/imports/{id}"), &w.officer, None, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.req("GET", &format!("/api/v1/imports/{id}"), &w.admin, None, None).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn teams_with_members_and_classes_with_sessions_round_trip() {
    let app = app().await;
    let w = world(&app).await;
    let mut conn = app.conn();
    let teams = "Tên tổ,Cấp tổ,Thôn/tổ dân phố,Số quyết định thành lập,Ngày quyết định,Họ và tên thành viên,Số điện thoại thành viên,Vai trò,Thành phần\n\
                 Tổ công nghệ số xã,Xã,,125/QĐ-UBND,12/08/2025,Trần Văn Bình,0912 345 678,Tổ trưởng,Đoàn thanh niên\n\
                 Tổ công nghệ số xã,Xã,,125/QĐ-UBND,12/08/2025,Lê Thị Cúc,0912 000 111,Thành viên,Hội phụ nữ\n\
                 Tổ thôn Phú Lộc,,Thôn Phú Lộc,,,,,,\n\
                 Tổ không thôn,Thôn,,,,,,,\n";
    let r = upload(&app, &w.officer, "kind=teams&skip_invalid=true", "to.csv", teams.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(rows_of(&r), vec![(2, "created".into()), (3, "created".into()), (4, "created".into()), (5, "skipped".into())]);
    assert_eq!(problems_of(&r), vec![(5, "hamlet_id".into(), "required".into())]);
    assert_eq!(r.body["rows"][0]["id"], r.body["rows"][1]["id"], "one team for its two members");
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM teams"), 2);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM team_members"), 2);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM teams WHERE level = 'hamlet' AND hamlet_id IS NOT NULL"), 1);
    let again = upload(&app, &w.officer, "kind=teams&skip_invalid=true", "to.csv", teams.as_bytes()).await;
    assert_eq!((again.body["created"].clone(), again.body["unchanged"].clone()), (json!(0), json!(3)), "{}", again.body);

    let classes = "Tổ phụ trách,Tên lớp,Chủ đề,Hình thức học,Ngày bắt đầu,Ngày kết thúc,Số buổi dự kiến,Ngày các buổi đã học\n\
                   Tổ công nghệ số xã,Cài đặt VNeID,vneid_e_identity; Sử dụng điện thoại thông minh và máy tính cơ bản,Trực tiếp,05/01/2026,05/02/2026,4,06/01/2026; 13/01/2026\n\
                   Tổ không có,Lớp lạc,vneid_e_identity,Trực tiếp,05/01/2026,05/02/2026,4,\n\
                   Tổ thôn Phú Lộc,Lớp ngoài ngày,vneid_e_identity,Trực tuyến,05/01/2026,05/02/2026,2,01/03/2026\n";
    let r = upload(&app, &w.officer, "kind=classes&skip_invalid=true", "lop.csv", classes.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(rows_of(&r), vec![(2, "created".into()), (3, "skipped".into()), (4, "skipped".into())]);
    assert_eq!(
        problems_of(&r),
        vec![(3, "team".into(), "unknown_team".into()), (4, "session_dates.held_on".into(), "outside_class_dates".into())]
    );
    let class = r.body["rows"][0]["id"].as_str().unwrap().to_owned();
    let c = app.req("GET", &format!("/api/v1/classes/{class}"), &w.officer, None, None).await;
    assert_eq!(c.body["topic_ids"], json!(["digital_devices_basics", "vneid_e_identity"]), "{}", c.body);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM class_sessions"), 2);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM classes"), 1, "the class of row 4 was rolled back with its session");
    // A day added to the list: one more session, nothing else.
    let more = classes.replace("06/01/2026; 13/01/2026", "06/01/2026; 13/01/2026; 20/01/2026");
    let r = upload(&app, &w.officer, "kind=classes&skip_invalid=true", "lop.csv", more.as_bytes()).await;
    assert_eq!(rows_of(&r)[0], (2, "updated".into()));
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM class_sessions"), 3);
    let r = upload(&app, &w.officer, "kind=classes&skip_invalid=true", "lop.csv", more.as_bytes()).await;
    assert_eq!(rows_of(&r)[0], (2, "unchanged".into()));

    // Exports in the templates' layouts; edited and imported back, they update in place.
    let t = app.req("GET", "/api/v1/teams/export.xlsx", &w.officer, None, None).await;
    assert_eq!(t.status, StatusCode::OK);
    let (sheet, mut rows) = read_sheet(&t.raw);
    assert_eq!((sheet.as_str(), rows.len()), ("Tổ công nghệ số", 4), "{rows:?}");
    let header = rows[0].clone();
    let col = |name: &str| header.iter().position(|h| h.starts_with(name)).unwrap();
    let binh = rows.iter().position(|r| r[col("Họ và tên thành viên")] == "Trần Văn Bình").unwrap();
    rows[binh][col("Số điện thoại thành viên")] = "0988 777 666".into();
    let edited = xlsx(|s| {
        for (i, r) in rows.iter().enumerate() {
            s.write_row(i as u32, 0, r.iter().map(String::as_str)).unwrap();
        }
    });
    let r = upload(&app, &w.officer, "kind=teams", "to-export.xlsx", &edited).await;
    assert_eq!(
        (r.body["updated"].clone(), r.body["unchanged"].clone(), r.body["created"].clone()),
        (json!(1), json!(2), json!(0)),
        "{}",
        r.body
    );
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM team_members WHERE phone = '0988777666'"), 1);

    let c = app.req("GET", "/api/v1/classes/export.xlsx", &w.officer, None, None).await;
    let (sheet, mut rows) = read_sheet(&c.raw);
    assert_eq!((sheet.as_str(), rows.len()), ("Lớp học", 2));
    let header = rows[0].clone();
    let col = |name: &str| header.iter().position(|h| h.starts_with(name)).unwrap();
    assert_eq!(rows[1][col("Ngày các buổi đã học")], "06/01/2026; 13/01/2026; 20/01/2026");
    rows[1][col("Tên lớp")] = "Cài đặt và sử dụng VNeID".into();
    let edited = xlsx(|s| {
        for (i, r) in rows.iter().enumerate() {
            s.write_row(i as u32, 0, r.iter().map(String::as_str)).unwrap();
        }
    });
    let r = upload(&app, &w.officer, "kind=classes", "lop-export.xlsx", &edited).await;
    assert_eq!(rows_of(&r), vec![(2, "updated".into())], "{}", r.body);
    let c = app.req("GET", &format!("/api/v1/classes/{class}"), &w.officer, None, None).await;
    assert_eq!((c.body["title"].clone(), c.body["version"].clone()), (json!("Cài đặt và sử dụng VNeID"), json!(2)));
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM class_sessions"), 3);
    // Other communes' officers get nothing of these; team members do not export.
    let other = app.req("GET", "/api/v1/teams/export.xlsx", &w.hn_officer, None, None).await;
    assert_eq!(read_sheet(&other.raw).1.len(), 1);
    assert_eq!(app.req("GET", "/api/v1/classes/export.xlsx", &w.member, None, None).await.status, StatusCode::FORBIDDEN);
    // A team row for another commune is out of scope.
    let foreign = format!("Mã xã/phường,Tên tổ\n{HN_BA_DINH},Tổ Ba Đình\n");
    let r = upload(&app, &w.officer, "kind=teams&dry_run=true", "x.csv", foreign.as_bytes()).await;
    assert_eq!(problems_of(&r), vec![(2, "".into(), "out_of_scope".into())]);
}

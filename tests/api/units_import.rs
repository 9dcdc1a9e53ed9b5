//! Reference data: the official lists load on first start; `units import` upserts a newer
//! list in one transaction and refuses bad files with the line number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use diesel::prelude::*;
use hocvuso::domain::units::{import_csv, ImportReport};
use hocvuso::store::schema::{provinces, units};

#[actix_web::test]
async fn official_lists_are_loaded_on_first_start() {
    let app = common::app().await;
    let mut conn = app.conn();
    let p: i64 = provinces::table.count().get_result(&mut conn).unwrap();
    let u: i64 = units::table.count().get_result(&mut conn).unwrap();
    let qn: i64 = units::table.filter(units::province_code.eq("51")).count().get_result(&mut conn).unwrap();
    assert_eq!((p, u, qn), (34, 3321, 96));
    let (name, kind, search): (String, String, String) =
        units::table.find("00004").select((units::name, units::kind, units::search_name)).first(&mut conn).unwrap();
    assert_eq!((name.as_str(), kind.as_str(), search.as_str()), ("Ba Đình", "ward", "ba dinh"));
    // Quảng Ngãi's list is the same as the national one for province 51.
    let qn_file = include_str!("../../reference/quang-ngai-units.csv").lines().count() - 1;
    assert_eq!(qn_file, 96);
}

#[actix_web::test]
async fn import_upserts_and_reports() {
    let app = common::app().await;
    let mut conn = app.conn();
    let csv = "code,name,type,province_code\n00004,Ba Đình Mới,ward,01\n99001,Xã Thử Nghiệm,commune,51\n00008,Ngọc Hà,ward,01\n";
    let r = import_csv(&mut conn, csv, None).unwrap();
    assert_eq!(r, ImportReport { units_inserted: 1, units_updated: 1, unchanged: 1, ..Default::default() });
    let name: String = units::table.find("00004").select(units::name).first(&mut conn).unwrap();
    assert_eq!(name, "Ba Đình Mới");
    let search: String = units::table.find("99001").select(units::search_name).first(&mut conn).unwrap();
    assert_eq!(search, "xa thu nghiem");
    // Again: nothing changes.
    let r = import_csv(&mut conn, csv, None).unwrap();
    assert_eq!(r.unchanged, 3);
    // The Quảng Ngãi file has no province column: --province says it.
    let r = import_csv(&mut conn, include_str!("../../reference/quang-ngai-units.csv"), Some("51")).unwrap();
    assert_eq!(r.unchanged, 96);
    // A province list.
    let r = import_csv(&mut conn, "code,name,type\n01,Thủ đô Hà Nội,municipality\n", None).unwrap();
    assert_eq!(r.provinces_updated, 1);
}

#[actix_web::test]
async fn bad_files_change_nothing_and_say_where() {
    let app = common::app().await;
    let mut conn = app.conn();
    let cases = [
        ("code,name,type,province_code\n00004,X,ward,01\n4,Y,ward,01\n", "line 3: unit code `4` must be 5 digits"),
        ("code,name,type,province_code\n99002,Z,hamlet,51\n", "line 2: type `hamlet` must be commune, ward or special_zone"),
        ("code,name,type,province_code\n99002,Z,commune,77\n", "line 2: unknown province code `77`"),
        ("code,name,type\n99002,Z,commune\n", "line 2: no province_code column and no --province given"),
        ("id,label\n1,x\n", "the CSV header must be"),
        ("code,name,type,province_code\n", "the CSV file has no rows"),
        // A code twice: a new one, and an existing one (which used to keep the first row).
        (
            "code,name,type,province_code\n99002,Z,commune,51\n99003,Y,ward,51\n99002,Z2,commune,51\n",
            "lines 2 and 4 both have the code `99002`",
        ),
        ("code,name,type,province_code\n00004,X,ward,01\n00004,Y,ward,01\n", "lines 2 and 3 both have the code `00004`"),
        // Lines stay right after blank lines and a quoted field over two lines.
        ("code,name,type,province_code\n\n99002,\"Z, Z\",commune,51\n\n4,Y,ward,01\n", "line 5: unit code `4` must be 5 digits"),
        ("code,name,type,province_code\n\n99002,Y,commune,51\n\n99003,\"Z\nZ\",commune,51\n", "line 5: the name holds a control character"),
    ];
    for (csv, expected) in cases {
        let err = import_csv(&mut conn, csv, None).unwrap_err();
        assert!(err.starts_with(expected), "{err}");
    }
    let name: String = units::table.find("00004").select(units::name).first(&mut conn).unwrap();
    assert_eq!(name, "Ba Đình");
    let n: i64 = units::table.count().get_result(&mut conn).unwrap();
    assert_eq!(n, 3321);
}

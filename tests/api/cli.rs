//! The binary as an operator meets it: start-up failures that stop before anything is
//! made, commands that apply the API's rules, output that survives a closed pipe, help
//! that shows a command's own options first, and the backup command's advice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The binary with a fresh data folder and no configuration from the environment.
fn hocvuso(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hocvuso"));
    for (name, _) in std::env::vars() {
        if name.starts_with("HOCVUSO_") || name == "DATABASE_URL" {
            cmd.env_remove(name);
        }
    }
    cmd.env("HOCVUSO_DATA_DIR", data).env("HOCVUSO_LOG", "warn");
    cmd
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn a_port_in_use_stops_the_start_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = hocvuso(&data).env("HOCVUSO_BIND", &addr).arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr} (HOCVUSO_BIND)")), "{err}");
    assert!(!err.contains("password"), "no admin was created: {err}");
    assert!(!data.join("hocvuso.db").exists() && !data.join("initial-admin-password").exists());
    // In JSON log mode the fatal message is a JSON line too, and no output has colour codes.
    let out = hocvuso(&data).env("HOCVUSO_BIND", &addr).env("HOCVUSO_LOG_FORMAT", "json").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let last: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(last["level"], "ERROR");
    assert!(last["fields"]["message"].as_str().unwrap().contains("HOCVUSO_BIND"), "{last}");
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[test]
fn the_openapi_document_survives_a_reader_that_stops_early() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = hocvuso(dir.path()).arg("openapi").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Read one byte, then hang up, as `| head -c1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut one).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}: {}", out.status, text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

fn create_user(data: &std::path::Path, args: &[&str], password: &str) -> Output {
    let mut child = hocvuso(data)
        .args(["user", "create"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn user_create_applies_the_api_rules_naming_each_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = "Một-mật-khẩu-dài-2026";
    let out = create_user(&data, &["--username", "Bad Name", "--full-name", " ", "--role", "officer", "--scope-kind", "commune"], "short");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for expected in
        ["--username: A username has 3–64 characters", "--full-name: Must be 1 to 200 characters", "the password (standard input):"]
    {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    let out = create_user(&data, &["--username", "lan", "--full-name", "Lan", "--role", "chief"], good);
    assert!(text(&out.stderr).contains("--role: Role must be admin, officer, team_member or analyst."), "{}", text(&out.stderr));
    // A team member needs a commune, like in the API.
    let out = create_user(&data, &["--username", "lan", "--full-name", "Lan", "--role", "team_member"], good);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("the account is refused"), "{err}");
    let out = create_user(
        &data,
        &["--username", "lan", "--full-name", "Lan", "--role", "officer", "--scope-kind", "commune", "--scope-code", "99999"],
        good,
    );
    assert!(text(&out.stderr).contains("--scope-code"), "{}", text(&out.stderr));
    let out = create_user(
        &data,
        &[
            "--username",
            "Lan.TCNS",
            "--full-name",
            "Nguyễn Thị Lan",
            "--role",
            "officer",
            "--scope-kind",
            "commune",
            "--scope-code",
            "21025",
        ],
        good,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("created lan.tcns ("), "{}", text(&out.stdout));
    let out = create_user(&data, &["--username", "lan.tcns", "--full-name", "Lan", "--role", "analyst"], good);
    assert!(text(&out.stderr).contains("username `lan.tcns` is taken"), "{}", text(&out.stderr));
}

#[test]
fn subcommand_help_shows_its_own_options_first_each_described() {
    let dir = tempfile::tempdir().unwrap();
    let out = hocvuso(dir.path()).args(["user", "create", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    let own = help.find("--username").unwrap();
    let config = help.find("Configuration").unwrap_or_else(|| panic!("{help}"));
    assert!(own < config && help.find("--database-url").unwrap() > config, "{help}");
    for flag in ["--username <USERNAME>", "--full-name <FULL_NAME>", "--role <ROLE>", "--scope-kind", "--scope-code"] {
        let line = help.lines().find(|l| l.trim_start().starts_with(flag)).unwrap_or_else(|| panic!("{flag}: {help}"));
        let described = line.trim().len() > flag.len() + 4
            || help.lines().skip_while(|l| !l.contains(flag)).nth(1).is_some_and(|l| !l.trim().is_empty());
        assert!(described, "{flag} has a description: {help}");
    }
    let out = hocvuso(dir.path()).arg("--help").output().unwrap();
    assert!(text(&out.stdout).contains("the SQLite file hocvuso.db in HOCVUSO_DATA_DIR"), "{}", text(&out.stdout));
}

#[test]
fn backup_writes_a_private_copy_and_names_the_secrets_to_keep() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = hocvuso(&data).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let target = dir.path().join("copy.db");
    let out = hocvuso(&data).arg("backup").arg(&target).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("backup written: {}", target.display())), "{said}");
    for secret in ["HOCVUSO_ID_HASH_SECRET", "HOCVUSO_JWT_SECRET", "id-hash-secret", "jwt-secret", "hocvuso stats rebuild", "/readyz"] {
        assert!(said.contains(secret), "{secret}: {said}");
    }
    let out = hocvuso(&data).arg("backup").arg(&target).output().unwrap();
    assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
    let out = hocvuso(&data)
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .arg("backup")
        .arg(dir.path().join("pg.db"))
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains("pg_dump"), "{}", text(&out.stderr));
    // `secrets check` agrees with the database it was made with.
    let out = hocvuso(&data).args(["secrets", "check"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = hocvuso(&data).env("HOCVUSO_ID_HASH_SECRET", "x".repeat(40)).args(["secrets", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("HOCVUSO_ID_HASH_SECRET is not the secret"), "{}", text(&out.stderr));
}

#[test]
fn a_data_folder_that_cannot_be_written_is_named() {
    // /sys refuses new folders to everyone, root included (a read-only file system acts alike).
    let data = std::path::Path::new("/sys/hocvuso-test-data");
    let out = hocvuso(data).env("HOCVUSO_BIND", "127.0.0.1:0").arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("/sys/hocvuso-test-data"), "{err}");
    assert!(err.contains("HOCVUSO_DATA_DIR") && err.contains("HOCVUSO_JWT_SECRET"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

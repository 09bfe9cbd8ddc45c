//! The `jiayi` command line, run as a user would run it.

use std::process::Command;

use crate::helpers::{drop_database, fresh_database};

fn jiayi(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jiayi"));
    cmd.args(args).env_remove("DATABASE_URL").env_remove("JIAYI_MODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run jiayi")
}

#[test]
fn import_reports_imported_rows_and_refused_lines() {
    let (url, _dir, pg) = fresh_database();
    let files = tempfile::tempdir().unwrap();
    let regions = files.path().join("regions.csv");
    std::fs::write(
        &regions,
        "\u{feff}code,name\n431126000000,示范县\n431126100000,城关镇\n431126100201,东门村\n4311261002,坏行\n",
    )
    .unwrap();
    let out = jiayi(
        &["import", "regions", regions.to_str().unwrap()],
        &[("DATABASE_URL", &url)],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "a refused row makes the command fail: {text}");
    assert!(
        text.contains("line 5"),
        "the refused row's line number is reported: {text}"
    );
    // The good rows are in: a team can now be imported on top of them.
    let teams = files.path().join("teams.csv");
    std::fs::write(
        &teams,
        "code,name,township_code,village_codes\nT01,城关一队,431126100000,431126100201\n",
    )
    .unwrap();
    let out = jiayi(&["import", "teams", teams.to_str().unwrap()], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop_database(&pg);
}

#[test]
fn a_wrong_header_imports_nothing() {
    let (url, _dir, pg) = fresh_database();
    let files = tempfile::tempdir().unwrap();
    let f = files.path().join("users.csv");
    std::fs::write(&f, "name,secret\nx,y\n").unwrap();
    let out = jiayi(&["import", "users", f.to_str().unwrap()], &[("DATABASE_URL", &url)]);
    assert!(!out.status.success());
    drop_database(&pg);
}

#[test]
fn production_mode_refuses_to_start_without_secrets() {
    let out = jiayi(
        &["serve"],
        &[
            ("JIAYI_MODE", "production"),
            ("DATABASE_URL", "sqlite:///nonexistent/never.db"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("JIAYI_JWT_SECRET is required in production mode"), "{err}");
}

#[test]
fn the_openapi_command_prints_the_committed_document() {
    let out = jiayi(&["openapi"], &[]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api-spec/openapi.json")).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "jiayi openapi differs from api-spec/openapi.json: run `UPDATE_OPENAPI=1 cargo test openapi`"
    );
}

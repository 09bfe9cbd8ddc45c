//! The county administrator the HTTP benchmarks run as, made on the benchmark database
//! when it is missing.

use jiayi::db;
use jiayi::domain::user;

/// The administrator's username.
pub const USERNAME: &str = "bench_exporter";
/// Its password.
pub const PASSWORD: &str = "bench-exporter-pass-2025";

/// Makes the county administrator of `region`'s county, unless it is there.
pub fn ensure_exporter(url: &str, region: &str) -> Result<(), String> {
    let pool = db::connect(url, 1)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    if user::find_by_username(&mut conn, USERNAME)
        .map_err(|e| e.to_string())?
        .is_none()
    {
        user::create(
            &mut conn,
            &user::NewUser {
                username: USERNAME.into(),
                password: PASSWORD.into(),
                role: "admin".into(),
                team_code: None,
                region_code: Some(format!("{}000000", &region[..6])),
                display_name: "基准导出".into(),
            },
            None,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

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

/// Logs the administrator in on `device_id`; answers the access token.
pub async fn login(client: &reqwest::Client, base: &str, device_id: &str) -> Result<String, String> {
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(
            &serde_json::json!({ "username": USERNAME, "password": PASSWORD, "device_id": device_id,
                                   "device_name": "bench" }),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    login["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or(format!("login: {login}"))
}

//! The field app's files under `/field/` (src/http/field.rs): served with their types and
//! the page's CSP, nothing outside web/field/, no type the app does not use.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_field_files_are_served_with_their_type_and_the_page_with_its_policy() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/field/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    crate::helpers::assert_scripts_only_from_self(&page, "/field/");
    let sdk = app
        .client
        .get(app.url("/field/sdk/jiayi-sync.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(sdk.status(), StatusCode::OK);
    assert!(sdk.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(sdk.headers()["x-content-type-options"], "nosniff");
    assert!(sdk.text().await.unwrap().contains("export"), "an ES module");
}

#[tokio::test]
async fn nothing_outside_the_field_folder_and_no_unlisted_type_is_served() {
    let app = spawn_app().await;
    for path in [
        "/field/nope.js",
        "/field/..%2F..%2FCargo.toml",
        "/field/%2E%2E/%2E%2E/Cargo.toml",
        "/field/sdk/..%2F..%2F..%2Fsrc%2Fmain.rs",
        "/field/index.exe",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

//! Error answers in both languages (issue 20): every JSON error carries `error`
//! (English) and `error_zh` (Chinese) — the messages people meet on the pages in their
//! own words (signing in, workflow refusals, a point outside the city, a missing case,
//! a body too large), any other with a Chinese phrase for its status.

mod common;
mod mgmt_common;

use mgmt_common::{env, AREA_S, AREA_W};
use reqwest::Method;
use serde_json::{json, Value};

fn both(v: &Value) -> (&str, &str) {
    (
        v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("error in {v}")),
        v["error_zh"]
            .as_str()
            .unwrap_or_else(|| panic!("error_zh in {v}")),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_come_in_english_and_chinese() {
    let e = env("err_lang", &[], &[("CITYGRID_RATE_LIMIT", "false")]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;

    // Signing in with a wrong password.
    let r = common::http()
        .post(e.server.url("/api/auth/login"))
        .json(&json!({"username": "acceptor", "password": "not-the-password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        both(&v),
        ("wrong user name or password", "用户名或密码错误")
    );

    // Not signed in.
    let (s, v) = e.call(None, Method::GET, "/api/cases", None).await;
    assert_eq!(s, 401);
    assert_eq!(both(&v).1, "请先登录", "{v}");

    // A report outside every unit grid: the point is kept in the Chinese text.
    let (s, v) = e
        .call(
            Some("inspector"),
            Method::POST,
            "/api/cases",
            Some(json!({"category": "E0101", "lon": 114.0, "lat": 30.0, "description": "far"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (en, zh) = both(&v);
    assert!(en.contains("outside every unit grid"), "{en}");
    assert!(
        zh.starts_with("位置（114") && zh.contains("不在任何单元网格内"),
        "{zh}"
    );

    // Workflow refusals: a step of another role, a step the state does not allow, an
    // extension approved without a request.
    let case = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "E0101", "lon": AREA_W + 0.0012, "lat": AREA_S + 0.0011, "description": "languages"}),
            201,
        )
        .await;
    let id = case["id"].as_i64().expect("id");
    let actions = format!("/api/cases/{id}/actions");
    let (s, v) = e
        .call(
            Some("inspector"),
            Method::POST,
            &actions,
            Some(json!({"action": "close"})),
        )
        .await;
    assert!(s == 403 || s == 409, "{s} {v}");
    let (en, zh) = both(&v);
    assert!(en.contains("close"), "{en}");
    assert!(zh.contains("“结案”"), "the action in Chinese: {zh}");
    let (s, v) = e
        .call(
            Some("dispatcher"),
            Method::POST,
            &actions,
            Some(json!({"action": "approve_extension"})),
        )
        .await;
    assert!((400..500).contains(&s), "{s} {v}");
    let (en, zh) = both(&v);
    assert!(!zh.is_empty() && zh != en, "{v}");
    assert!(
        zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "Chinese text: {zh}"
    );

    // A case that does not exist.
    let (s, v) = e
        .call(Some("acceptor"), Method::GET, "/api/cases/999999", None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(both(&v).1, "案卷不存在（或无权查看）");

    // A message without its own text: the status in Chinese, then the English.
    let (s, v) = e
        .call(Some("acceptor"), Method::GET, "/api/cases?limit=0", None)
        .await;
    assert_eq!(s, 400, "{v}");
    let (en, zh) = both(&v);
    assert_eq!(zh, format!("请求有误：{en}"));

    // Errors made by the router (a body over the limit) too.
    let big = "x".repeat(3 * 1024 * 1024);
    let r = common::http()
        .post(e.server.url("/api/cases"))
        .bearer_auth(&e.tokens["inspector"])
        .header("content-type", "application/json")
        .body(format!("{{\"description\": \"{big}\"}}"))
        .send()
        .await
        .expect("big body");
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.expect("json");
    assert_eq!(both(&v).1, "请求内容过大", "{v}");
}

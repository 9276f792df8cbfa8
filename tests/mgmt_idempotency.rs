//! Exactly-once intake (issue 18) against the real server and PostGIS:
//! `Idempotency-Key` on `POST /api/cases`, on photo uploads and on Open311 requests
//! (a replay gives the first response and writes nothing; another request with the same
//! key is refused; concurrent duplicates make one case), and photos added after the
//! case exists, each with its workflow stage, by the roles that may.

mod common;
mod mgmt_common;

use common::http;
use mgmt_common::{cli, env, Env, AREA_S, AREA_W};
use reqwest::Method;
use serde_json::{json, Value};

/// POST `body` (raw JSON text) to /api/cases as `user` with `key`.
async fn post_case(e: &Env, user: &str, key: Option<&str>, body: &str) -> (u16, Value, bool) {
    let mut req = http()
        .post(e.server.url("/api/cases"))
        .bearer_auth(&e.tokens[user])
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("POST /api/cases");
    let status = r.status().as_u16();
    let replayed = r.headers().get("idempotent-replayed").is_some();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        replayed,
    )
}

async fn cases_described(e: &Env, description: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM cases WHERE description = $1")
        .bind(description)
        .fetch_one(&e.db.pool)
        .await
        .expect("count")
}

/// A 1×1 PNG whose last byte of filler differs per `n` (distinct bytes, same picture
/// header).
fn png(n: u8) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\x0aIDATx\x9cc\0\x01\0\0\x05\0\x01\x0d\x0a\x2d\xb4\0\0\0\0IEND\xaeB`\x82".to_vec();
    v.push(n);
    v
}

/// Uploads a photo of case `case` as `user`; returns status, body, replayed.
async fn upload(
    e: &Env,
    user: &str,
    case: i64,
    query: &str,
    key: Option<&str>,
    bytes: Vec<u8>,
) -> (u16, Value, bool) {
    let mut req = http()
        .post(e.server.url(&format!("/api/cases/{case}/photos{query}")))
        .bearer_auth(&e.tokens[user])
        .header("content-type", "image/png")
        .body(bytes);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("upload");
    let status = r.status().as_u16();
    let replayed = r.headers().get("idempotent-replayed").is_some();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        replayed,
    )
}

async fn photo_count(e: &Env, case: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM case_photos WHERE case_id = $1")
        .bind(case)
        .fetch_one(&e.db.pool)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_is_taken_in_once_per_key() {
    let e = env("idem_cases", &[], &[("CITYGRID_RATE_LIMIT", "false")]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let (lon, lat) = (AREA_W + 0.0012, AREA_S + 0.0011);
    let body = format!(
        r#"{{"category": "E0101", "lon": {lon}, "lat": {lat}, "description": "idem-one", "attributes": {{"a": 1, "b": [1, 2]}}}}"#
    );
    let key = "7c1e0b7a-6a55-4d55-9a43-0c2f2f2a9d11";
    let (s, first, replayed) = post_case(&e, "inspector", Some(key), &body).await;
    assert_eq!(s, 201, "{first}");
    assert!(!replayed);
    let id = first["id"].as_i64().expect("id");
    assert!(first["case_no"].as_str().is_some(), "{first}");

    // The same request again (the first response was lost), keys in another order and
    // other spacing: the same response, nothing written.
    let again = format!(
        r#"{{ "attributes": {{"b": [1,2], "a": 1}}, "description": "idem-one", "lat": {lat}, "lon": {lon}, "category": "E0101" }}"#
    );
    for _ in 0..2 {
        let (s, v, replayed) = post_case(&e, "inspector", Some(key), &again).await;
        assert_eq!(s, 201, "{v}");
        assert!(replayed, "a replay is marked");
        assert_eq!(v["id"], id);
        assert_eq!(v["case_no"], first["case_no"]);
        assert_eq!(v["registration_due"], first["registration_due"]);
        assert_eq!(v["grid_code"], first["grid_code"]);
    }
    assert_eq!(cases_described(&e, "idem-one").await, 1);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM case_events WHERE case_id = $1")
        .bind(id)
        .fetch_one(&e.db.pool)
        .await
        .expect("events");
    assert_eq!(events, 1);

    // The same key for a different request: refused, nothing written.
    let other = body.replace("idem-one", "idem-other");
    let (s, v, _) = post_case(&e, "inspector", Some(key), &other).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v.to_string()
            .contains("this Idempotency-Key was already used for a different request"),
        "{v}"
    );
    assert_eq!(cases_described(&e, "idem-other").await, 0);

    // Keys belong to their principal: another inspector's same key is his own.
    let (s, v, replayed) = post_case(&e, "inspector2", Some(key), &body).await;
    assert_eq!(s, 201, "{v}");
    assert!(!replayed);
    assert_ne!(v["id"], id);
    assert_eq!(cases_described(&e, "idem-one").await, 2);

    // Without a key, every request is a new case.
    let plain = body.replace("idem-one", "idem-plain");
    for _ in 0..2 {
        let (s, v, _) = post_case(&e, "inspector", None, &plain).await;
        assert_eq!(s, 201, "{v}");
    }
    assert_eq!(cases_described(&e, "idem-plain").await, 2);

    // A refused request stores no key: after the fix the same key succeeds.
    let outside = r#"{"category": "E0101", "lon": 114.0, "lat": 30.0, "description": "idem-fix"}"#
        .to_string();
    let (s, v, _) = post_case(&e, "inspector", Some("fix-1"), &outside).await;
    assert_eq!(s, 422, "outside every grid: {v}");
    let fixed = body.replace("idem-one", "idem-fix");
    let (s, v, _) = post_case(&e, "inspector", Some("fix-1"), &fixed).await;
    assert_eq!(s, 201, "{v}");

    // A replay answers with the stored response even when the request would be refused
    // now (the category retired since).
    let retired = body.replace("idem-one", "idem-retired");
    let (s, v, _) = post_case(&e, "inspector", Some("retire-1"), &retired).await;
    assert_eq!(s, 201, "{v}");
    let retired_id = v["id"].clone();
    sqlx::query("UPDATE categories SET active = false WHERE code = 'E0101'")
        .execute(&e.db.pool)
        .await
        .expect("retire");
    let mut replayed_after_retiring = None;
    for _ in 0..50 {
        // the service learns of the change by its notification
        let (s, v, r) = post_case(&e, "inspector", Some("retire-1"), &retired).await;
        let (s2, _, _) = post_case(&e, "inspector", None, &retired).await;
        if s2 == 422 {
            replayed_after_retiring = Some((s, v, r));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (s, v, r) = replayed_after_retiring.expect("the retired category is refused");
    assert_eq!((s, r), (201, true), "{v}");
    assert_eq!(v["id"], retired_id);
    sqlx::query("UPDATE categories SET active = true WHERE code = 'E0101'")
        .execute(&e.db.pool)
        .await
        .expect("restore");

    // Bad keys: 400, nothing written.
    let before = cases_described(&e, "idem-bad").await;
    let bad = body.replace("idem-one", "idem-bad");
    let long = "k".repeat(201);
    for k in [long.as_str(), "", "tab\there"] {
        let (s, v, _) = post_case(&e, "inspector", Some(k), &bad).await;
        assert_eq!(s, 400, "key {k:?}: {v}");
    }
    let (s, _, _) = post_case(&e, "inspector", Some(&"k".repeat(200)), &bad).await;
    assert_eq!(s, 201, "200 characters are a key");
    assert_eq!(cases_described(&e, "idem-bad").await, before + 1);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&e.db.pool)
        .await
        .expect("keys");
    assert_eq!(stored, 5, "one row per key that succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_duplicates_make_one_case() {
    let e = env("idem_race", &[], &[("CITYGRID_RATE_LIMIT", "false")]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let (lon, lat) = (AREA_W + 0.0007, AREA_S + 0.0013);
    let body = format!(
        r#"{{"category": "E0101", "lon": {lon}, "lat": {lat}, "description": "idem-race"}}"#
    );
    let e = std::sync::Arc::new(e);
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (e, body, start) = (e.clone(), body.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            post_case(&e, "inspector", Some("race-key-1"), &body).await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut fresh = 0;
    for t in tasks {
        let (s, v, replayed) = t.await.expect("task");
        assert_eq!(s, 201, "{v}");
        ids.insert(v["id"].as_i64().expect("id"));
        if !replayed {
            fresh += 1;
        }
    }
    assert_eq!(ids.len(), 1, "every answer names the same case: {ids:?}");
    assert_eq!(fresh, 1, "one request created it, the others were replays");
    assert_eq!(cases_described(&e, "idem-race").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn photos_attach_later_once_with_their_stage() {
    let e = env(
        "idem_photos",
        &["dep1", "dep2"],
        &[("CITYGRID_RATE_LIMIT", "false")],
    )
    .await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let (lon, lat) = (AREA_W + 0.0012, AREA_S + 0.0011);
    let case = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "E0101", "lon": lon, "lat": lat, "description": "photos later"}),
            201,
        )
        .await;
    let id = case["id"].as_i64().expect("id");
    // a case without photos: an empty list, never null
    let fresh = e.get("inspector", &format!("/api/cases/{id}")).await;
    assert_eq!(fresh["photos"], json!([]));
    assert_eq!(
        fresh["photo_stages"],
        json!({"report": [], "feedback": [], "check": []})
    );

    // The reporter adds a photo afterwards with a key; the retry stores nothing more.
    let (s, p1, replayed) = upload(&e, "inspector", id, "", Some("photo-1"), png(1)).await;
    assert_eq!(s, 201, "{p1}");
    assert!(!replayed);
    assert_eq!(p1["stage"], "report");
    let (s, again, replayed) = upload(&e, "inspector", id, "", Some("photo-1"), png(1)).await;
    assert_eq!((s, replayed), (201, true), "{again}");
    assert_eq!(again["id"], p1["id"]);
    assert_eq!(photo_count(&e, id).await, 1);
    // other bytes, or another stage, with that key: refused
    let (s, v, _) = upload(&e, "inspector", id, "", Some("photo-1"), png(2)).await;
    assert_eq!(s, 422, "{v}");
    let (s, v, _) = upload(
        &e,
        "inspector",
        id,
        "?stage=report",
        Some("photo-1"),
        png(1),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    // a case's key is not a photo's
    let (s, case_keyed, _) = post_case(
        &e,
        "inspector",
        Some("shared-key"),
        &format!(r#"{{"category": "E0101", "lon": {lon}, "lat": {lat}, "description": "shared"}}"#),
    )
    .await;
    assert_eq!(s, 201, "{case_keyed}");
    let (s, v, _) = upload(&e, "inspector", id, "", Some("shared-key"), png(3)).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(photo_count(&e, id).await, 1);
    let (s, v, _) = upload(&e, "inspector", id, "", Some(&"k".repeat(201)), png(3)).await;
    assert_eq!(s, 400, "{v}");
    let (s, v, _) = upload(&e, "inspector", id, "?stage=repair", None, png(3)).await;
    assert_eq!(s, 400, "{v}");

    // report photos: the acceptor may, the dispatcher and the shift leader may not
    let (s, v, _) = upload(&e, "acceptor", id, "", None, png(4)).await;
    assert_eq!((s, v["stage"].as_str()), (201, Some("report")), "{v}");
    for user in ["dispatcher", "leader"] {
        let (s, v, _) = upload(&e, user, id, "", None, png(5)).await;
        assert_eq!(s, 403, "{user}: {v}");
    }
    // another inspector does not see the case
    let (s, _, _) = upload(&e, "inspector2", id, "", None, png(5)).await;
    assert_eq!(s, 404);
    // feedback before the case is with a department: not the reporter's, not yet
    let (s, v, _) = upload(&e, "inspector", id, "?stage=feedback", None, png(5)).await;
    assert_eq!(s, 403, "{v}");
    let (s, v, _) = upload(&e, "admin", id, "?stage=feedback", None, png(5)).await;
    assert_eq!(s, 409, "{v}");

    // With the department: its photos are feedback photos.
    e.step("acceptor", id, json!({"action": "register"})).await;
    e.step(
        "dispatcher",
        id,
        json!({"action": "dispatch", "department": "dep1"}),
    )
    .await;
    e.step("dep_dep1", id, json!({"action": "accept"})).await;
    let (s, fb, _) = upload(&e, "dep_dep1", id, "", Some("fb-1"), png(6)).await;
    assert_eq!((s, fb["stage"].as_str()), (201, Some("feedback")), "{fb}");
    let (s, v, _) = upload(&e, "dep_dep1", id, "?stage=report", None, png(7)).await;
    assert_eq!(s, 403, "{v}");
    let (s, v, _) = upload(&e, "dep_dep1", id, "?stage=check", None, png(7)).await;
    assert_eq!(s, 403, "{v}");
    let (s, _, _) = upload(&e, "dep_dep2", id, "", None, png(7)).await;
    assert_eq!(s, 404, "another department's case");
    // the reporter still adds report photos
    let (s, v, _) = upload(&e, "inspector", id, "", None, png(8)).await;
    assert_eq!((s, v["stage"].as_str()), (201, Some("report")), "{v}");
    e.step(
        "dep_dep1",
        id,
        json!({"action": "feedback", "note": "fixed", "photo_ids": [fb["id"]]}),
    )
    .await;
    e.step("acceptor", id, json!({"action": "request_check"}))
        .await;

    // At the check: the checking inspector's photos are check photos (the grid has no
    // responsible inspector: a pool task, taken by an inspector other than the
    // reporter); the reporter cannot add check photos.
    let (s, ck, _) = upload(&e, "inspector2", id, "", None, png(9)).await;
    assert_eq!((s, ck["stage"].as_str()), (201, Some("check")), "{ck}");
    let (s, v, _) = upload(&e, "inspector", id, "?stage=check", None, png(10)).await;
    assert_eq!(s, 403, "{v}");
    let (s, v, _) = upload(&e, "inspector", id, "", None, png(10)).await;
    assert_eq!((s, v["stage"].as_str()), (201, Some("report")), "{v}");
    // a department photo replayed after the case moved on: still the first answer
    let (s, v, replayed) = upload(&e, "dep_dep1", id, "", Some("fb-1"), png(6)).await;
    assert_eq!((s, replayed), (201, true), "{v}");
    assert_eq!(v["id"], fb["id"]);
    let (s, v, _) = upload(&e, "dep_dep1", id, "", None, png(11)).await;
    assert_eq!(s, 409, "feedback photos are over once the check began: {v}");
    e.step(
        "inspector2",
        id,
        json!({"action": "check_pass", "photo_ids": [ck["id"]]}),
    )
    .await;
    let (s, v, _) = upload(&e, "inspector2", id, "", None, png(12)).await;
    assert_eq!((s, v["stage"].as_str()), (201, Some("check")), "{v}");

    // Stored: stage and uploader of each photo.
    let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT p.stage, p.uploaded_by, p.uploader_user_id FROM case_photos p WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&e.db.pool)
    .await
    .expect("photos");
    let stages: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        stages,
        ["report", "report", "feedback", "report", "check", "report", "check"]
    );
    assert!(rows.iter().all(|r| r.2.is_some()), "{rows:?}");
    assert_eq!(rows[2].1, "user:dep_dep1");

    // The case JSON: photos with their stage, grouped by stage, and the timeline's
    // steps marked with the stage they open.
    let detail = e.get("admin", &format!("/api/cases/{id}")).await;
    let photos = detail["photos"].as_array().expect("photos");
    assert_eq!(photos.len(), 7);
    assert!(photos.iter().all(|p| p["stage"].is_string()), "{detail}");
    assert_eq!(detail["photo_stages"]["feedback"], json!([fb["id"]]));
    assert_eq!(
        detail["photo_stages"]["check"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        detail["photo_stages"]["report"].as_array().map(Vec::len),
        Some(4)
    );
    let marked: Vec<(String, String)> = detail["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|ev| {
            Some((
                ev["action"].as_str()?.to_string(),
                ev["photo_stage"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert_eq!(
        marked,
        [
            ("report".to_string(), "report".to_string()),
            ("feedback".to_string(), "feedback".to_string()),
            ("check_pass".to_string(), "check".to_string())
        ]
    );
    let (s, _) = e
        .call(Some("admin"), Method::GET, "/api/cases/999999", None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn open311_requests_with_a_key_are_filed_once() {
    let e = env("idem_open311", &[], &[("CITYGRID_RATE_LIMIT", "false")]).await;
    e.wait_grids().await;
    let seeded = cli(&e.db, &["grid", "seed-reference"]);
    assert!(seeded.contains("categories"), "{seeded}");
    let key = cli(
        &e.db,
        &[
            "key",
            "create",
            "--name",
            "city-app",
            "--scopes",
            "open311:write",
        ],
    )
    .trim()
    .to_string();
    let url = e.server.url("/open311/v2/requests.json");
    let post = |form: String, idem: &'static str| {
        http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("Idempotency-Key", idem)
            .body(form)
            .send()
    };
    let form = format!(
        "api_key={key}&service_code=E0102&lat=30.5911&long=114.3012&description=idem-311&email=li%40example.org"
    );
    let r = post(form.clone(), "o311-1").await.expect("post");
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.expect("json");
    // the same fields in another order: the same request
    let reordered = format!(
        "description=idem-311&long=114.3012&email=li%40example.org&api_key={key}&lat=30.5911&service_code=E0102"
    );
    let r = post(reordered, "o311-1").await.expect("post");
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_some());
    let again: Value = r.json().await.expect("json");
    assert_eq!(
        again[0]["service_request_id"],
        first[0]["service_request_id"]
    );
    assert_eq!(again[0]["token"], first[0]["token"]);
    assert_eq!(cases_described(&e, "idem-311").await, 1);
    // another request with the key: refused (Open311 errors are 400s)
    let r = post(form.replace("idem-311", "idem-311b"), "o311-1")
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let text = r.text().await.expect("text");
    assert!(
        text.contains("already used for a different request"),
        "{text}"
    );
    assert_eq!(cases_described(&e, "idem-311b").await, 0);
    // a bad key: 400
    let r = http()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("Idempotency-Key", "x".repeat(300))
        .body(form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
}

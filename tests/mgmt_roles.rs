//! Role checks of the workflow (403 and nothing changes), visibility, and photos
//! (type by magic bytes, size limit 413).

mod common;
mod mgmt_common;

use mgmt_common::env;
use reqwest::Method;
use serde_json::{json, Value};

async fn snapshot(e: &mgmt_common::Env, id: i64) -> (Value, i64) {
    let (row,): (Value,) = sqlx::query_as("SELECT to_jsonb(c) FROM cases c WHERE id = $1")
        .bind(id)
        .fetch_one(&e.db.pool)
        .await
        .unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM case_events WHERE case_id = $1")
        .bind(id)
        .fetch_one(&e.db.pool)
        .await
        .unwrap();
    (row, n)
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_steps_change_nothing_and_photos_are_checked() {
    let e = env(
        "roles",
        &["dep1", "dep2"],
        &[("CITYGRID_MAX_UPLOAD_BYTES", "2000")],
    )
    .await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let c = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "E0101", "lon": 114.3012, "lat": 30.5911}),
            201,
        )
        .await;
    let id = c["id"].as_i64().unwrap();
    let before = snapshot(&e, id).await;

    // an inspector may not register, a department may not dispatch: 403, nothing changes
    for (user, action) in [
        ("inspector", "register"),
        ("dep_dep1", "register"),
        ("dispatcher", "register"),
        ("acceptor", "close"),
    ] {
        let (s, v) = e
            .call(
                Some(user),
                Method::POST,
                &format!("/api/cases/{id}/actions"),
                Some(json!({"action": action, "note": "x"})),
            )
            .await;
        assert!(
            s == 403 || (user == "dep_dep1" && s == 404),
            "{user} {action}: {s} {v}"
        );
        assert_eq!(
            snapshot(&e, id).await,
            before,
            "{user} {action} changed the case"
        );
    }
    // a step that is not possible from the state: 409, nothing changes
    let (s, _) = e
        .call(
            Some("leader"),
            Method::POST,
            &format!("/api/cases/{id}/actions"),
            Some(json!({"action": "close"})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(snapshot(&e, id).await, before);
    let (s, _) = e
        .call(
            Some("leader"),
            Method::POST,
            &format!("/api/cases/{id}/actions"),
            Some(json!({"action": "teleport"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = e
        .call(
            None,
            Method::POST,
            &format!("/api/cases/{id}/actions"),
            Some(json!({"action": "register"})),
        )
        .await;
    assert_eq!(s, 401);

    // dispatched to dep1: dep2 cannot see or act on it, dep1 cannot dispatch
    e.step("acceptor", id, json!({"action": "register"})).await;
    e.step(
        "dispatcher",
        id,
        json!({"action": "dispatch", "department": "dep1"}),
    )
    .await;
    let before = snapshot(&e, id).await;
    let (s, _) = e
        .call(
            Some("dep_dep2"),
            Method::POST,
            &format!("/api/cases/{id}/actions"),
            Some(json!({"action": "accept"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = e
        .call(
            Some("dep_dep1"),
            Method::POST,
            &format!("/api/cases/{id}/actions"),
            Some(json!({"action": "dispatch", "department": "dep2"})),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(snapshot(&e, id).await, before);

    // inspectors see their own reports only
    let mine = e.get("inspector", "/api/cases").await;
    assert_eq!(mine["total"], 1);
    let theirs = e.get("inspector2", "/api/cases").await;
    assert_eq!(theirs["total"], 0);
    let (s, _) = e
        .call(
            Some("inspector2"),
            Method::GET,
            &format!("/api/cases/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // photos: PNG by magic bytes, refused types and sizes (a real 1×1 PNG: the size
    // is read from its header)
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\x0aIDATx\x9cc\0\x01\0\0\x05\0\x01\x0d\x0a\x2d\xb4\0\0\0\0IEND\xaeB`\x82".to_vec();
    let client = common::http();
    let url = e.server.url(&format!("/api/cases/{id}/photos"));
    let up = |body: Vec<u8>, ct: &'static str, user: &str| {
        client
            .post(&url)
            .bearer_auth(&e.tokens[user])
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = up(png.clone(), "application/octet-stream", "dep_dep1")
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let photo: Value = r.json().await.unwrap();
    assert_eq!(photo["content_type"], "image/png");
    let r = up(b"GIF89a-not-allowed".to_vec(), "image/gif", "dep_dep1")
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = up(vec![0xFF; 3000], "image/jpeg", "dep_dep1")
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = up(png.clone(), "image/png", "dep_dep2").await.unwrap();
    assert_eq!(r.status(), 404);
    // multipart
    let mut mp = b"--BOUND\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
    // a JPEG's frame header (SOF0): 1×1, three components
    mp.extend_from_slice(&[
        0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0, 1, 0, 1, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF,
        0xD9,
    ]);
    mp.extend_from_slice(b"\r\n--BOUND--\r\n");
    let r = up(mp, "multipart/form-data; boundary=BOUND", "dep_dep1")
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let jpg: Value = r.json().await.unwrap();
    assert_eq!(jpg["content_type"], "image/jpeg");
    assert_eq!(jpg["size_bytes"], 23);
    // a tiny file declaring a huge picture (a decompression bomb for every browser
    // that shows it) is refused before it is stored, and so is an unreadable header
    let mut bomb = png[..16].to_vec();
    bomb.extend_from_slice(&50_000u32.to_be_bytes());
    bomb.extend_from_slice(&50_000u32.to_be_bytes());
    bomb.extend_from_slice(&png[24..]);
    let photos_before: i64 = sqlx::query_scalar("SELECT count(*) FROM case_photos")
        .fetch_one(&e.db.pool)
        .await
        .unwrap();
    for (bytes, what) in [
        (bomb, "50000×50000 PNG"),
        (
            [&png[..8], &[0u8; 100][..]].concat(),
            "PNG without a header",
        ),
    ] {
        let r = up(bytes, "image/png", "dep_dep1").await.unwrap();
        assert_eq!(r.status(), 422, "{what}");
    }
    let photos_after: i64 = sqlx::query_scalar("SELECT count(*) FROM case_photos")
        .fetch_one(&e.db.pool)
        .await
        .unwrap();
    assert_eq!(photos_before, photos_after, "nothing refused was stored");
    // the photo is served back, and attached to a step
    let pid = photo["id"].as_i64().unwrap();
    let r = client
        .get(e.server.url(&format!("/api/photos/{pid}")))
        .bearer_auth(&e.tokens["dep_dep1"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    // served as a download that can run nothing
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"photo-{pid}.png\"").as_str()
    );
    assert_eq!(
        r.headers()["content-security-policy"],
        "default-src 'none'; sandbox"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().to_vec(), png);
    e.step("dep_dep1", id, json!({"action": "accept"})).await;
    let fb = e
        .step(
            "dep_dep1",
            id,
            json!({"action": "feedback", "photo_ids": [pid], "note": "fixed"}),
        )
        .await;
    let last = fb["timeline"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["attachments"], json!([format!("/api/photos/{pid}")]));
    let (s, _) = e
        .call(
            Some("dep_dep1"),
            Method::POST,
            &format!("/api/cases/{id}/actions"),
            Some(json!({"action": "comment", "photo_ids": [999999]})),
        )
        .await;
    assert_eq!(s, 422);
    // events are append-only in the database too
    let r = sqlx::query("UPDATE case_events SET note = 'x' WHERE case_id = $1")
        .bind(id)
        .execute(&e.db.pool)
        .await;
    assert!(r.is_err());
}

/// Points of `n` different unit grids of the test area, with their grid codes.
async fn points_in_distinct_grids(e: &mgmt_common::Env, n: usize) -> Vec<(f64, f64, String)> {
    let mut found: Vec<(f64, f64, String)> = Vec::new();
    for i in 0..6 {
        for j in 0..4 {
            let (lon, lat) = (
                mgmt_common::AREA_W + 0.0002 + 0.0005 * i as f64,
                mgmt_common::AREA_S + 0.0002 + 0.0005 * j as f64,
            );
            let (s, v) = e
                .call(
                    None,
                    Method::GET,
                    &format!("/api/locate?lon={lon}&lat={lat}"),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{v}");
            if let Some(code) = v["grid"]["code"].as_str() {
                if !found.iter().any(|f| f.2 == code) {
                    found.push((lon, lat, code.to_string()));
                }
            }
            if found.len() == n {
                return found;
            }
        }
    }
    panic!("the test area has fewer than {n} unit grids: {found:?}");
}

/// The field tasks of a case: (kind, status, inspector_user_id).
async fn tasks(e: &mgmt_common::Env, id: i64) -> Vec<(String, String, Option<i64>)> {
    sqlx::query_as(
        "SELECT kind, status, inspector_user_id FROM field_tasks WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&e.db.pool)
    .await
    .unwrap()
}

/// Issue #26 (3): an inspector who can see a case (he reported it) in another
/// inspector's grid may not verify it nor check its fix; a pool task is anyone's but the
/// reporter's; a done task records who did it.
#[tokio::test(flavor = "multi_thread")]
async fn inspectors_do_only_their_own_field_tasks() {
    let e = env(
        "roles_tasks",
        &["dep1"],
        &[("CITYGRID_RATE_LIMIT", "false")],
    )
    .await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let grids = points_in_distinct_grids(&e, 3).await;
    let user_id = |name: &'static str| {
        let pool = e.db.pool.clone();
        async move {
            let (id,): (i64,) = sqlx::query_as("SELECT id FROM users WHERE username = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap();
            id
        }
    };
    let (a, b) = (user_id("inspector").await, user_id("inspector2").await);
    // grid 0 is inspector A's, grid 1 inspector B's, grid 2 nobody's
    e.patch(
        &format!("/api/grids/{}", grids[0].2),
        json!({"responsible": "inspector"}),
    )
    .await;
    e.patch(
        &format!("/api/grids/{}", grids[1].2),
        json!({"responsible": "inspector2"}),
    )
    .await;
    let report = |who: &'static str, g: usize| {
        let body = json!({"category": "E0101", "lon": grids[g].0, "lat": grids[g].1});
        let e = &e;
        async move {
            e.post(who, "/api/cases", body, 201).await["id"]
                .as_i64()
                .unwrap()
        }
    };
    let refused = |who: &'static str, id: i64, action: &'static str| {
        let e = &e;
        async move {
            let before = snapshot(e, id).await;
            let tasks_before = tasks(e, id).await;
            let (s, v) = e
                .call(
                    Some(who),
                    Method::POST,
                    &format!("/api/cases/{id}/actions"),
                    Some(json!({"action": action})),
                )
                .await;
            assert_eq!(s, 403, "{who} {action} on case {id}: {v}");
            assert!(
                v.to_string().contains("inspector") || v.to_string().contains("reporter"),
                "{v}"
            );
            assert_eq!(
                snapshot(e, id).await,
                before,
                "{who} {action} changed the case"
            );
            assert_eq!(
                tasks(e, id).await,
                tasks_before,
                "{who} {action} changed a task"
            );
        }
    };
    let to_checking = |id: i64| {
        let e = &e;
        async move {
            e.step("acceptor", id, json!({"action": "register"})).await;
            e.step(
                "dispatcher",
                id,
                json!({"action": "dispatch", "department": "dep1"}),
            )
            .await;
            e.step("dep_dep1", id, json!({"action": "accept"})).await;
            e.step(
                "dep_dep1",
                id,
                json!({"action": "feedback", "note": "fixed"}),
            )
            .await;
            e.step("acceptor", id, json!({"action": "request_check"}))
                .await;
        }
    };

    // B reports in A's grid: he sees the case, but its tasks are A's
    let c1 = report("inspector2", 0).await;
    e.step("acceptor", c1, json!({"action": "request_verification"}))
        .await;
    assert_eq!(
        tasks(&e, c1).await,
        [("verify".into(), "open".into(), Some(a))]
    );
    assert_eq!(
        e.get("inspector2", &format!("/api/cases/{c1}")).await["status"],
        "verifying"
    );
    refused("inspector2", c1, "verify").await;
    e.step("inspector", c1, json!({"action": "verify"})).await;
    to_checking(c1).await;
    refused("inspector2", c1, "check_pass").await;
    refused("inspector2", c1, "check_fail").await;
    let done = e
        .step("inspector", c1, json!({"action": "check_pass"}))
        .await;
    assert_eq!(done["status"], "checked");
    assert_eq!(
        tasks(&e, c1).await,
        [
            ("verify".into(), "done".into(), Some(a)),
            ("check".into(), "done".into(), Some(a))
        ]
    );

    // a task follows its grid to the new inspector and records who did it
    let c2 = report("acceptor", 1).await;
    e.step("acceptor", c2, json!({"action": "request_verification"}))
        .await;
    assert_eq!(
        tasks(&e, c2).await,
        [("verify".into(), "open".into(), Some(b))]
    );
    e.patch(
        &format!("/api/grids/{}", grids[1].2),
        json!({"responsible": "inspector"}),
    )
    .await;
    e.step("inspector", c2, json!({"action": "verify"})).await;
    assert_eq!(
        tasks(&e, c2).await,
        [("verify".into(), "done".into(), Some(a))]
    );

    // a grid of nobody: a pool task, but never for the reporter of the case
    let c3 = report("inspector2", 2).await;
    e.step("acceptor", c3, json!({"action": "request_verification"}))
        .await;
    assert_eq!(
        tasks(&e, c3).await,
        [("verify".into(), "open".into(), None)]
    );
    refused("inspector2", c3, "verify").await;
    e.step("inspector", c3, json!({"action": "verify"})).await;
    to_checking(c3).await;
    refused("inspector2", c3, "check_pass").await;
    e.step(
        "inspector",
        c3,
        json!({"action": "check_fail", "note": "still there"}),
    )
    .await;
    assert_eq!(
        tasks(&e, c3).await,
        [
            ("verify".into(), "done".into(), Some(a)),
            ("check".into(), "done".into(), Some(a))
        ]
    );
    // the responsible inspector checks the fix of his own report in his own grid
    let c4 = report("inspector", 0).await;
    to_checking(c4).await;
    e.step("inspector", c4, json!({"action": "check_pass"}))
        .await;
    assert_eq!(
        tasks(&e, c4).await,
        [("check".into(), "done".into(), Some(a))]
    );
}

//! Editing through OGC API – Features – Part 4 and the history (issue 22), end to end
//! against a real PostGIS and two real servers on one database: layers imported with
//! `citygrid import vector`, editable by the departments their policy lists
//! (`citygrid layer set-access --edit`), edited over raw HTTP (create, read with ETag, replace with
//! the right and a stale ETag, no If-Match, merge patch, delete, invalid geometry
//! refused with PostGIS's reason or repaired by the layer's setting, attribute types,
//! Content-Crs EPSG:4547, grid management's layers refused), every change seen in a
//! vector tile of the SECOND server within a second; the history listed and restored;
//! a re-import keeps the previous table, which the server prunes after the retention;
//! and the same create/replace/delete through a real client library (OWSLib).

mod common;

use std::time::{Duration, Instant};

use common::mvt::decode;
use common::tiles::tile_of;
use common::{add_user, citygrid, http, run, TestDb, TestServer};
use reqwest::{Method, Response};
use serde_json::{json, Value};

/// Around Wuhan (EPSG:4547 is CGCS2000 3° Gauss–Krüger, central meridian 114°E).
const LON: f64 = 114.30;
const LAT: f64 = 30.60;

fn square(lon: f64, lat: f64, d: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]})
}

/// Three parks and two points, imported with the real importer.
fn import_layers(db: &TestDb, dir: &std::path::Path) {
    let parks = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": square(LON, LAT, 0.001), "properties": {"name": "East Lake", "rank": 1, "area": 2.5, "open": true, "since": "1949-10-01"}},
        {"type": "Feature", "geometry": square(LON + 0.01, LAT, 0.001), "properties": {"name": "Sun Yat-sen", "rank": 2, "area": 1.0, "open": false}},
        {"type": "Feature", "geometry": square(LON + 0.02, LAT, 0.001), "properties": {"name": "Jiefang", "rank": 3, "area": 0.5, "open": true}},
    ]});
    let points = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON + 0.005, LAT + 0.005]}, "properties": {"name": "gate"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON + 0.006, LAT + 0.005]}, "properties": {"name": "kiosk"}},
    ]});
    for (id, fc) in [("ed_parks", parks), ("ed_points", points)] {
        let file = dir.join(format!("{id}.geojson"));
        std::fs::write(&file, fc.to_string()).unwrap();
        let (ok, out, err) =
            run(citygrid(db).args(["import", "vector", file.to_str().unwrap(), "--layer", id]));
        assert!(ok, "import {id}: {out}{err}");
    }
}

async fn login(server: &TestServer, user: &str, password: &str) -> String {
    let v: Value = http()
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().expect("token").to_string()
}

/// One request: method, URL, bearer token, extra headers, JSON body.
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Response {
    let mut r = http().request(method, server.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let mut typed = false;
    for (k, v) in headers {
        typed |= k.eq_ignore_ascii_case("content-type");
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        if !typed {
            r = r.header("content-type", "application/geo+json");
        }
        r = r.body(b.to_string());
    }
    r.send().await.unwrap()
}

fn etag_of(r: &Response) -> String {
    r.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_string()
}

async fn error_of(r: Response, status: u16) -> String {
    let got = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

/// The (id, name) of layer `id`'s features in the z15 tile over (lon, lat) of `server`.
async fn tile_features(
    server: &TestServer,
    token: &str,
    id: &str,
    lon: f64,
    lat: f64,
) -> Vec<(u64, String)> {
    let (x, y) = tile_of(lon, lat, 15);
    let r = http()
        .get(server.url(&format!("/tiles/{id}/15/{x}/{y}.mvt")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        204 => Vec::new(),
        200 => decode(&r.bytes().await.unwrap())
            .into_iter()
            .map(|f| (f.id, f.prop("name").unwrap_or_default().to_string()))
            .collect(),
        s => panic!("tile: status {s}"),
    }
}

/// Waits (at most a second) until `check` holds for the tile of `server`; returns how
/// long it took.
async fn within_a_second(
    server: &TestServer,
    token: &str,
    id: &str,
    (lon, lat): (f64, f64),
    what: &str,
    check: impl Fn(&[(u64, String)]) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let found = tile_features(server, token, id, lon, lat).await;
        if check(&found) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: not in the second server's tile after 1 s: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_loaded(server: &TestServer, token: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http()
            .get(server.url(&format!("/ogc/collections/{id}/items?limit=1")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "{id} not loaded: {}", r.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn part4_editing_history_and_tiles_on_a_second_server() {
    let db = TestDb::new().await;
    let dir = common::temp_dir("ogc_edit");
    import_layers(&db, &dir);
    sqlx::query(
        "INSERT INTO departments (code, name) VALUES ('parks', 'Parks'), ('water', 'Water') \
         ON CONFLICT DO NOTHING",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    add_user(&db, "ed_admin", "admin", None, "edit-admin-pw-1");
    add_user(
        &db,
        "ed_parks",
        "department",
        Some("parks"),
        "edit-parks-pw-1",
    );
    add_user(
        &db,
        "ed_water",
        "department",
        Some("water"),
        "edit-water-pw-1",
    );
    add_user(&db, "ed_insp", "inspector", None, "edit-insp-pw-1");
    let a = TestServer::start(&db);
    let b = TestServer::start(&db);
    let admin = login(&a, "ed_admin", "edit-admin-pw-1").await;
    let staff = login(&a, "ed_parks", "edit-parks-pw-1").await;
    let inspector = login(&a, "ed_insp", "edit-insp-pw-1").await;
    let water = login(&a, "ed_water", "edit-water-pw-1").await;
    let admin_b = login(&b, "ed_admin", "edit-admin-pw-1").await;
    for s in [&a, &b] {
        wait_loaded(s, &admin, "ed_parks").await;
        wait_loaded(s, &admin, "ed_points").await;
    }
    let items = "/ogc/collections/ed_parks/items";

    // The conformance classes of Part 4.
    let conf: Value = call(&a, Method::GET, "/ogc/conformance", Some(&admin), &[], None)
        .await
        .json()
        .await
        .unwrap();
    for class in ["create-replace-delete", "update", "features"] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/{class}");
        assert!(
            conf["conformsTo"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == &uri),
            "{uri}"
        );
    }

    // Who may edit: the layer's edit policy (admins; the parks department once the
    // layer lists it), not anonymous callers, an inspector or another department.
    let park = json!({"type": "Feature", "geometry": square(LON + 0.03, LAT, 0.001),
                      "properties": {"name": "Zhongshan", "rank": 4, "area": 0.8, "open": true}});
    error_of(
        call(&a, Method::POST, items, None, &[], Some(&park)).await,
        401,
    )
    .await;
    error_of(
        call(&a, Method::POST, items, Some(&inspector), &[], Some(&park)).await,
        403,
    )
    .await;
    let body = error_of(
        call(&a, Method::POST, items, Some(&staff), &[], Some(&park)).await,
        403,
    )
    .await;
    assert!(body.contains("set-access"), "{body}");
    for layer in ["ed_parks", "ed_points"] {
        let (ok, out, err) =
            run(citygrid(&db).args(["layer", "set-access", layer, "--edit", "departments:parks"]));
        assert!(ok, "{out}{err}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // The servers follow the policy change (the catalogue notice).
        let r = call(&a, Method::POST, items, Some(&water), &[], Some(&park)).await;
        assert_eq!(r.status(), 403, "another department may not edit");
        let history = "/ogc/collections/ed_parks/items/1/history";
        let r = call(&a, Method::GET, history, Some(&staff), &[], None).await;
        if r.status() == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit policy was not applied: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Create: 201, Location, ETag; the feature as stored.
    let r = call(&a, Method::POST, items, Some(&staff), &[], Some(&park)).await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created_tag = etag_of(&r);
    assert!(created_tag.starts_with('"') && !created_tag.starts_with("W/"));
    let created: Value = r.json().await.unwrap();
    let fid = created["id"].as_i64().expect("id");
    assert_eq!(fid, 4, "the next id after the three imported");
    assert!(location.ends_with(&format!("{items}/{fid}")), "{location}");
    assert_eq!(created["properties"]["name"], "Zhongshan");
    let item = format!("{items}/{fid}");
    let took = within_a_second(
        &b,
        &admin_b,
        "ed_parks",
        (LON + 0.0305, LAT + 0.0005),
        "created",
        |f| {
            f.iter()
                .any(|(id, name)| *id == fid as u64 && name == "Zhongshan")
        },
    )
    .await;
    eprintln!("created feature in the second server's tile after {took:?}");

    // Read with its ETag (the same on both servers).
    let r = call(&a, Method::GET, &item, Some(&admin), &[], None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(etag_of(&r), created_tag);
    let r = call(&b, Method::GET, &item, Some(&admin_b), &[], None).await;
    assert_eq!(etag_of(&r), created_tag);

    // Replace: If-Match required (428), a stale one refused (412), the right one 200.
    let renamed = json!({"type": "Feature", "geometry": square(LON + 0.03, LAT, 0.001),
                         "properties": {"name": "Zhongshan Park", "rank": 5, "area": 0.8, "open": true}});
    let body = error_of(
        call(&a, Method::PUT, &item, Some(&staff), &[], Some(&renamed)).await,
        428,
    )
    .await;
    assert!(body.contains("If-Match"), "{body}");
    error_of(
        call(
            &a,
            Method::PUT,
            &item,
            Some(&staff),
            &[("if-match", "\"0123456789abcdef0123456789abcdef\"")],
            Some(&renamed),
        )
        .await,
        412,
    )
    .await;
    let r = call(
        &a,
        Method::PUT,
        &item,
        Some(&staff),
        &[("if-match", &created_tag)],
        Some(&renamed),
    )
    .await;
    assert_eq!(r.status(), 200);
    let replaced_tag = etag_of(&r);
    assert_ne!(replaced_tag, created_tag);
    within_a_second(
        &b,
        &admin_b,
        "ed_parks",
        (LON + 0.0305, LAT + 0.0005),
        "replaced",
        |f| {
            f.iter()
                .any(|(id, name)| *id == fid as u64 && name == "Zhongshan Park")
        },
    )
    .await;
    // The first ETag is stale now.
    error_of(
        call(
            &a,
            Method::PUT,
            &item,
            Some(&staff),
            &[("if-match", &created_tag)],
            Some(&renamed),
        )
        .await,
        412,
    )
    .await;

    // Merge patch: one property changed, one cleared; the geometry kept.
    let r = call(
        &a,
        Method::PATCH,
        &item,
        Some(&staff),
        &[
            ("if-match", &replaced_tag),
            ("content-type", "application/merge-patch+json"),
        ],
        Some(&json!({"properties": {"rank": 7, "area": null}})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let patched_tag = etag_of(&r);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["properties"]["rank"], 7);
    assert_eq!(patched["properties"]["area"], Value::Null);
    assert_eq!(patched["properties"]["name"], "Zhongshan Park");
    assert_eq!(patched["geometry"]["type"], "Polygon");

    // Invalid geometry: refused with PostGIS's reason; wrong type, bad attributes,
    // unknown CRS and a wrong media type are 4xx with what to fix; nothing is written.
    let spike = json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [LON + 0.04, LAT], [LON + 0.041, LAT], [LON + 0.041, LAT + 0.001], [LON + 0.042, LAT + 0.002],
        [LON + 0.041, LAT + 0.001], [LON + 0.04, LAT + 0.001], [LON + 0.04, LAT]]]}, "properties": {"name": "spike"}});
    let body = error_of(
        call(&a, Method::POST, items, Some(&staff), &[], Some(&spike)).await,
        400,
    )
    .await;
    assert!(
        body.contains("invalid geometry") && body.contains("Self-intersection"),
        "{body}"
    );
    let point = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON, LAT]}, "properties": {}});
    let body = error_of(
        call(&a, Method::POST, items, Some(&staff), &[], Some(&point)).await,
        400,
    )
    .await;
    assert!(body.contains("Polygon") && body.contains("Point"), "{body}");
    let bad_type = json!({"type": "Feature", "geometry": square(LON, LAT + 0.01, 0.001), "properties": {"rank": "high"}});
    let body = error_of(
        call(&a, Method::POST, items, Some(&staff), &[], Some(&bad_type)).await,
        400,
    )
    .await;
    assert!(body.contains("rank") && body.contains("high"), "{body}");
    let unknown = json!({"type": "Feature", "geometry": square(LON, LAT + 0.01, 0.001), "properties": {"colour": "green"}});
    let body = error_of(
        call(&a, Method::POST, items, Some(&staff), &[], Some(&unknown)).await,
        400,
    )
    .await;
    assert!(
        body.contains("colour") && body.contains("name") && body.contains("rank"),
        "{body}"
    );
    let body = error_of(
        call(
            &a,
            Method::POST,
            items,
            Some(&staff),
            &[(
                "content-crs",
                "<http://www.opengis.net/def/crs/EPSG/0/9999>",
            )],
            Some(&park),
        )
        .await,
        400,
    )
    .await;
    assert!(body.contains("Content-Crs"), "{body}");
    error_of(
        call(
            &a,
            Method::POST,
            items,
            Some(&staff),
            &[("content-type", "text/plain")],
            Some(&park),
        )
        .await,
        415,
    )
    .await;
    error_of(
        call(
            &a,
            Method::POST,
            items,
            Some(&staff),
            &[],
            Some(&json!({"type": "Feature"})),
        )
        .await,
        400,
    )
    .await;
    // A date PostgreSQL cannot read: 400 with its words, not a 500.
    let bad_date = json!({"type": "Feature", "geometry": square(LON, LAT + 0.01, 0.001), "properties": {"since": "2026-13-45"}});
    let body = error_of(
        call(&a, Method::POST, items, Some(&staff), &[], Some(&bad_date)).await,
        400,
    )
    .await;
    assert!(body.contains("refused the values"), "{body}");
    // Malformed bodies and ids: 4xx, never a 5xx.
    let too_big = "x".repeat(1024 * 1024 + 10);
    let r = http()
        .post(a.url(items))
        .bearer_auth(&staff)
        .header("content-type", "application/geo+json")
        .body(too_big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    for (method, path, body) in [
        (Method::POST, items.to_string(), "not json"),
        (Method::POST, items.to_string(), "[]"),
        (
            Method::POST,
            items.to_string(),
            r#"{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1e400, 0]}, "properties": {}}"#,
        ),
        (
            Method::POST,
            items.to_string(),
            r#"{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[200, 95], [201, 95], [201, 96], [200, 95]]]}, "properties": {}}"#,
        ),
        (
            Method::POST,
            items.to_string(),
            r#"{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {}}"#,
        ),
        (
            Method::POST,
            items.to_string(),
            r#"{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[114.3, 30.6], [114.4, 30.6], [114.3, 30.6]]]}, "properties": "x"}"#,
        ),
        (Method::PATCH, format!("{items}/1"), "\"x\""),
        (Method::PATCH, format!("{items}/1"), r#"{"owner": "me"}"#),
        (Method::PATCH, format!("{items}/1"), r#"{"geometry": null}"#),
        (Method::PUT, format!("{items}/abc"), "{}"),
        (Method::POST, format!("{items}/1/history/x/restore"), ""),
        (Method::POST, format!("{items}/1/history/99/restore"), ""),
        (Method::DELETE, format!("{items}/99999"), ""),
    ] {
        let r = http()
            .request(method.clone(), a.url(&path))
            .bearer_auth(&staff)
            .header("content-type", "application/geo+json")
            .header("if-match", "*")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "{method} {path} {body}: {status}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM layers.ed_parks")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 4, "refused edits write nothing");

    // The layer set to repair: the spike is stored made valid.
    let (ok, out, err) =
        run(citygrid(&db).args(["layer", "set-invalid-geometry", "ed_parks", "repair"]));
    assert!(ok, "{out}{err}");
    let (ok, _, err) =
        run(citygrid(&db).args(["layer", "set-invalid-geometry", "ed_parks", "mend"]));
    assert!(!ok && err.contains("refuse or repair"), "{err}");
    let r = call(&a, Method::POST, items, Some(&staff), &[], Some(&spike)).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let valid: bool = sqlx::query_scalar("SELECT bool_and(ST_IsValid(geom)) FROM layers.ed_parks")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(valid);

    // Content-Crs EPSG:4547 (northing, easting): stored at the right lon/lat.
    let (e, n): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint($1, $2), 4326), 4547) p) s",
    )
    .bind(LON + 0.007)
    .bind(LAT + 0.005)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let gk = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [n, e]}, "properties": {"name": "ticket office"}});
    let r = call(
        &a,
        Method::POST,
        "/ogc/collections/ed_points/items",
        Some(&staff),
        &[(
            "content-crs",
            "<http://www.opengis.net/def/crs/EPSG/0/4547>",
        )],
        Some(&gk),
    )
    .await;
    assert_eq!(r.status(), 201);
    let stored: Value = r.json().await.unwrap();
    let c = &stored["geometry"]["coordinates"];
    assert!(
        (c[0].as_f64().unwrap() - (LON + 0.007)).abs() < 1e-7
            && (c[1].as_f64().unwrap() - (LAT + 0.005)).abs() < 1e-7,
        "{c}"
    );
    within_a_second(
        &b,
        &admin_b,
        "ed_points",
        (LON + 0.007, LAT + 0.005),
        "reprojected point",
        |f| f.iter().any(|(_, name)| name == "ticket office"),
    )
    .await;

    // Grid management's layers are not edited this way.
    let body = error_of(
        call(
            &a,
            Method::POST,
            "/ogc/collections/cases/items",
            Some(&admin),
            &[],
            Some(&point),
        )
        .await,
        405,
    )
    .await;
    assert!(body.contains("grid management"), "{body}");

    // History: create, replace, update, by whom; restore version 2 (an edit itself).
    let history: Value = call(
        &a,
        Method::GET,
        &format!("{item}/history"),
        Some(&staff),
        &[],
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let versions = history["versions"].as_array().unwrap();
    let ops: Vec<&str> = versions.iter().map(|v| v["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["create", "replace", "update"]);
    assert!(versions.iter().all(|v| v["actor"] == "ed_parks"));
    assert_eq!(versions[0]["before"], Value::Null);
    assert_eq!(versions[1]["before"]["properties"]["name"], "Zhongshan");
    assert_eq!(versions[1]["after"]["properties"]["name"], "Zhongshan Park");
    error_of(
        call(
            &a,
            Method::GET,
            &format!("{item}/history"),
            Some(&inspector),
            &[],
            None,
        )
        .await,
        403,
    )
    .await;
    let r = call(
        &a,
        Method::POST,
        &format!("{item}/history/1/restore"),
        Some(&admin),
        &[("if-match", "\"stale\"")],
        None,
    )
    .await;
    error_of(r, 412).await;
    let r = call(
        &a,
        Method::POST,
        &format!("{item}/history/1/restore"),
        Some(&admin),
        &[("if-match", &patched_tag)],
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let restored_tag = etag_of(&r);
    let restored: Value = r.json().await.unwrap();
    assert_eq!(restored["properties"]["name"], "Zhongshan");
    assert_eq!(restored["properties"]["rank"], 4);
    within_a_second(
        &b,
        &admin_b,
        "ed_parks",
        (LON + 0.0305, LAT + 0.0005),
        "restored",
        |f| {
            f.iter()
                .any(|(id, name)| *id == fid as u64 && name == "Zhongshan")
        },
    )
    .await;
    let r = call(&b, Method::GET, &item, Some(&admin_b), &[], None).await;
    assert_eq!(
        etag_of(&r),
        restored_tag,
        "the second server holds the restored feature"
    );

    // Delete: If-Match required; 204; gone from the second server's tile; restorable.
    error_of(
        call(&a, Method::DELETE, &item, Some(&staff), &[], None).await,
        428,
    )
    .await;
    let r = call(
        &a,
        Method::DELETE,
        &item,
        Some(&staff),
        &[("if-match", &restored_tag)],
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    error_of(
        call(&a, Method::GET, &item, Some(&admin), &[], None).await,
        404,
    )
    .await;
    within_a_second(
        &b,
        &admin_b,
        "ed_parks",
        (LON + 0.0305, LAT + 0.0005),
        "deleted",
        |f| !f.iter().any(|(id, _)| *id == fid as u64),
    )
    .await;
    error_of(
        call(
            &a,
            Method::DELETE,
            &item,
            Some(&staff),
            &[("if-match", &restored_tag)],
            None,
        )
        .await,
        404,
    )
    .await;
    let history: Value = call(
        &a,
        Method::GET,
        &format!("{item}/history"),
        Some(&staff),
        &[],
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let ops: Vec<&str> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["create", "replace", "update", "restore", "delete"]);
    let body = error_of(
        call(
            &a,
            Method::POST,
            &format!("{item}/history/5/restore"),
            Some(&admin),
            &[],
            None,
        )
        .await,
        400,
    )
    .await;
    assert!(body.contains("restore version 4"), "{body}");
    let r = call(
        &a,
        Method::POST,
        &format!("{item}/history/3/restore"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    within_a_second(
        &b,
        &admin_b,
        "ed_parks",
        (LON + 0.0305, LAT + 0.0005),
        "re-created",
        |f| {
            f.iter()
                .any(|(id, name)| *id == fid as u64 && name == "Zhongshan Park")
        },
    )
    .await;
    let (ok, out, err) =
        run(citygrid(&db).args(["layer", "history", "ed_parks", &fid.to_string()]));
    assert!(
        ok && out.contains("restore") && out.contains("ed_parks") && out.contains("delete"),
        "{out}{err}"
    );

    // A re-import keeps the previous table; past the retention the server drops it and
    // the old edits.
    let (ok, out, err) = run(citygrid(&db).args([
        "import",
        "vector",
        dir.join("ed_parks.geojson").to_str().unwrap(),
        "--layer",
        "ed_parks",
        "--replace",
    ]));
    assert!(ok, "{out}{err}");
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT table_name FROM layer_snapshots WHERE layer = 'ed_parks'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(kept.len(), 1);
    let old_rows: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM layer_history.\"{}\"",
        kept[0]
    ))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        old_rows, 5,
        "the edited version (3 imported, the spike and the restored park)"
    );
    let now_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM layers.ed_parks")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(now_rows, 3);
    let (ok, out, err) = run(citygrid(&db).args(["layer", "history", "ed_parks"]));
    assert!(
        ok && out.contains(&kept[0]) && out.contains("repaired"),
        "{out}{err}"
    );
    // The kept version made the layer again: its five features on the servers, the
    // re-imported version kept in its turn.
    let (ok, _, err) =
        run(citygrid(&db).args(["layer", "restore-version", "ed_parks", "ed_parks@999999"]));
    assert!(!ok && err.contains("no kept version"), "{err}");
    let (ok, out, err) =
        run(citygrid(&db).args(["layer", "restore-version", "ed_parks", &kept[0]]));
    assert!(ok && out.contains("restored"), "{out}{err}");
    let restored_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM layers.ed_parks")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(restored_rows, 5);
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT table_name FROM layer_snapshots WHERE layer = 'ed_parks'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(kept.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = call(&b, Method::GET, &item, Some(&admin_b), &[], None).await;
        if r.status() == 200 {
            let f: Value = r.json().await.unwrap();
            assert_eq!(f["properties"]["name"], "Zhongshan Park");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restored version is not served: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, _, err) = run(citygrid(&db).args(["layer", "set-retention", "ed_parks", "0"]));
    assert!(!ok && err.contains("1 to 36500"), "{err}");
    let (ok, out, err) = run(citygrid(&db).args(["layer", "set-retention", "ed_parks", "2"]));
    assert!(ok, "{out}{err}");
    sqlx::query(
        "UPDATE layer_snapshots SET taken_at = now() - interval '3 days' WHERE layer = 'ed_parks'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE feature_history SET at = now() - interval '3 days' WHERE layer = 'ed_parks' AND fid = $1 AND version <= 2")
        .bind(fid)
        .execute(&db.pool)
        .await
        .unwrap();
    // 36 hours: past the server's retention (1 day, below) but within the layer's own.
    sqlx::query("UPDATE feature_history SET at = now() - interval '36 hours' WHERE layer = 'ed_parks' AND fid = $1 AND version = 3")
        .bind(fid)
        .execute(&db.pool)
        .await
        .unwrap();
    // ed_points has no retention of its own: the server's applies.
    sqlx::query(
        "UPDATE feature_history SET at = now() - interval '36 hours' WHERE layer = 'ed_points'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let c = TestServer::start_with(&db, &[("CITYGRID_HISTORY_RETENTION_DAYS", "1")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (snapshots, edits, table): (i64, i64, Option<String>) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM layer_snapshots WHERE layer = 'ed_parks'),
                    (SELECT count(*) FROM feature_history WHERE layer = 'ed_parks'),
                    to_regclass($1)::text",
        )
        .bind(format!("layer_history.\"{}\"", kept[0]))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if snapshots == 0 && table.is_none() {
            // create + replace of the park (2 days retention) went; the rest stay.
            assert_eq!(edits, 5, "only the edits past the retention are pruned");
            let points: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM feature_history WHERE layer = 'ed_points'",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap();
            assert_eq!(
                points, 0,
                "the server's retention for a layer without its own"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not pruned: {snapshots} snapshots, {edits} edits"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(c);
}

/// The Python that has OWSLib (`make deps` installs it into target/pytools).
fn python() -> std::path::PathBuf {
    common::pmtiles::python()
}

/// OWSLib's `ogcapi.features.Features`: create, read (its ETag from the response
/// headers), replace with If-Match, delete with If-Match.
const OWSLIB: &str = r#"
import json, sys
from owslib.ogcapi.features import Features
base, token, lon, lat = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
api = Features(base, headers={"Authorization": "Bearer " + token})
out = {}
feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
           "properties": {"name": "owslib bench"}}
out["created"] = api.collection_item_create("ed_points", feature)
location = api.response_headers["Location"]
fid = location.rsplit("/", 1)[1]
out["id"] = fid
item = api.collection_item("ed_points", fid)
out["read"] = item["properties"]["name"]
api.headers["If-Match"] = api.response_headers["ETag"]
feature["properties"]["name"] = "owslib bench (moved)"
feature["geometry"]["coordinates"] = [lon + 0.0001, lat]
out["updated"] = api.collection_item_update("ed_points", fid, feature)
api.headers.pop("If-Match")
try:
    api.collection_item_update("ed_points", fid, feature)
    out["without_if_match"] = "accepted"
except RuntimeError as e:
    out["without_if_match"] = str(e)
item = api.collection_item("ed_points", fid)
out["read_after_update"] = item["properties"]["name"]
api.headers["If-Match"] = api.response_headers["ETag"]
out["deleted"] = api.collection_item_delete("ed_points", fid)
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn part4_through_owslib() {
    let db = TestDb::new().await;
    let dir = common::temp_dir("ogc_edit_owslib");
    import_layers(&db, &dir);
    add_user(&db, "ow_admin", "admin", None, "owslib-admin-pw-1");
    let a = TestServer::start(&db);
    let b = TestServer::start(&db);
    let token = login(&a, "ow_admin", "owslib-admin-pw-1").await;
    let token_b = login(&b, "ow_admin", "owslib-admin-pw-1").await;
    wait_loaded(&a, &token, "ed_points").await;
    wait_loaded(&b, &token_b, "ed_points").await;
    let base = a.url("/ogc");
    let (lon, lat) = (LON + 0.008, LAT + 0.005);
    let script = dir.join("owslib_edit.py");
    std::fs::write(&script, OWSLIB).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python())
            .arg(&script)
            .args([base, token, lon.to_string(), lat.to_string()])
            .output()
            .expect("run python with OWSLib (make deps installs it into target/pytools)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(result["created"], true);
    assert_eq!(result["read"], "owslib bench");
    assert_eq!(result["updated"], true);
    assert!(
        result["without_if_match"]
            .as_str()
            .unwrap()
            .contains("If-Match"),
        "{result}"
    );
    assert_eq!(result["read_after_update"], "owslib bench (moved)");
    assert_eq!(result["deleted"], true);
    let fid: i64 = result["id"].as_str().unwrap().parse().unwrap();
    let ops: Vec<String> = sqlx::query_scalar(
        "SELECT op FROM feature_history WHERE layer = 'ed_points' AND fid = $1 ORDER BY version",
    )
    .bind(fid)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(ops, ["create", "replace", "delete"]);
    let actor: String =
        sqlx::query_scalar("SELECT DISTINCT actor FROM feature_history WHERE layer = 'ed_points'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(actor, "ow_admin");
    // The second server shows the deletion.
    within_a_second(
        &b,
        &token_b,
        "ed_points",
        (lon, lat),
        "deleted by OWSLib",
        |f| !f.iter().any(|(id, _)| *id == fid as u64),
    )
    .await;
}

//! The authorization matrix: every route of `GET /api/routes` × every kind of caller
//! (no credentials, each role, an embed API key used properly, from a foreign origin
//! and on a layer it may not read, an expired and a revoked token) → the expected
//! outcome, checked against the running server. A route without a row here, or a row
//! whose route is gone, fails the test. Then data scoping: departments see only their
//! cases, inspectors only the field tasks of their grids, API keys only their layers
//! and origins.
//!
//! Outcome letters: `A` allowed (the handler answered: neither 401 nor 403, never a
//! 5xx), `U` exactly 401, `F` exactly 403, `N` exactly 404 (a layer the caller may not
//! read is answered as one that does not exist).

mod common;

use common::tiles::tile_at;
mod mgmt_common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use mgmt_common::{env, Env, AREA_S, AREA_W, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

/// The callers, in the order of the expectation strings.
const PRINCIPALS: [&str; 12] = [
    "anonymous",
    "inspector",
    "acceptor",
    "shift_leader",
    "dispatcher",
    "department",
    "admin",
    "key",
    "key@foreign_origin",
    "key@other_layer",
    "expired_token",
    "revoked_token",
];

/// The origin the embed key allows, and one it does not.
const KEY_ORIGIN: &str = "https://water.example.org";
const FOREIGN_ORIGIN: &str = "https://evil.example.net";
/// The layer the embed key may read, and one it may not.
const KEY_LAYER: &str = "unit_grids";
const OTHER_LAYER: &str = "cases";

/// A request body template (placeholders as in the URL).
#[derive(Clone, Copy)]
enum Body {
    None,
    Json(&'static str),
    Form(&'static str),
    Png,
}

/// One route's row: method and pattern exactly as `/api/routes` lists them, the URL
/// to call (placeholders `{layer}`, `{case}`… filled with real ids), the body, and the
/// expected outcome per principal (12 letters; spaces are for reading only).
struct Row {
    method: &'static str,
    pattern: &'static str,
    url: &'static str,
    body: Body,
    expect: &'static str,
}

const fn row(
    method: &'static str,
    pattern: &'static str,
    url: &'static str,
    body: Body,
    expect: &'static str,
) -> Row {
    Row {
        method,
        pattern,
        url,
        body,
        expect,
    }
}

//                                       anon  insp acc lead disp dep admin  key foreign layer  expired revoked
// Every route: public pages and reads are open to all but bad credentials; map data is
// private on this server (CITYGRID_PUBLIC_LAYERS=false).
#[rustfmt::skip]
const TABLE: &[Row] = &[
    // system
    row("GET", "/health", "/health", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/metrics", "/metrics", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/openapi.json", "/openapi.json", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/catalog", "/catalog", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/catalog/{id}", "/catalog/{layer}", Body::None, "U AAAAAA AFN UU"),
    row("GET", "/tiles/{ids}", "/tiles/{layer}.json", Body::None, "U AAAAAA AFN UU"),
    row("GET", "/tiles/{ids}/{z}/{x}/{y}", "/tiles/{layer}/{z}/{x}/{y}", Body::None, "U AAAAAA AFN UU"),
    row("GET", "/styles/{name}", "/styles/default.json", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/fonts/{fontstack}/{range}", "/fonts/Noto%20Sans%20Regular/0-255.pbf", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/sprites/{file}", "/sprites/default.json", Body::None, "U AAAAAA AFA UU"),
    row("POST", "/api/auth/login", "/api/auth/login", Body::Json(r#"{"username": "acceptor", "password": "{password}"}"#), "A AAAAAA AFA UU"),
    row("POST", "/api/auth/logout", "/api/auth/logout", Body::None, "U AAAAAA FFF UU"),
    row("GET", "/api/auth/me", "/api/auth/me", Body::None, "U AAAAAA FFF UU"),
    row("GET", "/api/routes", "/api/routes", Body::None, "U FFFFFA FFF UU"),
    row("GET", "/api/home", "/api/home", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/api/search", "/api/search?q=42", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/api/geocode", "/api/geocode?q=42", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/api/reverse", "/api/reverse?lon=114.3&lat=30.6", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/api/admin/layers", "/api/admin/layers", Body::None, "U FFFFFA FFF UU"),
    row("DELETE", "/api/admin/layers/{layer}", "/api/admin/layers/no_such_layer", Body::None, "U FFFFFA FFF UU"),
    row("PUT", "/api/admin/layers/{layer}/access", "/api/admin/layers/{layer}/access", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("PUT", "/api/admin/layers/{layer}/titles", "/api/admin/layers/{layer}/titles", Body::Json(r#"{"title_zh": "单元网格"}"#), "U FFFFFA FFF UU"),
    row("PUT", "/api/admin/layers/{layer}/serve-from", "/api/admin/layers/no_such_layer/serve-from", Body::Json(r#"{"serve_from": "database"}"#), "U FFFFFA FFF UU"),
    // pages
    row("GET", "/", "/", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/inspector", "/inspector", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/inspector/sw.js", "/inspector/sw.js", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/inspector/manifest.webmanifest", "/inspector/manifest.webmanifest", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/console", "/console", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/bigscreen", "/bigscreen", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/embed", "/embed", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/wmts-demo", "/wmts-demo", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/embed/map", "/embed/map?layers={layer}", Body::None, "A AAAAAA AFN UU"),
    row("GET", "/assets/{*path}", "/assets/css/app.css", Body::None, "A AAAAAA AFA UU"),
    // cases
    row("GET", "/api/locate", "/api/locate?lon={lon}&lat={lat}", Body::None, "A AAAAAA AFA UU"),
    row("POST", "/api/cases", "/api/cases", Body::Json(r#"{"category": "E0101", "lon": {lon}, "lat": {lat}, "description": "matrix"}"#), "U AAAAFA FFF UU"),
    row("GET", "/api/cases", "/api/cases", Body::None, "U AAAAAA FFF UU"),
    row("GET", "/api/cases/events", "/api/cases/events", Body::None, "U AAAAAA FFF UU"),
    row("GET", "/api/cases/{id}", "/api/cases/{case}", Body::None, "U AAAAAA FFF UU"),
    row("POST", "/api/cases/{id}/actions", "/api/cases/{case}/actions", Body::Json(r#"{"action": "comment", "note": "matrix"}"#), "U AAAAAA FFF UU"),
    row("POST", "/api/cases/{id}/photos", "/api/cases/{case}/photos", Body::Png, "U AAFFAA FFF UU"),
    row("GET", "/api/photos/{id}", "/api/photos/{photo}", Body::None, "U AAAAAA FFF UU"),
    row("GET", "/api/stats/evaluation", "/api/stats/evaluation", Body::None, "U AAAAAA FFF UU"),
    row("GET", "/api/stats/live", "/api/stats/live", Body::None, "U FAAAFA FFF UU"),
    // reference data (writes: admin only; the empty bodies are refused by the handler)
    row("GET", "/api/departments", "/api/departments", Body::None, "U AAAAAA FFF UU"),
    row("POST", "/api/departments", "/api/departments", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/departments/{code}", "/api/departments/dep1", Body::None, "U AAAAAA FFF UU"),
    row("PATCH", "/api/departments/{code}", "/api/departments/dep1", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/categories", "/api/categories", Body::None, "A AAAAAA AFA UU"),
    row("POST", "/api/categories", "/api/categories", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/categories/{code}", "/api/categories/E0101", Body::None, "A AAAAAA AFA UU"),
    row("PATCH", "/api/categories/{code}", "/api/categories/E0101", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/routing-rules", "/api/routing-rules", Body::None, "U AAAAAA FFF UU"),
    row("POST", "/api/routing-rules", "/api/routing-rules", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/routing-rules/{id}", "/api/routing-rules/matrix-rule", Body::None, "U AAAAAA FFF UU"),
    row("PATCH", "/api/routing-rules/{id}", "/api/routing-rules/matrix-rule", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/sla-rules", "/api/sla-rules", Body::None, "U AAAAAA FFF UU"),
    row("POST", "/api/sla-rules", "/api/sla-rules", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/sla-rules/{id}", "/api/sla-rules/{sla}", Body::None, "U AAAAAA FFF UU"),
    row("PATCH", "/api/sla-rules/{id}", "/api/sla-rules/{sla}", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/calendar", "/api/calendar", Body::None, "U AAAAAA FFF UU"),
    row("POST", "/api/calendar", "/api/calendar", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/calendar/{code}", "/api/calendar/default", Body::None, "U AAAAAA FFF UU"),
    row("PATCH", "/api/calendar/{code}", "/api/calendar/default", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/holidays", "/api/holidays", Body::None, "U AAAAAA FFF UU"),
    row("GET", "/api/holidays/{year}", "/api/holidays/2027", Body::None, "U AAAAAA FFF UU"),
    row("PUT", "/api/holidays/{year}", "/api/holidays/2027", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("DELETE", "/api/holidays/{year}", "/api/holidays/2199", Body::None, "U FFFFFA FFF UU"),
    // places
    row("GET", "/api/grids", "/api/grids", Body::None, "U AAAAAA FFF UU"),
    row("POST", "/api/grids", "/api/grids", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/grids/{code}", "/api/grids/{grid}", Body::None, "U AAAAAA FFF UU"),
    row("PATCH", "/api/grids/{code}", "/api/grids/{grid}", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/components", "/api/components", Body::None, "U AAAAAA FFF UU"),
    row("POST", "/api/components", "/api/components", Body::Json("{}"), "U FFFFFA FFF UU"),
    row("GET", "/api/components/{id}", "/api/components/{component}", Body::None, "U AAAAAA FFF UU"),
    row("PATCH", "/api/components/{id}", "/api/components/{component}", Body::Json("{}"), "U FFFFFA FFF UU"),
    // Open311 (public; POST carries its own api_key in the form: a key with the
    // `open311:write` scope and the embed key's origin)
    row("GET", "/open311/v2/{file}", "/open311/v2/discovery.json", Body::None, "A AAAAAA AFA UU"),
    row("POST", "/open311/v2/{file}", "/open311/v2/requests.json", Body::Form("api_key={o311key}&service_code=E0101&lat={lat}&long={lon}&description=matrix"), "A AAAAAA AFA UU"),
    row("GET", "/open311/v2/services/{file}", "/open311/v2/services/E0101.json", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/open311/v2/requests/{file}", "/open311/v2/requests/{case_no}.json", Body::None, "A AAAAAA AFA UU"),
    row("GET", "/open311/v2/tokens/{file}", "/open311/v2/tokens/o311_unknown.json", Body::None, "A AAAAAA AFA UU"),
    // OGC API
    row("GET", "/ogc", "/ogc", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/ogc/", "/ogc/", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/ogc/conformance", "/ogc/conformance", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/ogc/api", "/ogc/api", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/ogc/collections", "/ogc/collections", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/ogc/collections/{id}", "/ogc/collections/{layer}", Body::None, "U AAAAAA AFN UU"),
    row("GET", "/ogc/collections/{id}/queryables", "/ogc/collections/{layer}/queryables", Body::None, "U AAAAAA AFN UU"),
    row("GET", "/ogc/collections/{id}/items", "/ogc/collections/{layer}/items?limit=2", Body::None, "U AAAAAA AFN UU"),
    row("GET", "/ogc/collections/{id}/items/{fid}", "/ogc/collections/{layer}/items/{fid}", Body::None, "U AAAAAA AFN UU"),
    // OGC API – Features – Part 4 and history: the layer's editors ({layer} is grid
    // management's unit_grids: no department edits it; the admin gets 405, or 428 first
    // where If-Match is missing, or 404 for a history never written).
    row("POST", "/ogc/collections/{id}/items", "/ogc/collections/{layer}/items", Body::Json(r#"{"type": "Feature", "geometry": {"type": "Point", "coordinates": [{lon}, {lat}]}, "properties": {}}"#), "U FFFFFA FFF UU"),
    row("PUT", "/ogc/collections/{id}/items/{fid}", "/ogc/collections/{layer}/items/{fid}", Body::Json(r#"{"type": "Feature", "geometry": {"type": "Point", "coordinates": [{lon}, {lat}]}, "properties": {}}"#), "U FFFFFA FFF UU"),
    row("PATCH", "/ogc/collections/{id}/items/{fid}", "/ogc/collections/{layer}/items/{fid}", Body::Json(r#"{"properties": {}}"#), "U FFFFFA FFF UU"),
    row("DELETE", "/ogc/collections/{id}/items/{fid}", "/ogc/collections/{layer}/items/{fid}", Body::None, "U FFFFFA FFF UU"),
    row("GET", "/ogc/collections/{id}/items/{fid}/history", "/ogc/collections/{layer}/items/{fid}/history", Body::None, "U FFFFFA FFF UU"),
    row("POST", "/ogc/collections/{id}/items/{fid}/history/{version}/restore", "/ogc/collections/{layer}/items/{fid}/history/1/restore", Body::None, "U FFFFFA FFF UU"),
    row("GET", "/ogc/tileMatrixSets", "/ogc/tileMatrixSets", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/ogc/tileMatrixSets/{tms}", "/ogc/tileMatrixSets/WebMercatorQuad", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/ogc/collections/{id}/tiles", "/ogc/collections/{layer}/tiles", Body::None, "U AAAAAA AFN UU"),
    row("GET", "/ogc/collections/{id}/tiles/{tms}", "/ogc/collections/{layer}/tiles/WebMercatorQuad", Body::None, "U AAAAAA AFN UU"),
    row("GET", "/ogc/collections/{id}/tiles/{tms}/{z}/{y}/{x}", "/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{y}/{x}", Body::None, "U AAAAAA AFN UU"),
    // OGC WMTS 1.0.0 (issue 23): capabilities list the layers the caller may read
    row("GET", "/wmts", "/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER={layer}&STYLE=default&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/wmts/1.0.0/WMTSCapabilities.xml", "/wmts/1.0.0/WMTSCapabilities.xml", Body::None, "U AAAAAA AFA UU"),
    row("GET", "/wmts/{layer}/{style}/{tms}/{matrix}/{row}/{col}", "/wmts/{layer}/default/WebMercatorQuad/{z}/{y}/{x}.mvt", Body::None, "U AAAAAA AFA UU"),
    // spatial queries
    row("GET", "/api/nearest", "/api/nearest?layer={layer}&lon={lon}&lat={lat}&k=1", Body::None, "U AAAAAA AFN UU"),
    row("POST", "/api/query", "/api/query", Body::Json(r#"{"geometry": {"type": "Point", "coordinates": [{lon}, {lat}]}, "layers": ["{layer}"]}"#), "U AAAAAA AFN UU"),
    // layer administration (the PUT names a field the layer does not have: 422 for the admin, nothing changes)
    row("GET", "/api/admin/layers/{layer}/tile-properties", "/api/admin/layers/{layer}/tile-properties", Body::None, "U FFFFFA FFF UU"),
    row("PUT", "/api/admin/layers/{layer}/tile-properties", "/api/admin/layers/{layer}/tile-properties", Body::Json(r#"{"include": ["no_such_field"]}"#), "U FFFFFA FFF UU"),
];

/// A 1×1 PNG (the server decides the type by the magic bytes and reads the size
/// from the header).
fn png() -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\x0aIDATx\x9cc\0\x01\0\0\x05\0\x01\x0d\x0a\x2d\xb4\0\0\0\0IEND\xaeB`\x82".to_vec()
}

/// How a principal sends its credentials.
#[derive(Clone)]
enum Cred {
    None,
    Bearer(String),
    Key { key: String, origin: &'static str },
}

fn fill(template: &str, values: &HashMap<&'static str, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Signs `user` in and returns the token.
async fn login(e: &Env, user: &str) -> String {
    let r: Value = common::http()
        .post(e.server.url("/api/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    r["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login {user}: {r}"))
        .to_string()
}

/// Creates an API key with the real CLI; returns the secret.
fn create_key(e: &Env, name: &str, layers: &str, origins: &str) -> String {
    create_key_with(
        e,
        &["--name", name, "--layers", layers, "--origins", origins],
    )
}

/// `citygrid key create` with `args`; returns the secret.
fn create_key_with(e: &Env, args: &[&str]) -> String {
    let mut all = vec!["key", "create"];
    all.extend_from_slice(args);
    let out = mgmt_common::cli(&e.db, &all);
    let key = out.trim().to_string();
    assert!(key.starts_with("cgk_"), "key create printed {out:?}");
    key
}

/// Polls `GET path` as admin until it answers 200 (a layer loaded in memory).
async fn wait_ok(e: &Env, path: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (s, v) = e.call(Some("admin"), Method::GET, path, None).await;
        if s == 200 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never answered 200: {s} {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Whether `status` matches the outcome letter.
fn matches(letter: char, status: u16) -> bool {
    match letter {
        'A' => status != 401 && status != 403 && status < 500,
        'U' => status == 401,
        'F' => status == 403,
        'N' => status == 404,
        other => panic!("unknown outcome letter {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_for_every_principal() {
    let e = env(
        "authz",
        &["dep1", "dep2"],
        &[
            ("CITYGRID_PUBLIC_LAYERS", "false"),
            ("CITYGRID_RATE_LIMIT", "false"),
        ],
    )
    .await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    e.category("P0101", None).await;
    let (lon, lat) = (AREA_W + 0.0012, AREA_S + 0.0011);

    // real ids for the path parameters
    let comp = e
        .post(
            "admin",
            "/api/components",
            json!({"category_code": "P0101", "lon": lon + 0.0003, "lat": lat}),
            201,
        )
        .await;
    let component = comp["component_id"]
        .as_str()
        .expect("component id")
        .to_string();
    e.post(
        "admin",
        "/api/routing-rules",
        json!({"id": "matrix-rule", "department": "dep1",
               "category": {"level": "sub", "code": "E0101"}, "area": {"type": "anywhere"}}),
        201,
    )
    .await;
    let sla = e
        .post(
            "admin",
            "/api/sla-rules",
            json!({"scope": "E0101", "stage": "handling", "amount": 4, "unit": "working_hours"}),
            201,
        )
        .await;
    let sla = sla["id"].to_string();
    // a case the inspector reported, dispatched to dep1: every role may see it
    let case = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "E0101", "lon": lon, "lat": lat}),
            201,
        )
        .await;
    let case_id = case["id"].as_i64().expect("case id");
    let case_no = case["case_no"].as_str().expect("case_no").to_string();
    let grid = case["grid_code"].as_str().expect("grid").to_string();
    e.step("acceptor", case_id, json!({"action": "register"}))
        .await;
    e.step(
        "dispatcher",
        case_id,
        json!({"action": "dispatch", "department": "dep1"}),
    )
    .await;
    let photo: Value = common::http()
        .post(e.server.url(&format!("/api/cases/{case_id}/photos")))
        .bearer_auth(&e.tokens["dep_dep1"])
        .header("content-type", "image/png")
        .body(png())
        .send()
        .await
        .expect("photo")
        .json()
        .await
        .expect("photo body");
    let photo = photo["id"].to_string();
    let (fid,): (i64,) = sqlx::query_as("SELECT fid FROM layers.unit_grids WHERE code = $1")
        .bind(&grid)
        .fetch_one(&e.db.pool)
        .await
        .expect("grid fid");
    wait_ok(&e, &format!("/ogc/collections/{KEY_LAYER}/items?limit=1")).await;
    wait_ok(&e, &format!("/ogc/collections/{OTHER_LAYER}/items?limit=1")).await;

    // the credentials
    let key = create_key(&e, "water embed", KEY_LAYER, KEY_ORIGIN);
    let o311key = create_key_with(
        &e,
        &[
            "--name",
            "civic app",
            "--scopes",
            "open311:write",
            "--origins",
            KEY_ORIGIN,
        ],
    );
    let expired = login(&e, "acceptor").await;
    sqlx::query(
        "UPDATE sessions SET expires_at = now() - interval '1 second' \
         WHERE token_hash = sha256($1::text::bytea)",
    )
    .bind(&expired)
    .execute(&e.db.pool)
    .await
    .expect("expire token");
    let revoked = login(&e, "acceptor").await;
    let r = common::http()
        .post(e.server.url("/api/auth/logout"))
        .bearer_auth(&revoked)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let users = [
        "inspector",
        "acceptor",
        "leader",
        "dispatcher",
        "dep_dep1",
        "admin",
    ];
    let mut creds: Vec<Cred> = vec![Cred::None];
    creds.extend(users.iter().map(|u| Cred::Bearer(e.tokens[*u].clone())));
    creds.push(Cred::Key {
        key: key.clone(),
        origin: KEY_ORIGIN,
    });
    creds.push(Cred::Key {
        key: key.clone(),
        origin: FOREIGN_ORIGIN,
    });
    creds.push(Cred::Key {
        key: key.clone(),
        origin: KEY_ORIGIN,
    });
    creds.push(Cred::Bearer(expired));
    creds.push(Cred::Bearer(revoked));
    assert_eq!(creds.len(), PRINCIPALS.len());
    // logout revokes the token it is called with: each user logs out a session of its own
    let mut logout_tokens = HashMap::new();
    for (i, u) in users.iter().enumerate() {
        logout_tokens.insert(i + 1, login(&e, u).await);
    }

    // every route is in the table, and every row is a route
    let (s, listed) = e
        .call(Some("admin"), Method::GET, "/api/routes", None)
        .await;
    assert_eq!(s, 200, "{listed}");
    let listed: BTreeSet<(String, String)> = listed["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap_or_default().to_string(),
                r["path"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut rows = BTreeSet::new();
    for r in TABLE {
        assert!(
            rows.insert((r.method.to_string(), r.pattern.to_string())),
            "duplicate row {} {}",
            r.method,
            r.pattern
        );
        let letters: Vec<char> = r.expect.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(
            letters.len(),
            PRINCIPALS.len(),
            "row {} {}: one letter per principal",
            r.method,
            r.pattern
        );
    }
    let missing: Vec<_> = listed.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&listed).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "the authorization matrix must have one row per route.\n routes without a row: {missing:?}\n rows without a route: {stale:?}"
    );

    // every request, 16 at a time
    let (z, x, y) = tile_at(lon, lat, 15);
    let mut values: HashMap<&'static str, String> = HashMap::new();
    values.insert("case", case_id.to_string());
    values.insert("case_no", case_no);
    values.insert("photo", photo);
    values.insert("grid", grid);
    values.insert("component", component);
    values.insert("sla", sla);
    values.insert("fid", fid.to_string());
    values.insert("lon", format!("{lon}"));
    values.insert("lat", format!("{lat}"));
    values.insert("z", z.to_string());
    values.insert("x", x.to_string());
    values.insert("y", y.to_string());
    values.insert("key", key.clone());
    values.insert("o311key", o311key.clone());
    values.insert("password", PASSWORD.to_string());
    let client = common::http();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for (ri, r) in TABLE.iter().enumerate() {
        for (pi, cred) in creds.iter().enumerate() {
            let mut values = values.clone();
            let layer = if PRINCIPALS[pi] == "key@other_layer" {
                OTHER_LAYER
            } else {
                KEY_LAYER
            };
            values.insert("layer", layer.to_string());
            let url = e.server.url(&fill(r.url, &values));
            let method: Method = r.method.parse().expect("method");
            let mut req = client.request(method, &url);
            let cred = if r.pattern == "/api/auth/logout" {
                match logout_tokens.get(&pi) {
                    Some(t) => Cred::Bearer(t.clone()),
                    None => cred.clone(),
                }
            } else {
                cred.clone()
            };
            match &cred {
                Cred::None => {}
                Cred::Bearer(t) => req = req.bearer_auth(t),
                Cred::Key { key, origin } => {
                    req = req.header("x-api-key", key).header("origin", *origin)
                }
            }
            req = match r.body {
                Body::None => req,
                Body::Json(t) => req
                    .header("content-type", "application/json")
                    .body(fill(t, &values)),
                Body::Form(t) => req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(fill(t, &values)),
                Body::Png => req.header("content-type", "image/png").body(png()),
            };
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore");
                let response = req.send().await;
                let status = match response {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        // An event stream never ends: its status is the answer.
                        let stream = resp
                            .headers()
                            .get("content-type")
                            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
                        if !stream {
                            let _ = resp.bytes().await;
                        }
                        status
                    }
                    Err(err) => panic!("{url}: {err}"),
                };
                (ri, pi, status)
            });
        }
    }
    let mut got: BTreeMap<(usize, usize), u16> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (ri, pi, status) = done.expect("request task");
        got.insert((ri, pi), status);
    }

    // the matrix, printed so that it can be quoted, and the mismatches
    let mut out = String::new();
    out.push_str(&format!(
        "authorization matrix: {} routes x {} principals = {} requests (expected letter / status)\n",
        TABLE.len(),
        PRINCIPALS.len(),
        TABLE.len() * PRINCIPALS.len()
    ));
    out.push_str(&format!("{:<58}", "route"));
    for p in PRINCIPALS {
        out.push_str(&format!(" {:>9}", &p[..p.len().min(9)]));
    }
    out.push('\n');
    let mut failures = Vec::new();
    for (ri, r) in TABLE.iter().enumerate() {
        let letters: Vec<char> = r.expect.chars().filter(|c| !c.is_whitespace()).collect();
        out.push_str(&format!("{:<58}", format!("{} {}", r.method, r.pattern)));
        for (pi, letter) in letters.iter().enumerate() {
            let status = got[&(ri, pi)];
            let ok = matches(*letter, status);
            out.push_str(&format!(
                " {:>9}",
                format!("{letter}/{status}{}", if ok { "" } else { "!" })
            ));
            if !ok {
                failures.push(format!(
                    "{} {} as {}: expected {letter}, got {status}",
                    r.method, r.pattern, PRINCIPALS[pi]
                ));
            }
        }
        out.push('\n');
    }
    println!("{out}");
    assert!(
        failures.is_empty(),
        "{} of {} cells differ:\n{}",
        failures.len(),
        got.len(),
        failures.join("\n")
    );
    assert!(e.call(None, Method::GET, "/health", None).await.0 == 200);
}

/// Case ids in `GET /api/cases` as `user`.
async fn visible_ids(e: &Env, user: &str) -> BTreeSet<i64> {
    let v = e.get(user, "/api/cases?limit=200").await;
    v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter_map(|c| c["id"].as_i64())
        .collect()
}

/// Status and event count of a case, read from the database.
async fn case_state(e: &Env, id: i64) -> (String, i64) {
    sqlx::query_as(
        "SELECT status, (SELECT count(*) FROM case_events WHERE case_id = $1) FROM cases WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&e.db.pool)
    .await
    .expect("case state")
}

/// Points of `n` different unit grids of the test area, with their grid codes.
async fn points_in_distinct_grids(e: &Env, n: usize) -> Vec<(f64, f64, String)> {
    let mut found: Vec<(f64, f64, String)> = Vec::new();
    for i in 0..6 {
        for j in 0..4 {
            let (lon, lat) = (
                AREA_W + 0.0002 + 0.0005 * i as f64,
                AREA_S + 0.0002 + 0.0005 * j as f64,
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

#[tokio::test(flavor = "multi_thread")]
async fn departments_inspectors_and_keys_see_only_their_own() {
    let e = env(
        "authz_scope",
        &["dep1", "dep2"],
        &[
            ("CITYGRID_PUBLIC_LAYERS", "false"),
            ("CITYGRID_RATE_LIMIT", "false"),
        ],
    )
    .await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let grids = points_in_distinct_grids(&e, 3).await;
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
    let report = |g: usize, text: &str| {
        json!({"category": "E0101", "lon": grids[g].0, "lat": grids[g].1, "description": text,
               "reporter_name": "Wang Fang", "reporter_contact": "+86 138 0000 0001", "source": "hotline"})
    };
    let new_case = |g: usize, text: &'static str| {
        let body = report(g, text);
        let e = &e;
        async move {
            e.post("acceptor", "/api/cases", body, 201).await["id"]
                .as_i64()
                .expect("case id")
        }
    };

    // ---- departments: only the cases dispatched to them
    let c1 = new_case(0, "for dep1").await;
    let c2 = new_case(1, "for dep2").await;
    for (c, dep) in [(c1, "dep1"), (c2, "dep2")] {
        e.step("acceptor", c, json!({"action": "register"})).await;
        e.step(
            "dispatcher",
            c,
            json!({"action": "dispatch", "department": dep}),
        )
        .await;
    }
    let upload = |user: &str, case: i64| {
        common::http()
            .post(e.server.url(&format!("/api/cases/{case}/photos")))
            .bearer_auth(&e.tokens[user])
            .header("content-type", "image/png")
            .body(png())
            .send()
    };
    let p1: Value = upload("dep_dep1", c1)
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let p2: Value = upload("dep_dep2", c2)
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let (p1, p2) = (
        p1["id"].as_i64().expect("photo"),
        p2["id"].as_i64().expect("photo"),
    );

    let dep1 = e.get("dep_dep1", "/api/cases?limit=200").await;
    let cases = dep1["cases"].as_array().expect("cases");
    assert!(
        cases.iter().any(|c| c["id"] == c1),
        "dep1 sees its case: {dep1}"
    );
    assert!(
        cases.iter().all(|c| c["department"] == "dep1"),
        "dep1 sees only dep1's cases: {dep1}"
    );
    assert_eq!(dep1["total"], 1);
    let (s, _) = e
        .call(
            Some("dep_dep1"),
            Method::GET,
            "/api/cases?department=dep2",
            None,
        )
        .await;
    assert_eq!(s, 403, "asking for another department's list");
    let (_, c2_full) = e
        .call(
            Some("admin"),
            Method::GET,
            &format!("/api/cases/{c2}"),
            None,
        )
        .await;
    let c2_no = c2_full["case_no"].as_str().expect("case_no").to_string();
    let before = case_state(&e, c2).await;
    for (method, path, body) in [
        (Method::GET, format!("/api/cases/{c2}"), None),
        (Method::GET, format!("/api/cases/{c2_no}"), None),
        (Method::GET, format!("/api/photos/{p2}"), None),
        (
            Method::POST,
            format!("/api/cases/{c2}/actions"),
            Some(json!({"action": "comment", "note": "peeking"})),
        ),
        (
            Method::POST,
            format!("/api/cases/{c2}/actions"),
            Some(json!({"action": "accept"})),
        ),
    ] {
        let (s, v) = e.call(Some("dep_dep1"), method.clone(), &path, body).await;
        assert_eq!(s, 404, "dep1 {method} {path}: {v}");
        assert!(!v.to_string().contains("for dep2"), "{v}");
    }
    // another department's case answers exactly like a case that does not exist
    for (theirs, none) in [
        (
            format!("/api/cases/{c2}"),
            "/api/cases/999999999".to_string(),
        ),
        (
            format!("/api/cases/{c2_no}"),
            "/api/cases/1999-999999".to_string(),
        ),
    ] {
        let a = e.call(Some("dep_dep1"), Method::GET, &theirs, None).await;
        let b = e.call(Some("dep_dep1"), Method::GET, &none, None).await;
        assert_eq!(a, b, "{theirs} vs {none}");
    }
    let r = upload("dep_dep1", c2).await.expect("upload");
    assert_eq!(r.status(), 404, "dep1 uploads to dep2's case");
    assert_eq!(
        case_state(&e, c2).await,
        before,
        "nothing changed on dep2's case"
    );
    let own = e.get("dep_dep1", &format!("/api/cases/{c1}")).await;
    assert!(
        own["timeline"].as_array().is_some_and(|t| t.len() >= 3),
        "{own}"
    );
    assert_eq!(own["photos"][0]["id"], p1);
    let r = common::http()
        .get(e.server.url(&format!("/api/photos/{p1}")))
        .bearer_auth(&e.tokens["dep_dep1"])
        .send()
        .await
        .expect("photo");
    assert_eq!(r.status(), 200);

    // The cases map layer carries the public summary only (what Open311 publishes
    // to everyone): never the description, the reporter or the notes.
    wait_ok(&e, "/ogc/collections/cases/items?limit=1").await;
    let public_fields: BTreeSet<&str> = [
        "case_no",
        "status",
        "category",
        "overdue",
        "grid_code",
        "department",
        "reported_at",
        "due_at",
    ]
    .into_iter()
    .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let items = loop {
        let items = e
            .get("dep_dep1", "/ogc/collections/cases/items?limit=100")
            .await;
        if items["features"].as_array().is_some_and(|f| f.len() >= 2) {
            break items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cases never on the map: {items}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for f in items["features"].as_array().expect("features") {
        let props = f["properties"].as_object().expect("properties");
        for k in props.keys() {
            assert!(
                public_fields.contains(k.as_str()),
                "the cases layer shows {k:?}: {f}"
            );
        }
    }
    let text = items.to_string();
    for secret in ["for dep1", "for dep2", "Wang Fang", "138 0000"] {
        assert!(!text.contains(secret), "the map shows {secret:?}");
    }
    let (s, _) = e
        .call(None, Method::GET, "/ogc/collections/cases/items", None)
        .await;
    assert_eq!(s, 401, "the map is not public on this server");

    // Open311 publishes every request to anyone, but never the reporter or an
    // internal note
    e.step(
        "dispatcher",
        c1,
        json!({"action": "comment", "note": "internal remark"}),
    )
    .await;
    let (s, public) = e
        .call(None, Method::GET, "/open311/v2/requests.json", None)
        .await;
    assert_eq!(s, 200);
    let public = public.to_string();
    assert!(public.contains(&c2_no), "{public}");
    for secret in ["Wang Fang", "138 0000", "internal remark"] {
        assert!(!public.contains(secret), "Open311 shows {secret:?}");
    }

    // ---- inspectors: the open field tasks of their own grids
    let c3 = new_case(0, "verify in inspector's grid").await;
    let c4 = new_case(1, "verify in inspector2's grid").await;
    let c5 = new_case(2, "verify in a grid of nobody").await;
    for c in [c3, c4, c5] {
        e.step("acceptor", c, json!({"action": "request_verification"}))
            .await;
    }
    let mine = visible_ids(&e, "inspector").await;
    let theirs = visible_ids(&e, "inspector2").await;
    assert!(
        mine.contains(&c3) && mine.contains(&c5),
        "inspector: {mine:?}"
    );
    assert!(
        !mine.contains(&c4) && !mine.contains(&c1) && !mine.contains(&c2),
        "inspector: {mine:?}"
    );
    assert!(
        theirs.contains(&c4) && theirs.contains(&c5),
        "inspector2: {theirs:?}"
    );
    assert!(!theirs.contains(&c3), "inspector2: {theirs:?}");
    // not his grid: neither readable nor actionable, and nothing changes
    let before = case_state(&e, c3).await;
    for (method, path, body) in [
        (Method::GET, format!("/api/cases/{c3}"), None),
        (
            Method::POST,
            format!("/api/cases/{c3}/actions"),
            Some(json!({"action": "verify", "note": "not mine"})),
        ),
        (
            Method::POST,
            format!("/api/cases/{c3}/actions"),
            Some(json!({"action": "comment", "note": "not mine"})),
        ),
    ] {
        let (s, v) = e
            .call(Some("inspector2"), method.clone(), &path, body)
            .await;
        assert_eq!(s, 404, "inspector2 {method} {path}: {v}");
    }
    assert_eq!(case_state(&e, c3).await, before);
    let r = upload("inspector2", c3).await.expect("upload");
    assert_eq!(r.status(), 404);
    let done = e.step("inspector", c3, json!({"action": "verify"})).await;
    assert_eq!(done["status"], "verified");
    // his finished task stays in his history
    assert!(visible_ids(&e, "inspector").await.contains(&c3));
    // reassigning a grid moves its open tasks with it
    e.patch(
        &format!("/api/grids/{}", grids[1].2),
        json!({"responsible": "inspector"}),
    )
    .await;
    assert!(visible_ids(&e, "inspector").await.contains(&c4));
    assert!(!visible_ids(&e, "inspector2").await.contains(&c4));
    let (s, _) = e
        .call(
            Some("inspector2"),
            Method::POST,
            &format!("/api/cases/{c4}/actions"),
            Some(json!({"action": "verify"})),
        )
        .await;
    assert_eq!(s, 404);
    // a grid without an inspector: any inspector may take its task; then it is his
    e.step("inspector2", c5, json!({"action": "verify"})).await;
    let (s, _) = e
        .call(
            Some("inspector"),
            Method::GET,
            &format!("/api/cases/{c5}"),
            None,
        )
        .await;
    assert_eq!(s, 404, "the pool task is inspector2's once he took it");
    assert!(visible_ids(&e, "inspector2").await.contains(&c5));

    // ---- a lost phone: `citygrid user revoke --disable` ends every session at once
    // (a token the server has cached stops working within the cache's 10 s)
    let unused = login(&e, "inspector2").await;
    let out = mgmt_common::cli(&e.db, &["user", "revoke", "inspector2", "--disable"]);
    assert!(out.contains("session(s) ended"), "{out}");
    let me = |token: String| {
        common::http()
            .get(e.server.url("/api/auth/me"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(me(unused).await.expect("me").status(), 401);
    let (s, _) = e
        .call(
            None,
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "inspector2", "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 401, "a disabled account cannot sign in");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = me(e.tokens["inspector2"].clone())
            .await
            .expect("me")
            .status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked token still works after 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    // ---- embed keys: their layers, their origins
    let key = create_key(&e, "water embed", KEY_LAYER, KEY_ORIGIN);
    let client = common::http();
    let get = |path: String, origin: Option<&'static str>, referer: Option<&'static str>| {
        let mut r = client.get(e.server.url(&path)).header("x-api-key", &key);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(o) = referer {
            r = r.header("referer", format!("{o}/some/page"));
        }
        r.send()
    };
    let r = get("/catalog".into(), Some(KEY_ORIGIN), None)
        .await
        .expect("catalog");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(KEY_ORIGIN)
    );
    let catalog: Value = r.json().await.expect("json");
    let ids: Vec<&str> = catalog["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert_eq!(ids, [KEY_LAYER], "the key lists only its layer");
    let collections: Value = get("/ogc/collections".into(), None, None)
        .await
        .expect("collections")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = collections["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, [KEY_LAYER]);
    let (z, x, y) = tile_at(grids[0].0, grids[0].1, 15);
    // a layer outside the key's list is answered as one that does not exist (404),
    // and left out of a composite; the cases themselves are not the key's (403)
    for (path, status) in [
        (format!("/tiles/{OTHER_LAYER}/{z}/{x}/{y}"), 404),
        (format!("/ogc/collections/{OTHER_LAYER}/items"), 404),
        (format!("/ogc/collections/{OTHER_LAYER}/items/{c1}"), 404),
        (
            format!(
                "/api/nearest?layer={OTHER_LAYER}&lon={}&lat={}",
                grids[0].0, grids[0].1
            ),
            404,
        ),
        (format!("/embed/map?layers={OTHER_LAYER}"), 404),
        ("/api/cases".to_string(), 403),
        (format!("/api/cases/{c1}"), 403),
    ] {
        let r = get(path.clone(), Some(KEY_ORIGIN), None)
            .await
            .expect("request");
        assert_eq!(r.status(), status, "key on {path}");
        let body = r.text().await.unwrap_or_default();
        assert!(!body.contains("for dep1"), "{path}: {body}");
    }
    let r = get(
        format!("/tiles/{KEY_LAYER},{OTHER_LAYER}.json"),
        Some(KEY_ORIGIN),
        None,
    )
    .await
    .expect("tilejson");
    assert_eq!(r.status(), 200);
    let tilejson: Value = r.json().await.expect("tilejson");
    let named: Vec<&str> = tilejson["vector_layers"]
        .as_array()
        .expect("vector_layers")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert_eq!(named, [KEY_LAYER], "the key's layer only: {tilejson}");
    let r = client
        .post(e.server.url("/api/query"))
        .header("x-api-key", &key)
        .json(&json!({"geometry": {"type": "Point", "coordinates": [grids[0].0, grids[0].1]}, "layers": [OTHER_LAYER]}))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 404);
    // a foreign origin, by Origin or by Referer: refused, and no CORS grant
    for (origin, referer) in [(Some(FOREIGN_ORIGIN), None), (None, Some(FOREIGN_ORIGIN))] {
        let r = get(format!("/tiles/{KEY_LAYER}/{z}/{x}/{y}"), origin, referer)
            .await
            .expect("tile");
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("access-control-allow-origin").is_none());
    }
    // an opaque origin (a sandboxed frame) cannot hide where it comes from
    let r = client
        .get(e.server.url(&format!("/tiles/{KEY_LAYER}/{z}/{x}/{y}")))
        .header("x-api-key", &key)
        .header("origin", "null")
        .send()
        .await
        .expect("tile");
    assert_eq!(r.status(), 403, "Origin: null");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = get(
        format!("/tiles/{KEY_LAYER}/{z}/{x}/{y}"),
        None,
        Some(KEY_ORIGIN),
    )
    .await
    .expect("tile");
    assert_eq!(r.status(), 200);
    // the embedded map may be framed by the key's origin only
    let frame = |referer: &'static str| {
        client
            .get(
                e.server
                    .url(&format!("/embed/map?key={key}&layers={KEY_LAYER}")),
            )
            .header("referer", format!("{referer}/intranet/map.html"))
            .send()
    };
    let r = frame(KEY_ORIGIN).await.expect("embed");
    assert_eq!(r.status(), 200);
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let ancestors: Vec<&str> = csp
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("frame-ancestors "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(ancestors.contains(&KEY_ORIGIN), "{csp}");
    assert!(
        ancestors.iter().all(|a| *a == KEY_ORIGIN || *a == "'self'"),
        "{csp}"
    );
    assert_eq!(frame(FOREIGN_ORIGIN).await.expect("embed").status(), 403);
    // a revoked key is refused outright
    let gone = create_key(&e, "old embed", KEY_LAYER, KEY_ORIGIN);
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE key_hash = sha256($1::text::bytea)")
        .bind(&gone)
        .execute(&e.db.pool)
        .await
        .expect("revoke key");
    let r = client
        .get(e.server.url("/catalog"))
        .header("x-api-key", &gone)
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 401);
}

/// Issue 26: a secret is accepted only as what it is (a key never as a bearer token,
/// a token never as a key), and a key only for what its scopes allow, with its
/// origins and rate limit on every route it reaches, Open311 writes included.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_keep_their_kind_and_keys_their_scopes() {
    let e = env(
        "authz_kinds",
        &["dep1"],
        &[
            ("CITYGRID_PUBLIC_LAYERS", "false"),
            // a small budget per key (refilled once per 100 s): the 7th write is refused
            ("CITYGRID_RATE_LIMIT_KEY_BURST", "6"),
            ("CITYGRID_RATE_LIMIT_KEY_PER_SEC", "0.01"),
        ],
    )
    .await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let client = common::http();
    let acao = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap_or_default().to_string())
    };

    // ---- a key used properly, then sent as a bearer token from anywhere: refused
    let key = create_key(&e, "water embed", KEY_LAYER, KEY_ORIGIN);
    let r = client
        .get(e.server.url("/catalog"))
        .header("x-api-key", &key)
        .header("origin", KEY_ORIGIN)
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 200);
    assert_eq!(acao(&r).as_deref(), Some(KEY_ORIGIN));
    for origin in [FOREIGN_ORIGIN, KEY_ORIGIN] {
        let r = client
            .get(e.server.url("/catalog"))
            .bearer_auth(&key)
            .header("origin", origin)
            .send()
            .await
            .expect("catalog");
        assert_eq!(r.status(), 401, "a key as a bearer token from {origin}");
        assert_eq!(acao(&r), None, "no CORS grant for {origin}");
    }
    // from the cache or not, a foreign origin is refused on every use of the key
    for _ in 0..2 {
        let r = client
            .get(e.server.url("/catalog"))
            .header("x-api-key", &key)
            .header("origin", FOREIGN_ORIGIN)
            .send()
            .await
            .expect("catalog");
        assert_eq!(r.status(), 403);
        assert_eq!(acao(&r), None);
    }

    // ---- a token used properly, then sent as a key: refused
    let token = e.tokens["acceptor"].clone();
    let (s, _) = e
        .call(Some("acceptor"), Method::GET, "/catalog", None)
        .await;
    assert_eq!(s, 200);
    let r = client
        .get(e.server.url("/catalog"))
        .header("x-api-key", &token)
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 401, "a token as X-API-Key");
    let r = client
        .get(e.server.url(&format!("/catalog?key={token}")))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 401, "a token as ?key=");
    let r = client
        .get(
            e.server
                .url(&format!("/embed/map?key={token}&layers={KEY_LAYER}")),
        )
        .send()
        .await
        .expect("embed");
    assert_eq!(r.status(), 401, "a token as the embed's key");

    // ---- scopes: a map embed key files no Open311 request, from anywhere
    let form = |k: &str| {
        format!(
            "api_key={k}&service_code=E0101&lat={}&long={}&description=scoped",
            AREA_S + 0.0011,
            AREA_W + 0.0012
        )
    };
    let post = |k: String, origin: Option<&'static str>| {
        let mut r = client
            .post(e.server.url("/open311/v2/requests.json"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&k));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    let cases_before: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&e.db.pool)
        .await
        .expect("count");
    for origin in [None, Some(FOREIGN_ORIGIN), Some(KEY_ORIGIN)] {
        let r = post(key.clone(), origin).await.expect("post");
        assert_eq!(r.status(), 403, "map key files a case from {origin:?}");
    }
    // a key with `open311:write` files from its origins only...
    let writer = create_key_with(
        &e,
        &[
            "--name",
            "civic app",
            "--scopes",
            "open311:write",
            "--origins",
            KEY_ORIGIN,
        ],
    );
    for origin in [FOREIGN_ORIGIN, "null"] {
        let r = post(writer.clone(), Some(origin)).await.expect("post");
        assert_eq!(r.status(), 403, "open311 key from {origin}");
    }
    let cases_after: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&e.db.pool)
        .await
        .expect("count");
    assert_eq!(cases_before, cases_after, "no refused request filed a case");
    // ... and reads no map layer (it has no `maps` scope)
    let r = client
        .get(e.server.url("/catalog"))
        .header("x-api-key", &writer)
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 403, "an open311-only key on the map");
    let listed = mgmt_common::cli(&e.db, &["key", "list"]);
    assert!(
        listed.contains("\tmaps\t") && listed.contains("\topen311:write\t"),
        "{listed}"
    );
    let (ok, _, err) = common::run(
        common::citygrid(&e.db).args(["key", "create", "--name", "x", "--scopes", "admin"]),
    );
    assert!(!ok && err.contains("unknown key scope"), "{err}");
    // ... within its own rate limit: 6 writes, then 429 with Retry-After
    let mut created = 0;
    let refused = loop {
        let origin = if created % 2 == 0 {
            Some(KEY_ORIGIN)
        } else {
            None
        };
        let r = post(writer.clone(), origin).await.expect("post");
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 201, "write {}", created + 1);
        created += 1;
        assert!(
            created <= 6,
            "the key's rate limit does not apply to Open311"
        );
    };
    assert_eq!(created, 6);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["detail"]["scope"], "key", "{body}");
    // the budget is the key's: another key is not affected
    let r = client
        .get(e.server.url("/catalog"))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 200);
}

/// Issue 26: `citygrid user add NAME` with a new password (a reset) ends every
/// session of the user: a token the server never saw at once, a cached one within
/// the credential cache's seconds; the new password signs in, the old one does not.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_ends_every_session() {
    let e = env("authz_reset", &[], &[("CITYGRID_RATE_LIMIT", "false")]).await;
    let me = |token: String| {
        common::http()
            .get(e.server.url("/api/auth/me"))
            .bearer_auth(token)
            .send()
    };
    let cached = e.tokens["inspector"].clone();
    assert_eq!(me(cached.clone()).await.expect("me").status(), 200);
    let unused = login(&e, "inspector").await;
    common::add_user(&e.db, "inspector", "inspector", None, "a-new-password-456");
    assert_eq!(
        me(unused).await.expect("me").status(),
        401,
        "a token the server had not cached"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = me(cached.clone()).await.expect("me").status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "the token from before the reset still works after 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let sign_in = |password: &'static str| {
        e.call(
            None,
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "inspector", "password": password})),
        )
    };
    assert_eq!(sign_in(PASSWORD).await.0, 401, "the old password");
    assert_eq!(sign_in("a-new-password-456").await.0, 200, "the new one");
    let (ended,): (Option<i64>,) = sqlx::query_as(
        "SELECT (detail->>'sessions_ended')::bigint FROM audit_log \
         WHERE action = 'user_upsert' AND detail->>'user' = 'inspector' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&e.db.pool)
    .await
    .expect("audit");
    assert_eq!(
        ended,
        Some(2),
        "the reset is audited with the sessions it ended"
    );
}

/// Issue 26: a report carries only a source its caller is entitled to (inspectors
/// report as `inspector`, nobody but Open311 as `open311`), and the duplicates
/// listed in a new case's answer are only cases the caller may open.
#[tokio::test(flavor = "multi_thread")]
async fn reports_carry_their_callers_source_and_only_visible_duplicates() {
    let e = env("authz_report", &[], &[("CITYGRID_RATE_LIMIT", "false")]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let (lon, lat) = (AREA_W + 0.0012, AREA_S + 0.0011);
    let report = |user: &'static str, source: Option<&'static str>| {
        let mut body = json!({"category": "E0101", "lon": lon, "lat": lat, "description": user});
        if let Some(s) = source {
            body["source"] = json!(s);
        }
        e.call(Some(user), Method::POST, "/api/cases", Some(body))
    };
    for (user, source) in [
        ("inspector", "open311"),
        ("inspector", "hotline"),
        ("inspector", "console"),
        ("acceptor", "open311"),
        ("acceptor", "inspector"),
        ("admin", "open311"),
    ] {
        let (s, v) = report(user, Some(source)).await;
        assert_eq!(s, 403, "{user} labels a report {source}: {v}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&e.db.pool)
        .await
        .expect("count");
    assert_eq!(count, 0, "no refused report was filed");

    // inspector2 reports a case; inspector may not open it
    let (s, theirs) = report("inspector2", None).await;
    assert_eq!(s, 201, "{theirs}");
    assert_eq!(
        e.get("admin", &format!("/api/cases/{}", theirs["id"]))
            .await["source"],
        "inspector"
    );
    let (s, _) = e
        .call(
            Some("inspector"),
            Method::GET,
            &format!("/api/cases/{}", theirs["id"]),
            None,
        )
        .await;
    assert_eq!(s, 404);
    // ... so it is not among the duplicates of his report at the same spot
    let (s, mine) = report("inspector", Some("inspector")).await;
    assert_eq!(s, 201, "{mine}");
    assert_eq!(mine["duplicates"], json!([]), "{mine}");
    // the centre sees both, and its hotline report lists both as duplicates
    let (s, centre) = report("acceptor", Some("hotline")).await;
    assert_eq!(s, 201, "{centre}");
    let dups: BTreeSet<i64> = centre["duplicates"]
        .as_array()
        .expect("duplicates")
        .iter()
        .filter_map(|d| d["id"].as_i64())
        .collect();
    let both: BTreeSet<i64> = [&theirs, &mine]
        .iter()
        .filter_map(|c| c["id"].as_i64())
        .collect();
    assert_eq!(dups, both, "{centre}");
    // inspector2 sees his own report among the duplicates of a new one, not the others
    let (s, again) = report("inspector2", None).await;
    assert_eq!(s, 201, "{again}");
    let ids: Vec<i64> = again["duplicates"]
        .as_array()
        .expect("duplicates")
        .iter()
        .filter_map(|d| d["id"].as_i64())
        .collect();
    assert_eq!(ids, [theirs["id"].as_i64().expect("id")], "{again}");
}

/// Issue 26: account names are not published. The inspector responsible for a unit
/// grid is kept for the case routes and shown to signed-in users (`/api/grids`),
/// but is no field of the public map layer (tiles, TileJSON, OGC items and
/// queryables) nor of `/api/locate`.
#[tokio::test(flavor = "multi_thread")]
async fn account_names_are_not_published() {
    let e = env("authz_names", &[], &[("CITYGRID_RATE_LIMIT", "false")]).await;
    e.wait_grids().await;
    let grids = points_in_distinct_grids(&e, 1).await;
    let (lon, lat, code) = grids[0].clone();
    e.patch(
        &format!("/api/grids/{code}"),
        json!({"responsible": "inspector2"}),
    )
    .await;
    let staff = e.get("admin", &format!("/api/grids/{code}")).await;
    assert!(staff.to_string().contains("inspector2"), "{staff}");
    let get = |path: String| {
        let e = &e;
        async move {
            let r = common::http()
                .get(e.server.url(&path))
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 200, "{path}");
            r.bytes().await.expect("body").to_vec()
        }
    };
    let (z, x, y) = tile_at(lon, lat, 16);
    // give the edit time to reach the layer in memory, then look everywhere
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for path in [
        format!("/api/locate?lon={lon}&lat={lat}"),
        "/ogc/collections/unit_grids/items?limit=100".to_string(),
        "/ogc/collections/unit_grids/queryables".to_string(),
        "/tiles/unit_grids.json".to_string(),
        "/catalog/unit_grids".to_string(),
    ] {
        let body = String::from_utf8(get(path.clone()).await).expect("utf-8");
        assert!(!body.contains("responsible"), "{path}: {body}");
        assert!(!body.contains("inspector2"), "{path}: {body}");
    }
    let located: Value =
        serde_json::from_slice(&get(format!("/api/locate?lon={lon}&lat={lat}")).await)
            .expect("json");
    assert_eq!(located["grid"]["code"], code.as_str(), "{located}");
    let tile = get(format!("/tiles/unit_grids/{z}/{x}/{y}")).await;
    let features = common::mvt::decode(&tile);
    assert!(!features.is_empty(), "the tile holds the grid");
    for f in &features {
        assert!(
            f.props
                .iter()
                .all(|(k, v)| k != "responsible" && v != "inspector2"),
            "{:?}",
            f.props
        );
    }
}

//! A layer's tile schema end to end (issue 17): `citygrid layer set-tile-properties`
//! and `PUT /api/admin/layers/{layer}/tile-properties` choose the properties a vector
//! layer's tiles carry, from which zoom each one does and from which zoom a class of
//! features appears; every server drops the layer's cached tiles on the change
//! notice; TileJSON lists what the tiles carry; bad names are refused with the
//! layer's fields; OSM layers leave out their tag bag by default.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::mvt::{decode, DecodedFeature};
use common::tiles::tile_of;
use common::{add_user, citygrid, http, run, TestDb, TestServer};
use serde_json::{json, Value};

/// 28 streets across the sample box: odd ones `primary`, even ones `residential`.
async fn make_streets(db: &TestDb) {
    sqlx::query(
        "CREATE TABLE layers.tp_roads AS \
         SELECT i::bigint AS fid, \
                ST_SetSRID(ST_MakeLine(ST_MakePoint(24.935, 60.164 + i * 0.0005), \
                                       ST_MakePoint(24.953, 60.165 + i * 0.0005)), 4326) AS geom, \
                'street ' || i AS name, \
                CASE WHEN i % 2 = 0 THEN 'residential' ELSE 'primary' END AS highway, \
                'R' || i AS ref, (i % 3 + 1)::integer AS lanes \
         FROM generate_series(1, 28) i",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE layers.tp_roads ADD PRIMARY KEY (fid)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         VALUES ('tp_roads', 'Roads', 'vector', 'LineString', \
                 '[{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"highway\",\"type\":\"text\"}, \
                   {\"name\":\"ref\",\"type\":\"text\"},{\"name\":\"lanes\",\"type\":\"integer\"}]', \
                 28, ARRAY[24.935, 60.1645, 24.953, 60.179])",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('citygrid_layers', 'tp_roads')")
        .execute(&db.pool)
        .await
        .unwrap();
}

/// The features of `layers`' tile at zoom `z` over (lon, lat) (none for a 204).
async fn features(
    server: &TestServer,
    layers: &str,
    z: u32,
    lon: f64,
    lat: f64,
) -> Vec<DecodedFeature> {
    let (x, y) = tile_of(lon, lat, z);
    let response = http()
        .get(server.url(&format!("/tiles/{layers}/{z}/{x}/{y}.mvt")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    match status {
        200 => decode(&bytes),
        204 => Vec::new(),
        other => panic!("tile {layers}/{z}/{x}/{y}: status {other}"),
    }
}

/// The property keys over all features.
fn keys(features: &[DecodedFeature]) -> BTreeSet<String> {
    features
        .iter()
        .flat_map(|f| f.props.iter().map(|(k, _)| k.clone()))
        .collect()
}

/// The `highway` values over all features.
fn classes(
    features: &[DecodedFeature],
    by_id: impl Fn(u64) -> &'static str,
) -> BTreeSet<&'static str> {
    features.iter().map(|f| by_id(f.id)).collect()
}

fn street_class(id: u64) -> &'static str {
    if id.is_multiple_of(2) {
        "residential"
    } else {
        "primary"
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Waits (up to 20 s) until the tile's property keys are `want`.
async fn wait_keys(
    server: &TestServer,
    layers: &str,
    z: u32,
    lon: f64,
    lat: f64,
    want: &BTreeSet<String>,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = keys(&features(server, layers, z, lon, lat).await);
        if &got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tile {layers} z{z} keeps properties {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_loaded(server: &TestServer, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = http()
            .get(server.url(&format!("/tiles/{id}/0/0/0")))
            .send()
            .await
            .unwrap()
            .status();
        if status != 409 && status != 404 {
            return;
        }
        assert!(Instant::now() < deadline, "layer {id} never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn admin_token(server: &TestServer) -> String {
    let response = http()
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "chief", "password": "tile-props-pw-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

async fn tilejson_fields(server: &TestServer, layer: &str) -> BTreeSet<String> {
    let doc: Value = http()
        .get(server.url(&format!("/tiles/{layer}.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    doc["vector_layers"][0]["fields"]
        .as_object()
        .expect("fields")
        .keys()
        .cloned()
        .collect()
}

const LON: f64 = 24.944;
const LAT: f64 = 60.170;

#[tokio::test(flavor = "multi_thread")]
async fn set_tile_properties_changes_the_tiles_of_every_server() {
    let db = TestDb::new().await;
    make_streets(&db).await;
    add_user(&db, "chief", "admin", None, "tile-props-pw-1");
    let a = TestServer::start(&db);
    let b = TestServer::start(&db);
    wait_loaded(&a, "tp_roads").await;
    wait_loaded(&b, "tp_roads").await;

    // Before: every field at every zoom, every street; server B has the tile cached.
    let every = set(&["name", "highway", "ref", "lanes"]);
    for z in [12, 14, 15] {
        assert_eq!(keys(&features(&b, "tp_roads", z, LON, LAT).await), every);
    }
    assert_eq!(
        classes(&features(&b, "tp_roads", 12, LON, LAT).await, street_class),
        ["primary", "residential"].into()
    );
    assert_eq!(tilejson_fields(&b, "tp_roads").await, every);

    // Only name and highway, name from z15, residential streets from z13.
    let (ok, stdout, stderr) = run(citygrid(&db).args([
        "layer",
        "set-tile-properties",
        "tp_roads",
        "--include",
        "name,highway",
        "--prop-min-zoom",
        "name=15",
        "--feature-min-zoom",
        "highway=residential:13",
    ]));
    assert!(ok, "set-tile-properties failed: {stderr}");
    assert!(
        stdout.contains("in tiles: name (from z15), highway"),
        "{stdout}"
    );
    assert!(stdout.contains("left out: ref, lanes"), "{stdout}");
    assert!(stdout.contains("highway=residential from z13"), "{stdout}");

    // Both servers follow the change notice; B drops its cached tile.
    for server in [&b, &a] {
        wait_keys(server, "tp_roads", 14, LON, LAT, &set(&["highway"])).await;
    }
    // B had these tiles before the change: their first answers now are of the new
    // schema (no previous encoding is served).
    let z15 = features(&b, "tp_roads", 15, LON, LAT).await;
    assert_eq!(keys(&z15), set(&["name", "highway"]));
    assert!(
        z15.iter().all(|f| f.props.len() == 2),
        "every feature carries both at z15"
    );
    assert_eq!(
        classes(&features(&b, "tp_roads", 12, LON, LAT).await, street_class),
        ["primary"].into(),
        "residential streets are held back below z13"
    );
    assert_eq!(
        classes(&features(&a, "tp_roads", 13, LON, LAT).await, street_class),
        ["primary", "residential"].into()
    );
    let residential_z12: Vec<_> = features(&b, "tp_roads", 12, LON, LAT)
        .await
        .into_iter()
        .filter(|f| f.id.is_multiple_of(2))
        .collect();
    assert!(residential_z12.is_empty());
    assert_eq!(
        tilejson_fields(&a, "tp_roads").await,
        set(&["name", "highway"])
    );

    // `layer show --json` and the admin API read it back.
    let (ok, stdout, stderr) = run(citygrid(&db).args(["layer", "show", "tp_roads", "--json"]));
    assert!(ok, "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["default"], false);
    assert_eq!(
        shown["tile_properties"]["include"],
        json!(["name", "highway"])
    );
    assert_eq!(shown["tile_properties"]["min_zoom"], json!({"name": 15}));
    assert_eq!(
        shown["tile_properties"]["feature_min_zoom"],
        json!({"highway": {"residential": 13}})
    );
    let token = admin_token(&a).await;
    let url = a.url("/api/admin/layers/tp_roads/tile-properties");
    let got: Value = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["tile_properties"], shown["tile_properties"]);
    assert_eq!(
        got["fields"][0],
        json!({"name": "name", "type": "text", "in_tiles": true, "min_zoom": 15})
    );
    assert_eq!(got["fields"][2]["in_tiles"], false);

    // The admin API: everything but ref, from every zoom; on both servers.
    let response = http()
        .put(&url)
        .bearer_auth(&token)
        .json(&json!({"exclude": ["ref"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["default"], false);
    assert_eq!(body["tile_properties"]["include"], Value::Null);
    for server in [&a, &b] {
        wait_keys(
            server,
            "tp_roads",
            12,
            LON,
            LAT,
            &set(&["name", "highway", "lanes"]),
        )
        .await;
    }
    assert_eq!(
        classes(&features(&b, "tp_roads", 12, LON, LAT).await, street_class),
        ["primary", "residential"].into()
    );

    // `null` returns to the default rule: every field again.
    let response = http()
        .put(&url)
        .bearer_auth(&token)
        .json(&Value::Null)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["default"], true);
    wait_keys(&b, "tp_roads", 14, LON, LAT, &every).await;
    assert_eq!(tilejson_fields(&b, "tp_roads").await, every);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tile_properties_are_refused_with_the_layer_fields() {
    let db = TestDb::new().await;
    make_streets(&db).await;
    add_user(&db, "chief", "admin", None, "tile-props-pw-1");
    let server = TestServer::start(&db);
    wait_loaded(&server, "tp_roads").await;
    let fields = "name, highway, ref, lanes";

    // The command line: one line naming the field and listing the layer's.
    for (args, says) in [
        (
            &["--include", "name,nmae"][..],
            "has no field \"nmae\" (in include)",
        ),
        (&["--exclude", "tags"], "has no field \"tags\" (in exclude)"),
        (
            &["--prop-min-zoom", "hghway=14"],
            "has no field \"hghway\" (in min_zoom)",
        ),
        (
            &["--feature-min-zoom", "class=road:12"],
            "has no field \"class\" (in feature_min_zoom)",
        ),
    ] {
        let mut command = citygrid(&db);
        command
            .args(["layer", "set-tile-properties", "tp_roads"])
            .args(args);
        let (ok, _, stderr) = run(&mut command);
        assert!(!ok, "{args:?} was accepted");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("citygrid: error: "), "{stderr}");
        assert!(
            stderr.contains(says) && stderr.contains(fields),
            "{args:?}: {stderr}"
        );
    }
    for (args, says) in [
        (&["--prop-min-zoom", "name=25"][..], "from 0 to 24"),
        (
            &["--feature-min-zoom", "highway=residential"],
            "FIELD=VALUE:ZOOM",
        ),
        (&["--include", "name", "--all"], "cannot be used with"),
    ] {
        let mut command = citygrid(&db);
        command
            .args(["layer", "set-tile-properties", "tp_roads"])
            .args(args);
        let (ok, _, stderr) = run(&mut command);
        assert!(!ok && stderr.contains(says), "{args:?}: {stderr}");
    }
    let (ok, _, stderr) =
        run(citygrid(&db).args(["layer", "set-tile-properties", "nowhere", "--all"]));
    assert!(!ok && stderr.contains("no layer \"nowhere\""), "{stderr}");
    let (ok, _, stderr) = run(citygrid(&db).args(["layer", "show", "nowhere"]));
    assert!(!ok && stderr.contains("no layer \"nowhere\""), "{stderr}");

    // The admin API: 422 with the same message, 404 for an unknown layer.
    let token = admin_token(&server).await;
    let url = server.url("/api/admin/layers/tp_roads/tile-properties");
    for (body, says) in [
        (
            json!({"include": ["nmae"]}),
            "has no field \"nmae\" (in include)",
        ),
        (json!({"min_zoom": {"name": 30}}), "zooms are 0 to 24"),
        (json!({"min_zoom": {"name": 300}}), "not a tile schema"),
        (json!({"inclde": ["name"]}), "unknown field `inclde`"),
        (json!(["name"]), "a tile schema is a JSON object"),
        (json!("name"), "a tile schema is a JSON object"),
    ] {
        let response = http()
            .put(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
        if says.contains("has no field") {
            assert!(message.contains(fields), "{message}");
        }
    }
    let response = http()
        .put(server.url("/api/admin/layers/nowhere/tile-properties"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = http()
        .put(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());

    // Nothing was stored: the default rule, every field in the tiles.
    let got: Value = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["default"], true);
    let version: i64 = sqlx::query_scalar(
        "SELECT tile_properties_version FROM layer_catalog WHERE id = 'tp_roads'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(version, 0);
    assert_eq!(
        keys(&features(&server, "tp_roads", 14, LON, LAT).await),
        set(&["name", "highway", "ref", "lanes"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn osm_layers_leave_out_their_tags_by_default() {
    let db = TestDb::new().await;
    let (ok, _, stderr) = run(citygrid(&db)
        .args(["import", "osm"])
        .arg(common::data_file("helsinki.osm.pbf")));
    assert!(ok, "import failed: {stderr}");
    let server = TestServer::start(&db);
    wait_loaded(&server, "osm_roads").await;
    let (lon, lat) = (24.9414, 60.1699);

    let roads = features(&server, "osm_roads", 14, lon, lat).await;
    assert!(roads.len() > 20, "roads in the centre: {}", roads.len());
    let carried = keys(&roads);
    assert!(
        carried.contains("highway") && carried.contains("name"),
        "{carried:?}"
    );
    assert!(
        !carried.contains("tags"),
        "the tag bag is left out by default: {carried:?}"
    );
    assert!(!tilejson_fields(&server, "osm_roads").await.contains("tags"));
    let (ok, stdout, _) = run(citygrid(&db).args(["layer", "show", "osm_roads"]));
    assert!(ok);
    assert!(
        stdout.contains("the default rule") && stdout.contains("left out: tags"),
        "{stdout}"
    );

    // Chosen explicitly, the tags come back (and go again on --reset).
    let (ok, _, stderr) =
        run(citygrid(&db).args(["layer", "set-tile-properties", "osm_roads", "--all"]));
    assert!(ok, "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !keys(&features(&server, "osm_roads", 14, lon, lat).await).contains("tags") {
        assert!(Instant::now() < deadline, "the tags never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tilejson_fields(&server, "osm_roads").await.contains("tags"));
    let (ok, _, stderr) =
        run(citygrid(&db).args(["layer", "set-tile-properties", "osm_roads", "--reset"]));
    assert!(ok, "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while keys(&features(&server, "osm_roads", 14, lon, lat).await).contains("tags") {
        assert!(Instant::now() < deadline, "the tags never left again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

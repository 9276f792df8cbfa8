//! Geocoding end to end (issue 21): `citygrid import addresses` from files built here
//! (GeoJSON in EPSG:4547, the CGCS2000 Gauss-Krüger zone of Wuhan; CSV in CGCS2000
//! lon/lat with Chinese column names), a re-import that fails leaving the previous rows,
//! `import osm` filling the table from `addr:*`, `/api/geocode` (exact, perturbed, no
//! answer, bad input), `/api/reverse` with a crs, Open311 with only `address_string`
//! (a case at the right point; ambiguous and unknown addresses refused with their
//! reason), the "near …" address of a case reported without one, and a second server
//! patched by the change notice of an import.

mod common;
mod mgmt_common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{http, TestServer};
use mgmt_common::{cli, env, AREA_S, AREA_W};
use serde_json::{json, Value};

/// The house numbers of 沿江大道 along the test area, `(number, lon, lat)`.
const YANJIANG: [(u32, f64, f64); 4] = [
    (180, AREA_W + 0.0005, AREA_S + 0.0010),
    (184, AREA_W + 0.0010, AREA_S + 0.0010),
    (188, AREA_W + 0.0015, AREA_S + 0.0010),
    (192, AREA_W + 0.0020, AREA_S + 0.0010),
];

/// Two places with the same address, 3 km apart (an ambiguous address).
const SHENGLI: [(f64, f64); 2] = [(114.2900, 30.6000), (114.3200, 30.5800)];

/// Metres between two lon/lat points (equirectangular; fine at these distances).
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let k = 111_320.0;
    let dx = (a.0 - b.0) * k * (a.1.to_radians().cos());
    let dy = (a.1 - b.1) * k;
    (dx * dx + dy * dy).sqrt()
}

/// `lon lat` (CGCS2000) → EPSG:4547 easting/northing, by GDAL's own gdaltransform.
fn to_4547(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    use std::io::Write;
    let mut child = Command::new("gdaltransform")
        .args(["-s_srs", "EPSG:4490", "-t_srs", "EPSG:4547", "-output_xy"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gdaltransform");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for (x, y) in points {
            writeln!(stdin, "{x} {y}").expect("write");
        }
    }
    let out = child.wait_with_output().expect("gdaltransform output");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .map(|s| s.parse().expect("number"))
                .collect();
            (v[0], v[1])
        })
        .collect()
}

/// The GeoJSON of the road's addresses and the two 胜利街1号, in EPSG:4547.
fn geojson_4547() -> String {
    let mut pts: Vec<(f64, f64)> = YANJIANG.iter().map(|(_, x, y)| (*x, *y)).collect();
    pts.extend(SHENGLI);
    let xy = to_4547(&pts);
    let mut features = Vec::new();
    for (i, (n, _, _)) in YANJIANG.iter().enumerate() {
        features.push(json!({"type": "Feature",
            "properties": {"FULLADDR": format!("湖北省武汉市江岸区沿江大道{n}号"), "ROAD": "沿江大道",
                           "MPH": n, "SQ": "一元社区", "CITY": "武汉市"},
            "geometry": {"type": "Point", "coordinates": [xy[i].0, xy[i].1]}}));
    }
    for (i, district) in ["江岸区", "江汉区"].iter().enumerate() {
        let p = xy[YANJIANG.len() + i];
        features.push(json!({"type": "Feature",
            "properties": {"FULLADDR": format!("湖北省武汉市{district}胜利街1号"), "ROAD": "胜利街",
                           "MPH": 1, "SQ": null, "CITY": "武汉市"},
            "geometry": {"type": "Point", "coordinates": [p.0, p.1]}}));
    }
    json!({"type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4547"}},
        "features": features})
    .to_string()
}

/// Polls `GET path` on `server` until `ok(answer)`, at most 30 s.
async fn wait_for(server: &TestServer, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http().get(server.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status == 200 && ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path}: never as expected: {v}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

fn geocode_path(q: &str) -> String {
    format!(
        "/api/geocode?q={}",
        q.bytes().map(|b| format!("%{b:02X}")).collect::<String>()
    )
}

fn top_point(v: &Value) -> Option<(f64, f64)> {
    let p = &v["candidates"][0]["point"];
    Some((p[0].as_f64()?, p[1].as_f64()?))
}

async fn count(db: &common::TestDb, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn addresses_imported_geocoded_reversed_and_used_by_open311() {
    let e = env("geocode", &[], &[]).await;
    e.wait_grids().await;
    cli(&e.db, &["grid", "seed-reference"]);
    // A second server, started before the import: it learns the addresses from the
    // import's change notice, like the first.
    let second = TestServer::start(&e.db);
    let dir = common::temp_dir("geocode-files");

    // --- import: GeoJSON in EPSG:4547 --------------------------------------------------
    let gj = dir.join("mlp.geojson");
    std::fs::write(&gj, geojson_4547()).unwrap();
    let gj_s = gj.to_str().unwrap();
    // unknown field names: a one-line error listing the file's fields
    let (ok, _, err) = common::run(common::citygrid(&e.db).args([
        "import",
        "addresses",
        gj_s,
        "--road-field",
        "ROAD",
        "--number-field",
        "HOUSE_NO",
    ]));
    assert!(!ok);
    assert!(
        err.contains("HOUSE_NO") && err.contains("FULLADDR") && err.contains("MPH"),
        "{err}"
    );
    let out = cli(
        &e.db,
        &[
            "import",
            "addresses",
            gj_s,
            "--source",
            "mlp",
            "--full-field",
            "FULLADDR",
            "--road-field",
            "ROAD",
            "--number-field",
            "MPH",
            "--community-field",
            "SQ",
            "--city-field",
            "CITY",
        ],
    );
    assert!(out.contains("6 stored"), "{out}");
    // stored in lon/lat at the right place (reprojected from the Gauss-Krüger zone)
    let (lon, lat): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(geom), ST_Y(geom) FROM addresses WHERE source = 'mlp' AND number = '188'",
    )
    .fetch_one(&e.db.pool)
    .await
    .unwrap();
    assert!(
        metres((lon, lat), (YANJIANG[2].1, YANJIANG[2].2)) < 0.05,
        "{lon} {lat}"
    );

    // --- a failing re-import leaves the previous rows -----------------------------------
    let empty = dir.join("mlp_bad.geojson");
    std::fs::write(
        &empty,
        json!({"type": "FeatureCollection", "features": [{"type": "Feature",
            "properties": {"FULLADDR": null, "ROAD": null, "MPH": null, "SQ": null, "CITY": null},
            "geometry": {"type": "Point", "coordinates": [114.3, 30.59]}}]})
        .to_string(),
    )
    .unwrap();
    let (ok, _, err) = common::run(common::citygrid(&e.db).args([
        "import",
        "addresses",
        empty.to_str().unwrap(),
        "--source",
        "mlp",
        "--full-field",
        "FULLADDR",
        "--road-field",
        "ROAD",
        "--number-field",
        "MPH",
    ]));
    assert!(!ok, "a file without one usable address must fail");
    assert!(err.contains("no usable address"), "{err}");
    assert_eq!(
        count(&e.db, "SELECT count(*) FROM addresses WHERE source = 'mlp'").await,
        6
    );

    // --- --sql: a query's result instead of a layer ---------------------------------------
    let out = cli(
        &e.db,
        &[
            "import",
            "addresses",
            gj_s,
            "--source",
            "sql",
            "--sql",
            "SELECT * FROM mlp WHERE MPH > 184 AND ROAD = '沿江大道'",
            "--road-field",
            "ROAD",
            "--number-field",
            "MPH",
        ],
    );
    assert!(out.contains("2 stored"), "{out}");
    assert_eq!(
        count(
            &e.db,
            "SELECT count(*) FROM addresses WHERE source = 'sql' AND number IN ('188', '192')"
        )
        .await,
        2
    );
    let (ok, _, err) = common::run(common::citygrid(&e.db).args([
        "import",
        "addresses",
        gj_s,
        "--source",
        "sql",
        "--sql",
        "SELECT * FROM no_such_table",
        "--road-field",
        "ROAD",
    ]));
    assert!(!ok && err.lines().count() <= 2, "{err}");
    assert_eq!(
        count(&e.db, "SELECT count(*) FROM addresses WHERE source = 'sql'").await,
        2,
        "a failed query leaves the source's rows"
    );
    sqlx::query("DELETE FROM addresses WHERE source = 'sql'")
        .execute(&e.db.pool)
        .await
        .unwrap();

    // --- CSV in CGCS2000 lon/lat with Chinese column names ------------------------------
    let csv = dir.join("extra.csv");
    std::fs::write(
        &csv,
        format!(
            "经度,纬度,路名,门牌号,区\n{},{},解放大道,690,江汉区\n",
            AREA_W + 0.0015,
            AREA_S + 0.0018
        ),
    )
    .unwrap();
    let out = cli(
        &e.db,
        &[
            "import",
            "addresses",
            csv.to_str().unwrap(),
            "--x-field",
            "经度",
            "--y-field",
            "纬度",
            "--s-srs",
            "EPSG:4490",
            "--road-field",
            "路名",
            "--number-field",
            "门牌号",
            "--district-field",
            "区",
        ],
    );
    assert!(out.contains("1 stored"), "{out}");
    assert_eq!(
        count(&e.db, "SELECT count(*) FROM addresses WHERE source = 'extra' AND road = '解放大道' AND number = '690' AND district = '江汉区'").await,
        1
    );

    // --- forward: exact, perturbed, none ---------------------------------------------
    let want = (YANJIANG[2].1, YANJIANG[2].2);
    for server in [&e.server, &second] {
        let v = wait_for(
            server,
            &geocode_path("湖北省武汉市江岸区沿江大道188号"),
            |v| top_point(v).is_some_and(|p| metres(p, want) < 25.0),
        )
        .await;
        assert_eq!(v["candidates"][0]["level"], "house", "{v}");
        assert_eq!(v["confident"], true, "{v}");
        // the unit grid there
        assert!(
            v["candidates"][0]["areas"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["kind"] == "unit_grid")),
            "{v}"
        );
    }
    for q in [
        "沿江大道１８８号",
        "武汉市 江岸区 沿江大道 188 号",
        "沿江大道188號",
        "江岸区沿江大道188号",
    ] {
        let v = common::get_json(&e.server, &geocode_path(q)).await;
        let p = top_point(&v).unwrap_or_else(|| panic!("{q}: {v}"));
        assert!(metres(p, want) < 25.0, "{q}: {v}");
    }
    // a number that does not exist on a road that does: between its neighbours
    let v = common::get_json(&e.server, &geocode_path("沿江大道186号")).await;
    assert_ne!(v["candidates"][0]["level"], "house", "{v}");
    let p = top_point(&v).unwrap_or_else(|| panic!("{v}"));
    assert!(
        metres(p, (YANJIANG[1].1, YANJIANG[1].2)) < 80.0,
        "186 lies near 184/188: {v}"
    );
    // nothing like it: no confident answer
    let v = common::get_json(&e.server, &geocode_path("火星大道9999号")).await;
    assert_eq!(v["confident"], false, "{v}");
    // bad input
    for (path, status) in [
        ("/api/geocode".to_string(), 400),
        ("/api/geocode?q=".to_string(), 400),
        (format!("/api/geocode?q={}", "a".repeat(201)), 400),
        ("/api/geocode?q=x&limit=0".to_string(), 400),
        ("/api/geocode?q=x&limit=21".to_string(), 400),
        ("/api/geocode?q=x&limit=abc".to_string(), 400),
        ("/api/reverse?lon=abc&lat=30".to_string(), 400),
        ("/api/reverse?lon=114&lat=95".to_string(), 400),
        ("/api/reverse?lon=114".to_string(), 400),
        (
            "/api/reverse?lon=114&lat=30&crs=EPSG:999999".to_string(),
            400,
        ),
        (
            "/api/reverse?lon=114&lat=30&max_distance=99999".to_string(),
            400,
        ),
    ] {
        let r = http().get(e.server.url(&path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{path}: {body}");
    }

    // --- reverse, in EPSG:4547 ---------------------------------------------------------
    let xy = to_4547(&[(want.0 + 0.00005, want.1)])[0];
    let v = common::get_json(
        &e.server,
        &format!("/api/reverse?lon={}&lat={}&crs=EPSG:4547", xy.0, xy.1),
    )
    .await;
    assert!(
        v["address"]["label"]
            .as_str()
            .is_some_and(|l| l.contains("188")),
        "{v}"
    );
    let d = v["address"]["distance_m"].as_f64().unwrap();
    assert!((3.0..8.0).contains(&d), "about 4.8 m: {v}");
    assert!(
        v["areas"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["kind"] == "unit_grid")),
        "{v}"
    );

    // --- Open311: address_string only --------------------------------------------------
    let key = cli(
        &e.db,
        &[
            "key",
            "create",
            "--name",
            "hotline-app",
            "--scopes",
            "open311:write",
        ],
    )
    .trim()
    .to_string();
    let post = |address: &str| {
        let form = format!(
            "api_key={key}&service_code=E0102&description=bags&address_string={}",
            address
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>()
        );
        let url = e.server.url("/open311/v2/requests.json");
        async move {
            let r = http()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, created) = post("武汉市江岸区沿江大道188号").await;
    assert_eq!(status, 201, "{created}");
    let id = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (lon, lat, address): (f64, f64, Option<String>) =
        sqlx::query_as("SELECT ST_X(geom), ST_Y(geom), address FROM cases WHERE case_no = $1")
            .bind(&id)
            .fetch_one(&e.db.pool)
            .await
            .unwrap();
    assert!(metres((lon, lat), want) < 25.0, "{lon} {lat}");
    assert_eq!(address.as_deref(), Some("武汉市江岸区沿江大道188号"));
    // two equally good places: refused, both listed
    let (status, body) = post("胜利街1号").await;
    assert_eq!(status, 400, "{body}");
    let description = body[0]["description"].as_str().unwrap_or_default();
    assert!(description.contains("ambiguous"), "{body}");
    assert!(
        description.contains("江岸区") && description.contains("江汉区"),
        "both candidates listed: {body}"
    );
    // nowhere
    let (status, body) = post("火星大道9999号").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body[0]["description"]
            .as_str()
            .is_some_and(|d| d.contains("address not found")),
        "{body}"
    );

    // --- a case reported without an address keeps the nearest one -----------------------
    let case = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "E0102", "lon": want.0 + 0.00003, "lat": want.1, "description": "bags"}),
            201,
        )
        .await;
    let case_id = case["id"].as_i64().unwrap_or_else(|| panic!("{case}"));
    let address: Option<String> = sqlx::query_scalar("SELECT address FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(&e.db.pool)
        .await
        .unwrap();
    assert!(
        address
            .as_deref()
            .is_some_and(|a| a.starts_with("near ") && a.contains("188")),
        "{address:?}"
    );
    drop(second);
}

/// A small OSM extract: a building and a café with `addr:*`, an address-only node, a
/// parking area with an address, and the road.
const OSM_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="citygrid-test">
  <node id="1" lat="60.1680" lon="24.9500" version="1"/>
  <node id="2" lat="60.1680" lon="24.9504" version="1"/>
  <node id="3" lat="60.1683" lon="24.9504" version="1"/>
  <node id="4" lat="60.1683" lon="24.9500" version="1"/>
  <node id="5" lat="60.1678" lon="24.9490" version="1"/>
  <node id="6" lat="60.1678" lon="24.9530" version="1"/>
  <node id="7" lat="60.1676" lon="24.9520" version="1">
    <tag k="amenity" v="cafe"/><tag k="name" v="Kahvila"/>
    <tag k="addr:street" v="Kaivokatu"/><tag k="addr:housenumber" v="8"/><tag k="addr:city" v="Helsinki"/>
  </node>
  <node id="8" lat="60.1679" lon="24.9510" version="1">
    <tag k="addr:street" v="Kaivokatu"/><tag k="addr:housenumber" v="6"/><tag k="addr:city" v="Helsinki"/>
  </node>
  <node id="12" lat="60.1684" lon="24.9510" version="1"/>
  <node id="13" lat="60.1684" lon="24.9514" version="1"/>
  <node id="14" lat="60.1687" lon="24.9514" version="1"/>
  <node id="15" lat="60.1687" lon="24.9510" version="1"/>
  <way id="12" version="1">
    <nd ref="12"/><nd ref="13"/><nd ref="14"/><nd ref="15"/><nd ref="12"/>
    <tag k="amenity" v="parking"/><tag k="addr:street" v="Kaivokatu"/><tag k="addr:housenumber" v="4"/>
  </way>
  <way id="10" version="1">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="yes"/><tag k="addr:street" v="Kaivokatu"/><tag k="addr:housenumber" v="2"/>
    <tag k="addr:city" v="Helsinki"/>
  </way>
  <way id="11" version="1">
    <nd ref="5"/><nd ref="6"/>
    <tag k="highway" v="residential"/><tag k="name" v="Kaivokatu"/>
  </way>
</osm>
"#;

#[tokio::test(flavor = "multi_thread")]
async fn import_osm_fills_the_addresses_and_servers_follow() {
    let db = common::TestDb::new().await;
    let server = TestServer::start(&db);
    let dir = common::temp_dir("geocode-osm");
    let file = dir.join("small.osm");
    std::fs::write(&file, OSM_XML).unwrap();
    cli(
        &db,
        &["import", "osm", file.to_str().unwrap(), "--prefix", "t"],
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM addresses WHERE source = 'osm:t_buildings' AND road = 'Kaivokatu' AND number = '2' AND city = 'Helsinki'").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM addresses WHERE source = 'osm:t_pois' AND number = '8'"
        )
        .await,
        1
    );
    // the building's address lies inside the building
    let inside: bool = sqlx::query_scalar(
        "SELECT ST_Contains(b.geom, a.geom) FROM addresses a, layers.t_buildings b WHERE a.source = 'osm:t_buildings'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(inside);
    // the address-only node at its point, the parking area's address inside it
    assert_eq!(
        count(&db, "SELECT count(*) FROM addresses WHERE source = 'osm:t_addresses' AND road = 'Kaivokatu' AND number = '6' AND city = 'Helsinki' AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint(24.9510, 60.1679), 4326), 1e-9)").await,
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM addresses WHERE source = 'osm:t_addresses' AND number = '4' AND ST_Contains(ST_MakeEnvelope(24.9510, 60.1684, 24.9514, 60.1687, 4326), geom)").await,
        1
    );
    let v = wait_for(&server, &geocode_path("Kaivokatu 6, Helsinki"), |v| {
        top_point(v).is_some_and(|p| metres(p, (24.9510, 60.1679)) < 5.0)
    })
    .await;
    assert_eq!(v["candidates"][0]["level"], "house", "{v}");
    let v = wait_for(&server, &geocode_path("Kaivokatu 2, Helsinki"), |v| {
        top_point(v).is_some_and(|p| metres(p, (24.9502, 60.16815)) < 25.0)
    })
    .await;
    assert_eq!(v["candidates"][0]["level"], "house", "{v}");
    // re-importing replaces (no duplicates)
    cli(
        &db,
        &[
            "import",
            "osm",
            file.to_str().unwrap(),
            "--prefix",
            "t",
            "--replace",
        ],
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM addresses WHERE source LIKE 'osm:t_%'"
        )
        .await,
        4
    );
    // the road, learnt from the road layer: a reverse lookup names it
    let v = wait_for(&server, "/api/reverse?lon=24.9525&lat=60.16785", |v| {
        v["road"]["name"] == "Kaivokatu"
    })
    .await;
    assert!(v["road"]["distance_m"].as_f64().unwrap() < 10.0, "{v}");
    assert!(
        v["areas"].as_array().is_some_and(|a| a.is_empty()),
        "no grids yet: {v}"
    );
    // unit grids generated while the server runs: the areas follow their change notice
    sqlx::query("INSERT INTO departments (code, name, name_en) VALUES ('d', 'd', 'd')")
        .execute(&db.pool)
        .await
        .unwrap();
    let area = dir.join("area.geojson");
    std::fs::write(
        &area,
        json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [[[24.949, 60.1675], [24.954, 60.1675],
                [24.954, 60.1690], [24.949, 60.1690], [24.949, 60.1675]]]}}]})
        .to_string(),
    )
    .unwrap();
    cli(
        &db,
        &[
            "grid",
            "generate",
            "--area",
            area.to_str().unwrap(),
            "--admin-code",
            "420102",
            "--street-code",
            "001",
            "--community-code",
            "001",
            "--default-department",
            "d",
        ],
    );
    let v = wait_for(&server, "/api/reverse?lon=24.9502&lat=60.16815", |v| {
        v["areas"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["kind"] == "unit_grid"))
    })
    .await;
    assert_eq!(
        v["address"]["label"]
            .as_str()
            .map(|l| l.contains("Kaivokatu 2")),
        Some(true),
        "{v}"
    );
}

/// Builds `web/dist` from `web/src` (as tests/browser_pages.rs does) and returns it.
fn built_pages() -> std::path::PathBuf {
    let web = common::root().join("web");
    let out = Command::new("node")
        .arg("build.mjs")
        .current_dir(&web)
        .output()
        .expect("node: run scripts/install-deps.sh");
    assert!(
        out.status.success(),
        "web build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    web.join("dist")
}

/// The pages (headless Chromium, tests/browser/geocode.mjs): the acceptor files a
/// hotline case from a typed address in the console, and it lies at the address; the
/// viewer's search shows the address hit; the inspector page says "near …".
#[tokio::test(flavor = "multi_thread")]
async fn hotline_case_from_a_typed_address_in_the_pages() {
    let dist = built_pages();
    let e = env(
        "geocode-pages",
        &[],
        &[("CITYGRID_WEB_DIR", dist.to_str().unwrap())],
    )
    .await;
    e.wait_grids().await;
    cli(&e.db, &["grid", "seed-reference"]);
    let gj = common::temp_dir("geocode-pages").join("mlp.geojson");
    std::fs::write(&gj, geojson_4547()).unwrap();
    cli(
        &e.db,
        &[
            "import",
            "addresses",
            gj.to_str().unwrap(),
            "--full-field",
            "FULLADDR",
            "--road-field",
            "ROAD",
            "--number-field",
            "MPH",
        ],
    );
    let want = (YANJIANG[2].1, YANJIANG[2].2);
    wait_for(&e.server, &geocode_path("沿江大道188号"), |v| {
        top_point(v).is_some_and(|p| metres(p, want) < 25.0)
    })
    .await;
    let grid: String = sqlx::query_scalar(
        "SELECT code FROM layers.unit_grids WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1",
    )
    .bind(want.0)
    .bind(want.1)
    .fetch_one(&e.db.pool)
    .await
    .unwrap();
    let tag = format!("tag{}", rand::random::<u32>());
    let users: serde_json::Map<String, Value> = ["acceptor", "inspector"]
        .iter()
        .map(|u| (u.to_string(), json!([u, mgmt_common::PASSWORD])))
        .collect();
    let fixture = json!({
        "users": users,
        "typed": "沿江大道188",
        "number": "188",
        "full": "湖北省武汉市江岸区沿江大道188号",
        "grid": grid,
        "category": "E0102",
        "tag": tag,
        "point": [want.0 + 0.00003, want.1],
    });
    let out = Command::new("node")
        .arg(
            common::root()
                .join("tests")
                .join("browser")
                .join("geocode.mjs"),
        )
        .env("CITYGRID_URL", e.server.url(""))
        .env("FIXTURE", fixture.to_string())
        .env(
            "SCREENSHOT_DIR",
            common::root().join("target").join("screenshots"),
        )
        .current_dir(common::root())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser test geocode.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the case the page filed: a hotline case at the address, in its unit grid
    let (lon, lat, source): (f64, f64, String) = sqlx::query_as(
        "SELECT ST_X(geom), ST_Y(geom), source FROM cases WHERE description LIKE '%' || $1",
    )
    .bind(&tag)
    .fetch_one(&e.db.pool)
    .await
    .unwrap();
    let (case_grid, address, reporter): (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT grid_code, address, reporter_name FROM cases WHERE description LIKE '%' || $1",
        )
        .bind(&tag)
        .fetch_one(&e.db.pool)
        .await
        .unwrap();
    assert!(metres((lon, lat), want) < 25.0, "{lon} {lat}");
    assert_eq!(source, "hotline");
    assert_eq!(case_grid.as_deref(), Some(grid.as_str()));
    assert!(address.is_some_and(|a| a.contains("188")));
    assert_eq!(reporter.as_deref(), Some("Caller Wang"));
    assert!(stdout.contains("HOTLINE_CASE"), "{stdout}");
}

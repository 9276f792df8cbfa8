//! OGC WMTS and the CGCS2000 / WorldCRS84 tile matrix sets (issue 23), end to end with
//! real clients: GDAL's WMTS driver (`gdalinfo`, `gdal_translate` compared with
//! `gdalwarp` of the source), OWSLib, the OGC API – Tiles documents, vector tiles
//! decoded at their degrees, and the OWS exception reports.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use citygrid_tiles::decode;
use common::{http, TestDb, TestServer};
use serde_json::Value;

/// A point inside the orthophoto (OSBS, Florida).
const LON: f64 = -81.98985;
const LAT: f64 = 29.69245;

async fn get(server: &TestServer, path: &str) -> (u16, String, Vec<u8>) {
    let r = http().get(server.url(path)).send().await.expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ct, r.bytes().await.expect("body").to_vec())
}

async fn get_json(server: &TestServer, path: &str) -> (u16, Value) {
    let (s, _, body) = get(server, path).await;
    (s, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Imports the orthophoto as raster layer `ortho` and one point as vector layer `pts`,
/// starts a server and waits until `pts` is loaded.
async fn setup(tag: &str) -> (TestDb, TestServer, std::path::PathBuf) {
    let db = TestDb::new().await;
    let dir = common::temp_dir(tag);
    let (ok, stdout, stderr) = common::run(
        common::citygrid(&db)
            .args(["import", "raster"])
            .arg(common::data_file("ortho_osbs_10cm_utm17.tif"))
            .args(["--layer", "ortho", "--format", "png", "--quiet"]),
    );
    assert!(ok, "import failed:\n{stdout}\n{stderr}");
    for sql in [
        format!(
            "CREATE TABLE layers.pts AS SELECT 1::bigint AS fid, \
             ST_SetSRID(ST_MakePoint({LON}, {LAT}), 4326) AS geom, 'a'::text AS name"
        ),
        "ALTER TABLE layers.pts ADD PRIMARY KEY (fid)".to_string(),
        format!(
            "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
             VALUES ('pts', 'Points & <marks>', 'vector', 'Point', '[{{\"name\":\"name\",\"type\":\"text\"}}]'::jsonb, 1, \
                     ARRAY[{LON}, {LAT}, {LON}, {LAT}])"
        ),
    ] {
        sqlx::query(&sql).execute(&db.pool).await.expect(&sql);
    }
    let server = TestServer::start(&db);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&server, "/tiles/pts/0/0/0").await.0 == 409 {
        assert!(Instant::now() < deadline, "pts never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (db, server, dir)
}

fn run(cmd: &mut Command) -> String {
    // GDAL's WMTS driver caches tiles in ./gdalwmscache unless told otherwise: keep
    // it out of the source tree (and fresh for every run).
    let cache = common::temp_dir("gdal-wms-cache");
    cmd.env("GDAL_DEFAULT_WMS_CACHE_PATH", &cache);
    let out = cmd.output().expect("run a GDAL tool");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The point's position in tile units (extent 4096) of CGCS2000Quad tile
/// `level/col/row`, from Tianditu's definition of its "c" matrix set (0.703125°/px at
/// level 1, halving per level, 256 px tiles, top-left 180°W 90°N).
fn tianditu_c_units(level: u8, lon: f64, lat: f64) -> (u32, u32, i64, i64) {
    let res = 0.703125 / f64::from(1u32 << (level - 1));
    let tile_deg = 256.0 * res;
    let (fx, fy) = ((lon + 180.0) / tile_deg, (90.0 - lat) / tile_deg);
    let (col, row) = (fx.floor(), fy.floor());
    (
        col as u32,
        row as u32,
        ((fx - col) * 4096.0).round() as i64,
        ((fy - row) * 4096.0).round() as i64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_sets_vector_tiles_and_exceptions() {
    let (db, server, _dir) = setup("wmts_vector").await;

    // The tile matrix sets of OGC API – Tiles.
    let (s, list) = get_json(&server, "/ogc/tileMatrixSets").await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = list["tileMatrixSets"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"]);
    let (s, c) = get_json(&server, "/ogc/tileMatrixSets/CGCS2000Quad").await;
    assert_eq!(s, 200);
    assert_eq!(c["crs"], "http://www.opengis.net/def/crs/EPSG/0/4490");
    assert_eq!(c["tileMatrices"][0]["id"], "1");
    assert_eq!(c["tileMatrices"][0]["cellSize"], 0.703125);
    assert_eq!(
        (
            c["tileMatrices"][0]["matrixWidth"].as_u64(),
            c["tileMatrices"][0]["matrixHeight"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let (s, w) = get_json(&server, "/ogc/tileMatrixSets/WorldCRS84Quad").await;
    assert_eq!((s, w["tileMatrices"][0]["id"].as_str()), (200, Some("0")));
    let (s, m) = get_json(&server, "/ogc/tileMatrixSets/WebMercatorQuad").await;
    assert_eq!(s, 200);
    assert_eq!(m["tileMatrices"].as_array().map(Vec::len), Some(25));
    assert_eq!(get(&server, "/ogc/tileMatrixSets/EPSG4490").await.0, 404);
    let (s, sets) = get_json(&server, "/ogc/collections/pts/tiles").await;
    assert_eq!(s, 200);
    assert_eq!(sets["tilesets"].as_array().map(Vec::len), Some(3));

    // A vector tile of CGCS2000Quad: the point where Tianditu's grid puts it, the same
    // bytes through OGC API – Tiles, WMTS KVP and WMTS REST; WorldCRS84Quad one level
    // lower is the same tile.
    let level = 16u8;
    let (col, row, ux, uy) = tianditu_c_units(level, LON, LAT);
    let ogc = format!("/ogc/collections/pts/tiles/CGCS2000Quad/{level}/{row}/{col}");
    let (s, ct, tile) = get(&server, &ogc).await;
    assert_eq!(
        (s, ct.as_str()),
        (200, "application/vnd.mapbox-vector-tile"),
        "{ogc}"
    );
    let layers = decode::decode(&tile).expect("an MVT");
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].name, "pts");
    let decode::Geometry::Points(pts) = decode::geometry(&layers[0].features[0]).expect("geometry")
    else {
        panic!("a point")
    };
    assert!(
        (pts[0].0 - ux).abs() <= 1 && (pts[0].1 - uy).abs() <= 1,
        "{:?} vs ({ux}, {uy})",
        pts[0]
    );
    let kvp = format!(
        "/wmts?service=WMTS&request=GetTile&version=1.0.0&layer=pts&style=default&format=application/vnd.mapbox-vector-tile&TileMatrixSet=CGCS2000Quad&TileMatrix={level}&TileRow={row}&TileCol={col}"
    );
    let (s, _, by_kvp) = get(&server, &kvp).await;
    assert_eq!((s, &by_kvp), (200, &tile));
    let rest = format!("/wmts/pts/default/CGCS2000Quad/{level}/{row}/{col}.mvt");
    let (s, _, by_rest) = get(&server, &rest).await;
    assert_eq!((s, &by_rest), (200, &tile));
    let world = format!(
        "/wmts/pts/default/WorldCRS84Quad/{}/{row}/{col}.pbf",
        level - 1
    );
    let (s, _, by_world) = get(&server, &world).await;
    assert_eq!((s, &by_world), (200, &tile));
    // The Web Mercator tile of the same numbers is another tile (here: empty).
    let (s, _, _) = get(
        &server,
        &format!("/wmts/pts/default/WebMercatorQuad/{level}/{row}/{col}.mvt"),
    )
    .await;
    assert_eq!(s, 204);

    // A raster layer is an OGC API – Tiles collection in the sets it has tiles in, its
    // tiles the same bytes as WMTS's.
    let (s, ortho_sets) = get_json(&server, "/ogc/collections/ortho/tiles").await;
    assert_eq!(s, 200, "{ortho_sets}");
    let kinds: Vec<&str> = ortho_sets["tilesets"]
        .as_array()
        .expect("tilesets")
        .iter()
        .filter_map(|t| t["dataType"].as_str())
        .collect();
    assert_eq!(kinds, ["map", "map", "map"]);
    let (s, ts) = get_json(&server, "/ogc/collections/ortho/tiles/CGCS2000Quad").await;
    assert_eq!(s, 200, "{ts}");
    let top: u8 = ts["layers"][0]["maxTileMatrix"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("maxTileMatrix");
    assert!(ts["links"]
        .as_array()
        .expect("links")
        .iter()
        .any(|l| l["type"] == "image/png" && l["rel"] == "item"));
    let (col, row, _, _) = tianditu_c_units(top, LON, LAT);
    let (s, ct, png) = get(
        &server,
        &format!("/ogc/collections/ortho/tiles/CGCS2000Quad/{top}/{row}/{col}"),
    )
    .await;
    assert_eq!((s, ct.as_str()), (200, "image/png"));
    assert!(png.starts_with(b"\x89PNG"));
    let (s, _, same) = get(
        &server,
        &format!("/wmts/ortho/default/CGCS2000Quad/{top}/{row}/{col}.png"),
    )
    .await;
    assert_eq!((s, &same), (200, &png));
    assert_eq!(
        get(
            &server,
            "/ogc/collections/ortho/tiles/CGCS2000Quad/3/0/0?f=mvt"
        )
        .await
        .0,
        400
    );
    raster_collections(&db, &server, top).await;
    for path in [
        "/ogc/collections/nope/tiles",
        "/ogc/collections/nope/tiles/CGCS2000Quad",
        "/ogc/collections/nope/tiles/CGCS2000Quad/3/0/0",
    ] {
        assert_eq!(get(&server, path).await.0, 404, "{path}");
    }

    // The orthophoto's geographic pyramid is its own table, gone with the layer.
    let geo_table = |db: &TestDb| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT to_regclass('layers.\"ortho#geographic\"') IS NOT NULL",
            )
            .fetch_one(&pool)
            .await
            .expect("to_regclass")
        }
    };
    assert!(
        geo_table(&db).await,
        "import raster made the geographic pyramid"
    );

    // OWS exception reports: XML, the code, the locator and the status of WMTS table 28.
    for (path, status, code, locator) in [
        ("/wmts?SERVICE=WMTS", 400, "MissingParameterValue", "REQUEST"),
        ("/wmts?REQUEST=GetCapabilities", 400, "MissingParameterValue", "SERVICE"),
        ("/wmts?SERVICE=WMS&REQUEST=GetCapabilities", 400, "InvalidParameterValue", "SERVICE"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetMap", 400, "InvalidParameterValue", "REQUEST"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetFeatureInfo", 501, "OperationNotSupported", "REQUEST"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=pts&STYLE=default&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=3&TILEROW=0", 400, "MissingParameterValue", "TILECOL"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=pts&STYLE=default&FORMAT=image/png&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=3&TILEROW=0&TILECOL=0", 400, "InvalidParameterValue", "FORMAT"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=nope&STYLE=default&FORMAT=image/png&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=3&TILEROW=0&TILECOL=0", 400, "InvalidParameterValue", "LAYER"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=pts&STYLE=fancy&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=3&TILEROW=0&TILECOL=0", 400, "InvalidParameterValue", "STYLE"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=pts&STYLE=default&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=EPSG:4490&TILEMATRIX=3&TILEROW=0&TILECOL=0", 400, "InvalidParameterValue", "TILEMATRIXSET"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=pts&STYLE=default&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=0&TILEROW=0&TILECOL=0", 400, "InvalidParameterValue", "TILEMATRIX"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=pts&STYLE=default&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=3&TILEROW=4&TILECOL=0", 400, "TileOutOfRange", "TILEROW"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=pts&STYLE=default&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=3&TILEROW=0&TILECOL=8", 400, "TileOutOfRange", "TILECOL"),
        ("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=pts&STYLE=default&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=3&TILEROW=x&TILECOL=0", 400, "InvalidParameterValue", "TILEROW"),
        ("/wmts/pts/default/CGCS2000Quad/3/0/99.mvt", 400, "TileOutOfRange", "TILECOL"),
        ("/wmts/ortho/default/WebMercatorQuad/3/0/0.mvt", 400, "InvalidParameterValue", "FORMAT"),
        ("/wmts/pts/default/CGCS2000Quad/3/0/0", 400, "InvalidParameterValue", "TileCol"),
    ] {
        let (s, ct, body) = get(&server, path).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(s, status, "{path}: {body}");
        assert_eq!(ct, "application/xml", "{path}");
        assert!(body.starts_with("<?xml") && body.contains("<ExceptionReport xmlns=\"http://www.opengis.net/ows/1.1\""), "{path}: {body}");
        assert!(
            body.contains(&format!("exceptionCode=\"{code}\" locator=\"{locator}\"")),
            "{path}: {body}"
        );
    }
    fast_path_answers_as_the_stack(&db, &server, top).await;
    let (ok, stdout, stderr) =
        common::run(common::citygrid(&db).args(["layer", "delete", "ortho", "--yes"]));
    assert!(ok, "layer delete:\n{stdout}\n{stderr}");
    assert!(
        !geo_table(&db).await,
        "the geographic pyramid went with the layer"
    );
}

/// Status, every header but the request id and date (sorted `name: value` lines) and
/// the body, asked for as a gzip client with the `extra` headers.
async fn get_all(
    server: &TestServer,
    path: &str,
    extra: &[(&str, &str)],
) -> (u16, Vec<String>, Vec<u8>) {
    let mut builder = http()
        .get(server.url(path))
        .header("accept-encoding", "gzip");
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    let response = builder.send().await.expect("request");
    let status = response.status().as_u16();
    let mut headers: Vec<String> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect();
    headers.sort();
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

/// `citygrid_http_requests_total` of `route` with status 200.
async fn route_200s(server: &TestServer, route: &str) -> u64 {
    let (_, _, metrics) = get(server, "/metrics").await;
    let prefix =
        format!("citygrid_http_requests_total{{route=\"{route}\",method=\"GET\",status=\"200\"}} ");
    String::from_utf8_lossy(&metrics)
        .lines()
        .find_map(|l| {
            l.strip_prefix(prefix.as_str())
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// Cached WMTS vector and raster tiles (RESTful and KVP, WebMercatorQuad and
/// CGCS2000Quad) are answered in front of the router (`tiles::fast`) exactly as the
/// full stack answers them (a request with `X-Request-Id` takes the full stack), with the XYZ route's
/// bytes and headers, counted under the WMTS routes; a bad request still gets its
/// OWS exception report.
async fn fast_path_answers_as_the_stack(db: &TestDb, server: &TestServer, top: u8) {
    const REST: &str = "/wmts/{layer}/{style}/{tms}/{matrix}/{row}/{col}";
    let z = 14u32;
    let n = f64::from(1u32 << z);
    let x = ((LON + 180.0) / 360.0 * n).floor() as u32;
    let y =
        ((1.0 - LAT.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    // A layer of a thousand points around the one of `pts`: tiles large enough to be
    // kept gzip-compressed.
    for sql in [
        format!(
            "CREATE TABLE layers.many_pts AS SELECT i::bigint AS fid, \
             ST_SetSRID(ST_MakePoint({LON} + (i % 40) * 0.0002, {LAT} + (i / 40) * 0.0002), 4326) AS geom, \
             'point ' || i AS name FROM generate_series(1, 1000) i"
        ),
        "ALTER TABLE layers.many_pts ADD PRIMARY KEY (fid)".to_string(),
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT 'many_pts', 'many_pts', 'vector', 'Point', '[{\"name\":\"name\",\"type\":\"text\"}]'::jsonb, \
         count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.many_pts".to_string(),
        "SELECT pg_notify('citygrid_layers', 'many_pts')".to_string(),
    ] {
        sqlx::query(&sql).execute(&db.pool).await.expect(&sql);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(get(server, "/tiles/many_pts/0/0/0").await.0, 200 | 204) {
        assert!(Instant::now() < deadline, "many_pts never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let xyz = format!("/tiles/many_pts/{z}/{x}/{y}.mvt");
    let (s, _, first) = get_all(server, &xyz, &[]).await;
    assert_eq!(s, 200, "{xyz}");
    let cached_xyz = get_all(server, &xyz, &[]).await;
    assert_eq!(cached_xyz.2, first);
    let rest = format!("/wmts/many_pts/default/WebMercatorQuad/{z}/{y}/{x}.mvt");
    let kvp = format!(
        "/wmts?SERVICE=WMTS&Request=GetTile&version=1.0.0&LAYER=many_pts&style=default&FORMAT=application/vnd.mapbox-vector-tile&TileMatrixSet=WebMercatorQuad&TILEMATRIX={z}&TileRow={y}&TileCol={x}"
    );
    let (rest_before, kvp_before) = (
        route_200s(server, REST).await,
        route_200s(server, "/wmts").await,
    );
    let origin = ("origin", "https://maps.example.org");
    for (i, path) in [&rest, &kvp].into_iter().enumerate() {
        let fast = get_all(server, path, &[]).await;
        let full = get_all(server, path, &[("x-request-id", "wmts23-full-stack")]).await;
        assert_eq!(
            fast, full,
            "{path}: the fast path answers as the stack does"
        );
        assert_eq!(fast, cached_xyz, "{path}: the XYZ route's tile and headers");
        assert!(
            fast.1.iter().any(|h| h == "content-encoding: gzip"),
            "{path}: {:?}",
            fast.1
        );
        // Embedded in another origin's page: the CORS headers of map data.
        let fast = get_all(server, path, &[origin]).await;
        let full = get_all(
            server,
            path,
            &[origin, ("x-request-id", &format!("wmts23-{i}"))],
        )
        .await;
        assert_eq!(fast, full, "{path} with an Origin");
        assert!(
            fast.1
                .iter()
                .any(|h| h == "access-control-allow-origin: https://maps.example.org"),
            "{path}: {:?}",
            fast.1
        );
    }
    assert_eq!(
        route_200s(server, REST).await,
        rest_before + 4,
        "RESTful tiles counted"
    );
    assert_eq!(
        route_200s(server, "/wmts").await,
        kvp_before + 4,
        "KVP tiles counted"
    );

    // A tiny tile kept as it is (gzip does not make it smaller; the one point of
    // `pts`): sent as it is, without Content-Encoding, by the fast path and the stack
    // alike (the stack's compression layer leaves vector tiles alone) — the same
    // answer both ways, on both routes.
    for path in [
        format!("/tiles/pts/{z}/{x}/{y}.mvt"),
        format!("/wmts/pts/default/WebMercatorQuad/{z}/{y}/{x}.mvt"),
    ] {
        assert_eq!(get_all(server, &path, &[]).await.0, 200, "{path}");
        let fast = get_all(server, &path, &[]).await;
        let full = get_all(server, &path, &[("x-request-id", "wmts23-raw")]).await;
        assert_eq!(fast, full, "{path}");
        assert!(
            !fast.1.iter().any(|h| h.starts_with("content-encoding")),
            "{path}: {:?}",
            fast.1
        );
    }

    // A CGCS2000Quad tile, once cached by the full stack: the same answer both ways.
    let (col, row, _, _) = tianditu_c_units(16, LON, LAT);
    let cgcs = format!("/wmts/many_pts/default/CGCS2000Quad/16/{row}/{col}.pbf");
    assert_eq!(get_all(server, &cgcs, &[]).await.0, 200);
    let fast = get_all(server, &cgcs, &[]).await;
    let full = get_all(server, &cgcs, &[("x-request-id", "wmts23-cgcs")]).await;
    assert_eq!(fast.0, 200);
    assert_eq!(fast, full, "{cgcs}");

    // Cached raster tiles of the orthophoto (its deepest level), in WebMercatorQuad
    // (the XYZ route's tile) and CGCS2000Quad, RESTful and KVP: as the stack answers.
    let n = f64::from(1u32 << top);
    let (rx, ry) = (
        ((LON + 180.0) / 360.0 * n).floor() as u32,
        ((1.0 - LAT.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor() as u32,
    );
    let xyz = format!("/tiles/ortho/{top}/{rx}/{ry}.png");
    let (s, _, png) = get_all(server, &xyz, &[]).await;
    assert_eq!(s, 200, "{xyz}");
    assert!(png.starts_with(b"\x89PNG"));
    let xyz_answer = get_all(server, &xyz, &[("x-request-id", "wmts23-xyz")]).await;
    let (rcol, rrow, _, _) = tianditu_c_units(top, LON, LAT);
    let kvp_png = |set: &str, row: u32, col: u32| {
        format!(
            "/wmts?service=WMTS&request=GetTile&version=1.0.0&layer=ortho&style=default&format=image/png&TileMatrixSet={set}&TileMatrix={top}&TileRow={row}&TileCol={col}"
        )
    };
    let rest_before = route_200s(server, REST).await;
    for (path, same_as_xyz) in [
        (
            format!("/wmts/ortho/default/WebMercatorQuad/{top}/{ry}/{rx}.png"),
            true,
        ),
        (kvp_png("WebMercatorQuad", ry, rx), true),
        (
            format!("/wmts/ortho/default/CGCS2000Quad/{top}/{rrow}/{rcol}.PNG"),
            false,
        ),
        (kvp_png("CGCS2000Quad", rrow, rcol), false),
    ] {
        assert_eq!(get_all(server, &path, &[]).await.0, 200, "{path}");
        let fast = get_all(server, &path, &[origin]).await;
        let full = get_all(server, &path, &[origin, ("x-request-id", "wmts23-raster")]).await;
        assert_eq!(
            fast, full,
            "{path}: the fast path answers as the stack does"
        );
        assert!(fast.2.starts_with(b"\x89PNG"), "{path}");
        assert!(
            fast.1
                .iter()
                .any(|h| h == "cache-control: public, max-age=3600"),
            "{path}: {:?}",
            fast.1
        );
        if same_as_xyz {
            let fast = get_all(server, &path, &[]).await;
            assert_eq!(fast, xyz_answer, "{path}: the XYZ route's tile and headers");
        }
    }
    assert_eq!(route_200s(server, REST).await, rest_before + 7);

    // What the fast path does not take is the full route's, with its exception report.
    for (path, status, code) in [
        (
            kvp.replace(&format!("TileRow={y}"), "TileRow=99999"),
            400,
            "TileOutOfRange",
        ),
        (
            kvp.replace("style=default", "style=fancy"),
            400,
            "InvalidParameterValue",
        ),
        (
            kvp.replace("LAYER=many_pts", "LAYER=nope"),
            400,
            "InvalidParameterValue",
        ),
        (
            kvp.replace("Request=GetTile", "Request=gettile"),
            400,
            "InvalidParameterValue",
        ),
        (
            rest.replace("WebMercatorQuad", "webmercatorquad"),
            400,
            "InvalidParameterValue",
        ),
        (
            kvp.replace("many_pts", "ortho")
                .replace("application/vnd.mapbox-vector-tile", "image/jpeg"),
            400,
            "InvalidParameterValue",
        ),
        (
            rest.replace("many_pts", "ortho").replace(".mvt", ".webp"),
            400,
            "InvalidParameterValue",
        ),
        (
            rest.replace("many_pts", "ortho").replace(".mvt", ".pbf"),
            400,
            "InvalidParameterValue",
        ),
    ] {
        let (s, ct, body) = get(server, &path).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(s, status, "{path}: {body}");
        assert_eq!(ct, "application/xml", "{path}");
        assert!(
            body.contains(&format!("exceptionCode=\"{code}\"")),
            "{path}: {body}"
        );
    }
}

/// Raster layers are OGC API collections of map tiles: listed, described (JSON and
/// the HTML page) with a link to their tiles in each set, refused clearly for items;
/// a raster layer the caller may not read is 404 like a missing collection.
async fn raster_collections(db: &TestDb, server: &TestServer, top: u8) {
    // A second raster layer only administrators may read (its catalogue row is
    // enough: it is never listed or described to anonymous callers), and a public one
    // to know when the server has seen both.
    for id in ["hidden_ortho", "open_ortho"] {
        let sql = format!(
            "INSERT INTO layer_catalog (id, title, kind, feature_count, bounds, min_zoom, max_zoom, tile_format) \
             VALUES ('{id}', '{id}', 'raster', 0, ARRAY[{LON}, {LAT}, {LON}, {LAT}], 10, 12, 'png')"
        );
        sqlx::query(&sql).execute(&db.pool).await.expect(&sql);
    }
    let (ok, stdout, stderr) = common::run(common::citygrid(db).args([
        "layer",
        "set-access",
        "hidden_ortho",
        "--read",
        "admins",
    ]));
    assert!(ok, "set-access:\n{stdout}\n{stderr}");
    for id in ["hidden_ortho", "open_ortho"] {
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(id)
            .execute(&db.pool)
            .await
            .expect("notify");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(server, "/ogc/collections/open_ortho").await.0 != 200 {
        assert!(Instant::now() < deadline, "open_ortho never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (s, list) = get_json(server, "/ogc/collections").await;
    assert_eq!(s, 200);
    let listed: Vec<&str> = list["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        listed.contains(&"ortho") && listed.contains(&"pts"),
        "{listed:?}"
    );
    assert!(!listed.contains(&"hidden_ortho"), "{listed:?}");
    let listed_ortho = list["collections"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["id"] == "ortho"))
        .cloned()
        .expect("ortho listed");

    let (s, ortho) = get_json(server, "/ogc/collections/ortho").await;
    assert_eq!(s, 200, "{ortho}");
    assert_eq!(ortho, listed_ortho);
    assert_eq!(ortho["dataType"], "map");
    assert!(
        ortho.get("itemType").is_none(),
        "not a features collection: {ortho}"
    );
    let links = ortho["links"].as_array().expect("links");
    assert!(!links.iter().any(|l| l["rel"] == "items"), "{ortho}");
    assert!(links.iter().any(|l| l["rel"]
        == "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"
        && l["href"]
            .as_str()
            .is_some_and(|h| h.ends_with("/ogc/collections/ortho/tiles"))));
    // One tile link per tile matrix set; the CGCS2000Quad one, filled in, is a tile.
    let tile_links: Vec<&Value> = links.iter().filter(|l| l["rel"] == "item").collect();
    assert_eq!(tile_links.len(), 3, "{ortho}");
    let template = tile_links
        .iter()
        .find_map(|l| l["href"].as_str().filter(|h| h.contains("/CGCS2000Quad/")))
        .expect("a CGCS2000Quad tile link");
    assert!(tile_links
        .iter()
        .all(|l| l["type"] == "image/png" && l["templated"] == true));
    let (col, row, _, _) = tianditu_c_units(top, LON, LAT);
    let href = template
        .replace("{tileMatrix}", &top.to_string())
        .replace("{tileRow}", &row.to_string())
        .replace("{tileCol}", &col.to_string());
    let r = http().get(&href).send().await.expect("tile");
    assert_eq!(r.status().as_u16(), 200, "{href}");
    assert!(r.bytes().await.expect("png").starts_with(b"\x89PNG"));

    // The HTML page of the collection.
    let r = http()
        .get(server.url("/ogc/collections/ortho?f=html"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().await.unwrap_or_default();
    assert!(page.contains("/ogc/collections/ortho/tiles"), "{page}");

    // Items are refused, saying why.
    for path in [
        "/ogc/collections/ortho/items",
        "/ogc/collections/ortho/items/1",
        "/ogc/collections/ortho/queryables",
    ] {
        let (s, body) = get_json(server, path).await;
        assert_eq!(s, 404, "{path}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("raster coverage")),
            "{path}: {body}"
        );
    }

    // The hidden raster is a missing collection to anonymous callers.
    for path in [
        "/ogc/collections/hidden_ortho",
        "/ogc/collections/hidden_ortho/items",
        "/ogc/collections/hidden_ortho/tiles",
    ] {
        let (s, body) = get_json(server, path).await;
        assert_eq!(s, 404, "{path}");
        let (_, missing) = get_json(server, &path.replace("hidden_ortho", "no_such_ortho")).await;
        assert_eq!(
            body["error"]
                .as_str()
                .map(|e| e.replace("hidden_ortho", "X")),
            missing["error"]
                .as_str()
                .map(|e| e.replace("no_such_ortho", "X")),
            "{path}: the same answer as a missing collection"
        );
    }
}

/// The access-log line of a WMTS tile answered by the fast path is the full stack's
/// line for the same request (but for its id and time): method, path, query, route,
/// status and bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_log_lines_are_the_stacks() {
    let db = TestDb::new().await;
    for sql in [
        format!(
            "CREATE TABLE layers.log_pts AS SELECT i::bigint AS fid, \
             ST_SetSRID(ST_MakePoint({LON} + (i % 40) * 0.0002, {LAT} + (i / 40) * 0.0002), 4326) AS geom, \
             'point ' || i AS name FROM generate_series(1, 1000) i"
        ),
        "ALTER TABLE layers.log_pts ADD PRIMARY KEY (fid)".to_string(),
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT 'log_pts', 'log_pts', 'vector', 'Point', '[{\"name\":\"name\",\"type\":\"text\"}]'::jsonb, \
         count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.log_pts".to_string(),
    ] {
        sqlx::query(&sql).execute(&db.pool).await.expect(&sql);
    }
    let log_path = common::temp_dir("wmts_access_log").join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut command = common::citygrid(&db);
    command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("CITYGRID_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(log));
    let server = TestServer::spawn(command);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(get(&server, "/tiles/log_pts/0/0/0").await.0, 200 | 204) {
        assert!(Instant::now() < deadline, "log_pts never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let z = 14u32;
    let n = f64::from(1u32 << z);
    let x = ((LON + 180.0) / 360.0 * n).floor() as u32;
    let y =
        ((1.0 - LAT.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    let paths = [
        format!("/wmts/log_pts/default/WebMercatorQuad/{z}/{y}/{x}.mvt"),
        format!("/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=log_pts&STYLE=default&FORMAT=application/x-protobuf&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"),
    ];
    for (i, path) in paths.iter().enumerate() {
        assert_eq!(get_all(&server, path, &[]).await.0, 200, "{path}");
        // With an id the stack answers (its line carries the id); the fast path's own
        // line is the next one.
        let id = format!("wmts23-fast-{i}");
        let full = get_all(&server, path, &[("x-request-id", &id)]).await;
        assert_eq!(full.0, 200);
        assert_eq!(get_all(&server, path, &[]).await.0, 200);
    }
    assert!(server.terminate());
    let text = std::fs::read_to_string(&log_path).expect("log");
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "citygrid_access")
        .collect();
    let fields = |v: &Value| {
        [
            "method", "path", "query", "route", "status", "bytes", "client",
        ]
        .map(|k| {
            v.get(k)
                .or_else(|| v["fields"].get(k))
                .cloned()
                .unwrap_or(Value::Null)
        })
    };
    for (i, path) in paths.iter().enumerate() {
        let id = format!("wmts23-fast-{i}");
        let at = lines
            .iter()
            .position(|v| {
                v["request_id"] == id.as_str() || v["fields"]["request_id"] == id.as_str()
            })
            .unwrap_or_else(|| panic!("no line for {path}:\n{text}"));
        let stack = fields(&lines[at]);
        let fast = lines.get(at + 1).map(fields);
        assert_eq!(fast.as_ref(), Some(&stack), "{path}:\n{text}");
        assert!(
            stack[5].as_u64().is_some_and(|b| b > 0),
            "bytes logged: {stack:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdal_and_owslib_read_the_service() {
    let (_db, server, dir) = setup("wmts_clients").await;
    let caps = server.url("/wmts/1.0.0/WMTSCapabilities.xml");
    let (s, ct, body) = get(&server, "/wmts/1.0.0/WMTSCapabilities.xml").await;
    assert_eq!((s, ct.as_str()), (200, "application/xml"));
    let body = String::from_utf8_lossy(&body).to_string();
    assert!(
        body.contains("Points &amp; &lt;marks&gt;"),
        "titles are escaped"
    );
    let (s, _, kvp) = get(&server, "/wmts?service=WMTS&request=GetCapabilities").await;
    assert_eq!(
        (s, String::from_utf8_lossy(&kvp)),
        (200, body.clone().into())
    );

    // GDAL's WMTS driver: every layer in every matrix set it is offered in.
    let info = run(Command::new("gdalinfo").arg(format!("WMTS:{caps}")));
    for (layer, set) in [
        ("ortho", "WebMercatorQuad"),
        ("ortho", "WorldCRS84Quad"),
        ("ortho", "CGCS2000Quad"),
        ("pts", "WebMercatorQuad"),
        ("pts", "WorldCRS84Quad"),
        ("pts", "CGCS2000Quad"),
    ] {
        assert!(
            info.contains(&format!("layer={layer},tilematrixset={set}")),
            "gdalinfo lists {layer} in {set}:\n{info}"
        );
    }

    // A window of the orthophoto read through WMTS matches the source warped by gdalwarp
    // onto the same pixels. GDAL 3.6 reads a set's deepest matrix unless told which:
    // the layer's last level (TileMatrixSetLimits), the same number in both sets.
    let (_, ortho) = get_json(&server, "/catalog/ortho").await;
    let top = ortho["max_zoom"].as_u64().expect("max_zoom");
    assert!(body.contains(&format!("<TileMatrix>{top}</TileMatrix>")));
    for (set, srs) in [
        ("WebMercatorQuad", "EPSG:3857"),
        ("CGCS2000Quad", "EPSG:4490"),
    ] {
        let mad = compare_with_gdalwarp(&dir, &caps, set, top, srs);
        assert!(
            mad < 6.0,
            "{set}: mean absolute difference {mad:.2} grey levels"
        );
    }

    // OWSLib parses the capabilities and fetches a tile of each format.
    let script = dir.join("owslib_wmts.py");
    std::fs::write(&script, OWSLIB).unwrap();
    let base = server.url("/wmts");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(common::pmtiles::python())
            .arg(&script)
            .arg(base)
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
    let got: Value = serde_json::from_str(stdout.trim()).expect("JSON from the script");
    let listed: Vec<&str> = got["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        listed.contains(&"ortho") && listed.contains(&"pts"),
        "{listed:?}"
    );
    assert_eq!(
        got["sets"],
        serde_json::json!(["CGCS2000Quad", "WebMercatorQuad", "WorldCRS84Quad"])
    );
    for (key, ct) in [
        ("ortho image/png WebMercatorQuad", "image/png"),
        ("ortho image/png CGCS2000Quad", "image/png"),
        (
            "pts application/vnd.mapbox-vector-tile CGCS2000Quad",
            "application/vnd.mapbox-vector-tile",
        ),
        (
            "pts application/vnd.mapbox-vector-tile WebMercatorQuad",
            "application/vnd.mapbox-vector-tile",
        ),
    ] {
        assert_eq!(got["tiles"][key][1], ct, "{key}: {got}");
        assert!(
            got["tiles"][key][0].as_u64().unwrap_or(0) > 0,
            "{key}: {got}"
        );
    }
}

/// OWSLib: the layers and matrix sets of the capabilities, and for every layer, format
/// and matrix set the tile in the middle of the layer at its last listed level
/// (bytes, type).
const OWSLIB: &str = r#"
import json, sys
from owslib.wmts import WebMapTileService
w = WebMapTileService(sys.argv[1])
out = {"layers": sorted(w.contents), "sets": sorted(w.tilematrixsets), "tiles": {}}
for name, layer in w.contents.items():
    if name not in ("ortho", "pts"):
        continue
    for fmt in layer.formats:
        for tms, link in layer.tilematrixsetlinks.items():
            limits = link.tilematrixlimits
            level = max(limits, key=int)
            lim = limits[level]
            r = w.gettile(layer=name, tilematrixset=tms, tilematrix=level,
                          row=(lim.mintilerow + lim.maxtilerow) // 2,
                          column=(lim.mintilecol + lim.maxtilecol) // 2, format=fmt)
            out["tiles"]["%s %s %s" % (name, fmt, tms)] = [len(r.read()), r.info()["Content-Type"]]
print(json.dumps(out))
"#;

/// Reads a window of `ortho` from `set` with gdal_translate (at the set's full
/// resolution), warps the source with gdalwarp onto exactly those pixels in `srs`,
/// and returns the mean absolute difference of the RGB values where both are opaque.
fn compare_with_gdalwarp(dir: &Path, caps: &str, set: &str, level: u64, srs: &str) -> f64 {
    let from_wmts = dir.join(format!("{set}.tif"));
    let warped = dir.join(format!("{set}_gdalwarp.tif"));
    // The middle of the orthophoto, about 16 m across.
    let (w, n, e, s) = (LON - 0.00008, LAT + 0.00007, LON + 0.00008, LAT - 0.00007);
    run(Command::new("gdal_translate")
        .arg(format!(
            "WMTS:{caps},layer=ortho,tilematrixset={set},tilematrix={level}"
        ))
        .args(["-projwin_srs", "EPSG:4326", "-projwin"])
        .args([w, n, e, s].map(|v| v.to_string()))
        .arg(&from_wmts));
    let meta: Value =
        serde_json::from_str(&run(Command::new("gdalinfo").arg("-json").arg(&from_wmts)))
            .expect("gdalinfo -json");
    let (cols, rows) = (
        meta["size"][0].as_u64().unwrap(),
        meta["size"][1].as_u64().unwrap(),
    );
    let gt: Vec<f64> = meta["geoTransform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(cols >= 32 && rows >= 32, "{set}: a {cols}×{rows} window");
    let (x0, y0) = (gt[0], gt[3]);
    let (x1, y1) = (x0 + gt[1] * cols as f64, y0 + gt[5] * rows as f64);
    // EPSG:4490 is lat/lon in GDAL's axis order for -te only with -te_srs; give
    // the traditional lon/lat order explicitly.
    run(Command::new("gdalwarp")
        .args([
            "-q",
            "-overwrite",
            "-t_srs",
            srs,
            "-r",
            "bilinear",
            "-dstalpha",
        ])
        .args(["--config", "OGR_CT_FORCE_TRADITIONAL_GIS_ORDER", "YES"])
        .arg("-te")
        .args([x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)].map(|v| format!("{v:.12}")))
        .arg("-ts")
        .args([cols.to_string(), rows.to_string()])
        .arg(common::data_file("ortho_osbs_10cm_utm17.tif"))
        .arg(&warped));
    let a = raw_rgba(dir, &from_wmts);
    let b = raw_rgba(dir, &warped);
    assert_eq!(a.len(), b.len());
    let (mut sum, mut n) = (0u64, 0u64);
    for (p, q) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        if p[3] == 255 && q[3] == 255 {
            for c in 0..3 {
                sum += u64::from(p[c].abs_diff(q[c]));
                n += 1;
            }
        }
    }
    assert!(n > 3 * 32 * 32, "{set}: {n} opaque samples");
    sum as f64 / n as f64
}

/// The RGBA bytes (pixel-interleaved) of a 4-band image, through gdal_translate to
/// raw ENVI.
fn raw_rgba(dir: &Path, image: &Path) -> Vec<u8> {
    let raw = dir.join(format!(
        "{}.raw",
        image.file_stem().unwrap_or_default().to_string_lossy()
    ));
    run(Command::new("gdal_translate")
        .args(["-q", "-of", "ENVI", "-ot", "Byte", "-co", "INTERLEAVE=BIP"])
        .args(["-b", "1", "-b", "2", "-b", "3", "-b", "4"])
        .arg(image)
        .arg(&raw));
    std::fs::read(&raw).expect("raw image")
}

/// Builds `web/dist` (the OpenLayers bundle of the sample page) when it is missing.
fn built_pages() {
    let web = common::root().join("web");
    if web
        .join("dist")
        .join("vendor")
        .join("wmts-demo.js")
        .exists()
    {
        return;
    }
    if !web.join("node_modules").join("ol").is_dir() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web)
            .output()
            .expect("run npm (scripts/install-deps.sh installs node)");
        assert!(
            out.status.success(),
            "npm ci: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new("node")
        .arg("build.mjs")
        .current_dir(&web)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "web build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openlayers_page_draws_both_grids() {
    built_pages();
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "the browser tests need Chromium: run scripts/install-deps.sh (Debian package chromium)"
    );
    let (_db, server, _dir) = setup("wmts_browser").await;
    let base = server.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(
                common::root()
                    .join("tests")
                    .join("browser")
                    .join("wmts.mjs"),
            )
            .env("CITYGRID_URL", base)
            .env(
                "SCREENSHOT_DIR",
                common::root().join("target").join("screenshots"),
            )
            .current_dir(common::root())
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/browser/wmts.mjs:\n{stdout}\n{stderr}"
    );
}

//! Field names in any script survive an import (issue 15, item 1): a GeoJSON with
//! `名称`, `面积`, `name` and a GBK-encoded Shapefile DBF with Chinese field names are
//! imported with the real `citygrid import vector`, then the real server is asked:
//! OGC items properties, queryables, CQL2-text and CQL2-JSON filters, equality
//! filters and sortby, TileJSON `vector_layers` fields and the keys of a real MVT
//! tile all use the original names; so does a vector MBTiles export read back
//! with GDAL (an independent reader).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tiles::tile_of;
use common::{http, TestDb, TestServer};
use serde_json::{json, Value};

fn ogr2ogr(args: &[&str]) {
    let out = Command::new("ogr2ogr")
        .args(args)
        .output()
        .expect("run ogr2ogr");
    assert!(
        out.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn import(db: &TestDb, file: &Path, args: &[&str]) {
    let mut cmd = common::citygrid(db);
    cmd.args(["import", "vector"]).arg(file).args(args);
    let (ok, out, err) = common::run(&mut cmd);
    assert!(ok, "import failed:\nstdout: {out}\nstderr: {err}");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Two districts of Wuhan with Chinese and ASCII property names.
const DISTRICTS: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"名称":"江岸区","面积":80.3,"name":"Jiang'an","权属单位":"江岸区政府"},
 "geometry":{"type":"Polygon","coordinates":[[[114.28,30.59],[114.32,30.59],[114.32,30.63],[114.28,30.63],[114.28,30.59]]]}},
{"type":"Feature","properties":{"名称":"江汉区","面积":28.3,"name":"Jianghan","权属单位":"江汉区政府"},
 "geometry":{"type":"Polygon","coordinates":[[[114.24,30.57],[114.28,30.57],[114.28,30.61],[114.24,30.61],[114.24,30.57]]]}}
]}"#;

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    let r = http().get(server.url(path)).send().await.expect("request");
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    assert_eq!(
        status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&body)
            .chars()
            .take(400)
            .collect::<String>()
    );
    serde_json::from_slice(&body).expect("json")
}

async fn wait_loaded(server: &TestServer, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = http()
            .get(server.url(&format!("/ogc/collections/{id}/items?limit=1")))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "layer {id} never loaded ({status})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The values of property `key` of the features of an items answer, in order.
fn values(fc: &Value, key: &str) -> Vec<Value> {
    fc["features"]
        .as_array()
        .unwrap_or_else(|| panic!("no features: {fc}"))
        .iter()
        .map(|f| f["properties"][key].clone())
        .collect()
}

/// Checks every output of the server for a layer whose fields are `fields`
/// (original names) and whose features are the two districts.
async fn check_outputs(server: &TestServer, id: &str, fields: &[&str]) {
    let expected = set(fields);

    // OGC items: the properties are named as in the source.
    let fc = get_json(server, &format!("/ogc/collections/{id}/items?sortby=name")).await;
    for f in fc["features"].as_array().expect("features") {
        assert_eq!(keys(&f["properties"]), expected, "{id}: {f}");
    }
    assert_eq!(values(&fc, "名称"), vec![json!("江岸区"), json!("江汉区")]);

    // Queryables (JSON Schema and the legacy list) name the same properties.
    let q = get_json(server, &format!("/ogc/collections/{id}/queryables")).await;
    let mut queryable = keys(&q["properties"]);
    assert!(queryable.remove("geometry"), "{q}");
    assert_eq!(queryable, expected, "{q}");
    assert_eq!(q["properties"]["面积"]["type"], "number", "{q}");
    assert_eq!(q["properties"]["名称"]["type"], "string", "{q}");
    let legacy: BTreeSet<String> = q["queryables"]
        .as_array()
        .expect("legacy queryables")
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(legacy, expected);

    // CQL2-text by the original name, unquoted and quoted.
    for filter in ["名称 = '江汉区'", "\"名称\" = '江汉区'", "面积 < 50"] {
        let fc = get_json(
            server,
            &format!("/ogc/collections/{id}/items?filter={}", enc(filter)),
        )
        .await;
        assert_eq!(fc["numberMatched"], 1, "{id} {filter}: {fc}");
        assert_eq!(values(&fc, "name"), vec![json!("Jianghan")], "{filter}");
    }
    // CQL2-JSON, a plain equality parameter and sortby by the original names.
    let cql_json = json!({"op": "=", "args": [{"property": "名称"}, "江岸区"]}).to_string();
    let fc = get_json(
        server,
        &format!(
            "/ogc/collections/{id}/items?filter-lang=cql2-json&filter={}",
            enc(&cql_json)
        ),
    )
    .await;
    assert_eq!(values(&fc, "name"), vec![json!("Jiang'an")], "{fc}");
    let fc = get_json(
        server,
        &format!(
            "/ogc/collections/{id}/items?{}={}",
            enc("名称"),
            enc("江岸区")
        ),
    )
    .await;
    assert_eq!(values(&fc, "name"), vec![json!("Jiang'an")], "{fc}");
    let fc = get_json(
        server,
        &format!("/ogc/collections/{id}/items?sortby={}", enc("-面积")),
    )
    .await;
    assert_eq!(values(&fc, "名称"), vec![json!("江岸区"), json!("江汉区")]);

    // TileJSON vector_layers fields.
    let tj = get_json(server, &format!("/tiles/{id}.json")).await;
    let layer = &tj["vector_layers"][0];
    assert_eq!(layer["id"], id);
    assert_eq!(keys(&layer["fields"]), expected, "{tj}");
    assert_eq!(layer["fields"]["面积"], "Number", "{tj}");

    // The keys of a real tile.
    let (x, y) = tile_of(114.30, 30.61, 10);
    let r = http()
        .get(server.url(&format!("/tiles/{id}/10/{x}/{y}")))
        .send()
        .await
        .expect("tile");
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.expect("tile body");
    let features = common::mvt::decode(&bytes);
    assert!(!features.is_empty(), "empty tile");
    let mut seen = BTreeSet::new();
    for f in &features {
        assert_eq!(f.layer, id);
        for (k, _) in &f.props {
            seen.insert(k.clone());
        }
        assert!(
            f.props.iter().any(|(k, _)| k == "名称"),
            "no 名称 key: {:?}",
            f.props
        );
    }
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn chinese_field_names_are_kept_everywhere() {
    let db = TestDb::new().await;
    let dir = common::temp_dir("field-names");

    // GeoJSON (UTF-8).
    let geojson = dir.join("quxian.geojson");
    std::fs::write(&geojson, DISTRICTS).expect("write geojson");
    import(&db, &geojson, &[]);

    // Shapefile whose DBF (field names and values) is GBK, without a .cpg: only
    // --encoding says what it is, as with most Chinese survey data.
    let shp = dir.join("parcels.shp");
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-lco",
        "ENCODING=GBK",
        path_str(&shp),
        path_str(&geojson),
    ]);
    let dbf = std::fs::read(dir.join("parcels.dbf")).expect("read dbf");
    // "名称" in GBK is in the field descriptors, not its UTF-8 bytes.
    assert!(dbf.windows(4).any(|w| w == [0xc3, 0xfb, 0xb3, 0xc6]));
    assert!(!dbf.windows(6).any(|w| w == "名称".as_bytes()));
    let _ = std::fs::remove_file(dir.join("parcels.cpg"));
    import(&db, &shp, &["--encoding", "GBK", "--layer", "parcels_gbk"]);

    // The catalogue and the table agree: the columns are the original names.
    let fields = ["名称", "面积", "name", "权属单位"];
    for layer in ["quxian", "parcels_gbk"] {
        let catalogue: Value = sqlx::query_scalar("SELECT fields FROM layer_catalog WHERE id = $1")
            .bind(layer)
            .fetch_one(&db.pool)
            .await
            .expect("catalogue fields");
        let names: Vec<&str> = catalogue
            .as_array()
            .expect("fields array")
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(names, fields, "{layer}: {catalogue}");
        for f in catalogue.as_array().expect("fields array") {
            assert_eq!(f["name"], f["source_name"], "{layer}: {catalogue}");
        }
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
              WHERE table_schema = 'layers' AND table_name = $1 AND column_name NOT IN ('fid', 'geom')
              ORDER BY ordinal_position",
        )
        .bind(layer)
        .fetch_all(&db.pool)
        .await
        .expect("columns");
        assert_eq!(columns, fields, "{layer}");
    }

    let server = TestServer::start(&db);
    for layer in ["quxian", "parcels_gbk"] {
        wait_loaded(&server, layer).await;
        check_outputs(&server, layer, &fields).await;
    }
    // A Shapefile-only check: the GBK values came through too.
    let fc = get_json(
        &server,
        &format!(
            "/ogc/collections/parcels_gbk/items?filter={}",
            enc("权属单位 = '江汉区政府'")
        ),
    )
    .await;
    assert_eq!(values(&fc, "名称"), vec![json!("江汉区")], "{fc}");

    // The export's metadata, read back by GDAL's MBTiles driver.
    let archive = dir.join("quxian.mbtiles");
    let mut cmd = common::citygrid(&db);
    cmd.args(["export", "quxian"])
        .arg(&archive)
        .args(["--max-zoom", "10", "--quiet"]);
    let (ok, out, err) = common::run(&mut cmd);
    assert!(ok, "export failed:\nstdout: {out}\nstderr: {err}");
    let info = Command::new("ogrinfo")
        .args(["-ro", "-so", "-al", path_str(&archive)])
        .output()
        .expect("run ogrinfo");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "ogrinfo: {text}");
    for name in fields {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name}: "))),
            "{name} missing from the export's fields:\n{text}"
        );
    }
    assert!(server.terminate());
}

#[tokio::test(flavor = "multi_thread")]
async fn long_and_colliding_field_names_are_bounded_and_distinct() {
    let db = TestDb::new().await;
    let dir = common::temp_dir("field-names-long");
    // 35 Chinese characters are 105 bytes in UTF-8; PostgreSQL keeps 63.
    let long = "城市网格化管理".repeat(5);
    let longer = format!("{long}甲");
    let mut props = serde_json::Map::new();
    for (k, v) in [
        ("名称", json!("a")),
        ("名称 ", json!("b")),
        (long.as_str(), json!(1)),
        (longer.as_str(), json!(2)),
        ("Name", json!("c")),
        ("name", json!("d")),
    ] {
        props.insert(k.to_string(), v);
    }
    let doc = json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": props,
        "geometry": {"type": "Point", "coordinates": [114.3, 30.6]}}]});
    let file = dir.join("long_names.geojson");
    std::fs::write(&file, doc.to_string()).expect("write");
    import(&db, &file, &[]);
    let catalogue: Value =
        sqlx::query_scalar("SELECT fields FROM layer_catalog WHERE id = 'long_names'")
            .fetch_one(&db.pool)
            .await
            .expect("fields");
    let pairs: Vec<(String, String)> = catalogue
        .as_array()
        .expect("array")
        .iter()
        .map(|f| {
            (
                f["source_name"].as_str().unwrap_or_default().to_string(),
                f["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let cut: String = long.chars().take(21).collect();
    let cut_2: String = long.chars().take(20).collect();
    let by_source = |s: &str| -> String {
        pairs
            .iter()
            .find(|(src, _)| src == s)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| panic!("no field {s:?} in {catalogue}"))
    };
    assert_eq!(by_source(&long), cut);
    assert_eq!(by_source(&longer), format!("{cut_2}_2"));
    let names: BTreeSet<String> = pairs.iter().map(|(_, n)| n.clone()).collect();
    assert_eq!(names.len(), pairs.len(), "{catalogue}");
    assert!(names.iter().all(|n| n.len() <= 63), "{names:?}");
    assert!(
        names.contains("名称") && names.contains("名称_2"),
        "{names:?}"
    );
    assert!(
        names.contains("name") && names.contains("name_2"),
        "{names:?}"
    );
    // The table has exactly the catalogue's columns (nothing truncated by the server).
    let columns: BTreeSet<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_schema = 'layers' AND table_name = 'long_names' AND column_name NOT IN ('fid', 'geom')",
    )
    .fetch_all(&db.pool)
    .await
    .expect("columns")
    .into_iter()
    .collect();
    assert_eq!(columns, names);
}

#[tokio::test(flavor = "multi_thread")]
async fn gbk_csv_header_is_decoded_with_encoding() {
    let db = TestDb::new().await;
    let dir = common::temp_dir("field-names-csv");
    // "名称,面积,lon,lat" / "江岸区,80.3,114.30,30.61" in GBK: GDAL's CSV driver does
    // not recode, so the header goes through --encoding like the values.
    let mut bytes: Vec<u8> = vec![0xc3, 0xfb, 0xb3, 0xc6, b',', 0xc3, 0xe6, 0xbb, 0xfd];
    bytes.extend_from_slice(b",lon,lat\n");
    bytes.extend_from_slice(&[0xbd, 0xad, 0xb0, 0xb6, 0xc7, 0xf8]);
    bytes.extend_from_slice(b",80.3,114.30,30.61\n");
    assert!(std::str::from_utf8(&bytes).is_err());
    let file = dir.join("gbk_points.csv");
    std::fs::write(&file, &bytes).expect("write csv");
    import(
        &db,
        &file,
        &["--encoding", "GBK", "--source-crs", "EPSG:4326"],
    );
    let catalogue: Value =
        sqlx::query_scalar("SELECT fields FROM layer_catalog WHERE id = 'gbk_points'")
            .fetch_one(&db.pool)
            .await
            .expect("fields");
    assert_eq!(catalogue[0]["name"], "名称", "{catalogue}");
    assert_eq!(catalogue[0]["source_name"], "名称", "{catalogue}");
    assert_eq!(catalogue[1]["name"], "面积", "{catalogue}");
    let (name, area): (String, f64) =
        sqlx::query_as("SELECT \"名称\", \"面积\" FROM layers.gbk_points")
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!((name.as_str(), area), ("江岸区", 80.3));
}

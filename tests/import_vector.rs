//! End-to-end tests of `citygrid import vector` (issue #3) against a real PostGIS:
//! encodings, Chinese CRSs, DXF, CSV, GeoPackage, geometry normalisation and the
//! catalogue row. Every input file is made here with ogr2ogr from the sample data.

mod common;

use std::path::Path;
use std::process::Command;

use sqlx::Row;

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

fn import(db: &common::TestDb, file: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = common::citygrid(db);
    cmd.args(["import", "vector"]).arg(file).args(args);
    common::run(&mut cmd)
}

fn assert_ok(r: &(bool, String, String)) {
    assert!(r.0, "import failed:\nstdout: {}\nstderr: {}", r.1, r.2);
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

async fn scalar_f64(db: &common::TestDb, sql: &str) -> f64 {
    sqlx::query_scalar::<_, f64>(sql)
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn scalar_i64(db: &common::TestDb, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn geojson_in_cgcs2000_fills_layer_and_catalogue() {
    let db = common::TestDb::new().await;
    let r = import(
        &db,
        &common::data_file("wuhan_districts_cgcs2000.geojson"),
        &["--title", "Wuhan districts"],
    );
    assert_ok(&r);
    assert!(r.1.contains("wuhan_districts_cgcs2000"), "summary: {}", r.1);
    let row = sqlx::query(
        "SELECT title, kind, geometry_type, source_crs, srid, feature_count, bounds, min_zoom, fields,
                import_stats, version FROM layer_catalog WHERE id = 'wuhan_districts_cgcs2000'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("catalogue row");
    assert_eq!(row.get::<String, _>("title"), "Wuhan districts");
    assert_eq!(row.get::<String, _>("kind"), "vector");
    assert_eq!(row.get::<String, _>("geometry_type"), "MultiPolygon");
    assert_eq!(row.get::<String, _>("source_crs"), "EPSG:4490");
    assert_eq!(row.get::<i32, _>("srid"), 4326);
    assert_eq!(row.get::<i64, _>("feature_count"), 13);
    let b: Vec<f64> = row.get("bounds");
    assert!(
        b[0] > 113.0 && b[2] < 116.0 && b[1] > 29.0 && b[3] < 32.0,
        "bounds {b:?}"
    );
    assert_eq!(
        row.get::<i32, _>("min_zoom"),
        5,
        "large polygons are drawn from zoom 5"
    );
    let fields: serde_json::Value = row.get("fields");
    assert_eq!(
        fields,
        serde_json::json!([
            {"name": "name", "type": "text", "source_name": "name"},
            {"name": "gb", "type": "text", "source_name": "gb"}
        ])
    );
    let stats: serde_json::Value = row.get("import_stats");
    assert_eq!(stats["read"], 13);
    assert_eq!(stats["written"], 13);
    assert_eq!(row.get::<i64, _>("version"), 1);
    // Typed geometry column, GiST index, primary key.
    let typ: String = sqlx::query_scalar(
        "SELECT type FROM geometry_columns WHERE f_table_schema = 'layers' AND f_table_name = 'wuhan_districts_cgcs2000'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("geometry_columns");
    assert_eq!(typ, "MULTIPOLYGON");
    let indexes = scalar_i64(
        &db,
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'layers' AND tablename = 'wuhan_districts_cgcs2000'",
    )
    .await;
    assert_eq!(indexes, 2);
    // Again without --replace: refused; with it: version 2.
    let again = import(
        &db,
        &common::data_file("wuhan_districts_cgcs2000.geojson"),
        &[],
    );
    assert!(!again.0);
    assert!(again.2.contains("--replace"), "{}", again.2);
    assert_ok(&import(
        &db,
        &common::data_file("wuhan_districts_cgcs2000.geojson"),
        &["--replace"],
    ));
    let version = scalar_i64(
        &db,
        "SELECT version FROM layer_catalog WHERE id = 'wuhan_districts_cgcs2000'",
    )
    .await;
    assert_eq!(version, 2);
    let title: String =
        sqlx::query_scalar("SELECT title FROM layer_catalog WHERE id = 'wuhan_districts_cgcs2000'")
            .fetch_one(&db.pool)
            .await
            .expect("title");
    assert_eq!(
        title, "Wuhan districts",
        "a replace without --title keeps the title"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gbk_shapefile_without_cpg_reads_chinese_with_encoding_option() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-gbk");
    let shp = dir.join("districts_gbk.shp");
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-lco",
        "ENCODING=GBK",
        path_str(&shp),
        path_str(&common::data_file("wuhan_districts_cgcs2000.geojson")),
    ]);
    let cpg = dir.join("districts_gbk.cpg");
    if cpg.exists() {
        std::fs::remove_file(&cpg).expect("remove .cpg");
    }
    // The .dbf really holds GBK bytes: 江岸区 = BD AD B0 B6 C7 F8.
    let dbf = std::fs::read(dir.join("districts_gbk.dbf")).expect("read dbf");
    assert!(
        dbf.windows(6)
            .any(|w| w == [0xbd, 0xad, 0xb0, 0xb6, 0xc7, 0xf8]),
        "dbf is not GBK"
    );

    assert_ok(&import(&db, &shp, &["--encoding", "GBK", "--layer", "gbk"]));
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM layers.gbk ORDER BY gb")
        .fetch_all(&db.pool)
        .await
        .expect("names");
    assert_eq!(names.len(), 13);
    assert!(names.contains(&"江岸区".to_string()), "names: {names:?}");
    let gb: String = sqlx::query_scalar("SELECT gb FROM layers.gbk WHERE name = '江岸区'")
        .fetch_one(&db.pool)
        .await
        .expect("江岸区");
    assert_eq!(gb, "156420102");

    // Without --encoding: GDAL may know the encoding from the .dbf's language byte;
    // otherwise the import must refuse with a hint. Never mojibake.
    let plain = import(&db, &shp, &["--layer", "gbk_plain"]);
    if plain.0 {
        let n = scalar_i64(
            &db,
            "SELECT count(*) FROM layers.gbk_plain WHERE name = '江岸区'",
        )
        .await;
        assert_eq!(n, 1, "text decoded wrongly");
    } else {
        assert!(plain.2.contains("--encoding"), "{}", plain.2);
        assert_eq!(
            plain
                .2
                .trim()
                .lines()
                .filter(|l| l.starts_with("citygrid: error:"))
                .count(),
            1,
            "{}",
            plain.2
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gauss_kruger_zone_matches_cgcs2000_within_a_centimetre() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-4547");
    let shp = dir.join("districts_4547.shp");
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-t_srs",
        "EPSG:4547",
        path_str(&shp),
        path_str(&common::data_file("wuhan_districts_cgcs2000.geojson")),
    ]);
    assert_ok(&import(
        &db,
        &common::data_file("wuhan_districts_cgcs2000.geojson"),
        &["--layer", "d4490"],
    ));
    assert_ok(&import(&db, &shp, &["--layer", "d4547"]));
    let crs: String = sqlx::query_scalar("SELECT source_crs FROM layer_catalog WHERE id = 'd4547'")
        .fetch_one(&db.pool)
        .await
        .expect("crs");
    assert_eq!(crs, "EPSG:4547");
    let max_m = scalar_f64(
        &db,
        "WITH a AS (SELECT gb, (ST_DumpPoints(geom)).* FROM layers.d4490),
              b AS (SELECT gb, (ST_DumpPoints(geom)).* FROM layers.d4547)
         SELECT max(ST_Distance(a.geom::geography, b.geom::geography))
           FROM a JOIN b ON a.gb = b.gb AND a.path = b.path",
    )
    .await;
    let pairs = scalar_i64(
        &db,
        "WITH a AS (SELECT gb, (ST_DumpPoints(geom)).* FROM layers.d4490),
              b AS (SELECT gb, (ST_DumpPoints(geom)).* FROM layers.d4547)
         SELECT count(*) FROM a JOIN b ON a.gb = b.gb AND a.path = b.path",
    )
    .await;
    assert!(pairs > 100, "only {pairs} vertices compared");
    assert!(
        max_m < 0.01,
        "EPSG:4547 differs from EPSG:4490 by {max_m} m"
    );

    // The published sample point: (528773.19, 3385557.62) in EPSG:4547 = (114.30 E, 30.59 N).
    let csv = dir.join("sample_4547.csv");
    std::fs::write(&csv, "name,x,y\nsample,528773.19,3385557.62\n").expect("write csv");
    assert_ok(&import(
        &db,
        &csv,
        &["--source-crs", "EPSG:4547", "--layer", "sample"],
    ));
    let d = scalar_f64(
        &db,
        "SELECT ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(114.30, 30.59), 4326)::geography) FROM layers.sample",
    )
    .await;
    assert!(d < 0.01, "sample point is {d} m off");
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_with_chinese_coordinate_columns_and_gcj02() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-csv");
    // GCJ-02 coordinates of the eviltransform test points (see tests/import_chinacrs.rs).
    let csv = dir.join("pois.csv");
    std::fs::write(
        &csv,
        "名称,经度,纬度,人口,开放\n上海,121.531541859215,31.17530398364597,100,true\n北京,116.38404722455657,39.91334545536069,200,false\n",
    )
    .expect("write csv");
    assert_ok(&import(&db, &csv, &["--source-crs", "gcj02"]));
    let rows =
        sqlx::query("SELECT \"名称\", ST_X(geom) x, ST_Y(geom) y FROM layers.pois ORDER BY fid")
            .fetch_all(&db.pool)
            .await
            .expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<String, _>("名称"), "上海");
    // Back to WGS84: the test table's WGS84 values.
    let (x, y): (f64, f64) = (rows[1].get("x"), rows[1].get("y"));
    assert!(
        (x - 116.377817).abs() < 5e-6 && (y - 39.911954).abs() < 5e-6,
        "{x} {y}"
    );
    let fields: serde_json::Value =
        sqlx::query_scalar("SELECT fields FROM layer_catalog WHERE id = 'pois'")
            .fetch_one(&db.pool)
            .await
            .expect("fields");
    assert_eq!(fields[0]["source_name"], "名称");
    assert_eq!(fields[0]["name"], "名称");
    assert_eq!(fields[1]["type"], "bigint", "{fields}");
    let crs: String = sqlx::query_scalar("SELECT source_crs FROM layer_catalog WHERE id = 'pois'")
        .fetch_one(&db.pool)
        .await
        .expect("crs");
    assert_eq!(crs, "gcj02");

    // lon/lat columns with explicit names and a WKT column.
    let csv2 = dir.join("stations.csv");
    std::fs::write(
        &csv2,
        "id,east_deg,north_deg\n1,24.94,60.17\n2,24.95,60.16\n",
    )
    .expect("write");
    assert_ok(&import(
        &db,
        &csv2,
        &[
            "--x-field",
            "east_deg",
            "--y-field",
            "north_deg",
            "--source-crs",
            "EPSG:4326",
        ],
    ));
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM layers.stations WHERE ST_X(geom) BETWEEN 24.9 AND 25"
        )
        .await,
        2
    );
    let csv3 = dir.join("shapes.csv");
    std::fs::write(
        &csv3,
        "name,WKT\na,\"POLYGON((0 0,1 0,1 1,0 0))\"\nb,\"POINT(2 2)\"\n",
    )
    .expect("write");
    assert_ok(&import(&db, &csv3, &["--source-crs", "EPSG:4326"]));
    let geometry: String =
        sqlx::query_scalar("SELECT geometry_type FROM layer_catalog WHERE id = 'shapes'")
            .fetch_one(&db.pool)
            .await
            .expect("type");
    assert_eq!(geometry, "Geometry", "points and polygons mixed");
}

#[tokio::test(flavor = "multi_thread")]
async fn dxf_import() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-dxf");
    let dxf = dir.join("districts.dxf");
    ogr2ogr(&[
        "-f",
        "DXF",
        "-t_srs",
        "EPSG:4547",
        path_str(&dxf),
        path_str(&common::data_file("wuhan_districts_cgcs2000.geojson")),
    ]);
    // DXF carries no CRS: refused without --source-crs.
    let refused = import(&db, &dxf, &[]);
    assert!(!refused.0);
    assert!(refused.2.contains("--source-crs"), "{}", refused.2);
    assert_ok(&import(
        &db,
        &dxf,
        &["--source-crs", "EPSG:4547", "--layer", "cad"],
    ));
    let n = scalar_i64(&db, "SELECT count(*) FROM layers.cad").await;
    assert!(n >= 13, "{n} entities");
    let inside = scalar_i64(
        &db,
        "SELECT count(*) FROM layers.cad WHERE ST_Within(geom, ST_MakeEnvelope(113.6, 29.9, 115.1, 31.4, 4326))",
    )
    .await;
    assert_eq!(inside, n, "every entity lies in Wuhan");
}

#[tokio::test(flavor = "multi_thread")]
async fn geopackage_layers_types_and_repairs() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-gpkg");
    let gpkg = dir.join("city.gpkg");
    // Layer 1: districts (EPSG:4547). Layer 2: hand-made shapes with a bow-tie, a
    // 3D point, mixed single/multi polygons, an empty geometry and typed fields.
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-t_srs",
        "EPSG:4547",
        "-nln",
        "districts",
        path_str(&gpkg),
        path_str(&common::data_file("wuhan_districts_cgcs2000.geojson")),
    ]);
    let csv = dir.join("shapes.csv");
    std::fs::write(
        &csv,
        "WKT,kind,n,born\n\
         \"POLYGON((0 0,2 2,2 0,0 2,0 0))\",bowtie,1,2020-01-02\n\
         \"MULTIPOLYGON(((10 10,11 10,11 11,10 10)),((12 12,13 12,13 13,12 12)))\",multi,2,2021-03-04\n\
         \"POLYGON Z((20 20 5,21 20 5,21 21 5,20 20 5))\",z,3,\n\
         \"POLYGON EMPTY\",empty,4,2022-05-06\n\
         \"CURVEPOLYGON(CIRCULARSTRING(30 30,31 31,32 30,31 29,30 30))\",curve,5,2023-01-01\n\
         \"MULTIPOLYGON(((40 40,42 40,42 42,40 42,40 40)),((41 41,43 41,43 43,41 43,41 41)))\",overlap,6,2023-02-02\n",
    )
    .expect("write csv");
    ogr2ogr(&[
        "-f",
        "GPKG",
        "-update",
        "-nln",
        "shapes",
        "-a_srs",
        "EPSG:4326",
        "-nlt",
        "GEOMETRY",
        "-oo",
        "AUTODETECT_TYPE=YES",
        "-oo",
        "KEEP_GEOM_COLUMNS=NO",
        path_str(&gpkg),
        path_str(&csv),
    ]);
    let r = import(&db, &gpkg, &["--layer", "city"]);
    assert_ok(&r);
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM layers.city_districts").await,
        13
    );
    let row = sqlx::query(
        "SELECT geometry_type, import_stats, fields FROM layer_catalog WHERE id = 'city_shapes'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("city_shapes");
    assert_eq!(
        row.get::<String, _>("geometry_type"),
        "MultiPolygon",
        "single and multi polygons unify to Multi"
    );
    let stats: serde_json::Value = row.get("import_stats");
    assert_eq!(stats["read"], 6, "{stats}");
    assert_eq!(stats["written"], 5, "{stats}");
    assert_eq!(stats["skipped_empty"], 1, "{stats}");
    assert!(stats["repaired"].as_u64().unwrap_or(0) >= 1, "{stats}");
    let fields: serde_json::Value = row.get("fields");
    let types: Vec<&str> = fields
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["type"].as_str())
        .collect();
    assert_eq!(types, ["text", "bigint", "date"], "{fields}");
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM layers.city_shapes WHERE NOT ST_IsValid(geom)"
        )
        .await,
        0
    );
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM layers.city_shapes WHERE ST_NDims(geom) <> 2"
        )
        .await,
        0
    );
    // The circular arc came out linearised.
    let arc_points = scalar_i64(
        &db,
        "SELECT ST_NPoints(geom)::bigint FROM layers.city_shapes WHERE kind = 'curve'",
    )
    .await;
    assert!(arc_points > 8, "{arc_points} points");
    // Two overlapping squares of 4 with an overlap of 1. Where the server has
    // ST_MakeValid's structure method, the repaired polygon covers their union (7);
    // the linework method would leave the overlap as a hole (6).
    let (area, structure): (f64, bool) = sqlx::query_as(
        "SELECT ST_Area(geom),
                regexp_replace(postgis_lib_version(), '^(\\d+)\\.(\\d+).*$', '{\\1,\\2}')::int[] >= '{3,2}'
                AND regexp_replace(postgis_geos_version(), '^(\\d+)\\.(\\d+).*$', '{\\1,\\2}')::int[] >= '{3,10}'
           FROM layers.city_shapes WHERE kind = 'overlap'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("overlap");
    let expected = if structure { 7.0 } else { 6.0 };
    assert!(
        (area - expected).abs() < 1e-9,
        "overlap area {area}, expected {expected}"
    );
    let born: String =
        sqlx::query_scalar("SELECT born::text FROM layers.city_shapes WHERE kind = 'multi'")
            .fetch_one(&db.pool)
            .await
            .expect("date");
    assert_eq!(born, "2021-03-04");
    // Only one layer with --source-layer.
    assert_ok(&import(
        &db,
        &gpkg,
        &["--source-layer", "districts", "--layer", "only"],
    ));
    assert_eq!(
        scalar_i64(
            &db,
            "SELECT count(*) FROM layer_catalog WHERE id LIKE 'only%'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kml_flatgeobuf_gml_and_gbk_csv() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-formats");
    let src = common::data_file("wuhan_districts_cgcs2000.geojson");
    for (driver, file, extra) in [
        ("KML", "d.kml", &[][..]),
        ("FlatGeobuf", "d.fgb", &[][..]),
        ("GML", "d.gml", &["-dsco", "FORMAT=GML3"][..]),
    ] {
        let out = dir.join(file);
        let mut args = vec!["-f", driver];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[path_str(&out), path_str(&src)]);
        ogr2ogr(&args);
        let id = format!("fmt_{}", file.replace('.', "_"));
        assert_ok(&import(
            &db,
            &out,
            &["--layer", &id, "--source-layer", "wuhan_districts_cgcs2000"],
        ));
        let n = scalar_i64(
            &db,
            &format!("SELECT count(*) FROM layers.{id} WHERE name = '江岸区'"),
        )
        .await;
        assert_eq!(n, 1, "{driver}");
        let inside = scalar_i64(
            &db,
            &format!("SELECT count(*) FROM layers.{id} WHERE ST_Within(geom, ST_MakeEnvelope(113.6, 29.9, 115.1, 31.4, 4326))"),
        )
        .await;
        assert_eq!(inside, 13, "{driver}: lon/lat order");
    }
    // A GBK CSV: recoded with iconv, since the CSV driver has no encoding option.
    let csv = dir.join("gbk.csv");
    let mut bytes = b"name,lon,lat\n".to_vec();
    bytes.extend_from_slice(&[0xbd, 0xad, 0xb0, 0xb6, 0xc7, 0xf8]); // 江岸区
    bytes.extend_from_slice(b",114.30,30.59\n");
    std::fs::write(&csv, &bytes).expect("write");
    let refused = import(&db, &csv, &["--source-crs", "EPSG:4490"]);
    assert!(
        !refused.0 && refused.2.contains("--encoding"),
        "{}",
        refused.2
    );
    assert_ok(&import(
        &db,
        &csv,
        &["--source-crs", "EPSG:4490", "--encoding", "GBK"],
    ));
    let name: String = sqlx::query_scalar("SELECT name FROM layers.gbk")
        .fetch_one(&db.pool)
        .await
        .expect("name");
    assert_eq!(name, "江岸区");
}

#[tokio::test(flavor = "multi_thread")]
async fn longest_layer_id_imports_and_replaces() {
    let db = common::TestDb::new().await;
    let id = "a".repeat(48);
    let src = common::data_file("wuhan_districts_cgcs2000.geojson");
    assert_ok(&import(&db, &src, &["--layer", &id]));
    assert_ok(&import(&db, &src, &["--layer", &id, "--replace"]));
    assert_eq!(
        scalar_i64(&db, &format!("SELECT count(*) FROM layers.{id}")).await,
        13
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'layers' AND tablename = $1 ORDER BY 1",
    )
    .bind(&id)
    .fetch_all(&db.pool)
    .await
    .expect("indexes");
    assert_eq!(indexes, [format!("{id}:geom"), format!("{id}:pkey")]);
    // Tables citygrid maintains itself in schema `layers` are never replaced.
    let managed: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('layers.managed_by_citygrid')::text")
            .fetch_one(&db.pool)
            .await
            .expect("regclass");
    assert!(managed.is_none());
    sqlx::query("CREATE TABLE layers.managed_by_citygrid (id int)")
        .execute(&db.pool)
        .await
        .expect("create");
    let r = import(&db, &src, &["--layer", "managed_by_citygrid", "--replace"]);
    assert!(!r.0 && r.2.contains("maintained by citygrid"), "{}", r.2);
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM layers.managed_by_citygrid").await,
        0
    );
}

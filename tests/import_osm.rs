//! End-to-end test of `citygrid import osm` (issue #3) on the bundled Helsinki
//! extract. Expected counts are cross-checked with GDAL itself (`ogrinfo -sql` on
//! the OSM driver's layers), not only hard-coded.

mod common;

use std::process::Command;

/// `SELECT count(*) …` through ogrinfo's SQLite dialect on the extract.
fn ogr_count(sql: &str) -> i64 {
    let out = Command::new("ogrinfo")
        .args(["-ro", "-q", "-dialect", "sqlite", "-sql", sql])
        .arg(common::data_file("helsinki.osm.pbf"))
        .output()
        .expect("run ogrinfo");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.split_once("n (Integer) = ")
                .map(|(_, v)| v.trim().parse::<i64>())
        })
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("ogrinfo gave no count for {sql}: {text}"))
}

fn points_with(tag: &str, value: &str) -> i64 {
    let column_tags = ["highway", "man_made", "barrier"];
    let cond = if column_tags.contains(&tag) {
        format!("{tag} = '{value}'")
    } else {
        format!("other_tags LIKE '%\"{tag}\"=>\"{value}\"%'")
    };
    ogr_count(&format!("SELECT count(*) AS n FROM points WHERE {cond}"))
}

async fn count(db: &common::TestDb, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn helsinki_extract_to_layers_and_components() {
    let db = common::TestDb::new().await;
    let mut cmd = common::citygrid(&db);
    cmd.args(["import", "osm"])
        .arg(common::data_file("helsinki.osm.pbf"));
    let (ok, stdout, stderr) = common::run(&mut cmd);
    assert!(ok, "import failed:\n{stdout}\n{stderr}");
    for suffix in [
        "buildings",
        "roads",
        "water",
        "landuse",
        "pois",
        "components",
    ] {
        assert!(
            stdout.contains(&format!("osm_{suffix}")),
            "summary lacks {suffix}: {stdout}"
        );
    }

    // Buildings: every building area GDAL sees, less the few the extract's edge cut
    // down to slivers of 2–3 points (counted as invalid).
    let gdal_buildings = ogr_count(
        "SELECT count(*) AS n FROM multipolygons WHERE building IS NOT NULL AND building <> 'no'",
    );
    let buildings = count(&db, "SELECT count(*) FROM layers.osm_buildings").await;
    let stats: serde_json::Value =
        sqlx::query_scalar("SELECT import_stats FROM layer_catalog WHERE id = 'osm_buildings'")
            .fetch_one(&db.pool)
            .await
            .expect("stats");
    let invalid = stats["skipped_invalid"].as_i64().unwrap_or(-1);
    assert_eq!(buildings + invalid, gdal_buildings, "{stats}");
    assert!((450..=520).contains(&buildings), "{buildings} buildings");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM layers.osm_buildings WHERE NOT ST_IsValid(geom)"
        )
        .await,
        0
    );

    let roads = count(&db, "SELECT count(*) FROM layers.osm_roads").await;
    assert_eq!(
        roads,
        ogr_count("SELECT count(*) AS n FROM lines WHERE highway IS NOT NULL")
    );
    assert!(roads > 2000, "{roads} roads");
    assert!(count(&db, "SELECT count(*) FROM layers.osm_pois").await > 1000);
    assert!(count(&db, "SELECT count(*) FROM layers.osm_water").await > 0);
    assert!(count(&db, "SELECT count(*) FROM layers.osm_landuse").await > 0);

    // Standard addresses: every point and area GDAL reads with addr:street and
    // addr:housenumber — address-only nodes and areas that are not buildings too.
    let with_address = |layer: &str| {
        ogr_count(&format!(
            "SELECT count(*) AS n FROM {layer} \
             WHERE hstore_get_value(other_tags, 'addr:street') <> '' \
             AND hstore_get_value(other_tags, 'addr:housenumber') <> ''"
        ))
    };
    let gdal_addresses = with_address("points") + with_address("multipolygons");
    let addresses = count(
        &db,
        "SELECT count(*) FROM addresses \
         WHERE source IN ('osm:osm_buildings', 'osm:osm_pois', 'osm:osm_addresses')",
    )
    .await;
    assert_eq!(addresses, gdal_addresses);
    assert!(
        count(
            &db,
            "SELECT count(*) FROM addresses WHERE source = 'osm:osm_addresses'"
        )
        .await
            > 0
    );

    // Components per class, against GDAL's own view of the tags.
    let expected = [
        ("0111", points_with("highway", "street_lamp"), Some(586)),
        ("0110", points_with("emergency", "fire_hydrant"), Some(37)),
        ("0101", points_with("manhole", "water"), Some(117)),
        ("0103", points_with("manhole", "drain"), Some(43)),
        ("0108", points_with("manhole", "gas"), Some(26)),
        ("0109", points_with("manhole", "heat"), Some(47)),
        ("0107", points_with("manhole", "telecom"), Some(15)),
        ("0401", points_with("natural", "tree"), Some(649)),
        ("0305", points_with("amenity", "bench"), Some(162)),
        ("0201", points_with("highway", "bus_stop"), Some(92)),
        ("0202", points_with("highway", "traffic_signals"), Some(135)),
        ("0115", points_with("amenity", "post_box"), Some(22)),
    ];
    for (code, from_gdal, documented) in expected {
        let n = count(
            &db,
            &format!("SELECT count(*) FROM layers.osm_components WHERE class_code = '{code}'"),
        )
        .await;
        assert_eq!(n, from_gdal, "class {code}");
        if let Some(d) = documented {
            assert_eq!(n, d, "class {code} vs data/README counts");
        }
    }
    // Ids: 420102 + class + 6-digit serial, unique; names in both languages.
    assert_eq!(
        count(&db, "SELECT count(*) FROM layers.osm_components WHERE component_id !~ '^420102[0-9]{10}$' OR substr(component_id, 7, 4) <> class_code").await,
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) - count(DISTINCT component_id) FROM layers.osm_components"
        )
        .await,
        0
    );
    let first: (String, String, String) = sqlx::query_as(
        "SELECT component_id, class_name_zh, class_name_en FROM layers.osm_components WHERE class_code = '0111' ORDER BY component_id LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("a lamp");
    assert_eq!(
        first,
        (
            "4201020111000001".into(),
            "路灯".into(),
            "Street lamp".into()
        )
    );
    let hydrant_tag: String = sqlx::query_scalar(
        "SELECT tags->>'emergency' FROM layers.osm_components WHERE class_code = '0110' LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("tags");
    assert_eq!(hydrant_tag, "fire_hydrant");

    // --admin-code and --prefix; re-import needs --replace.
    let mut again = common::citygrid(&db);
    again
        .args(["import", "osm"])
        .arg(common::data_file("helsinki.osm.pbf"));
    let (ok, _, stderr) = common::run(&mut again);
    assert!(!ok && stderr.contains("--replace"), "{stderr}");
    let mut other = common::citygrid(&db);
    other
        .args(["import", "osm", "--prefix", "hki", "--admin-code", "110101"])
        .arg(common::data_file("helsinki.osm.pbf"));
    let (ok, _, stderr) = common::run(&mut other);
    assert!(ok, "{stderr}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM layers.hki_components WHERE component_id NOT LIKE '110101%'"
        )
        .await,
        0
    );
}

/// `citygrid import vector` on the extract: every layer of GDAL's OSM driver, read
/// back to back (each layer read while the previous one is indexed), lands with as
/// many features as GDAL reports, valid, indexed, catalogued and swapped in together.
#[tokio::test(flavor = "multi_thread")]
async fn vector_import_of_the_extract_matches_the_osm_driver_layer_by_layer() {
    let db = common::TestDb::new().await;
    let mut cmd = common::citygrid(&db);
    cmd.args(["import", "vector", "--layer", "hel"])
        .arg(common::data_file("helsinki.osm.pbf"));
    let (ok, stdout, stderr) = common::run(&mut cmd);
    assert!(ok, "import failed:\n{stdout}\n{stderr}");
    let layers = [
        "points",
        "lines",
        "multilinestrings",
        "multipolygons",
        "other_relations",
    ];
    for layer in layers {
        let id = format!("hel_{layer}");
        let expected = ogr_count(&format!("SELECT count(*) AS n FROM {layer}"));
        assert!(expected > 0, "{layer}: GDAL reports no features");
        let (stats, feature_count, srid): (serde_json::Value, i64, i32) = sqlx::query_as(
            "SELECT import_stats, feature_count, srid FROM layer_catalog WHERE id = $1",
        )
        .bind(&id)
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("catalogue row of {id}: {e}"));
        assert_eq!(stats["read"], expected, "{id}: {stats}");
        let written = stats["written"].as_i64().expect("written");
        let skipped = stats["skipped_empty"].as_i64().unwrap_or(-1)
            + stats["skipped_invalid"].as_i64().unwrap_or(-1);
        assert_eq!(written + skipped, expected, "{id}: {stats}");
        assert_eq!(srid, 4326);
        let table = format!("layers.\"{id}\"");
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM {table}")).await,
            written,
            "{id}"
        );
        assert_eq!(feature_count, written, "{id}");
        // The catalogue's bounds are the table's, whether measured while encoding
        // (layers in which the database repaired nothing: points, lines) or by a
        // query after the repairs (multipolygons, other_relations).
        let bounds: Vec<f64> = sqlx::query_scalar("SELECT bounds FROM layer_catalog WHERE id = $1")
            .bind(&id)
            .fetch_one(&db.pool)
            .await
            .expect("bounds");
        let extent: (f64, f64, f64, f64) = sqlx::query_as(&format!(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
               FROM (SELECT ST_Extent(geom) AS e FROM {table}) x"
        ))
        .fetch_one(&db.pool)
        .await
        .expect("extent");
        let table_bounds = [extent.0, extent.1, extent.2, extent.3];
        assert!(
            bounds.len() == 4
                && bounds
                    .iter()
                    .zip(table_bounds)
                    .all(|(a, b)| (a - b).abs() < 1e-6),
            "{id}: catalogue bounds {bounds:?}, table {table_bounds:?}"
        );
        assert_eq!(
            count(
                &db,
                &format!("SELECT count(*) FROM {table} WHERE NOT ST_IsValid(geom) OR ST_SRID(geom) <> 4326")
            )
            .await,
            0,
            "{id}: invalid geometries remain"
        );
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'layers' AND tablename = $1",
        )
        .bind(&id)
        .fetch_all(&db.pool)
        .await
        .expect("indexes");
        assert!(
            indexes.iter().any(|d| d.contains("USING gist (geom)")),
            "{id}: {indexes:?}"
        );
        assert!(
            indexes
                .iter()
                .any(|d| d.contains("UNIQUE") && d.contains("(fid)")),
            "{id}: {indexes:?}"
        );
        // A first import: version 1 of every layer.
        assert_eq!(
            count(
                &db,
                &format!("SELECT version FROM layer_catalog WHERE id = '{id}'")
            )
            .await,
            1
        );
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'layers' AND tablename LIKE '\\_stage\\_%'"
        )
        .await,
        0,
        "a staging table remains"
    );
}

/// The native `.osm.pbf` reader of `import vector` against GDAL's OSM driver
/// (`CITYGRID_OSM_READER=gdal`), both through the real command into one database:
/// the same layers with the same columns, and feature by feature (joined on the
/// OSM ids) the same attributes and the same geometry, within 1e-9 degrees.
#[tokio::test(flavor = "multi_thread")]
async fn native_pbf_reader_gives_the_same_tables_as_gdal() {
    let db = common::TestDb::new().await;
    for (id, reader) in [("nat", "native"), ("gd", "gdal")] {
        let mut cmd = common::citygrid(&db);
        cmd.env("CITYGRID_OSM_READER", reader)
            .args(["import", "vector", "--layer", id])
            .arg(common::data_file("helsinki.osm.pbf"));
        let (ok, stdout, stderr) = common::run(&mut cmd);
        assert!(ok, "{reader} import failed:\n{stdout}\n{stderr}");
    }
    // What identifies a feature in each layer of GDAL's OSM driver.
    let layers = [
        ("points", "osm_id"),
        ("lines", "osm_id"),
        ("multilinestrings", "osm_id"),
        ("multipolygons", "coalesce(osm_id, 'w' || osm_way_id)"),
        ("other_relations", "osm_id"),
    ];
    let mut summary = Vec::new();
    for (layer, key) in layers {
        let (nat, gd) = (format!("nat_{layer}"), format!("gd_{layer}"));
        let columns = |t: String| {
            let pool = db.pool.clone();
            async move {
                sqlx::query_as::<_, (String, String)>(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns
                      WHERE table_schema = 'layers' AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(t)
                .fetch_all(&pool)
                .await
                .expect("columns")
            }
        };
        let nat_cols = columns(nat.clone()).await;
        assert!(!nat_cols.is_empty(), "{nat} missing");
        assert_eq!(
            nat_cols,
            columns(gd.clone()).await,
            "{layer}: columns differ"
        );
        let n_nat = count(&db, &format!("SELECT count(*) FROM layers.\"{nat}\"")).await;
        let n_gd = count(&db, &format!("SELECT count(*) FROM layers.\"{gd}\"")).await;
        assert!(n_gd > 0, "{layer}: GDAL gave no rows");
        assert_eq!(n_nat, n_gd, "{layer}: row counts differ");
        // Keys are unique, so a full join pairs every feature or shows it missing.
        let attrs: Vec<String> = nat_cols
            .iter()
            .map(|(c, _)| c.clone())
            .filter(|c| c != "fid" && c != "geom")
            .map(|c| format!("a.\"{c}\" IS NOT DISTINCT FROM b.\"{c}\""))
            .collect();
        let sql = format!(
            "SELECT count(*) FILTER (WHERE a.k IS NULL OR b.k IS NULL),
                    count(*) FILTER (WHERE a.k IS NOT NULL AND b.k IS NOT NULL AND NOT ({attrs})),
                    count(*) FILTER (WHERE a.k IS NOT NULL AND b.k IS NOT NULL
                                     AND (GeometryType(a.g) <> GeometryType(b.g)
                                          OR ST_HausdorffDistance(a.g, b.g) > 1e-9))
               FROM (SELECT {key} AS k, geom AS g, * FROM layers.\"{nat}\") a
               FULL JOIN (SELECT {key} AS k, geom AS g, * FROM layers.\"{gd}\") b ON a.k = b.k",
            attrs = attrs.join(" AND "),
        );
        let (unpaired, attr_diff, geom_diff): (i64, i64, i64) = sqlx::query_as(&sql)
            .fetch_one(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(
            (unpaired, attr_diff, geom_diff),
            (0, 0, 0),
            "{layer}: features only in one table, with other attributes, with other geometry"
        );
        summary.push(format!("{layer} {n_nat}"));
    }
    println!("identical layers: {}", summary.join(", "));
}

/// `citygrid import osm` reads an `.osm.pbf` natively too: its six layers equal
/// those made through GDAL's driver (`CITYGRID_OSM_READER=gdal`) row for row —
/// component ids and serials, classes, tags and geometry.
#[tokio::test(flavor = "multi_thread")]
async fn import_osm_native_and_gdal_give_the_same_layers() {
    let db = common::TestDb::new().await;
    for (prefix, reader) in [("nat", "native"), ("gd", "gdal")] {
        let mut cmd = common::citygrid(&db);
        cmd.env("CITYGRID_OSM_READER", reader)
            .args(["import", "osm", "--prefix", prefix])
            .arg(common::data_file("helsinki.osm.pbf"));
        let (ok, stdout, stderr) = common::run(&mut cmd);
        assert!(ok, "{reader} import failed:\n{stdout}\n{stderr}");
    }
    for (suffix, key) in [
        ("buildings", "osm_type || osm_id"),
        ("roads", "osm_type || osm_id"),
        ("water", "osm_type || osm_id"),
        ("landuse", "osm_type || osm_id"),
        ("pois", "osm_type || osm_id"),
        ("components", "component_id"),
    ] {
        let (nat, gd) = (format!("nat_{suffix}"), format!("gd_{suffix}"));
        let n = count(&db, &format!("SELECT count(*) FROM layers.{nat}")).await;
        assert!(n > 0, "{nat} is empty");
        assert_eq!(
            n,
            count(&db, &format!("SELECT count(*) FROM layers.{gd}")).await,
            "{suffix}: row counts differ"
        );
        // Everything but fid (reading order may differ) must match, keyed per feature.
        let sql = format!(
            "SELECT count(*) FROM (SELECT {key} AS k, * FROM layers.{nat}) a
               FULL JOIN (SELECT {key} AS k, * FROM layers.{gd}) b ON a.k = b.k
              WHERE a.k IS NULL OR b.k IS NULL
                 OR (to_jsonb(a) - 'fid' - 'geom') <> (to_jsonb(b) - 'fid' - 'geom')
                 OR ST_HausdorffDistance(a.geom, b.geom) > 1e-9"
        );
        assert_eq!(count(&db, &sql).await, 0, "{suffix}: rows differ");
    }
    // The standard addresses too: the same rows at the same points, per source.
    for suffix in ["buildings", "pois", "addresses"] {
        let rows = |prefix: &str| {
            format!(
                "SELECT road, number, city, district, round(ST_X(geom)::numeric, 7) AS x, \
                 round(ST_Y(geom)::numeric, 7) AS y FROM addresses WHERE source = 'osm:{prefix}_{suffix}'"
            )
        };
        let n = count(&db, &format!("SELECT count(*) FROM ({}) a", rows("nat"))).await;
        assert!(n > 0, "no {suffix} addresses");
        // EXCEPT ALL both ways: NULLs compare equal, duplicates count
        let (a, b) = (rows("nat"), rows("gd"));
        let cols = "road, number, city, district, x, y";
        let sql = format!(
            "SELECT count(*) FROM ((SELECT {cols} FROM ({a}) a EXCEPT ALL SELECT {cols} FROM ({b}) b)
               UNION ALL (SELECT {cols} FROM ({b}) b EXCEPT ALL SELECT {cols} FROM ({a}) a)) d"
        );
        assert_eq!(count(&db, &sql).await, 0, "{suffix} addresses differ");
    }
}

/// An extract without routes or other relations (the hand-written file of the fuzz
/// seeds, uncompressed blocks): both readers import the layers that have features
/// and skip the empty ones, instead of failing on them.
#[tokio::test(flavor = "multi_thread")]
async fn empty_driver_layers_are_skipped_with_both_readers() {
    let db = common::TestDb::new().await;
    let seed = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds/osm/tiny_raw_extract.bin"),
    )
    .expect("seed");
    let file = common::temp_dir("tiny-osm").join("tiny.osm.pbf");
    std::fs::write(&file, &seed[1..]).expect("write");
    for (id, reader) in [("tn", "native"), ("tg", "gdal")] {
        let mut cmd = common::citygrid(&db);
        cmd.env("CITYGRID_OSM_READER", reader)
            .args(["import", "vector", "--layer", id])
            .arg(&file);
        let (ok, stdout, stderr) = common::run(&mut cmd);
        assert!(ok, "{reader} import failed:\n{stdout}\n{stderr}");
        let layers: Vec<(String, i64)> = sqlx::query_as(
            "SELECT id, feature_count FROM layer_catalog WHERE id LIKE $1 ORDER BY id",
        )
        .bind(format!("{id}\\_%"))
        .fetch_all(&db.pool)
        .await
        .expect("catalogue");
        assert_eq!(
            layers,
            vec![
                (format!("{id}_lines"), 1),
                (format!("{id}_multipolygons"), 1),
                (format!("{id}_points"), 1),
            ],
            "{reader}"
        );
    }
    // The same building either way.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM layers.tn_multipolygons a JOIN layers.tg_multipolygons b
              ON a.osm_id = b.osm_id AND ST_Equals(a.geom, b.geom)"
        )
        .await,
        1
    );
}

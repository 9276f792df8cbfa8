//! `citygrid export LAYER FILE.pmtiles` read back by an independent reader (the
//! `pmtiles` Python package, see `common::pmtiles`): the header declares what the
//! tiles are and how they are compressed, directories and metadata are gzip'd,
//! long directories go to leaves, identical tiles are stored once, and every tile
//! equals what the server serves (vector layers) or what the database holds
//! (raster layers), byte for byte after decompression.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{http, TestDb, TestServer};
use sqlx::Row;

/// Makes vector layer `id` from a SELECT of (fid, geom 4326, name, rank) and catalogues it.
async fn make_layer(db: &TestDb, id: &str, geometry_type: &str, select: &str) {
    sqlx::query(&format!("CREATE TABLE layers.\"{id}\" AS {select}"))
        .execute(&db.pool)
        .await
        .expect("create layer table");
    sqlx::query(&format!(
        "ALTER TABLE layers.\"{id}\" ADD PRIMARY KEY (fid)"
    ))
    .execute(&db.pool)
    .await
    .expect("primary key");
    sqlx::query(&format!(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT $1, $1, 'vector', $2, \
                '[{{\"name\":\"name\",\"type\":\"text\"}},{{\"name\":\"rank\",\"type\":\"integer\"}}]'::jsonb, \
                count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.\"{id}\""
    ))
    .bind(id)
    .bind(geometry_type)
    .execute(&db.pool)
    .await
    .expect("catalogue the layer");
}

/// The layer's lon/lat extent `[w, s, e, n]` as PostGIS computes it.
async fn extent(db: &TestDb, id: &str) -> [f64; 4] {
    let row = sqlx::query(&format!(
        "SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n \
         FROM (SELECT ST_Extent(geom)::geometry AS e FROM layers.\"{id}\") t"
    ))
    .fetch_one(&db.pool)
    .await
    .expect("extent");
    ["w", "s", "e", "n"].map(|c| row.get::<f64, _>(c))
}

/// Waits until the server has loaded `id` (a tile request stops answering 409).
async fn wait_loaded(server: &TestServer, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = http()
            .get(server.url(&format!("/tiles/{id}/0/0/0")))
            .send()
            .await
            .expect("tile request")
            .status();
        if status != 409 && status != 404 {
            return;
        }
        assert!(Instant::now() < deadline, "layer {id} never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The XYZ tiles over `[w, s, e, n]` at zoom `z`, one tile wider on every side.
fn tiles_over(z: u8, [w, s, e, n]: [f64; 4]) -> Vec<(u8, u32, u32)> {
    let count = 1i64 << z;
    let x = |lon: f64| ((lon + 180.0) / 360.0 * count as f64).floor() as i64;
    let y = |lat: f64| {
        let r = lat.to_radians();
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * count as f64).floor()
            as i64
    };
    let clamp = |v: i64| v.clamp(0, count - 1) as u32;
    let (x0, x1) = (clamp(x(w) - 1), clamp(x(e) + 1));
    let (y0, y1) = (clamp(y(n) - 1), clamp(y(s) + 1));
    (x0..=x1)
        .flat_map(|x| (y0..=y1).map(move |y| (z, x, y)))
        .collect()
}

/// Every non-empty tile the server serves for `layer` over `bounds` at zooms
/// `min..=max`.
async fn served_tiles(
    server: &TestServer,
    layer: &str,
    bounds: [f64; 4],
    min: u8,
    max: u8,
) -> BTreeMap<(u8, u32, u32), Vec<u8>> {
    let coords: Vec<(u8, u32, u32)> = (min..=max).flat_map(|z| tiles_over(z, bounds)).collect();
    let client = http();
    let mut out = BTreeMap::new();
    for chunk in coords.chunks(64) {
        let mut set = tokio::task::JoinSet::new();
        for &(z, x, y) in chunk {
            let url = server.url(&format!("/tiles/{layer}/{z}/{x}/{y}"));
            let client = client.clone();
            set.spawn(async move {
                let response = client.get(url).send().await.expect("tile request");
                let status = response.status();
                let body = response.bytes().await.expect("tile body").to_vec();
                ((z, x, y), status, body)
            });
        }
        while let Some(done) = set.join_next().await {
            let (key, status, body) = done.expect("tile task");
            assert!(
                status == 200 || status == 204,
                "tile {key:?} answered {status}"
            );
            if status == 200 && !body.is_empty() {
                out.insert(key, body);
            }
        }
    }
    out
}

/// Asserts that two tile sets hold the same tiles with the same bytes.
fn assert_same_tiles(
    what: &str,
    archive: &BTreeMap<(u8, u32, u32), Vec<u8>>,
    expected: &BTreeMap<(u8, u32, u32), Vec<u8>>,
) {
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !archive.contains_key(k))
        .take(5)
        .collect();
    let extra: Vec<_> = archive
        .keys()
        .filter(|k| !expected.contains_key(k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} tiles in the archive, {} expected; missing {missing:?}, unexpected {extra:?}",
        archive.len(),
        expected.len()
    );
    for (key, bytes) in expected {
        assert!(
            archive[key] == *bytes,
            "{what}: tile {key:?} differs ({} bytes in the archive, {} expected)",
            archive[key].len(),
            bytes.len()
        );
    }
}

fn export(db: &TestDb, layer: &str, file: &std::path::Path, zooms: (u8, u8)) {
    let (ok, stdout, stderr) = common::run(
        common::citygrid(db)
            .args(["export", layer])
            .arg(file)
            .args(["--min-zoom", &zooms.0.to_string()])
            .args(["--max-zoom", &zooms.1.to_string()])
            .arg("--quiet"),
    );
    assert!(ok, "export of {layer} failed:\n{stdout}\n{stderr}");
}

/// Checks the header's bounds against `bounds` (1e-7 degrees, rounded).
fn assert_bounds(archive: &common::pmtiles::Archive, bounds: [f64; 4]) {
    let e7 = |v: f64| (v * 1e7).round() as i64;
    let found = [
        archive.int("min_lon_e7"),
        archive.int("min_lat_e7"),
        archive.int("max_lon_e7"),
        archive.int("max_lat_e7"),
    ];
    for (f, b) in found.iter().zip(bounds) {
        assert!((f - e7(b)).abs() <= 2, "bounds {found:?} vs {bounds:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pmtiles_vector_export_reads_back_as_the_server_serves_it() {
    let db = TestDb::new().await;
    let dir = common::temp_dir("export-pmtiles-vector");
    // A point at the centre of each of 130 × 130 tiles at z12 (around Wuhan):
    // more than 22,000 distinct tiles over z10-12, so the directory needs leaves.
    make_layer(
        &db,
        "grid",
        "Point",
        "SELECT (i * 1000 + j + 1)::bigint AS fid, \
                ST_SetSRID(ST_MakePoint((3300 + i + 0.5) / 4096.0 * 360 - 180, \
                    degrees(atan(sinh(pi() * (1 - 2 * (1630 + j + 0.5) / 4096.0))))), 4326) AS geom, \
                'p' || i || '_' || j AS name, (i + j) % 7 AS rank \
         FROM generate_series(0, 129) i, generate_series(0, 129) j",
    )
    .await;
    // One large polygon: its interior tiles at z14 are identical.
    make_layer(
        &db,
        "lake",
        "Polygon",
        "SELECT 1::bigint AS fid, \
                ST_GeomFromText('POLYGON((114.20 30.45, 114.45 30.45, 114.45 30.65, 114.20 30.65, 114.20 30.45))', 4326) AS geom, \
                'East Lake' AS name, 3 AS rank",
    )
    .await;
    // 23,000 tile requests: no rate limit, no access log line for each.
    let server = TestServer::start_with(
        &db,
        &[
            ("CITYGRID_RATE_LIMIT", "false"),
            ("CITYGRID_ACCESS_LOG", "false"),
        ],
    );
    wait_loaded(&server, "grid").await;
    wait_loaded(&server, "lake").await;
    // The lake's tiles carry only its name (its tile properties): so must its archive's.
    let (ok, _, stderr) = common::run(common::citygrid(&db).args([
        "layer",
        "set-tile-properties",
        "lake",
        "--include",
        "name",
    ]));
    assert!(ok, "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tile = served_tiles(&server, "lake", extent(&db, "lake").await, 10, 10).await;
        let keys: Vec<String> = tile
            .values()
            .flat_map(|bytes| common::mvt::decode(bytes))
            .flat_map(|f| f.props.into_iter().map(|(k, _)| k))
            .collect();
        if !keys.is_empty() && keys.iter().all(|k| k == "name") {
            break;
        }
        assert!(Instant::now() < deadline, "the lake's tiles keep {keys:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for (layer, zooms) in [("grid", (10u8, 12u8)), ("lake", (10, 14))] {
        let file = dir.join(format!("{layer}.pmtiles"));
        export(&db, layer, &file, zooms);
        let archive = common::pmtiles::read(&file);
        let bounds = extent(&db, layer).await;

        // Header: vector tiles, gzip'd, gzip'd directories, clustered, the zooms
        // and bounds asked for, counts that match the directories.
        assert_eq!(archive.int("version"), 3);
        assert_eq!(archive.text("tile_type"), "MVT");
        assert_eq!(archive.text("tile_compression"), "GZIP");
        assert_eq!(archive.text("internal_compression"), "GZIP");
        assert_eq!(archive.header["clustered"], true);
        assert!(archive.clustered, "{layer}: tile data not in tile-id order");
        assert_eq!(
            (archive.int("min_zoom"), archive.int("max_zoom")),
            (i64::from(zooms.0), i64::from(zooms.1))
        );
        assert_bounds(&archive, bounds);
        assert!(archive.int("root_offset") + archive.int("root_length") <= 16_384);
        assert_eq!(
            archive.int("addressed_tiles_count"),
            archive.tiles.len() as i64
        );
        assert_eq!(archive.int("tile_entries_count"), archive.entries as i64);
        assert_eq!(archive.int("tile_contents_count"), archive.contents as i64);

        // Metadata: TileJSON vector_layers with the layer's fields.
        let vector_layers = &archive.metadata["vector_layers"];
        assert_eq!(vector_layers[0]["id"], layer, "{}", archive.metadata);
        assert_eq!(vector_layers[0]["fields"]["name"], "String");
        if layer == "lake" {
            assert_eq!(vector_layers[0]["fields"].get("rank"), None);
        } else {
            assert_eq!(vector_layers[0]["fields"]["rank"], "Number");
        }

        // Every tile is what the server serves, and only those.
        let served = served_tiles(&server, layer, bounds, zooms.0, zooms.1).await;
        assert_same_tiles(layer, &archive.tiles, &served);

        if layer == "grid" {
            assert!(archive.tiles.len() > 22_000, "{}", archive.tiles.len());
            assert!(archive.leaves > 0, "no leaf directories");
            assert!(archive.int("leaf_directory_length") > 0);
        } else {
            // Identical tiles are stored once; consecutive ones share an entry.
            assert!(archive.runs > 0, "no run-length entries");
            assert!(archive.entries < archive.tiles.len() as u64);
            assert!(archive.contents < archive.entries);
            assert_eq!(archive.leaves, 0);
        }
    }
    assert!(server.terminate(), "server exit");
}

#[tokio::test(flavor = "multi_thread")]
async fn pmtiles_raster_export_reads_back_as_stored() {
    let db = TestDb::new().await;
    let dir = common::temp_dir("export-pmtiles-raster");
    let source = common::data_file("sfbay_landsat7_30m_3857.tif");
    for (format, tile_type, zooms) in [
        ("png", "PNG", (10u8, 12u8)),
        ("jpeg", "JPEG", (10, 11)),
        ("webp", "WEBP", (10, 11)),
    ] {
        let layer = format!("sfbay_{format}");
        let (ok, stdout, stderr) = common::run(
            common::citygrid(&db)
                .args(["import", "raster"])
                .arg(&source)
                .args(["--layer", &layer, "--format", format, "--quiet"])
                .args(["--min-zoom", &zooms.0.to_string()])
                .args(["--max-zoom", &zooms.1.to_string()]),
        );
        assert!(ok, "import failed:\n{stdout}\n{stderr}");
        let file = dir.join(format!("{layer}.pmtiles"));
        export(&db, &layer, &file, zooms);
        let archive = common::pmtiles::read(&file);

        // Images are stored as they are, with the right tile type.
        assert_eq!(archive.text("tile_type"), tile_type);
        assert_eq!(archive.text("tile_compression"), "NONE");
        assert_eq!(archive.text("internal_compression"), "GZIP");
        assert_eq!(archive.header["clustered"], true);
        assert!(archive.clustered, "{layer}: tile data not in tile-id order");
        assert_eq!(
            (archive.int("min_zoom"), archive.int("max_zoom")),
            (i64::from(zooms.0), i64::from(zooms.1))
        );
        assert_eq!(
            archive.int("addressed_tiles_count"),
            archive.tiles.len() as i64
        );
        let catalogued: Vec<f64> =
            sqlx::query_scalar("SELECT bounds FROM layer_catalog WHERE id = $1")
                .bind(&layer)
                .fetch_one(&db.pool)
                .await
                .expect("bounds");
        assert_bounds(
            &archive,
            <[f64; 4]>::try_from(catalogued).expect("four bounds"),
        );
        assert_eq!(archive.metadata["format"], format.replace("jpeg", "jpg"));

        // Every stored tile, and only those, byte for byte.
        let rows = sqlx::query(&format!(
            "SELECT z, x, y, data FROM layers.\"{layer}\" WHERE z BETWEEN $1 AND $2"
        ))
        .bind(i16::from(zooms.0))
        .bind(i16::from(zooms.1))
        .fetch_all(&db.pool)
        .await
        .expect("stored tiles");
        let stored: BTreeMap<(u8, u32, u32), Vec<u8>> = rows
            .iter()
            .map(|r| {
                (
                    (
                        r.get::<i16, _>("z") as u8,
                        r.get::<i32, _>("x") as u32,
                        r.get::<i32, _>("y") as u32,
                    ),
                    r.get::<Vec<u8>, _>("data"),
                )
            })
            .collect();
        assert!(stored.len() > 10, "{layer}: {} tiles", stored.len());
        assert_same_tiles(&layer, &archive.tiles, &stored);
    }
}

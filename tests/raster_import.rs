//! End-to-end tests of `citygrid import raster` and `citygrid export` (issue #4)
//! against a real PostGIS: sample imports, geolocation of a known ground point,
//! agreement with gdal2tiles.py, archives readable by independent readers, and
//! clean failures on bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use citygrid_geo::tms;
use citygrid_importers::raster::{decode_rgba, read_tile};
use sqlx::Row;

const PYTHON: &str = "/usr/bin/python3"; // Debian's, with python3-gdal

/// Runs a Python snippet (with osgeo) and returns its stdout.
fn python(script: &str) -> String {
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `citygrid import raster FILE --layer LAYER ARGS...`.
fn import(db: &common::TestDb, file: &Path, layer: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = common::citygrid(db);
    cmd.args(["import", "raster"])
        .arg(file)
        .args(["--layer", layer])
        .args(args);
    common::run(&mut cmd)
}

fn assert_imported(result: &(bool, String, String)) {
    assert!(
        result.0,
        "import failed:\nstdout: {}\nstderr: {}",
        result.1, result.2
    );
}

async fn tile_count(db: &common::TestDb, layer: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM layers.\"{layer}\""))
        .fetch_one(&db.pool)
        .await
        .expect("count tiles")
}

#[tokio::test(flavor = "multi_thread")]
async fn raster_samples_import_and_store_tiles() {
    let db = common::TestDb::new().await;
    for (file, layer) in [
        ("ortho_osbs_10cm_utm17.tif", "ortho"),
        ("sfbay_landsat7_30m_3857.tif", "sfbay"),
    ] {
        assert_imported(&import(
            &db,
            &common::data_file(file),
            layer,
            &["--title", "Sample"],
        ));
        let row = sqlx::query(
            "SELECT kind, tile_format, bounds, min_zoom, max_zoom, feature_count, srid, title FROM layer_catalog WHERE id = $1",
        )
        .bind(layer)
        .fetch_one(&db.pool)
        .await
        .expect("catalogue row");
        assert_eq!(row.get::<String, _>("kind"), "raster");
        // Both are reprojected or have nodata: transparency, so PNG by default.
        assert_eq!(
            row.get::<Option<String>, _>("tile_format").as_deref(),
            Some("png")
        );
        assert_eq!(row.get::<i32, _>("srid"), 3857);
        assert_eq!(row.get::<String, _>("title"), "Sample");
        let count = tile_count(&db, layer).await;
        assert!(count > 0);
        assert_eq!(row.get::<i64, _>("feature_count"), count);
        let bounds: Vec<f64> = row.get("bounds");
        let (min_zoom, max_zoom) = (row.get::<i32, _>("min_zoom"), row.get::<i32, _>("max_zoom"));
        match layer {
            // 10 cm pixels (0.115 m in Web Mercator at 29.7° N): z21 is the first finer zoom;
            // 40 m across fits one tile at z19.
            "ortho" => {
                assert_eq!((min_zoom, max_zoom), (19, 21));
                assert!(
                    (bounds[0] + 81.9901).abs() < 1e-3 && (bounds[3] - 29.6927).abs() < 1e-3,
                    "{bounds:?}"
                );
            }
            // 30 m Web Mercator pixels: z13 (19.1 m); 65 km fits one tile at z9.
            _ => {
                assert_eq!((min_zoom, max_zoom), (9, 13));
                assert!(
                    (bounds[0] + 122.6349).abs() < 1e-3 && (bounds[1] - 37.5694).abs() < 1e-3,
                    "{bounds:?}"
                );
            }
        }
        // Every level is there and every tile decodes to a 256×256 image.
        let rows = sqlx::query(&format!(
            "SELECT z, count(*) AS n, (array_agg(x))[1] AS x, (array_agg(y))[1] AS y FROM layers.\"{layer}\" GROUP BY z ORDER BY z"
        ))
        .fetch_all(&db.pool)
        .await
        .expect("per zoom");
        assert_eq!(
            rows.len() as i32,
            max_zoom - min_zoom + 1,
            "one row per zoom"
        );
        for r in rows {
            let (z, x, y): (i16, i32, i32) = (r.get("z"), r.get("x"), r.get("y"));
            let tile = read_tile(&db.pool, layer, z as u8, x as u32, y as u32)
                .await
                .expect("read tile")
                .expect("tile exists");
            let (w, h, rgba) = decode_rgba(&tile).expect("decodes");
            assert_eq!((w, h), (256, 256));
            assert!(
                rgba.chunks_exact(4).any(|p| p[3] > 0),
                "stored tiles are not empty"
            );
        }
    }
    // A tile outside the layer is simply absent.
    assert_eq!(
        read_tile(&db.pool, "ortho", 21, 0, 0).await.expect("read"),
        None
    );
    assert_eq!(
        read_tile(&db.pool, "no_such_layer", 1, 0, 0)
            .await
            .expect("read"),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn raster_ground_point_lands_in_the_right_pixel() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("raster-ground");
    let tif = dir.join("bright_block_utm17.tif");
    // A 0.5 m UTM 17N image, grey 60 everywhere but a bright 4×4 pixel block;
    // GDAL/OSR gives the block centre in EPSG:3857.
    let out = python(&format!(
        r#"
from osgeo import gdal, osr
import numpy as np
gdal.UseExceptions()
ds = gdal.GetDriverByName('GTiff').Create('{tif}', 400, 300, 3, gdal.GDT_Byte)
ox, oy, px = 404000.0, 3285200.0, 0.5
ds.SetGeoTransform([ox, px, 0, oy, 0, -px])
srs = osr.SpatialReference(); srs.ImportFromEPSG(32617)
ds.SetProjection(srs.ExportToWkt())
a = np.full((300, 400), 60, dtype=np.uint8)
a[140:144, 230:234] = 255
for b in (1, 2, 3):
    ds.GetRasterBand(b).WriteArray(a)
ds = None
merc = osr.SpatialReference(); merc.ImportFromEPSG(3857)
for s in (srs, merc):
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(srs, merc)
cx, cy = ox + 232 * px, oy - 142 * px   # centre of the block (pixel edges 230..234, 140..144)
x, y, _ = ct.TransformPoint(cx, cy)
print(x, y)
"#,
        tif = tif.display()
    ));
    let mut it = out
        .split_whitespace()
        .map(|v| v.parse::<f64>().expect("number"));
    let (mx, my) = (it.next().expect("x"), it.next().expect("y"));

    assert_imported(&import(&db, &tif, "ground", &["--format", "png"]));
    let max_zoom: i32 =
        sqlx::query_scalar("SELECT max_zoom FROM layer_catalog WHERE id = 'ground'")
            .fetch_one(&db.pool)
            .await
            .expect("max zoom");
    // 0.5 m ground pixels are 0.575 m in Web Mercator here: z19 (0.30 m) is the first finer zoom.
    assert_eq!(max_zoom, 19);
    let z = max_zoom as u8;
    let span = tms::tile_span_m(z);
    let fx = (mx + tms::MERC_HALF_WORLD_M) / span;
    let fy = (tms::MERC_HALF_WORLD_M - my) / span;
    let (tx, ty) = (fx.floor() as u32, fy.floor() as u32);
    let (want_x, want_y) = ((fx - fx.floor()) * 256.0, (fy - fy.floor()) * 256.0);
    assert!(
        (8.0..248.0).contains(&want_x) && (8.0..248.0).contains(&want_y),
        "the block should lie well inside one tile: {want_x} {want_y}"
    );
    let tile = read_tile(&db.pool, "ground", z, tx, ty)
        .await
        .expect("read")
        .expect("the tile under the block exists");
    let (_, _, rgba) = decode_rgba(&tile).expect("decode");
    // Brightness-weighted centroid of what stands out from the grey background.
    let (mut sum, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (i, p) in rgba.chunks_exact(4).enumerate() {
        let excess = f64::from(p[0]) - 60.0;
        if p[3] == 255 && excess > 20.0 {
            let (col, row) = ((i % 256) as f64 + 0.5, (i / 256) as f64 + 0.5);
            sum += excess;
            sx += excess * col;
            sy += excess * row;
        }
    }
    assert!(sum > 0.0, "the bright block is in the tile");
    let (got_x, got_y) = (sx / sum, sy / sum);
    let error = ((got_x - want_x).powi(2) + (got_y - want_y).powi(2)).sqrt();
    assert!(
        error <= 1.0,
        "bright block at ({got_x:.2}, {got_y:.2}), expected ({want_x:.2}, {want_y:.2}): {error:.2} px off"
    );
}

/// Decodes a PNG written by gdal2tiles (via the `image` crate) to RGBA.
fn decode_file(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read png");
    decode_rgba(&bytes).expect("decode png").2
}

#[tokio::test(flavor = "multi_thread")]
async fn raster_tiles_agree_with_gdal2tiles() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("raster-g2t");
    let file = common::data_file("sfbay_landsat7_30m_3857.tif");
    let z = 12u8;
    let status = Command::new(PYTHON)
        .arg("/usr/bin/gdal2tiles.py")
        .args([
            "--xyz",
            "-r",
            "bilinear",
            "-w",
            "none",
            "-q",
            "--processes=1",
            "-z",
            &z.to_string(),
        ])
        .arg(&file)
        .arg(&dir)
        .status()
        .expect("run gdal2tiles.py");
    assert!(status.success());
    assert_imported(&import(
        &db,
        &file,
        "sfbay",
        &["--min-zoom", "12", "--max-zoom", "12", "--format", "png"],
    ));

    // Mean absolute difference per channel over the pixels both call opaque,
    // across every tile both made. Both sides resample bilinearly from the
    // same 30 m source into 38 m pixels; gdal2tiles reads whole pixels of an
    // intermediate warped VRT, so it is off by up to a pixel: hence a
    // threshold of 8/255, not 1.
    const THRESHOLD: f64 = 8.0;
    let mut sums = [0f64; 3];
    let mut pixels = 0u64;
    let mut tiles = 0;
    let zdir = dir.join(z.to_string());
    for xdir in std::fs::read_dir(&zdir)
        .expect("gdal2tiles output")
        .flatten()
    {
        let x: u32 = xdir.file_name().to_string_lossy().parse().expect("x dir");
        for f in std::fs::read_dir(xdir.path()).expect("x dir").flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(y) = name
                .strip_suffix(".png")
                .and_then(|y| y.parse::<u32>().ok())
            else {
                continue;
            };
            let theirs = decode_file(&f.path());
            let Some(ours) = read_tile(&db.pool, "sfbay", z, x, y).await.expect("read") else {
                assert!(
                    theirs.chunks_exact(4).all(|p| p[3] == 0),
                    "we lack a non-empty tile {z}/{x}/{y}"
                );
                continue;
            };
            let ours = decode_rgba(&ours).expect("decode").2;
            tiles += 1;
            for (a, b) in theirs.chunks_exact(4).zip(ours.chunks_exact(4)) {
                if a[3] == 255 && b[3] == 255 {
                    for c in 0..3 {
                        sums[c] += (f64::from(a[c]) - f64::from(b[c])).abs();
                    }
                    pixels += 1;
                }
            }
        }
    }
    assert!(
        tiles >= 20 && pixels > 500_000,
        "compared {tiles} tiles, {pixels} pixels"
    );
    for (c, sum) in sums.iter().enumerate() {
        let mad = sum / pixels as f64;
        eprintln!("channel {c}: mean absolute difference {mad:.2}");
        assert!(
            mad < THRESHOLD,
            "channel {c}: mean absolute difference {mad:.2} >= {THRESHOLD}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn raster_exports_open_in_independent_readers() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("raster-export");
    let file = common::data_file("sfbay_landsat7_30m_3857.tif");
    assert_imported(&import(
        &db,
        &file,
        "sfbay",
        &["--min-zoom", "10", "--max-zoom", "13"],
    ));

    // MBTiles: GDAL's own driver reads it with the right size and resolution.
    let mbtiles = dir.join("sfbay.mbtiles");
    let (ok, stdout, stderr) = common::run(
        common::citygrid(&db)
            .arg("export")
            .arg("sfbay")
            .arg(&mbtiles),
    );
    assert!(ok, "export failed: {stdout} {stderr}");
    let info = Command::new("gdalinfo")
        .arg(&mbtiles)
        .output()
        .expect("gdalinfo");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Driver: MBTiles/MBTiles"), "{info}");
    // Max zoom 13: 19.109 m pixels over the 65.43 km × 57.51 km footprint.
    assert!(info.contains("Pixel Size = (19.10925707"), "{info}");
    assert!(info.contains("Size is 3424, 3010"), "{info}");
    // Zooms 10..=12 are the overviews.
    assert!(
        info.contains("Overviews: 1712x1505, 856x752, 428x376"),
        "{info}"
    );

    // PMTiles: read by the Python `pmtiles` package; every stored tile is
    // there with identical bytes, and nothing else.
    let pmtiles = dir.join("sfbay.pmtiles");
    let (ok, stdout, stderr) = common::run(
        common::citygrid(&db)
            .arg("export")
            .arg("sfbay")
            .arg(&pmtiles)
            .args(["--min-zoom", "11", "--max-zoom", "13"]),
    );
    assert!(ok, "export failed: {stdout} {stderr}");
    let archive = common::pmtiles::read(&pmtiles);
    assert_eq!(
        (
            archive.header["clustered"].as_bool(),
            archive.text("internal_compression"),
            archive.text("tile_compression"),
            archive.text("tile_type")
        ),
        (Some(true), "GZIP", "NONE", "PNG")
    );
    assert_eq!((archive.int("min_zoom"), archive.int("max_zoom")), (11, 13));
    assert!(archive.int("root_offset") + archive.int("root_length") <= 16_384);
    let rows = sqlx::query("SELECT z, x, y, data FROM layers.sfbay WHERE z BETWEEN 11 AND 13")
        .fetch_all(&db.pool)
        .await
        .expect("tiles");
    assert_eq!(archive.int("addressed_tiles_count"), rows.len() as i64);
    assert_eq!(archive.tiles.len(), rows.len());
    for r in rows {
        let (z, x, y, data): (i16, i32, i32, Vec<u8>) =
            (r.get("z"), r.get("x"), r.get("y"), r.get("data"));
        let found = archive.tiles.get(&(z as u8, x as u32, y as u32));
        assert_eq!(found, Some(&data), "tile {z}/{x}/{y}");
    }
}

/// The error line of a failed command: exactly one line starting `citygrid: error:`.
fn error_line(result: &(bool, String, String)) -> String {
    assert!(!result.0, "the command should fail: {}", result.1);
    let lines: Vec<&str> = result
        .2
        .lines()
        .filter(|l| l.starts_with("citygrid: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected in: {}", result.2);
    lines[0].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn raster_bad_input_fails_cleanly_and_keeps_the_layer() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("raster-bad");
    let ortho = common::data_file("ortho_osbs_10cm_utm17.tif");
    assert_imported(&import(
        &db,
        &ortho,
        "keep",
        &["--min-zoom", "19", "--max-zoom", "20"],
    ));
    let before = tile_count(&db, "keep").await;
    let version: i64 = sqlx::query_scalar("SELECT version FROM layer_catalog WHERE id = 'keep'")
        .fetch_one(&db.pool)
        .await
        .expect("version");

    let text = dir.join("notes.txt");
    std::fs::write(&text, "this is not an image\njust text\n").expect("write");
    let plain: PathBuf = dir.join("plain.tif");
    python(&format!(
        "from osgeo import gdal\nds = gdal.GetDriverByName('GTiff').Create('{}', 64, 64, 3, gdal.GDT_Byte)\nds.GetRasterBand(1).Fill(100)\nds = None",
        plain.display()
    ));
    let truncated = dir.join("truncated.tif");
    let full = std::fs::read(&ortho).expect("read sample");
    std::fs::write(&truncated, &full[..full.len() / 2]).expect("write");

    let cases: Vec<(PathBuf, Vec<&str>, &str)> = vec![
        (text, vec![], "not a raster"),
        (plain, vec![], "no georeferencing"),
        (truncated, vec![], "reading the raster failed"),
        (
            ortho.clone(),
            vec!["--min-zoom", "15", "--max-zoom", "12"],
            "invalid zoom range",
        ),
        (
            ortho.clone(),
            vec!["--max-zoom", "25"],
            "invalid zoom range",
        ),
        (
            ortho.clone(),
            vec!["--min-zoom", "23"],
            "invalid zoom range",
        ),
        (ortho.clone(), vec![], "already exists"),
    ];
    for (file, extra, expected) in cases {
        let mut args = extra.clone();
        if expected != "already exists" {
            args.push("--replace");
        }
        let line = error_line(&import(&db, &file, "keep", &args));
        assert!(line.contains(expected), "{file:?} {extra:?}: {line}");
        // The previous layer is intact.
        assert_eq!(tile_count(&db, "keep").await, before);
        let now: i64 = sqlx::query_scalar("SELECT version FROM layer_catalog WHERE id = 'keep'")
            .fetch_one(&db.pool)
            .await
            .expect("version");
        assert_eq!(now, version);
    }
    // No staging table is left behind.
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'layers' AND tablename LIKE '%staging%'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("tables");
    assert_eq!(leftovers, 0);
    // A successful re-import keeps the replaced pyramid in the layer's history
    // (layer_history."keep@<n>", with its tiles), as a vector re-import does.
    let (ok, out, err) = import(
        &db,
        &ortho,
        "keep",
        &["--replace", "--tms", "WebMercatorQuad"],
    );
    assert!(ok, "re-import failed: {out} {err}");
    let kept: Option<String> = sqlx::query_scalar(
        "SELECT table_name FROM layer_snapshots WHERE layer = 'keep' ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await
    .expect("snapshots");
    let kept = kept.expect("the replaced raster version is kept");
    let kept_tiles: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM layer_history.\"{kept}\""))
            .fetch_one(&db.pool)
            .await
            .expect("kept tiles");
    assert_eq!(kept_tiles, before, "the kept version holds the old pyramid");
    // Exports: unknown extension, unknown layer.
    let line = error_line(&common::run(
        common::citygrid(&db)
            .args(["export", "keep"])
            .arg(dir.join("x.zip")),
    ));
    assert!(line.contains(".pmtiles or .mbtiles"), "{line}");
    let line = error_line(&common::run(
        common::citygrid(&db)
            .args(["export", "nope"])
            .arg(dir.join("x.mbtiles")),
    ));
    assert!(line.contains("does not exist"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn raster_export_of_a_vector_layer_writes_mvt() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("raster-export-vector");
    // A small vector layer made directly in SQL, as the vector importer stores one.
    for sql in [
        "CREATE TABLE layers.parks (fid bigint PRIMARY KEY, geom geometry(Polygon, 4326), name text)",
        "INSERT INTO layers.parks VALUES \
           (1, ST_GeomFromText('POLYGON((114.30 30.55, 114.32 30.55, 114.32 30.57, 114.30 30.57, 114.30 30.55))', 4326), 'East Lake'), \
           (2, ST_GeomFromText('POLYGON((114.25 30.60, 114.26 30.60, 114.26 30.61, 114.25 30.61, 114.25 30.60))', 4326), 'Jiefang')",
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds, min_zoom, max_zoom) \
           VALUES ('parks', 'Parks', 'vector', 'Polygon', '[{\"name\": \"name\", \"type\": \"text\"}]', 2, \
                   ARRAY[114.25, 30.55, 114.32, 30.61], 8, 22)",
    ] {
        sqlx::query(sql).execute(&db.pool).await.expect("set up vector layer");
    }
    let mbtiles = dir.join("parks.mbtiles");
    let (ok, stdout, stderr) = common::run(
        common::citygrid(&db)
            .args(["export", "parks"])
            .arg(&mbtiles)
            .args(["--max-zoom", "12"]),
    );
    assert!(ok, "export failed: {stdout} {stderr}");
    // GDAL's MBTiles vector driver reads the layer, its field and both features
    // (it reports them per max-zoom tile, so a park cut by tile edges counts more than once).
    let info = Command::new("ogrinfo")
        .arg("-al")
        .arg(&mbtiles)
        .output()
        .expect("ogrinfo");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("format=pbf"), "{info}");
    assert!(info.contains("Layer name: parks"), "{info}");
    assert!(info.contains("name: String"), "{info}");
    assert!(info.contains("name (String) = East Lake"), "{info}");
    assert!(info.contains("name (String) = Jiefang"), "{info}");

    let pmtiles = dir.join("parks.pmtiles");
    let (ok, stdout, stderr) = common::run(
        common::citygrid(&db)
            .args(["export", "parks"])
            .arg(&pmtiles)
            .args(["--min-zoom", "10", "--max-zoom", "12"]),
    );
    assert!(ok, "export failed: {stdout} {stderr}");
    let archive = common::pmtiles::read(&pmtiles);
    assert_eq!(
        (
            archive.text("tile_type"),
            archive.text("tile_compression"),
            archive.int("min_zoom"),
            archive.int("max_zoom")
        ),
        ("MVT", "GZIP", 10, 12)
    );
    // The tile under East Lake at z12 is there and is an MVT with the layer name.
    let (x, y) = (3348, 1682); // 114.31 E, 30.56 N at z12
    let tile = archive.tiles.get(&(12, x, y)).expect("tile under the park");
    assert!(
        tile.windows(5).any(|w| w == b"parks"),
        "MVT layer name in the tile"
    );
}

//! `citygrid import raster` on the kinds of rasters GDAL reads: 16-bit single
//! band (stretched), RGBA (alpha → transparency), paletted, nodata, and the
//! default format choice (JPEG for opaque imagery, PNG with transparency).

mod common;

use std::path::Path;
use std::process::Command;

use citygrid_importers::raster::{decode_rgba, read_tile};

/// Runs a Python snippet with Debian's python3-gdal.
fn python(script: &str) {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn import(db: &common::TestDb, file: &Path, layer: &str, args: &[&str]) {
    let mut cmd = common::citygrid(db);
    cmd.args(["import", "raster"])
        .arg(file)
        .args(["--layer", layer, "--quiet"])
        .args(args);
    let (ok, stdout, stderr) = common::run(&mut cmd);
    assert!(ok, "import of {file:?} failed: {stdout} {stderr}");
}

/// All pixels of all max-zoom tiles of `layer`, decoded.
async fn max_zoom_pixels(db: &common::TestDb, layer: &str) -> Vec<[u8; 4]> {
    let rows: Vec<(i16, i32, i32)> = sqlx::query_as(&format!(
        "SELECT z, x, y FROM layers.\"{layer}\" WHERE z = (SELECT max_zoom FROM layer_catalog WHERE id = $1)"
    ))
    .bind(layer)
    .fetch_all(&db.pool)
    .await
    .expect("tiles");
    assert!(!rows.is_empty());
    let mut pixels = Vec::new();
    for (z, x, y) in rows {
        let tile = read_tile(&db.pool, layer, z as u8, x as u32, y as u32)
            .await
            .expect("read")
            .expect("tile");
        let (_, _, rgba) = decode_rgba(&tile).expect("decode");
        pixels.extend(rgba.chunks_exact(4).map(|p| [p[0], p[1], p[2], p[3]]));
    }
    pixels
}

async fn format_of(db: &common::TestDb, layer: &str) -> String {
    sqlx::query_scalar("SELECT tile_format FROM layer_catalog WHERE id = $1")
        .bind(layer)
        .fetch_one(&db.pool)
        .await
        .expect("format")
}

#[tokio::test(flavor = "multi_thread")]
async fn raster_kinds_of_input_become_sensible_tiles() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("raster-kinds");
    let (u16_tif, rgba_tif, pal_tif) = (
        dir.join("dem_u16.tif"),
        dir.join("rgba.tif"),
        dir.join("pal.tif"),
    );
    // All in EPSG:3857, axis-aligned, so only nodata/alpha make transparency.
    python(&format!(
        r#"
from osgeo import gdal, osr
import numpy as np
gdal.UseExceptions()
srs = osr.SpatialReference(); srs.ImportFromEPSG(3857)
gt = [1000000.0, 10.0, 0, 5000000.0, 0, -10.0]
def make(path, bands, dtype):
    ds = gdal.GetDriverByName('GTiff').Create(path, 256, 256, bands, dtype)
    ds.SetGeoTransform(gt); ds.SetProjection(srs.ExportToWkt()); return ds
# 16-bit ramp 1000..4060 with a nodata (0) stripe on the left
ds = make('{u16}', 1, gdal.GDT_UInt16)
a = (1000 + np.tile(np.arange(256), (256, 1)) * 12).astype(np.uint16)
a[:, :32] = 0
b = ds.GetRasterBand(1); b.SetNoDataValue(0); b.WriteArray(a); ds = None
# RGBA: red, transparent top half
ds = make('{rgba}', 4, gdal.GDT_Byte)
for i, v in enumerate((200, 30, 30)):
    ds.GetRasterBand(i + 1).WriteArray(np.full((256, 256), v, np.uint8))
al = np.full((256, 256), 255, np.uint8); al[:128, :] = 0
ds.GetRasterBand(4).SetColorInterpretation(gdal.GCI_AlphaBand); ds.GetRasterBand(4).WriteArray(al); ds = None
# Paletted: index 1 = green, 2 = blue
ds = make('{pal}', 1, gdal.GDT_Byte)
ct = gdal.ColorTable(); ct.SetColorEntry(0, (0, 0, 0, 255)); ct.SetColorEntry(1, (0, 200, 0, 255)); ct.SetColorEntry(2, (0, 0, 200, 255))
b = ds.GetRasterBand(1); b.SetRasterColorTable(ct)
p = np.ones((256, 256), np.uint8); p[:, 128:] = 2; b.WriteArray(p); ds = None
"#,
        u16 = u16_tif.display(),
        rgba = rgba_tif.display(),
        pal = pal_tif.display()
    ));

    // 16-bit: stretched 2–98 % to the full 0..255 range; nodata transparent.
    import(&db, &u16_tif, "dem", &[]);
    assert_eq!(format_of(&db, "dem").await, "png");
    let px = max_zoom_pixels(&db, "dem").await;
    let opaque: Vec<&[u8; 4]> = px.iter().filter(|p| p[3] == 255).collect();
    let (lo, hi) = opaque
        .iter()
        .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
    assert!(lo <= 5 && hi >= 250, "stretch spans the range: {lo}..{hi}");
    assert!(
        opaque.iter().all(|p| p[0] == p[1] && p[1] == p[2]),
        "grey stays grey"
    );
    let transparent = px.iter().filter(|p| p[3] == 0).count();
    assert!(
        transparent >= 20 * 256,
        "the nodata stripe is transparent ({transparent} px)"
    );

    // RGBA: the alpha band becomes transparency, colours are kept.
    import(&db, &rgba_tif, "rgba", &[]);
    assert_eq!(format_of(&db, "rgba").await, "png");
    let px = max_zoom_pixels(&db, "rgba").await;
    assert!(px
        .iter()
        .filter(|p| p[3] == 255)
        .all(|p| p[0].abs_diff(200) <= 2 && p[1].abs_diff(30) <= 2));
    assert!(px.iter().filter(|p| p[3] == 0).count() > 100 * 256);

    // Paletted: colours from the table (nearest neighbour, no blending of indices).
    import(&db, &pal_tif, "pal", &["--format", "webp"]);
    assert_eq!(format_of(&db, "pal").await, "webp");
    let px = max_zoom_pixels(&db, "pal").await;
    for p in px.iter().filter(|p| p[3] == 255) {
        assert!(
            *p == [0, 200, 0, 255] || *p == [0, 0, 200, 255],
            "palette colour, got {p:?}"
        );
    }

    // Opaque, axis-aligned Web Mercator imagery defaults to JPEG.
    let opaque_tif = dir.join("opaque.tif");
    let status = Command::new("gdal_translate")
        .args([
            "-q",
            "-srcwin",
            "600",
            "600",
            "512",
            "512",
            "-a_nodata",
            "none",
        ])
        .arg(common::data_file("sfbay_landsat7_30m_3857.tif"))
        .arg(&opaque_tif)
        .status()
        .expect("gdal_translate");
    assert!(status.success());
    import(&db, &opaque_tif, "opaque", &[]);
    assert_eq!(format_of(&db, "opaque").await, "jpeg");
}

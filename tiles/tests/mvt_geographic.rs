//! Vector tiles of the geographic tile matrix sets (CGCS2000Quad / WorldCRS84Quad):
//! the encoder works in lon/lat degrees of the tile, checked with the decoder.

mod common;

use citygrid_geo::matrixset::{Grid, MatrixSet};
use citygrid_tiles::cache::{CacheConfig, TileCache, TileKey};
use citygrid_tiles::index::{Feature, LayerIndex};
use citygrid_tiles::mvt::{encode_tile_in, query_bounds_in, EncodeOptions, TileLayer};
use citygrid_tiles::schema::Schema;
use common::{decode, geometry, G};
use geo::{point, Geometry, LineString, Polygon};

fn encode(set: MatrixSet, level: u8, col: u32, row: u32, feats: Vec<Feature>) -> Vec<G> {
    let schema = Schema::default();
    let index = LayerIndex::build(schema.clone(), feats).unwrap();
    let tile = set.tile(level, col, row).unwrap();
    let opts = EncodeOptions::default();
    let candidates = index.query_bbox_merc(&query_bounds_in(set.grid(), tile.address(), &opts));
    let layer = TileLayer {
        name: "l",
        schema: &schema,
        features: &candidates,
        properties: None,
    };
    let out = encode_tile_in(set.grid(), tile.address(), &[layer], &opts).unwrap();
    if out.bytes.is_empty() {
        return Vec::new();
    }
    decode(&out.bytes)
        .into_iter()
        .flat_map(|l| l.features)
        .map(|f| geometry(&f).unwrap())
        .collect()
}

/// Tile units of a lon/lat position in the CGCS2000Quad tile `level/col/row`,
/// computed from Tianditu's definition (0.703125°/px at level 1, 256 px tiles,
/// top-left -180°, 90°) and an extent of 4096.
fn units(level: u8, col: u32, row: u32, lon: f64, lat: f64) -> (i64, i64) {
    let tile_deg = 180.0 / f64::from(1u32 << (level - 1));
    let ux = ((lon + 180.0) / tile_deg - f64::from(col)) * 4096.0;
    let uy = ((90.0 - lat) / tile_deg - f64::from(row)) * 4096.0;
    (ux.round() as i64, uy.round() as i64)
}

#[test]
fn points_lines_and_polygons_land_at_their_degrees() {
    let level = 12u8;
    let span = 180.0 / f64::from(1u32 << (level - 1));
    // The tile over Beijing, and a position a little off its centre.
    let col = ((116.3975 + 180.0) / span).floor() as u32;
    let row = ((90.0 - 39.9087) / span).floor() as u32;
    let lon = -180.0 + (f64::from(col) + 0.45) * span;
    let lat = 90.0 - (f64::from(row) + 0.55) * span;
    let p = Feature::from_lonlat(1, Geometry::Point(point!(x: lon, y: lat)), vec![]);
    let d = span / 4.0;
    let line = Feature::from_lonlat(
        2,
        Geometry::LineString(LineString::from(vec![(lon - d, lat), (lon + d, lat)])),
        vec![],
    );
    let square = Feature::from_lonlat(
        3,
        Geometry::Polygon(Polygon::new(
            LineString::from(vec![
                (lon - d, lat - d),
                (lon + d, lat - d),
                (lon + d, lat + d),
                (lon - d, lat + d),
                (lon - d, lat - d),
            ]),
            vec![],
        )),
        vec![],
    );
    let got = encode(
        MatrixSet::Cgcs2000Quad,
        level,
        col,
        row,
        vec![p, line, square],
    );
    assert_eq!(got.len(), 3, "{got:?}");
    let want = units(level, col, row, lon, lat);
    let G::Points(pts) = &got[0] else {
        panic!("a point first: {got:?}")
    };
    let near = |a: (i64, i64), b: (i64, i64)| (a.0 - b.0).abs() <= 1 && (a.1 - b.1).abs() <= 1;
    assert!(near(pts[0], want), "{:?} vs {want:?}", pts[0]);
    let G::Lines(parts) = &got[1] else {
        panic!("a line second: {got:?}")
    };
    // A parallel is a horizontal line in a geographic tile (not in Web Mercator).
    let ends = (parts[0][0], parts[0][parts[0].len() - 1]);
    assert!(near(ends.0, units(level, col, row, lon - d, lat)));
    assert!(near(ends.1, units(level, col, row, lon + d, lat)));
    let G::Rings(rings) = &got[2] else {
        panic!("a polygon third: {got:?}")
    };
    // A square in degrees is a square in tile units: 2·d degrees = 2048 units.
    let xs: Vec<i64> = rings[0].iter().map(|p| p.0).collect();
    let ys: Vec<i64> = rings[0].iter().map(|p| p.1).collect();
    let w = xs.iter().max().unwrap() - xs.iter().min().unwrap();
    let h = ys.iter().max().unwrap() - ys.iter().min().unwrap();
    assert!((w - 2048).abs() <= 1 && (h - 2048).abs() <= 1, "{w}×{h}");

    // WorldCRS84Quad level 11 is the same tile.
    let world = encode(
        MatrixSet::WorldCrs84Quad,
        level - 1,
        col,
        row,
        vec![Feature::from_lonlat(
            1,
            Geometry::Point(point!(x: lon, y: lat)),
            vec![],
        )],
    );
    assert_eq!(world, vec![G::Points(vec![pts[0]])]);
    // The neighbouring tile to the east has the point only in its buffer or not at all.
    let east = encode(
        MatrixSet::Cgcs2000Quad,
        level,
        col + 2,
        row,
        vec![Feature::from_lonlat(
            1,
            Geometry::Point(point!(x: lon, y: lat)),
            vec![],
        )],
    );
    assert!(east.is_empty());
}

#[test]
fn geographic_cache_keys_are_apart_and_invalidated_by_area() {
    let cache = TileCache::new(CacheConfig::default());
    let set = MatrixSet::Cgcs2000Quad;
    let t = set.tile(10, 843, 143).unwrap();
    let merc = TileKey::new(t.address(), [("roads", 1)]);
    let geo = TileKey::in_grid(Grid::Geographic, t.address(), [("roads", 1)]);
    assert_ne!(merc, geo);
    cache.insert(merc.clone(), vec![1]);
    cache.insert(geo.clone(), vec![2]);
    assert_eq!(cache.get(&geo).unwrap().bytes[..], [2]);
    // An edit inside the geographic tile (lon/lat → Web Mercator box) drops it; the
    // Web Mercator tile with the same numbers lies elsewhere and stays.
    let ll = set.tile_lonlat_bounds(&t);
    let c = citygrid_geo::tms::lonlat_to_mercator(
        (ll.min_x + ll.max_x) / 2.0,
        (ll.min_y + ll.max_y) / 2.0,
    );
    let edit = citygrid_geo::tms::Bbox::new(c.x - 1.0, c.y - 1.0, c.x + 1.0, c.y + 1.0);
    assert_eq!(cache.invalidate_bbox("roads", &edit), 1);
    assert!(cache.get(&geo).is_none() && cache.get(&merc).is_some());
}

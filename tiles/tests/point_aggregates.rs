//! Precomputed per-zoom point aggregates (issue 17): a low-zoom tile of a large point
//! layer made from its cells (`mvt::point_cells` + `encode_tile_with_cells`)
//! is byte for byte the tile made from all its points, at every zoom the layer has
//! cells for, and still after patches (a representative moved away, points removed
//! and added).

use citygrid_geo::tms::{tiles_covering, TileCoord};
use citygrid_tiles::index::{Feature, LayerIndex};
use citygrid_tiles::mvt::{
    encode_tile, encode_tile_with_cells, point_cells, query_bounds, EncodeOptions, TileLayer,
};
use citygrid_tiles::schema::{FieldType, Schema};
use geo::{line_string, point, Geometry};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn point(id: i64, lon: f64, lat: f64, kind: &str) -> Feature {
    Feature::from_lonlat(
        id,
        Geometry::Point(point!(x: lon, y: lat)),
        vec![kind.into()],
    )
}

/// Every tile of zooms 4..=12 over the layer that has cells: both ways the same.
/// Returns how many tiles were made from cells.
fn compare(index: &LayerIndex, opts: &EncodeOptions) -> usize {
    let bounds = index.bounds_merc().unwrap();
    let mut from_cells = 0;
    for z in 4..=12u8 {
        for tile in tiles_covering(&bounds, z).unwrap().iter() {
            let Some(cells) = point_cells(index, tile, opts) else {
                continue;
            };
            from_cells += 1;
            let features = index.query_bbox_merc(&query_bounds(tile, opts));
            assert!(cells.points() as usize <= features.len());
            assert!(cells.len() < features.len(), "fewer cells than points");
            let layer = |features| TileLayer {
                name: "pts",
                schema: index.schema(),
                features,
                properties: None,
            };
            let points = encode_tile(tile, &[layer(&features)], opts).unwrap();
            let aggregated =
                encode_tile_with_cells(tile, &[layer(&[])], &[Some(cells)], opts).unwrap();
            assert_eq!(
                (aggregated.level, aggregated.features),
                (points.level, points.features),
                "{tile:?}"
            );
            assert!(aggregated.bytes == points.bytes, "{tile:?}: the same bytes");
            assert!(points.level >= 1, "{tile:?} is clustered");
        }
    }
    from_cells
}

#[test]
fn tiles_from_cells_are_the_tiles_from_points() {
    let mut rng = StdRng::seed_from_u64(17);
    // 150,000 points in a 20 km box, denser in one corner.
    let features: Vec<Feature> = (0..150_000)
        .map(|i| {
            let (dx, dy): (f64, f64) = (rng.gen(), rng.gen());
            let (dx, dy) = if i % 3 == 0 {
                (dx * 0.1, dy * 0.1)
            } else {
                (dx, dy)
            };
            point(
                rng.gen_range(0..10_000_000),
                114.2 + dx * 0.2,
                30.5 + dy * 0.15,
                if i % 2 == 0 { "lamp" } else { "manhole" },
            )
        })
        .map(|f| (f.id, f))
        .collect::<std::collections::BTreeMap<i64, Feature>>()
        .into_values()
        .collect();
    let schema = Schema::new([("kind", FieldType::String)]);
    let mut index = LayerIndex::build(schema, features).unwrap();
    let aggregates = index
        .point_aggregates()
        .expect("a large point layer has them");
    assert!(aggregates.max_zoom().unwrap() >= 10);
    let opts = EncodeOptions::default();
    let used = compare(&index, &opts);
    assert!(used >= 3, "{used} tiles came from cells");

    // Patches: the smallest id (a representative at every zoom) moves out of the
    // box, a hundred points go, a hundred come.
    let first = index.iter().map(|f| f.id()).min().unwrap();
    index
        .upsert(point(first, 114.9, 30.9, "lamp"))
        .unwrap()
        .unwrap();
    let ids: Vec<i64> = index.iter().map(|f| f.id()).take(100).collect();
    for id in ids {
        index.remove(id).unwrap();
    }
    for i in 0..100 {
        index
            .upsert(point(
                20_000_000 + i,
                114.21 + i as f64 * 1e-4,
                30.51,
                "new",
            ))
            .unwrap();
    }
    assert!(
        index.point_aggregates().is_some(),
        "kept through point patches"
    );
    assert!(compare(&index, &opts) >= 3);

    // Other options than the cells were made for, or a small tile: the points.
    let other = EncodeOptions {
        extent: 512,
        ..EncodeOptions::default()
    };
    let tile = TileCoord::new(6, 52, 26).unwrap();
    assert!(point_cells(&index, tile, &other).is_none());
    let roomy = EncodeOptions {
        max_tile_bytes: 100_000_000,
        ..EncodeOptions::default()
    };
    assert!(point_cells(&index, tile, &roomy).is_none());

    // A line makes the layer other than points: no more cells.
    index
        .upsert(Feature::from_lonlat(
            1,
            Geometry::LineString(line_string![(x: 114.2, y: 30.5), (x: 114.3, y: 30.6)]),
            vec!["road".into()],
        ))
        .unwrap();
    assert!(index.point_aggregates().is_none());
}

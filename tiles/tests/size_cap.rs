//! The size cap on 1,000,000 random points at zooms 0–8: every tile stays under the cap
//! and the cluster counts add up to the number of points.

mod common;

use std::collections::HashMap;

use citygrid_geo::tms::{tiles_covering, Bbox, TileCoord};
use citygrid_tiles::index::{Feature, FeatureRef};
use citygrid_tiles::mvt::{encode_tile, query_bounds, EncodeOptions, TileLayer, POINT_COUNT_KEY};
use citygrid_tiles::schema::{FieldType, PropValue, Schema};
use common::{decode, geometry, props, Val, G};
use geo::{point, Coord, Geometry};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rayon::prelude::*;

const N: usize = 1_000_000;

/// Per tile: the tile, its thinning level and its points `(x, y) → count`.
type TileResult = (TileCoord, u32, HashMap<(i64, i64), u64>);
/// Per zoom: the zoom, the points counted inside tiles and the tiles.
type ZoomResult = (u8, u64, Vec<TileResult>);

fn count_of(l: &common::Layer, f: &common::Feat) -> u64 {
    match props(l, f).get(POINT_COUNT_KEY) {
        Some(Val::U64(n)) => *n,
        None => 1,
        other => panic!("bad point_count {other:?}"),
    }
}

#[test]
fn million_points_stay_under_the_cap_and_counts_add_up() {
    let started = std::time::Instant::now();
    let mut rng = StdRng::seed_from_u64(2024);
    // A city-sized cloud (about 100 km × 80 km) so that z8 spans a few tiles.
    let features: Vec<Feature> = (0..N)
        .map(|i| {
            let lon = 116.0 + rng.gen::<f64>() * 1.2;
            let lat = 39.5 + rng.gen::<f64>() * 0.8;
            let kind = if i % 3 == 0 { "lamp" } else { "manhole" };
            Feature::from_lonlat(
                i as i64,
                Geometry::Point(point!(x: lon, y: lat)),
                vec![kind.into()],
            )
        })
        .collect();
    let schema = Schema::new([("kind", FieldType::String)]);
    // The features as a layer holds them (in the order of `features`); candidates
    // are selected by a plain scan: the R-tree is tested elsewhere.
    let idx = common::indexed(&features);
    let held: Vec<FeatureRef<'_>> = features.iter().map(|f| idx.get(f.id).unwrap()).collect();
    let positions: Vec<Coord<f64>> = features
        .iter()
        .map(|f| match &*f.geom_merc() {
            Geometry::Point(p) => p.0,
            _ => unreachable!(),
        })
        .collect();
    let bounds = positions.iter().fold(
        Bbox::new(
            positions[0].x,
            positions[0].y,
            positions[0].x,
            positions[0].y,
        ),
        |b, c| b.union(&Bbox::new(c.x, c.y, c.x, c.y)),
    );
    eprintln!("generated in {:?}", started.elapsed());
    let opts = EncodeOptions::default();

    let per_zoom: Vec<ZoomResult> = (0..=8u8)
        .into_par_iter()
        .map(|z| {
            let mut total = 0u64;
            let mut tiles = Vec::new();
            for tile in tiles_covering(&bounds, z).unwrap().iter() {
                let q = query_bounds(tile, &opts);
                let feats: Vec<FeatureRef<'_>> = positions
                    .iter()
                    .zip(&held)
                    .filter_map(|(c, f)| q.contains_point(c.x, c.y).then_some(*f))
                    .collect();
                let layer = TileLayer {
                    name: "points",
                    schema: &schema,
                    features: &feats,
                    properties: None,
                };
                let out = encode_tile(tile, &[layer], &opts).unwrap();
                assert!(
                    out.bytes.len() <= opts.max_tile_bytes,
                    "{tile}: {} bytes",
                    out.bytes.len()
                );
                let mut clusters = HashMap::new();
                for l in decode(&out.bytes) {
                    for f in &l.features {
                        let G::Points(p) = geometry(f).unwrap() else {
                            panic!("not a point")
                        };
                        let n = count_of(&l, f);
                        let (x, y) = p[0];
                        if (0..4096).contains(&x) && (0..4096).contains(&y) {
                            total += n;
                        }
                        clusters.insert((x, y), n);
                        assert!(f.id.is_some());
                    }
                }
                eprintln!(
                    "{tile}: {} candidates, level {}, {} features, {} bytes",
                    feats.len(),
                    out.level,
                    out.features,
                    out.bytes.len()
                );
                tiles.push((tile, out.level, clusters));
            }
            (z, total, tiles)
        })
        .collect();

    for (z, total, tiles) in &per_zoom {
        assert_eq!(*total, N as u64, "zoom {z}: counts add up to {total}");
        // Dense tiles are thinned, sparse ones are not.
        if *z <= 3 {
            assert!(
                tiles.iter().all(|t| t.1 > 0),
                "zoom {z} should be clustered"
            );
        }
        // Neighbouring tiles at the same level agree on the clusters of the shared
        // buffer strip.
        for (a, la, ca) in tiles {
            for (b, lb, cb) in tiles {
                if b.x() == a.x() + 1 && b.y() == a.y() && la == lb && *la > 0 {
                    let mut checked = 0;
                    for (&(x, y), n) in ca {
                        if (4032..4096).contains(&x) && (0..4096).contains(&y) {
                            assert_eq!(cb.get(&(x - 4096, y)), Some(n), "{a} vs {b}");
                            checked += 1;
                        }
                    }
                    assert!(checked > 0);
                }
            }
        }
    }
    eprintln!("done in {:?}", started.elapsed());
}

#[test]
fn clusters_keep_the_representative_properties() {
    let t = TileCoord::new(0, 0, 0).unwrap();
    let schema = Schema::new([
        ("kind", FieldType::String),
        (POINT_COUNT_KEY, FieldType::Int),
    ]);
    let feats: Vec<Feature> = (0..20_000)
        .map(|i| {
            let lon = -10.0 + (i % 200) as f64 * 0.1;
            let lat = -10.0 + (i / 200) as f64 * 0.1;
            Feature::from_lonlat(
                100_000 - i,
                Geometry::Point(point!(x: lon, y: lat)),
                vec![format!("k{i}").into(), PropValue::Int(-1)],
            )
        })
        .collect();
    let idx = common::indexed(&feats);
    let refs: Vec<FeatureRef<'_>> = idx.iter().collect();
    let opts = EncodeOptions {
        max_tile_bytes: 20_000,
        ..EncodeOptions::default()
    };
    let layer = TileLayer {
        name: "p",
        schema: &schema,
        features: &refs,
        properties: None,
    };
    let out = encode_tile(t, &[layer], &opts).unwrap();
    assert!(out.level > 0 && out.bytes.len() <= 20_000);
    let l = &decode(&out.bytes)[0];
    let total: u64 = l.features.iter().map(|f| count_of(l, f)).sum();
    assert_eq!(total, 20_000);
    for f in &l.features {
        let p = props(l, f);
        // The representative is the smallest id of the cluster and brings its props.
        let id = f.id.map(|v| v as i64);
        let src = feats.iter().find(|x| Some(x.id) == id);
        if let (Some(src), Some(Val::Str(k))) = (src, p.get("kind")) {
            assert_eq!(PropValue::from(k.as_str()), src.props[0]);
        }
        assert!(!matches!(p.get(POINT_COUNT_KEY), Some(Val::S64(-1))));
    }
}

//! Layer index: parallel build, bbox queries against brute force, nearest with ground
//! distances, patches.

use citygrid_geo::tms::Bbox;
use citygrid_tiles::index::{Feature, LayerIndex};
use citygrid_tiles::schema::{FieldType, PropValue, Schema};
use geo::{point, Distance, Geodesic, Geometry, LineString, Polygon};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn random_features(n: usize, seed: u64) -> Vec<Feature> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let (lon, lat) = (
                121.3 + rng.gen::<f64>() * 0.4,
                31.1 + rng.gen::<f64>() * 0.3,
            );
            let g = match i % 3 {
                0 => Geometry::Point(point!(x: lon, y: lat)),
                1 => Geometry::LineString(LineString::from(vec![
                    (lon, lat),
                    (lon + 0.002, lat + 0.001),
                ])),
                _ => Geometry::Polygon(Polygon::new(
                    LineString::from(vec![
                        (lon, lat),
                        (lon + 0.001, lat),
                        (lon + 0.001, lat + 0.001),
                        (lon, lat + 0.001),
                    ]),
                    vec![],
                )),
            };
            Feature::from_lonlat(i as i64, g, vec![PropValue::Int(i as i64)])
        })
        .collect()
}

#[test]
fn shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LayerIndex>();
    assert_send_sync::<citygrid_tiles::cache::TileCache>();
}

#[test]
fn bbox_queries_match_brute_force() {
    let feats = random_features(30_000, 1);
    let schema = Schema::new([("n", FieldType::Int)]);
    let idx = LayerIndex::build(schema, feats.clone()).unwrap();
    assert_eq!(idx.len(), 30_000);
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..20 {
        let (lon, lat) = (
            121.3 + rng.gen::<f64>() * 0.4,
            31.1 + rng.gen::<f64>() * 0.3,
        );
        let q = Bbox::new(lon, lat, lon + 0.02, lat + 0.015);
        let mut got: Vec<i64> = idx.query_bbox_lonlat(&q).iter().map(|f| f.id()).collect();
        got.sort();
        let qm = citygrid_geo::tms::lonlat_bbox_to_mercator(&q);
        let mut want: Vec<i64> = feats
            .iter()
            .filter(|f| f.envelope_merc().is_some_and(|e| e.intersects(&qm)))
            .map(|f| f.id)
            .collect();
        want.sort();
        assert_eq!(got, want);
    }
    let mem = idx.memory_bytes();
    assert!(mem > 30_000 * 100 && mem < 30_000 * 2_000, "{mem}");
}

#[test]
fn nearest_uses_ground_metres_and_patches_apply() {
    let feats = random_features(5_000, 2);
    let mut idx = LayerIndex::build(Schema::new([("n", FieldType::Int)]), feats.clone()).unwrap();
    let (qlon, qlat) = (121.5, 31.25);
    let near = idx.nearest_lonlat(qlon, qlat, 5, 2_000.0).unwrap();
    assert!(!near.is_empty());
    for w in near.windows(2) {
        assert!(w[0].distance_m <= w[1].distance_m);
    }
    // Point distances are exact geodesics; nothing closer was missed.
    let q = point!(x: qlon, y: qlat);
    let kth = near.last().unwrap().distance_m;
    for f in &feats {
        if let Geometry::Point(p) = *f.geom_lonlat() {
            let d = Geodesic::distance(q, p);
            if d < kth - 1e-6 {
                assert!(
                    near.iter().any(|n| n.feature.id() == f.id),
                    "missed {} at {d}",
                    f.id
                );
            }
            if let Some(n) = near.iter().find(|n| n.feature.id() == f.id) {
                assert!((n.distance_m - d).abs() < 1e-6);
            }
        }
    }
    // Patches.
    let moved = Feature::from_lonlat(0, Geometry::Point(q), vec![PropValue::Int(0)]);
    idx.upsert(moved).unwrap();
    let n = idx.nearest_lonlat(qlon, qlat, 1, 1.0).unwrap();
    assert_eq!((n[0].feature.id(), n[0].distance_m), (0, 0.0));
    assert!(idx.remove(0).is_some() && idx.remove(0).is_none());
    assert!(idx.get(0).is_none());
    assert_eq!(idx.len(), 4_999);
    let bad = Feature::from_lonlat(1, Geometry::Point(q), vec![]);
    assert!(idx.upsert(bad).is_err());
    assert!(
        idx.get(1).is_some(),
        "a rejected upsert keeps the old feature"
    );
}

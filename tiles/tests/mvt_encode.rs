//! End-to-end checks of the MVT encoder with an independent decoder.

mod common;

use citygrid_geo::tms::{TileCoord, MERC_HALF_WORLD_M as H};
use citygrid_tiles::index::{Feature, FeatureRef, LayerIndex};
use citygrid_tiles::mvt::{encode_tile, query_bounds, EncodeOptions, MvtError, TileLayer};
use citygrid_tiles::schema::{FieldType, PropValue, Schema};
use common::{area2, assert_polygon_valid, decode, geometry, polygons, props, Val, G};
use geo::{
    point, Area, BooleanOps, Coord, Geometry, GeometryCollection, LineString, MultiPoint,
    MultiPolygon, Polygon, Rect,
};

/// Web Mercator coordinates of a position given in local tile units of `t`.
fn merc(t: TileCoord, ux: f64, uy: f64) -> Coord<f64> {
    let n = 2f64.powi(i32::from(t.z())) * 4096.0;
    Coord {
        x: -H + (f64::from(t.x()) * 4096.0 + ux) / n * 2.0 * H,
        y: H - (f64::from(t.y()) * 4096.0 + uy) / n * 2.0 * H,
    }
}

fn ls(t: TileCoord, pts: &[(f64, f64)]) -> LineString<f64> {
    LineString(pts.iter().map(|&(x, y)| merc(t, x, y)).collect())
}

fn one_layer(tile: TileCoord, feats: &[Feature], opts: &EncodeOptions) -> Vec<common::Layer> {
    let idx = common::indexed(feats);
    let refs: Vec<FeatureRef<'_>> = idx.iter().collect();
    let schema = Schema::default();
    let layer = TileLayer {
        name: "l",
        schema: &schema,
        features: &refs,
        properties: None,
    };
    let out = encode_tile(tile, &[layer], opts).unwrap();
    assert!(out.bytes.len() <= opts.max_tile_bytes);
    decode(&out.bytes)
}

#[test]
fn known_point_line_polygon_land_on_expected_units() {
    // By hand: at z1 the world is 8192 units; (-3H/4, 3H/4) is 1/8 across and 1/8 down,
    // i.e. global (1024, 1024) → local (1024, 1024) in tile 1/0/0.
    let t = TileCoord::new(1, 0, 0).unwrap();
    let p = Feature::from_mercator(
        1,
        Geometry::Point(point!(x: -0.75 * H, y: 0.75 * H)),
        vec![],
    );
    // A line from there to x = H/2 (local 6144), clipped at the buffer edge 4096 + 64.
    let l = Feature::from_mercator(
        2,
        Geometry::LineString(LineString::from(vec![
            (-0.75 * H, 0.75 * H),
            (0.5 * H, 0.75 * H),
        ])),
        vec![],
    );
    let layers = one_layer(t, &[p, l], &EncodeOptions::default());
    assert_eq!(layers.len(), 1);
    let (layer, f) = (&layers[0], &layers[0].features);
    assert_eq!(
        (layer.version, layer.extent, layer.name.as_str()),
        (2, 4096, "l")
    );
    assert_eq!(f[0].id, Some(1));
    assert_eq!(f[0].ty, 1);
    // MoveTo(1) = 9, zigzag(1024) = 2048.
    assert_eq!(f[0].geometry, vec![9, 2048, 2048]);
    assert_eq!(f[1].ty, 2);
    // LineTo(1) = 10, zigzag(4160 - 1024 = 3136) = 6272.
    assert_eq!(f[1].geometry, vec![9, 2048, 2048, 10, 6272, 0]);

    // lon 90°, lat -45° at z1: x = 3/4 of 8192 = 6144 → local 2048 in column 1;
    // Mercator y = R·ln(tan(22.5°)) = -R·asinh(1) = -0.881374·R, so global
    // y = 4096 + 4096·0.881374/π = 5245.12 → local round(1149.12) = 1149 in row 1.
    let ll = Feature::from_lonlat(3, Geometry::Point(point!(x: 90.0, y: -45.0)), vec![]);
    let layers = one_layer(
        TileCoord::new(1, 1, 1).unwrap(),
        &[ll],
        &EncodeOptions::default(),
    );
    assert_eq!(layers[0].features[0].geometry, vec![9, 4096, 2 * 1149]);

    // A square (1000..2000)² with a hole (1200..1400)², both given counter-clockwise on
    // screen; the encoder must wind the exterior positive and the hole negative.
    let t = TileCoord::new(12, 2000, 1500).unwrap();
    let poly = Polygon::new(
        ls(
            t,
            &[
                (1000.0, 1000.0),
                (1000.0, 2000.0),
                (2000.0, 2000.0),
                (2000.0, 1000.0),
                (1000.0, 1000.0),
            ],
        ),
        vec![ls(
            t,
            &[
                (1200.0, 1200.0),
                (1200.0, 1400.0),
                (1400.0, 1400.0),
                (1400.0, 1200.0),
            ],
        )],
    );
    let f = Feature::from_mercator(4, Geometry::Polygon(poly), vec![]);
    let layers = one_layer(t, &[f], &EncodeOptions::default());
    let feat = &layers[0].features[0];
    assert_eq!(feat.ty, 3);
    let G::Rings(rings) = geometry(feat).unwrap() else {
        panic!()
    };
    assert_eq!(rings.len(), 2);
    assert_eq!(area2(&rings[0]), 2 * 1_000_000);
    assert_eq!(area2(&rings[1]), -2 * 40_000);
    let mut ext = rings[0].clone();
    ext.sort();
    assert_eq!(
        ext,
        vec![(1000, 1000), (1000, 2000), (2000, 1000), (2000, 2000)]
    );
    // Screen-clockwise: from (1000,1000) the next vertex is (2000,1000).
    let i = rings[0].iter().position(|&p| p == (1000, 1000)).unwrap();
    assert_eq!(rings[0][(i + 1) % 4], (2000, 1000));
}

/// A spiky, concave polygon with a hole, centred at local `(cx, cy)` of `t`.
fn star(t: TileCoord, cx: f64, cy: f64, r: f64, spikes: usize) -> Polygon<f64> {
    let n = spikes * 2;
    let ext: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let rr = if i % 2 == 0 { r } else { r * 0.45 };
            (cx + rr * a.cos(), cy + rr * a.sin())
        })
        .collect();
    let hole: Vec<(f64, f64)> = (0..24)
        .map(|i| {
            let a = i as f64 / 24.0 * std::f64::consts::TAU;
            (cx + 0.2 * r * a.cos(), cy + 0.3 * r * a.sin())
        })
        .collect();
    Polygon::new(ls(t, &ext), vec![ls(t, &hole)])
}

#[test]
fn clipped_polygons_are_valid_and_neighbours_add_up() {
    let left = TileCoord::new(14, 13_000, 6_000).unwrap();
    let right = TileCoord::new(14, 13_001, 6_000).unwrap();
    // Centred on the shared edge, vertically inside both tiles.
    let poly = star(left, 4096.0, 2048.0, 1800.0, 40);
    // Area in tile units²: Mercator area × (units per metre)².
    let upm = 2f64.powi(14) * 4096.0 / (2.0 * H);
    let want = poly.unsigned_area() * upm * upm;
    let f = Feature::from_mercator(9, Geometry::Polygon(poly), vec![]);
    let mut got = 0.0;
    for t in [left, right] {
        let layers = one_layer(t, std::slice::from_ref(&f), &EncodeOptions::default());
        let feat = &layers[0].features[0];
        let G::Rings(rings) = geometry(feat).unwrap() else {
            panic!("not a polygon")
        };
        let polys = polygons(&rings);
        assert!(!polys.is_empty());
        for p in &polys {
            assert_polygon_valid(p);
            for r in p {
                for &(x, y) in r {
                    assert!((-64..=4160).contains(&x) && (-64..=4160).contains(&y));
                }
            }
        }
        // Area inside the unbuffered tile.
        let mp = MultiPolygon::new(
            polys
                .iter()
                .map(|p| {
                    let ring = |r: &common::Ring| {
                        LineString::from(
                            r.iter()
                                .map(|&(x, y)| (x as f64, y as f64))
                                .collect::<Vec<_>>(),
                        )
                    };
                    Polygon::new(ring(&p[0]), p[1..].iter().map(ring).collect())
                })
                .collect(),
        );
        let tile_rect = Rect::new((0.0, 0.0), (4096.0, 4096.0)).to_polygon();
        got += mp.intersection(&tile_rect).unsigned_area();
    }
    let rel = (got - want).abs() / want;
    assert!(rel < 0.01, "area {got} vs {want} ({rel})");
}

#[test]
fn clipping_a_big_concave_polygon_around_a_corner_stays_valid() {
    let t = TileCoord::new(16, 30_000, 20_000).unwrap();
    // Centred at the tile's top-left corner, far larger than the tile; the four tiles
    // meeting there each get valid pieces.
    let poly = star(t, 0.0, 0.0, 9000.0, 64);
    let f = Feature::from_mercator(1, Geometry::Polygon(poly), vec![]);
    for (dx, dy) in [(0, 0), (-1, 0), (0, -1), (-1, -1)] {
        let tt = TileCoord::new(16, (30_000 + dx) as u32, (20_000 + dy) as u32).unwrap();
        let layers = one_layer(tt, std::slice::from_ref(&f), &EncodeOptions::default());
        let G::Rings(rings) = geometry(&layers[0].features[0]).unwrap() else {
            panic!()
        };
        for p in polygons(&rings) {
            assert_polygon_valid(&p);
        }
    }
}

#[test]
fn properties_ids_and_several_layers() {
    let schema = Schema::new([
        ("name", FieldType::String),
        ("floors", FieldType::Int),
        ("height", FieldType::Double),
        ("public", FieldType::Bool),
    ]);
    let t = TileCoord::new(10, 500, 400).unwrap();
    let mk = |id: i64, props: Vec<PropValue>| {
        Feature::from_mercator(
            id,
            Geometry::Point(merc(t, 100.0 + id as f64, 200.0).into()),
            props,
        )
    };
    let a = [
        mk(
            1,
            vec!["school".into(), 3i64.into(), 12.5.into(), true.into()],
        ),
        mk(
            2,
            vec!["school".into(), (-4i64).into(), 12.5.into(), false.into()],
        ),
        mk(
            -3,
            vec![PropValue::Null, 3i64.into(), PropValue::Null, true.into()],
        ),
    ];
    let b = [mk(
        10,
        vec!["x".into(), 1i64.into(), 0.5.into(), false.into()],
    )];
    let (ia, ib) = (common::indexed(&a), common::indexed(&b));
    let (ra, rb): (Vec<FeatureRef<'_>>, Vec<FeatureRef<'_>>) =
        (ia.iter().collect(), ib.iter().collect());
    let only: &[&str] = &["name", "public"];
    let layers = [
        TileLayer {
            name: "buildings",
            schema: &schema,
            features: &ra,
            properties: None,
        },
        TileLayer {
            name: "pois",
            schema: &schema,
            features: &rb,
            properties: Some(only),
        },
    ];
    let out = encode_tile(t, &layers, &EncodeOptions::default()).unwrap();
    let dec = decode(&out.bytes);
    assert_eq!(dec.len(), 2);
    assert_eq!(
        (dec[0].name.as_str(), dec[1].name.as_str()),
        ("buildings", "pois")
    );
    let l = &dec[0];
    // Key/value tables are de-duplicated.
    let mut keys = l.keys.clone();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), l.keys.len());
    for (i, v) in l.values.iter().enumerate() {
        assert!(!l.values[..i].contains(v), "duplicate value {v:?}");
    }
    assert_eq!(l.keys.len(), 4);
    // Sorted by id: -3, 1, 2; negative ids are left out.
    assert_eq!(
        l.features.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![None, Some(1), Some(2)]
    );
    let p0 = props(l, &l.features[0]);
    assert_eq!(p0.len(), 2, "nulls are skipped: {p0:?}");
    let p1 = props(l, &l.features[1]);
    assert_eq!(p1["name"], Val::Str("school".into()));
    assert_eq!(p1["floors"], Val::U64(3));
    assert_eq!(p1["height"], Val::F64(12.5));
    assert_eq!(p1["public"], Val::Bool(true));
    assert_eq!(props(l, &l.features[2])["floors"], Val::S64(-4));
    let pb = props(&dec[1], &dec[1].features[0]);
    assert_eq!(pb.len(), 2);
    assert!(pb.contains_key("name") && pb.contains_key("public"));

    // Argument errors.
    let bad: &[&str] = &["nope"];
    let l1 = TileLayer {
        name: "x",
        schema: &schema,
        features: &ra,
        properties: Some(bad),
    };
    assert!(matches!(
        encode_tile(t, &[l1], &EncodeOptions::default()),
        Err(MvtError::UnknownProperty { .. })
    ));
    let dup = [layers[0], layers[0]];
    assert!(matches!(
        encode_tile(t, &dup, &EncodeOptions::default()),
        Err(MvtError::DuplicateLayerName(_))
    ));
    let opts = EncodeOptions {
        extent: 1000,
        ..EncodeOptions::default()
    };
    assert!(matches!(
        encode_tile(t, &layers, &opts),
        Err(MvtError::InvalidOptions(_))
    ));
    let opts = EncodeOptions {
        simplify_tolerance: f64::NAN,
        ..EncodeOptions::default()
    };
    assert!(encode_tile(t, &layers, &opts).is_err());
}

#[test]
fn simplification_small_feature_dropping_and_quantisation() {
    let t = TileCoord::new(15, 100, 100).unwrap();
    // 1000 vertices zig-zagging by 0.2 units: simplified to its two end points.
    let wiggly: Vec<(f64, f64)> = (0..1000)
        .map(|i| (100.0 + i as f64 * 2.0, 500.0 + (i % 2) as f64 * 0.2))
        .collect();
    let line = Feature::from_mercator(1, Geometry::LineString(ls(t, &wiggly)), vec![]);
    // Shorter than one unit: dropped.
    let short = Feature::from_mercator(
        2,
        Geometry::LineString(ls(t, &[(10.0, 10.0), (10.4, 10.3)])),
        vec![],
    );
    // Polygon of 0.5 × 0.5 units: dropped.
    let tiny = Feature::from_mercator(
        3,
        Geometry::Polygon(Polygon::new(
            ls(t, &[(50.0, 50.0), (50.5, 50.0), (50.5, 50.5), (50.0, 50.5)]),
            vec![],
        )),
        vec![],
    );
    // Points closer than a unit are never simplified away.
    let mp = Feature::from_mercator(
        4,
        Geometry::MultiPoint(MultiPoint::from(vec![
            merc(t, 7.0, 7.0),
            merc(t, 7.2, 7.0),
            merc(t, 9.0, 7.0),
        ])),
        vec![],
    );
    let layers = one_layer(t, &[line, short, tiny, mp], &EncodeOptions::default());
    let f = &layers[0].features;
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(
        geometry(&f[0]).unwrap(),
        G::Lines(vec![vec![(100, 500), (2098, 500)]])
    );
    assert_eq!(
        geometry(&f[1]).unwrap(),
        G::Points(vec![(7, 7), (7, 7), (9, 7)])
    );
    // Without simplification the line keeps every vertex that survives quantisation.
    let opts = EncodeOptions {
        simplify_tolerance: 0.0,
        ..EncodeOptions::default()
    };
    let line = Feature::from_mercator(1, Geometry::LineString(ls(t, &wiggly)), vec![]);
    let layers = one_layer(t, &[line], &opts);
    let G::Lines(parts) = geometry(&layers[0].features[0]).unwrap() else {
        panic!()
    };
    assert_eq!(parts[0].len(), 1000);
}

#[test]
fn hostile_input_never_panics() {
    let tiles = [
        TileCoord::new(0, 0, 0).unwrap(),
        TileCoord::new(5, 16, 10).unwrap(),
        TileCoord::new(24, 1 << 23, 1 << 23).unwrap(),
        TileCoord::with_max_zoom(30, (1 << 30) - 1, 0, 30).unwrap(),
    ];
    let c = |x: f64, y: f64| Coord { x, y };
    let geoms: Vec<Geometry<f64>> = vec![
        Geometry::Point(point!(x: f64::NAN, y: 0.0)),
        Geometry::Point(point!(x: f64::INFINITY, y: f64::NEG_INFINITY)),
        Geometry::Point(point!(x: 1e300, y: -1e300)),
        Geometry::LineString(LineString::new(vec![])),
        Geometry::LineString(LineString::new(vec![c(0.0, 0.0)])),
        Geometry::LineString(LineString::new(vec![c(-1e300, -1e300), c(1e300, 1e300)])),
        Geometry::LineString(LineString::new(vec![
            c(-1e308, 0.0),
            c(1e308, 1.0),
            c(f64::MAX, f64::MIN),
        ])),
        Geometry::Polygon(Polygon::new(LineString::new(vec![]), vec![])),
        Geometry::Polygon(Polygon::new(LineString::new(vec![c(1.0, 1.0); 5]), vec![])),
        Geometry::Polygon(Polygon::new(
            LineString::new(vec![c(0.0, 0.0), c(1e6, 1e6)]),
            vec![],
        )),
        Geometry::Polygon(Polygon::new(
            LineString::new(vec![c(0.0, 0.0), c(1e6, 1e6), c(2e6, 2e6), c(0.0, 0.0)]),
            vec![],
        )),
        Geometry::Polygon(Polygon::new(
            LineString::new(vec![
                c(-1e300, -1e300),
                c(1e300, -1e300),
                c(1e300, 1e300),
                c(-1e300, 1e300),
            ]),
            vec![LineString::new(vec![c(-1.0, -1.0), c(1.0, 1.0)])],
        )),
        // Bow-tie across the world.
        Geometry::Polygon(Polygon::new(
            LineString::new(vec![c(-H, -H), c(H, H), c(H, -H), c(-H, H)]),
            vec![],
        )),
        Geometry::MultiPoint(MultiPoint::new(vec![])),
        Geometry::MultiPolygon(MultiPolygon::new(vec![])),
        Geometry::GeometryCollection(GeometryCollection::new_from(vec![
            Geometry::Point(point!(x: 10.0, y: 10.0)),
            Geometry::LineString(LineString::new(vec![c(0.0, 0.0), c(1e7, 1e7)])),
            Geometry::Rect(Rect::new(c(-1e6, -1e6), c(1e6, 1e6))),
        ])),
    ];
    let feats: Vec<Feature> = geoms
        .into_iter()
        .enumerate()
        .map(|(i, g)| Feature::from_mercator(i as i64, g, vec![PropValue::Null]))
        .collect();
    let schema = Schema::new([("a", FieldType::Int)]);
    // Non-finite coordinates and coordinates beyond the world are refused by the
    // layer index with an error (so they never reach the encoder); the rest, degenerate
    // as they are, go through the encoder.
    let (ok, refused): (Vec<Feature>, Vec<Feature>) = feats
        .into_iter()
        .partition(|f| LayerIndex::build(schema.clone(), vec![f.clone()]).is_ok());
    let refused: Vec<i64> = refused.iter().map(|f| f.id).collect();
    assert_eq!(refused, [0, 1, 2, 5, 6, 11, 12]);
    let idx = LayerIndex::build(schema.clone(), ok).unwrap();
    let refs: Vec<FeatureRef<'_>> = idx.iter().collect();
    assert_eq!(refs.len(), 9);
    for t in tiles {
        for cap in [500_000, 40, 0] {
            let opts = EncodeOptions {
                max_tile_bytes: cap,
                ..EncodeOptions::default()
            };
            let layer = TileLayer {
                name: "x",
                schema: &schema,
                features: &refs,
                properties: None,
            };
            let out = encode_tile(t, &[layer], &opts).unwrap();
            assert!(out.bytes.len() <= cap);
            for l in decode(&out.bytes) {
                for f in &l.features {
                    let g = geometry(f).unwrap_or_else(|e| panic!("{t}: {e}"));
                    if let G::Rings(r) = g {
                        for p in polygons(&r) {
                            assert_polygon_valid(&p);
                        }
                    }
                }
            }
        }
    }
    // Empty input: empty tile.
    let schema = Schema::default();
    let layer = TileLayer {
        name: "x",
        schema: &schema,
        features: &[],
        properties: None,
    };
    let out = encode_tile(tiles[0], &[layer], &EncodeOptions::default()).unwrap();
    assert!(out.bytes.is_empty() && out.features == 0);
}

#[test]
fn polygon_thinning_is_capped_and_order_independent() {
    let t = TileCoord::new(13, 4000, 3000).unwrap();
    let mut feats = Vec::new();
    let mut s = 7u64;
    for id in 0..4000i64 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let x = (s >> 33) as f64 % 4000.0;
        let y = (s >> 13) as f64 % 4000.0;
        let w = 3.0 + (id % 40) as f64;
        let ring = ls(t, &[(x, y), (x + w, y), (x + w, y + w), (x, y + w)]);
        feats.push(Feature::from_mercator(
            id,
            Geometry::Polygon(Polygon::new(ring, vec![])),
            vec![],
        ));
    }
    let opts = EncodeOptions {
        max_tile_bytes: 20_000,
        ..EncodeOptions::default()
    };
    let schema = Schema::default();
    let encode = |refs: &[FeatureRef<'_>]| {
        let layer = TileLayer {
            name: "b",
            schema: &schema,
            features: refs,
            properties: None,
        };
        encode_tile(t, &[layer], &opts).unwrap()
    };
    let idx = common::indexed(&feats);
    let mut refs: Vec<FeatureRef<'_>> = idx.iter().collect();
    let a = encode(&refs);
    assert!(
        a.level > 0 && a.bytes.len() <= 20_000 && a.features > 0,
        "{} {}",
        a.level,
        a.bytes.len()
    );
    refs.reverse();
    refs.rotate_left(1234);
    assert_eq!(encode(&refs), a);
    // The survivors are the largest polygons.
    let dec = decode(&a.bytes);
    for f in &dec[0].features {
        let G::Rings(r) = geometry(f).unwrap() else {
            panic!()
        };
        assert!(area2(&r[0]) > 0);
    }
    let _ = query_bounds(t, &opts);
}

//! The MVT decoder of `citygrid_tiles::decode` as the tests use it (panicking on
//! malformed tiles), and geometry validity checks.
#![allow(dead_code)]

use std::collections::HashMap;

use citygrid_tiles::decode;
pub use citygrid_tiles::decode::{
    area2, geometry, Feature as Feat, Geometry as G, Layer, Ring, Value as Val,
};
use citygrid_tiles::index::{Feature, LayerIndex};
use citygrid_tiles::schema::{FieldType, Schema};

/// Features as a layer index holds them (a field per value, named `f0`, `f1`, …),
/// for `TileLayer::features`: `indexed(&feats).iter().collect()`.
pub fn indexed(feats: &[Feature]) -> LayerIndex {
    let n = feats.first().map_or(0, |f| f.props.len());
    let schema = Schema::new((0..n).map(|i| (format!("f{i}"), FieldType::String)));
    LayerIndex::build(schema, feats.to_vec()).expect("test features make a layer")
}

/// Decodes a tile; panics on malformed protobuf.
pub fn decode(bytes: &[u8]) -> Vec<Layer> {
    decode::decode(bytes).unwrap_or_else(|e| panic!("malformed tile: {e}"))
}

/// The properties of a feature, checking the tag structure.
pub fn props(l: &Layer, f: &Feat) -> HashMap<String, Val> {
    assert_eq!(f.tags.len() % 2, 0, "tags come in pairs");
    let mut m = HashMap::new();
    for (k, v) in l.props(f).unwrap_or_else(|e| panic!("{e}")) {
        assert!(m.insert(k, v).is_none(), "duplicate key in one feature");
    }
    m
}

/// Groups rings into polygons by winding (exterior > 0 starts a polygon).
pub fn polygons(rings: &[Ring]) -> Vec<Vec<Ring>> {
    decode::polygons(rings).unwrap_or_else(|e| panic!("{e}"))
}

fn orient(a: (i64, i64), b: (i64, i64), c: (i64, i64)) -> i128 {
    i128::from(b.0 - a.0) * i128::from(c.1 - a.1) - i128::from(b.1 - a.1) * i128::from(c.0 - a.0)
}

/// True when the two closed segments cross at a point interior to both (proper
/// crossing) or overlap collinearly over a positive length.
pub fn bad_intersection(a: (i64, i64), b: (i64, i64), c: (i64, i64), d: (i64, i64)) -> bool {
    let (d1, d2, d3, d4) = (
        orient(c, d, a),
        orient(c, d, b),
        orient(a, b, c),
        orient(a, b, d),
    );
    if d1.signum() * d2.signum() < 0 && d3.signum() * d4.signum() < 0 {
        return true;
    }
    if d1 == 0 && d2 == 0 {
        // Collinear: overlap length along the dominant axis.
        let key = |p: (i64, i64)| if a.0 != b.0 { p.0 } else { p.1 };
        let (lo1, hi1) = (key(a).min(key(b)), key(a).max(key(b)));
        let (lo2, hi2) = (key(c).min(key(d)), key(c).max(key(d)));
        return lo1.max(lo2) < hi1.min(hi2);
    }
    false
}

/// OGC-style validity on the integer grid: every ring has ≥ 3 distinct vertices and
/// non-zero area; no two edges of the polygon (within or across rings) cross properly
/// or overlap. (Touching at vertices is allowed.)
pub fn assert_polygon_valid(poly: &[Ring]) {
    let mut edges = Vec::new();
    for r in poly {
        assert!(r.len() >= 3);
        assert_ne!(area2(r), 0);
        for i in 0..r.len() {
            edges.push((r[i], r[(i + 1) % r.len()]));
        }
    }
    for i in 0..edges.len() {
        for j in (i + 1)..edges.len() {
            let (a, b) = edges[i];
            let (c, d) = edges[j];
            assert!(
                !bad_intersection(a, b, c, d),
                "edges {a:?}-{b:?} and {c:?}-{d:?} intersect"
            );
        }
    }
}

//! MVT encoder (`tiles/src/mvt`, `encode_tile`) on random geometry: points, lines,
//! polygons, multi-geometries and collections with coordinates inside the tile,
//! anywhere in the world, huge, NaN or infinite, empty rings and parts, several
//! layers with random properties and a random size cap, at random tile
//! coordinates and encoder options. Invalid options are refused with an error;
//! otherwise the tile decodes as valid MVT 2.1 (see `citygrid_fuzz::mvtcheck`),
//! respects the size cap, reports the number of features written, carries only
//! ids of the input features (none for negative ids) and is the same whatever the input order.
#![no_main]

use arbitrary::Arbitrary;
use citygrid_fuzz::mvtcheck;
use citygrid_tiles::index::{Feature, FeatureRef, LayerIndex};
use citygrid_tiles::mvt::{encode_tile, EncodeOptions, MvtError, TileLayer};
use citygrid_tiles::schema::{FieldType, PropValue, Schema};
use citygrid_geo::tms::TileCoord;
use geo::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum C {
    /// Tile-relative, in 1/256 of the tile, from a bit outside to a bit beyond.
    InTile(i16, i16),
    /// Raw Web Mercator metres (any f64, NaN and infinities included).
    Raw(f64, f64),
    /// One of the troublesome values on each axis.
    Special(u8, u8),
}

#[derive(Arbitrary, Debug)]
enum G {
    Point(C),
    Line(Vec<C>),
    Polygon(Vec<Vec<C>>),
    MultiPoint(Vec<C>),
    MultiLine(Vec<Vec<C>>),
    MultiPolygon(Vec<Vec<Vec<C>>>),
    Collection(Vec<G>),
}

#[derive(Arbitrary, Debug)]
enum P {
    Null,
    Text(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

#[derive(Arbitrary, Debug)]
struct F {
    id: i64,
    geom: G,
    props: [P; 2],
}

#[derive(Arbitrary, Debug)]
struct L {
    name: u8,
    only_first_property: bool,
    features: Vec<F>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    z: u8,
    x: u32,
    y: u32,
    extent_log2: u8,
    buffer: u16,
    simplify: f64,
    min_size: f64,
    cap: Option<u32>,
    layers: Vec<L>,
}

const SPECIAL: [f64; 10] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MAX,
    f64::MIN,
    0.0,
    -0.0,
    20_037_508.342_789_244,
    -20_037_508.342_789_244,
    1e-300,
];

struct Ctx {
    min_x: f64,
    max_y: f64,
    span: f64,
}

impl Ctx {
    fn c(&self, c: &C) -> Coord<f64> {
        match c {
            C::InTile(i, j) => Coord {
                x: self.min_x + f64::from(*i) / 256.0 * self.span,
                y: self.max_y - f64::from(*j) / 256.0 * self.span,
            },
            C::Raw(x, y) => Coord { x: *x, y: *y },
            C::Special(a, b) => Coord {
                x: SPECIAL[usize::from(*a) % SPECIAL.len()],
                y: SPECIAL[usize::from(*b) % SPECIAL.len()],
            },
        }
    }
    fn line(&self, cs: &[C]) -> LineString<f64> {
        LineString(cs.iter().map(|c| self.c(c)).collect())
    }
    fn polygon(&self, rings: &[Vec<C>]) -> Polygon<f64> {
        match rings.split_first() {
            None => Polygon::new(LineString(vec![]), vec![]),
            Some((ext, holes)) => {
                Polygon::new(self.line(ext), holes.iter().map(|h| self.line(h)).collect())
            }
        }
    }
    fn geom(&self, g: &G, depth: usize) -> Geometry<f64> {
        match g {
            G::Point(c) => Geometry::Point(Point(self.c(c))),
            G::Line(cs) => Geometry::LineString(self.line(cs)),
            G::Polygon(r) => Geometry::Polygon(self.polygon(r)),
            G::MultiPoint(cs) => {
                Geometry::MultiPoint(MultiPoint(cs.iter().map(|c| Point(self.c(c))).collect()))
            }
            G::MultiLine(ls) => Geometry::MultiLineString(MultiLineString(
                ls.iter().map(|l| self.line(l)).collect(),
            )),
            G::MultiPolygon(ps) => {
                Geometry::MultiPolygon(MultiPolygon(ps.iter().map(|p| self.polygon(p)).collect()))
            }
            G::Collection(gs) if depth < 4 => Geometry::GeometryCollection(GeometryCollection(
                gs.iter().map(|g| self.geom(g, depth + 1)).collect(),
            )),
            G::Collection(_) => Geometry::GeometryCollection(GeometryCollection(vec![])),
        }
    }
}

fn prop(p: &P) -> PropValue {
    match p {
        P::Null => PropValue::Null,
        P::Text(s) => PropValue::from(s.as_str()),
        P::Int(i) => PropValue::Int(*i),
        P::Double(d) => PropValue::Double(*d),
        P::Bool(b) => PropValue::Bool(*b),
    }
}

const NAMES: [&str; 3] = ["roads", "pois", "grids"];

fuzz_target!(|input: Input| {
    let z = input.z % 25;
    let limit = 1u64 << z;
    let tile = TileCoord::new(
        z,
        (u64::from(input.x) % limit) as u32,
        (u64::from(input.y) % limit) as u32,
    )
    .expect("tile in range");
    let opts = EncodeOptions {
        // Mostly valid extents (16..=65536), sometimes invalid ones.
        extent: 1u32
            .checked_shl(u32::from(input.extent_log2 % 22))
            .unwrap_or(0),
        buffer: u32::from(input.buffer % 600),
        simplify_tolerance: input.simplify,
        min_feature_size: input.min_size,
        max_tile_bytes: input.cap.map_or(500_000, |c| (c % 20_000) as usize),
    };
    let b = tile.bounds();
    let ctx = Ctx {
        min_x: b.min_x,
        max_y: b.max_y,
        span: b.max_x - b.min_x,
    };
    let schema = Schema::new([("name", FieldType::String), ("v", FieldType::Double)]);
    let mut layers_features: Vec<(&str, bool, Vec<Feature>)> = Vec::new();
    for l in input.layers.iter().take(3) {
        // Ids are unique within a layer (they are the table's primary key).
        let mut seen = std::collections::HashSet::new();
        // What the layer index refuses (non-finite coordinates, beyond the world)
        // never reaches the encoder.
        let features = l
            .features
            .iter()
            .take(64)
            .filter(|f| seen.insert(f.id))
            .map(|f| {
                Feature::from_mercator(
                    f.id,
                    ctx.geom(&f.geom, 0),
                    f.props
                        .iter()
                        .map(prop)
                        .chain(std::iter::repeat(PropValue::Null))
                        .take(schema.len())
                        .collect(),
                )
            })
            .filter(|f| LayerIndex::build(schema.clone(), vec![f.clone()]).is_ok())
            .collect();
        layers_features.push((
            NAMES[usize::from(l.name) % NAMES.len()],
            l.only_first_property,
            features,
        ));
    }
    let only_name: [&str; 1] = ["name"];
    let indexes: Vec<LayerIndex> = layers_features
        .iter()
        .map(|(_, _, f)| LayerIndex::build(schema.clone(), f.clone()).expect("checked features"))
        .collect();
    let refs: Vec<Vec<FeatureRef<'_>>> = indexes.iter().map(|i| i.iter().collect()).collect();
    let layers: Vec<TileLayer<'_>> = layers_features
        .iter()
        .zip(&refs)
        .map(|((name, first, _), features)| TileLayer {
            name,
            schema: &schema,
            features,
            properties: first.then_some(&only_name[..]),
        })
        .collect();
    let out = match encode_tile(tile, &layers, &opts) {
        Ok(out) => out,
        Err(MvtError::InvalidOptions(_)) => {
            let valid_extent =
                opts.extent.is_power_of_two() && (16..=1 << 20).contains(&opts.extent);
            assert!(
                !valid_extent
                    || opts.buffer > opts.extent
                    || !(opts.simplify_tolerance >= 0.0 && opts.simplify_tolerance.is_finite())
                    || !(opts.min_feature_size >= 0.0 && opts.min_feature_size.is_finite()),
                "valid options refused: {opts:?}"
            );
            return;
        }
        Err(MvtError::DuplicateLayerName(n)) => {
            assert!(layers.iter().filter(|l| l.name == n).count() > 1);
            return;
        }
        Err(e) => panic!("unexpected error {e}"),
    };
    assert!(
        out.bytes.len() <= opts.max_tile_bytes,
        "{} bytes over the cap of {}",
        out.bytes.len(),
        opts.max_tile_bytes
    );
    if out.bytes.is_empty() {
        assert_eq!(out.features, 0);
        return;
    }
    let summary = mvtcheck::check(&out.bytes, opts.extent, opts.buffer)
        .unwrap_or_else(|e| panic!("invalid MVT: {e}"));
    assert_eq!(summary.features, out.features);
    let any_negative = layers_features
        .iter()
        .flat_map(|(_, _, f)| f)
        .any(|f| f.id < 0);
    for id in &summary.ids {
        // Negative ids are left out of the tile (MVT ids are unsigned).
        let Some(id) = *id else {
            assert!(
                any_negative,
                "a feature without id, but no input id is negative"
            );
            continue;
        };
        let known = layers_features
            .iter()
            .flat_map(|(_, _, f)| f)
            .any(|f| f.id >= 0 && f.id as u64 == id);
        assert!(known, "id {id} is not a non-negative input id");
    }
    // The same features in reverse order give the same tile.
    let reversed: Vec<Vec<FeatureRef<'_>>> = refs
        .iter()
        .map(|r| r.iter().rev().copied().collect())
        .collect();
    let layers_rev: Vec<TileLayer<'_>> = layers
        .iter()
        .zip(&reversed)
        .map(|(l, features)| TileLayer { features, ..*l })
        .collect();
    let again = encode_tile(tile, &layers_rev, &opts).expect("encodes again");
    assert_eq!(again, out, "the tile depends on the input order");
});

//! The native OSM reader (`importers/src/osm/pbf.rs` and `osm/ogr_layers/`).
//!
//! The first byte picks the half:
//! - even: the input (after it) is handed to the `.osm.pbf` decoder as a file; it
//!   must return data or a one-line error, never panic or allocate without bound;
//! - odd: the input is read as a small extract — nodes, ways and relations with ids
//!   from a narrow range (so ways and relations do reference each other, also in
//!   cycles and with missing members) and tags from the vocabulary the layer rules
//!   look at — and the five layers of GDAL's OSM driver are built from it. Every
//!   feature must carry one value per field, and its WKB must decode (geozero) to
//!   finite coordinates of its layer's type.
#![no_main]

use arbitrary::Unstructured;
use citygrid_importers::geometry::GeomType;
use citygrid_importers::osm::ogr_layers::build_layers;
use citygrid_importers::osm::pbf::{self, Member, MemberType, Node, OsmData, Relation, Way};
use geo::{CoordsIter, Geometry};
use geozero::wkb::Wkb;
use geozero::ToGeo;
use libfuzzer_sys::fuzz_target;

const KEYS: &[&str] = &[
    "type", "area", "building", "highway", "name", "natural", "landuse", "waterway",
    "route", "boundary", "layer", "bridge", "tunnel", "railway", "amenity", "source",
    "note", "created_by", "osm_id", "a\"b\\c",
];
const VALUES: &[&str] = &[
    "multipolygon", "boundary", "route", "multilinestring", "yes", "no", "water",
    "residential", "primary", "motorway", "1", "-3", "x7", "outer", "inner", "",
    "subarea", "a\"b\\c", "波止場",
];
const ROLES: &[&str] = &["outer", "inner", "", "subarea", "admin_centre"];

fn pick<'a>(u: &mut Unstructured, from: &[&'a str]) -> arbitrary::Result<&'a str> {
    Ok(from[usize::from(u.arbitrary::<u8>()?) % from.len()])
}

fn tags(u: &mut Unstructured) -> arbitrary::Result<pbf::TagList> {
    let n = u.int_in_range(0..=4)?;
    (0..n)
        .map(|_| Ok((pick(u, KEYS)?.into(), pick(u, VALUES)?.into())))
        .collect()
}

fn extract(u: &mut Unstructured) -> arbitrary::Result<OsmData> {
    let mut nodes = Vec::new();
    for _ in 0..u.int_in_range(0..=40)? {
        // A coarse grid, so that ways close, touch and cross.
        let (x, y): (i8, i8) = (u.arbitrary()?, u.arbitrary()?);
        nodes.push(Node {
            id: i64::from(u.int_in_range(1u8..=60)?),
            lon: f64::from(x) * 1e-3,
            lat: f64::from(y) * 1e-3,
            tags: tags(u)?,
        });
    }
    let mut ways = Vec::new();
    for _ in 0..u.int_in_range(0..=20)? {
        let refs = (0..u.int_in_range(0..=8)?)
            .map(|_| Ok(i64::from(u.int_in_range(1u8..=64)?)))
            .collect::<arbitrary::Result<Vec<i64>>>()?;
        ways.push(Way {
            id: i64::from(u.int_in_range(1u8..=24)?),
            refs,
            tags: tags(u)?,
        });
    }
    let mut relations = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        let members = (0..u.int_in_range(0..=6)?)
            .map(|_| {
                let kind = match u.int_in_range(0u8..=4)? {
                    0 => MemberType::Node,
                    1 => MemberType::Relation,
                    _ => MemberType::Way,
                };
                Ok(Member {
                    kind,
                    id: i64::from(u.int_in_range(1u8..=24)?),
                    role: pick(u, ROLES)?.into(),
                })
            })
            .collect::<arbitrary::Result<Vec<Member>>>()?;
        relations.push(Relation {
            id: i64::from(u.int_in_range(1u8..=10)?),
            members,
            tags: tags(u)?,
        });
    }
    Ok(OsmData::from_parts(nodes, ways, relations))
}

fn allowed(layer: GeomType, g: &Geometry<f64>) -> bool {
    matches!(
        (layer, g),
        (GeomType::Point, Geometry::Point(_))
            | (GeomType::LineString, Geometry::LineString(_))
            | (GeomType::MultiLineString, Geometry::MultiLineString(_))
            | (GeomType::MultiPolygon, Geometry::MultiPolygon(_))
            | (GeomType::GeometryCollection, Geometry::GeometryCollection(_))
    )
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Err(e) = pbf::read_bytes(data) {
            assert!(!e.is_empty() && !e.contains('\n'), "{e:?}");
        }
        return;
    }
    let Ok(osm) = extract(&mut Unstructured::new(data)) else {
        return;
    };
    for layer in build_layers(&osm) {
        for f in &layer.features {
            assert_eq!(f.values.len(), layer.fields.len(), "{}", layer.name);
            if f.wkb.is_empty() {
                continue;
            }
            let g = Wkb(f.wkb.clone())
                .to_geo()
                .unwrap_or_else(|e| panic!("{}: WKB does not decode: {e}", layer.name));
            assert!(allowed(layer.geometry, &g), "{}: {g:?}", layer.name);
            assert!(g.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()));
        }
    }
});

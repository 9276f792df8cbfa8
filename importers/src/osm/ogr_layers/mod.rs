//! The five layers of GDAL's OSM driver (points, lines, multilinestrings,
//! multipolygons, other_relations), built natively from [`super::pbf::OsmData`]
//! exactly as GDAL 3.6.2 returns them with its default `osmconf.ini` and default
//! open options (same fields, features, attribute values, geometries and order).
//!
//! What the driver does, reproduced here (ogrosmdatasource.cpp, ogrosmlayer.cpp):
//!
//! - **points**: tagged nodes with at least one key outside the `unsignificant`
//!   list of `[points]`; the node's own coordinates.
//! - ways: a way of fewer than 2 node references is dropped. A closed way is an
//!   area when `closed_ways_are_polygons` says so (`area=yes/no` decides first).
//!   Node positions are stored as integers of 1e-7 degree (`DBL_TO_INT`, read back
//!   as `INT_TO_DBL`); missing nodes (and nodes at exactly 0,0 or with a negative
//!   id, which the driver's index cannot hold) are skipped, and a way left with
//!   fewer than 2 positions is dropped. An area is closed again on its first found
//!   node.
//! - **lines**: every way that is not an area and has a tag.
//! - **multipolygons**: relations `type=multipolygon|boundary` (all their way
//!   members except role `subarea` must exist, else the relation is dropped; closed
//!   members are rings, the others are joined end to end; rings then nested by
//!   `organizePolygons`), in file order; a relation with no tag but `type` (and
//!   `created_by`) takes the tags of its first `outer` area way ("old style").
//!   Then the area ways with a tag (after dropping `area`, `created_by`,
//!   `converted_by`, `note`, `todo`, `fixme`, `FIXME`), by increasing way id,
//!   except those that are the closed `outer` member of such a relation; they get
//!   `osm_way_id` instead of `osm_id`.
//! - **multilinestrings**: relations `type=multilinestring|route`: their ways.
//! - **other_relations**: the other relations: their nodes and ways (areas as
//!   polygons), as a geometry collection; nested relations are left out.
//!
//! Attributes follow `SetFieldsFromTags` (see [`config`]). The work is spread on
//! the rayon pool per element, keeping the order.

mod config;
mod rings;
#[cfg(test)]
mod tests;
mod wkb;

use std::collections::HashSet;

use rayon::prelude::*;

use crate::geometry::GeomType;
use crate::osm::pbf::{MemberType, OsmData, Relation, Role, Way};
use config::Schema;
use rings::Path;
use wkb::int_to_dbl;

/// Attribute type, as GDAL declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OgrFieldType {
    /// OFTString.
    Text,
    /// OFTInteger (`z_order`).
    Integer,
}

/// A field of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OgrField {
    /// Field name.
    pub name: &'static str,
    /// Field type.
    pub field_type: OgrFieldType,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OgrValue {
    /// A string.
    Text(String),
    /// An integer.
    Integer(i64),
}

/// A feature.
#[derive(Debug, Clone, PartialEq)]
pub struct OgrFeature {
    /// ISO WKB, little endian, 2D (exactly the geometry GDAL returns for the feature).
    pub wkb: Vec<u8>,
    /// One entry per field of the layer (None = NULL / unset), in field order.
    pub values: Vec<Option<OgrValue>>,
}

/// A layer.
#[derive(Debug, Clone)]
pub struct OgrLayer {
    /// "points", "lines", "multilinestrings", "multipolygons", "other_relations".
    pub name: &'static str,
    /// Point, LineString, MultiLineString, MultiPolygon, GeometryCollection.
    pub geometry: GeomType,
    /// Same names, order and types as `ogrinfo -so file.osm.pbf <layer>` shows.
    pub fields: Vec<OgrField>,
    /// Same order as GDAL returns them.
    pub features: Vec<OgrFeature>,
}

const POINTS: usize = 0;
const LINES: usize = 1;
const MULTILINESTRINGS: usize = 2;
const MULTIPOLYGONS: usize = 3;
const OTHER_RELATIONS: usize = 4;

/// The order in which [`build_layers_each`] hands the layers out (indexes in GDAL's
/// order): points, lines, then the layers that need the relations.
pub const EMIT_ORDER: [usize; 5] = [
    POINTS,
    LINES,
    MULTIPOLYGONS,
    OTHER_RELATIONS,
    MULTILINESTRINGS,
];

/// Longest tag list the driver keeps for an area way (`MAX_COUNT_FOR_TAGS_IN_WAY`).
const MAX_TAGS_IN_WAY: usize = 255;

/// A way as the driver indexes it.
struct IndexedWay<'a> {
    id: i64,
    /// Positions in 1e-7 degree.
    coords: Vec<(i32, i32)>,
    is_area: bool,
    /// Tags kept for an area (early-ignored keys dropped); empty otherwise.
    tags: Vec<(&'a str, &'a str)>,
}

/// `DBL_TO_INT`.
fn dbl_to_int(x: f64) -> i32 {
    (x * 1.0e7 + 0.5).floor() as i32
}

fn to_path(coords: &[(i32, i32)]) -> Path {
    coords
        .iter()
        .map(|&(x, y)| (int_to_dbl(x), int_to_dbl(y)))
        .collect()
}

/// A node's indexed position, as the driver's node index returns it.
fn lookup_node(data: &OsmData, id: i64) -> Option<(i32, i32)> {
    if id < 0 {
        return None;
    }
    let (lon, lat) = data.node(id)?;
    let c = (dbl_to_int(lon), dbl_to_int(lat));
    (c != (0, 0)).then_some(c)
}

fn tag_refs(tags: &[crate::osm::pbf::Tag]) -> impl Iterator<Item = (&str, &str)> + Clone {
    tags.iter().map(|(k, v)| (&**k, &**v))
}

/// The five layers in GDAL's order (points, lines, multilinestrings, multipolygons,
/// other_relations).
pub fn build_layers(data: &OsmData) -> Vec<OgrLayer> {
    let mut layers: Vec<(usize, OgrLayer)> = Vec::with_capacity(5);
    build_layers_each(data, &mut |i, layer| layers.push((i, layer)));
    layers.sort_by_key(|(i, _)| *i);
    layers.into_iter().map(|(_, l)| l).collect()
}

/// What [`build_layers`] returns, but without the features: the layers' names,
/// fields and geometry types in GDAL's order.
pub fn layer_shapes() -> Vec<OgrLayer> {
    config::schemas()
        .iter()
        .zip(GEOMETRIES)
        .map(|(s, geometry)| OgrLayer {
            name: s.name,
            geometry,
            fields: s.ogr_fields(),
            features: Vec::new(),
        })
        .collect()
}

const GEOMETRIES: [GeomType; 5] = [
    GeomType::Point,
    GeomType::LineString,
    GeomType::MultiLineString,
    GeomType::MultiPolygon,
    GeomType::GeometryCollection,
];

/// Builds the five layers and hands each to `emit` (with its index in GDAL's order)
/// as soon as it is complete: points first, then lines, then the layers that need
/// the relations — so a caller can start writing the first ones meanwhile.
pub fn build_layers_each(data: &OsmData, emit: &mut dyn FnMut(usize, OgrLayer)) {
    let schemas = config::schemas();
    let mut shapes = layer_shapes().into_iter().map(Some).collect::<Vec<_>>();
    let mut send = |i: usize, features: Vec<OgrFeature>| {
        if let Some(mut layer) = shapes.get_mut(i).and_then(Option::take) {
            layer.features = features;
            emit(i, layer);
        }
    };

    let points: Vec<OgrFeature> = data
        .tagged_nodes
        .par_iter()
        .filter(|n| {
            n.tags
                .iter()
                .any(|(k, _)| schemas[POINTS].is_significant(k))
        })
        .map(|n| {
            let mut w = Vec::with_capacity(21);
            wkb::point(&mut w, (n.lon, n.lat));
            OgrFeature {
                wkb: w,
                values: schemas[POINTS].values(n.id, false, tag_refs(&n.tags)),
            }
        })
        .collect();
    send(POINTS, points);

    let indexed: Vec<(Option<IndexedWay>, Option<OgrFeature>)> = data
        .ways
        .par_iter()
        .map(|w| index_way(data, w, &schemas[LINES]))
        .collect();
    let mut lines = Vec::new();
    let mut ways = Vec::new();
    for (way, line) in indexed {
        lines.extend(line);
        ways.extend(way);
    }
    send(LINES, lines);
    let index = WayIndex::new(&ways);

    let relations: Vec<(usize, Option<OgrFeature>, Vec<i64>)> = data
        .relations
        .par_iter()
        .map(|r| relation(data, r, &index, &schemas))
        .collect();
    let mut by_layer: [Vec<OgrFeature>; 5] = Default::default();
    let mut outer_ways: HashSet<i64> = HashSet::new();
    for (layer, feature, outers) in relations {
        by_layer[layer].extend(feature);
        outer_ways.extend(outers);
    }

    let mut standalone: Vec<&IndexedWay> = index
        .sorted
        .iter()
        .map(|&(_, i)| &ways[i])
        .filter(|w| w.is_area && !w.tags.is_empty() && !outer_ways.contains(&w.id))
        .collect();
    standalone.sort_by_key(|w| w.id);
    let areas: Vec<OgrFeature> = standalone
        .par_iter()
        .map(|w| {
            let mut out = Vec::with_capacity(22 + 16 * w.coords.len());
            wkb::int_single_multi_polygon(&mut out, &w.coords);
            OgrFeature {
                wkb: out,
                values: schemas[MULTIPOLYGONS].values(w.id, true, w.tags.iter().copied()),
            }
        })
        .collect();
    by_layer[MULTIPOLYGONS].extend(areas);
    for &i in &EMIT_ORDER[2..] {
        send(i, std::mem::take(&mut by_layer[i]));
    }
}

/// `NotifyWay` + `ProcessWaysBatch`: the indexed way and its `lines` feature.
fn index_way<'a>(
    data: &OsmData,
    way: &'a Way,
    lines: &Schema,
) -> (Option<IndexedWay<'a>>, Option<OgrFeature>) {
    let refs = &way.refs;
    if refs.len() < 2 {
        return (None, None);
    }
    let is_area = refs[0] == refs[refs.len() - 1] && config::closed_way_is_area(&way.tags);
    let n = refs.len() - usize::from(is_area);
    let mut coords: Vec<(i32, i32)> = refs[..n]
        .iter()
        .filter_map(|&id| lookup_node(data, id))
        .collect();
    if is_area {
        if let Some(&first) = coords.first() {
            coords.push(first);
        }
    }
    if coords.len() < 2 {
        return (None, None);
    }
    let line = (!is_area && way.tags.iter().any(|(k, _)| lines.is_significant(k))).then(|| {
        let mut out = Vec::with_capacity(9 + 16 * coords.len());
        wkb::int_line(&mut out, &coords);
        OgrFeature {
            wkb: out,
            values: lines.values(way.id, false, tag_refs(&way.tags)),
        }
    });
    let tags = if is_area {
        tag_refs(&way.tags)
            .filter(|(k, _)| !config::EARLY_IGNORED_WAY_KEYS.contains(k))
            .take(MAX_TAGS_IN_WAY)
            .collect()
    } else {
        Vec::new()
    };
    let indexed = IndexedWay {
        id: way.id,
        coords,
        is_area,
        tags,
    };
    (Some(indexed), line)
}

/// The driver's way index: ids sorted, the first of duplicates kept.
struct WayIndex<'w, 'a> {
    ways: &'w [IndexedWay<'a>],
    sorted: Vec<(i64, usize)>,
}

impl<'w, 'a> WayIndex<'w, 'a> {
    fn new(ways: &'w [IndexedWay<'a>]) -> Self {
        let mut sorted: Vec<(i64, usize)> =
            ways.iter().enumerate().map(|(i, w)| (w.id, i)).collect();
        sorted.par_sort_unstable();
        sorted.dedup_by_key(|(id, _)| *id);
        WayIndex { ways, sorted }
    }

    fn get(&self, id: i64) -> Option<&'w IndexedWay<'a>> {
        let i = self.sorted.binary_search_by_key(&id, |&(id, _)| id).ok()?;
        Some(&self.ways[self.sorted[i].1])
    }
}

/// `NotifyRelation`: the layer, the feature (if any) and the closed `outer` ways
/// that are no longer reported on their own.
fn relation(
    data: &OsmData,
    rel: &Relation,
    index: &WayIndex,
    schemas: &[Schema; 5],
) -> (usize, Option<OgrFeature>, Vec<i64>) {
    let mut multipolygon = false;
    let mut multiline = false;
    let mut interesting = false;
    let mut type_value: Option<&str> = None;
    for (k, v) in &rel.tags {
        let (k, v): (&str, &str) = (k, v);
        if k == "type" {
            type_value = Some(v);
            if v == "multipolygon" || v == "boundary" {
                multipolygon = true;
            } else if v == "multilinestring" || v == "route" {
                multiline = true;
            }
        } else if k != "created_by" {
            interesting = true;
        }
    }
    if multipolygon {
        let Some((polys, outers, extra)) = multipolygon_geometry(rel, index, !interesting) else {
            return (MULTIPOLYGONS, None, Vec::new());
        };
        let schema = &schemas[MULTIPOLYGONS];
        let values = if interesting {
            schema.values(rel.id, false, tag_refs(&rel.tags))
        } else {
            let type_tag = ("type", type_value.unwrap_or_default());
            schema.values(
                rel.id,
                false,
                extra.iter().copied().chain(std::iter::once(type_tag)),
            )
        };
        let feature = polys.map(|polys| {
            let mut out = Vec::new();
            wkb::multi_polygon(&mut out, &polys);
            OgrFeature { wkb: out, values }
        });
        return (MULTIPOLYGONS, feature, outers);
    }
    let layer = if multiline {
        MULTILINESTRINGS
    } else {
        OTHER_RELATIONS
    };
    let mut parts: Vec<wkb::Part> = Vec::new();
    for m in &rel.members {
        match m.kind {
            MemberType::Node if !multiline => {
                if let Some((x, y)) = lookup_node(data, m.id) {
                    parts.push(wkb::Part::Point((int_to_dbl(x), int_to_dbl(y))));
                }
            }
            MemberType::Way if m.role != Role::Subarea => {
                if let Some(w) = index.get(m.id) {
                    parts.push(if w.is_area && !multiline {
                        wkb::Part::Polygon(&w.coords)
                    } else {
                        wkb::Part::Line(&w.coords)
                    });
                }
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        return (layer, None, Vec::new());
    }
    let mut out = Vec::new();
    if multiline {
        let lines: Vec<&wkb::IntPath> = parts
            .into_iter()
            .filter_map(|p| match p {
                wkb::Part::Line(l) => Some(l),
                _ => None,
            })
            .collect();
        wkb::int_multi_line(&mut out, &lines);
    } else {
        wkb::collection(&mut out, &parts);
    }
    let values = schemas[layer].values(rel.id, false, tag_refs(&rel.tags));
    (layer, Some(OgrFeature { wkb: out, values }), Vec::new())
}

/// The tags an "old style" multipolygon takes from its ways.
type ExtraTags<'a> = Vec<(&'a str, &'a str)>;

/// What [`multipolygon_geometry`] gives.
type MultiPolygonParts<'a> = (Option<Vec<Vec<Path>>>, Vec<i64>, ExtraTags<'a>);

/// `BuildMultiPolygon`: `None` when a way member is missing (the relation is
/// dropped); else the polygons (`None` if nothing could be built), the closed
/// `outer` members, and the tags of the first `outer` area way with tags (when
/// `want_tags`).
fn multipolygon_geometry<'a>(
    rel: &Relation,
    index: &WayIndex<'_, 'a>,
    want_tags: bool,
) -> Option<MultiPolygonParts<'a>> {
    let mut members: Vec<(&IndexedWay<'a>, bool)> = Vec::new();
    for m in &rel.members {
        if m.kind == MemberType::Way && m.role != Role::Subarea {
            members.push((index.get(m.id)?, m.role == Role::Outer));
        }
    }
    let mut extra: ExtraTags<'a> = Vec::new();
    let mut polygons: Vec<Path> = Vec::new();
    let mut lines: Vec<Path> = Vec::new();
    let mut outers = Vec::new();
    for (w, outer) in members {
        if want_tags && extra.is_empty() && outer {
            extra = w.tags.clone();
        }
        if w.coords[0] == w.coords[w.coords.len() - 1] {
            polygons.push(to_path(&w.coords));
            if outer {
                outers.push(w.id);
            }
        } else {
            lines.push(to_path(&w.coords));
        }
    }
    if !lines.is_empty() {
        polygons.extend(
            rings::rings_from_edges(lines)
                .into_iter()
                .filter(|r| r.len() >= 4 && r[0] == r[r.len() - 1]),
        );
    }
    let polys = (!polygons.is_empty()).then(|| rings::organize(polygons));
    Some((polys, outers, extra))
}

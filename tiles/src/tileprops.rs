//! A layer's tile schema: which of its properties go into its vector tiles, from which
//! zoom each one does, and from which zoom each class of feature appears.
//!
//! [`TileProperties`] is the JSON the catalogue keeps per layer
//! (`layer_catalog.tile_properties`); `NULL` there means the default rule of
//! [`default_for`]. [`TileProperties::validate`] checks one against the layer's fields
//! before it is stored; [`TileFilter`] is its compiled form against a layer's
//! [`Schema`], which the tile server applies to each tile: it keeps the features
//! ([`TileFilter::select`]) and names the properties ([`TileFilter::properties_at`])
//! that the encoder (`mvt::encode_tile`) then writes. Plain data in, plain data out.
//!
//! ```json
//! {"include": ["name", "highway", "ref"],   // null: every field
//!  "exclude": ["ref"],                        // left out after include
//!  "min_zoom": {"name": 14},                  // property → lowest zoom that carries it
//!  "feature_min_zoom": {"highway": {"residential": 13, "service": 14}}}
//! ```
//!
//! A feature whose value of a `feature_min_zoom` field is listed appears from that
//! zoom on (with several fields, from the highest of the zooms its values match);
//! other values, and null, are not held back. Values match as text: `"3"` matches the
//! integer 3 and the float 3.0, `"true"` the boolean.
//!
//! ```
//! use citygrid_geo::tms::TileCoord;
//! use citygrid_tiles::index::{Feature, LayerIndex};
//! use citygrid_tiles::schema::{FieldType, Schema};
//! use citygrid_tiles::tileprops::{TileFilter, TileProperties};
//! use geo::{point, Geometry};
//!
//! let schema = Schema::new([("name", FieldType::String), ("highway", FieldType::String)]);
//! let props: TileProperties = serde_json::from_str(
//!     r#"{"min_zoom": {"name": 15}, "feature_min_zoom": {"highway": {"residential": 13}}}"#,
//! ).unwrap();
//! props.validate("roads", &["name", "highway"]).unwrap();
//! let street = Feature::from_lonlat(1, Geometry::Point(point!(x: 0.5, y: 0.5)),
//!     vec!["Kaivokatu".into(), "residential".into()]);
//! let index = LayerIndex::build(schema.clone(), vec![street]).unwrap();
//! let street = index.get(1).unwrap();
//! let filter = TileFilter::new(&props, &schema);
//! assert!(filter.select(12, vec![street]).is_empty());
//! assert_eq!(filter.select(13, vec![street]).len(), 1);
//! assert_eq!(filter.properties_at(&schema, 14), vec!["highway"]);
//! assert_eq!(filter.properties_at(&schema, 15), vec!["name", "highway"]);
//! ```

use std::collections::{BTreeMap, HashMap};

/// The highest zoom a tile schema may name (`citygrid_geo::tms::MAX_ZOOM`).
pub use citygrid_geo::tms::MAX_ZOOM;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::index::FeatureRef;
use crate::schema::{PropRef, Schema};

/// Layers with more features than this are "large" for the default rule.
pub const LARGE_LAYER_FEATURES: i64 = 100_000;

/// Fields that hold all the other tags of an OSM feature as one text or JSON value
/// (`tags` of `citygrid import osm`, `other_tags`/`all_tags` of GDAL's OSM driver):
/// often over a kilobyte a feature, and most of an OSM tile's bytes.
pub const TAG_BAGS: &[&str] = &["tags", "other_tags", "all_tags"];

/// The most field names and values one tile schema may name in all.
pub const MAX_ENTRIES: usize = 4096;

/// The longest field name or value a tile schema may name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// A layer's tile schema, as stored in the catalogue and sent to the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileProperties {
    /// The fields tiles carry; `None` (JSON `null` or absent): every field.
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Fields left out (of `include`, or of every field).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Field → the lowest zoom whose tiles carry it (below, it is left out).
    #[serde(default)]
    pub min_zoom: BTreeMap<String, u8>,
    /// Field → (value → the lowest zoom at which features with that value appear).
    #[serde(default)]
    pub feature_min_zoom: BTreeMap<String, BTreeMap<String, u8>>,
}

/// Why a tile schema cannot be used for a layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TilePropertiesError {
    /// A field the layer does not have.
    #[error("layer {layer} has no field {field:?} (in {part}); its fields are: {fields}")]
    UnknownField {
        /// The layer.
        layer: String,
        /// Where the name was given (`include`, `exclude`, `min_zoom`, `feature_min_zoom`).
        part: &'static str,
        /// The unknown name.
        field: String,
        /// The layer's fields, comma-separated.
        fields: String,
    },
    /// A zoom above [`MAX_ZOOM`].
    #[error("zoom {zoom} for {what} is out of range: zooms are 0 to {MAX_ZOOM}")]
    ZoomOutOfRange {
        /// What the zoom is for.
        what: String,
        /// The zoom.
        zoom: u8,
    },
    /// Too many names and values, or one too long.
    #[error("{0}")]
    TooLarge(String),
}

impl TileProperties {
    /// Every field, at every zoom, every feature (what a layer had before tile
    /// schemas).
    pub fn all() -> TileProperties {
        TileProperties::default()
    }

    /// A tile schema from JSON: an object (see the module docs), or `null` for none
    /// (the default rule). The error says what is wrong, in serde's words.
    pub fn from_json(value: serde_json::Value) -> Result<Option<TileProperties>, String> {
        match value {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Object(_) => serde_json::from_value(value)
                .map(Some)
                .map_err(|e| format!("not a tile schema: {e}")),
            _ => Err("a tile schema is a JSON object (or null for the default)".to_string()),
        }
    }

    /// Whether field `name` goes into tiles (at some zoom).
    pub fn includes(&self, name: &str) -> bool {
        self.include
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == name))
            && !self.exclude.iter().any(|n| n == name)
    }

    /// The lowest zoom whose tiles carry field `name` (0 when not limited).
    pub fn property_min_zoom(&self, name: &str) -> u8 {
        self.min_zoom.get(name).copied().unwrap_or(0)
    }

    /// Checks the schema against layer `layer` with fields `fields`: every name a field
    /// of the layer, every zoom at most [`MAX_ZOOM`], at most [`MAX_ENTRIES`] names
    /// and values of at most [`MAX_NAME_BYTES`].
    pub fn validate(&self, layer: &str, fields: &[&str]) -> Result<(), TilePropertiesError> {
        let entries = self.include.as_ref().map_or(0, Vec::len)
            + self.exclude.len()
            + self.min_zoom.len()
            + self
                .feature_min_zoom
                .values()
                .map(|v| v.len() + 1)
                .sum::<usize>();
        if entries > MAX_ENTRIES {
            return Err(TilePropertiesError::TooLarge(format!(
                "a tile schema names at most {MAX_ENTRIES} fields and values, this one {entries}"
            )));
        }
        let known = |part: &'static str, name: &str| -> Result<(), TilePropertiesError> {
            if fields.contains(&name) {
                return Ok(());
            }
            Err(TilePropertiesError::UnknownField {
                layer: layer.to_string(),
                part,
                field: name.chars().take(MAX_NAME_BYTES).collect(),
                fields: if fields.is_empty() {
                    "(none)".to_string()
                } else {
                    fields.join(", ")
                },
            })
        };
        for name in self.include.iter().flatten() {
            known("include", name)?;
        }
        for name in &self.exclude {
            known("exclude", name)?;
        }
        for (name, &zoom) in &self.min_zoom {
            known("min_zoom", name)?;
            check_zoom(zoom, || format!("property {name:?}"))?;
        }
        for (name, values) in &self.feature_min_zoom {
            known("feature_min_zoom", name)?;
            for (value, &zoom) in values {
                if value.len() > MAX_NAME_BYTES {
                    return Err(TilePropertiesError::TooLarge(format!(
                        "a value of {name:?} in feature_min_zoom is longer than {MAX_NAME_BYTES} bytes"
                    )));
                }
                check_zoom(zoom, || format!("{name}={value}"))?;
            }
        }
        Ok(())
    }
}

fn check_zoom(zoom: u8, what: impl FnOnce() -> String) -> Result<(), TilePropertiesError> {
    if zoom > MAX_ZOOM {
        return Err(TilePropertiesError::ZoomOutOfRange { what: what(), zoom });
    }
    Ok(())
}

/// The tile schema of a layer that has none set (the default rule):
///
/// - every field, at every zoom, every feature; except
/// - an OSM layer (one with an `osm_id` field) leaves out its tag bags
///   ([`TAG_BAGS`]: `tags`, `other_tags`, `all_tags`);
/// - a large layer (more than [`LARGE_LAYER_FEATURES`] features) leaves out the tag
///   bags too, and every `json`/`jsonb` field (whole objects, written into tiles as
///   text).
///
/// `fields` are the layer's `(name, SQL type)` pairs, as the catalogue lists them.
///
/// ```
/// use citygrid_tiles::tileprops::default_for;
/// let roads = [("osm_id", "bigint"), ("name", "text"), ("tags", "jsonb")];
/// assert_eq!(default_for(&roads, 10).exclude, vec!["tags".to_string()]);
/// let survey = [("name", "text"), ("extra", "jsonb")];
/// assert!(default_for(&survey, 10).exclude.is_empty());
/// assert_eq!(default_for(&survey, 200_000).exclude, vec!["extra".to_string()]);
/// ```
pub fn default_for(fields: &[(&str, &str)], feature_count: i64) -> TileProperties {
    let osm = fields.iter().any(|(name, _)| *name == "osm_id");
    let large = feature_count > LARGE_LAYER_FEATURES;
    let exclude = fields
        .iter()
        .filter(|(name, ty)| {
            ((osm || large) && TAG_BAGS.contains(name))
                || (large && matches!(ty.to_ascii_lowercase().as_str(), "json" | "jsonb"))
        })
        .map(|(name, _)| name.to_string())
        .collect();
    TileProperties {
        exclude,
        ..TileProperties::default()
    }
}

/// The values of one `feature_min_zoom` field, by the kinds a value may have.
#[derive(Debug, Clone, Default)]
struct ValueZooms {
    text: HashMap<String, u8>,
    int: HashMap<i64, u8>,
    double: Vec<(f64, u8)>,
    boolean: [Option<u8>; 2],
    /// The highest zoom of any value.
    top: u8,
}

impl ValueZooms {
    fn new(values: &BTreeMap<String, u8>) -> ValueZooms {
        let mut out = ValueZooms::default();
        for (value, &zoom) in values {
            out.top = out.top.max(zoom);
            out.text.insert(value.clone(), zoom);
            if let Ok(i) = value.trim().parse::<i64>() {
                out.int.insert(i, zoom);
            }
            if let Ok(d) = value.trim().parse::<f64>() {
                if d.is_finite() {
                    out.double.push((d, zoom));
                }
            }
            match value.as_str() {
                "false" => out.boolean[0] = Some(zoom),
                "true" => out.boolean[1] = Some(zoom),
                _ => {}
            }
        }
        out
    }

    /// The lowest zoom of a feature with value `v` (0 when its value is not listed).
    fn zoom_of(&self, v: PropRef<'_>) -> u8 {
        match v {
            PropRef::Null => None,
            PropRef::String(s) => self.text.get(s).copied(),
            PropRef::Int(i) => self.int.get(&i).copied(),
            PropRef::Double(d) => self.double.iter().find(|(x, _)| *x == d).map(|(_, z)| *z),
            PropRef::Bool(b) => self.boolean[usize::from(b)],
        }
        .unwrap_or(0)
    }
}

/// A [`TileProperties`] compiled against a layer's [`Schema`]. Names the schema does
/// not have are skipped (a schema checked against the catalogue's fields may meet an
/// index loaded before a re-import changed them).
#[derive(Debug, Clone, Default)]
pub struct TileFilter {
    /// `(field index, lowest zoom)` of the fields tiles carry, in schema order.
    properties: Vec<(usize, u8)>,
    /// `(field index, its values' zooms)`.
    features: Vec<(usize, ValueZooms)>,
    /// From this zoom on no feature is held back.
    features_from: u8,
}

impl TileFilter {
    /// Compiles `props` against `schema`.
    pub fn new(props: &TileProperties, schema: &Schema) -> TileFilter {
        let properties = schema
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| props.includes(&f.name))
            .map(|(i, f)| (i, props.property_min_zoom(&f.name)))
            .collect();
        let features: Vec<(usize, ValueZooms)> = props
            .feature_min_zoom
            .iter()
            .filter_map(|(name, values)| Some((schema.position(name)?, ValueZooms::new(values))))
            .filter(|(_, v)| v.top > 0)
            .collect();
        let features_from = features.iter().map(|(_, v)| v.top).max().unwrap_or(0);
        TileFilter {
            properties,
            features,
            features_from,
        }
    }

    /// The names of the properties tiles of zoom `z` carry (`schema`: the one this
    /// filter was compiled against), in schema order.
    pub fn properties_at<'s>(&self, schema: &'s Schema, z: u8) -> Vec<&'s str> {
        self.properties
            .iter()
            .filter(|(_, from)| *from <= z)
            .filter_map(|(i, _)| schema.fields.get(*i).map(|f| f.name.as_str()))
            .collect()
    }

    /// Whether feature `f` appears in tiles of zoom `z`.
    pub fn keeps(&self, f: FeatureRef<'_>, z: u8) -> bool {
        z >= self.features_from
            || self
                .features
                .iter()
                .all(|(i, values)| f.prop(*i).is_none_or(|v| values.zoom_of(v) <= z))
    }

    /// Whether every feature appears in tiles of zoom `z` (none is held back there).
    pub fn holds_nothing_back(&self, z: u8) -> bool {
        z >= self.features_from
    }

    /// The features of `candidates` that appear at zoom `z` (all of them, without a
    /// pass over them, when nothing is held back at `z`).
    pub fn select<'a>(&self, z: u8, mut candidates: Vec<FeatureRef<'a>>) -> Vec<FeatureRef<'a>> {
        if z < self.features_from {
            candidates.retain(|f| self.keeps(*f, z));
        }
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{Feature, LayerIndex};
    use crate::schema::{FieldType, PropValue};
    use geo::{point, Geometry};

    fn schema() -> Schema {
        Schema::new([
            ("name", FieldType::String),
            ("highway", FieldType::String),
            ("lanes", FieldType::Int),
            ("tags", FieldType::String),
            ("lit", FieldType::Bool),
            ("width", FieldType::Double),
        ])
    }

    fn feature(id: i64, highway: &str, lanes: i64, lit: bool, width: f64) -> Feature {
        Feature::from_lonlat(
            id,
            Geometry::Point(point!(x: 24.9, y: 60.1)),
            vec![
                "street".into(),
                highway.into(),
                lanes.into(),
                "{\"surface\": \"asphalt\"}".into(),
                lit.into(),
                width.into(),
            ],
        )
    }

    fn parse(json: &str) -> TileProperties {
        serde_json::from_str(json).unwrap()
    }

    const FIELDS: &[&str] = &["name", "highway", "lanes", "tags", "lit", "width"];

    #[test]
    fn include_and_exclude_choose_the_properties() {
        let s = schema();
        let all = TileFilter::new(&TileProperties::all(), &s);
        assert_eq!(all.properties_at(&s, 0), FIELDS);
        let only = parse(r#"{"include": ["tags", "name", "lanes"], "exclude": ["lanes"]}"#);
        only.validate("roads", FIELDS).unwrap();
        // schema order, whatever the order of the list
        assert_eq!(
            TileFilter::new(&only, &s).properties_at(&s, 20),
            ["name", "tags"]
        );
        let but = parse(r#"{"exclude": ["tags"]}"#);
        assert_eq!(
            TileFilter::new(&but, &s).properties_at(&s, 20),
            ["name", "highway", "lanes", "lit", "width"]
        );
        assert!(but.includes("name") && !but.includes("tags"));
        let none = parse(r#"{"include": []}"#);
        assert!(TileFilter::new(&none, &s).properties_at(&s, 20).is_empty());
    }

    #[test]
    fn a_property_appears_from_its_zoom() {
        let s = schema();
        let p = parse(r#"{"include": ["name", "lanes"], "min_zoom": {"name": 15}}"#);
        p.validate("roads", FIELDS).unwrap();
        let f = TileFilter::new(&p, &s);
        assert_eq!(f.properties_at(&s, 14), ["lanes"]);
        assert_eq!(f.properties_at(&s, 15), ["name", "lanes"]);
        assert_eq!(f.properties_at(&s, 24), ["name", "lanes"]);
    }

    #[test]
    fn features_appear_from_the_zoom_of_their_value() {
        let s = schema();
        let p = parse(
            r#"{"feature_min_zoom": {"highway": {"residential": 13, "service": 14},
                                     "lanes": {"1": 12}, "lit": {"false": 16},
                                     "width": {"2.5": 11}}}"#,
        );
        p.validate("roads", FIELDS).unwrap();
        let f = TileFilter::new(&p, &s);
        let primary = feature(1, "primary", 2, true, 7.0);
        let residential = feature(2, "residential", 2, true, 7.0);
        let service = feature(3, "service", 2, true, 7.0);
        let one_lane = feature(4, "primary", 1, true, 7.0);
        let dark = feature(5, "primary", 2, false, 7.0);
        let narrow = feature(6, "primary", 2, true, 2.5);
        let both = feature(7, "residential", 1, true, 7.0);
        // null values are not held back
        let mut unknown = feature(8, "x", 0, true, 0.0);
        unknown.props[1] = PropValue::Null;
        let idx = LayerIndex::build(
            s.clone(),
            vec![
                primary,
                residential,
                service,
                one_lane,
                dark,
                narrow,
                both,
                unknown,
            ],
        )
        .unwrap();
        let all: Vec<FeatureRef<'_>> = (1..=6).filter_map(|id| idx.get(id)).collect();
        let ids = |z: u8| -> Vec<i64> { f.select(z, all.clone()).iter().map(|f| f.id()).collect() };
        assert_eq!(ids(10), [1]);
        assert_eq!(ids(11), [1, 6]);
        assert_eq!(ids(12), [1, 4, 6]);
        assert_eq!(ids(13), [1, 2, 4, 6]);
        assert_eq!(ids(15), [1, 2, 3, 4, 6]);
        assert_eq!(ids(16), [1, 2, 3, 4, 5, 6]);
        // a feature matched by two fields waits for the later zoom
        let both = idx.get(7).unwrap();
        assert!(!f.keeps(both, 12) && f.keeps(both, 13));
        assert!(f.keeps(idx.get(8).unwrap(), 0));
    }

    #[test]
    fn unknown_names_are_refused_with_the_layer_fields() {
        for (json, part, field) in [
            (r#"{"include": ["name", "nmae"]}"#, "include", "nmae"),
            (r#"{"exclude": ["other_tags"]}"#, "exclude", "other_tags"),
            (r#"{"min_zoom": {"ref": 14}}"#, "min_zoom", "ref"),
            (
                r#"{"feature_min_zoom": {"class": {"a": 3}}}"#,
                "feature_min_zoom",
                "class",
            ),
        ] {
            let err = parse(json).validate("roads", FIELDS).unwrap_err();
            assert_eq!(
                err,
                TilePropertiesError::UnknownField {
                    layer: "roads".into(),
                    part,
                    field: field.into(),
                    fields: FIELDS.join(", "),
                }
            );
            let text = err.to_string();
            assert!(
                text.contains(field) && text.contains("name, highway, lanes, tags, lit, width"),
                "{text}"
            );
        }
        let err = parse(r#"{"min_zoom": {"name": 25}}"#)
            .validate("roads", FIELDS)
            .unwrap_err();
        assert!(matches!(
            err,
            TilePropertiesError::ZoomOutOfRange { zoom: 25, .. }
        ));
        // shapes that are not a tile schema do not parse
        for bad in [
            r#"{"inclde": ["name"]}"#,
            r#"{"include": "name"}"#,
            r#"{"min_zoom": {"name": -1}}"#,
            r#"{"min_zoom": {"name": 300}}"#,
            r#"[]"#,
            r#""name""#,
            r#"7"#,
        ] {
            let value: serde_json::Value = serde_json::from_str(bad).unwrap();
            assert!(TileProperties::from_json(value).is_err(), "{bad}");
        }
        assert_eq!(TileProperties::from_json(serde_json::Value::Null), Ok(None));
        let many: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("v{i}")).collect();
        let p = TileProperties {
            feature_min_zoom: [(
                "name".to_string(),
                many.into_iter().map(|v| (v, 3)).collect(),
            )]
            .into(),
            ..TileProperties::default()
        };
        assert!(matches!(
            p.validate("roads", FIELDS),
            Err(TilePropertiesError::TooLarge(_))
        ));
    }

    #[test]
    fn names_a_reimport_removed_are_skipped() {
        let s = schema();
        let p = parse(r#"{"include": ["gone", "name"], "feature_min_zoom": {"gone": {"a": 9}}}"#);
        let f = TileFilter::new(&p, &s);
        assert_eq!(f.properties_at(&s, 0), ["name"]);
        let idx = LayerIndex::build(s.clone(), vec![feature(1, "a", 1, true, 1.0)]).unwrap();
        assert!(f.keeps(idx.get(1).unwrap(), 0));
    }

    #[test]
    fn the_default_leaves_out_tag_bags_of_osm_and_large_layers() {
        let osm = [
            ("osm_id", "bigint"),
            ("name", "text"),
            ("tags", "jsonb"),
            ("other_tags", "text"),
        ];
        assert_eq!(default_for(&osm, 5).exclude, ["tags", "other_tags"]);
        let plain = [("name", "text"), ("tags", "text"), ("extra", "JSONB")];
        assert_eq!(default_for(&plain, 5), TileProperties::all());
        assert_eq!(
            default_for(&plain, LARGE_LAYER_FEATURES + 1).exclude,
            ["tags", "extra"]
        );
        assert_eq!(
            default_for(&plain, LARGE_LAYER_FEATURES),
            TileProperties::all()
        );
    }

    #[test]
    fn round_trips_as_json() {
        let p = parse(
            r#"{"include": null, "exclude": ["tags"], "min_zoom": {"name": 14},
                "feature_min_zoom": {"highway": {"residential": 13}}}"#,
        );
        let back: TileProperties =
            serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert_eq!(parse("{}"), TileProperties::all());
    }
}

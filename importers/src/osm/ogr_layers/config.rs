//! The layer schemas of GDAL's default `osmconf.ini` (GDAL 3.6.2,
//! `/usr/share/gdal/osmconf.ini`) and how a feature's attributes are filled from
//! its tags (`OGROSMLayer::SetFieldsFromTags`): declared keys become fields, the
//! other tags (minus the `ignore` list) go to `other_tags` in HSTORE form, and the
//! lines layer gets the computed `z_order`.

use super::{OgrField, OgrFieldType, OgrValue};

/// Keys of closed ways (or `key=value`) that make a closed way an area
/// (`closed_ways_are_polygons`).
const CLOSED_WAYS_ARE_POLYGONS: &[&str] = &[
    "aeroway",
    "amenity",
    "boundary",
    "building",
    "craft",
    "geological",
    "historic",
    "landuse",
    "leisure",
    "military",
    "natural",
    "office",
    "place",
    "shop",
    "sport",
    "tourism",
    "highway=platform",
    "public_transport=platform",
];

/// Tags the driver drops from the tags it keeps for area ways (ogrosmdatasource.cpp,
/// `NotifyWay`), before any `ignore` list applies.
pub(crate) const EARLY_IGNORED_WAY_KEYS: &[&str] = &[
    "area",
    "created_by",
    "converted_by",
    "note",
    "todo",
    "fixme",
    "FIXME",
];

/// `unsignificant` of `[points]`: keys that alone do not make a node a point.
const POINTS_INSIGNIFICANT: &[&str] = &[
    "created_by",
    "converted_by",
    "source",
    "time",
    "ele",
    "attribution",
];

/// `ignore` of `[points]` and `[lines]`.
const IGNORE_NODES_WAYS: &[&str] = &[
    "created_by",
    "converted_by",
    "source",
    "time",
    "ele",
    "note",
    "todo",
    "openGeoDB:",
    "fixme",
    "FIXME",
];

/// `ignore` of the three relation layers.
const IGNORE_RELATIONS: &[&str] = &[
    "area",
    "created_by",
    "converted_by",
    "source",
    "time",
    "ele",
    "note",
    "todo",
    "openGeoDB:",
    "fixme",
    "FIXME",
];

/// Longest `other_tags` value the driver builds (`ALLTAGS_LENGTH`).
const ALLTAGS_LENGTH: usize = 8192;

/// One layer's schema and tag rules.
pub(crate) struct Schema {
    /// Layer name.
    pub name: &'static str,
    /// Fields, in GDAL's order.
    pub fields: Vec<(&'static str, OgrFieldType)>,
    /// Fields a tag of the same key fills (GDAL's `m_oMapFieldNameToIndex`).
    field_map: Vec<(&'static str, usize)>,
    osm_id: usize,
    osm_way_id: Option<usize>,
    other_tags: usize,
    z_order: Option<usize>,
    ignore: &'static [&'static str],
    insignificant: &'static [&'static str],
}

impl Schema {
    fn new(
        name: &'static str,
        way_id: bool,
        attributes: &[&'static str],
        z_order: bool,
        ignore: &'static [&'static str],
        insignificant: &'static [&'static str],
    ) -> Schema {
        let mut fields = vec![("osm_id", OgrFieldType::Text)];
        if way_id {
            fields.push(("osm_way_id", OgrFieldType::Text));
        }
        fields.extend(attributes.iter().map(|a| (*a, OgrFieldType::Text)));
        let z_order = z_order.then(|| {
            fields.push(("z_order", OgrFieldType::Integer));
            fields.len() - 1
        });
        fields.push(("other_tags", OgrFieldType::Text));
        let field_map: Vec<(&'static str, usize)> = fields
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| *n != "z_order")
            .map(|(i, (n, _))| (*n, i))
            .collect();
        Schema {
            name,
            osm_id: 0,
            osm_way_id: way_id.then_some(1),
            other_tags: fields.len() - 1,
            z_order,
            fields,
            field_map,
            ignore,
            insignificant,
        }
    }

    /// The field a tag of key `key` fills.
    fn field_index(&self, key: &str) -> Option<usize> {
        let first = *key.as_bytes().first()?;
        self.field_map
            .iter()
            .find(|(name, _)| {
                name.len() == key.len() && name.as_bytes()[0] == first && *name == key
            })
            .map(|(_, i)| *i)
    }

    /// The layer's fields in the public form.
    pub fn ogr_fields(&self) -> Vec<OgrField> {
        self.fields
            .iter()
            .map(|(name, field_type)| OgrField {
                name,
                field_type: *field_type,
            })
            .collect()
    }

    /// Whether a key alone makes the element a feature (`IsSignificantKey`).
    pub fn is_significant(&self, key: &str) -> bool {
        !self.insignificant.contains(&key)
    }

    /// Whether a tag not mapped to a field goes to `other_tags`
    /// (`AddInOtherOrAllTags`): not ignored, nor its `prefix:`.
    fn goes_to_other_tags(&self, key: &str) -> bool {
        if self.ignore.contains(&key) {
            return false;
        }
        match key.find(':') {
            Some(colon) => !self.ignore.contains(&&key[..=colon]),
            None => true,
        }
    }

    /// The attribute values of a feature (`SetFieldsFromTags`): `id` goes to
    /// `osm_way_id` when `way_id` (multipolygons from closed ways), else `osm_id`.
    pub fn values<'a, I>(&self, id: i64, way_id: bool, tags: I) -> Vec<Option<OgrValue>>
    where
        I: Iterator<Item = (&'a str, &'a str)> + Clone,
    {
        let mut values: Vec<Option<OgrValue>> = vec![None; self.fields.len()];
        if !way_id {
            values[self.osm_id] = Some(OgrValue::Text(id.to_string()));
        } else if let Some(i) = self.osm_way_id {
            values[i] = Some(OgrValue::Text(id.to_string()));
        }
        let mut other =
            String::with_capacity(tags.clone().map(|(k, v)| k.len() + v.len() + 7).sum());
        for (k, v) in tags.clone() {
            if let Some(i) = self.field_index(k) {
                if i != self.osm_id {
                    values[i] = Some(OgrValue::Text(v.to_string()));
                    continue;
                }
            }
            if !self.goes_to_other_tags(k) {
                continue;
            }
            if other.len() + (2 + 2 * k.len()) + (2 + 2 * v.len()) + 3 >= ALLTAGS_LENGTH - 1 {
                continue;
            }
            if !other.is_empty() {
                other.push(',');
            }
            escape_into(&mut other, k);
            other.push_str("=>");
            escape_into(&mut other, v);
        }
        if !other.is_empty() {
            values[self.other_tags] = Some(OgrValue::Text(other));
        }
        if let Some(z) = self.z_order {
            let field = |name: &str| match self.field_index(name).map(|i| &values[i]) {
                Some(Some(OgrValue::Text(s))) => Some(s.as_str()),
                _ => None,
            };
            let tag = |name: &str| tags.clone().find(|(k, _)| *k == name).map(|(_, v)| v);
            let z_order = z_order(
                field("highway"),
                tag("bridge"),
                tag("tunnel"),
                field("railway"),
                tag("layer"),
            );
            values[z] = Some(OgrValue::Integer(z_order));
        }
        values
    }
}

/// `"value"` with `"` and `\` escaped by a backslash (`OGROSMEscapeString`).
fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `z_order_sql` of `[lines]` (GDAL evaluates it with SQLite; the result is stored
/// in a 32-bit Integer field, clamped).
fn z_order(
    highway: Option<&str>,
    bridge: Option<&str>,
    tunnel: Option<&str>,
    railway: Option<&str>,
    layer: Option<&str>,
) -> i64 {
    let mut z: i64 = match highway {
        Some("minor" | "road" | "unclassified" | "residential") => 3,
        Some("tertiary_link" | "tertiary") => 4,
        Some("secondary_link" | "secondary") => 6,
        Some("primary_link" | "primary") => 7,
        Some("trunk_link" | "trunk") => 8,
        Some("motorway_link" | "motorway") => 9,
        _ => 0,
    };
    if matches!(bridge, Some("yes" | "true" | "1")) {
        z += 10;
    }
    if matches!(tunnel, Some("yes" | "true" | "1")) {
        z -= 10;
    }
    if railway.is_some() {
        z += 5;
    }
    if let Some(layer) = layer {
        z = z.saturating_add(cast_integer(layer).saturating_mul(10));
    }
    z.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

/// SQLite's `CAST(text AS INTEGER)`: the longest leading integer (after spaces),
/// saturated to 64 bits; 0 when there is none.
fn cast_integer(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        let d = i64::from(b - b'0');
        v = if negative {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v
}

/// Whether a closed way is an area (`IsClosedWayTaggedAsPolygon`): `area=yes`/`no`
/// decides; otherwise a key (or `key=value`) of `closed_ways_are_polygons`.
pub(crate) fn closed_way_is_area(tags: &[crate::osm::pbf::Tag]) -> bool {
    let max = CLOSED_WAYS_ARE_POLYGONS
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(0);
    let mut is_area = false;
    for (k, v) in tags {
        let (k, v): (&str, &str) = (k, v);
        if k.len() > max {
            continue;
        }
        if k == "area" {
            if v == "yes" {
                return true;
            } else if v == "no" {
                return false;
            }
        }
        if is_area {
            continue;
        }
        if CLOSED_WAYS_ARE_POLYGONS.contains(&k) {
            is_area = true;
            continue;
        }
        if k.len() + 1 + v.len() <= max
            && CLOSED_WAYS_ARE_POLYGONS.iter().any(|p| {
                p.len() == k.len() + 1 + v.len()
                    && p.starts_with(k)
                    && p.as_bytes()[k.len()] == b'='
                    && p.ends_with(v)
            })
        {
            is_area = true;
        }
    }
    is_area
}

/// The five schemas, in GDAL's layer order.
pub(crate) fn schemas() -> [Schema; 5] {
    [
        Schema::new(
            "points",
            false,
            &[
                "name", "barrier", "highway", "ref", "address", "is_in", "place", "man_made",
            ],
            false,
            IGNORE_NODES_WAYS,
            POINTS_INSIGNIFICANT,
        ),
        Schema::new(
            "lines",
            false,
            &[
                "name",
                "highway",
                "waterway",
                "aerialway",
                "barrier",
                "man_made",
                "railway",
            ],
            true,
            IGNORE_NODES_WAYS,
            &[],
        ),
        Schema::new(
            "multilinestrings",
            false,
            &["name", "type"],
            false,
            IGNORE_RELATIONS,
            &[],
        ),
        Schema::new(
            "multipolygons",
            true,
            &[
                "name",
                "type",
                "aeroway",
                "amenity",
                "admin_level",
                "barrier",
                "boundary",
                "building",
                "craft",
                "geological",
                "historic",
                "land_area",
                "landuse",
                "leisure",
                "man_made",
                "military",
                "natural",
                "office",
                "place",
                "shop",
                "sport",
                "tourism",
            ],
            false,
            IGNORE_RELATIONS,
            &[],
        ),
        Schema::new(
            "other_relations",
            false,
            &["name", "type"],
            false,
            IGNORE_RELATIONS,
            &[],
        ),
    ]
}

//! The default style's layers: a basemap drawn from the city's own data (no online
//! basemap on an isolated network). Layers of the kinds citygrid knows (an OSM
//! import's `<prefix>_roads`, `_buildings`, `_water`, `_landuse`, `_pois`,
//! `_components`; the grid-management layers `admin_divisions`, `streets`,
//! `communities`, `unit_grids`, `components`, `cases`) are drawn as a map: roads by
//! class with casing and names along the line, buildings with names at high zoom,
//! water and land use by kind, icons for POIs, components and cases (an overdue ring),
//! grid codes at high zoom. Any other vector layer gets a plain fill / line / circle
//! and its `name` as a label.
//!
//! Labels are in the asked language: `name:zh` (or `name_zh`) else `name` for
//! Chinese, `name:en` (or `name_en`) else `name` for English.

use serde_json::{json, Value};

use crate::catalog::LayerMeta;

/// The fonts the labels use (served by `/fonts/…`).
pub const FONT_REGULAR: &str = "Noto Sans Regular";
/// The bold font (place names).
pub const FONT_BOLD: &str = "Noto Sans Bold";

/// The labels' language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Chinese names first.
    Zh,
    /// English names first.
    En,
}

impl Lang {
    /// `zh` or `en`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The code.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// A feature's name in `lang`, falling back to `name`.
pub fn label(lang: Lang) -> Value {
    match lang {
        Lang::Zh => json!([
            "coalesce",
            ["get", "name:zh"],
            ["get", "name_zh"],
            ["get", "name"]
        ]),
        Lang::En => json!([
            "coalesce",
            ["get", "name:en"],
            ["get", "name_en"],
            ["get", "name"]
        ]),
    }
}

/// What the style needs of a vector layer.
#[derive(Debug, Clone)]
pub struct VectorLayer {
    /// The layer id (= source layer).
    pub id: String,
    /// The style source it is in.
    pub source: String,
    /// Its lowest zoom.
    pub min_zoom: i32,
    /// Its geometry type.
    pub geometry: String,
    /// Its field names.
    pub fields: Vec<String>,
}

impl VectorLayer {
    /// From a catalogue entry and its style source.
    pub fn from_meta(meta: &LayerMeta, source: &str) -> VectorLayer {
        let fields = meta
            .fields
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("name")?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        VectorLayer {
            id: meta.id.clone(),
            source: source.to_string(),
            min_zoom: meta.min_zoom,
            geometry: meta.geometry_type.clone().unwrap_or_default(),
            fields,
        }
    }

    fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f == field)
    }
}

/// The kind of a known layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Theme {
    Landuse,
    Water,
    AdminDivisions,
    Streets,
    Communities,
    UnitGrids,
    Buildings,
    Roads,
    Pois,
    OsmComponents,
    Components,
    Cases,
    Other,
}

fn theme_of(l: &VectorLayer) -> Theme {
    let id = l.id.as_str();
    match id {
        "admin_divisions" => Theme::AdminDivisions,
        "streets" => Theme::Streets,
        "communities" => Theme::Communities,
        "unit_grids" => Theme::UnitGrids,
        "components" if l.has("category_code") => Theme::Components,
        "cases" if l.has("status") => Theme::Cases,
        _ if id.ends_with("_roads") && l.has("highway") => Theme::Roads,
        _ if id.ends_with("_buildings") && l.has("building") => Theme::Buildings,
        _ if id.ends_with("_water") && l.has("class") => Theme::Water,
        _ if id.ends_with("_landuse") && l.has("class") => Theme::Landuse,
        _ if id.ends_with("_pois") && l.has("subclass") => Theme::Pois,
        _ if id.ends_with("_components") && l.has("class_code") => Theme::OsmComponents,
        _ => Theme::Other,
    }
}

/// The icon of each component class (`class_code`; the `components` layer's
/// `category_code` is `P` + the class code).
pub const COMPONENT_ICONS: &[(&str, &str)] = &[
    ("0101", "manhole-water"),
    ("0102", "manhole-sewer"),
    ("0103", "manhole-storm"),
    ("0104", "drain-grate"),
    ("0105", "manhole-power"),
    ("0106", "manhole-lighting"),
    ("0107", "manhole-telecom"),
    ("0108", "manhole-gas"),
    ("0109", "manhole-heat"),
    ("0110", "hydrant"),
    ("0111", "street-lamp"),
    ("0112", "power-box"),
    ("0113", "telecom-cabinet"),
    ("0114", "camera"),
    ("0115", "post-box"),
    ("0201", "bus-stop"),
    ("0202", "traffic-signal"),
    ("0203", "traffic-sign"),
    ("0205", "bollard"),
    ("0207", "street-sign"),
    ("0208", "parking-meter"),
    ("0301", "poi-toilet"),
    ("0302", "waste-bin"),
    ("0303", "refuse-point"),
    ("0304", "billboard"),
    ("0305", "bench"),
    ("0401", "tree"),
    ("0402", "heritage-tree"),
    ("0404", "flower-bed"),
    ("0405", "sculpture"),
    ("0503", "kiosk"),
    ("0604", "fitness"),
];

/// The icon of each case status.
pub const CASE_ICONS: &[(&str, &str)] = &[
    ("reported", "case-new"),
    ("verifying", "case-new"),
    ("verified", "case-new"),
    ("registered", "case-new"),
    ("dispatched", "case-active"),
    ("handling", "case-active"),
    ("returned", "case-active"),
    ("suspended", "case-suspended"),
    ("handled", "case-checking"),
    ("checking", "case-checking"),
    ("checked", "case-checking"),
    ("closed", "case-closed"),
    ("voided", "case-voided"),
];

/// The colour of each case status (the dot under the icon).
pub const CASE_COLOURS: &[(&str, &str)] = &[
    ("reported", "#d93025"),
    ("verifying", "#d93025"),
    ("verified", "#d93025"),
    ("registered", "#d93025"),
    ("dispatched", "#ef7d00"),
    ("handling", "#ef7d00"),
    ("returned", "#ef7d00"),
    ("suspended", "#757575"),
    ("handled", "#1e88e5"),
    ("checking", "#1e88e5"),
    ("checked", "#1e88e5"),
    ("closed", "#2e7d32"),
    ("voided", "#9e9e9e"),
];

/// The icon of POI kinds (`subclass`, the value of the OSM tag), and of whole keys.
pub const POI_ICONS: &[(&str, &str)] = &[
    ("restaurant", "poi-restaurant"),
    ("fast_food", "poi-restaurant"),
    ("food_court", "poi-restaurant"),
    ("cafe", "poi-cafe"),
    ("ice_cream", "poi-cafe"),
    ("bar", "poi-bar"),
    ("pub", "poi-bar"),
    ("nightclub", "poi-bar"),
    ("school", "poi-school"),
    ("kindergarten", "poi-school"),
    ("college", "poi-school"),
    ("university", "poi-school"),
    ("hospital", "poi-hospital"),
    ("clinic", "poi-hospital"),
    ("doctors", "poi-hospital"),
    ("dentist", "poi-hospital"),
    ("pharmacy", "poi-pharmacy"),
    ("chemist", "poi-pharmacy"),
    ("park", "poi-park"),
    ("garden", "poi-park"),
    ("playground", "poi-park"),
    ("bank", "poi-bank"),
    ("atm", "poi-bank"),
    ("bureau_de_change", "poi-bank"),
    ("parking", "poi-parking"),
    ("bicycle_parking", "poi-parking"),
    ("parking_entrance", "poi-parking"),
    ("toilets", "poi-toilet"),
    ("hotel", "poi-hotel"),
    ("hostel", "poi-hotel"),
    ("guest_house", "poi-hotel"),
    ("museum", "poi-museum"),
    ("gallery", "poi-museum"),
    ("arts_centre", "poi-museum"),
    ("place_of_worship", "poi-worship"),
    ("fuel", "poi-fuel"),
    ("charging_station", "poi-fuel"),
    ("library", "poi-library"),
    ("police", "poi-police"),
    ("post_office", "poi-post"),
    ("cinema", "poi-cinema"),
    ("theatre", "poi-theatre"),
    ("sports_centre", "poi-sport"),
    ("pitch", "poi-sport"),
    ("fitness_centre", "poi-sport"),
    ("stadium", "poi-sport"),
    ("attraction", "poi-tourism"),
    ("viewpoint", "poi-tourism"),
    ("information", "poi-tourism"),
    ("artwork", "poi-tourism"),
    ("monument", "poi-tourism"),
    ("memorial", "poi-tourism"),
];

/// Every icon name the style may ask the sprite for.
pub fn icon_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = COMPONENT_ICONS
        .iter()
        .chain(CASE_ICONS)
        .chain(POI_ICONS)
        .map(|(_, icon)| *icon)
        .chain(["component", "poi", "poi-shop", "poi-office"])
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn match_expr(input: Value, pairs: &[(&str, &str)], prefix: &str, fallback: &str) -> Value {
    let mut e = vec![json!("match"), input];
    // A match needs distinct labels: pairs sharing an icon are grouped.
    let mut icons: Vec<&str> = pairs.iter().map(|(_, i)| *i).collect();
    icons.sort_unstable();
    icons.dedup();
    for icon in icons {
        let keys: Vec<String> = pairs
            .iter()
            .filter(|(_, i)| *i == icon)
            .map(|(k, _)| format!("{prefix}{k}"))
            .collect();
        e.push(json!(keys));
        e.push(json!(icon));
    }
    e.push(json!(fallback));
    Value::Array(e)
}

fn text_layout(lang: Lang, size: Value, font: &str) -> Value {
    json!({
        "text-field": label(lang),
        "text-font": [font],
        "text-size": size,
        "text-max-width": 8,
    })
}

fn halo(colour: &str) -> Value {
    json!({"text-color": colour, "text-halo-color": "rgba(255,255,255,0.9)", "text-halo-width": 1.4})
}

/// A feature with a name in some language (`name`, or only a Chinese / English one).
fn has_name() -> Value {
    json!([
        "any",
        ["has", "name"],
        ["has", "name_zh"],
        ["has", "name:zh"],
        ["has", "name_en"],
        ["has", "name:en"]
    ])
}

struct Ctx<'a> {
    lang: Lang,
    l: &'a VectorLayer,
}

impl Ctx<'_> {
    fn layer(&self, suffix: &str, kind: &str, minzoom: i32, filter: Option<Value>) -> Value {
        let mut v = json!({
            "id": format!("{}-{suffix}", self.l.id),
            "type": kind,
            "source": self.l.source,
            "source-layer": self.l.id,
            "minzoom": minzoom.max(self.l.min_zoom).clamp(0, 24),
        });
        if let Some(f) = filter {
            v["filter"] = f;
        }
        v
    }

    fn with(&self, mut v: Value, layout: Option<Value>, paint: Option<Value>) -> Value {
        if let Some(layout) = layout {
            v["layout"] = layout;
        }
        if let Some(paint) = paint {
            v["paint"] = paint;
        }
        v
    }
}

/// A road class: highway values, colour, casing colour, width at z10, z14, z18.
type RoadClass = (
    &'static [&'static str],
    &'static str,
    &'static str,
    f64,
    f64,
    f64,
);

/// The road classes drawn, widest first.
const ROAD_CLASSES: &[RoadClass] = &[
    (
        &["motorway", "motorway_link", "trunk", "trunk_link"],
        "#f4a460",
        "#c0723a",
        1.6,
        5.0,
        18.0,
    ),
    (
        &["primary", "primary_link"],
        "#fcd68a",
        "#c79a44",
        1.2,
        4.2,
        16.0,
    ),
    (
        &["secondary", "secondary_link"],
        "#fdf1a8",
        "#b9a557",
        1.0,
        3.6,
        14.0,
    ),
    (
        &["tertiary", "tertiary_link"],
        "#ffffff",
        "#b5ab9b",
        0.8,
        3.0,
        12.0,
    ),
    (
        &[
            "residential",
            "unclassified",
            "living_street",
            "road",
            "busway",
        ],
        "#ffffff",
        "#c4bbae",
        0.4,
        2.2,
        10.0,
    ),
    (&["service"], "#ffffff", "#cfc8bd", 0.0, 1.2, 6.0),
];
/// Paths drawn dashed and thin.
const PATHS: &[&str] = &[
    "footway",
    "path",
    "cycleway",
    "pedestrian",
    "steps",
    "track",
    "bridleway",
    "corridor",
];

fn road_match(pick: impl Fn(&RoadClass) -> Value, fallback: Value) -> Value {
    let mut e = vec![json!("match"), json!(["get", "highway"])];
    for c in ROAD_CLASSES {
        e.push(json!(c.0));
        e.push(pick(c));
    }
    e.push(fallback);
    Value::Array(e)
}

fn road_width(extra: f64) -> Value {
    json!([
        "interpolate",
        ["exponential", 1.5],
        ["zoom"],
        10,
        road_match(|c| json!(c.3 + extra * 0.3), json!(0.3)),
        14,
        road_match(|c| json!(c.4 + extra), json!(1.0)),
        18,
        road_match(|c| json!(c.5 + extra * 2.0), json!(4.0))
    ])
}

fn road_classes() -> Vec<&'static str> {
    ROAD_CLASSES
        .iter()
        .flat_map(|c| c.0.iter().copied())
        .collect()
}

fn themed(theme: Theme, c: &Ctx) -> Vec<Value> {
    let lang = c.lang;
    match theme {
        Theme::Landuse => {
            let colour = json!(["match", ["get", "class"],
                ["leisure=park", "leisure=garden", "leisure=playground", "landuse=recreation_ground", "landuse=village_green"], "#c8e6a8",
                ["landuse=grass", "natural=grassland", "landuse=meadow", "natural=scrub", "natural=heath"], "#d6ecbd",
                ["natural=wood", "landuse=forest"], "#a9d18e",
                ["landuse=residential"], "#ece7e1",
                ["landuse=commercial", "landuse=retail"], "#f5dcdc",
                ["landuse=industrial", "landuse=railway", "landuse=construction"], "#e6dbe8",
                ["landuse=cemetery"], "#c5dcbe",
                ["leisure=pitch", "leisure=sports_centre", "leisure=stadium", "leisure=track"], "#bfe3cf",
                ["landuse=farmland", "landuse=allotments", "landuse=orchard"], "#eef0d5",
                ["natural=beach", "natural=sand"], "#f6efc7",
                "#e8e4d8"]);
            vec![
                c.with(c.layer("fill", "fill", 0, None), None, Some(json!({"fill-color": colour, "fill-opacity": 0.9}))),
                c.with(
                    c.layer("label", "symbol", 15, Some(has_name())),
                    Some(text_layout(lang, json!(11), FONT_REGULAR)),
                    Some(halo("#4a6b35")),
                ),
            ]
        }
        Theme::Water => vec![
            c.with(c.layer("fill", "fill", 0, None), None, Some(json!({"fill-color": "#aad3df"}))),
            c.with(
                c.layer("label", "symbol", 12, Some(has_name())),
                Some(text_layout(lang, json!(12), FONT_REGULAR)),
                Some(halo("#2c6b8a")),
            ),
        ],
        Theme::AdminDivisions => vec![
            c.with(
                c.layer("line", "line", 0, None),
                None,
                Some(json!({"line-color": "#8e6fa8", "line-width": 1.6, "line-dasharray": [4, 2]})),
            ),
            c.with(
                json!({"id": format!("{}-label", c.l.id), "type": "symbol", "source": c.l.source,
                       "source-layer": c.l.id, "minzoom": c.l.min_zoom.clamp(0, 24), "maxzoom": 12}),
                Some(text_layout(lang, json!(15), FONT_BOLD)),
                Some(halo("#5b3e75")),
            ),
        ],
        Theme::Streets => vec![
            c.with(
                c.layer("line", "line", 0, None),
                None,
                Some(json!({"line-color": "#9c7fb5", "line-width": 1.2, "line-dasharray": [3, 2]})),
            ),
            c.with(
                {
                    let mut v = c.layer("label", "symbol", 10, Some(has_name()));
                    v["maxzoom"] = json!(14);
                    v
                },
                Some(text_layout(lang, json!(14), FONT_BOLD)),
                Some(halo("#5b3e75")),
            ),
        ],
        Theme::Communities => vec![
            c.with(
                c.layer("line", "line", 12, None),
                None,
                Some(json!({"line-color": "#b39cc8", "line-width": 1, "line-dasharray": [2, 2]})),
            ),
            c.with(
                {
                    let mut v = c.layer("label", "symbol", 13, Some(has_name()));
                    v["maxzoom"] = json!(16);
                    v
                },
                Some(text_layout(lang, json!(12), FONT_BOLD)),
                Some(halo("#6a4f86")),
            ),
        ],
        Theme::UnitGrids => vec![
            c.with(
                c.layer("line", "line", 15, None),
                None,
                Some(json!({"line-color": "#7b61ff", "line-width": 0.8, "line-opacity": 0.6})),
            ),
            c.with(
                c.layer("code", "symbol", 17, Some(json!(["has", "code"]))),
                Some(json!({"text-field": ["get", "code"], "text-font": [FONT_REGULAR], "text-size": 10})),
                Some(halo("#5b45d6")),
            ),
        ],
        Theme::Buildings => vec![
            c.with(
                c.layer("fill", "fill", 13, None),
                None,
                Some(json!({"fill-color": "#d9d0c9", "fill-outline-color": "#bfb3a8",
                            "fill-opacity": ["interpolate", ["linear"], ["zoom"], 13, 0.4, 16, 1]})),
            ),
            c.with(
                c.layer("label", "symbol", 16, Some(has_name())),
                Some(text_layout(lang, json!(11), FONT_REGULAR)),
                Some(halo("#6b5d52")),
            ),
        ],
        Theme::Roads => {
            let classes = road_classes();
            let is_road = json!(["match", ["get", "highway"], classes, true, false]);
            let is_path = json!(["match", ["get", "highway"], PATHS, true, false]);
            vec![
                c.with(
                    c.layer("path", "line", 15, Some(is_path)),
                    Some(json!({"line-cap": "round"})),
                    Some(json!({"line-color": "#b08d6e", "line-dasharray": [2, 1.5],
                                "line-width": ["interpolate", ["linear"], ["zoom"], 15, 0.6, 18, 1.6]})),
                ),
                c.with(
                    c.layer("casing", "line", 0, Some(is_road.clone())),
                    Some(json!({"line-cap": "round", "line-join": "round"})),
                    Some(json!({"line-color": road_match(|r| json!(r.2), json!("#c4bbae")),
                                "line-width": road_width(2.0)})),
                ),
                c.with(
                    c.layer("line", "line", 0, Some(is_road.clone())),
                    Some(json!({"line-cap": "round", "line-join": "round"})),
                    Some(json!({"line-color": road_match(|r| json!(r.1), json!("#ffffff")),
                                "line-width": road_width(0.0)})),
                ),
                c.with(
                    c.layer("label", "symbol", 13, Some(json!(["all", has_name(), is_road]))),
                    Some(json!({
                        "symbol-placement": "line",
                        "text-field": label(lang),
                        "text-font": [FONT_REGULAR],
                        "text-size": ["interpolate", ["linear"], ["zoom"], 13, 10, 18, 14],
                        "text-rotation-alignment": "map",
                        "text-pitch-alignment": "viewport",
                        "symbol-spacing": 300,
                    })),
                    Some(halo("#3d3a36")),
                ),
            ]
        }
        Theme::Pois => {
            let icon = match_expr(json!(["get", "subclass"]), POI_ICONS, "", "poi");
            // `class` is the OSM key that made the POI, `subclass` its value.
            let icon = json!(["match", ["get", "class"],
                "shop", "poi-shop",
                ["office", "craft"], "poi-office",
                icon]);
            vec![c.with(
                c.layer("icon", "symbol", 15, Some(has_name())),
                Some(json!({
                    "icon-image": icon,
                    "icon-size": 0.9,
                    "text-field": ["step", ["zoom"], "", 16, label(lang)],
                    "text-font": [FONT_REGULAR],
                    "text-size": 11,
                    "text-offset": [0, 1.1],
                    "text-anchor": "top",
                    "text-max-width": 8,
                    "text-optional": true,
                })),
                Some(halo("#5b3e75")),
            )]
        }
        Theme::Components | Theme::OsmComponents => {
            let (field, prefix) = if theme == Theme::Components {
                ("category_code", "P")
            } else {
                ("class_code", "")
            };
            let icon = match_expr(json!(["get", field]), COMPONENT_ICONS, prefix, "component");
            vec![c.with(
                c.layer("icon", "symbol", 17, None),
                Some(json!({"icon-image": icon, "icon-size": 0.8, "icon-allow-overlap": false})),
                None,
            )]
        }
        Theme::Cases => {
            let icon = match_expr(json!(["get", "status"]), CASE_ICONS, "", "case-new");
            vec![
                c.with(
                    c.layer("overdue", "circle", 0, Some(json!(["==", ["get", "overdue"], true]))),
                    None,
                    Some(json!({"circle-radius": 12, "circle-color": "rgba(0,0,0,0)",
                                "circle-stroke-color": "#e53935", "circle-stroke-width": 2.5})),
                ),
                // A dot by status at every zoom (the pages restyle this circle layer
                // and click it), the status icon over it from z14.
                c.with(
                    c.layer("circle", "circle", 0, None),
                    None,
                    Some(json!({
                        "circle-color": match_expr(json!(["get", "status"]), CASE_COLOURS, "", "#888888"),
                        "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 3, 14, 6, 18, 9],
                        "circle-stroke-color": "#ffffff",
                        "circle-stroke-width": 1,
                    })),
                ),
                c.with(
                    c.layer("icon", "symbol", 14, None),
                    Some(json!({
                        "icon-image": icon,
                        "icon-allow-overlap": true,
                        "text-field": ["step", ["zoom"], "", 17, ["coalesce", ["get", "case_no"], ""]],
                        "text-font": [FONT_REGULAR],
                        "text-size": 10,
                        "text-offset": [0, 1.3],
                        "text-anchor": "top",
                        "text-optional": true,
                    })),
                    Some(halo("#8a1c1c")),
                ),
            ]
        }
        Theme::Other => Vec::new(),
    }
}

/// A plain drawing of a layer citygrid does not know, and its `name` as a label.
fn generic(c: &Ctx, colour: &str) -> Vec<Value> {
    let g = c.l.geometry.as_str();
    let fill = c.with(
        c.layer(
            "fill",
            "fill",
            0,
            Some(json!(["==", ["geometry-type"], "Polygon"])),
        ),
        None,
        Some(json!({"fill-color": colour, "fill-opacity": 0.45, "fill-outline-color": colour})),
    );
    let line = c.with(
        c.layer("line", "line", 0, Some(json!(["==", ["geometry-type"], "LineString"]))),
        None,
        Some(json!({"line-color": colour, "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.5, 18, 3]})),
    );
    let point = c.with(
        c.layer(
            "circle",
            "circle",
            0,
            Some(json!(["==", ["geometry-type"], "Point"])),
        ),
        None,
        Some(json!({
            "circle-color": colour,
            "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 2, 18, 6],
            "circle-stroke-color": "#ffffff", "circle-stroke-width": 1,
        })),
    );
    let mut out = match g {
        g if g.contains("Polygon") => vec![fill],
        g if g.contains("LineString") => vec![line],
        g if g.contains("Point") => vec![point],
        _ => vec![fill, line, point],
    };
    if c.l.has("name") {
        let placement = if g.contains("LineString") {
            "line"
        } else {
            "point"
        };
        out.push(c.with(
            c.layer("label", "symbol", 14, Some(has_name())),
            Some(json!({
                "symbol-placement": placement,
                "text-field": label(c.lang),
                "text-font": [FONT_REGULAR],
                "text-size": 11,
                "text-offset": if placement == "point" && g.contains("Point") { json!([0, 1]) } else { json!([0, 0]) },
            })),
            Some(halo("#333333")),
        ));
    }
    out
}

/// The style layers of the vector layers, bottom to top: areas, boundaries,
/// buildings, roads, then points and all labels above every geometry. `colour`
/// picks a colour for a layer citygrid does not know.
pub fn vector_layers(
    layers: &[VectorLayer],
    lang: Lang,
    colour: impl Fn(&str) -> String,
) -> Vec<Value> {
    let has_components = layers.iter().any(|l| theme_of(l) == Theme::Components);
    let mut themed_layers: Vec<(Theme, &VectorLayer)> = layers
        .iter()
        .map(|l| (theme_of(l), l))
        // The OSM components are the `components` layer's source: drawn once.
        .filter(|(t, _)| !(has_components && *t == Theme::OsmComponents))
        .collect();
    let rank = |t: Theme, l: &VectorLayer| -> (u8, Theme) {
        let geometry = if t == Theme::Other {
            match l.geometry.as_str() {
                g if g.contains("Polygon") => 0,
                g if g.contains("LineString") => 3,
                _ => 5,
            }
        } else {
            0
        };
        let band = match t {
            Theme::Landuse | Theme::Water => 0,
            Theme::Other => geometry,
            Theme::AdminDivisions | Theme::Streets | Theme::Communities | Theme::UnitGrids => 1,
            Theme::Buildings => 2,
            Theme::Roads => 3,
            _ => 5,
        };
        (band, t)
    };
    themed_layers.sort_by_key(|(t, l)| rank(*t, l));
    let mut geometry = Vec::new();
    let mut symbols = Vec::new();
    for (theme, l) in themed_layers {
        let c = Ctx { lang, l };
        let mut made = Vec::new();
        // Areas of grid management: a faint fill, so that a click inside finds the area.
        let area = match theme {
            Theme::AdminDivisions => Some(("#8e6fa8", 0)),
            Theme::Streets => Some(("#9c7fb5", 0)),
            Theme::Communities => Some(("#b39cc8", 12)),
            Theme::UnitGrids => Some(("#7b61ff", 14)),
            _ => None,
        };
        if let Some((colour, minzoom)) = area {
            made.push(c.with(
                c.layer("fill", "fill", minzoom, None),
                None,
                Some(json!({"fill-color": colour, "fill-opacity": 0.04})),
            ));
        }
        if theme == Theme::Other {
            made.extend(generic(&c, &colour(&l.id)));
        } else {
            made.extend(themed(theme, &c));
        }
        for v in made {
            if v["type"] == "symbol" {
                symbols.push(v);
            } else {
                geometry.push(v);
            }
        }
    }
    // Labels of areas under those of points: place names last (drawn on top).
    geometry.extend(symbols);
    geometry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(id: &str, geometry: &str, fields: &[&str]) -> VectorLayer {
        VectorLayer {
            id: id.into(),
            source: "citygrid".into(),
            min_zoom: 0,
            geometry: geometry.into(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_icon_is_in_the_sprite() {
        let sprite: Vec<&str> = super::super::sprites::DEFAULT_ICONS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        for icon in icon_names() {
            assert!(sprite.contains(&icon), "icon {icon} is not drawn");
        }
    }

    #[test]
    fn known_layers_are_themed_and_labels_follow_the_language() {
        let layers = vec![
            layer("osm_roads", "LineString", &["name", "highway"]),
            layer("osm_buildings", "MultiPolygon", &["name", "building"]),
            layer("osm_components", "Point", &["class_code", "name"]),
            layer("components", "Point", &["category_code"]),
            layer("cases", "Point", &["status", "overdue", "case_no"]),
            layer("parcels", "MultiPolygon", &["name"]),
        ];
        let out = vector_layers(&layers, Lang::En, |_| "#123456".into());
        let ids: Vec<&str> = out.iter().filter_map(|v| v["id"].as_str()).collect();
        assert!(ids.contains(&"osm_roads-casing") && ids.contains(&"osm_roads-label"));
        assert!(ids.contains(&"cases-overdue"));
        assert!(ids.contains(&"components-icon"));
        assert!(
            !ids.iter().any(|i| i.starts_with("osm_components")),
            "components drawn twice"
        );
        assert!(ids.contains(&"parcels-fill") && ids.contains(&"parcels-label"));
        let first_symbol = out.iter().position(|v| v["type"] == "symbol").unwrap();
        assert!(out[first_symbol..].iter().all(|v| v["type"] == "symbol"));
        let road_label = out.iter().find(|v| v["id"] == "osm_roads-label").unwrap();
        assert_eq!(road_label["layout"]["text-field"], label(Lang::En));
        assert_eq!(road_label["layout"]["symbol-placement"], "line");
        let zh = vector_layers(&layers, Lang::Zh, |_| "#123456".into());
        let road_label = zh.iter().find(|v| v["id"] == "osm_roads-label").unwrap();
        assert_eq!(
            road_label["layout"]["text-field"][1],
            json!(["get", "name:zh"])
        );
    }
}

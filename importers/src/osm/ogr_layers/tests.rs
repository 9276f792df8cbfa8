//! The native layers against GDAL's own OSM driver on the sample extract.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::path::PathBuf;
use std::time::Instant;

use gdal_sys::OGRFieldType as GdalFieldType;

use super::*;
use crate::osm::pbf;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/helsinki.osm.pbf")
}

/// A layer as GDAL returns it.
struct GdalLayer {
    name: String,
    geometry: u32,
    fields: Vec<(String, GdalFieldType::Type)>,
    features: Vec<OgrFeature>,
}

/// Every layer of the file through GDAL (interleaved reading, as the importer does).
fn read_with_gdal(path: &std::path::Path) -> Vec<GdalLayer> {
    let ds = gdal::Dataset::open(path).expect("GDAL opens the sample");
    let mut layers = Vec::new();
    // SAFETY: GDAL C API on a dataset alive for the whole block; every feature is
    // destroyed once; strings are copied before the next call.
    unsafe {
        let h = ds.c_dataset();
        for i in 0..gdal_sys::GDALDatasetGetLayerCount(h) {
            let l = gdal_sys::GDALDatasetGetLayer(h, i);
            let defn = gdal_sys::OGR_L_GetLayerDefn(l);
            let fields = (0..gdal_sys::OGR_FD_GetFieldCount(defn))
                .map(|f| {
                    let fd = gdal_sys::OGR_FD_GetFieldDefn(defn, f);
                    let name = CStr::from_ptr(gdal_sys::OGR_Fld_GetNameRef(fd));
                    (
                        name.to_string_lossy().into_owned(),
                        gdal_sys::OGR_Fld_GetType(fd),
                    )
                })
                .collect();
            layers.push(GdalLayer {
                name: CStr::from_ptr(gdal_sys::OGR_L_GetName(l))
                    .to_string_lossy()
                    .into_owned(),
                geometry: gdal_sys::OGR_L_GetGeomType(l),
                fields,
                features: Vec::new(),
            });
        }
        gdal_sys::GDALDatasetResetReading(h);
        loop {
            let mut layer: gdal_sys::OGRLayerH = std::ptr::null_mut();
            let f = gdal_sys::GDALDatasetGetNextFeature(
                h,
                &mut layer,
                std::ptr::null_mut(),
                None,
                std::ptr::null_mut(),
            );
            if f.is_null() {
                break;
            }
            let name = CStr::from_ptr(gdal_sys::OGR_L_GetName(layer)).to_string_lossy();
            let target = layers
                .iter_mut()
                .find(|l| l.name == name)
                .expect("known layer");
            let values = target
                .fields
                .iter()
                .enumerate()
                .map(|(i, (_, t))| {
                    let i = i as i32;
                    if gdal_sys::OGR_F_IsFieldSetAndNotNull(f, i) == 0 {
                        None
                    } else if *t == GdalFieldType::OFTInteger {
                        Some(OgrValue::Integer(gdal_sys::OGR_F_GetFieldAsInteger64(f, i)))
                    } else {
                        let s = CStr::from_ptr(gdal_sys::OGR_F_GetFieldAsString(f, i));
                        Some(OgrValue::Text(s.to_string_lossy().into_owned()))
                    }
                })
                .collect();
            let mut wkb = Vec::new();
            crate::reader::geometry_wkb(gdal_sys::OGR_F_GetGeometryRef(f), &mut wkb);
            gdal_sys::OGR_F_Destroy(f);
            target.features.push(OgrFeature { wkb, values });
        }
    }
    layers
}

/// A parsed geometry.
#[derive(Debug, Clone)]
enum G {
    Point(Pt),
    Line(Vec<Pt>),
    Polygon(Vec<Vec<Pt>>),
    Multi(u32, Vec<G>),
}

type Pt = (f64, f64);

fn parse(b: &[u8]) -> G {
    fn u32_at(b: &[u8], p: &mut usize) -> u32 {
        let v = u32::from_le_bytes(b[*p..*p + 4].try_into().expect("4 bytes"));
        *p += 4;
        v
    }
    fn f64_at(b: &[u8], p: &mut usize) -> f64 {
        let v = f64::from_le_bytes(b[*p..*p + 8].try_into().expect("8 bytes"));
        *p += 8;
        v
    }
    fn pts(b: &[u8], p: &mut usize) -> Vec<Pt> {
        let n = u32_at(b, p);
        (0..n).map(|_| (f64_at(b, p), f64_at(b, p))).collect()
    }
    fn geom(b: &[u8], p: &mut usize) -> G {
        assert_eq!(b[*p], 1, "little endian WKB");
        *p += 1;
        match u32_at(b, p) {
            1 => G::Point((f64_at(b, p), f64_at(b, p))),
            2 => G::Line(pts(b, p)),
            3 => {
                let n = u32_at(b, p);
                G::Polygon((0..n).map(|_| pts(b, p)).collect())
            }
            t @ 4..=7 => {
                let n = u32_at(b, p);
                G::Multi(t, (0..n).map(|_| geom(b, p)).collect())
            }
            t => panic!("unexpected WKB type {t}"),
        }
    }
    let mut p = 0;
    let g = geom(b, &mut p);
    assert_eq!(p, b.len(), "trailing WKB bytes");
    g
}

const TOL: f64 = 1e-9;

fn same_pts(a: &[Pt], b: &[Pt]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| (p.0 - q.0).abs() <= TOL && (p.1 - q.1).abs() <= TOL)
}

fn same(a: &G, b: &G) -> bool {
    match (a, b) {
        (G::Point(p), G::Point(q)) => same_pts(&[*p], &[*q]),
        (G::Line(p), G::Line(q)) => same_pts(p, q),
        (G::Polygon(p), G::Polygon(q)) => {
            p.len() == q.len() && p.iter().zip(q).all(|(r, s)| same_pts(r, s))
        }
        (G::Multi(t, p), G::Multi(u, q)) => {
            t == u && p.len() == q.len() && p.iter().zip(q).all(|(x, y)| same(x, y))
        }
        _ => false,
    }
}

/// A ring without its closing point, started at its smallest point, in the
/// direction giving the smaller sequence.
fn normal_ring(r: &[Pt]) -> Vec<Pt> {
    let mut r = r.to_vec();
    if r.len() > 1 && r[0] == r[r.len() - 1] {
        r.pop();
    }
    let best = |v: &Vec<Pt>| {
        let i = (0..v.len())
            .min_by(|&a, &b| v[a].partial_cmp(&v[b]).unwrap_or(std::cmp::Ordering::Equal))
            .unwrap_or(0);
        let mut w = v[i..].to_vec();
        w.extend_from_slice(&v[..i]);
        w
    };
    let fwd = best(&r);
    let mut rev = r.clone();
    rev.reverse();
    let rev = best(&rev);
    if fwd.partial_cmp(&rev) == Some(std::cmp::Ordering::Greater) {
        rev
    } else {
        fwd
    }
}

/// A multipolygon with normalised rings, holes and polygons sorted.
fn normal_multipolygon(g: &G) -> Option<Vec<Vec<Vec<Pt>>>> {
    let G::Multi(6, polys) = g else { return None };
    let mut out: Vec<Vec<Vec<Pt>>> = polys
        .iter()
        .map(|p| match p {
            G::Polygon(rings) => {
                let mut rs: Vec<Vec<Pt>> = rings.iter().map(|r| normal_ring(r)).collect();
                rs[1..].sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                rs
            }
            _ => Vec::new(),
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Some(out)
}

fn feature_key(layer: &str, fields: &[OgrField], f: &OgrFeature) -> String {
    let text = |name: &str| {
        fields
            .iter()
            .position(|fd| fd.name == name)
            .and_then(|i| match &f.values[i] {
                Some(OgrValue::Text(s)) => Some(s.clone()),
                _ => None,
            })
    };
    match (text("osm_id"), text("osm_way_id")) {
        (Some(id), _) => format!("{layer}:{id}"),
        (None, Some(id)) => format!("{layer}:way:{id}"),
        _ => format!("{layer}:?"),
    }
}

/// Compares the native layers with GDAL's: fields (asserted), then features; the
/// differences are returned, a summary line per layer printed.
fn compare(native: &[OgrLayer], gdal: &[GdalLayer]) -> Vec<String> {
    assert_eq!(
        native.iter().map(|l| l.name).collect::<Vec<_>>(),
        gdal.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        "layer names and order"
    );
    let mut differences: Vec<String> = Vec::new();
    for (n, g) in native.iter().zip(gdal) {
        assert_eq!(n.geometry as u32, g.geometry, "{}: geometry type", n.name);
        let fields: Vec<(String, GdalFieldType::Type)> = n
            .fields
            .iter()
            .map(|f| {
                let t = match f.field_type {
                    OgrFieldType::Text => GdalFieldType::OFTString,
                    OgrFieldType::Integer => GdalFieldType::OFTInteger,
                };
                (f.name.to_string(), t)
            })
            .collect();
        assert_eq!(fields, g.fields, "{}: fields", n.name);

        let keys_n: Vec<String> = n
            .features
            .iter()
            .map(|f| feature_key(n.name, &n.fields, f))
            .collect();
        let keys_g: Vec<String> = g
            .features
            .iter()
            .map(|f| feature_key(n.name, &n.fields, f))
            .collect();
        let set_n: HashSet<&String> = keys_n.iter().collect();
        let set_g: HashSet<&String> = keys_g.iter().collect();
        let mut normalised = 0;
        let mut identical_wkb = 0;
        for k in set_n.difference(&set_g) {
            differences.push(format!("{k}: only in the native layer"));
        }
        for k in set_g.difference(&set_n) {
            differences.push(format!("{k}: only in GDAL's layer"));
        }
        if keys_n != keys_g && set_n == set_g {
            differences.push(format!("{}: features in another order", n.name));
        }
        let by_key: HashMap<&String, &OgrFeature> = keys_n.iter().zip(&n.features).collect();
        for (k, gf) in keys_g.iter().zip(&g.features) {
            let Some(nf) = by_key.get(k) else { continue };
            if nf.values != gf.values {
                differences.push(format!(
                    "{k}: values {:?} != GDAL {:?}",
                    nf.values, gf.values
                ));
            }
            identical_wkb += usize::from(nf.wkb == gf.wkb);
            let (gn, gg) = (parse(&nf.wkb), parse(&gf.wkb));
            if !same(&gn, &gg) {
                match (normal_multipolygon(&gn), normal_multipolygon(&gg)) {
                    (Some(a), Some(b))
                        if a.len() == b.len()
                            && a.iter().zip(&b).all(|(p, q)| {
                                p.len() == q.len() && p.iter().zip(q).all(|(r, s)| same_pts(r, s))
                            }) =>
                    {
                        normalised += 1;
                        differences.push(format!("{k}: same rings, other start or orientation"));
                    }
                    _ => differences.push(format!("{k}: geometry {gn:?} != GDAL {gg:?}")),
                }
            }
        }
        println!(
            "{}: {} features native, {} GDAL, same order: {}, byte-identical WKB: {identical_wkb}, polygons equal only after ring normalisation: {normalised}",
            n.name,
            n.features.len(),
            g.features.len(),
            keys_n == keys_g,
        );
    }
    for d in differences.iter().take(40) {
        println!("DIFF {d}");
    }
    differences
}

#[test]
fn ogr_layers_match_gdal_on_the_sample() {
    let path = sample();
    let data = pbf::read_file(&path).expect("the sample decodes");
    let started = Instant::now();
    let native = build_layers(&data);
    let first = started.elapsed();
    let best = (0..5)
        .map(|_| {
            let started = Instant::now();
            let layers = build_layers(&data);
            assert_eq!(layers.len(), 5);
            started.elapsed()
        })
        .min()
        .unwrap_or_default();
    let started = Instant::now();
    let gdal = read_with_gdal(&path);
    println!(
        "build_layers: first run {first:?}, best of 5 {best:?}; GDAL read of every layer: {:?}",
        started.elapsed()
    );
    let differences = compare(&native, &gdal);
    assert!(
        differences.is_empty(),
        "{} differences with GDAL",
        differences.len()
    );
}

/// A small extract written both as OSM XML (for GDAL) and as [`OsmData`].
#[derive(Default)]
struct Extract {
    nodes: Vec<pbf::Node>,
    ways: Vec<pbf::Way>,
    relations: Vec<pbf::Relation>,
}

fn tags(list: &[(&str, &str)]) -> pbf::TagList {
    list.iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

impl Extract {
    /// A node at grid position (x, y) (1e-3 degree steps from 24.9 E, 60.1 N).
    fn node(&mut self, id: i64, x: i32, y: i32, t: &[(&str, &str)]) {
        let lon: f64 = format!("{:.7}", 24.9 + f64::from(x) * 0.001)
            .parse()
            .expect("lon");
        let lat: f64 = format!("{:.7}", 60.1 + f64::from(y) * 0.001)
            .parse()
            .expect("lat");
        self.nodes.push(pbf::Node {
            id,
            lon,
            lat,
            tags: tags(t),
        });
    }

    fn way(&mut self, id: i64, refs: &[i64], t: &[(&str, &str)]) {
        self.ways.push(pbf::Way {
            id,
            refs: refs.to_vec(),
            tags: tags(t),
        });
    }

    fn relation(&mut self, id: i64, members: &[(char, i64, &str)], t: &[(&str, &str)]) {
        let members = members
            .iter()
            .map(|(kind, id, role)| pbf::Member {
                kind: match kind {
                    'n' => pbf::MemberType::Node,
                    'w' => pbf::MemberType::Way,
                    _ => pbf::MemberType::Relation,
                },
                id: *id,
                role: (*role).into(),
            })
            .collect();
        self.relations.push(pbf::Relation {
            id,
            members,
            tags: tags(t),
        });
    }

    fn xml(&self) -> String {
        fn esc(s: &str) -> String {
            s.replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        }
        fn tag_xml(out: &mut String, t: &pbf::TagList) {
            for (k, v) in t {
                out.push_str(&format!("  <tag k=\"{}\" v=\"{}\"/>\n", esc(k), esc(v)));
            }
        }
        let mut out =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<osm version=\"0.6\">\n");
        for n in &self.nodes {
            out.push_str(&format!(
                "<node id=\"{}\" lat=\"{:.7}\" lon=\"{:.7}\">\n",
                n.id, n.lat, n.lon
            ));
            tag_xml(&mut out, &n.tags);
            out.push_str("</node>\n");
        }
        for w in &self.ways {
            out.push_str(&format!("<way id=\"{}\">\n", w.id));
            for r in &w.refs {
                out.push_str(&format!("  <nd ref=\"{r}\"/>\n"));
            }
            tag_xml(&mut out, &w.tags);
            out.push_str("</way>\n");
        }
        for r in &self.relations {
            out.push_str(&format!("<relation id=\"{}\">\n", r.id));
            for m in &r.members {
                let kind = match m.kind {
                    pbf::MemberType::Node => "node",
                    pbf::MemberType::Way => "way",
                    pbf::MemberType::Relation => "relation",
                };
                out.push_str(&format!(
                    "  <member type=\"{kind}\" ref=\"{}\" role=\"{}\"/>\n",
                    m.id,
                    esc(m.role.name())
                ));
            }
            tag_xml(&mut out, &r.tags);
            out.push_str("</relation>\n");
        }
        out.push_str("</osm>\n");
        out
    }
}

/// The driver's special cases, each built natively and read by GDAL from the same
/// elements written as OSM XML.
#[test]
fn ogr_layers_match_gdal_on_edge_cases() {
    let mut e = Extract::default();
    // Points: insignificant keys alone; ignored keys and prefixes; escaping; a tag
    // list longer than other_tags can hold.
    e.node(1, 0, 20, &[("created_by", "JOSM"), ("source", "survey")]);
    e.node(
        2,
        1,
        20,
        &[
            ("name", "A"),
            ("note", "n"),
            ("openGeoDB:foo", "1"),
            ("qu\"ote", "back\\slash \"x\""),
            ("source", "s"),
            ("addr:street", "Katu"),
            ("osm_id", "12"),
        ],
    );
    e.node(3, 2, 20, &[("ele", "5"), ("fixme", "x")]);
    let long_a = "a".repeat(3000);
    let long_b = "b".repeat(3000);
    e.node(
        4,
        3,
        20,
        &[
            ("name", "Long"),
            ("k1", &long_a),
            ("k2", &long_b),
            ("k3", "short"),
        ],
    );
    // Outer square in two open ways, and an inner ring.
    e.node(30, 0, 0, &[]);
    e.node(31, 10, 0, &[]);
    e.node(32, 10, 10, &[]);
    e.node(33, 0, 10, &[]);
    e.node(40, 2, 2, &[]);
    e.node(41, 4, 2, &[]);
    e.node(42, 4, 4, &[]);
    e.node(43, 2, 4, &[]);
    // Second island with its own hole, in the same relation.
    e.node(44, 12, 0, &[]);
    e.node(45, 18, 0, &[]);
    e.node(46, 18, 6, &[]);
    e.node(47, 12, 6, &[]);
    e.node(48, 13, 1, &[]);
    e.node(49, 14, 1, &[]);
    e.node(50, 20, 0, &[]);
    e.node(51, 22, 0, &[]);
    e.node(52, 22, 2, &[]);
    e.node(53, 13, 2, &[]);
    for (i, id) in (60..=65).enumerate() {
        let i = i as i32;
        e.node(id, 30 + i, i % 2, &[]);
    }
    e.node(66, 30, 3, &[]);
    for (id, x, y) in [
        (70, 50, 0),
        (71, 52, 0),
        (72, 52, 2),
        (73, 60, 0),
        (74, 62, 0),
        (75, 62, 2),
        (76, 70, 0),
        (77, 72, 0),
        (78, 72, 2),
        (79, 50, 0),
    ] {
        e.node(id, x, y, &[]);
    }
    for (i, id) in (80..=97).enumerate() {
        let i = i as i32;
        e.node(id, 80 + i, (i % 3) * 2, &[]);
    }
    e.node(100, -24900, -60100, &[]);
    e.node(101, 5, 30, &[]);
    e.node(102, 6, 30, &[]);
    e.node(110, 0, 40, &[]);
    e.node(111, 1, 40, &[]);
    e.node(112, 2, 40, &[]);

    // Three ways meeting at one node: GDAL takes the first in member order.
    for (id, x, y) in [
        (120, 0, 50),
        (121, 4, 50),
        (122, 4, 54),
        (123, 0, 54),
        (124, 8, 50),
        (125, 8, 54),
    ] {
        e.node(id, x, y, &[]);
    }

    e.way(
        10,
        &[1, 2],
        &[
            ("highway", "residential"),
            ("bridge", "yes"),
            ("layer", "2"),
            ("name", "Road"),
        ],
    );
    e.way(11, &[80, 81, 82, 80], &[("building", "yes")]);
    e.way(
        12,
        &[83, 84, 85, 83],
        &[("building", "yes"), ("area", "no")],
    );
    e.way(
        13,
        &[86, 87, 88, 86],
        &[("highway", "pedestrian"), ("area", "yes")],
    );
    e.way(
        14,
        &[89, 90, 91, 89],
        &[("area", "yes"), ("note", "only ignored tags")],
    );
    e.way(15, &[92, 9999, 93], &[("highway", "service")]);
    e.way(16, &[94], &[("highway", "footway")]);
    e.way(17, &[9998, 95, 96, 97, 9998], &[("landuse", "grass")]);
    e.way(18, &[30, 31, 32], &[]);
    e.way(19, &[30, 33, 32], &[]);
    e.way(20, &[40, 41, 42, 43, 40], &[]);
    e.way(
        21,
        &[50, 51, 52, 50],
        &[("natural", "water"), ("name", "Pond"), ("created_by", "x")],
    );
    e.way(
        22,
        &[2, 3],
        &[("railway", "rail"), ("tunnel", "yes"), ("layer", "-1")],
    );
    e.way(23, &[64, 65, 64], &[]);
    e.way(24, &[70, 71, 72], &[]);
    e.way(25, &[60, 61, 62, 63, 60], &[]);
    e.way(26, &[73, 74, 75, 73], &[]);
    e.way(27, &[76, 77, 78, 76], &[]);
    e.way(28, &[100, 101, 102], &[("highway", "path")]);
    e.way(29, &[44, 45, 46], &[("barrier", "fence")]);
    e.way(30, &[46, 47, 44], &[]);
    e.way(31, &[48, 49, 53, 48], &[]);
    e.way(
        32,
        &[110, 111, 112, 110],
        &[("amenity", "parking"), ("area", "no"), ("area", "yes")],
    );
    e.way(33, &[], &[("highway", "empty")]);
    e.way(35, &[70, 71, 72, 79], &[("barrier", "wall")]);
    e.way(
        34,
        &[110, 111],
        &[
            ("layer", "x7"),
            ("highway", "motorway"),
            ("highway", "primary"),
        ],
    );

    e.way(36, &[120, 121], &[]);
    e.way(37, &[122, 121], &[]);
    e.way(38, &[121, 124], &[]);
    e.way(39, &[122, 123, 120], &[]);
    e.way(40, &[124, 125, 122], &[]);

    e.relation(
        100,
        &[
            ('w', 18, "outer"),
            ('w', 20, "inner"),
            ('w', 19, "outer"),
            ('w', 29, "outer"),
            ('w', 31, "inner"),
            ('w', 30, ""),
        ],
        &[
            ("type", "multipolygon"),
            ("name", "MP"),
            ("landuse", "forest"),
        ],
    );
    e.relation(
        101,
        &[('w', 21, "outer")],
        &[("type", "multipolygon"), ("created_by", "me")],
    );
    e.relation(
        102,
        &[('w', 25, "outer"), ('w', 23, "outer")],
        &[("type", "multipolygon"), ("building", "yes")],
    );
    e.relation(
        103,
        &[('w', 999, "outer"), ('w', 27, "outer")],
        &[("type", "multipolygon"), ("name", "missing")],
    );
    e.relation(
        104,
        &[
            ('w', 10, ""),
            ('n', 2, "stop"),
            ('w', 22, ""),
            ('r', 100, ""),
            ('w', 11, ""),
        ],
        &[("type", "route"), ("route", "bus")],
    );
    e.relation(
        105,
        &[
            ('n', 2, ""),
            ('w', 11, ""),
            ('w', 10, ""),
            ('r', 104, ""),
            ('w', 998, ""),
            ('n', 9997, ""),
        ],
        &[("type", "site"), ("name", "S")],
    );
    e.relation(
        106,
        &[('w', 24, "outer"), ('w', 26, "outer"), ('w', 35, "inner")],
        &[
            ("type", "boundary"),
            ("boundary", "administrative"),
            ("admin_level", "8"),
        ],
    );
    e.relation(
        107,
        &[('w', 10, "subarea"), ('w', 27, "outer")],
        &[("type", "multipolygon"), ("natural", "wood")],
    );
    e.relation(108, &[('n', 3, "")], &[]);
    e.relation(109, &[('w', 997, "")], &[("type", "multilinestring")]);
    e.relation(110, &[('w', 26, "outer")], &[("type", "multipolygon")]);
    e.relation(
        111,
        &[('w', 13, "inner"), ('w', 32, "outer")],
        &[("type", "multipolygon")],
    );

    e.relation(
        112,
        &[
            ('w', 36, "outer"),
            ('w', 37, "outer"),
            ('w', 38, "outer"),
            ('w', 39, "outer"),
            ('w', 40, "outer"),
        ],
        &[("type", "multipolygon"), ("landuse", "meadow")],
    );

    let path = std::env::temp_dir().join(format!("citygrid-ogr-layers-{}.osm", std::process::id()));
    std::fs::write(&path, e.xml()).expect("write the XML extract");
    let gdal = read_with_gdal(&path);
    let _ = std::fs::remove_file(&path);
    let data = OsmData::from_parts(e.nodes, e.ways, e.relations);
    let native = build_layers(&data);
    let differences = compare(&native, &gdal);
    assert!(
        differences.is_empty(),
        "{} differences with GDAL",
        differences.len()
    );
    // The cases above must really have produced features on both sides.
    let counts: Vec<usize> = native.iter().map(|l| l.features.len()).collect();
    println!("edge cases: features per layer {counts:?}");
    assert!(
        counts.iter().all(|&c| c > 0),
        "every layer has features: {counts:?}"
    );
}

//! Source coordinate reference systems and the transformation into EPSG:4326.
//!
//! A [`SourceCrs`] comes from `--source-crs` (`EPSG:n`, any other `AUTHORITY:CODE`,
//! `gcj02`, `bd09`) or from the file (see `reader`). A [`Transformer`] turns
//! coordinates of that CRS into lon/lat on WGS84:
//!
//! - through PROJ (`proj_create_crs_to_crs` + `proj_normalize_for_visualization`,
//!   i.e. the semantics of the `proj` crate's `Proj::new_known_crs`): input is
//!   always easting/longitude first, output always longitude first, whatever the
//!   authority's axis order says;
//! - by hand for GCJ-02 and BD-09 (`citygrid_geo::chinacrs`), which PROJ does not know;
//! - not at all for EPSG:4326 / OGC:CRS84.
//!
//! PROJ objects are not thread-safe, so every worker thread builds its own
//! `Transformer`; each owns its own PROJ context.

use std::ffi::{CStr, CString};
use std::ptr;

use crate::error::ImportError;
use citygrid_geo::chinacrs;

/// A CRS that source coordinates are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceCrs {
    /// Anything PROJ resolves: `EPSG:4547`, `ESRI:102100`, WKT, PROJJSON.
    Proj {
        /// What PROJ is given.
        definition: String,
        /// What the catalogue records: `EPSG:4547`, or the CRS's name.
        label: String,
    },
    /// GCJ-02 lon/lat (AMap, Tencent).
    Gcj02,
    /// BD-09 lon/lat (Baidu).
    Bd09,
}

impl SourceCrs {
    /// Parses a `--source-crs` value: `EPSG:n` (also `epsg:n` or a bare number),
    /// `gcj02`, `bd09`, or any `AUTHORITY:CODE` PROJ knows.
    pub fn parse(text: &str) -> Result<SourceCrs, ImportError> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "gcj02" | "gcj-02" | "gcj" => return Ok(SourceCrs::Gcj02),
            "bd09" | "bd-09" | "bd09ll" => return Ok(SourceCrs::Bd09),
            "" => return Err(ImportError::Invalid("--source-crs is empty".into())),
            _ => {}
        }
        let code = lower.strip_prefix("epsg:").unwrap_or(&lower);
        if code.chars().all(|c| c.is_ascii_digit()) {
            let n: u32 = code.parse().map_err(|_| ImportError::UnknownCrs {
                crs: t.to_string(),
                message: "not an EPSG code".into(),
            })?;
            return Ok(SourceCrs::epsg(n));
        }
        if lower.starts_with("epsg:") {
            return Err(ImportError::UnknownCrs {
                crs: t.to_string(),
                message: "an EPSG code is a number, e.g. EPSG:4547".into(),
            });
        }
        Ok(SourceCrs::Proj {
            definition: t.to_string(),
            label: t.to_string(),
        })
    }

    /// `EPSG:code`.
    pub fn epsg(code: u32) -> SourceCrs {
        SourceCrs::Proj {
            definition: format!("EPSG:{code}"),
            label: format!("EPSG:{code}"),
        }
    }

    /// What the catalogue records as the source CRS.
    pub fn label(&self) -> &str {
        match self {
            SourceCrs::Proj { label, .. } => label,
            SourceCrs::Gcj02 => "gcj02",
            SourceCrs::Bd09 => "bd09",
        }
    }

    /// Whether coordinates are already lon/lat on WGS84.
    pub fn is_wgs84(&self) -> bool {
        matches!(self, SourceCrs::Proj { definition, .. }
            if matches!(definition.to_ascii_uppercase().as_str(), "EPSG:4326" | "OGC:CRS84" | "CRS84"))
    }
}

/// Turns source coordinates into EPSG:4326 lon/lat, in place.
pub struct Transformer {
    kind: Kind,
    swap_xy: bool,
}

enum Kind {
    Identity,
    Proj(ProjOperation),
    Gcj02,
    Bd09,
}

impl Transformer {
    /// A transformer from `crs`; `swap_xy` when the data's first axis is the
    /// northing/latitude (a few drivers keep the authority's axis order).
    pub fn new(crs: &SourceCrs, swap_xy: bool) -> Result<Transformer, ImportError> {
        let kind = match crs {
            SourceCrs::Gcj02 => Kind::Gcj02,
            SourceCrs::Bd09 => Kind::Bd09,
            c if c.is_wgs84() => Kind::Identity,
            SourceCrs::Proj { definition, label } => {
                Kind::Proj(ProjOperation::new(definition).map_err(|message| {
                    ImportError::UnknownCrs {
                        crs: label.clone(),
                        message,
                    }
                })?)
            }
        };
        Ok(Transformer { kind, swap_xy })
    }

    /// Transforms `coords` (x/easting/lon first) into lon/lat in place. Points PROJ
    /// cannot transform become non-finite; the caller checks.
    pub fn transform(&mut self, coords: &mut [[f64; 2]]) {
        if self.swap_xy {
            for c in coords.iter_mut() {
                c.swap(0, 1);
            }
        }
        match &mut self.kind {
            Kind::Identity => {}
            Kind::Proj(op) => op.transform(coords),
            Kind::Gcj02 => {
                for c in coords.iter_mut() {
                    let (lon, lat) = chinacrs::gcj02_to_wgs84(c[0], c[1]);
                    *c = [lon, lat];
                }
            }
            Kind::Bd09 => {
                for c in coords.iter_mut() {
                    let (lon, lat) = chinacrs::bd09_to_wgs84(c[0], c[1]);
                    *c = [lon, lat];
                }
            }
        }
    }
}

/// A normalised PROJ crs-to-crs operation with its own context.
struct ProjOperation {
    ctx: *mut proj_sys::PJ_CONTEXT,
    pj: *mut proj_sys::PJ,
}

// SAFETY: the context and operation are owned exclusively by this value and used by
// one thread at a time (`&mut self`); PROJ allows moving them between threads.
unsafe impl Send for ProjOperation {}

impl ProjOperation {
    fn new(definition: &str) -> Result<ProjOperation, String> {
        let source = CString::new(definition).map_err(|_| "contains a NUL byte".to_string())?;
        let target = c"EPSG:4326";
        // SAFETY: plain PROJ C API use; every pointer is checked before use and
        // released on every path.
        unsafe {
            let ctx = proj_sys::proj_context_create();
            if ctx.is_null() {
                return Err("cannot create a PROJ context".into());
            }
            proj_sys::proj_log_level(ctx, proj_sys::PJ_LOG_LEVEL_PJ_LOG_NONE);
            // Check the CRS on its own first: gives "crs not found" for bad codes.
            let crs = proj_sys::proj_create(ctx, source.as_ptr());
            if crs.is_null() {
                let message = context_error(ctx, "PROJ does not know this CRS");
                proj_sys::proj_context_destroy(ctx);
                return Err(message);
            }
            proj_sys::proj_destroy(crs);
            let raw = proj_sys::proj_create_crs_to_crs(
                ctx,
                source.as_ptr(),
                target.as_ptr(),
                ptr::null_mut(),
            );
            if raw.is_null() {
                let message = context_error(ctx, "no transformation to EPSG:4326");
                proj_sys::proj_context_destroy(ctx);
                return Err(message);
            }
            let pj = proj_sys::proj_normalize_for_visualization(ctx, raw);
            proj_sys::proj_destroy(raw);
            if pj.is_null() {
                let message = context_error(ctx, "cannot normalise the axis order");
                proj_sys::proj_context_destroy(ctx);
                return Err(message);
            }
            Ok(ProjOperation { ctx, pj })
        }
    }

    fn transform(&mut self, coords: &mut [[f64; 2]]) {
        if coords.is_empty() {
            return;
        }
        let n = coords.len();
        let stride = std::mem::size_of::<[f64; 2]>();
        let base = coords.as_mut_ptr() as *mut f64;
        // SAFETY: x and y walk the same slice with a stride of one pair; PROJ writes
        // only within the `n` elements.
        unsafe {
            proj_sys::proj_trans_generic(
                self.pj,
                proj_sys::PJ_DIRECTION_PJ_FWD,
                base,
                stride,
                n,
                base.add(1),
                stride,
                n,
                ptr::null_mut(),
                0,
                0,
                ptr::null_mut(),
                0,
                0,
            );
        }
    }
}

impl Drop for ProjOperation {
    fn drop(&mut self) {
        // SAFETY: both were created in `new` and are destroyed once.
        unsafe {
            proj_sys::proj_destroy(self.pj);
            proj_sys::proj_context_destroy(self.ctx);
        }
    }
}

/// How far (degrees) transformed coordinates may lie outside a CRS's area of use
/// before the CRS is taken for the wrong one: survey data often spills a little
/// over a zone's edge, never by several degrees.
pub const AREA_MARGIN_DEGREES: f64 = 2.0;

/// What kind of coordinates a CRS expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrsKind {
    /// Longitude/latitude in degrees.
    Geographic,
    /// Eastings/northings in a linear unit.
    Projected,
    /// Geocentric, engineering…: not checked.
    Other,
}

/// A CRS's area of use (degrees; `west > east` when it crosses the antimeridian).
#[derive(Debug, Clone, PartialEq)]
struct AreaOfUse {
    name: String,
    west: f64,
    south: f64,
    east: f64,
    north: f64,
}

impl AreaOfUse {
    /// Whether `(lon, lat)` lies within the area widened by `margin` degrees.
    fn contains(&self, lon: f64, lat: f64, margin: f64) -> bool {
        let lat_ok = lat >= self.south - margin && lat <= self.north + margin;
        let lon_ok = if self.west <= self.east {
            lon >= self.west - margin && lon <= self.east + margin
        } else {
            lon >= self.west - margin || lon <= self.east + margin
        };
        lat_ok && lon_ok
    }
}

/// What PROJ says about a CRS: the kind of coordinates it expects, their unit,
/// where it is used, and its geodetic (lon/lat) CRS.
#[derive(Debug, Clone)]
struct CrsFacts {
    kind: CrsKind,
    unit: Option<String>,
    area: Option<AreaOfUse>,
    geodetic: Option<String>,
}

/// Asks PROJ about `definition` (its horizontal part for a compound or bound
/// CRS); `None` when PROJ cannot tell.
fn crs_facts(definition: &str) -> Option<CrsFacts> {
    let definition = CString::new(definition).ok()?;
    // SAFETY: plain PROJ C API use on a context of our own; every object is
    // checked for null and destroyed once, the context last.
    unsafe {
        let ctx = proj_sys::proj_context_create();
        if ctx.is_null() {
            return None;
        }
        proj_sys::proj_log_level(ctx, proj_sys::PJ_LOG_LEVEL_PJ_LOG_NONE);
        let facts = facts_in(ctx, definition.as_ptr());
        proj_sys::proj_context_destroy(ctx);
        facts
    }
}

unsafe fn c_text(p: *const std::ffi::c_char) -> Option<String> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
}

unsafe fn facts_in(
    ctx: *mut proj_sys::PJ_CONTEXT,
    definition: *const std::ffi::c_char,
) -> Option<CrsFacts> {
    let mut crs = proj_sys::proj_create(ctx, definition);
    // The horizontal CRS of a compound CRS, the source CRS of a bound CRS.
    for _ in 0..3 {
        if crs.is_null() {
            return None;
        }
        let inner = match proj_sys::proj_get_type(crs) {
            proj_sys::PJ_TYPE_PJ_TYPE_COMPOUND_CRS => proj_sys::proj_crs_get_sub_crs(ctx, crs, 0),
            proj_sys::PJ_TYPE_PJ_TYPE_BOUND_CRS => proj_sys::proj_get_source_crs(ctx, crs),
            _ => break,
        };
        proj_sys::proj_destroy(crs);
        crs = inner;
    }
    if crs.is_null() {
        return None;
    }
    let kind = match proj_sys::proj_get_type(crs) {
        proj_sys::PJ_TYPE_PJ_TYPE_GEOGRAPHIC_CRS
        | proj_sys::PJ_TYPE_PJ_TYPE_GEOGRAPHIC_2D_CRS
        | proj_sys::PJ_TYPE_PJ_TYPE_GEOGRAPHIC_3D_CRS => CrsKind::Geographic,
        proj_sys::PJ_TYPE_PJ_TYPE_PROJECTED_CRS => CrsKind::Projected,
        _ => CrsKind::Other,
    };
    let (mut west, mut south, mut east, mut north) = (0.0, 0.0, 0.0, 0.0);
    let mut area_name: *const std::ffi::c_char = ptr::null();
    let known = proj_sys::proj_get_area_of_use(
        ctx,
        crs,
        &mut west,
        &mut south,
        &mut east,
        &mut north,
        &mut area_name,
    ) != 0;
    // PROJ reports -1000 for an unknown bound.
    let area =
        (known && [west, south, east, north].iter().all(|v| *v > -1000.0)).then(|| AreaOfUse {
            name: c_text(area_name).unwrap_or_default(),
            west,
            south,
            east,
            north,
        });
    let mut unit = None;
    let cs = proj_sys::proj_crs_get_coordinate_system(ctx, crs);
    if !cs.is_null() {
        let mut unit_name: *const std::ffi::c_char = ptr::null();
        let ok = proj_sys::proj_cs_get_axis_info(
            ctx,
            cs,
            0,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut unit_name,
            ptr::null_mut(),
            ptr::null_mut(),
        ) != 0;
        if ok {
            unit = c_text(unit_name);
        }
        proj_sys::proj_destroy(cs);
    }
    let mut geodetic = None;
    let g = proj_sys::proj_crs_get_geodetic_crs(ctx, crs);
    if !g.is_null() {
        if let (Some(auth), Some(code)) = (
            c_text(proj_sys::proj_get_id_auth_name(g, 0)),
            c_text(proj_sys::proj_get_id_code(g, 0)),
        ) {
            geodetic = Some(format!("{auth}:{code}"));
        }
        proj_sys::proj_destroy(g);
    }
    proj_sys::proj_destroy(crs);
    Some(CrsFacts {
        kind,
        unit,
        area,
        geodetic,
    })
}

/// `lo..hi` with as many decimals as the span needs (degrees), or whole metres.
fn range(lo: f64, hi: f64, degrees: bool) -> String {
    if !degrees {
        return format!("{lo:.0}..{hi:.0}");
    }
    let span = (hi - lo).abs();
    let decimals = if span >= 0.5 {
        1
    } else if span >= 0.005 {
        3
    } else {
        5
    };
    format!("{lo:.decimals$}..{hi:.decimals$}")
}

/// Whether an extent `[min x, min y, max x, max y]` fits longitude/latitude degrees.
fn looks_like_degrees(e: [f64; 4]) -> bool {
    e[0] >= -180.0 && e[2] <= 180.0 && e[1] >= -90.0 && e[3] <= 90.0
}

/// The projected CRS that metres are probably in: a CGCS2000 Gauss–Krüger zone
/// when the easting carries its zone number (3-degree zones 25–45, 6-degree zones
/// 13–23), otherwise a hint.
fn projected_hint(e: [f64; 4]) -> String {
    let zone = (e[0] / 1e6).floor();
    let same_zone = zone == (e[2] / 1e6).floor();
    if same_zone && (0.0..=10_000_000.0).contains(&e[1]) {
        let zone = zone as i64;
        if (25..=45).contains(&zone) {
            return format!(
                "did you mean --source-crs EPSG:{} (CGCS2000 3-degree Gauss-Kruger zone {zone})?",
                4513 + zone - 25
            );
        }
        if (13..=23).contains(&zone) {
            return format!(
                "did you mean --source-crs EPSG:{} (CGCS2000 6-degree Gauss-Kruger zone {zone})?",
                4491 + zone - 13
            );
        }
    }
    "did you mean the projected CRS they were surveyed in, e.g. --source-crs EPSG:4547 (CGCS2000 3-degree Gauss-Kruger, central meridian 114E)?".into()
}

/// Checks that source coordinates with extent `extent` (`[min x, min y, max x,
/// max y]` in the data's axis order; `swap_xy` as for [`Transformer::new`]) fit
/// `crs`: degrees for a geographic CRS, not degrees for a projected one, and
/// once transformed, on the earth and within the CRS's area of use (with
/// [`AREA_MARGIN_DEGREES`]). `from_flag` says whether the CRS came from
/// `--source-crs` (for the message). The error says what the coordinates look
/// like and which CRS was probably meant.
pub fn check_extent(
    crs: &SourceCrs,
    swap_xy: bool,
    extent: [f64; 4],
    from_flag: bool,
) -> Result<(), ImportError> {
    if !extent.iter().all(|v| v.is_finite()) {
        return Ok(());
    }
    let e = if swap_xy {
        [extent[1], extent[0], extent[3], extent[2]]
    } else {
        extent
    };
    let degrees = looks_like_degrees(e);
    let what = if from_flag {
        format!("--source-crs {}", crs.label())
    } else {
        format!("the file's CRS {}", crs.label())
    };
    let refuse = |message: String| {
        Err(ImportError::ImplausibleCrs(format!(
            "{message} (--force imports them as declared)"
        )))
    };
    let as_degrees = || format!("({}, {})", range(e[0], e[2], true), range(e[1], e[3], true));
    let as_metres = || {
        format!(
            "({}, {})",
            range(e[0], e[2], false),
            range(e[1], e[3], false)
        )
    };
    let facts = match crs {
        SourceCrs::Gcj02 | SourceCrs::Bd09 => None,
        c if c.is_wgs84() => None,
        SourceCrs::Proj { definition, .. } => crs_facts(definition),
    };
    let kind = match (&facts, crs) {
        (Some(f), _) => f.kind,
        (None, SourceCrs::Proj { .. }) if !crs.is_wgs84() => CrsKind::Other,
        (None, _) => CrsKind::Geographic,
    };
    match kind {
        CrsKind::Geographic if !degrees => {
            return refuse(format!(
                "coordinates look like projected metres {} but {what} expects longitude/latitude degrees; {}",
                as_metres(),
                projected_hint(e)
            ));
        }
        CrsKind::Projected if degrees => {
            let unit = facts
                .as_ref()
                .and_then(|f| f.unit.clone())
                .unwrap_or_else(|| "metre".into());
            let meant = facts
                .as_ref()
                .and_then(|f| f.geodetic.clone())
                .unwrap_or_else(|| "EPSG:4326".into());
            return refuse(format!(
                "coordinates look like longitude/latitude degrees {} but {what} expects {unit}s; did you mean --source-crs {meant}?",
                as_degrees()
            ));
        }
        _ => {}
    }
    let Some(facts) = facts else {
        return Ok(());
    };
    if facts.kind == CrsKind::Other {
        return Ok(());
    }
    // Where the extent lands: a 5 × 5 grid of points over it.
    let Ok(mut transformer) = Transformer::new(crs, false) else {
        return Ok(()); // reported where the transformer is built
    };
    let mut points: Vec<[f64; 2]> = (0..5)
        .flat_map(|i| {
            (0..5).map(move |j| {
                [
                    e[0] + (e[2] - e[0]) * f64::from(i) / 4.0,
                    e[1] + (e[3] - e[1]) * f64::from(j) / 4.0,
                ]
            })
        })
        .collect();
    transformer.transform(&mut points);
    let source = if degrees { as_degrees() } else { as_metres() };
    let on_earth = points
        .iter()
        .all(|p| p[0].is_finite() && p[1].is_finite() && p[0].abs() <= 180.0 && p[1].abs() <= 90.0);
    if !on_earth {
        return refuse(format!(
            "coordinates {source} are not on the earth in {what}: check the source CRS"
        ));
    }
    let Some(area) = &facts.area else {
        return Ok(());
    };
    if points
        .iter()
        .all(|p| area.contains(p[0], p[1], AREA_MARGIN_DEGREES))
    {
        return Ok(());
    }
    let (mut lon, mut lat) = ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN));
    for p in &points {
        lon = (lon.0.min(p[0]), lon.1.max(p[0]));
        lat = (lat.0.min(p[1]), lat.1.max(p[1]));
    }
    refuse(format!(
        "coordinates {source} in {what} land at longitude {}, latitude {}, outside its area of use ({}: longitude {}, latitude {}); check the source CRS",
        range(lon.0, lon.1, true),
        range(lat.0, lat.1, true),
        area.name,
        range(area.west, area.east, true),
        range(area.south, area.north, true),
    ))
}

/// PROJ's message for the context's last error, or `fallback`.
unsafe fn context_error(ctx: *mut proj_sys::PJ_CONTEXT, fallback: &str) -> String {
    let errno = proj_sys::proj_context_errno(ctx);
    if errno == 0 {
        return fallback.to_string();
    }
    let text = proj_sys::proj_context_errno_string(ctx, errno);
    if text.is_null() {
        return fallback.to_string();
    }
    let message = CStr::from_ptr(text).to_string_lossy().into_owned();
    if message.is_empty() || message.starts_with("Unknown error") {
        fallback.to_string()
    } else {
        format!("{fallback} ({message})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_crs() {
        assert_eq!(
            SourceCrs::parse("EPSG:4547").unwrap(),
            SourceCrs::epsg(4547)
        );
        assert_eq!(
            SourceCrs::parse("epsg:4490").unwrap(),
            SourceCrs::epsg(4490)
        );
        assert_eq!(SourceCrs::parse("4326").unwrap(), SourceCrs::epsg(4326));
        assert_eq!(SourceCrs::parse("GCJ02").unwrap(), SourceCrs::Gcj02);
        assert_eq!(SourceCrs::parse("bd09").unwrap(), SourceCrs::Bd09);
        assert!(SourceCrs::parse("EPSG:abc").is_err());
        assert!(SourceCrs::parse("").is_err());
    }

    #[test]
    fn gauss_kruger_zone_to_lon_lat() {
        // data/README.md: (114.30 E, 30.59 N) in EPSG:4490 = (528773.19, 3385557.62) in EPSG:4547.
        let mut t = Transformer::new(&SourceCrs::epsg(4547), false).unwrap();
        let mut c = [[528773.19, 3385557.62]];
        t.transform(&mut c);
        assert!((c[0][0] - 114.30).abs() < 1e-7, "{:?}", c);
        assert!((c[0][1] - 30.59).abs() < 1e-7, "{:?}", c);
    }

    #[test]
    fn geographic_crs_is_lon_lat_first() {
        // EPSG:4490's authority order is lat/lon; normalised input is lon/lat.
        let mut t = Transformer::new(&SourceCrs::epsg(4490), false).unwrap();
        let mut c = [[114.30, 30.59]];
        t.transform(&mut c);
        assert!((c[0][0] - 114.30).abs() < 1e-6 && (c[0][1] - 30.59).abs() < 1e-6);
    }

    #[test]
    fn chinese_legacy_crs_are_known() {
        for code in [4610, 2383, 4214, 2435, 4513, 4554] {
            assert!(
                Transformer::new(&SourceCrs::epsg(code), false).is_ok(),
                "EPSG:{code}"
            );
        }
    }

    /// Wuhan's extent in lon/lat and in EPSG:4547 metres.
    const WUHAN_DEGREES: [f64; 4] = [113.70, 29.97, 115.08, 31.36];
    const WUHAN_4547: [f64; 4] = [471_000.0, 3_316_000.0, 604_000.0, 3_470_000.0];

    fn refused(crs: &str, extent: [f64; 4]) -> String {
        match check_extent(&SourceCrs::parse(crs).unwrap(), false, extent, true) {
            Err(ImportError::ImplausibleCrs(m)) => m,
            other => panic!("{crs} {extent:?}: {other:?}"),
        }
    }

    #[test]
    fn crs_check_accepts_coordinates_that_fit() {
        for (crs, extent) in [
            ("EPSG:4547", WUHAN_4547),
            ("EPSG:4490", WUHAN_DEGREES),
            ("EPSG:4326", WUHAN_DEGREES),
            ("gcj02", WUHAN_DEGREES),
            // Wuhan in Web Mercator metres.
            (
                "EPSG:3857",
                [12_657_000.0, 3_499_000.0, 12_811_000.0, 3_679_000.0],
            ),
            // A little beyond the edge of zone CM 114E (112.5-115.5 E) is accepted.
            (
                "EPSG:4547",
                [300_000.0, 3_316_000.0, 310_000.0, 3_320_000.0],
            ),
        ] {
            let r = check_extent(&SourceCrs::parse(crs).unwrap(), false, extent, true);
            assert!(r.is_ok(), "{crs}: {r:?}");
        }
        // Northing first in the data (swap_xy).
        let swapped = [
            WUHAN_DEGREES[1],
            WUHAN_DEGREES[0],
            WUHAN_DEGREES[3],
            WUHAN_DEGREES[2],
        ];
        assert!(check_extent(&SourceCrs::epsg(4490), true, swapped, false).is_ok());
    }

    #[test]
    fn crs_check_refuses_degrees_declared_as_metres() {
        let m = refused("EPSG:4547", WUHAN_DEGREES);
        assert!(
            m.starts_with("coordinates look like longitude/latitude degrees (113.7..115.1, 30.0..31.4) but --source-crs EPSG:4547 expects metres; did you mean --source-crs EPSG:4490?"),
            "{m}"
        );
        assert!(m.contains("--force"), "{m}");
        let m = refused("EPSG:3857", WUHAN_DEGREES);
        assert!(m.contains("did you mean --source-crs EPSG:4326?"), "{m}");
        let file = check_extent(&SourceCrs::epsg(3857), false, WUHAN_DEGREES, false);
        assert!(
            format!("{file:?}").contains("the file's CRS EPSG:3857"),
            "{file:?}"
        );
    }

    #[test]
    fn crs_check_refuses_metres_declared_as_degrees() {
        let m = refused("EPSG:4490", WUHAN_4547);
        assert!(
            m.starts_with("coordinates look like projected metres (471000..604000, 3316000..3470000) but --source-crs EPSG:4490 expects longitude/latitude degrees"),
            "{m}"
        );
        // With the zone number in the easting, the zone is known.
        let m = refused(
            "EPSG:4326",
            [38_471_000.0, 3_316_000.0, 38_508_000.0, 3_470_000.0],
        );
        assert!(m.contains("did you mean --source-crs EPSG:4526"), "{m}");
        let m = refused("gcj02", WUHAN_4547);
        assert!(m.contains("projected metres"), "{m}");
    }

    #[test]
    fn crs_check_refuses_coordinates_outside_the_area_of_use() {
        // Zone 38 (CM 114E) eastings declared as zone 37 (EPSG:4525, 109.5-112.5 E).
        let zone38 = [38_471_000.0, 3_316_000.0, 38_604_000.0, 3_470_000.0];
        assert!(check_extent(&SourceCrs::epsg(4526), false, zone38, true).is_ok());
        let m = refused("EPSG:4525", zone38);
        assert!(
            m.starts_with("coordinates (38471000..38604000, 3316000..3470000) in --source-crs EPSG:4525 land at longitude 12"),
            "{m}"
        );
        assert!(m.contains("outside its area of use"), "{m}");
        // Wuhan's lon/lat declared as ETRS89 (Europe).
        let m = refused("EPSG:4258", WUHAN_DEGREES);
        assert!(m.contains("outside its area of use"), "{m}");
    }

    #[test]
    fn unknown_epsg_is_an_error() {
        let Err(e) = Transformer::new(&SourceCrs::epsg(999_999), false) else {
            panic!("EPSG:999999 accepted");
        };
        let text = e.to_string();
        assert!(text.contains("EPSG:999999"), "{text}");
    }
}

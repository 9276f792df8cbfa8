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
//! - by hand for GCJ-02 and BD-09 ([`crate::chinacrs`]), which PROJ does not know;
//! - not at all for EPSG:4326 / OGC:CRS84.
//!
//! PROJ objects are not thread-safe, so every worker thread builds its own
//! `Transformer`; each owns its own PROJ context.

use std::ffi::{CStr, CString};
use std::ptr;

use crate::chinacrs;
use crate::error::ImportError;

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

    #[test]
    fn unknown_epsg_is_an_error() {
        let Err(e) = Transformer::new(&SourceCrs::epsg(999_999), false) else {
            panic!("EPSG:999999 accepted");
        };
        let text = e.to_string();
        assert!(text.contains("EPSG:999999"), "{text}");
    }
}

//! WKB/EWKB normalisation of the importers (`importers/src/geometry.rs`, every
//! imported geometry passes through it): the first byte picks the source CRS
//! (WGS 84, GCJ-02, BD-09) and axis swap, the rest is the WKB. Any input is
//! written, empty or invalid without panicking; on anything but `Written` the
//! output buffer is untouched; written EWKB decodes (geozero, as the server reads
//! it back from PostGIS), has only finite lon/lat coordinates, normalises again to
//! the very same bytes without fixes (unless a line collapsed only in the
//! transformation, which is flagged `check` for the database), and a single type promotes to a decodable
//! Multi type.
#![no_main]

use citygrid_importers::crs::{SourceCrs, Transformer};
use citygrid_importers::geometry::{normalise, promote_to_multi, Outcome, Scratch};
use geo::CoordsIter;
use geozero::wkb::Ewkb;
use geozero::ToGeo;
use libfuzzer_sys::fuzz_target;

const PREFIX: &[u8] = b"previous rows";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, wkb)) = data.split_first() else {
        return;
    };
    let crs = match mode % 3 {
        0 => SourceCrs::epsg(4326),
        1 => SourceCrs::Gcj02,
        _ => SourceCrs::Bd09,
    };
    let Ok(mut t) = Transformer::new(&crs, mode & 4 != 0) else {
        return;
    };
    let mut scratch = Scratch::default();
    let mut out = PREFIX.to_vec();
    let outcome = normalise(wkb, &mut t, &mut scratch, &mut out);
    let Outcome::Written { kind, check, .. } = outcome else {
        assert_eq!(out, PREFIX, "{outcome:?} left bytes behind");
        return;
    };
    assert_eq!(
        &out[..PREFIX.len()],
        PREFIX,
        "the earlier output was changed"
    );
    let ewkb = &out[PREFIX.len()..];
    // geo has no empty point, so geozero refuses EWKB holding a POINT EMPTY part
    // (the server then skips that feature); anything else must decode.
    let g = match Ewkb(ewkb.to_vec()).to_geo() {
        Ok(g) => Some(g),
        Err(e) if e.to_string().contains("empty Point") => None,
        Err(e) => panic!("written EWKB does not decode: {e}"),
    };
    for c in g.iter().flat_map(|g| g.coords_iter()) {
        // POINT EMPTY parts stay NaN, NaN.
        if c.x.is_nan() && c.y.is_nan() {
            continue;
        }
        assert!(
            c.x.abs() <= 180.000_001 && c.y.abs() <= 90.000_001,
            "coordinate {c:?} outside lon/lat"
        );
    }
    // A line that collapsed only in the transformation (`check`) is left for the
    // database to judge; anything else is already normal.
    if !check {
        let mut identity = Transformer::new(&SourceCrs::epsg(4326), false).expect("identity");
        let mut again = Vec::new();
        let second = normalise(ewkb, &mut identity, &mut scratch, &mut again);
        assert_eq!(
            second,
            Outcome::Written {
                kind,
                fixed: false,
                check: false
            },
            "normalising the output again"
        );
        assert_eq!(again, ewkb, "normalising the output again changed it");
    }
    if kind.is_single() {
        let mut multi = Vec::new();
        promote_to_multi(ewkb, &mut multi);
        if let Err(e) = Ewkb(multi).to_geo() {
            assert!(g.is_none(), "promoted EWKB does not decode: {e}");
        }
    }
});

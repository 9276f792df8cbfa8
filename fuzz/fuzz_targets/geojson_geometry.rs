//! GeoJSON geometry reader of `/api/query` and CQL2-JSON
//! (`cql2/src/geojson.rs`): any JSON value is read or refused; a read
//! geometry has at most the allowed vertices, only finite coordinates, and
//! written back with `write_geometry` (`spatial-api/src/query/geojson.rs`, plain
//! and axis-swapped) is valid JSON that
//! reads to the same geometry.
#![no_main]

use citygrid_cql2::geojson::{read_geometry, GeoJsonError};
use citygrid_fuzz::geomcmp;
use citygrid_spatial_api::geojson::write_geometry;
use geo::CoordsIter;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const MAX: usize = 1_000;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let g = match read_geometry(&v, MAX) {
        Ok(g) => g,
        Err(GeoJsonError::TooLarge(n)) => {
            assert_eq!(n, MAX);
            return;
        }
        Err(GeoJsonError::Invalid(m)) => {
            assert!(!m.is_empty());
            return;
        }
    };
    assert!(g.coords_count() <= MAX);
    assert!(g.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()));
    for swap in [false, true] {
        let mut out = String::new();
        write_geometry(&mut out, &g, swap);
        let back: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("write_geometry wrote invalid JSON {out:?}: {e}"));
        let again = read_geometry(&back, MAX)
            .unwrap_or_else(|e| panic!("written geometry {out:?} is refused: {e}"));
        geomcmp::assert_same(&g, &again, swap);
    }
});

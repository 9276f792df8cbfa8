//! Points on the sphere for the R-trees: lon/lat as 3-D coordinates in metres, so the
//! straight-line (chord) nearest neighbour is the great-circle nearest neighbour
//! everywhere on Earth, and the chord converts exactly to ground metres.

/// Mean Earth radius, metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// `[lon, lat]` in degrees → 3-D point in metres.
pub fn xyz(lon: f64, lat: f64) -> [f64; 3] {
    let (lon, lat) = (lon.to_radians(), lat.to_radians());
    [
        EARTH_RADIUS_M * lat.cos() * lon.cos(),
        EARTH_RADIUS_M * lat.cos() * lon.sin(),
        EARTH_RADIUS_M * lat.sin(),
    ]
}

/// Ground metres of a chord of length `chord` metres.
pub fn chord_to_metres(chord: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (chord / (2.0 * EARTH_RADIUS_M)).clamp(-1.0, 1.0).asin()
}

/// Great-circle metres between two lon/lat points (haversine).
pub fn metres(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (la1, la2) = (a[1].to_radians(), b[1].to_radians());
    let dlat = la2 - la1;
    let dlon = (b[0] - a[0]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().clamp(0.0, 1.0).asin()
}

/// True for a usable lon/lat.
pub fn valid(lon: f64, lat: f64) -> bool {
    lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat)
}

/// The point at half the length of a line (lon/lat; lengths in ground metres).
pub fn midpoint(line: &[[f64; 2]]) -> Option<[f64; 2]> {
    let first = *line.first()?;
    let total: f64 = line.windows(2).map(|w| metres(w[0], w[1])).sum();
    if total <= 0.0 {
        return Some(first);
    }
    let mut left = total / 2.0;
    for w in line.windows(2) {
        let d = metres(w[0], w[1]);
        if d >= left && d > 0.0 {
            let t = left / d;
            return Some([
                w[0][0] + t * (w[1][0] - w[0][0]),
                w[0][1] + t * (w[1][1] - w[0][1]),
            ]);
        }
        left -= d;
    }
    line.last().copied()
}

/// Length of a line in ground metres.
pub fn length(line: &[[f64; 2]]) -> f64 {
    line.windows(2).map(|w| metres(w[0], w[1])).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chord_and_haversine_agree() {
        let (a, b) = ([24.9410, 60.1699], [24.9520, 60.1710]);
        let pa = xyz(a[0], a[1]);
        let pb = xyz(b[0], b[1]);
        let chord =
            ((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2) + (pa[2] - pb[2]).powi(2)).sqrt();
        let h = metres(a, b);
        assert!((chord_to_metres(chord) - h).abs() < 0.01, "{h}");
        // 0.011° of longitude at 60° N is about 611 m
        assert!((h - 617.0).abs() < 10.0, "{h}");
    }

    #[test]
    fn midpoints() {
        let m = midpoint(&[[0.0, 0.0], [0.0, 1.0], [0.0, 3.0]]).unwrap_or([9.0, 9.0]);
        assert!((m[1] - 1.5).abs() < 1e-9 && m[0].abs() < 1e-12, "{m:?}");
        assert_eq!(midpoint(&[]), None);
        assert!(!valid(f64::NAN, 0.0) && !valid(181.0, 0.0) && valid(114.3, 30.6));
    }
}

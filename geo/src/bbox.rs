//! The one rule for `bbox` parameters (`minx,miny,maxx,maxy`), as OGC API – Features
//! states it, for every endpoint that takes one:
//!
//! - four comma-separated numbers, or six (`minx,miny,minz,maxx,maxy,maxz`; the
//!   heights are ignored); spaces around a number are allowed;
//! - every number finite;
//! - in the axis order of the box's CRS ([`Crs::lat_first`]: `lat,lon` for
//!   EPSG:4326 and EPSG:4490, `northing,easting` for the Gauss–Krüger zones);
//! - in a geographic CRS (CRS84, EPSG:4326, EPSG:4490, GCJ-02, BD-09): longitudes
//!   within ±180°, latitudes within ±90°, the minimum latitude not above the maximum;
//!   a minimum longitude above the maximum is a box crossing the antimeridian;
//! - in a projected CRS: each minimum not above its maximum.
//!
//! The error messages are the HTTP API's 400 answers.
//!
//! ```
//! use citygrid_geo::bbox::{self, BboxError};
//! use citygrid_geo::crs::Crs;
//! let b = bbox::parse("24.9, 60.15, 24.96, 60.2", Crs::Crs84).unwrap();
//! assert_eq!((b.min_x, b.max_y), (24.9, 60.2));
//! // EPSG:4326 is lat,lon: the same box.
//! assert_eq!(bbox::parse("60.15,24.9,60.2,24.96", Crs::Epsg4326).unwrap().min_x, 24.9);
//! // Across the antimeridian: two lon/lat boxes.
//! let fiji = bbox::parse("177,-19,-178,-16", Crs::Crs84).unwrap();
//! assert_eq!(fiji.lonlat_boxes().len(), 2);
//! assert_eq!(bbox::parse("24,60,25", Crs::Crs84), Err(BboxError::Count));
//! assert_eq!(
//!     bbox::parse("24,60,25,91", Crs::Crs84).unwrap_err().to_string(),
//!     "bbox: longitudes must be within ±180° and latitudes within ±90°"
//! );
//! ```

use geo::{Geometry, LineString, MultiPolygon, Polygon};

use crate::crs::{check_lonlat, Crs, CrsError};
use crate::tms::Bbox;

/// Why a `bbox` text was refused; the message is the API's 400 answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BboxError {
    /// Not 4 or 6 comma-separated numbers.
    #[error("bbox must be 4 (or 6) comma-separated numbers")]
    Count,
    /// A NaN or infinite number.
    #[error("bbox coordinates must be finite numbers")]
    NotFinite,
    /// A geographic box beyond ±180° longitude or ±90° latitude.
    #[error("bbox: longitudes must be within ±180° and latitudes within ±90°")]
    OutOfRange,
    /// A geographic box whose minimum latitude is above its maximum.
    #[error("bbox: the minimum latitude is above the maximum")]
    LatitudeOrder,
    /// A projected box whose minimum is above its maximum on an axis.
    #[error("bbox: minimum above maximum")]
    Order,
    /// The box cannot be transformed to lon/lat.
    #[error("bbox: {0}")]
    Crs(#[from] CrsError),
}

/// A `bbox` that passed [the rule](self): its corners in its CRS, easting/longitude
/// first (lat-first input already swapped). In a geographic CRS `min_x > max_x`
/// means the box crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrsBbox {
    /// The CRS the numbers are in.
    pub crs: Crs,
    /// West edge (minimum longitude or easting).
    pub min_x: f64,
    /// South edge (minimum latitude or northing).
    pub min_y: f64,
    /// East edge (maximum longitude or easting).
    pub max_x: f64,
    /// North edge (maximum latitude or northing).
    pub max_y: f64,
}

/// Whether boxes in `crs` are in degrees (range checks, antimeridian crossing).
fn geographic(crs: Crs) -> bool {
    crs.is_wgs84() || matches!(crs, Crs::Gcj02 | Crs::Bd09)
}

/// Parses and checks a `bbox` text given in `crs` (its axis order), by the one rule.
pub fn parse(text: &str, crs: Crs) -> Result<CrsBbox, BboxError> {
    let nums: Vec<f64> = text
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| BboxError::Count)?;
    let (mut x0, mut y0, mut x1, mut y1) = match nums.as_slice() {
        [a, b, c, d] => (*a, *b, *c, *d),
        [a, b, _, c, d, _] => (*a, *b, *c, *d),
        _ => return Err(BboxError::Count),
    };
    if ![x0, y0, x1, y1].iter().all(|v| v.is_finite()) {
        return Err(BboxError::NotFinite);
    }
    if crs.lat_first() {
        std::mem::swap(&mut x0, &mut y0);
        std::mem::swap(&mut x1, &mut y1);
    }
    if geographic(crs) {
        if y0 < -90.0
            || y1 > 90.0
            || !(-180.0..=180.0).contains(&x0)
            || !(-180.0..=180.0).contains(&x1)
        {
            return Err(BboxError::OutOfRange);
        }
        if y0 > y1 {
            return Err(BboxError::LatitudeOrder);
        }
    } else if x0 > x1 || y0 > y1 {
        return Err(BboxError::Order);
    }
    Ok(CrsBbox {
        crs,
        min_x: x0,
        min_y: y0,
        max_x: x1,
        max_y: y1,
    })
}

/// Parses a `bbox` given in `crs` and returns its area as a lon/lat geometry:
/// [`parse`] then [`CrsBbox::to_lonlat_geometry`].
pub fn lonlat_geometry(text: &str, crs: Crs) -> Result<Geometry<f64>, BboxError> {
    parse(text, crs)?.to_lonlat_geometry()
}

/// Parses a lon/lat `bbox` (`w,s,e,n` in degrees, CRS84) by the one rule and returns
/// its envelopes `[w, s, e, n]`: one, or two split at the antimeridian when `w > e`
/// (east part first). For the endpoints that filter with envelopes (`&&`).
///
/// ```
/// use citygrid_geo::bbox::{lonlat_envelopes, BboxError};
/// assert_eq!(lonlat_envelopes("114.2,30.5,114.4,30.7"), Ok(vec![[114.2, 30.5, 114.4, 30.7]]));
/// assert_eq!(lonlat_envelopes("179,0,-179,1").map(|v| v.len()), Ok(2));
/// assert_eq!(lonlat_envelopes("0,0,1,91"), Err(BboxError::OutOfRange));
/// ```
pub fn lonlat_envelopes(text: &str) -> Result<Vec<[f64; 4]>, BboxError> {
    Ok(parse(text, Crs::Crs84)?
        .lonlat_boxes()
        .iter()
        .map(Bbox::to_array)
        .collect())
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Polygon<f64> {
    Polygon::new(
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
        vec![],
    )
}

impl CrsBbox {
    /// Whether this is a lon/lat box crossing the antimeridian (`min_x > max_x`).
    pub fn crosses_antimeridian(&self) -> bool {
        geographic(self.crs) && self.min_x > self.max_x
    }

    /// The box in lon/lat (CRS84 axis order) as one box, or two split at the
    /// antimeridian (east part first), for an envelope query. Only for boxes in
    /// CRS84, EPSG:4326 or EPSG:4490 (which are lon/lat already); other CRSs need
    /// [`CrsBbox::to_lonlat_geometry`].
    ///
    /// ```
    /// use citygrid_geo::{bbox, crs::Crs};
    /// let b = bbox::parse("116.3,39.8,116.5,40.0", Crs::Crs84).unwrap();
    /// let parts = b.lonlat_boxes();
    /// assert_eq!((parts[0].min_x, parts[0].max_x), (116.3, 116.5));
    /// ```
    pub fn lonlat_boxes(&self) -> Vec<Bbox> {
        if self.crosses_antimeridian() {
            vec![
                Bbox::new(self.min_x, self.min_y, 180.0, self.max_y),
                Bbox::new(-180.0, self.min_y, self.max_x, self.max_y),
            ]
        } else {
            vec![Bbox::new(self.min_x, self.min_y, self.max_x, self.max_y)]
        }
    }

    /// The area of the box as a lon/lat geometry: a polygon (a multipolygon of two
    /// across the antimeridian) for CRS84, EPSG:4326 and EPSG:4490; the transformed
    /// corners for Web Mercator; for projected or shifted CRSs (Gauss–Krüger, GCJ-02,
    /// BD-09) the edges densified (16 steps each) and transformed.
    pub fn to_lonlat_geometry(&self) -> Result<Geometry<f64>, BboxError> {
        let (crs, x0, y0, x1, y1) = (self.crs, self.min_x, self.min_y, self.max_x, self.max_y);
        if crs.is_wgs84() {
            if x0 > x1 {
                return Ok(Geometry::MultiPolygon(MultiPolygon(vec![
                    rect(x0, y0, 180.0, y1),
                    rect(-180.0, y0, x1, y1),
                ])));
            }
            return Ok(Geometry::Polygon(rect(x0, y0, x1, y1)));
        }
        if crs == Crs::WebMercator {
            let (a, b) = crs.to_lonlat(x0, y0)?;
            let (c, d) = crs.to_lonlat(x1, y1)?;
            return Ok(Geometry::Polygon(rect(a, b, c, d)));
        }
        // Projected or shifted CRSs: densify the edges, then transform.
        const STEPS: usize = 16;
        let mut ring = Vec::with_capacity(4 * STEPS + 1);
        let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
        for w in corners.windows(2) {
            let ((ax, ay), (bx, by)) = (w[0], w[1]);
            for i in 0..STEPS {
                let t = i as f64 / STEPS as f64;
                ring.push((ax + (bx - ax) * t, ay + (by - ay) * t));
            }
        }
        ring.push((x0, y0));
        let mut lonlat = Vec::with_capacity(ring.len());
        for (x, y) in ring {
            lonlat.push(crs.to_lonlat(x, y)?);
        }
        let g = Geometry::Polygon(Polygon::new(LineString::from(lonlat), vec![]));
        check_lonlat(&g)?;
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::BoundingRect;

    #[test]
    fn refusals_and_their_messages() {
        for (text, crs, want) in [
            ("NaN,60,25,61", Crs::Crs84, BboxError::NotFinite),
            ("24,60,inf,61", Crs::Crs84, BboxError::NotFinite),
            ("24,60,25,91", Crs::Crs84, BboxError::OutOfRange),
            ("181,0,182,1", Crs::Crs84, BboxError::OutOfRange),
            ("24,60,25", Crs::Crs84, BboxError::Count),
            ("", Crs::Crs84, BboxError::Count),
            ("1,2,3,4,5", Crs::Crs84, BboxError::Count),
            ("a,b,c,d", Crs::Crs84, BboxError::Count),
            ("24,61,25,60", Crs::Crs84, BboxError::LatitudeOrder),
            ("10,0,5,1", Crs::WebMercator, BboxError::Order),
            ("0,10,1,5", Crs::WebMercator, BboxError::Order),
        ] {
            assert_eq!(parse(text, crs), Err(want), "{text}");
        }
        assert!(BboxError::NotFinite.to_string().contains("finite"));
        assert!(BboxError::OutOfRange.to_string().contains("90"));
        assert!(BboxError::Count.to_string().contains('4'));
    }

    #[test]
    fn axis_order_heights_and_spaces() {
        // EPSG:4326 bboxes are lat,lon.
        let g = lonlat_geometry("60.1,24.9,60.2,25.0", Crs::Epsg4326).unwrap();
        let r = g.bounding_rect().unwrap();
        assert_eq!((r.min().x, r.min().y), (24.9, 60.1));
        let b = parse(" 1 , 2 ,0, 3, 4 ,100", Crs::Crs84).unwrap();
        assert_eq!((b.min_x, b.min_y, b.max_x, b.max_y), (1.0, 2.0, 3.0, 4.0));
        // Projected boxes may lie anywhere; Gauss–Krüger is northing first.
        let b = parse("3385000,528000,3386000,529000", Crs::GaussKruger(4547)).unwrap();
        assert_eq!((b.min_x, b.min_y), (528_000.0, 3_385_000.0));
    }

    #[test]
    fn antimeridian_and_projected_geometries() {
        let b = parse("170,-10,-170,10", Crs::Crs84).unwrap();
        assert!(b.crosses_antimeridian());
        assert!(matches!(
            b.to_lonlat_geometry(),
            Ok(Geometry::MultiPolygon(ref m)) if m.0.len() == 2
        ));
        let parts = b.lonlat_boxes();
        assert_eq!((parts[0].min_x, parts[0].max_x), (170.0, 180.0));
        assert_eq!((parts[1].min_x, parts[1].max_x), (-180.0, -170.0));
        assert_eq!(
            lonlat_envelopes("170,-10,-170,10"),
            Ok(vec![
                [170.0, -10.0, 180.0, 10.0],
                [-180.0, -10.0, -170.0, 10.0]
            ])
        );
        assert_eq!(lonlat_envelopes("1,2,3"), Err(BboxError::Count));
        let g = lonlat_geometry("0,0,1113194.9,1118890", Crs::WebMercator).unwrap();
        let r = g.bounding_rect().unwrap();
        assert!((r.max().x - 10.0).abs() < 1e-6 && (r.max().y - 10.0).abs() < 1e-3);
        // GCJ-02 boxes are densified and shifted back to WGS84 (a few hundred metres).
        let g = lonlat_geometry("116.38,39.91,116.39,39.92", Crs::Gcj02).unwrap();
        let r = g.bounding_rect().unwrap();
        assert!(r.min().x < 116.38 && r.min().x > 116.37);
    }
}

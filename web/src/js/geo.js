// Coordinate maths done in the page: geodesic length (Vincenty on the ellipsoid),
// ellipsoidal area (authalic sphere), CGCS2000 3-degree Gauss–Krüger (transverse
// Mercator on GRS80) and GCJ-02. Coordinates are [lon, lat] in degrees.

const RAD = Math.PI / 180;

/** GRS80, the ellipsoid of CGCS2000 (WGS84 differs by 0.1 mm in b). */
export const GRS80 = { a: 6378137, f: 1 / 298.257222101 };

/**
 * The geodesic distance in metres between two points (Vincenty's inverse
 * formula; falls back to a great circle on the mean radius for nearly antipodal
 * points, where it does not converge).
 */
export function distance(p1, p2, { a, f } = GRS80) {
  const b = a * (1 - f);
  const L = (p2[0] - p1[0]) * RAD;
  const U1 = Math.atan((1 - f) * Math.tan(p1[1] * RAD));
  const U2 = Math.atan((1 - f) * Math.tan(p2[1] * RAD));
  const sinU1 = Math.sin(U1), cosU1 = Math.cos(U1), sinU2 = Math.sin(U2), cosU2 = Math.cos(U2);
  let lambda = L;
  for (let i = 0; i < 200; i++) {
    const sinL = Math.sin(lambda), cosL = Math.cos(lambda);
    const sinSigma = Math.sqrt((cosU2 * sinL) ** 2 + (cosU1 * sinU2 - sinU1 * cosU2 * cosL) ** 2);
    if (sinSigma === 0) return 0;
    const cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
    const sigma = Math.atan2(sinSigma, cosSigma);
    const sinAlpha = (cosU1 * cosU2 * sinL) / sinSigma;
    const cos2Alpha = 1 - sinAlpha * sinAlpha;
    const cos2SigmaM = cos2Alpha !== 0 ? cosSigma - (2 * sinU1 * sinU2) / cos2Alpha : 0;
    const C = (f / 16) * cos2Alpha * (4 + f * (4 - 3 * cos2Alpha));
    const prev = lambda;
    lambda = L + (1 - C) * f * sinAlpha * (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM ** 2)));
    if (Math.abs(lambda - prev) < 1e-12) {
      const u2 = (cos2Alpha * (a * a - b * b)) / (b * b);
      const A = 1 + (u2 / 16384) * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
      const B = (u2 / 1024) * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
      const dSigma = B * sinSigma * (cos2SigmaM + (B / 4) * (cosSigma * (-1 + 2 * cos2SigmaM ** 2) -
        (B / 6) * cos2SigmaM * (-3 + 4 * sinSigma ** 2) * (-3 + 4 * cos2SigmaM ** 2)));
      return b * A * (sigma - dSigma);
    }
  }
  // Nearly antipodal: a great circle on the mean radius.
  const R = (2 * a + b) / 3;
  const h = Math.sin(((p2[1] - p1[1]) * RAD) / 2) ** 2 +
    Math.cos(p1[1] * RAD) * Math.cos(p2[1] * RAD) * Math.sin(((p2[0] - p1[0]) * RAD) / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The geodesic length in metres of a line [[lon, lat], …]. */
export function lineLength(points, ellipsoid = GRS80) {
  let sum = 0;
  for (let i = 1; i < points.length; i++) sum += distance(points[i - 1], points[i], ellipsoid);
  return sum;
}

/**
 * The area in square metres of a polygon ring [[lon, lat], …] (open or closed) on
 * the ellipsoid: latitudes go to the authalic sphere, which keeps areas, and the
 * ring's spherical excess is summed edge by edge.
 */
export function polygonArea(ring, { a, f } = GRS80) {
  const pts = ring.slice();
  if (pts.length > 1 && pts[0][0] === pts[pts.length - 1][0] && pts[0][1] === pts[pts.length - 1][1]) pts.pop();
  if (pts.length < 3) return 0;
  const e2 = f * (2 - f);
  const e = Math.sqrt(e2);
  const q = (phi) => {
    const s = Math.sin(phi);
    return (1 - e2) * (s / (1 - e2 * s * s) - (1 / (2 * e)) * Math.log((1 - e * s) / (1 + e * s)));
  };
  const qp = q(Math.PI / 2);
  const R2 = (a * a * qp) / 2;
  const beta = (lat) => Math.asin(Math.max(-1, Math.min(1, q(lat * RAD) / qp)));
  let excess = 0;
  for (let i = 0; i < pts.length; i++) {
    const p1 = pts[i];
    const p2 = pts[(i + 1) % pts.length];
    let dl = (p2[0] - p1[0]) * RAD;
    if (dl > Math.PI) dl -= 2 * Math.PI;
    if (dl < -Math.PI) dl += 2 * Math.PI;
    const t1 = Math.tan(beta(p1[1]) / 2);
    const t2 = Math.tan(beta(p2[1]) / 2);
    excess += 2 * Math.atan2(Math.tan(dl / 2) * (t1 + t2), 1 + t1 * t2);
  }
  return Math.abs(excess) * R2;
}

/** Formats metres: "850.3 m" or "12.45 km". */
export function formatLength(m) {
  return m >= 1000 ? `${(m / 1000).toFixed(3)} km` : `${m.toFixed(2)} m`;
}

/** Formats square metres: "m²", "hectares" and "km²" as they grow. */
export function formatArea(m2) {
  if (m2 >= 1e6) return `${(m2 / 1e6).toFixed(4)} km²`;
  if (m2 >= 1e4) return `${m2.toFixed(1)} m² (${(m2 / 1e4).toFixed(3)} ha)`;
  return `${m2.toFixed(2)} m²`;
}

/**
 * CGCS2000 3-degree Gauss–Krüger: the zone of `lon` (central meridian 3·zone),
 * the transverse Mercator coordinates on GRS80 (scale 1, false easting 500 km),
 * and the EPSG codes with the zone prefix in the easting (4513–4533, zones
 * 25–45) and without (4534–4554); codes are null outside China's zones.
 */
export function gaussKruger3(lon, lat) {
  const zone = Math.round(lon / 3);
  const cm = zone * 3;
  const { a, f } = GRS80;
  const e2 = f * (2 - f);
  const ep2 = e2 / (1 - e2);
  const phi = lat * RAD;
  const sin = Math.sin(phi), cos = Math.cos(phi), tan = Math.tan(phi);
  const N = a / Math.sqrt(1 - e2 * sin * sin);
  const T = tan * tan;
  const C = ep2 * cos * cos;
  const A = (lon - cm) * RAD * cos;
  const e4 = e2 * e2, e6 = e4 * e2;
  const M = a * ((1 - e2 / 4 - (3 * e4) / 64 - (5 * e6) / 256) * phi -
    ((3 * e2) / 8 + (3 * e4) / 32 + (45 * e6) / 1024) * Math.sin(2 * phi) +
    ((15 * e4) / 256 + (45 * e6) / 1024) * Math.sin(4 * phi) -
    ((35 * e6) / 3072) * Math.sin(6 * phi));
  const x = N * (A + ((1 - T + C) * A ** 3) / 6 + ((5 - 18 * T + T * T + 72 * C - 58 * ep2) * A ** 5) / 120);
  const y = M + N * tan * ((A * A) / 2 + ((5 - T + 9 * C + 4 * C * C) * A ** 4) / 24 +
    ((61 - 58 * T + T * T + 600 * C - 330 * ep2) * A ** 6) / 720);
  const inChina = zone >= 25 && zone <= 45;
  return {
    zone,
    centralMeridian: cm,
    easting: x + 500000,
    northing: y,
    eastingWithZone: zone * 1e6 + x + 500000,
    epsg: inChina ? 4534 + (zone - 25) : null,
    epsgWithZone: inChina ? 4513 + (zone - 25) : null,
  };
}

// GCJ-02: the published algorithm (Krasovsky 1940 constants), identity outside China.
const GCJ_A = 6378245.0;
const GCJ_EE = 0.00669342162296594323;

/** Whether a point lies outside the box where GCJ-02 applies. */
export function outOfChina(lon, lat) {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

function gcjLat(x, y) {
  let r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  r += ((20 * Math.sin(y * Math.PI) + 40 * Math.sin((y / 3) * Math.PI)) * 2) / 3;
  r += ((160 * Math.sin((y / 12) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30)) * 2) / 3;
  return r;
}

function gcjLon(x, y) {
  let r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  r += ((20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2) / 3;
  r += ((20 * Math.sin(x * Math.PI) + 40 * Math.sin((x / 3) * Math.PI)) * 2) / 3;
  r += ((150 * Math.sin((x / 12) * Math.PI) + 300 * Math.sin((x / 30) * Math.PI)) * 2) / 3;
  return r;
}

/** WGS84 → GCJ-02, as [lon, lat]. */
export function wgs84ToGcj02(lon, lat) {
  if (outOfChina(lon, lat)) return [lon, lat];
  let dlat = gcjLat(lon - 105, lat - 35);
  let dlon = gcjLon(lon - 105, lat - 35);
  const radlat = lat * RAD;
  const magic = 1 - GCJ_EE * Math.sin(radlat) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  dlat = (dlat * 180) / (((GCJ_A * (1 - GCJ_EE)) / (magic * sqrtMagic)) * Math.PI);
  dlon = (dlon * 180) / ((GCJ_A / sqrtMagic) * Math.cos(radlat) * Math.PI);
  return [lon + dlon, lat + dlat];
}

/** GCJ-02 → WGS84 by fixed-point iteration (to 1e-10 degrees). */
export function gcj02ToWgs84(lon, lat) {
  let x = lon, y = lat;
  for (let i = 0; i < 30; i++) {
    const [fx, fy] = wgs84ToGcj02(x, y);
    const dx = lon - fx, dy = lat - fy;
    x += dx;
    y += dy;
    if (Math.abs(dx) < 1e-10 && Math.abs(dy) < 1e-10) break;
  }
  return [x, y];
}

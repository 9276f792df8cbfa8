// The coordinate maths of the pages (web/src/js/geo.js) against reference values
// computed independently: PROJ (gdaltransform, geod) and PostGIS geography.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as geo from '../../web/src/js/geo.js';

const near = (a, b, tol, what) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('CGCS2000 3-degree Gauss–Krüger matches PROJ', () => {
  // echo "lon lat" | gdaltransform -s_srs EPSG:4490 -t_srs EPSG:45xx
  const cases = [
    [114.3, 30.58, 38, 4547, 4526, 528776.1453, 3384448.9869],
    [121.47, 31.23, 40, 4549, 4528, 640060.3377, 3457406.4355],
    [75.9, 39.47, 25, 4534, 4513, 577445.9642, 4371070.0431],
  ];
  for (const [lon, lat, zone, epsg, epsgZone, e, n] of cases) {
    const gk = geo.gaussKruger3(lon, lat);
    assert.equal(gk.zone, zone);
    assert.equal(gk.epsg, epsg);
    assert.equal(gk.epsgWithZone, epsgZone);
    near(gk.easting, e, 0.001, 'easting');
    near(gk.northing, n, 0.001, 'northing');
    near(gk.eastingWithZone, zone * 1e6 + e, 0.001, 'easting with zone');
  }
  assert.equal(geo.gaussKruger3(24.9, 60.1).epsg, null, 'no CGCS2000 zone outside China');
});

test('GCJ-02 matches the published algorithm and inverts', () => {
  const [lon, lat] = geo.wgs84ToGcj02(116.377817, 39.911954);
  near(lon, 116.38404722455657, 1e-9, 'gcj lon');
  near(lat, 39.91334545536069, 1e-9, 'gcj lat');
  const [blon, blat] = geo.gcj02ToWgs84(lon, lat);
  near(blon, 116.377817, 1e-8, 'back lon');
  near(blat, 39.911954, 1e-8, 'back lat');
  assert.deepEqual(geo.wgs84ToGcj02(24.9, 60.1), [24.9, 60.1], 'identity outside China');
});

test('geodesic lengths match geod and PostGIS', () => {
  // geod +ellps=GRS80 -I: 1465.954 m; PostGIS geography: 7396638.4074 m
  near(geo.distance([114.3, 30.58], [114.31, 30.59]), 1465.954, 0.001, 'short');
  near(geo.distance([24.9, 60.1], [121.47, 31.23]), 7396638.4074, 0.01, 'long');
  near(geo.lineLength([[114.3, 30.58], [114.31, 30.59], [114.3, 30.58]]), 2 * 1465.954, 0.002, 'line');
  assert.equal(geo.distance([114.3, 30.58], [114.3, 30.58]), 0);
});

test('ellipsoidal areas match PostGIS geography', () => {
  // SELECT ST_Area('POLYGON(...)'::geography)
  near(geo.polygonArea([[114.3, 30.58], [114.31, 30.58], [114.31, 30.59], [114.3, 30.59]]), 1063340.1938, 0.01, 'square');
  const helsinki = [[24.9, 60.1], [25.0, 60.12], [24.98, 60.2], [24.91, 60.18], [24.9, 60.1]];
  near(geo.polygonArea(helsinki), 42708522.7933, 42708522.7933 * 1e-7, 'quadrilateral (closed ring)');
  near(geo.polygonArea([...helsinki].reverse()), 42708522.7933, 42708522.7933 * 1e-7, 'either orientation');
  assert.equal(geo.polygonArea([[0, 0], [1, 1]]), 0);
});

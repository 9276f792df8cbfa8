// The small map of the OGC API's HTML items and item pages: the page's GeoJSON
// (a non-executed JSON script block written by the server) over the city's own
// default style, fitted to the features. MapLibre is the copy citygrid serves.
/* global maplibregl */
const data = document.getElementById('ogc-data');
const box = document.getElementById('ogc-map');
if (data && box && window.maplibregl) {
  const geojson = JSON.parse(data.textContent);
  const lang = document.documentElement.lang.startsWith('zh') ? 'zh' : 'en';
  const map = new maplibregl.Map({ container: box, style: `/styles/default.json?lang=${lang}`, attributionControl: { compact: true } });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  window.ogcMap = map;
  let west = Infinity; let south = Infinity; let east = -Infinity; let north = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      west = Math.min(west, c[0]); east = Math.max(east, c[0]);
      south = Math.min(south, c[1]); north = Math.max(north, c[1]);
    } else c.forEach(visit);
  };
  const features = geojson.type === 'Feature' ? [geojson] : geojson.features || [];
  for (const f of features) if (f.geometry && f.geometry.coordinates) visit(f.geometry.coordinates);
  map.on('load', () => {
    map.addSource('ogc', { type: 'geojson', data: geojson });
    map.addLayer({ id: 'ogc-fill', type: 'fill', source: 'ogc', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': '#d33', 'fill-opacity': 0.25 } });
    map.addLayer({ id: 'ogc-line', type: 'line', source: 'ogc', filter: ['!=', ['geometry-type'], 'Point'], paint: { 'line-color': '#d33', 'line-width': 2 } });
    map.addLayer({ id: 'ogc-point', type: 'circle', source: 'ogc', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-color': '#d33', 'circle-radius': 5, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 } });
    box.dataset.ready = String(features.length);
  });
  if (west <= east) {
    if (west === east && south === north) map.jumpTo({ center: [west, south], zoom: 17 });
    else map.fitBounds([[west, south], [east, north]], { padding: 30, maxZoom: 18, animate: false });
  }
}

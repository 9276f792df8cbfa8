// Drawing a line or a polygon on the map by clicks (double-click or finish() ends),
// shown live from a GeoJSON source. Used by the measure and query tools.

const EMPTY = { type: 'FeatureCollection', features: [] };

/** A drawing tool bound to `map`. */
export class Draw {
  constructor(map, { colour = '#d9480f' } = {}) {
    this.map = map;
    this.points = [];
    this.mode = null;
    this.cursor = null;
    this.onChange = () => {};
    this.onFinish = () => {};
    map.addSource('draw', { type: 'geojson', data: EMPTY });
    map.addLayer({ id: 'draw-fill', type: 'fill', source: 'draw', filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': colour, 'fill-opacity': 0.15 } });
    map.addLayer({ id: 'draw-line', type: 'line', source: 'draw', filter: ['!=', ['geometry-type'], 'Point'],
      paint: { 'line-color': colour, 'line-width': 2, 'line-dasharray': [2, 1] } });
    map.addLayer({ id: 'draw-point', type: 'circle', source: 'draw', filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-radius': 4, 'circle-color': '#fff', 'circle-stroke-color': colour, 'circle-stroke-width': 2 } });
    map.on('click', (e) => {
      if (!this.mode) return;
      this.points.push([e.lngLat.lng, e.lngLat.lat]);
      this.render();
    });
    map.on('dblclick', (e) => {
      if (!this.mode) return;
      e.preventDefault();
      this.finish();
    });
    map.on('mousemove', (e) => {
      if (!this.mode || !this.points.length) return;
      this.cursor = [e.lngLat.lng, e.lngLat.lat];
      this.render();
    });
  }

  /** Starts drawing a 'line' or a 'polygon'. */
  start(mode, { onChange = () => {}, onFinish = () => {} } = {}) {
    this.mode = mode;
    this.lastMode = null;
    this.points = [];
    this.cursor = null;
    this.onChange = onChange;
    this.onFinish = onFinish;
    this.map.doubleClickZoom.disable();
    this.map.getCanvas().style.cursor = 'crosshair';
    this.render();
  }

  /** Whether a drawing is under way. */
  get active() {
    return this.mode !== null;
  }

  /** The geometry drawn so far (GeoJSON), or null when too short. */
  geometry(points = this.points) {
    // A double-click adds the same point twice: drop repeats.
    const pts = points.filter((p, i) => i === 0 || p[0] !== points[i - 1][0] || p[1] !== points[i - 1][1]);
    if ((this.mode || this.lastMode) === 'polygon') {
      if (pts.length < 3) return null;
      return { type: 'Polygon', coordinates: [[...pts, pts[0]]] };
    }
    if (pts.length < 2) return null;
    return { type: 'LineString', coordinates: pts };
  }

  /** Ends the drawing; calls onFinish with the geometry. */
  finish() {
    if (!this.mode) return null;
    this.lastMode = this.mode;
    const geometry = this.geometry();
    this.mode = null;
    this.cursor = null;
    this.map.getCanvas().style.cursor = '';
    setTimeout(() => this.map.doubleClickZoom.enable(), 0);
    this.render(geometry);
    this.onFinish(geometry);
    return geometry;
  }

  /** Removes the drawing. */
  clear() {
    this.mode = null;
    this.lastMode = null;
    this.points = [];
    this.cursor = null;
    this.map.getCanvas().style.cursor = '';
    this.map.doubleClickZoom.enable();
    this.map.getSource('draw').setData(EMPTY);
  }

  render(finished) {
    const features = [];
    const live = this.cursor ? [...this.points, this.cursor] : this.points;
    const geometry = finished !== undefined ? finished : this.geometry(live);
    if (geometry) features.push({ type: 'Feature', properties: {}, geometry });
    for (const p of this.points) features.push({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: p } });
    this.map.getSource('draw').setData({ type: 'FeatureCollection', features });
    if (this.mode) this.onChange(geometry);
  }
}

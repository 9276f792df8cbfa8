// The inspector's offline map: the vector tiles over the inspector's own unit grids
// for a bounded set of zooms (z14–z18 by default), downloaded into the cache the
// service worker answers from when the network does not, up to a size cap.

import { authHeaders } from './mapkit.js';
import { kvGet, kvSet } from './outbox.js';

/** The cache of the offline map (the service worker reads it). */
export const TILE_CACHE = 'citygrid-tiles';
/** The zooms kept, and the most bytes kept. */
export const OFFLINE_ZOOMS = [14, 18];
export const OFFLINE_CAP_BYTES = 100 * 1024 * 1024;
/** At most this many tiles are asked for (a huge area is cut, like the byte cap). */
const MAX_TILES = 20000;
const PARALLEL = 6;

/** The tile numbers of [w, s, e, n] at zoom z. */
export function tileRange(bbox, z) {
  const n = 2 ** z;
  const x = (lon) => Math.min(n - 1, Math.max(0, Math.floor(((lon + 180) / 360) * n)));
  const y = (lat) => {
    const r = (Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180;
    return Math.min(n - 1, Math.max(0, Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n)));
  };
  return { x0: x(bbox[0]), x1: x(bbox[2]), y0: y(bbox[3]), y1: y(bbox[1]) };
}

/** The cache of the page's data (the service worker answers from it offline). */
export const DATA_CACHE = 'citygrid-data';

/**
 * Keeps a copy of the page's data for offline work: `urls` (same origin) and the
 * TileJSON of every vector source of `style`. The service worker keeps what passes
 * through it too, but the first visit's requests may come before it controls the page.
 */
export async function keepData(urls, style) {
  const sources = Object.values((style && style.sources) || {}).filter((s) => s.type === 'vector' && s.url);
  const cache = await caches.open(DATA_CACHE);
  for (const url of [...urls, ...sources.map((s) => s.url)]) {
    try {
      const response = await fetch(url, { headers: authHeaders(url), cache: 'no-store' });
      if (response.ok) await cache.put(url, response);
    } catch {
      // Offline now: the last copy stays.
    }
  }
}

/** What the offline map holds now: {bytes, tiles, wanted, cap, truncated, at} or null. */
export function offlineMapState() {
  return kvGet('offlineMap');
}

/**
 * Downloads the tiles of `bbox` for the style's citygrid source into the tile cache
 * (replacing the previous offline map), calling onProgress(state) as it goes.
 */
export async function refreshOfflineMap(style, bbox, { zooms = OFFLINE_ZOOMS, cap = OFFLINE_CAP_BYTES, onProgress = () => {} } = {}) {
  // Every vector source of citygrid's style (the layers, the cases…).
  const sources = Object.values((style && style.sources) || {}).filter((s) => s.type === 'vector' && s.url
    && (s.url.startsWith('/') || s.url.startsWith(`${location.origin}/`)));
  if (!sources.length || !bbox) throw new Error('no vector map to keep offline');
  const urls = [];
  let minz = zooms[1];
  let maxz = zooms[0];
  for (const source of sources) {
    const tilejson = await (await fetch(source.url, { headers: authHeaders(source.url) })).json();
    const template = (tilejson.tiles || [])[0];
    if (!template) continue;
    const lo = Math.max(zooms[0], tilejson.minzoom ?? 0);
    const hi = Math.min(zooms[1], tilejson.maxzoom ?? 22);
    minz = Math.min(minz, lo);
    maxz = Math.max(maxz, hi);
    for (let z = lo; z <= hi && urls.length < MAX_TILES; z += 1) {
      const r = tileRange(bbox, z);
      for (let x = r.x0; x <= r.x1 && urls.length < MAX_TILES; x += 1) {
        for (let y = r.y0; y <= r.y1 && urls.length < MAX_TILES; y += 1) {
          urls.push(template.replace('{z}', z).replace('{x}', x).replace('{y}', y));
        }
      }
    }
  }
  if (!urls.length) throw new Error('the map has no tiles');
  await caches.delete(TILE_CACHE);
  const cache = await caches.open(TILE_CACHE);
  const state = { bytes: 0, tiles: 0, wanted: urls.length, cap, truncated: false, at: null, zooms: [minz, maxz] };
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < urls.length && !state.truncated) {
      const url = urls[next];
      next += 1;
      try {
        const response = await fetch(url, { headers: authHeaders(url) });
        if (!response.ok && response.status !== 204) {
          failed += 1;
          continue;
        }
        const body = await response.arrayBuffer();
        if (state.bytes + body.byteLength > cap) {
          state.truncated = true;
          break;
        }
        const headers = new Headers(response.headers);
        headers.delete('content-length');
        headers.delete('content-encoding');
        await cache.put(url, new Response(response.status === 204 ? null : body, { status: response.status, headers }));
        state.bytes += body.byteLength;
        state.tiles += 1;
        if (state.tiles % 25 === 0) onProgress({ ...state });
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  state.failed = failed;
  state.at = new Date().toISOString();
  await kvSet('offlineMap', state);
  onProgress({ ...state });
  return state;
}

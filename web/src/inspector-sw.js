// The inspector page's service worker (served as /inspector/sw.js, scope
// /inspector). web/build.mjs writes the build's version and the list of files of
// the page's shell below. It keeps:
// - the shell (the page, its scripts, styles, MapLibre, icon), cached at install
//   and served from the cache (a new build is a new worker with a new cache);
// - the page's data (style, fonts and sprites it used, TileJSON, catalogue,
//   categories, the inspector's own unit grids): from the network when it answers within a few seconds, else the
//   last copy;
// - the offline map: the tiles of the inspector's grids the page downloaded into
//   the cache `citygrid-tiles` (tiles come from the network while it answers);
// and sends the outbox on Background Sync.

import { announce, sendOutbox, SYNC_TAG } from '/assets/js/outbox.js';

const VERSION = '__CITYGRID_BUILD__';
const SHELL = ['__CITYGRID_SHELL__'];
const SHELL_CACHE = `citygrid-shell-${VERSION}`;
const DATA_CACHE = 'citygrid-data';
const TILE_CACHE = 'citygrid-tiles';
/** How long a request may take before the cached copy is used instead. */
const NETWORK_WAIT_MS = 4000;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('citygrid-shell-') && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

/** The network's answer, kept in `cacheName` when it is good; the cached copy when
 * the network fails, errs (5xx) or takes longer than NETWORK_WAIT_MS. */
async function networkFirst(request, cacheName, { key = request, keep = true } = {}) {
  const network = fetch(request).then(async (response) => {
    if (response.ok && keep) {
      const cache = await caches.open(cacheName);
      await cache.put(key, response.clone());
    }
    return response;
  });
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(null), NETWORK_WAIT_MS); });
  let response = null;
  try {
    response = await Promise.race([network, late]);
  } catch {
    response = null;
  } finally {
    clearTimeout(timer);
  }
  if (response && response.status < 500) return response;
  const cached = await caches.match(key, { ignoreVary: true });
  if (cached) return cached;
  return response || network;
}

async function shellFirst(request) {
  const cached = await caches.match(request, { cacheName: SHELL_CACHE, ignoreVary: true });
  return cached || fetch(request);
}

const TILE = /^\/tiles\/[^/]+\/\d+\/\d+\/\d+/;
const DATA = [/^\/styles\/[^/]+\.json$/, /^\/fonts\//, /^\/sprites\//, /^\/tiles\/[^/]+\.json$/, /^\/catalog$/, /^\/api\/categories$/, /^\/api\/grids$/];

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (request.mode === 'navigate' && path === '/inspector') {
    event.respondWith(networkFirst(request, SHELL_CACHE, { key: '/inspector' }));
  } else if (path.startsWith('/assets/') || path === '/inspector/manifest.webmanifest') {
    event.respondWith(shellFirst(request));
  } else if (TILE.test(path)) {
    // Tiles from the network while it answers (they show the latest cases), else
    // the offline map; the offline map itself is filled by the page.
    event.respondWith(networkFirst(request, TILE_CACHE, { keep: false }));
  } else if (DATA.some((re) => re.test(path))) {
    event.respondWith(networkFirst(request, DATA_CACHE));
  }
});

self.addEventListener('sync', (event) => {
  if (event.tag !== SYNC_TAG) return;
  event.waitUntil(sendOutbox().then((outcome) => {
    announce();
    // A report still waiting makes the browser try this sync again later.
    if (outcome.nextAt) throw new Error('outbox: reports wait for a retry');
  }));
});

self.addEventListener('message', (event) => {
  if (event.data === 'send-outbox') event.waitUntil(sendOutbox({ force: true }).then(() => announce()));
});

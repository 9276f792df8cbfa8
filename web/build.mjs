// Builds web/dist from web/src: copies the pages, scripts and styles as they are
// (plain ES modules, no bundler) and MapLibre GL JS from node_modules into
// dist/vendor/. Run by `make web` after `npm ci`; the citygrid binary serves dist/.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const maplibre = join(here, 'node_modules', 'maplibre-gl');

if (!existsSync(join(maplibre, 'dist', 'maplibre-gl.js'))) {
  console.error('web/build.mjs: maplibre-gl is not installed: run `npm ci` in web/ first (or `make web`)');
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'vendor'), { recursive: true });
cpSync(src, dist, { recursive: true });
for (const file of ['maplibre-gl.js', 'maplibre-gl.css', 'LICENSE.txt']) {
  cpSync(join(maplibre, 'dist', file), join(dist, 'vendor', file === 'LICENSE.txt' ? 'maplibre-gl-LICENSE.txt' : file));
}
const version = JSON.parse(readFileSync(join(maplibre, 'package.json'), 'utf8')).version;
writeFileSync(join(dist, 'build.json'), JSON.stringify({ maplibre: version, built: new Date().toISOString() }, null, 2) + '\n');
console.log(`web/dist built (maplibre-gl ${version})`);

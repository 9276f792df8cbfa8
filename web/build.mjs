// Builds web/dist from web/src: copies the pages, scripts and styles as they are
// (plain ES modules, no bundler) and MapLibre GL JS from node_modules into
// dist/vendor/; the one exception is the WMTS sample page's script, bundled with
// OpenLayers by esbuild into dist/vendor/wmts-demo.js. Run by `make web` after `npm ci`; the citygrid binary serves dist/.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
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
// The WMTS sample page's script (web/ol/wmts-demo.js) with OpenLayers from npm,
// bundled by esbuild into one file (no CDN), and OpenLayers' stylesheet and licence.
const ol = join(here, 'node_modules', 'ol');
if (!existsSync(join(ol, 'package.json'))) {
  console.error('web/build.mjs: ol is not installed: run `npm ci` in web/ first (or `make web`)');
  process.exit(1);
}
const { buildSync } = await import('esbuild');
buildSync({
  entryPoints: [join(here, 'ol', 'wmts-demo.js')],
  outfile: join(dist, 'vendor', 'wmts-demo.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
});
cpSync(join(ol, 'ol.css'), join(dist, 'vendor', 'ol.css'));
cpSync(join(ol, 'LICENSE.md'), join(dist, 'vendor', 'ol-LICENSE.md'));
// The inspector's service worker: the build's version (a hash of every file, so a
// changed page is a new worker with a new cache) and the files of its shell.
const files = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]).sort();
const hash = createHash('sha256');
for (const file of files(dist)) hash.update(relative(dist, file)).update(readFileSync(file));
const shell = ['/inspector', '/inspector/manifest.webmanifest', '/assets/icon.svg', '/assets/css/app.css',
  '/assets/vendor/maplibre-gl.js', '/assets/vendor/maplibre-gl.css',
  ...files(join(dist, 'js')).map((f) => `/assets/js/${relative(join(dist, 'js'), f).split('\\').join('/')}`)];
const worker = join(dist, 'inspector-sw.js');
writeFileSync(worker, readFileSync(worker, 'utf8')
  .replace("'__CITYGRID_BUILD__'", JSON.stringify(hash.digest('hex').slice(0, 16)))
  .replace("['__CITYGRID_SHELL__']", JSON.stringify(shell)));
const version = JSON.parse(readFileSync(join(maplibre, 'package.json'), 'utf8')).version;
writeFileSync(join(dist, 'build.json'), JSON.stringify({ maplibre: version, built: new Date().toISOString() }, null, 2) + '\n');
console.log(`web/dist built (maplibre-gl ${version})`);

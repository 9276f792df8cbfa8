//! The web pages: the map viewer (`/`), the inspector's phone page (`/inspector`),
//! the case console (`/console`), the supervision hall's big screen (`/bigscreen`),
//! the embedding guide (`/embed`) and the frameable
//! minimal map (`/embed/map`), the WMTS sample page (`/wmts-demo`: an OpenLayers map
//! in EPSG:4490 from the WMTS capabilities), with their static assets under `/assets/`.
//!
//! The inspector's page is an installable web app: its service worker
//! (`/inspector/sw.js`, allowed the scope `/inspector` by `Service-Worker-Allowed`)
//! keeps the page, its scripts, its data and the map of the inspector's own grids
//! for offline work, and its manifest is `/inspector/manifest.webmanifest`.
//!
//! The pages are plain HTML/CSS/ES modules built into `web/dist` by `make web`
//! (`npm ci` from the lock file, then `web/build.mjs` copies the sources and
//! MapLibre GL JS). The service reads that directory at run time: it is
//! `CITYGRID_WEB_DIR` when set, else `./web/dist`, else `web/dist` next to the
//! workspace the binary was built in. Nothing is loaded from a CDN: every page
//! works on a network cut off from the internet.
//!
//! Every page carries a strict Content-Security-Policy (own origin only; MapLibre
//! needs `worker-src blob:` and `img-src data: blob:`) and may not be framed, except
//! `/embed/map`, which the origins allowed by its API key may frame (the headers and
//! message pages are [`crate::html`]'s). The middleware [`crate::edge`] adds CORS
//! headers to map data (tiles, TileJSON, styles, catalogue, OGC API) so that maps
//! embedded on other origins can read them.

mod assets;
pub mod embed;

pub use assets::web_dir;

use axum::http::Method;
use axum::routing::get;
use tower_http::compression::CompressionLayer;

use crate::auth::Access;
use crate::router::RouteTable;

/// The pages and assets, all public (the data they show is guarded by its own routes).
pub fn routes(t: RouteTable) -> RouteTable {
    let page = |file: &'static str| get(move || assets::page(file)).layer(CompressionLayer::new());
    t.add(Method::GET, "/", Access::Public, page("index.html"))
        .add(
            Method::GET,
            "/inspector",
            Access::Public,
            page("inspector.html"),
        )
        .add(
            Method::GET,
            "/inspector/sw.js",
            Access::Public,
            get(assets::inspector_worker).layer(CompressionLayer::new()),
        )
        .add(
            Method::GET,
            "/inspector/manifest.webmanifest",
            Access::Public,
            get(assets::inspector_manifest).layer(CompressionLayer::new()),
        )
        .add(
            Method::GET,
            "/console",
            Access::Public,
            page("console.html"),
        )
        .add(
            Method::GET,
            "/bigscreen",
            Access::Public,
            page("bigscreen.html"),
        )
        .add(Method::GET, "/embed", Access::Public, page("embed.html"))
        .add(
            Method::GET,
            "/wmts-demo",
            Access::Public,
            page("wmts-demo.html"),
        )
        .add(
            Method::GET,
            "/embed/map",
            Access::Public,
            get(embed::map_page).layer(CompressionLayer::new()),
        )
        .add(
            Method::GET,
            "/assets/{*path}",
            Access::Public,
            get(assets::asset).layer(CompressionLayer::new()),
        )
}

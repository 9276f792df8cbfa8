//! The WMTS `GetTile` requests the tile fast path ([`crate::tiles::fast`]) answers:
//! a vector tile (MVT) in the RESTful form
//! `/wmts/{layer}/default/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.mvt|.pbf`
//! or the KVP form `/wmts?SERVICE=WMTS&REQUEST=GetTile&…` (parameter names in any
//! case, as WMTS 1.0.0 requires), read exactly as [`super::kvp`] and
//! [`super::tile_rest`] read them. A WebMercatorQuad tile is the XYZ route's tile
//! (`TileRow` is y, `TileCol` is x) under the same cache key; the geographic sets'
//! tiles are keyed by their grid address, as [`crate::tiles::geographic`] keys them.
//!
//! Only a request the full route would answer with the tile is recognised: anything
//! else — another operation, a missing, empty, repeated or unknown parameter
//! (credentials such as `key=` among them), escapes (`%`, `+`), another style or
//! format, a tile outside its matrix — is `None`, and the full router answers it
//! (with its OWS exception report where the request is wrong). Whether the layer is
//! a vector layer the caller may read is the fast path's own check.

use citygrid_geo::matrixset::{GridTile, MatrixSet};
use citygrid_tiles::mvt::MVT_TYPE;

/// The route label of the RESTful tile route (metrics, access log).
pub const REST_ROUTE: &str = "/wmts/{layer}/{style}/{tms}/{matrix}/{row}/{col}";
/// The route label of the KVP route.
pub const KVP_ROUTE: &str = "/wmts";

/// The longest query string read here (longer ones go to the full route).
const MAX_QUERY: usize = 1024;

/// A WMTS vector tile request the fast path may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastTile<'a> {
    /// The layer id (checked: `[a-z0-9_]`, at most 48 characters).
    pub layer: &'a str,
    /// The tile, validated in its matrix set.
    pub tile: GridTile,
    /// The route label the full stack records the request under.
    pub route: &'static str,
}

/// The tile `path` and `query` ask for, if they are a WMTS `GetTile` of MVT tiles
/// that the full route would serve (see the module documentation).
pub fn parse<'a>(path: &'a str, query: Option<&'a str>) -> Option<FastTile<'a>> {
    if path == "/wmts" {
        return kvp(query?);
    }
    let rest = path.strip_prefix("/wmts/")?;
    if query.is_some() || rest.len() > 512 || rest.contains('%') {
        return None;
    }
    let mut parts = rest.split('/');
    let (layer, style, set, matrix, row, col) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() {
        return None;
    }
    let (col, ext) = col.split_once('.')?;
    if !(ext.eq_ignore_ascii_case("mvt") || ext.eq_ignore_ascii_case("pbf")) {
        return None;
    }
    tile(layer, style, set, matrix, row, col, REST_ROUTE)
}

/// The names of the KVP `GetTile` parameters, in the order of [`kvp`]'s slots.
const KVP_NAMES: [&str; 10] = [
    "SERVICE",
    "REQUEST",
    "VERSION",
    "LAYER",
    "STYLE",
    "FORMAT",
    "TILEMATRIXSET",
    "TILEMATRIX",
    "TILEROW",
    "TILECOL",
];

fn kvp(query: &str) -> Option<FastTile<'_>> {
    if query.len() > MAX_QUERY || query.contains(['%', '+']) {
        return None;
    }
    let mut slots: [Option<&str>; 10] = [None; 10];
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=')?;
        let slot = KVP_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        if value.is_empty() || slots[slot].is_some() {
            return None;
        }
        slots[slot] = Some(value);
    }
    let [service, request, version, layer, style, format, set, matrix, row, col] = slots;
    if !service?.eq_ignore_ascii_case("WMTS")
        || request? != "GetTile"
        || version.is_some_and(|v| v != "1.0.0")
        || !(format? == MVT_TYPE || format? == "application/x-protobuf")
    {
        return None;
    }
    tile(layer?, style?, set?, matrix?, row?, col?, KVP_ROUTE)
}

/// The checks of [`super::get_tile`] that do not need the layer.
fn tile<'a>(
    layer: &'a str,
    style: &str,
    set: &str,
    matrix: &str,
    row: &str,
    col: &str,
    route: &'static str,
) -> Option<FastTile<'a>> {
    if !citygrid_db::is_identifier(layer, 48) || style != "default" {
        return None;
    }
    let set = MatrixSet::parse(set)?;
    let level: u8 = matrix.parse().ok()?;
    let tile = set.tile(level, col.parse().ok()?, row.parse().ok()?).ok()?;
    Some(FastTile { layer, tile, route })
}

#[cfg(test)]
mod tests {
    use super::*;
    use citygrid_geo::matrixset::Grid;
    use citygrid_geo::tms::TileCoord;

    const KVP: &str = "SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=roads&STYLE=default&FORMAT=application/vnd.mapbox-vector-tile&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=14&TILEROW=4742&TILECOL=9326";

    #[test]
    fn restful_tiles_are_the_xyz_tiles() {
        let t = parse("/wmts/roads/default/WebMercatorQuad/14/4742/9326.mvt", None).unwrap();
        assert_eq!(t.layer, "roads");
        assert_eq!(t.route, REST_ROUTE);
        assert_eq!(t.tile.grid(), Grid::Mercator);
        // TileRow is y, TileCol is x.
        assert_eq!(t.tile.address(), TileCoord::new(14, 9326, 4742).unwrap());
        assert!(parse("/wmts/roads/default/WebMercatorQuad/0/0/0.PBF", None).is_some());
        // The geographic sets: their grid address (WorldCRS84Quad one level down).
        let c = parse("/wmts/roads/default/CGCS2000Quad/16/1000/2000.mvt", None).unwrap();
        let w = parse("/wmts/roads/default/WorldCRS84Quad/15/1000/2000.mvt", None).unwrap();
        assert_eq!(c.tile.grid(), Grid::Geographic);
        assert_eq!(c.tile.address(), w.tile.address());
        assert_eq!(c.tile.address(), TileCoord::new(16, 2000, 1000).unwrap());
    }

    #[test]
    fn kvp_names_are_read_in_any_case() {
        let t = parse("/wmts", Some(KVP)).unwrap();
        assert_eq!(t.route, KVP_ROUTE);
        assert_eq!(t.layer, "roads");
        assert_eq!(t.tile.address(), TileCoord::new(14, 9326, 4742).unwrap());
        let lower = "service=wmts&request=GetTile&layer=roads&style=default&format=application/x-protobuf&tileMatrixSet=WebMercatorQuad&TileMatrix=14&tilerow=4742&TileCol=9326";
        assert_eq!(
            parse("/wmts", Some(lower)).map(|t| t.tile),
            Some(t.tile),
            "no VERSION, names in any case, the protobuf type"
        );
        let cgcs = KVP.replace("WebMercatorQuad", "CGCS2000Quad");
        assert_eq!(
            parse("/wmts", Some(&cgcs)).map(|t| t.tile.grid()),
            Some(Grid::Geographic)
        );
    }

    #[test]
    fn everything_else_is_the_full_routes() {
        for bad in [
            "/wmts/roads/default/WebMercatorQuad/14/4742/9326.png",
            "/wmts/roads/default/WebMercatorQuad/14/4742/9326",
            "/wmts/roads/default/WebMercatorQuad/14/4742/9326.mvt.gz",
            "/wmts/roads/fancy/WebMercatorQuad/14/4742/9326.mvt",
            "/wmts/roads//WebMercatorQuad/14/4742/9326.mvt",
            "/wmts/Roads/default/WebMercatorQuad/14/4742/9326.mvt",
            "/wmts/roads/default/webmercatorquad/14/4742/9326.mvt",
            "/wmts/roads/default/EPSG:3857/14/4742/9326.mvt",
            "/wmts/roads/default/WebMercatorQuad/14/4742/16384.mvt",
            "/wmts/roads/default/WebMercatorQuad/25/0/0.mvt",
            "/wmts/roads/default/CGCS2000Quad/0/0/0.mvt",
            "/wmts/roads/default/CGCS2000Quad/3/4/0.mvt",
            "/wmts/roads/default/WebMercatorQuad/x/0/0.mvt",
            "/wmts/roads/default/WebMercatorQuad/1/0/0.mvt/x",
            "/wmts/r%6fads/default/WebMercatorQuad/1/0/0.mvt",
            "/wmts/roads/default/WebMercatorQuad/1/0",
            "/wmts/1.0.0/WMTSCapabilities.xml",
            "/wmts/",
            "/tiles/roads/1/0/0.mvt",
        ] {
            assert!(parse(bad, None).is_none(), "{bad}");
        }
        assert!(parse(
            "/wmts/roads/default/WebMercatorQuad/1/0/0.mvt",
            Some("key=secret")
        )
        .is_none());
        let mut queries: Vec<String> = vec![
            KVP.replace("REQUEST=GetTile", "REQUEST=gettile"),
            KVP.replace("REQUEST=GetTile", "REQUEST=GetCapabilities"),
            KVP.replace("SERVICE=WMTS", "SERVICE=WMS"),
            KVP.replace("VERSION=1.0.0", "VERSION=2.0.0"),
            KVP.replace("VERSION=1.0.0", "VERSION="),
            KVP.replace("STYLE=default", "STYLE=fancy"),
            KVP.replace("vnd.mapbox-vector-tile", "png"),
            KVP.replace("application/vnd.mapbox-vector-tile", "image/png"),
            KVP.replace("TILEROW=4742", "TILEROW=99999"),
            KVP.replace("TILEMATRIX=14", "TILEMATRIX=x"),
            KVP.replace("LAYER=roads", "LAYER=ro%61ds"),
            KVP.replace("LAYER=roads", "LAYER=ro+ads"),
            KVP.replace("&TILECOL=9326", ""),
            format!("{KVP}&key=secret"),
            format!("{KVP}&Key=secret"),
            format!("{KVP}&LAYER=other"),
            format!("{KVP}&layer=roads"),
            format!("{KVP}&"),
            format!("{KVP}&extra"),
            format!("{KVP}&{}", "x".repeat(MAX_QUERY)),
        ];
        queries.push(String::new());
        for q in &queries {
            assert!(parse("/wmts", Some(q)).is_none(), "{q}");
        }
        assert!(parse("/wmts", None).is_none());
        assert!(parse("/wmtsx", Some(KVP)).is_none());
    }
}

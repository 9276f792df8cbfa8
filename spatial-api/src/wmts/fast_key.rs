//! The WMTS `GetTile` requests the tile fast path ([`crate::tiles::fast`]) answers:
//! a tile in the RESTful form
//! `/wmts/{layer}/default/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{ext}`
//! or the KVP form `/wmts?SERVICE=WMTS&REQUEST=GetTile&…` (parameter names in any
//! case, as WMTS 1.0.0 requires), read exactly as [`super::kvp`] and
//! [`super::tile_rest`] read them. A WebMercatorQuad tile is the XYZ route's tile
//! (`TileRow` is y, `TileCol` is x) under the same cache key; the geographic sets'
//! tiles are keyed by their grid address, as [`crate::tiles::geographic`] keys them
//! (and raster tiles as [`crate::tiles::raster`] keys them). Whether the format is
//! the layer's — MVT for a vector layer, the stored image type of a raster layer
//! ([`raster_type`]) — is checked with the layer.
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

/// The format a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format<'a> {
    /// MVT: `.mvt`, `.pbf` (any case), `FORMAT=application/vnd.mapbox-vector-tile`
    /// or `application/x-protobuf`.
    Mvt,
    /// Another suffix of the RESTful form (an image: `png`, `jpg`…, any case).
    Suffix(&'a str),
    /// An `image/…` media type of the KVP form.
    Mime(&'a str),
}

/// The media type of a raster layer's tiles (stored as `tile_format`) when `format`
/// names it as the full route accepts it (`png`, `jpg` or `jpeg`, `webp`; the KVP
/// media type exactly); `None` otherwise, and for a layer without a known format.
pub fn raster_type(tile_format: Option<&str>, format: Format<'_>) -> Option<&'static str> {
    let (mime, ext) = match tile_format? {
        "png" => ("image/png", "png"),
        "jpeg" | "jpg" => ("image/jpeg", "jpg"),
        "webp" => ("image/webp", "webp"),
        _ => return None,
    };
    let named = match format {
        Format::Mvt => false,
        Format::Mime(m) => m == mime,
        Format::Suffix(e) => {
            e.eq_ignore_ascii_case(ext) || (ext == "jpg" && e.eq_ignore_ascii_case("jpeg"))
        }
    };
    named.then_some(mime)
}

/// A WMTS tile request the fast path may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastTile<'a> {
    /// The layer id (checked: `[a-z0-9_]`, at most 48 characters).
    pub layer: &'a str,
    /// The tile, validated in its matrix set.
    pub tile: GridTile,
    /// The format asked for.
    pub format: Format<'a>,
    /// The route label the full stack records the request under.
    pub route: &'static str,
}

/// The tile `path` and `query` ask for, if they are a WMTS `GetTile` that the full
/// route would serve for a layer in that format (see the module documentation).
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
    let format = if ext.eq_ignore_ascii_case("mvt") || ext.eq_ignore_ascii_case("pbf") {
        Format::Mvt
    } else if (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Format::Suffix(ext)
    } else {
        return None;
    };
    tile(layer, style, set, matrix, row, col, format, REST_ROUTE)
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
    {
        return None;
    }
    let format = match format? {
        MVT_TYPE | "application/x-protobuf" => Format::Mvt,
        image if image.starts_with("image/") => Format::Mime(image),
        _ => return None,
    };
    tile(layer?, style?, set?, matrix?, row?, col?, format, KVP_ROUTE)
}

/// The checks of [`super::get_tile`] that do not need the layer.
#[allow(clippy::too_many_arguments)]
fn tile<'a>(
    layer: &'a str,
    style: &str,
    set: &str,
    matrix: &str,
    row: &str,
    col: &str,
    format: Format<'a>,
    route: &'static str,
) -> Option<FastTile<'a>> {
    if !citygrid_db::is_identifier(layer, 48) || style != "default" {
        return None;
    }
    let set = MatrixSet::parse(set)?;
    let level: u8 = matrix.parse().ok()?;
    let tile = set.tile(level, col.parse().ok()?, row.parse().ok()?).ok()?;
    Some(FastTile {
        layer,
        tile,
        format,
        route,
    })
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
        assert_eq!(t.format, Format::Mvt);
        let pbf = parse("/wmts/roads/default/WebMercatorQuad/0/0/0.PBF", None);
        assert_eq!(pbf.map(|t| t.format), Some(Format::Mvt));
        let png = parse("/wmts/ortho/default/WebMercatorQuad/0/0/0.PNG", None);
        assert_eq!(png.map(|t| t.format), Some(Format::Suffix("PNG")));
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
        let png = KVP.replace("application/vnd.mapbox-vector-tile", "image/png");
        assert_eq!(
            parse("/wmts", Some(&png)).map(|t| t.format),
            Some(Format::Mime("image/png"))
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
            "/wmts/roads/default/WebMercatorQuad/14/4742/9326",
            "/wmts/roads/default/WebMercatorQuad/14/4742/9326.",
            "/wmts/roads/default/WebMercatorQuad/14/4742/9326.pngpngpng",
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
            KVP.replace("application/vnd.mapbox-vector-tile", "text/html"),
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

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn raster_formats_are_the_layers_own() {
        let png = Some("png");
        assert_eq!(raster_type(png, Format::Suffix("png")), Some("image/png"));
        assert_eq!(raster_type(png, Format::Suffix("PNG")), Some("image/png"));
        assert_eq!(
            raster_type(png, Format::Mime("image/png")),
            Some("image/png")
        );
        assert_eq!(raster_type(png, Format::Suffix("jpg")), None);
        assert_eq!(raster_type(png, Format::Mime("image/jpeg")), None);
        assert_eq!(raster_type(png, Format::Mvt), None);
        let jpeg = Some("jpeg");
        assert_eq!(
            raster_type(jpeg, Format::Suffix("jpeg")),
            Some("image/jpeg")
        );
        assert_eq!(raster_type(jpeg, Format::Suffix("jpg")), Some("image/jpeg"));
        assert_eq!(raster_type(jpeg, Format::Mime("image/jpg")), None);
        assert_eq!(
            raster_type(Some("webp"), Format::Suffix("webp")),
            Some("image/webp")
        );
        // No known stored format: the full route's.
        assert_eq!(raster_type(None, Format::Suffix("png")), None);
        assert_eq!(raster_type(Some("tiff"), Format::Suffix("tiff")), None);
    }
}

//! OGC WMTS 1.0.0 over the tile layers (issue 23): capabilities and tiles in the
//! KVP form (`/wmts?SERVICE=WMTS&REQUEST=GetCapabilities|GetTile&…`) and the RESTful
//! form (`/wmts/1.0.0/WMTSCapabilities.xml`,
//! `/wmts/{layer}/{style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{ext}`).
//!
//! Every layer the caller may read is a WMTS layer (the same check as the tile
//! routes, [`crate::tiles::resolve_layers`]); vector layers are offered as MVT in every
//! tile matrix set of `citygrid_geo::matrixset`, raster layers in their stored format
//! in WebMercatorQuad and, when imported with a geographic pyramid (`import raster
//! --tms`, default), in WorldCRS84Quad and CGCS2000Quad. Tiles are served by [`crate::tiles::serve_in`], so they share
//! the tile cache, ETags and API keys with `/tiles/…` and OGC API – Tiles. Bad
//! parameters get an OWS 1.1 `ExceptionReport` (XML) with the status of WMTS 1.0.0
//! table 28 (400 for MissingParameterValue, InvalidParameterValue and TileOutOfRange,
//! 501 for OperationNotSupported).

pub mod fast_key;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use citygrid_geo::matrixset::MatrixSet;
use citygrid_geo::tms::Bbox;
use citygrid_tiles::mvt::MVT_TYPE;
use citygrid_tiles::LayerKind;

use crate::auth::{Access, Principal};
use crate::catalog::LayerMeta;
use crate::error::ApiError;
use crate::router::RouteTable;
use crate::state::AppState;

/// The media type of WMTS capabilities.
pub const CAPABILITIES_TYPE: &str = "application/xml";

/// The WMTS routes.
pub fn routes(t: RouteTable) -> RouteTable {
    let a = Access::Layers;
    t.add(Method::GET, "/wmts", a, get(kvp))
        .add(
            Method::GET,
            "/wmts/1.0.0/WMTSCapabilities.xml",
            a,
            get(capabilities_rest),
        )
        .add(
            Method::GET,
            "/wmts/{layer}/{style}/{tms}/{matrix}/{row}/{col}",
            a,
            get(tile_rest),
        )
}

/// An OWS exception: code, locator and text, answered as an `ExceptionReport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwsException {
    status: StatusCode,
    code: &'static str,
    locator: Option<String>,
    text: String,
}

impl OwsException {
    fn new(status: StatusCode, code: &'static str, locator: &str, text: String) -> Self {
        OwsException {
            status,
            code,
            locator: (!locator.is_empty()).then(|| locator.to_string()),
            text,
        }
    }

    fn missing(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameterValue",
            name,
            format!("the parameter {name} is missing"),
        )
    }

    fn invalid(name: &str, text: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameterValue", name, text)
    }

    fn out_of_range(name: &str, text: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "TileOutOfRange", name, text)
    }

    /// An error of the tile path in OWS terms (401/403 keep their status so that
    /// clients ask for credentials; an unknown layer is an invalid `layer`).
    fn from_api(e: ApiError) -> Self {
        let status = e.status();
        let text = e.to_string();
        match e {
            ApiError::BadRequest(_) => Self::invalid("", text),
            ApiError::NotFound(_) => Self::invalid("layer", text),
            _ => Self::new(status, "NoApplicableCode", "", text),
        }
    }
}

impl IntoResponse for OwsException {
    fn into_response(self) -> Response {
        let locator = self
            .locator
            .as_deref()
            .map(|l| format!(" locator=\"{}\"", esc(l)))
            .unwrap_or_default();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ExceptionReport xmlns=\"http://www.opengis.net/ows/1.1\" version=\"1.1.0\" xml:lang=\"en\">\n  <Exception exceptionCode=\"{}\"{locator}>\n    <ExceptionText>{}</ExceptionText>\n  </Exception>\n</ExceptionReport>\n",
            self.code,
            esc(&self.text)
        );
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(CAPABILITIES_TYPE),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"citygrid\""),
            );
        }
        r
    }
}

/// XML text and attribute escaping.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The format (media type, suffix) and tile matrix sets a layer is offered in
/// (`geographic`: a raster layer has a geographic pyramid).
fn offer(meta: &LayerMeta, geographic: bool) -> (&'static str, &'static str, Vec<MatrixSet>) {
    let raster_sets = if geographic {
        MatrixSet::ALL.to_vec()
    } else {
        vec![MatrixSet::WebMercatorQuad]
    };
    match meta.kind {
        LayerKind::Vector => (MVT_TYPE, "mvt", MatrixSet::ALL.to_vec()),
        LayerKind::Raster => match meta.tile_format.as_deref() {
            Some("jpeg") | Some("jpg") => ("image/jpeg", "jpg", raster_sets),
            Some("webp") => ("image/webp", "webp", raster_sets),
            _ => ("image/png", "png", raster_sets),
        },
    }
}

/// The lon/lat bounds of a layer (the world when it has none).
fn layer_bounds(meta: &LayerMeta) -> Bbox {
    match meta.bounds.as_deref() {
        Some([w, s, e, n]) if w.is_finite() && s.is_finite() && e.is_finite() && n.is_finite() => {
            Bbox::new(
                w.clamp(-180.0, 180.0),
                s.clamp(-90.0, 90.0),
                e.clamp(-180.0, 180.0),
                n.clamp(-90.0, 90.0),
            )
        }
        _ => Bbox::new(-180.0, -90.0, 180.0, 90.0),
    }
}

/// The levels of `set` a layer has tiles at: from its first zoom (in Web Mercator
/// levels; the geographic sets' level n is about Web Mercator zoom n − 1) to its
/// last (rasters: the pyramid's) or the set's last (vectors).
fn layer_levels(meta: &LayerMeta, set: MatrixSet) -> std::ops::RangeInclusive<u8> {
    let shift = match set {
        MatrixSet::WorldCrs84Quad => -1,
        _ => 0,
    };
    let clamp =
        |z: i32| (z + shift).clamp(i32::from(set.min_level()), i32::from(set.max_level())) as u8;
    let first = clamp(meta.min_zoom);
    let last = match meta.kind {
        LayerKind::Raster => clamp(meta.max_zoom),
        LayerKind::Vector => set.max_level(),
    };
    first..=last.max(first)
}

fn fmt_num(v: f64) -> String {
    // Shortest round-trip form; integers without a trailing ".0".
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The capabilities document for the layers `metas` (each with whether it is a
/// raster layer with a geographic pyramid) at `base` (the service's URL).
pub fn capabilities(base: &str, metas: &[(LayerMeta, bool)]) -> String {
    let b = esc(base);
    let mut x = String::with_capacity(16 * 1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<Capabilities xmlns=\"http://www.opengis.net/wmts/1.0\" xmlns:ows=\"http://www.opengis.net/ows/1.1\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:gml=\"http://www.opengis.net/gml\" xsi:schemaLocation=\"http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd\" version=\"1.0.0\">\n");
    x.push_str("  <ows:ServiceIdentification>\n    <ows:Title>citygrid</ows:Title>\n    <ows:Abstract>City map layers as WMTS: vector tiles (MVT) and orthophotos in WebMercatorQuad, WorldCRS84Quad and CGCS2000Quad (Tianditu c levels)</ows:Abstract>\n    <ows:ServiceType>OGC WMTS</ows:ServiceType>\n    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>\n  </ows:ServiceIdentification>\n");
    x.push_str("  <ows:OperationsMetadata>\n");
    for op in ["GetCapabilities", "GetTile"] {
        x.push_str(&format!(
            "    <ows:Operation name=\"{op}\">\n      <ows:DCP>\n        <ows:HTTP>\n          <ows:Get xlink:href=\"{b}/wmts?\">\n            <ows:Constraint name=\"GetEncoding\">\n              <ows:AllowedValues>\n                <ows:Value>KVP</ows:Value>\n              </ows:AllowedValues>\n            </ows:Constraint>\n          </ows:Get>\n          <ows:Get xlink:href=\"{b}/wmts/\">\n            <ows:Constraint name=\"GetEncoding\">\n              <ows:AllowedValues>\n                <ows:Value>RESTful</ows:Value>\n              </ows:AllowedValues>\n            </ows:Constraint>\n          </ows:Get>\n        </ows:HTTP>\n      </ows:DCP>\n    </ows:Operation>\n"
        ));
    }
    x.push_str("  </ows:OperationsMetadata>\n  <Contents>\n");
    for (meta, geographic) in metas {
        let (mime, ext, sets) = offer(meta, *geographic);
        let bounds = layer_bounds(meta);
        let id = esc(&meta.id);
        x.push_str(&format!(
            "    <Layer>\n      <ows:Title>{}</ows:Title>\n      <ows:WGS84BoundingBox>\n        <ows:LowerCorner>{} {}</ows:LowerCorner>\n        <ows:UpperCorner>{} {}</ows:UpperCorner>\n      </ows:WGS84BoundingBox>\n      <ows:Identifier>{id}</ows:Identifier>\n      <Style isDefault=\"true\">\n        <ows:Identifier>default</ows:Identifier>\n      </Style>\n      <Format>{mime}</Format>\n",
            esc(&meta.title),
            fmt_num(bounds.min_x),
            fmt_num(bounds.min_y),
            fmt_num(bounds.max_x),
            fmt_num(bounds.max_y),
        ));
        for set in &sets {
            x.push_str(&format!(
                "      <TileMatrixSetLink>\n        <TileMatrixSet>{}</TileMatrixSet>\n        <TileMatrixSetLimits>\n",
                set.id()
            ));
            for level in layer_levels(meta, *set) {
                if let Some((c0, r0, c1, r1)) = set.tile_limits(&bounds, level) {
                    x.push_str(&format!(
                        "          <TileMatrixLimits>\n            <TileMatrix>{level}</TileMatrix>\n            <MinTileRow>{r0}</MinTileRow>\n            <MaxTileRow>{r1}</MaxTileRow>\n            <MinTileCol>{c0}</MinTileCol>\n            <MaxTileCol>{c1}</MaxTileCol>\n          </TileMatrixLimits>\n"
                    ));
                }
            }
            x.push_str("        </TileMatrixSetLimits>\n      </TileMatrixSetLink>\n");
        }
        x.push_str(&format!(
            "      <ResourceURL format=\"{mime}\" resourceType=\"tile\" template=\"{b}/wmts/{id}/{{Style}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}.{ext}\"/>\n    </Layer>\n"
        ));
    }
    for set in MatrixSet::ALL {
        x.push_str(&format!(
            "    <TileMatrixSet>\n      <ows:Title>{}</ows:Title>\n      <ows:Identifier>{}</ows:Identifier>\n      <ows:SupportedCRS>{}</ows:SupportedCRS>\n",
            esc(set.title()),
            set.id(),
            set.crs_urn()
        ));
        if let Some(wkss) = match set {
            MatrixSet::WebMercatorQuad => Some("urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"),
            MatrixSet::WorldCrs84Quad => Some("urn:ogc:def:wkss:OGC:1.0:GoogleCRS84Quad"),
            MatrixSet::Cgcs2000Quad => None,
        } {
            x.push_str(&format!(
                "      <WellKnownScaleSet>{wkss}</WellKnownScaleSet>\n"
            ));
        }
        let [o1, o2] = set.origin_in_axis_order();
        for level in set.min_level()..=set.max_level() {
            let (w, h) = set.matrix_size(level);
            x.push_str(&format!(
                "      <TileMatrix>\n        <ows:Identifier>{level}</ows:Identifier>\n        <ScaleDenominator>{}</ScaleDenominator>\n        <TopLeftCorner>{} {}</TopLeftCorner>\n        <TileWidth>256</TileWidth>\n        <TileHeight>256</TileHeight>\n        <MatrixWidth>{w}</MatrixWidth>\n        <MatrixHeight>{h}</MatrixHeight>\n      </TileMatrix>\n",
                set.scale_denominator(level),
                fmt_num(o1),
                fmt_num(o2),
            ));
        }
        x.push_str("    </TileMatrixSet>\n");
    }
    x.push_str(&format!(
        "  </Contents>\n  <ServiceMetadataURL xlink:href=\"{b}/wmts/1.0.0/WMTSCapabilities.xml\"/>\n</Capabilities>\n"
    ));
    x
}

/// The layers `principal` may read, in catalogue order, each with whether it is a
/// raster layer with a geographic pyramid.
async fn readable_layers(state: &AppState, principal: &Principal) -> Vec<(LayerMeta, bool)> {
    let metas: Vec<LayerMeta> = state
        .catalog
        .layers()
        .iter()
        .filter(|m| {
            crate::tiles::resolve_layers(state, principal, std::slice::from_ref(&m.id)).is_ok()
        })
        .cloned()
        .collect();
    let mut out = Vec::with_capacity(metas.len());
    for meta in metas {
        let geographic = match (meta.kind, citygrid_store::layers::LayerId::new(&meta.id)) {
            (LayerKind::Raster, Some(id)) => {
                citygrid_store::layers::has_geographic_pyramid(&state.pool, id)
                    .await
                    .unwrap_or(false)
            }
            _ => false,
        };
        out.push((meta, geographic));
    }
    out
}

async fn capabilities_response(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
) -> Response {
    let base = crate::extract::base_url(headers, state);
    let body = capabilities(&base, &readable_layers(state, principal).await);
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CAPABILITIES_TYPE),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    r
}

/// `GET /wmts/1.0.0/WMTSCapabilities.xml`.
pub async fn capabilities_rest(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Response {
    capabilities_response(&state, &principal, &headers).await
}

/// The longest parameter value read.
const MAX_VALUE: usize = 256;

/// `GET /wmts?SERVICE=WMTS&REQUEST=…` (parameter names in any case).
pub async fn kvp(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let get = |name: &str| -> Option<&str> {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let need = |name: &str| -> Result<&str, OwsException> {
        let v = get(name).ok_or_else(|| OwsException::missing(name))?;
        if v.len() > MAX_VALUE {
            return Err(OwsException::invalid(
                name,
                format!("the parameter {name} is longer than {MAX_VALUE} characters"),
            ));
        }
        Ok(v)
    };
    let run = async {
        let service = need("SERVICE")?;
        if !service.eq_ignore_ascii_case("WMTS") {
            return Err(OwsException::invalid(
                "SERVICE",
                format!("SERVICE is {:?}; this service is WMTS", clip(service)),
            ));
        }
        let request = need("REQUEST")?;
        match request {
            "GetCapabilities" => Ok(capabilities_response(&state, &principal, &headers).await),
            "GetTile" => {
                if let Some(v) = get("VERSION") {
                    if v != "1.0.0" {
                        return Err(OwsException::invalid(
                            "VERSION",
                            format!("VERSION {:?} is not supported; use 1.0.0", clip(v)),
                        ));
                    }
                }
                let layer = need("LAYER")?;
                let style = need("STYLE")?;
                let format = need("FORMAT")?;
                let set = need("TILEMATRIXSET")?;
                let matrix = need("TILEMATRIX")?;
                let row = need("TILEROW")?;
                let col = need("TILECOL")?;
                get_tile(
                    &state,
                    &principal,
                    &headers,
                    layer,
                    style,
                    Fmt::Mime(format),
                    set,
                    matrix,
                    row,
                    col,
                )
                .await
            }
            "GetFeatureInfo" => Err(OwsException::new(
                StatusCode::NOT_IMPLEMENTED,
                "OperationNotSupported",
                "REQUEST",
                "GetFeatureInfo is not offered; use the OGC API features at /ogc".into(),
            )),
            other => Err(OwsException::invalid(
                "REQUEST",
                format!(
                    "REQUEST {:?} is not known; use GetCapabilities or GetTile",
                    clip(other)
                ),
            )),
        }
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /wmts/{layer}/{style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{ext}`.
pub async fn tile_rest(
    State(state): State<AppState>,
    principal: Principal,
    Path((layer, style, set, matrix, row, col)): Path<(
        String,
        String,
        String,
        String,
        String,
        String,
    )>,
    headers: HeaderMap,
) -> Response {
    let Some((col, ext)) = col.split_once('.') else {
        return OwsException::invalid(
            "TileCol",
            "the tile path ends in {TileCol}.{ext} (png, jpg, webp or mvt)".into(),
        )
        .into_response();
    };
    get_tile(
        &state,
        &principal,
        &headers,
        &layer,
        &style,
        Fmt::Ext(ext),
        &set,
        &matrix,
        &row,
        col,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// A value as it may be quoted back in a message.
fn clip(v: &str) -> String {
    v.chars().take(48).collect()
}

/// How a request names the format.
enum Fmt<'a> {
    /// `FORMAT=image/png` (KVP).
    Mime(&'a str),
    /// `….png` (RESTful).
    Ext(&'a str),
}

#[allow(clippy::too_many_arguments)]
async fn get_tile(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    layer: &str,
    style: &str,
    format: Fmt<'_>,
    set: &str,
    matrix: &str,
    row: &str,
    col: &str,
) -> Result<Response, OwsException> {
    if !citygrid_db::is_identifier(layer, 48) {
        return Err(OwsException::invalid(
            "LAYER",
            format!("no layer {:?} (see the capabilities)", clip(layer)),
        ));
    }
    let metas = crate::tiles::resolve_layers(state, principal, &[layer.to_string()]).map_err(
        |e| match e {
            ApiError::NotFound(_) => OwsException::invalid(
                "LAYER",
                format!("no layer {:?} (see the capabilities)", clip(layer)),
            ),
            other => OwsException::from_api(other),
        },
    )?;
    let Some(meta) = metas.first() else {
        return Err(OwsException::invalid("LAYER", "no layer given".into()));
    };
    if !(style == "default" || style.is_empty()) {
        return Err(OwsException::invalid(
            "STYLE",
            format!("style {:?} is not offered; use default", clip(style)),
        ));
    }
    // Every set: a raster layer without a geographic pyramid answers 204 there.
    let (mime, ext, sets) = offer(meta, true);
    let format_ok = match format {
        Fmt::Mime(m) => m == mime || (mime == MVT_TYPE && m == "application/x-protobuf"),
        Fmt::Ext(e) => {
            let e = e.to_ascii_lowercase();
            e == ext || (ext == "mvt" && e == "pbf") || (ext == "jpg" && e == "jpeg")
        }
    };
    if !format_ok {
        return Err(OwsException::invalid(
            "FORMAT",
            format!("layer {} is offered as {mime} only", meta.id),
        ));
    }
    let set = MatrixSet::parse(set)
        .filter(|s| sets.contains(s))
        .ok_or_else(|| {
            OwsException::invalid(
                "TILEMATRIXSET",
                format!(
                    "tile matrix set {:?} is not offered for layer {}; use {}",
                    clip(set),
                    meta.id,
                    sets.iter().map(|s| s.id()).collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
    let level: u8 = matrix
        .parse()
        .ok()
        .filter(|l| (set.min_level()..=set.max_level()).contains(l))
        .ok_or_else(|| {
            OwsException::invalid(
                "TILEMATRIX",
                format!(
                    "tile matrix {:?} is not in {} (levels {} to {})",
                    clip(matrix),
                    set.id(),
                    set.min_level(),
                    set.max_level()
                ),
            )
        })?;
    let parse = |name: &str, v: &str| -> Result<u32, OwsException> {
        v.parse().map_err(|_| {
            OwsException::invalid(name, format!("{name} {:?} is not a number", clip(v)))
        })
    };
    let (row_n, col_n) = (parse("TILEROW", row)?, parse("TILECOL", col)?);
    let (w, h) = set.matrix_size(level);
    if u64::from(row_n) >= h {
        return Err(OwsException::out_of_range(
            "TILEROW",
            format!(
                "row {row_n} is outside tile matrix {level} of {} (0 to {})",
                set.id(),
                h - 1
            ),
        ));
    }
    if u64::from(col_n) >= w {
        return Err(OwsException::out_of_range(
            "TILECOL",
            format!(
                "column {col_n} is outside tile matrix {level} of {} (0 to {})",
                set.id(),
                w - 1
            ),
        ));
    }
    let tile = set
        .tile(level, col_n, row_n)
        .map_err(|e| OwsException::out_of_range("TILEMATRIX", e.to_string()))?;
    crate::tiles::serve_resolved(state, &metas, tile, Some(ext), headers)
        .await
        .map_err(OwsException::from_api)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, kind: LayerKind, format: Option<&str>) -> LayerMeta {
        LayerMeta {
            id: id.into(),
            title: format!("{id} <&> \"title\""),
            kind,
            geometry_type: None,
            feature_count: 1,
            bounds: Some(vec![116.0, 39.5, 117.0, 40.5]),
            min_zoom: 10,
            max_zoom: 14,
            tile_format: format.map(str::to_string),
            fields: serde_json::json!([]),
            source_crs: None,
            version: 1,
            tile_properties: None,
            tile_properties_version: 0,
        }
    }

    #[test]
    fn capabilities_list_layers_sets_and_limits() {
        let doc = capabilities(
            "http://h/x?a=1&b=2",
            &[
                (meta("roads", LayerKind::Vector, None), false),
                (meta("ortho", LayerKind::Raster, Some("jpeg")), false),
                (meta("photo", LayerKind::Raster, Some("webp")), true),
            ],
        );
        assert!(doc.contains("<ows:Identifier>roads</ows:Identifier>"));
        assert!(doc.contains("roads &lt;&amp;&gt; &quot;title&quot;"));
        assert!(doc.contains("http://h/x?a=1&amp;b=2/wmts/roads/{Style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.mvt"));
        assert!(doc.contains("<Format>image/jpeg</Format>"));
        assert!(doc.contains("<ows:SupportedCRS>urn:ogc:def:crs:EPSG::4490</ows:SupportedCRS>"));
        assert!(doc.contains("<TopLeftCorner>90 -180</TopLeftCorner>"));
        assert!(doc.contains("<TopLeftCorner>-180 90</TopLeftCorner>"));
        // CGCS2000Quad from the layer's first level (10: tiles of 0.3515625°).
        let cgcs = &doc[doc
            .find("<TileMatrixSet>CGCS2000Quad</TileMatrixSet>")
            .unwrap_or(0)..];
        assert!(cgcs.starts_with("<TileMatrixSet>CGCS2000Quad</TileMatrixSet>\n        <TileMatrixSetLimits>\n          <TileMatrixLimits>\n            <TileMatrix>10</TileMatrix>\n            <MinTileRow>140</MinTileRow>\n            <MaxTileRow>143</MaxTileRow>\n            <MinTileCol>841</MinTileCol>\n            <MaxTileCol>844</MaxTileCol>"), "{}", &cgcs[..400.min(cgcs.len())]);
        // The raster is offered in WebMercatorQuad at its pyramid's levels only.
        let ortho = &doc[doc.find("<ows:Identifier>ortho").unwrap_or(0)..];
        let ortho = &ortho[..ortho.find("</Layer>").unwrap_or(ortho.len())];
        assert_eq!(ortho.matches("<TileMatrixSetLink>").count(), 1);
        assert_eq!(ortho.matches("<TileMatrixLimits>").count(), 5);
        // One with a geographic pyramid: in all three sets.
        let photo = &doc[doc.find("<ows:Identifier>photo").unwrap_or(0)..];
        let photo = &photo[..photo.find("</Layer>").unwrap_or(photo.len())];
        assert_eq!(photo.matches("<TileMatrixSetLink>").count(), 3);
        assert!(photo.contains("{TileCol}.webp"));
        assert_eq!(
            doc.matches("<ows:Identifier>CGCS2000Quad</ows:Identifier>")
                .count(),
            1
        );
    }

    #[test]
    fn exceptions_are_escaped_xml_with_their_status() {
        let r = OwsException::invalid("LAYER", "no <layer> & co".into()).into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = OwsException::out_of_range("TILEROW", "x".into()).into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(esc("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;\u{fffd}");
        let e = OwsException::from_api(ApiError::Unauthorized("sign in".into()));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNAUTHORIZED, "NoApplicableCode")
        );
    }
}

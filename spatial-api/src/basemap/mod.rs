//! The basemap's resources beside the style: glyphs (`/fonts/{fontstack}/{range}.pbf`,
//! [`glyphs`]) and icons (`/sprites/{name}.json|.png`, [`sprites`]). Both are read by
//! the same people as the styles (`Access::Layers`) and never change while the
//! service runs.

pub mod glyphs;
pub mod sprites;
pub mod store;
pub mod style;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::Access;
use crate::error::ApiError;
use crate::router::RouteTable;

pub use store::Basemap;

use glyphs::GlyphError;
use sprites::SpriteError;

/// A glyph range never changes for the fonts installed: a month, immutable.
pub const GLYPH_CACHE_CONTROL: &str = "public, max-age=2592000, immutable";
/// Sprites change with the service's version: a day.
pub const SPRITE_CACHE_CONTROL: &str = "public, max-age=86400";

impl From<GlyphError> for ApiError {
    fn from(e: GlyphError) -> Self {
        match e {
            GlyphError::BadRange(_) => ApiError::BadRequest(e.to_string()),
            GlyphError::UnknownFont(m) => ApiError::NotFound(m),
            GlyphError::Render(m) => ApiError::Internal(m),
        }
    }
}

impl From<SpriteError> for ApiError {
    fn from(e: SpriteError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// The basemap's routes.
pub fn routes(t: RouteTable) -> RouteTable {
    t.add(
        Method::GET,
        "/fonts/{fontstack}/{range}",
        Access::Layers,
        get(glyph_range),
    )
    .add(Method::GET, "/sprites/{file}", Access::Layers, get(sprite))
}

fn with_type(body: Bytes, content_type: &'static str, cache: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

/// `GET /fonts/{fontstack}/{start}-{end}.pbf`: 256 SDF glyphs of a fontstack.
pub async fn glyph_range(
    State(basemap): State<Arc<Basemap>>,
    Path((fontstack, range)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let start = glyphs::parse_range(&range)?;
    let bytes = basemap.glyphs.range(&fontstack, start).await?;
    Ok(with_type(
        bytes,
        "application/x-protobuf",
        GLYPH_CACHE_CONTROL,
    ))
}

/// `GET /sprites/{name}[@2x].json|.png`: a sprite's index or sheet.
pub async fn sprite(
    State(basemap): State<Arc<Basemap>>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let (_, ratio, png) = sprites::parse_file(&file).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no sprite file {:?}: the sprite is default.json, default.png, default@2x.json, default@2x.png",
            file.chars().take(60).collect::<String>()
        ))
    })?;
    let sheet = basemap.sprites.sheet(ratio).await?;
    Ok(if png {
        with_type(sheet.png, "image/png", SPRITE_CACHE_CONTROL)
    } else {
        with_type(sheet.json, "application/json", SPRITE_CACHE_CONTROL)
    })
}

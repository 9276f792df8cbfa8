//! The state of the basemap's routes: the glyph and sprite stores.

use std::path::PathBuf;

use super::glyphs::GlyphStore;
use super::sprites::SpriteStore;
use super::style;

/// Glyphs and sprites, made on first use and kept.
pub struct Basemap {
    /// Glyph ranges by fontstack.
    pub glyphs: GlyphStore,
    /// The sprite sheets.
    pub sprites: SpriteStore,
}

impl Basemap {
    /// Glyphs from the fonts under `font_dir`.
    pub fn new(font_dir: PathBuf) -> Basemap {
        Basemap {
            glyphs: GlyphStore::new(font_dir),
            sprites: SpriteStore::default(),
        }
    }
}

impl Basemap {
    /// Makes what the first map view asks for before anyone asks: both sprite sheets
    /// and the Latin glyphs of the default style's fonts (failures are logged; the
    /// requests then retry).
    pub async fn prewarm(&self) {
        for ratio in [1, 2] {
            if let Err(e) = self.sprites.sheet(ratio).await {
                tracing::warn!(error = %e, "cannot make the sprite sheet");
            }
        }
        for font in [style::FONT_REGULAR, style::FONT_BOLD] {
            if let Err(e) = self.glyphs.range(font, 0).await {
                tracing::warn!(error = %e, font, "no map glyphs");
            }
        }
    }
}

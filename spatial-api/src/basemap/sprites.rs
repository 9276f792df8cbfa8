//! Map icons: `GET /sprites/{name}.json|.png` and `{name}@2x.json|.png`, the sprite
//! index and sheet of MapLibre, packed by `spreet` (as Martin does) from the SVG
//! icons drawn for citygrid (`data/sprites/default/*.svg`, embedded in the binary).
//! Each sheet is made once, on first request, and kept.

use std::collections::BTreeMap;

use axum::body::Bytes;
use spreet::resvg::usvg::{Options, Tree};
use spreet::{Sprite, Spritesheet};
use tokio::sync::OnceCell;

include!(concat!(env!("OUT_DIR"), "/sprite_icons.rs"));

/// The sprites served.
pub const SPRITE_NAMES: [&str; 1] = ["default"];

/// Why a sprite sheet cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SpriteError {
    /// An embedded icon is not valid SVG (a build problem).
    #[error("icon {name}: {message}")]
    Icon {
        /// The icon.
        name: String,
        /// The SVG parser's message.
        message: String,
    },
    /// The packer or the PNG encoder failed.
    #[error("cannot make the sprite sheet: {0}")]
    Sheet(String),
}

/// One sheet: its index (JSON) and image (PNG).
#[derive(Debug, Clone)]
pub struct Sheet {
    /// The index: icon name to `{x, y, width, height, pixelRatio}`.
    pub json: Bytes,
    /// The PNG image.
    pub png: Bytes,
}

/// Packs `icons` (name, SVG text) at `ratio` (1 or 2).
pub fn make_sheet(icons: &[(&str, &str)], ratio: u8) -> Result<Sheet, SpriteError> {
    let options = Options::default();
    let mut sprites = BTreeMap::new();
    for (name, text) in icons {
        let icon_err = |message: String| SpriteError::Icon {
            name: name.to_string(),
            message,
        };
        let tree = Tree::from_str(text, &options).map_err(|e| icon_err(e.to_string()))?;
        let sprite = Sprite::new(tree, ratio).ok_or_else(|| icon_err("empty image".into()))?;
        sprites.insert(name.to_string(), sprite);
    }
    let sheet = Spritesheet::build()
        .sprites(sprites)
        .spacing(2)
        .generate()
        .ok_or_else(|| SpriteError::Sheet("nothing to pack".into()))?;
    let png = sheet
        .encode_png()
        .map_err(|e| SpriteError::Sheet(e.to_string()))?;
    let json =
        serde_json::to_vec(sheet.get_index()).map_err(|e| SpriteError::Sheet(e.to_string()))?;
    Ok(Sheet {
        json: Bytes::from(json),
        png: Bytes::from(png),
    })
}

/// The default sprite at 1x and 2x, made on first use.
#[derive(Default)]
pub struct SpriteStore {
    sheets: [OnceCell<Sheet>; 2],
}

impl SpriteStore {
    /// The default sheet at `ratio` (1 or 2).
    pub async fn sheet(&self, ratio: u8) -> Result<Sheet, SpriteError> {
        let slot = usize::from(ratio.clamp(1, 2) - 1);
        self.sheets[slot]
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || make_sheet(DEFAULT_ICONS, ratio.clamp(1, 2)))
                    .await
                    .map_err(|e| SpriteError::Sheet(e.to_string()))?
            })
            .await
            .cloned()
    }
}

/// What a `/sprites/{file}` path asks for: the sprite, the pixel ratio, and whether
/// the image (else the index).
pub fn parse_file(file: &str) -> Option<(&str, u8, bool)> {
    let (stem, png) = match (file.strip_suffix(".png"), file.strip_suffix(".json")) {
        (Some(s), _) => (s, true),
        (_, Some(s)) => (s, false),
        _ => return None,
    };
    let (name, ratio) = match stem.strip_suffix("@2x") {
        Some(n) => (n, 2),
        None => (stem, 1),
    };
    SPRITE_NAMES.contains(&name).then_some((name, ratio, png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_parsed() {
        assert_eq!(parse_file("default.json"), Some(("default", 1, false)));
        assert_eq!(parse_file("default@2x.png"), Some(("default", 2, true)));
        assert_eq!(parse_file("default@3x.png"), None);
        assert_eq!(parse_file("other.json"), None);
        assert_eq!(parse_file("default.svg"), None);
    }

    #[test]
    fn every_icon_is_packed_at_both_ratios() {
        for ratio in [1u8, 2] {
            let sheet = make_sheet(DEFAULT_ICONS, ratio).expect("sheet");
            let index: serde_json::Value = serde_json::from_slice(&sheet.json).expect("json");
            let index = index.as_object().expect("object");
            assert_eq!(index.len(), DEFAULT_ICONS.len());
            let e = &index["hydrant"];
            assert_eq!(e["width"], 20 * u32::from(ratio));
            assert_eq!(e["pixelRatio"], ratio);
        }
    }
}

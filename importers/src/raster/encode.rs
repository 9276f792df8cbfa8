//! Tile image formats: encoding RGBA tiles with the `image` crate, and decoding
//! stored tiles back to RGBA (for checks and re-encoding).

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder};

use super::error::Result;
use citygrid_geo::tms::TILE_SIZE_PX;

/// The tile size in pixels ([`TILE_SIZE_PX`]) as a `usize`, for image buffers.
pub const TILE_SIZE: usize = TILE_SIZE_PX as usize;

/// The image format of a raster layer's tiles (one per layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileFormat {
    /// PNG: lossless, with transparency.
    Png,
    /// JPEG (quality 85): small, opaque; transparent pixels become black.
    Jpeg,
    /// WebP (lossless), with transparency.
    Webp,
}

impl TileFormat {
    /// The name stored in `layer_catalog.tile_format`.
    pub fn as_str(self) -> &'static str {
        match self {
            TileFormat::Png => "png",
            TileFormat::Jpeg => "jpeg",
            TileFormat::Webp => "webp",
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            TileFormat::Png => "image/png",
            TileFormat::Jpeg => "image/jpeg",
            TileFormat::Webp => "image/webp",
        }
    }

    /// The usual file extension (also MBTiles' `format` metadata value).
    pub fn extension(self) -> &'static str {
        match self {
            TileFormat::Png => "png",
            TileFormat::Jpeg => "jpg",
            TileFormat::Webp => "webp",
        }
    }
}

impl std::str::FromStr for TileFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(TileFormat::Png),
            "jpeg" | "jpg" => Ok(TileFormat::Jpeg),
            "webp" => Ok(TileFormat::Webp),
            other => Err(format!("unknown tile format {other:?} (png, jpeg, webp)")),
        }
    }
}

impl std::fmt::Display for TileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP content type for a catalogue `tile_format` value
/// (`application/octet-stream` when unknown).
///
/// ```
/// assert_eq!(citygrid_importers::raster::content_type("jpeg"), "image/jpeg");
/// ```
pub fn content_type(format: &str) -> &'static str {
    format
        .parse::<TileFormat>()
        .map(TileFormat::content_type)
        .unwrap_or("application/octet-stream")
}

/// Encodes a 256×256 RGBA tile. Fully opaque PNG tiles are written as RGB.
pub fn encode(rgba: &[u8], format: TileFormat) -> Result<Vec<u8>> {
    let size = TILE_SIZE as u32;
    let mut out = Vec::with_capacity(32 * 1024);
    let opaque = rgba.chunks_exact(4).all(|p| p[3] == 255);
    let rgb = || -> Vec<u8> {
        rgba.chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    };
    match format {
        TileFormat::Png => {
            let encoder =
                PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
            if opaque {
                encoder.write_image(&rgb(), size, size, ExtendedColorType::Rgb8)?;
            } else {
                encoder.write_image(rgba, size, size, ExtendedColorType::Rgba8)?;
            }
        }
        TileFormat::Jpeg => {
            JpegEncoder::new_with_quality(&mut out, 85).write_image(
                &rgb(),
                size,
                size,
                ExtendedColorType::Rgb8,
            )?;
        }
        TileFormat::Webp => {
            WebPEncoder::new_lossless(&mut out).write_image(
                rgba,
                size,
                size,
                ExtendedColorType::Rgba8,
            )?;
        }
    }
    Ok(out)
}

/// Decodes a stored tile (PNG, JPEG or WebP) to `(width, height, RGBA bytes)`.
pub fn decode_rgba(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
    let image = image::load_from_memory(bytes)?.to_rgba8();
    Ok((image.width(), image.height(), image.into_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_encode_roundtrip() {
        let mut rgba = vec![0u8; TILE_SIZE * TILE_SIZE * 4];
        for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
            px.copy_from_slice(&[(i % 256) as u8, 100, 200, if i < 1000 { 0 } else { 255 }]);
        }
        for format in [TileFormat::Png, TileFormat::Webp] {
            let bytes = encode(&rgba, format).expect("encode");
            let (w, h, back) = decode_rgba(&bytes).expect("decode");
            assert_eq!((w, h), (256, 256));
            assert_eq!(back, rgba, "{format} is lossless");
        }
        let jpeg = encode(&rgba, TileFormat::Jpeg).expect("jpeg");
        assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
        assert_eq!(content_type("webp"), "image/webp");
        assert_eq!("jpg".parse::<TileFormat>(), Ok(TileFormat::Jpeg));
    }
}

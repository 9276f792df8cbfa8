//! Compression of encoded tiles: one gzip for every place that stores or sends tile
//! bytes compressed (the tile cache, MBTiles archives).

use std::io::Write;

/// The gzip form of `bytes` (default level), with room reserved for a typical
/// 2:1 ratio.
///
/// ```
/// let gz = citygrid_tiles::compress::gzip(b"tile bytes").unwrap();
/// assert_eq!(&gz[..2], &[0x1f, 0x8b]);
/// ```
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 64),
        flate2::Compression::default(),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

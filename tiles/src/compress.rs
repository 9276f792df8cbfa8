//! Compression of encoded tiles: one gzip for every place that stores or sends tile
//! bytes compressed (the tile cache, MBTiles archives), and its inverse for the rare
//! client that does not accept gzip.
//!
//! Brotli was measured and left out: on this project's tiles it saves 6–10 % of the
//! gzip bytes at quality 5 (nothing at 4) for more encoding time, and browsers offer
//! it only over HTTPS, so every plain-HTTP client would still need the gzip form:
//! two forms per cached tile for a tenth fewer bytes (BENCHMARKS.md).

use std::io::Write;

/// Tiles up to this many bytes (most tiles deep in the pyramid) are compressed at
/// level 1: on such tiles 2.5× faster than level 6 for about 10 % more bytes (some
/// 150 bytes a tile), which is what a miss costs most there.
pub const FAST_LEVEL_MAX_BYTES: usize = 4 << 10;

/// Tiles up to this many bytes (and above [`FAST_LEVEL_MAX_BYTES`]) are compressed at
/// the default level (6); larger ones (low-zoom tiles of dense layers, up to the
/// 500 kB cap) at level 2: on such tiles (1M generated points, ~300 KiB raw) 1.7×
/// faster for 3 % more bytes; on the OSM tiles level 2 would cost 12 % more bytes.
/// Measured with the server's zlib-rs on the benchmark's tiles (BENCHMARKS.md).
pub const FULL_LEVEL_MAX_BYTES: usize = 128 << 10;

/// The gzip form of `bytes` (level 1, 6 or 2 by size, see [`FAST_LEVEL_MAX_BYTES`]
/// and [`FULL_LEVEL_MAX_BYTES`]).
///
/// ```
/// use citygrid_tiles::compress::{gunzip, gzip};
/// let gz = gzip(b"tile bytes").unwrap();
/// assert_eq!(&gz[..2], &[0x1f, 0x8b]);
/// assert_eq!(gunzip(&gz, 10).unwrap(), b"tile bytes");
/// let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
/// assert_eq!(gunzip(&gzip(&big).unwrap(), big.len()).unwrap(), big);
/// ```
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let level = match bytes.len() {
        n if n <= FAST_LEVEL_MAX_BYTES => 1,
        n if n <= FULL_LEVEL_MAX_BYTES => 6,
        _ => 2,
    };
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 64),
        flate2::Compression::new(level),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The bytes of the gzip stream `gz`, which must hold exactly `raw_len` of them (as a
/// tile kept compressed records): reading stops there, and a stream that is shorter,
/// longer or damaged is an error.
///
/// ```
/// use citygrid_tiles::compress::{gunzip, gzip};
/// let gz = gzip(b"tile bytes").unwrap();
/// assert_eq!(gunzip(&gz, 10).unwrap(), b"tile bytes");
/// assert!(gunzip(&gz, 4).is_err());
/// assert!(gunzip(&gz, 11).is_err());
/// assert!(gunzip(&gz[..gz.len() - 3], 10).is_err());
/// ```
pub fn gunzip(gz: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(raw_len);
    let limit = u64::try_from(raw_len).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(gz)
        .take(limit)
        .read_to_end(&mut out)?;
    if out.len() != raw_len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("gzip tile holds {} bytes, not {raw_len}", out.len()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_level_round_trips_any_input() {
        // Incompressible input (deflate's worst case), long input at either level.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let repetitive: Vec<u8> = (0..400_000u32).map(|i| (i % 13) as u8).collect();
        for _ in 0..3 {
            for input in [&noise[..], &repetitive[..], b"", &noise[..10]] {
                let gz = gzip(input).unwrap();
                assert_eq!(gunzip(&gz, input.len()).unwrap(), input);
            }
        }
        assert!(gzip(&repetitive).unwrap().len() < repetitive.len() / 50);
    }
}

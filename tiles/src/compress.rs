//! Compression of encoded tiles: one gzip for every place that stores or sends tile
//! bytes compressed (the tile cache, MBTiles archives), brotli for the clients that
//! accept it, and their inverses for the rare client that accepts neither.
//!
//! gzip is libdeflate's (whole-buffer, one compressor per thread and level reused:
//! no per-tile allocation and zeroing of deflate tables, which was a third of a small
//! tile's gzip cost with a streaming deflater). Brotli (quality [`BROTLI_QUALITY`]) is
//! made only for tiles that a brotli client asks for, once, and kept beside the gzip
//! form (browsers offer it over HTTPS only, so every plain-HTTP client still needs
//! gzip).

use std::cell::RefCell;
use std::io::Read;

use libdeflater::{CompressionLvl, Compressor};

/// Tiles up to this many bytes (most tiles deep in the pyramid) are compressed at
/// level 1 (libdeflate's fastest, no lazy matching) for 2–4 % more bytes than level 6
/// on the benchmark's deep tiles (4–16 KiB raw: 5.4 against 5.3 KiB; below 4 KiB
/// 1–2 %; sizes by zlib), which is what a miss costs most there: half of the bytes of
/// a distinct-tile crawl z14–z20 are in its 3 % of tiles above 4 KiB.
pub const FAST_LEVEL_MAX_BYTES: usize = 16 << 10;

/// Tiles up to this many bytes (and above [`FAST_LEVEL_MAX_BYTES`]) are compressed at
/// the default level (6); larger ones (low-zoom tiles of dense layers, up to the
/// 500 kB cap) at level 2: on such tiles (1M generated points, ~300 KiB raw) 1.7×
/// faster for 3 % more bytes; on the OSM tiles level 2 would cost 12 % more bytes.
/// Measured with zlib-rs on the benchmark's tiles (BENCHMARKS.md); libdeflate, used
/// now, is faster at each level.
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
    let (slot, level) = match bytes.len() {
        n if n <= FAST_LEVEL_MAX_BYTES => (0, 1),
        n if n <= FULL_LEVEL_MAX_BYTES => (1, 6),
        _ => (2, 2),
    };
    thread_local! {
        /// One compressor per level and thread, made on first use and reused.
        static COMPRESSORS: RefCell<[Option<Compressor>; 3]> = const { RefCell::new([None, None, None]) };
    }
    COMPRESSORS.with(|cell| {
        let mut compressors = cell.borrow_mut();
        let compressor = compressors[slot]
            .get_or_insert_with(|| Compressor::new(CompressionLvl::new(level).unwrap_or_default()));
        let mut out = vec![0; compressor.gzip_compress_bound(bytes.len())];
        let n = compressor
            .gzip_compress(bytes, &mut out)
            .map_err(|e| std::io::Error::other(format!("gzip: {e}")))?;
        // (callers copy the bytes into their `Arc<[u8]>`: no shrinking here)
        out.truncate(n);
        Ok(out)
    })
}

/// The brotli quality of tiles: quality 5 saves 6–10 % of the gzip bytes on this
/// project's tiles (quality 4 about nothing) and is made once per tile, only for the
/// clients that accept it.
pub const BROTLI_QUALITY: i32 = 5;

/// The brotli form of `bytes` (quality [`BROTLI_QUALITY`], a window fitted to the
/// input).
///
/// ```
/// use citygrid_tiles::compress::{brotli, unbrotli};
/// let tile: Vec<u8> = (0..5000u32).map(|i| (i % 17) as u8).collect();
/// let br = brotli(&tile).unwrap();
/// assert!(br.len() < tile.len() / 10);
/// assert_eq!(unbrotli(&br, tile.len()).unwrap(), tile);
/// assert!(unbrotli(&br, 4999).is_err());
/// ```
pub fn brotli(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let params = ::brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY,
        // the smallest window that holds the tile (10..=22 bits; tiles are <= 500 kB)
        lgwin: (usize::BITS - bytes.len().max(1).leading_zeros()).clamp(10, 22) as i32,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(bytes.len() / 3 + 64);
    ::brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

/// The bytes of the brotli stream `br`, which must hold exactly `raw_len` of them:
/// reading stops there, and a stream that is shorter, longer or damaged is an error.
pub fn unbrotli(br: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(raw_len);
    let limit = u64::try_from(raw_len).unwrap_or(u64::MAX).saturating_add(1);
    ::brotli::Decompressor::new(br, 4096)
        .take(limit)
        .read_to_end(&mut out)?;
    check_len(out, raw_len, "brotli")
}

fn check_len(out: Vec<u8>, raw_len: usize, what: &str) -> std::io::Result<Vec<u8>> {
    if out.len() != raw_len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{what} tile holds {} bytes, not {raw_len}", out.len()),
        ));
    }
    Ok(out)
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
    let mut out = Vec::with_capacity(raw_len);
    let limit = u64::try_from(raw_len).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(gz)
        .take(limit)
        .read_to_end(&mut out)?;
    check_len(out, raw_len, "gzip")
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
                let br = brotli(input).unwrap();
                assert_eq!(unbrotli(&br, input.len()).unwrap(), input);
            }
        }
        assert!(gzip(&repetitive).unwrap().len() < repetitive.len() / 50);
        assert!(brotli(&repetitive).unwrap().len() < repetitive.len() / 50);
        // a damaged or cut stream is an error, never a panic
        let br = brotli(&noise).unwrap();
        assert!(unbrotli(&br[..br.len() / 2], noise.len()).is_err());
        assert!(unbrotli(b"not brotli at all", 10).is_err());
    }
}

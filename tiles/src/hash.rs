//! Small, stable (platform- and release-independent) 64-bit hashes: priorities for
//! deterministic thinning and ETags for cached tiles.

/// The SplitMix64 finaliser: a bijective, well-mixed function of one `u64`.
///
/// ```
/// use citygrid_tiles::hash::mix64;
/// assert_ne!(mix64(1), mix64(2));
/// assert_eq!(mix64(42), mix64(42));
/// ```
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A stable 64-bit hash of bytes (8 bytes per step, SplitMix-style mixing). Not
/// cryptographic; meant for ETags and cache keys.
///
/// ```
/// use citygrid_tiles::hash::hash_bytes;
/// assert_ne!(hash_bytes(b"abc"), hash_bytes(b"abd"));
/// assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
/// ```
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = mix64(bytes.len() as u64 ^ 0x6a09_e667_f3bc_c908);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix64(h ^ u64::from_le_bytes(w)).rotate_left(23);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mix64(h ^ u64::from_le_bytes(w) ^ 0xff);
    }
    mix64(h)
}

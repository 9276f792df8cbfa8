//! A byte-bounded, thread-safe LRU cache of encoded tiles with exact invalidation.
//!
//! Keys are `(layer ids sorted, with their versions; z, x, y)`; values are shared bytes
//! with a strong ETag. Bumping a layer version makes old keys unreachable (they age
//! out); [`TileCache::invalidate_bbox`] and [`TileCache::invalidate_layer`] free them at
//! once.
//!
//! ```
//! use citygrid_tiles::cache::{CacheConfig, TileCache, TileKey};
//! use citygrid_geo::tms::TileCoord;
//!
//! let cache = TileCache::new(CacheConfig { max_bytes: 1 << 20, ..CacheConfig::default() });
//! let key = TileKey::new(TileCoord::new(3, 1, 2).unwrap(), [("roads", 7), ("buildings", 3)]);
//! assert!(cache.get(&key).is_none());
//! let t = cache.insert(key.clone(), vec![1, 2, 3]);
//! assert_eq!(cache.get(&key).unwrap().etag, t.etag);
//! assert_eq!(cache.invalidate_layer("roads"), 1);
//! assert_eq!(cache.stats().entries, 0);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::hash::hash_bytes;
use citygrid_geo::matrixset::Grid;
use citygrid_geo::tms::{Bbox, TileCoord};

/// Cache key: a tile of a sorted set of layers at given versions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileKey {
    layers: Vec<(String, u64)>,
    tile: TileCoord,
    /// How `tile` is read (Web Mercator, or a geographic tile matrix set).
    grid: Grid,
}

impl TileKey {
    /// A key from a tile and `(layer id, layer version)` pairs in any order (duplicate
    /// ids keep the highest version).
    pub fn new<S: Into<String>>(
        tile: TileCoord,
        layers: impl IntoIterator<Item = (S, u64)>,
    ) -> Self {
        let mut layers: Vec<(String, u64)> =
            layers.into_iter().map(|(s, v)| (s.into(), v)).collect();
        layers.sort();
        layers.reverse();
        layers.dedup_by(|a, b| a.0 == b.0);
        layers.reverse();
        TileKey {
            layers,
            tile,
            grid: Grid::Mercator,
        }
    }

    /// A key of a tile address of `grid` (the geographic tile matrix sets share one
    /// address space, `citygrid_geo::matrixset`).
    pub fn in_grid<S: Into<String>>(
        grid: Grid,
        tile: TileCoord,
        layers: impl IntoIterator<Item = (S, u64)>,
    ) -> Self {
        TileKey {
            grid,
            ..TileKey::new(tile, layers)
        }
    }

    /// The grid of the tile address.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// The tile.
    pub fn tile(&self) -> TileCoord {
        self.tile
    }

    /// `(layer id, version)` sorted by id.
    pub fn layers(&self) -> &[(String, u64)] {
        &self.layers
    }

    fn has_layer(&self, id: &str) -> bool {
        self.layers.iter().any(|(l, _)| l == id)
    }

    /// Bytes accounted for the key itself.
    fn weight(&self) -> usize {
        64 + self.layers.iter().map(|(s, _)| s.len() + 32).sum::<usize>()
    }
}

/// How the bytes of a [`CachedTile`] are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The tile as it is (images, empty tiles, tiles that compression does not make
    /// smaller).
    Identity,
    /// gzip-compressed once when the tile was encoded (vector tiles).
    Gzip,
}

/// A cached tile: its stored form, and its brotli form once a brotli client asked.
///
/// Vector tiles are kept gzip-compressed (2–4× smaller than the raw tile, and what
/// every browser asks for), sent as-is to clients that accept gzip and decompressed on
/// the rare request that does not; see [`CachedTile::compressed`]. The first client
/// that accepts brotli adds the brotli form ([`CachedTile::with_brotli`],
/// [`TileCache::attach_brotli`]), sent as-is to brotli clients from then on; both
/// forms count against the cache's bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedTile {
    /// The stored bytes, in `encoding`.
    pub bytes: Arc<[u8]>,
    /// How `bytes` are stored.
    pub encoding: Encoding,
    /// The brotli form of the raw tile, beside a gzip form (made once, when a client
    /// that accepts brotli first asked for the tile).
    pub brotli: Option<Arc<[u8]>>,
    /// Strong ETag of the *raw* tile, quoted: `"<16 hex digits of a stable 64-bit
    /// hash>"`; the gzip representation's is [`CachedTile::gzip_etag`].
    pub etag: String,
    /// Length of the raw tile.
    pub raw_len: usize,
}

impl CachedTile {
    /// A tile kept as it is.
    ///
    /// ```
    /// let t = citygrid_tiles::cache::CachedTile::new(vec![1, 2, 3]);
    /// assert_eq!((t.held_bytes(), t.raw_len), (3, 3));
    /// assert_eq!(t.gzip_etag(), None);
    /// ```
    pub fn new(bytes: Vec<u8>) -> Self {
        CachedTile {
            etag: etag_of(&bytes),
            raw_len: bytes.len(),
            bytes: Arc::from(bytes),
            encoding: Encoding::Identity,
            brotli: None,
        }
    }

    /// A tile kept in its gzip form `gzip` (of `raw`) when that is smaller, else as
    /// it is; the ETag is that of `raw` either way.
    ///
    /// ```
    /// use citygrid_tiles::cache::{CachedTile, Encoding};
    /// let raw = vec![7u8; 1000];
    /// let t = CachedTile::compressed(&raw, vec![9; 20]);
    /// assert_eq!((t.held_bytes(), t.raw_len, t.encoding), (20, 1000, Encoding::Gzip));
    /// assert_eq!(t.gzip_etag().unwrap(), format!("{}-gz\"", t.etag.trim_end_matches('"')));
    /// // compression that does not pay keeps the raw tile
    /// assert_eq!(CachedTile::compressed(&[1, 2], vec![9; 20]).encoding, Encoding::Identity);
    /// ```
    pub fn compressed(raw: &[u8], gzip: Vec<u8>) -> Self {
        if gzip.len() >= raw.len() {
            return CachedTile::new(raw.to_vec());
        }
        CachedTile {
            etag: etag_of(raw),
            raw_len: raw.len(),
            bytes: Arc::from(gzip),
            encoding: Encoding::Gzip,
            brotli: None,
        }
    }

    /// The bytes this tile holds (both forms).
    pub fn held_bytes(&self) -> usize {
        self.bytes.len() + self.brotli.as_ref().map_or(0, |b| b.len())
    }

    /// This tile with `brotli`, the brotli form of its raw bytes, beside its gzip form;
    /// a tile kept as it is (empty, or not made smaller by gzip) stays as it is.
    ///
    /// ```
    /// use citygrid_tiles::cache::CachedTile;
    /// let t = CachedTile::compressed(&[7u8; 1000], vec![9; 20]).with_brotli(vec![5; 15]);
    /// assert_eq!(t.held_bytes(), 35);
    /// assert_eq!(t.brotli_etag().unwrap(), format!("{}-br\"", t.etag.trim_end_matches('"')));
    /// assert!(!t.wants_brotli());
    /// assert_eq!(CachedTile::new(vec![1, 2]).with_brotli(vec![5]).brotli, None);
    /// ```
    pub fn with_brotli(mut self, brotli: Vec<u8>) -> Self {
        if self.encoding == Encoding::Gzip {
            self.brotli = Some(Arc::from(brotli));
        }
        self
    }

    /// Whether a brotli form would be made for this tile and is not yet
    /// (kept compressed, no brotli form).
    pub fn wants_brotli(&self) -> bool {
        self.encoding == Encoding::Gzip && self.brotli.is_none()
    }

    /// The strong ETag of the brotli form (the raw ETag with `-br` inside the quotes),
    /// if the tile has one.
    pub fn brotli_etag(&self) -> Option<String> {
        self.brotli
            .is_some()
            .then(|| format!("\"{}-br\"", self.etag.trim_matches('"')))
    }

    /// The strong ETag of the gzip form (the raw ETag with `-gz` inside the quotes),
    /// if the tile is kept compressed: a different representation has a different ETag.
    pub fn gzip_etag(&self) -> Option<String> {
        (self.encoding == Encoding::Gzip).then(|| format!("\"{}-gz\"", self.etag.trim_matches('"')))
    }
}

/// The ETag of tile bytes (as stored by [`TileCache::insert`]).
///
/// ```
/// let e = citygrid_tiles::cache::etag_of(b"tile");
/// assert!(e.starts_with('"') && e.ends_with('"') && e.len() == 18);
/// ```
pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"{:016x}\"", hash_bytes(bytes))
}

/// Cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Upper bound of the accounted bytes (tile bytes plus a small per-key overhead).
    pub max_bytes: usize,
    /// MVT buffer used by the encoder (tile units), so invalidation covers it.
    pub buffer: u32,
    /// MVT extent used by the encoder.
    pub extent: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 256 << 20,
            buffer: 64,
            extent: 4096,
        }
    }
}

/// Counters for monitoring (monotonic except `bytes` and `entries`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a tile.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Tiles stored.
    pub inserts: u64,
    /// Tiles dropped to respect the byte bound.
    pub evictions: u64,
    /// Tiles removed by invalidation.
    pub invalidations: u64,
    /// Accounted bytes now held.
    pub bytes: usize,
    /// Tiles now held.
    pub entries: usize,
    /// The configured bound.
    pub max_bytes: usize,
}

impl CacheStats {
    /// Prometheus text exposition lines, metric names starting with `prefix`
    /// (e.g. `citygrid_tile_cache`).
    ///
    /// ```
    /// let s = citygrid_tiles::cache::CacheStats::default().to_prometheus("tc");
    /// assert!(s.contains("tc_hits_total 0"));
    /// assert!(s.contains("# HELP tc_capacity_bytes "));
    /// ```
    pub fn to_prometheus(&self, prefix: &str) -> String {
        let mut s = String::new();
        for (name, kind, help, v) in [
            (
                "hits_total",
                "counter",
                "Tile cache lookups that found a tile.",
                self.hits,
            ),
            (
                "misses_total",
                "counter",
                "Tile cache lookups that found nothing.",
                self.misses,
            ),
            (
                "inserts_total",
                "counter",
                "Tiles stored in the tile cache.",
                self.inserts,
            ),
            (
                "evictions_total",
                "counter",
                "Tiles dropped to respect the byte bound.",
                self.evictions,
            ),
            (
                "invalidations_total",
                "counter",
                "Tiles removed by invalidation.",
                self.invalidations,
            ),
            (
                "bytes",
                "gauge",
                "Bytes held by the tile cache (tiles and key overhead).",
                self.bytes as u64,
            ),
            (
                "entries",
                "gauge",
                "Tiles held by the tile cache.",
                self.entries as u64,
            ),
            (
                "capacity_bytes",
                "gauge",
                "The tile cache's configured bound (tile_cache_bytes).",
                self.max_bytes as u64,
            ),
            (
                "max_bytes",
                "gauge",
                "The tile cache's configured bound (same as capacity_bytes).",
                self.max_bytes as u64,
            ),
        ] {
            s.push_str(&format!(
                "# HELP {prefix}_{name} {help}\n# TYPE {prefix}_{name} {kind}\n{prefix}_{name} {v}\n"
            ));
        }
        s
    }
}

#[derive(Debug)]
struct Entry {
    tile: CachedTile,
    tick: u64,
    weight: usize,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<TileKey, Entry>,
    lru: BTreeMap<u64, TileKey>,
    tick: u64,
    stats: CacheStats,
}

impl Inner {
    fn remove(&mut self, key: &TileKey) -> bool {
        match self.map.remove(key) {
            Some(e) => {
                self.lru.remove(&e.tick);
                self.stats.bytes -= e.weight;
                self.stats.entries -= 1;
                true
            }
            None => false,
        }
    }
}

/// The tile cache. `Send + Sync`; every operation takes one short lock.
#[derive(Debug)]
pub struct TileCache {
    config: CacheConfig,
    inner: Mutex<Inner>,
}

impl TileCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        let inner = Inner {
            stats: CacheStats {
                max_bytes: config.max_bytes,
                ..CacheStats::default()
            },
            ..Inner::default()
        };
        TileCache {
            config,
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data (no
        // operation panics mid-update), so recover from poisoning.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tile for a key, marking it recently used.
    pub fn get(&self, key: &TileKey) -> Option<CachedTile> {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        match inner.map.get_mut(key) {
            Some(e) => {
                // The key moves to its new place in the LRU order: no copy of it
                // (a hit allocates nothing).
                let moved = inner.lru.remove(&e.tick);
                e.tick = tick;
                inner.lru.insert(tick, moved.unwrap_or_else(|| key.clone()));
                inner.stats.hits += 1;
                Some(e.tile.clone())
            }
            None => {
                inner.stats.misses += 1;
                None
            }
        }
    }

    /// Stores tile bytes (replacing an older value) and returns them with their ETag.
    /// Least recently used tiles are evicted to stay within `max_bytes`; a tile larger
    /// than the bound is returned but not stored.
    pub fn insert(&self, key: TileKey, bytes: Vec<u8>) -> CachedTile {
        self.insert_tile(key, CachedTile::new(bytes))
    }

    /// As [`TileCache::insert`] for a tile built already (e.g. kept compressed); its
    /// stored bytes count against `max_bytes`.
    pub fn insert_tile(&self, key: TileKey, tile: CachedTile) -> CachedTile {
        let weight = tile.held_bytes() + key.weight();
        let mut g = self.lock();
        let inner = &mut *g;
        inner.remove(&key);
        if weight > self.config.max_bytes {
            return tile;
        }
        while inner.stats.bytes + weight > self.config.max_bytes {
            let Some((_, oldest)) = inner.lru.pop_first() else {
                break;
            };
            if let Some(e) = inner.map.remove(&oldest) {
                inner.stats.bytes -= e.weight;
                inner.stats.entries -= 1;
                inner.stats.evictions += 1;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.lru.insert(tick, key.clone());
        inner.map.insert(
            key,
            Entry {
                tile: tile.clone(),
                tick,
                weight,
            },
        );
        inner.stats.bytes += weight;
        inner.stats.entries += 1;
        inner.stats.inserts += 1;
        tile
    }

    /// Adds `brotli`, the brotli form of the cached tile's raw bytes, to the entry of
    /// `key` if it is still the tile with ETag `etag` and has no brotli form yet; the
    /// entry grows by those bytes (least recently used tiles are evicted to stay
    /// within `max_bytes`; the entry itself was just used). Returns the tile with both
    /// forms, whether or not the entry was there to keep it.
    pub fn attach_brotli(&self, key: &TileKey, tile: CachedTile, brotli: Vec<u8>) -> CachedTile {
        let tile = tile.with_brotli(brotli);
        let Some(added) = tile.brotli.as_ref().map(|b| b.len()) else {
            return tile;
        };
        let mut g = self.lock();
        let inner = &mut *g;
        let fits = match inner.map.get(key) {
            Some(e) if e.tile.etag == tile.etag && e.tile.brotli.is_none() => {
                e.weight + added <= self.config.max_bytes
            }
            _ => return tile,
        };
        if !fits {
            return tile;
        }
        while inner.stats.bytes + added > self.config.max_bytes {
            let Some((&tick, oldest)) = inner.lru.first_key_value() else {
                break;
            };
            if oldest == key {
                break;
            }
            let oldest = oldest.clone();
            inner.lru.remove(&tick);
            if let Some(e) = inner.map.remove(&oldest) {
                inner.stats.bytes -= e.weight;
                inner.stats.entries -= 1;
                inner.stats.evictions += 1;
            }
        }
        if let Some(e) = inner.map.get_mut(key) {
            e.tile.brotli.clone_from(&tile.brotli);
            e.weight += added;
            inner.stats.bytes += added;
        }
        tile
    }

    fn invalidate_where(&self, pred: impl Fn(&TileKey) -> bool) -> usize {
        let mut g = self.lock();
        let doomed: Vec<TileKey> = g.map.keys().filter(|k| pred(k)).cloned().collect();
        let mut n = 0;
        for k in &doomed {
            if g.remove(k) {
                n += 1;
            }
        }
        g.stats.invalidations += n as u64;
        n
    }

    /// Removes every cached tile (any zoom, any version) that includes `layer_id` and
    /// whose buffered bounds touch the Web Mercator `bbox` – exactly the tiles whose
    /// content may depend on features in that area. Pass the union of the old and new
    /// envelopes of an edited feature. A box with NaN invalidates the whole layer.
    /// Returns the number of tiles removed.
    pub fn invalidate_bbox(&self, layer_id: &str, bbox: &Bbox) -> usize {
        if !bbox.is_valid() {
            return self.invalidate_layer(layer_id);
        }
        let (buffer, extent) = (self.config.buffer, self.config.extent);
        self.invalidate_where(|k| {
            k.has_layer(layer_id)
                && k.grid
                    .buffered_bounds_merc(k.tile, buffer, extent)
                    .intersects(bbox)
        })
    }

    /// Removes every cached tile that includes `layer_id`; returns how many.
    pub fn invalidate_layer(&self, layer_id: &str) -> usize {
        self.invalidate_where(|k| k.has_layer(layer_id))
    }

    /// Removes everything.
    pub fn clear(&self) {
        let mut g = self.lock();
        let n = g.map.len() as u64;
        g.map.clear();
        g.lru.clear();
        g.stats.bytes = 0;
        g.stats.entries = 0;
        g.stats.invalidations += n;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(z: u8, x: u32, y: u32, layers: &[(&str, u64)]) -> TileKey {
        TileKey::new(TileCoord::new(z, x, y).unwrap(), layers.iter().copied())
    }

    #[test]
    fn key_sorting_and_dedup() {
        let a = key(1, 0, 0, &[("b", 1), ("a", 2)]);
        let b = key(1, 0, 0, &[("a", 2), ("b", 1), ("a", 1)]);
        assert_eq!(a, b);
        assert_ne!(a, key(1, 0, 0, &[("a", 3), ("b", 1)]));
    }

    #[test]
    fn lru_order_and_oversized() {
        let c = TileCache::new(CacheConfig {
            max_bytes: 3 * (100 + 64 + 33),
            ..CacheConfig::default()
        });
        for x in 0..3 {
            c.insert(key(2, x, 0, &[("a", 1)]), vec![0; 100]);
        }
        assert!(c.get(&key(2, 0, 0, &[("a", 1)])).is_some());
        c.insert(key(2, 3, 0, &[("a", 1)]), vec![0; 100]);
        // Tile 1 was least recently used.
        assert!(c.get(&key(2, 1, 0, &[("a", 1)])).is_none());
        assert!(c.get(&key(2, 0, 0, &[("a", 1)])).is_some());
        let big = c.insert(key(2, 2, 2, &[("a", 1)]), vec![0; 10_000]);
        assert_eq!(big.bytes.len(), 10_000);
        assert!(c.get(&key(2, 2, 2, &[("a", 1)])).is_none());
        let s = c.stats();
        assert!(s.bytes <= s.max_bytes);
        assert_eq!((s.entries, s.evictions), (3, 1));
        c.clear();
        assert_eq!(c.stats().bytes, 0);
    }

    #[test]
    fn only_the_stored_form_is_counted() {
        let c = TileCache::new(CacheConfig {
            max_bytes: 1 << 20,
            ..CacheConfig::default()
        });
        let k = key(2, 0, 0, &[("a", 1)]);
        let t = c.insert_tile(k.clone(), CachedTile::compressed(&[0; 100], vec![1; 30]));
        assert_eq!(c.stats().bytes, 30 + k.weight());
        let got = c.get(&k).unwrap();
        assert_eq!(got, t);
        assert_eq!(
            (&got.bytes[..], got.encoding),
            (&[1u8; 30][..], Encoding::Gzip)
        );
        assert_eq!((got.raw_len, got.etag.clone()), (100, etag_of(&[0; 100])));
        assert_ne!(got.gzip_etag().unwrap(), got.etag);
        assert_eq!(c.insert(k, vec![0; 100]).gzip_etag(), None);
    }

    #[test]
    fn a_brotli_form_is_attached_once_and_counted() {
        let c = TileCache::new(CacheConfig {
            max_bytes: 2 * (130 + 64 + 33),
            ..CacheConfig::default()
        });
        let (a, b) = (key(2, 0, 0, &[("a", 1)]), key(2, 1, 0, &[("a", 1)]));
        let ta = c.insert_tile(a.clone(), CachedTile::compressed(&[0; 1000], vec![1; 100]));
        c.insert_tile(b.clone(), CachedTile::compressed(&[0; 1000], vec![1; 100]));
        assert!(ta.wants_brotli());
        let before = c.stats().bytes;
        // a tile of another content (a newer encoding under the key) is not touched
        let other = CachedTile::compressed(&[1; 1000], vec![1; 100]);
        assert_eq!(
            c.attach_brotli(&a, other, vec![2; 80])
                .brotli
                .map(|b| b.len()),
            Some(80)
        );
        assert!(c.get(&a).unwrap().brotli.is_none());
        assert_eq!(c.stats().bytes, before);
        // the tile itself gets its brotli form, counted; the older tile b makes room
        assert!(c.get(&a).is_some());
        let got = c.attach_brotli(&a, ta.clone(), vec![2; 80]);
        assert_eq!(got.held_bytes(), 180);
        let kept = c.get(&a).unwrap();
        assert_eq!(kept.brotli.as_deref(), Some(&[2u8; 80][..]));
        assert!(!kept.wants_brotli());
        assert!(c.get(&b).is_none());
        let s = c.stats();
        assert_eq!((s.entries, s.evictions, s.bytes), (1, 1, 180 + a.weight()));
        // once only: a second form is not added
        c.attach_brotli(&a, ta, vec![3; 10]);
        assert_eq!(c.get(&a).unwrap().brotli.as_deref(), Some(&[2u8; 80][..]));
        assert_eq!(c.stats().bytes, 180 + a.weight());
        // a tile kept raw gets no brotli form
        assert_eq!(
            CachedTile::new(vec![1; 10]).with_brotli(vec![1]).brotli,
            None
        );
    }
}

//! The in-memory layer store: every vector layer's [`LayerIndex`] (R-tree, Web
//! Mercator and lon/lat geometry, attributes) and the tile cache in front of it.
//!
//! Layers are loaded at start (in parallel), reloaded whole when an import
//! replaces them (the catalogue version changes) and patched feature by feature
//! when a row changes (`NOTIFY citygrid_layers, '<layer>:<fid>,<fid>…'`). A new
//! index is built completely before it is swapped in, so no request sees a
//! half-built one; a patch invalidates exactly the cached tiles that touch the old
//! or the new geometry.

pub mod flights;
pub mod load;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use citygrid_geo::tms::Bbox;
use citygrid_tiles::cache::{CacheConfig, CachedTile, TileCache, TileKey};
use citygrid_tiles::index::LayerIndex;
use citygrid_tiles::tileprops::{TileFilter, TileProperties};
use citygrid_tiles::LayerKind;
use sqlx::PgPool;

use crate::catalog::LayerMeta;

/// A loaded vector layer.
pub struct LoadedLayer {
    /// Its catalogue entry when it was loaded.
    pub meta: LayerMeta,
    /// The features and their R-tree (patched in place under the write lock).
    pub index: RwLock<LayerIndex>,
    /// Held by whoever changes `index`: a patch, and a repack for all the while it
    /// builds the packed copy under the read lock (so no writer queues on the
    /// `RwLock` meanwhile, which would hold up the readers too).
    edits: Mutex<()>,
    /// How often the index was packed again after its edits.
    repacks: AtomicU64,
    /// Bumped by every patch; a tile encoded across a patch is not cached.
    generation: AtomicU64,
    /// The tile schema in force: changed in place when only the schema changes,
    /// without reloading the index.
    tile_schema: RwLock<TileSchema>,
}

/// A layer's tile schema in force.
#[derive(Clone)]
struct TileSchema {
    /// `tile_properties_version` of the catalogue.
    version: i64,
    /// The schema set, or the default rule's.
    props: Arc<TileProperties>,
    /// `props` compiled against the index's schema (fixed for a loaded index).
    filter: Arc<TileFilter>,
}

impl TileSchema {
    fn of(meta: &LayerMeta, index: &LayerIndex) -> TileSchema {
        let props = meta.effective_tile_properties();
        TileSchema {
            version: meta.tile_properties_version,
            filter: Arc::new(TileFilter::new(&props, index.schema())),
            props: Arc::new(props),
        }
    }
}

/// The catalogue version bits of a tile cache key's layer version; the tile schema
/// version sits above them ([`LoadedLayer::tile_key_version`]).
const DATA_VERSION_BITS: u32 = 40;

impl LoadedLayer {
    /// The patch generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// How often the index was packed again after its edits.
    pub fn repacks(&self) -> u64 {
        self.repacks.load(Ordering::Relaxed)
    }

    /// Approximate memory of the index in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.index.read().map(|i| i.memory_bytes()).unwrap_or(0)
    }

    /// Number of features in memory.
    pub fn len(&self) -> usize {
        self.index.read().map(|i| i.len()).unwrap_or(0)
    }

    /// Whether the layer has no features.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A loaded layer over `index`, with the tile schema of `meta`.
    fn new(meta: LayerMeta, mut index: LayerIndex) -> LoadedLayer {
        let tile_schema = RwLock::new(TileSchema::of(&meta, &index));
        // Packed again by `LayerStore::repack_if_worth_it`, off the write lock.
        index.defer_repacks();
        LoadedLayer {
            meta,
            index: RwLock::new(index),
            edits: Mutex::new(()),
            repacks: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            tile_schema,
        }
    }

    /// The tile schema in force (a poisoned lock still holds a whole value: it is
    /// only ever replaced whole).
    fn current_tile_schema(&self) -> std::sync::RwLockReadGuard<'_, TileSchema> {
        self.tile_schema
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tile schema in force (the one set in the catalogue, or the default rule's).
    pub fn tile_properties(&self) -> Arc<TileProperties> {
        Arc::clone(&self.current_tile_schema().props)
    }

    /// The tile schema in force compiled against the index: what the encoder is
    /// given (the features it keeps at a zoom, the properties it names).
    pub fn tile_filter(&self) -> Arc<TileFilter> {
        Arc::clone(&self.current_tile_schema().filter)
    }

    /// The version of the tile schema in force (`tile_properties_version`).
    pub fn tile_schema_version(&self) -> i64 {
        self.current_tile_schema().version
    }

    /// The layer's version in tile cache keys: the catalogue version in the low 40
    /// bits, the tile schema version above (equal to the catalogue version while no
    /// schema was ever set), so a tile of a previous schema is never found.
    pub fn tile_key_version(&self) -> u64 {
        let data = (self.meta.version as u64) & ((1 << DATA_VERSION_BITS) - 1);
        data | ((self.tile_schema_version() as u64) << DATA_VERSION_BITS)
    }
}

/// Every loaded vector layer, and the tile cache.
pub struct LayerStore {
    layers: RwLock<HashMap<String, Arc<LoadedLayer>>>,
    /// Rendered tiles (vector and raster), keyed by layers, z/x/y and versions.
    pub tiles: TileCache,
    /// Serialises "check generation + insert" against "patch + invalidate".
    invalidation: Mutex<()>,
}

impl LayerStore {
    /// An empty store with a tile cache of `cache_bytes`.
    pub fn new(cache_bytes: usize) -> LayerStore {
        LayerStore {
            layers: RwLock::new(HashMap::new()),
            tiles: TileCache::new(CacheConfig {
                max_bytes: cache_bytes,
                ..CacheConfig::default()
            }),
            invalidation: Mutex::new(()),
        }
    }

    /// A loaded layer.
    pub fn get(&self, id: &str) -> Option<Arc<LoadedLayer>> {
        self.layers.read().ok()?.get(id).cloned()
    }

    /// Every loaded layer.
    pub fn all(&self) -> Vec<Arc<LoadedLayer>> {
        self.layers
            .read()
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Caches a tile (with its gzip form, if any) unless one of its layers was
    /// patched since `generations` were read (then the tile may be stale and is only
    /// served, not kept).
    pub fn cache_tile(
        &self,
        key: TileKey,
        tile: CachedTile,
        generations: &[(Arc<LoadedLayer>, u64)],
    ) -> CachedTile {
        let _guard = self.invalidation.lock();
        if generations.iter().all(|(l, g)| l.generation() == *g) {
            self.tiles.insert_tile(key, tile)
        } else {
            tile
        }
    }

    /// Brings the store in line with the catalogue: loads new layers and layers
    /// whose version changed, forgets removed ones. Errors are logged per layer.
    pub async fn sync(&self, pool: &PgPool, catalog: &[LayerMeta]) {
        self.sync_with(pool, catalog, |_| false).await;
    }

    /// As [`LayerStore::sync`], but reloads every vector layer even when its
    /// version is unchanged: after feature-level notifications may have been
    /// missed (the listener lost its connection, or fell behind), the only way to
    /// be sure the memory matches the database. The old index is served until the
    /// new one is complete.
    pub async fn resync(&self, pool: &PgPool, catalog: &[LayerMeta]) {
        self.sync_with(pool, catalog, |_| true).await;
    }

    /// As [`LayerStore::resync`] for layer `id` only.
    pub async fn resync_layer(&self, pool: &PgPool, catalog: &[LayerMeta], id: &str) {
        self.sync_with(pool, catalog, |m| m.id == id).await;
    }

    async fn sync_with(
        &self,
        pool: &PgPool,
        catalog: &[LayerMeta],
        force: impl Fn(&LayerMeta) -> bool,
    ) {
        let wanted: Vec<&LayerMeta> = catalog
            .iter()
            .filter(|m| m.kind == LayerKind::Vector)
            .collect();
        let stale: Vec<&LayerMeta> = wanted
            .iter()
            .copied()
            .filter(|m| force(m) || self.get(&m.id).is_none_or(|l| l.meta.version != m.version))
            .collect();
        let loads = stale.iter().map(|meta| async move {
            let started = std::time::Instant::now();
            let result = load::load_layer(pool, meta).await;
            (meta, result, started.elapsed())
        });
        // Install each layer as soon as it is built: a large layer must not keep
        // the small ones from being served.
        let mut pending: futures_util::stream::FuturesUnordered<_> = loads.collect();
        while let Some((meta, result, took)) = futures_util::StreamExt::next(&mut pending).await {
            match result {
                Ok(index) => {
                    let features = index.len();
                    let bytes = index.memory_bytes();
                    let layer = Arc::new(LoadedLayer::new((*meta).clone(), index));
                    {
                        // A tile encoded from the replaced index must not be cached
                        // after this: bump its generation under the invalidation lock.
                        let _guard = self.invalidation.lock();
                        if let Ok(mut layers) = self.layers.write() {
                            if let Some(old) = layers.insert(meta.id.clone(), layer) {
                                old.generation.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        self.tiles.invalidate_layer(&meta.id);
                    }
                    tracing::info!(
                        layer = %meta.id,
                        features,
                        bytes_per_feature = bytes.checked_div(features).unwrap_or(0),
                        ms = took.as_millis() as u64,
                        "layer loaded"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "layer not loaded"),
            }
        }
        if !stale.is_empty() {
            tokio::task::spawn_blocking(release_freed_memory);
        }
        for meta in &wanted {
            self.follow_tile_schema(meta);
        }
        let ids: Vec<&str> = catalog.iter().map(|m| m.id.as_str()).collect();
        let removed: Vec<String> = self
            .layers
            .read()
            .map(|l| {
                l.keys()
                    .filter(|k| !ids.contains(&k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for id in removed {
            if let Ok(mut layers) = self.layers.write() {
                layers.remove(&id);
            }
            self.tiles.invalidate_layer(&id);
        }
    }

    /// Takes the tile schema of `meta` when only it changed (the layer's data did not:
    /// no reload): the layer's cached tiles go, and a tile being encoded meanwhile is
    /// served but not cached (its generation changes). New requests look for the
    /// tiles under keys with the new schema version.
    fn follow_tile_schema(&self, meta: &LayerMeta) {
        let Some(layer) = self.get(&meta.id) else {
            return;
        };
        if layer.meta.version != meta.version
            || layer.tile_schema_version() == meta.tile_properties_version
        {
            return;
        }
        let Some(fresh) = layer
            .index
            .read()
            .ok()
            .map(|index| TileSchema::of(meta, &index))
        else {
            return;
        };
        let _guard = self.invalidation.lock();
        *layer
            .tile_schema
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        layer.generation.fetch_add(1, Ordering::SeqCst);
        let removed = self.tiles.invalidate_layer(&meta.id);
        tracing::info!(layer = %meta.id, tiles = removed, "tile properties changed");
    }

    /// Re-reads features `fids` of layer `id` and patches them into the index
    /// (deleted rows are removed), invalidating the tiles that touch the old or
    /// new geometry of each.
    pub async fn patch(
        &self,
        pool: &PgPool,
        id: &str,
        fids: &[i64],
    ) -> Result<usize, load::LoadError> {
        let Some(layer) = self.get(id) else {
            return Ok(0);
        };
        let fresh = load::load_features(pool, &layer.meta, fids).await?;
        // Taking the index's write lock waits for tiles being drawn from it (up to a
        // few hundred ms for a big tile): tell the runtime this worker blocks, so the
        // other requests move to another thread meanwhile.
        let patch = || self.apply_patch(id, &layer, fids, fresh);
        if tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        {
            Ok(tokio::task::block_in_place(patch))
        } else {
            Ok(patch())
        }
    }

    /// Replaces `fids` of `layer` by `fresh` in its index and drops the touched tiles.
    fn apply_patch(
        &self,
        id: &str,
        layer: &LoadedLayer,
        fids: &[i64],
        fresh: Vec<citygrid_tiles::index::Feature>,
    ) -> usize {
        let _edits = layer
            .edits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let removed = self.patch_index(id, layer, fids, fresh);
        Self::repack_if_worth_it(id, layer);
        removed
    }

    /// Replaces `fids` of `layer` by `fresh` under the index's write lock and drops
    /// the touched tiles (the caller holds `layer.edits`).
    fn patch_index(
        &self,
        id: &str,
        layer: &LoadedLayer,
        fids: &[i64],
        fresh: Vec<citygrid_tiles::index::Feature>,
    ) -> usize {
        let _guard = self.invalidation.lock();
        let mut touched: Vec<Bbox> = Vec::new();
        if let Ok(mut index) = layer.index.write() {
            for fid in fids {
                if let Some(old) = index.get(*fid).and_then(|f| f.envelope_merc()) {
                    touched.push(old);
                }
                if !fresh.iter().any(|f| f.id == *fid) {
                    index.remove(*fid);
                }
            }
            for feature in fresh {
                if let Some(new) = feature.envelope_merc() {
                    touched.push(new);
                }
                if let Err(e) = index.upsert(feature) {
                    tracing::warn!(layer = %id, error = %e, "feature not patched");
                }
            }
        }
        layer.generation.fetch_add(1, Ordering::SeqCst);
        let mut removed = 0;
        for bbox in &touched {
            removed += self.tiles.invalidate_bbox(id, bbox);
        }
        removed
    }

    /// Packs `layer` again once its edits make it worth it: the packed copy is built
    /// under the read lock (tiles and queries go on; about a second for a million
    /// points), and the write lock is held only to swap it in. The caller holds
    /// `layer.edits`, so nothing changes the index meanwhile. The answers are the
    /// same, so the layer's tiles and generation stay.
    fn repack_if_worth_it(id: &str, layer: &LoadedLayer) {
        let started = std::time::Instant::now();
        let packed = match layer.index.read() {
            Ok(index) if index.wants_repack() => index.packed(),
            _ => None,
        };
        let Some(packed) = packed else {
            return;
        };
        let features = packed.len();
        let old = match layer.index.write() {
            Ok(mut index) => Some(std::mem::replace(&mut *index, packed)),
            Err(_) => None,
        };
        let ms = started.elapsed().as_millis() as u64;
        // The old copy is freed after the lock is let go, and its pages given back.
        drop(old);
        release_freed_memory();
        layer.repacks.fetch_add(1, Ordering::Relaxed);
        tracing::info!(layer = %id, features, ms, "layer packed again after its edits");
    }
}

/// Keeps the store current: a full sync at start and after every catalogue
/// reload, patches for feature-level notifications.
///
/// The catalogue listener announces `"*"` each time it (re)connects. The first
/// one follows the initial load; every later one means the connection was lost
/// and feature-level notifications sent meanwhile (for example a case taken in
/// just after PostGIS came back, before the listener was listening again) may
/// have been missed, so every layer is reloaded whole. Falling behind the
/// broadcast (`Lagged`) loses notifications too and is handled the same way.
pub async fn follow_changes(
    store: Arc<LayerStore>,
    registry: Arc<crate::catalog::Registry>,
    reads: Arc<citygrid_store::replication::ReadSource>,
) {
    let mut changes = registry.subscribe();
    // Layers served from the database (`serve_from = database`) are not loaded; a
    // notice of theirs gives their tiles new cache keys (`crate::tiles::database`).
    store
        .sync(reads.caught_up().await, &registry.memory_layers())
        .await;
    let mut listener_connected = false;
    loop {
        match changes.recv().await {
            // A layer served from the database: its tiles get new cache keys, read
            // where the change is replayed (nothing is loaded, nothing to wait for).
            Ok(change)
                if change
                    .split_once(':')
                    .is_some_and(|(id, _)| registry.serves_from_database(id)) =>
            {
                let id = change.split_once(':').map_or("", |(id, _)| id);
                registry.database_layer_changed(Some(id), reads.primary_lsn().await);
                store.tiles.invalidate_layer(id);
            }
            // Read from a standby only once it holds the change just announced
            // (or from the primary): never an old version after a notice.
            Ok(change) => match (change.split_once(':'), reads.caught_up().await) {
                (Some((id, fids)), pool) => {
                    let fids: Vec<i64> = fids
                        .split(',')
                        .filter_map(|f| f.trim().parse().ok())
                        .collect();
                    match store.patch(pool, id, &fids).await {
                        Ok(n) => {
                            tracing::debug!(layer = %id, features = fids.len(), tiles = n, "layer patched")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "patch failed; reloading the layer");
                            store
                                .resync_layer(pool, &registry.memory_layers(), id)
                                .await;
                        }
                    }
                }
                (None, pool) if change == "*" && listener_connected => {
                    tracing::info!("layer listener reconnected: reloading every layer");
                    registry.database_layer_changed(None, reads.primary_lsn().await);
                    store.resync(pool, &registry.memory_layers()).await;
                }
                (None, pool) => {
                    if registry.serves_from_database(&change) {
                        // Re-imported or restored: read where that is replayed.
                        registry.database_layer_changed(Some(&change), reads.primary_lsn().await);
                    }
                    listener_connected |= change == "*";
                    store.sync(pool, &registry.memory_layers()).await;
                }
            },
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "layer notifications missed: reloading every layer"
                );
                registry.database_layer_changed(None, reads.primary_lsn().await);
                store
                    .resync(reads.caught_up().await, &registry.memory_layers())
                    .await;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Gives the memory freed after building layers back to the operating system: the
/// rows read and the features before they went into columns take several times a
/// layer's own size while it is built, and the allocator would otherwise keep those
/// pages, so that the resident size says little about what the layers hold.
///
/// The server's allocator is mimalloc (the `citygrid` binary): every rayon thread
/// (where layers are built) and this one give back their heaps' free pages. Under
/// glibc's malloc (the tests' binaries) its free pages are handed back instead.
fn release_freed_memory() {
    // SAFETY: `mi_collect` takes no pointer: it only frees mimalloc's own free
    // pages of the calling thread's heap (and is harmless while mimalloc is unused).
    rayon::broadcast(|_| unsafe { libmimalloc_sys::mi_collect(true) });
    unsafe { libmimalloc_sys::mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer; it only returns free pages of glibc's
    // own heaps to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

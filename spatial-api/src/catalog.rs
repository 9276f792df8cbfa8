//! The layer catalogue in memory: loaded at start, reloaded when a layer changes
//! (`NOTIFY citygrid_layers`), and served at `/catalog` even while PostGIS is away.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use citygrid_store::notify::Listener;
use sqlx::PgPool;
use tokio::sync::broadcast;

/// One layer of the catalogue (the store's row type, served as it is).
pub use citygrid_store::catalog::LayerMeta;
/// A layer's titles and field names in Chinese and English.
pub use citygrid_store::layer_titles::LayerTitles;

/// Reads every catalogue row (layers of a kind this build does not know are skipped).
pub async fn load(pool: &PgPool) -> Result<Vec<LayerMeta>, sqlx::Error> {
    citygrid_store::catalog::load(pool).await
}

/// The in-memory catalogue, replaced whole on change (readers never see a
/// half-updated list), with a broadcast of changed layer ids for other caches.
pub struct Registry {
    layers: RwLock<Arc<Vec<LayerMeta>>>,
    titles: RwLock<Arc<HashMap<String, LayerTitles>>>,
    changes: broadcast::Sender<String>,
}

impl Default for Registry {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(256);
        Registry {
            layers: RwLock::new(Arc::new(Vec::new())),
            titles: RwLock::new(Arc::default()),
            changes,
        }
    }
}

impl Registry {
    /// The current list.
    pub fn layers(&self) -> Arc<Vec<LayerMeta>> {
        self.layers
            .read()
            .map(|l| Arc::clone(&l))
            .unwrap_or_default()
    }

    /// One layer by id.
    pub fn get(&self, id: &str) -> Option<LayerMeta> {
        self.layers().iter().find(|l| l.id == id).cloned()
    }

    /// The titles of layer `id` (empty when it has none).
    pub fn titles(&self, id: &str) -> LayerTitles {
        self.titles
            .read()
            .ok()
            .and_then(|t| t.get(id).cloned())
            .unwrap_or_default()
    }

    /// A layer's catalogue entry as served: its row with its titles (`title_zh`,
    /// `title_en`, `field_titles`).
    pub fn entry_json(&self, meta: &LayerMeta) -> serde_json::Value {
        let mut value = serde_json::to_value(meta).unwrap_or_default();
        let titles = self.titles(&meta.id);
        if let (Some(obj), Ok(serde_json::Value::Object(t))) =
            (value.as_object_mut(), serde_json::to_value(titles))
        {
            obj.extend(t);
        }
        value
    }

    /// Replaces the list.
    pub fn replace(&self, layers: Vec<LayerMeta>) {
        if let Ok(mut guard) = self.layers.write() {
            *guard = Arc::new(layers);
        }
    }

    /// Subscribes to changes: a layer id (the catalogue was reloaded), `"*"` (a
    /// full reload), or `"<layer>:<fid>,<fid>…"` (features changed).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// Reloads from the database and announces `changed`.
    pub async fn reload(&self, pool: &PgPool, changed: &str) -> Result<(), sqlx::Error> {
        let layers = load(pool).await?;
        let titles = citygrid_store::layer_titles::all(pool).await?;
        if let Ok(mut guard) = self.titles.write() {
            *guard = Arc::new(titles);
        }
        self.replace(layers);
        let _ = self.changes.send(changed.to_string());
        Ok(())
    }
}

/// Keeps the registry current: listens on the layer channel, reconnects after the
/// database comes back (and reloads everything, since notifications may have been
/// missed), forever.
pub async fn follow_changes(registry: Arc<Registry>, pool: PgPool) {
    loop {
        match Listener::connect(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(citygrid_db::LAYER_CHANNEL).await {
                    tracing::warn!(error = %e, "cannot listen for layer changes");
                } else {
                    if let Err(e) = registry.reload(&pool, "*").await {
                        tracing::warn!(error = %e, "cannot load the layer catalogue");
                    }
                    loop {
                        match listener.recv().await {
                            Ok(Some(payload)) => {
                                if payload.contains(':') {
                                    // A feature-level change: the catalogue is unchanged.
                                    let _ = registry.changes.send(payload);
                                } else {
                                    tracing::info!(layer = %payload, "layer changed");
                                    if let Err(e) = registry.reload(&pool, &payload).await {
                                        tracing::warn!(error = %e, "cannot reload the layer catalogue");
                                    }
                                }
                            }
                            // The connection was lost: reconnect below.
                            Ok(None) => break,
                            // Shutting down: the pool is closed, nothing to follow.
                            Err(sqlx::Error::PoolClosed) => return,
                            Err(e) => {
                                tracing::warn!(error = %e, "layer change listener failed");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "database unavailable for the layer listener"),
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

//! The layer catalogue in memory: loaded at start, reloaded when a layer changes
//! (`NOTIFY citygrid_layers`), and served at `/catalog` even while PostGIS is away.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use citygrid_store::catalog::CatalogRow;
use citygrid_store::notify::Listener;
use citygrid_tiles::LayerKind;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::broadcast;

/// One layer of the catalogue.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LayerMeta {
    /// `[a-z0-9_]+`
    pub id: String,
    /// A human title.
    pub title: String,
    /// `vector` or `raster`.
    #[schema(value_type = String)]
    pub kind: LayerKind,
    /// The geometry type of a vector layer.
    pub geometry_type: Option<String>,
    /// Number of features (vector) or stored tiles (raster).
    pub feature_count: i64,
    /// `[west, south, east, north]` in degrees.
    pub bounds: Option<Vec<f64>>,
    /// Lowest zoom at which the layer is drawn.
    pub min_zoom: i32,
    /// Highest zoom with own detail.
    pub max_zoom: i32,
    /// Raster tile format: png, jpeg or webp.
    pub tile_format: Option<String>,
    /// The attribute fields: `[{"name", "type"}]`.
    pub fields: Value,
    /// The CRS the data came in.
    pub source_crs: Option<String>,
    /// Bumped on every change of the layer's data.
    pub version: i64,
}

/// Reads every catalogue row.
pub async fn load(pool: &PgPool) -> Result<Vec<LayerMeta>, sqlx::Error> {
    let rows = citygrid_store::catalog::load(pool).await?;
    Ok(rows.into_iter().filter_map(from_row).collect())
}

/// One catalogue row as a layer; `None` (with a warning) for a kind this build does
/// not know, e.g. one a newer citygrid wrote: such a layer is skipped, not fatal.
fn from_row(
    CatalogRow {
        id,
        title,
        kind,
        geometry_type,
        feature_count,
        bounds,
        min_zoom,
        max_zoom,
        tile_format,
        fields,
        source_crs,
        version,
    }: CatalogRow,
) -> Option<LayerMeta> {
    let kind = match kind.parse::<LayerKind>() {
        Ok(kind) => kind,
        Err(e) => {
            tracing::warn!(layer = %id, error = %e, "skipping a layer of unknown kind");
            return None;
        }
    };
    Some(LayerMeta {
        id,
        title,
        kind,
        geometry_type,
        feature_count,
        bounds,
        min_zoom,
        max_zoom,
        tile_format,
        fields,
        source_crs,
        version,
    })
}

/// The in-memory catalogue, replaced whole on change (readers never see a
/// half-updated list), with a broadcast of changed layer ids for other caches.
pub struct Registry {
    layers: RwLock<Arc<Vec<LayerMeta>>>,
    changes: broadcast::Sender<String>,
}

impl Default for Registry {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(256);
        Registry {
            layers: RwLock::new(Arc::new(Vec::new())),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str) -> CatalogRow {
        CatalogRow {
            id: "roads".into(),
            title: "Roads".into(),
            kind: kind.into(),
            geometry_type: Some("LineString".into()),
            feature_count: 3,
            bounds: None,
            min_zoom: 0,
            max_zoom: 14,
            tile_format: None,
            fields: Value::Array(Vec::new()),
            source_crs: None,
            version: 1,
        }
    }

    #[test]
    fn known_kinds_load_and_serialise_as_before() {
        for (name, kind) in [("vector", LayerKind::Vector), ("raster", LayerKind::Raster)] {
            let meta = from_row(row(name)).expect("a known kind loads");
            assert_eq!(meta.kind, kind);
            let json = serde_json::to_value(&meta).expect("serialises");
            assert_eq!(json["kind"], Value::String(name.into()));
        }
    }

    #[test]
    fn an_unknown_kind_is_skipped_not_fatal() {
        assert_eq!(from_row(row("pmtiles")), None);
        assert_eq!(from_row(row("")), None);
    }
}

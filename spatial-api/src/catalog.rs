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
/// A layer's stored owner and access.
pub use citygrid_store::layer_access::LayerAccess;
/// A layer's titles and field names in Chinese and English.
pub use citygrid_store::layer_titles::LayerTitles;

use citygrid_grid_mgmt::layer_access::{LayerPolicy, ReadPolicy};

use crate::auth::{layer_access, Principal};
use crate::error::ApiError;

/// What a layer without a read policy of its own gets, and what anonymous callers
/// see of the `cases` layer (from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessDefaults {
    /// `public_layers`: a layer without a read policy is `public` (else `users`).
    pub public_layers: bool,
    /// `cases_public_view = status`: anonymous callers may see the `cases` layer
    /// (else it is never public, whatever its policy).
    pub cases_public: bool,
}

impl Default for AccessDefaults {
    fn default() -> Self {
        AccessDefaults {
            public_layers: true,
            cases_public: false,
        }
    }
}

impl AccessDefaults {
    /// From the configuration.
    pub fn of(config: &citygrid_db::Config) -> AccessDefaults {
        AccessDefaults {
            public_layers: config.public_layers,
            cases_public: config.cases_public_view == "status",
        }
    }
}

/// The layer of case points, whose public view is a setting (`cases_public_view`).
pub const CASES_LAYER: &str = "cases";

/// Reads every catalogue row (layers of a kind this build does not know are skipped).
pub async fn load(pool: &PgPool) -> Result<Vec<LayerMeta>, sqlx::Error> {
    citygrid_store::catalog::load(pool).await
}

/// The in-memory catalogue, replaced whole on change (readers never see a
/// half-updated list), with a broadcast of changed layer ids for other caches.
pub struct Registry {
    layers: RwLock<Arc<Vec<LayerMeta>>>,
    titles: RwLock<Arc<HashMap<String, LayerTitles>>>,
    access: RwLock<Arc<HashMap<String, LayerAccess>>>,
    defaults: AccessDefaults,
    changes: broadcast::Sender<String>,
}

impl Default for Registry {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(256);
        Registry {
            layers: RwLock::new(Arc::new(Vec::new())),
            titles: RwLock::new(Arc::default()),
            access: RwLock::new(Arc::default()),
            defaults: AccessDefaults::default(),
            changes,
        }
    }
}

impl Registry {
    /// An empty registry whose layers without a policy of their own get `defaults`.
    pub fn with_defaults(defaults: AccessDefaults) -> Registry {
        Registry {
            defaults,
            ..Registry::default()
        }
    }

    /// The access policy in force for layer `id` (the server's default for a layer
    /// without one; the `cases` layer is never public unless `cases_public_view =
    /// status`). Pure lookups: no database.
    pub fn policy(&self, id: &str) -> LayerPolicy {
        let default = if self.defaults.public_layers {
            ReadPolicy::public()
        } else {
            ReadPolicy::users()
        };
        let mut policy = self
            .access
            .read()
            .ok()
            .and_then(|a| a.get(id).map(|a| a.policy(&default)))
            .unwrap_or(LayerPolicy {
                read: default,
                ..LayerPolicy::default()
            });
        if id == CASES_LAYER && !self.defaults.cases_public && policy.read.public {
            policy.read.public = false;
            policy.read.users = true;
        }
        policy
    }

    /// The stored access of layer `id` (what an admin set; `None` read: the default).
    pub fn access(&self, id: &str) -> LayerAccess {
        self.access
            .read()
            .ok()
            .and_then(|a| a.get(id).cloned())
            .unwrap_or_default()
    }

    /// Whether `principal` may read layer `id` ([`layer_access::may_read`] on its policy).
    pub fn may_read(&self, principal: &Principal, id: &str) -> bool {
        layer_access::may_read(principal, id, &self.policy(id))
    }

    /// Whether `principal` may edit the features of layer `id`.
    pub fn may_edit(&self, principal: &Principal, id: &str) -> bool {
        layer_access::may_edit(principal, &self.policy(id))
    }

    /// Whether anonymous callers may read layer `id` (its tiles may then be cached by
    /// shared caches: `Cache-Control: public`).
    pub fn is_public(&self, id: &str) -> bool {
        self.defaults.public_layers && self.policy(id).read.is_public()
    }

    /// Refuses with 404 — as for a layer that does not exist, so that names do not
    /// leak — unless `principal` may read layer `id`.
    pub fn require_readable(&self, principal: &Principal, id: &str) -> Result<(), ApiError> {
        if self.may_read(principal, id) {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

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
        let access = citygrid_store::layer_access::all(pool).await?;
        if let Ok(mut guard) = self.titles.write() {
            *guard = Arc::new(titles);
        }
        if let Ok(mut guard) = self.access.write() {
            *guard = Arc::new(access);
        }
        self.replace(layers);
        let _ = self.changes.send(changed.to_string());
        Ok(())
    }
}

/// The answer for a layer that does not exist or that the caller may not read: the
/// same 404 for both.
pub fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no layer {:?} (see /catalog)",
        id.chars().take(64).collect::<String>()
    ))
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

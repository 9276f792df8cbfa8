//! The layer catalogue in memory: loaded at start, reloaded when a layer changes
//! (`NOTIFY citygrid_layers`), and served at `/catalog` even while PostGIS is away.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
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
    /// The policies in force, made from `access` and `defaults` at each reload, so
    /// that a check borrows one instead of building it.
    policies: RwLock<Arc<HashMap<String, LayerPolicy>>>,
    defaults: AccessDefaults,
    changes: broadcast::Sender<String>,
    /// The layers served from the database (`serve_from = database`, issue 24).
    database: RwLock<Arc<HashSet<String>>>,
    /// Per layer served from the database: how many change notices it had (part of
    /// its tile cache keys) and the primary's WAL position at the last one (a tile is
    /// read from a standby that has replayed it).
    database_changes: Mutex<HashMap<String, (u64, Option<String>)>>,
}

impl Default for Registry {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(256);
        Registry {
            layers: RwLock::new(Arc::new(Vec::new())),
            titles: RwLock::new(Arc::default()),
            access: RwLock::new(Arc::default()),
            policies: RwLock::new(Arc::default()),
            defaults: AccessDefaults::default(),
            changes,
            database: RwLock::new(Arc::default()),
            database_changes: Mutex::new(HashMap::new()),
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
        self.with_policy(id, LayerPolicy::clone)
    }

    /// `f` of the policy in force for layer `id`, borrowed (no allocation for a layer
    /// the catalogue knows).
    fn with_policy<R>(&self, id: &str, f: impl FnOnce(&LayerPolicy) -> R) -> R {
        if let Ok(policies) = self.policies.read() {
            if let Some(policy) = policies.get(id) {
                return f(policy);
            }
        }
        f(&self.effective(id, None))
    }

    /// The policy in force for layer `id` stored as `stored`.
    fn effective(&self, id: &str, stored: Option<&LayerAccess>) -> LayerPolicy {
        let default = if self.defaults.public_layers {
            ReadPolicy::public()
        } else {
            ReadPolicy::users()
        };
        let mut policy = stored.map_or_else(
            || LayerPolicy {
                read: default.clone(),
                ..LayerPolicy::default()
            },
            |a| a.policy(&default),
        );
        if id == CASES_LAYER && !self.defaults.cases_public && policy.read.public {
            policy.read.public = false;
            policy.read.users = true;
        }
        policy
    }

    /// Takes the stored access of every layer (and makes the policies in force).
    fn set_access(&self, access: HashMap<String, LayerAccess>) {
        let policies: HashMap<String, LayerPolicy> = access
            .iter()
            .map(|(id, a)| (id.clone(), self.effective(id, Some(a))))
            .collect();
        if let Ok(mut guard) = self.access.write() {
            *guard = Arc::new(access);
        }
        if let Ok(mut guard) = self.policies.write() {
            *guard = Arc::new(policies);
        }
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
        self.with_policy(id, |p| layer_access::may_read(principal, id, p))
    }

    /// Whether `principal` may edit the features of layer `id`.
    pub fn may_edit(&self, principal: &Principal, id: &str) -> bool {
        self.with_policy(id, |p| layer_access::may_edit(principal, p))
    }

    /// Whether anonymous callers may read layer `id` (its tiles may then be cached by
    /// shared caches: `Cache-Control: public`).
    pub fn is_public(&self, id: &str) -> bool {
        self.defaults.public_layers && self.with_policy(id, |p| p.read.is_public())
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

    /// Whether vector layer `id` is served from the database (`serve_from =
    /// database`): not loaded into memory, its tiles made by PostGIS.
    pub fn serves_from_database(&self, id: &str) -> bool {
        self.database.read().is_ok_and(|d| d.contains(id))
    }

    /// Where layer `id`'s tiles come from.
    pub fn serve_from(&self, id: &str) -> citygrid_store::layer_serve::ServeFrom {
        if self.serves_from_database(id) {
            citygrid_store::layer_serve::ServeFrom::Database
        } else {
            citygrid_store::layer_serve::ServeFrom::Memory
        }
    }

    /// The catalogue without the layers served from the database: what is loaded
    /// into memory.
    pub fn memory_layers(&self) -> Vec<LayerMeta> {
        let database = self.database.read().map(|d| Arc::clone(&d)).ok();
        self.layers()
            .iter()
            .filter(|m| database.as_ref().is_none_or(|d| !d.contains(&m.id)))
            .cloned()
            .collect()
    }

    /// Records a change notice of layer `id` served from the database (or of every
    /// such layer, `None`: notices may have been missed): its tiles get new cache
    /// keys and are read from a standby only once it has replayed `lsn`.
    pub fn database_layer_changed(&self, id: Option<&str>, lsn: Option<String>) {
        let ids: Vec<String> = match id {
            Some(id) => vec![id.to_string()],
            None => self
                .database
                .read()
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default(),
        };
        let mut changes = self
            .database_changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in ids {
            let entry = changes.entry(id).or_default();
            entry.0 = entry.0.wrapping_add(1);
            entry.1.clone_from(&lsn);
        }
    }

    /// Layer `id` served from the database: its change count and the WAL position a
    /// read must have replayed ([`Registry::database_layer_changed`]).
    pub fn database_layer_state(&self, id: &str) -> (u64, Option<String>) {
        self.database_changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// A layer's catalogue entry as served: its row with its titles (`title_zh`,
    /// `title_en`, `field_titles`) and, for a vector layer, `serve_from`.
    pub fn entry_json(&self, meta: &LayerMeta) -> serde_json::Value {
        let mut value = serde_json::to_value(meta).unwrap_or_default();
        let titles = self.titles(&meta.id);
        if let (Some(obj), Ok(serde_json::Value::Object(t))) =
            (value.as_object_mut(), serde_json::to_value(titles))
        {
            obj.extend(t);
        }
        if meta.kind == citygrid_tiles::LayerKind::Vector {
            if let Some(obj) = value.as_object_mut() {
                obj.insert(
                    "serve_from".into(),
                    serde_json::Value::String(self.serve_from(&meta.id).to_string()),
                );
            }
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
        let database = citygrid_store::layer_serve::database_layers(pool).await?;
        if let Ok(mut guard) = self.database.write() {
            *guard = Arc::new(database);
        }
        if let Ok(mut guard) = self.titles.write() {
            *guard = Arc::new(titles);
        }
        self.set_access(access);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{KeyPrincipal, KeyScope, Role, UserPrincipal};

    fn user(role: Role, department: Option<&str>) -> Principal {
        Principal::User(UserPrincipal {
            id: 1,
            username: "u".into(),
            role,
            department: department.map(str::to_string),
            token_hash: vec![],
        })
    }

    fn stored(read: Option<&str>, owner: Option<&str>) -> LayerAccess {
        LayerAccess {
            owner: owner.map(str::to_string),
            read: read.map(|r| r.parse().unwrap()),
            edit: Vec::new(),
        }
    }

    #[test]
    fn defaults_follow_public_layers_and_cases_are_hidden_unless_asked() {
        for (public_layers, cases_public) in [(true, false), (true, true), (false, false)] {
            let registry = Registry::with_defaults(AccessDefaults {
                public_layers,
                cases_public,
            });
            registry.set_access(HashMap::from([
                ("roads".to_string(), stored(None, None)),
                ("cases".to_string(), stored(None, None)),
                (
                    "police".to_string(),
                    stored(Some("departments:police"), None),
                ),
            ]));
            let anon = Principal::Anonymous;
            // a layer without a policy, known or not: the server's default
            for id in ["roads", "not_loaded_yet"] {
                assert_eq!(registry.may_read(&anon, id), public_layers, "{id}");
                assert_eq!(registry.is_public(id), public_layers, "{id}");
                assert!(registry.may_read(&user(Role::Inspector, None), id));
            }
            assert_eq!(
                registry.may_read(&anon, "cases"),
                public_layers && cases_public
            );
            assert!(registry.may_read(&user(Role::Inspector, None), "cases"));
            assert!(!registry.may_read(&anon, "police"));
            assert!(!registry.may_read(&user(Role::Inspector, Some("land")), "police"));
            assert!(registry.may_read(&user(Role::Inspector, Some("police")), "police"));
            assert!(registry.may_read(&user(Role::Admin, None), "police"));
            assert!(registry.require_readable(&anon, "police").is_err());
        }
    }

    #[test]
    fn keys_need_the_maps_scope_and_their_list() {
        let registry = Registry::default();
        let key = |scopes: Vec<KeyScope>, layers: Option<Vec<String>>| {
            Principal::Key(KeyPrincipal {
                id: 1,
                name: "k".into(),
                department: None,
                layers,
                origins: None,
                scopes,
            })
        };
        assert!(registry.may_read(&key(vec![KeyScope::Maps], None), "roads"));
        assert!(!registry.may_read(&key(vec![KeyScope::Open311Write], None), "roads"));
        let narrow = key(vec![KeyScope::Maps], Some(vec!["parks".into()]));
        assert!(!registry.may_read(&narrow, "roads"));
        assert!(registry.may_read(&narrow, "parks"));
        assert!(!registry.may_edit(&narrow, "parks"));
        assert!(registry.may_edit(&user(Role::Admin, None), "parks"));
    }
}

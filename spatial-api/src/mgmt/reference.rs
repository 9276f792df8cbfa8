//! The reference data every intake and workflow step needs (categories, time limits,
//! routing rules, territorial defaults, the working calendar, departments), read from
//! PostGIS once (`citygrid_store::reference::load`) and cached until it changes
//! (`NOTIFY citygrid_mgmt` from the tables' triggers, or an edit through this service).
//! The data and its rules are grid-mgmt's [`Reference`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use citygrid_grid_mgmt::reference::{
    parse_stage, parse_unit, scope_rank, stage_name, unit_name, Channel, LimitRule, Reference,
};
use citygrid_store::PgPool;

use crate::error::ApiError;

/// The cache.
#[derive(Default)]
pub struct ReferenceCache {
    current: RwLock<Option<(Arc<Reference>, Instant)>>,
    generation: AtomicU64,
    /// Held by the one request that loads a missing copy: the others wait for it
    /// instead of each reading the reference data again (at start, a burst of intake
    /// requests read it once, not once per request).
    loading: tokio::sync::Mutex<()>,
}

/// How long a cached copy is trusted without a change notice (a safety net).
const MAX_AGE: Duration = Duration::from_secs(60);

impl ReferenceCache {
    /// The current reference data (loaded when missing or invalidated).
    pub async fn get(&self, pool: &PgPool) -> Result<Arc<Reference>, ApiError> {
        if let Some(r) = self.fresh() {
            return Ok(r);
        }
        // one load at a time; who waited finds the copy the loader stored
        let _loading = self.loading.lock().await;
        if let Some(r) = self.fresh() {
            return Ok(r);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let fresh = Arc::new(citygrid_store::reference::load(pool).await?);
        if self.generation.load(Ordering::SeqCst) == generation {
            if let Ok(mut guard) = self.current.write() {
                *guard = Some((Arc::clone(&fresh), Instant::now()));
            }
        }
        Ok(fresh)
    }

    /// The cached copy, if it is there and young enough.
    fn fresh(&self) -> Option<Arc<Reference>> {
        let guard = self.current.read().ok()?;
        let (r, at) = guard.as_ref()?;
        (at.elapsed() < MAX_AGE).then(|| Arc::clone(r))
    }

    /// Forgets the cached copy (after a change).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut guard) = self.current.write() {
            *guard = None;
        }
    }
}

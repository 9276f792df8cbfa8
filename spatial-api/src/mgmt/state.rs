//! The grid-management part of the shared state (a substate of
//! [`crate::state::AppState`], reached with `State<Arc<MgmtState>>`). It imports
//! nothing that imports the application state, so the state has no cycle through it.

use super::reference::ReferenceCache;

/// Grid-management state shared by the handlers.
#[derive(Default)]
pub struct MgmtState {
    /// Cached reference data.
    pub reference: ReferenceCache,
    /// Wakes the outbox deliverer after a commit that queued deliveries.
    pub outbox_wake: tokio::sync::Notify,
}

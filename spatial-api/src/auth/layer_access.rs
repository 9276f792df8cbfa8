//! The layer check for a [`Principal`]: [`may_read`] and [`may_edit`] reduce the
//! principal to what `citygrid_grid_mgmt::layer_access` needs and ask it. Pure: the
//! policy comes from the in-memory catalogue (`crate::catalog::Registry::policy`), so
//! the check costs a lookup, not a query, on every tile.

use citygrid_grid_mgmt::layer_access::{self as rules, Caller, LayerPolicy};

use super::{KeyScope, Principal};

/// The principal as the layer rules see it.
pub fn caller(principal: &Principal) -> Caller<'_> {
    match principal {
        Principal::Anonymous => Caller::Anonymous,
        Principal::User(u) => Caller::User {
            role: u.role,
            department: u.department.as_deref(),
        },
        Principal::Key(k) => Caller::Key {
            department: k.department.as_deref(),
            layers: k.layers.as_deref(),
        },
    }
}

/// Whether `principal` may read layer `layer` under `policy` (an API key also needs
/// its `maps` scope).
pub fn may_read(principal: &Principal, layer: &str, policy: &LayerPolicy) -> bool {
    if let Principal::Key(k) = principal {
        if !k.has_scope(KeyScope::Maps) {
            return false;
        }
    }
    rules::may_read(&caller(principal), layer, policy)
}

/// Whether `principal` may edit the features of a layer under `policy`.
pub fn may_edit(principal: &Principal, policy: &LayerPolicy) -> bool {
    rules::may_edit(&caller(principal), policy)
}

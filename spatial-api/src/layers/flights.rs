//! Vector tiles being encoded or recently encoded: concurrent misses of one tile share
//! one encoding, and a changed tile is served from its previous encoding while the
//! fresh one runs (stale-while-revalidate, bounded by [`STALE_AT_MOST`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use citygrid_tiles::cache::{CachedTile, TileKey};
use tokio::sync::OnceCell;

/// The oldest encoding served while a fresh one of the same tile runs in the
/// background; an older one makes the request wait for the fresh encoding. Within
/// the `max-age=60` the tile responses already allow clients; the age only grows
/// this far when re-encodings queue up on a saturated machine.
pub const STALE_AT_MOST: Duration = Duration::from_secs(30);

/// Tiles tracked in [`TileFlights`] before finished entries are pruned.
const RECENT_PRUNE_AT: usize = 256;

/// One encoding of a tile, shared by every request that waits for it.
pub(crate) struct Flight {
    /// When the encoding started (the age of the data it shows).
    started: Instant,
    /// The encoding's result, once it is done.
    pub(crate) outcome: OnceCell<Result<CachedTile, String>>,
}

impl Flight {
    fn new() -> Arc<Flight> {
        Arc::new(Flight {
            started: Instant::now(),
            outcome: OnceCell::new(),
        })
    }
}

/// What is known of one tile (layer store, layer ids and versions, z/x/y) besides
/// the cache: the encoding running or last finished, and the finished one before it.
struct Recent {
    current: Arc<Flight>,
    previous: Option<(Instant, CachedTile)>,
}

/// Recently encoded vector tiles.
///
/// The tile cache drops a tile as soon as a feature in it changes, and does not keep
/// a tile encoded while one of its layers changed. A tile that combines a live layer
/// (the cases, which every intake changes) with large ones could then never stay
/// cached under a few reports a second: every request re-encoded it, hundreds of
/// milliseconds each. Here concurrent misses share one encoding, and while a changed
/// tile is re-encoded (in the background, one at a time) requests get its previous
/// encoding, at most [`STALE_AT_MOST`] old — an edit shows as soon as the fresh
/// encoding is done, typically within milliseconds of the change on an idle server.
#[derive(Default)]
pub struct TileFlights {
    recent: Mutex<HashMap<TileKey, Recent>>,
}

impl TileFlights {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TileKey, Recent>> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a cache miss does.
pub(crate) enum Miss {
    /// Answer with this encoding (fresh enough, or served while a new one runs).
    Serve(CachedTile),
    /// Wait for this encoding (run it if no one else does).
    Wait(Arc<Flight>),
    /// Serve this previous encoding and start this one in the background.
    Refresh(CachedTile, Arc<Flight>),
}

fn prune(map: &mut HashMap<TileKey, Recent>) {
    let now = Instant::now();
    map.retain(|_, r| match r.current.outcome.get() {
        // running, or left by cancelled requests and free to be taken over
        None => Arc::strong_count(&r.current) > 1,
        Some(_) => now.duration_since(r.current.started) < STALE_AT_MOST,
    });
}

pub(crate) fn on_miss(flights: &TileFlights, key: TileKey) -> Miss {
    let mut map = flights.lock();
    let now = Instant::now();
    let usable = |at: Instant, tile: &CachedTile| {
        (now.duration_since(at) < STALE_AT_MOST).then(|| tile.clone())
    };
    if let Some(r) = map.get_mut(&key) {
        let done = r.current.outcome.get().cloned();
        match done {
            // running: show the previous encoding meanwhile if there is a recent one
            None => {
                let previous = r.previous.as_ref().and_then(|(at, t)| usable(*at, t));
                // only the map holds it: its requests were cancelled, no one encodes
                let abandoned = Arc::strong_count(&r.current) == 1;
                return match previous {
                    Some(tile) if abandoned => {
                        let fresh = Flight::new();
                        r.current = Arc::clone(&fresh);
                        Miss::Refresh(tile, fresh)
                    }
                    Some(tile) => Miss::Serve(tile),
                    None => Miss::Wait(Arc::clone(&r.current)),
                };
            }
            // finished but not in the cache any more: it changed since, re-encode
            Some(Ok(tile)) => {
                let at = r.current.started;
                let fresh = Flight::new();
                r.previous = Some((at, tile.clone()));
                r.current = Arc::clone(&fresh);
                return match usable(at, &tile) {
                    Some(tile) => Miss::Refresh(tile, fresh),
                    None => Miss::Wait(fresh),
                };
            }
            Some(Err(_)) => {
                let fresh = Flight::new();
                r.current = Arc::clone(&fresh);
                return Miss::Wait(fresh);
            }
        }
    }
    if map.len() >= RECENT_PRUNE_AT {
        prune(&mut map);
    }
    let fresh = Flight::new();
    map.insert(
        key,
        Recent {
            current: Arc::clone(&fresh),
            previous: None,
        },
    );
    Miss::Wait(fresh)
}

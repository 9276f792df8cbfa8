//! Vector tiles being encoded or recently encoded: concurrent misses of one tile share
//! one encoding, and a changed tile is served from its previous encoding while the
//! fresh one runs (stale-while-revalidate, at most `tile_stale_secs` old; 30 s by
//! default, 0 turns it off).
//!
//! The table is bounded: at most [`RECENT_MAX_ENTRIES`] tiles and [`RECENT_MAX_BYTES`]
//! of finished encodings (the current and previous encodings of each tile), held
//! beside the tile cache's `tile_cache_bytes`. Entries leave in insertion order from a
//! queue — when their window has passed or when a bound is reached — so a miss costs
//! O(1) amortised however many distinct tiles a client asks for. An encoding that is
//! still running keeps its waiters' result: they hold the encoding itself, and at most
//! lose its sharing with later misses if the table must drop it.
//!
//! Tiles of layers served from the database (`crate::tiles::database`) have a table
//! of their own (`AppState::db_tile_flights`) whose failures are the API error
//! itself, with stale serving off: concurrent misses share one statement.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use citygrid_tiles::cache::{CachedTile, TileKey};
use tokio::sync::OnceCell;

/// The default oldest encoding served while a fresh one of the same tile runs in the
/// background (`tile_stale_secs`); an older one makes the request wait for the fresh
/// encoding. Within the `max-age=60` the tile responses already allow clients; the age
/// only grows this far when re-encodings queue up on a saturated machine.
pub const STALE_AT_MOST: Duration = Duration::from_secs(30);

/// Tiles tracked at most (running and finished encodings).
pub const RECENT_MAX_ENTRIES: usize = 4096;

/// Bytes of finished encodings held at most, beside the tile cache.
pub const RECENT_MAX_BYTES: usize = 32 << 20;

/// How long a running encoding stays shareable before it is looked at again, when the
/// stale window is shorter (with stale serving off, concurrent misses still share).
const RUNNING_RECHECK: Duration = Duration::from_secs(1);

/// One encoding of a tile, shared by every request that waits for it. `E` is what a
/// failed encoding gives its waiters: a message for the in-memory encoder (a 500),
/// the API error itself for a tile made by the database (its 413 or its 503 with
/// `Retry-After` reach every waiter as they are).
pub(crate) struct Flight<E = String> {
    /// When the encoding started (the age of the data it shows).
    started: Instant,
    /// The encoding's result, once it is done.
    pub(crate) outcome: OnceCell<Result<CachedTile, E>>,
}

impl<E> Flight<E> {
    fn new(started: Instant) -> Arc<Flight<E>> {
        Arc::new(Flight {
            started,
            outcome: OnceCell::new(),
        })
    }
}

/// What is known of one tile (layer store, layer ids and versions, z/x/y) besides
/// the cache: the encoding running or last finished, and the finished one before it.
struct Recent<E> {
    current: Arc<Flight<E>>,
    previous: Option<(Instant, CachedTile)>,
    /// Which queue record stands for this entry (the others of its key are stale).
    generation: u64,
    /// The bytes counted for it in [`Table::held`].
    weight: usize,
}

/// The memory a finished encoding holds (its stored form).
fn tile_weight(tile: &CachedTile) -> usize {
    tile.held_bytes() + tile.etag.len() + std::mem::size_of::<CachedTile>()
}

impl<E> Recent<E> {
    fn weight(&self) -> usize {
        let current = match self.current.outcome.get() {
            Some(Ok(tile)) => tile_weight(tile),
            _ => 0,
        };
        current + self.previous.as_ref().map_or(0, |(_, t)| tile_weight(t))
    }

    /// Only the table holds the running encoding: its requests were cancelled.
    fn abandoned(&self) -> bool {
        Arc::strong_count(&self.current) == 1
    }
}

/// The bounds and the stale window of a [`TileFlights`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlightLimits {
    /// The oldest previous encoding served while a fresh one runs (zero: never).
    pub stale: Duration,
    /// Tiles tracked at most.
    pub max_entries: usize,
    /// Bytes of finished encodings held at most.
    pub max_bytes: usize,
}

impl Default for FlightLimits {
    fn default() -> Self {
        FlightLimits {
            stale: STALE_AT_MOST,
            max_entries: RECENT_MAX_ENTRIES,
            max_bytes: RECENT_MAX_BYTES,
        }
    }
}

struct Table<E> {
    map: HashMap<TileKey, Recent<E>>,
    /// `(due, key, generation)` in insertion order: when to look at an entry again.
    queue: VecDeque<(Instant, TileKey, u64)>,
    /// Bytes of finished encodings held (the entries' weights).
    held: usize,
    next_generation: u64,
}

impl<E> Default for Table<E> {
    fn default() -> Self {
        Table {
            map: HashMap::new(),
            queue: VecDeque::new(),
            held: 0,
            next_generation: 0,
        }
    }
}

/// Recently encoded vector tiles.
///
/// The tile cache drops a tile as soon as a feature in it changes, and does not keep
/// a tile encoded while one of its layers changed. A tile that combines a live layer
/// (the cases, which every intake changes) with large ones could then never stay
/// cached under a few reports a second: every request re-encoded it, hundreds of
/// milliseconds each. Here concurrent misses share one encoding, and while a changed
/// tile is re-encoded (in the background, one at a time) requests get its previous
/// encoding, at most the stale window old — an edit shows as soon as the fresh
/// encoding is done, typically within milliseconds of the change on an idle server.
/// Bounded as the module documentation says.
///
/// `E` is what a failed encoding gives its waiters (see [`Flight`]): tiles of layers
/// served from the database have a table of their own, `TileFlights<ApiError>`, with
/// stale serving off (`crate::tiles::database`).
pub struct TileFlights<E = String> {
    limits: FlightLimits,
    table: Mutex<Table<E>>,
}

impl<E> Default for TileFlights<E> {
    fn default() -> Self {
        TileFlights::new(FlightLimits::default())
    }
}

impl<E> TileFlights<E> {
    /// An empty table with these limits.
    pub fn new(limits: FlightLimits) -> TileFlights<E> {
        TileFlights {
            limits,
            table: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<E>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// (tiles tracked, bytes of finished encodings held) now, for `/metrics`.
    pub fn held_now(&self) -> (usize, usize) {
        let table = self.lock();
        (table.map.len(), table.held)
    }

    /// Tiles tracked now.
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.lock().map.len()
    }

    /// Bytes of finished encodings counted now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.lock().held
    }
}

impl<E> Table<E> {
    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    /// When a running encoding is looked at again.
    fn running_due(limits: &FlightLimits, now: Instant) -> Instant {
        now + limits.stale.max(RUNNING_RECHECK)
    }

    /// Counts the entry's weight again after it changed.
    fn reweigh(&mut self, key: &TileKey) {
        if let Some(r) = self.map.get_mut(key) {
            let weight = r.weight();
            self.held = self.held - r.weight + weight;
            r.weight = weight;
        }
    }

    /// Gives the entry a new queue record (the older ones become stale).
    fn requeue(&mut self, key: &TileKey, due: Instant) {
        let generation = self.generation();
        if let Some(r) = self.map.get_mut(key) {
            r.generation = generation;
            self.queue.push_back((due, key.clone(), generation));
        }
    }

    fn remove(&mut self, key: &TileKey) {
        if let Some(r) = self.map.remove(key) {
            self.held -= r.weight;
        }
    }

    /// Drops entries from the front of the queue while they are due or a bound is
    /// exceeded. Each record is popped once (a running encoding that is due is queued
    /// again, at most once per [`RUNNING_RECHECK`]); stale records are compacted away
    /// when they outnumber the entries, so the work is O(1) amortised per call.
    fn trim(&mut self, limits: &FlightLimits, now: Instant) {
        while let Some((due, _, _)) = self.queue.front() {
            let over = self.map.len() > limits.max_entries || self.held > limits.max_bytes;
            if !over && *due > now {
                break;
            }
            let Some((_, key, generation)) = self.queue.pop_front() else {
                break;
            };
            let Some(r) = self.map.get(&key) else {
                continue;
            };
            if r.generation != generation {
                continue;
            }
            let running = r.current.outcome.get().is_none() && !r.abandoned();
            if running && !over {
                // still encoding for someone: keep it shareable
                self.queue
                    .push_back((Self::running_due(limits, now), key, generation));
                continue;
            }
            // over a bound, its waiters keep their encoding (they hold the flight)
            self.remove(&key);
        }
        if self.queue.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.queue
                .retain(|(_, key, g)| map.get(key).is_some_and(|r| r.generation == *g));
        }
    }
}

/// What a cache miss does.
pub(crate) enum Miss<E = String> {
    /// Answer with this encoding (fresh enough, or served while a new one runs).
    Serve(CachedTile),
    /// Wait for this encoding (run it if no one else does).
    Wait(Arc<Flight<E>>),
    /// Serve this previous encoding and start this one in the background.
    Refresh(CachedTile, Arc<Flight<E>>),
}

pub(crate) fn on_miss<E: Clone>(flights: &TileFlights<E>, key: TileKey) -> Miss<E> {
    on_miss_at(flights, key, Instant::now())
}

pub(crate) fn on_miss_at<E: Clone>(
    flights: &TileFlights<E>,
    key: TileKey,
    now: Instant,
) -> Miss<E> {
    let limits = flights.limits;
    let mut table = flights.lock();
    let miss = lookup(&mut table, &limits, &key, now);
    table.reweigh(&key);
    table.trim(&limits, now);
    miss
}

fn lookup<E: Clone>(
    table: &mut Table<E>,
    limits: &FlightLimits,
    key: &TileKey,
    now: Instant,
) -> Miss<E> {
    let stale = limits.stale;
    let usable =
        |at: Instant, tile: &CachedTile| (now.duration_since(at) < stale).then(|| tile.clone());
    let running_due = Table::<E>::running_due(limits, now);
    if let Some(r) = table.map.get_mut(key) {
        let done = r.current.outcome.get().cloned();
        match done {
            // running: show the previous encoding meanwhile if there is a recent one
            None => {
                let previous = r.previous.as_ref().and_then(|(at, t)| usable(*at, t));
                // only the map holds it: its requests were cancelled, no one encodes
                return match previous {
                    Some(tile) if r.abandoned() => {
                        let fresh = Flight::new(now);
                        r.current = Arc::clone(&fresh);
                        table.requeue(key, running_due);
                        Miss::Refresh(tile, fresh)
                    }
                    Some(tile) => Miss::Serve(tile),
                    None => Miss::Wait(Arc::clone(&r.current)),
                };
            }
            // finished but not in the cache any more: it changed since, re-encode
            Some(Ok(tile)) => {
                let at = r.current.started;
                let fresh = Flight::new(now);
                // with stale serving off the old encoding is of no use: let it go
                r.previous = (!stale.is_zero()).then(|| (at, tile.clone()));
                r.current = Arc::clone(&fresh);
                table.requeue(key, running_due);
                return match usable(at, &tile) {
                    Some(tile) => Miss::Refresh(tile, fresh),
                    None => Miss::Wait(fresh),
                };
            }
            Some(Err(_)) => {
                let fresh = Flight::new(now);
                r.current = Arc::clone(&fresh);
                table.requeue(key, running_due);
                return Miss::Wait(fresh);
            }
        }
    }
    let fresh = Flight::new(now);
    table.map.insert(
        key.clone(),
        Recent {
            current: Arc::clone(&fresh),
            previous: None,
            generation: 0,
            weight: 0,
        },
    );
    table.requeue(key, running_due);
    Miss::Wait(fresh)
}

/// Counts a finished encoding of `key` (call once its outcome is set; repeated calls
/// do nothing more): it stays to be served while it is within the stale window, then
/// goes.
pub(crate) fn finished<E>(flights: &TileFlights<E>, key: &TileKey, flight: &Arc<Flight<E>>) {
    finished_at(flights, key, flight, Instant::now())
}

pub(crate) fn finished_at<E>(
    flights: &TileFlights<E>,
    key: &TileKey,
    flight: &Arc<Flight<E>>,
    now: Instant,
) {
    let limits = flights.limits;
    let mut table = flights.lock();
    let Some(r) = table.map.get(key) else {
        return;
    };
    if !Arc::ptr_eq(&r.current, flight) || flight.outcome.get().is_none() {
        return;
    }
    let recounted = r.weight != r.weight();
    let due = flight.started + limits.stale;
    if limits.stale.is_zero() || due <= now {
        table.remove(key);
    } else if recounted {
        table.reweigh(key);
        table.requeue(key, due);
    }
    table.trim(&limits, now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use citygrid_geo::tms::TileCoord;

    fn key(i: u32) -> TileKey {
        let tile = TileCoord::new(20, i % (1 << 20), i / (1 << 20)).unwrap();
        TileKey::new(tile, [("roads".to_string(), 1)])
    }

    fn tile(len: usize) -> CachedTile {
        CachedTile::new(vec![7u8; len])
    }

    #[test]
    fn only_the_stored_form_is_counted() {
        let raw = tile_weight(&tile(1000));
        let gzip = tile_weight(&CachedTile::compressed(&[7u8; 1000], vec![1u8; 40]));
        assert_eq!(raw - gzip, 1000 - 40);
    }

    fn limits(stale_secs: u64) -> FlightLimits {
        FlightLimits {
            stale: Duration::from_secs(stale_secs),
            max_entries: 100,
            max_bytes: 50 * 1000,
        }
    }

    /// A miss that must be a `Wait`; the encoding is finished with a tile of `len` bytes.
    fn encode(flights: &TileFlights, k: &TileKey, len: usize, now: Instant) -> Arc<Flight> {
        let Miss::Wait(flight) = on_miss_at(flights, k.clone(), now) else {
            panic!("expected a wait");
        };
        flight.outcome.set(Ok(tile(len))).unwrap();
        finished_at(flights, k, &flight, now);
        flight
    }

    #[test]
    fn a_crawl_stays_within_the_bounds() {
        let flights: TileFlights = TileFlights::new(limits(30));
        let start = Instant::now();
        let mut held_max = 0;
        for i in 0..100_000u32 {
            let now = start + Duration::from_millis(u64::from(i));
            encode(&flights, &key(i), 900 + (i as usize % 7) * 100, now);
            assert!(flights.entries() <= 100, "step {i}: {}", flights.entries());
            assert!(flights.held() <= 50 * 1000, "step {i}: {}", flights.held());
            held_max = held_max.max(flights.held());
            let queue = flights.lock().queue.len();
            assert!(queue <= 2 * 100 + 64 + 1, "step {i}: queue {queue}");
        }
        // the bound is reached, not just never approached
        assert!(held_max > 40 * 1000, "{held_max}");
        // held bytes are what the entries hold
        {
            let table = flights.lock();
            let sum: usize = table.map.values().map(Recent::weight).sum();
            assert_eq!(sum, table.held);
        }
        // small tiles: the entry bound is the one reached
        let flights: TileFlights = TileFlights::new(limits(30));
        let mut entries_max = 0;
        for i in 0..100_000u32 {
            let now = start + Duration::from_millis(u64::from(i));
            encode(&flights, &key(i), 10, now);
            assert!(flights.entries() <= 100, "step {i}: {}", flights.entries());
            assert!(flights.held() <= 50 * 1000, "step {i}: {}", flights.held());
            entries_max = entries_max.max(flights.entries());
        }
        assert_eq!(entries_max, 100);
    }

    #[test]
    fn expired_entries_go() {
        let flights: TileFlights = TileFlights::new(FlightLimits::default());
        let start = Instant::now();
        for i in 0..50 {
            encode(&flights, &key(i), 1000, start);
        }
        assert_eq!(flights.entries(), 50);
        assert!(flights.held() >= 50 * 1000);
        // within the window they stay
        let _ = on_miss_at(&flights, key(1000), start + Duration::from_secs(29));
        assert_eq!(flights.entries(), 51);
        // past it a miss of another tile clears them
        let later = start + Duration::from_secs(31);
        let _ = on_miss_at(&flights, key(1001), later);
        // the running miss of tile 1000 (no one waits: it was dropped) and tile 1001
        assert!(flights.entries() <= 2, "{}", flights.entries());
        assert_eq!(flights.held(), 0);
    }

    #[test]
    fn running_encodings_are_kept_for_their_waiters() {
        let flights: TileFlights = TileFlights::new(limits(30));
        let start = Instant::now();
        let k = key(0);
        let Miss::Wait(first) = on_miss_at(&flights, k.clone(), start) else {
            panic!("expected a wait");
        };
        // long past the window a second miss still shares the running encoding
        let late = start + Duration::from_secs(120);
        let _ = on_miss_at(&flights, key(1), late);
        let Miss::Wait(second) = on_miss_at(&flights, k.clone(), late) else {
            panic!("expected a wait");
        };
        assert!(Arc::ptr_eq(&first, &second));
        drop(second);
        // a crawl pushes it out of the table, but its waiter still gets its tile
        for i in 1..1000 {
            encode(&flights, &key(i), 1000, late);
        }
        assert!(flights.entries() <= 100);
        first.outcome.set(Ok(tile(123))).unwrap();
        finished_at(&flights, &k, &first, late);
        let Some(Ok(got)) = first.outcome.get() else {
            panic!("the waiter lost its encoding");
        };
        assert_eq!(got.bytes.len(), 123);
    }

    #[test]
    fn with_stale_serving_off_a_changed_tile_waits() {
        for record in [true, false] {
            let flights: TileFlights = TileFlights::new(limits(0));
            let start = Instant::now();
            let k = key(0);
            // concurrent misses still share one encoding
            let Miss::Wait(flight) = on_miss_at(&flights, k.clone(), start) else {
                panic!("expected a wait");
            };
            let Miss::Wait(same) =
                on_miss_at(&flights, k.clone(), start + Duration::from_millis(5))
            else {
                panic!("expected a wait");
            };
            assert!(Arc::ptr_eq(&flight, &same));
            flight.outcome.set(Ok(tile(1000))).unwrap();
            if record {
                finished_at(&flights, &k, &flight, start + Duration::from_millis(10));
                assert_eq!(flights.held(), 0);
            }
            // the tile changed (not in the cache): the old encoding is not served
            let again = start + Duration::from_millis(20);
            match on_miss_at(&flights, k.clone(), again) {
                Miss::Wait(fresh) => assert!(!Arc::ptr_eq(&fresh, &flight)),
                Miss::Serve(_) | Miss::Refresh(..) => panic!("served an older encoding"),
            }
            // nor while the fresh one runs
            assert!(matches!(
                on_miss_at(&flights, k.clone(), again),
                Miss::Wait(_)
            ));
        }
    }

    #[test]
    fn by_default_a_changed_tile_is_refreshed_within_the_window() {
        let flights: TileFlights = TileFlights::new(FlightLimits::default());
        let start = Instant::now();
        let k = key(0);
        let old = encode(&flights, &k, 1000, start);
        let Some(Ok(old_tile)) = old.outcome.get().cloned() else {
            panic!("no tile");
        };
        let soon = start + Duration::from_secs(10);
        let Miss::Refresh(served, fresh) = on_miss_at(&flights, k.clone(), soon) else {
            panic!("expected a refresh");
        };
        assert_eq!(served, old_tile);
        // while it runs, others get the previous encoding
        let Miss::Serve(again) = on_miss_at(&flights, k.clone(), soon) else {
            panic!("expected the previous encoding");
        };
        assert_eq!(again, old_tile);
        fresh.outcome.set(Ok(tile(2000))).unwrap();
        finished_at(&flights, &k, &fresh, soon);
        // past the window the previous encoding is not served: wait
        let late = soon + Duration::from_secs(31);
        assert!(matches!(on_miss_at(&flights, k, late), Miss::Wait(_)));
    }

    /// A failed encoding gives every waiter its error as it is (for database tiles
    /// the API error: a 413, a 503 with `Retry-After`), and is not kept: the next
    /// miss encodes again.
    #[test]
    fn a_failure_reaches_every_waiter_and_is_not_kept() {
        #[derive(Debug, Clone, PartialEq)]
        struct Refused(u16);
        let flights: TileFlights<Refused> = TileFlights::new(limits(0));
        let start = Instant::now();
        let k = key(0);
        let Miss::Wait(first) = on_miss_at(&flights, k.clone(), start) else {
            panic!("expected a wait");
        };
        let Miss::Wait(second) = on_miss_at(&flights, k.clone(), start) else {
            panic!("expected a wait");
        };
        assert!(Arc::ptr_eq(&first, &second), "concurrent misses share");
        first.outcome.set(Err(Refused(503))).unwrap();
        finished_at(&flights, &k, &first, start);
        assert!(matches!(second.outcome.get(), Some(Err(Refused(503)))));
        assert_eq!(flights.entries(), 0);
        // the next miss runs again, whether or not the failure was counted
        match on_miss_at(&flights, k.clone(), start + Duration::from_millis(1)) {
            Miss::Wait(fresh) => {
                assert!(fresh.outcome.get().is_none());
                fresh.outcome.set(Err(Refused(413))).unwrap();
            }
            Miss::Serve(_) | Miss::Refresh(..) => panic!("served a failed encoding"),
        }
        match on_miss_at(&flights, k, start + Duration::from_millis(2)) {
            Miss::Wait(fresh) => assert!(fresh.outcome.get().is_none()),
            Miss::Serve(_) | Miss::Refresh(..) => panic!("served a failed encoding"),
        }
    }
}

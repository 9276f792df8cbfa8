//! The service's geocoding index ([`Geocoder`], on `citygrid_geocode::GeocodeIndex`):
//! loaded when the service starts and kept current by [`follow_changes`] (see the
//! parent module).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use citygrid_geocode::{
    AddressRecord, AreaKind, AreaRecord, ForwardOptions, ForwardResult, GeocodeIndex, ReverseHit,
    RoadRecord,
};
use citygrid_store::addresses::{self as store, AddressRow, AreaTable};
use citygrid_store::notify::Listener;
use sqlx::PgPool;

use crate::error::ApiResult;

/// The most addresses held in memory.
pub const MAX_ADDRESSES: i64 = 3_000_000;
/// The most road features read per road layer.
pub const MAX_ROADS: i64 = 500_000;
/// The most areas read per kind (unit grids, communities, streets, divisions).
pub const MAX_AREAS: i64 = 200_000;
/// The most address rows a change notice patches in place (under the write lock);
/// a larger change rebuilds the index.
pub const PATCH_MAX: i64 = 50_000;
/// Grid-management layers whose changes reload the areas.
const AREA_LAYERS: [&str; 4] = ["unit_grids", "communities", "streets", "admin_divisions"];
/// Quiet time after a road or area change before reloading (changes come in bursts).
const RELOAD_DELAY: Duration = Duration::from_millis(300);

/// The service's geocoding index and what it needs to patch it.
#[derive(Default)]
pub struct Geocoder {
    index: RwLock<GeocodeIndex>,
    /// Address ids held per source, to swap a source's rows on its change notice.
    sources: Mutex<HashMap<String, Vec<i64>>>,
    /// The configured road layers (`geocode_road_layers`; empty: every `*_roads`).
    road_layers: Vec<String>,
    /// Whether a layer without a read policy of its own is public (`public_layers`):
    /// only public road layers feed the geocoder, whose answers anyone may read.
    public_by_default: bool,
    loaded: AtomicBool,
}

impl std::fmt::Debug for Geocoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Geocoder")
            .field("loaded", &self.loaded.load(Ordering::Relaxed))
            .finish()
    }
}

fn record(r: AddressRow) -> AddressRecord {
    AddressRecord {
        id: r.id,
        full: r.full_text,
        road: r.road,
        number: r.number,
        building: r.building,
        unit: r.unit,
        community: r.community,
        street: r.street,
        district: r.district,
        city: r.city,
        division_code: r.division_code,
        lon: r.lon,
        lat: r.lat,
    }
}

impl Geocoder {
    /// An empty geocoder reading roads from `road_layers` (empty: every `*_roads`)
    /// that everyone may read (`public_by_default`: the `public_layers` setting, for
    /// layers without a read policy of their own).
    pub fn new(road_layers: Vec<String>, public_by_default: bool) -> Geocoder {
        Geocoder {
            road_layers,
            public_by_default,
            ..Geocoder::default()
        }
    }

    /// Whether the index was loaded at least once.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Forward geocoding on the current index.
    pub fn forward(&self, q: &str, opts: &ForwardOptions) -> ApiResult<ForwardResult> {
        Ok(self.index.read()?.forward(q, opts))
    }

    /// Reverse geocoding on the current index.
    pub fn reverse(&self, lon: f64, lat: f64, max_m: f64) -> ApiResult<ReverseHit> {
        Ok(self.index.read()?.reverse(lon, lat, max_m))
    }

    /// "near 沿江大道188号" for a point: the nearest address within `max_m`, else the
    /// nearest road; `None` when nothing is near or the index is unavailable.
    pub fn describe(&self, lon: f64, lat: f64, max_m: f64) -> Option<String> {
        let hit = self.index.read().ok()?.reverse(lon, lat, max_m);
        match (hit.address, hit.road) {
            (Some((c, _)), _) => Some(c.label),
            (None, Some((name, _, _))) => Some(name),
            _ => None,
        }
    }

    /// Number of addresses held.
    pub fn len(&self) -> usize {
        self.index.read().map(|i| i.len()).unwrap_or(0)
    }

    /// Whether no address is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads everything from the database and replaces the index.
    pub async fn load_all(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let started = std::time::Instant::now();
        let rows = store::all(pool, MAX_ADDRESSES).await?;
        if rows.len() as i64 >= MAX_ADDRESSES {
            tracing::warn!(
                max = MAX_ADDRESSES,
                "more addresses than the geocoder holds; the rest are not found"
            );
        }
        let roads = self.read_roads(pool).await?;
        let areas = read_areas(pool).await?;
        let mut sources: HashMap<String, Vec<i64>> = HashMap::new();
        let addresses: Vec<AddressRecord> = rows
            .into_iter()
            .map(|r| {
                sources.entry(r.source.clone()).or_default().push(r.id);
                record(r)
            })
            .collect();
        let (n, r, a) = (addresses.len(), roads.len(), areas.len());
        let index =
            tokio::task::spawn_blocking(move || GeocodeIndex::build(addresses, roads, areas))
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("building the geocoding index: {e}")))?;
        if let Ok(mut guard) = self.index.write() {
            *guard = index;
        }
        if let Ok(mut guard) = self.sources.lock() {
            *guard = sources;
        }
        self.loaded.store(true, Ordering::Release);
        tracing::info!(
            addresses = n,
            roads = r,
            areas = a,
            seconds = started.elapsed().as_secs_f64(),
            "geocoding index loaded"
        );
        Ok(())
    }

    /// Swaps the rows of address source `source` for those in the database now; a
    /// change of more than [`PATCH_MAX`] rows rebuilds the whole index instead (built
    /// beside the current one, swapped in at once, so queries never wait for it).
    pub async fn patch_source(&self, pool: &PgPool, source: &str) -> Result<(), sqlx::Error> {
        let held = self
            .sources
            .lock()
            .map(|s| s.get(source).map_or(0, Vec::len))
            .unwrap_or(0);
        let now = store::count_source(pool, source).await?;
        if held as i64 + now > PATCH_MAX {
            return self.load_all(pool).await;
        }
        let rows = store::of_source(pool, source, MAX_ADDRESSES).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let old = self
            .sources
            .lock()
            .ok()
            .and_then(|mut s| s.insert(source.to_string(), ids.clone()))
            .unwrap_or_default();
        let records: Vec<AddressRecord> = rows.into_iter().map(record).collect();
        let n = records.len();
        if let Ok(mut index) = self.index.write() {
            for id in old {
                index.remove_address(id);
            }
            for r in records {
                index.upsert_address(r);
            }
        }
        tracing::info!(%source, addresses = n, "geocoding index patched");
        Ok(())
    }

    async fn read_roads(&self, pool: &PgPool) -> Result<Vec<RoadRecord>, sqlx::Error> {
        let layers = store::road_layers(pool, &self.road_layers, self.public_by_default).await?;
        let mut out = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            for r in store::named_roads(pool, layer, MAX_ROADS).await? {
                out.push(RoadRecord {
                    // one id space over the layers: the layer's place in the high bits
                    id: ((i as i64) << 40) | (r.fid & ((1 << 40) - 1)),
                    name: r.name,
                    lines: r.lines,
                });
            }
        }
        Ok(out)
    }

    /// Reloads the roads.
    pub async fn reload_roads(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let roads = self.read_roads(pool).await?;
        if let Ok(mut index) = self.index.write() {
            index.replace_roads(roads);
        }
        Ok(())
    }

    /// Reloads the areas.
    pub async fn reload_areas(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let areas = read_areas(pool).await?;
        if let Ok(mut index) = self.index.write() {
            index.replace_areas(areas);
        }
        Ok(())
    }

    /// Whether a change of layer `id` concerns the roads.
    fn is_road_layer(&self, id: &str) -> bool {
        if self.road_layers.is_empty() {
            id.ends_with("_roads")
        } else {
            self.road_layers.iter().any(|l| l == id)
        }
    }
}

async fn read_areas(pool: &PgPool) -> Result<Vec<AreaRecord>, sqlx::Error> {
    let rows = store::areas(pool, MAX_AREAS).await?;
    Ok(rows
        .into_iter()
        .map(|a| AreaRecord {
            kind: match a.kind {
                AreaTable::UnitGrid => AreaKind::UnitGrid,
                AreaTable::Community => AreaKind::Community,
                AreaTable::Street => AreaKind::Street,
                AreaTable::Division => AreaKind::Division,
            },
            code: a.code,
            name: a.name,
            polygons: geo::MultiPolygon(
                a.polygons
                    .into_iter()
                    .filter_map(|rings| {
                        let mut rings = rings.into_iter().map(|ring| {
                            geo::LineString(
                                ring.into_iter().map(|[x, y]| geo::Coord { x, y }).collect(),
                            )
                        });
                        let exterior = rings.next()?;
                        Some(geo::Polygon::new(exterior, rings.collect()))
                    })
                    .collect(),
            ),
        })
        .collect())
}

/// Keeps `geocoder` current: listens for address, road and area changes, reloads
/// everything after (re)connecting (notifications may have been missed), forever.
pub async fn follow_changes(geocoder: Arc<Geocoder>, pool: PgPool) {
    loop {
        match Listener::connect(&pool).await {
            Ok(mut listener) => {
                let listening = async {
                    listener.listen(store::ADDRESS_CHANNEL).await?;
                    listener.listen(citygrid_db::LAYER_CHANNEL).await
                }
                .await;
                if let Err(e) = listening {
                    tracing::warn!(error = %e, "cannot listen for address changes");
                } else if let Err(e) = geocoder.load_all(&pool).await {
                    tracing::warn!(error = %e, "cannot load the geocoding index");
                } else if let Err(e) = follow(&geocoder, &pool, &mut listener).await {
                    if matches!(e, sqlx::Error::PoolClosed) {
                        return;
                    }
                    tracing::warn!(error = %e, "geocoding change listener failed");
                }
            }
            Err(e) => tracing::debug!(error = %e, "database unavailable for the geocoder"),
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Applies notifications until the connection is lost (`Ok`) or fails.
async fn follow(
    geocoder: &Geocoder,
    pool: &PgPool,
    listener: &mut Listener,
) -> Result<(), sqlx::Error> {
    let (mut roads, mut areas) = (false, false);
    loop {
        let next = if roads || areas {
            match tokio::time::timeout(RELOAD_DELAY, listener.recv_from()).await {
                Ok(n) => n?,
                Err(_) => {
                    if std::mem::take(&mut roads) {
                        geocoder.reload_roads(pool).await?;
                        tracing::info!("geocoding roads reloaded");
                    }
                    if std::mem::take(&mut areas) {
                        geocoder.reload_areas(pool).await?;
                        tracing::info!("geocoding areas reloaded");
                    }
                    continue;
                }
            }
        } else {
            listener.recv_from().await?
        };
        let Some((channel, payload)) = next else {
            return Ok(());
        };
        if channel == store::ADDRESS_CHANNEL {
            geocoder.patch_source(pool, &payload).await?;
        } else {
            let layer = payload.split(':').next().unwrap_or_default();
            if AREA_LAYERS.contains(&layer) {
                areas = true;
            } else if layer == "*" || geocoder.is_road_layer(layer) {
                roads = true;
            }
        }
    }
}

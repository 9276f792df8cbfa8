//! In-process benchmark of the spatial query engine against PostGIS, from the same
//! process, with the same concurrency, on the same data (issue #6):
//!
//! | query | citygrid (in memory, the real code paths) | PostGIS (sqlx prepared statement) |
//! |---|---|---|
//! | locate | `mgmt::locate::locate` (unit grid, community, street, admin) + the `/api/locate` JSON | four `ST_Contains` subqueries returning `to_jsonb` of each row |
//! | nearest | `query::nearest::write_nearest` (k = 10, WGS84 geodesic metres, JSON) | `ORDER BY geom <-> p LIMIT 10` with `ST_Distance(geography)` |
//! | items | `ogc::items::{plan, candidates, render, write_collection}` (bbox + CQL2 `rank >= 5`, GeoJSON FeatureCollection) | `geom && box AND rank >= 5` with `ST_AsGeoJSON` |
//!
//! The layers are read from PostGIS into the service's own [`LayerStore`] exactly as
//! `citygrid serve` does it (catalogue, then `LayerStore::sync`). Before timing, a
//! sample of answers of both sides is compared (same features, same order,
//! distances within 0.1 %) and the check is printed.
//!
//! Run by `benches/query_vs_postgis.sh` (which creates the data), or by hand:
//!
//! ```text
//! DATABASE_URL=… QE_SECONDS=10 QE_CONCURRENCY=2,4 \
//!   cargo bench -p citygrid-spatial-api --bench query_engine
//! ```
//!
//! Without `--bench` (as under `cargo test --all-targets`) it returns at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use citygrid_cql2::eval::{Meter, MAX_WORK};
use citygrid_geo::crs::Crs;
use citygrid_spatial_api::catalog;
use citygrid_spatial_api::layers::LayerStore;
use citygrid_spatial_api::mgmt::locate;
use citygrid_spatial_api::ogc::items;
use citygrid_spatial_api::query::nearest;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

const POI: &str = "bench_poi";
const BLDG: &str = "bench_bldg";
const ITEMS_BASE: &str = "http://127.0.0.1/ogc/collections/bench_bldg/items";
/// Box size of the items query in degrees (~300 m × 300 m at 60° N).
const BOX_W: f64 = 0.0054;
const BOX_H: f64 = 0.0027;

const SQL_LOCATE: &str = "SELECT \
 (SELECT to_jsonb(t) - 'geom' - 'fid' - 'responsible' FROM layers.unit_grids t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1), \
 (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.communities t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1), \
 (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.streets t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1), \
 (SELECT to_jsonb(t) - 'geom' - 'fid' FROM layers.admin_divisions t WHERE ST_Contains(t.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1)";
const SQL_NEAREST: &str = "SELECT fid, name, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) \
 FROM layers.bench_poi ORDER BY geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) LIMIT 10";
const SQL_ITEMS: &str = "SELECT fid, name, rank, ST_AsGeoJSON(geom) FROM layers.bench_bldg \
 WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4326) AND rank >= 5";
/// Exact reference for nearest (ground metres on the ellipsoid, ties by fid): every
/// point within the in-memory answer's 10th distance.
const SQL_NEAREST_EXACT: &str = "SELECT fid, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) AS d \
 FROM layers.bench_poi WHERE geom && ST_MakeEnvelope($1 - $4, $2 - $5, $1 + $4, $2 + $5, 4326) \
 AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $3, true) ORDER BY d, fid LIMIT 10";
/// Exact reference for items (true intersection, as the OGC `bbox` is defined).
const SQL_ITEMS_EXACT: &str = "SELECT fid FROM layers.bench_bldg \
 WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) AND rank >= 5 ORDER BY fid";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Query {
    Locate,
    Nearest,
    Items,
}

impl Query {
    fn name(self) -> &'static str {
        match self {
            Query::Locate => "locate",
            Query::Nearest => "nearest",
            Query::Items => "items",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Memory,
    Postgis,
}

struct Ctx {
    store: LayerStore,
    pool: PgPool,
}

/// xorshift64*: the same points for both sides.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A point in 24.80..25.198 E, 60.10..60.1995 N, rounded to 1e-6°.
    fn point(&mut self) -> (f64, f64) {
        let r6 = |v: f64| (v * 1e6).round() / 1e6;
        (
            r6(24.80 + self.next() * 0.398),
            r6(60.10 + self.next() * 0.0995),
        )
    }
}

// ---------------------------------------------------------------------------
// The in-memory side: the service's own code paths.

async fn mem_locate(ctx: &Ctx, lon: f64, lat: f64) -> Result<Vec<u8>> {
    let (lon, lat) = locate::to_wgs84(lon, lat, None).map_err(|e| anyhow!("{e}"))?;
    let l = locate::locate(Some(&ctx.store), &ctx.pool, lon, lat)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    // What `GET /api/locate` answers.
    Ok(serde_json::to_vec(&json!({
        "lon": lon,
        "lat": lat,
        "grid": l.grid,
        "community": l.community,
        "street": l.street,
        "admin_division": l.admin,
    }))?)
}

fn mem_nearest(ctx: &Ctx, lon: f64, lat: f64, out: &mut String) -> Result<()> {
    let layer = ctx.store.get(POI).context("bench_poi is not loaded")?;
    let index = layer.index.read().map_err(|_| anyhow!("lock poisoned"))?;
    nearest::write_nearest(out, &index, POI, lon, lat, 10, f64::INFINITY, Crs::Crs84)
        .map_err(|e| anyhow!("{e}"))
}

fn items_params(x: f64, y: f64) -> Vec<(String, String)> {
    vec![
        (
            "bbox".to_string(),
            format!("{x:.6},{y:.6},{:.6},{:.6}", x + BOX_W, y + BOX_H),
        ),
        ("filter".to_string(), "rank >= 5".to_string()),
        ("limit".to_string(), "1000".to_string()),
    ]
}

fn mem_items(ctx: &Ctx, x: f64, y: f64, out: &mut String) -> Result<()> {
    // What the handler does: parse the request (bbox + CQL2) into a plan, pick the
    // R-tree candidates, evaluate the filter, page, write the FeatureCollection.
    let params = items_params(x, y);
    let layer = ctx.store.get(BLDG).context("bench_bldg is not loaded")?;
    let index = layer.index.read().map_err(|_| anyhow!("lock poisoned"))?;
    let plan = items::plan(&params, index.schema()).map_err(|e| anyhow!("{e}"))?;
    let found = items::candidates(&index, &plan);
    let meter = Meter::new(MAX_WORK);
    let (matched, returned, features) =
        items::render(&index, &plan, found, &meter).map_err(|e| anyhow!("{e}"))?;
    items::write_collection(
        out, ITEMS_BASE, &params, &plan, matched, returned, &features,
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The PostGIS side: prepared statements (sqlx caches them per connection).

type LocateRow = (Option<Value>, Option<Value>, Option<Value>, Option<Value>);

async fn pg_locate(pool: &PgPool, lon: f64, lat: f64) -> Result<LocateRow> {
    Ok(sqlx::query_as(SQL_LOCATE)
        .bind(lon)
        .bind(lat)
        .fetch_one(pool)
        .await?)
}

async fn pg_nearest(pool: &PgPool, lon: f64, lat: f64) -> Result<Vec<(i64, String, f64)>> {
    Ok(sqlx::query_as(SQL_NEAREST)
        .bind(lon)
        .bind(lat)
        .fetch_all(pool)
        .await?)
}

async fn pg_items(pool: &PgPool, x: f64, y: f64) -> Result<Vec<(i64, String, i32, String)>> {
    Ok(sqlx::query_as(SQL_ITEMS)
        .bind(x)
        .bind(y)
        .bind(x + BOX_W)
        .bind(y + BOX_H)
        .fetch_all(pool)
        .await?)
}

/// One query on one side; returns the size of the answer (so nothing is skipped).
async fn one(ctx: &Ctx, side: Side, q: Query, rng: &mut Rng, buf: &mut String) -> Result<usize> {
    let (x, y) = rng.point();
    buf.clear();
    Ok(match (side, q) {
        (Side::Memory, Query::Locate) => mem_locate(ctx, x, y).await?.len(),
        (Side::Memory, Query::Nearest) => {
            mem_nearest(ctx, x, y, buf)?;
            buf.len()
        }
        (Side::Memory, Query::Items) => {
            mem_items(ctx, x, y, buf)?;
            buf.len()
        }
        (Side::Postgis, Query::Locate) => {
            let r = pg_locate(&ctx.pool, x, y).await?;
            usize::from(r.0.is_some()) + usize::from(r.3.is_some())
        }
        (Side::Postgis, Query::Nearest) => pg_nearest(&ctx.pool, x, y).await?.len(),
        (Side::Postgis, Query::Items) => pg_items(&ctx.pool, x, y)
            .await?
            .iter()
            .map(|r| r.3.len())
            .sum(),
    })
}

// ---------------------------------------------------------------------------
// The agreement check.

/// `v` with every number as a float, so that `12386` (jsonb) equals `12386.0` (an
/// integral double read into the index).
fn numbers_as_floats(v: &Option<Value>) -> Option<Value> {
    fn walk(v: &Value) -> Value {
        match v {
            Value::Number(n) => n.as_f64().map_or(Value::Null, |f| json!(f)),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), walk(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(walk).collect()),
            other => other.clone(),
        }
    }
    v.as_ref().map(walk)
}

fn codes(v: &Option<Value>) -> Option<String> {
    v.as_ref()?.get("code")?.as_str().map(str::to_owned)
}

async fn check(ctx: &Ctx, samples: usize) -> Result<()> {
    let mut rng = Rng(0x5eed_0006);
    // locate: the four places, whole attribute objects.
    let (mut same, mut same_codes, mut found) = (0, 0, 0);
    for _ in 0..samples {
        let (x, y) = rng.point();
        let mem: Value = serde_json::from_slice(&mem_locate(ctx, x, y).await?)?;
        let pg = pg_locate(&ctx.pool, x, y).await?;
        let mem4 = [
            mem.get("grid").cloned().filter(|v| !v.is_null()),
            mem.get("community").cloned().filter(|v| !v.is_null()),
            mem.get("street").cloned().filter(|v| !v.is_null()),
            mem.get("admin_division").cloned().filter(|v| !v.is_null()),
        ];
        let pg4 = [pg.0, pg.1, pg.2, pg.3];
        found += usize::from(mem4[0].is_some());
        if mem4.iter().map(codes).eq(pg4.iter().map(codes)) {
            same_codes += 1;
        }
        if mem4
            .iter()
            .map(numbers_as_floats)
            .eq(pg4.iter().map(numbers_as_floats))
        {
            same += 1;
        } else if found.saturating_sub(same) <= 2 {
            eprintln!("locate attributes differ at ({x}, {y}): memory {mem4:?} PostGIS {pg4:?}");
        }
    }
    println!(
        "check locate:  {same_codes}/{samples} points: same grid/community/street/admin codes ({same}/{samples} equal attribute objects; {found} inside a grid)"
    );
    if same_codes != samples {
        bail!("locate answers differ");
    }

    // nearest: same ids in the same order, distances within 0.1 %.
    let (mut exact, mut knn_same_set, mut worst_rel) = (0, 0, 0.0f64);
    let mut buf = String::new();
    for _ in 0..samples {
        let (x, y) = rng.point();
        buf.clear();
        mem_nearest(ctx, x, y, &mut buf)?;
        let v: Value = serde_json::from_str(&buf)?;
        let mem: Vec<(i64, f64)> = v["features"]
            .as_array()
            .context("features")?
            .iter()
            .map(|f| {
                (
                    f["id"].as_i64().unwrap_or(-1),
                    f["distance_m"].as_f64().unwrap_or(-1.0),
                )
            })
            .collect();
        let r = mem.last().map_or(0.0, |m| m.1) + 0.01;
        let (dx, dy) = (r / 50_000.0, r / 100_000.0);
        let pg: Vec<(i64, f64)> = sqlx::query_as(SQL_NEAREST_EXACT)
            .bind(x)
            .bind(y)
            .bind(r)
            .bind(dx)
            .bind(dy)
            .fetch_all(&ctx.pool)
            .await?;
        let ids_equal = mem.iter().map(|m| m.0).eq(pg.iter().map(|p| p.0));
        for (m, p) in mem.iter().zip(&pg) {
            worst_rel = worst_rel.max((m.1 - p.1).abs() / p.1.max(1.0));
        }
        if ids_equal && mem.len() == 10 {
            exact += 1;
        } else {
            eprintln!("nearest differs at ({x}, {y}): memory {mem:?} PostGIS {pg:?}");
        }
        let mut knn: Vec<i64> = pg_nearest(&ctx.pool, x, y)
            .await?
            .iter()
            .map(|r| r.0)
            .collect();
        let mut m: Vec<i64> = mem.iter().map(|m| m.0).collect();
        knn.sort_unstable();
        m.sort_unstable();
        knn_same_set += usize::from(knn == m);
    }
    println!(
        "check nearest: {exact}/{samples} points: same 10 ids in the same order as PostGIS ordering by ST_Distance(geography), largest distance difference {:.4} %; \
         the benchmarked <-> KNN statement (planar degrees) returns the same 10 ids in {knn_same_set}/{samples}",
        worst_rel * 100.0
    );
    if exact != samples || worst_rel > 0.001 {
        bail!("nearest answers differ");
    }

    // items: same ids (the page is in id order).
    let (mut exact, mut env_same, mut total) = (0, 0, 0);
    for _ in 0..samples {
        let (x, y) = rng.point();
        buf.clear();
        mem_items(ctx, x, y, &mut buf)?;
        let v: Value = serde_json::from_str(&buf)?;
        let mem: Vec<i64> = v["features"]
            .as_array()
            .context("features")?
            .iter()
            .map(|f| f["id"].as_i64().unwrap_or(-1))
            .collect();
        total += mem.len();
        let pg: Vec<(i64,)> = sqlx::query_as(SQL_ITEMS_EXACT)
            .bind(x)
            .bind(y)
            .bind(x + BOX_W)
            .bind(y + BOX_H)
            .fetch_all(&ctx.pool)
            .await?;
        if mem.iter().copied().eq(pg.iter().map(|p| p.0)) {
            exact += 1;
        } else {
            eprintln!("items differ at ({x}, {y}): memory {mem:?} PostGIS {pg:?}");
        }
        let mut env: Vec<i64> = pg_items(&ctx.pool, x, y)
            .await?
            .iter()
            .map(|r| r.0)
            .collect();
        env.sort_unstable();
        env_same += usize::from(env == mem);
    }
    println!(
        "check items:   {exact}/{samples} boxes: same ids as PostGIS ST_Intersects AND rank >= 5 ({total} features in all); \
         the benchmarked && (envelope) statement returns the same ids in {env_same}/{samples}"
    );
    if exact != samples {
        bail!("items answers differ");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Timing.

struct Stats {
    qps: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn measure(ctx: Arc<Ctx>, side: Side, q: Query, tasks: usize, secs: f64) -> Result<Stats> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let ctx = ctx.clone();
        handles.push(tokio::spawn(async move {
            let mut rng =
                Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1).wrapping_mul(0x1234_5678_9abc));
            let mut buf = String::with_capacity(16 * 1024);
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 20);
            let mut bytes = 0usize;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                bytes += one(&ctx, side, q, &mut rng, &mut buf).await?;
                lat.push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                // Share the worker threads as the service's tasks do.
                tokio::task::yield_now().await;
            }
            Ok::<_, anyhow::Error>((lat, bytes))
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        let (lat, _bytes) = h.await??;
        all.extend(lat);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |n| *n as f64 / 1000.0)
    };
    Ok(Stats {
        qps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    })
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` builds and runs benches too: nothing to do.
        return Ok(());
    }
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL is not set")?;
    let secs: f64 = env_or("QE_SECONDS", 10.0);
    let samples: usize = env_or("QE_SAMPLES", 200);
    let concurrency: Vec<usize> = std::env::var("QE_CONCURRENCY")
        .unwrap_or_else(|_| "2,4".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .filter(|c| *c > 0)
        .collect();
    let max_conc = concurrency.iter().copied().max().unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let pool = PgPoolOptions::new()
            .max_connections(max_conc as u32 + 1)
            .connect(&url)
            .await?;
        // Load the layers as `citygrid serve` does.
        let t = Instant::now();
        let metas = catalog::load(&pool).await?;
        let store = LayerStore::new(64 << 20);
        store.sync(&pool, &metas).await;
        for id in [POI, BLDG, "unit_grids", "communities", "streets", "admin_divisions"] {
            let n = store.get(id).map_or(0, |l| l.len());
            if n == 0 {
                bail!("layer {id} is not loaded (run benches/query_vs_postgis.sh)");
            }
            print!("{id} {n}  ");
        }
        println!("(loaded in {:.1} s)", t.elapsed().as_secs_f64());
        let ctx = Arc::new(Ctx { store, pool });
        check(&ctx, samples).await?;
        println!(
            "\n{} worker threads, {secs} s per run, load average {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split(' ')
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
        println!("\n| query | tasks | citygrid q/s | p50 | p99 | PostGIS q/s | p50 | p99 | ratio (q/s) |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for q in [Query::Locate, Query::Nearest, Query::Items] {
            for &n in &concurrency {
                // Warm both sides briefly (caches, prepared statements).
                measure(ctx.clone(), Side::Memory, q, n, 0.3).await?;
                measure(ctx.clone(), Side::Postgis, q, n, 0.3).await?;
                let m = measure(ctx.clone(), Side::Memory, q, n, secs).await?;
                let p = measure(ctx.clone(), Side::Postgis, q, n, secs).await?;
                println!(
                    "| {} | {n} | {:.0} | {:.1} µs | {:.1} µs | {:.0} | {:.1} µs | {:.1} µs | {:.1}× |",
                    q.name(),
                    m.qps,
                    m.p50_us,
                    m.p99_us,
                    p.qps,
                    p.p50_us,
                    p.p99_us,
                    m.qps / p.qps.max(1e-9)
                );
            }
        }
        Ok(())
    })
}

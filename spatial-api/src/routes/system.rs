//! `/health`, `/metrics`, `/catalog` and the route table.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::Principal;
use crate::catalog::{LayerMeta, Registry};
use crate::error::ApiResult;
use crate::layers::LayerStore;
use crate::state::AppState;

/// `GET /health`: `{"status": "ok"|"degraded", "db": "ok"|"down"}`, always 200 so
/// that the body can be read; `degraded` means reads are served from memory and
/// writes are refused until the database is back. It answers at once from the state
/// the service tracks (a ping every 2 s, and every request that could not reach the
/// database); `db_checked_at` says when that was. `calendar_arrangement_missing` lists
/// the years whose holiday arrangement is not imported (this year, and next year from
/// 60 days before it starts: deadlines then use the statutory days only), with a
/// `warnings` line for each.
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let db = crate::db_health::is_up();
    let missing = missing_arrangements(&state, db).await;
    let warnings: Vec<String> = missing
        .iter()
        .map(|y| {
            format!(
                "no holiday arrangement imported for {y}: deadlines in {y} use the statutory holidays only (citygrid calendar import FILE)"
            )
        })
        .collect();
    Json(json!({
        "status": if db { "ok" } else { "degraded" },
        "db": if db { "ok" } else { "down" },
        "db_checked_at": crate::db_health::observed_at(),
        "layers": state.catalog.layers().len(),
        "version": env!("CARGO_PKG_VERSION"),
        "calendar_arrangement_missing": missing,
        "warnings": warnings,
    }))
}

/// The years missing a holiday arrangement, when the database answers (1 s at most).
async fn missing_arrangements(state: &AppState, db: bool) -> Vec<i32> {
    if !db {
        return Vec::new();
    }
    let years = crate::mgmt::holidays::missing_years(state);
    match tokio::time::timeout(std::time::Duration::from_secs(1), years).await {
        Ok(Ok(years)) => years,
        _ => Vec::new(),
    }
}

/// A figure of a layer in memory.
type LayerGauge = fn(&crate::layers::LoadedLayer) -> usize;

/// The replication lines of `/metrics` (only with `database_read_urls`): the server
/// the write pool reaches, each standby's replay lag, and where layer reads went.
fn render_replication(out: &mut String, reads: &citygrid_store::replication::ReadSource) {
    use std::fmt::Write;
    use std::sync::atomic::Ordering;
    if !reads.has_standbys() {
        return;
    }
    let status = reads.status();
    let label = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let _ = writeln!(
        out,
        "# HELP citygrid_db_primary The server the write pool reaches (1 when it accepts writes).\n\
         # TYPE citygrid_db_primary gauge\n\
         citygrid_db_primary{{server=\"{}\"}} {}",
        label(status.primary.as_deref().unwrap_or("unreachable")),
        u8::from(status.primary_writable)
    );
    out.push_str(
        "# HELP citygrid_db_standby_up Whether the standby answers.\n# TYPE citygrid_db_standby_up gauge\n",
    );
    for s in &status.standbys {
        let _ = writeln!(
            out,
            "citygrid_db_standby_up{{standby=\"{}\"}} {}",
            label(&s.url),
            u8::from(s.up)
        );
    }
    out.push_str(
        "# HELP citygrid_db_standby_lag_bytes WAL the standby has still to replay.\n# TYPE citygrid_db_standby_lag_bytes gauge\n",
    );
    for s in &status.standbys {
        if let Some(b) = s.lag_bytes {
            let _ = writeln!(
                out,
                "citygrid_db_standby_lag_bytes{{standby=\"{}\"}} {b}",
                label(&s.url)
            );
        }
    }
    out.push_str(
        "# HELP citygrid_db_standby_lag_seconds Age of the last transaction the standby replayed.\n# TYPE citygrid_db_standby_lag_seconds gauge\n",
    );
    for s in &status.standbys {
        if let Some(l) = s.lag_seconds {
            let _ = writeln!(
                out,
                "citygrid_db_standby_lag_seconds{{standby=\"{}\"}} {l:.3}",
                label(&s.url)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP citygrid_layer_reads_total Layer loads after a change, by where they read.\n\
         # TYPE citygrid_layer_reads_total counter\n\
         citygrid_layer_reads_total{{from=\"standby\"}} {}\n\
         citygrid_layer_reads_total{{from=\"primary_fallback\"}} {}",
        reads.standby_reads.load(Ordering::Relaxed),
        reads.primary_fallbacks.load(Ordering::Relaxed)
    );
}

/// `GET /metrics`: Prometheus text format: requests and latencies by route, the tile
/// cache, the recent tile encodings, resident memory (Linux), the layers in memory, the database pool, the outbox, cases reported by
/// source, webhook attempts, build information.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write;
    let mut out = String::new();
    state.metrics.render(&mut out);
    state.metrics.render_counters(&mut out);
    let up = crate::db_health::is_up();
    let _ = writeln!(
        out,
        "# HELP citygrid_build_info The running build.\n# TYPE citygrid_build_info gauge\n\
         citygrid_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str("# HELP citygrid_db_up Whether PostGIS answers.\n# TYPE citygrid_db_up gauge\n");
    out.push_str(&format!("citygrid_db_up {}\n", u8::from(up)));
    render_replication(&mut out, &state.reads);
    let pool_size = state.pool.size();
    let idle = u32::try_from(state.pool.num_idle()).unwrap_or(u32::MAX);
    let _ = writeln!(
        out,
        "# HELP citygrid_db_pool_connections Connections of the pool, by state.\n\
         # TYPE citygrid_db_pool_connections gauge\n\
         citygrid_db_pool_connections{{state=\"in_use\"}} {}\n\
         citygrid_db_pool_connections{{state=\"idle\"}} {idle}\n\
         # HELP citygrid_db_pool_max_connections The pool's bound.\n\
         # TYPE citygrid_db_pool_max_connections gauge\n\
         citygrid_db_pool_max_connections {}\n\
         # HELP citygrid_db_pool_acquire_wait_seconds How long the last health ping waited for a connection.\n\
         # TYPE citygrid_db_pool_acquire_wait_seconds gauge\n\
         citygrid_db_pool_acquire_wait_seconds {}",
        pool_size.saturating_sub(idle),
        state.config.db_max_connections,
        crate::db_health::acquire_wait_seconds()
    );
    out.push_str("# HELP citygrid_layers Layers in the catalogue.\n# TYPE citygrid_layers gauge\n");
    out.push_str(&format!(
        "citygrid_layers {}\n",
        state.catalog.layers().len()
    ));
    let mut loaded = state.layers.all();
    loaded.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    let gauges: [(&str, &str, LayerGauge); 2] = [
        (
            "citygrid_layer_features",
            "Features of a layer in memory.",
            |l| l.len(),
        ),
        (
            "citygrid_layer_memory_bytes",
            "Memory of a layer's index.",
            |l| l.memory_bytes(),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for l in &loaded {
            let _ = writeln!(out, "{name}{{layer=\"{}\"}} {}", l.meta.id, value(l));
        }
    }
    let _ = writeln!(
        out,
        "# HELP citygrid_layer_repacks_total Times a layer's index was packed again after its edits (since it was loaded).\n\
         # TYPE citygrid_layer_repacks_total counter"
    );
    for l in &loaded {
        let _ = writeln!(
            out,
            "citygrid_layer_repacks_total{{layer=\"{}\"}} {}",
            l.meta.id,
            l.repacks()
        );
    }
    out.push_str(
        &state
            .layers
            .tiles
            .stats()
            .to_prometheus("citygrid_tile_cache"),
    );
    let (recent_entries, recent_bytes) = state.tile_flights.held_now();
    let _ = writeln!(
        out,
        "# HELP citygrid_tile_recent_entries Tiles in the table of recent vector tile encodings.\n\
         # TYPE citygrid_tile_recent_entries gauge\n\
         citygrid_tile_recent_entries {recent_entries}\n\
         # HELP citygrid_tile_recent_bytes Bytes of finished encodings held by that table (beside tile_cache_bytes).\n\
         # TYPE citygrid_tile_recent_bytes gauge\n\
         citygrid_tile_recent_bytes {recent_bytes}"
    );
    if let Some(rss) = crate::metrics::resident_memory_bytes() {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\n\
             process_resident_memory_bytes {rss}"
        );
    }
    let missing = missing_arrangements(&state, up).await;
    let _ = writeln!(
        out,
        "# HELP citygrid_calendar_arrangement_missing A year (this one, or the next from 60 days before it) without an imported holiday arrangement: its deadlines use the statutory holidays only.\n\
         # TYPE citygrid_calendar_arrangement_missing gauge"
    );
    for y in missing {
        let _ = writeln!(
            out,
            "citygrid_calendar_arrangement_missing{{year=\"{y}\"}} 1"
        );
    }
    // The outbox, when the database answers (bounded: one indexed count, 1 s at most).
    if up {
        let backlog = citygrid_store::outbox::backlog(&state.pool);
        if let Ok(Ok((pending, failing))) =
            tokio::time::timeout(std::time::Duration::from_secs(1), backlog).await
        {
            let _ = writeln!(
                out,
                "# HELP citygrid_outbox_pending Webhook deliveries not yet acknowledged.\n\
                 # TYPE citygrid_outbox_pending gauge\n\
                 citygrid_outbox_pending {pending}\n\
                 # HELP citygrid_outbox_failing Pending deliveries whose last attempt failed.\n\
                 # TYPE citygrid_outbox_failing gauge\n\
                 citygrid_outbox_failing {failing}"
            );
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// A catalogue entry with the feature count of the loaded layer: the catalogue row is
/// written by imports, while layers that change all day (cases) are counted live.
/// Its bounds too are those of the features in memory.
pub fn with_live_count(layers: &LayerStore, meta: &LayerMeta) -> LayerMeta {
    let mut meta = meta.clone();
    if let Some(layer) = layers.get(&meta.id) {
        meta.feature_count = i64::try_from(layer.len()).unwrap_or(i64::MAX);
        meta.bounds = crate::home::layer_bounds(layers, &meta).map(|b| b.to_vec());
    }
    meta
}

/// `GET /catalog`: every layer the caller may read.
pub async fn catalog(
    State(catalog): State<Arc<Registry>>,
    State(store): State<Arc<LayerStore>>,
    principal: Principal,
) -> Json<Value> {
    let layers: Vec<_> = catalog
        .layers()
        .iter()
        .filter(|l| catalog.may_read(&principal, &l.id))
        .map(|l| catalog.entry_json(&with_live_count(&store, l)))
        .collect();
    Json(json!({ "layers": layers }))
}

/// `GET /catalog/{id}`: one layer (404 when unknown or when the caller may not read it).
pub async fn catalog_layer(
    State(catalog): State<Arc<Registry>>,
    State(store): State<Arc<LayerStore>>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    // The same 404 for a layer the caller may not read as for one that does not
    // exist, so that a caller cannot learn which other layers exist.
    catalog.require_readable(&principal, &id)?;
    let layer = catalog
        .get(&id)
        .ok_or_else(|| crate::catalog::not_found(&id))?;
    Ok(Json(catalog.entry_json(&with_live_count(&store, &layer))))
}

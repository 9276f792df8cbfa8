//! The fault test of issue 24, on loopback, bounded in time, stopping by itself:
//! `scripts/cluster.sh up` (etcd, two Patroni PostgreSQL nodes with a synchronous
//! standby, HAProxy in front of PostgreSQL and of two citygrid servers, the sample
//! city loaded), load through the balancer (tiles, OGC queries and 50 cases/s with
//! Idempotency-Keys, retried as the inspector page's outbox does), then `kill -9` of
//! the primary (its Patroni and its postmaster). Measured and checked: the time
//! until writes succeed again (≤ 15 s), tile and query errors during the failover
//! (0: they are served from memory), writes refused meanwhile with 503 and
//! `Retry-After` (never a 500), acknowledged cases missing afterwards (0), and the
//! new primary shown in `/metrics`.

mod common;

use common::tiles::tile_at;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Ports of this test's cluster (apart from a developer's `make cluster`).
const PORTS: &[(&str, &str)] = &[
    ("CLUSTER_PORT", "18190"),
    ("CLUSTER_PG1", "15441"),
    ("CLUSTER_PG2", "15442"),
    ("CLUSTER_API1", "18108"),
    ("CLUSTER_API2", "18109"),
    ("CLUSTER_ETCD", "23890"),
    ("CLUSTER_ETCD_PEER", "23900"),
    ("CLUSTER_PG_WRITE", "15500"),
    ("CLUSTER_PG_READ", "15501"),
    ("CLUSTER_WEB1", "18191"),
    ("CLUSTER_WEB2", "18192"),
];
const BASE: &str = "http://127.0.0.1:18190";
const WRITE_URL: &str = "postgres://postgres:citygrid-cluster@127.0.0.1:15500/citygrid";

fn cluster(action: &str) -> (bool, String) {
    let dir = common::root().join("target").join("test-cluster");
    let mut cmd = Command::new(common::root().join("scripts").join("cluster.sh"));
    cmd.arg(action)
        .env("CLUSTER_DIR", &dir)
        .env("CITYGRID_BIN", common::citygrid_bin());
    for (k, v) in PORTS {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run scripts/cluster.sh");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs SQL on one PostgreSQL node directly (not through HAProxy).
fn psql(port: &str, sql: &str) -> String {
    let out = Command::new("/usr/lib/postgresql/15/bin/psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-At",
            "-c",
            sql,
            "citygrid",
        ])
        .env("PGPASSWORD", "citygrid-cluster")
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The name of POI `fid` in the in-memory `osm_pois` layer of the server on `port`.
async fn poi_name(client: &reqwest::Client, port: u16, fid: i64) -> Option<String> {
    let r = client
        .get(format!(
            "http://127.0.0.1:{port}/ogc/collections/osm_pois/items/{fid}"
        ))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let v: Value = r.json().await.ok()?;
    Some(v["properties"]["name"].as_str().unwrap_or("").to_owned())
}

/// The name of feature `fid` in the tile `z/x/y` of layer `db_pois` (served from the
/// database) made by the server on `port`.
async fn db_poi_name(
    client: &reqwest::Client,
    port: u16,
    (z, x, y): (u32, u32, u32),
    fid: i64,
) -> Option<String> {
    let r = client
        .get(format!(
            "http://127.0.0.1:{port}/tiles/db_pois/{z}/{x}/{y}.mvt"
        ))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let bytes = r.bytes().await.ok()?;
    let layers = citygrid_tiles::decode::decode(&bytes).ok()?;
    let layer = layers.iter().find(|l| l.name == "db_pois")?;
    let feature = layer.features.iter().find(|f| f.id == Some(fid as u64))?;
    let props = layer.props(feature).ok()?;
    props
        .into_iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.to_string())
}

/// The coherence check: with the standby's replay stopped (it lags for ever), an
/// edit committed on the primary with its change notice (as the editing API and
/// the importers announce them) reaches both servers' memory — read from the
/// primary once the standby has not caught up within the bound — and, once seen,
/// the old version never comes back.
async fn coherence_with_a_paused_standby(client: &reqwest::Client) {
    let (primary, standby) = if primary_node() == Some("node1") {
        ("15441", "15442")
    } else {
        ("15442", "15441")
    };
    let fid: i64 = psql(primary, "SELECT min(fid) FROM layers.osm_pois")
        .parse()
        .expect("a POI");
    let before = psql(
        primary,
        &format!("SELECT coalesce(name, '') FROM layers.osm_pois WHERE fid = {fid}"),
    );
    for port in [18191u16, 18192] {
        assert_eq!(
            poi_name(client, port, fid).await.as_deref(),
            Some(before.as_str())
        );
    }
    // A copy of the POI as a layer served from the database (`serve_from =
    // database`, tiles by PostGIS on the standby): its tiles must follow the edit too.
    psql(
        primary,
        &format!(
            "BEGIN; CREATE TABLE layers.db_pois AS SELECT fid, geom, name FROM layers.osm_pois \
             WHERE fid = {fid}; ALTER TABLE layers.db_pois ADD PRIMARY KEY (fid); \
             INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, serve_from) \
             VALUES ('db_pois', 'db_pois', 'vector', 'Point', '[{{\"name\":\"name\",\"type\":\"text\"}}]', 1, 'database'); \
             SELECT pg_notify('citygrid_layers', 'db_pois'); COMMIT;"
        ),
    );
    let lonlat = psql(
        primary,
        &format!("SELECT ST_X(geom) || ',' || ST_Y(geom) FROM layers.db_pois WHERE fid = {fid}"),
    );
    let (lon, lat) = lonlat.split_once(',').expect("lon,lat");
    let db_tile = tile_at(lon.parse().unwrap(), lat.parse().unwrap(), 16);
    for port in [18191u16, 18192] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while db_poi_name(client, port, db_tile, fid).await.as_deref() != Some(before.as_str()) {
            assert!(
                Instant::now() < deadline,
                ":{port} never served the db_pois tile"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Lag injected by stopping the standby's startup (WAL replay) process: it keeps
    // receiving and flushing WAL (the synchronous commit still returns) but replays
    // nothing. (`pg_wal_replay_pause()` does not hold: Patroni resumes a paused
    // replay on PostgreSQL 14+.)
    let standby_node = if standby == "15442" { "node2" } else { "node1" };
    let postmaster =
        std::fs::read_to_string(dir().join(standby_node).join("data").join("postmaster.pid"))
            .expect("standby postmaster.pid");
    let postmaster = postmaster.lines().next().unwrap_or("").trim().to_string();
    let startup = String::from_utf8_lossy(
        &Command::new("pgrep")
            .args(["-P", &postmaster, "-f", "startup"])
            .output()
            .expect("pgrep")
            .stdout,
    )
    .trim()
    .to_string();
    assert!(
        !startup.is_empty(),
        "no startup process under postmaster {postmaster}"
    );
    assert!(Command::new("kill")
        .args(["-STOP", &startup])
        .status()
        .unwrap()
        .success());
    let after = format!("coherence {}", rand::random::<u32>());
    psql(
        primary,
        &format!(
            "BEGIN; UPDATE layers.osm_pois SET name = '{after}' WHERE fid = {fid}; \
             UPDATE layers.db_pois SET name = '{after}' WHERE fid = {fid}; \
             SELECT pg_notify('citygrid_layers', 'osm_pois:{fid}'); \
             SELECT pg_notify('citygrid_layers', 'db_pois:{fid}'); COMMIT;"
        ),
    );
    // the standby really lags: it still has the old name
    assert_eq!(
        psql(
            standby,
            &format!("SELECT coalesce(name, '') FROM layers.osm_pois WHERE fid = {fid}")
        ),
        before
    );
    for port in [18191u16, 18192] {
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut seen_new = false;
        let watch_until = Instant::now() + Duration::from_secs(4);
        loop {
            let s = poi_name(client, port, fid).await;
            if s.as_deref() == Some(after.as_str()) {
                seen_new = true;
            } else if seen_new {
                panic!(":{port} served POI {fid} as {s:?} after it had served {after:?}");
            }
            if seen_new && Instant::now() > watch_until {
                break;
            }
            assert!(
                Instant::now() < deadline,
                ":{port} never served the edit (standby replay stopped)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The tile of the layer served from the database: the new name (read from the
        // primary after the bounded wait), never the old one once seen.
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut seen_new = false;
        let watch_until = Instant::now() + Duration::from_secs(3);
        loop {
            let s = db_poi_name(client, port, db_tile, fid).await;
            if s.as_deref() == Some(after.as_str()) {
                seen_new = true;
            } else if seen_new {
                panic!(":{port} tiled db_pois {fid} as {s:?} after {after:?}");
            }
            if seen_new && Instant::now() > watch_until {
                break;
            }
            assert!(
                Instant::now() < deadline,
                ":{port} never tiled the edit from the database (standby replay stopped)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let metrics = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("citygrid_layer_reads_total{from=\"primary_fallback\"} 1"),
            "the edit was not read from the primary after the bounded wait:\n{metrics}"
        );
    }
    assert!(Command::new("kill")
        .args(["-CONT", &startup])
        .status()
        .unwrap()
        .success());
}

/// Takes the cluster down however the test ends.
struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        let _ = cluster("down");
    }
}

fn dir() -> std::path::PathBuf {
    common::root().join("target").join("test-cluster")
}

/// The Patroni node that is primary now (`node1`/`node2`).
fn primary_node() -> Option<&'static str> {
    for (node, port) in [("node1", 18108), ("node2", 18109)] {
        let ok = Command::new("curl")
            .args([
                "-sf",
                "-o",
                "/dev/null",
                &format!("http://127.0.0.1:{port}/primary"),
            ])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(node);
        }
    }
    None
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn primary_killed_under_load() {
    for tool in ["patroni", "etcd", "haproxy"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .status()
                .is_ok_and(|s| s.success()),
            "{tool} is missing: run scripts/install-deps.sh"
        );
    }
    let _ = cluster("down");
    let _down = Down;
    let (ok, log) = cluster("up");
    assert!(ok, "cluster up failed:\n{log}");
    println!("{log}");
    let first = primary_node().expect("a primary");

    // an acceptor takes hotline reports
    let password = format!("pw-failover-{}", rand::random::<u32>());
    let mut add = Command::new(common::citygrid_bin());
    add.env("DATABASE_URL", WRITE_URL)
        .env("CITYGRID_HOME", dir().join("cli"));
    common::add_user_with(add, "hotline", "acceptor", None, &password);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let login: Value = client
        .post(format!("{BASE}/api/auth/login"))
        .json(&json!({"username": "hotline", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("token").to_string();
    // the layers the test reads are loaded on both servers (they load side by side,
    // so one being ready says nothing of the other)
    for (port, layer) in [18191, 18192]
        .into_iter()
        .flat_map(|port| ["osm_roads", "osm_pois"].map(|layer| (port, layer)))
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = client
                .get(format!(
                    "http://127.0.0.1:{port}/ogc/collections/{layer}/items?limit=1"
                ))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if s == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{layer} never loaded on :{port}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    coherence_with_a_paused_standby(&client).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tiles = Arc::new(Tally::default());
    let queries = Arc::new(Tally::default());
    let started = Instant::now();
    let mut tasks = Vec::new();
    // tiles: z13–z16 over central Helsinki, distinct and repeated
    for worker in 0..2u32 {
        let (stop, tally, client) = (Arc::clone(&stop), Arc::clone(&tiles), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                let z = 13 + i % 4;
                let n = 1u32 << z;
                let x = ((24.945 + 180.0) / 360.0 * n as f64) as u32 + i % 3;
                let lat = 60.17f64.to_radians();
                let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0
                    * n as f64) as u32
                    + (i / 3) % 3;
                let layer = ["osm_roads", "osm_buildings", "components"][(i % 3) as usize];
                let r = client
                    .get(format!("{BASE}/tiles/{layer}/{z}/{x}/{y}"))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => tally.ok.fetch_add(1, Ordering::Relaxed),
                    Ok(r) => {
                        eprintln!("tile {layer}/{z}/{x}/{y}: {}", r.status());
                        tally.errors.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => {
                        eprintln!("tile: {e}");
                        tally.errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
                i += 2;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    // queries: OGC items in boxes
    {
        let (stop, tally, client) = (Arc::clone(&stop), Arc::clone(&queries), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let w = 24.935 + (i % 10) as f64 * 0.0015;
                let url = format!(
                    "{BASE}/ogc/collections/osm_pois/items?bbox={w},60.165,{},60.175&limit=20",
                    w + 0.003
                );
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => tally.ok.fetch_add(1, Ordering::Relaxed),
                    Ok(r) => {
                        eprintln!("query: {}", r.status());
                        tally.errors.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => {
                        eprintln!("query: {e}");
                        tally.errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    // writes: 50 cases/s; a refused report keeps its key and is sent again later
    // (the inspector page's outbox), so every report ends acknowledged
    #[derive(Default)]
    struct Writes {
        acked: Vec<(String, i64)>,
        pending: Vec<String>,
        refused_503: u64,
        retry_after_missing: u64,
        server_errors: u64,
        first_ok_after_kill: Option<Duration>,
    }
    let writes = Arc::new(Mutex::new(Writes::default()));
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let next_key = Arc::new(AtomicU64::new(0));
    for _ in 0..4 {
        let (stop, writes, client, token, killed_at, next_key) = (
            Arc::clone(&stop),
            Arc::clone(&writes),
            client.clone(),
            token.clone(),
            Arc::clone(&killed_at),
            Arc::clone(&next_key),
        );
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(80));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let retry = writes.lock().unwrap().pending.pop();
                let key = retry.unwrap_or_else(|| {
                    format!("failover-{}", next_key.fetch_add(1, Ordering::Relaxed))
                });
                let sent = Instant::now();
                let n = key.len() as f64;
                let r = client
                    .post(format!("{BASE}/api/cases"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &key)
                    .json(&json!({
                        "category": "P0101",
                        "lon": 24.936 + (n % 7.0) * 0.0003,
                        "lat": 60.1785,
                        "description": format!("failover report {key}"),
                    }))
                    .send()
                    .await;
                let outcome = match r {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let retry_after = r.headers().get("retry-after").is_some();
                        let body: Value = if status == 200 || status == 201 {
                            r.json().await.unwrap_or(Value::Null)
                        } else {
                            Value::String(r.text().await.unwrap_or_default())
                        };
                        Some((status, retry_after, body))
                    }
                    Err(e) => {
                        eprintln!("write {key}: {e}");
                        None
                    }
                };
                let kill = *killed_at.lock().unwrap();
                let mut w = writes.lock().unwrap();
                match outcome {
                    Some((200 | 201, _, body)) => {
                        if let Some(k) = kill {
                            if sent > k && w.first_ok_after_kill.is_none() {
                                w.first_ok_after_kill = Some(k.elapsed());
                            }
                        }
                        let id = body["id"].as_i64().unwrap_or(-1);
                        w.acked.push((key, id));
                    }
                    Some((503, retry_after, _)) => {
                        w.refused_503 += 1;
                        if !retry_after {
                            w.retry_after_missing += 1;
                        }
                        w.pending.push(key);
                    }
                    Some((status, _, body)) => {
                        if status >= 500 {
                            w.server_errors += 1;
                        }
                        eprintln!("write {key}: {status} {body}");
                        w.pending.push(key);
                    }
                    None => w.pending.push(key),
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(6)).await;
    let before = writes.lock().unwrap().acked.len();
    assert!(
        before > 100,
        "only {before} cases acknowledged before the fault"
    );
    // kill -9 the primary: its Patroni (no clean hand-over) and its postmaster
    let node = primary_node().expect("a primary");
    assert_eq!(node, first);
    let patroni_pid = std::fs::read_to_string(dir().join(format!("{node}.pid"))).unwrap();
    let postmaster =
        std::fs::read_to_string(dir().join(node).join("data").join("postmaster.pid")).unwrap();
    let postmaster_pid = postmaster.lines().next().unwrap().trim().to_string();
    *killed_at.lock().unwrap() = Some(Instant::now());
    let killed = Command::new("kill")
        .args(["-9", patroni_pid.trim(), &postmaster_pid])
        .status()
        .unwrap();
    assert!(killed.success());
    println!("killed {node} (patroni {patroni_pid}, postmaster {postmaster_pid})");
    // until writes succeed again (at most 60 s), then 5 s more of load
    let deadline = Instant::now() + Duration::from_secs(60);
    while writes.lock().unwrap().first_ok_after_kill.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    // drain the reports still waiting to be sent
    let drain = Instant::now() + Duration::from_secs(20);
    while !writes.lock().unwrap().pending.is_empty() && Instant::now() < drain {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let w = std::mem::take(&mut *writes.lock().unwrap());
    let recovery = w.first_ok_after_kill.expect("writes never succeeded again");
    println!(
        "load {:.0} s: tiles {} ok / {} errors, queries {} ok / {} errors, cases acknowledged {}, \
         503s {} (without Retry-After {}), 5xx other {}, writes back after {:.1} s, new primary {:?}",
        started.elapsed().as_secs_f64(),
        tiles.ok.load(Ordering::Relaxed),
        tiles.errors.load(Ordering::Relaxed),
        queries.ok.load(Ordering::Relaxed),
        queries.errors.load(Ordering::Relaxed),
        w.acked.len(),
        w.refused_503,
        w.retry_after_missing,
        w.server_errors,
        recovery.as_secs_f64(),
        primary_node()
    );
    assert!(
        w.pending.is_empty(),
        "{} reports never acknowledged",
        w.pending.len()
    );
    assert_eq!(
        tiles.errors.load(Ordering::Relaxed),
        0,
        "tile errors during failover"
    );
    assert_eq!(
        queries.errors.load(Ordering::Relaxed),
        0,
        "query errors during failover"
    );
    assert_eq!(
        w.server_errors, 0,
        "writes answered with a 5xx other than 503"
    );
    assert_eq!(w.retry_after_missing, 0, "a 503 without Retry-After");
    assert!(
        recovery <= Duration::from_secs(15),
        "writes back after {recovery:?} (target 15 s)"
    );
    // every acknowledged case is in the new primary
    let pool = sqlx::PgPool::connect(WRITE_URL).await.expect("new primary");
    let keys: Vec<String> = w
        .acked
        .iter()
        .map(|(k, _)| format!("failover report {k}"))
        .collect();
    let found: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT description) FROM cases WHERE description = ANY($1)",
    )
    .bind(&keys)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        found as usize,
        keys.len(),
        "acknowledged cases missing after the failover"
    );
    let dupes: i64 = sqlx::query_scalar(
        "SELECT count(*) - count(DISTINCT description) FROM cases WHERE description LIKE 'failover report %'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(dupes, 0, "a retried report was stored twice");
    // /metrics on each server names the new primary
    let new_port = if first == "node1" { "15442" } else { "15441" };
    for port in [18191, 18192] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = client
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if m.contains(&format!(
                "citygrid_db_primary{{server=\"127.0.0.1:{new_port}\"}} 1"
            )) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "metrics of :{port} never named the new primary:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

//! Layers served from the database (`serve_from = database`, issue 24), against a
//! real server on a real PostGIS: a layer switched to the database is no longer held
//! in memory (after a restart too); its tiles, made by PostGIS with `ST_AsMVT`, carry
//! the same features (ids, property keys and values, positions within a tile unit) as
//! the tiles the in-memory index made; a second request is a cache hit; an edit shows
//! after its change notice; access rules and the routes that need memory answer as
//! documented; the command line and the admin API refuse bad input in one line.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use citygrid_tiles::decode::{decode, geometry, Geometry};
use common::tiles::tile_at;
use common::{cli_ok, cli_refused, http, TestDb, TestServer};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";
const LON: f64 = 114.3055;
const LAT: f64 = 30.5928;
const Z: u32 = 15;
const BIG: &str = "big_pois";
const SMALL: &str = "small_pois";

async fn sql(db: &TestDb, statement: &str) {
    sqlx::query(statement)
        .execute(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// A point layer `id` of `n` features spread over a few hundred metres of the test
/// spot, with a text, an integer and a double field.
async fn make_layer(db: &TestDb, id: &str, n: u32) {
    sql(
        db,
        &format!(
            "CREATE TABLE layers.\"{id}\" AS SELECT g AS fid, \
             ST_SetSRID(ST_MakePoint({LON} + (g % 10) * 0.0003, {LAT} + (g / 10) * 0.0003), 4326) AS geom, \
             'p ' || g AS name, g AS rank, g * 1.5 AS score FROM generate_series(1, {n}) g"
        ),
    )
    .await;
    sql(
        db,
        &format!("ALTER TABLE layers.\"{id}\" ADD PRIMARY KEY (fid)"),
    )
    .await;
    sql(
        db,
        &format!("CREATE INDEX ON layers.\"{id}\" USING gist (geom)"),
    )
    .await;
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         VALUES ($1, $1, 'vector', 'Point', \
                 '[{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"rank\",\"type\":\"integer\"},{\"name\":\"score\",\"type\":\"numeric\"}]'::jsonb, \
                 $2, ARRAY[$3, $4, $3 + 0.003, $4 + 0.003])",
    )
    .bind(id)
    .bind(i64::from(n))
    .bind(LON)
    .bind(LAT)
    .execute(&db.pool)
    .await
    .expect("catalogue row");
}

/// A decoded feature: its property map and its point in tile units.
type Features = BTreeMap<u64, (BTreeMap<String, String>, (i64, i64))>;

/// The features of layer `name` in a tile.
fn features_of(bytes: &[u8], name: &str) -> Features {
    let layers = decode(bytes).expect("a tile that decodes");
    let layer = layers
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("layer {name} in the tile"));
    assert_eq!(layer.extent, 4096);
    layer
        .features
        .iter()
        .map(|f| {
            let props = layer
                .props(f)
                .expect("properties")
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect();
            let point = match geometry(f).expect("geometry") {
                Geometry::Points(p) => p[0],
                other => panic!("a point, not {other:?}"),
            };
            (f.id.expect("a feature id"), (props, point))
        })
        .collect()
}

async fn tile(server: &TestServer, ids: &str) -> reqwest::Response {
    let (z, x, y) = tile_at(LON + 0.0012, LAT + 0.0012, Z);
    http()
        .get(server.url(&format!("/tiles/{ids}/{z}/{x}/{y}.mvt")))
        .send()
        .await
        .expect("tile request")
}

async fn tile_bytes(server: &TestServer, ids: &str) -> Vec<u8> {
    let r = tile(server, ids).await;
    assert_eq!(r.status(), 200, "tile of {ids}");
    r.bytes().await.expect("tile body").to_vec()
}

/// Polls `check` (up to 15 s) until it holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn catalog_entry(server: &TestServer, id: &str) -> Value {
    http()
        .get(server.url(&format!("/catalog/{id}")))
        .send()
        .await
        .expect("catalog")
        .json()
        .await
        .expect("catalog json")
}

async fn items_status(server: &TestServer, id: &str) -> (u16, String) {
    let r = http()
        .get(server.url(&format!("/ogc/collections/{id}/items?limit=1")))
        .send()
        .await
        .expect("items");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_served_from_the_database() {
    let db = TestDb::new().await;
    make_layer(&db, BIG, 60).await;
    make_layer(&db, SMALL, 5).await;
    common::add_user(&db, "root", "admin", None, PASSWORD);

    // Served from memory first: the reference tile.
    let server = TestServer::start(&db);
    eventually("the layer loads", || async {
        tile(&server, BIG).await.status() == 200
    })
    .await;
    let memory = features_of(&tile_bytes(&server, BIG).await, BIG);
    assert!(
        memory.len() >= 10,
        "the reference tile has the features: {memory:?}"
    );
    assert_eq!(catalog_entry(&server, BIG).await["serve_from"], "memory");
    assert_eq!(items_status(&server, BIG).await.0, 200);

    // The command line: bad input in one line, then the switch.
    cli_refused(
        &db,
        &["layer", "set-serve-from", "nope", "database"],
        "no layer \"nope\"",
    );
    cli_refused(
        &db,
        &["layer", "set-serve-from", BIG, "disk"],
        "serve_from is memory or database, not \"disk\"",
    );
    cli_refused(
        &db,
        &["layer", "set-serve-from", "Bad Id", "database"],
        "is not a layer id",
    );
    let out = cli_ok(&db, &["layer", "set-serve-from", BIG, "database"]);
    assert!(out.contains("big_pois: serve from database"), "{out}");
    let list = cli_ok(&db, &["layer", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("big_pois\tvector (from the database)")),
        "{list}"
    );
    let show = cli_ok(&db, &["layer", "show", BIG]);
    assert!(show.contains("serve from: database"), "{show}");

    // The running server follows the notice: the layer leaves memory (the routes that
    // need it say why), and its tiles come from PostGIS with the same features.
    eventually("the server takes serve_from = database", || async {
        catalog_entry(&server, BIG).await["serve_from"] == "database"
    })
    .await;
    let (status, body) = items_status(&server, BIG).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("served from the database"), "{body}");
    let from_db = features_of(&tile_bytes(&server, BIG).await, BIG);
    assert_same_features(&memory, &from_db);

    // Mixing with a layer served from memory is refused.
    let r = tile(&server, &format!("{BIG},{SMALL}")).await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap_or_default();
    assert!(body.contains("cannot be combined"), "{body}");

    // After a restart the layer is not loaded at all; its tiles are the same.
    assert!(server.terminate(), "the server stops cleanly");
    let server = TestServer::start(&db);
    eventually("the other layer loads", || async {
        tile(&server, SMALL).await.status() == 200
    })
    .await;
    let (status, _) = items_status(&server, BIG).await;
    assert_eq!(status, 409, "not loaded after a restart");
    let first = tile(&server, BIG).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers().get("etag").cloned().expect("an ETag");
    assert_same_features(&memory, &features_of(&first.bytes().await.unwrap(), BIG));
    let r = http()
        .get(server.url(&{
            let (z, x, y) = tile_at(LON + 0.0012, LAT + 0.0012, Z);
            format!("/tiles/{BIG}/{z}/{x}/{y}.mvt")
        }))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304, "ETag/304 as for memory layers");
    for (asked, sent) in [("gzip", "gzip"), ("br, gzip", "br")] {
        let (z, x, y) = tile_at(LON + 0.0012, LAT + 0.0012, Z);
        let r = http()
            .get(server.url(&format!("/tiles/{BIG}/{z}/{x}/{y}.mvt")))
            .header("accept-encoding", asked)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()
                .get("content-encoding")
                .and_then(|v| v.to_str().ok()),
            Some(sent),
            "compressed as memory tiles are, for {asked:?}"
        );
    }

    // The second request is a cache hit: a row deleted without a notice is still
    // in the tile; after the notice it is gone, and an edit with its notice shows.
    sql(&db, &format!("DELETE FROM layers.\"{BIG}\" WHERE fid = 2")).await;
    let cached = features_of(&tile_bytes(&server, BIG).await, BIG);
    assert!(cached.contains_key(&2), "served from the tile cache");
    sql(
        &db,
        &format!("UPDATE layers.\"{BIG}\" SET name = 'renamed' WHERE fid = 1"),
    )
    .await;
    sql(
        &db,
        &format!("SELECT pg_notify('citygrid_layers', '{BIG}:1,2')"),
    )
    .await;
    eventually("the edit shows after the notice", || async {
        let now = features_of(&tile_bytes(&server, BIG).await, BIG);
        !now.contains_key(&2) && now.get(&1).is_some_and(|(p, _)| p["name"] == "renamed")
    })
    .await;

    // Several layers served from the database combine into one tile (one MVT layer
    // each), with the features the in-memory tile of each had.
    let small_memory = features_of(&tile_bytes(&server, SMALL).await, SMALL);
    cli_ok(&db, &["layer", "set-serve-from", SMALL, "database"]);
    eventually("the second layer is served from the database", || async {
        catalog_entry(&server, SMALL).await["serve_from"] == "database"
    })
    .await;
    let both = tile_bytes(&server, &format!("{BIG},{SMALL}")).await;
    let names: Vec<String> = decode(&both).unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, [BIG, SMALL]);
    assert_same_features(&small_memory, &features_of(&both, SMALL));
    assert_eq!(
        features_of(&both, BIG),
        features_of(&tile_bytes(&server, BIG).await, BIG)
    );

    // The routes that need the layer in memory say why (OGC tiles go through the
    // collection too).
    let (z, x, y) = tile_at(LON + 0.0012, LAT + 0.0012, Z);
    let r = http()
        .get(server.url(&format!(
            "/ogc/collections/{BIG}/tiles/WebMercatorQuad/{z}/{y}/{x}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("served from the database"));

    // Access rules: a layer only admins may read is 404 to anonymous callers, and
    // its tiles are never handed to them from the cache.
    cli_ok(&db, &["layer", "set-access", BIG, "--read", "admins"]);
    eventually("the access change applies", || async {
        tile(&server, BIG).await.status() == 404
    })
    .await;
    let token: Value = http()
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "root", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().expect("a token").to_string();
    let (z, x, y) = tile_at(LON + 0.0012, LAT + 0.0012, Z);
    let r = http()
        .get(server.url(&format!("/tiles/{BIG}/{z}/{x}/{y}.mvt")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an admin reads it");
    assert!(r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("private")));

    // The admin API: bad bodies 422, unknown layer 404, then back to memory.
    let put = |body: Value, layer: &str| {
        http()
            .put(server.url(&format!("/api/admin/layers/{layer}/serve-from")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    assert_eq!(
        put(json!({"serve_from": "disk"}), BIG)
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(put(json!({"other": 1}), BIG).await.unwrap().status(), 422);
    assert_eq!(
        put(json!({"serve_from": "memory"}), "nope")
            .await
            .unwrap()
            .status(),
        404
    );
    let r = put(json!({"serve_from": "memory"}), BIG).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"layer": BIG, "serve_from": "memory"}));
    eventually("the layer is loaded into memory again", || async {
        let r = http()
            .get(server.url(&format!("/ogc/collections/{BIG}/items?limit=1")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        r.status() == 200
    })
    .await;

    // The size bound: a tile from the database over max_tile_bytes is refused, not
    // thinned (the second layer is still served from the database).
    let tight = TestServer::start_with(&db, &[("CITYGRID_MAX_TILE_BYTES", "64")]);
    let r = tile(&tight, SMALL).await;
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("max_tile_bytes"));
}

/// The same features (ids, properties) at the same places (within one tile unit:
/// PostGIS and the in-memory encoder may round a coordinate differently).
fn assert_same_features(memory: &Features, database: &Features) {
    assert_eq!(
        memory.keys().collect::<Vec<_>>(),
        database.keys().collect::<Vec<_>>(),
        "the same feature ids"
    );
    for (id, (props, (x, y))) in memory {
        let (db_props, (dx, dy)) = &database[id];
        assert_eq!(props, db_props, "the properties of feature {id}");
        assert!(
            (x - dx).abs() <= 1 && (y - dy).abs() <= 1,
            "feature {id} at ({x}, {y}) in memory, ({dx}, {dy}) from the database"
        );
    }
}

/// The path of the tile at zoom `z` over the test layers.
fn tile_path(ids: &str, z: u32) -> String {
    let (z, x, y) = tile_at(LON + 0.0012, LAT + 0.0012, z);
    format!("/tiles/{ids}/{z}/{x}/{y}.mvt")
}

/// `citygrid_tile_db_queries_total` of the server: the statements it ran for tiles of
/// layers served from the database.
async fn db_queries(server: &TestServer) -> u64 {
    common::metric_value(server, "citygrid_tile_db_queries_total").await
}

/// What a tile request got: status, `Retry-After`, body.
type Answer = (u16, Option<String>, Vec<u8>);

/// How [`at_once`] lets the held statement go.
enum Release {
    /// The lock is given up: the statement goes on.
    Commit,
    /// The backend running the statement is terminated (57P01: the database away).
    Terminate,
}

/// Requests sent at once by [`at_once`].
const AT_ONCE: usize = 8;

/// Asks `server` for `path` [`AT_ONCE`] times at once while a transaction of the test
/// holds the layer's table locked, so that the first statement for the tile waits in
/// PostGIS (seen in `pg_stat_activity`) while the other requests arrive; then
/// releases it as `release` says. The answers, in request order.
async fn at_once(db: &TestDb, server: &TestServer, path: &str, release: Release) -> Vec<Answer> {
    let mut lock = db.pool.begin().await.expect("begin");
    sqlx::query(&format!(
        "LOCK TABLE layers.\"{BIG}\" IN ACCESS EXCLUSIVE MODE"
    ))
    .execute(&mut *lock)
    .await
    .expect("lock the layer's table");
    let requests: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let url = server.url(path);
            tokio::spawn(async move {
                let r = http().get(url).send().await.expect("tile request");
                let status = r.status().as_u16();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                (status, retry, r.bytes().await.expect("tile body").to_vec())
            })
        })
        .collect();
    // The first statement waits for the lock...
    let deadline = Instant::now() + Duration::from_secs(15);
    let pid: i32 = loop {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query ILIKE '%st_asmvt%' LIMIT 1",
        )
        .fetch_optional(&db.pool)
        .await
        .expect("pg_stat_activity");
        if let Some(pid) = waiting {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting: a tile statement waits for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // ...while the others, sent with it, reach the server and wait too (each with a
    // statement of its own if misses were not shared).
    eventually("every request waits for a statement", || async {
        common::metric_value(server, "citygrid_tile_db_waiting").await == AT_ONCE as u64
    })
    .await;
    match release {
        Release::Commit => lock.commit().await.expect("commit"),
        Release::Terminate => {
            let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .fetch_one(&db.pool)
                .await
                .expect("terminate");
            assert!(done, "terminated the statement's backend");
            lock.rollback().await.expect("rollback");
        }
    }
    let mut answers = Vec::with_capacity(AT_ONCE);
    for r in requests {
        answers.push(r.await.expect("request task"));
    }
    answers
}

/// Asserts that every answer is the first one, and returns it.
fn all_the_same(answers: &[Answer]) -> &Answer {
    let first = &answers[0];
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(
            (a.0, &a.1, &a.2),
            (first.0, &first.1, &first.2),
            "answer {i} differs from the first"
        );
    }
    first
}

/// Concurrent misses of one tile of a layer served from the database share one
/// statement (counted by `citygrid_tile_db_queries_total`, the statement held in
/// PostGIS while they arrive), and every request gets the same answer: the same
/// bytes; the same 503 with `Retry-After` when the database went away meanwhile (and
/// the failure is not kept: the next request runs the statement again); the same 413
/// over `max_tile_bytes` (not kept either).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_statement() {
    let db = TestDb::new().await;
    make_layer(&db, BIG, 60).await;
    cli_ok(&db, &["layer", "set-serve-from", BIG, "database"]);
    let server = TestServer::start(&db);
    eventually("the server serves the layer's tiles", || async {
        http()
            .get(server.url(&tile_path(BIG, Z)))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert_eq!(catalog_entry(&server, BIG).await["serve_from"], "database");

    // A tile not asked yet: one statement, the same bytes for everyone.
    let before = db_queries(&server).await;
    let answers = at_once(&db, &server, &tile_path(BIG, Z + 1), Release::Commit).await;
    let (status, _, bytes) = all_the_same(&answers);
    assert_eq!(*status, 200);
    assert!(
        features_of(bytes, BIG).len() >= 10,
        "the tile has the features"
    );
    assert_eq!(
        db_queries(&server).await - before,
        1,
        "{AT_ONCE} concurrent misses ran one statement"
    );
    // Then it is a cache hit.
    assert_eq!(tile_bytes_at(&server, &tile_path(BIG, Z + 1)).await, *bytes);
    assert_eq!(db_queries(&server).await - before, 1, "a cache hit");

    // The statement's backend terminated while everyone waits: the same 503 with
    // Retry-After for all, from one statement.
    let path = tile_path(BIG, Z - 1);
    let before = db_queries(&server).await;
    let answers = at_once(&db, &server, &path, Release::Terminate).await;
    let (status, retry, body) = all_the_same(&answers);
    assert_eq!(*status, 503, "{}", String::from_utf8_lossy(body));
    assert_eq!(retry.as_deref(), Some("5"));
    let body: Value = serde_json::from_slice(body).expect("a JSON error body");
    assert_eq!(body["error"], "the database is unavailable; retry later");
    assert_eq!(db_queries(&server).await - before, 1);
    // Not kept: the next request runs the statement again and gets the tile.
    eventually("the tile is served after the failure", || async {
        http()
            .get(server.url(&path))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(db_queries(&server).await - before >= 2, "ran again");

    // Over max_tile_bytes: the same 413 for all, from one statement, not kept.
    let tight = TestServer::start_with(&db, &[("CITYGRID_MAX_TILE_BYTES", "64")]);
    let path = tile_path(BIG, Z - 2);
    let before = db_queries(&tight).await;
    let answers = at_once(&db, &tight, &path, Release::Commit).await;
    let (status, retry, body) = all_the_same(&answers);
    assert_eq!(*status, 413);
    assert_eq!(*retry, None);
    let body: Value = serde_json::from_slice(body).expect("a JSON error body");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_tile_bytes")),
        "{body}"
    );
    assert_eq!(db_queries(&tight).await - before, 1);
    let r = http().get(tight.url(&path)).send().await.expect("tile");
    assert_eq!(r.status(), 413);
    assert_eq!(db_queries(&tight).await - before, 2, "a 413 is not kept");
}

async fn tile_bytes_at(server: &TestServer, path: &str) -> Vec<u8> {
    let r = http().get(server.url(path)).send().await.expect("tile");
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().await.expect("tile body").to_vec()
}

//! The tile fast path (`spatial-api/src/tiles/fast.rs`, issue 17): a cached (or small)
//! vector tile asked for by an anonymous gzip client is answered in front of the
//! middleware stack, and must be the full stack's answer — same status, body and
//! headers (but the request id and date) — counted in the route's metrics and charged
//! to the client's rate limit; an empty tile is 204 both ways. A request with
//! `X-Request-Id` always takes the full stack, so the two answers can be compared.

mod common;

use std::time::{Duration, Instant};

use common::{http, TestDb, TestServer};

async fn points_layer(db: &TestDb) {
    sqlx::query(
        "CREATE TABLE layers.fast_pts AS SELECT i::bigint AS fid, \
         ST_SetSRID(ST_MakePoint(24.935 + (i % 97) * 0.000185, 60.164 + (i / 97) * 0.00075), 4326) AS geom, \
         'point ' || i AS name FROM generate_series(1, 2000) i",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE layers.fast_pts ADD PRIMARY KEY (fid)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT 'fast_pts', 'fast_pts', 'vector', 'Point', \
                '[{\"name\":\"name\",\"type\":\"text\"}]'::jsonb, \
                count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.fast_pts",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('citygrid_layers', 'fast_pts')")
        .execute(&db.pool)
        .await
        .unwrap();
}

/// Status, every header but the request id and date (sorted `name: value` lines), body.
async fn get(
    server: &TestServer,
    path: &str,
    extra: &[(&str, &str)],
) -> (u16, Vec<String>, Vec<u8>) {
    let mut builder = http()
        .get(server.url(path))
        .header("accept-encoding", "gzip");
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    let mut headers: Vec<String> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
        .collect();
    headers.sort();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// `citygrid_http_requests_total` of the tile route with status 200.
async fn tile_200s(server: &TestServer) -> u64 {
    let metrics = common::metrics_text(server).await;
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "citygrid_http_requests_total{route=\"/tiles/{ids}/{z}/{x}/{y}\",method=\"GET\",status=\"200\"} ",
            )
        })
        .map_or(0, |v| v.trim().parse().unwrap())
}

async fn wait_loaded(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(server, "/tiles/fast_pts/0/0/0", &[]).await.0 == 409 {
        assert!(Instant::now() < deadline, "layer fast_pts never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_tiles_are_answered_as_the_full_stack_answers_them() {
    let db = TestDb::new().await;
    points_layer(&db).await;
    // A bucket of 100 reads per address, refilled very slowly: the fast path is
    // charged too.
    let server = TestServer::start_with(
        &db,
        &[
            ("CITYGRID_RATE_LIMIT", "true"),
            ("CITYGRID_RATE_LIMIT_READ_PER_SEC", "0.001"),
            ("CITYGRID_RATE_LIMIT_READ_BURST", "100"),
        ],
    );
    wait_loaded(&server).await;
    let path = "/tiles/fast_pts/14/9326/4742.mvt";

    // The first request encodes and caches the tile (a small tile: on the request's
    // own thread, by the fast path as by the full stack).
    let (status, _, first) = get(&server, path, &[]).await;
    assert_eq!(status, 200);
    let counted = tile_200s(&server).await;

    // A hit for an anonymous gzip client (the fast path), and the same through the
    // full stack (X-Request-Id sends it there): the same answer.
    let fast = get(&server, path, &[]).await;
    let full = get(&server, path, &[("x-request-id", "t17-full-stack")]).await;
    assert_eq!(fast.0, 200);
    assert_eq!(fast.2, first, "the stored gzip bytes");
    assert_eq!(fast, full, "the fast path answers as the stack does");
    for expected in [
        "content-encoding: gzip",
        "content-type: application/vnd.mapbox-vector-tile",
        "cache-control: public, max-age=60",
        "vary: accept-encoding",
        "vary: Origin",
        "x-content-type-options: nosniff",
    ] {
        assert!(
            fast.1.iter().any(|h| h == expected),
            "{expected} in {:?}",
            fast.1
        );
    }

    // With an Origin (embedded maps): the CORS headers of map data, as the stack adds them.
    let origin = [("origin", "https://maps.example.org")];
    let fast = get(&server, path, &origin).await;
    let full = get(
        &server,
        path,
        &[origin[0], ("x-request-id", "t17-full-stack-2")],
    )
    .await;
    assert_eq!(fast, full);
    assert!(fast
        .1
        .iter()
        .any(|h| h == "access-control-allow-origin: https://maps.example.org"));

    // Every answer was counted on the route (4 since `counted`, plus /metrics' own
    // requests are another route).
    assert_eq!(tile_200s(&server).await, counted + 4);

    // An empty tile: 204 from the cache, as the stack answers it.
    let empty = "/tiles/fast_pts/14/0/0";
    assert_eq!(get(&server, empty, &[]).await.0, 204);
    let fast = get(&server, empty, &[]).await;
    let full = get(&server, empty, &[("x-request-id", "t17-full-stack-3")]).await;
    assert_eq!(fast.0, 204);
    assert_eq!(fast, full);

    // Once the bucket is spent, cached tiles are refused like every other read.
    let mut refused = None;
    for i in 0..150 {
        let (status, headers, _) = get(&server, path, &[]).await;
        if status == 429 {
            assert!(headers.iter().any(|h| h.starts_with("retry-after:")));
            refused = Some(i);
            break;
        }
        assert_eq!(status, 200);
    }
    assert!(refused.is_some(), "the rate limit applies to cached tiles");
}

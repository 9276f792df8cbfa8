//! Vector tiles are gzip-compressed once when encoded and cached in that form only: a
//! client that accepts gzip gets the stored gzip bytes (their own ETag), any other
//! client the raw tile, decompressed for it; both say `Vary: Accept-Encoding`, and each
//! ETag gives 304 only on its own representation. The test client does not decompress (reqwest without its gzip
//! feature), so the bytes read are the bytes sent.

mod common;

use std::time::{Duration, Instant};

use common::mvt::decode;
use common::{http, TestDb, TestServer};

/// A point layer of 3000 points around (24.94, 60.17), catalogued and announced.
async fn points_layer(db: &TestDb) {
    sqlx::query(
        "CREATE TABLE layers.gz_pts AS SELECT i::bigint AS fid, \
         ST_SetSRID(ST_MakePoint(24.935 + (i % 97) * 0.000185, 60.164 + (i / 97) * 0.00075), 4326) AS geom, \
         'point number ' || i AS name, i % 7 AS rank FROM generate_series(1, 3000) i",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE layers.gz_pts ADD PRIMARY KEY (fid)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT 'gz_pts', 'gz_pts', 'vector', 'Point', \
                '[{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"rank\",\"type\":\"integer\"}]'::jsonb, \
                count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.gz_pts",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('citygrid_layers', 'gz_pts')")
        .execute(&db.pool)
        .await
        .unwrap();
}

fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = 2f64.powi(z as i32);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let lat_r = lat.to_radians();
    let y = ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n)
        .floor() as u32;
    (x, y)
}

/// Status, the headers asked for (empty when absent) and the body as sent.
async fn get(
    server: &TestServer,
    path: &str,
    request: &[(&str, &str)],
) -> (u16, [String; 3], Vec<u8>) {
    let mut builder = http().get(server.url(path));
    for (name, value) in request {
        builder = builder.header(*name, *value);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let headers = [header("content-encoding"), header("etag"), header("vary")];
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// The tile cache's bytes now (`citygrid_tile_cache_bytes` in `/metrics`).
async fn cache_bytes(server: &TestServer) -> usize {
    let metrics = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("citygrid_tile_cache_bytes "))
        .unwrap_or_else(|| panic!("no citygrid_tile_cache_bytes in:\n{metrics}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn vector_tiles_are_sent_gzip_as_stored() {
    let db = TestDb::new().await;
    points_layer(&db).await;
    let server = TestServer::start(&db);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&server, "/tiles/gz_pts/0/0/0", &[]).await.0 == 409 {
        assert!(Instant::now() < deadline, "layer gz_pts never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (x, y) = tile_of(24.944, 60.170, 14);
    let path = format!("/tiles/gz_pts/14/{x}/{y}.mvt");

    // Asked with gzip first, so this request is the one that encodes the tile (a
    // brotli client's forms are tests/tile_brotli.rs).
    let held_before = cache_bytes(&server).await;
    let (status, [encoding, gz_etag, vary], gz) =
        get(&server, &path, &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(status, 200);
    assert_eq!(encoding, "gzip");
    assert!(vary.to_ascii_lowercase().contains("accept-encoding"));
    let held = cache_bytes(&server).await - held_before;

    // Without Accept-Encoding: the raw tile, with Vary too.
    let (status, [encoding, raw_etag, vary], raw) = get(&server, &path, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(encoding, "");
    assert!(vary.to_ascii_lowercase().contains("accept-encoding"));
    assert!(decode(&raw).len() > 10, "a tile with points");

    // The gzip bytes are the raw tile, compressed (and smaller).
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    assert_eq!(plain, raw);
    assert!(gz.len() < raw.len());

    // The cache keeps the compressed form only (the bytes sent, plus the key's small
    // overhead): the raw tile above was decompressed for that one client.
    assert!(
        held >= gz.len() && held < gz.len() + 256 && held < raw.len(),
        "the cache grew by {held} bytes for a tile of {} bytes, {} gzipped",
        raw.len(),
        gz.len()
    );
    assert_eq!(
        cache_bytes(&server).await - held_before,
        held,
        "nothing more kept"
    );

    // Two representations, two strong ETags.
    assert!(gz_etag.starts_with('"') && raw_etag.starts_with('"'));
    assert_ne!(gz_etag, raw_etag);

    // A second gzip request is served the same stored bytes.
    let (_, [_, again_etag, _], again) = get(&server, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!((again_etag.as_str(), &again), (gz_etag.as_str(), &gz));

    // Each ETag gives 304 on its own representation only.
    let gzip_304 = get(
        &server,
        &path,
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)],
    )
    .await;
    assert_eq!(gzip_304.0, 304);
    assert_eq!(gzip_304.1[1], gz_etag);
    let raw_304 = get(&server, &path, &[("if-none-match", &raw_etag)]).await;
    assert_eq!(raw_304.0, 304);
    assert_eq!(raw_304.1[1], raw_etag);
    let crossed = get(
        &server,
        &path,
        &[("accept-encoding", "gzip"), ("if-none-match", &raw_etag)],
    )
    .await;
    assert_eq!((crossed.0, crossed.1[0].as_str()), (200, "gzip"));
    let crossed = get(&server, &path, &[("if-none-match", &gz_etag)]).await;
    assert_eq!((crossed.0, &crossed.2), (200, &raw));

    // gzip refused with q=0 (even beside `*`): the raw tile; `*` alone accepts gzip.
    for refusal in ["gzip;q=0", "gzip;q=0, *", "identity", "br;q=0"] {
        let (status, [encoding, etag, _], body) =
            get(&server, &path, &[("accept-encoding", refusal)]).await;
        assert_eq!(status, 200, "{refusal}");
        assert_eq!(encoding, "", "{refusal}");
        assert_eq!(
            (etag.as_str(), &body),
            (raw_etag.as_str(), &raw),
            "{refusal}"
        );
    }
    let (_, [encoding, etag, _], body) = get(&server, &path, &[("accept-encoding", "*")]).await;
    assert_eq!(encoding, "gzip");
    assert_eq!((etag.as_str(), &body), (gz_etag.as_str(), &gz));

    // An empty tile stays 204, uncompressed.
    let (status, [encoding, _, _], body) = get(
        &server,
        "/tiles/gz_pts/14/0/0",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!((status, encoding.as_str(), body.len()), (204, "", 0));
}

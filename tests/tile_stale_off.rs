//! With stale serving off (`CITYGRID_TILE_STALE_SECS=0`), a changed vector layer is
//! never served from an encoding made before the change: once the server shows the
//! change anywhere (the feature has arrived in a tile no one had asked for), the tile
//! it left must not show it any more, with the tile cache on and with it off (then the
//! recent-encodings table holds the earlier encodings).

mod common;

use std::time::{Duration, Instant};

use common::mvt::decode;
use common::{http, TestDb, TestServer};

/// A point layer of 2000 points around (24.94, 60.17), catalogued and announced.
async fn points_layer(db: &TestDb) {
    for sql in [
        "CREATE TABLE layers.fresh_pts AS SELECT i::bigint AS fid, \
         ST_SetSRID(ST_MakePoint(24.935 + (i % 97) * 0.000185, 60.164 + (i / 97) * 0.00075), 4326) AS geom, \
         'p' || i AS name, i % 7 AS rank FROM generate_series(1, 2000) i",
        "ALTER TABLE layers.fresh_pts ADD PRIMARY KEY (fid)",
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT 'fresh_pts', 'fresh_pts', 'vector', 'Point', \
                '[{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"rank\",\"type\":\"integer\"}]'::jsonb, \
                count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.fresh_pts",
        "SELECT pg_notify('citygrid_layers', 'fresh_pts')",
    ] {
        sqlx::query(sql).execute(&db.pool).await.unwrap();
    }
}

fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = 2f64.powi(z as i32);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let lat_r = lat.to_radians();
    let y = ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n)
        .floor() as u32;
    (x, y)
}

/// The feature ids of a tile (empty for 204), asked as a browser does (gzip).
async fn ids(server: &TestServer, path: &str) -> Vec<u64> {
    ids_at(server.url(path)).await
}

async fn ids_at(url: String) -> Vec<u64> {
    let response = http()
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let gzipped = response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let body = response.bytes().await.unwrap().to_vec();
    match status {
        204 => Vec::new(),
        200 => {
            let raw = if gzipped {
                let mut plain = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&body[..]),
                    &mut plain,
                )
                .unwrap();
                plain
            } else {
                body
            };
            decode(&raw).iter().map(|f| f.id).collect()
        }
        other => panic!("{url}: status {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_layer_is_never_served_from_an_older_encoding() {
    let db = TestDb::new().await;
    points_layer(&db).await;
    let cached = TestServer::start_with(&db, &[("CITYGRID_TILE_STALE_SECS", "0")]);
    let uncached = TestServer::start_with(
        &db,
        &[
            ("CITYGRID_TILE_STALE_SECS", "0"),
            ("CITYGRID_TILE_CACHE_BYTES", "0"),
        ],
    );
    let servers = [&cached, &uncached];
    for server in servers {
        let deadline = Instant::now() + Duration::from_secs(30);
        while http()
            .get(server.url("/tiles/fresh_pts/0/0/0"))
            .send()
            .await
            .unwrap()
            .status()
            == 409
        {
            assert!(Instant::now() < deadline, "layer fresh_pts never loaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Two tiles that hold the point that will move: a z13 tile of the whole layer
    // (2000 points: encoded on a blocking thread through the recent-encodings table)
    // and a small z16 tile (encoded on the request's thread).
    let (x, y) = tile_of(24.944, 60.170, 16);
    let origins = [
        format!("/tiles/fresh_pts/13/{}/{}", x >> 3, y >> 3),
        format!("/tiles/fresh_pts/16/{x}/{y}"),
    ];
    // Encoded a few times on each server: the cache and the recent-encodings table
    // hold the tiles as they are before the change.
    let mut before = Vec::new();
    for server in servers {
        before.clear();
        for origin in &origins {
            let mut ids_now = Vec::new();
            for _ in 0..3 {
                ids_now = ids(server, origin).await;
            }
            before.push(ids_now);
        }
    }
    assert!(before[0].len() > 1024, "the z13 tile is not a small one");
    let fid = *before[1].first().expect("points in the z16 tile");
    assert!(before[0].contains(&fid));

    // The point moves far away (a tile no one has asked for) and the change is
    // announced.
    let away = (24.90, 60.20);
    let (ax, ay) = tile_of(away.0, away.1, 16);
    assert!((ax >> 3, ay >> 3) != (x >> 3, y >> 3));
    let destination = format!("/tiles/fresh_pts/16/{ax}/{ay}");
    sqlx::query(
        "UPDATE layers.fresh_pts SET geom = ST_SetSRID(ST_MakePoint($1, $2), 4326) WHERE fid = $3",
    )
    .bind(away.0)
    .bind(away.1)
    .bind(fid as i64)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
        .bind(format!("fresh_pts:{fid}"))
        .execute(&db.pool)
        .await
        .unwrap();

    for server in servers {
        // The server has taken the change in once the point shows at its new place…
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ids(server, &destination).await.contains(&fid) {
            assert!(Instant::now() < deadline, "the change never arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // …and from then on no request sees it at its old place, not even the first
        // ones after the change (which stale serving would answer from the encoding
        // made before it), nor concurrent ones.
        for round in 0..3 {
            for (origin, before) in origins.iter().zip(&before) {
                let asked: Vec<_> = (0..8)
                    .map(|_| tokio::spawn(ids_at(server.url(origin))))
                    .collect();
                for answer in asked {
                    let answer = answer.await.unwrap();
                    assert!(
                        !answer.contains(&fid),
                        "round {round}, {origin}: served from an encoding older than the change"
                    );
                    assert_eq!(answer.len(), before.len() - 1, "only the moved point left");
                }
            }
        }
    }
}

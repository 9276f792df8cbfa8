//! Helpers of the tile tests: tile addresses, a small point layer, a request that
//! reads the bytes as sent, and the tile cache's size from `/metrics`.

use super::{http, TestDb, TestServer};

/// The column and row of the Web Mercator tile of zoom `z` holding lon/lat.
pub fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = 2f64.powi(z as i32);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let r = lat.to_radians();
    let y =
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    (x, y)
}

/// A point layer `id` of 3000 points around (24.94, 60.17) with a `name` and a
/// `rank`, catalogued and announced.
pub async fn points_layer(db: &TestDb, id: &str) {
    sqlx::query(&format!(
        "CREATE TABLE layers.{id} AS SELECT i::bigint AS fid, \
         ST_SetSRID(ST_MakePoint(24.935 + (i % 97) * 0.000185, 60.164 + (i / 97) * 0.00075), 4326) AS geom, \
         'point number ' || i AS name, i % 7 AS rank FROM generate_series(1, 3000) i"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(&format!("ALTER TABLE layers.{id} ADD PRIMARY KEY (fid)"))
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT '{id}', '{id}', 'vector', 'Point', \
                '[{{\"name\":\"name\",\"type\":\"text\"}},{{\"name\":\"rank\",\"type\":\"integer\"}}]'::jsonb, \
                count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.{id}"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    super::notify_layer(db, id).await;
}

/// Status, `[content-encoding, etag, vary]` (empty when absent) and the body as sent
/// (the test client does not decompress).
pub async fn get_as_sent(
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
pub async fn cache_bytes(server: &TestServer) -> usize {
    super::metric_value(server, "citygrid_tile_cache_bytes").await as usize
}

/// The address `(z, x, y)` of the Web Mercator tile of zoom `z` holding lon/lat.
pub fn tile_at(lon: f64, lat: f64, z: u32) -> (u32, u32, u32) {
    let (x, y) = tile_of(lon, lat, z);
    (z, x, y)
}

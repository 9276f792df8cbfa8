//! Shared test data for the spatial-query and OGC API tests (included with
//! `#[path = "query_city.rs"] mod city;`): a Helsinki-like city made with SQL —
//! points, building polygons and road lines with deterministic pseudo-random
//! layouts — plus a few points near Wuhan for the Chinese CRSs.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use sqlx::PgPool;

/// The fields of every test layer (name, rank, kind, height).
const FIELDS: &str = r#"[{"name":"name","type":"text"},{"name":"rank","type":"integer"},{"name":"kind","type":"text"},{"name":"height","type":"double precision"}]"#;

/// Makes layer `id` from a SELECT of (fid, geom 4326, name, rank, kind, height).
pub async fn make_layer(pool: &PgPool, id: &str, geometry_type: &str, select: &str) {
    sqlx::query(&format!("CREATE TABLE layers.\"{id}\" AS {select}"))
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "ALTER TABLE layers.\"{id}\" ADD PRIMARY KEY (fid)"
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "CREATE INDEX ON layers.\"{id}\" USING gist (geom)"
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT $1, $1, 'vector', $2, $3::jsonb, count(*), \
                ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.\"{id}\" ON CONFLICT (id) DO NOTHING"
    ))
    .bind(id)
    .bind(geometry_type)
    .bind(FIELDS)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
}

/// A deterministic pseudo-random number in [0, 1) from `i` and a salt, in SQL.
fn r(salt: u32) -> String {
    format!("((hashint4(i * 7919 + {salt}) & 2147483647)::float8 / 2147483648.0)")
}

/// The sample city: `poi` (3000 points), `bldg` (800 polygons), `road` (300 lines)
/// in 24.90–25.00 E, 60.15–60.20 N; `wuhan_poi` (200 points near 114.3 E 30.6 N).
pub async fn make_city(pool: &PgPool) {
    let kinds = format!(
        "(ARRAY['cafe','shop','school',NULL,'park'])[1 + floor({} * 5)::int]",
        r(5)
    );
    make_layer(
        pool,
        "poi",
        "Point",
        &format!(
            "SELECT i::bigint AS fid, ST_SetSRID(ST_MakePoint(24.90 + {} * 0.1, 60.15 + {} * 0.05), 4326) AS geom, \
             'p' || i AS name, CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 7) END AS rank, {kinds} AS kind, \
             round(({} * 40)::numeric, 2)::float8 AS height FROM generate_series(1, 3000) i",
            r(1), r(2), r(3)
        ),
    )
    .await;
    make_layer(
        pool,
        "bldg",
        "Polygon",
        &format!(
            "SELECT i::bigint AS fid, ST_Rotate(ST_Buffer(ST_SetSRID(ST_MakePoint(24.90 + {} * 0.1, 60.15 + {} * 0.05), 4326), 0.0002 + {} * 0.0008, 2), {} * 3.14, ST_SetSRID(ST_MakePoint(24.95, 60.175), 4326)) AS geom, \
             'b' || i AS name, i % 9 AS rank, {kinds} AS kind, round(({} * 60)::numeric, 1)::float8 AS height \
             FROM generate_series(1, 800) i",
            r(11), r(12), r(13), r(14), r(15)
        ),
    )
    .await;
    make_layer(
        pool,
        "road",
        "LineString",
        &format!(
            "SELECT i::bigint AS fid, ST_SetSRID(ST_MakeLine(ARRAY[ST_MakePoint(24.90 + {a} * 0.1, 60.15 + {b} * 0.05), \
                 ST_MakePoint(24.90 + {a} * 0.1 + ({c} - 0.5) * 0.02, 60.15 + {b} * 0.05 + ({d} - 0.5) * 0.01), \
                 ST_MakePoint(24.90 + {a} * 0.1 + ({c} - 0.5) * 0.03, 60.15 + {b} * 0.05 + ({e} - 0.5) * 0.015)]), 4326) AS geom, \
             'r' || i AS name, i % 5 AS rank, (ARRAY['primary','residential','service'])[1 + i % 3] AS kind, NULL::float8 AS height \
             FROM generate_series(1, 300) i",
            a = r(21), b = r(22), c = r(23), d = r(24), e = r(25)
        ),
    )
    .await;
    make_layer(
        pool,
        "wuhan_poi",
        "Point",
        &format!(
            "SELECT i::bigint AS fid, ST_SetSRID(ST_MakePoint(114.2 + {} * 0.2, 30.5 + {} * 0.2), 4326) AS geom, \
             'w' || i AS name, i % 3 AS rank, 'x' AS kind, 1.5::float8 AS height FROM generate_series(1, 200) i",
            r(31), r(32)
        ),
    )
    .await;
}

/// Waits until the server has loaded `id` (its collection answers 200).
pub async fn wait_loaded(client: &reqwest::Client, base: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = client
            .get(format!("{base}/ogc/collections/{id}"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "layer {id} never loaded ({status})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The city's layers.
pub const LAYERS: &[&str] = &["poi", "bldg", "road", "wuhan_poi"];

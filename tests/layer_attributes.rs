//! The in-memory layers read their attributes from the catalogue's fields (not the
//! whole row: PostGIS would turn every geometry into GeoJSON only to have it dropped),
//! and still load, with every column, when the catalogue names a field the table does
//! not have; a feature patched after a change reads the same way.

mod common;

use std::time::{Duration, Instant};

use common::{http, TestDb, TestServer};
use serde_json::Value;

/// Layer `id`: points with a name, a rank and an odd column name; `fields` as the
/// catalogue's field list (JSON).
async fn make_layer(db: &TestDb, id: &str, fields: &str) {
    sqlx::query(&format!(
        "CREATE TABLE layers.\"{id}\" AS SELECT n::bigint AS fid, \
             ST_SetSRID(ST_MakePoint(24.90 + n * 0.001, 60.15), 4326)::geometry(Point, 4326) AS geom, \
             'p' || n AS name, n * 10 AS rank, 'q\"' || n AS \"odd \"\"col\" \
         FROM generate_series(1, 20) n"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "ALTER TABLE layers.\"{id}\" ADD PRIMARY KEY (fid)"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         VALUES ($1, $1, 'vector', 'Point', $2::jsonb, 20, ARRAY[24.9, 60.15, 24.92, 60.15])",
    )
    .bind(id)
    .bind(fields)
    .execute(&db.pool)
    .await
    .unwrap();
    common::notify_layer(db, id).await;
}

/// The nearest feature of `id` to the point of feature `n`, once the layer is loaded.
async fn nearest(server: &TestServer, id: &str, n: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = http()
            .get(server.url(&format!(
                "/api/nearest?layer={id}&lon={}&lat=60.15&k=1",
                24.90 + n as f64 * 0.001
            )))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            let v: Value = resp.json().await.unwrap();
            if v["count"] == 1 {
                return v["features"][0].clone();
            }
        }
        assert!(Instant::now() < deadline, "layer {id} never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn attributes_come_from_the_catalogues_fields() {
    let db = TestDb::new().await;
    make_layer(
        &db,
        "attrs_ok",
        r#"[{"name":"name","type":"text"},{"name":"rank","type":"integer"},{"name":"odd \"col","type":"text"}]"#,
    )
    .await;
    // a field the table does not have: the layer is read with every column
    make_layer(
        &db,
        "attrs_stale",
        r#"[{"name":"name","type":"text"},{"name":"gone","type":"text"},{"name":"rank","type":"integer"}]"#,
    )
    .await;
    let server = TestServer::start(&db);
    for id in ["attrs_ok", "attrs_stale"] {
        let f = nearest(&server, id, 7).await;
        let props = &f["properties"];
        assert_eq!(props["name"], "p7", "{id}: {f}");
        assert_eq!(props["rank"], 70, "{id}: {f}");
        assert!(props.get("geom").is_none(), "{id}: {f}");
    }
    let f = nearest(&server, "attrs_ok", 3).await;
    assert_eq!(f["properties"]["odd \"col"], "q\"3", "{f}");
    assert!(nearest(&server, "attrs_stale", 3).await["properties"]["gone"].is_null());

    // a changed row is patched into memory with its new attributes, both ways
    for id in ["attrs_ok", "attrs_stale"] {
        sqlx::query(&format!(
            "UPDATE layers.\"{id}\" SET name = 'changed', rank = 999 WHERE fid = 5"
        ))
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(format!("{id}:5"))
            .execute(&db.pool)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let f = nearest(&server, id, 5).await;
            if f["properties"]["name"] == "changed" {
                assert_eq!(f["properties"]["rank"], 999, "{id}: {f}");
                break;
            }
            assert!(Instant::now() < deadline, "{id}: never patched: {f}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

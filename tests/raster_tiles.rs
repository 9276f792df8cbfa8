//! Each kind of tile source over HTTP: a raster layer's tiles and TileJSON, a vector
//! layer's, and the refusals when a request mixes them (`tiles::source_for`).

mod common;

use std::time::{Duration, Instant};

use common::{http, TestDb, TestServer};
use serde_json::Value;
use sqlx::Row;

async fn get(server: &TestServer, path: &str) -> (u16, Option<String>, Vec<u8>) {
    let r = http().get(server.url(path)).send().await.expect("request");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        status,
        content_type,
        r.bytes().await.expect("body").to_vec(),
    )
}

async fn get_json(server: &TestServer, path: &str) -> (u16, Value) {
    let (status, _, body) = get(server, path).await;
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raster_and_vector_sources_and_their_refusals() {
    let db = TestDb::new().await;
    let (ok, stdout, stderr) = common::run(
        common::citygrid(&db)
            .args(["import", "raster"])
            .arg(common::data_file("sfbay_landsat7_30m_3857.tif"))
            .args(["--layer", "photo", "--format", "png", "--quiet"])
            .args(["--min-zoom", "10", "--max-zoom", "10"]),
    );
    assert!(ok, "import failed:\n{stdout}\n{stderr}");
    sqlx::query(
        "CREATE TABLE layers.pts AS SELECT 1::bigint AS fid, \
         ST_SetSRID(ST_MakePoint(-122.3, 37.8), 4326) AS geom, 'a'::text AS name",
    )
    .execute(&db.pool)
    .await
    .expect("vector table");
    sqlx::query("ALTER TABLE layers.pts ADD PRIMARY KEY (fid)")
        .execute(&db.pool)
        .await
        .expect("key");
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         VALUES ('pts', 'Points', 'vector', 'Point', '[{\"name\":\"name\",\"type\":\"text\"}]'::jsonb, 1, \
                 ARRAY[-122.3, 37.8, -122.3, 37.8])",
    )
    .execute(&db.pool)
    .await
    .expect("catalogue");
    let stored = sqlx::query("SELECT z, x, y, data FROM layers.photo WHERE z = 10 LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .expect("a stored tile");
    let (z, x, y, data) = (
        stored.get::<i16, _>("z"),
        stored.get::<i32, _>("x"),
        stored.get::<i32, _>("y"),
        stored.get::<Vec<u8>, _>("data"),
    );

    let server = TestServer::start(&db);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&server, "/tiles/pts/0/0/0").await.0 == 409 {
        assert!(Instant::now() < deadline, "pts never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A raster layer: its stored image whatever the suffix, TileJSON with its format.
    for suffix in ["", ".png", ".webp", ".mvt"] {
        let (status, content_type, body) =
            get(&server, &format!("/tiles/photo/{z}/{x}/{y}{suffix}")).await;
        assert_eq!(status, 200, "suffix {suffix:?}");
        assert_eq!(content_type.as_deref(), Some("image/png"));
        assert_eq!(body, data, "suffix {suffix:?}");
    }
    let (status, doc) = get_json(&server, "/tiles/photo.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["format"], "png");
    assert!(doc.get("vector_layers").is_none(), "{doc}");

    // A vector layer: MVT only, TileJSON with its vector layers and no format.
    let (status, content_type, _) = get(&server, "/tiles/pts/0/0/0.pbf").await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type.as_deref(),
        Some("application/vnd.mapbox-vector-tile")
    );
    let (status, doc) = get_json(&server, "/tiles/pts/0/0/0.png").await;
    assert_eq!(status, 400);
    assert!(
        doc["error"]
            .as_str()
            .unwrap_or("")
            .contains("vector layers are served as .mvt or .pbf"),
        "{doc}"
    );
    let (status, doc) = get_json(&server, "/tiles/pts.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["vector_layers"][0]["id"], "pts");
    assert_eq!(doc["vector_layers"][0]["fields"]["name"], "String");
    assert!(doc.get("format").is_none(), "{doc}");

    // A raster layer with another layer, in either order: refused, each in its words.
    for ids in ["photo,pts", "pts,photo"] {
        let (status, doc) = get_json(&server, &format!("/tiles/{ids}/{z}/{x}/{y}")).await;
        assert_eq!(status, 400, "{ids}");
        assert!(
            doc["error"]
                .as_str()
                .unwrap_or("")
                .contains("a raster layer cannot be combined with other layers in one tile"),
            "{doc}"
        );
        let (status, doc) = get_json(&server, &format!("/tiles/{ids}.json")).await;
        assert_eq!(status, 400, "{ids}");
        let error = doc["error"].as_str().unwrap_or("");
        assert!(
            error.contains("a raster layer cannot be combined with other layers")
                && !error.contains("in one tile"),
            "{doc}"
        );
    }
}

//! Time in OGC API filters, end to end (issue 22): a layer imported with a text
//! time field, asked through the real server with CQL2 `TIMESTAMP`/`DATE`
//! comparisons and temporal functions; each answer is checked against the same
//! question asked of PostGIS with `timestamptz` (offsets applied), and the
//! `properties=` selection returns only the named properties.

mod common;

use std::collections::BTreeSet;

use common::{http, TestDb, TestServer};
use serde_json::Value;

#[path = "query_city.rs"]
mod city;

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn get(url: &str) -> (u16, Value) {
    let r = http().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let v = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, v)
}

fn names(fc: &Value) -> BTreeSet<String> {
    fc["features"]
        .as_array()
        .unwrap_or_else(|| panic!("not a feature collection: {fc}"))
        .iter()
        .map(|f| f["properties"]["name"].as_str().unwrap().to_string())
        .collect()
}

async fn sql_names(db: &TestDb, where_sql: &str) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(&format!(
        "SELECT name FROM layers.\"sightings\" WHERE {where_sql}"
    ))
    .fetch_all(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("{where_sql}: {e}"))
    .into_iter()
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn timestamps_are_instants_with_offsets_and_properties_select() {
    let db = TestDb::new().await;
    let dir = common::temp_dir("ogc-time");
    let file = dir.join("sightings.geojson");
    // Three sightings; "a" at 10:00+01:00 is 09:00Z, the earliest of the three.
    let features = [
        ("a", "2024-05-01T10:00:00+01:00", 24.94),
        ("b", "2024-05-01T09:30:00Z", 24.945),
        ("c", "2024-05-01T10:30:00Z", 24.95),
        ("d", "2024-05-02T00:30:00+08:00", 24.955),
    ];
    let fc = serde_json::json!({
        "type": "FeatureCollection",
        "features": features.iter().map(|(name, at, lon)| serde_json::json!({
            "type": "Feature",
            "properties": {"name": name, "seen_at": at, "rank": 1},
            "geometry": {"type": "Point", "coordinates": [lon, 60.17]}
        })).collect::<Vec<_>>()
    });
    std::fs::write(&file, fc.to_string()).unwrap();
    let mut cmd = common::citygrid(&db);
    cmd.args(["import", "vector"])
        .arg(&file)
        .args(["--layer", "sightings"]);
    let (ok, out, err) = common::run(&mut cmd);
    assert!(ok, "import failed: {out}\n{err}");
    // a layer without a date or time field
    let plain = dir.join("plain.geojson");
    std::fs::write(
        &plain,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"p"},"geometry":{"type":"Point","coordinates":[24.94,60.17]}}]}"#,
    )
    .unwrap();
    let mut cmd = common::citygrid(&db);
    cmd.args(["import", "vector"])
        .arg(&plain)
        .args(["--layer", "plain"]);
    let (ok, out, err) = common::run(&mut cmd);
    assert!(ok, "import failed: {out}\n{err}");
    let server = TestServer::start(&db);
    city::wait_loaded(&http(), &server.base, "sightings").await;
    city::wait_loaded(&http(), &server.base, "plain").await;
    let (status, body) = get(&server.url("/ogc/collections/plain/items?datetime=2024-05-01")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("no date or time field"), "{body}");
    let items = |filter: &str| {
        server.url(&format!(
            "/ogc/collections/sightings/items?filter={}",
            enc(filter)
        ))
    };

    let ts = "TIMESTAMP('2024-05-01T10:00:00+01:00')";
    let cases = [
        (format!("seen_at = {ts}"), "seen_at::timestamptz = '2024-05-01T10:00:00+01:00'"),
        (format!("seen_at < {ts}"), "seen_at::timestamptz < '2024-05-01T10:00:00+01:00'"),
        (format!("seen_at >= {ts}"), "seen_at::timestamptz >= '2024-05-01T10:00:00+01:00'"),
        (format!("T_AFTER(seen_at, {ts})"), "seen_at::timestamptz > '2024-05-01T10:00:00+01:00'"),
        (
            "T_DURING(seen_at, INTERVAL('2024-05-01T09:15:00Z', '2024-05-01T16:00:00+08:00'))"
                .to_string(),
            "seen_at::timestamptz > '2024-05-01T09:15:00Z' AND seen_at::timestamptz < '2024-05-01T16:00:00+08:00'",
        ),
        (
            "seen_at < DATE('2024-05-02')".to_string(),
            "(seen_at::timestamptz AT TIME ZONE 'UTC')::date < '2024-05-02'",
        ),
    ];
    for (filter, sql) in &cases {
        let (status, fc) = get(&items(filter)).await;
        assert_eq!(status, 200, "{filter}: {fc}");
        let want = sql_names(&db, sql).await;
        assert_eq!(names(&fc), want, "{filter}");
    }
    // the issue's figures: = finds a, < finds none, T_AFTER finds b and c and d
    let (_, fc) = get(&items(&format!("seen_at = {ts}"))).await;
    assert_eq!(names(&fc), BTreeSet::from(["a".to_string()]));
    let (_, fc) = get(&items(&format!("seen_at >= {ts}"))).await;
    assert_eq!(names(&fc).len(), 4);

    // the JSON encoding gives the same answer
    let json = r#"{"op":"t_after","args":[{"property":"seen_at"},{"timestamp":"2024-05-01T10:00:00+01:00"}]}"#;
    let (status, fc) = get(&server.url(&format!(
        "/ogc/collections/sightings/items?filter-lang=cql2-json&filter={}",
        enc(json)
    )))
    .await;
    assert_eq!(status, 200, "{fc}");
    assert_eq!(
        names(&fc),
        sql_names(&db, "seen_at::timestamptz > '2024-05-01T10:00:00+01:00'").await
    );

    // a malformed timestamp is a 400 that says what to write
    let (status, body) = get(&items("seen_at > TIMESTAMP('yesterday')")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("is not a timestamp"), "{body}");

    // datetime= on the collection's time field (the import typed seen_at as a
    // timestamp): an instant, an interval, open ends; checked against PostGIS
    let datetime = [
        (
            "2024-05-01T10:00:00%2B01:00",
            "seen_at::timestamptz = '2024-05-01T10:00:00+01:00'",
        ),
        (
            "2024-05-01T09:15:00Z/2024-05-01T18:00:00%2B08:00",
            "seen_at::timestamptz BETWEEN '2024-05-01T09:15:00Z' AND '2024-05-01T18:00:00+08:00'",
        ),
        (
            "../2024-05-01T09:30:00Z",
            "seen_at::timestamptz <= '2024-05-01T09:30:00Z'",
        ),
        (
            "2024-05-01T10:00:00Z/..",
            "seen_at::timestamptz >= '2024-05-01T10:00:00Z'",
        ),
        (
            "2024-05-01",
            "(seen_at::timestamptz AT TIME ZONE 'UTC')::date = '2024-05-01'",
        ),
    ];
    for (value, sql) in datetime {
        let (status, fc) = get(&server.url(&format!(
            "/ogc/collections/sightings/items?datetime={value}"
        )))
        .await;
        assert_eq!(status, 200, "datetime={value}: {fc}");
        assert_eq!(names(&fc), sql_names(&db, sql).await, "datetime={value}");
    }
    let (status, body) = get(&server.url("/ogc/collections/sightings/items?datetime=soon")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("is not a date"), "{body}");

    // properties=: only the named properties, in every feature
    let (status, fc) =
        get(&server.url("/ogc/collections/sightings/items?properties=name,rank&sortby=name")).await;
    assert_eq!(status, 200, "{fc}");
    for f in fc["features"].as_array().unwrap() {
        let keys: Vec<&String> = f["properties"].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 2, "{f}");
        assert!(f["properties"]["seen_at"].is_null(), "{f}");
        assert!(f["properties"]["rank"].is_number(), "{f}");
    }
    let (status, body) =
        get(&server.url("/ogc/collections/sightings/items?properties=name,nope")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("seen_at"),
        "lists the fields: {body}"
    );

    // the conformance document claims the temporal functions
    let (_, conf) = get(&server.url("/ogc/conformance")).await;
    assert!(conf
        .to_string()
        .contains("cql2/1.0/conf/temporal-functions"));
}

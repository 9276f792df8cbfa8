//! `/api/nearest` and `POST /api/query` against PostGIS on the same data: random
//! points and polygons with a fixed seed; same features, distances, lengths and
//! areas within 0.1% of PostGIS's spheroidal `::geography` measures.

#[path = "query_city.rs"]
mod city;
mod common;

use std::collections::BTreeSet;

use common::{http, TestDb, TestServer};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

async fn start() -> (TestDb, TestServer) {
    let db = TestDb::new().await;
    city::make_city(&db.pool).await;
    let server = TestServer::start(&db);
    for id in city::LAYERS {
        city::wait_loaded(&http(), &server.base, id).await;
    }
    (db, server)
}

fn close(a: f64, b: f64, abs: f64) -> bool {
    (a - b).abs() <= abs.max(b.abs() * 1e-3)
}

#[tokio::test(flavor = "multi_thread")]
async fn nearest_matches_postgis() {
    let (db, server) = start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for round in 0..36 {
        let layer = ["poi", "bldg", "road"][round % 3];
        let lon = 24.90 + rng.gen::<f64>() * 0.1;
        let lat = 60.15 + rng.gen::<f64>() * 0.05;
        let k = 1 + (round % 7);
        let max = if round % 4 == 0 { 400.0 } else { 1e7 };
        let url = server.url(&format!(
            "/api/nearest?layer={layer}&lon={lon}&lat={lat}&k={k}&max_distance_m={max}"
        ));
        let r = http().get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let got: Vec<(i64, f64)> = body["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["id"].as_i64().unwrap(), f["distance_m"].as_f64().unwrap()))
            .collect();
        let want: Vec<(i64, f64)> = sqlx::query_as(&format!(
            "SELECT fid, d FROM (SELECT fid, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) AS d \
             FROM layers.{layer}) s WHERE d <= $3 ORDER BY d, fid LIMIT $4"
        ))
        .bind(lon)
        .bind(lat)
        .bind(max)
        .bind(k as i64)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        assert_eq!(
            got.len(),
            want.len(),
            "{layer} at {lon},{lat}: {got:?} vs {want:?}"
        );
        for ((gid, gd), (wid, wd)) in got.iter().zip(&want) {
            assert!(close(*gd, *wd, 0.05), "{layer} {lon},{lat}: {gd} vs {wd}");
            if gid != wid {
                // Only a near-tie may swap places.
                let theirs = want.iter().find(|(id, _)| id == gid).map(|w| w.1);
                assert!(
                    theirs.is_some_and(|d| close(d, *wd, 0.05)),
                    "{layer} {lon},{lat}: {got:?} vs {want:?}"
                );
            }
        }
    }
    // Chinese CRSs: a GCJ-02 point is moved back onto WGS84 before the search.
    let (lon, lat): (f64, f64) =
        sqlx::query_as("SELECT ST_X(geom), ST_Y(geom) FROM layers.wuhan_poi WHERE fid = 3")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    let (glon, glat) = citygrid_importers_gcj(lon, lat);
    let body: Value = http()
        .get(server.url(&format!(
            "/api/nearest?layer=wuhan_poi&lon={glon}&lat={glat}&k=1&crs=gcj02"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["features"][0]["id"], 3, "{body}");
    assert!(body["features"][0]["distance_m"].as_f64().unwrap() < 1.0);
}

/// WGS84 → GCJ-02 (the published algorithm), for building a test input.
fn citygrid_importers_gcj(lon: f64, lat: f64) -> (f64, f64) {
    use std::f64::consts::PI;
    let a = 6378245.0;
    let ee = 0.006_693_421_622_965_943;
    let (x, y) = (lon - 105.0, lat - 35.0);
    let mut dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    dlat += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    dlat += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    dlat += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    let mut dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    dlon += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    dlon += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    dlon += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    let rad = lat / 180.0 * PI;
    let magic = 1.0 - ee * rad.sin() * rad.sin();
    let sq = magic.sqrt();
    dlat = (dlat * 180.0) / ((a * (1.0 - ee)) / (magic * sq) * PI);
    dlon = (dlon * 180.0) / (a / sq * rad.cos() * PI);
    (lon + dlon, lat + dlat)
}

/// A random star-shaped polygon around (cx, cy) as GeoJSON and WKT.
fn random_polygon(rng: &mut rand::rngs::StdRng, cx: f64, cy: f64, r: f64) -> (Value, String) {
    let n = 5 + rng.gen_range(0..10);
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let rr = r * (0.4 + 0.6 * rng.gen::<f64>());
            [cx + rr * a.cos() * 2.0, cy + rr * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    let wkt = format!(
        "POLYGON(({}))",
        ring.iter()
            .map(|c| format!("{} {}", c[0], c[1]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (json!({"type": "Polygon", "coordinates": [ring]}), wkt)
}

#[tokio::test(flavor = "multi_thread")]
async fn area_statistics_match_postgis() {
    let (db, server) = start().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut nonzero = (0, 0);
    for round in 0..16 {
        let cx = 24.91 + rng.gen::<f64>() * 0.08;
        let cy = 60.155 + rng.gen::<f64>() * 0.04;
        let radius = 0.002 + rng.gen::<f64>() * 0.008;
        let (geometry, wkt) = random_polygon(&mut rng, cx, cy, radius);
        let op = if round % 3 == 2 {
            "within"
        } else {
            "intersects"
        };
        let r = http()
            .post(server.url("/api/query"))
            .json(
                &json!({"geometry": geometry, "layers": ["poi", "bldg", "road"], "op": op,
                          "include_features": true, "limit": 10000}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        for entry in body["layers"].as_array().unwrap() {
            let layer = entry["layer"].as_str().unwrap();
            let pred = if op == "within" {
                "ST_Within"
            } else {
                "ST_Intersects"
            };
            let (count, length, area): (i64, f64, f64) = sqlx::query_as(&format!(
                "SELECT count(*), coalesce(sum(ST_Length(ST_Intersection(geom, q)::geography)), 0), \
                        coalesce(sum(ST_Area(ST_Intersection(geom, q)::geography)), 0) \
                 FROM layers.{layer}, ST_GeomFromText($1, 4326) q WHERE {pred}(geom, q)"
            ))
            .bind(&wkt)
            .fetch_one(&db.pool)
            .await
            .unwrap();
            let ids: BTreeSet<i64> = entry["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_i64().unwrap())
                .collect();
            let want: BTreeSet<i64> = sqlx::query_scalar(&format!(
                "SELECT fid FROM layers.{layer}, ST_GeomFromText($1, 4326) q WHERE {pred}(geom, q)"
            ))
            .bind(&wkt)
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
            assert_eq!(ids, want, "{layer} {op} {wkt}");
            assert_eq!(entry["count"].as_i64().unwrap(), count);
            let (gl, ga) = (
                entry["length_m"].as_f64().unwrap(),
                entry["area_m2"].as_f64().unwrap(),
            );
            assert!(
                close(gl, length, 0.01),
                "{layer} {op} length {gl} vs {length} ({wkt})"
            );
            assert!(
                close(ga, area, 0.01),
                "{layer} {op} area {ga} vs {area} ({wkt})"
            );
            if length > 0.0 {
                nonzero.0 += 1;
            }
            if area > 0.0 {
                nonzero.1 += 1;
            }
        }
    }
    assert!(
        nonzero.0 > 5 && nonzero.1 > 5,
        "the data exercised lengths and areas: {nonzero:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_queries_are_refused_and_the_server_stays_up() {
    let (_db, server) = start().await;
    let client = http();
    let post = |body: Vec<u8>| {
        client
            .post(server.url("/api/query"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // 10 MB geometry: over the body limit. Sent over a raw socket so that the
    // early 413 can be read even though the server stops reading the body.
    let coords: Vec<String> = (0..800_000)
        .map(|i| format!("[{}.0,60.1]", 24 + i % 2))
        .collect();
    let big = format!(
        r#"{{"geometry":{{"type":"LineString","coordinates":[{}]}},"layers":["poi"]}}"#,
        coords.join(",")
    );
    assert!(big.len() > 9_000_000);
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = server.base.trim_start_matches("http://").to_string();
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api/query HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            big.len()
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        let _ = sock.write_all(&big.as_bytes()[..65536]).await;
        let mut response = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            sock.read_to_end(&mut response),
        )
        .await;
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert!(text.contains("\"error\""), "{text}");
    }
    let cases: Vec<(Value, u16)> = vec![
        (
            json!({"geometry": {"type": "Point", "coordinates": [24.9, 95.0]}, "layers": ["poi"]}),
            400,
        ),
        (
            json!({"geometry": {"type": "Point", "coordinates": ["NaN", 60.0]}, "layers": ["poi"]}),
            400,
        ),
        (
            json!({"geometry": {"type": "Point", "coordinates": [24.9, 60.0]}, "layers": ["poi; drop table x"]}),
            404,
        ),
        (
            json!({"geometry": {"type": "Point", "coordinates": [24.9, 60.0]}, "layers": ["nope"]}),
            404,
        ),
        (
            json!({"geometry": {"type": "Point", "coordinates": [24.9, 60.0]}, "layers": ["poi"], "op": "touches'--"}),
            400,
        ),
        (
            json!({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}, "layers": ["poi"]}),
            400,
        ),
        (
            json!({"geometry": {"type": "Point", "coordinates": [24.9, 60.0]}, "layers": ["poi"], "crs": "EPSG:1"}),
            400,
        ),
        (json!({"layers": ["poi"]}), 400),
    ];
    for (body, status) in cases {
        let r = post(serde_json::to_vec(&body).unwrap()).await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].is_string());
    }
    let r = post(
        br#"{"geometry":{"type":"Point","coordinates":[1e999,60]},"layers":["poi"]}"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let mut nested = json!({"type": "Point", "coordinates": [24.9, 60.1]});
    for _ in 0..200 {
        nested = json!({"type": "GeometryCollection", "geometries": [nested]});
    }
    let r = post(serde_json::to_vec(&json!({"geometry": nested, "layers": ["poi"]})).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // 150k vertices in a body under the limit: too many vertices.
    let server2 = TestServer::start_with(&_db, &[("CITYGRID_MAX_BODY_BYTES", "8000000")]);
    city::wait_loaded(&client, &server2.base, "poi").await;
    let many: Vec<[f64; 2]> = (0..150_000)
        .map(|i| [24.9 + (i % 100) as f64 * 1e-4, 60.1])
        .collect();
    let r = client
        .post(server2.url("/api/query"))
        .json(&json!({"geometry": {"type": "LineString", "coordinates": many}, "layers": ["poi"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    for q in [
        "layer=poi&lon=24.9&lat=91",
        "layer=poi&lon=NaN&lat=60",
        "layer=poi&lon=inf&lat=60",
        "layer=poi&lon=24.9&lat=60&k=101",
        "layer=poi&lon=24.9&lat=60&k=0",
        "layer=poi&lon=24.9&lat=60&max_distance_m=-1",
        "layer=poi&lon=24.9",
        "lon=24.9&lat=60",
        "layer=poi&lon=24.9&lat=60&order=1;drop",
    ] {
        let r = client
            .get(server.url(&format!("/api/nearest?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
    }
    let r = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

//! Limits and security headers, against the real server:
//!
//! - rate limits per client address, per API key and per signed-in user (token
//!   buckets: 429 with `Retry-After` and a JSON body; reads and writes apart; failed
//!   logins per address; `/health` never limited; `X-Forwarded-For` believed only from
//!   `trusted_proxies`);
//! - body size (declared and chunked) → 413, headers → 431, photo size → 413 and photo
//!   type by magic bytes (not by `Content-Type`) → 422;
//! - `limit` maxima (OGC items and `/api/query` clamped to 10,000, `/api/nearest` `k`
//!   over 100 refused), query geometry vertices → 413, the vector tile size cap on a
//!   dense layer;
//! - the request timeout (a body that never finishes → 503 JSON with `Retry-After`);
//! - the connection pool never grows beyond `db_max_connections`;
//! - `X-Content-Type-Options: nosniff` everywhere, CSP on pages, `/embed/map`
//!   frameable only by its key's origins, other pages and data not frameable,
//!   `Cache-Control: no-store` on authenticated JSON.

mod common;
mod mgmt_common;

use std::time::{Duration, Instant};

use common::{http, TestDb, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Creates an API key with the real CLI; returns the secret.
fn create_key(db: &TestDb, name: &str, origins: Option<&str>) -> String {
    let mut command = common::citygrid(db);
    command.args(["key", "create", "--name", name]);
    if let Some(o) = origins {
        command.args(["--origins", o]);
    }
    let (ok, out, err) = common::run(&mut command);
    assert!(ok, "key create: {err}");
    out.trim().to_string()
}

/// Signs in; returns the token.
async fn login(server: &TestServer, user: &str, password: &str) -> String {
    let r: Value = http()
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login {user}: {r}"))
        .to_string()
}

/// Checks a 429: `Retry-After` in whole seconds, a JSON body naming the scope.
async fn assert_429(response: reqwest::Response, scope: &str) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body: Value = response.json().await.expect("JSON body");
    assert!(
        body["error"].as_str().unwrap().contains("too many"),
        "{body}"
    );
    assert_eq!(body["detail"]["scope"], scope, "{body}");
    assert_eq!(body["detail"]["retry_after_secs"], retry, "{body}");
    retry
}

/// Sends `n` requests made by `make` one after the other; returns how many were
/// not refused, the first refusal, and the seconds it took.
async fn drain<F>(n: usize, make: F) -> (usize, Option<reqwest::Response>, f64)
where
    F: Fn() -> reqwest::RequestBuilder,
{
    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..n {
        let r = make().send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            return (ok, Some(r), start.elapsed().as_secs_f64());
        }
        assert!(r.status().is_success(), "{}", r.status());
        ok += 1;
    }
    (ok, None, start.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_per_address_key_and_failed_logins() {
    let db = TestDb::new().await;
    common::add_user(&db, "alice", "admin", None, "alice-pass-123");
    let key = create_key(&db, "ratelimited", None);
    let server = TestServer::start_with(
        &db,
        &[
            ("CITYGRID_RATE_LIMIT_READ_PER_SEC", "1"),
            ("CITYGRID_RATE_LIMIT_READ_BURST", "8"),
            ("CITYGRID_RATE_LIMIT_WRITE_PER_SEC", "1"),
            ("CITYGRID_RATE_LIMIT_WRITE_BURST", "100"),
            ("CITYGRID_RATE_LIMIT_KEY_PER_SEC", "1"),
            ("CITYGRID_RATE_LIMIT_KEY_BURST", "3"),
            ("CITYGRID_RATE_LIMIT_LOGIN_PER_MIN", "1"),
            ("CITYGRID_RATE_LIMIT_LOGIN_BURST", "3"),
        ],
    );
    let client = http();

    // Successful logins give their token back: many in a row are fine.
    for _ in 0..6 {
        login(&server, "alice", "alice-pass-123").await;
    }
    // Failed logins: 3 answered 401, then 429 for a minute, even with the right password.
    for _ in 0..3 {
        let r = client
            .post(server.url("/api/auth/login"))
            .json(&json!({"username": "alice", "password": "guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "alice", "password": "alice-pass-123"}))
        .send()
        .await
        .unwrap();
    let retry = assert_429(r, "address").await;
    assert!(
        retry >= 30,
        "one failed login per minute: retry after {retry}"
    );

    // API key: its own bucket of 3, also charged to the address.
    let (ok, refusal, secs) = drain(10, || {
        client.get(server.url("/catalog")).header("X-API-Key", &key)
    })
    .await;
    assert!(
        ok >= 3 && (ok as f64) <= 3.0 + secs + 1.0,
        "{ok} key requests in {secs} s"
    );
    assert_429(refusal.expect("the key's budget runs out"), "key").await;

    // Anonymous reads from this address: the rest of its bucket of 8, then 429 —
    // X-Forwarded-For changes nothing, as no proxy is trusted.
    let (ok, refusal, secs) = drain(20, || {
        client
            .get(server.url("/catalog"))
            .header("X-Forwarded-For", "198.51.100.7")
    })
    .await;
    assert!(
        (ok as f64) <= 8.0 + 2.0 * (secs + 1.0) && ok >= 1,
        "{ok} reads in {secs} s"
    );
    let retry = assert_429(refusal.expect("the address's budget runs out"), "address").await;
    // Health checks are never limited; writes have their own bucket.
    for _ in 0..3 {
        let r = client.get(server.url("/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client
        .post(server.url("/api/query"))
        .json(&json!({"layers": ["nothing"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a write is not refused by the read bucket");
    // The bucket refills: after Retry-After a read goes through again.
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(200)).await;
    let r = client.get(server.url("/catalog")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(server.terminate());
}

#[tokio::test(flavor = "multi_thread")]
async fn per_user_limits_and_trusted_proxies() {
    let db = TestDb::new().await;
    common::add_user(&db, "bob", "admin", None, "bob-pass-12345");
    let server = TestServer::start_with(
        &db,
        &[
            ("CITYGRID_TRUSTED_PROXIES", "127.0.0.1,::1"),
            ("CITYGRID_RATE_LIMIT_READ_PER_SEC", "0.5"),
            ("CITYGRID_RATE_LIMIT_READ_BURST", "4"),
        ],
    );
    let client = http();
    let token = login(&server, "bob", "bob-pass-12345").await;
    // Each request from another client address (through the trusted proxy): the
    // addresses never run out, the user's own bucket of 4 does.
    let mut i = 0u32;
    let mut ok = 0;
    let start = Instant::now();
    let refusal = loop {
        i += 1;
        assert!(i < 20, "the user's budget never ran out");
        let r = client
            .get(server.url("/api/auth/me"))
            .bearer_auth(&token)
            .header("X-Forwarded-For", format!("203.0.113.{i}"))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            break r;
        }
        assert_eq!(r.status(), 200);
        ok += 1;
    };
    let secs = start.elapsed().as_secs_f64();
    assert!(
        ok >= 4 && (ok as f64) <= 4.0 + 0.5 * secs + 1.0,
        "{ok} in {secs} s"
    );
    assert_429(refusal, "user").await;
    // Anonymous clients behind the proxy are told apart by X-Forwarded-For.
    let (ok, refusal, _) = drain(10, || {
        client
            .get(server.url("/catalog"))
            .header("X-Forwarded-For", "198.51.100.1, 127.0.0.1")
    })
    .await;
    assert!(ok >= 4, "{ok}");
    assert_429(refusal.expect("that client's budget runs out"), "address").await;
    let r = client
        .get(server.url("/catalog"))
        .header("X-Forwarded-For", "198.51.100.2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another client behind the proxy");
}

/// Sends raw bytes and returns the status line's code and the rest of the answer.
async fn raw(base: &str, head: &str, body_parts: &[&[u8]], pause: Duration) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for part in body_parts {
        if stream.write_all(part).await.is_err() {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    (status, text)
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn body_photo_geometry_and_header_limits() {
    let e = mgmt_common::env(
        "limits",
        &["dep1"],
        &[("CITYGRID_MAX_UPLOAD_BYTES", "50000")],
    )
    .await;
    e.wait_grids().await;
    mgmt_common::cli(&e.db, &["grid", "seed-reference"]);
    let client = http();
    let mut case = None;
    for _ in 0..100 {
        let (s, v) = e
            .call(
                Some("inspector"),
                Method::POST,
                "/api/cases",
                Some(json!({"category": "E0102", "lon": 114.3005, "lat": 30.5905})),
            )
            .await;
        if s == 201 {
            case = v["id"].as_i64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let case = case.expect("a case");
    let token = e.tokens["inspector"].clone();
    let base = e.server.base.clone();

    // A declared body over max_body_bytes (1 MiB): 413 before it is read.
    let big = format!(
        "{{\"layers\":[\"unit_grids\"],\"geometry\":{{\"type\":\"Point\",\"coordinates\":[0,0]}},\"pad\":\"{}\"}}",
        "x".repeat(1_100_000)
    );
    let r = client
        .post(e.server.url("/api/query"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["detail"]["limit_bytes"], 1024 * 1024, "{v}");
    // The same without a length (chunked): 413 too, as JSON.
    let head = "POST /api/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let parts: Vec<Vec<u8>> = big
        .as_bytes()
        .chunks(200_000)
        .map(chunk)
        .chain([b"0\r\n\r\n".to_vec()])
        .collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let (status, text) = raw(&base, head, &refs, Duration::ZERO).await;
    assert_eq!(status, 413, "{}", &text[..text.len().min(300)]);
    assert!(text.contains("\"error\""), "{text}");

    // Headers over 64 KiB: 431.
    let r = client
        .get(e.server.url("/health"))
        .header("x-padding", "p".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);

    // Photos: the type comes from the bytes, not from Content-Type.
    let url = e.server.url(&format!("/api/cases/{case}/photos"));
    // a JPEG frame header (SOF0, 1×1: the size is read from it), then filler
    let sof: [u8; 21] = [
        0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0, 1, 0, 1, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
    ];
    let jpeg: Vec<u8> = [&sof[..], &[7u8; 500][..]].concat();
    let r = client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(jpeg.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content_type"], "image/jpeg");
    let webp: Vec<u8> = [&b"RIFF\x10\0\0\0WEBPVP8 "[..], &[1u8; 64][..]].concat();
    let r = client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(webp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for (bytes, ct) in [
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec(),
            "image/png",
        ),
        (b"GIF89a\x01\x00\x01\x00".to_vec(), "image/gif"),
        (b"%PDF-1.7".to_vec(), "image/jpeg"),
    ] {
        let r = client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"].as_str().unwrap().contains("JPEG, PNG and WebP"),
            "{v}"
        );
    }
    // Over max_upload_bytes (50,000): declared → 413 at once; chunked → 413 after
    // reading no more than the limit.
    let over: Vec<u8> = [&[0xFF, 0xD8, 0xFF][..], &vec![0u8; 60_000][..]].concat();
    let r = client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "image/jpeg")
        .body(over.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let head = format!(
        "POST /api/cases/{case}/photos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let parts: Vec<Vec<u8>> = over
        .chunks(10_000)
        .map(chunk)
        .chain([b"0\r\n\r\n".to_vec()])
        .collect();
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let (status, text) = raw(&base, &head, &refs, Duration::ZERO).await;
    assert_eq!(status, 413, "{}", &text[..text.len().min(300)]);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM case_photos WHERE case_id = $1")
        .bind(case)
        .fetch_one(&e.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 2, "only the two valid photos were stored");

    // Query geometry: more than 100,000 vertices in a body under the size limit → 413.
    let many = format!(
        "{{\"layers\":[\"unit_grids\"],\"geometry\":{{\"type\":\"MultiPoint\",\"coordinates\":[{}[0,0]]}}}}",
        "[0,0],".repeat(100_000)
    );
    assert!(many.len() < 1024 * 1024);
    let r = client
        .post(e.server.url("/api/query"))
        .header("content-type", "application/json")
        .body(many)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("vertices"), "{v}");
    // nearest: k over 100 refused with a message naming the range.
    let r = client
        .get(
            e.server
                .url("/api/nearest?layer=unit_grids&lon=114.3005&lat=30.5905&k=101"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("100"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dense_layer_tiles_stay_under_the_cap_and_limits_are_clamped() {
    let db = TestDb::new().await;
    let n = 30_000;
    sqlx::query(&format!(
        "CREATE TABLE layers.dense AS SELECT i::bigint AS fid, \
            ST_SetSRID(ST_MakePoint(114.30 + ((i::bigint * 7919) % 10007) / 10007.0 * 0.02, \
                                    30.59 + ((i::bigint * 104729) % 9973) / 9973.0 * 0.02), 4326) AS geom, \
            'point ' || i AS name, i % 100 AS rank FROM generate_series(1, {n}) i"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE layers.dense ADD PRIMARY KEY (fid)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT 'dense', 'dense', 'vector', 'Point', \
                '[{\"name\":\"name\",\"type\":\"text\"},{\"name\":\"rank\",\"type\":\"integer\"}]'::jsonb, \
                count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.dense",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let max_tile = 20_000;
    let server = TestServer::start_with(&db, &[("CITYGRID_MAX_TILE_BYTES", "20000")]);
    let client = http();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = client
            .get(server.url("/tiles/dense/0/0/0"))
            .send()
            .await
            .unwrap()
            .status();
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "layer never loaded: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every zoom where all the points fall into one or a few tiles: under the cap,
    // and the z0 clusters still count every point.
    for z in 0u32..=12 {
        let scale = 2f64.powi(z as i32);
        let x0 = ((114.30 + 180.0) / 360.0 * scale).floor() as u32;
        let x1 = ((114.32 + 180.0) / 360.0 * scale).floor() as u32;
        let merc = |lat: f64| {
            let r = f64::to_radians(lat);
            ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * scale).floor()
                as u32
        };
        let (y0, y1) = (merc(30.61), merc(30.59));
        for x in x0..=x1 {
            for y in y0..=y1 {
                let r = client
                    .get(server.url(&format!("/tiles/dense/{z}/{x}/{y}")))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status() == 200 || r.status() == 204, "z{z}/{x}/{y}");
                let bytes = r.bytes().await.unwrap();
                assert!(
                    bytes.len() <= max_tile,
                    "z{z}/{x}/{y} is {} bytes, over {max_tile}",
                    bytes.len()
                );
                if z == 0 {
                    let total: u64 = common::mvt::decode(&bytes)
                        .iter()
                        .map(|f| {
                            f.prop("point_count")
                                .map(|v| v.parse::<u64>().unwrap())
                                .unwrap_or(1)
                        })
                        .sum();
                    assert_eq!(total, n, "clusters count every point");
                }
            }
        }
    }
    // OGC items: limit above 10,000 is clamped to 10,000.
    let v: Value = client
        .get(server.url("/ogc/collections/dense/items?limit=25000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["numberReturned"], 10_000);
    assert_eq!(v["numberMatched"], n);
    let r = client
        .get(server.url("/ogc/collections/dense/items?limit=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // /api/query: features listed per layer clamped to 10,000, counts complete.
    let v: Value = client
        .post(server.url("/api/query"))
        .json(&json!({
            "geometry": {"type": "Polygon", "coordinates": [[[114.2, 30.5], [114.4, 30.5], [114.4, 30.7], [114.2, 30.7], [114.2, 30.5]]]},
            "layers": ["dense"], "limit": 50000, "include_features": true
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = v.to_string();
    let listed = text.matches("\"Feature\"").count();
    assert!(listed <= 10_000 && listed > 0, "{listed} features listed");
    assert!(text.contains(&n.to_string()), "the count is complete");
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_requests_time_out_with_503_json() {
    let db = TestDb::new().await;
    let server = TestServer::start_with(&db, &[("CITYGRID_REQUEST_TIMEOUT_SECS", "1")]);
    // A body that never finishes: the request is cut off at the timeout.
    let head = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n";
    let (status, text) = raw(&server.base, head, &[b"{\"username\":"], Duration::ZERO).await;
    assert_eq!(status, 503, "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("retry-after: "), "{text}");
    assert!(lower.contains("content-type: application/json"), "{text}");
    assert!(text.contains("\"error\""), "{text}");
    // The server is fine afterwards.
    let r = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_never_exceeds_db_max_connections() {
    let e = mgmt_common::env("pool", &[], &[("CITYGRID_DB_MAX_CONNECTIONS", "4")]).await;
    // Only the server's connections carry application_name=citygrid from here on.
    e.db.pool.close().await;
    let mut watcher = <sqlx::PgConnection as sqlx::Connection>::connect(&e.db.url)
        .await
        .unwrap();
    let token = e.tokens["admin"].clone();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = e.server.url(if i % 2 == 0 {
            "/api/cases"
        } else {
            "/api/departments"
        });
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..5 {
                let r = http().get(&url).bearer_auth(&token).send().await.unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        }));
    }
    let mut most = 0i64;
    while !tasks.iter().all(|t| t.is_finished()) {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'citygrid' AND query NOT ILIKE 'listen%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        most = most.max(n);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for t in tasks {
        for s in t.await.unwrap() {
            assert_eq!(s, 200, "requests wait for a connection, they do not fail");
        }
    }
    assert!(most >= 1, "the watcher saw the server's connections");
    assert!(
        most <= 4,
        "{most} connections open, more than db_max_connections = 4"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn security_headers_on_pages_data_and_embeds() {
    let db = TestDb::new().await;
    common::add_user(&db, "carol", "inspector", None, "carol-pass-123");
    let key = create_key(&db, "embedder", Some("https://city.example"));
    let server = TestServer::start(&db);
    let client = http();
    let token = login(&server, "carol", "carol-pass-123").await;

    // Pages: CSP, not frameable.
    for page in ["/", "/inspector", "/console", "/embed"] {
        let r = client.get(server.url(page)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{page}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{page}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{page}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{page}");
    }
    // The embeddable map: framed only by its key's origins.
    let r = client
        .get(server.url(&format!("/embed/map?key={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'self' https://city.example"),
        "{csp}"
    );
    assert!(r.headers().get("x-frame-options").is_none());
    // From a site the key does not allow: refused.
    let r = client
        .get(server.url(&format!("/embed/map?key={key}")))
        .header("referer", "https://evil.example/page")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Data: nosniff, nothing loads from it, not frameable.
    for path in [
        "/health",
        "/catalog",
        "/tiles/nothing/0/0/0",
        "/no/such/route",
    ] {
        let r = client.get(server.url(path)).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            h["content-security-policy"], "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
    // Authenticated JSON is never stored by caches; the login answer neither.
    let r = client
        .get(server.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "carol", "password": "carol-pass-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = client
        .get(server.url("/api/cases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
}

/// A client that sends a whole oversized body before it reads the answer (as curl
/// and most HTTP libraries do without `Expect: 100-continue`) gets the 413, not a
/// connection reset: the server reads and discards a bounded amount first. With
/// `Expect: 100-continue` nothing is read and the 413 comes at once.
/// Issue 26: failed sign-ins are also limited per account, whatever address they
/// come from: after 5, the account answers 429 for a window that doubles (5 s, 10 s,
/// …, at most 5 min) without reading the password; an address the account signed in
/// from before is not held back, and a success clears the count.
#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_back_off_per_account_from_any_address() {
    let db = TestDb::new().await;
    common::add_user(&db, "li", "inspector", None, "li-pass-12345");
    common::add_user(&db, "wang", "inspector", None, "wang-pass-12345");
    let server = TestServer::start_with(
        &db,
        &[
            // every request comes through a "proxy" that names the client
            ("CITYGRID_TRUSTED_PROXIES", "127.0.0.1"),
            ("CITYGRID_RATE_LIMIT_LOGIN_PER_MIN", "10"),
            ("CITYGRID_RATE_LIMIT_LOGIN_BURST", "10"),
        ],
    );
    let client = http();
    let sign_in = |name: &'static str, password: &'static str, from: &'static str| {
        client
            .post(server.url("/api/auth/login"))
            .header("x-forwarded-for", from)
            .json(&json!({"username": name, "password": password}))
            .send()
    };
    // li signs in from the office once
    let r = sign_in("li", "li-pass-12345", "198.51.100.7")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // 5 guesses from 5 addresses (each far below its own limit): 401 each
    for from in [
        "203.0.113.1",
        "203.0.113.2",
        "203.0.113.3",
        "203.0.113.4",
        "203.0.113.5",
    ] {
        let r = sign_in("li", "guess-guess", from).await.unwrap();
        assert_eq!(r.status(), 401, "from {from}");
    }
    // the account now refuses sign-ins from anywhere new, even with the right password
    for (password, from) in [
        ("guess-guess", "203.0.113.6"),
        ("li-pass-12345", "192.0.2.9"),
    ] {
        let r = sign_in("li", password, from).await.unwrap();
        let retry = assert_429(r, "account").await;
        assert!((1..=5).contains(&retry), "retry after {retry}");
    }
    // other accounts are not affected, nor li at the office
    let r = sign_in("wang", "wang-pass-12345", "203.0.113.6")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = sign_in("li", "li-pass-12345", "198.51.100.7")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the office is not held back");
    // the office's success cleared the count: 5 more failures, then the window
    // doubles with every failure after its end
    for _ in 0..5 {
        let r = sign_in("li", "guess-guess", "203.0.113.7").await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = sign_in("li", "guess-guess", "203.0.113.8").await.unwrap();
    let first = assert_429(r, "account").await;
    tokio::time::sleep(Duration::from_secs(first)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = sign_in("li", "guess-guess", "203.0.113.9").await.unwrap();
        if r.status() == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the window never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = sign_in("li", "li-pass-12345", "192.0.2.9").await.unwrap();
    let second = assert_429(r, "account").await;
    assert!(second > first && second <= 10, "{first} s, then {second} s");
}

/// Issue 26: with `public_url` set, every link the service writes (TileJSON, styles,
/// OGC API, Open311 discovery) starts with it, whatever `Host` the request carried.
#[tokio::test(flavor = "multi_thread")]
async fn links_use_the_public_url_never_the_host_header() {
    let e = mgmt_common::env(
        "public_url",
        &[],
        &[("CITYGRID_PUBLIC_URL", "https://gis.example.gov.cn/")],
    )
    .await;
    e.wait_grids().await;
    let public = "https://gis.example.gov.cn";
    let get = |path: &'static str| {
        http()
            .get(e.server.url(path))
            .header("host", "evil.example.net")
            .header("x-forwarded-proto", "http")
            .send()
    };
    let mut seen = 0;
    for path in [
        "/tiles/unit_grids.json",
        "/styles/default.json",
        "/ogc",
        "/ogc/collections",
        "/ogc/collections/unit_grids/items?limit=1",
        "/open311/v2/discovery.json",
    ] {
        let r = get(path).await.expect(path);
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.expect("body");
        assert!(!text.contains("evil.example"), "{path} echoes Host: {text}");
        assert!(
            text.contains(public),
            "{path} has no link to {public}: {text}"
        );
        // every absolute link of ours starts with the public URL
        for (i, _) in text.match_indices("://") {
            let start = text[..i].rfind('"').map_or(0, |q| q + 1);
            let url = &text[start..];
            let external = ["http://www.opengis.net", "http://wiki.open311.org"];
            if url.starts_with("http") && !external.iter().any(|x| url.starts_with(x)) {
                assert!(
                    url.starts_with(public),
                    "{path}: {}",
                    &url[..url.len().min(80)]
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 6, "only {seen} links checked");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_sent_whole_gets_413_not_a_reset() {
    let db = TestDb::new().await;
    let server = TestServer::start(&db);
    let addr = server.base.trim_start_matches("http://").to_string();
    // 8 MiB: far more than the socket buffers of both ends hold together.
    let body = vec![b'x'; 8 * 1024 * 1024];
    for (path, head_extra) in [
        ("/api/query", "Content-Type: application/json\r\n"),
        ("/api/cases", "Content-Type: application/json\r\n"),
    ] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{head_extra}Content-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let sent = stream.write_all(&body).await;
        assert!(
            sent.is_ok(),
            "{path}: the server reset the connection while the body was sent: {sent:?}"
        );
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), async {
            let mut buf = [0u8; 8192];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => return Ok(()),
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .expect("an answer within 30 s");
        let text = String::from_utf8_lossy(&answer).to_string();
        assert!(read.is_ok() || !answer.is_empty(), "{path}: {read:?}");
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text:?}");
        assert!(text.contains("limit_bytes"), "{path}: {text}");
    }
    // Expect: 100-continue: refused before the body is sent.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text:?}");
}

//! OGC API – Features and Tiles end to end: the real server answers from its
//! in-memory index; every selection is checked against the same question asked of
//! PostGIS in SQL (written here by the test, never built from the request).

#[path = "query_city.rs"]
mod city;
mod common;

use std::collections::BTreeSet;

use common::tiles::tile_of;
use common::{http, TestDb, TestServer};
use rand::{Rng, SeedableRng};
use serde_json::Value;

async fn get_json(url: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = http().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.unwrap();
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, v, headers)
}

fn ids(fc: &Value) -> BTreeSet<i64> {
    fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

async fn sql_ids(db: &TestDb, layer: &str, where_sql: &str) -> BTreeSet<i64> {
    let rows: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT fid FROM layers.\"{layer}\" WHERE {where_sql}"
    ))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

async fn start() -> (TestDb, TestServer) {
    let db = TestDb::new().await;
    city::make_city(&db.pool).await;
    let server = TestServer::start(&db);
    for id in city::LAYERS {
        city::wait_loaded(&http(), &server.base, id).await;
    }
    (db, server)
}

/// Percent-encodes a query value.
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

#[tokio::test(flavor = "multi_thread")]
async fn items_bbox_and_filters_match_postgis() {
    let (db, server) = start().await;
    // CQL2 filters and the SQL that means the same.
    let filters: &[(&str, &str, &str)] = &[
        ("poi", "rank > 3 AND rank <= 5", "rank > 3 AND rank <= 5"),
        ("poi", "name LIKE 'p1%' OR kind = 'cafe'", "name LIKE 'p1%' OR kind = 'cafe'"),
        ("poi", "kind IN ('shop', 'school') OR kind IS NULL", "kind IN ('shop', 'school') OR kind IS NULL"),
        ("poi", "NOT (rank BETWEEN 2 AND 4)", "NOT (rank BETWEEN 2 AND 4)"),
        ("poi", "height >= 10.5 AND NOT kind <> 'park'", "height >= 10.5 AND NOT kind <> 'park'"),
        ("poi", "S_DWITHIN(geometry, POINT(24.95 60.17), 800, meters) AND rank IS NOT NULL",
            "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(24.95, 60.17), 4326)::geography, 800) AND rank IS NOT NULL"),
        ("bldg", "S_INTERSECTS(geometry, POLYGON((24.93 60.16, 24.97 60.16, 24.96 60.19, 24.93 60.16)))",
            "ST_Intersects(geom, ST_GeomFromText('POLYGON((24.93 60.16, 24.97 60.16, 24.96 60.19, 24.93 60.16))', 4326))"),
        ("bldg", "S_WITHIN(geometry, BBOX(24.92, 60.16, 24.97, 60.19)) AND height < 30",
            "ST_Within(geom, ST_MakeEnvelope(24.92, 60.16, 24.97, 60.19, 4326)) AND height < 30"),
        ("road", "S_CROSSES(geometry, LINESTRING(24.90 60.175, 25.0 60.175))",
            "ST_Crosses(geom, ST_GeomFromText('LINESTRING(24.90 60.175, 25.0 60.175)', 4326))"),
        ("road", "kind = 'primary' AND S_INTERSECTS(geometry, BBOX(24.94, 60.16, 24.98, 60.18))",
            "kind = 'primary' AND ST_Intersects(geom, ST_MakeEnvelope(24.94, 60.16, 24.98, 60.18, 4326))"),
    ];
    for (layer, cql, sql) in filters {
        let url = server.url(&format!(
            "/ogc/collections/{layer}/items?limit=10000&filter={}&filter-lang=cql2-text",
            enc(cql)
        ));
        let (status, fc, _) = get_json(&url).await;
        assert_eq!(status, 200, "{cql}: {fc}");
        let want = sql_ids(&db, layer, sql).await;
        assert!(!want.is_empty(), "{cql} selects something");
        assert_eq!(ids(&fc), want, "{cql}");
        assert_eq!(fc["numberMatched"].as_u64().unwrap() as usize, want.len());
    }
    // The same question in CQL2-JSON.
    let json_filter = serde_json::json!({"op": "and", "args": [
        {"op": ">=", "args": [{"property": "height"}, 20]},
        {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [24.92, 60.16, 24.97, 60.19]}]},
        {"op": "not", "args": [{"op": "isNull", "args": [{"property": "kind"}]}]}
    ]});
    let (status, fc, _) = get_json(&server.url(&format!(
        "/ogc/collections/bldg/items?limit=10000&filter-lang=cql2-json&filter={}",
        enc(&json_filter.to_string())
    )))
    .await;
    assert_eq!(status, 200, "{fc}");
    let want = sql_ids(
        &db,
        "bldg",
        "height >= 20 AND ST_Intersects(geom, ST_MakeEnvelope(24.92, 60.16, 24.97, 60.19, 4326)) AND kind IS NOT NULL",
    )
    .await;
    assert!(!want.is_empty());
    assert_eq!(ids(&fc), want);
    // Random bboxes (fixed seed) with and without a property filter.
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    for round in 0..24 {
        let layer = ["poi", "bldg", "road"][round % 3];
        let x0 = 24.90 + rng.gen::<f64>() * 0.08;
        let y0 = 60.15 + rng.gen::<f64>() * 0.04;
        let (x1, y1) = (
            x0 + 0.002 + rng.gen::<f64>() * 0.03,
            y0 + 0.002 + rng.gen::<f64>() * 0.015,
        );
        let envelope = format!("ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326)");
        let (extra, sql_extra) = if round % 2 == 0 {
            (String::new(), String::new())
        } else {
            ("&kind=park".to_string(), " AND kind = 'park'".to_string())
        };
        let (status, fc, headers) = get_json(&server.url(&format!(
            "/ogc/collections/{layer}/items?limit=10000&bbox={x0},{y0},{x1},{y1}{extra}"
        )))
        .await;
        assert_eq!(status, 200, "{fc}");
        assert_eq!(
            headers["content-crs"],
            "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
        );
        let want = sql_ids(
            &db,
            layer,
            &format!("ST_Intersects(geom, {envelope}){sql_extra}"),
        )
        .await;
        assert_eq!(ids(&fc), want, "{layer} bbox {x0},{y0},{x1},{y1}{extra}");
        // The same box as EPSG:4326 (lat,lon) and as EPSG:3857.
        let (_, fc4326, h) = get_json(&server.url(&format!(
            "/ogc/collections/{layer}/items?limit=10000&bbox={y0},{x0},{y1},{x1}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326&crs=http://www.opengis.net/def/crs/EPSG/0/4326{extra}"
        )))
        .await;
        assert_eq!(ids(&fc4326), want);
        assert_eq!(
            h["content-crs"],
            "<http://www.opengis.net/def/crs/EPSG/0/4326>"
        );
        if let Some(f) = fc4326["features"].as_array().and_then(|a| a.first()) {
            if f["geometry"]["type"] == "Point" {
                let lat = f["geometry"]["coordinates"][0].as_f64().unwrap();
                assert!((60.0..61.0).contains(&lat), "EPSG:4326 is lat,lon: {f}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_sorting_crs_and_metadata() {
    let (db, server) = start().await;
    // Walk the next links of a sorted query; compare with ORDER BY.
    let mut url = server.url(
        "/ogc/collections/poi/items?limit=700&sortby=-rank,%2Bname&bbox=24.9,60.15,24.96,60.2",
    );
    let mut got: Vec<i64> = Vec::new();
    let mut pages = 0;
    loop {
        let (status, fc, _) = get_json(&url).await;
        assert_eq!(status, 200, "{fc}");
        got.extend(
            fc["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_i64().unwrap()),
        );
        assert_eq!(
            fc["numberReturned"].as_u64().unwrap() as usize,
            fc["features"].as_array().unwrap().len()
        );
        assert!(fc["timeStamp"].as_str().unwrap().ends_with('Z'));
        pages += 1;
        let next = fc["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next");
        match next {
            Some(l) => url = l["href"].as_str().unwrap().to_string(),
            None => break,
        }
        assert!(pages < 20);
    }
    let want: Vec<i64> = sqlx::query_scalar(
        "SELECT fid FROM layers.poi WHERE ST_Intersects(geom, ST_MakeEnvelope(24.9, 60.15, 24.96, 60.2, 4326)) \
         ORDER BY rank DESC NULLS FIRST, name COLLATE \"C\" ASC, fid",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(pages >= 2);
    assert_eq!(got, want);

    // A limit above the maximum is clamped, not refused.
    for huge in ["50000", "99999999999999999999999"] {
        let (status, fc, _) =
            get_json(&server.url(&format!("/ogc/collections/poi/items?limit={huge}"))).await;
        assert_eq!(status, 200);
        assert_eq!(fc["numberReturned"], 3000);
    }

    // Gauss–Krüger output (northing, easting) matches PostGIS's ST_Transform.
    let (status, f, headers) =
        get_json(&server.url(
            "/ogc/collections/wuhan_poi/items/7?crs=http://www.opengis.net/def/crs/EPSG/0/4547",
        ))
        .await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(
        headers["content-crs"],
        "<http://www.opengis.net/def/crs/EPSG/0/4547>"
    );
    let (x, y): (f64, f64) = sqlx::query_as(
        "SELECT ST_X(ST_Transform(geom, 4547)), ST_Y(ST_Transform(geom, 4547)) FROM layers.wuhan_poi WHERE fid = 7",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let c = &f["geometry"]["coordinates"];
    assert!(
        (c[0].as_f64().unwrap() - y).abs() < 0.01,
        "northing first: {c} vs {x},{y}"
    );
    assert!((c[1].as_f64().unwrap() - x).abs() < 0.01);
    // A bbox in EPSG:4547 (northing, easting order) selects what PostGIS selects.
    let (n0, e0, n1, e1) = (y - 4000.0, x - 5000.0, y + 3000.0, x + 6000.0);
    let (_, fc, _) = get_json(&server.url(&format!(
        "/ogc/collections/wuhan_poi/items?bbox={n0},{e0},{n1},{e1}&bbox-crs=EPSG:4547&limit=1000"
    )))
    .await;
    let want = sql_ids(
        &db,
        "wuhan_poi",
        &format!(
        "ST_Intersects(ST_Transform(geom, 4547), ST_MakeEnvelope({e0}, {n0}, {e1}, {n1}, 4547))"
    ),
    )
    .await;
    assert!(!want.is_empty());
    assert_eq!(ids(&fc), want);

    // Landing page, conformance, collections, queryables, OpenAPI.
    let (_, landing, _) = get_json(&server.url("/ogc")).await;
    assert!(landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "conformance"));
    let (_, conf, _) = get_json(&server.url("/ogc/conformance")).await;
    let classes: Vec<&str> = conf["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in [
        "ogcapi-features-1/1.0/conf/core",
        "ogcapi-features-2/1.0/conf/crs",
        "cql2/1.0/conf/cql2-text",
        "ogcapi-features-3/1.0/conf/features-filter",
    ] {
        assert!(classes.iter().any(|x| x.ends_with(c)), "{c}");
    }
    let (_, cols, _) = get_json(&server.url("/ogc/collections")).await;
    let listed: BTreeSet<&str> = cols["collections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    // every vector layer but the cases, which anonymous visitors do not see
    // (cases_public_view = hidden, the default; tests/layer_access.rs)
    let vector: BTreeSet<String> =
        sqlx::query_scalar("SELECT id FROM layer_catalog WHERE kind = 'vector' AND id <> 'cases'")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(
        listed,
        vector.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    assert!(city::LAYERS.iter().all(|l| listed.contains(l)));
    let (_, col, _) = get_json(&server.url("/ogc/collections/bldg")).await;
    assert_eq!(
        col["extent"]["spatial"]["bbox"][0]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(col["crs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "http://www.opengis.net/def/crs/EPSG/0/4554"));
    let (_, q, _) = get_json(&server.url("/ogc/collections/bldg/queryables")).await;
    assert_eq!(q["properties"]["rank"]["type"], "integer");
    assert_eq!(q["properties"]["height"]["type"], "number");
    let r = http().get(server.url("/ogc/api")).send().await.unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.oai.openapi+json;version=3.0"
    );
    let api: Value = r.json().await.unwrap();
    let text = api.to_string();
    assert!(!text.contains("\"$ref\":\"http"), "no external $ref");
    assert!(api["paths"]["/collections/{collectionId}/items"]["get"].is_object());

    // OGC tiles are the same MVT as /tiles (z/y/x versus z/x/y).
    let z = 14;
    let (x, y) = tile_of(24.95, 60.175, z);
    let a = http()
        .get(server.url(&format!(
            "/ogc/collections/bldg/tiles/WebMercatorQuad/{z}/{y}/{x}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    let a = a.bytes().await.unwrap();
    let b = http()
        .get(server.url(&format!("/tiles/bldg/{z}/{x}/{y}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let (s, tms, _) = get_json(&server.url("/ogc/tileMatrixSets/WebMercatorQuad")).await;
    assert_eq!((s, tms["id"].as_str()), (200, Some("WebMercatorQuad")));
    let (s, ts, _) = get_json(&server.url("/ogc/collections/bldg/tiles/WebMercatorQuad")).await;
    assert_eq!(s, 200);
    assert!(ts["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["templated"] == true));
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_input_is_a_clear_4xx() {
    let (_db, server) = start().await;
    let nested = format!("{}rank = 1{}", "(".repeat(500), ")".repeat(500));
    let long_in = format!(
        "rank IN ({})",
        (0..1001)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("filter={}", enc("name = 'x'; DROP TABLE layer_catalog; --")),
            400,
            "character 10",
        ),
        (
            format!("filter={}", enc("name = 'x' OR password_hash IS NOT NULL")),
            400,
            "character 14",
        ),
        (
            format!("filter={}", enc("pg_sleep(10) = 1")),
            400,
            "unknown function",
        ),
        (format!("filter={}", enc(&nested)), 400, "nested"),
        (format!("filter={}", enc(&long_in)), 400, "at most"),
        (
            format!("filter={}", enc("S_INTERSECTS(geometry, POINT(24 95))")),
            400,
            "latitude",
        ),
        (
            format!("sortby={}", enc("name; DROP TABLE users")),
            400,
            "sortby",
        ),
        (format!("sortby={}", enc("geometry")), 400, "sortby"),
        (
            format!("{}=1", enc("name' OR '1'='1")),
            400,
            "unknown parameter",
        ),
        ("rank=1%20OR%201%3D1".to_string(), 400, "number"),
        ("bbox=NaN,60,25,61".to_string(), 400, "finite"),
        ("bbox=24,60,25,91".to_string(), 400, "90"),
        ("bbox=24,60,inf,61".to_string(), 400, "finite"),
        ("bbox=24,60,25".to_string(), 400, "4"),
        (
            "bbox-crs=EPSG:27700&bbox=1,2,3,4".to_string(),
            400,
            "unsupported CRS",
        ),
        ("crs=EPSG:9999".to_string(), 400, "unsupported CRS"),
        ("limit=0".to_string(), 400, "limit"),
        ("limit=-5".to_string(), 400, "limit"),
        ("offset=-1".to_string(), 400, "offset"),
        ("filter-lang=sql&filter=1".to_string(), 400, "filter-lang"),
        (
            format!(
                "filter-lang=cql2-json&filter={}",
                enc(r#"{"op":"=","args":[{"property":"secret"},1]}"#)
            ),
            400,
            "/args/0",
        ),
        (
            "filter-lang=cql2-json&filter=%7B".to_string(),
            400,
            "not JSON",
        ),
        // f=html is a page (tests/browser/ogc_html.mjs); other formats are refused
        ("f=xml".to_string(), 400, "f=json"),
    ];
    for (query, status, needle) in &cases {
        let (s, body, _) =
            get_json(&server.url(&format!("/ogc/collections/poi/items?{query}"))).await;
        assert_eq!(s, *status, "{query}: {body}");
        let text = body["error"].as_str().unwrap_or_default();
        assert!(text.contains(needle), "{query}: {text}");
    }
    for path in [
        "/ogc/collections/poi%3Bdrop/items",
        "/ogc/collections/nope/items",
        "/ogc/collections/poi/items/abc",
        "/ogc/collections/poi/items/999999",
        "/ogc/collections/poi/tiles/Other",
    ] {
        let (s, body, _) = get_json(&server.url(path)).await;
        assert_eq!(s, 404, "{path}: {body}");
    }
    let (s, _, _) =
        get_json(&server.url("/ogc/collections/poi/tiles/WebMercatorQuad/25/0/0")).await;
    assert_eq!(s, 400);
    let (s, health, _) = get_json(&server.url("/health")).await;
    assert_eq!((s, health["status"].as_str()), (200, Some("ok")));
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_see_only_their_collections() {
    let db = TestDb::new().await;
    city::make_city(&db.pool).await;
    let mut command = common::citygrid(&db);
    command.args(["key", "create", "--name", "parks", "--layers", "bldg"]);
    let (ok, key, err) = common::run(&mut command);
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    let server = TestServer::start_with(&db, &[("CITYGRID_PUBLIC_LAYERS", "false")]);
    let client = http();
    let get = |path: &str, with_key: bool| {
        let mut r = client.get(server.url(path));
        if with_key {
            r = r.header("X-API-Key", &key);
        }
        r.send()
    };
    // Wait for the layer with the key.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while get("/ogc/collections/bldg", true).await.unwrap().status() != 200 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let cols: Value = get("/ogc/collections", true)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = cols["collections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(listed, vec!["bldg"]);
    assert_eq!(
        get("/ogc/collections/poi/items", true)
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        get(
            "/ogc/collections/poi/tiles/WebMercatorQuad/14/4740/9327",
            true
        )
        .await
        .unwrap()
        .status(),
        404
    );
    assert_eq!(
        get("/api/nearest?layer=poi&lon=24.95&lat=60.17", true)
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        get("/ogc/collections/bldg/items?limit=1", true)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get("/ogc/collections/bldg/items?limit=1", false)
            .await
            .unwrap()
            .status(),
        401
    );
    let q = client
        .post(server.url("/api/query"))
        .header("X-API-Key", &key)
        .json(&serde_json::json!({"geometry": {"type": "Point", "coordinates": [24.95, 60.17]}, "layers": ["bldg", "road"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(q.status(), 404);
}

/// Issue #26 (4): a URL is at most 32 KiB (414), a filter at most 8 KiB and a LIKE
/// pattern at most 256 characters (400 with a clear message, in CQL2 text and JSON
/// alike); adversarial patterns within those bounds are answered, with PostGIS's
/// answer.
#[tokio::test(flavor = "multi_thread")]
async fn like_patterns_and_filters_are_bounded() {
    let (db, server) = start().await;
    let items = |lang: &str, filter: &str| {
        server.url(&format!(
            "/ogc/collections/poi/items?limit=10000&filter-lang={lang}&filter={}",
            enc(filter)
        ))
    };
    let like_json =
        |p: &str| serde_json::json!({"op": "like", "args": [{"property": "name"}, p]}).to_string();
    let refused: Vec<(&str, String, &str)> = vec![
        // the probe of the issue: a 16 KB pattern
        (
            "cql2-text",
            format!("name LIKE '{}'", "a".repeat(16 * 1024)),
            "at most 8192 bytes",
        ),
        (
            "cql2-text",
            format!("name LIKE '{}'", "%a".repeat(2000)),
            "LIKE pattern has at most 256 characters; this one has 4000",
        ),
        (
            "cql2-text",
            format!("name NOT ILIKE '{}'", "_".repeat(257)),
            "LIKE pattern has at most 256 characters",
        ),
        (
            "cql2-json",
            like_json(&"%".repeat(257)),
            "at most 256 characters",
        ),
        (
            "cql2-text",
            format!("name = '{}'", "x".repeat(9000)),
            "a filter has at most 8192 bytes; this one has 9009",
        ),
        (
            "cql2-json",
            serde_json::json!({"op": "=", "args": [{"property": "name"}, "x".repeat(9000)]})
                .to_string(),
            "at most 8192 bytes",
        ),
    ];
    // the issue's ~48 KB URL: refused before anything reads it
    let (s, body, _) = get_json(&server.url(&format!(
        "/ogc/collections/poi/items?filter={}",
        "a".repeat(48 * 1024)
    )))
    .await;
    assert_eq!(s, 414, "{body}");
    assert_eq!(body["detail"]["limit_bytes"], 32 * 1024);
    for (lang, filter, needle) in &refused {
        let (s, body, _) = get_json(&items(lang, filter)).await;
        assert_eq!(s, 400, "{lang} {}…: {body}", &filter[..40]);
        let text = body["error"].as_str().unwrap_or_default();
        assert!(text.contains(needle), "{lang} {}…: {text}", &filter[..40]);
    }
    // Allowed patterns of up to 256 characters, shaped to make a backtracking matcher
    // (or dynamic programming over the pattern) work hard: PostGIS's answer.
    let allowed = [
        format!("p{}1", "%".repeat(254)),
        "%_".repeat(128),
        format!("{}%", "%1".repeat(127)),
        format!("{}%", "%1".repeat(3)),
        format!("%{}%", "_".repeat(3)),
        format!("p{}", "%_".repeat(127)),
        format!("p%{}2", "%_%".repeat(84)),
        format!("%{}", "_".repeat(255)),
        "p_%0".to_string(),
        format!("%1{}2%", "%".repeat(252)),
    ];
    let mut nonempty = 0;
    for p in &allowed {
        assert!(p.chars().count() <= 256, "{p}");
        let want = sql_ids(&db, "poi", &format!("name LIKE '{p}'")).await;
        nonempty += usize::from(!want.is_empty());
        for (lang, filter) in [
            ("cql2-text", format!("name LIKE '{p}'")),
            ("cql2-json", like_json(p)),
        ] {
            let (s, fc, _) = get_json(&items(lang, &filter)).await;
            assert_eq!(s, 200, "{lang} {filter}: {fc}");
            assert_eq!(ids(&fc), want, "{lang} {filter}");
            assert_eq!(fc["numberMatched"].as_u64(), Some(want.len() as u64));
        }
        let upper = p.to_uppercase();
        let want = sql_ids(&db, "poi", &format!("NOT name ILIKE '{upper}'")).await;
        let (s, fc, _) = get_json(&items("cql2-text", &format!("name NOT ILIKE '{upper}'"))).await;
        assert_eq!(s, 200, "NOT ILIKE {upper}: {fc}");
        assert_eq!(ids(&fc), want, "NOT ILIKE {upper}");
    }
    assert!(nonempty >= 5, "the patterns select something");
    let (s, health, _) = get_json(&server.url("/health")).await;
    assert_eq!((s, health["status"].as_str()), (200, Some("ok")));
}

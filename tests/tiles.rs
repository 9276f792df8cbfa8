//! The vector tile engine end to end: layers in PostGIS, tiles from the server's
//! in-memory index, checked against PostGIS's own `ST_AsMVTGeom`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::mvt::{decode, ring_area};
use common::{http, TestDb, TestServer};
use serde_json::Value;

/// Makes layer `id` from a SELECT of (fid, geom 4326, name, rank) and catalogues it.
async fn make_layer(db: &TestDb, id: &str, geometry_type: &str, select: &str) {
    sqlx::query(&format!("CREATE TABLE layers.\"{id}\" AS {select}"))
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "ALTER TABLE layers.\"{id}\" ADD PRIMARY KEY (fid)"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT $1, $1, 'vector', $2, \
                '[{{\"name\":\"name\",\"type\":\"text\"}},{{\"name\":\"rank\",\"type\":\"integer\"}}]'::jsonb, \
                count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.\"{id}\" ON CONFLICT (id) DO NOTHING"
    ))
    .bind(id)
    .bind(geometry_type)
    .execute(&db.pool)
    .await
    .unwrap();
    common::notify_layer(db, id).await;
}

/// Waits until the server has loaded `id` (a tile request stops answering 409).
async fn wait_loaded(server: &TestServer, id: &str) {
    wait_loaded_for(server, id, Duration::from_secs(30)).await
}

/// As [`wait_loaded`], with a time limit.
async fn wait_loaded_for(server: &TestServer, id: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let status = http()
            .get(server.url(&format!("/tiles/{id}/0/0/0")))
            .send()
            .await
            .unwrap()
            .status();
        if status != 409 && status != 404 {
            return;
        }
        assert!(Instant::now() < deadline, "layer {id} never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Helsinki-like synthetic data: points, lines and polygons in the sample box.
async fn sample_city(db: &TestDb) {
    make_layer(
        db,
        "pts",
        "Point",
        "SELECT i::bigint AS fid, ST_SetSRID(ST_MakePoint(24.935 + (i % 97) * 0.000185, 60.164 + (i / 97) * 0.00075), 4326) AS geom, \
                'p' || i AS name, i % 7 AS rank FROM generate_series(1, 2000) i",
    )
    .await;
    make_layer(
        db,
        "polys",
        "Polygon",
        "SELECT i::bigint AS fid, ST_Buffer(ST_SetSRID(ST_MakePoint(24.936 + (i % 20) * 0.0009, 60.165 + (i / 20) * 0.0007), 4326), 0.0004, 8) AS geom, \
                'b' || i AS name, i AS rank FROM generate_series(1, 400) i",
    )
    .await;
    make_layer(
        db,
        "lines",
        "LineString",
        "SELECT i::bigint AS fid, ST_SetSRID(ST_MakeLine(ST_MakePoint(24.935, 60.164 + i * 0.0005), ST_MakePoint(24.953, 60.165 + i * 0.0005)), 4326) AS geom, \
                'r' || i AS name, i AS rank FROM generate_series(1, 28) i",
    )
    .await;
}

fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32) {
    let n = 2f64.powi(z as i32);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let lat_r = lat.to_radians();
    let y = ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n)
        .floor() as u32;
    (x, y)
}

async fn get_tile(server: &TestServer, path: &str) -> (u16, Vec<u8>) {
    let response = http().get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn tiles_match_postgis() {
    let db = TestDb::new().await;
    sample_city(&db).await;
    let server = TestServer::start(&db);
    for id in ["pts", "polys", "lines"] {
        wait_loaded(&server, id).await;
    }
    let mut checked = 0;
    for z in [12u32, 14, 15, 16, 17] {
        let (x0, y0) = tile_of(24.935, 60.179, z);
        let (x1, y1) = tile_of(24.953, 60.164, z);
        let mut tiles: Vec<(u32, u32)> = Vec::new();
        for x in x0..=x1 {
            for y in y0..=y1 {
                tiles.push((x, y));
            }
        }
        // At most 6 tiles per zoom, spread over the area.
        let step = (tiles.len() / 6).max(1);
        for (x, y) in tiles.into_iter().step_by(step) {
            let (status, bytes) =
                get_tile(&server, &format!("/tiles/pts,polys,lines/{z}/{x}/{y}.mvt")).await;
            let ours = if status == 204 {
                Vec::new()
            } else {
                assert_eq!(status, 200);
                decode(&bytes)
            };
            for layer in ["pts", "polys", "lines"] {
                // PostGIS's reference: features whose clipped geometry is not empty.
                let rows: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(&format!(
                    "SELECT fid, ST_AsBinary(ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 64, true)) \
                     FROM layers.\"{layer}\" WHERE ST_Transform(geom, 3857) && ST_TileEnvelope($1, $2, $3, margin => 64.0/4096)"
                ))
                .bind(z as i32)
                .bind(x as i32)
                .bind(y as i32)
                .fetch_all(&db.pool)
                .await
                .unwrap();
                let expected: BTreeSet<u64> = rows
                    .iter()
                    .filter(|(_, g)| g.is_some())
                    .map(|(fid, _)| *fid as u64)
                    .collect();
                let got: BTreeMap<u64, &common::mvt::DecodedFeature> = ours
                    .iter()
                    .filter(|f| f.layer == layer)
                    .map(|f| (f.id, f))
                    .collect();
                let got_ids: BTreeSet<u64> = got.keys().copied().collect();
                // Polygons and lines of sub-pixel size may legitimately be dropped by
                // either side; every feature we send must be one PostGIS sends.
                assert!(
                    got_ids.is_subset(&expected),
                    "z{z}/{x}/{y} {layer}: extra features {:?}",
                    got_ids.difference(&expected).collect::<Vec<_>>()
                );
                let missing = expected.difference(&got_ids).count();
                assert!(
                    missing * 50 <= expected.len().max(1),
                    "z{z}/{x}/{y} {layer}: {missing} of {} features missing",
                    expected.len()
                );
                if layer == "pts" {
                    // Coordinates within one tile unit of PostGIS's.
                    for (fid, _) in rows.iter().filter(|(_, g)| g.is_some()) {
                        let (px, py): (f64, f64) = sqlx::query_as(
                            "SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 64, true) g \
                             FROM layers.pts WHERE fid = $4) s",
                        )
                        .bind(z as i32).bind(x as i32).bind(y as i32).bind(fid)
                        .fetch_one(&db.pool)
                        .await
                        .unwrap();
                        if let Some(f) = got.get(&(*fid as u64)) {
                            let (ox, oy) = f.parts[0][0];
                            // ST_AsMVTGeom flips y: both are in tile space with y down.
                            assert!(
                                (ox as f64 - px).abs() <= 1.0 && (oy as f64 - py).abs() <= 1.0,
                                "z{z}/{x}/{y} point {fid}: ours ({ox},{oy}) vs PostGIS ({px},{py})"
                            );
                        }
                    }
                }
                if layer == "polys" {
                    for f in got.values() {
                        assert_eq!(f.geom_type, 3);
                        let first = &f.parts[0];
                        assert!(first.len() >= 3, "ring too short");
                        assert!(
                            ring_area(first) > 0.0,
                            "exterior ring must have positive area (MVT 2.1 winding)"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "checked {checked} layer tiles");
}

#[tokio::test(flavor = "multi_thread")]
async fn tile_protocol_cache_and_edits() {
    let db = TestDb::new().await;
    sample_city(&db).await;
    // The style below draws the cases layer for an anonymous caller: its public view.
    let server = TestServer::start_with(&db, &[("CITYGRID_CASES_PUBLIC_VIEW", "status")]);
    // A second process on the same database: it must follow edits too.
    let other = TestServer::start(&db);
    wait_loaded(&server, "pts").await;
    wait_loaded(&other, "pts").await;
    let client = http();
    let (x, y) = tile_of(24.944, 60.170, 16);
    let path = format!("/tiles/pts/16/{x}/{y}");

    // Errors: out of range, bad numbers, unknown layer, bad ids.
    assert_eq!(get_tile(&server, "/tiles/pts/3/8/0").await.0, 400);
    assert_eq!(get_tile(&server, "/tiles/pts/25/0/0").await.0, 400);
    assert_eq!(get_tile(&server, "/tiles/pts/a/0/0").await.0, 400);
    assert_eq!(get_tile(&server, "/tiles/nope/1/0/0").await.0, 404);
    assert_eq!(get_tile(&server, "/tiles/pts;drop/1/0/0").await.0, 400);
    // Empty: far away from the data.
    assert_eq!(get_tile(&server, "/tiles/pts/16/0/0").await.0, 204);

    // Content type, ETag, 304, Cache-Control, gzip on request.
    let response = client.get(server.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.mapbox-vector-tile"
    );
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert!(response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let before = decode(&response.bytes().await.unwrap());
    assert!(!before.is_empty());
    // gzip when asked: the decompressed bytes are the same tile.
    let gz = client
        .get(server.url(&path))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let compressed = gz.bytes().await.unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut plain,
    )
    .unwrap();
    let ids_plain: BTreeSet<u64> = decode(&plain).iter().map(|f| f.id).collect();
    let ids_before: BTreeSet<u64> = before.iter().map(|f| f.id).collect();
    assert_eq!(ids_plain, ids_before);
    let response = client
        .get(server.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);

    // An edit in the database shows in the next tile within a second, without restart.
    let fid = before[0].id as i64;
    let moved_away: (f64, f64) = (24.936, 60.1645);
    let started = Instant::now();
    sqlx::query("UPDATE layers.pts SET geom = ST_SetSRID(ST_MakePoint($1, $2), 4326), name = 'moved' WHERE fid = $3")
        .bind(moved_away.0)
        .bind(moved_away.1)
        .bind(fid)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
        .bind(format!("pts:{fid}"))
        .execute(&db.pool)
        .await
        .unwrap();
    let (mx, my) = tile_of(moved_away.0, moved_away.1, 16);
    loop {
        let mut everywhere = true;
        for srv in [&server, &other] {
            let (status, bytes) = get_tile(srv, &path).await;
            let gone = status == 204 || !decode(&bytes).iter().any(|f| f.id as i64 == fid);
            let (status2, bytes2) = get_tile(srv, &format!("/tiles/pts/16/{mx}/{my}")).await;
            let arrived = status2 == 200
                && decode(&bytes2).iter().any(|f| {
                    f.id as i64 == fid && f.props.iter().any(|(k, v)| k == "name" && v == "moved")
                });
            everywhere &= gone && arrived;
        }
        if everywhere {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "edit not visible within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A tile elsewhere kept its cached version (same ETag).
    let (fx, fy) = tile_of(24.952, 60.178, 16);
    let far = format!("/tiles/pts/16/{fx}/{fy}");
    let e1 = client.get(server.url(&far)).send().await.unwrap().headers()["etag"].clone();
    let e2 = client.get(server.url(&far)).send().await.unwrap().headers()["etag"].clone();
    assert_eq!(e1, e2);

    // TileJSON and the default style.
    let tj: Value = client
        .get(server.url("/tiles/pts,polys.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert!(tj["tiles"][0]
        .as_str()
        .unwrap()
        .ends_with("/tiles/pts,polys/{z}/{x}/{y}"));
    let ids: Vec<&str> = tj["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["pts", "polys"]);
    assert_eq!(tj["vector_layers"][0]["fields"]["rank"], "Number");
    let style: Value = client
        .get(server.url("/styles/default.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(style["version"], 8);
    let source_layers: BTreeSet<&str> = style["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["source-layer"].as_str())
        .collect();
    // Every vector layer is drawn (grid management adds its own layers too).
    for id in ["pts", "polys", "lines"] {
        assert!(source_layers.contains(id), "{id} missing from the style");
    }
    // The live cases layer has a source of its own, so the static layers' tiles stay
    // cached while cases come in.
    for l in style["layers"].as_array().unwrap() {
        match l["source-layer"].as_str() {
            Some("cases") => assert_eq!(l["source"], "citygrid-live", "{l}"),
            Some(_) => assert_eq!(l["source"], "citygrid", "{l}"),
            None => {}
        }
    }
    let static_url = style["sources"]["citygrid"]["url"].as_str().unwrap();
    assert!(
        static_url.contains("pts") && !static_url.contains("cases"),
        "{static_url}"
    );
    let live_url = style["sources"]["citygrid-live"]["url"].as_str().unwrap();
    assert!(live_url.ends_with("/tiles/cases.json"), "{live_url}");
    assert_eq!(
        client
            .get(server.url("/styles/other.json"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn size_cap_holds_on_a_million_points() {
    let db = TestDb::new().await;
    make_layer(
        &db,
        "million",
        "Point",
        "SELECT i::bigint AS fid, \
                ST_SetSRID(ST_MakePoint(24.5 + ((i::bigint * 7919) % 1000003) / 1000003.0, \
                                        60.0 + ((i::bigint * 104729) % 999983) / 1999966.0), 4326) AS geom, \
                'p' || i AS name, i % 100 AS rank \
         FROM generate_series(1, 1000000) i",
    )
    .await;
    let server = TestServer::start(&db);
    // A million rows take a while to load in a debug build on a busy machine.
    wait_loaded_for(&server, "million", Duration::from_secs(240)).await;
    let max_bytes = 500_000;
    for z in 0u32..=8 {
        let (x0, y0) = tile_of(24.5, 60.5, z);
        let (x1, y1) = tile_of(25.5, 60.0, z);
        let mut total = 0u64;
        for x in x0..=x1 {
            for y in y0..=y1 {
                let (status, bytes) =
                    get_tile(&server, &format!("/tiles/million/{z}/{x}/{y}")).await;
                assert_eq!(status, 200, "z{z}/{x}/{y}");
                assert!(
                    bytes.len() <= max_bytes,
                    "z{z}/{x}/{y} is {} bytes",
                    bytes.len()
                );
                if z == 0 {
                    for f in decode(&bytes) {
                        let count = f
                            .prop("point_count")
                            .map(|v| v.parse::<u64>().unwrap())
                            .unwrap_or(1);
                        total += count;
                    }
                }
            }
        }
        if z == 0 {
            // Thinned by clustering, not by losing points: the counts add up.
            assert_eq!(total, 1_000_000);
        }
    }
}

/// The value of an unlabelled sample `name` in Prometheus text, checking that the
/// family has its `# HELP` and `# TYPE` lines.
fn sample(metrics: &str, name: &str) -> f64 {
    assert!(
        metrics.contains(&format!("# HELP {name} ")),
        "no HELP for {name}:\n{metrics}"
    );
    assert!(
        metrics.contains(&format!("# TYPE {name} ")),
        "no TYPE for {name}:\n{metrics}"
    );
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no sample {name}:\n{metrics}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn tile_memory_in_metrics() {
    let db = TestDb::new().await;
    sample_city(&db).await;
    let server = TestServer::start(&db);
    wait_loaded(&server, "pts").await;
    wait_loaded(&server, "polys").await;
    // Not a small tile (those are encoded on the request's thread, without the
    // recent-encodings table): thousands of points and polygon vertices.
    let (x, y) = tile_of(24.94, 60.17, 13);
    let path = format!("/tiles/pts,polys/13/{x}/{y}");
    for _ in 0..2 {
        let (status, body) = get_tile(&server, &path).await;
        assert_eq!(status, 200);
        assert!(!body.is_empty());
    }
    let metrics = common::metrics_text(&server).await;
    let bytes = sample(&metrics, "citygrid_tile_cache_bytes");
    let capacity = sample(&metrics, "citygrid_tile_cache_capacity_bytes");
    assert!(bytes > 0.0 && bytes <= capacity, "{bytes} of {capacity}");
    assert!(sample(&metrics, "citygrid_tile_cache_entries") >= 1.0);
    assert!(sample(&metrics, "citygrid_tile_cache_hits_total") >= 1.0);
    assert!(sample(&metrics, "citygrid_tile_cache_misses_total") >= 1.0);
    assert!(sample(&metrics, "citygrid_tile_recent_entries") >= 1.0);
    assert!(sample(&metrics, "citygrid_tile_recent_bytes") > 0.0);
    if cfg!(target_os = "linux") {
        assert!(sample(&metrics, "process_resident_memory_bytes") > 0.0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn many_edits_pack_the_layer_again_and_tiles_follow() {
    let db = TestDb::new().await;
    sample_city(&db).await;
    let server = TestServer::start(&db);
    wait_loaded(&server, "pts").await;
    let repacks = "citygrid_layer_repacks_total{layer=\"pts\"}";
    assert_eq!(common::metric_value(&server, repacks).await, 0);
    // 1,500 of the 2,000 points renamed and moved 0.0001° north: more than the
    // 1,024 appended rows after which the server packs the layer again.
    sqlx::query(
        "UPDATE layers.pts SET name = 'edited' || fid, geom = ST_Translate(geom, 0, 0.0001) \
         WHERE fid <= 1500",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    for chunk in (1..=1500).collect::<Vec<i64>>().chunks(300) {
        let fids: Vec<String> = chunk.iter().map(i64::to_string).collect();
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(format!("pts:{}", fids.join(",")))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::metric_value(&server, repacks).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the layer was never packed again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // All patches applied (the last notice may land after the repack).
    let edited: Vec<(i64, String, f64, f64)> =
        sqlx::query_as("SELECT fid, name, ST_X(geom), ST_Y(geom) FROM layers.pts ORDER BY fid")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    loop {
        let body = common::get_json(&server, "/ogc/collections/pts/items?limit=2000").await;
        let features = body["features"].as_array().expect("features");
        let renamed = features
            .iter()
            .filter(|f| {
                f["properties"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("edited"))
            })
            .count();
        if renamed == 1500 {
            assert_eq!(features.len(), 2000);
            break;
        }
        assert!(Instant::now() < deadline, "{renamed} of 1500 edits served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        common::metric_value(&server, "citygrid_layer_features{layer=\"pts\"}").await,
        2000
    );
    // Every point is in the z16 tile of its new place, under its new name.
    let mut by_tile: BTreeMap<(u32, u32), Vec<(i64, &str)>> = BTreeMap::new();
    for (fid, name, lon, lat) in &edited {
        by_tile
            .entry(tile_of(*lon, *lat, 16))
            .or_default()
            .push((*fid, name.as_str()));
    }
    for ((x, y), want) in &by_tile {
        let (status, bytes) = get_tile(&server, &format!("/tiles/pts/16/{x}/{y}")).await;
        assert_eq!(status, 200, "tile 16/{x}/{y}");
        let got: BTreeMap<i64, String> = decode(&bytes)
            .iter()
            .map(|f| (f.id as i64, f.prop("name").unwrap_or_default().to_string()))
            .collect();
        for (fid, name) in want {
            assert_eq!(
                got.get(fid).map(String::as_str),
                Some(*name),
                "feature {fid} in 16/{x}/{y}"
            );
        }
    }
}

//! The home view (`GET /api/home`), search (`GET /api/search`) and layer titles
//! (`PUT /api/admin/layers/{layer}/titles`, `citygrid layer set-title`) end to end: a
//! real `citygrid serve` on PostGIS with the sample city (Helsinki OSM extract) and
//! unit grids from grid management.

mod common;
mod mgmt_common;

use std::time::{Duration, Instant};

use common::{http, TestDb, TestServer};
use mgmt_common::{cli, env, Env, AREA_E, AREA_N, AREA_S, AREA_W};
use serde_json::{json, Value};

/// GETs `path` with an optional bearer token; returns status and JSON body.
async fn get(server: &TestServer, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http().get(server.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until `check` holds for the answer of `path` (as `token`), or panics.
async fn wait_for(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(server, path, token).await;
        if status == 200 && check(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every hit of a search answer, with its group's kind.
fn hits(answer: &Value) -> Vec<(String, Value)> {
    answer["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| {
            let kind = g["kind"].as_str().unwrap_or("").to_string();
            g["hits"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |h| (kind.clone(), h))
        })
        .collect()
}

fn close(a: &Value, b: &[f64]) -> bool {
    a.as_array().is_some_and(|a| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x.as_f64().unwrap_or(f64::NAN) - y).abs() < 1e-6)
    })
}

/// Imports the sample city's OSM extract into the environment's database.
fn import_sample_city(e: &Env) {
    let pbf = common::data_file("helsinki.osm.pbf");
    cli(&e.db, &["import", "osm", pbf.to_str().expect("path")]);
}

/// Adds a case to the cases layer (as the trigger of `cases` would) and announces it.
async fn case_on_map(db: &TestDb, fid: i64, case_no: &str, department: &str, lon: f64, lat: f64) {
    sqlx::query(
        "INSERT INTO layers.cases (fid, geom, case_no, status, category, overdue, department, reported_at) \
         VALUES ($1, ST_SetSRID(ST_MakePoint($2, $3), 4326), $4, 'handling', 'P0101', false, $5, now())",
    )
    .bind(fid)
    .bind(lon)
    .bind(lat)
    .bind(case_no)
    .bind(department)
    .execute(&db.pool)
    .await
    .expect("case on the map");
    sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
        .bind(format!("cases:{fid}"))
        .execute(&db.pool)
        .await
        .expect("notify");
}

#[tokio::test(flavor = "multi_thread")]
async fn search_finds_each_thing_once_by_kind_within_the_callers_access() {
    let e = env("search", &["water", "roads"], &[]).await;
    import_sample_city(&e);
    let admin = e.tokens["admin"].as_str();
    // Kaivokatu is drawn as several segments in the extract.
    let (segments, x0, y0, x1, y1): (i64, f64, f64, f64, f64) = sqlx::query_as(
        "SELECT count(*), ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), \
                ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom)) \
         FROM layers.osm_roads WHERE name = 'Kaivokatu'",
    )
    .fetch_one(&e.db.pool)
    .await
    .expect("Kaivokatu");
    assert!(segments > 1, "Kaivokatu has {segments} segments");
    let answer = wait_for(
        &e.server,
        "/api/search?q=kaivokatu",
        None,
        "Kaivokatu found once the roads are loaded",
        |a| hits(a).iter().any(|(k, _)| k == "road"),
    )
    .await;
    let roads: Vec<Value> = hits(&answer)
        .into_iter()
        .filter(|(k, h)| k == "road" && h["label"] == "Kaivokatu")
        .map(|(_, h)| h)
        .collect();
    assert_eq!(roads.len(), 1, "one road hit for Kaivokatu: {answer}");
    let road = &roads[0];
    assert_eq!(road["layer"], "osm_roads");
    assert_eq!(road["matched"], "exact");
    assert_eq!(road["parts"], segments);
    assert!(
        close(&road["bbox"], &[x0, y0, x1, y1]),
        "{road} vs {x0},{y0},{x1},{y1}"
    );
    // The exact road is the first hit, in the first group; each kind is one group.
    assert_eq!(answer["groups"][0]["kind"], "road", "{answer}");
    assert_eq!(answer["groups"][0]["hits"][0]["label"], "Kaivokatu");
    let kinds: Vec<&str> = answer["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["kind"].as_str().expect("kind"))
        .collect();
    let mut distinct = kinds.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), kinds.len(), "one group per kind: {kinds:?}");
    // Case, accents and width do not matter.
    for q in ["KAIVOKATU", "Kaivokätu", "ｋａｉｖｏｋａｔｕ"] {
        let (status, again) =
            get(&e.server, &format!("/api/search?q={}", urlencode(q)), None).await;
        assert_eq!(status, 200);
        assert_eq!(again["groups"][0]["hits"][0], *road, "{q}: {again}");
    }
    // A unit grid by its code in full-width digits.
    let code: String =
        sqlx::query_scalar("SELECT code FROM layers.unit_grids ORDER BY code LIMIT 1")
            .fetch_one(&e.db.pool)
            .await
            .expect("a grid code");
    let wide: String = code
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).expect("full-width digit"))
        .collect();
    let (_, grid) = get(
        &e.server,
        &format!("/api/search?q={}", urlencode(&wide)),
        None,
    )
    .await;
    assert_eq!(grid["groups"][0]["kind"], "unit_grid", "{grid}");
    assert_eq!(grid["groups"][0]["hits"][0]["label"], code.as_str());
    assert_eq!(grid["groups"][0]["hits"][0]["matched"], "exact");
    // A prefix of the codes finds grids first, bounded by limit with the total said.
    let (_, some) = get(
        &e.server,
        &format!("/api/search?q={}&limit=3", &code[..12]),
        None,
    )
    .await;
    assert_eq!(hits(&some).len(), 3, "{some}");
    assert!(
        some["total"].as_u64().unwrap_or(0) > 3 && some["truncated"] == true,
        "{some}"
    );

    // Cases: only for signed-in users who may see them.
    let (lon, lat) = ((AREA_W + AREA_E) / 2.0, (AREA_S + AREA_N) / 2.0);
    case_on_map(&e.db, 9_000_001, "2025-777001", "water", lon, lat).await;
    case_on_map(&e.db, 9_000_002, "2025-777002", "roads", lon, lat).await;
    let found = wait_for(
        &e.server,
        "/api/search?q=2025-7770",
        Some(admin),
        "the new cases are searchable once patched into the layer",
        |a| hits(a).iter().filter(|(k, _)| k == "case").count() == 2,
    )
    .await;
    assert_eq!(found["groups"][0]["kind"], "case");
    let leader = Some(e.tokens["leader"].as_str());
    assert_eq!(
        cases_for(&e.server, leader).await,
        ["2025-777001", "2025-777002"]
    );
    let water = Some(e.tokens["dep_water"].as_str());
    assert_eq!(cases_for(&e.server, water).await, ["2025-777001"]);
    let roads = Some(e.tokens["dep_roads"].as_str());
    assert_eq!(cases_for(&e.server, roads).await, ["2025-777002"]);
    assert!(
        cases_for(&e.server, None).await.is_empty(),
        "the public finds no case"
    );
    let inspector = Some(e.tokens["inspector"].as_str());
    assert!(cases_for(&e.server, inspector).await.is_empty());

    // An API key finds only its layers.
    let key = cli(
        &e.db,
        &[
            "key",
            "create",
            "--name",
            "grids-only",
            "--layers",
            "unit_grids",
        ],
    );
    let key = key.trim();
    let keyed: Value = http()
        .get(e.server.url("/api/search?q=kaivokatu"))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("search with a key")
        .json()
        .await
        .expect("json");
    assert!(
        hits(&keyed).is_empty(),
        "a key for unit grids finds no road: {keyed}"
    );
    // `layers` narrows a search to some layers (an embedded map's).
    let (_, only) = get(
        &e.server,
        "/api/search?q=kaivokatu&layers=osm_roads,unit_grids",
        None,
    )
    .await;
    assert!(!hits(&only).is_empty(), "{only}");
    assert!(
        hits(&only).iter().all(|(_, h)| h["layer"] == "osm_roads"),
        "{only}"
    );
    let (_, none) = get(&e.server, "/api/search?q=kaivokatu&layers=unit_grids", None).await;
    assert!(hits(&none).is_empty(), "{none}");
    let (status, _) = get(&e.server, "/api/search?q=kaivokatu&layers=Bad-Id", None).await;
    assert_eq!(status, 400);
    let keyed: Value = http()
        .get(e.server.url(&format!("/api/search?q={code}")))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("search with a key")
        .json()
        .await
        .expect("json");
    assert_eq!(keyed["groups"][0]["hits"][0]["label"], code.as_str());

    // Bad requests are 400 with a reason.
    let long = "x".repeat(101);
    for bad in [
        "/api/search",
        "/api/search?q=%20",
        "/api/search?q=a&limit=0",
        "/api/search?q=a&limit=101",
        "/api/search?q=a&limit=x",
    ] {
        let (status, body) = get(&e.server, bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }
    let (status, _) = get(&e.server, &format!("/api/search?q={long}"), None).await;
    assert_eq!(status, 400);
}

/// The case numbers `who` finds for `2025-7770`.
async fn cases_for(server: &TestServer, who: Option<&str>) -> Vec<String> {
    let (status, a) = get(server, "/api/search?q=2025-7770", who).await;
    assert_eq!(status, 200, "{a}");
    let mut numbers: Vec<String> = hits(&a)
        .into_iter()
        .filter(|(k, _)| k == "case")
        .map(|(_, h)| h["label"].as_str().unwrap_or("").to_string())
        .collect();
    numbers.sort();
    numbers
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Writes a GeoJSON file of points around (lon, lat) and imports it as layer `id`.
fn import_points(db: &TestDb, id: &str, points: &[(f64, f64)]) {
    let features: Vec<Value> = points
        .iter()
        .enumerate()
        .map(|(i, (x, y))| {
            json!({"type": "Feature", "properties": {"name": format!("{id} {i}")},
                   "geometry": {"type": "Point", "coordinates": [x, y]}})
        })
        .collect();
    let path = common::temp_dir(id).join(format!("{id}.geojson"));
    std::fs::write(
        &path,
        json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .expect("write geojson");
    cli(
        db,
        &[
            "import",
            "vector",
            path.to_str().expect("path"),
            "--layer",
            id,
        ],
    );
}

fn inside(point: &Value, bbox: &Value) -> bool {
    let p = |i: usize| point[i].as_f64().unwrap_or(f64::NAN);
    let b = |i: usize| bbox[i].as_f64().unwrap_or(f64::NAN);
    p(0) >= b(0) && p(0) <= b(2) && p(1) >= b(1) && p(1) <= b(3)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_home_view_is_the_city_whatever_else_is_loaded() {
    let e = env("home", &[], &[]).await;
    let (ax0, ay0, ax1, ay1): (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), \
                ST_YMax(ST_Extent(geom)) FROM layers.admin_divisions",
    )
    .fetch_one(&e.db.pool)
    .await
    .expect("admin bounds");
    let home = wait_for(
        &e.server,
        "/api/home",
        None,
        "the home view is the administrative division",
        |h| h["source"] == "layer:admin_divisions",
    )
    .await;
    assert!(close(&home["bbox"], &[ax0, ay0, ax1, ay1]), "{home}");
    assert!(inside(&home["center"], &home["bbox"]), "{home}");
    let zoom = home["zoom"].as_f64().expect("zoom");
    assert!(
        (14.0..=20.0).contains(&zoom),
        "a district of a few hundred metres: {home}"
    );
    // A layer far away, larger than anything else, changes nothing.
    let far: Vec<(f64, f64)> = (0..50).map(|i| (0.01 * i as f64, 0.005)).collect();
    import_points(&e.db, "far_away", &far);
    wait_for(
        &e.server,
        "/catalog",
        None,
        "the far layer is loaded",
        |c| {
            c["layers"].as_array().is_some_and(|ls| {
                ls.iter()
                    .any(|l| l["id"] == "far_away" && l["feature_count"] == 50)
            })
        },
    )
    .await;
    let (_, after) = get(&e.server, "/api/home", None).await;
    assert_eq!(after, home, "a far layer must not move the home view");
    // The default style opens there too.
    let (_, style) = get(&e.server, "/styles/default.json", None).await;
    assert_eq!(style["center"], home["center"], "{}", style["center"]);
    assert_eq!(style["zoom"], home["zoom"]);
    // The configured box wins, and is checked.
    let configured = TestServer::start_with(
        &e.db,
        &[("CITYGRID_HOME_BBOX", "114.29,30.58,114.31,30.60")],
    );
    let (_, set) = get(&configured, "/api/home", None).await;
    assert_eq!(set["source"], "config");
    assert!(
        close(&set["bbox"], &[114.29, 30.58, 114.31, 30.60]),
        "{set}"
    );
    let (ok, _, err) = common::run(
        common::citygrid(&e.db)
            .env("CITYGRID_HOME_BBOX", "114.31,30.58,114.29")
            .args(["serve", "--bind", "127.0.0.1:0"]),
    );
    assert!(!ok && err.contains("CITYGRID_HOME_BBOX"), "{err}");
    // Where the city has no areas yet, the largest layer is home, not the union.
    let db = TestDb::new().await;
    import_points(
        &db,
        "city_points",
        &[(24.94, 60.17), (24.95, 60.175), (24.945, 60.172)],
    );
    import_points(&db, "lonely", &[(0.0, 0.0)]);
    let server = TestServer::start(&db);
    let home = wait_for(
        &server,
        "/api/home",
        None,
        "the largest layer is home",
        |h| h["source"] == "layer:city_points",
    )
    .await;
    assert!(
        close(&home["bbox"], &[24.94, 60.17, 24.95, 60.175]),
        "{home}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn layer_titles_in_both_languages_are_set_by_an_admin() {
    let e = env("titles", &[], &[]).await;
    let admin = e.tokens["admin"].as_str();
    // Grid management's layers come with their titles.
    let grids = wait_for(&e.server, "/catalog/unit_grids", None, "unit grids", |_| {
        true
    })
    .await;
    assert_eq!(grids["title_zh"], "单元网格", "{grids}");
    assert_eq!(grids["title_en"], "Unit grids");
    assert_eq!(grids["field_titles"]["code"]["zh"], "网格编码");
    // An admin changes them through the API…
    let put = |body: Value| {
        let url = e.server.url("/api/admin/layers/unit_grids/titles");
        async move {
            let r = http()
                .put(url)
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .expect("put titles");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, titles) = put(json!({"title_en": "Grid cells",
        "field_titles": {"area_m2": {"zh": "网格面积", "en": "Cell area"}, "valid_to": null}}))
    .await;
    assert_eq!(status, 200, "{titles}");
    assert_eq!(titles["title_en"], "Grid cells");
    assert_eq!(titles["title_zh"], "单元网格");
    assert_eq!(titles["field_titles"]["area_m2"]["zh"], "网格面积");
    assert!(titles["field_titles"].get("valid_to").is_none(), "{titles}");
    let (_, listed) = get(&e.server, "/catalog", None).await;
    let grid_entry = listed["layers"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["id"] == "unit_grids"))
        .cloned()
        .expect("listed");
    assert_eq!(grid_entry["title_en"], "Grid cells");
    // …and is told what is wrong.
    let (status, body) = put(json!({"field_titles": {"nope": {"zh": "x"}}})).await;
    assert_eq!(status, 422);
    assert!(
        body["error"].as_str().unwrap_or("").contains("nope"),
        "{body}"
    );
    let (status, _) = put(json!({"title_fr": "x"})).await;
    assert_eq!(status, 422);
    let r = http()
        .put(e.server.url("/api/admin/layers/no_such_layer/titles"))
        .bearer_auth(admin)
        .json(&json!({"title_zh": "x"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 404);
    // The command line does the same.
    let out = cli(
        &e.db,
        &[
            "layer",
            "set-title",
            "unit_grids",
            "--zh",
            "网格",
            "--en",
            "Grids",
            "--field",
            "code=编码/Code",
        ],
    );
    assert!(out.contains("unit_grids"), "{out}");
    let grids = wait_for(
        &e.server,
        "/catalog/unit_grids",
        None,
        "the CLI's titles",
        |g| g["title_zh"] == "网格",
    )
    .await;
    assert_eq!(grids["title_en"], "Grids");
    assert_eq!(grids["field_titles"]["code"]["en"], "Code");
    let (ok, _, err) = common::run(common::citygrid(&e.db).args([
        "layer",
        "set-title",
        "unit_grids",
        "--field",
        "nope=x/y",
    ]));
    assert!(
        !ok && err.contains("nope") && err.lines().count() <= 2,
        "{err}"
    );
}

//! Case intake over HTTP against PostGIS: locating, component linking, routing
//! (component > area rule > street default), duplicates, and the refusals.

mod common;
mod mgmt_common;

use mgmt_common::env;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn routing_prefers_component_then_rule_then_street_default() {
    let e = env("routing", &["water_a", "area_dep", "other_dep"], &[]).await;
    e.wait_grids().await;
    // categories: a component class and an event class, neither with a default department
    e.category("P0101", None).await;
    e.category("E0505", None).await;
    // the component, maintained by water_a
    let comp = e
        .post(
            "admin",
            "/api/components",
            json!({"category_code": "P0101", "lon": 114.3010, "lat": 30.5910, "maintaining_department": "water_a", "owning_department": "other_dep"}),
            201,
        )
        .await;
    let comp_id = comp["component_id"].as_str().unwrap().to_string();
    assert!(comp_id.starts_with("4201020101"), "{comp}");
    assert!(
        comp["grid_code"]
            .as_str()
            .unwrap()
            .starts_with("420102001001"),
        "{comp}"
    );
    // an area rule for P0101 in street 420102/001, and a less specific one for all components
    e.post(
        "admin",
        "/api/routing-rules",
        json!({"id": "street-covers", "department": "area_dep", "priority": 5,
               "category": {"level": "sub", "code": "P0101"},
               "area": {"type": "street", "admin": "420102", "street": "001"}}),
        201,
    )
    .await;
    e.post(
        "admin",
        "/api/routing-rules",
        json!({"id": "all-components", "department": "other_dep",
               "category": {"level": "kind", "code": "component"}, "area": {"type": "anywhere"}}),
        201,
    )
    .await;

    // 1. next to the component (about 3 m): the component's maintaining department
    let c1 = e
        .post("inspector", "/api/cases", json!({"category": "P0101", "lon": 114.30103, "lat": 30.5910, "description": "cover broken"}), 201)
        .await;
    assert_eq!(c1["routing"]["department"], "water_a", "{c1}");
    assert_eq!(c1["routing"]["reason"]["by"], "component");
    assert_eq!(c1["component"]["component_id"], comp_id.as_str());
    let d = c1["component"]["distance_m"].as_f64().unwrap();
    assert!((2.0..4.0).contains(&d), "distance {d}");
    assert!(c1["case_no"].as_str().unwrap().contains('-'));
    assert_eq!(c1["duplicates"], json!([]));
    assert!(c1["grid_code"]
        .as_str()
        .unwrap()
        .starts_with("420102001001"));

    // 2. about 95 m away from the component: the street rule (more specific than the kind rule)
    let c2 = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "P0101", "lon": 114.3020, "lat": 30.5912}),
            201,
        )
        .await;
    assert_eq!(c2["routing"]["department"], "area_dep", "{c2}");
    assert_eq!(c2["routing"]["reason"]["rule_id"], "street-covers");
    assert_eq!(c2["routing"]["reason"]["candidates"], 2);
    assert!(c2["component"].is_null());

    // 3. an event class no rule covers: the street's default department
    let c3 = e
        .post(
            "acceptor",
            "/api/cases",
            json!({"category": "E0505", "lon": 114.3005, "lat": 30.5905, "source": "hotline"}),
            201,
        )
        .await;
    assert_eq!(c3["routing"]["department"], "street_default", "{c3}");
    assert_eq!(c3["routing"]["reason"]["by"], "territorial_default");

    // 4. 2 m from case 1, same category, case 1 still open: a duplicate (reported, not refused)
    let c4 = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "P0101", "lon": 114.30105, "lat": 30.5910}),
            201,
        )
        .await;
    let dups = c4["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 1, "{c4}");
    assert_eq!(dups[0]["id"], c1["id"]);

    // outside every grid: 422 with a clear message; bad input: 400
    let (s, v) = e
        .call(
            Some("inspector"),
            Method::POST,
            "/api/cases",
            Some(json!({"category": "P0101", "lon": 114.31, "lat": 30.60})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("outside every unit grid"));
    let (s, _) = e
        .call(
            Some("inspector"),
            Method::POST,
            "/api/cases",
            Some(json!({"category": "X0101", "lon": 114.3, "lat": 30.59})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = e
        .call(
            Some("inspector"),
            Method::POST,
            "/api/cases",
            Some(json!({"category": "P0101", "lon": 514.3, "lat": 30.59})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = e
        .call(
            Some("dep_water_a"),
            Method::POST,
            "/api/cases",
            Some(json!({"category": "P0101", "lon": 114.3010, "lat": 30.5910})),
        )
        .await;
    assert_eq!(s, 403, "departments do not report");

    // the rows are in PostGIS, with the map row and the first event
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM layers.cases")
        .fetch_one(&e.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 4);
    let (events,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM case_events WHERE action = 'report'")
            .fetch_one(&e.db.pool)
            .await
            .unwrap();
    assert_eq!(events, 4);

    // the map rows' change notices are announced by the service (the queue drains)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (queued,): (i64,) = sqlx::query_as("SELECT count(*) FROM layer_changes")
            .fetch_one(&e.db.pool)
            .await
            .unwrap();
        if queued == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{queued} layer changes never announced"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // dispatch without a department uses the routed one; the department sees it in its queue
    let id1 = c1["id"].as_i64().unwrap();
    e.step("acceptor", id1, json!({"action": "register"})).await;
    let after = e
        .step("dispatcher", id1, json!({"action": "dispatch"}))
        .await;
    assert_eq!(after["department"], "water_a");
    assert_eq!(after["status"], "dispatched");
    let queue = e.get("dep_water_a", "/api/cases?department=mine").await;
    assert_eq!(queue["total"], 1);
    assert_eq!(queue["cases"][0]["id"], id1);
    let other = e.get("dep_area_dep", "/api/cases").await;
    assert_eq!(other["total"], 0, "a department sees only its own cases");
    let (s, _) = e
        .call(
            Some("dep_area_dep"),
            Method::GET,
            &format!("/api/cases/{id1}"),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // locate: a public endpoint with all four levels
    let loc = e.get("admin", "/api/locate?lon=114.3010&lat=30.5910").await;
    assert!(loc["grid"]["code"]
        .as_str()
        .unwrap()
        .starts_with("420102001001"));
    assert_eq!(loc["community"]["code"], "420102001001");
    assert_eq!(loc["street"]["code"], "420102001");
    assert_eq!(loc["admin_division"]["code"], "420102");
    // The in-memory answer agrees with PostGIS at 60 points spread over the area
    // (a fixed lattice, offset so that no point falls on a grid edge).
    for i in 0..60 {
        let lon = mgmt_common::AREA_W + 0.00004 + (i % 10) as f64 * 0.000297;
        let lat = mgmt_common::AREA_S + 0.00003 + (i / 10) as f64 * 0.000331;
        let loc = e
            .get("admin", &format!("/api/locate?lon={lon}&lat={lat}"))
            .await;
        let expected: Option<String> = sqlx::query_scalar(
            "SELECT code FROM layers.unit_grids \
             WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1",
        )
        .bind(lon)
        .bind(lat)
        .fetch_optional(&e.db.pool)
        .await
        .unwrap();
        assert_eq!(
            loc["grid"]["code"].as_str().map(str::to_owned),
            expected,
            "at {lon} {lat}"
        );
    }
    let (s, v) = e
        .call(None, Method::GET, "/api/locate?lon=114.31&lat=30.60", None)
        .await;
    assert_eq!(s, 200);
    assert!(v["grid"].is_null());
    let (s, _) = e
        .call(None, Method::GET, "/api/locate?lon=abc&lat=30", None)
        .await;
    assert_eq!(s, 400);
}

/// The nearest-component search runs in the intake statement when the in-memory
/// components layer has none near the point: a component the memory does not know
/// (written straight into the database, without a change notice) is still linked and
/// routes the case — the statement finds it, writes nothing, and the case is planned
/// again with it — and with an `Idempotency-Key` the key is claimed once, by the case
/// written the second time.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_the_memory_does_not_know_is_linked_by_the_intake_statement() {
    let e = env("routing_lag", &["water_b", "area_b"], &[]).await;
    e.wait_grids().await;
    e.category("P0102", Some("area_b")).await;
    sqlx::query(
        "INSERT INTO layers.components (geom, component_id, category_code, maintaining_department) \
         VALUES (ST_SetSRID(ST_MakePoint(114.3010, 30.5910), 4326), '4201020102000077', 'P0102', 'water_b')",
    )
    .execute(&e.db.pool)
    .await
    .unwrap();
    // the server's memory does not have it
    let near = e
        .get(
            "admin",
            "/api/nearest?layer=components&lon=114.3010&lat=30.5910&k=1",
        )
        .await;
    assert_eq!(near["count"], 0, "{near}");

    let body =
        json!({"category": "P0102", "lon": 114.30103, "lat": 30.5910, "description": "lagging"});
    let send = || async {
        let resp = common::http()
            .post(e.server.url("/api/cases"))
            .bearer_auth(&e.tokens["inspector"])
            .header("Idempotency-Key", "lag-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let replayed = resp.headers().contains_key("idempotent-replayed");
        let v: serde_json::Value = resp.json().await.unwrap();
        (status, replayed, v)
    };
    let (s, replayed, c) = send().await;
    assert_eq!(s, 201, "{c}");
    assert!(!replayed);
    assert_eq!(c["component"]["component_id"], "4201020102000077", "{c}");
    assert_eq!(c["routing"]["reason"]["by"], "component", "{c}");
    assert_eq!(c["routed_department"], "water_b", "{c}");
    // the same request again: the stored response, nothing written
    let (s, replayed, again) = send().await;
    assert_eq!(s, 201, "{again}");
    assert!(replayed);
    assert_eq!(again["id"], c["id"]);
    assert_eq!(again["component"]["component_id"], "4201020102000077");

    // 95 m away: none in the inventory either, routed without a component
    let far = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "P0102", "lon": 114.3020, "lat": 30.5912}),
            201,
        )
        .await;
    assert!(far["component"].is_null(), "{far}");
    assert_ne!(far["routing"]["reason"]["by"], "component", "{far}");

    let (cases, events, keys, linked): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM cases), \
                (SELECT count(*) FROM case_events WHERE action = 'report'), \
                (SELECT count(*) FROM idempotency_keys WHERE case_id IS NOT NULL), \
                (SELECT count(*) FROM cases WHERE component_id = '4201020102000077' \
                    AND routed_department = 'water_b')",
    )
    .fetch_one(&e.db.pool)
    .await
    .unwrap();
    assert_eq!((cases, events, keys, linked), (2, 2, 1, 1));
}

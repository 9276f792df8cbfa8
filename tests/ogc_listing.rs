//! OGC API collections are listed exactly when they can be read: for an anonymous
//! client (public layers), a signed-in user and an API key limited to one layer, every
//! listed collection answers its items with as many features as it says it has, and
//! every collection left out of the list is refused (conformance clients walk the list
//! and read each collection).

mod common;
mod mgmt_common;

use std::time::{Duration, Instant};

use mgmt_common::env;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn listed_collections_are_the_readable_ones() {
    let e = env("ogc_listing", &["dep1"], &[]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    for lon in [114.3005, 114.3012] {
        e.post(
            "inspector",
            "/api/cases",
            json!({"category": "E0101", "lon": lon, "lat": 30.5911}),
            201,
        )
        .await;
    }
    let (ok, key, err) = common::run(common::citygrid(&e.db).args([
        "key",
        "create",
        "--name",
        "grids-only",
        "--layers",
        "unit_grids",
    ]));
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    let client = common::http();
    let get = |path: String, who: &'static str| {
        let mut r = client.get(e.server.url(&path));
        match who {
            "key" => r = r.header("X-API-Key", &key),
            "anonymous" => {}
            user => r = r.bearer_auth(&e.tokens[user]),
        }
        async move {
            let r = r.send().await.expect("request");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The live cases layer counts both reports before the check.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, c) = get("/ogc/collections/cases/items?limit=10".into(), "inspector").await;
        if c["numberMatched"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cases layer never had 2 features: {c}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, catalog) = get("/catalog".into(), "admin").await;
    let all: Vec<String> = catalog["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["kind"] == "vector")
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect();
    assert!(all.contains(&"cases".to_string()), "{catalog}");
    for who in ["anonymous", "inspector", "dep_dep1", "key"] {
        let (status, list) = get("/ogc/collections".into(), who).await;
        assert_eq!(status, 200, "{who}: {list}");
        let listed: Vec<String> = list["collections"]
            .as_array()
            .expect("collections")
            .iter()
            .map(|c| c["id"].as_str().expect("id").to_string())
            .collect();
        if who == "key" {
            assert_eq!(listed, ["unit_grids"], "a key limited to one layer");
        }
        for id in &all {
            let (status, items) =
                get(format!("/ogc/collections/{id}/items?limit=10000"), who).await;
            let (meta_status, meta) = get(format!("/ogc/collections/{id}"), who).await;
            if listed.contains(id) {
                assert_eq!(status, 200, "{who} lists {id} but cannot read it: {items}");
                assert_eq!(meta_status, 200, "{who}: {meta}");
                let said = meta["description"].as_str().unwrap_or("").to_string();
                let matched = items["numberMatched"].as_i64().expect("numberMatched");
                assert!(
                    said.contains(&format!("({matched} features")),
                    "{who}: {id} says {said:?} but has {matched} items"
                );
                let returned = items["features"].as_array().map_or(0, Vec::len) as i64;
                assert_eq!(returned, matched.min(10000), "{who}: {id}");
            } else {
                assert!(
                    matches!(status, 401 | 403 | 404),
                    "{who} does not list {id} but reads it: {status}"
                );
                assert!(matches!(meta_status, 401 | 403 | 404), "{who}: {id}");
            }
        }
    }
    // A department's read of the cases layer holds every case (the map layer shows
    // neither description nor reporter: SECURITY.md), as its list says.
    let (_, cases) = get("/ogc/collections/cases/items".into(), "dep_dep1").await;
    assert_eq!(cases["numberMatched"], 2, "{cases}");
}

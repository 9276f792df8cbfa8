//! OGC API – Features Part 1 core, following the abstract test suite (OGC 17-069r4
//! Annex A), against the sample city (the Helsinki OSM import, the demo's grids,
//! components and cases) as an anonymous client and as a signed-in user: every
//! collection listed is described, serves its items as GeoJSON with the required
//! members and links, honours `limit` and `bbox`, pages with `next`, and serves each
//! feature alone; invalid and unknown parameters are 400s. A collection the caller
//! may not read is not listed at all (never listed-but-empty). Only collections of
//! features (an `items` link; `itemType` "feature") are tested for items, as the suite
//! says: the orthophoto is listed as a collection of map tiles (OGC API – Tiles).

mod common;
mod mgmt_common;

use common::{http, TestDb, TestServer};
use mgmt_common::cli;
use serde_json::{json, Value};

const CORE: &str = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core";
const GEOJSON: &str = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson";

struct Client {
    base: String,
    token: Option<String>,
    who: &'static str,
}

impl Client {
    async fn get(&self, path_or_url: &str) -> (u16, String, Value) {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let mut r = http().get(&url).header("Accept", "application/json");
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.bytes().await.unwrap();
        (
            status,
            kind,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }
}

fn link<'a>(doc: &'a Value, rel: &str) -> Option<&'a str> {
    doc["links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == rel)
        .and_then(|l| l["href"].as_str())
}

fn bbox_of(g: &Value) -> [f64; 4] {
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    fn visit(c: &Value, b: &mut [f64; 4]) {
        match c.as_array() {
            Some(a) if a.first().is_some_and(Value::is_number) => {
                let (x, y) = (a[0].as_f64().unwrap(), a[1].as_f64().unwrap());
                b[0] = b[0].min(x);
                b[1] = b[1].min(y);
                b[2] = b[2].max(x);
                b[3] = b[3].max(y);
            }
            Some(a) => a.iter().for_each(|x| visit(x, b)),
            None => {}
        }
    }
    visit(&g["coordinates"], &mut b);
    b
}

/// The abstract test suite's core tests, as `c` sees the API: the number of feature
/// collections checked, and the ids of the collections without items (map tiles).
async fn core_suite(c: &Client) -> (usize, Vec<String>) {
    let who = c.who;
    // A.2.2 landing page: 200, links to the API definition, conformance and data
    let (status, _, landing) = c.get("/ogc").await;
    assert_eq!(status, 200, "{who}: landing page");
    assert!(
        link(&landing, "service-desc").is_some() || link(&landing, "service-doc").is_some(),
        "{who}: landing links the API definition: {landing}"
    );
    let conformance = link(&landing, "conformance").expect("conformance link");
    let data = link(&landing, "data").expect("data link");
    // A.2.4 conformance: core and geojson declared
    let (status, _, conf) = c.get(conformance).await;
    assert_eq!(status, 200);
    let classes: Vec<&str> = conf["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        classes.contains(&CORE) && classes.contains(&GEOJSON),
        "{who}: {conf}"
    );
    // A.2.5 collections: self link, each with id, items link, valid extent
    let (status, _, collections) = c.get(data).await;
    assert_eq!(status, 200, "{who}: collections");
    assert!(
        link(&collections, "self").is_some(),
        "{who}: collections self link"
    );
    let list = collections["collections"].as_array().unwrap().clone();
    assert!(!list.is_empty(), "{who}: no collections");
    let mut checked = 0;
    let mut map_tiles = Vec::new();
    for coll in &list {
        let id = coll["id"].as_str().expect("collection id");
        let Some(items) = link(coll, "items") else {
            // Not a features collection: it must not claim features, and must lead
            // to what it has (map tilesets).
            assert_ne!(coll["itemType"], "feature", "{who}: {id} has no items link");
            assert!(
                link(coll, "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map").is_some(),
                "{who}: {id} has neither items nor map tiles: {coll}"
            );
            let (status, _, one) = c.get(&format!("/ogc/collections/{id}")).await;
            assert_eq!((status, &one["id"]), (200, &coll["id"]), "{who}: {id}");
            map_tiles.push(id.to_string());
            continue;
        };
        assert_eq!(coll["itemType"], "feature", "{who}: {id}");
        if let Some(b) = coll
            .pointer("/extent/spatial/bbox/0")
            .and_then(Value::as_array)
        {
            let b: Vec<f64> = b.iter().map(|x| x.as_f64().unwrap()).collect();
            assert!(
                b[0] >= -180.0 && b[2] <= 180.0 && b[1] >= -90.0 && b[3] <= 90.0 && b[1] <= b[3],
                "{who}: {id} extent {b:?}"
            );
        }
        // A.2.6 one collection: the same id as in the list
        let (status, _, one) = c.get(&format!("/ogc/collections/{id}")).await;
        assert_eq!(status, 200, "{who}: collection {id}");
        assert_eq!(one["id"], coll["id"]);
        // A.2.7 items: GeoJSON FeatureCollection, numberReturned = features, limit
        let sep = if items.contains('?') { '&' } else { '?' };
        let (status, kind, fc) = c.get(&format!("{items}{sep}limit=5")).await;
        assert_eq!(status, 200, "{who}: items of {id}: {fc}");
        assert!(
            kind.starts_with("application/geo+json"),
            "{who}: {id} items are {kind}"
        );
        assert_eq!(fc["type"], "FeatureCollection");
        let features = fc["features"].as_array().unwrap();
        assert!(features.len() <= 5, "{who}: {id} limit");
        assert_eq!(
            fc["numberReturned"].as_u64(),
            Some(features.len() as u64),
            "{who}: {id}"
        );
        let matched = fc["numberMatched"].as_u64().unwrap_or(0);
        // every layer of the sample city holds data: a collection listed to this
        // caller but empty to it is the listed-but-empty fault the OGC suite fails on
        assert!(matched > 0, "{who}: {id} is listed but serves no items");
        assert!(matched >= features.len() as u64);
        assert!(link(&fc, "self").is_some(), "{who}: {id} items self link");
        // a collection listed to this caller is readable by it: never listed but
        // empty while it holds data the caller may not see
        let count = coll["itemCount"]
            .as_u64()
            .or_else(|| one["itemCount"].as_u64());
        if let Some(n) = count {
            assert_eq!(
                matched, n,
                "{who}: {id} lists {n} items but serves {matched}"
            );
        }
        if matched > 5 {
            let next = link(&fc, "next").unwrap_or_else(|| panic!("{who}: {id} no next link"));
            let (status, _, page2) = c.get(next).await;
            assert_eq!(status, 200);
            let first: Vec<&Value> = features.iter().map(|f| &f["id"]).collect();
            for f in page2["features"].as_array().unwrap() {
                assert!(!first.contains(&&f["id"]), "{who}: {id} pages overlap");
            }
        }
        // A.2.7 bbox: every feature intersects the box around the first feature
        if let Some(f) = features.first() {
            let b = bbox_of(&f["geometry"]);
            let q = format!(
                "/ogc/collections/{id}/items?bbox={},{},{},{}&limit=50",
                b[0] - 1e-6,
                b[1] - 1e-6,
                b[2] + 1e-6,
                b[3] + 1e-6
            );
            let (status, _, hits) = c.get(&q).await;
            assert_eq!(status, 200, "{who}: {q}");
            let hits = hits["features"].as_array().unwrap();
            assert!(
                hits.iter().any(|h| h["id"] == f["id"]),
                "{who}: {id} bbox misses"
            );
            for h in hits {
                let hb = bbox_of(&h["geometry"]);
                assert!(
                    hb[0] <= b[2] + 1e-6
                        && hb[2] >= b[0] - 1e-6
                        && hb[1] <= b[3] + 1e-6
                        && hb[3] >= b[1] - 1e-6,
                    "{who}: {id} feature {} outside the bbox",
                    h["id"]
                );
            }
            // A.2.8 one feature: a Feature with self and collection links
            let fid = match &f["id"] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let (status, kind, feature) =
                c.get(&format!("/ogc/collections/{id}/items/{fid}")).await;
            assert_eq!(status, 200, "{who}: feature {id}/{fid}");
            assert!(kind.starts_with("application/geo+json"));
            assert_eq!(feature["type"], "Feature");
            assert_eq!(feature["id"], f["id"]);
            assert!(link(&feature, "self").is_some() && link(&feature, "collection").is_some());
        }
        // invalid and unknown parameters are 400s
        for bad in ["limit=0", "limit=abc", "bbox=1,2,3", "nonsense_parameter=1"] {
            let (status, _, body) = c.get(&format!("/ogc/collections/{id}/items?{bad}")).await;
            assert_eq!(status, 400, "{who}: {id}?{bad}: {body}");
        }
        checked += 1;
    }
    // a collection that does not exist is a 404
    let (status, _, _) = c.get("/ogc/collections/no_such_layer/items").await;
    assert_eq!(status, 404);
    (checked, map_tiles)
}

#[tokio::test(flavor = "multi_thread")]
async fn features_core_suite_against_the_sample_city() {
    let db = TestDb::new().await;
    let pbf = common::data_file("helsinki.osm.pbf");
    cli(&db, &["import", "osm", pbf.to_str().unwrap()]);
    cli(&db, &["grid", "seed-demo"]);
    let ortho = common::data_file("ortho_osbs_10cm_utm17.tif");
    cli(
        &db,
        &[
            "import",
            "raster",
            ortho.to_str().unwrap(),
            "--layer",
            "ortho",
            "--format",
            "png",
            "--tms",
            "WebMercatorQuad",
            "--quiet",
        ],
    );
    let password = format!("pw-ogc-{}", rand::random::<u32>());
    common::add_user(&db, "ogc_admin", "admin", None, &password);
    let server = TestServer::start(&db);
    // wait for the layers to load
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = http()
            .get(server.url("/ogc/collections"))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        let ready = v["collections"].as_array().is_some_and(|l| l.len() >= 5);
        if ready {
            let probe = http()
                .get(server.url("/ogc/collections/osm_roads/items?limit=1"))
                .send()
                .await
                .unwrap()
                .status();
            if probe == 200 {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "layers never loaded: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let anonymous = Client {
        base: server.base.clone(),
        token: None,
        who: "anonymous",
    };
    let (n_anon, tiles_anon) = core_suite(&anonymous).await;
    assert_eq!(tiles_anon, ["ortho"], "the orthophoto: map tiles only");
    let login: Value = http()
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "ogc_admin", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signed_in = Client {
        base: server.base.clone(),
        token: Some(login["token"].as_str().expect("token").to_string()),
        who: "signed-in admin",
    };
    let (n_admin, tiles_admin) = core_suite(&signed_in).await;
    assert_eq!(tiles_admin, ["ortho"]);
    assert!(
        n_anon >= 5 && n_admin >= n_anon,
        "{n_anon} / {n_admin} collections"
    );
}

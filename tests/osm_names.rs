//! Chinese and English OSM names reach the vector tiles (issue 19): `citygrid import
//! osm` writes `name:zh` (`name:zh-Hans` first) and `name:en` as the columns `name_zh`
//! and `name_en`, so they are in the tiles although the `tags` bag is left out of them
//! by default, and the Chinese style labels with them before `name`.

mod common;

use std::time::{Duration, Instant};

use common::mvt::{decode, DecodedFeature};
use common::tiles::tile_of;
use common::{citygrid, http, run, TestDb, TestServer};
use serde_json::Value;

async fn features(
    server: &TestServer,
    layer: &str,
    z: u32,
    lon: f64,
    lat: f64,
) -> Vec<DecodedFeature> {
    let (x, y) = tile_of(lon, lat, z);
    let response = http()
        .get(server.url(&format!("/tiles/{layer}/{z}/{x}/{y}.mvt")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    match status {
        200 => decode(&bytes),
        204 => Vec::new(),
        other => panic!("tile {layer}/{z}/{x}/{y}: status {other}"),
    }
}

async fn wait_loaded(server: &TestServer, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
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

fn prop<'a>(f: &'a DecodedFeature, key: &str) -> Option<&'a str> {
    f.props
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A feature of `layer` that the database says has a Chinese name: where it is and
/// its `name`, `name_zh` and `name_en`.
async fn named(db: &TestDb, layer: &str, name: &str) -> (f64, f64, String, Option<String>) {
    sqlx::query_as(&format!(
        "SELECT ST_X(p), ST_Y(p), name_zh, name_en \
         FROM (SELECT ST_PointOnSurface(geom) AS p, name_zh, name_en FROM layers.{layer} WHERE name = $1) s"
    ))
    .bind(name)
    .fetch_one(&db.pool)
    .await
    .unwrap_or_else(|e| panic!("{name} in {layer}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn chinese_and_english_osm_names_reach_the_tiles() {
    let db = TestDb::new().await;
    let (ok, _, stderr) = run(citygrid(&db)
        .args(["import", "osm"])
        .arg(common::data_file("helsinki.osm.pbf")));
    assert!(ok, "import failed: {stderr}");

    // The sample's own tags: a restaurant with name:zh only, the Old Market Hall with
    // name:en, Helsinki's main station with name:zh.
    let (lon, lat, zh, _) = named(&db, "osm_pois", "Ravintola China").await;
    assert_eq!(zh, "中國樓酒家");
    let (hall_lon, hall_lat, _, hall_en) = named(&db, "osm_buildings", "Vanha Kauppahalli").await;
    assert_eq!(hall_en.as_deref(), Some("Old Market Hall"));
    let with_zh: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM layers.osm_buildings WHERE name_zh IS NOT NULL) \
              + (SELECT count(*) FROM layers.osm_pois WHERE name_zh IS NOT NULL)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(with_zh >= 3, "features with a Chinese name: {with_zh}");
    // name:zh-Hans wins over name:zh where both are given.
    let hans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM layers.osm_buildings \
         WHERE tags ? 'name:zh-Hans' AND name_zh IS DISTINCT FROM tags->>'name:zh-Hans'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(hans, 0);

    let server = TestServer::start(&db);
    wait_loaded(&server, "osm_pois").await;
    wait_loaded(&server, "osm_buildings").await;

    let pois = features(&server, "osm_pois", 16, lon, lat).await;
    let china = pois
        .iter()
        .find(|f| prop(f, "name") == Some("Ravintola China"))
        .expect("the restaurant is in its z16 tile");
    assert_eq!(
        prop(china, "name_zh"),
        Some("中國樓酒家"),
        "{:?}",
        china.props
    );
    assert!(
        pois.iter().all(|f| prop(f, "tags").is_none()),
        "the tag bag stays out of the tiles"
    );
    let buildings = features(&server, "osm_buildings", 16, hall_lon, hall_lat).await;
    let hall = buildings
        .iter()
        .find(|f| prop(f, "name") == Some("Vanha Kauppahalli"))
        .expect("the market hall is in its z16 tile");
    assert_eq!(prop(hall, "name_en"), Some("Old Market Hall"));

    // The catalogue names the layers and the new fields in both languages (the
    // viewer's layer list and popups).
    let catalog: Value = http()
        .get(server.url("/catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let layers = catalog
        .as_array()
        .or_else(|| catalog["layers"].as_array())
        .expect("layers");
    let entry = |id: &str| {
        layers
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("{id} in the catalogue"))
            .clone()
    };
    assert_eq!(entry("osm_components")["title_zh"], "部件（OSM）");
    let pois = entry("osm_pois");
    assert_eq!(pois["field_titles"]["name_zh"]["zh"], "中文名称");
    assert_eq!(pois["field_titles"]["osm_id"]["en"], "OSM id");

    // TileJSON lists them, and the Chinese style labels POIs with them before `name`.
    let tilejson: Value = http()
        .get(server.url("/tiles/osm_pois.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fields = &tilejson["vector_layers"][0]["fields"];
    assert!(
        fields.get("name_zh").is_some() && fields.get("name_en").is_some(),
        "{fields}"
    );
    for (lang, want) in [("zh", "name_zh"), ("en", "name_en")] {
        let style: Value = http()
            .get(server.url(&format!("/styles/default.json?lang={lang}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let layer = style["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["source-layer"] == "osm_pois" && l["type"] == "symbol")
            .expect("a POI symbol layer");
        let text = layer["layout"]["text-field"].to_string();
        let at = |key: &str| text.find(&format!("\"{key}\"")).unwrap_or(usize::MAX);
        assert!(
            at(want) < at("name"),
            "{lang}: the label takes {want} before name: {text}"
        );
    }
}

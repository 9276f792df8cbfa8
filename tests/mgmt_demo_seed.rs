//! The demo seed: reference data, unit grids over the sample city, components from the
//! OSM import, a few cases in different states — and idempotent.

mod common;
mod mgmt_common;

use common::TestDb;
use mgmt_common::cli;

#[tokio::test(flavor = "multi_thread")]
async fn demo_seed_fills_the_console_once() {
    let db = TestDb::new().await;
    let pbf = common::data_file("helsinki.osm.pbf");
    cli(&db, &["import", "osm", pbf.to_str().unwrap()]);
    cli(&db, &["grid", "seed-demo"]);
    let counts = |sql: &'static str| {
        let pool = db.pool.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            n
        }
    };
    let grids = counts("SELECT count(*) FROM layers.unit_grids").await;
    assert!(grids > 100, "{grids} grids over central Helsinki");
    let components = counts("SELECT count(*) FROM layers.components").await;
    let osm = counts("SELECT count(*) FROM layers.osm_components").await;
    assert_eq!(components, osm);
    let in_grid =
        counts("SELECT count(*) FROM layers.components WHERE grid_code IS NOT NULL").await;
    assert!(
        in_grid * 10 >= components * 9,
        "{in_grid} of {components} components in a grid"
    );
    let states = counts("SELECT count(DISTINCT status) FROM cases").await;
    assert!(states >= 5, "{states} states");
    let cases = counts("SELECT count(*) FROM cases").await;
    let cats = counts("SELECT count(*) FROM categories").await;
    assert!(cats > 50);
    // again: nothing is added
    cli(&db, &["grid", "seed-demo"]);
    assert_eq!(counts("SELECT count(*) FROM cases").await, cases);
    assert_eq!(
        counts("SELECT count(*) FROM layers.unit_grids").await,
        grids
    );
    assert_eq!(
        counts("SELECT count(*) FROM layers.components").await,
        components
    );
    // One layer per thing users see: the OSM source of the components left the
    // catalogue (its table stays), and the counts users read are the live ones.
    let listed = counts("SELECT count(*) FROM layer_catalog WHERE id = 'osm_components'").await;
    assert_eq!(listed, 0, "osm_components is listed beside components");
    // The counts are read anonymously, the cases layer's included: its public view.
    let server = common::TestServer::start_with(&db, &[("CITYGRID_CASES_PUBLIC_VIEW", "status")]);
    let client = common::http();
    let get = |path: &str| {
        let request = client.get(server.url(path));
        async move {
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let catalog = get("/catalog").await;
        let layers = catalog["layers"].as_array().unwrap();
        let count = |id: &str| {
            layers
                .iter()
                .find(|l| l["id"] == id)
                .map(|l| l["feature_count"].as_i64().unwrap_or(-1))
        };
        assert_eq!(count("osm_components"), None, "{catalog}");
        if count("cases") == Some(cases) && count("components") == Some(components) {
            let one = get("/catalog/cases").await;
            assert_eq!(one["feature_count"], cases);
            let ogc = get("/ogc/collections/cases").await;
            assert!(
                ogc["description"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("({cases} features")),
                "{ogc}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the catalogue never counted {cases} cases and {components} components: {catalog}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

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
}

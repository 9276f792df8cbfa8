//! The `bbox` parameter of the management lists (`/api/cases`, `/api/grids`) follows the
//! one bbox rule of `citygrid_geo::bbox`: `w,s,e,n` in degrees, a box across the
//! antimeridian (`w > e`) allowed, out-of-range or malformed boxes refused with a 400
//! that says what is wrong.

mod common;
mod mgmt_common;

use mgmt_common::{env, AREA_E, AREA_N, AREA_S, AREA_W};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn management_lists_filter_by_the_one_bbox_rule() {
    let e = env("bbox", &["works"], &[]).await;
    e.wait_grids().await;
    e.category("E0505", Some("works")).await;
    let west = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "E0505", "lon": AREA_W + 0.0005, "lat": AREA_S + 0.0005}),
            201,
        )
        .await;
    let east = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "E0505", "lon": AREA_E - 0.0005, "lat": AREA_N - 0.0005}),
            201,
        )
        .await;
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        let mut ids: Vec<i64> = v["cases"]
            .as_array()
            .unwrap_or_else(|| panic!("no cases in {v}"))
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        ids.sort();
        ids
    };
    let (w, e_id) = (west["id"].as_i64().unwrap(), east["id"].as_i64().unwrap());

    // A box around the western case only.
    let small = format!(
        "/api/cases?bbox={},{},{},{}",
        AREA_W,
        AREA_S,
        AREA_W + 0.001,
        AREA_S + 0.001
    );
    assert_eq!(ids(&e.get("admin", &small).await), vec![w]);
    // The whole area: both.
    let all = format!("/api/cases?bbox={AREA_W},{AREA_S},{AREA_E},{AREA_N}");
    assert_eq!(ids(&e.get("admin", &all).await), vec![w, e_id]);
    // Across the antimeridian: accepted, and nothing of Wuhan inside.
    assert_eq!(
        ids(&e.get("admin", "/api/cases?bbox=179,0,-179,1").await),
        Vec::<i64>::new()
    );

    // Grids: the small box holds fewer grids than the whole area, and at least one.
    let grids = |v: serde_json::Value| v["grids"].as_array().map(Vec::len).unwrap_or(0);
    let n_all = grids(
        e.get(
            "admin",
            &format!("/api/grids?limit=1000&bbox={AREA_W},{AREA_S},{AREA_E},{AREA_N}"),
        )
        .await,
    );
    let n_small = grids(
        e.get(
            "admin",
            &format!(
                "/api/grids?limit=1000&bbox={},{},{},{}",
                AREA_W + 0.0004,
                AREA_S + 0.0004,
                AREA_W + 0.0006,
                AREA_S + 0.0006
            ),
        )
        .await,
    );
    assert!(
        n_small >= 1 && n_small < n_all,
        "small {n_small}, all {n_all}"
    );
    assert_eq!(
        grids(e.get("admin", "/api/grids?bbox=179,0,-179,1").await),
        0
    );

    // Refusals, with the rule's own message, on both lists.
    for path in ["/api/cases", "/api/grids"] {
        for (bbox, says) in [
            ("1,2,3", "4 (or 6) comma-separated numbers"),
            ("a,b,c,d", "4 (or 6) comma-separated numbers"),
            ("0,0,1,91", "within ±180° and latitudes within ±90°"),
            ("0,2,1,1", "minimum latitude is above the maximum"),
        ] {
            let (status, body) = e
                .call(
                    Some("admin"),
                    Method::GET,
                    &format!("{path}?bbox={bbox}"),
                    None,
                )
                .await;
            assert_eq!(status, 400, "{path}?bbox={bbox}: {body}");
            assert!(
                body.to_string().contains(says),
                "{path}?bbox={bbox}: {body}"
            );
        }
    }
}

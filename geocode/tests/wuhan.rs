//! Forward and reverse geocoding on a small hand-built Wuhan index: the parser, the
//! match levels, scores, ambiguity, patching and reverse lookups through the public API.

use citygrid_geocode::sphere::metres;
use citygrid_geocode::{
    AddressRecord, AreaKind, AreaRecord, ForwardOptions, GeocodeIndex, MatchLevel, RoadRecord,
    CONFIDENT_SCORE,
};
use geo::{polygon, MultiPolygon};

/// 沿江大道 runs from A to B; its even numbers 180..=196 lie 0.0003° north-west of it.
const A: [f64; 2] = [114.290, 30.580];
const B: [f64; 2] = [114.310, 30.600];

fn on_yanjiang(n: u32) -> [f64; 2] {
    let t = (n as f64 - 180.0) / 20.0;
    [
        A[0] + t * (B[0] - A[0]) - 0.0003,
        A[1] + t * (B[1] - A[1]) + 0.0003,
    ]
}

fn addr(
    id: i64,
    road: &str,
    number: &str,
    district: &str,
    code: &str,
    p: [f64; 2],
) -> AddressRecord {
    AddressRecord {
        id,
        road: Some(road.into()),
        number: Some(number.into()),
        district: Some(district.into()),
        city: Some("武汉市".into()),
        division_code: Some(code.into()),
        lon: p[0],
        lat: p[1],
        ..AddressRecord::default()
    }
}

fn area(kind: AreaKind, code: &str, name: &str, x0: f64, y0: f64, x1: f64, y1: f64) -> AreaRecord {
    AreaRecord {
        kind,
        code: code.into(),
        name: name.into(),
        polygons: MultiPolygon(vec![polygon![
            (x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)
        ]]),
    }
}

fn index() -> GeocodeIndex {
    let mut addrs: Vec<AddressRecord> = (180..=196)
        .step_by(4)
        .map(|n| {
            addr(
                n as i64,
                "沿江大道",
                &n.to_string(),
                "江岸区",
                "420102",
                on_yanjiang(n),
            )
        })
        .collect();
    // 3 buildings at 解放大道690号 (江汉区), given as full text only
    for (i, b) in ["1", "2", "3"].iter().enumerate() {
        addrs.push(AddressRecord {
            id: 1000 + i as i64,
            full: Some(format!("湖北省武汉市江汉区解放大道690号{b}栋")),
            building: Some((*b).into()),
            lon: 114.2650 + i as f64 * 0.0001,
            lat: 30.5850,
            ..AddressRecord::default()
        });
    }
    // 中山路5号 in two districts, 8 km apart
    addrs.push(addr(
        2001,
        "中山路",
        "5",
        "江岸区",
        "420102",
        [114.300, 30.610],
    ));
    addrs.push(addr(
        2002,
        "中山路",
        "5",
        "武昌区",
        "420106",
        [114.320, 30.540],
    ));
    // a road whose name starts like a district (江汉 → 江汉区)
    addrs.push(addr(
        3001,
        "江汉路",
        "118",
        "江汉区",
        "420103",
        [114.285, 30.581],
    ));
    let roads = vec![RoadRecord {
        id: 77,
        name: "沿江大道".into(),
        lines: vec![vec![A, B]],
    }];
    let areas = vec![
        area(
            AreaKind::Division,
            "420102",
            "江岸区",
            114.25,
            30.57,
            114.35,
            30.65,
        ),
        area(
            AreaKind::Community,
            "42010200101",
            "大智社区",
            114.28,
            30.57,
            114.30,
            30.59,
        ),
        area(
            AreaKind::UnitGrid,
            "4201020010101",
            "大智社区第1网格",
            114.289,
            30.579,
            114.296,
            30.586,
        ),
    ];
    GeocodeIndex::build(addrs, roads, areas)
}

fn opts() -> ForwardOptions {
    ForwardOptions {
        limit: 5,
        near: None,
    }
}

#[test]
fn exact_and_perturbed_chinese_queries_find_the_house() {
    let ix = index();
    assert_eq!(ix.len(), 11);
    for q in [
        "湖北省武汉市江岸区沿江大道188号",
        "武汉市江岸区沿江大道188号",
        "江岸区沿江大道188号",
        "江岸沿江大道188号",
        "沿江大道188号",
        "沿江大道１８８号",
        "武漢市江岸區沿江大道188號",
        " 江岸区  沿江大道 188 号 ",
        "沿江大道一百八十八号",
        "沿江大道188",
        // an unknown place name before the road: the road from the index's dictionary
        "江岸区黎黄陂小区沿江大道188号",
    ] {
        let r = ix.forward(q, &opts());
        let top = r
            .candidates
            .first()
            .unwrap_or_else(|| panic!("{q}: no candidate"));
        assert_eq!(top.address_id, Some(188), "{q}: {top:?}");
        assert_eq!(top.level, MatchLevel::House, "{q}");
        assert!(top.score >= CONFIDENT_SCORE, "{q}: {}", top.score);
        assert!(!r.ambiguous, "{q}");
        assert_eq!(top.division_code.as_deref(), Some("420102"), "{q}");
    }
    // the areas at the point: grid, community, division, finest first
    let r = ix.forward("沿江大道180号", &opts());
    let kinds: Vec<AreaKind> = r.candidates[0].areas.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [AreaKind::UnitGrid, AreaKind::Community, AreaKind::Division]
    );
    assert_eq!(r.candidates[0].label, "江岸区沿江大道180号");
}

#[test]
fn a_road_named_like_a_district_is_a_road() {
    let ix = index();
    for q in ["江汉路118号", "江汉区江汉路118号", "武汉江汉路118号"] {
        let r = ix.forward(q, &opts());
        let top = &r.candidates[0];
        assert_eq!(top.address_id, Some(3001), "{q}");
        assert!(top.score >= CONFIDENT_SCORE, "{q}");
    }
}

#[test]
fn wrong_district_lowers_the_score() {
    let ix = index();
    let r = ix.forward("武昌区沿江大道188号", &opts());
    let top = &r.candidates[0];
    assert_eq!(top.address_id, Some(188));
    assert!(top.score < CONFIDENT_SCORE, "{}", top.score);
}

#[test]
fn a_typo_finds_the_road_but_not_confidently_on_a_short_name() {
    let ix = index();
    let r = ix.forward("江岸区沿江大到188号", &opts());
    let top = &r.candidates[0];
    assert_eq!(top.address_id, Some(188));
    assert!(
        top.score < CONFIDENT_SCORE && top.score >= 0.7,
        "{}",
        top.score
    );
}

#[test]
fn missing_numbers_are_interpolated_between_same_parity_neighbours() {
    let ix = index();
    let r = ix.forward("沿江大道186号", &opts());
    let top = &r.candidates[0];
    assert_eq!(top.level, MatchLevel::Interpolated);
    assert_eq!(top.address_id, None);
    assert_eq!(top.road_id, Some(77));
    let want = on_yanjiang(186);
    assert!(metres([top.lon, top.lat], want) < 1.0, "{top:?}");
    assert!(top.score >= CONFIDENT_SCORE, "{}", top.score);
    assert_eq!(top.label, "沿江大道186号");
    // past the last number: the nearest same-parity number, not confident
    let r = ix.forward("沿江大道250号", &opts());
    let top = &r.candidates[0];
    assert_eq!(top.level, MatchLevel::Interpolated);
    assert!(metres([top.lon, top.lat], on_yanjiang(196)) < 1.0);
    assert!(top.score < CONFIDENT_SCORE);
}

#[test]
fn a_road_alone_is_placed_on_the_road() {
    let ix = index();
    let r = ix.forward("江岸区沿江大道", &opts());
    let top = &r.candidates[0];
    assert_eq!(top.level, MatchLevel::Road);
    let mid = [(A[0] + B[0]) / 2.0, (A[1] + B[1]) / 2.0];
    assert!(metres([top.lon, top.lat], mid) < 5.0, "{top:?}");
    assert!(top.score < CONFIDENT_SCORE);
}

#[test]
fn made_up_roads_get_no_confident_answer() {
    let ix = index();
    for q in [
        "江岸区幸福快乐大道5号",
        "武汉市七彩虹路12号",
        "Zyxwv Street 9",
    ] {
        let r = ix.forward(q, &opts());
        assert!(
            r.candidates.iter().all(|c| c.score < CONFIDENT_SCORE),
            "{q}: {:?}",
            r.candidates
        );
    }
    // a district alone: the district, coarse
    let r = ix.forward("武汉市江岸区", &opts());
    let top = &r.candidates[0];
    assert_eq!(top.level, MatchLevel::Division);
    assert_eq!(top.division_code.as_deref(), Some("420102"));
    assert!(top.score < CONFIDENT_SCORE);
    assert!(ix.forward("", &opts()).candidates.is_empty());
    assert!(ix.forward(&"路".repeat(10_000), &opts()).candidates.len() <= 5);
}

#[test]
fn same_address_in_two_districts_is_ambiguous_until_the_district_is_given() {
    let ix = index();
    let r = ix.forward("中山路5号", &opts());
    assert!(r.ambiguous);
    assert_eq!(r.candidates.len(), 2);
    let r = ix.forward("武昌区中山路5号", &opts());
    assert!(!r.ambiguous);
    assert_eq!(r.candidates[0].address_id, Some(2002));
    // `near` orders equals
    let near = ForwardOptions {
        limit: 5,
        near: Some([114.321, 30.541]),
    };
    assert_eq!(
        ix.forward("中山路5号", &near).candidates[0].address_id,
        Some(2002)
    );
    let near = ForwardOptions {
        limit: 1,
        near: Some([114.301, 30.611]),
    };
    let r = ix.forward("中山路5号", &near);
    assert_eq!(r.candidates.len(), 1);
    assert_eq!(r.candidates[0].address_id, Some(2001));
}

#[test]
fn addresses_given_as_full_text_are_parsed_at_build() {
    let ix = index();
    let r = ix.forward("江汉区解放大道690号2栋", &opts());
    let top = &r.candidates[0];
    assert_eq!(top.address_id, Some(1001));
    assert_eq!(top.division_code.as_deref(), Some("420103"));
    assert_eq!(top.label, "湖北省武汉市江汉区解放大道690号2栋");
    // without the building: the three buildings, close together, not ambiguous
    let r = ix.forward("解放大道690号", &opts());
    assert_eq!(r.candidates.len(), 3);
    assert!(!r.ambiguous);
    // the full text itself
    let r = ix.forward("湖北省武汉市江汉区解放大道690号3栋", &opts());
    assert_eq!(r.candidates[0].address_id, Some(1002));
}

#[test]
fn patching_adds_moves_and_removes_addresses() {
    let mut ix = index();
    ix.remove_address(188);
    assert_eq!(ix.len(), 10);
    let r = ix.forward("沿江大道188号", &opts());
    assert_eq!(r.candidates[0].level, MatchLevel::Interpolated);
    let p = [114.2995, 30.5905];
    ix.upsert_address(addr(188, "沿江大道", "188", "江岸区", "420102", p));
    let r = ix.forward("沿江大道188号", &opts());
    assert_eq!(r.candidates[0].address_id, Some(188));
    assert!(metres([r.candidates[0].lon, r.candidates[0].lat], p) < 0.01);
    // moved again: reverse finds it at the new place only
    ix.upsert_address(addr(
        188,
        "沿江大道",
        "188",
        "江岸区",
        "420102",
        [114.2, 30.5],
    ));
    assert_eq!(ix.len(), 11);
    let hit = ix.reverse(114.2, 30.5, 50.0);
    assert_eq!(hit.address.map(|(c, _)| c.address_id), Some(Some(188)));
    let hit = ix.reverse(p[0], p[1], 5.0);
    assert!(hit.address.is_none());
    // a renamed address leaves its old road
    ix.upsert_address(addr(188, "新华路", "188", "江岸区", "420102", p));
    let r = ix.forward("沿江大道188号", &opts());
    assert_eq!(r.candidates[0].level, MatchLevel::Interpolated);
    assert_eq!(
        ix.forward("新华路188号", &opts()).candidates[0].address_id,
        Some(188)
    );
    // unusable coordinates are refused
    ix.upsert_address(addr(
        5,
        "沿江大道",
        "5",
        "江岸区",
        "420102",
        [f64::NAN, 1.0],
    ));
    assert_eq!(ix.len(), 11);
}

#[test]
fn reverse_finds_nearest_address_road_and_areas() {
    let ix = index();
    let p = on_yanjiang(184);
    let q = [p[0] + 0.0001, p[1]];
    let hit = ix.reverse(q[0], q[1], 100.0);
    let (c, d) = hit
        .address
        .clone()
        .unwrap_or_else(|| panic!("no address: {hit:?}"));
    assert_eq!(c.address_id, Some(184));
    assert!((d - metres(q, p)).abs() < 0.5, "{d}");
    assert_eq!(c.label, "江岸区沿江大道184号");
    let (name, id, rd) = hit.road.clone().unwrap_or_default();
    assert_eq!((name.as_str(), id), ("沿江大道", 77));
    assert!(rd > 10.0 && rd < 60.0, "{rd}");
    let names: Vec<&str> = hit.areas.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["大智社区第1网格", "大智社区", "江岸区"]);
    // far from everything: nothing within the distance, but still the areas
    let hit = ix.reverse(114.26, 30.64, 50.0);
    assert!(hit.address.is_none() && hit.road.is_none());
    assert_eq!(hit.areas.len(), 1);
    // bad input: empty answers, no panic
    assert!(ix.reverse(f64::NAN, 30.0, 50.0).areas.is_empty());
    assert!(ix.reverse(114.3, 95.0, 50.0).address.is_none());
    assert!(ix.reverse(114.3, 30.59, -1.0).address.is_none());
}

#[test]
fn json_forms() {
    let ix = index();
    let r = ix.forward("沿江大道180号", &opts());
    let v = serde_json::to_value(&r).unwrap_or_default();
    assert_eq!(v["candidates"][0]["level"], "house");
    assert_eq!(v["candidates"][0]["areas"][0]["kind"], "unit_grid");
    assert_eq!(v["parsed"]["road"], "沿江大道");
    assert_eq!(v["parsed"]["number"], "180");
}

#[test]
fn a_community_without_outline_is_placed_at_its_addresses() {
    let mut a = addr(1, "胜利街", "2", "江岸区", "420102", [114.300, 30.600]);
    a.community = Some("永清社区".into());
    let mut b = addr(2, "胜利街", "4", "江岸区", "420102", [114.302, 30.600]);
    b.community = Some("永清社区".into());
    let mut ix = GeocodeIndex::build(vec![a, b], vec![], vec![]);
    let r = ix.forward("江岸区永清社区", &opts());
    let top = &r.candidates[0];
    assert_eq!(top.level, MatchLevel::Community);
    assert_eq!(top.label, "永清社区");
    assert!(metres([top.lon, top.lat], [114.301, 30.600]) < 1.0);
    assert!(top.score < CONFIDENT_SCORE);
    ix.remove_address(1);
    ix.remove_address(2);
    assert!(ix.is_empty());
    assert!(ix.forward("江岸区永清社区", &opts()).candidates.is_empty());
}

#[test]
fn a_typed_beginning_suggests_the_road() {
    let ix = index();
    let r = ix.forward("沿江", &opts());
    let top = &r.candidates[0];
    assert_eq!(
        (top.level, top.label.as_str()),
        (MatchLevel::Road, "沿江大道")
    );
    assert!(top.score < CONFIDENT_SCORE);
    // one character is too little
    assert!(ix.forward("沿", &opts()).candidates.is_empty());
}

#[test]
fn reverse_names_the_nearest_line_of_a_road() {
    // one road name in three records (the pieces of a long road), 2 km apart
    let roads = (0..3)
        .map(|i| RoadRecord {
            id: 500 + i,
            name: "解放大道".into(),
            lines: vec![vec![
                [114.25 + 0.02 * i as f64, 30.59],
                [114.26 + 0.02 * i as f64, 30.59],
            ]],
        })
        .collect();
    let ix = GeocodeIndex::build(Vec::new(), roads, Vec::new());
    for i in 0..3 {
        let hit = ix.reverse(114.255 + 0.02 * i as f64, 30.5901, 50.0);
        let (name, id, m) = hit.road.unwrap_or_default();
        assert_eq!((name.as_str(), id), ("解放大道", 500 + i as i64));
        assert!((m - 11.1).abs() < 0.5, "{m}");
    }
}

//! Any text and any numbers in, an answer out: random queries built from the pieces of
//! real addresses (Chinese, Western, digits, markers, punctuation, full-width forms)
//! never panic, stay within the limit, and scores stay in 0..=1.

use citygrid_geocode::divisions::Divisions;
use citygrid_geocode::normalize::normalize;
use citygrid_geocode::parse::parse;
use citygrid_geocode::{AddressRecord, ForwardOptions, GeocodeIndex, RoadRecord};

const PIECES: &[&str] = &[
    "湖北省",
    "武汉市",
    "江岸区",
    "江岸",
    "江汉",
    "路",
    "大道",
    "沿江大道",
    "号",
    "號",
    "栋",
    "单元",
    "室",
    "街道",
    "社区",
    "镇",
    "一",
    "百",
    "十",
    "零",
    "〇",
    "188",
    "１８８",
    "-",
    "A",
    "a",
    " ",
    "  ",
    ",",
    "，",
    "Kaivokatu",
    "k.",
    "St",
    "2",
    "B",
    "Helsinki",
    "00100",
    "ä",
    "\u{301}",
    "(",
    "#",
    "号楼",
    "北京市朝阳区",
    "青山",
    "9999999999999999999999",
    "\u{0}",
    "\t",
    "🙂",
];

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn random_queries_never_panic() {
    let addrs: Vec<AddressRecord> = (1..=40)
        .map(|i| AddressRecord {
            id: i,
            road: Some(
                if i % 2 == 0 {
                    "沿江大道"
                } else {
                    "Kaivokatu"
                }
                .into(),
            ),
            number: Some(format!("{}", i * 2)),
            division_code: (i % 2 == 0).then(|| "420102".to_string()),
            lon: 114.3 + i as f64 * 1e-4,
            lat: 30.6,
            ..AddressRecord::default()
        })
        .collect();
    let roads = vec![RoadRecord {
        id: 1,
        name: "沿江大道".into(),
        lines: vec![
            vec![[114.3, 30.6], [114.31, 30.61]],
            vec![],
            vec![[f64::NAN, 1.0]],
        ],
    }];
    let ix = GeocodeIndex::build(addrs, roads, Vec::new());
    let mut rng = Lcg(7);
    for round in 0..3000 {
        let mut q = String::new();
        for _ in 0..(1 + rng.below(12)) {
            q.push_str(PIECES[rng.below(PIECES.len())]);
        }
        let _ = normalize(&q);
        let _ = parse(&q, Divisions::bundled());
        let limit = rng.below(200);
        let r = ix.forward(&q, &ForwardOptions { limit, near: None });
        assert!(
            r.candidates.len() <= limit.clamp(1, citygrid_geocode::MAX_LIMIT),
            "{q}"
        );
        for c in &r.candidates {
            assert!(
                (0.0..=1.0).contains(&c.score) && c.lon.is_finite() && c.lat.is_finite(),
                "{q}"
            );
        }
        let lon = 114.3 + (rng.below(2000) as f64 - 1000.0) * 1e-3;
        let _ = ix.reverse(lon, 30.6, (round % 500) as f64);
    }
    // long input is cut, not rejected
    let long = "沿江大道2号".repeat(5000);
    assert!(
        ix.forward(&long, &ForwardOptions::default())
            .candidates
            .len()
            <= 5
    );
    for bad in [f64::NAN, f64::INFINITY, -1e300, 1e300] {
        let h = ix.reverse(bad, bad, 100.0);
        assert!(h.address.is_none() && h.road.is_none() && h.areas.is_empty());
        let h = ix.reverse(114.3, 30.6, bad);
        assert!(h.address.is_none() || bad > 0.0);
    }
}

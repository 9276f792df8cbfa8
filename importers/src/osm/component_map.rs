//! OSM tags → city component classes (部件) — the ONE place this mapping lives.
//!
//! Codes are the 4-digit class codes (major 2 + subclass 2) of docs/domain.md §2, with
//! the subclass numbering of the default category seed in
//! `grid-mgmt/src/catalog.rs` (`P0101` …), so the grid-management inventory can take
//! `class_code` as it is. Cities renumber; change a code here and in the seed
//! together.
//!
//! A rule matches when every `(key, value)` condition holds (`"*"` = any value).
//! Rules are tried in order; the first match wins, so more specific rules come first.
//! Only OSM nodes (the `points` layer) are mapped: components are point objects.
//!
//! Not mapped on purpose: `manhole=unknown` and misspelt or lifecycle values
//! (`missing_gas`, `suspected_water`…) — a component needs a known owner;
//! `tram_point` (a rail switch, not a cover).

/// One component class and the OSM tags that identify it.
#[derive(Debug, Clone, Copy)]
pub struct ComponentRule {
    /// 4-digit class code: major (2) + subclass (2).
    pub code: &'static str,
    /// Chinese class name (as in the category seed).
    pub name_zh: &'static str,
    /// English class name.
    pub name_en: &'static str,
    /// Tag conditions, all required; value `"*"` matches any value.
    pub when: &'static [(&'static str, &'static str)],
}

/// The mapping table, most specific rules first.
#[rustfmt::skip]
pub const COMPONENT_RULES: &[ComponentRule] = &[
    // 01 公用设施 public utilities — manhole covers by network (OSM `manhole=*`).
    ComponentRule { code: "0101", name_zh: "上水井盖", name_en: "Water-supply manhole cover", when: &[("manhole", "water")] },
    ComponentRule { code: "0101", name_zh: "上水井盖", name_en: "Water-supply manhole cover", when: &[("manhole", "water_supply")] },
    ComponentRule { code: "0102", name_zh: "污水井盖", name_en: "Sewage manhole cover", when: &[("manhole", "sewer")] },
    ComponentRule { code: "0102", name_zh: "污水井盖", name_en: "Sewage manhole cover", when: &[("manhole", "sewage")] },
    // Storm drain grates: `manhole=drain` + `drain=grate`/`inlet`, or the dedicated tags.
    ComponentRule { code: "0104", name_zh: "雨水箅子", name_en: "Storm drain grate", when: &[("manhole", "drain"), ("drain", "grate")] },
    ComponentRule { code: "0104", name_zh: "雨水箅子", name_en: "Storm drain grate", when: &[("man_made", "storm_drain")] },
    ComponentRule { code: "0104", name_zh: "雨水箅子", name_en: "Storm drain grate", when: &[("storm_drain", "*")] },
    ComponentRule { code: "0103", name_zh: "雨水井盖", name_en: "Storm-water manhole cover", when: &[("manhole", "drain")] },
    ComponentRule { code: "0103", name_zh: "雨水井盖", name_en: "Storm-water manhole cover", when: &[("manhole", "storm")] },
    ComponentRule { code: "0103", name_zh: "雨水井盖", name_en: "Storm-water manhole cover", when: &[("manhole", "rainwater")] },
    ComponentRule { code: "0105", name_zh: "电力井盖", name_en: "Power manhole cover", when: &[("manhole", "power")] },
    ComponentRule { code: "0105", name_zh: "电力井盖", name_en: "Power manhole cover", when: &[("manhole", "electricity")] },
    ComponentRule { code: "0106", name_zh: "路灯井盖", name_en: "Street-lighting manhole cover", when: &[("manhole", "lighting")] },
    ComponentRule { code: "0106", name_zh: "路灯井盖", name_en: "Street-lighting manhole cover", when: &[("manhole", "street_lighting")] },
    ComponentRule { code: "0107", name_zh: "通信井盖", name_en: "Telecom manhole cover", when: &[("manhole", "telecom")] },
    ComponentRule { code: "0108", name_zh: "燃气井盖", name_en: "Gas manhole cover", when: &[("manhole", "gas")] },
    ComponentRule { code: "0109", name_zh: "热力井盖", name_en: "District-heating manhole cover", when: &[("manhole", "heat")] },
    ComponentRule { code: "0109", name_zh: "热力井盖", name_en: "District-heating manhole cover", when: &[("manhole", "heating")] },
    // 01 公用设施 — other utilities.
    ComponentRule { code: "0110", name_zh: "消防栓", name_en: "Fire hydrant", when: &[("emergency", "fire_hydrant")] },
    ComponentRule { code: "0111", name_zh: "路灯", name_en: "Street lamp", when: &[("highway", "street_lamp")] },
    ComponentRule { code: "0112", name_zh: "电力设施", name_en: "Power equipment box", when: &[("man_made", "street_cabinet"), ("street_cabinet", "power")] },
    ComponentRule { code: "0112", name_zh: "电力设施", name_en: "Power equipment box", when: &[("power", "cable_distribution_cabinet")] },
    ComponentRule { code: "0113", name_zh: "通信交接箱", name_en: "Telecom cabinet", when: &[("man_made", "street_cabinet"), ("street_cabinet", "telecom")] },
    ComponentRule { code: "0113", name_zh: "通信交接箱", name_en: "Telecom cabinet", when: &[("telecom", "service_device")] },
    ComponentRule { code: "0114", name_zh: "监控电子眼", name_en: "Surveillance camera", when: &[("man_made", "surveillance")] },
    ComponentRule { code: "0115", name_zh: "邮筒", name_en: "Post box", when: &[("amenity", "post_box")] },
    // 02 道路交通 roads and traffic.
    ComponentRule { code: "0201", name_zh: "公交站亭", name_en: "Bus stop shelter", when: &[("highway", "bus_stop")] },
    ComponentRule { code: "0202", name_zh: "交通信号灯", name_en: "Traffic signal", when: &[("highway", "traffic_signals")] },
    ComponentRule { code: "0203", name_zh: "交通标志牌", name_en: "Traffic sign", when: &[("traffic_sign", "*")] },
    ComponentRule { code: "0203", name_zh: "交通标志牌", name_en: "Traffic sign", when: &[("highway", "stop")] },
    ComponentRule { code: "0203", name_zh: "交通标志牌", name_en: "Traffic sign", when: &[("highway", "give_way")] },
    ComponentRule { code: "0205", name_zh: "隔离墩", name_en: "Bollard", when: &[("barrier", "bollard")] },
    ComponentRule { code: "0207", name_zh: "路名牌", name_en: "Street name sign", when: &[("information", "street_sign")] },
    ComponentRule { code: "0208", name_zh: "停车咪表", name_en: "Parking meter", when: &[("vending", "parking_tickets")] },
    // 03 市容环境 city appearance.
    ComponentRule { code: "0301", name_zh: "公共厕所", name_en: "Public toilet", when: &[("amenity", "toilets")] },
    ComponentRule { code: "0302", name_zh: "垃圾箱", name_en: "Waste bin", when: &[("amenity", "waste_basket")] },
    ComponentRule { code: "0303", name_zh: "垃圾收集站", name_en: "Refuse collection point", when: &[("amenity", "waste_disposal")] },
    ComponentRule { code: "0303", name_zh: "垃圾收集站", name_en: "Refuse collection point", when: &[("amenity", "recycling")] },
    ComponentRule { code: "0304", name_zh: "户外广告牌", name_en: "Outdoor advertising board", when: &[("advertising", "*")] },
    ComponentRule { code: "0305", name_zh: "座椅", name_en: "Bench", when: &[("amenity", "bench")] },
    ComponentRule { code: "0305", name_zh: "座椅", name_en: "Bench", when: &[("leisure", "picnic_table")] },
    // 04 园林绿化 landscaping.
    ComponentRule { code: "0402", name_zh: "古树名木", name_en: "Heritage tree", when: &[("natural", "tree"), ("denotation", "natural_monument")] },
    ComponentRule { code: "0401", name_zh: "行道树", name_en: "Street tree", when: &[("natural", "tree")] },
    ComponentRule { code: "0404", name_zh: "花坛花箱", name_en: "Flower bed or box", when: &[("landuse", "flowerbed")] },
    ComponentRule { code: "0405", name_zh: "雕塑", name_en: "Sculpture", when: &[("artwork_type", "sculpture")] },
    ComponentRule { code: "0405", name_zh: "雕塑", name_en: "Sculpture", when: &[("artwork_type", "statue")] },
    // 05 房屋土地 buildings and land.
    ComponentRule { code: "0503", name_zh: "售货亭", name_en: "Kiosk", when: &[("shop", "kiosk")] },
    // 06 其他设施 other.
    ComponentRule { code: "0604", name_zh: "健身设施", name_en: "Fitness equipment", when: &[("leisure", "fitness_station")] },
];

/// The first rule whose conditions `tag` satisfies (`tag(key)` = the tag's value).
pub fn classify<'a>(tag: impl Fn(&str) -> Option<&'a str>) -> Option<&'static ComponentRule> {
    COMPONENT_RULES.iter().find(|rule| {
        rule.when
            .iter()
            .all(|(k, v)| tag(k).is_some_and(|value| *v == "*" || value == *v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(tags: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |k| tags.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
    }

    #[test]
    fn classes() {
        assert_eq!(
            classify(with(&[("manhole", "water")])).unwrap().code,
            "0101"
        );
        assert_eq!(
            classify(with(&[("manhole", "drain")])).unwrap().code,
            "0103"
        );
        assert_eq!(
            classify(with(&[("manhole", "drain"), ("drain", "grate")]))
                .unwrap()
                .code,
            "0104"
        );
        assert_eq!(
            classify(with(&[("highway", "street_lamp")])).unwrap().code,
            "0111"
        );
        assert_eq!(
            classify(with(&[
                ("natural", "tree"),
                ("denotation", "natural_monument")
            ]))
            .unwrap()
            .code,
            "0402"
        );
        assert!(classify(with(&[("manhole", "unknown")])).is_none());
        assert!(classify(with(&[("highway", "residential")])).is_none());
    }

    #[test]
    fn codes_are_well_formed() {
        for r in COMPONENT_RULES {
            assert_eq!(r.code.len(), 4);
            assert!(r.code.bytes().all(|b| b.is_ascii_digit()));
            assert!(!r.when.is_empty());
        }
    }
}

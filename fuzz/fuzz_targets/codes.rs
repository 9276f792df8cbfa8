//! Code parsers of grid management (`grid-mgmt/src/codes.rs`): grid code,
//! admin/street/community codes, category code, major class, category kind and
//! component id. Each parsed code re-formats to the input (normalised: 14-digit
//! grid codes gain a sequence digit, a lower-case kind letter is upper-cased),
//! re-parses to itself, is rebuilt from its parts by the constructors, and
//! round-trips through serde. The constructors are also fed raw numbers.
#![no_main]

use citygrid_grid_mgmt::codes::{
    AdminCode, CategoryCode, CategoryKind, CommunityCode, ComponentId, GridCode, MajorClass,
    StreetCode,
};
use libfuzzer_sys::fuzz_target;
use std::fmt::Debug;
use std::str::FromStr;

fn serde_round_trip<T>(v: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + Debug,
{
    let json = serde_json::to_string(v).expect("serialises");
    let back: T = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(&back, v);
}

fn reparse<T>(s: &str) -> Option<T>
where
    T: FromStr + ToString + PartialEq + Debug,
    T::Err: Debug,
{
    let v: T = s.parse().ok()?;
    let again: T = v.to_string().parse().expect("a formatted code parses");
    assert_eq!(again, v);
    Some(v)
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    // Raw numbers for the constructors.
    if data.len() >= 8 {
        let seq = u16::from_le_bytes([data[0], data[1]]);
        let (major, sub) = (data[2], data[3]);
        let serial = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
        let admin: AdminCode = "420102".parse().expect("admin");
        let street: StreetCode = "001".parse().expect("street");
        let comm: CommunityCode = "002".parse().expect("community");
        match GridCode::new(&admin, &street, &comm, seq) {
            Ok(g) => {
                assert!((1..=999).contains(&seq));
                assert_eq!(g.sequence(), seq);
                assert_eq!(g.to_string().parse::<GridCode>().expect("reparse"), g);
            }
            Err(_) => assert!(!(1..=999).contains(&seq)),
        }
        for kind in [CategoryKind::Component, CategoryKind::Event] {
            match CategoryCode::new(kind, major, sub) {
                Ok(c) => {
                    assert_eq!(c.to_string().parse::<CategoryCode>().expect("reparse"), c);
                    match ComponentId::new(&admin, c, serial) {
                        Ok(id) => {
                            assert_eq!(kind, CategoryKind::Component);
                            assert_eq!((id.category(), id.serial()), (c, serial));
                            assert_eq!(id.to_string().parse::<ComponentId>().expect("reparse"), id);
                        }
                        Err(_) => {
                            assert!(kind == CategoryKind::Event || !(1..=999_999).contains(&serial))
                        }
                    }
                }
                Err(_) => assert!(!(1..=99).contains(&major) || !(1..=99).contains(&sub)),
            }
            if let Ok(m) = MajorClass::new(kind, major) {
                assert_eq!(m.to_string().parse::<MajorClass>().expect("reparse"), m);
            }
        }
    }

    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(g) = reparse::<GridCode>(s) {
        let t = g.to_string();
        assert_eq!(t.len(), 15);
        if s.len() == 15 {
            assert_eq!(t, s);
        } else {
            assert_eq!(t, format!("{}0{}", &s[..12], &s[12..]));
        }
        let rebuilt = GridCode::new(&g.admin(), &g.street(), &g.community(), g.sequence())
            .expect("parts of a grid code rebuild it");
        assert_eq!(rebuilt, g);
        assert_eq!(g.community_key(), &t[..12]);
        assert_eq!(g.street_key(), &t[..9]);
        serde_round_trip(&g);
    }
    if let Some(a) = reparse::<AdminCode>(s) {
        assert_eq!(a.as_str(), s);
        serde_round_trip(&a);
    }
    if let Some(a) = reparse::<StreetCode>(s) {
        assert_eq!(a.as_str(), s);
    }
    if let Some(a) = reparse::<CommunityCode>(s) {
        assert_eq!(a.as_str(), s);
    }
    if let Some(c) = reparse::<CategoryCode>(s) {
        assert_eq!(c.to_string(), upper_first(s));
        assert_eq!(
            CategoryCode::from_plain(c.kind, &c.plain()).expect("plain form"),
            c
        );
        assert_eq!(
            c.major_class().to_string().parse::<MajorClass>().ok(),
            Some(c.major_class())
        );
        serde_round_trip(&c);
    }
    if let Some(m) = reparse::<MajorClass>(s) {
        assert_eq!(m.to_string(), upper_first(s));
        serde_round_trip(&m);
    }
    if let Ok(k) = s.parse::<CategoryKind>() {
        assert_eq!(k.prefix().to_string().parse::<CategoryKind>().ok(), Some(k));
    }
    if let Some(id) = reparse::<ComponentId>(s) {
        assert_eq!(id.as_str(), s);
        let rebuilt = ComponentId::new(&id.admin(), id.category(), id.serial())
            .expect("parts of a component id rebuild it");
        assert_eq!(rebuilt, id);
        serde_round_trip(&id);
    }
    for kind in [CategoryKind::Component, CategoryKind::Event] {
        if let Ok(c) = CategoryCode::from_plain(kind, s) {
            assert_eq!(c.plain(), s);
            assert_eq!(c.kind, kind);
        }
    }
});

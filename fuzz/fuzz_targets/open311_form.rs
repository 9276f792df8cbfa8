//! Open311 form parsing (`grid-mgmt/src/open311.rs`, `POST /open311/v2/requests`):
//! `parse_form` pairs re-encode and parse to the same pairs; an accepted request
//! keeps the documented rules (service code, location, ranges, lengths, email,
//! media URL), re-encodes as a form that parses to the same request, and goes
//! through `validate_request` against the default catalogue; a refused one gives
//! 400/404 and an error document that is valid JSON and well-formed XML text.
#![no_main]

use std::sync::OnceLock;

use citygrid_grid_mgmt::catalog::Catalog;
use citygrid_grid_mgmt::open311::{
    parse_form, parse_new_request, render_errors, validate_request, Format, NewRequest,
    MAX_ATTRIBUTES, MAX_DESCRIPTION, MAX_FIELD,
};
use libfuzzer_sys::fuzz_target;

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(Catalog::default_seed)
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn request_pairs(r: &NewRequest) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            p.push((k.to_string(), v.clone()));
        }
    };
    add("api_key", &r.api_key);
    add("jurisdiction_id", &r.jurisdiction_id);
    add("service_code", &Some(r.service_code.to_string()));
    add("lat", &r.lat.map(|v| v.to_string()));
    add("long", &r.long.map(|v| v.to_string()));
    add("address_string", &r.address_string);
    add("address_id", &r.address_id);
    add("email", &r.email);
    add("device_id", &r.device_id);
    add("account_id", &r.account_id);
    add("first_name", &r.first_name);
    add("last_name", &r.last_name);
    add("phone", &r.phone);
    add("description", &r.description);
    add("media_url", &r.media_url);
    for (code, values) in &r.attributes {
        for v in values {
            p.push((format!("attribute[{code}][]"), v.clone()));
        }
    }
    p
}

fn check_request(r: &NewRequest) {
    assert_eq!(r.lat.is_some(), r.long.is_some());
    if let (Some(lat), Some(long)) = (r.lat, r.long) {
        assert!(lat.is_finite() && lat.abs() <= 90.0);
        assert!(long.is_finite() && long.abs() <= 180.0);
    }
    assert!(r.lat.is_some() || r.address_string.is_some() || r.address_id.is_some());
    let fields = [
        &r.api_key,
        &r.jurisdiction_id,
        &r.address_string,
        &r.address_id,
        &r.email,
        &r.device_id,
        &r.account_id,
        &r.first_name,
        &r.last_name,
        &r.phone,
        &r.media_url,
    ];
    for f in fields.into_iter().flatten() {
        assert!(f.chars().count() <= MAX_FIELD && !f.trim().is_empty());
    }
    if let Some(d) = &r.description {
        assert!(d.chars().count() <= MAX_DESCRIPTION);
    }
    assert!(r.attributes.len() <= MAX_ATTRIBUTES);
    for (code, values) in &r.attributes {
        assert!(!code.is_empty() && !code.contains(']'));
        assert!(values.iter().all(|v| v.chars().count() <= MAX_FIELD));
    }
    if let Some(e) = &r.email {
        assert_eq!(e.matches('@').count(), 1);
    }
    if let Some(u) = &r.media_url {
        assert!(u.starts_with("http://") || u.starts_with("https://"));
    }
}

fn check_xml_text(xml: &str, description: &str) {
    let open = "<description>";
    let a = xml.find(open).expect("a description element") + open.len();
    let b = xml.rfind("</description>").expect("closed");
    let text = &xml[a..b];
    assert!(!text.contains('<'), "raw < in XML text {text:?}");
    assert!(
        !text
            .chars()
            .any(|c| ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
                || c == '\u{FFFE}'
                || c == '\u{FFFF}'),
        "a character XML 1.0 forbids in {text:?}"
    );
    let unescaped = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    let kept: String = description
        .chars()
        .filter(|&c| {
            !(((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
                || c == '\u{FFFE}'
                || c == '\u{FFFF}')
        })
        .collect();
    assert_eq!(unescaped, kept);
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pairs) = parse_form(body) {
        let again = parse_form(&form(&pairs)).expect("re-encoded form parses");
        assert_eq!(again, pairs);
    }
    match parse_new_request(body) {
        Ok(r) => {
            check_request(&r);
            let re = form(&request_pairs(&r));
            let again = parse_new_request(&re)
                .unwrap_or_else(|e| panic!("re-encoded request {re:?} is refused: {e}"));
            assert_eq!(again, r);
            if let Err(e) = validate_request(&r, catalog()) {
                assert!(matches!(e.code(), 400 | 404));
            }
        }
        Err(e) => {
            assert!(matches!(e.code(), 400 | 404));
            let item = e.to_item();
            let json = render_errors(std::slice::from_ref(&item), Format::Json);
            let v: serde_json::Value = serde_json::from_str(&json).expect("JSON error document");
            assert_eq!(v[0]["description"], item.description.as_str());
            let xml = render_errors(&[item.clone()], Format::Xml);
            check_xml_text(&xml, &item.description);
        }
    }
});

//! CQL2-JSON parser (`cql2/src/json.rs`): any input either parses
//! or fails with an error naming a JSON pointer; a parsed filter holds only finite
//! numbers and, when CQL2 text can express it, re-prints as CQL2 text that the
//! text parser reads to the same expression (or refuses for the one documented
//! reason the text grammar is stricter: nesting depth counted differently). Types
//! are checked alike: a number compared with text, or LIKE on a number, is refused
//! by both parsers.
#![no_main]

use citygrid_cql2::json as cql2json;
use citygrid_cql2::text as cql2;
use citygrid_fuzz::{cql2print, FuzzResolver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match cql2json::parse(text, &FuzzResolver) {
        Ok(e) => {
            if !cql2print::text_expressible(&e) {
                return;
            }
            let printed = cql2print::to_text(&e);
            match cql2::parse(&printed, &FuzzResolver) {
                Ok(again) => assert_eq!(again, e, "{text:?} printed as {printed:?}"),
                Err(err) => {
                    let m = &err.message;
                    assert!(
                        m.contains("nested"),
                        "{text:?} printed as {printed:?} is refused by the text parser: {err}"
                    );
                }
            }
        }
        Err(err) => assert!(err.pointer.starts_with('/'), "pointer {:?}", err.pointer),
    }
});

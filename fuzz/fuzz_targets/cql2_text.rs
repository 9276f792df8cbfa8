//! CQL2-text parser (`cql2/src/text.rs`): any input either parses or
//! fails with an error whose offset lies within the text; a parsed filter holds
//! only finite numbers, re-prints as CQL2 text and re-parses to the same
//! expression.
#![no_main]

use citygrid_cql2::text::{parse, MAX_FILTER_BYTES};
use citygrid_fuzz::{cql2print, FuzzResolver};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text, &FuzzResolver) {
        Ok(e) => {
            let printed = cql2print::to_text(&e);
            match parse(&printed, &FuzzResolver) {
                Ok(again) => assert_eq!(again, e, "{text:?} re-printed as {printed:?}"),
                // printing may lengthen a filter (numbers written out, an ILIKE
                // pattern in lower case) beyond the size limits
                Err(err)
                    if printed.len() > MAX_FILTER_BYTES
                        || err.message.starts_with("a LIKE pattern has at most") => {}
                Err(err) => panic!("{text:?} re-printed as {printed:?} does not parse: {err}"),
            }
        }
        Err(err) => {
            let chars = text.chars().count();
            assert!(
                err.offset <= chars,
                "offset {} beyond the text ({chars} chars)",
                err.offset
            );
            assert!(!err.message.is_empty());
        }
    }
});

//! CQL2-text parser (`spatial-api/src/query/cql2.rs`): any input either parses or
//! fails with an error whose offset lies within the text; a parsed filter holds
//! only finite numbers, re-prints as CQL2 text and re-parses to the same
//! expression.
#![no_main]

use citygrid_fuzz::{cql2print, FuzzResolver};
use citygrid_spatial_api::query::cql2::parse;
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
                Err(err) => panic!("{text:?} re-printed as {printed:?} does not parse: {err}"),
            }
        }
        Err(err) => {
            let chars = text.chars().count();
            assert!(
                err.offset <= chars.max(citygrid_spatial_api::query::cql2::MAX_FILTER_CHARS),
                "offset {} beyond the text ({chars} chars)",
                err.offset
            );
            assert!(!err.message.is_empty());
        }
    }
});

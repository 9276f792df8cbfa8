//! (being moved here from spatial-api; see lib.rs)

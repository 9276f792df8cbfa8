//! Address parsing: Chinese structured addresses and Western forms.

use crate::divisions::Divisions;
use crate::ParsedAddress;

/// Parses an address (normalised first) into its parts.
pub fn parse(s: &str, _divisions: &Divisions) -> ParsedAddress {
    ParsedAddress {
        rest: Some(crate::normalize::normalize(s)),
        ..ParsedAddress::default()
    }
}

//! Normalisation of address text before parsing and matching.

/// The normalised form of an address string (skeleton: trims only).
pub fn normalize(s: &str) -> String {
    s.trim().to_string()
}

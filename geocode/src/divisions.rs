//! GB/T 2260 administrative divisions (province, prefecture, county).

use serde::{Deserialize, Serialize};

/// One division of GB/T 2260.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Division {
    /// Six-digit code, e.g. `420102`.
    pub code: String,
    /// Full name, e.g. `江岸区`.
    pub name: String,
}

/// The table of divisions.
#[derive(Debug, Clone, Default)]
pub struct Divisions {
    list: Vec<Division>,
}

impl Divisions {
    /// The bundled GB/T 2260 table.
    pub fn bundled() -> &'static Divisions {
        static D: std::sync::OnceLock<Divisions> = std::sync::OnceLock::new();
        D.get_or_init(Divisions::default)
    }

    /// Every division.
    pub fn all(&self) -> &[Division] {
        &self.list
    }
}

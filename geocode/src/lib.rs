//! # citygrid-geocode
//!
//! citygrid's geocoding engine (issue 21): address text in, points out, and back.
//! Pure logic: no SQL, no HTTP, no file I/O (the GB/T 2260 table is embedded).
//!
//! - [`normalize`]: full-width/half-width forms, traditional variants, spaces, case,
//!   abbreviations, Chinese numerals in house numbers.
//! - [`parse`]: Chinese structured addresses (division prefix, road, number,
//!   building, unit, room) and Western "road number, city" / "number road" forms.
//! - [`divisions`]: the bundled GB/T 2260 province / prefecture / county table.
//! - [`GeocodeIndex`]: the in-memory index: forward (exact, fuzzy, interpolated,
//!   road) and reverse (nearest address, nearest road, areas) geocoding.
//!
//! ```
//! use citygrid_geocode::{AddressRecord, ForwardOptions, GeocodeIndex, MatchLevel};
//!
//! let a = AddressRecord {
//!     id: 1,
//!     road: Some("沿江大道".into()),
//!     number: Some("188".into()),
//!     division_code: Some("420102".into()),
//!     lon: 114.2977,
//!     lat: 30.5883,
//!     ..AddressRecord::default()
//! };
//! let ix = GeocodeIndex::build(vec![a], vec![], vec![]);
//! let r = ix.forward("湖北省武漢市江岸區沿江大道１８８號", &ForwardOptions::default());
//! assert_eq!(r.parsed.division_code.as_deref(), Some("420102"));
//! assert_eq!(r.candidates[0].level, MatchLevel::House);
//! assert_eq!(r.candidates[0].address_id, Some(1));
//! let hit = ix.reverse(114.2978, 30.5883, 50.0);
//! assert!(hit.address.is_some_and(|(c, m)| c.address_id == Some(1) && m < 20.0));
//! ```

pub mod divisions;
mod index;
pub mod normalize;
pub mod parse;
pub mod sphere;

pub use index::GeocodeIndex;

use serde::{Deserialize, Serialize};

/// Score at or above which a candidate is "confident": the server places a case
/// there (Open311) only when the top candidate reaches it and the result is not
/// [`ForwardResult::ambiguous`]; below it the answer is a suggestion at best.
pub const CONFIDENT_SCORE: f32 = 0.8;

/// Two top candidates closer in score than this and farther apart than
/// [`AMBIGUOUS_DISTANCE_M`] make a result [`ForwardResult::ambiguous`].
pub const AMBIGUOUS_SCORE_GAP: f32 = 0.02;

/// See [`AMBIGUOUS_SCORE_GAP`]: metres.
pub const AMBIGUOUS_DISTANCE_M: f64 = 100.0;

/// Most candidates [`GeocodeIndex::forward`] returns, whatever the limit asked.
pub const MAX_LIMIT: usize = 50;

/// Characters of a query looked at; the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 256;

/// One standard address (门楼牌) of the city, lon/lat in WGS 84.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AddressRecord {
    /// Row id of the address table.
    pub id: i64,
    /// The full address text, when the source has one.
    pub full: Option<String>,
    /// Road (street) name.
    pub road: Option<String>,
    /// House number.
    pub number: Option<String>,
    /// Building (栋/幢/座).
    pub building: Option<String>,
    /// Unit (单元).
    pub unit: Option<String>,
    /// Community (社区).
    pub community: Option<String>,
    /// Sub-district (街道).
    pub street: Option<String>,
    /// District / county.
    pub district: Option<String>,
    /// City.
    pub city: Option<String>,
    /// GB/T 2260 code of the county, when known.
    pub division_code: Option<String>,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
}

/// A named road, its lines in lon/lat (for interpolation and the nearest road).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RoadRecord {
    /// Id of the road feature.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Its lines, each a list of `[lon, lat]`.
    pub lines: Vec<Vec<[f64; 2]>>,
}

/// What kind of area an [`AreaRecord`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    /// A unit grid (单元网格).
    UnitGrid,
    /// A community (社区).
    Community,
    /// A sub-district (街道).
    Street,
    /// An administrative division (district / county).
    Division,
}

/// An area: unit grid, community, street or division, with its polygons in lon/lat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AreaRecord {
    /// Kind.
    pub kind: AreaKind,
    /// Code (grid code, community code, GB/T 2260 code …).
    pub code: String,
    /// Name.
    pub name: String,
    /// Polygons, lon/lat.
    pub polygons: geo::MultiPolygon<f64>,
}

/// The level at which a forward candidate matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchLevel {
    /// A known address (门楼牌).
    House,
    /// A house number interpolated along its road between known numbers.
    Interpolated,
    /// The road only.
    Road,
    /// A community.
    Community,
    /// An administrative division.
    Division,
}

/// A reference to an area holding a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaRef {
    /// Kind.
    pub kind: AreaKind,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
}

/// One forward-geocoding candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Candidate {
    /// 0..=1; see [`CONFIDENT_SCORE`].
    pub score: f32,
    /// Level matched.
    pub level: MatchLevel,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Human-readable label.
    pub label: String,
    /// The address matched (level house).
    pub address_id: Option<i64>,
    /// The road matched (levels interpolated and road).
    pub road_id: Option<i64>,
    /// GB/T 2260 code of the candidate's county, when known.
    pub division_code: Option<String>,
    /// Unit grid / community / street / division at the point.
    pub areas: Vec<AreaRef>,
}

/// The parts of a parsed address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedAddress {
    /// GB/T 2260 code of the most precise division recognised.
    pub division_code: Option<String>,
    /// Province (省 / 自治区 / municipality).
    pub province: Option<String>,
    /// City (prefecture).
    pub city: Option<String>,
    /// District / county.
    pub district: Option<String>,
    /// Sub-district (街道 / 镇 / 乡).
    pub street: Option<String>,
    /// Community (社区 / 村).
    pub community: Option<String>,
    /// Road.
    pub road: Option<String>,
    /// House number (without 号).
    pub number: Option<String>,
    /// Building (without 栋/幢/座).
    pub building: Option<String>,
    /// Unit (without 单元).
    pub unit: Option<String>,
    /// Room (without 室).
    pub room: Option<String>,
    /// Whatever is left (room, POI name …).
    pub rest: Option<String>,
}

/// Options of [`GeocodeIndex::forward`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardOptions {
    /// Most candidates returned.
    pub limit: usize,
    /// Prefer candidates near this `[lon, lat]`.
    pub near: Option<[f64; 2]>,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            limit: 5,
            near: None,
        }
    }
}

/// The answer of [`GeocodeIndex::forward`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardResult {
    /// The query parsed.
    pub parsed: ParsedAddress,
    /// Candidates, best first.
    pub candidates: Vec<Candidate>,
    /// The top two candidates are equally good and far apart.
    pub ambiguous: bool,
}

/// The answer of [`GeocodeIndex::reverse`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReverseHit {
    /// Nearest address and its distance in metres.
    pub address: Option<(Candidate, f64)>,
    /// Nearest road: name, id, distance in metres.
    pub road: Option<(String, i64, f64)>,
    /// Areas holding the point.
    pub areas: Vec<AreaRef>,
}

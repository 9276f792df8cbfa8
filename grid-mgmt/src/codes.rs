//! Validated codes for places, unit grids, components and categories (domain.md §1–§2).
//!
//! Every code is a newtype that can only hold a valid value. They parse with
//! [`FromStr`], print with [`Display`] and (de)serialise with serde as plain strings, so a
//! code read from JSON or a database column is checked at the edge.
//!
//! ```
//! use citygrid_grid_mgmt::codes::GridCode;
//!
//! // the older 14-digit form (2-digit sequence) is normalised to 15 digits
//! let g: GridCode = "42010200100207".parse().unwrap();
//! assert_eq!(g.to_string(), "420102001002007");
//! assert_eq!(g.sequence(), 7);
//!
//! let err = "420102001002".parse::<GridCode>().unwrap_err();
//! assert_eq!(err.to_string(), "grid code must be 15 digits (or 14 in the old form), got 12");
//! ```

use std::fmt::{self, Display};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a code was rejected. The message names the code and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Wrong number of characters.
    #[error("{what} must be {expected}, got {got}")]
    Length {
        /// The kind of code, e.g. "grid code".
        what: &'static str,
        /// What was expected, e.g. "15 digits (or 14 in the old form)".
        expected: &'static str,
        /// The number of characters received.
        got: usize,
    },
    /// A character that is not an ASCII digit where a digit is required.
    #[error("{what} must contain only digits 0-9, found {found:?} at position {position}")]
    NotDigit {
        /// The kind of code.
        what: &'static str,
        /// The offending character.
        found: char,
        /// 1-based character position.
        position: usize,
    },
    /// Any other rule (zero class, unknown kind letter, …).
    #[error("{what}: {reason}")]
    Invalid {
        /// The kind of code.
        what: &'static str,
        /// What rule was broken.
        reason: String,
    },
}

fn check_digits(what: &'static str, s: &str) -> Result<(), CodeError> {
    for (i, c) in s.chars().enumerate() {
        if !c.is_ascii_digit() {
            return Err(CodeError::NotDigit {
                what,
                found: c,
                position: i + 1,
            });
        }
    }
    Ok(())
}

fn check_fixed(
    what: &'static str,
    expected: &'static str,
    len: usize,
    s: &str,
) -> Result<(), CodeError> {
    let n = s.chars().count();
    if n != len {
        return Err(CodeError::Length {
            what,
            expected,
            got: n,
        });
    }
    check_digits(what, s)
}

/// Serialise any `Display` type as a string; deserialise through `FromStr`.
macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A fixed-length all-digit code.
macro_rules! digit_code {
    ($(#[$m:meta])* $name:ident, $len:expr, $what:expr, $expected:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The code as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = CodeError;
            fn from_str(s: &str) -> Result<Self, CodeError> {
                check_fixed($what, $expected, $len, s)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        string_serde!($name);
    };
}

digit_code!(
    /// A county-level division code, 6 digits of GB/T 2260 (e.g. `420102` 江岸区).
    ///
    /// ```
    /// # use citygrid_grid_mgmt::codes::AdminCode;
    /// let a: AdminCode = "420102".parse().unwrap();
    /// assert_eq!(a.as_str(), "420102");
    /// assert!("42010".parse::<AdminCode>().is_err());
    /// ```
    AdminCode, 6, "admin division code", "6 digits (GB/T 2260)"
);
digit_code!(
    /// A street / town (街道/乡镇) code, 3 digits, unique within its admin division.
    StreetCode, 3, "street code", "3 digits"
);
digit_code!(
    /// A community (社区) code, 3 digits, unique within its street.
    CommunityCode, 3, "community code", "3 digits"
);

/// A unit grid code (单元网格): 15 digits = admin(6) + street(3) + community(3) + sequence(3).
///
/// The older CJ/T 213 form with a 2-digit sequence (14 digits) is accepted on input and
/// normalised to 15 digits by left-padding the sequence. Sequence `000` is rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GridCode(String);

impl GridCode {
    const WHAT: &'static str = "grid code";

    /// Build a grid code from its parts; `sequence` must be 1..=999.
    ///
    /// ```
    /// # use citygrid_grid_mgmt::codes::*;
    /// let g = GridCode::new(&"420102".parse().unwrap(), &"001".parse().unwrap(),
    ///                       &"002".parse().unwrap(), 12).unwrap();
    /// assert_eq!(g.as_str(), "420102001002012");
    /// assert!(GridCode::new(&g.admin(), &g.street(), &g.community(), 1000).is_err());
    /// ```
    pub fn new(
        admin: &AdminCode,
        street: &StreetCode,
        community: &CommunityCode,
        sequence: u16,
    ) -> Result<Self, CodeError> {
        if !(1..=999).contains(&sequence) {
            return Err(CodeError::Invalid {
                what: Self::WHAT,
                reason: format!("sequence must be 1 to 999, got {sequence}"),
            });
        }
        Ok(Self(format!("{admin}{street}{community}{sequence:03}")))
    }
    /// The code as a string slice (always 15 digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The admin division part.
    pub fn admin(&self) -> AdminCode {
        AdminCode(self.0[0..6].to_owned())
    }
    /// The street part.
    pub fn street(&self) -> StreetCode {
        StreetCode(self.0[6..9].to_owned())
    }
    /// The community part.
    pub fn community(&self) -> CommunityCode {
        CommunityCode(self.0[9..12].to_owned())
    }
    /// The sequence number within the community (1..=999).
    pub fn sequence(&self) -> u16 {
        self.0[12..15].parse().unwrap_or(0)
    }
    /// The 12-digit key of the community (admin + street + community), unique nationwide.
    pub fn community_key(&self) -> &str {
        &self.0[0..12]
    }
    /// The 9-digit key of the street (admin + street), unique nationwide.
    pub fn street_key(&self) -> &str {
        &self.0[0..9]
    }
}

impl FromStr for GridCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        let n = s.chars().count();
        if n != 15 && n != 14 {
            return Err(CodeError::Length {
                what: Self::WHAT,
                expected: "15 digits (or 14 in the old form)",
                got: n,
            });
        }
        check_digits(Self::WHAT, s)?;
        let norm = if n == 14 {
            format!("{}0{}", &s[..12], &s[12..])
        } else {
            s.to_owned()
        };
        if &norm[12..] == "000" {
            return Err(CodeError::Invalid {
                what: Self::WHAT,
                reason: "sequence must be 1 to 999, got 0".into(),
            });
        }
        Ok(Self(norm))
    }
}

impl Display for GridCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(GridCode);

/// Whether a category describes a component (部件, a fixed object) or an event (事件, a condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryKind {
    /// A fixed city object (manhole cover, lamp, …); textual prefix `P`.
    Component,
    /// A condition (illegal parking, exposed rubbish, …); textual prefix `E`.
    Event,
}

impl CategoryKind {
    /// The one-letter prefix used in service codes: `P` (component) or `E` (event).
    pub fn prefix(self) -> char {
        match self {
            CategoryKind::Component => 'P',
            CategoryKind::Event => 'E',
        }
    }
}

impl Display for CategoryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CategoryKind::Component => "component",
            CategoryKind::Event => "event",
        })
    }
}

impl FromStr for CategoryKind {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        match s {
            "component" | "P" | "p" => Ok(CategoryKind::Component),
            "event" | "E" | "e" => Ok(CategoryKind::Event),
            other => Err(CodeError::Invalid {
                what: "category kind",
                reason: format!("expected \"component\" or \"event\", got {other:?}"),
            }),
        }
    }
}

fn parse_class(what: &'static str, s: &str) -> Result<u8, CodeError> {
    check_fixed(what, "2 digits", 2, s)?;
    let v: u8 = s.parse().unwrap_or(0);
    if v == 0 {
        return Err(CodeError::Invalid {
            what,
            reason: "00 is not a valid class".into(),
        });
    }
    Ok(v)
}

/// A major class (大类) of one kind, e.g. component major `01` 公用设施.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MajorClass {
    /// Component or event.
    pub kind: CategoryKind,
    /// 1..=99.
    pub major: u8,
}

impl MajorClass {
    /// A major class; `major` must be 1..=99.
    pub fn new(kind: CategoryKind, major: u8) -> Result<Self, CodeError> {
        if !(1..=99).contains(&major) {
            return Err(CodeError::Invalid {
                what: "major class",
                reason: format!("must be 01 to 99, got {major}"),
            });
        }
        Ok(Self { kind, major })
    }
}

impl Display for MajorClass {
    /// `P01` / `E05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:02}", self.kind.prefix(), self.major)
    }
}

impl FromStr for MajorClass {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        let mut chars = s.chars();
        let kind = match chars.next() {
            Some(c) => c.to_string().parse::<CategoryKind>()?,
            None => {
                return Err(CodeError::Length {
                    what: "major class",
                    expected: "a letter P or E followed by 2 digits",
                    got: 0,
                })
            }
        };
        let rest = chars.as_str();
        Ok(Self {
            kind,
            major: parse_class("major class", rest)?,
        })
    }
}
string_serde!(MajorClass);

/// A category (部件/事件 class): kind + major class (2 digits) + subclass (2 digits).
///
/// Textual form `P0101` (component 上水井盖) or `E0505` (event), as used for Open311
/// `service_code`s; the plain form `0101` needs the kind given separately
/// ([`CategoryCode::from_plain`]).
///
/// ```
/// # use citygrid_grid_mgmt::codes::*;
/// let c: CategoryCode = "P0101".parse().unwrap();
/// assert_eq!((c.kind, c.major, c.sub), (CategoryKind::Component, 1, 1));
/// assert_eq!(c.plain(), "0101");
/// assert_eq!(CategoryCode::from_plain(CategoryKind::Event, "0505").unwrap().to_string(), "E0505");
/// assert!("X0101".parse::<CategoryCode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CategoryCode {
    /// Component or event.
    pub kind: CategoryKind,
    /// Major class 1..=99.
    pub major: u8,
    /// Subclass 1..=99.
    pub sub: u8,
}

impl CategoryCode {
    const WHAT: &'static str = "category code";

    /// A category from numbers; both classes must be 1..=99.
    pub fn new(kind: CategoryKind, major: u8, sub: u8) -> Result<Self, CodeError> {
        if !(1..=99).contains(&major) || !(1..=99).contains(&sub) {
            return Err(CodeError::Invalid {
                what: Self::WHAT,
                reason: format!("major and subclass must be 01 to 99, got {major:02}{sub:02}"),
            });
        }
        Ok(Self { kind, major, sub })
    }

    /// Parse the plain 4-digit form (`0101`) with the kind given separately.
    pub fn from_plain(kind: CategoryKind, s: &str) -> Result<Self, CodeError> {
        let n = s.chars().count();
        if n != 4 {
            return Err(CodeError::Length {
                what: Self::WHAT,
                expected: "4 digits (major class + subclass) in the plain form",
                got: n,
            });
        }
        check_digits(Self::WHAT, s)?;
        Ok(Self {
            kind,
            major: parse_class("major class", &s[0..2])?,
            sub: parse_class("subclass", &s[2..4])?,
        })
    }

    /// The plain 4-digit form, e.g. `0101`.
    pub fn plain(&self) -> String {
        format!("{:02}{:02}", self.major, self.sub)
    }

    /// The major class this category belongs to.
    pub fn major_class(&self) -> MajorClass {
        MajorClass {
            kind: self.kind,
            major: self.major,
        }
    }
}

impl Display for CategoryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:02}{:02}", self.kind.prefix(), self.major, self.sub)
    }
}

impl FromStr for CategoryCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        let n = s.chars().count();
        if n != 5 {
            return Err(CodeError::Length {
                what: Self::WHAT,
                expected: "5 characters: P or E + 4 digits (e.g. P0101, E0505)",
                got: n,
            });
        }
        let mut chars = s.chars();
        let kind = match chars.next() {
            Some('P') | Some('p') => CategoryKind::Component,
            Some('E') | Some('e') => CategoryKind::Event,
            Some(c) => {
                return Err(CodeError::Invalid {
                    what: Self::WHAT,
                    reason: format!("must start with P (component) or E (event), got {c:?}"),
                })
            }
            None => unreachable!("length checked above"),
        };
        Self::from_plain(kind, chars.as_str())
    }
}
string_serde!(CategoryCode);

/// A component id (部件编码): 16 digits = admin(6) + major(2) + subclass(2) + serial(6).
///
/// ```
/// # use citygrid_grid_mgmt::codes::*;
/// let id: ComponentId = "3205080101000001".parse().unwrap();
/// assert_eq!(id.category().to_string(), "P0101");
/// assert_eq!(id.serial(), 1);
/// assert_eq!(id.admin().as_str(), "320508");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId(String);

impl ComponentId {
    const WHAT: &'static str = "component id";

    /// Build from parts; `category` must be a component category, `serial` 1..=999999.
    pub fn new(admin: &AdminCode, category: CategoryCode, serial: u32) -> Result<Self, CodeError> {
        if category.kind != CategoryKind::Component {
            return Err(CodeError::Invalid {
                what: Self::WHAT,
                reason: format!("{category} is an event category, not a component category"),
            });
        }
        if !(1..=999_999).contains(&serial) {
            return Err(CodeError::Invalid {
                what: Self::WHAT,
                reason: format!("serial must be 1 to 999999, got {serial}"),
            });
        }
        Ok(Self(format!("{admin}{}{serial:06}", category.plain())))
    }
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The admin division part.
    pub fn admin(&self) -> AdminCode {
        AdminCode(self.0[0..6].to_owned())
    }
    /// The component category (`P` + major + subclass).
    pub fn category(&self) -> CategoryCode {
        CategoryCode {
            kind: CategoryKind::Component,
            major: self.0[6..8].parse().unwrap_or(0),
            sub: self.0[8..10].parse().unwrap_or(0),
        }
    }
    /// The serial number.
    pub fn serial(&self) -> u32 {
        self.0[10..16].parse().unwrap_or(0)
    }
}

impl FromStr for ComponentId {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        check_fixed(
            Self::WHAT,
            "16 digits (admin 6 + major 2 + subclass 2 + serial 6)",
            16,
            s,
        )?;
        parse_class("component major class", &s[6..8])?;
        parse_class("component subclass", &s[8..10])?;
        if &s[10..] == "000000" {
            return Err(CodeError::Invalid {
                what: Self::WHAT,
                reason: "serial must be 1 to 999999, got 0".into(),
            });
        }
        Ok(Self(s.to_owned()))
    }
}

impl Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(ComponentId);

/// Where something is, as far as it is known: admin division, street, community, unit grid.
///
/// Street and community codes are only unique within their parent, so comparisons use the
/// full keys ([`Place::street_key`], [`Place::community_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Place {
    /// County-level division.
    pub admin: Option<AdminCode>,
    /// Street / town within `admin`.
    pub street: Option<StreetCode>,
    /// Community within `street`.
    pub community: Option<CommunityCode>,
    /// Unit grid.
    pub grid: Option<GridCode>,
}

impl Place {
    /// The place of a unit grid (admin, street and community are taken from its code).
    pub fn from_grid(grid: GridCode) -> Self {
        Self {
            admin: Some(grid.admin()),
            street: Some(grid.street()),
            community: Some(grid.community()),
            grid: Some(grid),
        }
    }
    /// `admin + street` (9 digits) when both are known.
    pub fn street_key(&self) -> Option<String> {
        Some(format!("{}{}", self.admin.as_ref()?, self.street.as_ref()?))
    }
    /// `admin + street + community` (12 digits) when all are known.
    pub fn community_key(&self) -> Option<String> {
        Some(format!(
            "{}{}{}",
            self.admin.as_ref()?,
            self.street.as_ref()?,
            self.community.as_ref()?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_street_community() {
        assert!("420102".parse::<AdminCode>().is_ok());
        assert_eq!(
            "4201a2".parse::<AdminCode>().unwrap_err().to_string(),
            "admin division code must contain only digits 0-9, found 'a' at position 5"
        );
        assert_eq!(
            "0011".parse::<StreetCode>().unwrap_err().to_string(),
            "street code must be 3 digits, got 4"
        );
        assert!("007".parse::<CommunityCode>().is_ok());
        // non-ASCII digits are not digits here
        assert!("４２０".parse::<StreetCode>().is_err());
    }

    #[test]
    fn grid_code_forms() {
        let g: GridCode = "420102001002123".parse().unwrap();
        assert_eq!(g.street().as_str(), "001");
        assert_eq!(g.community().as_str(), "002");
        assert_eq!(g.sequence(), 123);
        assert_eq!(g.community_key(), "420102001002");
        assert_eq!(g.street_key(), "420102001");
        let old: GridCode = "42010200100299".parse().unwrap();
        assert_eq!(old.as_str(), "420102001002099");
        assert_eq!(
            "42010200100200"
                .parse::<GridCode>()
                .unwrap_err()
                .to_string(),
            "grid code: sequence must be 1 to 999, got 0"
        );
        assert_eq!(
            "4201020010021234"
                .parse::<GridCode>()
                .unwrap_err()
                .to_string(),
            "grid code must be 15 digits (or 14 in the old form), got 16"
        );
        assert!("42010200100212x".parse::<GridCode>().is_err());
        assert!("".parse::<GridCode>().is_err());
    }

    #[test]
    fn serde_as_strings() {
        let g: GridCode = serde_json::from_str("\"42010200100207\"").unwrap();
        assert_eq!(serde_json::to_string(&g).unwrap(), "\"420102001002007\"");
        let c: CategoryCode = serde_json::from_str("\"E0505\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"E0505\"");
        let bad = serde_json::from_str::<CategoryCode>("\"E05\"").unwrap_err();
        assert!(
            bad.to_string()
                .contains("category code must be 5 characters"),
            "{bad}"
        );
        let m: MajorClass = serde_json::from_str("\"P01\"").unwrap();
        assert_eq!(m, MajorClass::new(CategoryKind::Component, 1).unwrap());
        let id: ComponentId = serde_json::from_str("\"3205080101000001\"").unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), "3205080101000001");
        let p = Place::from_grid(g);
        assert_eq!(p.street_key().as_deref(), Some("420102001"));
        let back: Place = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn category_codes() {
        assert_eq!(
            "Q0101".parse::<CategoryCode>().unwrap_err().to_string(),
            "category code: must start with P (component) or E (event), got 'Q'"
        );
        assert_eq!(
            "P0001".parse::<CategoryCode>().unwrap_err().to_string(),
            "major class: 00 is not a valid class"
        );
        assert!(CategoryCode::from_plain(CategoryKind::Component, "010").is_err());
        assert_eq!(
            CategoryCode::new(CategoryKind::Event, 6, 1)
                .unwrap()
                .to_string(),
            "E0601"
        );
        assert!(CategoryCode::new(CategoryKind::Event, 100, 1).is_err());
        // multi-byte input never panics
        assert!("P01é".parse::<CategoryCode>().is_err());
        assert!("é0101".parse::<CategoryCode>().is_err());
    }

    #[test]
    fn component_ids() {
        let a: AdminCode = "320508".parse().unwrap();
        let c: CategoryCode = "P0105".parse().unwrap();
        let id = ComponentId::new(&a, c, 42).unwrap();
        assert_eq!(id.as_str(), "3205080105000042");
        assert!(ComponentId::new(&a, "E0105".parse().unwrap(), 1).is_err());
        assert!("3205080100000001".parse::<ComponentId>().is_err());
        assert!("3205080101000000".parse::<ComponentId>().is_err());
        assert_eq!(
            "320508010100001"
                .parse::<ComponentId>()
                .unwrap_err()
                .to_string(),
            "component id must be 16 digits (admin 6 + major 2 + subclass 2 + serial 6), got 15"
        );
    }
}

//! Seed data as plain values: component and event classes, categories with their case
//! standards and time limits, and departments (domain.md §2, §4, §5).
//!
//! Nothing here is used as a hard-coded rule: the logic modules take a [`Catalog`] (or
//! parts of it) as input, and [`Catalog::default_seed`] is only the default a new
//! installation starts from. A catalog (de)serialises with serde, so a city can ship its
//! own in JSON or TOML; [`Catalog::validate`] checks it.
//!
//! ```
//! use citygrid_grid_mgmt::catalog::{Catalog, Stage};
//! use citygrid_grid_mgmt::deadline::TimeLimit;
//!
//! let cat = Catalog::default_seed();
//! cat.validate().unwrap();
//! let cover = cat.category(&"P0101".parse().unwrap()).unwrap();
//! assert_eq!(cover.name_zh, "上水井盖");
//! assert_eq!(cat.major_name(cover.code.major_class()).unwrap().name_zh, "公用设施");
//! assert_eq!(cat.time_limit(&cover.code, Stage::Handling), TimeLimit::urgent_hours(4));
//! ```

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::codes::{CategoryCode, CategoryKind, MajorClass};
use crate::deadline::TimeLimit;

/// A stage of the case workflow that has its own time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// From report to registration (立案).
    Registration,
    /// From registration to dispatch (派遣).
    Dispatch,
    /// From dispatch to feedback (处置).
    Handling,
    /// From feedback to the on-site check (核查).
    Checking,
}

/// The time limits of the four stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageLimits {
    /// Registration limit.
    pub registration: TimeLimit,
    /// Dispatch limit.
    pub dispatch: TimeLimit,
    /// Handling limit.
    pub handling: TimeLimit,
    /// Checking limit.
    pub checking: TimeLimit,
}

impl StageLimits {
    /// The limit of one stage.
    pub fn get(&self, stage: Stage) -> TimeLimit {
        match stage {
            Stage::Registration => self.registration,
            Stage::Dispatch => self.dispatch,
            Stage::Handling => self.handling,
            Stage::Checking => self.checking,
        }
    }
}

/// A major class with its names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MajorClassInfo {
    /// Kind and number, e.g. `P01`.
    pub class: MajorClass,
    /// Chinese name, e.g. 公用设施.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// The data type of an extra attribute of a category (the Open311 datatypes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttributeType {
    /// Short text.
    String,
    /// A number.
    Number,
    /// An ISO 8601 date-time.
    Datetime,
    /// Long text.
    Text,
    /// One of `values`.
    Singlevaluelist,
    /// Any of `values`.
    Multivaluelist,
}

impl AttributeType {
    /// The Open311 name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Number => "number",
            AttributeType::Datetime => "datetime",
            AttributeType::Text => "text",
            AttributeType::Singlevaluelist => "singlevaluelist",
            AttributeType::Multivaluelist => "multivaluelist",
        }
    }
}

/// One allowed value of a list attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributeValue {
    /// Machine key.
    pub key: String,
    /// Display name.
    pub name: String,
}

/// An extra field asked when reporting a category (an Open311 service attribute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryAttribute {
    /// Field code (`attribute[code]` in Open311).
    pub code: String,
    /// Data type.
    pub datatype: AttributeType,
    /// Whether it must be given.
    pub required: bool,
    /// Question shown to the reporter.
    pub description: String,
    /// Allowed values for list types.
    #[serde(default)]
    pub values: Vec<AttributeValue>,
}

/// A category (subclass) with its case standards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// `P0101`, `E0505`, …
    pub code: CategoryCode,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Condition under which a report becomes a case (立案条件).
    pub register_condition: String,
    /// Condition to close the case (结案条件).
    pub close_condition: String,
    /// The usual responsible department (seed for city-wide routing rules).
    pub default_department: Option<String>,
    /// Time limits; `None` uses [`Catalog::default_limits`].
    pub limits: Option<StageLimits>,
    /// Extra fields asked on report.
    #[serde(default)]
    pub attributes: Vec<CategoryAttribute>,
}

/// A department (专业部门) that handles cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// Stable code matching `[a-z0-9_]+`, e.g. `water`.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// The whole configurable catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Major classes of both kinds.
    pub majors: Vec<MajorClassInfo>,
    /// Categories (subclasses).
    pub categories: Vec<Category>,
    /// Departments.
    pub departments: Vec<Department>,
    /// Limits used by categories without their own.
    pub default_limits: StageLimits,
}

/// A catalogue that contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The same code twice.
    #[error("duplicate {what} {code}")]
    Duplicate {
        /// "major class", "category" or "department".
        what: &'static str,
        /// The code.
        code: String,
    },
    /// A category whose major class is not listed.
    #[error("category {0} belongs to major class {1}, which is not in the catalogue")]
    UnknownMajor(CategoryCode, MajorClass),
    /// A reference to a department that is not listed.
    #[error("category {0} names department {1:?}, which is not in the catalogue")]
    UnknownDepartment(CategoryCode, String),
    /// A department code outside `[a-z0-9_]+`.
    #[error("department code {0:?} must match [a-z0-9_]+")]
    BadDepartmentCode(String),
}

impl Catalog {
    /// Check uniqueness of codes and that every reference resolves.
    pub fn validate(&self) -> Result<(), CatalogError> {
        let mut majors = HashSet::new();
        for m in &self.majors {
            if !majors.insert(m.class) {
                return Err(CatalogError::Duplicate {
                    what: "major class",
                    code: m.class.to_string(),
                });
            }
        }
        let mut deps = HashSet::new();
        for d in &self.departments {
            if d.code.is_empty()
                || !d
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(CatalogError::BadDepartmentCode(d.code.clone()));
            }
            if !deps.insert(d.code.as_str()) {
                return Err(CatalogError::Duplicate {
                    what: "department",
                    code: d.code.clone(),
                });
            }
        }
        let mut cats = HashSet::new();
        for c in &self.categories {
            if !cats.insert(c.code) {
                return Err(CatalogError::Duplicate {
                    what: "category",
                    code: c.code.to_string(),
                });
            }
            if !majors.contains(&c.code.major_class()) {
                return Err(CatalogError::UnknownMajor(c.code, c.code.major_class()));
            }
            if let Some(d) = &c.default_department {
                if !deps.contains(d.as_str()) {
                    return Err(CatalogError::UnknownDepartment(c.code, d.clone()));
                }
            }
        }
        Ok(())
    }

    /// A category by code.
    pub fn category(&self, code: &CategoryCode) -> Option<&Category> {
        self.categories.iter().find(|c| &c.code == code)
    }

    /// The names of a major class.
    pub fn major_name(&self, class: MajorClass) -> Option<&MajorClassInfo> {
        self.majors.iter().find(|m| m.class == class)
    }

    /// A department by code.
    pub fn department(&self, code: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.code == code)
    }

    /// Categories of one kind, in catalogue order.
    pub fn categories_of(&self, kind: CategoryKind) -> impl Iterator<Item = &Category> {
        self.categories.iter().filter(move |c| c.code.kind == kind)
    }

    /// The time limit of a stage for a category (its own, else the catalogue default;
    /// unknown categories get the default too).
    pub fn time_limit(&self, code: &CategoryCode, stage: Stage) -> TimeLimit {
        self.category(code)
            .and_then(|c| c.limits)
            .unwrap_or(self.default_limits)
            .get(stage)
    }

    /// The default catalogue: the classes of domain.md §2 with common subclasses, 20
    /// departments, and time limits (registration 1 working hour, dispatch 1 working hour,
    /// handling 3 working days, checking 4 working hours unless a category says otherwise).
    pub fn default_seed() -> Self {
        seed::build()
    }
}

mod seed {
    use super::*;
    use CategoryKind::{Component as P, Event as E};

    const MAJORS: &[(CategoryKind, u8, &str, &str)] = &[
        (P, 1, "公用设施", "Public utilities"),
        (P, 2, "道路交通", "Roads and traffic"),
        (P, 3, "市容环境", "City appearance"),
        (P, 4, "园林绿化", "Landscaping"),
        (P, 5, "房屋土地", "Buildings and land"),
        (P, 6, "其他设施", "Other facilities"),
        (E, 1, "市容环境", "City appearance"),
        (E, 2, "宣传广告", "Publicity and advertising"),
        (E, 3, "施工管理", "Construction management"),
        (E, 4, "突发事件", "Emergencies"),
        (E, 5, "街面秩序", "Street order"),
        (E, 6, "其他", "Other"),
    ];

    const DEPARTMENTS: &[(&str, &str, &str)] = &[
        ("water", "自来水公司", "Water supply company"),
        ("drainage", "排水公司", "Drainage company"),
        ("power", "供电公司", "Power supply company"),
        ("telecom", "通信运营商", "Telecom operators"),
        ("gas", "燃气公司", "Gas company"),
        ("heating", "热力公司", "District heating company"),
        ("lighting", "路灯管理处", "Street lighting office"),
        ("roads", "市政设施管理处", "Roads and municipal works"),
        ("traffic", "交警支队", "Traffic police"),
        ("transit", "公交集团", "Public transport company"),
        ("parks", "园林局", "Parks and landscaping bureau"),
        ("sanitation", "环卫所", "Sanitation department"),
        (
            "city_appearance",
            "城管执法局",
            "City appearance and urban management",
        ),
        ("housing", "房管局", "Housing bureau"),
        (
            "planning",
            "自然资源和规划局",
            "Natural resources and planning bureau",
        ),
        ("fire", "消防救援支队", "Fire and rescue"),
        ("public_security", "公安分局", "Public security bureau"),
        ("post", "邮政公司", "Postal service"),
        ("construction", "建设局", "Construction bureau"),
        ("emergency", "应急管理局", "Emergency management bureau"),
    ];

    /// (kind, major, sub, zh, en, department, limits key)
    type Row = (
        CategoryKind,
        u8,
        u8,
        &'static str,
        &'static str,
        &'static str,
        Lim,
    );

    #[derive(Clone, Copy)]
    enum Lim {
        Default,
        /// Missing or broken covers are dangerous: 4 continuous hours.
        Cover,
        /// Emergencies: 1 h to register and dispatch, 2 h to handle, continuous.
        Urgent,
        /// Street order: handled within 4 working hours.
        Order,
        /// Handled within 1 working day.
        OneDay,
        /// Bigger works: 5 working days.
        FiveDays,
        /// Enforcement cases: 10 working days.
        TenDays,
    }

    #[rustfmt::skip]
    const CATEGORIES: &[Row] = &[
        (P, 1, 1, "上水井盖", "Water-supply manhole cover", "water", Lim::Cover),
        (P, 1, 2, "污水井盖", "Sewage manhole cover", "drainage", Lim::Cover),
        (P, 1, 3, "雨水井盖", "Storm-water manhole cover", "drainage", Lim::Cover),
        (P, 1, 4, "雨水箅子", "Storm drain grate", "drainage", Lim::Cover),
        (P, 1, 5, "电力井盖", "Power manhole cover", "power", Lim::Cover),
        (P, 1, 6, "路灯井盖", "Street-lighting manhole cover", "lighting", Lim::Cover),
        (P, 1, 7, "通信井盖", "Telecom manhole cover", "telecom", Lim::Cover),
        (P, 1, 8, "燃气井盖", "Gas manhole cover", "gas", Lim::Cover),
        (P, 1, 9, "热力井盖", "District-heating manhole cover", "heating", Lim::Cover),
        (P, 1, 10, "消防栓", "Fire hydrant", "fire", Lim::OneDay),
        (P, 1, 11, "路灯", "Street lamp", "lighting", Lim::Default),
        (P, 1, 12, "电力设施", "Power equipment box", "power", Lim::Default),
        (P, 1, 13, "通信交接箱", "Telecom cabinet", "telecom", Lim::Default),
        (P, 1, 14, "监控电子眼", "Surveillance camera", "public_security", Lim::Default),
        (P, 1, 15, "邮筒", "Post box", "post", Lim::Default),
        (P, 2, 1, "公交站亭", "Bus stop shelter", "transit", Lim::Default),
        (P, 2, 2, "交通信号灯", "Traffic signal", "traffic", Lim::OneDay),
        (P, 2, 3, "交通标志牌", "Traffic sign", "traffic", Lim::Default),
        (P, 2, 4, "道路护栏", "Road guardrail", "roads", Lim::Default),
        (P, 2, 5, "隔离墩", "Bollard", "roads", Lim::Default),
        (P, 2, 6, "人行天桥", "Footbridge", "roads", Lim::FiveDays),
        (P, 2, 7, "路名牌", "Street name sign", "roads", Lim::Default),
        (P, 2, 8, "停车咪表", "Parking meter", "traffic", Lim::Default),
        (P, 3, 1, "公共厕所", "Public toilet", "sanitation", Lim::OneDay),
        (P, 3, 2, "垃圾箱", "Waste bin", "sanitation", Lim::OneDay),
        (P, 3, 3, "垃圾收集站", "Refuse collection point", "sanitation", Lim::Default),
        (P, 3, 4, "户外广告牌", "Outdoor advertising board", "city_appearance", Lim::Default),
        (P, 3, 5, "座椅", "Bench", "parks", Lim::Default),
        (P, 4, 1, "行道树", "Street tree", "parks", Lim::Default),
        (P, 4, 2, "古树名木", "Heritage tree", "parks", Lim::OneDay),
        (P, 4, 3, "绿地", "Green space", "parks", Lim::FiveDays),
        (P, 4, 4, "花坛花箱", "Flower bed or box", "parks", Lim::Default),
        (P, 4, 5, "雕塑", "Sculpture", "parks", Lim::FiveDays),
        (P, 5, 1, "待建地", "Vacant building plot", "planning", Lim::TenDays),
        (P, 5, 2, "公房", "Public housing building", "housing", Lim::FiveDays),
        (P, 5, 3, "售货亭", "Kiosk", "city_appearance", Lim::Default),
        (P, 6, 1, "重大危险源", "Major hazard installation", "emergency", Lim::Urgent),
        (P, 6, 2, "工地", "Construction site", "construction", Lim::Default),
        (P, 6, 3, "水域护栏", "Waterside railing", "roads", Lim::Default),
        (P, 6, 4, "健身设施", "Fitness equipment", "parks", Lim::Default),
        (E, 1, 1, "私搭乱建", "Illegal structure", "planning", Lim::TenDays),
        (E, 1, 2, "暴露垃圾", "Exposed rubbish", "sanitation", Lim::Order),
        (E, 1, 3, "积存垃圾渣土", "Accumulated rubbish and spoil", "sanitation", Lim::OneDay),
        (E, 1, 4, "道路不洁", "Dirty road", "sanitation", Lim::Order),
        (E, 1, 5, "水域不洁", "Dirty waterbody", "sanitation", Lim::OneDay),
        (E, 1, 6, "绿地脏乱", "Littered green space", "parks", Lim::OneDay),
        (E, 1, 7, "焚烧垃圾树叶", "Burning rubbish or leaves", "city_appearance", Lim::Order),
        (E, 2, 1, "非法小广告", "Illegal small advertisements", "city_appearance", Lim::OneDay),
        (E, 2, 2, "违规张贴悬挂广告", "Unauthorised posters and banners", "city_appearance", Lim::OneDay),
        (E, 2, 3, "占道广告牌", "Advertising board on the pavement", "city_appearance", Lim::OneDay),
        (E, 2, 4, "招牌破损", "Damaged shop sign", "city_appearance", Lim::Default),
        (E, 3, 1, "无证掘路", "Road excavation without permit", "roads", Lim::OneDay),
        (E, 3, 2, "施工扰民", "Construction disturbance", "construction", Lim::Order),
        (E, 3, 3, "施工废弃料", "Construction waste", "construction", Lim::OneDay),
        (E, 3, 4, "道路遗撒", "Spillage from vehicles", "sanitation", Lim::Order),
        (E, 3, 5, "工地围挡不规范", "Inadequate site hoarding", "construction", Lim::Default),
        (E, 4, 1, "路面塌陷", "Road collapse", "roads", Lim::Urgent),
        (E, 4, 2, "自来水管破裂", "Burst water main", "water", Lim::Urgent),
        (E, 4, 3, "燃气管道破裂", "Gas pipe leak", "gas", Lim::Urgent),
        (E, 4, 4, "下水道堵塞或破损", "Blocked or broken sewer", "drainage", Lim::Urgent),
        (E, 4, 5, "道路积水", "Flooded road", "drainage", Lim::Urgent),
        (E, 4, 6, "道路积雪结冰", "Snow and ice on road", "sanitation", Lim::Urgent),
        (E, 5, 1, "无照经营游商", "Unlicensed street vending", "city_appearance", Lim::Order),
        (E, 5, 2, "店外经营", "Trading outside the shopfront", "city_appearance", Lim::Order),
        (E, 5, 3, "占道废品收购", "Scrap collection on the pavement", "city_appearance", Lim::Order),
        (E, 5, 4, "机动车乱停放", "Illegally parked motor vehicle", "traffic", Lim::Order),
        (E, 5, 5, "非机动车乱停放", "Illegally parked bicycles", "city_appearance", Lim::Order),
        (E, 5, 6, "露天烧烤", "Open-air barbecue", "city_appearance", Lim::Order),
        (E, 5, 7, "沿街晾挂", "Laundry hung along the street", "city_appearance", Lim::Order),
        (E, 6, 1, "其他事件", "Other problem", "city_appearance", Lim::Default),
    ];

    fn base_limits() -> StageLimits {
        StageLimits {
            registration: TimeLimit::working_hours(1),
            dispatch: TimeLimit::working_hours(1),
            handling: TimeLimit::working_days(3),
            checking: TimeLimit::working_hours(4),
        }
    }

    fn limits(l: Lim) -> Option<StageLimits> {
        let wh = TimeLimit::working_hours;
        let base = base_limits();
        let handling = match l {
            Lim::Default => return None,
            Lim::Urgent => {
                return Some(StageLimits {
                    registration: TimeLimit::urgent_hours(1),
                    dispatch: TimeLimit::urgent_hours(1),
                    handling: TimeLimit::urgent_hours(2),
                    checking: TimeLimit::urgent_hours(2),
                })
            }
            Lim::Cover => TimeLimit::urgent_hours(4),
            Lim::Order => wh(4),
            Lim::OneDay => TimeLimit::working_days(1),
            Lim::FiveDays => TimeLimit::working_days(5),
            Lim::TenDays => TimeLimit::working_days(10),
        };
        Some(StageLimits { handling, ..base })
    }

    fn component_attributes() -> Vec<CategoryAttribute> {
        let v = |key: &str, name: &str| AttributeValue {
            key: key.into(),
            name: name.into(),
        };
        vec![
            CategoryAttribute {
                code: "condition".into(),
                datatype: AttributeType::Singlevaluelist,
                required: true,
                description: "部件状况 What is wrong with it?".into(),
                values: vec![
                    v("damaged", "破损 damaged"),
                    v("missing", "丢失 missing"),
                    v("obstructed", "占用 obstructed"),
                    v("other", "其他 other"),
                ],
            },
            CategoryAttribute {
                code: "component_id".into(),
                datatype: AttributeType::String,
                required: false,
                description: "部件编码 The 16-digit component id, if a label is visible".into(),
                values: vec![],
            },
        ]
    }

    pub(super) fn build() -> Catalog {
        let majors = MAJORS
            .iter()
            .map(|&(kind, major, zh, en)| MajorClassInfo {
                class: MajorClass { kind, major },
                name_zh: zh.into(),
                name_en: en.into(),
            })
            .collect();
        let departments = DEPARTMENTS
            .iter()
            .map(|&(code, zh, en)| Department {
                code: code.into(),
                name_zh: zh.into(),
                name_en: en.into(),
            })
            .collect();
        let categories = CATEGORIES
            .iter()
            .map(|&(kind, major, sub, zh, en, dep, lim)| {
                let (register_condition, close_condition) = match kind {
                    P => (
                        format!("{zh}破损、丢失或被占用，影响使用或安全"),
                        format!("{zh}修复、补齐或恢复正常使用"),
                    ),
                    E => (
                        format!("发现{zh}，经核实属实"),
                        format!("{zh}已清除或已依法处理"),
                    ),
                };
                Category {
                    code: CategoryCode { kind, major, sub },
                    name_zh: zh.into(),
                    name_en: en.into(),
                    register_condition,
                    close_condition,
                    default_department: Some(dep.into()),
                    limits: limits(lim),
                    attributes: if kind == P {
                        component_attributes()
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        Catalog {
            majors,
            categories,
            departments,
            default_limits: base_limits(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_consistent_and_complete() {
        let c = Catalog::default_seed();
        c.validate().unwrap();
        assert_eq!(c.majors.len(), 12);
        for (code, zh) in [
            ("P0101", "上水井盖"),
            ("P0102", "污水井盖"),
            ("P0103", "雨水井盖"),
            ("P0104", "雨水箅子"),
            ("P0105", "电力井盖"),
            ("P0111", "路灯"),
            ("P0110", "消防栓"),
            ("E0505", "非机动车乱停放"),
        ] {
            assert_eq!(c.category(&code.parse().unwrap()).unwrap().name_zh, zh);
        }
        // every major class has at least one subclass
        for m in &c.majors {
            assert!(
                c.categories.iter().any(|x| x.code.major_class() == m.class),
                "{}",
                m.class
            );
        }
        assert_eq!(c.categories_of(CategoryKind::Event).count(), 30);
        assert_eq!(
            c.department("lighting").unwrap().name_en,
            "Street lighting office"
        );
    }

    #[test]
    fn limits_fall_back_to_default() {
        let c = Catalog::default_seed();
        let lamp: CategoryCode = "P0111".parse().unwrap();
        assert_eq!(
            c.time_limit(&lamp, Stage::Handling),
            TimeLimit::working_days(3)
        );
        assert_eq!(
            c.time_limit(&lamp, Stage::Dispatch),
            TimeLimit::working_hours(1)
        );
        let collapse: CategoryCode = "E0401".parse().unwrap();
        assert_eq!(
            c.time_limit(&collapse, Stage::Handling),
            TimeLimit::urgent_hours(2)
        );
        let unknown: CategoryCode = "E0699".parse().unwrap();
        assert_eq!(
            c.time_limit(&unknown, Stage::Checking),
            TimeLimit::working_hours(4)
        );
    }

    #[test]
    fn validate_catches_mistakes() {
        let mut c = Catalog::default_seed();
        c.categories[0].default_department = Some("nobody".into());
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "category P0101 names department \"nobody\", which is not in the catalogue"
        );
        let mut c = Catalog::default_seed();
        let dup = c.categories[1].clone();
        c.categories.push(dup);
        assert!(matches!(c.validate(), Err(CatalogError::Duplicate { .. })));
        let mut c = Catalog::default_seed();
        c.majors.retain(|m| m.class.to_string() != "E06");
        assert!(matches!(c.validate(), Err(CatalogError::UnknownMajor(..))));
        let mut c = Catalog::default_seed();
        c.departments[0].code = "Water Co".into();
        assert!(matches!(
            c.validate(),
            Err(CatalogError::BadDepartmentCode(_))
        ));
    }

    #[test]
    fn catalog_round_trips_through_json() {
        let c = Catalog::default_seed();
        let s = serde_json::to_string(&c).unwrap();
        assert!(s.contains("\"code\":\"P0101\""));
        let back: Catalog = serde_json::from_str(&s).unwrap();
        assert_eq!(back, c);
    }
}

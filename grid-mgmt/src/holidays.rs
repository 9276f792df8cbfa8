//! China's public holidays for any year: the statutory days computed from the national
//! rules, and each year's announced arrangement (放假调休安排) imported by an
//! administrator.
//!
//! **Statutory days** (全国年节及纪念日放假办法, in force since 1 January 2025): New
//! Year's Day (1 January); Spring Festival, from its eve to the third day of the first
//! lunar month (4 days); Qingming, on the day of its solar term; Labour Day (1–2 May);
//! Dragon Boat, the 5th day of the 5th lunar month; Mid-Autumn, the 15th day of the 8th
//! lunar month; National Day (1–3 October). The lunisolar dates and the solar term come
//! from `tyme4rs` (the 寿星天文历 algorithms); [`statutory_holidays`] gives them for any
//! year from [`FIRST_YEAR`] to [`LAST_YEAR`].
//!
//! **The arrangement** of a year, published by the State Council each autumn, lists the
//! periods off (statutory days, the weekends inside them and *bridged* weekdays) and
//! the make-up working days (调休上班, always a Saturday or Sunday). [`Arrangement`] is
//! one year's, read from JSON or CSV ([`Arrangement::parse`]) and validated: every date
//! inside the year, make-up days on weekends and outside the periods off, every
//! statutory day inside a period off, and every period off holding a statutory day (so a
//! bridged day — a weekday of a period that is not statutory — always sits next to one).
//!
//! ```
//! use chrono::NaiveDate;
//! use citygrid_grid_mgmt::holidays::{statutory_holidays, Festival};
//!
//! let days = statutory_holidays(2027).unwrap();
//! let spring: Vec<_> = days.iter().filter(|h| h.festival == Festival::SpringFestival).collect();
//! assert_eq!(spring.len(), 4);
//! assert_eq!(spring[0].date, NaiveDate::from_ymd_opt(2027, 2, 5).unwrap()); // eve
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The first year whose statutory days are computed.
pub const FIRST_YEAR: i32 = 1950;
/// The last year whose statutory days are computed.
pub const LAST_YEAR: i32 = 2199;
/// At most this many periods off and make-up days in one arrangement.
pub const MAX_ENTRIES: usize = 64;
/// A period off is at most this many days long.
pub const MAX_PERIOD_DAYS: i64 = 16;
/// An arrangement's `source` is at most this many characters.
pub const MAX_SOURCE_CHARS: usize = 2000;

/// A statutory public holiday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Festival {
    /// 元旦, 1 January.
    NewYear,
    /// 春节, the eve to the third day of the first lunar month.
    SpringFestival,
    /// 清明节, the day of the Qingming solar term.
    Qingming,
    /// 劳动节, 1–2 May.
    LabourDay,
    /// 端午节, 5th day of the 5th lunar month.
    DragonBoat,
    /// 中秋节, 15th day of the 8th lunar month.
    MidAutumn,
    /// 国庆节, 1–3 October.
    NationalDay,
}

impl Festival {
    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Festival::NewYear => "元旦",
            Festival::SpringFestival => "春节",
            Festival::Qingming => "清明节",
            Festival::LabourDay => "劳动节",
            Festival::DragonBoat => "端午节",
            Festival::MidAutumn => "中秋节",
            Festival::NationalDay => "国庆节",
        }
    }

    /// The English name.
    pub fn name_en(self) -> &'static str {
        match self {
            Festival::NewYear => "New Year's Day",
            Festival::SpringFestival => "Spring Festival",
            Festival::Qingming => "Qingming",
            Festival::LabourDay => "Labour Day",
            Festival::DragonBoat => "Dragon Boat Festival",
            Festival::MidAutumn => "Mid-Autumn Festival",
            Festival::NationalDay => "National Day",
        }
    }
}

/// One statutory day off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Holiday {
    /// The date.
    pub date: NaiveDate,
    /// Which holiday.
    pub festival: Festival,
}

/// A year or an arrangement that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolidayError {
    /// The year is outside [`FIRST_YEAR`]..=[`LAST_YEAR`].
    #[error("year {0} is outside {FIRST_YEAR}–{LAST_YEAR}")]
    YearOutOfRange(i32),
    /// The file is neither valid JSON nor valid CSV of the documented shape.
    #[error("{0}")]
    Format(String),
    /// A date of the arrangement is not in its year.
    #[error(
        "{date} is not in {year}: every date of the {year} arrangement must be inside the year"
    )]
    OutsideYear {
        /// The arrangement's year.
        year: i32,
        /// The date.
        date: NaiveDate,
    },
    /// A period off that ends before it starts or is too long.
    #[error("period off {from} to {to} {reason}")]
    BadPeriod {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
        /// What is wrong.
        reason: String,
    },
    /// A make-up working day on a weekday.
    #[error("make-up working day {date} is a {weekday}: a make-up working day must be a Saturday or Sunday")]
    MakeupOnWeekday {
        /// The date.
        date: NaiveDate,
        /// Its weekday.
        weekday: Weekday,
    },
    /// A make-up working day inside a period off.
    #[error("{0} is both a make-up working day and inside a period off")]
    MakeupInPeriod(NaiveDate),
    /// A statutory day outside every period off.
    #[error("{date} ({name}) is a statutory holiday but inside no period off")]
    StatutoryMissing {
        /// The date.
        date: NaiveDate,
        /// The holiday's name.
        name: &'static str,
    },
    /// Too many entries or too long a source.
    #[error("{0}")]
    TooLarge(String),
}

/// The statutory days cached per year (computing one year takes about a millisecond).
static CACHE: Mutex<BTreeMap<i32, Arc<[Holiday]>>> = Mutex::new(BTreeMap::new());

/// The statutory days off of `year`, in date order.
pub fn statutory_holidays(year: i32) -> Result<Arc<[Holiday]>, HolidayError> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return Err(HolidayError::YearOutOfRange(year));
    }
    if let Some(days) = CACHE.lock().ok().and_then(|c| c.get(&year).cloned()) {
        return Ok(days);
    }
    let days: Arc<[Holiday]> = compute(year).into();
    if let Ok(mut c) = CACHE.lock() {
        c.insert(year, days.clone());
    }
    Ok(days)
}

/// The statutory days off of `year` as a set of dates (empty outside the computed years).
pub fn statutory_dates(year: i32) -> BTreeSet<NaiveDate> {
    statutory_holidays(year)
        .map(|d| d.iter().map(|h| h.date).collect())
        .unwrap_or_default()
}

/// Whether `date` is a statutory day off.
pub fn is_statutory(date: NaiveDate) -> bool {
    statutory_holidays(date.year()).is_ok_and(|d| d.iter().any(|h| h.date == date))
}

fn compute(year: i32) -> Vec<Holiday> {
    use tyme4rs::tyme::lunar::LunarDay;
    use tyme4rs::tyme::solar::{SolarDay, SolarTerm};
    let y = year as isize;
    let date = |s: SolarDay| {
        NaiveDate::from_ymd_opt(
            s.get_year() as i32,
            s.get_month() as u32,
            s.get_day() as u32,
        )
    };
    // The 1st, 5th and 8th lunar months always have days 1, 5 and 15.
    let lunar = |m: isize, d: usize| date(LunarDay::from_ymd(y, m, d).get_solar_day());
    let solar = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d);
    let mut out = Vec::with_capacity(12);
    let mut push = |d: Option<NaiveDate>, festival| {
        if let Some(date) = d {
            out.push(Holiday { date, festival });
        }
    };
    push(solar(1, 1), Festival::NewYear);
    // Spring Festival of the lunar year that starts in this Gregorian year: its eve
    // (the last day of the previous lunar year) and the first three days.
    if let Some(first) = lunar(1, 1) {
        for k in -1..=2 {
            push(
                first.checked_add_signed(chrono::Duration::days(k)),
                Festival::SpringFestival,
            );
        }
    }
    push(
        date(
            SolarTerm::from_name(y, "清明")
                .get_julian_day()
                .get_solar_day(),
        ),
        Festival::Qingming,
    );
    push(solar(5, 1), Festival::LabourDay);
    push(solar(5, 2), Festival::LabourDay);
    push(lunar(5, 5), Festival::DragonBoat);
    push(lunar(8, 15), Festival::MidAutumn);
    for d in 1..=3 {
        push(solar(10, d), Festival::NationalDay);
    }
    // The eve may fall in the previous Gregorian year in principle (never between 1950
    // and 2199, as the Spring Festival is never on 1 January): keep the year's own days.
    out.retain(|h| h.date.year() == year);
    out.sort();
    out
}

/// One period off of an arrangement, as announced (`春节：1月28日至2月4日放假调休`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PeriodOff {
    /// What for (`春节`); free text.
    #[serde(default)]
    pub name: String,
    /// First day off.
    pub from: NaiveDate,
    /// Last day off (inclusive; the same as `from` for one day).
    pub to: NaiveDate,
}

/// One year's announced arrangement, as a file or a request body carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ArrangementSpec {
    /// The year.
    pub year: i32,
    /// Where it was published (the notice's title, number and address).
    pub source: String,
    /// The periods off.
    pub periods: Vec<PeriodOff>,
    /// The make-up working days (Saturdays or Sundays).
    #[serde(default)]
    pub makeup_workdays: Vec<NaiveDate>,
}

/// A validated arrangement (build it with [`Arrangement::new`] or [`Arrangement::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arrangement {
    spec: ArrangementSpec,
    days_off: BTreeSet<NaiveDate>,
    makeup: BTreeSet<NaiveDate>,
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

impl Arrangement {
    /// Validates a spec (see the module documentation for the rules).
    pub fn new(mut spec: ArrangementSpec) -> Result<Self, HolidayError> {
        let year = spec.year;
        let statutory = statutory_holidays(year)?;
        if spec.periods.len() + spec.makeup_workdays.len() > MAX_ENTRIES {
            return Err(HolidayError::TooLarge(format!(
                "at most {MAX_ENTRIES} periods off and make-up days in one arrangement"
            )));
        }
        spec.source = spec.source.trim().to_owned();
        if spec.source.is_empty() {
            return Err(HolidayError::Format(
                "source is required: the notice's title, number or address".into(),
            ));
        }
        if spec.source.chars().count() > MAX_SOURCE_CHARS {
            return Err(HolidayError::TooLarge(format!(
                "source is longer than {MAX_SOURCE_CHARS} characters"
            )));
        }
        let inside = |date: NaiveDate| {
            if date.year() == year {
                Ok(())
            } else {
                Err(HolidayError::OutsideYear { year, date })
            }
        };
        let mut days_off = BTreeSet::new();
        spec.periods.sort_by_key(|p| p.from);
        for p in &spec.periods {
            inside(p.from)?;
            inside(p.to)?;
            let bad = |reason: String| HolidayError::BadPeriod {
                from: p.from,
                to: p.to,
                reason,
            };
            if p.to < p.from {
                return Err(bad("ends before it starts".into()));
            }
            if (p.to - p.from).num_days() >= MAX_PERIOD_DAYS {
                return Err(bad(format!("is longer than {MAX_PERIOD_DAYS} days")));
            }
            let days: Vec<NaiveDate> = p.from.iter_days().take_while(|d| *d <= p.to).collect();
            if let Some(d) = days.iter().find(|d| days_off.contains(*d)) {
                return Err(bad(format!("overlaps another period on {d}")));
            }
            if !days.iter().any(|d| statutory.iter().any(|h| h.date == *d)) {
                return Err(bad(format!(
                    "holds no statutory holiday: a bridged day off must sit in a period with one{}",
                    if days.iter().all(|d| is_weekend(*d)) {
                        " (and weekends are off anyway)"
                    } else {
                        ""
                    }
                )));
            }
            days_off.extend(days);
        }
        let mut makeup = BTreeSet::new();
        for d in &spec.makeup_workdays {
            inside(*d)?;
            if !is_weekend(*d) {
                return Err(HolidayError::MakeupOnWeekday {
                    date: *d,
                    weekday: d.weekday(),
                });
            }
            if days_off.contains(d) {
                return Err(HolidayError::MakeupInPeriod(*d));
            }
            makeup.insert(*d);
        }
        if let Some(h) = statutory.iter().find(|h| !days_off.contains(&h.date)) {
            return Err(HolidayError::StatutoryMissing {
                date: h.date,
                name: h.festival.name_zh(),
            });
        }
        spec.makeup_workdays = makeup.iter().copied().collect();
        Ok(Self {
            spec,
            days_off,
            makeup,
        })
    }

    /// Reads an arrangement from JSON (text starting with `{`, an [`ArrangementSpec`])
    /// or CSV (see [`Arrangement::from_csv`]) and validates it.
    pub fn parse(text: &str) -> Result<Self, HolidayError> {
        let text = text.trim_start_matches('\u{feff}');
        if text.trim_start().starts_with('{') {
            let spec: ArrangementSpec = serde_json::from_str(text)
                .map_err(|e| HolidayError::Format(format!("not a valid arrangement: {e}")))?;
            Self::new(spec)
        } else {
            Self::from_csv(text)
        }
    }

    /// Reads the CSV form: comment lines `# year: 2025` and `# source: …`, then the
    /// header `kind,from,to,name` and one row per period off (`off,2025-01-28,2025-02-04,春节`)
    /// or make-up working day (`work,2025-01-26,,春节`; `to` empty or the same day).
    pub fn from_csv(text: &str) -> Result<Self, HolidayError> {
        let mut year: Option<i32> = None;
        let mut source = String::new();
        let mut periods = Vec::new();
        let mut makeup = Vec::new();
        let mut header_seen = false;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let err = |m: String| HolidayError::Format(format!("line {line_no}: {m}"));
            if let Some(comment) = line.strip_prefix('#') {
                let Some((k, v)) = comment.split_once(':') else {
                    continue;
                };
                match k.trim().to_ascii_lowercase().as_str() {
                    "year" => {
                        year = Some(v.trim().parse().map_err(|_| {
                            err(format!("year must be a number, got {:?}", v.trim()))
                        })?)
                    }
                    "source" => source = v.trim().to_owned(),
                    _ => {}
                }
                continue;
            }
            let cells = split_csv(line).map_err(&err)?;
            if !header_seen {
                let names: Vec<String> = cells.iter().map(|c| c.trim().to_lowercase()).collect();
                if names != ["kind", "from", "to", "name"] {
                    return Err(err(format!(
                        "the header must be kind,from,to,name, got {line:?}"
                    )));
                }
                header_seen = true;
                continue;
            }
            if cells.len() != 4 {
                return Err(err(format!(
                    "expected 4 cells (kind,from,to,name), got {}",
                    cells.len()
                )));
            }
            if periods.len() + makeup.len() >= MAX_ENTRIES {
                return Err(HolidayError::TooLarge(format!(
                    "at most {MAX_ENTRIES} periods off and make-up days in one arrangement"
                )));
            }
            let date = |field: &str, s: &str| {
                NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                    err(format!(
                        "{field} must be a date YYYY-MM-DD, got {:?}",
                        s.trim()
                    ))
                })
            };
            let from = date("from", &cells[1])?;
            let to = if cells[2].trim().is_empty() {
                from
            } else {
                date("to", &cells[2])?
            };
            match cells[0].trim() {
                "off" => periods.push(PeriodOff {
                    name: cells[3].trim().to_owned(),
                    from,
                    to,
                }),
                "work" => {
                    if to != from {
                        return Err(err(
                            "a make-up working day is one day: leave to empty".into()
                        ));
                    }
                    makeup.push(from)
                }
                other => {
                    return Err(err(format!("kind must be off or work, got {other:?}")));
                }
            }
        }
        let year = year.ok_or_else(|| {
            HolidayError::Format("the CSV needs a line \"# year: 2025\" before the header".into())
        })?;
        if !header_seen {
            return Err(HolidayError::Format(
                "the CSV has no header kind,from,to,name".into(),
            ));
        }
        Self::new(ArrangementSpec {
            year,
            source,
            periods,
            makeup_workdays: makeup,
        })
    }

    /// The year.
    pub fn year(&self) -> i32 {
        self.spec.year
    }

    /// The source.
    pub fn source(&self) -> &str {
        &self.spec.source
    }

    /// The validated spec (periods in date order).
    pub fn spec(&self) -> &ArrangementSpec {
        &self.spec
    }

    /// Every day of every period off.
    pub fn days_off(&self) -> &BTreeSet<NaiveDate> {
        &self.days_off
    }

    /// The make-up working days.
    pub fn makeup_workdays(&self) -> &BTreeSet<NaiveDate> {
        &self.makeup
    }

    /// The bridged days: weekdays off that are not statutory holidays.
    pub fn bridged_days(&self) -> Vec<NaiveDate> {
        let statutory = statutory_dates(self.spec.year);
        self.days_off
            .iter()
            .filter(|d| !is_weekend(**d) && !statutory.contains(d))
            .copied()
            .collect()
    }

    /// The arrangement in the CSV form [`Arrangement::from_csv`] reads.
    pub fn to_csv(&self) -> String {
        let mut out = format!(
            "# year: {}\n# source: {}\nkind,from,to,name\n",
            self.spec.year,
            self.spec.source.replace(['\n', '\r'], " ")
        );
        for p in &self.spec.periods {
            out.push_str(&format!("off,{},{},{}\n", p.from, p.to, csv_cell(&p.name)));
        }
        for d in &self.makeup {
            out.push_str(&format!("work,{d},,\n"));
        }
        out
    }
}

impl TryFrom<ArrangementSpec> for Arrangement {
    type Error = HolidayError;
    fn try_from(spec: ArrangementSpec) -> Result<Self, HolidayError> {
        Self::new(spec)
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside cells).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true
            }
            (',', false) => cells.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted cell is not closed".into());
    }
    cells.push(cur);
    Ok(cells)
}

/// The built-in arrangements (2025 and 2026, as published by the State Council): the
/// seed of the arrangements table and of the default calendar.
pub fn builtin_arrangements() -> Vec<Arrangement> {
    [BUILTIN_2025, BUILTIN_2026]
        .into_iter()
        .map(|text| Arrangement::parse(text).expect("the built-in arrangements are valid"))
        .collect()
}

/// The 2025 arrangement, in the JSON form (the example file `data/calendar/holidays-2025.json`).
pub const BUILTIN_2025: &str = include_str!("../../data/calendar/holidays-2025.json");
/// The 2026 arrangement, in the CSV form (the example file `data/calendar/holidays-2026.csv`).
pub const BUILTIN_2026: &str = include_str!("../../data/calendar/holidays-2026.csv");

#[cfg(test)]
mod tests;

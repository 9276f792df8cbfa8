use super::*;
use crate::calendar::WorkingCalendar;
use crate::deadline::{deadline, TimeLimit};
use chrono::DateTime;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn dates(list: &[(i32, u32, u32)]) -> BTreeSet<NaiveDate> {
    list.iter().map(|&(y, m, day)| d(y, m, day)).collect()
}

fn days_of(year: i32, f: Festival) -> Vec<NaiveDate> {
    statutory_holidays(year)
        .unwrap()
        .iter()
        .filter(|h| h.festival == f)
        .map(|h| h.date)
        .collect()
}

/// The statutory days of 2025 and 2026 are the ones the published arrangements give
/// off for each festival (New Year, Spring Festival eve to day 3, Qingming, Labour Day
/// 1–2 May, Dragon Boat, Mid-Autumn, National Day 1–3 October), and each published
/// period off holds the statutory days of its festival.
#[test]
fn statutory_days_of_2025_and_2026_are_those_of_the_published_arrangements() {
    assert_eq!(
        statutory_dates(2025),
        dates(&[
            (2025, 1, 1),
            (2025, 1, 28),
            (2025, 1, 29),
            (2025, 1, 30),
            (2025, 1, 31),
            (2025, 4, 4),
            (2025, 5, 1),
            (2025, 5, 2),
            (2025, 5, 31),
            (2025, 10, 1),
            (2025, 10, 2),
            (2025, 10, 3),
            (2025, 10, 6),
        ])
    );
    assert_eq!(
        statutory_dates(2026),
        dates(&[
            (2026, 1, 1),
            (2026, 2, 16),
            (2026, 2, 17),
            (2026, 2, 18),
            (2026, 2, 19),
            (2026, 4, 5),
            (2026, 5, 1),
            (2026, 5, 2),
            (2026, 6, 19),
            (2026, 9, 25),
            (2026, 10, 1),
            (2026, 10, 2),
            (2026, 10, 3),
        ])
    );
    for a in builtin_arrangements() {
        let statutory = statutory_holidays(a.year()).unwrap();
        // every statutory day is off in the published arrangement …
        for h in statutory.iter() {
            assert!(a.days_off().contains(&h.date), "{h:?}");
        }
        // … inside the period named after its festival
        for p in &a.spec().periods {
            let inside: BTreeSet<&str> = statutory
                .iter()
                .filter(|h| h.date >= p.from && h.date <= p.to)
                .map(|h| h.festival.name_zh())
                .collect();
            assert!(!inside.is_empty(), "{p:?}");
            for name in inside {
                assert!(p.name.contains(name), "{p:?} holds {name}");
            }
        }
    }
    // the days off of the published arrangements: statutory days, weekends and the
    // bridged weekdays (2025: 3–4 Feb, 5 May, 2 Jun, 7–8 Oct)
    let a2025 = &builtin_arrangements()[0];
    assert_eq!(
        a2025.bridged_days().into_iter().collect::<BTreeSet<_>>(),
        dates(&[
            (2025, 2, 3),
            (2025, 2, 4),
            (2025, 5, 5),
            (2025, 6, 2),
            (2025, 10, 7),
            (2025, 10, 8),
        ])
    );
}

/// Spring Festival (正月初一), Qingming, Dragon Boat (五月初五) and Mid-Autumn (八月十五)
/// for 2027–2035, as published in the Purple Mountain Observatory's yearly almanac
/// (中国天文年历) and the Hong Kong Observatory's Gregorian–lunar conversion tables.
#[test]
fn lunar_festivals_2027_to_2035_match_the_published_table() {
    type MonthDay = (u32, u32);
    #[rustfmt::skip]
    let table: [(i32, MonthDay, u32, MonthDay, MonthDay); 9] = [
        // year, Spring Festival, Qingming (April), Dragon Boat, Mid-Autumn
        (2027, (2, 6), 5, (6, 9), (9, 15)),
        (2028, (1, 26), 4, (5, 28), (10, 3)),
        (2029, (2, 13), 4, (6, 16), (9, 22)),
        (2030, (2, 3), 5, (6, 5), (9, 12)),
        (2031, (1, 23), 5, (6, 24), (10, 1)),
        (2032, (2, 11), 4, (6, 12), (9, 19)),
        (2033, (1, 31), 4, (6, 1), (9, 8)),
        (2034, (2, 19), 5, (6, 20), (9, 27)),
        (2035, (2, 8), 5, (6, 10), (9, 16)),
    ];
    for (y, (sm, sd), q, (bm, bd), (mm, md)) in table {
        let first = d(y, sm, sd);
        assert_eq!(
            days_of(y, Festival::SpringFestival),
            vec![
                first.pred_opt().unwrap(),
                first,
                first.succ_opt().unwrap(),
                first.succ_opt().unwrap().succ_opt().unwrap()
            ],
            "{y}"
        );
        assert_eq!(days_of(y, Festival::Qingming), vec![d(y, 4, q)], "{y}");
        assert_eq!(days_of(y, Festival::DragonBoat), vec![d(y, bm, bd)], "{y}");
        assert_eq!(days_of(y, Festival::MidAutumn), vec![d(y, mm, md)], "{y}");
        assert_eq!(days_of(y, Festival::NewYear), vec![d(y, 1, 1)]);
        assert_eq!(
            days_of(y, Festival::LabourDay),
            vec![d(y, 5, 1), d(y, 5, 2)]
        );
        assert_eq!(
            days_of(y, Festival::NationalDay),
            vec![d(y, 10, 1), d(y, 10, 2), d(y, 10, 3)]
        );
        assert_eq!(statutory_holidays(y).unwrap().len(), 13);
    }
    assert_eq!(
        statutory_holidays(2300),
        Err(HolidayError::YearOutOfRange(2300))
    );
}

/// An arrangement for 2027 as a city would import it (made up for the test: the real
/// one is published by the State Council).
const ARRANGEMENT_2027: &str = r#"{
  "year": 2027,
  "source": "test arrangement",
  "periods": [
    {"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"},
    {"name": "春节", "from": "2027-02-05", "to": "2027-02-12"},
    {"name": "清明节", "from": "2027-04-03", "to": "2027-04-05"},
    {"name": "劳动节", "from": "2027-05-01", "to": "2027-05-05"},
    {"name": "端午节", "from": "2027-06-09", "to": "2027-06-09"},
    {"name": "中秋节", "from": "2027-09-15", "to": "2027-09-15"},
    {"name": "国庆节", "from": "2027-10-01", "to": "2027-10-07"}
  ],
  "makeup_workdays": ["2027-01-31", "2027-02-20", "2027-04-25", "2027-09-26", "2027-10-09"]
}"#;

fn at(s: &str) -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// Thursday 4 February 2027 16:00 + 4 working hours. Before 2027's arrangement is
/// imported the statutory days (Friday 5 to Monday 8 February) are skipped; after,
/// the whole announced period (5–12 February).
#[test]
fn a_deadline_into_spring_festival_2027_skips_it_before_and_after_the_import() {
    let start = at("2027-02-04T16:00:00+08:00");
    let limit = TimeLimit::working_hours(4);
    let cal = WorkingCalendar::china_default();
    assert_eq!(cal.arrangement_years(), vec![2025, 2026]);
    assert_eq!(
        deadline(start, limit, &cal, &[]).unwrap(),
        at("2027-02-09T11:00:00+08:00")
    );
    let cal = cal.with_arrangements([Arrangement::parse(ARRANGEMENT_2027).unwrap()]);
    assert_eq!(
        deadline(start, limit, &cal, &[]).unwrap(),
        at("2027-02-15T11:00:00+08:00")
    );
    // Saturday 20 February is a make-up working day of the imported arrangement
    assert_eq!(
        deadline(at("2027-02-19T17:00:00+08:00"), limit, &cal, &[]).unwrap(),
        at("2027-02-20T12:00:00+08:00")
    );
    // without national holidays the festival is an ordinary week
    let mut spec = cal.spec().clone();
    spec.national_holidays = false;
    let plain = WorkingCalendar::new(spec).unwrap();
    assert_eq!(
        deadline(start, limit, &plain, &[]).unwrap(),
        at("2027-02-05T11:00:00+08:00")
    );
}

#[test]
fn the_missing_year_is_reported_from_60_days_before_it_starts() {
    let cal = WorkingCalendar::china_default();
    assert_eq!(cal.missing_arrangements(d(2026, 11, 1)), Vec::<i32>::new());
    assert_eq!(cal.missing_arrangements(d(2026, 11, 2)), vec![2027]);
    assert_eq!(cal.missing_arrangements(d(2027, 3, 1)), vec![2027]);
    let cal = cal.with_arrangements([Arrangement::parse(ARRANGEMENT_2027).unwrap()]);
    assert_eq!(cal.missing_arrangements(d(2027, 3, 1)), Vec::<i32>::new());
    assert_eq!(cal.missing_arrangements(d(2027, 11, 15)), vec![2028]);
    let mut spec = cal.spec().clone();
    spec.national_holidays = false;
    let plain = WorkingCalendar::new(spec).unwrap();
    assert_eq!(
        plain.missing_arrangements(d(2027, 11, 15)),
        Vec::<i32>::new()
    );
}

fn err(text: &str) -> String {
    Arrangement::parse(text).unwrap_err().to_string()
}

#[test]
fn bad_arrangement_files_get_clear_errors() {
    let good: serde_json::Value = serde_json::from_str(ARRANGEMENT_2027).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        err(&v.to_string())
    };
    // a make-up working day on a weekday
    assert_eq!(
        with(&|v| v["makeup_workdays"][0] = "2027-02-01".into()),
        "make-up working day 2027-02-01 is a Mon: a make-up working day must be a Saturday or Sunday"
    );
    // a make-up day inside a period off
    assert_eq!(
        with(&|v| v["makeup_workdays"][0] = "2027-01-02".into()),
        "2027-01-02 is both a make-up working day and inside a period off"
    );
    // a date outside the year
    assert_eq!(
        with(&|v| v["makeup_workdays"][0] = "2026-12-27".into()),
        "2026-12-27 is not in 2027: every date of the 2027 arrangement must be inside the year"
    );
    // a statutory day left out
    assert_eq!(
        with(&|v| v["periods"][5]["to"] = "2027-09-14".into()),
        "period off 2027-09-15 to 2027-09-14 ends before it starts"
    );
    assert_eq!(
        with(&|v| {
            v["periods"].as_array_mut().unwrap().remove(5);
        }),
        "2027-09-15 (中秋节) is a statutory holiday but inside no period off"
    );
    // a bridged day off away from any holiday
    assert_eq!(
        with(&|v| v["periods"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "x", "from": "2027-03-08", "to": "2027-03-09"}))),
        "period off 2027-03-08 to 2027-03-09 holds no statutory holiday: a bridged day off must sit in a period with one"
    );
    assert_eq!(
        with(&|v| v["periods"][0]["to"] = "2027-02-05".into()),
        "period off 2027-01-01 to 2027-02-05 is longer than 16 days"
    );
    assert_eq!(
        with(&|v| v["source"] = " ".into()),
        "source is required: the notice's title, number or address"
    );
    assert!(with(&|v| v["year"] = 2300.into()).contains("outside 1950–2199"));
    assert!(err("{\"year\": 2027").starts_with("not a valid arrangement:"));
    assert!(with(&|v| v["colour"] = "red".into()).contains("unknown field `colour`"));
    // CSV
    assert_eq!(
        err("kind,from,to,name\noff,2027-01-01,,元旦\n"),
        "the CSV needs a line \"# year: 2025\" before the header"
    );
    assert_eq!(
        err("# year: 2027\n# source: s\nday,kind\n"),
        "line 3: the header must be kind,from,to,name, got \"day,kind\""
    );
    assert_eq!(
        err("# year: 2027\n# source: s\nkind,from,to,name\nholiday,2027-01-01,,元旦\n"),
        "line 4: kind must be off or work, got \"holiday\""
    );
    assert_eq!(
        err("# year: 2027\n# source: s\nkind,from,to,name\noff,1 Jan,,元旦\n"),
        "line 4: from must be a date YYYY-MM-DD, got \"1 Jan\""
    );
    assert_eq!(
        err("# year: twenty\nkind,from,to,name\n"),
        "line 1: year must be a number, got \"twenty\""
    );
}

#[test]
fn csv_and_json_forms_agree() {
    let a = Arrangement::parse(ARRANGEMENT_2027).unwrap();
    let csv = a.to_csv();
    let b = Arrangement::parse(&csv).unwrap();
    assert_eq!(a, b);
    // the built-in files: 2025 in JSON, 2026 in CSV, with quoted cells and a BOM
    let b2026 = Arrangement::parse(BUILTIN_2026).unwrap();
    assert_eq!(b2026.makeup_workdays().len(), 6);
    assert_eq!(b2026.days_off().len(), 3 + 9 + 3 + 5 + 3 + 3 + 7);
    let quoted = format!(
        "\u{feff}# year: 2027\n# source: s\nkind,from,to,name\n\"off\",2027-01-01,2027-01-03,\"元旦, \"\"New Year\"\"\"\n{}",
        csv.lines().skip(4).collect::<Vec<_>>().join("\n")
    );
    let c = Arrangement::parse(&quoted).unwrap();
    assert_eq!(c.spec().periods[0].name, "元旦, \"New Year\"");
    assert_eq!(c.days_off(), a.days_off());
}

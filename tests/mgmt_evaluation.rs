//! Every evaluation figure for a small scenario driven through the HTTP workflow, with
//! the expected values worked out by hand (continuous-hour limits: registration 2 h,
//! dispatch 2 h, handling 24 h, checking 24 h).

mod common;
mod mgmt_common;

use mgmt_common::chrono_lite::Date;
use mgmt_common::env;
use reqwest::Method;
use serde_json::{json, Value};

/// T0 + `h` hours (T0 = Monday `d` 09:00 +08:00) as RFC 3339.
fn t(d: Date, h: f64) -> String {
    let minutes = 9 * 60 + (h * 60.0).round() as i64;
    d.plus_days(minutes.div_euclid(1440)).at(
        (minutes.rem_euclid(1440) / 60) as u32,
        (minutes % 60) as u32,
    )
}

/// The counters and rates in the order of the export's columns (after group and name).
const COUNTERS: [&str; 15] = [
    "reported",
    "registered",
    "dispatched",
    "dispatched_in_time",
    "dispatched_without_return",
    "due_for_handling",
    "handled_in_time",
    "extended",
    "handled",
    "failed_checks",
    "due_for_closing",
    "due_for_closing_suspended",
    "closed",
    "closed_in_time",
    "suspended",
];
const RATES: [&str; 8] = [
    "registration_rate",
    "on_time_dispatch_rate",
    "accurate_dispatch_rate",
    "on_time_handling_rate",
    "closing_rate",
    "on_time_closing_rate",
    "rework_rate",
    "extension_rate",
];

/// GETs a download as the shift leader, checking its type; its bytes.
async fn download(e: &mgmt_common::Env, path: &str, mime: &str) -> Vec<u8> {
    let r = common::http()
        .get(e.server.url(path))
        .bearer_auth(&e.tokens["leader"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.contains(mime), "{path}: {ct}");
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.starts_with("attachment; filename=\"evaluation-"), "{cd}");
    r.bytes().await.unwrap().to_vec()
}

/// The sheet `evaluation` of an XLSX workbook as text cells (numbers as written).
fn read_xlsx(bytes: &[u8]) -> Vec<Vec<String>> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range("evaluation").unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    Data::String(s) => s.clone(),
                    Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                        format!("{}", *f as i64)
                    }
                    Data::Float(f) => f.to_string(),
                    Data::Int(i) => i.to_string(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

#[tokio::test(flavor = "multi_thread")]
async fn evaluation_figures_of_a_hand_made_scenario() {
    let e = env("evaluation", &["sanitation", "roads"], &[]).await;
    e.wait_grids().await;
    e.category("E0101", Some("sanitation")).await;
    for (stage, hours) in [
        ("registration", 2),
        ("dispatch", 2),
        ("handling", 24),
        ("checking", 24),
    ] {
        e.post(
            "admin",
            "/api/sla-rules",
            json!({"scope": "*", "stage": stage, "amount": hours, "unit": "urgent_hours"}),
            201,
        )
        .await;
    }
    let d = Date::monday_weeks_ago(3);
    let report = |lon: f64| json!({"category": "E0101", "lon": lon, "lat": 30.5911, "reported_at": t(d, 0.0)});
    let c1 = e
        .post("acceptor", "/api/cases", report(114.3005), 201)
        .await["id"]
        .as_i64()
        .unwrap();
    let c2 = e
        .post("acceptor", "/api/cases", report(114.3012), 201)
        .await["id"]
        .as_i64()
        .unwrap();
    let c3 = e
        .post("acceptor", "/api/cases", report(114.3019), 201)
        .await["id"]
        .as_i64()
        .unwrap();
    let c4 = e
        .post("acceptor", "/api/cases", report(114.3026), 201)
        .await["id"]
        .as_i64()
        .unwrap();

    // C1: on time everywhere, with an approved extension
    e.step(
        "acceptor",
        c1,
        json!({"action": "register", "at": t(d, 1.0)}),
    )
    .await;
    e.step(
        "dispatcher",
        c1,
        json!({"action": "dispatch", "department": "sanitation", "at": t(d, 1.5)}),
    )
    .await;
    e.step(
        "dep_sanitation",
        c1,
        json!({"action": "accept", "at": t(d, 2.0)}),
    )
    .await;
    e.step(
        "dep_sanitation",
        c1,
        json!({"action": "request_extension", "deadline": t(d, 48.0), "at": t(d, 2.5)}),
    )
    .await;
    let x = e
        .step(
            "dispatcher",
            c1,
            json!({"action": "approve_extension", "at": t(d, 3.0)}),
        )
        .await;
    assert_eq!(x["extended"], true);
    e.step(
        "dep_sanitation",
        c1,
        json!({"action": "feedback", "note": "cleared", "public_note": true, "at": t(d, 5.0)}),
    )
    .await;
    e.step(
        "acceptor",
        c1,
        json!({"action": "request_check", "at": t(d, 5.5)}),
    )
    .await;
    e.step(
        "inspector",
        c1,
        json!({"action": "check_pass", "at": t(d, 5.75)}),
    )
    .await;
    let closed = e
        .step("leader", c1, json!({"action": "close", "at": t(d, 6.0)}))
        .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["timeline"].as_array().unwrap().len(), 10);

    // C2: dispatched late to the wrong department, returned, re-dispatched, one failed
    // check, closed late
    e.step(
        "acceptor",
        c2,
        json!({"action": "register", "at": t(d, 1.0)}),
    )
    .await;
    e.step(
        "dispatcher",
        c2,
        json!({"action": "dispatch", "department": "roads", "at": t(d, 4.0)}),
    )
    .await;
    e.step(
        "dep_roads",
        c2,
        json!({"action": "return", "note": "not ours", "at": t(d, 5.0)}),
    )
    .await;
    e.step(
        "dispatcher",
        c2,
        json!({"action": "dispatch", "department": "sanitation", "at": t(d, 6.0)}),
    )
    .await;
    e.step(
        "dep_sanitation",
        c2,
        json!({"action": "accept", "at": t(d, 7.0)}),
    )
    .await;
    e.step(
        "dep_sanitation",
        c2,
        json!({"action": "feedback", "at": t(d, 40.0)}),
    )
    .await;
    e.step(
        "acceptor",
        c2,
        json!({"action": "request_check", "at": t(d, 40.5)}),
    )
    .await;
    let f = e
        .step(
            "inspector",
            c2,
            json!({"action": "check_fail", "note": "still there", "at": t(d, 41.0)}),
        )
        .await;
    assert_eq!(f["rework_count"], 1);
    assert_eq!(f["status"], "dispatched");
    e.step(
        "dep_sanitation",
        c2,
        json!({"action": "accept", "at": t(d, 42.0)}),
    )
    .await;
    e.step(
        "dep_sanitation",
        c2,
        json!({"action": "feedback", "at": t(d, 50.0)}),
    )
    .await;
    e.step(
        "acceptor",
        c2,
        json!({"action": "request_check", "at": t(d, 51.0)}),
    )
    .await;
    e.step(
        "inspector",
        c2,
        json!({"action": "check_pass", "at": t(d, 52.0)}),
    )
    .await;
    e.step("leader", c2, json!({"action": "close", "at": t(d, 80.0)}))
        .await;

    // C3: voided; C4: suspended at the period end
    e.step("acceptor", c3, json!({"action": "void", "at": t(d, 1.0)}))
        .await;
    e.step(
        "acceptor",
        c4,
        json!({"action": "register", "at": t(d, 1.0)}),
    )
    .await;
    e.step(
        "dispatcher",
        c4,
        json!({"action": "dispatch", "department": "sanitation", "at": t(d, 2.0)}),
    )
    .await;
    e.step(
        "dep_sanitation",
        c4,
        json!({"action": "accept", "at": t(d, 2.5)}),
    )
    .await;
    e.step(
        "dispatcher",
        c4,
        json!({"action": "suspend", "at": t(d, 3.0)}),
    )
    .await;

    let q = format!(
        "/api/stats/evaluation?from={}&to={}&by=department",
        d.iso(),
        d.plus_days(7).iso()
    );
    let ev = e.get("leader", &q).await;
    let c = &ev["total"]["counts"];
    let want = [
        ("reported", 4),
        ("registered", 3),
        ("dispatched", 3),
        ("dispatched_in_time", 2),
        ("dispatched_without_return", 2),
        ("due_for_handling", 3),
        ("handled_in_time", 2),
        ("extended", 1),
        ("handled", 2),
        ("failed_checks", 1),
        ("due_for_closing", 2),
        ("due_for_closing_suspended", 0),
        ("closed", 2),
        ("closed_in_time", 1),
        ("suspended", 1),
    ];
    for (k, v) in want {
        assert_eq!(c[k], v, "{k}: {c}");
    }
    let fig = &ev["total"]["figures"];
    for (k, v) in [
        ("registration_rate", 0.75),
        ("on_time_dispatch_rate", 2.0 / 3.0),
        ("accurate_dispatch_rate", 2.0 / 3.0),
        ("on_time_handling_rate", 2.0 / 3.0),
        ("closing_rate", 1.0),
        ("on_time_closing_rate", 0.5),
        ("rework_rate", 0.5),
        ("extension_rate", 1.0 / 3.0),
    ] {
        assert!(close(&fig[k], v), "{k}: {} (want {v})", fig[k]);
    }
    assert_eq!(fig["suspended_count"], 1);
    // by department: the voided case has no department; the rest are sanitation's
    let groups = ev["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(groups[0]["key"].is_null());
    assert_eq!(groups[0]["counts"]["reported"], 1);
    assert_eq!(groups[0]["counts"]["registered"], 0);
    assert_eq!(groups[1]["key"], "sanitation");
    assert_eq!(groups[1]["counts"]["reported"], 3);
    assert!(close(&groups[1]["figures"]["on_time_closing_rate"], 0.5));
    // by person: the dispatcher is credited with the three dispatches
    let ev = e
        .get("leader", &q.replace("by=department", "by=person"))
        .await;
    let disp = ev["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "dispatcher")
        .cloned()
        .unwrap();
    assert_eq!(disp["counts"]["dispatched"], 3);
    assert_eq!(disp["counts"]["suspended"], 1);
    // by area: every grouping splits the total; the one street and the one community
    // of the test area have the figures worked out above
    for by in ["department", "grid", "community", "street"] {
        let ev = e
            .get("leader", &q.replace("by=department", &format!("by={by}")))
            .await;
        let groups = ev["groups"].as_array().unwrap();
        for (k, v) in want {
            let sum: i64 = groups
                .iter()
                .map(|g| g["counts"][k].as_i64().unwrap())
                .sum();
            assert_eq!(sum, v, "by {by}: {k} of {groups:?}");
        }
        if by == "street" || by == "community" {
            assert_eq!(groups.len(), 1, "{by}: {groups:?}");
            let key = groups[0]["key"].as_str().unwrap();
            assert_eq!(key.len(), if by == "street" { 9 } else { 12 }, "{key}");
            assert!(key.starts_with("420102001"), "{key}");
            assert_eq!(groups[0]["figures"], ev["total"]["figures"], "{by}");
        }
        if by == "grid" {
            assert!(
                groups
                    .iter()
                    .all(|g| g["key"].as_str().is_some_and(|k| k.len() == 15)),
                "{groups:?}"
            );
        }
    }
    // the exports (XLSX read back, CSV) hold the API's numbers, for every grouping
    for by in ["department", "grid", "community", "street", "person"] {
        let query = q.replace("by=department", &format!("by={by}"));
        let ev = e.get("leader", &query).await;
        let mut rows: Vec<Value> = ev["groups"].as_array().unwrap().clone();
        rows.push(ev["total"].clone());
        let xlsx = download(&e, &format!("{query}&format=xlsx"), "spreadsheetml").await;
        let sheet = read_xlsx(&xlsx);
        let csv_text =
            String::from_utf8(download(&e, &format!("{query}&format=csv"), "text/csv").await)
                .unwrap();
        let csv: Vec<Vec<String>> = csv_text
            .trim_start_matches('\u{feff}')
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        assert_eq!(sheet.len(), rows.len() + 1, "{by}: {sheet:?}");
        assert_eq!(csv.len(), rows.len() + 1, "{by}: {csv_text}");
        assert_eq!(sheet[0][2], "上报数 reported");
        assert_eq!(csv[0][17], "立案率 registration rate");
        for (i, row) in rows.iter().enumerate() {
            let (x, c) = (&sheet[i + 1], &csv[i + 1]);
            let key = if i + 1 == rows.len() {
                "total".to_string()
            } else {
                row["key"].as_str().unwrap_or("—").to_string()
            };
            assert_eq!(x[0], key, "{by} row {i}");
            assert_eq!(c[0], key, "{by} row {i}");
            for (j, k) in COUNTERS.iter().enumerate() {
                let want = row["counts"][k].as_i64().unwrap().to_string();
                assert_eq!(x[2 + j], want, "{by} row {i} {k}");
                assert_eq!(c[2 + j], want, "{by} row {i} {k}");
            }
            for (j, k) in RATES.iter().enumerate() {
                let v = &row["figures"][k];
                let (xv, cv) = (&x[17 + j], &c[17 + j]);
                match v.as_f64() {
                    Some(want) => {
                        assert!(
                            (xv.parse::<f64>().unwrap() - want).abs() < 1e-9,
                            "{by} row {i} {k}: {xv} vs {want}"
                        );
                        assert!(
                            (cv.parse::<f64>().unwrap() - want).abs() < 1e-9,
                            "{by} row {i} {k}: {cv} vs {want}"
                        );
                    }
                    None => assert!(
                        xv.is_empty() && cv.is_empty(),
                        "{by} row {i} {k}: {xv:?} {cv:?}"
                    ),
                }
            }
            assert_eq!(x[25], row["figures"]["suspended_count"].to_string());
        }
    }
    // presets and formats that do not exist, and a preset with dates, are refused
    for bad in [
        "?period=fortnight",
        "?period=week&from=2026-01-01",
        "?format=pdf",
    ] {
        let (s, v) = e
            .call(
                Some("leader"),
                Method::GET,
                &format!("/api/stats/evaluation{bad}"),
                None,
            )
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
    // figures by person are the supervision centre's: a department or an inspector
    // is refused, and still gets the figures by department
    let by_person = q.replace("by=department", "by=person");
    for user in ["dep_sanitation", "inspector"] {
        let (status, body) = e.call(Some(user), Method::GET, &by_person, None).await;
        assert_eq!(status, 403, "{user}: {body}");
        let (status, _) = e.call(Some(user), Method::GET, &q, None).await;
        assert_eq!(status, 200, "{user} by department");
    }
    // a period before everything has nothing ("to" is inclusive: the day before d)
    let ev = e
        .get(
            "leader",
            &format!(
                "/api/stats/evaluation?from={}&to={}",
                d.plus_days(-7).iso(),
                d.plus_days(-1).iso()
            ),
        )
        .await;
    assert_eq!(ev["total"]["counts"]["reported"], 0);
    assert_eq!(ev["to_date"], d.plus_days(-1).iso(), "{ev}");
    assert!(ev["total"]["figures"]["registration_rate"].is_null());
    // ... and a period ending on d has d's reports
    let ev = e
        .get(
            "leader",
            &format!(
                "/api/stats/evaluation?from={}&to={}",
                d.plus_days(-7).iso(),
                d.iso()
            ),
        )
        .await;
    assert!(
        ev["total"]["counts"]["reported"].as_i64().unwrap_or(0) >= 1,
        "{ev}"
    );
    let (s, _) = e
        .call(
            Some("leader"),
            reqwest::Method::GET,
            "/api/stats/evaluation?by=planet",
            None,
        )
        .await;
    assert_eq!(s, 400);
}

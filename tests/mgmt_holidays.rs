//! China's public holidays end to end (issue 20), with the service's clock at
//! 2027-11-15 10:00 Beijing time: 2025 and 2026 have their built-in arrangements, 2027
//! none (its statutory days apply) and 2028 starts in 47 days. `/health` and `/metrics`
//! name the missing years; an arrangement refused by the API says why; the one imported
//! with `citygrid calendar import` moves a deadline that runs into Spring Festival 2027
//! past the whole announced holiday.

mod common;
mod mgmt_common;

use std::time::{Duration, Instant};

use mgmt_common::{env, Env};
use reqwest::Method;
use serde_json::{json, Value};

const CLOCK: &str = "2027-11-15T10:00:00+08:00";

/// 2027's arrangement for the test (made up: the State Council publishes the real one).
const CSV_2027: &str = "\u{feff}# year: 2027
# source: test arrangement for 2027
kind,from,to,name
off,2027-01-01,2027-01-03,元旦
off,2027-02-05,2027-02-12,春节
off,2027-04-03,2027-04-05,清明节
off,2027-05-01,2027-05-05,劳动节
off,2027-06-09,2027-06-09,端午节
off,2027-09-15,2027-09-15,中秋节
off,2027-10-01,2027-10-07,国庆节
work,2027-01-31,,元旦
work,2027-02-20,,春节
work,2027-04-25,,劳动节
work,2027-09-26,,国庆节
work,2027-10-09,,国庆节
";

async fn health(e: &Env) -> Value {
    e.get("admin", "/health").await
}

async fn metrics(e: &Env) -> String {
    reqwest::get(e.server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until `/health` lists exactly `years` as missing (the server learns of a CLI
/// import from the table's change notice).
async fn wait_missing(e: &Env, years: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = health(e).await;
        if h["calendar_arrangement_missing"] == years {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "health never listed {years}: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A case reported at Thursday 4 February 2027 16:00; its registration due time.
async fn due(e: &Env, lon: f64) -> String {
    let c = e
        .post(
            "acceptor",
            "/api/cases",
            json!({"category": "E0101", "lon": lon, "lat": 30.5911,
                   "reported_at": "2027-02-04T16:00:00+08:00", "source": "hotline"}),
            201,
        )
        .await;
    let due = c["registration_due"].as_str().unwrap().to_string();
    chrono::DateTime::parse_from_rfc3339(&due)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339()
}

#[tokio::test(flavor = "multi_thread")]
async fn holidays_missing_year_warning_import_and_deadlines() {
    let e = env("holidays", &["dep1"], &[("CITYGRID_CLOCK", CLOCK)]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    e.post(
        "admin",
        "/api/sla-rules",
        json!({"scope": "E0101", "stage": "registration", "amount": 4, "unit": "working_hours"}),
        201,
    )
    .await;

    // 2027 (this year) and 2028 (in 47 days) have no arrangement
    let h = wait_missing(&e, json!([2027, 2028])).await;
    assert_eq!(h["status"], "ok", "{h}");
    assert!(
        h["warnings"][1]
            .as_str()
            .unwrap()
            .starts_with("no holiday arrangement imported for 2028"),
        "{h}"
    );
    let m = metrics(&e).await;
    assert!(
        m.contains("citygrid_calendar_arrangement_missing{year=\"2027\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("citygrid_calendar_arrangement_missing{year=\"2028\"} 1"),
        "{m}"
    );
    let list = e.get("leader", "/api/holidays").await;
    assert_eq!(list["today"], "2027-11-15");
    let years: Vec<i64> = list["arrangements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["year"].as_i64().unwrap())
        .collect();
    assert_eq!(years, vec![2025, 2026], "{list}");
    assert_eq!(list["arrangements"][0]["imported_by"], "built-in");

    // Before the import: the statutory days of Spring Festival 2027 (Fri 5 – Mon 8
    // February) are skipped: Thu 16:00–17:30, then Tue 9 Feb 08:30 + 2.5 h.
    let y = e.get("leader", "/api/holidays/2027").await;
    assert!(y["arrangement"].is_null(), "{y}");
    let spring: Vec<&str> = y["statutory"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["festival"] == "spring_festival")
        .map(|h| h["date"].as_str().unwrap())
        .collect();
    assert_eq!(
        spring,
        ["2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08"]
    );
    assert_eq!(due(&e, 114.3005).await, "2027-02-09T11:00:00+08:00");

    // Refused arrangements say why, and store nothing
    for (body, status, says) in [
        (
            CSV_2027.replace("work,2027-02-20,,", "work,2027-02-22,,"),
            422,
            "make-up working day 2027-02-22 is a Mon: a make-up working day must be a Saturday or Sunday",
        ),
        (
            CSV_2027.replace("off,2027-09-15,2027-09-15,中秋节\n", ""),
            422,
            "2027-09-15 (中秋节) is a statutory holiday but inside no period off",
        ),
        (
            CSV_2027.replace("work,2027-01-31", "work,2026-12-27"),
            422,
            "2026-12-27 is not in 2027",
        ),
        (
            CSV_2027.replace("kind,from,to,name", "kind,date"),
            400,
            "the header must be kind,from,to,name",
        ),
        ("{\"year\": 2027}".to_string(), 400, "missing field `source`"),
    ] {
        let r = common::http()
            .put(e.server.url("/api/holidays/2027"))
            .bearer_auth(&e.tokens["admin"])
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].as_str().unwrap_or("").contains(says), "{v}");
    }
    let (s, v) = e
        .call(
            Some("admin"),
            Method::PUT,
            "/api/holidays/2028",
            Some(json!({"year": 2027, "source": "x", "periods": []})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, _) = e
        .call(
            Some("admin"),
            Method::PUT,
            "/api/holidays/20x7",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = e
        .call(
            Some("leader"),
            Method::PUT,
            "/api/holidays/2027",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 403);
    assert!(e.get("leader", "/api/holidays/2027").await["arrangement"].is_null());

    // The CLI: --check stores nothing; a bad file is one line; then the import.
    let dir = std::env::temp_dir().join(format!("cg-holidays-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("2027.csv");
    std::fs::write(&file, CSV_2027).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, CSV_2027.replace("work,2027-02-20", "work,2027-02-22")).unwrap();
    let (ok, _, err) =
        common::run(common::citygrid(&e.db).args(["calendar", "import", bad.to_str().unwrap()]));
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("must be a Saturday or Sunday"), "{err}");
    let out = mgmt_common::cli(
        &e.db,
        &["calendar", "import", "--check", file.to_str().unwrap()],
    );
    assert!(out.contains("is valid: 2027: 7 periods off"), "{out}");
    assert!(e.get("leader", "/api/holidays/2027").await["arrangement"].is_null());
    let out = mgmt_common::cli(&e.db, &["calendar", "import", file.to_str().unwrap()]);
    assert!(out.starts_with("imported the arrangement of 2027"), "{out}");
    assert!(
        out.contains("bridged weekdays 2027-02-09,2027-02-10,2027-02-11,2027-02-12"),
        "{out}"
    );

    // Only 2028 is missing now; the deadline skips the whole announced holiday
    // (5–12 February) and continues on Monday 15 February.
    wait_missing(&e, json!([2028])).await;
    let m = metrics(&e).await;
    assert!(
        !m.contains("citygrid_calendar_arrangement_missing{year=\"2027\"}"),
        "{m}"
    );
    assert!(
        m.contains("citygrid_calendar_arrangement_missing{year=\"2028\"} 1"),
        "{m}"
    );
    assert_eq!(due(&e, 114.3012).await, "2027-02-15T11:00:00+08:00");
    let y = e.get("leader", "/api/holidays/2027").await;
    assert_eq!(y["arrangement"]["source"], "test arrangement for 2027");
    assert_eq!(y["arrangement"]["imported_by"], "cli");
    assert_eq!(y["makeup_workdays"][1], "2027-02-20");
    let listed = mgmt_common::cli(&e.db, &["calendar", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("2027\t元旦 2027-01-01–2027-01-03")),
        "{listed}"
    );

    // The admin API replaces it (JSON) and removes it again.
    let spec: Value = json!({
        "year": 2027, "source": "replaced over the API",
        "periods": [
            {"name": "元旦", "from": "2027-01-01", "to": "2027-01-01"},
            {"name": "春节", "from": "2027-02-05", "to": "2027-02-08"},
            {"name": "清明节", "from": "2027-04-05", "to": "2027-04-05"},
            {"name": "劳动节", "from": "2027-05-01", "to": "2027-05-02"},
            {"name": "端午节", "from": "2027-06-09", "to": "2027-06-09"},
            {"name": "中秋节", "from": "2027-09-15", "to": "2027-09-15"},
            {"name": "国庆节", "from": "2027-10-01", "to": "2027-10-03"}
        ],
        "makeup_workdays": []
    });
    let (s, v) = e
        .call(
            Some("admin"),
            Method::PUT,
            "/api/holidays/2027",
            Some(spec.clone()),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["imported_by"], "admin");
    // only statutory days and weekends: nothing bridged
    assert_eq!(v["bridged_days"], json!([]), "{v}");
    let (s, _) = e
        .call(Some("admin"), Method::DELETE, "/api/holidays/2027", None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = e
        .call(Some("admin"), Method::DELETE, "/api/holidays/2027", None)
        .await;
    assert_eq!(s, 404);
    wait_missing(&e, json!([2027, 2028])).await;
    assert_eq!(due(&e, 114.3019).await, "2027-02-09T11:00:00+08:00");
    std::fs::remove_dir_all(&dir).ok();
}

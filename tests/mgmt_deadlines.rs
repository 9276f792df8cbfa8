//! Working-time deadlines through intake and the workflow, with a calendar set over
//! the API: a weekend, a public holiday and a make-up working day; suspension pauses
//! the clock.

mod common;
mod mgmt_common;

use mgmt_common::chrono_lite::Date;
use mgmt_common::{env, same_instant};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn deadline_crosses_weekend_holiday_and_makeup_day_and_suspension_pauses_it() {
    let e = env("deadlines", &["dep1"], &[]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    // Friday F (three weeks ago or more); Sunday F+2 is a make-up working day, Monday
    // F+3 a public holiday. Working hours 09:00–12:00 and 13:00–18:00 (+08:00).
    let f = Date::monday_weeks_ago(3).plus_days(4);
    assert_eq!(f.weekday(), 4);
    let cal = e
        .patch(
            "/api/calendar/default",
            json!({"spec": {
                "utc_offset_minutes": 480,
                "periods": [{"start": "09:00:00", "end": "12:00:00"}, {"start": "13:00:00", "end": "18:00:00"}],
                "working_weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri"],
                "holidays": [f.plus_days(3).iso()],
                "makeup_workdays": [f.plus_days(2).iso()]}}),
        )
        .await;
    assert_eq!(cal["code"], "default");
    // a bad calendar is refused
    let (s, _) = e
        .call(Some("admin"), Method::PATCH, "/api/calendar/default",
              Some(json!({"spec": {"utc_offset_minutes": 480, "periods": [{"start": "12:00:00", "end": "09:00:00"}],
                                   "working_weekdays": [], "holidays": [], "makeup_workdays": []}})))
        .await;
    assert_eq!(s, 422);
    e.post(
        "admin",
        "/api/sla-rules",
        json!({"scope": "E0101", "stage": "registration", "amount": 16, "unit": "working_hours"}),
        201,
    )
    .await;
    e.post(
        "admin",
        "/api/sla-rules",
        json!({"scope": "E0101", "stage": "handling", "amount": 4, "unit": "working_hours"}),
        201,
    )
    .await;
    let (s, _) = e
        .call(Some("admin"), Method::POST, "/api/sla-rules", Some(json!({"scope": "E01011", "stage": "handling", "amount": 4, "unit": "working_hours"})))
        .await;
    assert_eq!(s, 400);

    // reported Friday 16:00. 16 working hours: Fri 16–18 (2 h), Sat off, Sun (make-up
    // day) 9–12 + 13–18 (8 h), Mon holiday, Tue 9–12 (3 h) + 13–16 (3 h) → Tue 16:00.
    let c = e
        .post("acceptor", "/api/cases",
              json!({"category": "E0101", "lon": 114.3012, "lat": 30.5911, "reported_at": f.at(16, 0), "source": "hotline"}), 201)
        .await;
    let id = c["id"].as_i64().unwrap();
    let due = c["registration_due"].as_str().unwrap();
    assert!(
        same_instant(due, &f.plus_days(4).at(16, 0)),
        "registration due {due}, expected {}",
        f.plus_days(4).at(16, 0)
    );
    let got = e.get("admin", &format!("/api/cases/{id}")).await;
    assert!(same_instant(
        got["due_at"].as_str().unwrap(),
        &f.plus_days(4).at(16, 0)
    ));

    // Tuesday: registered 09:00, dispatched 10:00 → 4 working hours: 10–12, 13–15 → 15:00
    e.step(
        "acceptor",
        id,
        json!({"action": "register", "at": f.plus_days(4).at(9, 0)}),
    )
    .await;
    let d = e
        .step(
            "dispatcher",
            id,
            json!({"action": "dispatch", "department": "dep1", "at": f.plus_days(4).at(10, 0)}),
        )
        .await;
    assert!(
        same_instant(
            d["handling_due"].as_str().unwrap(),
            &f.plus_days(4).at(15, 0)
        ),
        "{}",
        d["handling_due"]
    );
    e.step(
        "dep_dep1",
        id,
        json!({"action": "accept", "at": f.plus_days(4).at(10, 30)}),
    )
    .await;
    // suspended at 11:00 with 3 working hours left; not overdue while suspended
    let s1 = e.step("dispatcher", id, json!({"action": "suspend", "note": "waiting for a permit", "at": f.plus_days(4).at(11, 0)})).await;
    assert_eq!(s1["status"], "suspended");
    assert_eq!(s1["overdue"], false);
    // resumed Wednesday 10:00: 3 h left → 10–12, 13–14 → Wednesday 14:00
    let r = e
        .step(
            "dispatcher",
            id,
            json!({"action": "resume", "at": f.plus_days(5).at(10, 0)}),
        )
        .await;
    assert!(
        same_instant(
            r["handling_due"].as_str().unwrap(),
            &f.plus_days(5).at(14, 0)
        ),
        "{}",
        r["handling_due"]
    );
    assert!(same_instant(
        r["due_at"].as_str().unwrap(),
        &f.plus_days(5).at(14, 0)
    ));
    // that was weeks ago: overdue now, and filterable
    assert_eq!(r["overdue"], true);
    let list = e.get("admin", "/api/cases?overdue=true").await;
    assert_eq!(list["total"], 1);
    let list = e.get("admin", "/api/cases?overdue=false").await;
    assert_eq!(list["total"], 0);
    // a step dated before the previous one is refused
    let (s, _) = e
        .call(
            Some("dep_dep1"),
            Method::POST,
            &format!("/api/cases/{id}/actions"),
            Some(json!({"action": "feedback", "at": f.plus_days(5).at(9, 0)})),
        )
        .await;
    assert_eq!(s, 400);
}

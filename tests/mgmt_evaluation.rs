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

//! The built-in working calendar (`default`) becomes a stored row on its first valid
//! change only: a refused change (nothing to change, a field that cannot be changed)
//! answers 400 and stores nothing.

mod common;
mod mgmt_common;

use mgmt_common::env;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_change_of_the_default_calendar_stores_nothing() {
    let e = env("calendar", &["dep1"], &[]).await;
    let before = e.get("admin", "/api/calendar/default").await;
    assert_eq!(before["builtin"], true, "{before}");
    for body in [json!({}), json!({"bogus": 1})] {
        let (status, answer) = e
            .call(
                Some("admin"),
                Method::PATCH,
                "/api/calendar/default",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        let after = e.get("admin", "/api/calendar/default").await;
        assert_eq!(after["builtin"], true, "after {body}: {after}");
    }
    // A valid change stores it.
    let changed = e
        .patch("/api/calendar/default", json!({"name": "city calendar"}))
        .await;
    assert_eq!(changed["name"], "city calendar", "{changed}");
    assert_ne!(changed["builtin"], true, "{changed}");
}

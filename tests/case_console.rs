//! The console's case list and live queue against the real server (issue 20):
//! `GET /api/cases` with `q` over number, description, address and reporter, each
//! filter narrowing, paging with the right total, a department kept to its own cases
//! whatever it searches, clear 400s; `GET /api/cases/events` (Server-Sent Events)
//! seeing a new case within 2 s, scoped like the list.

mod common;
mod mgmt_common;

use std::time::{Duration, Instant};

use mgmt_common::{env, Env, AREA_S, AREA_W};
use reqwest::Method;
use serde_json::{json, Value};

fn numbers(v: &Value) -> Vec<String> {
    v["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("no cases in {v}"))
        .iter()
        .map(|c| c["case_no"].as_str().unwrap().to_string())
        .collect()
}

async fn report(e: &Env, user: &str, body: Value) -> Value {
    let mut b = json!({"category": "E0101", "lon": AREA_W + 0.0011, "lat": AREA_S + 0.0009});
    if let (Some(o), Some(extra)) = (b.as_object_mut(), body.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    e.post(user, "/api/cases", b, 201).await
}

fn id(c: &Value) -> i64 {
    c["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn search_filters_paging_and_scope() {
    let e = env("console-list", &["dep1", "dep2"], &[]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    e.category("E0102", None).await;
    let lamp = report(
        &e,
        "inspector",
        json!({"description": "Broken street lamp 路灯损坏 at the corner"}),
    )
    .await;
    let hydrant = report(
        &e,
        "acceptor",
        json!({"category": "E0102", "address": "12 Jiefang Avenue 解放大道", "source": "hotline",
               "reporter_name": "Wang Xiaoming", "description": "leaking hydrant"}),
    )
    .await;
    let third = report(&e, "inspector2", json!({"description": "litter 100%_done"})).await;
    // dispatch the lamp to dep1 and the hydrant to dep2
    for (c, dep) in [(&lamp, "dep1"), (&hydrant, "dep2")] {
        e.step("acceptor", id(c), json!({"action": "register"}))
            .await;
        e.step(
            "dispatcher",
            id(c),
            json!({"action": "dispatch", "department": dep}),
        )
        .await;
    }
    let no = |c: &Value| c["case_no"].as_str().unwrap().to_string();

    // q: number, description, address, reporter name, the reporting user's name
    let q = |text: &str| format!("/api/cases?q={}", urlencode(text));
    assert_eq!(numbers(&e.get("leader", &q(&no(&lamp))).await), [no(&lamp)]);
    assert_eq!(
        numbers(&e.get("leader", &q("STREET lamp")).await),
        [no(&lamp)]
    );
    assert_eq!(numbers(&e.get("leader", &q("路灯")).await), [no(&lamp)]);
    assert_eq!(
        numbers(&e.get("leader", &q("解放大道")).await),
        [no(&hydrant)]
    );
    assert_eq!(
        numbers(&e.get("leader", &q("xiaoming")).await),
        [no(&hydrant)]
    );
    assert_eq!(
        numbers(&e.get("leader", &q("inspector2")).await),
        [no(&third)]
    );
    // the pattern's characters are literal
    assert_eq!(numbers(&e.get("leader", &q("100%_")).await), [no(&third)]);
    assert_eq!(numbers(&e.get("leader", &q("%")).await), [no(&third)]);
    let all = e.get("leader", "/api/cases").await;
    assert_eq!(all["total"], 3);

    // each filter narrows
    for (filter, expect) in [
        ("status=reported", vec![no(&third)]),
        ("category=E0102", vec![no(&hydrant)]),
        ("department=dep1", vec![no(&lamp)]),
        ("source=hotline", vec![no(&hydrant)]),
        ("source=inspector", vec![no(&third), no(&lamp)]),
        ("extension_pending=true", vec![]),
        ("overdue=true", vec![]),
    ] {
        assert_eq!(
            numbers(&e.get("leader", &format!("/api/cases?{filter}")).await),
            expect,
            "{filter}"
        );
    }
    let grid = lamp["grid_code"]
        .as_str()
        .unwrap_or_else(|| panic!("{lamp}"))
        .to_string();
    let (community, street) = (&grid[..12], &grid[..9]);
    for filter in [
        format!("grid={grid}"),
        format!("community={community}"),
        format!("street={street}"),
    ] {
        assert_eq!(
            e.get("leader", &format!("/api/cases?{filter}")).await["total"],
            3,
            "{filter}"
        );
    }
    assert_eq!(
        e.get("leader", "/api/cases?community=420102001999").await["total"],
        0
    );
    // a period of days in the city's time zone (Asia/Shanghai), `to` inclusive: the
    // day of the first report to the day of the last has all three
    let day = |c: &Value| {
        chrono::DateTime::parse_from_rfc3339(c["reported_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
            .format("%Y-%m-%d")
            .to_string()
    };
    let (first, last) = (day(&lamp), day(&third));
    assert_eq!(
        e.get("leader", &format!("/api/cases?from={first}&to={last}"))
            .await["total"],
        3
    );
    assert_eq!(
        e.get("leader", "/api/cases?to=2020-01-01").await["total"],
        0
    );
    // due within: the dispatched cases have a handling deadline ahead
    let due = e.get("leader", "/api/cases?due_within=720").await;
    assert!(due["total"].as_i64().unwrap() >= 2, "{due}");
    // sorting
    let by_id: Vec<String> = numbers(&e.get("leader", "/api/cases?sort=id").await);
    assert_eq!(by_id, [no(&lamp), no(&hydrant), no(&third)]);
    let by_status = numbers(&e.get("leader", "/api/cases?sort=status").await);
    assert_eq!(
        by_status[0],
        no(&third),
        "reported comes first: {by_status:?}"
    );

    // paging: the total is all matches, pages do not overlap
    let p1 = e.get("leader", "/api/cases?limit=2&offset=0").await;
    let p2 = e.get("leader", "/api/cases?limit=2&offset=2").await;
    let p3 = e.get("leader", "/api/cases?limit=2&offset=4").await;
    assert_eq!(
        (
            p1["total"].as_i64(),
            p2["total"].as_i64(),
            p3["total"].as_i64()
        ),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(numbers(&p1).len(), 2);
    assert_eq!(numbers(&p2).len(), 1);
    assert!(numbers(&p3).is_empty());
    assert!(!numbers(&p1).contains(&numbers(&p2)[0]));

    // a department sees its own only, whatever it searches or filters
    assert_eq!(numbers(&e.get("dep_dep1", "/api/cases").await), [no(&lamp)]);
    assert!(numbers(&e.get("dep_dep1", &q("解放大道")).await).is_empty());
    assert!(numbers(&e.get("dep_dep1", &q(&no(&hydrant))).await).is_empty());
    assert!(numbers(&e.get("dep_dep1", "/api/cases?source=hotline").await).is_empty());
    assert_eq!(
        e.get("dep_dep1", "/api/cases?category=E0102").await["total"],
        0
    );
    let (s, _) = e
        .call(
            Some("dep_dep1"),
            Method::GET,
            "/api/cases?department=dep2",
            None,
        )
        .await;
    assert_eq!(s, 403);
    // an inspector: his own report only
    assert_eq!(
        numbers(&e.get("inspector2", "/api/cases").await),
        [no(&third)]
    );

    // bad parameters: 400 with a message
    for bad in [
        "limit=201",
        "limit=0",
        "offset=-1",
        "status=open",
        "category=X",
        "source=fax",
        "grid=12",
        "community=42010200",
        "street=abc",
        "due_within=0",
        "due_within=721",
        "from=yesterday",
        "to=2026-13-01",
        "sort=name",
        "overdue=maybe",
        "bbox=1,2,3",
        "department=a%20b",
        "colour=red",
    ] {
        let (s, v) = e
            .call(
                Some("leader"),
                Method::GET,
                &format!("/api/cases?{bad}"),
                None,
            )
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(
            v["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{bad}: {v}"
        );
    }
    let long = "x".repeat(101);
    let (s, _) = e.call(Some("leader"), Method::GET, &q(&long), None).await;
    assert_eq!(s, 400);
    let (s, _) = e.call(Some("leader"), Method::GET, &q("a\nb"), None).await;
    assert_eq!(s, 400);
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads Server-Sent Events from a response into a channel of `(event, data)`.
fn events(resp: reqwest::Response) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut resp = resp;
        let mut buf = String::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a heartbeat comment
                }
                let v = serde_json::from_str(&data).unwrap_or(Value::String(data));
                if tx.send((event, v)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

async fn open_stream(e: &Env, user: &str) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
    let resp = common::http()
        .get(e.server.url("/api/cases/events"))
        .bearer_auth(&e.tokens[user])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "events as {user}");
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut rx = events(resp);
    let (event, _) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("ready event")
        .expect("stream open");
    assert_eq!(event, "ready");
    rx
}

/// Waits up to `within` for a `case` event about case number `no`.
async fn wait_case(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
    no: &str,
    within: Duration,
) -> Option<Value> {
    let end = Instant::now() + within;
    loop {
        let left = end.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some((event, v))) if event == "case" && v["case"]["case_no"] == no => {
                return Some(v)
            }
            Ok(Some(_)) => {}
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_queue_pushes_new_cases_scoped_like_the_list() {
    let e = env("console-sse", &["dep1", "dep2"], &[]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let mut acceptor = open_stream(&e, "acceptor").await;
    let mut dep1 = open_stream(&e, "dep_dep1").await;
    let mut dep2 = open_stream(&e, "dep_dep2").await;

    // a new case reaches the acceptor within 2 s, as "new"
    let started = Instant::now();
    let c = report(&e, "inspector", json!({"description": "pothole"})).await;
    let no = c["case_no"].as_str().unwrap().to_string();
    let v = wait_case(&mut acceptor, &no, Duration::from_secs(2))
        .await
        .unwrap_or_else(|| panic!("no event for {no} within 2 s"));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(v["kind"], "new");
    assert_eq!(v["case"]["status"], "reported");

    // dispatched to dep1: dep1 hears of it, dep2 never does
    e.step("acceptor", id(&c), json!({"action": "register"}))
        .await;
    e.step(
        "dispatcher",
        id(&c),
        json!({"action": "dispatch", "department": "dep1"}),
    )
    .await;
    let v = wait_case(&mut dep1, &no, Duration::from_secs(2))
        .await
        .expect("dep1 sees its dispatched case");
    assert_eq!(v["kind"], "changed");
    assert_eq!(v["case"]["department"], "dep1");
    // the acceptor sees the state changes too
    let v = wait_case(&mut acceptor, &no, Duration::from_secs(2))
        .await
        .expect("a changed event for the acceptor");
    assert_eq!(v["kind"], "changed");
    assert!(
        wait_case(&mut dep2, &no, Duration::from_secs(2))
            .await
            .is_none(),
        "dep2 heard of dep1's case"
    );

    // signed out: the stream says so and ends
    let (s, _) = e
        .call(Some("dep_dep2"), Method::POST, "/api/auth/logout", None)
        .await;
    assert!(s == 200 || s == 204, "logout: {s}");
    let end = Instant::now() + Duration::from_secs(12);
    let mut ended = false;
    while Instant::now() < end {
        match tokio::time::timeout(Duration::from_secs(1), dep2.recv()).await {
            Ok(Some((event, _))) if event == "end" => {
                ended = true;
                break;
            }
            Ok(None) => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    assert!(ended, "the stream of a signed-out user did not end");

    // bounded per user: the fifth stream of one user is refused (429)
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open_stream(&e, "leader").await);
    }
    held.push(open_stream(&e, "leader").await);
    let resp = common::http()
        .get(e.server.url("/api/cases/events"))
        .bearer_auth(&e.tokens["leader"])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    // anonymous: 401
    let resp = common::http()
        .get(e.server.url("/api/cases/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

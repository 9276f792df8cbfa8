//! Delivery to a department's webhook through the outbox: a receiver that is down for
//! a while, then answers 503 once, still gets every event exactly once (by
//! idempotency key) and in order, once it is back.

mod common;
mod mgmt_common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mgmt_common::env;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Hit {
    key: String,
    status: u16,
    signature: String,
    body: Value,
}

/// A tiny HTTP receiver: answers 503 to the first `fail_first` requests, then 200.
async fn receiver(listener: TcpListener, hits: Arc<Mutex<Vec<Hit>>>, fail_first: usize) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let hits = Arc::clone(&hits);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, len) = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    break (i + 4, len);
                }
            };
            while buf.len() < head_end + len {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
                    })
                    .unwrap_or_default()
            };
            let body: Value = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
            let status = {
                let mut h = hits.lock().unwrap();
                let status = if h.len() < fail_first { 503 } else { 200 };
                h.push(Hit {
                    key: header("idempotency-key"),
                    status,
                    signature: header("x-citygrid-signature"),
                    body,
                });
                status
            };
            let reason = if status == 200 {
                "OK"
            } else {
                "Service Unavailable"
            };
            let _ = sock
                .write_all(format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes())
                .await;
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_was_down_gets_every_event_exactly_once() {
    let e = env("webhooks", &["dep1"], &[]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    // a port nobody listens on yet
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dep = e
        .patch("/api/departments/dep1", json!({"webhook_url": format!("http://127.0.0.1:{port}/hook"), "webhook_secret": "s3cret"}))
        .await;
    assert_eq!(dep["has_webhook_secret"], true);
    let c = e
        .post(
            "inspector",
            "/api/cases",
            json!({"category": "E0101", "lon": 114.3012, "lat": 30.5911}),
            201,
        )
        .await;
    let id = c["id"].as_i64().unwrap();
    e.step("acceptor", id, json!({"action": "register"})).await;
    let mut events = Vec::new();
    for (user, body) in [
        (
            "dispatcher",
            json!({"action": "dispatch", "department": "dep1"}),
        ),
        ("dep_dep1", json!({"action": "accept"})),
        (
            "dep_dep1",
            json!({"action": "comment", "note": "on our way"}),
        ),
        ("dep_dep1", json!({"action": "feedback", "note": "done"})),
    ] {
        let v = e.step(user, id, body).await;
        events.push(v["event_id"].as_i64().unwrap());
    }
    // the receiver is down: deliveries are attempted and kept
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (pending, tried): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE delivered_at IS NULL), max(attempts)::bigint FROM outbox",
    )
    .fetch_one(&e.db.pool)
    .await
    .unwrap();
    assert_eq!(pending, 4);
    assert!(tried >= 1, "no attempt while the receiver was down");
    // it comes back (and fails once more)
    let hits = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(receiver(listener, Arc::clone(&hits), 1));
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (left,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
                .fetch_one(&e.db.pool)
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} deliveries still pending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hits = hits.lock().unwrap().clone();
    let ok: Vec<&Hit> = hits.iter().filter(|h| h.status == 200).collect();
    let expected: Vec<String> = events
        .iter()
        .map(|ev| format!("citygrid-{id}-{ev}-dep1"))
        .collect();
    let got: Vec<String> = ok.iter().map(|h| h.key.clone()).collect();
    assert_eq!(
        got, expected,
        "every event acknowledged exactly once, in order"
    );
    assert_eq!(hits[0].status, 503);
    assert_eq!(hits[0].key, expected[0], "the failed one was retried first");
    for h in &ok {
        assert!(
            h.signature.starts_with("sha256=") && h.signature.len() == 71,
            "{}",
            h.signature
        );
        assert_eq!(h.body["case"]["id"], id);
    }
    assert_eq!(ok[0].body["event"]["action"], "dispatch");
    assert_eq!(ok[3].body["event"]["action"], "feedback");
    assert_eq!(ok[3].body["event"]["note"], "done");
}

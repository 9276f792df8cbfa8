//! The malformed-request corpus: every line of `tests/corpus/malformed.jsonl` is one
//! hostile or broken request (bad tile coordinates, hostile CQL2 filters, invalid
//! GeoJSON, oversized bodies and headers, bad credentials, NUL bytes, path traversal,
//! wrong methods…) sent over a raw TCP connection to one running server with data.
//! Each must get its expected 4xx — never a 5xx, never a dropped connection — and
//! afterwards the server must still be healthy and answer normal requests.
//!
//! A line is `{"method", "path", "headers"?, "body"? | "body_b64"?, "repeat"?, "as",
//! "expect", "note"}`: `as` is who sends it (`null`, a user of the grid-management
//! test environment such as `"admin"` or `"inspector"`, or `"key"` for an API key
//! limited to `https://allowed.example`), so each request reaches the validation it
//! targets instead of bouncing at 401; `expect` is `"4xx"` or an exact status;
//! `repeat` is a list of `{"token", "text", "times"}` expanded in the path, body and
//! header values (large inputs without a large file); `{case}` and `{key}` stand for
//! an existing case id and the API key.

mod common;
mod mgmt_common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64_lite::decode as b64;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest photo the corpus server accepts (the corpus has a larger one).
const MAX_UPLOAD: &str = "100000";

/// One request of the corpus, expanded.
struct Entry {
    line: usize,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    expect: Expect,
    note: String,
}

enum Expect {
    Class4xx,
    Exact(u16),
}

impl Expect {
    fn accepts(&self, status: u16) -> bool {
        match self {
            Expect::Class4xx => (400..500).contains(&status),
            Expect::Exact(s) => *s == status,
        }
    }
    fn describe(&self) -> String {
        match self {
            Expect::Class4xx => "4xx".into(),
            Expect::Exact(s) => s.to_string(),
        }
    }
}

fn expand(text: &str, repeats: &[(String, String, usize)], subs: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (token, piece, times) in repeats {
        out = out.replace(token.as_str(), &piece.repeat(*times));
    }
    for (k, v) in subs {
        out = out.replace(k, v);
    }
    out
}

fn parse_corpus(subs: &[(&str, String)], tokens: &BTreeMap<String, String>) -> Vec<Entry> {
    let text = std::fs::read_to_string(common::root().join("tests/corpus/malformed.jsonl"))
        .expect("read the corpus");
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("corpus line {}: {e}", i + 1));
        let repeats: Vec<(String, String, usize)> = v["repeat"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["token"].as_str().unwrap_or("@@").to_string(),
                            r["text"].as_str().expect("repeat.text").to_string(),
                            r["times"].as_u64().expect("repeat.times") as usize,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut headers: Vec<(String, String)> = v["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            expand(v.as_str().expect("header value"), &repeats, subs),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        match v["as"].as_str() {
            None => {}
            Some("key") => headers.push(("X-API-Key".into(), subs[1].1.clone())),
            Some(user) => headers.push((
                "Authorization".into(),
                format!(
                    "Bearer {}",
                    tokens
                        .get(user)
                        .unwrap_or_else(|| panic!("line {}: no user {user}", i + 1))
                ),
            )),
        }
        let body = if let Some(b) = v["body_b64"].as_str() {
            b64(b).unwrap_or_else(|| panic!("line {}: bad base64", i + 1))
        } else {
            expand(v["body"].as_str().unwrap_or(""), &repeats, subs).into_bytes()
        };
        let expect = match &v["expect"] {
            Value::String(s) if s == "4xx" => Expect::Class4xx,
            Value::Number(n) => {
                let s = n.as_u64().expect("status") as u16;
                assert!((400..500).contains(&s), "line {}: expect {s}", i + 1);
                Expect::Exact(s)
            }
            other => panic!("line {}: bad expect {other}", i + 1),
        };
        entries.push(Entry {
            line: i + 1,
            method: v["method"].as_str().expect("method").to_string(),
            path: expand(v["path"].as_str().expect("path"), &repeats, subs),
            headers,
            body,
            expect,
            note: v["note"].as_str().unwrap_or("").to_string(),
        });
    }
    entries
}

/// Sends `entry` as written (no URL normalisation) and returns the status and the
/// start of the body, or why no answer came.
async fn send(addr: &str, entry: &Entry) -> Result<(u16, String), String> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
        entry.method, entry.path
    )
    .into_bytes();
    for (k, v) in &entry.headers {
        head.extend_from_slice(k.as_bytes());
        head.extend_from_slice(b": ");
        // Header values go out byte for byte (non-ASCII included: obs-text).
        head.extend_from_slice(v.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !entry.body.is_empty() || entry.method == "POST" || entry.method == "PATCH" {
        head.extend_from_slice(format!("Content-Length: {}\r\n", entry.body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let body = entry.body.clone();
    // Write from a task of its own: the server may answer (413) before reading it all.
    let writing = tokio::spawn(async move {
        writer.write_all(&head).await?;
        writer.write_all(&body).await?;
        writer.flush().await?;
        // Keep the write half open until the answer is read.
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, std::io::Error>(())
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = [0u8; 16384];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => response.extend_from_slice(&buf[..n]),
                // A reset after the answer arrived is fine (the body was not read).
                Err(e) if !response.is_empty() => {
                    let _ = e;
                    return Ok(());
                }
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    })
    .await;
    writing.abort();
    match read {
        Err(_) => return Err("no answer within 60 s".into()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
    }
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or("");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {:?}", &text[..text.len().min(200)]))?;
    let body_start = text.find("\r\n\r\n").map(|i| i + 4).unwrap_or(text.len());
    let body: String = text[body_start..].chars().take(300).collect();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_4xx_and_the_server_stays_healthy() {
    let e = mgmt_common::env(
        "corpus",
        &["dep1"],
        &[("CITYGRID_MAX_UPLOAD_BYTES", MAX_UPLOAD)],
    )
    .await;
    e.wait_grids().await;
    let seeded = mgmt_common::cli(&e.db, &["grid", "seed-reference"]);
    assert!(seeded.contains("categories"), "{seeded}");
    let key = mgmt_common::cli(
        &e.db,
        &[
            "key",
            "create",
            "--name",
            "corpus",
            "--origins",
            "https://allowed.example",
            "--scopes",
            "maps,open311:write",
        ],
    )
    .trim()
    .to_string();
    // Wait for the reference data to reach the server, then report one case.
    let mut case_id = None;
    for _ in 0..100 {
        let (s, v) = e
            .call(
                Some("inspector"),
                Method::POST,
                "/api/cases",
                Some(json!({"category": "E0102", "lon": 114.3005, "lat": 30.5905, "description": "corpus"})),
            )
            .await;
        if s == 201 {
            case_id = v["id"].as_i64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let case_id = case_id.expect("report a case for the corpus");
    let (s, catalog) = e.call(Some("admin"), Method::GET, "/catalog", None).await;
    assert_eq!(s, 200);
    assert!(
        catalog.to_string().contains("unit_grids"),
        "the unit_grids layer is served: {catalog}"
    );

    let subs = [("{case}", case_id.to_string()), ("{key}", key.clone())];
    let tokens: BTreeMap<String, String> = e.tokens.clone().into_iter().collect();
    let entries = parse_corpus(&subs, &tokens);
    assert!(
        entries.len() >= 150,
        "the corpus has {} requests",
        entries.len()
    );
    let addr = e.server.base.trim_start_matches("http://").to_string();

    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for entry in &entries {
        match send(&addr, entry).await {
            Ok((status, body)) => {
                *counts.entry(status).or_default() += 1;
                if !entry.expect.accepts(status) {
                    failures.push(format!(
                        "line {} ({}): {} {} → {status}, expected {}: {body}",
                        entry.line,
                        entry.note,
                        entry.method,
                        entry.path.chars().take(120).collect::<String>(),
                        entry.expect.describe()
                    ));
                }
            }
            Err(why) => failures.push(format!(
                "line {} ({}): {} {}: {why}",
                entry.line,
                entry.note,
                entry.method,
                entry.path.chars().take(120).collect::<String>()
            )),
        }
    }
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    println!(
        "malformed corpus: {} requests; statuses {}; {} unexpected",
        entries.len(),
        summary.join(", "),
        failures.len()
    );
    let server_errors: usize = counts
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    assert!(
        failures.is_empty(),
        "{} of {} corpus requests were not answered as expected ({server_errors} with 5xx):\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
    assert_eq!(server_errors, 0);

    // Still healthy, and normal requests still work.
    let (s, health) = e.call(None, Method::GET, "/health", None).await;
    assert_eq!(s, 200);
    assert_eq!(health["status"], "ok", "{health}");
    let (s, one) = e
        .call(
            Some("admin"),
            Method::GET,
            &format!("/api/cases/{case_id}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{one}");
    let (s, located) = e
        .call(
            None,
            Method::GET,
            "/api/locate?lon=114.3005&lat=30.5905",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(located["grid"].is_object(), "{located}");
    let tile = common::http()
        .get(e.server.url("/tiles/unit_grids/16/53571/27253"))
        .send()
        .await
        .unwrap();
    assert!(
        tile.status() == 200 || tile.status() == 204,
        "tile: {}",
        tile.status()
    );
}

/// A small base64 decoder (the tests have no base64 dependency).
mod base64_lite {
    /// Decodes standard base64 with padding; None when malformed.
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !bytes.len().is_multiple_of(4) {
            return None;
        }
        let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
        for chunk in bytes.chunks(4) {
            let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
            let mut n = 0u32;
            for &c in &chunk[..4 - pad] {
                n = (n << 6) | value(c)?;
            }
            n <<= 6 * pad as u32;
            let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&three[..3 - pad]);
        }
        Some(out)
    }
}

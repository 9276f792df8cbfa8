//! Delivery to a department's webhook through the outbox: a receiver that is down for
//! a while, then answers 503 once, still gets every event exactly once (by
//! idempotency key) and in order, once it is back.

mod common;
mod mgmt_common;

use std::path::PathBuf;
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

/// A certificate authority and a server certificate for 127.0.0.1 made with openssl
/// in `dir`: returns (ca.pem, server.pem, server.key).
fn test_pki(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=citygrid test government CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// An https receiver (Python's http.server with TLS) that appends each POST's
/// idempotency key and body to `log`, one JSON line each; it stops by itself after
/// five minutes and is killed when dropped.
struct HttpsReceiver {
    child: std::process::Child,
    port: u16,
}

impl Drop for HttpsReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HTTPS_RECEIVER: &str = r#"
import http.server, json, signal, ssl, sys
cert, key, log, port_file = sys.argv[1:5]
signal.alarm(300)
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('content-length', 0)))
        with open(log, 'a') as f:
            f.write(json.dumps({'key': self.headers.get('idempotency-key'), 'body': json.loads(body)}) + '\n')
        self.send_response(200)
        self.send_header('content-length', '0')
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Hook)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)
server.socket = tls.wrap_socket(server.socket, server_side=True)
with open(port_file + '.tmp', 'w') as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + '.tmp', port_file)
server.serve_forever()
"#;

fn https_receiver(
    dir: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> HttpsReceiver {
    let port_file = dir.join("port");
    let child = std::process::Command::new("python3")
        .args(["-c", HTTPS_RECEIVER])
        .arg(cert)
        .arg(key)
        .arg(dir.join("hits.jsonl"))
        .arg(&port_file)
        .spawn()
        .expect("python3");
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            break p.trim().parse::<u16>().expect("port");
        }
        assert!(
            Instant::now() < deadline,
            "the https receiver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    HttpsReceiver { child, port }
}

/// Department systems are behind https, often with a private government CA: a
/// delivery that the CA is not trusted for is kept and says why; with the CA file
/// configured it is delivered once over TLS. A URL that cannot be delivered to is
/// refused when it is configured, and an unreadable CA file stops the start.
#[tokio::test(flavor = "multi_thread")]
async fn https_webhooks_are_delivered_over_tls_with_a_private_ca() {
    let e = env("webhooks_tls", &["dep1"], &[]).await;
    e.wait_grids().await;
    e.category("E0101", None).await;
    let dir = common::temp_dir("webhooks_tls_pki");
    let (ca, cert, key) = test_pki(&dir);
    let receiver = https_receiver(&dir, &cert, &key);
    // URLs the deliverer cannot use are refused when configured, with the reason.
    for (url, says) in [
        ("ftp://127.0.0.1/hook", "ftp"),
        ("https://user:secret@127.0.0.1/hook", "password"),
        ("https://", "valid URL"),
        ("not a url", "valid URL"),
    ] {
        let (status, body) = e
            .call(
                Some("admin"),
                reqwest::Method::PATCH,
                "/api/departments/dep1",
                Some(json!({ "webhook_url": url })),
            )
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(body.to_string().contains(says), "{url}: {body}");
    }
    e.patch(
        "/api/departments/dep1",
        json!({"webhook_url": format!("https://127.0.0.1:{}/hook", receiver.port)}),
    )
    .await;
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
    let ev = e
        .step(
            "dispatcher",
            id,
            json!({"action": "dispatch", "department": "dep1"}),
        )
        .await;
    let event = ev["event_id"].as_i64().unwrap();
    // This server trusts only the system's CAs: the attempt fails on the certificate
    // and the row is kept with the reason.
    let deadline = Instant::now() + Duration::from_secs(30);
    let last_error = loop {
        let (error,): (Option<String>,) =
            sqlx::query_as("SELECT last_error FROM outbox WHERE delivered_at IS NULL LIMIT 1")
                .fetch_one(&e.db.pool)
                .await
                .unwrap();
        if let Some(error) = error {
            break error;
        }
        assert!(Instant::now() < deadline, "no delivery attempt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        last_error.to_lowercase().contains("certificate"),
        "the outbox says the certificate is not trusted: {last_error}"
    );
    // An unreadable CA file is an error at start, not a service that never delivers.
    let (ok, _, err) = common::run(
        common::citygrid(&e.db)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("CITYGRID_WEBHOOK_CA_FILE", dir.join("missing.pem")),
    );
    assert!(!ok);
    assert!(err.contains("webhook CA file"), "{err}");
    // A server that trusts the government CA (in place of the first) delivers it.
    let mgmt_common::Env { db, server, .. } = e;
    assert!(server.terminate(), "the first server stops cleanly");
    let _trusting =
        common::TestServer::start_with(&db, &[("CITYGRID_WEBHOOK_CA_FILE", ca.to_str().unwrap())]);
    sqlx::query("UPDATE outbox SET next_attempt_at = now()")
        .execute(&db.pool)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (left,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the https delivery is still pending"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hits: Vec<Value> = std::fs::read_to_string(dir.join("hits.jsonl"))
        .expect("the receiver logged the delivery")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["key"], format!("citygrid-{id}-{event}-dep1"));
    assert_eq!(hits[0]["body"]["event"]["action"], "dispatch");
}

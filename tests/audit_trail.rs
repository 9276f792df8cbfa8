//! The audit trail: sign-ins (and failed ones), sign-outs, accounts, API keys and
//! session revocations land in `audit_log`, which refuses UPDATE and DELETE; a
//! revoked API key stops working.

mod common;

use std::time::{Duration, Instant};

use common::{add_user, citygrid, http, run, TestDb, TestServer};
use serde_json::{json, Value};

async fn actions(db: &TestDb) -> Vec<(String, String, Value)> {
    sqlx::query_as("SELECT actor, action, detail FROM audit_log ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .expect("read audit_log")
}

#[tokio::test(flavor = "multi_thread")]
async fn security_events_are_audited_and_append_only() {
    let db = TestDb::new().await;
    add_user(&db, "auditor", "admin", None, "secret-pass-123");
    let (ok, key, err) = run(citygrid(&db).args(["key", "create", "--name", "water dept"]));
    assert!(ok, "{err}");
    let key = key.trim().to_string();

    let server = TestServer::start_with(&db, &[("CITYGRID_PUBLIC_LAYERS", "false")]);
    let client = http();
    let login = |password: &'static str| {
        client
            .post(server.url("/api/auth/login"))
            .json(&json!({"username": "auditor", "password": password}))
            .send()
    };
    assert_eq!(login("wrong-password").await.unwrap().status(), 401);
    let ok: Value = login("secret-pass-123")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = ok["token"].as_str().expect("token").to_string();
    // An administrator's write is recorded (without its body); a refused one is not.
    let created = client
        .post(server.url("/api/departments"))
        .bearer_auth(&token)
        .json(&json!({"code": "water", "name": "供水", "webhook_secret": "hush-hush-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let refused = client
        .post(server.url("/api/departments"))
        .bearer_auth(&token)
        .json(&json!({"code": "water", "name": "again"}))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    let out = client
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);

    // The key works, is revoked by its prefix, and then stops working.
    let catalog = |k: String| {
        client
            .get(server.url("/catalog"))
            .header("X-API-Key", k)
            .send()
    };
    assert_eq!(catalog(key.clone()).await.unwrap().status(), 200);
    let prefix: String = key.chars().take(12).collect();
    let (ok, listed, err) = run(citygrid(&db).args(["key", "list"]));
    assert!(ok, "{err}");
    assert!(
        listed.contains(&prefix),
        "key list shows the prefix: {listed}"
    );
    assert!(!listed.contains(&key), "key list never shows the secret");
    let (ok, _, err) = run(citygrid(&db).args(["key", "revoke", &prefix]));
    assert!(ok, "{err}");
    let (ok, _, err) = run(citygrid(&db).args(["key", "revoke", "no_such_key"]));
    assert!(!ok);
    assert!(err.contains("no API key"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = catalog(key.clone()).await.unwrap().status();
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revoked key still answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (ok, _, err) = run(citygrid(&db).args(["user", "revoke", "auditor"]));
    assert!(ok, "{err}");

    let log = actions(&db).await;
    let kinds: Vec<&str> = log.iter().map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "user_upsert",
            "key_create",
            "login_failed",
            "login",
            "admin_write",
            "logout",
            "key_revoke",
            "user_revoke"
        ],
        "{log:?}"
    );
    assert_eq!(log[2].0, "auditor");
    assert_eq!(log[3].0, "auditor");
    assert_eq!(log[1].2["name"], "water dept");
    assert_eq!(log[4].0, "auditor");
    assert_eq!(log[4].2["route"], "/api/departments");
    assert_eq!(log[4].2["method"], "POST");
    // Nothing secret in the trail.
    let text = format!("{log:?}");
    assert!(
        !text.contains(&key)
            && !text.contains(&token)
            && !text.contains("secret-pass")
            && !text.contains("hush-hush")
    );

    // Append-only.
    for sql in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"] {
        let e = sqlx::query(sql).execute(&db.pool).await;
        assert!(e.is_err(), "{sql} must be refused");
    }
    assert_eq!(actions(&db).await.len(), log.len());
}

/// Issue 26: a newline (or any control character) in a value that reaches the log,
/// such as the user name of a failed sign-in, is written escaped: it cannot end the
/// server's log line and forge one of its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_name_cannot_forge_a_log_line() {
    let db = TestDb::new().await;
    let log_path = common::temp_dir("log_injection").join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut command = citygrid(&db);
    command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env_remove("CITYGRID_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(log);
    let server = TestServer::spawn(command);
    let forged = "FORGED  INFO login ok username=admin";
    for name in [
        format!("eve\n{forged}"),
        format!("eve\r\n{forged}"),
        format!("eve\u{2028}{forged}"),
    ] {
        let r = http()
            .post(server.url("/api/auth/login"))
            .json(&json!({"username": name, "password": "wrong-password"}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 401);
    }
    // the log line is written once the answer is on its way: wait for it
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.matches("failed login").count() >= 3 || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(text.matches("failed login").count(), 3, "{text}");
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("FORGED"),
            "a forged log line: {line:?}\n{text}"
        );
    }
    assert!(text.contains("username=eve\\nFORGED"), "{text}");
    assert!(text.contains("username=eve\\r\\nFORGED"), "{text}");
    assert!(text.contains("username=eve\\u{2028}FORGED"), "{text}");
    assert!(!text.contains('\u{2028}'), "{text}");
}

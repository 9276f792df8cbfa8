//! The foundation end to end: the local cluster, migrations, the role model,
//! JSON errors and limits, health while the database comes and goes, shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{add_user, citygrid, http, run, temp_dir, TestDb, TestServer};
use serde_json::Value;

async fn login(server: &TestServer, user: &str, password: &str) -> reqwest::Response {
    http()
        .post(server.url("/api/auth/login"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .expect("login request")
}

async fn token(server: &TestServer, user: &str, password: &str) -> String {
    let response = login(server, user, password).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("login json");
    body["token"].as_str().expect("token").to_string()
}

async fn insert_layer(db: &TestDb, id: &str) {
    sqlx::query(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type) VALUES ($1, $1, 'vector', 'Point')",
    )
    .bind(id)
    .execute(&db.pool)
    .await
    .expect("insert layer");
    common::notify_layer(db, id).await;
}

/// A command on a cluster of its own (no DATABASE_URL).
fn local(home: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut command = std::process::Command::new(common::citygrid_bin());
    command
        .env_remove("DATABASE_URL")
        .env("CITYGRID_HOME", home)
        .args(args);
    run(&mut command)
}

#[test]
fn cluster_lifecycle_is_idempotent() {
    let home = temp_dir("lifecycle");
    let (ok, out, _) = local(&home, &["db", "status"]);
    assert!(ok && out.contains("not initialised"), "{out}");
    let (ok, out, err) = local(&home, &["db", "stop"]);
    assert!(ok, "stop before init: {err}");
    assert!(out.contains("not running"), "{out}");

    let (ok, out, err) = local(&home, &["db", "start"]);
    assert!(ok, "first start: {err}");
    assert!(out.contains("running on 127.0.0.1:"), "{out}");
    let (ok, out2, err) = local(&home, &["db", "start"]);
    assert!(ok, "second start: {err}");
    assert_eq!(out, out2, "a second start reports the same cluster");

    let (ok, out, _) = local(&home, &["db", "status"]);
    assert!(ok && out.contains("running on 127.0.0.1:"), "{out}");
    let (ok, url, _) = local(&home, &["db", "url"]);
    assert!(ok && url.starts_with("postgres://citygrid:"), "{url}");
    // Text sorts in code-point order by memcmp (collation C), characters are UTF-8.
    let admin = format!("{}/postgres", url.trim().rsplit_once('/').expect("url").0);
    let out = std::process::Command::new("psql")
        .args(["-X", "-At", &admin, "-c"])
        .arg("SELECT datcollate || ' ' || datctype FROM pg_database WHERE datname = 'postgres'")
        .output()
        .expect("run psql");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "C C.UTF-8",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (ok, out, err) = local(&home, &["db", "stop"]);
    assert!(ok && out.contains("stopped"), "{out} {err}");
    let (ok, out, _) = local(&home, &["db", "stop"]);
    assert!(ok && out.contains("not running"), "{out}");
    let (ok, out, _) = local(&home, &["db", "status"]);
    assert!(ok && out.contains("stopped"), "{out}");

    // The server runs as a non-root user and listens on loopback only.
    let conf = std::fs::read_to_string(home.join("pg/data/postgresql.conf")).expect("conf");
    assert!(conf.contains("listen_addresses = '127.0.0.1'"));
}

#[test]
fn database_url_means_no_local_cluster() {
    let home = temp_dir("external");
    let mut command = std::process::Command::new(common::citygrid_bin());
    command
        .env("DATABASE_URL", "postgres://nobody:x@127.0.0.1:1/none")
        .env("CITYGRID_HOME", &home)
        .args(["db", "start"]);
    let (ok, _, err) = run(&mut command);
    assert!(!ok);
    assert!(err.contains("DATABASE_URL is set"), "{err}");
    assert!(!home.join("pg").exists(), "no cluster may be created");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_to_an_empty_database_and_again_as_a_no_op() {
    let cluster = common::cluster();
    let name = format!("cg_empty_{}_{}", std::process::id(), rand::random::<u32>());
    let admin = cluster.url("postgres").unwrap();
    assert!(citygrid_db::ensure_database(&admin, &name).await.unwrap());
    let url = cluster.url(&name).unwrap();
    for _ in 0..2 {
        let mut command = std::process::Command::new(common::citygrid_bin());
        command.env("DATABASE_URL", &url).args(["db", "migrate"]);
        let (ok, out, err) = run(&mut command);
        assert!(ok, "migrate: {err}");
        assert!(out.contains("schema is at version"), "{out}");
    }
    let pool = citygrid_db::connect(&url, 1, false).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    let files = std::fs::read_dir(common::root().join("migrations"))
        .unwrap()
        .count() as i64;
    assert_eq!(applied, files, "each migration applied exactly once");
    let postgis: String = sqlx::query_scalar("SELECT postgis_lib_version()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(postgis.starts_with('3'));
    for table in [
        "layer_catalog",
        "users",
        "sessions",
        "api_keys",
        "departments",
    ] {
        let found: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(table)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(found.as_deref(), Some(table));
    }
    pool.close().await;
    let mut conn: sqlx::PgConnection = sqlx::Connection::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn login_tokens_and_roles() {
    let db = TestDb::new().await;
    add_user(&db, "ada", "admin", None, "correct horse");
    add_user(&db, "ivan", "inspector", None, "inspector-pass");
    // A department user needs an existing department.
    let mut command = citygrid(&db);
    command.args([
        "user",
        "add",
        "d1",
        "--role",
        "department",
        "--department",
        "nope",
    ]);
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"password-1\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no department"));

    let server = TestServer::start(&db);
    let client = http();

    // Wrong password and unknown user: the same 401.
    assert_eq!(login(&server, "ada", "wrong").await.status(), 401);
    assert_eq!(login(&server, "nobody", "wrong").await.status(), 401);
    let admin = token(&server, "ada", "correct horse").await;

    // The stored token is a hash, not the token.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], admin.as_bytes());

    let me: Value = client
        .get(server.url("/api/auth/me"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["username"], "ada");

    // Roles: the route table is for admins only.
    let inspector = token(&server, "ivan", "inspector-pass").await;
    let status = |t: Option<String>| {
        let client = client.clone();
        let url = server.url("/api/routes");
        async move {
            let mut request = client.get(url);
            if let Some(t) = t {
                request = request.bearer_auth(t);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(status(Some(admin.clone())).await, 200);
    assert_eq!(status(Some(inspector.clone())).await, 403);
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some("cgt_forged".to_string())).await, 401);

    // An expired token is refused.
    let expiring = token(&server, "ivan", "inspector-pass").await;
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = sha256($1::text::bytea)")
        .bind(&expiring)
        .execute(&db.pool)
        .await
        .unwrap();
    let response = client
        .get(server.url("/api/auth/me"))
        .bearer_auth(&expiring)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("expired"));

    // Logout revokes.
    let response = client
        .post(server.url("/api/auth/logout"))
        .bearer_auth(&inspector)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = client
        .get(server.url("/api/auth/me"))
        .bearer_auth(&inspector)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_are_limited_to_layers_and_origins() {
    let db = TestDb::new().await;
    insert_layer(&db, "layer_a").await;
    insert_layer(&db, "layer_b").await;
    let mut command = citygrid(&db);
    command.args([
        "key",
        "create",
        "--name",
        "water dept",
        "--layers",
        "layer_a",
        "--origins",
        "https://water.example.org",
    ]);
    let (ok, key, err) = run(&mut command);
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    assert!(key.starts_with("cgk_"));
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE key_hash = sha256($1::text::bytea)",
    )
    .bind(&key)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1, "only the key's hash is stored");

    let server = TestServer::start_with(&db, &[("CITYGRID_PUBLIC_LAYERS", "false")]);
    let client = http();
    let get = |path: &str, key: Option<&str>, origin: Option<&str>| {
        let mut request = client.get(server.url(path));
        if let Some(k) = key {
            request = request.header("X-API-Key", k);
        }
        if let Some(o) = origin {
            request = request.header("Origin", o);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("/catalog/layer_a", Some(&key), None).await, 200);
    assert_eq!(get("/catalog/layer_b", Some(&key), None).await, 404);
    assert_eq!(
        get(
            "/catalog/layer_a",
            Some(&key),
            Some("https://water.example.org")
        )
        .await,
        200
    );
    assert_eq!(
        get(
            "/catalog/layer_a",
            Some(&key),
            Some("https://evil.example.com")
        )
        .await,
        403
    );
    // Not public here: no credentials → 401; a made-up key → 401.
    assert_eq!(get("/catalog/layer_a", None, None).await, 401);
    assert_eq!(
        get("/catalog/layer_a", Some("cgk_made_up"), None).await,
        401
    );
    // ?key= works too, and the catalogue lists only the key's layers.
    let body: Value = client
        .get(server.url(&format!("/catalog?key={key}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["layer_a"]);
    // Keys are for map data only.
    assert_eq!(get("/api/auth/me", Some(&key), None).await, 403);
}

/// POSTs a declared body of `len` bytes, sending only its first kilobyte; returns
/// the status and the response body.
async fn oversized_post(server: &TestServer, path: &str, len: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let _ = stream.write_all(&[b'a'; 1024]).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_json_and_bodies_are_bounded() {
    let db = TestDb::new().await;
    let server = TestServer::start(&db);
    let client = http();

    let response = client
        .get(server.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("/no/such/route"));

    let response = client.delete(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());

    // A body over the limit: the server answers 413 from the Content-Length alone,
    // so send the headers and only the start of the body over a raw connection
    // (a client writing all 2 MiB would race the server closing the connection).
    let (status, body) = oversized_post(&server, "/api/auth/login", 2 * 1024 * 1024).await;
    assert_eq!(status, 413);
    let body: Value = serde_json::from_str(&body).expect("413 body is JSON");
    assert_eq!(body["error"], "request body too large");

    let response = client
        .post(server.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{bad json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    let response = client
        .post(server.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\": 1, \"password\": \"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());

    let metrics = common::metrics_text(&server).await;
    assert!(metrics.contains("citygrid_http_requests_total{route=\"/api/auth/login\",method=\"POST\",status=\"413\"} 1"), "{metrics}");
    assert!(metrics.contains("citygrid_db_up 1"));
    // What operators graph besides requests: the tile cache, layers in memory, the
    // pool, the outbox, intake by source, webhook attempts, the build.
    for family in [
        "citygrid_tile_cache_hits_total",
        "citygrid_tile_cache_misses_total",
        "citygrid_tile_cache_bytes",
        "citygrid_layer_features{layer=",
        "citygrid_layer_memory_bytes{layer=",
        "citygrid_db_pool_connections{state=\"in_use\"}",
        "citygrid_db_pool_max_connections",
        "citygrid_db_pool_acquire_wait_seconds",
        "citygrid_outbox_pending 0",
        "citygrid_outbox_failing 0",
        "# TYPE citygrid_cases_reported_total counter",
        "citygrid_webhook_attempts_total{outcome=\"failed\"} 0",
        "citygrid_build_info{version=",
        "citygrid_http_request_duration_seconds_bucket{route=",
    ] {
        assert!(
            metrics.contains(family),
            "/metrics lacks {family}:\n{metrics}"
        );
    }

    // SIGTERM: a graceful exit with status 0.
    assert!(server.terminate(), "serve exits 0 on SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_db_down_and_recovers() {
    let home = temp_dir("health");
    let (ok, _, err) = local(&home, &["db", "start"]);
    assert!(ok, "{err}");
    let mut command = std::process::Command::new(common::citygrid_bin());
    command
        .env_remove("DATABASE_URL")
        .env("CITYGRID_HOME", &home)
        // Shorter than the pool's 5 s wait for a connection: a read that waited for
        // the database before falling back to the credential cache would time out.
        .env("CITYGRID_REQUEST_TIMEOUT_SECS", "3")
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped());
    let server = TestServer::spawn(command);
    let client = http();
    let health = || async {
        client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(health().await["db"], "ok");
    // An API key used before the outage (map reads come from memory).
    let (ok, key, err) = local(&home, &["key", "create", "--name", "outage"]);
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    let (ok, unused_key, err) = local(&home, &["key", "create", "--name", "never-used"]);
    assert!(ok, "{err}");
    let unused_key = unused_key.trim().to_string();
    let with_key = |key: String| {
        let request = client.get(server.url("/catalog")).header("X-API-Key", key);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(with_key(key.clone()).await, 200);
    let (ok, _, err) = local(&home, &["db", "stop"]);
    assert!(ok, "{err}");
    // /health answers from the state the service tracks (pinged every 2 s): poll.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = health().await;
        assert!(body["db_checked_at"].is_string(), "{body}");
        if body["db"] == "down" {
            assert_eq!(body["status"], "degraded");
            break;
        }
        assert!(Instant::now() < deadline, "health never said down: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Past the credential cache's freshness the key is confirmed from the last
    // verification while the database is away: 200, not 503 (and a key the service
    // has never seen cannot be checked: 503).
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(
        with_key(key.clone()).await,
        200,
        "a known key during the outage"
    );
    assert_eq!(with_key(key.clone()).await, 200);
    assert_eq!(
        with_key(unused_key).await,
        503,
        "an unknown key during the outage"
    );
    let (ok, _, err) = local(&home, &["db", "start"]);
    assert!(ok, "{err}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if health().await["db"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "health did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
    let _ = local(&home, &["db", "stop"]);
}

/// The access log: one JSON line per request with its request id (the client's
/// `X-Request-Id` when it is a tame token), credentials in the query masked, and the
/// client's text escaped (a newline in a path cannot forge a line).
#[tokio::test(flavor = "multi_thread")]
async fn access_log_lines_carry_request_ids() {
    let db = TestDb::new().await;
    let log_path = temp_dir("access_log").join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = common::citygrid(&db);
    command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("CITYGRID_LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(log));
    let server = TestServer::spawn(command);
    let client = http();
    let r = client
        .get(server.url("/catalog?key=secret-key-123&x=1"))
        .header("x-request-id", "dept-system.42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "dept-system.42");
    let r = client
        .get(server.url("/no/such%0Aforged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 16, "{generated}");
    assert!(server.terminate());
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !text.contains("secret-key-123"),
        "a key reached the log:\n{text}"
    );
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "citygrid_access")
        .collect();
    let catalog = lines
        .iter()
        .find(|v| v["request_id"] == "dept-system.42")
        .unwrap_or_else(|| panic!("no access line for the request:\n{text}"));
    assert_eq!(catalog["method"], "GET");
    assert_eq!(catalog["status"], 401, "an unknown key: {catalog}");
    assert!(
        catalog["path"].as_str().unwrap().contains("/catalog"),
        "{catalog}"
    );
    assert!(
        catalog["query"].as_str().unwrap().contains("key=***"),
        "{catalog}"
    );
    assert!(catalog["ms"].is_number(), "{catalog}");
    let missing = lines
        .iter()
        .find(|v| v["request_id"] == generated.as_str())
        .unwrap_or_else(|| panic!("no access line for the 404:\n{text}"));
    assert_eq!(missing["status"], 404);
    // Every line of the log is one JSON object: nothing forged a line.
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON line: {line:?}"
        );
    }
}

//! The end-to-end test harness: a real PostGIS that the harness starts itself, a
//! fresh database per test, and the real `citygrid` binary.
//!
//! The cluster lives under `target/test-pg` and is shared by every test process
//! (start is idempotent and serialised by a lock file). Each test gets its own
//! database, copied from a migrated template, so tests run in parallel without
//! stepping on each other; the database is dropped when the test ends.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use citygrid_db::{ClusterOptions, LocalCluster};
use sqlx::{Connection, PgPool};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the bundled sample data in `data/`.
pub fn data_file(name: &str) -> PathBuf {
    root().join("data").join(name)
}

/// A fresh, empty directory under `target/test-tmp`.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = root()
        .join("target")
        .join("test-tmp")
        .join(format!("{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test temp dir");
    dir
}

/// The harness's own cluster (home `target/test-pg`), started on first use.
pub fn cluster() -> &'static LocalCluster {
    static CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = LocalCluster::with_options(
            &root().join("target").join("test-pg"),
            ClusterOptions { unsafe_fast: true },
        );
        cluster.start().expect("start the test PostGIS cluster");
        cluster
    })
}

fn migrations_hash() -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("migrations"))
        .expect("read migrations")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut hash: u64 = 0xcbf29ce484222325;
    for file in files {
        for b in std::fs::read(&file).unwrap_or_default() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x100000001b3);
        }
    }
    format!("{:012x}", hash & 0xffff_ffff_ffff)
}

/// The migrated template database, made once per schema version.
async fn template() -> String {
    let cluster = cluster();
    let name = format!("cg_template_{}", migrations_hash());
    let admin_url = cluster.url("postgres").expect("cluster url");
    // Serialise template creation across test processes.
    let lock_path = cluster.root().join(".template.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("open template lock");
    let lock = tokio::task::spawn_blocking(move || {
        lock.lock().expect("lock template");
        lock
    })
    .await
    .expect("lock task");
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to test cluster");
    let ready: Option<bool> =
        sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut conn)
            .await
            .expect("query templates");
    if ready != Some(true) {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .expect("drop stale template");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create template");
        let url = cluster.url(&name).expect("template url");
        let pool = citygrid_db::connect(&url, 2, false)
            .await
            .expect("connect template");
        citygrid_db::migrate(&pool).await.expect("migrate template");
        pool.close().await;
        sqlx::query(&format!(
            "UPDATE pg_database SET datistemplate = true WHERE datname = '{name}'"
        ))
        .execute(&mut conn)
        .await
        .expect("mark template");
    }
    drop(lock);
    name
}

/// A fresh database with the current schema, dropped when the value is dropped.
pub struct TestDb {
    /// Its connection URL.
    pub url: String,
    /// A pool on it.
    pub pool: PgPool,
    /// Its name.
    pub name: String,
}

impl TestDb {
    /// Creates the database from the migrated template.
    pub async fn new() -> TestDb {
        let template = template().await;
        let cluster = cluster();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!(
            "cg_t_{}_{}_{}",
            std::process::id(),
            n,
            rand::random::<u32>()
        );
        let admin_url = cluster.url("postgres").expect("cluster url");
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to test cluster");
        let mut attempts = 0;
        loop {
            let result = sqlx::query(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .execute(&mut conn)
            .await;
            match result {
                Ok(_) => break,
                // "source database is being accessed by other users": retry briefly.
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    tracing_log(&format!("create test database: {e}; retrying"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create test database: {e}"),
            }
        }
        let url = cluster.url(&name).expect("test db url");
        let pool = citygrid_db::connect(&url, 8, false)
            .await
            .expect("connect test db");
        TestDb { url, pool, name }
    }
}

fn tracing_log(message: &str) {
    eprintln!("[harness] {message}");
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let Ok(admin_url) = cluster().url("postgres") else {
            return;
        };
        // Drop from a thread of its own: Drop may run inside a tokio runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut conn)
                            .await;
                }
            });
        })
        .join();
    }
}

/// The built `citygrid` binary.
pub fn citygrid_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_citygrid"))
}

/// A `citygrid` command that uses `db` (DATABASE_URL set, its own CITYGRID_HOME).
pub fn citygrid(db: &TestDb) -> Command {
    let mut command = Command::new(citygrid_bin());
    command
        .env("DATABASE_URL", &db.url)
        .env("CITYGRID_HOME", temp_dir("home"))
        .env("CITYGRID_CONFIG", "/nonexistent-is-fine-when-unset")
        .env_remove("CITYGRID_CONFIG")
        .env_remove("CITYGRID_BIND")
        .current_dir(temp_dir("cwd"));
    command
}

/// Runs a command to completion; returns (status ok, stdout, stderr).
pub fn run(command: &mut Command) -> (bool, String, String) {
    let out = command.output().expect("run citygrid");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `citygrid ARGS` against `db` that must succeed; its stdout.
pub fn cli_ok(db: &TestDb, args: &[&str]) -> String {
    let (ok, out, err) = run(citygrid(db).args(args));
    assert!(ok, "citygrid {args:?} failed: {err}");
    out
}

/// `citygrid ARGS` against `db` that must fail with one line `citygrid: error: …`
/// containing `says` (no panic).
pub fn cli_refused(db: &TestDb, args: &[&str], says: &str) {
    let (ok, _, err) = run(citygrid(db).args(args));
    assert!(!ok, "citygrid {args:?} should fail");
    let err = err.trim_end();
    assert_eq!(err.lines().count(), 1, "one line for {args:?}: {err}");
    assert!(err.starts_with("citygrid: error: "), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err:?} should say {says:?}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A `citygrid serve` process on 127.0.0.1 with a free port; killed on drop.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    child: Child,
}

impl TestServer {
    /// Starts `citygrid serve` against `db` and waits until it listens.
    pub fn start(db: &TestDb) -> TestServer {
        TestServer::start_with(db, &[])
    }

    /// As [`TestServer::start`], with extra environment variables.
    pub fn start_with(db: &TestDb, env: &[(&str, &str)]) -> TestServer {
        let mut command = citygrid(db);
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        TestServer::spawn(command)
    }

    /// Spawns a prepared `serve` command (its stdout must be piped).
    pub fn spawn(mut command: Command) -> TestServer {
        let mut child = command.spawn().expect("spawn citygrid serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let reader = BufReader::new(stdout);
            let mut sent = false;
            for line in reader.lines().map_while(Result::ok) {
                if !sent {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let _ = tx.send(rest.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("citygrid serve did not start listening within 60 s");
            }
        };
        TestServer { base, child }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        // SAFETY: kill(2) with a pid we own and SIGTERM has no memory effects.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for the tests (no proxies: everything is on 127.0.0.1).
/// The server's `/metrics` text.
pub async fn metrics_text(server: &TestServer) -> String {
    http()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics text")
}

/// The value of the unlabelled metric `name` in the server's `/metrics`.
pub async fn metric_value(server: &TestServer, name: &str) -> u64 {
    let text = metrics_text(server).await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
        .trim()
        .parse()
        .expect("a count")
}

/// The JSON body of an anonymous GET of `path` (any status).
pub async fn get_json(server: &TestServer, path: &str) -> serde_json::Value {
    http()
        .get(server.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
}

/// Announces a change of layer `id` as the catalogue does (`citygrid_layers`), so a
/// running server loads it again.
pub async fn notify_layer(db: &TestDb, id: &str) {
    sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
        .bind(id)
        .execute(&db.pool)
        .await
        .expect("pg_notify");
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// Creates a user directly in the database with the `citygrid user add` command.
pub fn add_user(db: &TestDb, name: &str, role: &str, department: Option<&str>, password: &str) {
    add_user_with(citygrid(db), name, role, department, password);
}

/// `citygrid user add` with `command` (a `citygrid` command pointed at a database).
pub fn add_user_with(
    mut command: Command,
    name: &str,
    role: &str,
    department: Option<&str>,
    password: &str,
) {
    use std::io::Write;
    command.args(["user", "add", name, "--role", role]);
    if let Some(d) = department {
        command.args(["--department", d]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn user add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("user add");
    assert!(
        out.status.success(),
        "user add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a path exists (helper for readability).
pub fn exists(path: &Path) -> bool {
    path.exists()
}
pub mod mvt;
pub mod pmtiles;
pub mod tiles;

//! The inspector page offline, end to end (issue 18): a real `citygrid serve` on
//! PostGIS on a fixed port, the pages built from `web/`, headless Chromium driven by
//! `tests/browser/inspector_offline.mjs`. This test owns the server: it kills it
//! while the page is reopened offline and while a report is being sent, restarts it
//! on the same port, and checks in PostgreSQL that every report became exactly one
//! case with its photos, each photo of the stage `report` — also when the server's
//! answers to a case and to its photo are lost after it did the work, and when the
//! sign-in was revoked meanwhile (kept until the inspector signs in again).
//!
//! The script prints `STEP <name>` lines; this test answers on its stdin.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{TestDb, TestServer};
use serde_json::json;

/// South-west corner of the district (Wuhan) and its size in degrees.
const W: f64 = 114.300;
const S: f64 = 30.580;

/// Builds `web/dist` once (`npm ci` first when needed).
fn built_pages() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let web = common::root().join("web");
            if !web.join("node_modules").join("maplibre-gl").is_dir()
                || !web.join("node_modules").join("playwright-core").is_dir()
            {
                let out = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund"])
                    .current_dir(&web)
                    .output()
                    .map_err(|e| format!("cannot run npm ({e}): run scripts/install-deps.sh"))?;
                if !out.status.success() {
                    return Err(format!(
                        "npm ci failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            let out = Command::new("node")
                .arg("build.mjs")
                .current_dir(&web)
                .output()
                .map_err(|e| format!("cannot run node ({e}): run scripts/install-deps.sh"))?;
            if !out.status.success() {
                return Err(format!(
                    "web build failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(web.join("dist"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn sql(db: &TestDb, statement: &str) {
    sqlx::query(statement)
        .execute(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

fn cli(db: &TestDb, args: &[&str]) {
    let (ok, _, err) = common::run(common::citygrid(db).args(args));
    assert!(ok, "citygrid {args:?}: {err}");
}

/// The district layer, the reference data and 100 m unit grids over it.
async fn district(db: &TestDb) {
    sql(
        db,
        &format!(
            "CREATE TABLE layers.district AS SELECT 1::bigint AS fid, \
             ST_MakeEnvelope({W}, {S}, {W} + 0.012, {S} + 0.008, 4326) AS geom, 'district' AS name"
        ),
    )
    .await;
    sql(db, "ALTER TABLE layers.district ADD PRIMARY KEY (fid)").await;
    sql(
        db,
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT 'district', 'District', 'vector', 'Polygon', '[{\"name\":\"name\",\"type\":\"text\"}]'::jsonb, 1, \
         ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.district",
    )
    .await;
    sql(db, "SELECT pg_notify('citygrid_layers', 'district')").await;
    cli(db, &["grid", "seed-reference"]);
    cli(
        db,
        &[
            "grid",
            "generate",
            "--area",
            "district",
            "--admin-code",
            "420102",
            "--cell-m",
            "100",
        ],
    );
}

/// `citygrid serve` on `port` with the built pages; waits until it listens.
fn serve(db: &TestDb, port: u16, dist: &std::path::Path) -> TestServer {
    let mut command = common::citygrid(db);
    command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("CITYGRID_WEB_DIR", dist)
        .env("CITYGRID_PUBLIC_LAYERS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    TestServer::spawn(command)
}

/// Waits until the server has loaded layer `id` (a tile answers).
async fn wait_loaded(server: &TestServer, id: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = common::http()
            .get(server.url(&format!("/tiles/{id}/0/0/0")))
            .bearer_auth(token)
            .send()
            .await
            .expect("tile")
            .status();
        if status != 409 && status != 404 {
            return;
        }
        assert!(Instant::now() < deadline, "layer {id} never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The browser script: its stdin, and its stdout lines as they come.
struct Script {
    child: std::process::Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Script {
    /// Waits for `STEP name`; panics (with what the script said) on anything else.
    fn expect(&mut self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.trim() == format!("STEP {name}") => return,
                Ok(_) => {}
                Err(_) => {
                    let _ = self.child.kill();
                    let status = self.child.wait().ok();
                    panic!("the browser script ended or stalled before STEP {name} ({status:?})");
                }
            }
        }
    }

    fn say(&mut self, word: &str) {
        writeln!(self.stdin, "{word}").expect("write to the browser script");
        self.stdin.flush().expect("flush");
    }
}

fn browser_script(env: &[(&str, String)]) -> Script {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists()
            || std::env::var_os("CHROMIUM").is_some(),
        "the browser tests need Chromium: run scripts/install-deps.sh (Debian package chromium)"
    );
    let mut command = Command::new("node");
    command
        .arg(
            common::root()
                .join("tests")
                .join("browser")
                .join("inspector_offline.mjs"),
        )
        .env(
            "SCREENSHOT_DIR",
            common::root().join("target").join("screenshots"),
        )
        .current_dir(common::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("run node");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Script {
        child,
        stdin,
        lines,
    }
}

/// (case count, notes) of the inspector's cases.
async fn cases(db: &TestDb) -> Vec<(i64, String, i64, Vec<String>)> {
    sqlx::query_as(
        "SELECT c.id, coalesce(c.description, ''), \
                (SELECT count(*) FROM case_photos p WHERE p.case_id = c.id), \
                coalesce((SELECT array_agg(p.stage::text ORDER BY p.id) FROM case_photos p WHERE p.case_id = c.id), '{}') \
         FROM cases c JOIN users u ON u.id = c.reporter_user_id \
         WHERE u.username = 'insp_offline' ORDER BY c.id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("cases")
}

#[tokio::test(flavor = "multi_thread")]
async fn inspector_reports_offline_exactly_once() {
    let db = TestDb::new().await;
    district(&db).await;
    let password = format!("pw-offline-{}", rand::random::<u32>());
    common::add_user(&db, "insp_offline", "inspector", None, &password);
    // The inspector answers for the 3×2 grids in the district's south-west corner.
    let own = [W + 0.0002, S + 0.0002, W + 0.0028, S + 0.0017];
    sql(
        &db,
        &format!(
            "UPDATE layers.unit_grids SET responsible = 'insp_offline' \
             WHERE ST_Intersects(geom, ST_MakeEnvelope({}, {}, {}, {}, 4326))",
            own[0], own[1], own[2], own[3]
        ),
    )
    .await;
    let (grids, bbox): (i64, Vec<f64>) = sqlx::query_as(
        "SELECT count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.unit_grids WHERE responsible = 'insp_offline'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("own grids");
    assert!(grids >= 2, "the inspector has grids ({grids})");
    let dist = built_pages();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut server = serve(&db, port, &dist);
    let token: String = {
        let login: serde_json::Value = common::http()
            .post(server.url("/api/auth/login"))
            .json(&json!({"username": "insp_offline", "password": password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login json");
        login["token"].as_str().expect("token").to_string()
    };
    for id in ["unit_grids", "district"] {
        wait_loaded(&server, id, &token).await;
    }
    let inside = ((own[0] + own[2]) / 2.0, (own[1] + own[3]) / 2.0);
    let fixture = json!({
        "user": ["insp_offline", password],
        "inside": [inside.0, inside.1],
        "outside": [W + 0.05, S + 0.05],
        "grids_bbox": bbox,
        "category": "E0101",
    });
    let mut script = browser_script(&[
        ("CITYGRID_URL", server.base.clone()),
        ("FIXTURE", fixture.to_string()),
    ]);

    // The tab is closed offline: the server goes down too, so the page can only
    // come from the service worker.
    script.expect("closed-offline");
    drop(server);
    script.say("server-down");
    script.expect("reopened-offline");
    assert!(
        cases(&db).await.is_empty(),
        "nothing reached the server while offline"
    );
    server = serve(&db, port, &dist);
    script.say("server-up");

    // Back online: three cases, the first with its two photos, all of stage report.
    script.expect("offline-sent");
    let got = cases(&db).await;
    let notes: Vec<&str> = got.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(
        notes,
        [
            "offline report 1 with two photos",
            "offline report 2",
            "offline report 3"
        ],
        "exactly the three offline reports, once each"
    );
    assert_eq!(got[0].2, 2, "the first report's two photos");
    assert_eq!(got[0].3, ["report", "report"], "photos of the report stage");
    assert_eq!((got[1].2, got[2].2), (0, 0));

    // The server is killed while a report is being sent: the case insert waits on
    // a lock this test holds, the server dies, the lock goes, the server restarts
    // on the same port and the page's outbox sends the report again.
    let mut lock = db.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE cases IN SHARE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock cases");
    script.say("go-kill");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .fetch_one(&db.pool)
        .await
        .expect("waiting");
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the report never reached the case insert"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
    lock.rollback().await.expect("unlock");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _server = serve(&db, port, &dist);
    script.expect("sending");
    script.say("restarted");
    script.expect("resent");
    let got = cases(&db).await;
    let resent = got
        .iter()
        .filter(|c| c.1 == "sent while the server dies")
        .count();
    assert_eq!(resent, 1, "exactly one case for the report: {got:?}");
    assert_eq!(got.len(), 4, "{got:?}");

    // The answers to the case and to its photo are lost after the server did the
    // work: the resends (same keys) create one case with one photo.
    script.say("go-lost");
    script.expect("lost-sent");
    let got = cases(&db).await;
    let lost: Vec<_> = got.iter().filter(|c| c.1 == "answers lost").collect();
    assert_eq!(lost.len(), 1, "exactly one case: {got:?}");
    assert_eq!(lost[0].2, 1, "exactly one photo: {got:?}");
    assert_eq!(lost[0].3, ["report"]);
    assert_eq!(got.len(), 5, "{got:?}");

    // A report the server refuses (outside every grid) stays in the outbox.
    script.say("go-422");
    script.expect("refused");
    assert_eq!(cases(&db).await.len(), 5, "the refused report made no case");

    // The refused report is edited and sent; then the inspector's sessions are
    // revoked while a report waits offline: it is kept until the inspector signs in
    // again, then sent once.
    script.say("go-revoke");
    script.expect("queued-for-revoke");
    // Edited (moved into the inspector's grid), the refused report became one case.
    let got = cases(&db).await;
    assert_eq!(
        got.iter().filter(|c| c.1 == "moved into my grid").count(),
        1,
        "{got:?}"
    );
    assert_eq!(got.len(), 6, "{got:?}");
    cli(&db, &["user", "revoke", "insp_offline"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = common::http()
            .get(format!("http://127.0.0.1:{port}/api/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("me")
            .status();
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the revoked token still works");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    script.say("revoked");
    script.expect("resigned");
    let status = script.child.wait().expect("node exit");
    assert!(status.success(), "the browser script failed ({status})");
    let got = cases(&db).await;
    assert_eq!(
        got.iter()
            .filter(|c| c.1 == "after the sign-in expired")
            .count(),
        1,
        "{got:?}"
    );
    assert_eq!(got.len(), 7, "{got:?}");
}

//! The web pages end to end: a real `citygrid serve` on PostGIS, the pages built
//! from `web/` (MapLibre from npm, no CDN), and the Playwright scripts of
//! `tests/browser/` driving Debian's headless Chromium against them. Screenshots
//! land in `target/screenshots/`.
//!
//! Needs `node`/`npm` and `/usr/bin/chromium` (`scripts/install-deps.sh` installs
//! them); `make web` builds the pages, and this test rebuilds them from `web/src`
//! (running `npm ci` first when `web/node_modules` is missing).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{http, TestDb, TestServer};
use serde_json::{json, Value};

/// One browser at a time: the machine has two cores.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn web_dir() -> PathBuf {
    common::root().join("web")
}

/// Builds `web/dist` once per test run (`npm ci` first if needed); panics with
/// what to install when node or npm is missing.
fn built_pages() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let web = web_dir();
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
                        "npm ci failed in web/: {}",
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

/// Runs `node tests/browser/<script>` with `env`; panics with its output on failure.
fn node(script: &str, env: &[(&str, String)]) {
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "the browser tests need Chromium: run scripts/install-deps.sh (Debian package chromium)"
    );
    let shots = common::root().join("target").join("screenshots");
    let mut command = Command::new("node");
    command
        .arg(common::root().join("tests").join("browser").join(script))
        .env("SCREENSHOT_DIR", &shots)
        .current_dir(common::root());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "browser test {script} failed:\n{stdout}\n{stderr}"
    );
}

async fn sql(db: &TestDb, statement: &str) {
    sqlx::query(statement)
        .execute(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Makes a vector layer from a SELECT of (fid, geom, name, …) and catalogues it.
async fn make_layer(db: &TestDb, id: &str, title: &str, geometry_type: &str, select: &str) {
    sql(db, &format!("CREATE TABLE layers.\"{id}\" AS {select}")).await;
    sql(
        db,
        &format!("ALTER TABLE layers.\"{id}\" ADD PRIMARY KEY (fid)"),
    )
    .await;
    sqlx::query(&format!(
        "INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, feature_count, bounds) \
         SELECT $1, $2, 'vector', $3, \
                '[{{\"name\":\"name\",\"type\":\"text\"}},{{\"name\":\"rank\",\"type\":\"integer\"}}]'::jsonb, \
                count(*), ARRAY[ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))] \
         FROM layers.\"{id}\""
    ))
    .bind(id)
    .bind(title)
    .bind(geometry_type)
    .execute(&db.pool)
    .await
    .expect("catalogue layer");
    sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
        .bind(id)
        .execute(&db.pool)
        .await
        .expect("notify");
}

/// Longitude and latitude of the south-west corner of the sample district (Wuhan).
const W: f64 = 114.300;
const S: f64 = 30.580;

/// A small district in Wuhan: 20×10 buildings 0.0004° wide every 0.001°, ten
/// roads between the rows, points of interest, and cases (one overdue).
async fn sample_district(db: &TestDb) {
    make_layer(
        db,
        "buildings",
        "Buildings",
        "Polygon",
        &format!(
            "SELECT i::bigint AS fid, ST_MakeEnvelope({W} + (i % 20) * 0.001, {S} + (i / 20) * 0.001, \
                    {W} + (i % 20) * 0.001 + 0.0004, {S} + (i / 20) * 0.001 + 0.0004, 4326) AS geom, \
                    'b' || i AS name, i % 5 AS rank FROM generate_series(0, 199) i"
        ),
    )
    .await;
    make_layer(
        db,
        "roads",
        "Roads",
        "LineString",
        &format!(
            "SELECT i::bigint AS fid, ST_SetSRID(ST_MakeLine(ST_MakePoint({W} - 0.0005, {S} + i * 0.001 + 0.0007), \
                    ST_MakePoint({W} + 0.0200, {S} + i * 0.001 + 0.0007)), 4326) AS geom, \
                    'Road ' || i AS name, 1 AS rank FROM generate_series(0, 9) i"
        ),
    )
    .await;
    make_layer(
        db,
        "pois",
        "Places",
        "Point",
        &format!(
            "SELECT i::bigint AS fid, ST_SetSRID(ST_MakePoint({W} + i * 0.002 + 0.0007, {S} + 0.0052), 4326) AS geom, \
                    'Square ' || i AS name, 1 AS rank FROM generate_series(0, 9) i"
        ),
    )
    .await;
    sql(
        db,
        &format!(
            "INSERT INTO layers.cases (fid, geom, case_no, status, category, overdue, reported_at, due_at) VALUES \
             (1, ST_SetSRID(ST_MakePoint({W} + 0.0047, {S} + 0.0027), 4326), '2025-000001', 'handling', 'P0101', true, now() - interval '3 days', now() - interval '1 day'), \
             (2, ST_SetSRID(ST_MakePoint({W} + 0.0087, {S} + 0.0037), 4326), '2025-000002', 'registered', 'E0101', false, now(), now() + interval '1 day')"
        ),
    )
    .await;
    sql(db, "SELECT pg_notify('citygrid_layers', 'cases')").await;
}

/// Waits until the server has loaded layer `id`.
async fn wait_loaded(server: &TestServer, id: &str, key: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = http().get(server.url(&format!("/tiles/{id}/0/0/0")));
        if let Some(k) = key {
            request = request.header("X-API-Key", k);
        }
        let status = request.send().await.expect("tile").status();
        if status != 409 && status != 404 {
            return;
        }
        assert!(Instant::now() < deadline, "layer {id} never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start(db: &TestDb, env: &[(&str, &str)]) -> TestServer {
    let dist = built_pages();
    let mut all = vec![("CITYGRID_WEB_DIR", dist.to_str().expect("utf-8 path"))];
    all.extend_from_slice(env);
    TestServer::start_with(db, &all)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread")]
async fn viewer_in_a_browser() {
    let db = TestDb::new().await;
    sample_district(&db).await;
    // Chinese names on the buildings: the map labels with them after the switch.
    sql(&db, "ALTER TABLE layers.buildings ADD COLUMN name_zh text").await;
    sql(&db, "UPDATE layers.buildings SET name_zh = '楼' || fid").await;
    sql(
        &db,
        "UPDATE layer_catalog SET fields = fields || '[{\"name\":\"name_zh\",\"type\":\"text\"}]'::jsonb \
         WHERE id = 'buildings'",
    )
    .await;
    sql(&db, "SELECT pg_notify('citygrid_layers', 'buildings')").await;
    // The anonymous viewer shows overdue cases: the cases layer's public view.
    let server = start(&db, &[("CITYGRID_CASES_PUBLIC_VIEW", "status")]);
    for id in ["buildings", "roads", "pois", "cases"] {
        wait_loaded(&server, id, None).await;
    }
    // The query box lies in the gaps between buildings: columns 2..=6, rows 1..=3.
    let bx = [W + 0.0017, S + 0.00075, W + 0.0067, S + 0.00375];
    let in_box: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM layers.buildings WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))",
    )
    .bind(bx[0])
    .bind(bx[1])
    .bind(bx[2])
    .bind(bx[3])
    .fetch_one(&db.pool)
    .await
    .expect("count");
    assert_eq!(in_box, 15);
    let password = format!("pw-lead-{}", rand::random::<u32>());
    common::add_user(&db, "lead_viewer", "shift_leader", None, &password);
    let fixture = json!({
        "building": {"lon": W + 0.0122, "lat": S + 0.0042, "name": "b92", "name_zh": "楼92"},
        "search": "Square 3",
        "case_no": "2025-000001",
        "measure": [W + 0.0015, S + 0.0009, W + 0.0115, S + 0.0049],
        "box": bx,
        "box_buildings": in_box,
        "user": ["lead_viewer", password],
    });
    let _browser = BROWSER.lock().await;
    node(
        "viewer.mjs",
        &[
            ("CITYGRID_URL", server.base.clone()),
            ("FIXTURE", fixture.to_string()),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_maps_on_other_origins() {
    let db = TestDb::new().await;
    sample_district(&db).await;
    let good_port = free_port();
    let bad_port = free_port();
    let (ok, key, err) = common::run(common::citygrid(&db).args([
        "key",
        "create",
        "--name",
        "water-bureau-site",
        "--layers",
        "buildings,roads",
        "--origins",
        &format!("http://127.0.0.1:{good_port}"),
    ]));
    assert!(ok, "key create: {err}");
    let key = key.trim().to_string();
    let server = start(&db, &[("CITYGRID_PUBLIC_LAYERS", "false")]);
    for id in ["buildings", "roads"] {
        wait_loaded(&server, id, Some(&key)).await;
    }
    let _browser = BROWSER.lock().await;
    node(
        "embed.mjs",
        &[
            ("CITYGRID_URL", server.base.clone()),
            ("EMBED_KEY", key),
            ("GOOD_PORT", good_port.to_string()),
            ("BAD_PORT", bad_port.to_string()),
        ],
    );
}

/// Runs `citygrid <args>` against `db`; panics with its stderr on failure.
/// The managed area over the sample district: reference data and 100 m unit grids.
async fn managed_district(db: &TestDb) {
    make_layer(
        db,
        "district",
        "District",
        "Polygon",
        &format!(
            "SELECT 1::bigint AS fid, ST_MakeEnvelope({W} - 0.001, {S} - 0.001, {W} + 0.021, {S} + 0.011, 4326) AS geom, \
                    'district' AS name, 1 AS rank"
        ),
    )
    .await;
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

fn cli(db: &TestDb, args: &[&str]) -> String {
    let (ok, out, err) = common::run(common::citygrid(db).args(args));
    assert!(ok, "citygrid {args:?}: {err}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn case_workflow_through_the_pages() {
    let db = TestDb::new().await;
    sample_district(&db).await;
    // The managed area: reference data, unit grids over the district, one water
    // cover maintained by the municipal works (so routing suggests them, not the
    // category's default, the water company).
    managed_district(&db).await;
    let cover = (W + 0.0071, S + 0.0026);
    sqlx::query(
        "INSERT INTO layers.components (geom, component_id, category_code, name, state, \
             owning_department, maintaining_department) \
         VALUES (ST_SetSRID(ST_MakePoint($1, $2), 4326), '4201020101000001', 'P0101', \
             'Water cover at Road 2', 'damaged', 'water', 'roads')",
    )
    .bind(cover.0)
    .bind(cover.1)
    .execute(&db.pool)
    .await
    .expect("component");
    sql(&db, "SELECT pg_notify('citygrid_layers', 'components')").await;
    let users = [
        ("inspector", "insp_li", None),
        ("acceptor", "acc_wang", None),
        ("dispatcher", "disp_zhao", None),
        ("department", "roads_chen", Some("roads")),
        ("shift_leader", "lead_sun", None),
    ];
    let mut accounts = serde_json::Map::new();
    for (role, name, department) in users {
        let password = format!("pw-{name}-{}", rand::random::<u32>());
        common::add_user(&db, name, role, department, &password);
        accounts.insert(role.to_string(), json!([name, password]));
    }
    // Layers are not public here: the pages' maps must use the signed-in user's token.
    let key = cli(&db, &["key", "create", "--name", "test-wait"]);
    let server = start(&db, &[("CITYGRID_PUBLIC_LAYERS", "false")]);
    for id in ["buildings", "components", "unit_grids", "cases"] {
        wait_loaded(&server, id, Some(key.trim())).await;
    }
    // The inspector stands by the cover, in a unit grid he answers for, so its
    // field tasks are his (a pool task, in a grid of nobody, is never for the
    // reporter of the case).
    let point = (cover.0 + 0.00003, cover.1 + 0.00002);
    sql(
        &db,
        &format!(
            "UPDATE layers.unit_grids SET responsible = 'insp_li' \
             WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint({}, {}), 4326))",
            point.0, point.1
        ),
    )
    .await;
    // Someone reported the same cover an hour ago: the new report is its duplicate.
    let client = http();
    let inspector = &accounts["inspector"];
    let login: Value = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": inspector[0], "password": inspector[1]}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["token"].as_str().expect("token");
    let earlier: Value = client
        .post(server.url("/api/cases"))
        .bearer_auth(token)
        .json(&json!({"category": "P0101", "lon": point.0, "lat": point.1, "description": "Cover loose"}))
        .send()
        .await
        .expect("earlier case")
        .json()
        .await
        .expect("case json");
    let earlier_no = earlier["case_no"]
        .as_str()
        .expect("case number")
        .to_string();
    // The inspector stands four metres from the cover.
    let fixture = json!({
        "earlier_case": earlier_no,
        "point": [point.0, point.1],
        "component_id": "4201020101000001",
        "category": "P0101",
        "department": "roads",
        "users": accounts,
    });
    let _browser = BROWSER.lock().await;
    node(
        "workflow.mjs",
        &[
            ("CITYGRID_URL", server.base.clone()),
            ("FIXTURE", fixture.to_string()),
        ],
    );
    // What the pages did is in the database: one closed case with every step.
    let steps: Vec<String> = sqlx::query_scalar(
        "SELECT e.action FROM case_events e JOIN cases c ON c.id = e.case_id \
         WHERE c.component_id = '4201020101000001' AND c.status = 'closed' ORDER BY e.id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("events");
    assert_eq!(
        steps,
        [
            "report",
            "register",
            "dispatch",
            "accept",
            "feedback",
            "request_check",
            "check_pass",
            "close"
        ]
    );
    let (status, department, photos, feedback_photos): (String, Option<String>, i64, i64) =
        sqlx::query_as(
            "SELECT status, department, \
             (SELECT count(*) FROM case_photos p WHERE p.case_id = c.id), \
             (SELECT count(*) FROM case_photos p WHERE p.case_id = c.id AND p.stage = 'feedback') \
             FROM cases c WHERE component_id = '4201020101000001' AND status = 'closed'",
        )
        .fetch_one(&db.pool)
        .await
        .expect("case");
    assert_eq!(status, "closed");
    assert_eq!(department.as_deref(), Some("roads"));
    // the report's photo and the one the inspector added afterwards, the feedback's and
    // the one the department added afterwards
    assert_eq!((photos, feedback_photos), (4, 2));
}

/// The next instant after now (by the real clock) at `hour:minute` in Beijing.
fn next_in_beijing(hour: u32, minute: u32) -> chrono::DateTime<chrono::FixedOffset> {
    use chrono::{Duration as Days, FixedOffset, TimeZone, Utc};
    let beijing = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let now = Utc::now().with_timezone(&beijing);
    let at = |date: chrono::NaiveDate| {
        beijing
            .from_local_datetime(&date.and_hms_opt(hour, minute, 0).expect("time"))
            .single()
            .expect("Beijing has no gaps")
    };
    let today = at(now.date_naive());
    // A minute's margin: the server must start before the hour comes round.
    if today > now + Days::minutes(1) {
        today
    } else {
        at(now.date_naive() + Days::days(1))
    }
}

/// The evaluation period is the city's days at any hour: with the service's and the
/// browser's clocks at 00:30 and at 23:30 Beijing time (16:30 and 15:30 UTC, on
/// either side of the UTC date change), a case just reported is in the dashboard's
/// default period, whose "To" is today in Beijing and inclusive.
#[tokio::test(flavor = "multi_thread")]
async fn evaluation_period_around_midnight_in_beijing() {
    let db = TestDb::new().await;
    managed_district(&db).await;
    let inspector = format!("pw-insp-{}", rand::random::<u32>());
    let leader = format!("pw-lead-{}", rand::random::<u32>());
    common::add_user(&db, "insp_mid", "inspector", None, &inspector);
    common::add_user(&db, "lead_mid", "shift_leader", None, &leader);
    let client = http();
    let mut reported_days: Vec<chrono::NaiveDate> = Vec::new();
    for (label, hour, minute) in [("0030", 0, 30), ("2330", 23, 30)] {
        let clock = next_in_beijing(hour, minute);
        let today = clock.date_naive();
        let server = start(&db, &[("CITYGRID_CLOCK", &clock.to_rfc3339())]);
        let token = |user: &'static str, password: String| {
            let client = client.clone();
            let url = server.url("/api/auth/login");
            async move {
                let login: Value = client
                    .post(url)
                    .json(&json!({"username": user, "password": password}))
                    .send()
                    .await
                    .expect("login")
                    .json()
                    .await
                    .expect("login json");
                login["token"].as_str().expect("token").to_string()
            }
        };
        let insp = token("insp_mid", inspector.clone()).await;
        let lead = token("lead_mid", leader.clone()).await;
        let r = client
            .post(server.url("/api/cases"))
            .bearer_auth(&insp)
            .json(&json!({"category": "P0101", "lon": W + 0.005, "lat": S + 0.005, "description": label}))
            .send()
            .await
            .expect("report");
        assert_eq!(r.status(), 201, "report at {clock}");
        let case: Value = r.json().await.expect("case json");
        let reported_at = chrono::DateTime::parse_from_rfc3339(
            case["reported_at"].as_str().expect("reported_at"),
        )
        .expect("reported_at is RFC 3339");
        assert_eq!(
            reported_at.with_timezone(&clock.timezone()).date_naive(),
            today,
            "the case is reported by the service's clock ({clock}): {case}"
        );
        reported_days.push(today);
        let first_day = today - chrono::Duration::days(29);
        let in_period = |from: chrono::NaiveDate, to: chrono::NaiveDate| {
            reported_days
                .iter()
                .filter(|d| **d >= from && **d <= to)
                .count()
        };
        let evaluation = |query: String| {
            let client = client.clone();
            let url = server.url(&format!("/api/stats/evaluation{query}"));
            let lead = lead.clone();
            async move {
                let r = client
                    .get(url)
                    .bearer_auth(lead)
                    .send()
                    .await
                    .expect("evaluation");
                assert_eq!(r.status(), 200);
                r.json::<Value>().await.expect("evaluation json")
            }
        };
        // The default period: the 30 days up to and including today in Beijing.
        let ev = evaluation(String::new()).await;
        assert_eq!(ev["today"], today.to_string(), "{ev}");
        assert_eq!(ev["to_date"], today.to_string(), "{ev}");
        assert_eq!(ev["from_date"], first_day.to_string(), "{ev}");
        assert_eq!(
            ev["total"]["counts"]["reported"],
            in_period(first_day, today),
            "{label}: {ev}"
        );
        // "To" is inclusive: today..today has today's case, yesterday..yesterday not.
        let day = |d: chrono::NaiveDate| format!("?from={d}&to={d}");
        let ev = evaluation(day(today)).await;
        assert_eq!(
            ev["total"]["counts"]["reported"],
            in_period(today, today),
            "{ev}"
        );
        assert!(in_period(today, today) >= 1);
        let yesterday = today - chrono::Duration::days(1);
        let ev = evaluation(day(yesterday)).await;
        assert_eq!(
            ev["total"]["counts"]["reported"],
            in_period(yesterday, yesterday),
            "{ev}"
        );
        // The presets are the city's days too: "today" has today's case, "year" starts
        // on 1 January of the city's year.
        let ev = evaluation("?period=today".into()).await;
        assert_eq!(ev["from_date"], today.to_string(), "{ev}");
        assert_eq!(ev["to_date"], today.to_string(), "{ev}");
        assert_eq!(
            ev["total"]["counts"]["reported"],
            in_period(today, today),
            "{label}: {ev}"
        );
        let ev = evaluation("?period=year".into()).await;
        assert_eq!(
            ev["from_date"],
            format!("{}-01-01", today.format("%Y")),
            "{ev}"
        );
        let download =
            std::env::temp_dir().join(format!("cg-evaluation-{label}-{}.xlsx", std::process::id()));
        let fixture = json!({
            "label": label,
            "clock": clock.to_rfc3339(),
            "today": today.to_string(),
            "first_day": first_day.to_string(),
            "reported": in_period(first_day, today),
            "reported_today": in_period(today, today),
            "download": download.to_string_lossy(),
            "user": ["lead_mid", leader],
        });
        let _browser = BROWSER.lock().await;
        node(
            "evaluation.mjs",
            &[
                ("CITYGRID_URL", server.base.clone()),
                ("FIXTURE", fixture.to_string()),
            ],
        );
        // The XLSX the dashboard's export button downloaded holds the API's numbers.
        let ev = evaluation(format!("?from={first_day}&to={today}&by=department")).await;
        let sheet = xlsx_rows(&download);
        std::fs::remove_file(&download).ok();
        let mut want: Vec<&Value> = ev["groups"].as_array().expect("groups").iter().collect();
        want.push(&ev["total"]);
        assert_eq!(sheet.len(), want.len() + 1, "{label}: {sheet:?}");
        for (row, g) in sheet[1..].iter().zip(want) {
            for (i, k) in ["reported", "registered", "dispatched"].iter().enumerate() {
                assert_eq!(
                    row[2 + i],
                    g["counts"][k].as_f64().expect("count"),
                    "{label}: {k} of {row:?}"
                );
            }
        }
    }
}

/// The numbers of an XLSX export's sheet (text cells as NaN), row by row.
fn xlsx_rows(path: &std::path::Path) -> Vec<Vec<f64>> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook(path).expect("the export is an XLSX workbook");
    let range = book
        .worksheet_range("evaluation")
        .expect("sheet evaluation");
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(f) => *f,
                    Data::Int(i) => *i as f64,
                    _ => f64::NAN,
                })
                .collect()
        })
        .collect()
}

/// The page and CORS headers, without a browser.
#[tokio::test(flavor = "multi_thread")]
async fn page_security_headers() {
    let db = TestDb::new().await;
    let (ok, key, err) = common::run(common::citygrid(&db).args([
        "key",
        "create",
        "--name",
        "site",
        "--origins",
        "https://gis.example.gov.cn",
    ]));
    assert!(ok, "key create: {err}");
    let key = key.trim().to_string();
    let server = start(&db, &[]);
    let client = http();
    for path in ["/", "/inspector", "/console", "/embed"] {
        let r = client.get(server.url(path)).send().await.expect("page");
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().expect("csp");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("worker-src blob:"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let body = r.text().await.expect("body");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
    }
    // The frameable map: its key's origins (and citygrid itself) may frame it.
    let r = client
        .get(server.url(&format!("/embed/map?key={key}")))
        .send()
        .await
        .expect("embed map");
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(
        csp.ends_with("frame-ancestors 'self' https://gis.example.gov.cn"),
        "{csp}"
    );
    assert!(r.headers().get("x-frame-options").is_none());
    // From a page on another origin the key is refused, with an HTML page that says so.
    let r = client
        .get(server.url(&format!("/embed/map?key={key}")))
        .header("referer", "https://elsewhere.example/page")
        .send()
        .await
        .expect("embed map");
    assert_eq!(r.status(), 403);
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/html"));
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("may not be used from https://elsewhere.example"));
    // A layer outside the key, or a bad layer id, is refused with a page too.
    let r = client
        .get(server.url("/embed/map?layers=No-Such"))
        .send()
        .await
        .expect("embed map");
    assert_eq!(r.status(), 400);
    // CORS: preflight for X-API-Key; the allowed origin is reflected, others are not.
    let r = client
        .request(reqwest::Method::OPTIONS, server.url("/styles/default.json"))
        .header("origin", "https://gis.example.gov.cn")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "x-api-key")
        .send()
        .await
        .expect("preflight");
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://gis.example.gov.cn"
    );
    assert!(r.headers()["access-control-allow-headers"]
        .to_str()
        .expect("headers")
        .contains("X-API-Key"));
    let r = client
        .get(server.url("/styles/default.json"))
        .header("origin", "https://gis.example.gov.cn")
        .header("x-api-key", &key)
        .send()
        .await
        .expect("style");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://gis.example.gov.cn"
    );
    let r = client
        .get(server.url("/styles/default.json"))
        .header("origin", "https://elsewhere.example")
        .header("x-api-key", &key)
        .send()
        .await
        .expect("style");
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Public layers may be read from any origin without a key.
    let r = client
        .get(server.url("/catalog"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://elsewhere.example"
    );
    // Assets: MapLibre is served by citygrid itself, with an ETag; no path escapes.
    let r = client
        .get(server.url("/assets/vendor/maplibre-gl.js"))
        .send()
        .await
        .expect("asset");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/javascript"));
    let etag = r.headers()["etag"].clone();
    assert!(r.bytes().await.expect("js").len() > 100_000);
    let r = client
        .get(server.url("/assets/vendor/maplibre-gl.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("asset");
    assert_eq!(r.status(), 304);
    for bad in [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/index.html",
        "/assets/nope.js",
    ] {
        let r = client.get(server.url(bad)).send().await.expect("asset");
        assert_eq!(r.status(), 404, "{bad}");
        let v: Value = r.json().await.expect("json error");
        assert!(v["error"].is_string());
    }
}

/// Without built pages the service says how to build them (and stays up).
#[tokio::test(flavor = "multi_thread")]
async fn missing_pages_say_how_to_build_them() {
    let db = TestDb::new().await;
    let empty = common::temp_dir("no-web");
    let server = TestServer::start_with(
        &db,
        &[("CITYGRID_WEB_DIR", empty.to_str().expect("utf-8 path"))],
    );
    let r = http().get(server.url("/")).send().await.expect("page");
    assert_eq!(r.status(), 503);
    assert!(r.text().await.expect("body").contains("make web"));
    let r = http()
        .get(server.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200);
}

/// The coordinate maths of the pages against PROJ and PostGIS reference values.
#[test]
fn page_geodesy() {
    built_pages();
    let out = Command::new("node")
        .args(["--test", "tests/browser/geo.test.mjs"])
        .current_dir(common::root())
        .output()
        .expect("run node --test");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Times on the pages are in the city's time zone, not the browser's (issue 20):
/// `when()` and `fromZoned()` of web/src/js/api.js around midnight and across a
/// daylight-saving change in zones other than Shanghai.
#[test]
fn page_times_in_the_city_zone() {
    let out = Command::new("node")
        .args(["--test", "tests/browser/time.test.mjs"])
        .current_dir(common::root())
        .output()
        .expect("run node --test");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The console at work (issue 20): search, filters and paging past the first page,
/// the queue map filling its box for every role, countdowns, the actions a case
/// allows, both languages, the sign-in shared by the tabs of a browser, and a case
/// an inspector reports appearing on an open acceptor console within 2 seconds.
#[tokio::test(flavor = "multi_thread")]
async fn console_at_work() {
    let db = TestDb::new().await;
    sample_district(&db).await;
    managed_district(&db).await;
    let users = [
        ("inspector", "insp_zhou", None),
        ("acceptor", "acc_lin", None),
        ("dispatcher", "disp_ma", None),
        ("department", "roads_he", Some("roads")),
        ("shift_leader", "lead_gao", None),
    ];
    let mut accounts = serde_json::Map::new();
    let mut tokens = std::collections::HashMap::new();
    for (role, name, department) in users {
        let password = format!("pw-{name}-{}", rand::random::<u32>());
        common::add_user(&db, name, role, department, &password);
        accounts.insert(role.to_string(), json!([name, password]));
    }
    let server = start(&db, &[]);
    wait_loaded(&server, "unit_grids", None).await;
    let client = http();
    for (role, name, _) in users {
        let password = accounts[role][1].as_str().expect("password").to_string();
        let login: Value = client
            .post(server.url("/api/auth/login"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login json");
        tokens.insert(role, login["token"].as_str().expect("token").to_string());
    }
    let category: String = sqlx::query_scalar(
        "SELECT code FROM categories WHERE kind = 'event' AND active ORDER BY code LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("an event category");
    // 60 cases through the API (every fifth a hotline call), one of them dispatched.
    let mut numbers = Vec::new();
    let mut hotline = 0;
    for i in 0..60 {
        let lon = W + 0.002 + 0.00025 * f64::from(i % 40);
        let lat = S + 0.002 + 0.0001 * f64::from(i / 10);
        let mut body = json!({"category": category, "lon": lon, "lat": lat,
            "description": format!("seeded case {i}"), "address": format!("{i} Test Road")});
        if i % 5 == 0 {
            body["source"] = json!("hotline");
            body["reporter_name"] = json!(format!("caller {i}"));
            hotline += 1;
        }
        let (status, case): (u16, Value) = {
            let r = client
                .post(server.url("/api/cases"))
                .bearer_auth(&tokens["acceptor"])
                .json(&body)
                .send()
                .await
                .expect("report");
            (r.status().as_u16(), r.json().await.expect("case json"))
        };
        assert_eq!(status, 201, "{case}");
        numbers.push((
            case["id"].as_i64().expect("id"),
            case["case_no"].as_str().expect("case_no").to_string(),
        ));
    }
    let (dispatched_id, dispatched_no) = numbers[1].clone();
    for (who, body) in [
        ("acceptor", json!({"action": "register"})),
        (
            "dispatcher",
            json!({"action": "dispatch", "department": "roads"}),
        ),
    ] {
        let r = client
            .post(server.url(&format!("/api/cases/{dispatched_id}/actions")))
            .bearer_auth(&tokens[who])
            .json(&body)
            .send()
            .await
            .expect("step");
        assert_eq!(
            r.status(),
            200,
            "{who}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    let fixture = json!({
        "users": accounts,
        "category": category,
        "point": [W + 0.0051, S + 0.0052],
        "tag": format!("tag{}", rand::random::<u32>()),
        "cases": numbers.len(),
        "hotline": hotline,
        "seeded_no": numbers[7].1,
        "dispatched_no": dispatched_no,
    });
    let _browser = BROWSER.lock().await;
    node(
        "console.mjs",
        &[
            ("CITYGRID_URL", server.base.clone()),
            ("FIXTURE", fixture.to_string()),
        ],
    );
}

/// The home view in every page: a layer far away (larger than the city's) is imported,
/// and the viewer, the inspector page, the embedded map and the embed page's preview
/// still open on the city (its administrative division); the home button, "zoom to
/// layer", the layer list's counts and titles, and search by kind (a road of three
/// segments is one hit that zooms to all of it).
#[tokio::test(flavor = "multi_thread")]
async fn every_page_opens_at_the_home_view() {
    let db = TestDb::new().await;
    sample_district(&db).await;
    managed_district(&db).await;
    make_layer(
        &db,
        "main_roads",
        "Main roads",
        "LineString",
        &format!(
            "SELECT i::bigint AS fid, ST_SetSRID(ST_MakeLine(ST_MakePoint({W} + i * 0.004, {S} + 0.0095), \
                    ST_MakePoint({W} + (i + 1) * 0.004, {S} + 0.0095 + i * 0.0003)), 4326) AS geom, \
                    'Jiefang Avenue' AS name, 1 AS rank FROM generate_series(0, 2) i"
        ),
    )
    .await;
    make_layer(
        &db,
        "far_away",
        "Far away",
        "Point",
        "SELECT i::bigint AS fid, ST_SetSRID(ST_MakePoint((i % 25) * 0.01, (i / 25) * 0.01), 4326) AS geom, \
                'far ' || i AS name, 1 AS rank FROM generate_series(0, 499) i",
    )
    .await;
    let password = format!("pw-home-{}", rand::random::<u32>());
    common::add_user(&db, "insp_home", "inspector", None, &password);
    let key = cli(
        &db,
        &[
            "key",
            "create",
            "--name",
            "home-embed",
            "--layers",
            "buildings,roads",
        ],
    );
    // The home view is computed for an anonymous caller who sees the cases layer.
    let server = start(&db, &[("CITYGRID_CASES_PUBLIC_VIEW", "status")]);
    for id in [
        "buildings",
        "roads",
        "pois",
        "cases",
        "main_roads",
        "far_away",
        "unit_grids",
    ] {
        wait_loaded(&server, id, None).await;
    }
    let home = common::get_json(&server, "/api/home").await;
    assert_eq!(home["source"], "layer:admin_divisions", "{home}");
    let bbox = |sql: &str| {
        let pool = db.pool.clone();
        let sql = sql.to_string();
        async move {
            let b: (f64, f64, f64, f64) = sqlx::query_as(&format!(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom)::geometry AS e FROM {sql}) s"
            ))
            .fetch_one(&pool)
            .await
            .expect("extent");
            json!([b.0, b.1, b.2, b.3])
        }
    };
    let fixture = json!({
        "home": home,
        "far_bbox": bbox("layers.far_away").await,
        "pois_bbox": bbox("layers.pois").await,
        "road": "jiefang avenue",
        "road_parts": 3,
        "road_bbox": bbox("layers.main_roads").await,
        "counts": {"buildings": 200, "roads": 10, "pois": 10, "cases": 2, "far_away": 500},
        "inspector": ["insp_home", password],
        "key": key.trim(),
    });
    let _browser = BROWSER.lock().await;
    node(
        "home.mjs",
        &[
            ("CITYGRID_URL", server.base.clone()),
            ("FIXTURE", fixture.to_string()),
        ],
    );
}

/// The supervision hall's big screen (issue 20): counters equal to GET
/// /api/stats/live, open cases on the map by urgency, the most overdue case first with
/// its deadline on the city's clock (the server in New York, the browser in
/// Shanghai), departments ranked, a new report shown within seconds, 1920×1080 and
/// 3840×2160 without scrolling, Chinese, and refused to a department account. The
/// service's clock is set to noon in New York, so "today" never straddles midnight.
#[tokio::test(flavor = "multi_thread")]
async fn big_screen_in_the_supervision_hall() {
    const ZONE: &str = "America/New_York";
    let db = TestDb::new().await;
    sample_district(&db).await;
    managed_district(&db).await;
    let users = [
        ("inspector", "insp_wall", None),
        ("acceptor", "acc_wall", None),
        ("department", "roads_wall", Some("roads")),
        ("shift_leader", "lead_wall", None),
    ];
    let mut accounts = serde_json::Map::new();
    for (role, name, department) in users {
        let password = format!("pw-{name}-{}", rand::random::<u32>());
        common::add_user(&db, name, role, department, &password);
        accounts.insert(role.to_string(), json!([name, password]));
    }
    // Noon today in New York, by PostgreSQL's time-zone rules.
    let noon: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT (date_trunc('day', now() AT TIME ZONE $1) + interval '12 hours') AT TIME ZONE $1",
    )
    .bind(ZONE)
    .fetch_one(&db.pool)
    .await
    .expect("noon");
    let server = start(
        &db,
        &[
            ("CITYGRID_CLOCK", &noon.to_rfc3339()),
            ("CITYGRID_TIMEZONE", ZONE),
        ],
    );
    wait_loaded(&server, "unit_grids", None).await;
    let client = http();
    let password = accounts["acceptor"][1].as_str().expect("password");
    let login: Value = client
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": "acc_wall", "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let acceptor = login["token"].as_str().expect("token").to_string();
    let category: String = sqlx::query_scalar(
        "SELECT code FROM categories WHERE kind = 'event' AND active ORDER BY code LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("an event category");
    // 12 reports today (every third by the hotline).
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut body = json!({"category": category,
            "lon": W + 0.002 + 0.0011 * f64::from(i % 6), "lat": S + 0.002 + 0.002 * f64::from(i / 6),
            "description": format!("wall case {i}")});
        if i % 3 == 0 {
            body["source"] = json!("hotline");
            body["reporter_name"] = json!(format!("caller {i}"));
        }
        let r = client
            .post(server.url("/api/cases"))
            .bearer_auth(&acceptor)
            .json(&body)
            .send()
            .await
            .expect("report");
        assert_eq!(r.status(), 201);
        let case: Value = r.json().await.expect("case");
        ids.push(case["id"].as_i64().expect("id"));
    }
    // Seven overdue (the first most; the list shows six), two closed today (one on
    // time), one handled by the roads department by its deadline (the ranking).
    for (n, id) in ids[..7].iter().enumerate() {
        sqlx::query("UPDATE cases SET due_at = $1 - make_interval(hours => $2) WHERE id = $3")
            .bind(noon)
            .bind(30 - 4 * n as i32)
            .bind(id)
            .execute(&db.pool)
            .await
            .expect("overdue");
    }
    for (id, late) in [(ids[7], false), (ids[8], true)] {
        sqlx::query(
            "UPDATE cases SET status = 'closed', closed_at = $1, due_at = NULL, \
             checking_due = $1 + CASE WHEN $2 THEN interval '-1 hour' ELSE interval '1 hour' END WHERE id = $3",
        )
        .bind(noon)
        .bind(late)
        .bind(id)
        .execute(&db.pool)
        .await
        .expect("closed");
    }
    sqlx::query(
        "UPDATE cases SET status = 'handled', department = 'roads', registered_at = $1, dispatched_at = $1, \
         dispatch_due = $1 + interval '1 hour', handling_due = $1 + interval '2 hours', handled_at = $1 + interval '1 minute', \
         due_at = $1 + interval '4 hours' WHERE id = $2",
    )
    .bind(noon)
    .bind(ids[9])
    .execute(&db.pool)
    .await
    .expect("handled");
    let (most_overdue_no, due_local): (String, String) = sqlx::query_as(
        "SELECT case_no, to_char(due_at AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI') FROM cases WHERE id = $2",
    )
    .bind(ZONE)
    .bind(ids[0])
    .fetch_one(&db.pool)
    .await
    .expect("most overdue");
    let fixture = json!({
        "users": accounts,
        "category": category,
        "point": [W + 0.0151, S + 0.0072],
        "timezone": ZONE,
        "reported_today": 12,
        "overdue": 7,
        "closed_today": 2,
        "most_overdue": {"case_no": most_overdue_no, "due_local": due_local},
        "ranked_department": "roads",
    });
    let _browser = BROWSER.lock().await;
    node(
        "bigscreen.mjs",
        &[
            ("CITYGRID_URL", server.base.clone()),
            ("FIXTURE", fixture.to_string()),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ogc_api_pages_in_a_browser() {
    let db = TestDb::new().await;
    sample_district(&db).await;
    let server = start(&db, &[]);
    wait_loaded(&server, "buildings", None).await;
    let _browser = BROWSER.lock().await;
    node("ogc_html.mjs", &[("CITYGRID_URL", server.base.clone())]);
}

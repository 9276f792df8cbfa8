//! Bad input for `citygrid import vector` (issue #3): every failure is one clear
//! line on stderr, a non-zero exit, and the previous version of the layer intact
//! (rows, catalogue version) with no staging table left behind — including an
//! import killed with SIGKILL or interrupted with SIGINT half-way.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ogr2ogr(args: &[&str]) {
    let out = Command::new("ogr2ogr")
        .args(args)
        .output()
        .expect("run ogr2ogr");
    assert!(
        out.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn import(db: &common::TestDb, file: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = common::citygrid(db);
    cmd.args(["import", "vector"]).arg(file).args(args);
    common::run(&mut cmd)
}

/// A good Shapefile (EPSG:4547) with its companions in `dir`.
fn make_shapefile(dir: &Path, name: &str) -> PathBuf {
    let shp = dir.join(format!("{name}.shp"));
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-t_srs",
        "EPSG:4547",
        shp.to_str().expect("utf-8"),
        common::data_file("wuhan_districts_cgcs2000.geojson")
            .to_str()
            .expect("utf-8"),
    ]);
    shp
}

struct Snapshot {
    rows: i64,
    checksum: String,
    version: i64,
}

async fn snapshot(db: &common::TestDb) -> Snapshot {
    let (rows, checksum): (i64, String) =
        sqlx::query_as("SELECT count(*), md5(string_agg(ST_AsEWKB(geom)::text || name, ',' ORDER BY fid)) FROM layers.victim")
            .fetch_one(&db.pool)
            .await
            .expect("victim rows");
    let version: i64 = sqlx::query_scalar("SELECT version FROM layer_catalog WHERE id = 'victim'")
        .fetch_one(&db.pool)
        .await
        .expect("victim version");
    Snapshot {
        rows,
        checksum,
        version,
    }
}

async fn stage_tables(db: &common::TestDb) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'layers' AND tablename LIKE '\\_stage\\_%'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("stage tables")
}

async fn assert_intact(db: &common::TestDb, before: &Snapshot, what: &str) {
    let now = snapshot(db).await;
    assert_eq!(now.rows, before.rows, "{what}: rows changed");
    assert_eq!(now.checksum, before.checksum, "{what}: data changed");
    assert_eq!(
        now.version, before.version,
        "{what}: catalogue version changed"
    );
    assert_eq!(stage_tables(db).await, 0, "{what}: a staging table remains");
}

/// Fails with exactly one `citygrid: error:` line containing `needle`.
fn assert_clean_failure(r: &(bool, String, String), needle: &str, what: &str) {
    assert!(!r.0, "{what}: succeeded unexpectedly: {}", r.1);
    let errors: Vec<&str> =
        r.2.lines()
            .filter(|l| l.starts_with("citygrid: error:"))
            .collect();
    assert_eq!(errors.len(), 1, "{what}: stderr: {}", r.2);
    assert!(
        errors[0].contains(needle),
        "{what}: expected {needle:?} in {:?}",
        errors[0]
    );
    assert!(!r.2.contains("panicked"), "{what}: {}", r.2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_fail_cleanly_and_keep_the_previous_version() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-bad");
    let good = make_shapefile(&dir, "good");
    let r = import(&db, &good, &["--layer", "victim"]);
    assert!(r.0, "{}", r.2);
    let before = snapshot(&db).await;
    assert_eq!(before.rows, 13);

    // Missing file.
    let r = import(
        &db,
        &dir.join("nope.shp"),
        &["--layer", "victim", "--replace"],
    );
    assert_clean_failure(&r, "no such file", "missing file");

    // Truncated .shp (its .shx still promises every record).
    let truncated = make_shapefile(&dir, "truncated");
    let len = std::fs::metadata(&truncated).expect("shp").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let r = import(&db, &truncated, &["--layer", "victim", "--replace"]);
    assert_clean_failure(&r, "truncated.shp", "truncated .shp");
    assert_intact(&db, &before, "truncated .shp").await;

    // Missing .shx, missing .dbf.
    for ext in ["shx", "dbf"] {
        let shp = make_shapefile(&dir, &format!("no_{ext}"));
        std::fs::remove_file(shp.with_extension(ext)).expect("remove companion");
        let r = import(&db, &shp, &["--layer", "victim", "--replace"]);
        assert_clean_failure(&r, &format!(".{ext}"), &format!("missing .{ext}"));
        assert_intact(&db, &before, &format!("missing .{ext}")).await;
    }

    // Corrupt GeoJSON.
    let corrupt = dir.join("corrupt.geojson");
    let text = std::fs::read_to_string(common::data_file("wuhan_districts_cgcs2000.geojson"))
        .expect("read");
    std::fs::write(&corrupt, &text[..text.len() / 2]).expect("write");
    let r = import(&db, &corrupt, &["--layer", "victim", "--replace"]);
    assert_clean_failure(&r, "corrupt.geojson", "corrupt GeoJSON");
    assert_intact(&db, &before, "corrupt GeoJSON").await;

    // Unknown EPSG code.
    let r = import(
        &db,
        &good,
        &[
            "--layer",
            "victim",
            "--replace",
            "--source-crs",
            "EPSG:999999",
        ],
    );
    assert_clean_failure(&r, "EPSG:999999", "unknown EPSG");
    assert_intact(&db, &before, "unknown EPSG").await;

    // No CRS.
    let csv = dir.join("nocrs.csv");
    std::fs::write(&csv, "name,x,y\na,1,2\n").expect("write");
    let r = import(&db, &csv, &["--layer", "victim", "--replace"]);
    assert_clean_failure(&r, "--source-crs", "no CRS");
    assert_intact(&db, &before, "no CRS").await;

    // Zero features.
    let empty = dir.join("empty.geojson");
    std::fs::write(&empty, r#"{"type":"FeatureCollection","features":[]}"#).expect("write");
    let r = import(
        &db,
        &empty,
        &[
            "--layer",
            "victim",
            "--replace",
            "--source-crs",
            "EPSG:4326",
        ],
    );
    assert_clean_failure(&r, "no feature", "zero features");
    assert_intact(&db, &before, "zero features").await;

    // Coordinates that do not fit the declared CRS (metres declared as degrees).
    let r = import(
        &db,
        &good,
        &[
            "--layer",
            "victim",
            "--replace",
            "--source-crs",
            "EPSG:4326",
        ],
    );
    assert_clean_failure(
        &r,
        "coordinates look like projected metres",
        "metres declared as degrees",
    );
    assert_intact(&db, &before, "metres declared as degrees").await;

    // Invalid layer id.
    let r = import(&db, &good, &["--layer", "Bad-Id"]);
    assert_clean_failure(&r, "invalid layer id", "bad id");

    // A truncated .osm.pbf, and a file that only has the name (both read natively).
    let pbf = std::fs::read(common::data_file("helsinki.osm.pbf")).expect("read");
    let cut = dir.join("cut.osm.pbf");
    std::fs::write(&cut, &pbf[..pbf.len() * 2 / 3]).expect("write");
    let r = import(&db, &cut, &["--layer", "victim", "--replace"]);
    assert_clean_failure(&r, "truncated", "truncated .osm.pbf");
    assert_intact(&db, &before, "truncated .osm.pbf").await;
    let fake = dir.join("fake.osm.pbf");
    std::fs::write(&fake, &text).expect("write");
    let r = import(&db, &fake, &["--layer", "victim", "--replace"]);
    assert_clean_failure(&r, "not an OSM PBF", "GeoJSON named .osm.pbf");
    assert_intact(&db, &before, "GeoJSON named .osm.pbf").await;
}

/// Whether layer `id` exists in any form: catalogue row, table, staging table.
async fn layer_traces(db: &common::TestDb, id: &str) -> i64 {
    let catalogued: i64 = sqlx::query_scalar("SELECT count(*) FROM layer_catalog WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("catalogue");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'layers' AND (tablename = $1 OR tablename LIKE '\\_stage\\_%')",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("tables");
    catalogued + tables
}

/// Issue 15, item 4: coordinates that do not fit the source CRS are refused on
/// opening, with what they look like and the CRS probably meant, and nothing is
/// written; `--force` imports them as declared.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_source_crs_is_refused_with_the_crs_probably_meant() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-wrong-crs");
    let wuhan = common::data_file("wuhan_districts_cgcs2000.geojson");
    let good = make_shapefile(&dir, "good");
    let r = import(&db, &good, &["--layer", "victim"]);
    assert!(r.0, "{}", r.2);
    let before = snapshot(&db).await;

    // Lon/lat degrees declared as Gauss-Krüger metres or Web Mercator metres.
    for (crs, meant) in [("EPSG:4547", "EPSG:4490"), ("EPSG:3857", "EPSG:4326")] {
        let r = import(&db, &wuhan, &["--layer", "wrong", "--source-crs", crs]);
        assert_clean_failure(
            &r,
            &format!("coordinates look like longitude/latitude degrees (113.7..115.1, 30.0..31.4) but --source-crs {crs} expects metres; did you mean --source-crs {meant}?"),
            crs,
        );
        assert_eq!(
            layer_traces(&db, "wrong").await,
            0,
            "{crs}: something was written"
        );
        // Replacing an existing layer: it stays as it was.
        let r = import(
            &db,
            &wuhan,
            &["--layer", "victim", "--replace", "--source-crs", crs],
        );
        assert_clean_failure(&r, &format!("did you mean --source-crs {meant}?"), crs);
        assert_intact(&db, &before, crs).await;
    }

    // A CSV (its driver does not know the extent: the first features tell).
    let csv = dir.join("points.csv");
    std::fs::write(&csv, "name,x,y\na,114.30,30.59\nb,114.35,30.62\n").expect("write");
    let r = import(
        &db,
        &csv,
        &[
            "--layer",
            "wrong",
            "--x-field",
            "x",
            "--y-field",
            "y",
            "--source-crs",
            "EPSG:4547",
        ],
    );
    assert_clean_failure(
        &r,
        "coordinates look like longitude/latitude degrees (114.300..114.350, 30.590..30.620)",
        "CSV",
    );
    assert_eq!(layer_traces(&db, "wrong").await, 0);

    // A file whose own CRS is wrong: lon/lat with a .prj that says EPSG:4547.
    let mislabelled = dir.join("mislabelled.shp");
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-a_srs",
        "EPSG:4547",
        mislabelled.to_str().expect("utf-8"),
        wuhan.to_str().expect("utf-8"),
    ]);
    let r = import(&db, &mislabelled, &["--layer", "wrong"]);
    assert_clean_failure(
        &r,
        "but the file's CRS EPSG:4547 expects metres; did you mean --source-crs EPSG:4490?",
        "file's own CRS",
    );
    assert_eq!(layer_traces(&db, "wrong").await, 0);

    // Metres of Gauss-Krüger zone 38 (easting with the zone number) declared as
    // zone 37: they would land 10 degrees east, outside zone 37's area of use.
    let zone38 = dir.join("zone38.shp");
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-t_srs",
        "EPSG:4526",
        zone38.to_str().expect("utf-8"),
        wuhan.to_str().expect("utf-8"),
    ]);
    let r = import(
        &db,
        &zone38,
        &["--layer", "wrong", "--source-crs", "EPSG:4525"],
    );
    assert_clean_failure(&r, "outside its area of use", "wrong zone");
    assert_eq!(layer_traces(&db, "wrong").await, 0);
    // Metres declared as degrees: the zone is in the easting.
    let r = import(
        &db,
        &zone38,
        &["--layer", "wrong", "--source-crs", "EPSG:4490"],
    );
    assert_clean_failure(
        &r,
        "coordinates look like projected metres",
        "zone metres as degrees",
    );
    assert!(
        r.2.contains("did you mean --source-crs EPSG:4526"),
        "{}",
        r.2
    );
    assert_eq!(layer_traces(&db, "wrong").await, 0);

    // The right CRS imports (the zone file as itself).
    let r = import(&db, &zone38, &["--layer", "right"]);
    assert!(r.0, "{}", r.2);

    // --force: imported as declared, near 0°N 0°E.
    let r = import(
        &db,
        &wuhan,
        &["--layer", "forced", "--source-crs", "EPSG:3857", "--force"],
    );
    assert!(r.0, "--force: {}", r.2);
    let bounds: Vec<f64> =
        sqlx::query_scalar("SELECT bounds FROM layer_catalog WHERE id = 'forced'")
            .fetch_one(&db.pool)
            .await
            .expect("bounds");
    assert!(
        bounds.iter().all(|v| v.abs() < 0.01),
        "forced layer bounds {bounds:?}"
    );
}

/// The layers of one file are written by several connections at once; when one
/// layer fails after another has been staged and swapped in on its own connection,
/// nothing is committed: every layer keeps its previous version.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_layer_rolls_back_the_other_layers_of_the_file() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-multi");
    let points = |name: &str, coords: &[(f64, f64)]| {
        let features: Vec<String> = coords
            .iter()
            .enumerate()
            .map(|(i, (x, y))| {
                format!(
                    r#"{{"type":"Feature","properties":{{"n":{i}}},"geometry":{{"type":"Point","coordinates":[{x},{y}]}}}}"#
                )
            })
            .collect();
        let path = dir.join(format!("{name}.geojson"));
        std::fs::write(
            &path,
            format!(
                r#"{{"type":"FeatureCollection","features":[{}]}}"#,
                features.join(",")
            ),
        )
        .expect("write");
        path
    };
    // Layer a: two points, staged and swapped in at once by the first writer.
    // Layer b: 250,000 points read after a; in the bad file they are in metres where
    // degrees are declared, so b fails only once all of it has been read, long after
    // a is ready on its own connection.
    let gpkg = |name: &str, origin: (f64, f64), step: f64| {
        let out = dir.join(format!("{name}.gpkg"));
        let a = points(&format!("{name}_a"), &[(114.3, 30.59), (114.31, 30.6)]);
        let many: Vec<(f64, f64)> = (0..250_000)
            .map(|i| {
                (
                    origin.0 + (i % 500) as f64 * step,
                    origin.1 + (i / 500) as f64 * step,
                )
            })
            .collect();
        let b = points(&format!("{name}_b"), &many);
        let out_s = out.to_str().expect("utf-8");
        ogr2ogr(&["-f", "GPKG", out_s, a.to_str().expect("utf-8"), "-nln", "a"]);
        ogr2ogr(&["-update", out_s, b.to_str().expect("utf-8"), "-nln", "b"]);
        out
    };
    let good = gpkg("good", (114.2, 30.5), 1e-4);
    let r = import(&db, &good, &["--layer", "multi"]);
    assert!(r.0, "{}", r.2);
    let state = |db: &common::TestDb| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, i64, i64)>(
                "SELECT id, version, feature_count FROM layer_catalog WHERE id LIKE 'multi%' ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .expect("catalogue")
        }
    };
    let before = state(&db).await;
    assert_eq!(
        before,
        vec![
            ("multi_a".to_string(), 1, 2),
            ("multi_b".to_string(), 1, 250_000)
        ]
    );
    let bad = gpkg("bad", (528773.19, 3385557.62), 10.0);
    // --force: past the check of the extent against the CRS on opening, so that b
    // fails only when its coordinates are converted.
    let r = import(&db, &bad, &["--layer", "multi", "--replace", "--force"]);
    assert_clean_failure(&r, "source CRS", "one bad layer");
    assert_eq!(
        state(&db).await,
        before,
        "a layer of the failed import was committed"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM layers.multi_b")
        .fetch_one(&db.pool)
        .await
        .expect("rows");
    assert_eq!(rows, 250_000);
    assert_eq!(stage_tables(&db).await, 0, "a staging table remains");
    // And the good file replaces both together.
    let r = import(&db, &good, &["--layer", "multi", "--replace"]);
    assert!(r.0, "{}", r.2);
    let after = state(&db).await;
    assert_eq!(
        after.iter().map(|(_, v, _)| *v).collect::<Vec<_>>(),
        vec![2, 2],
        "{after:?}"
    );
}

/// A CSV of `n` points, big enough that importing it takes a few seconds.
fn big_csv(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("big.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    writeln!(f, "name,x,y").expect("write");
    for i in 0..n {
        let x = 114.0 + (i % 1000) as f64 * 0.0005;
        let y = 30.0 + (i / 1000) as f64 * 0.0005;
        writeln!(f, "p{i},{x:.6},{y:.6}").expect("write");
    }
    f.flush().expect("flush");
    path
}

/// Spawns an import of `file` into `victim`, waits until it is writing rows, then
/// sends `signal` to it. Returns its exit status and stderr.
fn interrupt(db: &common::TestDb, file: &Path, signal: &str) -> (std::process::ExitStatus, String) {
    let mut cmd = common::citygrid(db);
    cmd.args(["import", "vector"])
        .arg(file)
        .args([
            "--layer",
            "victim",
            "--replace",
            "--source-crs",
            "EPSG:4326",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn import");
    // Wait until the import is COPYing (its staging table is being written).
    let started = Instant::now();
    let rt_url = db.url.clone();
    let copying = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async move {
            let pool = citygrid_db::connect(&rt_url, 1, false).await.expect("connect");
            loop {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY layers.%_stage_victim_%'",
                )
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
                if n > 0 || started.elapsed() > Duration::from_secs(60) {
                    return n > 0;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    })
    .join()
    .expect("watcher");
    assert!(copying, "the import never started writing");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the import finished before the {signal}"
    );
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_or_interrupted_import_leaves_previous_version() {
    let db = common::TestDb::new().await;
    let dir = common::temp_dir("import-kill");
    let good = make_shapefile(&dir, "good");
    let r = import(&db, &good, &["--layer", "victim"]);
    assert!(r.0, "{}", r.2);
    let before = snapshot(&db).await;
    let big = big_csv(&dir, 3_000_000);

    // SIGKILL: no chance to clean up; the database rolls the transaction back.
    let (status, _) = interrupt(&db, &big, "-KILL");
    assert!(!status.success());
    // The server notices the dead client within moments.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let busy: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%_stage_victim_%' AND pid <> pg_backend_pid()",
        )
        .fetch_one(&db.pool)
        .await
        .expect("activity");
        if busy == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_intact(&db, &before, "SIGKILL").await;

    // SIGINT (Ctrl-C): the import rolls back and says so.
    let (status, stderr) = interrupt(&db, &big, "-INT");
    assert!(!status.success());
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_intact(&db, &before, "SIGINT").await;

    // A stale committed staging table (as an older or crashed importer might leave)
    // is cleaned at the next import.
    sqlx::query("CREATE TABLE layers._stage_victim_999999 (fid bigint)")
        .execute(&db.pool)
        .await
        .expect("fake stale table");
    let r = import(&db, &good, &["--layer", "victim", "--replace"]);
    assert!(r.0, "{}", r.2);
    assert_eq!(stage_tables(&db).await, 0);
    assert_eq!(snapshot(&db).await.version, before.version + 1);
}

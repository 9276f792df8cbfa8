//! The basemap (issue 19) end to end on a real `citygrid serve`: glyph ranges made
//! from the installed Noto fonts (decoded as glyph PBFs), the sprite at 1x and 2x
//! (every index entry inside its PNG), the refusals (unknown font 404, malformed
//! range 400, unknown sprite 404, unknown language 400), and — over the imported
//! sample city with the demo seed — the default style checked by MapLibre's own
//! validator (`gl-style-validate` of `@maplibre/maplibre-gl-style-spec`, from
//! web/node_modules) and drawn in headless Chromium (tests/browser/basemap.mjs:
//! road, POI and building names at z16; screenshots at z14, z16, z18).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{http, TestDb, TestServer};
use pbf_font_tools::prost::Message;
use pbf_font_tools::Glyphs;
use serde_json::Value;

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    http().get(server.url(path)).send().await.expect("request")
}

async fn glyphs(server: &TestServer, stack: &str, range: &str) -> Glyphs {
    let res = get(server, &format!("/fonts/{stack}/{range}")).await;
    assert_eq!(res.status(), 200, "{stack} {range}");
    assert_eq!(res.headers()["content-type"], "application/x-protobuf");
    let cache = res.headers()["cache-control"].to_str().unwrap().to_string();
    assert!(
        cache.contains("immutable") && cache.contains("max-age="),
        "{cache}"
    );
    let body = res.bytes().await.expect("body");
    Glyphs::decode(body.as_ref()).expect("a glyph PBF")
}

/// The glyph of `code` in a decoded range, checked: an SDF bitmap of (w+6)×(h+6).
fn glyph(g: &Glyphs, code: u32) -> &pbf_font_tools::Glyph {
    let stack = &g.stacks[0];
    let glyph = stack
        .glyphs
        .iter()
        .find(|x| x.id == code)
        .unwrap_or_else(|| panic!("no glyph {code} in {}", stack.range));
    let bitmap = glyph.bitmap.as_ref().expect("bitmap");
    assert_eq!(
        bitmap.len() as u32,
        (glyph.width + 6) * (glyph.height + 6),
        "glyph {code}"
    );
    assert!(glyph.advance > 0, "glyph {code} advance");
    glyph
}

#[tokio::test(flavor = "multi_thread")]
async fn glyphs_and_sprites() {
    let db = TestDb::new().await;
    let server = TestServer::start(&db);

    let latin = glyphs(&server, "Noto%20Sans%20Regular", "0-255.pbf").await;
    assert_eq!(latin.stacks.len(), 1);
    assert_eq!(latin.stacks[0].range, "0-255");
    assert!(latin.stacks[0].glyphs.len() > 150, "Latin-1 glyphs");
    let a = glyph(&latin, 'A' as u32);
    assert!(a.width > 5 && a.height > 10);
    glyph(&latin, 'ä' as u32);
    // Ideographs: Noto Sans CJK SC behind Noto Sans.
    let cjk = glyphs(&server, "Noto%20Sans%20Regular", "19968-20223.pbf").await;
    assert!(cjk.stacks[0].glyphs.len() > 200, "CJK glyphs");
    let one = glyph(&cjk, '一' as u32);
    assert!(one.width > 10);
    // Bold is another face: its 'A' is wider.
    let bold = glyphs(&server, "Noto%20Sans%20Bold", "0-255.pbf").await;
    assert!(glyph(&bold, 'A' as u32).advance >= a.advance);
    // A combined stack draws each code point from the first font that has it.
    let both = glyphs(
        &server,
        "Noto%20Sans%20Bold,Noto%20Sans%20Regular",
        "0-255.pbf",
    )
    .await;
    assert_eq!(
        glyph(&both, 'A' as u32).bitmap,
        glyph(&bold, 'A' as u32).bitmap
    );

    for (path, status) in [
        ("/fonts/Comic%20Sans%20Regular/0-255.pbf", 404),
        ("/fonts/Noto%20Sans%20Regular,Nope%20Regular/0-255.pbf", 404),
        ("/fonts/Noto%20Sans%20Regular/1-256.pbf", 400),
        ("/fonts/Noto%20Sans%20Regular/0-511.pbf", 400),
        ("/fonts/Noto%20Sans%20Regular/65536-65791.pbf", 400),
        ("/fonts/Noto%20Sans%20Regular/0-255", 400),
        ("/fonts/Noto%20Sans%20Regular/x-y.pbf", 400),
        ("/sprites/other.json", 404),
        ("/sprites/default@3x.png", 404),
        ("/sprites/default.svg", 404),
    ] {
        let res = get(&server, path).await;
        assert_eq!(res.status(), status, "{path}");
        let body: Value = res.json().await.expect("JSON error");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }

    // The sprite: every entry of the index lies inside its sheet, at 1x and 2x.
    let mut widths = Vec::new();
    for (suffix, ratio) in [("", 1u64), ("@2x", 2)] {
        let res = get(&server, &format!("/sprites/default{suffix}.json")).await;
        assert_eq!(res.status(), 200);
        let index: Value = res.json().await.expect("index");
        let res = get(&server, &format!("/sprites/default{suffix}.png")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
        let png = res.bytes().await.expect("png");
        let reader = png::Decoder::new(std::io::Cursor::new(png.to_vec()))
            .read_info()
            .expect("a PNG");
        let (w, h) = (
            u64::from(reader.info().width),
            u64::from(reader.info().height),
        );
        let index = index.as_object().expect("object");
        assert!(index.len() >= 50, "{} icons", index.len());
        for name in [
            "manhole-water",
            "manhole-gas",
            "hydrant",
            "street-lamp",
            "case-new",
            "poi-restaurant",
        ] {
            assert!(index.contains_key(name), "{name} in the sprite");
        }
        for (name, e) in index {
            let n = |k: &str| e[k].as_u64().unwrap_or_else(|| panic!("{name}.{k}"));
            assert_eq!(n("pixelRatio"), ratio, "{name}");
            assert!(n("width") > 0 && n("height") > 0, "{name}");
            assert!(
                n("x") + n("width") <= w,
                "{name} inside the sheet ({w} wide)"
            );
            assert!(
                n("y") + n("height") <= h,
                "{name} inside the sheet ({h} high)"
            );
        }
        widths.push(n_of(index, "hydrant"));
    }
    assert_eq!(widths[1], widths[0] * 2, "@2x icons are twice as large");
}

fn n_of(index: &serde_json::Map<String, Value>, name: &str) -> u64 {
    index[name]["width"].as_u64().expect("width")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_font_folder_is_configurable() {
    let db = TestDb::new().await;
    let empty = common::temp_dir("no-fonts");
    let server = TestServer::start_with(&db, &[("CITYGRID_FONT_DIR", empty.to_str().unwrap())]);
    let res = get(&server, "/fonts/Noto%20Sans%20Regular/0-255.pbf").await;
    assert_eq!(res.status(), 404, "no fonts in an empty folder");
}

fn web_dir() -> PathBuf {
    common::root().join("web")
}

/// Installs the web dependencies when missing and builds the pages.
fn built_pages() -> PathBuf {
    let web = web_dir();
    if !web
        .join("node_modules")
        .join("@maplibre")
        .join("maplibre-gl-style-spec")
        .is_dir()
        || !web.join("node_modules").join("playwright-core").is_dir()
    {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web)
            .output()
            .expect("npm: run scripts/install-deps.sh");
        assert!(
            out.status.success(),
            "npm ci: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new("node")
        .arg("build.mjs")
        .current_dir(&web)
        .output()
        .expect("node: run scripts/install-deps.sh");
    assert!(
        out.status.success(),
        "web build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    web.join("dist")
}

/// MapLibre's style validator on `style`: its complaints, one a line (none: valid).
fn validate(style: &Value, tag: &str) -> String {
    let file = common::temp_dir("style").join(format!("{tag}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(style).unwrap()).unwrap();
    let validator = web_dir()
        .join("node_modules")
        .join("@maplibre")
        .join("maplibre-gl-style-spec")
        .join("dist")
        .join("gl-style-validate.mjs");
    let out = Command::new("node")
        .arg(&validator)
        .arg(&file)
        .output()
        .expect("run gl-style-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && text.trim().is_empty() {
        String::new()
    } else {
        format!("exit {:?}: {text}", out.status.code())
    }
}

fn cli(db: &TestDb, args: &[&str]) {
    let (ok, _, err) = common::run(common::citygrid(db).args(args));
    assert!(ok, "citygrid {args:?} failed: {err}");
}

async fn wait_loaded(server: &TestServer, ids: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            let status = get(server, &format!("/tiles/{id}/0/0/0")).await.status();
            if status != 409 && status != 404 {
                break;
            }
            assert!(Instant::now() < deadline, "layer {id} never loaded");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn node(script: &Path, env: &[(&str, String)]) -> String {
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "the browser tests need Chromium: run scripts/install-deps.sh (Debian package chromium)"
    );
    let mut command = Command::new("node");
    command
        .arg(script)
        .env(
            "SCREENSHOT_DIR",
            common::root().join("target").join("screenshots"),
        )
        .current_dir(common::root());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "{}:\n{stdout}\n{stderr}",
        script.display()
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_style_is_a_valid_labelled_basemap() {
    let dist = built_pages();
    let db = TestDb::new().await;
    let pbf = common::data_file("helsinki.osm.pbf");
    cli(&db, &["import", "osm", pbf.to_str().unwrap()]);
    cli(&db, &["grid", "seed-demo"]);
    // The cases layer is drawn for anonymous callers here: its public view.
    let server = TestServer::start_with(
        &db,
        &[
            ("CITYGRID_WEB_DIR", dist.to_str().unwrap()),
            ("CITYGRID_CASES_PUBLIC_VIEW", "status"),
        ],
    );
    wait_loaded(
        &server,
        &["osm_roads", "osm_pois", "osm_buildings", "cases"],
    )
    .await;

    for lang in ["zh", "en"] {
        let res = get(&server, &format!("/styles/default.json?lang={lang}")).await;
        assert_eq!(res.status(), 200);
        let style: Value = res.json().await.unwrap();
        let complaints = validate(&style, lang);
        assert!(
            complaints.is_empty(),
            "gl-style-validate ({lang}): {complaints}"
        );
        assert_eq!(
            style["glyphs"],
            format!("{}/fonts/{{fontstack}}/{{range}}.pbf", server.base)
        );
        assert_eq!(style["sprite"], format!("{}/sprites/default", server.base));
        let layers = style["layers"].as_array().unwrap();
        let ids: Vec<&str> = layers.iter().filter_map(|l| l["id"].as_str()).collect();
        for id in [
            "osm_roads-casing",
            "osm_roads-line",
            "osm_roads-label",
            "osm_buildings-fill",
            "osm_buildings-label",
            "osm_water-fill",
            "osm_landuse-fill",
            "osm_pois-icon",
            "components-icon",
            "unit_grids-code",
            "cases-overdue",
            "cases-icon",
        ] {
            assert!(ids.contains(&id), "{id} in the style ({lang}): {ids:?}");
        }
        let road_label = layers
            .iter()
            .find(|l| l["id"] == "osm_roads-label")
            .unwrap();
        let first = &road_label["layout"]["text-field"][1];
        assert_eq!(first, &serde_json::json!(["get", format!("name:{lang}")]));
    }
    // A style MapLibre rejects fails here: the validator is really asked.
    let mut broken: Value = get(&server, "/styles/default.json")
        .await
        .json()
        .await
        .unwrap();
    broken["layers"][1]["paint"] = serde_json::json!({"line-width": "wide"});
    assert!(
        !validate(&broken, "broken").is_empty(),
        "the validator accepts anything"
    );
    let res = get(&server, "/styles/default.json?lang=fr").await;
    assert_eq!(res.status(), 400);

    let out = node(
        &common::root()
            .join("tests")
            .join("browser")
            .join("basemap.mjs"),
        &[("CITYGRID_URL", server.base.clone())],
    );
    assert!(out.contains("first-view {"), "{out}");
}

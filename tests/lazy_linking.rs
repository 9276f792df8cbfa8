//! libgdal and libproj are loaded on first use, not at start (lazylib/README.md): the
//! binary does not list them as NEEDED, does not export GDAL/PROJ names (which would
//! interpose on libgdal's own calls), `citygrid --version` and `citygrid serve` never
//! map them, and an import maps libgdal when it opens the file and works.
//!
//! The mechanism exists for x86_64 Linux (glibc) only; elsewhere, and in a build made
//! with `CITYGRID_LAZYLIB=0`, these tests say so and check nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why the lazy mechanism does not apply to this build, if it does not.
fn not_applicable() -> Option<&'static str> {
    if !cfg!(all(
        target_os = "linux",
        target_arch = "x86_64",
        target_env = "gnu"
    )) {
        return Some("lazy loading of GDAL/PROJ is implemented for x86_64 Linux (glibc) only");
    }
    if matches!(option_env!("CITYGRID_LAZYLIB"), Some("0" | "off" | "no")) {
        return Some("built with CITYGRID_LAZYLIB=0 (lazy loading switched off)");
    }
    None
}

fn skip(test: &str) -> bool {
    match not_applicable() {
        Some(why) => {
            eprintln!("{test}: skipped: {why}");
            true
        }
        None => false,
    }
}

fn is_gdal_or_proj(name: &str) -> bool {
    name.starts_with("libgdal.so") || name.starts_with("libproj.so")
}

fn is_gdal_or_proj_function(name: &str) -> bool {
    [
        "CPL", "CSL", "GDAL", "OGR", "OSR", "OCT", "VSI", "proj_", "geod_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// DT_NEEDED entries and defined (exported) dynamic symbols of an ELF64 LE file.
struct Dynamic {
    needed: Vec<String>,
    exported: Vec<String>,
    /// Every `.dynsym` entry, defined or not.
    symbols: usize,
}

fn read_dynamic(path: &Path) -> Dynamic {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().expect("2 bytes")) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes")) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    assert_eq!(&b[0..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!((b[4], b[5]), (2, 1), "not ELF64 little-endian");
    let shoff = u64_at(0x28) as usize;
    let (shentsize, shnum) = (u16_at(0x3a), u16_at(0x3c));
    // (type, offset, size, link) of every section.
    let sections: Vec<(usize, usize, usize, usize)> = (0..shnum)
        .map(|i| {
            let h = shoff + i * shentsize;
            (
                u32_at(h + 4),
                u64_at(h + 24) as usize,
                u64_at(h + 32) as usize,
                u32_at(h + 40),
            )
        })
        .collect();
    let string = |table: usize, at: usize| -> String {
        let (_, offset, size, _) = sections[table];
        let bytes = &b[offset + at..offset + size];
        let end = bytes.iter().position(|&c| c == 0).expect("NUL-terminated");
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    };
    let mut dynamic = Dynamic {
        needed: Vec::new(),
        exported: Vec::new(),
        symbols: 0,
    };
    for &(kind, offset, size, link) in &sections {
        if kind == 6 {
            // SHT_DYNAMIC: DT_NEEDED = 1
            for at in (offset..offset + size).step_by(16) {
                if u64_at(at) == 1 {
                    dynamic.needed.push(string(link, u64_at(at + 8) as usize));
                }
            }
        } else if kind == 11 {
            // SHT_DYNSYM: defined symbols (st_shndx != 0) are exported
            for at in (offset + 24..offset + size).step_by(24) {
                dynamic.symbols += 1;
                if u16_at(at + 6) != 0 {
                    dynamic.exported.push(string(link, u32_at(at)));
                }
            }
        }
    }
    assert!(
        dynamic.needed.iter().any(|n| n.starts_with("libc.so")),
        "no DT_NEEDED libc found: the ELF reader is broken ({:?})",
        dynamic.needed
    );
    assert!(
        dynamic.symbols > 0,
        "no .dynsym entries found: the ELF reader is broken"
    );
    dynamic
}

#[test]
fn binary_does_not_need_or_export_gdal_and_proj() {
    if skip("binary_does_not_need_or_export_gdal_and_proj") {
        return;
    }
    let dynamic = read_dynamic(&common::citygrid_bin());
    let needed: Vec<&String> = dynamic
        .needed
        .iter()
        .filter(|n| is_gdal_or_proj(n))
        .collect();
    assert!(
        needed.is_empty(),
        "citygrid is linked against {needed:?}: some GDAL/PROJ function has no trampoline \
         or the crate that calls it does not name citygrid_lazylib (lazylib/README.md)"
    );
    let exported: Vec<&String> = dynamic
        .exported
        .iter()
        .filter(|n| is_gdal_or_proj_function(n))
        .collect();
    assert!(
        exported.is_empty(),
        "citygrid exports {exported:?}; libgdal would call these trampolines"
    );
}

/// The libraries the dynamic loader reported loading, from `LD_DEBUG=libs` files.
fn loaded_libraries(debug_dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(debug_dir)
        .expect("read LD_DEBUG dir")
        .flatten()
    {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    assert!(
        text.contains("libc.so.6"),
        "LD_DEBUG=libs wrote nothing about libc: cannot tell what was loaded"
    );
    text
}

/// Makes `command` log the libraries it loads into a fresh directory.
fn trace_libraries(command: &mut Command, tag: &str) -> PathBuf {
    let dir = common::temp_dir(tag);
    command
        .env("LD_DEBUG", "libs")
        .env("LD_DEBUG_OUTPUT", dir.join("ld"));
    dir
}

#[test]
fn version_maps_neither_library() {
    if skip("version_maps_neither_library") {
        return;
    }
    let mut command = Command::new(common::citygrid_bin());
    command.arg("--version");
    let dir = trace_libraries(&mut command, "lazy-version");
    let out = command.output().expect("run citygrid --version");
    assert!(out.status.success(), "citygrid --version failed");
    let loaded = loaded_libraries(&dir);
    assert!(
        !loaded.contains("libgdal.so") && !loaded.contains("libproj.so"),
        "citygrid --version loaded GDAL or PROJ:\n{loaded}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_maps_neither_library() {
    if skip("server_maps_neither_library") {
        return;
    }
    let db = common::TestDb::new().await;
    let mut command = common::citygrid(&db);
    command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let dir = trace_libraries(&mut command, "lazy-serve");
    let server = common::TestServer::spawn(command);
    for path in ["/api/routes", "/ogc/collections", "/"] {
        let response = common::http()
            .get(server.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(
            response.status().as_u16() < 500,
            "GET {path}: {}",
            response.status()
        );
    }
    assert!(server.terminate(), "citygrid serve did not exit cleanly");
    let loaded = loaded_libraries(&dir);
    assert!(
        !loaded.contains("libgdal.so"),
        "citygrid serve loaded libgdal:\n{loaded}"
    );
    assert!(
        !loaded.contains("libproj.so"),
        "citygrid serve loaded libproj without a crs= request:\n{loaded}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn import_loads_gdal_when_it_opens_the_file() {
    if skip("import_loads_gdal_when_it_opens_the_file") {
        return;
    }
    let db = common::TestDb::new().await;
    let mut command = common::citygrid(&db);
    command
        .args(["import", "vector"])
        .arg(common::data_file("wuhan_districts_cgcs2000.geojson"))
        .args(["--layer", "lazy_districts"]);
    let dir = trace_libraries(&mut command, "lazy-import");
    let (ok, stdout, stderr) = common::run(&mut command);
    assert!(ok, "import failed:\nstdout: {stdout}\nstderr: {stderr}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM layers.lazy_districts")
        .fetch_one(&db.pool)
        .await
        .expect("count imported rows");
    assert!(rows > 0, "import wrote no rows");
    let loaded = loaded_libraries(&dir);
    assert!(
        loaded.contains("libgdal.so"),
        "the import worked without loading libgdal?\n{loaded}"
    );
}

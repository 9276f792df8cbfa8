//! Embeds the default sprite's SVG icons (`data/sprites/default/*.svg`) in the
//! binary: `basemap::sprites` packs them into the sprite sheet at run time.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let dir = manifest
        .join("..")
        .join("data")
        .join("sprites")
        .join("default");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut icons: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "svg"))
                .filter_map(|p| {
                    Some((p.file_stem()?.to_str()?.to_string(), p.canonicalize().ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    icons.sort();
    let mut code = String::from("/// The default sprite's icons: (name, SVG text).\npub const DEFAULT_ICONS: &[(&str, &str)] = &[\n");
    for (name, path) in &icons {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("sprite_icons.rs");
    std::fs::write(out, code).expect("cannot write the icon list");
}

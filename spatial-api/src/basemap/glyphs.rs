//! Map glyphs: `GET /fonts/{fontstack}/{start}-{end}.pbf`, MapLibre's glyph protocol
//! (signed distance fields of 256 code points, protobuf), made from the TrueType /
//! OpenType fonts under the configured font folder (`font_dir`) with
//! `pbf_font_tools` (FreeType + an SDF renderer, as Martin does).
//!
//! A fontstack is one or more font names, comma-separated ("Noto Sans Bold,Noto Sans
//! Regular"): a code point is drawn from the first font that has it. Every Noto Sans
//! face named in a stack brings the matching Noto Sans CJK SC face behind it, so
//! Chinese labels get glyphs from the server too (MapLibre Native and other clients
//! that do not draw ideographs locally). A range is made once and kept in memory (a
//! bounded cache); the answer is immutable.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use pbf_font_tools::prost::Message;
use pbf_font_tools::{freetype, Fontstack, Glyphs};
use tokio::sync::{OnceCell, Semaphore};

/// The SDF glyph size MapLibre expects (24 px em, 3 px buffer, radius 8, cutoff 0.25).
const GLYPH_SIZE: usize = 24;
const GLYPH_BUFFER: usize = 3;
const GLYPH_RADIUS: usize = 8;
const GLYPH_CUTOFF: f64 = 0.25;
/// Fonts in one fontstack at most.
pub const MAX_FONTS_IN_STACK: usize = 4;
/// Font files looked at when the folder is scanned, at most.
const MAX_FONT_FILES: usize = 5000;
/// Folder depth searched under the font folder.
const MAX_DEPTH: usize = 6;
/// Bytes of generated ranges kept in memory.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Ranges generated at once (the rest wait).
const CONCURRENT_RENDERS: usize = 2;
/// The family whose faces back every Noto Sans face for CJK ranges.
const CJK_FALLBACK_FAMILY: &str = "Noto Sans CJK SC";

/// Why a glyph range cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum GlyphError {
    /// The range is not `{start}-{end}` with start a multiple of 256 and end = start + 255 ≤ 65535.
    #[error("a glyph range is {{start}}-{{end}}.pbf with start a multiple of 256 and end = start + 255, at most 65535 (got {0:?})")]
    BadRange(String),
    /// The fontstack names a font that is not installed (or is malformed).
    #[error("{0}")]
    UnknownFont(String),
    /// FreeType failed or the rendering task stopped.
    #[error("cannot render glyphs: {0}")]
    Render(String),
}

/// Parses `"{start}-{end}.pbf"` into `start` (checked).
pub fn parse_range(segment: &str) -> Result<u32, GlyphError> {
    let bad = || GlyphError::BadRange(segment.chars().take(40).collect());
    let body = segment.strip_suffix(".pbf").ok_or_else(bad)?;
    let (a, b) = body.split_once('-').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return Err(bad());
    }
    let start: u32 = a.parse().map_err(|_| bad())?;
    let end: u32 = b.parse().map_err(|_| bad())?;
    if !start.is_multiple_of(256) || end != start + 255 || end > 65535 {
        return Err(bad());
    }
    Ok(start)
}

/// One face of a font file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceRef {
    /// The file.
    pub path: PathBuf,
    /// The face's index in the file (collections such as `.ttc` hold several).
    pub index: isize,
}

/// The installed fonts by name ("Noto Sans Regular" = family + style).
#[derive(Debug, Default)]
pub struct FontIndex {
    faces: BTreeMap<String, FaceRef>,
}

impl FontIndex {
    /// Scans `dir` (and its subfolders, bounded) for `.ttf`, `.otf` and `.ttc` files.
    pub fn scan(dir: &Path) -> FontIndex {
        let mut files = Vec::new();
        collect_font_files(dir, 0, &mut files);
        files.sort();
        let mut faces = BTreeMap::new();
        let Ok(lib) = freetype::Library::init() else {
            tracing::warn!("FreeType did not start: no map glyphs");
            return FontIndex::default();
        };
        for path in files {
            let mut index: isize = 0;
            let mut count: isize = 1;
            while index < count {
                let Ok(face) = lib.new_face(&path, index) else {
                    break;
                };
                if index == 0 {
                    count = isize::from(face.num_faces()).clamp(1, 64);
                }
                if let Some(family) = face.family_name() {
                    let name = match face.style_name() {
                        Some(style) => format!("{family} {style}"),
                        None => family,
                    };
                    faces.entry(name).or_insert_with(|| FaceRef {
                        path: path.clone(),
                        index,
                    });
                }
                index += 1;
            }
        }
        tracing::info!(dir = %dir.display(), faces = faces.len(), "map fonts indexed");
        FontIndex { faces }
    }

    /// The number of faces found.
    pub fn len(&self) -> usize {
        self.faces.len()
    }

    /// Whether no face was found.
    pub fn is_empty(&self) -> bool {
        self.faces.is_empty()
    }

    /// The faces a fontstack draws from, in order: each named font, and behind each
    /// Noto Sans face the Noto Sans CJK SC face of the same style (when installed).
    pub fn resolve(&self, fontstack: &str) -> Result<Vec<FaceRef>, GlyphError> {
        let names: Vec<&str> = fontstack
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() || names.len() > MAX_FONTS_IN_STACK {
            return Err(GlyphError::UnknownFont(format!(
                "a fontstack is 1 to {MAX_FONTS_IN_STACK} comma-separated font names"
            )));
        }
        let mut out: Vec<FaceRef> = Vec::new();
        let mut push = |f: &FaceRef| {
            if !out.contains(f) {
                out.push(f.clone());
            }
        };
        for name in &names {
            let face = self.faces.get(*name).ok_or_else(|| {
                GlyphError::UnknownFont(format!(
                    "no font {:?} is installed; fonts are named family and style, e.g. \"Noto Sans Regular\"",
                    name.chars().take(80).collect::<String>()
                ))
            })?;
            push(face);
            if let Some(style) = name.strip_prefix("Noto Sans ") {
                let style = style.rsplit(' ').next().unwrap_or(style);
                if let Some(cjk) = self.faces.get(&format!("{CJK_FALLBACK_FAMILY} {style}")) {
                    push(cjk);
                }
            }
        }
        Ok(out)
    }
}

fn collect_font_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH || out.len() >= MAX_FONT_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if out.len() >= MAX_FONT_FILES {
            return;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect_font_files(&path, depth + 1, out);
        } else {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if matches!(ext.as_deref(), Some("ttf" | "otf" | "ttc")) {
                out.push(path);
            }
        }
    }
}

/// Renders the glyphs `start..=start+255` of a fontstack: each code point from the
/// first face that has it. Blocking (FreeType); run off the runtime.
pub fn render_range(
    stack_name: &str,
    faces: &[FaceRef],
    start: u32,
) -> Result<Vec<u8>, GlyphError> {
    let end = start + 255;
    let lib = freetype::Library::init().map_err(|e| GlyphError::Render(e.to_string()))?;
    let mut opened = Vec::with_capacity(faces.len());
    for f in faces {
        let face = lib
            .new_face(&f.path, f.index)
            .map_err(|e| GlyphError::Render(format!("{}: {e}", f.path.display())))?;
        face.set_char_size(0, (GLYPH_SIZE << 6) as isize, 0, 0)
            .map_err(|e| GlyphError::Render(e.to_string()))?;
        opened.push(face);
    }
    let mut stack = Fontstack {
        name: stack_name.to_string(),
        range: format!("{start}-{end}"),
        glyphs: Vec::new(),
    };
    for code in start..=end {
        let Some(face) = opened
            .iter()
            .find(|f| f.get_char_index(code as usize).is_some())
        else {
            continue;
        };
        match pbf_font_tools::render_sdf_glyph(face, code, GLYPH_BUFFER, GLYPH_RADIUS, GLYPH_CUTOFF)
        {
            Ok(glyph) => stack.glyphs.push(glyph),
            // A code point the face maps but cannot draw is left out, like a missing one.
            Err(e) => tracing::debug!(code, error = %e, "glyph skipped"),
        }
    }
    let glyphs = Glyphs {
        stacks: vec![stack],
    };
    Ok(glyphs.encode_to_vec())
}

type Key = (String, u32);

#[derive(Default)]
struct CacheInner {
    cells: HashMap<Key, Arc<OnceCell<Bytes>>>,
    order: VecDeque<(Key, usize)>,
    bytes: usize,
}

/// The font index (scanned on first use) and the generated ranges (bounded).
pub struct GlyphStore {
    dir: PathBuf,
    index: OnceCell<Arc<FontIndex>>,
    inner: Mutex<CacheInner>,
    renders: Semaphore,
}

impl GlyphStore {
    /// Glyphs from the fonts under `dir`.
    pub fn new(dir: PathBuf) -> GlyphStore {
        GlyphStore {
            dir,
            index: OnceCell::new(),
            inner: Mutex::new(CacheInner::default()),
            renders: Semaphore::new(CONCURRENT_RENDERS),
        }
    }

    /// The installed fonts (the folder is scanned once).
    pub async fn fonts(&self) -> Result<Arc<FontIndex>, GlyphError> {
        self.index
            .get_or_try_init(|| async {
                let dir = self.dir.clone();
                tokio::task::spawn_blocking(move || Arc::new(FontIndex::scan(&dir)))
                    .await
                    .map_err(|e| GlyphError::Render(e.to_string()))
            })
            .await
            .cloned()
    }

    /// The glyph PBF of `fontstack` for the range starting at `start` (checked by
    /// [`parse_range`]).
    pub async fn range(&self, fontstack: &str, start: u32) -> Result<Bytes, GlyphError> {
        let fonts = self.fonts().await?;
        let faces = fonts.resolve(fontstack)?;
        let name = fontstack
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        let key = (name.clone(), start);
        let cell = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(inner.cells.entry(key.clone()).or_default())
        };
        let made = std::sync::atomic::AtomicBool::new(false);
        let bytes = cell
            .get_or_try_init(|| async {
                let _permit = self
                    .renders
                    .acquire()
                    .await
                    .map_err(|e| GlyphError::Render(e.to_string()))?;
                let bytes = tokio::task::spawn_blocking(move || render_range(&name, &faces, start))
                    .await
                    .map_err(|e| GlyphError::Render(e.to_string()))??;
                made.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok::<_, GlyphError>(Bytes::from(bytes))
            })
            .await?
            .clone();
        if made.load(std::sync::atomic::Ordering::Relaxed) {
            self.account(key, bytes.len());
        }
        Ok(bytes)
    }

    /// Records a freshly made range and drops the oldest beyond the byte bound.
    fn account(&self, key: Key, len: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.order.push_back((key, len));
        inner.bytes += len;
        while inner.bytes > CACHE_BYTES && inner.order.len() > 1 {
            if let Some((old, size)) = inner.order.pop_front() {
                inner.bytes -= size;
                inner.cells.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert_eq!(parse_range("0-255.pbf").unwrap(), 0);
        assert_eq!(parse_range("19968-20223.pbf").unwrap(), 19968);
        assert_eq!(parse_range("65280-65535.pbf").unwrap(), 65280);
        for bad in [
            "1-256.pbf",
            "0-256.pbf",
            "0-255",
            "65536-65791.pbf",
            "-0-255.pbf",
            "a-b.pbf",
            "0255.pbf",
            "000000000-255.pbf",
        ] {
            assert!(
                matches!(parse_range(bad), Err(GlyphError::BadRange(_))),
                "{bad}"
            );
        }
    }
}

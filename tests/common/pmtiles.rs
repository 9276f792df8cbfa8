//! Reading PMTiles archives in tests with an independent reader: the `pmtiles`
//! Python package (Protomaps' reference implementation), installed by
//! `scripts/install-deps.sh` into a virtual environment under `target/pytools`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The Python of the virtual environment that has the `pmtiles` package.
pub fn python() -> PathBuf {
    let python = super::root()
        .join("target")
        .join("pytools")
        .join("bin")
        .join("python");
    assert!(
        python.exists(),
        "{} is missing: run `make deps` (scripts/install-deps.sh installs the Python pmtiles reader the tests use)",
        python.display()
    );
    python
}

/// Reads the whole archive with the package's `Reader`, `all_tiles` and
/// `deserialize_directory`; prints one JSON line with the header, metadata and
/// directory facts, then one line per tile: `z x y hex` of the tile after the
/// tile compression the header declares is undone. A sample of the tiles is also
/// looked up one by one with `Reader.get` (root, then leaf directories).
const SCRIPT: &str = r#"
import gzip, json, sys
from pmtiles.reader import Reader, MmapSource, all_tiles
from pmtiles.tile import deserialize_directory, Compression

with open(sys.argv[1], "rb") as f:
    get = MmapSource(f)
    reader = Reader(get)
    h = reader.header()
    header = {k: (v.name if hasattr(v, "name") else v) for k, v in h.items()}
    metadata = reader.metadata()
    entries, leaves = [], 0
    def walk(offset, length, depth):
        global leaves
        assert depth < 4, "directories nested too deep"
        for e in deserialize_directory(get(offset, length)):
            if e.run_length == 0:
                leaves += 1
                walk(h["leaf_directory_offset"] + e.offset, e.length, depth + 1)
            else:
                entries.append(e)
    walk(h["root_offset"], h["root_length"], 0)
    # Clustered: in tile-id order, each entry's data either follows the data
    # written so far or repeats earlier data.
    end, clustered, last_id = 0, True, -1
    for e in entries:
        if e.tile_id <= last_id:
            clustered = False
        last_id = e.tile_id + e.run_length - 1
        if e.offset == end:
            end += e.length
        elif e.offset > end:
            clustered = False
    def decode(data):
        if h["tile_compression"] == Compression.GZIP:
            return gzip.decompress(data)
        assert h["tile_compression"] == Compression.NONE, h["tile_compression"]
        return bytes(data)
    tiles = list(all_tiles(get))
    step = max(1, len(tiles) // 300)
    for i in list(range(0, len(tiles), step)) + [len(tiles) - 1]:
        if i >= 0:
            (z, x, y), data = tiles[i]
            assert bytes(reader.get(z, x, y)) == bytes(data), (z, x, y)
    print(json.dumps({
        "header": header,
        "metadata": metadata,
        "leaves": leaves,
        "entries": len(entries),
        "runs": sum(1 for e in entries if e.run_length > 1),
        "contents": len({(e.offset, e.length) for e in entries}),
        "clustered": clustered,
    }))
    for (z, x, y), data in tiles:
        print(z, x, y, decode(data).hex())
"#;

/// What the independent reader found in an archive.
#[derive(Debug)]
pub struct Archive {
    /// The header, enums by name (`GZIP`, `MVT`, `PNG`…).
    pub header: Value,
    /// The JSON metadata.
    pub metadata: Value,
    /// Number of leaf directories.
    pub leaves: u64,
    /// Tile entries in all directories.
    pub entries: u64,
    /// Entries with a run length above 1.
    pub runs: u64,
    /// Distinct tile data addressed by the entries.
    pub contents: u64,
    /// Whether the tile data are in tile-id order.
    pub clustered: bool,
    /// Every tile, decompressed: `(z, x, y)` → bytes.
    pub tiles: BTreeMap<(u8, u32, u32), Vec<u8>>,
}

impl Archive {
    /// A header field as an integer.
    pub fn int(&self, field: &str) -> i64 {
        self.header[field]
            .as_i64()
            .unwrap_or_else(|| panic!("header field {field}: {}", self.header[field]))
    }

    /// A header field as text (the enums).
    pub fn text(&self, field: &str) -> &str {
        self.header[field]
            .as_str()
            .unwrap_or_else(|| panic!("header field {field}: {}", self.header[field]))
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Reads `path` with the Python `pmtiles` package; panics with its error if it
/// cannot.
pub fn read(path: &Path) -> Archive {
    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .output()
        .expect("run the Python pmtiles reader");
    assert!(
        out.status.success(),
        "the Python pmtiles reader failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut lines = text.lines();
    let facts: Value = serde_json::from_str(lines.next().expect("facts line")).expect("json");
    let mut tiles = BTreeMap::new();
    for line in lines {
        let mut parts = line.split(' ');
        let mut num = || parts.next().expect("field").to_string();
        let (z, x, y) = (num(), num(), num());
        let data = unhex(&num());
        let key = (
            z.parse().expect("z"),
            x.parse().expect("x"),
            y.parse().expect("y"),
        );
        assert!(tiles.insert(key, data).is_none(), "tile {key:?} twice");
    }
    let n = |k: &str| facts[k].as_u64().expect(k);
    Archive {
        header: facts["header"].clone(),
        metadata: facts["metadata"].clone(),
        leaves: n("leaves"),
        entries: n("entries"),
        runs: n("runs"),
        contents: n("contents"),
        clustered: facts["clustered"].as_bool().expect("clustered"),
        tiles,
    }
}

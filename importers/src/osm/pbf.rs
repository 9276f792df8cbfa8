//! A native, parallel reader of OpenStreetMap `.osm.pbf` files.
//!
//! The format (<https://wiki.openstreetmap.org/wiki/PBF_Format>) is a sequence of
//! blobs, each `[u32 BE header length][BlobHeader][Blob]`; a blob holds a zlib-
//! compressed (or raw) `HeaderBlock` or `PrimitiveBlock`. The file is split into
//! blobs on one thread (cheap: only headers are read), then the blocks are inflated
//! and decoded on every core with rayon and put back in file order.
//!
//! What it keeps ([`OsmData`]): every node's position (for way geometries), the
//! tagged nodes with their tags, every way with its node references and tags, every
//! relation with its members and tags. Metadata (`Info`, `DenseInfo`: versions,
//! users, timestamps) is skipped. Limits from the format's specification are
//! enforced (a header ≤ 64 KiB, a blob ≤ 32 MiB, compressed or not), so a hostile
//! file cannot make the reader allocate without bound; every structural problem is
//! an [`ImportError::Source`] naming the byte offset of the block.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::ImportError;

/// Largest `BlobHeader` the specification allows.
const MAX_HEADER: usize = 64 * 1024;
/// Largest blob, compressed or not, the specification allows.
const MAX_BLOB: usize = 32 * 1024 * 1024;

/// A tag: key and value, shared with every other use of the same string in the
/// block (a block's string table is converted once; tags only count references).
pub type Tag = (Arc<str>, Arc<str>);

/// Tags of an element, in file order.
pub type TagList = Vec<Tag>;

/// A node that has at least one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// OSM id.
    pub id: i64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Tags, in file order.
    pub tags: TagList,
}

/// A way.
#[derive(Debug, Clone, PartialEq)]
pub struct Way {
    /// OSM id.
    pub id: i64,
    /// Node ids, in order.
    pub refs: Vec<i64>,
    /// Tags, in file order.
    pub tags: TagList,
}

/// The kind of element a relation member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberType {
    /// A node.
    Node,
    /// A way.
    Way,
    /// A relation.
    Relation,
}

/// A member of a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// What the member is.
    pub kind: MemberType,
    /// Its OSM id.
    pub id: i64,
    /// What its role means.
    pub role: Role,
}

/// What a relation member's role means to the layers built from it. The role's text
/// is not kept: GDAL's OSM driver, which the layers mirror, only tells `outer` and
/// `subarea` from the rest (and a big extract has millions of members).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `outer`.
    Outer,
    /// `inner`.
    Inner,
    /// `subarea`.
    Subarea,
    /// Any other role, or none.
    Other,
}

impl Role {
    /// The role named `name`.
    pub fn from_name(name: &str) -> Role {
        match name {
            "outer" => Role::Outer,
            "inner" => Role::Inner,
            "subarea" => Role::Subarea,
            _ => Role::Other,
        }
    }

    /// Its name (empty for [`Role::Other`]).
    pub fn name(self) -> &'static str {
        match self {
            Role::Outer => "outer",
            Role::Inner => "inner",
            Role::Subarea => "subarea",
            Role::Other => "",
        }
    }
}

impl From<&str> for Role {
    fn from(name: &str) -> Role {
        Role::from_name(name)
    }
}

/// A relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// OSM id.
    pub id: i64,
    /// Members, in order.
    pub members: Vec<Member>,
    /// Tags, in file order.
    pub tags: TagList,
}

/// Everything read from an extract, elements in file order.
#[derive(Debug, Default)]
pub struct OsmData {
    /// Ids of every node, sorted ascending (see [`OsmData::node`]).
    node_ids: Vec<i64>,
    /// Positions `(lon, lat)` of `node_ids`, same order.
    node_coords: Vec<(f64, f64)>,
    /// Nodes with at least one tag, in file order.
    pub tagged_nodes: Vec<Node>,
    /// Ways, in file order.
    pub ways: Vec<Way>,
    /// Relations, in file order.
    pub relations: Vec<Relation>,
}

impl OsmData {
    /// The position `(lon, lat)` of node `id`, if the extract has it.
    pub fn node(&self, id: i64) -> Option<(f64, f64)> {
        self.node_ids
            .binary_search(&id)
            .ok()
            .map(|i| self.node_coords[i])
    }

    /// Number of nodes (tagged or not).
    pub fn node_count(&self) -> usize {
        self.node_ids.len()
    }

    /// Builds the data from parts (tests and other readers); `nodes` need not be
    /// sorted. The tagged nodes are those of `nodes` with tags.
    pub fn from_parts(nodes: Vec<Node>, ways: Vec<Way>, relations: Vec<Relation>) -> OsmData {
        let mut data = OsmData {
            ways,
            relations,
            ..OsmData::default()
        };
        data.set_positions(nodes.iter().map(|n| (n.id, (n.lon, n.lat))).collect());
        data.tagged_nodes = nodes.into_iter().filter(|n| !n.tags.is_empty()).collect();
        data
    }

    /// Keeps the node positions for [`OsmData::node`], sorted by id (of duplicate
    /// ids, the first one wins).
    fn set_positions(&mut self, mut nodes: Vec<(i64, (f64, f64))>) {
        if !nodes.windows(2).all(|w| w[0].0 < w[1].0) {
            nodes.sort_by_key(|(id, _)| *id);
            nodes.dedup_by_key(|(id, _)| *id);
        }
        self.node_ids = nodes.iter().map(|(id, _)| *id).collect();
        self.node_coords = nodes.into_iter().map(|(_, c)| c).collect();
    }
}

/// Whether `path` looks like an OSM PBF extract (`*.osm.pbf` or `*.pbf`).
pub fn is_pbf_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pbf"))
}

/// Reads a whole `.osm.pbf` file.
pub fn read_file(path: &Path) -> Result<OsmData, ImportError> {
    if !path.exists() {
        return Err(ImportError::NotFound(path.to_path_buf()));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| ImportError::source(path, format!("cannot read the file: {e}")))?;
    read_bytes(&bytes).map_err(|e| ImportError::source(path, e))
}

/// Reads an extract held in memory; the error is a one-line description.
pub fn read_bytes(bytes: &[u8]) -> Result<OsmData, String> {
    let blobs = split_blobs(bytes)?;
    let mut saw_header = false;
    let mut data_blobs = Vec::with_capacity(blobs.len());
    for b in blobs {
        match b.kind {
            BlobKind::Header => {
                let raw = inflate(&bytes[b.data.clone()], b.offset)?;
                check_header(&raw, b.offset)?;
                saw_header = true;
            }
            BlobKind::Data => {
                if !saw_header {
                    return Err(format!(
                        "not an OSM PBF file: data block at byte {} before the OSMHeader block",
                        b.offset
                    ));
                }
                data_blobs.push(b);
            }
            BlobKind::Other => {}
        }
    }
    if !saw_header {
        return Err("not an OSM PBF file: no OSMHeader block".into());
    }
    // Largest blocks first, one per task: a small extract's ways and relations often
    // share one block several times the size of each node block, and started last
    // it would be decoded alone after the others.
    let mut order: Vec<usize> = (0..data_blobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(data_blobs[i].data.len()));
    let mut decoded: Vec<(usize, Block)> = order
        .par_iter()
        .with_max_len(1)
        .map(|&i| {
            let b = &data_blobs[i];
            let raw = inflate(&bytes[b.data.clone()], b.offset)?;
            decode_primitive_block(&raw)
                .map(|block| (i, block))
                .map_err(|e| format!("block at byte {}: {e}", b.offset))
        })
        .collect::<Result<_, String>>()?;
    decoded.sort_unstable_by_key(|(i, _)| *i);
    Ok(merge(decoded.into_iter().map(|(_, block)| block).collect()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobKind {
    Header,
    Data,
    Other,
}

struct BlobRef {
    kind: BlobKind,
    /// Byte offset of the blob's length prefix (for messages).
    offset: usize,
    /// The serialized `Blob` message.
    data: std::ops::Range<usize>,
}

fn split_blobs(bytes: &[u8]) -> Result<Vec<BlobRef>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let offset = pos;
        let Some(len_bytes) = bytes.get(pos..pos + 4) else {
            return Err(format!(
                "truncated file: block header length at byte {offset}"
            ));
        };
        let header_len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        if header_len == 0 || header_len > MAX_HEADER {
            return Err(format!(
                "not an OSM PBF file (or corrupt): block header of {header_len} bytes at byte {offset}"
            ));
        }
        pos += 4;
        let Some(header) = bytes.get(pos..pos + header_len) else {
            return Err(format!(
                "truncated file: block header at byte {offset} ends past the end"
            ));
        };
        pos += header_len;
        let mut kind_name: &[u8] = b"";
        let mut data_size: Option<usize> = None;
        let mut r = Reader::new(header);
        while let Some((field, value)) = r.next_field()? {
            match (field, value) {
                (1, Value::Bytes(b)) => kind_name = b,
                (3, Value::Varint(v)) => data_size = Some(v as usize),
                _ => {}
            }
        }
        let Some(size) = data_size else {
            return Err(format!(
                "corrupt block header at byte {offset}: no data size"
            ));
        };
        if size > MAX_BLOB {
            return Err(format!(
                "block at byte {offset} is {size} bytes, more than the format's 32 MiB"
            ));
        }
        if pos + size > bytes.len() {
            return Err(format!(
                "truncated file: the block at byte {offset} ends past the end of the file"
            ));
        }
        let kind = match kind_name {
            b"OSMHeader" => BlobKind::Header,
            b"OSMData" => BlobKind::Data,
            _ => BlobKind::Other,
        };
        out.push(BlobRef {
            kind,
            offset,
            data: pos..pos + size,
        });
        pos += size;
    }
    Ok(out)
}

/// The uncompressed content of a `Blob` message.
fn inflate(blob: &[u8], offset: usize) -> Result<Vec<u8>, String> {
    let mut raw: Option<&[u8]> = None;
    let mut zlib: Option<&[u8]> = None;
    let mut raw_size: Option<usize> = None;
    let mut other = None;
    let mut r = Reader::new(blob);
    while let Some((field, value)) = r
        .next_field()
        .map_err(|e| format!("block at byte {offset}: {e}"))?
    {
        match (field, value) {
            (1, Value::Bytes(b)) => raw = Some(b),
            (2, Value::Varint(v)) => raw_size = Some(v as usize),
            (3, Value::Bytes(b)) => zlib = Some(b),
            (4, _) => other = Some("LZMA"),
            (5, _) => other = Some("bzip2"),
            (6, _) => other = Some("LZ4"),
            (7, _) => other = Some("Zstandard"),
            _ => {}
        }
    }
    if let Some(b) = raw {
        return Ok(b.to_vec());
    }
    if let Some(z) = zlib {
        let expected = raw_size.unwrap_or(0);
        if expected > MAX_BLOB {
            return Err(format!(
                "block at byte {offset} inflates to {expected} bytes, more than the format's 32 MiB"
            ));
        }
        let mut out = Vec::with_capacity(expected);
        flate2::read::ZlibDecoder::new(z)
            .take(MAX_BLOB as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("block at byte {offset}: corrupt zlib data ({e})"))?;
        if out.len() > MAX_BLOB {
            return Err(format!(
                "block at byte {offset} inflates to more than the format's 32 MiB"
            ));
        }
        if raw_size.is_some_and(|n| n != out.len()) {
            return Err(format!(
                "block at byte {offset}: inflated to {} bytes, the header says {expected}",
                out.len()
            ));
        }
        return Ok(out);
    }
    match other {
        Some(name) => Err(format!(
            "block at byte {offset} is {name}-compressed; only zlib and uncompressed blocks are supported (re-encode the file with osmium cat)"
        )),
        None => Err(format!("block at byte {offset} has no data")),
    }
}

/// Refuses a file that needs features this reader lacks.
fn check_header(raw: &[u8], offset: usize) -> Result<(), String> {
    let mut r = Reader::new(raw);
    while let Some((field, value)) = r
        .next_field()
        .map_err(|e| format!("header block at byte {offset}: {e}"))?
    {
        if let (4, Value::Bytes(b)) = (field, value) {
            let feature = String::from_utf8_lossy(b);
            if !matches!(
                feature.as_ref(),
                "OsmSchema-V0.6" | "DenseNodes" | "HistoricalInformation"
            ) {
                return Err(format!(
                    "the file requires the PBF feature {feature:?}, which citygrid does not read"
                ));
            }
        }
    }
    Ok(())
}

/// What one primitive block holds.
#[derive(Default)]
struct Block {
    nodes: Vec<(i64, (f64, f64))>,
    tagged: Vec<Node>,
    ways: Vec<Way>,
    relations: Vec<Relation>,
}

fn merge(blocks: Vec<Block>) -> OsmData {
    let n_nodes = blocks.iter().map(|b| b.nodes.len()).sum();
    let mut nodes: Vec<(i64, (f64, f64))> = Vec::with_capacity(n_nodes);
    let mut data = OsmData::default();
    for b in blocks {
        nodes.extend(b.nodes);
        data.tagged_nodes.extend(b.tagged);
        data.ways.extend(b.ways);
        data.relations.extend(b.relations);
    }
    data.set_positions(nodes);
    data
}

struct BlockContext {
    strings: Vec<Arc<str>>,
    granularity: i64,
    lat_offset: i64,
    lon_offset: i64,
}

impl BlockContext {
    /// String `index` of the block, borrowed (no reference count is touched: blocks
    /// are decoded on several threads at once).
    fn str_at(&self, index: u64) -> Result<&str, String> {
        self.strings
            .get(index as usize)
            .map(|s| &**s)
            .ok_or_else(|| format!("string index {index} out of range"))
    }
    fn string(&self, index: u64) -> Result<Arc<str>, String> {
        self.strings
            .get(index as usize)
            .cloned()
            .ok_or_else(|| format!("string index {index} out of range"))
    }
    // In i128: a hostile file's offsets and granularity cannot overflow (its
    // coordinates are then out of range and refused by the conversion).
    fn lon(&self, raw: i64) -> f64 {
        1e-9 * (i128::from(self.lon_offset) + i128::from(self.granularity) * i128::from(raw)) as f64
    }
    fn lat(&self, raw: i64) -> f64 {
        1e-9 * (i128::from(self.lat_offset) + i128::from(self.granularity) * i128::from(raw)) as f64
    }
    fn tags(&self, keys: &[u64], vals: &[u64]) -> Result<TagList, String> {
        if keys.len() != vals.len() {
            return Err("keys and values of different lengths".into());
        }
        keys.iter()
            .zip(vals)
            .map(|(k, v)| Ok((self.string(*k)?, self.string(*v)?)))
            .collect()
    }
}

fn decode_primitive_block(raw: &[u8]) -> Result<Block, String> {
    let mut strings = Vec::new();
    let mut groups = Vec::new();
    let mut granularity = 100i64;
    let mut lat_offset = 0i64;
    let mut lon_offset = 0i64;
    let mut r = Reader::new(raw);
    while let Some((field, value)) = r.next_field()? {
        match (field, value) {
            (1, Value::Bytes(table)) => {
                let mut t = Reader::new(table);
                while let Some((f, v)) = t.next_field()? {
                    if let (1, Value::Bytes(s)) = (f, v) {
                        strings.push(Arc::<str>::from(String::from_utf8_lossy(s)));
                    }
                }
            }
            (2, Value::Bytes(g)) => groups.push(g),
            (17, Value::Varint(v)) => granularity = v as i64,
            (19, Value::Varint(v)) => lat_offset = v as i64,
            (20, Value::Varint(v)) => lon_offset = v as i64,
            _ => {}
        }
    }
    if granularity <= 0 {
        return Err(format!("granularity {granularity}"));
    }
    let ctx = BlockContext {
        strings,
        granularity,
        lat_offset,
        lon_offset,
    };
    let mut block = Block::default();
    for g in groups {
        let (mut ways, mut relations) = (Vec::new(), Vec::new());
        let mut r = Reader::new(g);
        while let Some((field, value)) = r.next_field()? {
            match (field, value) {
                (1, Value::Bytes(b)) => decode_node(&ctx, b, &mut block)?,
                (2, Value::Bytes(b)) => decode_dense(&ctx, b, &mut block)?,
                (3, Value::Bytes(b)) => ways.push(b),
                (4, Value::Bytes(b)) => relations.push(b),
                _ => {}
            }
        }
        block
            .ways
            .extend(decode_in_parallel(&ctx, &ways, decode_way)?);
        block
            .relations
            .extend(decode_in_parallel(&ctx, &relations, decode_relation)?);
    }
    Ok(block)
}

/// Ways or relations decoded at most this many to a task.
const ELEMENTS_PER_TASK: usize = 256;

/// Decodes a group's ways or relations on every core (a block of them is several
/// times the work of a block of nodes), in order.
fn decode_in_parallel<T: Send>(
    ctx: &BlockContext,
    messages: &[&[u8]],
    decode: fn(&BlockContext, &[u8]) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let chunks: Vec<Vec<T>> = messages
        .par_chunks(ELEMENTS_PER_TASK)
        .map(|chunk| chunk.iter().map(|b| decode(ctx, b)).collect())
        .collect::<Result<_, String>>()?;
    Ok(chunks.into_iter().flatten().collect())
}

fn decode_node(ctx: &BlockContext, b: &[u8], block: &mut Block) -> Result<(), String> {
    let (mut id, mut lat, mut lon) = (0i64, 0i64, 0i64);
    let (mut keys, mut vals) = (Vec::new(), Vec::new());
    let mut r = Reader::new(b);
    while let Some((field, value)) = r.next_field()? {
        match (field, value) {
            (1, Value::Varint(v)) => id = zigzag(v),
            (2, v) => push_uints(v, &mut keys)?,
            (3, v) => push_uints(v, &mut vals)?,
            (8, Value::Varint(v)) => lat = zigzag(v),
            (9, Value::Varint(v)) => lon = zigzag(v),
            _ => {}
        }
    }
    let pos = (ctx.lon(lon), ctx.lat(lat));
    block.nodes.push((id, pos));
    if !keys.is_empty() {
        block.tagged.push(Node {
            id,
            lon: pos.0,
            lat: pos.1,
            tags: ctx.tags(&keys, &vals)?,
        });
    }
    Ok(())
}

fn decode_dense(ctx: &BlockContext, b: &[u8], block: &mut Block) -> Result<(), String> {
    let (mut ids, mut lats, mut lons, mut kv) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut r = Reader::new(b);
    while let Some((field, value)) = r.next_field()? {
        match field {
            1 => push_sints(value, &mut ids)?,
            8 => push_sints(value, &mut lats)?,
            9 => push_sints(value, &mut lons)?,
            10 => push_uints(value, &mut kv)?,
            _ => {}
        }
    }
    if lats.len() != ids.len() || lons.len() != ids.len() {
        return Err("dense nodes with ids, latitudes and longitudes of different lengths".into());
    }
    let (mut id, mut lat, mut lon) = (0i64, 0i64, 0i64);
    let mut kv_pos = 0usize;
    block.nodes.reserve(ids.len());
    for i in 0..ids.len() {
        id = id.wrapping_add(ids[i]);
        lat = lat.wrapping_add(lats[i]);
        lon = lon.wrapping_add(lons[i]);
        let pos = (ctx.lon(lon), ctx.lat(lat));
        block.nodes.push((id, pos));
        // keys_vals: (key, value)* 0 per node; absent when no node in the block has tags.
        let mut tags = TagList::new();
        while kv_pos < kv.len() {
            let k = kv[kv_pos];
            kv_pos += 1;
            if k == 0 {
                break;
            }
            let Some(&v) = kv.get(kv_pos) else {
                return Err("dense node tags end with a key and no value".into());
            };
            kv_pos += 1;
            tags.push((ctx.string(k)?, ctx.string(v)?));
        }
        if !tags.is_empty() {
            block.tagged.push(Node {
                id,
                lon: pos.0,
                lat: pos.1,
                tags,
            });
        }
    }
    Ok(())
}

fn decode_way(ctx: &BlockContext, b: &[u8]) -> Result<Way, String> {
    let mut id = 0i64;
    let (mut keys, mut vals, mut deltas) = (Vec::new(), Vec::new(), Vec::new());
    let mut r = Reader::new(b);
    while let Some((field, value)) = r.next_field()? {
        match (field, value) {
            (1, Value::Varint(v)) => id = v as i64,
            (2, v) => push_uints(v, &mut keys)?,
            (3, v) => push_uints(v, &mut vals)?,
            (8, v) => push_sints(v, &mut deltas)?,
            _ => {}
        }
    }
    Ok(Way {
        id,
        refs: undelta(deltas),
        tags: ctx.tags(&keys, &vals)?,
    })
}

fn decode_relation(ctx: &BlockContext, b: &[u8]) -> Result<Relation, String> {
    let mut id = 0i64;
    let (mut keys, mut vals, mut roles, mut memids, mut types) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut r = Reader::new(b);
    while let Some((field, value)) = r.next_field()? {
        match (field, value) {
            (1, Value::Varint(v)) => id = v as i64,
            (2, v) => push_uints(v, &mut keys)?,
            (3, v) => push_uints(v, &mut vals)?,
            (8, v) => push_uints(v, &mut roles)?,
            (9, v) => push_sints(v, &mut memids)?,
            (10, v) => push_uints(v, &mut types)?,
            _ => {}
        }
    }
    if roles.len() != memids.len() || types.len() != memids.len() {
        return Err(format!("relation {id}: member lists of different lengths"));
    }
    let mut members = Vec::with_capacity(memids.len());
    for (i, member_id) in undelta(memids).into_iter().enumerate() {
        let kind = match types[i] {
            0 => MemberType::Node,
            1 => MemberType::Way,
            2 => MemberType::Relation,
            t => return Err(format!("relation {id}: member type {t}")),
        };
        members.push(Member {
            kind,
            id: member_id,
            role: Role::from_name(ctx.str_at(roles[i])?),
        });
    }
    Ok(Relation {
        id,
        members,
        tags: ctx.tags(&keys, &vals)?,
    })
}

/// Running sums of delta-coded ids.
fn undelta(deltas: Vec<i64>) -> Vec<i64> {
    let mut cur = 0i64;
    deltas
        .into_iter()
        .map(|d| {
            cur = cur.wrapping_add(d);
            cur
        })
        .collect()
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// How many varints a packed field holds (each ends with a byte below 0x80): the
/// lists are allocated once at their size instead of growing (a relation can have
/// thousands of members, a block of dense nodes 8,000 ids).
fn varint_count(packed: &[u8]) -> usize {
    packed.iter().filter(|&&b| b < 0x80).count()
}

/// A repeated unsigned field, packed or not.
fn push_uints(value: Value, out: &mut Vec<u64>) -> Result<(), String> {
    match value {
        Value::Varint(v) => out.push(v),
        Value::Bytes(b) => {
            out.reserve(varint_count(b));
            let mut r = Reader::new(b);
            while !r.at_end() {
                out.push(r.varint()?);
            }
        }
        Value::Fixed => return Err("unexpected fixed-width value".into()),
    }
    Ok(())
}

/// A repeated zigzag-encoded field, packed or not.
fn push_sints(value: Value, out: &mut Vec<i64>) -> Result<(), String> {
    match value {
        Value::Varint(v) => out.push(zigzag(v)),
        Value::Bytes(b) => {
            out.reserve(varint_count(b));
            let mut r = Reader::new(b);
            while !r.at_end() {
                out.push(zigzag(r.varint()?));
            }
        }
        Value::Fixed => return Err("unexpected fixed-width value".into()),
    }
    Ok(())
}

/// A protobuf field value (what this reader needs of the wire format).
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A 32- or 64-bit fixed value, skipped.
    Fixed,
}

/// A cursor over protobuf wire format.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("truncated varint".into());
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err("varint overflows 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }
    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.at_end() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.skip(8)?;
                Value::Fixed
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| "length out of range".to_string())?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or_else(|| "field length runs past the end of its message".to_string())?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Value::Bytes(b)
            }
            5 => {
                self.skip(4)?;
                Value::Fixed
            }
            t => return Err(format!("unsupported protobuf wire type {t}")),
        };
        Ok(Some((field, value)))
    }
    fn skip(&mut self, n: usize) -> Result<(), String> {
        if self.pos + n > self.buf.len() {
            return Err("truncated fixed-width value".into());
        }
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/helsinki.osm.pbf");
        std::fs::read(path).expect("the sample extract")
    }

    #[test]
    fn reads_the_sample_extract() {
        let data = read_bytes(&sample()).expect("reads");
        assert!(data.node_count() > 10_000, "{} nodes", data.node_count());
        assert!(!data.tagged_nodes.is_empty());
        assert!(!data.ways.is_empty());
        assert!(!data.relations.is_empty());
        // Every node is inside the extract's area (central Helsinki) …
        for n in &data.tagged_nodes {
            assert!(
                (24.0..26.0).contains(&n.lon) && (59.0..61.0).contains(&n.lat),
                "{n:?}"
            );
        }
        // … and most way references resolve.
        let (mut found, mut total) = (0usize, 0usize);
        for w in &data.ways {
            for r in &w.refs {
                total += 1;
                found += usize::from(data.node(*r).is_some());
            }
        }
        // (An extract clipped by a bounding box: ways crossing its edge miss nodes.)
        assert!(found * 10 > total * 8, "{found}/{total} way nodes found");
    }

    #[test]
    fn truncated_and_foreign_files_are_refused_with_a_reason() {
        let bytes = sample();
        let err = read_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        let err = read_bytes(b"{\"type\":\"FeatureCollection\"}").unwrap_err();
        assert!(err.contains("not an OSM PBF"), "{err}");
        let err = read_bytes(&[]).unwrap_err();
        assert!(err.contains("no OSMHeader"), "{err}");
    }

    #[test]
    fn raw_blocks_dense_tags_ways_and_relations() {
        // A hand-written file with uncompressed blocks (the fuzz seed; GDAL reads it
        // too): four dense nodes, one tagged; two ways; a multipolygon relation.
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/osm/tiny_raw_extract.bin");
        let seed = std::fs::read(path).expect("the seed");
        let data = read_bytes(&seed[1..]).expect("reads");
        assert_eq!(data.node_count(), 4);
        let (lon, lat) = data.node(3).expect("node 3");
        assert!((lon - 24.953).abs() < 1e-12 && (lat - 60.169).abs() < 1e-12);
        assert_eq!(data.tagged_nodes.len(), 1);
        assert_eq!(data.tagged_nodes[0].id, 1);
        assert_eq!(
            data.tagged_nodes[0].tags,
            vec![("name".into(), "Kauppatori".into())]
        );
        assert_eq!(data.ways.len(), 2);
        assert_eq!(data.ways[1].refs, vec![1, 2, 3, 4, 1]);
        assert_eq!(&*data.ways[1].tags[0].0, "building");
        assert_eq!(data.relations.len(), 1);
        let m = &data.relations[0].members[0];
        assert_eq!((m.kind, m.id, m.role), (MemberType::Way, 11, Role::Outer));
    }

    #[test]
    fn varints_and_zigzag() {
        let mut r = Reader::new(&[0x96, 0x01]);
        assert_eq!(r.varint(), Ok(150));
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(1), -1);
        assert_eq!(zigzag(2), 1);
        assert_eq!(zigzag(u64::MAX), i64::MIN);
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0x0a, 0x05, 1, 2]);
        assert!(r.next_field().is_err());
    }
}

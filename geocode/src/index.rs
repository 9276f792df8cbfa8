//! The in-memory geocoding index: addresses by road and number, road names with an
//! n-gram index for fuzzy matching, R-trees of address points, road segments and area
//! boxes. See the crate documentation for the matching rules.

use std::collections::HashMap;

use geo::{BoundingRect, Contains, InteriorPoint};
use rstar::primitives::{GeomWithData, Line, Rectangle};
use rstar::{PointDistance, RTree, AABB};

use crate::divisions::{self, Divisions, Level};
use crate::normalize::{has_cjk, normalize, number_key, number_value, road_key};
use crate::parse::parse_in;
use crate::sphere::{self, xyz};
use crate::{
    AddressRecord, AreaKind, AreaRecord, AreaRef, Candidate, ForwardOptions, ForwardResult,
    MatchLevel, ParsedAddress, ReverseHit, RoadRecord, AMBIGUOUS_DISTANCE_M, AMBIGUOUS_SCORE_GAP,
    MAX_LIMIT, MAX_QUERY_CHARS,
};

/// Lowest similarity of a fuzzy road-name match.
const FUZZY_MIN: f64 = 0.7;
/// Longest road key matched fuzzily, in characters.
const MAX_FUZZY_CHARS: usize = 64;
/// Fuzzy road candidates looked at per query (best n-gram overlap first).
const FUZZY_POOL: usize = 24;
/// Score factors of the levels below an exact house.
const INTERPOLATED_BOTH: f64 = 0.85;
const INTERPOLATED_ONE: f64 = 0.7;
const ROAD_LEVEL: f64 = 0.6;
const COMMUNITY_LEVEL: f64 = 0.65;
const DIVISION_LEVEL: f64 = 0.45;
/// Penalties.
const DIVISION_MISMATCH: f64 = 0.6;
const CITY_MISMATCH: f64 = 0.7;
const NUMBER_LETTER_DROPPED: f64 = 0.95;
const NUMBER_IN_RANGE: f64 = 0.95;
const DICTIONARY_ROAD: f64 = 0.97;

type PointEntry = GeomWithData<[f64; 3], usize>;
/// A road segment: (road, line of that road).
type SegmentEntry = GeomWithData<Line<[f64; 3]>, (usize, usize)>;
type AreaEntry = GeomWithData<Rectangle<[f64; 2]>, usize>;
/// A known house number on a road and its address.
type Near<'a> = Option<(u64, &'a Addr)>;

/// One indexed address.
#[derive(Debug, Clone)]
struct Addr {
    rec: AddressRecord,
    road: Option<usize>,
    number: String,
    value: Option<u64>,
    /// Extra number keys (the ends of a range `1-3`).
    aliases: Vec<String>,
    div: Option<String>,
    full: Option<String>,
    xyz: [f64; 3],
    /// The label (built once: reverse answers it on every query).
    label: String,
}

/// One road name: its addresses and lines.
#[derive(Debug, Clone, Default)]
struct Road {
    name: String,
    key: String,
    cjk: bool,
    addrs: Vec<usize>,
    by_number: HashMap<String, Vec<usize>>,
    by_alias: HashMap<String, Vec<usize>>,
    /// (road id, line)
    lines: Vec<(i64, Vec<[f64; 2]>)>,
}

impl Road {
    fn is_empty(&self) -> bool {
        self.addrs.is_empty() && self.lines.is_empty()
    }
}

/// An internal candidate before areas and labels are attached.
#[derive(Debug, Clone)]
struct Hit {
    score: f64,
    level: MatchLevel,
    point: [f64; 2],
    addr: Option<usize>,
    road: Option<usize>,
    label: Option<String>,
    division: Option<String>,
}

/// The in-memory geocoding index (see the crate documentation).
#[derive(Debug, Clone, Default)]
pub struct GeocodeIndex {
    slots: Vec<Option<Addr>>,
    free: Vec<usize>,
    by_id: HashMap<i64, usize>,
    by_full: HashMap<String, Vec<usize>>,
    roads: Vec<Road>,
    road_by_key: HashMap<String, usize>,
    grams: HashMap<String, Vec<usize>>,
    points: RTree<PointEntry>,
    segments: RTree<SegmentEntry>,
    areas: Vec<AreaRecord>,
    area_boxes: RTree<AreaEntry>,
    areas_by_name: HashMap<String, Vec<usize>>,
    /// division code (any level) → (Σlon, Σlat, count) of its addresses
    div_sums: HashMap<String, (f64, f64, usize)>,
    /// community or street key → (Σlon, Σlat, count, name) of the addresses naming it
    place_sums: HashMap<String, (f64, f64, usize, String)>,
    /// prefecture code → addresses in it (the parsing context)
    prefectures: HashMap<String, usize>,
}

/// The n-grams of a key: character bigrams with boundary marks.
fn grams(key: &str) -> Vec<String> {
    let chars: Vec<char> = std::iter::once('^')
        .chain(key.chars())
        .chain(std::iter::once('$'))
        .collect();
    let mut out: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
    out.sort();
    out.dedup();
    out
}

/// Similarity of two keys: 1 − (optimal string alignment distance / longer length).
fn similarity(a: &str, b: &str) -> f64 {
    let (la, lb) = (a.chars().count(), b.chars().count());
    let longer = la.max(lb);
    if longer == 0 {
        return 0.0;
    }
    1.0 - strsim::osa_distance(a, b) as f64 / longer as f64
}

/// The prefecture code of a county or prefecture code.
fn prefecture_of(code: &str) -> Option<String> {
    (code.len() == 6 && divisions::level(code) != Level::Province)
        .then(|| format!("{}00", &code[..4]))
}

/// The codes a division code counts towards (itself and its ancestors).
fn code_chain(code: &str) -> Vec<String> {
    match divisions::level(code) {
        Level::Province => vec![code.to_string()],
        Level::Prefecture => vec![code.to_string(), format!("{}0000", &code[..2])],
        Level::County => vec![
            code.to_string(),
            format!("{}00", &code[..4]),
            format!("{}0000", &code[..2]),
        ],
    }
}

fn valid_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

fn lerp(a: [f64; 2], b: [f64; 2], t: f64) -> [f64; 2] {
    [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
}

fn trimmed(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl GeocodeIndex {
    /// Builds the index. Addresses with unusable coordinates are left out.
    pub fn build(
        addresses: Vec<AddressRecord>,
        roads: Vec<RoadRecord>,
        areas: Vec<AreaRecord>,
    ) -> Self {
        let mut ix = GeocodeIndex::default();
        // the parsing context first: the prefectures the addresses' codes name
        for a in &addresses {
            if let Some(p) = a
                .division_code
                .as_deref()
                .filter(|c| valid_code(c))
                .and_then(prefecture_of)
            {
                *ix.prefectures.entry(p).or_default() += 0;
            }
        }
        let mut entries = Vec::with_capacity(addresses.len());
        for a in addresses {
            if let Some(slot) = ix.insert(a) {
                if let Some(addr) = &ix.slots[slot] {
                    entries.push(GeomWithData::new(addr.xyz, slot));
                }
            }
        }
        ix.points = RTree::bulk_load(entries);
        ix.replace_roads(roads);
        ix.replace_areas(areas);
        ix
    }

    /// Adds or replaces one address (by id). One with unusable coordinates only
    /// removes the old one.
    pub fn upsert_address(&mut self, a: AddressRecord) {
        self.remove_address(a.id);
        if let Some(slot) = self.insert(a) {
            if let Some(addr) = &self.slots[slot] {
                self.points.insert(GeomWithData::new(addr.xyz, slot));
            }
        }
    }

    /// Removes one address (no-op for an unknown id).
    pub fn remove_address(&mut self, id: i64) {
        let Some(slot) = self.by_id.remove(&id) else {
            return;
        };
        let Some(addr) = self.slots[slot].take() else {
            return;
        };
        self.free.push(slot);
        self.points.remove(&GeomWithData::new(addr.xyz, slot));
        if let Some(full) = &addr.full {
            if let Some(v) = self.by_full.get_mut(full) {
                v.retain(|s| *s != slot);
                if v.is_empty() {
                    self.by_full.remove(full);
                }
            }
        }
        if let Some(r) = addr.road {
            let road = &mut self.roads[r];
            road.addrs.retain(|s| *s != slot);
            if let Some(v) = road.by_number.get_mut(&addr.number) {
                v.retain(|s| *s != slot);
                if v.is_empty() {
                    road.by_number.remove(&addr.number);
                }
            }
            for alias in &addr.aliases {
                if let Some(v) = road.by_alias.get_mut(alias) {
                    v.retain(|s| *s != slot);
                    if v.is_empty() {
                        road.by_alias.remove(alias);
                    }
                }
            }
        }
        for name in [&addr.rec.community, &addr.rec.street] {
            let Some(key) = trimmed(name).map(road_key) else {
                continue;
            };
            if let Some(e) = self.place_sums.get_mut(&key) {
                e.0 -= addr.rec.lon;
                e.1 -= addr.rec.lat;
                e.2 = e.2.saturating_sub(1);
                if e.2 == 0 {
                    self.place_sums.remove(&key);
                }
            }
        }
        if let Some(code) = &addr.div {
            for c in code_chain(code) {
                if let Some(e) = self.div_sums.get_mut(&c) {
                    e.0 -= addr.rec.lon;
                    e.1 -= addr.rec.lat;
                    e.2 = e.2.saturating_sub(1);
                    if e.2 == 0 {
                        self.div_sums.remove(&c);
                    }
                }
            }
            if let Some(p) = prefecture_of(code) {
                if let Some(n) = self.prefectures.get_mut(&p) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.prefectures.remove(&p);
                    }
                }
            }
        }
    }

    /// Replaces all roads (their lines; addresses keep their road names).
    pub fn replace_roads(&mut self, roads: Vec<RoadRecord>) {
        for r in &mut self.roads {
            r.lines.clear();
        }
        let mut segs = Vec::new();
        for rec in roads {
            let key = road_key(&rec.name);
            if key.is_empty() {
                continue;
            }
            let idx = self.road_entry(&key, &rec.name);
            for line in rec.lines {
                let line: Vec<[f64; 2]> = line
                    .into_iter()
                    .filter(|p| sphere::valid(p[0], p[1]))
                    .collect();
                if line.is_empty() {
                    continue;
                }
                let at = (idx, self.roads[idx].lines.len());
                for w in line.windows(2) {
                    segs.push(GeomWithData::new(
                        Line::new(xyz(w[0][0], w[0][1]), xyz(w[1][0], w[1][1])),
                        at,
                    ));
                }
                if line.len() == 1 {
                    let p = xyz(line[0][0], line[0][1]);
                    segs.push(GeomWithData::new(Line::new(p, p), at));
                }
                self.roads[idx].lines.push((rec.id, line));
            }
        }
        self.segments = RTree::bulk_load(segs);
    }

    /// Replaces all areas.
    pub fn replace_areas(&mut self, areas: Vec<AreaRecord>) {
        let mut boxes = Vec::with_capacity(areas.len());
        self.areas_by_name.clear();
        for (i, a) in areas.iter().enumerate() {
            if let Some(r) = a.polygons.bounding_rect() {
                boxes.push(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    i,
                ));
            }
            let key = road_key(&a.name);
            if !key.is_empty() {
                self.areas_by_name.entry(key).or_default().push(i);
            }
        }
        self.area_boxes = RTree::bulk_load(boxes);
        self.areas = areas;
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// No addresses.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Number of road names known (from addresses and road lines).
    pub fn road_count(&self) -> usize {
        self.roads.iter().filter(|r| !r.is_empty()).count()
    }

    /// The division codes the index's addresses lie in (prefectures), the context for
    /// short division names.
    pub fn context(&self) -> Vec<String> {
        let mut v: Vec<String> = self.prefectures.keys().cloned().collect();
        v.sort();
        v
    }

    /// The road entry of a key, created when new.
    fn road_entry(&mut self, key: &str, name: &str) -> usize {
        if let Some(i) = self.road_by_key.get(key) {
            return *i;
        }
        let i = self.roads.len();
        self.roads.push(Road {
            name: name.trim().to_string(),
            key: key.to_string(),
            cjk: has_cjk(name),
            ..Road::default()
        });
        self.road_by_key.insert(key.to_string(), i);
        for g in grams(key) {
            self.grams.entry(g).or_default().push(i);
        }
        i
    }

    /// The division code of a record: its own, else resolved from city and district
    /// names.
    fn resolve_division(&self, a: &AddressRecord) -> Option<String> {
        if let Some(c) = a
            .division_code
            .as_deref()
            .map(str::trim)
            .filter(|c| valid_code(c))
        {
            return Some(c.to_string());
        }
        let d = Divisions::bundled();
        let mut ctx = self.context();
        let city = trimmed(&a.city)
            .and_then(|c| d.resolve(&normalize(c), &ctx))
            .cloned();
        if let Some(c) = &city {
            ctx = vec![c.code.clone()];
        }
        let district = trimmed(&a.district)
            .and_then(|n| d.resolve(&normalize(n), &ctx))
            .filter(|x| {
                city.as_ref()
                    .is_none_or(|c| divisions::is_within(&x.code, &c.code))
            });
        district.or(city.as_ref()).map(|x| x.code.clone())
    }

    /// Indexes one address (not in the point R-tree); its slot.
    fn insert(&mut self, mut a: AddressRecord) -> Option<usize> {
        if !sphere::valid(a.lon, a.lat) {
            return None;
        }
        // an address given only as full text: its parts from the parser
        if trimmed(&a.road).is_none() {
            if let Some(full) = trimmed(&a.full) {
                let p = parse_in(full, Divisions::bundled(), &self.context());
                a.road = p.road;
                a.number = a.number.or(p.number);
                a.building = a.building.or(p.building);
                a.unit = a.unit.or(p.unit);
                a.division_code = a.division_code.or(p.division_code);
                a.district = a.district.or(p.district);
                a.city = a.city.or(p.city);
            }
        }
        // "Kaivopiha, Mannerheimintie": the road is the last part
        let road_name =
            trimmed(&a.road).map(|r| r.rsplit(',').next().unwrap_or(r).trim().to_string());
        let number = trimmed(&a.number).map(number_key).unwrap_or_default();
        let value = number_value(&number);
        let aliases: Vec<String> = match number.split_once('-') {
            Some((x, y)) if number_value(x).is_some() && number_value(y).is_some() => {
                vec![
                    x.to_string(),
                    y.trim_end_matches(|c: char| c.is_alphabetic()).to_string(),
                ]
            }
            _ => Vec::new(),
        };
        let div = self.resolve_division(&a);
        let full = trimmed(&a.full).map(road_key).filter(|k| !k.is_empty());
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let road = match &road_name {
            Some(name) => {
                let key = road_key(name);
                (!key.is_empty()).then(|| self.road_entry(&key, name))
            }
            None => None,
        };
        if let Some(r) = road {
            let entry = &mut self.roads[r];
            entry.addrs.push(slot);
            if !number.is_empty() {
                entry
                    .by_number
                    .entry(number.clone())
                    .or_default()
                    .push(slot);
            }
            for alias in &aliases {
                entry.by_alias.entry(alias.clone()).or_default().push(slot);
            }
        }
        if let Some(f) = &full {
            self.by_full.entry(f.clone()).or_default().push(slot);
        }
        for name in [&a.community, &a.street] {
            let Some(n) = trimmed(name) else { continue };
            let key = road_key(n);
            if key.is_empty() {
                continue;
            }
            let e = self
                .place_sums
                .entry(key)
                .or_insert_with(|| (0.0, 0.0, 0, n.to_string()));
            e.0 += a.lon;
            e.1 += a.lat;
            e.2 += 1;
        }
        if let Some(code) = &div {
            for c in code_chain(code) {
                let e = self.div_sums.entry(c).or_insert((0.0, 0.0, 0));
                e.0 += a.lon;
                e.1 += a.lat;
                e.2 += 1;
            }
            if let Some(p) = prefecture_of(code) {
                *self.prefectures.entry(p).or_default() += 1;
            }
        }
        self.by_id.insert(a.id, slot);
        let mut addr = Addr {
            xyz: xyz(a.lon, a.lat),
            rec: a,
            road,
            number,
            value,
            aliases,
            div,
            full,
            label: String::new(),
        };
        addr.label = self.make_label(&addr);
        self.slots[slot] = Some(addr);
        Some(slot)
    }

    fn addr(&self, slot: usize) -> Option<&Addr> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// Road names matching the query: exact key, a known road name ending the text
    /// before the number (dictionary), else fuzzy (n-gram pool, edit distance).
    fn match_roads(&self, parsed: &ParsedAddress, norm: &str) -> Vec<(usize, f64)> {
        let Some(road) = parsed.road.as_deref() else {
            return Vec::new();
        };
        let key = road_key(road);
        if key.is_empty() {
            return Vec::new();
        }
        if let Some(i) = self
            .road_by_key
            .get(&key)
            .filter(|i| !self.roads[**i].is_empty())
        {
            return vec![(*i, 1.0)];
        }
        // dictionary (Chinese): the longest known road name ending the text before
        // the number
        let before: String = if !has_cjk(norm) {
            String::new()
        } else {
            let cut = parsed
                .number
                .as_deref()
                .and_then(|n| norm.find(n))
                .unwrap_or(norm.len());
            road_key(&norm[..cut])
        };
        let starts: Vec<usize> = before.char_indices().map(|(i, _)| i).collect();
        for s in starts {
            let tail = &before[s..];
            if tail.chars().count() < 2 {
                break;
            }
            if let Some(i) = self
                .road_by_key
                .get(tail)
                .filter(|i| !self.roads[**i].is_empty())
            {
                return vec![(*i, DICTIONARY_ROAD)];
            }
        }
        // fuzzy (no road name is this long: garbage is not compared with every road)
        if key.chars().count() > MAX_FUZZY_CHARS {
            return Vec::new();
        }
        let qgrams = grams(&key);
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for g in &qgrams {
            if let Some(list) = self.grams.get(g) {
                for r in list {
                    *counts.entry(*r).or_default() += 1;
                }
            }
        }
        let need = (qgrams.len() / 3).max(1);
        // a typed beginning counts: two Chinese characters, four Latin letters
        let prefix_min = if has_cjk(&key) { 2 } else { 4 };
        let mut pool: Vec<(usize, usize)> =
            counts.into_iter().filter(|(_, c)| *c >= need).collect();
        pool.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        pool.truncate(FUZZY_POOL);
        let mut out: Vec<(usize, f64)> = pool
            .into_iter()
            .filter(|(r, _)| !self.roads[*r].is_empty())
            .filter_map(|(r, _)| {
                let rkey = &self.roads[r].key;
                let mut sim = similarity(&key, rkey);
                if key.chars().count() >= prefix_min && rkey.starts_with(&key) {
                    sim = sim.max(0.75);
                }
                (sim >= FUZZY_MIN).then_some((r, sim))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(3);
        out
    }

    /// Score factor of an address against the query's division, city, building, unit.
    fn fit(&self, a: &Addr, parsed: &ParsedAddress) -> f64 {
        let mut f = 1.0;
        if let (Some(pc), Some(ac)) = (parsed.division_code.as_deref(), a.div.as_deref()) {
            if !divisions::is_within(ac, pc) && !divisions::is_within(pc, ac) {
                f *= DIVISION_MISMATCH;
            }
        }
        if parsed.division_code.is_none() {
            if let (Some(pc), Some(ac)) = (trimmed(&parsed.city), trimmed(&a.rec.city)) {
                let (pc, ac) = (road_key(pc), road_key(ac));
                if pc != ac && !ac.starts_with(&pc) && !pc.starts_with(&ac) {
                    f *= CITY_MISMATCH;
                }
            }
        }
        for (want, have) in [
            (&parsed.building, &a.rec.building),
            (&parsed.unit, &a.rec.unit),
        ] {
            if let Some(w) = trimmed(want) {
                match trimmed(have) {
                    Some(h) if number_key(h) == number_key(w) => {}
                    Some(_) => f *= 0.9,
                    None => f *= 0.98,
                }
            }
        }
        f
    }

    /// A house-level hit of an address slot.
    fn house(&self, slot: usize, score: f64) -> Option<Hit> {
        let a = self.addr(slot)?;
        Some(Hit {
            score,
            level: MatchLevel::House,
            point: [a.rec.lon, a.rec.lat],
            addr: Some(slot),
            road: a.road,
            label: None,
            division: a.div.clone(),
        })
    }

    /// House, interpolated or road hits on one road.
    fn on_road(&self, r: usize, sim: f64, parsed: &ParsedAddress, out: &mut Vec<Hit>) {
        let road = &self.roads[r];
        let Some(number) = parsed.number.as_deref() else {
            out.extend(self.road_level(r, sim, parsed));
            return;
        };
        let key = number_key(number);
        let exact = road.by_number.get(&key);
        let letter_dropped = || {
            let digits: String = key.chars().take_while(char::is_ascii_digit).collect();
            (digits.len() < key.len() && !digits.is_empty())
                .then(|| road.by_number.get(&digits))
                .flatten()
        };
        let found: Option<(&Vec<usize>, f64)> = exact
            .map(|v| (v, 1.0))
            .or_else(|| road.by_alias.get(&key).map(|v| (v, NUMBER_IN_RANGE)))
            .or_else(|| letter_dropped().map(|v| (v, NUMBER_LETTER_DROPPED)));
        if let Some((slots, f)) = found {
            for s in slots {
                if let Some(a) = self.addr(*s) {
                    let score = sim * f * self.fit(a, parsed);
                    out.extend(self.house(*s, score));
                }
            }
            return;
        }
        match number_value(&key) {
            Some(n) => out.extend(self.interpolate(r, n, sim, parsed)),
            None => out.extend(self.road_level(r, sim, parsed)),
        }
    }

    /// The point of a house number between the nearest known numbers of the same
    /// parity on the road.
    fn interpolate(&self, r: usize, n: u64, sim: f64, parsed: &ParsedAddress) -> Option<Hit> {
        let road = &self.roads[r];
        let (mut below, mut above): (Near, Near) = (None, None);
        let mut any: Near = None;
        for s in &road.addrs {
            let Some(a) = self.addr(*s) else { continue };
            let Some(v) = a.value else { continue };
            if any.is_none_or(|(x, _)| v.abs_diff(n) < x.abs_diff(n)) {
                any = Some((v, a));
            }
            if v % 2 != n % 2 || v == n {
                continue;
            }
            if v < n && below.is_none_or(|(x, _)| v > x) {
                below = Some((v, a));
            }
            if v > n && above.is_none_or(|(x, _)| v < x) {
                above = Some((v, a));
            }
        }
        let p = |a: &Addr| [a.rec.lon, a.rec.lat];
        let (point, factor, fit_addr) = match (below, above) {
            (Some((lo, a)), Some((hi, b))) => {
                let t = (n - lo) as f64 / (hi - lo) as f64;
                (lerp(p(a), p(b), t), INTERPOLATED_BOTH, a)
            }
            (Some((_, a)), None) | (None, Some((_, a))) => (p(a), INTERPOLATED_ONE, a),
            (None, None) => match any {
                Some((_, a)) => (p(a), INTERPOLATED_ONE * 0.9, a),
                None => return self.road_level(r, sim, parsed),
            },
        };
        let suffix = if road.cjk { "号" } else { "" };
        let label = if road.cjk {
            format!("{}{}{}", road.name, n, suffix)
        } else {
            let city = trimmed(&fit_addr.rec.city)
                .map(|c| format!(", {c}"))
                .unwrap_or_default();
            format!("{} {}{}", road.name, n, city)
        };
        Some(Hit {
            score: sim * factor * self.fit(fit_addr, parsed),
            level: MatchLevel::Interpolated,
            point,
            addr: None,
            road: Some(r),
            label: Some(label),
            division: fit_addr.div.clone(),
        })
    }

    /// The road itself: the middle of its longest line, else the known address
    /// nearest the mean of its addresses.
    fn road_level(&self, r: usize, sim: f64, parsed: &ParsedAddress) -> Option<Hit> {
        let road = &self.roads[r];
        let from_line = road
            .lines
            .iter()
            .max_by(|a, b| sphere::length(&a.1).total_cmp(&sphere::length(&b.1)))
            .and_then(|(_, l)| sphere::midpoint(l));
        let addrs: Vec<&Addr> = road.addrs.iter().filter_map(|s| self.addr(*s)).collect();
        let from_addrs = || {
            let n = addrs.len() as f64;
            let mean = [
                addrs.iter().map(|a| a.rec.lon).sum::<f64>() / n,
                addrs.iter().map(|a| a.rec.lat).sum::<f64>() / n,
            ];
            addrs
                .iter()
                .min_by(|a, b| {
                    sphere::metres(mean, [a.rec.lon, a.rec.lat])
                        .total_cmp(&sphere::metres(mean, [b.rec.lon, b.rec.lat]))
                })
                .map(|a| [a.rec.lon, a.rec.lat])
        };
        let point = from_line.or_else(from_addrs)?;
        let mut f = 1.0;
        let div = addrs.first().and_then(|a| a.div.clone());
        if let Some(a) = addrs.first() {
            f = self.fit(
                a,
                &ParsedAddress {
                    building: None,
                    unit: None,
                    ..parsed.clone()
                },
            );
        }
        Some(Hit {
            score: sim * ROAD_LEVEL * f,
            level: MatchLevel::Road,
            point,
            addr: None,
            road: Some(r),
            label: Some(road.name.clone()),
            division: div,
        })
    }

    /// Communities / streets by name, then the division, when no road matched.
    fn coarse(&self, parsed: &ParsedAddress, norm: &str, out: &mut Vec<Hit>) {
        let mut names: Vec<String> = [&parsed.community, &parsed.street]
            .into_iter()
            .filter_map(|s| trimmed(s).map(road_key))
            .collect();
        if let Some(r) = trimmed(&parsed.road) {
            names.push(road_key(r));
        }
        names.push(road_key(norm));
        for name in names {
            let before = out.len();
            for i in self.areas_by_name.get(&name).into_iter().flatten() {
                let a = &self.areas[*i];
                if !matches!(
                    a.kind,
                    AreaKind::Community | AreaKind::Street | AreaKind::UnitGrid
                ) {
                    continue;
                }
                if let Some(p) = a.polygons.interior_point() {
                    out.push(Hit {
                        score: COMMUNITY_LEVEL,
                        level: MatchLevel::Community,
                        point: [p.x(), p.y()],
                        addr: None,
                        road: None,
                        label: Some(a.name.clone()),
                        division: None,
                    });
                }
            }
            // no outline of that name: the mean of the addresses that name it
            if out.len() == before {
                if let Some(e) = self.place_sums.get(&name).filter(|e| e.2 > 0) {
                    out.push(Hit {
                        score: COMMUNITY_LEVEL,
                        level: MatchLevel::Community,
                        point: [e.0 / e.2 as f64, e.1 / e.2 as f64],
                        addr: None,
                        road: None,
                        label: Some(e.3.clone()),
                        division: None,
                    });
                }
            }
        }
        if !out.is_empty() {
            return;
        }
        let Some(code) = parsed.division_code.as_deref() else {
            return;
        };
        let name = Divisions::bundled().get(code).map(|d| d.name.clone());
        let area = self
            .areas
            .iter()
            .find(|a| a.kind == AreaKind::Division && a.code == code)
            .and_then(|a| a.polygons.interior_point())
            .map(|p| [p.x(), p.y()]);
        let mean = self
            .div_sums
            .get(code)
            .filter(|e| e.2 > 0)
            .map(|e| [e.0 / e.2 as f64, e.1 / e.2 as f64]);
        if let Some(point) = area.or(mean) {
            out.push(Hit {
                score: DIVISION_LEVEL,
                level: MatchLevel::Division,
                point,
                addr: None,
                road: None,
                label: name,
                division: Some(code.to_string()),
            });
        }
    }

    /// Forward geocoding: the query's candidates, best first (see the crate
    /// documentation for the rules and scores).
    pub fn forward(&self, q: &str, opts: &ForwardOptions) -> ForwardResult {
        let q: String = q.chars().take(MAX_QUERY_CHARS).collect();
        let ctx = self.context();
        let parsed = parse_in(&q, Divisions::bundled(), &ctx);
        let norm = normalize(&q);
        let mut hits: Vec<Hit> = Vec::new();
        if norm.is_empty() {
            return ForwardResult {
                parsed,
                candidates: Vec::new(),
                ambiguous: false,
            };
        }
        if let Some(slots) = self.by_full.get(&road_key(&q)) {
            for s in slots {
                hits.extend(self.house(*s, 1.0));
            }
        }
        for (r, sim) in self.match_roads(&parsed, &norm) {
            self.on_road(r, sim, &parsed, &mut hits);
        }
        if hits.iter().all(|h| h.score < ROAD_LEVEL * FUZZY_MIN) {
            self.coarse(&parsed, &norm, &mut hits);
        }
        // best first; near the `near` point first among equals
        let dist = |h: &Hit| opts.near.map(|n| sphere::metres(n, h.point)).unwrap_or(0.0);
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(dist(a).total_cmp(&dist(b)))
                .then(a.addr.cmp(&b.addr))
        });
        // one hit per address, per (level, road) for interpolated/road hits
        let mut seen_addr = std::collections::HashSet::new();
        let mut seen_road = std::collections::HashSet::new();
        hits.retain(|h| match h.addr {
            Some(a) => seen_addr.insert(a),
            None => seen_road.insert((h.level as u8, h.road, h.label.clone())),
        });
        let ambiguous = match (hits.first(), hits.get(1)) {
            (Some(a), Some(b)) => {
                a.score - b.score < AMBIGUOUS_SCORE_GAP as f64
                    && sphere::metres(a.point, b.point) > AMBIGUOUS_DISTANCE_M
            }
            _ => false,
        };
        let limit = opts.limit.clamp(1, MAX_LIMIT);
        let candidates = hits
            .into_iter()
            .take(limit)
            .map(|h| self.candidate(h, &parsed))
            .collect();
        ForwardResult {
            parsed,
            candidates,
            ambiguous,
        }
    }

    /// The label of an address.
    fn label(&self, a: &Addr) -> String {
        a.label.clone()
    }

    /// Builds the label of an address (its road entry's name never changes).
    fn make_label(&self, a: &Addr) -> String {
        let r = &a.rec;
        if let Some(full) = trimmed(&r.full) {
            return full.to_string();
        }
        let road = a
            .road
            .map(|i| self.roads[i].name.clone())
            .or_else(|| trimmed(&r.road).map(str::to_string))
            .unwrap_or_default();
        let number = trimmed(&r.number).unwrap_or("");
        if has_cjk(&road) {
            let mut s = String::new();
            if let Some(d) = trimmed(&r.district) {
                s.push_str(d);
            }
            s.push_str(&road);
            if !number.is_empty() {
                s.push_str(number);
                if !number.ends_with('号') {
                    s.push('号');
                }
            }
            if let Some(b) = trimmed(&r.building) {
                s.push_str(b);
                if !b.ends_with(['栋', '幢', '座', '楼']) {
                    s.push('栋');
                }
            }
            if let Some(u) = trimmed(&r.unit) {
                s.push_str(u);
                if !u.ends_with("单元") {
                    s.push_str("单元");
                }
            }
            s
        } else {
            let mut s = road;
            if !number.is_empty() {
                s.push(' ');
                s.push_str(number);
            }
            if let Some(c) = trimmed(&r.city) {
                s.push_str(", ");
                s.push_str(c);
            }
            s
        }
    }

    fn candidate(&self, h: Hit, parsed: &ParsedAddress) -> Candidate {
        let areas = self.areas_at(h.point[0], h.point[1]);
        let addr = h.addr.and_then(|s| self.addr(s));
        let label = match (addr, h.label) {
            (Some(a), _) => self.label(a),
            (None, Some(l)) => l,
            (None, None) => String::new(),
        };
        let division_code = h
            .division
            .or_else(|| {
                areas
                    .iter()
                    .find(|a| a.kind == AreaKind::Division && valid_code(&a.code))
                    .map(|a| a.code.clone())
            })
            .or_else(|| parsed.division_code.clone());
        let road_id = h
            .road
            .and_then(|r| self.roads[r].lines.first().map(|(id, _)| *id));
        Candidate {
            score: h.score.clamp(0.0, 1.0) as f32,
            level: h.level,
            lon: h.point[0],
            lat: h.point[1],
            label,
            address_id: addr.map(|a| a.rec.id),
            road_id,
            division_code,
            areas,
        }
    }

    /// The areas holding a point: unit grids, communities, streets, divisions.
    pub fn areas_at(&self, lon: f64, lat: f64) -> Vec<AreaRef> {
        if !sphere::valid(lon, lat) {
            return Vec::new();
        }
        let pt = geo::Point::new(lon, lat);
        let mut out: Vec<AreaRef> = self
            .area_boxes
            .locate_in_envelope_intersecting(&AABB::from_point([lon, lat]))
            .filter_map(|e| self.areas.get(e.data))
            .filter(|a| a.polygons.contains(&pt))
            .map(|a| AreaRef {
                kind: a.kind,
                code: a.code.clone(),
                name: a.name.clone(),
            })
            .collect();
        let rank = |k: AreaKind| match k {
            AreaKind::UnitGrid => 0,
            AreaKind::Community => 1,
            AreaKind::Street => 2,
            AreaKind::Division => 3,
        };
        out.sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then(a.code.cmp(&b.code)));
        out
    }

    /// Reverse geocoding: the nearest address and road within `max_distance_m`
    /// metres, and the areas holding the point. Unusable coordinates or distance give
    /// an empty answer.
    pub fn reverse(&self, lon: f64, lat: f64, max_distance_m: f64) -> ReverseHit {
        let mut hit = ReverseHit {
            address: None,
            road: None,
            areas: Vec::new(),
        };
        if !sphere::valid(lon, lat) || !max_distance_m.is_finite() || max_distance_m < 0.0 {
            return hit;
        }
        hit.areas = self.areas_at(lon, lat);
        let q = xyz(lon, lat);
        // nearest_neighbor (not the distance iterator): a fixed-size heap, no allocation
        if let Some(e) = self.points.nearest_neighbor(&q) {
            let m = sphere::chord_to_metres(e.geom().distance_2(&q).sqrt());
            if m <= max_distance_m {
                if let Some(a) = self.addr(e.data) {
                    let c = Candidate {
                        score: 1.0,
                        level: MatchLevel::House,
                        lon: a.rec.lon,
                        lat: a.rec.lat,
                        label: self.label(a),
                        address_id: Some(a.rec.id),
                        road_id: None,
                        division_code: a.div.clone(),
                        areas: hit.areas.clone(),
                    };
                    hit.address = Some((c, m));
                }
            }
        }
        if let Some(e) = self.segments.nearest_neighbor(&q) {
            let m = sphere::chord_to_metres(e.geom().distance_2(&q).sqrt());
            let (r, line) = e.data;
            if m <= max_distance_m {
                if let Some(road) = self.roads.get(r) {
                    // the segment's own line: its id
                    let id = road.lines.get(line).map(|(id, _)| *id).unwrap_or_default();
                    hit.road = Some((road.name.clone(), id, m));
                }
            }
        }
        hit
    }
}

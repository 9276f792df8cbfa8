//! The quality test of issue 21 on real data: the sample city's OpenStreetMap addresses
//! (data/helsinki.osm.pbf through GDAL's OSM driver), perturbed queries, top-1 accuracy
//! within 25 m, house numbers that do not exist on existing roads, and made-up roads
//! that must get no confident answer. Prints the measured figures.

mod osm_sample;

use std::collections::HashMap;

use citygrid_geocode::normalize::{number_key, number_value, road_key};
use citygrid_geocode::sphere::metres;
use citygrid_geocode::{AddressRecord, ForwardOptions, GeocodeIndex, MatchLevel, CONFIDENT_SCORE};

/// A small deterministic generator (the test must not depend on chance or the clock).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One typo in the middle of a name: substitution, deletion, insertion or transposition.
fn typo(name: &str, rng: &mut Lcg) -> String {
    let mut c: Vec<char> = name.chars().collect();
    let i = 2 + rng.below(c.len().saturating_sub(4).max(1));
    let letters: Vec<char> = "abdeghijklmnoprstuvy".chars().collect();
    match rng.below(4) {
        0 => {
            let mut l = letters[rng.below(letters.len())];
            if l == c[i] {
                l = if l == 'a' { 'e' } else { 'a' };
            }
            c[i] = l;
        }
        1 => {
            c.remove(i);
        }
        2 => c.insert(i, letters[rng.below(letters.len())]),
        _ => {
            if c[i] == c[i + 1] {
                c[i] = if c[i] == 'a' { 'e' } else { 'a' };
            } else {
                c.swap(i, i + 1);
            }
        }
    }
    c.into_iter().collect()
}

fn full_width_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0xFF10 + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

/// The Finnish abbreviation of a street name (`-katu` → `-k.`, `-tie` → `-t.`).
fn abbreviated(street: &str) -> Option<String> {
    if let Some(s) = street.strip_suffix("katu") {
        return Some(format!("{s}k."));
    }
    street.strip_suffix("tie").map(|s| format!("{s}t."))
}

/// Usable street name: no comma, no digits (OSM data slips like "Pohjoisesplanadi 33").
fn clean_street(s: &str) -> bool {
    !s.contains(',') && !s.chars().any(|c| c.is_ascii_digit()) && s.chars().count() >= 4
}

/// A street name as written, a house number as written, and its points.
type Truth = (String, String, Vec<[f64; 2]>);

/// A street name as written and its known house numbers with their points.
type KnownNumbers = (String, Vec<(u64, [f64; 2])>);

#[derive(Default)]
struct Tally {
    n: usize,
    ok: usize,
}

#[test]
fn perturbed_queries_on_the_sample_city() {
    let (addresses, roads) = osm_sample::load(&osm_sample::sample_pbf())
        .unwrap_or_else(|e| panic!("reading the sample city: {e}"));
    assert!(
        addresses.len() > 1000 && roads.len() > 100,
        "{} {}",
        addresses.len(),
        roads.len()
    );
    let road_names: Vec<String> = roads.iter().map(|r| r.name.clone()).collect();
    let index = GeocodeIndex::build(addresses.clone(), roads, Vec::new());
    assert_eq!(index.len(), addresses.len());
    let opts = ForwardOptions {
        limit: 5,
        near: None,
    };

    // the truth: (street, number) → its points; groups spread over more than 25 m are
    // ambiguous in the data itself and left out
    let mut groups: HashMap<(String, String), Truth> = HashMap::new();
    for a in &addresses {
        let (Some(s), Some(n)) = (a.road.as_deref(), a.number.as_deref()) else {
            continue;
        };
        // the index reads "Kaivopiha, Mannerheimintie" as Mannerheimintie: so does the truth
        let s = s.rsplit(',').next().unwrap_or(s).trim();
        if !clean_street(s) || number_value(&number_key(n)).is_none() {
            continue;
        }
        let g = groups
            .entry((road_key(s), number_key(n)))
            .or_insert_with(|| {
                (
                    s.to_string(),
                    n.split(',').next().unwrap_or(n).trim().to_string(),
                    Vec::new(),
                )
            });
        g.2.push([a.lon, a.lat]);
    }
    let mut keys: Vec<(String, String)> = groups.keys().cloned().collect();
    keys.sort();
    let truth: Vec<Truth> = keys
        .iter()
        .filter_map(|k| groups.get(k).cloned())
        .filter(|(_, _, pts)| pts.iter().all(|p| metres(*p, pts[0]) <= 25.0))
        .collect();
    assert!(truth.len() > 400, "{}", truth.len());

    let mut rng = Lcg(21);
    let mut tallies: Vec<(&str, Tally)> = Vec::new();
    let tally = |kind: &'static str, ok: bool, tallies: &mut Vec<(&str, Tally)>| {
        if let Some(t) = tallies.iter_mut().find(|(k, _)| *k == kind) {
            t.1.n += 1;
            t.1.ok += ok as usize;
        } else {
            tallies.push((
                kind,
                Tally {
                    n: 1,
                    ok: ok as usize,
                },
            ));
        }
    };
    let mut failures = Vec::new();
    for (street, number, pts) in &truth {
        let mut queries: Vec<(&'static str, String)> = vec![
            ("exact", format!("{street} {number}")),
            ("with city", format!("{street} {number}, Helsinki")),
            (
                "postcode and city",
                format!("{street} {number}, 00100 Helsinki"),
            ),
            ("upper case", format!("{street} {number}").to_uppercase()),
            (
                "lower case, spacing",
                format!("  {}   {number} ,helsinki ", street.to_lowercase()),
            ),
            (
                "full-width digits",
                full_width_digits(&format!("{street} {number}")),
            ),
            ("number first", format!("{number} {street}, Helsinki")),
        ];
        if let Some(abbr) = abbreviated(street) {
            queries.push(("abbreviation", format!("{abbr} {number}")));
        }
        if street.chars().count() >= 8 && !street.contains(' ') {
            let t = typo(street, &mut rng);
            queries.push(("one typo", format!("{t} {number}, Helsinki")));
        }
        for (kind, q) in queries {
            let r = index.forward(&q, &opts);
            let ok = r
                .candidates
                .first()
                .is_some_and(|c| pts.iter().any(|p| metres(*p, [c.lon, c.lat]) <= 25.0));
            if !ok && failures.len() < 20 {
                failures.push(format!(
                    "{kind}: {q:?} -> {:?}",
                    r.candidates.first().map(|c| (&c.label, c.score, c.level))
                ));
            }
            tally(kind, ok, &mut tallies);
        }
    }
    let (n, ok) = tallies
        .iter()
        .fold((0, 0), |(n, ok), (_, t)| (n + t.n, ok + t.ok));
    let accuracy = ok as f64 / n as f64;
    println!(
        "geocode quality on {} addresses ({} distinct street+number):",
        addresses.len(),
        truth.len()
    );
    for (kind, t) in &tallies {
        println!(
            "  {kind:22} {:5} queries  top-1 within 25 m {:6.2} %",
            t.n,
            100.0 * t.ok as f64 / t.n as f64
        );
    }
    println!(
        "  {:22} {n:5} queries  top-1 within 25 m {:6.2} %",
        "all with an answer",
        100.0 * accuracy
    );
    for f in &failures {
        println!("  miss: {f}");
    }
    assert!(accuracy >= 0.95, "top-1 accuracy {accuracy:.4} < 0.95");

    // house numbers that do not exist on roads that do: a gap between two known
    // numbers of the same parity is interpolated there (confident), a number past the
    // last one is placed at the last one (not confident); either way on the right road
    let mut by_road: HashMap<String, KnownNumbers> = HashMap::new();
    for a in &addresses {
        let (Some(s), Some(n)) = (a.road.as_deref(), a.number.as_deref()) else {
            continue;
        };
        let s = s.rsplit(',').next().unwrap_or(s).trim();
        if !clean_street(s) {
            continue;
        }
        // every number a record stands for: both ends of a range (31-33)
        let key = number_key(n);
        for part in key.split('-') {
            if let Some(v) = number_value(part) {
                by_road
                    .entry(road_key(s))
                    .or_insert_with(|| (s.to_string(), Vec::new()))
                    .1
                    .push((v, [a.lon, a.lat]));
            }
        }
    }
    let mut road_keys: Vec<&String> = by_road.keys().collect();
    road_keys.sort();
    let (mut gap_n, mut gap_ok, mut end_n, mut end_ok) = (0, 0, 0, 0);
    for k in road_keys {
        let (street, nums) = &by_road[k];
        let known: std::collections::BTreeSet<u64> = nums.iter().map(|(v, _)| *v).collect();
        let on_road = |c: &citygrid_geocode::Candidate| {
            road_key(&c.label).starts_with(&road_key(street)) && c.address_id.is_none()
        };
        // a gap: v and v+4 known, v+2 not (same parity)
        if let Some(v) = known
            .iter()
            .find(|v| !known.contains(&(*v + 2)) && known.contains(&(*v + 4)))
        {
            let q = format!("{street} {}", v + 2);
            let r = index.forward(&q, &opts);
            gap_n += 1;
            let ok = r.candidates.first().is_some_and(|c| {
                let between = |p: [f64; 2]| metres(p, [c.lon, c.lat]);
                let lo = nums
                    .iter()
                    .filter(|(x, _)| x == v)
                    .map(|(_, p)| between(*p))
                    .fold(f64::MAX, f64::min);
                let hi = nums
                    .iter()
                    .filter(|(x, _)| *x == v + 4)
                    .map(|(_, p)| between(*p))
                    .fold(f64::MAX, f64::min);
                c.level == MatchLevel::Interpolated
                    && on_road(c)
                    && c.score >= CONFIDENT_SCORE
                    && lo.max(hi) < 1000.0
            });
            gap_ok += ok as usize;
            if !ok {
                println!("  gap miss: {q:?} -> {:?}", r.candidates.first());
            }
        }
        if let Some(max) = known.iter().max() {
            let q = format!("{street} {}", max + 2);
            let r = index.forward(&q, &opts);
            end_n += 1;
            let ok = r.candidates.first().is_some_and(|c| {
                c.level == MatchLevel::Interpolated && on_road(c) && c.score < CONFIDENT_SCORE
            });
            end_ok += ok as usize;
            if !ok {
                println!("  end miss: {q:?} -> {:?}", r.candidates.first());
            }
        }
    }
    println!("  numbers missing between known ones: {gap_ok}/{gap_n} interpolated on the right road, confident");
    println!(
        "  numbers past the last known one:    {end_ok}/{end_n} on the right road, not confident"
    );
    assert!(gap_n >= 10 && end_n >= 30, "{gap_n} {end_n}");
    assert!(gap_ok as f64 >= 0.95 * gap_n as f64);
    assert!(end_ok as f64 >= 0.95 * end_n as f64);

    // held out: addresses removed from the index are interpolated from their
    // neighbours; the distance to where they really are is printed
    let mut holdout = index.clone();
    let mut held: Vec<&AddressRecord> = Vec::new();
    for (i, a) in addresses.iter().enumerate() {
        let (Some(s), Some(n)) = (a.road.as_deref(), a.number.as_deref()) else {
            continue;
        };
        if i % 10 == 0
            && clean_street(s)
            && number_value(&number_key(n)).is_some()
            && n.chars().all(|c| c.is_ascii_digit())
        {
            held.push(a);
        }
    }
    for a in &held {
        holdout.remove_address(a.id);
    }
    let mut errors: Vec<f64> = Vec::new();
    for a in &held {
        let q = format!(
            "{} {}",
            a.road.as_deref().unwrap_or(""),
            a.number.as_deref().unwrap_or("")
        );
        let r = holdout.forward(&q, &opts);
        if let Some(c) = r.candidates.first() {
            errors.push(metres([a.lon, a.lat], [c.lon, c.lat]));
        }
    }
    errors.sort_by(f64::total_cmp);
    let within = |m: f64| errors.iter().filter(|e| **e <= m).count();
    println!(
        "  held-out addresses ({}): median error {:.0} m, within 25 m {}, within 50 m {}, within 100 m {}",
        held.len(),
        errors.get(errors.len() / 2).copied().unwrap_or(f64::NAN),
        within(25.0),
        within(50.0),
        within(100.0)
    );
    assert_eq!(
        errors.len(),
        held.len(),
        "every held-out address gets a candidate on its road"
    );
    assert!(within(100.0) as f64 >= 0.9 * held.len() as f64);

    // made-up roads: no confident answer
    let syllables = [
        "ka", "lo", "vu", "ri", "pe", "su", "to", "ny", "hä", "mö", "ja", "ke", "si", "ru",
    ];
    let suffixes = ["katu", "tie", "kuja", "polku", "ranta"];
    let existing: Vec<String> = road_names
        .iter()
        .chain(truth.iter().map(|t| &t.0))
        .map(|n| road_key(n))
        .collect();
    let (mut fake_n, mut confident_wrong) = (0, 0);
    let mut guard = 0;
    while fake_n < 300 && guard < 10_000 {
        guard += 1;
        let mut name = String::new();
        for _ in 0..(2 + rng.below(3)) {
            name.push_str(syllables[rng.below(syllables.len())]);
        }
        name.push_str(suffixes[rng.below(suffixes.len())]);
        let mut chars = name.chars();
        let name: String = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        let key = road_key(&name);
        // not within two edits of a real road: that would be a typo, not a made-up road
        if existing.iter().any(|e| strsim_close(e, &key)) {
            continue;
        }
        fake_n += 1;
        let q = format!("{name} {}, Helsinki", 1 + rng.below(60));
        let r = index.forward(&q, &opts);
        if let Some(c) = r.candidates.iter().find(|c| c.score >= CONFIDENT_SCORE) {
            confident_wrong += 1;
            println!(
                "  confident answer to a made-up road: {q:?} -> {} {}",
                c.label, c.score
            );
        }
    }
    println!("  made-up roads: {fake_n} queries, {confident_wrong} confident answers (threshold {CONFIDENT_SCORE})");
    assert!(fake_n >= 300);
    assert_eq!(confident_wrong, 0);
}

/// True when two keys are within two edits (Levenshtein on characters).
fn strsim_close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()] <= 2
}

//! In-process geocoding benchmark: builds the index from an OSM file's addresses and
//! named roads (GDAL's OSM driver through `ogr2ogr`), then times forward queries
//! (exact and perturbed address texts) and reverse queries (points near the addresses)
//! on one thread. Prints one `key=value` per line:
//!
//! ```text
//! cargo run -p citygrid-geocode --release --example bench -- data/helsinki.osm.pbf [seconds] \
//!     [areas=AREAS.jsonl] [points=POINTS.txt]
//! ```
//!
//! `areas=` adds the unit grids / communities / streets / divisions reverse answers
//! with: one JSON object a line, `{"kind": "unit_grid"|"community"|"street"|"division",
//! "code", "name", "coordinates"}` (GeoJSON MultiPolygon coordinates, lon/lat).
//! `points=` gives the reverse query points (`lon lat` a line) instead of points near
//! the addresses. `benches/geocode_vs_postgis.sh` passes both, from the database the
//! PostGIS side queries.
//!
//! `addresses= roads= areas= build_ms= forward_queries= forward_qps= forward_p50_us=
//! forward_p99_us= reverse_queries= reverse_qps= reverse_p50_us= reverse_p99_us=
//! reverse_with_address= reverse_with_road= reverse_with_area=` (the last three: the
//! share of reverse answers that found one, 0…1)

#[path = "../tests/osm_sample/mod.rs"]
mod osm_sample;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use citygrid_geocode::{AreaKind, AreaRecord, ForwardOptions, GeocodeIndex};

/// One line of an areas file.
#[derive(serde::Deserialize)]
struct AreaLine {
    kind: AreaKind,
    code: String,
    name: String,
    coordinates: Vec<Vec<Vec<[f64; 2]>>>,
}

/// The areas of an `areas=` file (see the top of the file).
fn load_areas(path: &str) -> Result<Vec<AreaRecord>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let a: AreaLine =
            serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let ring = |r: Vec<[f64; 2]>| {
            geo::LineString(r.into_iter().map(|[x, y]| geo::Coord { x, y }).collect())
        };
        let polygons = a
            .coordinates
            .into_iter()
            .filter_map(|rings| {
                let mut rings = rings.into_iter().map(ring);
                let exterior = rings.next()?;
                Some(geo::Polygon::new(exterior, rings.collect()))
            })
            .collect();
        out.push(AreaRecord {
            kind: a.kind,
            code: a.code,
            name: a.name,
            polygons: geo::MultiPolygon(polygons),
        });
    }
    Ok(out)
}

/// The points of a `points=` file (`lon lat` a line).
fn load_points(path: &str) -> Result<Vec<[f64; 2]>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut it = line.split_whitespace().map(str::parse::<f64>);
        match (it.next(), it.next()) {
            (Some(Ok(x)), Some(Ok(y))) => out.push([x, y]),
            _ => return Err(format!("{path}:{}: expected `lon lat`", n + 1)),
        }
    }
    Ok(out)
}

fn fail(msg: String) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(1);
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `f` over the inputs round-robin for `dur`; (queries, qps, p50 µs, p99 µs).
fn run<T>(inputs: &[T], dur: Duration, mut f: impl FnMut(&T)) -> (usize, f64, u128, u128) {
    let mut times: Vec<u128> = Vec::new();
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < dur || times.is_empty() {
        let t = Instant::now();
        f(&inputs[i % inputs.len()]);
        times.push(t.elapsed().as_nanos());
        i += 1;
    }
    let total = start.elapsed().as_secs_f64();
    let n = times.len();
    times.sort_unstable();
    (
        n,
        n as f64 / total,
        percentile(&times, 0.5) / 1000,
        percentile(&times, 0.99).div_ceil(1000),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let pbf = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(osm_sample::sample_pbf);
    let secs: f64 = match args.next().map(|s| s.parse::<f64>()) {
        None => 5.0,
        Some(Ok(s)) if s > 0.0 && s <= 3600.0 => s,
        Some(_) => {
            eprintln!("bench: seconds must be a number in (0, 3600]");
            std::process::exit(2);
        }
    };
    let (mut areas, mut points_file) = (Vec::new(), None);
    for arg in args {
        match arg.split_once('=') {
            Some(("areas", f)) => areas = load_areas(f).unwrap_or_else(|e| fail(e)),
            Some(("points", f)) => points_file = Some(load_points(f).unwrap_or_else(|e| fail(e))),
            _ => fail(format!(
                "unknown argument {arg:?} (areas=FILE, points=FILE)"
            )),
        }
    }
    let n_areas = areas.len();
    let (addresses, roads) = match osm_sample::load(&pbf) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("bench: {}: {e}", pbf.display());
            std::process::exit(1);
        }
    };
    if addresses.is_empty() {
        eprintln!(
            "bench: {}: no addresses (addr:street + addr:housenumber)",
            pbf.display()
        );
        std::process::exit(1);
    }
    let (n_addr, n_roads) = (addresses.len(), roads.len());
    let t = Instant::now();
    let index = GeocodeIndex::build(addresses.clone(), roads, areas);
    let build_ms = t.elapsed().as_secs_f64() * 1000.0;

    // queries: each address as typed, lower case with its city, and with one typo
    let mut queries = Vec::new();
    for (i, a) in addresses.iter().enumerate() {
        let (Some(s), Some(n)) = (a.road.as_deref(), a.number.as_deref()) else {
            continue;
        };
        queries.push(match i % 3 {
            0 => format!("{s} {n}"),
            1 => format!("{} {n}, helsinki", s.to_lowercase()),
            _ => {
                let mut c: Vec<char> = s.chars().collect();
                if c.len() > 5 {
                    c.swap(3, 4);
                }
                format!("{} {n}", c.into_iter().collect::<String>())
            }
        });
    }
    let near_addresses = || -> Vec<[f64; 2]> {
        addresses
            .iter()
            .enumerate()
            .map(|(i, a)| {
                [
                    a.lon + ((i % 7) as f64 - 3.0) * 0.0001,
                    a.lat + ((i % 5) as f64 - 2.0) * 0.0001,
                ]
            })
            .collect()
    };
    let points = match points_file {
        Some(p) if !p.is_empty() => p,
        _ => near_addresses(),
    };
    let opts = ForwardOptions {
        limit: 5,
        near: None,
    };
    let dur = Duration::from_secs_f64(secs / 2.0);
    let (fq, fqps, f50, f99) = run(&queries, dur, |q| {
        black_box(index.forward(black_box(q), &opts));
    });
    let (rq, rqps, r50, r99) = run(&points, dur, |p| {
        black_box(index.reverse(p[0], p[1], 200.0));
    });
    // what the answers held (outside the timing)
    let (mut with_addr, mut with_road, mut with_area) = (0usize, 0usize, 0usize);
    for p in &points {
        let h = index.reverse(p[0], p[1], 200.0);
        with_addr += usize::from(h.address.is_some());
        with_road += usize::from(h.road.is_some());
        with_area += usize::from(!h.areas.is_empty());
    }
    let share = |n: usize| n as f64 / points.len().max(1) as f64;
    println!("addresses={n_addr}");
    println!("roads={n_roads}");
    println!("areas={n_areas}");
    println!("build_ms={build_ms:.1}");
    println!("forward_queries={fq}");
    println!("forward_qps={fqps:.0}");
    println!("forward_p50_us={f50}");
    println!("forward_p99_us={f99}");
    println!("reverse_queries={rq}");
    println!("reverse_qps={rqps:.0}");
    println!("reverse_p50_us={r50}");
    println!("reverse_p99_us={r99}");
    println!("reverse_with_address={:.3}", share(with_addr));
    println!("reverse_with_road={:.3}", share(with_road));
    println!("reverse_with_area={:.3}", share(with_area));
}

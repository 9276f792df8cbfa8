//! In-process geocoding benchmark: builds the index from an OSM file's addresses and
//! named roads (GDAL's OSM driver through `ogr2ogr`), then times forward queries
//! (exact and perturbed address texts) and reverse queries (points near the addresses)
//! on one thread. Prints one `key=value` per line:
//!
//! ```text
//! cargo run -p citygrid-geocode --release --example bench -- data/helsinki.osm.pbf [seconds]
//! ```
//!
//! `addresses= roads= build_ms= forward_queries= forward_qps= forward_p50_us=
//! forward_p99_us= reverse_queries= reverse_qps= reverse_p50_us= reverse_p99_us=`

#[path = "../tests/osm_sample/mod.rs"]
mod osm_sample;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use citygrid_geocode::{ForwardOptions, GeocodeIndex};

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
    let index = GeocodeIndex::build(addresses.clone(), roads, Vec::new());
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
    let points: Vec<[f64; 2]> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| {
            [
                a.lon + ((i % 7) as f64 - 3.0) * 0.0001,
                a.lat + ((i % 5) as f64 - 2.0) * 0.0001,
            ]
        })
        .collect();
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
    println!("addresses={n_addr}");
    println!("roads={n_roads}");
    println!("build_ms={build_ms:.1}");
    println!("forward_queries={fq}");
    println!("forward_qps={fqps:.0}");
    println!("forward_p50_us={f50}");
    println!("forward_p99_us={f99}");
    println!("reverse_queries={rq}");
    println!("reverse_qps={rqps:.0}");
    println!("reverse_p50_us={r50}");
    println!("reverse_p99_us={r99}");
}

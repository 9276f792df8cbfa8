//! citygrid-loadgen: the load generator of `make load` (see benches/load.sh).
//!
//! `--connections` workers, each with one keep-alive connection to the server on
//! 127.0.0.1, send requests back to back until `--duration` is over: tiles and
//! queries drawn from the weighted `--mix`, and case intakes paced at `--case-rate`
//! per second across all workers (a city reports a few cases a second, whatever the
//! map traffic). Requests still in flight at the end finish (each within
//! `--timeout`), so the run is bounded. Prints per kind the requests, throughput,
//! p50/p90/p99/max latency and errors (non-2xx answers and transport failures, by
//! status); writes the acknowledged case ids to `--acked`; exits 1 when there was
//! any error.

mod args;
mod client;
mod plan;
mod rng;
mod stats;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::args::Options;
use crate::client::Conn;
use crate::plan::{Plan, CASE, KINDS};
use crate::rng::Rng;
use crate::stats::Stats;

/// What one worker brings back.
struct Outcome {
    stats: Stats,
    acked: Vec<i64>,
    /// Cases sent again with their key after a transport error.
    resent: u64,
}

/// The shared case schedule: the next due time in µs since the start.
struct Pacer {
    start: Instant,
    next_us: AtomicU64,
    interval_us: u64,
}

impl Pacer {
    /// True when this worker takes the next case that is due.
    fn take(&self) -> bool {
        if self.interval_us == 0 {
            return false;
        }
        let now = self.start.elapsed().as_micros() as u64;
        let due = self.next_us.load(Ordering::Relaxed);
        if now < due {
            return false;
        }
        // Do not make up for more than a second of lag in a burst.
        let next = due.max(now.saturating_sub(1_000_000)) + self.interval_us;
        self.next_us
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

async fn worker(
    id: usize,
    o: Arc<Options>,
    plan: Arc<Plan>,
    pacer: Arc<Pacer>,
    end: Instant,
) -> Outcome {
    let mut rng = Rng::new(id as u64 ^ 0x5EED);
    let mut conn = Conn::new(o.addr, o.timeout);
    let mut out = Outcome {
        stats: Stats::default(),
        acked: Vec::new(),
        resent: 0,
    };
    while Instant::now() < end {
        let kind = if pacer.take() {
            CASE
        } else if plan.has_mix() {
            plan.pick(&mut rng)
        } else {
            // only cases: wait for the next one to be due
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        // the generator's state before the request: with idempotency keys, a case
        // whose answer was lost is drawn again (the same body, token and key)
        let before = rng.clone();
        let req = plan.request(kind, &mut rng);
        let t0 = Instant::now();
        let mut sent = conn.send(req).await;
        if let (true, Err(why)) = (kind == CASE && plan.keyed(), &sent) {
            // the lost answer still counts as an error; the resend shows that the
            // case is then taken in once
            out.stats.failure(kind, *why);
            out.resent += 1;
            sent = conn.send(plan.request(kind, &mut before.clone())).await;
        }
        match sent {
            Ok((status, body)) => {
                out.stats.answer(kind, status.as_u16(), t0.elapsed());
                if kind == CASE && status.as_u16() == 201 {
                    let id = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["id"].as_i64());
                    match id {
                        Some(id) => out.acked.push(id),
                        None => out.stats.bad_body(kind),
                    }
                } else if !status.is_success() && out.stats.kinds[kind].errors() <= 3 {
                    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                    eprintln!("loadgen: {} answered {status}: {text}", KINDS[kind]);
                }
            }
            Err(why) => {
                out.stats.failure(kind, why);
                // a refused connection would otherwise spin
                if why == client::Transport::Connect {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    out
}

async fn run(o: Options) -> anyhow::Result<bool> {
    let plan = Plan::discover(&o).await?;
    eprintln!(
        "loadgen: {} connections for {:.0} s to {}; {} vector tiles of [{}] over z{}-{}, {} raster tiles{}; {} cases/s from {} inspector tokens",
        o.connections,
        o.duration.as_secs_f64(),
        o.addr,
        plan.vector_tiles.len(),
        plan.vector_layers.join(","),
        o.zooms.0,
        o.zooms.1,
        plan.raster_tiles.len(),
        plan.raster_layer.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
        o.case_rate,
        o.tokens.len(),
    );
    let o = Arc::new(o);
    let plan = Arc::new(plan);
    let start = Instant::now();
    let end = start + o.duration;
    let pacer = Arc::new(Pacer {
        start,
        next_us: AtomicU64::new(0),
        interval_us: if o.case_rate > 0.0 {
            (1e6 / o.case_rate) as u64
        } else {
            0
        },
    });
    let handles: Vec<_> = (0..o.connections)
        .map(|i| {
            tokio::spawn(worker(
                i,
                Arc::clone(&o),
                Arc::clone(&plan),
                Arc::clone(&pacer),
                end,
            ))
        })
        .collect();
    let mut total = Stats::default();
    let mut acked = Vec::new();
    let mut resent = 0;
    // Every worker stops at `end` plus at most one request's timeout.
    let hard_stop = end + o.timeout + Duration::from_secs(5);
    for h in handles {
        let left = hard_stop.saturating_duration_since(Instant::now());
        let outcome = tokio::time::timeout(left, h)
            .await
            .context("a worker did not stop in time")?
            .context("a worker panicked")?;
        total.merge(&outcome.stats);
        acked.extend(outcome.acked);
        resent += outcome.resent;
    }
    // With keys, two acknowledgements of one case would be a key that did not hold.
    let mut unique = acked.clone();
    unique.sort_unstable();
    unique.dedup();
    let duplicate_acks = acked.len() - unique.len();
    let elapsed = start.elapsed();
    if let Some(path) = &o.acked {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        );
        for id in &acked {
            writeln!(f, "{id}")?;
        }
        f.flush()?;
    }
    print!("{}", total.table(elapsed));
    println!("acknowledged cases: {}", acked.len());
    if plan.keyed() {
        println!(
            "idempotency keys on every case: {resent} case(s) sent again after a lost answer, {duplicate_acks} case id(s) acknowledged twice"
        );
    }
    if let Some(path) = &o.json {
        let mut report = total.to_json(elapsed);
        report["connections"] = o.connections.into();
        report["acknowledged_cases"] = acked.len().into();
        report["idempotency_keys"] = plan.keyed().into();
        report["cases_resent"] = resent.into();
        report["duplicate_acknowledgements"] = duplicate_acks.into();
        report["vector_layers"] = plan.vector_layers.clone().into();
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(total.errors() == 0 && duplicate_acks == 0)
}

fn main() {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    match runtime.block_on(run(options)) {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("loadgen: there were errors (see the table)");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            std::process::exit(2);
        }
    }
}

//! Command-line options (`--name value` pairs; `--help` prints them).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

/// The usage text.
pub const USAGE: &str = "\
citygrid-loadgen: a loopback load test of a citygrid server

  --addr 127.0.0.1:PORT     the server (loopback addresses only)        [required]
  --connections N           concurrent keep-alive connections           [200]
  --duration SECONDS        how long to send requests                    [60]
  --timeout SECONDS         per-request limit (a transport error after)  [10]
  --mix KIND=W,...          weights of tile, raster, locate, nearest, items
                            [tile=80,raster=6,locate=5,nearest=5,items=4]
  --case-rate PER_SECOND    case intakes per second, paced, on top of the mix [5]
  --tokens FILE             bearer tokens of inspectors, one per line (cases need them)
  --tile-bbox W,S,E,N       the city box the viewer looks at  [24.935,60.164,24.953,60.179]
  --zooms MIN-MAX           vector tile zooms                            [12-16]
  --case-bbox W,S,E,N       where cases and /api/locate points fall     [the tile box]
  --nearest-layer ID        layer of /api/nearest                       [osm_pois]
  --items-layer ID          OGC collection queried with bbox + filter    [osm_roads]
  --items-filter CQL2       its CQL2-text filter       [highway IN ('residential','service','footway')]
  --acked FILE              write the ids of acknowledged (201) cases here
  --idempotency-keys yes|no an Idempotency-Key on every case request; a case whose
                            answer was lost (transport error) is sent again, once,
                            with the same key                          [no]
  --json FILE               write the report as JSON here
";

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server (loopback).
    pub addr: SocketAddr,
    /// Concurrent connections.
    pub connections: usize,
    /// Sending time.
    pub duration: Duration,
    /// Per-request limit.
    pub timeout: Duration,
    /// Weights: tile, raster, locate, nearest, items.
    pub mix: [(String, u32); 5],
    /// Cases per second.
    pub case_rate: f64,
    /// Inspector tokens.
    pub tokens: Vec<String>,
    /// The viewer's box.
    pub tile_bbox: [f64; 4],
    /// Vector tile zooms (inclusive).
    pub zooms: (u8, u8),
    /// Where cases and located points fall.
    pub case_bbox: [f64; 4],
    /// The layer of `/api/nearest`.
    pub nearest_layer: String,
    /// The OGC collection of the items queries.
    pub items_layer: String,
    /// Their CQL2-text filter.
    pub items_filter: String,
    /// File for acknowledged case ids.
    pub acked: Option<PathBuf>,
    /// File for the JSON report.
    pub json: Option<PathBuf>,
    /// An `Idempotency-Key` on every case request (and one resend of a case whose
    /// answer was lost).
    pub idempotency_keys: bool,
}

fn bbox(s: &str) -> anyhow::Result<[f64; 4]> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad box {s:?}: want W,S,E,N"))?;
    match v[..] {
        [w, s2, e, n] if w < e && s2 < n && v.iter().all(|x| x.is_finite()) => Ok([w, s2, e, n]),
        _ => bail!("bad box {s:?}: want W,S,E,N with W<E and S<N"),
    }
}

impl Options {
    /// Parses the process arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Options> {
        let mut o = Options {
            addr: "127.0.0.1:8080".parse()?,
            connections: 200,
            duration: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            mix: [
                ("tile".into(), 80),
                ("raster".into(), 6),
                ("locate".into(), 5),
                ("nearest".into(), 5),
                ("items".into(), 4),
            ],
            case_rate: 5.0,
            tokens: Vec::new(),
            tile_bbox: [24.935, 60.164, 24.953, 60.179],
            zooms: (12, 16),
            case_bbox: [0.0; 4],
            nearest_layer: "osm_pois".into(),
            items_layer: "osm_roads".into(),
            items_filter: "highway IN ('residential','service','footway')".into(),
            acked: None,
            json: None,
            idempotency_keys: false,
        };
        let mut case_bbox = None;
        let mut addr_given = false;
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                print!("{USAGE}");
                std::process::exit(0);
            }
            let value = it
                .next()
                .with_context(|| format!("{flag} needs a value (see --help)"))?;
            match flag.as_str() {
                "--addr" => {
                    o.addr = value.parse().context("--addr is IP:PORT")?;
                    addr_given = true;
                }
                "--connections" => o.connections = value.parse().context("--connections")?,
                "--duration" => o.duration = Duration::from_secs_f64(value.parse()?),
                "--timeout" => o.timeout = Duration::from_secs_f64(value.parse()?),
                "--case-rate" => o.case_rate = value.parse().context("--case-rate")?,
                "--mix" => {
                    for part in value.split(',') {
                        let (k, w) = part
                            .split_once('=')
                            .with_context(|| format!("--mix part {part:?} is not KIND=WEIGHT"))?;
                        let slot = o
                            .mix
                            .iter_mut()
                            .find(|(name, _)| name == k.trim())
                            .with_context(|| format!("--mix: unknown kind {k:?}"))?;
                        slot.1 = w.trim().parse().context("--mix weight")?;
                    }
                }
                "--tokens" => {
                    let text = std::fs::read_to_string(&value)
                        .with_context(|| format!("cannot read {value}"))?;
                    o.tokens = text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect();
                }
                "--tile-bbox" => o.tile_bbox = bbox(&value)?,
                "--case-bbox" => case_bbox = Some(bbox(&value)?),
                "--zooms" => {
                    let (a, b) = value.split_once('-').context("--zooms is MIN-MAX")?;
                    o.zooms = (a.parse()?, b.parse()?);
                    if o.zooms.0 > o.zooms.1 || o.zooms.1 > 22 {
                        bail!("--zooms {value}: want MIN-MAX with MIN <= MAX <= 22");
                    }
                }
                "--nearest-layer" => o.nearest_layer = value,
                "--items-layer" => o.items_layer = value,
                "--items-filter" => o.items_filter = value,
                "--acked" => o.acked = Some(value.into()),
                "--json" => o.json = Some(value.into()),
                "--idempotency-keys" => {
                    o.idempotency_keys = match value.as_str() {
                        "yes" | "true" | "1" => true,
                        "no" | "false" | "0" => false,
                        other => bail!("--idempotency-keys is yes or no, not {other:?}"),
                    }
                }
                other => bail!("unknown option {other} (see --help)"),
            }
        }
        if !addr_given {
            bail!("--addr 127.0.0.1:PORT is required (see --help)");
        }
        if !o.addr.ip().is_loopback() {
            bail!(
                "the load generator only targets loopback addresses, not {}",
                o.addr
            );
        }
        if o.connections == 0 || o.connections > 10_000 {
            bail!("--connections must be 1..=10000");
        }
        if o.duration.is_zero() || o.duration > Duration::from_secs(3600) {
            bail!("--duration must be more than 0 and at most 3600 seconds");
        }
        if !(0.0..=10_000.0).contains(&o.case_rate) {
            bail!("--case-rate must be 0..=10000");
        }
        if o.case_rate > 0.0 && o.tokens.is_empty() {
            bail!("cases need inspector tokens: --tokens FILE (or --case-rate 0)");
        }
        if o.mix.iter().all(|(_, w)| *w == 0) && o.case_rate == 0.0 {
            bail!("nothing to send: every weight is 0 and --case-rate is 0");
        }
        o.case_bbox = case_bbox.unwrap_or(o.tile_bbox);
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> anyhow::Result<Options> {
        Options::parse(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn loopback_only_and_checked_values() {
        assert!(parse(&["--addr", "10.0.0.1:80", "--case-rate", "0"]).is_err());
        assert!(parse(&["--case-rate", "0"]).is_err());
        let o = parse(&[
            "--addr",
            "127.0.0.1:9",
            "--case-rate",
            "0",
            "--mix",
            "tile=1,items=0",
        ])
        .unwrap();
        assert_eq!(o.mix[0].1, 1);
        assert_eq!(o.mix[4].1, 0);
        assert!(parse(&["--addr", "127.0.0.1:9", "--mix", "bogus=1"]).is_err());
        assert!(parse(&[
            "--addr",
            "127.0.0.1:9",
            "--case-rate",
            "0",
            "--tile-bbox",
            "1,2,0,3"
        ])
        .is_err());
    }
}

//! The sample city's addresses and named roads, read from an OSM file with GDAL's OSM
//! driver (`ogr2ogr` to GeoJSON in a temporary directory): address points and building
//! centroids with `addr:street` + `addr:housenumber`, named highways as roads. Shared
//! by the quality test and the benchmark example.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use citygrid_geocode::{AddressRecord, RoadRecord};
use serde_json::Value;

/// The sample city bundled with citygrid.
pub fn sample_pbf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/helsinki.osm.pbf")
}

/// Runs one ogr2ogr SQL query on the OSM file; the features of the GeoJSON it writes.
fn query(pbf: &Path, dir: &Path, name: &str, sql: &str) -> Result<Vec<Value>, String> {
    let out = dir.join(format!("{name}.geojson"));
    let status = Command::new("ogr2ogr")
        .args(["-f", "GeoJSON"])
        .arg(&out)
        .arg(pbf)
        .args(["-dialect", "SQLite", "-sql", sql])
        .output()
        .map_err(|e| format!("ogr2ogr: {e}"))?;
    if !status.status.success() {
        return Err(format!(
            "ogr2ogr failed: {}",
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(v["features"].as_array().cloned().unwrap_or_default())
}

fn text(f: &Value, key: &str) -> Option<String> {
    f["properties"][key].as_str().map(str::to_string)
}

fn coords(v: &Value) -> Option<[f64; 2]> {
    Some([v.get(0)?.as_f64()?, v.get(1)?.as_f64()?])
}

/// Addresses and named roads of an OSM file.
pub fn load(pbf: &Path) -> Result<(Vec<AddressRecord>, Vec<RoadRecord>), String> {
    let dir = std::env::temp_dir().join(format!(
        "citygrid-geocode-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let addr = |layer: &str, geom: &str| {
        format!(
            "SELECT hstore_get_value(other_tags,'addr:street') AS street, \
             hstore_get_value(other_tags,'addr:housenumber') AS number, \
             hstore_get_value(other_tags,'addr:city') AS city, {geom} AS geometry FROM {layer} \
             WHERE hstore_get_value(other_tags,'addr:street') IS NOT NULL \
             AND hstore_get_value(other_tags,'addr:housenumber') IS NOT NULL"
        )
    };
    let result = (|| {
        let mut feats = query(pbf, &dir, "points", &addr("points", "geometry"))?;
        feats.extend(query(
            pbf,
            &dir,
            "buildings",
            &addr("multipolygons", "ST_Centroid(geometry)"),
        )?);
        let lines = query(
            pbf,
            &dir,
            "roads",
            "SELECT osm_id, name, geometry FROM lines WHERE highway IS NOT NULL AND name IS NOT NULL",
        )?;
        let mut addresses = Vec::new();
        for f in feats {
            let Some(p) = coords(&f["geometry"]["coordinates"]) else {
                continue;
            };
            addresses.push(AddressRecord {
                id: addresses.len() as i64 + 1,
                road: text(&f, "street"),
                number: text(&f, "number"),
                city: text(&f, "city"),
                lon: p[0],
                lat: p[1],
                ..AddressRecord::default()
            });
        }
        let mut roads = Vec::new();
        for f in lines {
            let (Some(name), Some(cs)) =
                (text(&f, "name"), f["geometry"]["coordinates"].as_array())
            else {
                continue;
            };
            let line: Vec<[f64; 2]> = cs.iter().filter_map(coords).collect();
            let id = text(&f, "osm_id")
                .and_then(|s| s.parse().ok())
                .unwrap_or(roads.len() as i64);
            roads.push(RoadRecord {
                id,
                name,
                lines: vec![line],
            });
        }
        Ok((addresses, roads))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

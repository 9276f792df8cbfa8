//! GDAL as a real OGC API – Features client: `ogrinfo` lists every collection with
//! the right feature count, and `ogr2ogr` downloads a collection with a bbox and a
//! `-where` clause (sent to the server as a CQL2-text filter) — the same features
//! PostGIS selects.

#[path = "query_city.rs"]
mod city;
mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{http, TestDb, TestServer};

fn gdal(program: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(program)
        .args(args)
        .env("GDAL_HTTP_TIMEOUT", "60")
        .env("CPL_DEBUG", "ON")
        .env("CPL_CURL_VERBOSE", "NO")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// The FIDs of `ogrinfo -al` output (`OGRFeature(layer):FID`).
fn fids(ogrinfo: &str) -> BTreeSet<i64> {
    ogrinfo
        .lines()
        .filter_map(|l| l.strip_prefix("OGRFeature("))
        .filter_map(|l| l.split("):").nth(1))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn gdal_reads_the_collections() {
    let db = TestDb::new().await;
    city::make_city(&db.pool).await;
    let server = TestServer::start(&db);
    for id in city::LAYERS {
        city::wait_loaded(&http(), &server.base, id).await;
    }
    let source = format!("OAPIF:{}/ogc", server.base);
    let (list, _) = gdal("ogrinfo", &["-ro", "-so", &source]);
    for id in city::LAYERS {
        assert!(
            list.lines().any(|l| l.contains(&format!(": {id}"))),
            "{id} missing from:\n{list}"
        );
        let (summary, _) = gdal("ogrinfo", &["-ro", "-so", &source, id]);
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM layers.{id}"))
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(
            summary.contains(&format!("Feature Count: {count}")),
            "{id}: want {count}:\n{summary}"
        );
    }

    // Download with a bbox and a filter; compare with PostGIS.
    let dir = common::temp_dir("ogc-gdal");
    let (x0, y0, x1, y1) = (24.91, 60.155, 24.98, 60.19);
    for (layer, where_clause) in [
        ("bldg", "rank >= 3 AND kind = 'park'"),
        ("poi", "height > 20 AND name LIKE 'p2%'"),
        ("road", "kind = 'primary' OR kind = 'service'"),
    ] {
        let out = dir.join(format!("{layer}.gpkg"));
        let out_s = out.to_string_lossy().to_string();
        let (_, debug) = gdal(
            "ogr2ogr",
            &[
                "-f",
                "GPKG",
                &out_s,
                &source,
                layer,
                "-preserve_fid",
                "-oo",
                "PAGE_SIZE=1000",
                "-spat",
                &x0.to_string(),
                &y0.to_string(),
                &x1.to_string(),
                &y1.to_string(),
                "-where",
                where_clause,
            ],
        );
        assert!(
            debug.contains("filter="),
            "GDAL sent the -where to the server as a CQL2 filter:\n{debug}"
        );
        assert!(debug.contains("bbox="), "GDAL sent the bbox:\n{debug}");
        let (dump, _) = gdal("ogrinfo", &["-ro", "-al", "-q", &out_s]);
        let got = fids(&dump);
        let want: BTreeSet<i64> = sqlx::query_scalar::<_, i64>(&format!(
            "SELECT fid FROM layers.{layer} WHERE ST_Intersects(geom, ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326)) AND ({where_clause})"
        ))
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        assert!(!want.is_empty(), "{layer}: the query selects something");
        assert_eq!(
            got,
            want,
            "{layer} {where_clause}\n{}",
            debug
                .lines()
                .filter(|l| l.contains("Fetch") || l.contains("OAPIF"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

//! Vector tiles for brotli clients (issue 17): a client whose `Accept-Encoding` names
//! `br` gets the tile's brotli form (`Content-Encoding: br`, its own ETag), made once
//! and kept in the tile cache beside the gzip form (both counted in its bytes), and
//! sent as stored from then on; a gzip-only client gets the gzip form, any other
//! client the raw tile. The same on the fast path (anonymous requests) and through
//! the full stack (a request with its own `X-Request-Id` goes there). The test client
//! does not decompress (reqwest without its gzip or brotli features), so the bytes
//! read are the bytes sent.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::mvt::decode;
use common::tiles::{cache_bytes, get_as_sent, points_layer, tile_of};
use common::{TestDb, TestServer};

fn unbrotli(br: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(br, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

const BROWSER: (&str, &str) = ("accept-encoding", "gzip, deflate, br, zstd");
/// A request the fast path leaves to the full stack.
const FULL_STACK: (&str, &str) = ("x-request-id", "tile-brotli-test");

#[tokio::test(flavor = "multi_thread")]
async fn brotli_clients_get_the_stored_brotli_form() {
    let db = TestDb::new().await;
    points_layer(&db, "br_pts").await;
    let server = TestServer::start(&db);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_as_sent(&server, "/tiles/br_pts/0/0/0", &[]).await.0 == 409 {
        assert!(Instant::now() < deadline, "layer br_pts never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for (first, z, lon, lat) in [
        // a brotli client encodes the tile (fast path), then through the full stack
        ("fast", 14, 24.944, 60.170),
        ("full", 15, 24.944, 60.170),
    ] {
        let (x, y) = tile_of(lon, lat, z);
        let path = format!("/tiles/br_pts/{z}/{x}/{y}.mvt");
        let mut request = vec![BROWSER];
        if first == "full" {
            request.push(FULL_STACK);
        }
        let held_before = cache_bytes(&server).await;
        let (status, [encoding, br_etag, vary], br) = get_as_sent(&server, &path, &request).await;
        assert_eq!((status, encoding.as_str()), (200, "br"), "{first}");
        assert!(vary.to_ascii_lowercase().contains("accept-encoding"));
        assert!(
            br_etag.starts_with('"') && br_etag.ends_with("-br\""),
            "{br_etag}"
        );
        let held = cache_bytes(&server).await - held_before;

        // The identity tile, the gzip form, and the brotli form decoding to the same MVT.
        let (status, [encoding, raw_etag, _], raw) = get_as_sent(&server, &path, &[]).await;
        assert_eq!((status, encoding.as_str()), (200, ""));
        assert!(decode(&raw).len() > 10, "a tile with points");
        assert_eq!(unbrotli(&br), raw, "{first}");
        assert!(br.len() < raw.len());
        let (status, [encoding, gz_etag, _], gz) =
            get_as_sent(&server, &path, &[("accept-encoding", "gzip, deflate")]).await;
        assert_eq!((status, encoding.as_str()), (200, "gzip"));
        assert_eq!(gunzip(&gz), raw);
        let etags = [&br_etag, &gz_etag, &raw_etag];
        assert!(etags
            .iter()
            .all(|e| etags.iter().filter(|o| o == &e).count() == 1));

        // Both compressed forms were kept at the first request, and nothing more since.
        assert!(
            held >= gz.len() + br.len() && held < gz.len() + br.len() + 256,
            "{first}: the cache grew by {held} bytes for gzip {} + brotli {}",
            gz.len(),
            br.len()
        );
        assert_eq!(cache_bytes(&server).await - held_before, held);

        // Sent as stored, on either path; its own ETag gives 304.
        for extra in [None, Some(FULL_STACK)] {
            let mut request = vec![BROWSER];
            request.extend(extra);
            let (status, [encoding, etag, _], again) = get_as_sent(&server, &path, &request).await;
            assert_eq!((status, encoding.as_str()), (200, "br"));
            assert_eq!((etag, &again), (br_etag.clone(), &br));
            request.push(("if-none-match", br_etag.as_str()));
            assert_eq!(get_as_sent(&server, &path, &request).await.0, 304);
        }
        // brotli only (no gzip) is brotli too; gzip preferred by q-value is gzip
        let (_, [encoding, _, _], body) =
            get_as_sent(&server, &path, &[("accept-encoding", "br")]).await;
        assert_eq!((encoding.as_str(), &body), ("br", &br));
        let (_, [encoding, _, _], body) = get_as_sent(
            &server,
            &path,
            &[("accept-encoding", "br;q=0.5, gzip;q=0.9")],
        )
        .await;
        assert_eq!((encoding.as_str(), &body), ("gzip", &gz));
    }

    // A tile a gzip client encoded gets its brotli form at the first brotli request,
    // counted in the cache's bytes, and keeps it.
    let (x, y) = tile_of(24.944, 60.170, 16);
    let path = format!("/tiles/br_pts/16/{x}/{y}");
    let (_, [encoding, _, _], gz) =
        get_as_sent(&server, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(encoding, "gzip");
    let held_before = cache_bytes(&server).await;
    let (_, [encoding, _, _], br) = get_as_sent(&server, &path, &[BROWSER]).await;
    assert_eq!(encoding, "br");
    assert_eq!(unbrotli(&br), gunzip(&gz));
    assert_eq!(cache_bytes(&server).await - held_before, br.len());
    let (_, _, again) = get_as_sent(&server, &path, &[BROWSER, FULL_STACK]).await;
    assert_eq!(again, br);
    assert_eq!(cache_bytes(&server).await - held_before, br.len());

    // An empty tile stays 204 without a body or a coding.
    let (status, [encoding, _, _], body) =
        get_as_sent(&server, "/tiles/br_pts/14/0/0", &[BROWSER]).await;
    assert_eq!((status, encoding.as_str(), body.len()), (204, "", 0));
}

//! Vector tiles are gzip-compressed once when encoded and cached in that form only: a
//! client that accepts gzip gets the stored gzip bytes (their own ETag), any other
//! client the raw tile, decompressed for it; both say `Vary: Accept-Encoding`, and each
//! ETag gives 304 only on its own representation. The test client does not decompress (reqwest without its gzip
//! feature), so the bytes read are the bytes sent.

mod common;

use std::time::{Duration, Instant};

use common::mvt::decode;
use common::tiles::{cache_bytes, get_as_sent, points_layer, tile_of};
use common::{TestDb, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn vector_tiles_are_sent_gzip_as_stored() {
    let db = TestDb::new().await;
    points_layer(&db, "gz_pts").await;
    let server = TestServer::start(&db);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_as_sent(&server, "/tiles/gz_pts/0/0/0", &[]).await.0 == 409 {
        assert!(Instant::now() < deadline, "layer gz_pts never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (x, y) = tile_of(24.944, 60.170, 14);
    let path = format!("/tiles/gz_pts/14/{x}/{y}.mvt");

    // Asked with gzip first, so this request is the one that encodes the tile (a
    // brotli client's forms are tests/tile_brotli.rs).
    let held_before = cache_bytes(&server).await;
    let (status, [encoding, gz_etag, vary], gz) =
        get_as_sent(&server, &path, &[("accept-encoding", "gzip, deflate")]).await;
    assert_eq!(status, 200);
    assert_eq!(encoding, "gzip");
    assert!(vary.to_ascii_lowercase().contains("accept-encoding"));
    let held = cache_bytes(&server).await - held_before;

    // Without Accept-Encoding: the raw tile, with Vary too.
    let (status, [encoding, raw_etag, vary], raw) = get_as_sent(&server, &path, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(encoding, "");
    assert!(vary.to_ascii_lowercase().contains("accept-encoding"));
    assert!(decode(&raw).len() > 10, "a tile with points");

    // The gzip bytes are the raw tile, compressed (and smaller).
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    assert_eq!(plain, raw);
    assert!(gz.len() < raw.len());

    // The cache keeps the compressed form only (the bytes sent, plus the key's small
    // overhead): the raw tile above was decompressed for that one client.
    assert!(
        held >= gz.len() && held < gz.len() + 256 && held < raw.len(),
        "the cache grew by {held} bytes for a tile of {} bytes, {} gzipped",
        raw.len(),
        gz.len()
    );
    assert_eq!(
        cache_bytes(&server).await - held_before,
        held,
        "nothing more kept"
    );

    // Two representations, two strong ETags.
    assert!(gz_etag.starts_with('"') && raw_etag.starts_with('"'));
    assert_ne!(gz_etag, raw_etag);

    // A second gzip request is served the same stored bytes.
    let (_, [_, again_etag, _], again) =
        get_as_sent(&server, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!((again_etag.as_str(), &again), (gz_etag.as_str(), &gz));

    // Each ETag gives 304 on its own representation only.
    let gzip_304 = get_as_sent(
        &server,
        &path,
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)],
    )
    .await;
    assert_eq!(gzip_304.0, 304);
    assert_eq!(gzip_304.1[1], gz_etag);
    let raw_304 = get_as_sent(&server, &path, &[("if-none-match", &raw_etag)]).await;
    assert_eq!(raw_304.0, 304);
    assert_eq!(raw_304.1[1], raw_etag);
    let crossed = get_as_sent(
        &server,
        &path,
        &[("accept-encoding", "gzip"), ("if-none-match", &raw_etag)],
    )
    .await;
    assert_eq!((crossed.0, crossed.1[0].as_str()), (200, "gzip"));
    let crossed = get_as_sent(&server, &path, &[("if-none-match", &gz_etag)]).await;
    assert_eq!((crossed.0, &crossed.2), (200, &raw));

    // gzip refused with q=0 (even beside `*`): the raw tile; `*` alone accepts gzip.
    for refusal in ["gzip;q=0", "gzip;q=0, *", "identity", "br;q=0"] {
        let (status, [encoding, etag, _], body) =
            get_as_sent(&server, &path, &[("accept-encoding", refusal)]).await;
        assert_eq!(status, 200, "{refusal}");
        assert_eq!(encoding, "", "{refusal}");
        assert_eq!(
            (etag.as_str(), &body),
            (raw_etag.as_str(), &raw),
            "{refusal}"
        );
    }
    let (_, [encoding, etag, _], body) =
        get_as_sent(&server, &path, &[("accept-encoding", "*")]).await;
    assert_eq!(encoding, "gzip");
    assert_eq!((etag.as_str(), &body), (gz_etag.as_str(), &gz));

    // An empty tile stays 204, uncompressed.
    let (status, [encoding, _, _], body) = get_as_sent(
        &server,
        "/tiles/gz_pts/14/0/0",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!((status, encoding.as_str(), body.len()), (204, "", 0));
}

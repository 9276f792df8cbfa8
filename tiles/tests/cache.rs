//! Tile cache: the byte bound holds under churn; bbox invalidation removes exactly the
//! touched tiles at every zoom, buffer included.

use std::collections::HashSet;
use std::sync::Arc;

use citygrid_geo::tms::{lonlat_to_mercator, tiles_covering, Bbox, TileCoord};
use citygrid_tiles::cache::{etag_of, CacheConfig, TileCache, TileKey};
use rand::{rngs::StdRng, Rng, SeedableRng};

#[test]
fn eviction_keeps_bytes_under_the_bound_across_threads() {
    let cache = Arc::new(TileCache::new(CacheConfig {
        max_bytes: 200_000,
        ..CacheConfig::default()
    }));
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let cache = Arc::clone(&cache);
            s.spawn(move || {
                let mut rng = StdRng::seed_from_u64(t);
                for _ in 0..3_000 {
                    let z = rng.gen_range(0..=10u8);
                    let n = 1u32 << z;
                    let tile = TileCoord::new(z, rng.gen_range(0..n), rng.gen_range(0..n)).unwrap();
                    let key = TileKey::new(tile, [("roads", rng.gen_range(0..3u64))]);
                    if cache.get(&key).is_none() {
                        let len = rng.gen_range(0..20_000);
                        let stored = cache.insert(key, vec![(len % 251) as u8; len]);
                        assert_eq!(stored.etag, etag_of(&stored.bytes));
                    }
                    let st = cache.stats();
                    assert!(st.bytes <= st.max_bytes, "{st:?}");
                }
            });
        }
    });
    let st = cache.stats();
    assert!(st.bytes <= 200_000 && st.evictions > 0 && st.hits + st.misses == 12_000);
    assert!(st
        .to_prometheus("citygrid_tile_cache")
        .contains("citygrid_tile_cache_entries"));
}

#[test]
fn invalidate_bbox_removes_exactly_the_touched_tiles() {
    let config = CacheConfig {
        max_bytes: usize::MAX,
        ..CacheConfig::default()
    };
    let cache = TileCache::new(config);
    // Cache every tile of z0..=12 around a city centre, for a layer pair and a single
    // layer, plus an unrelated layer.
    let c = lonlat_to_mercator(116.40, 39.90);
    let area = Bbox::new(
        c.x - 20_000.0,
        c.y - 20_000.0,
        c.x + 20_000.0,
        c.y + 20_000.0,
    );
    let mut keys = Vec::new();
    for z in 0..=12u8 {
        for t in tiles_covering(&area, z).unwrap().iter() {
            for layers in [
                vec![("roads", 1u64), ("parcels", 4)],
                vec![("parcels", 4)],
                vec![("water", 2)],
            ] {
                let k = TileKey::new(t, layers);
                cache.insert(k.clone(), vec![1; 10]);
                keys.push(k);
            }
        }
    }
    let before = cache.stats().entries;
    assert_eq!(before, keys.len());

    // An edit right next to a tile border at z12: the tile on the other side is touched
    // only through its buffer.
    let t12 = TileCoord::new(12, 3372, 1552).unwrap();
    let b = t12.bounds();
    let unit = (b.max_x - b.min_x) / 4096.0;
    let edit = Bbox::new(
        b.max_x - 10.0 * unit,
        b.min_y + 100.0 * unit,
        b.max_x - 5.0 * unit,
        b.min_y + 110.0 * unit,
    );
    let expected: HashSet<TileKey> = keys
        .iter()
        .filter(|k| {
            k.layers().iter().any(|(l, _)| l == "parcels")
                && k.tile()
                    .buffered_bounds(config.buffer, config.extent)
                    .intersects(&edit)
        })
        .cloned()
        .collect();
    // The eastern neighbour at z12 is among them (buffer), the one two columns away is not.
    let east = TileCoord::new(12, t12.x() + 1, t12.y()).unwrap();
    let far = TileCoord::new(12, t12.x() + 2, t12.y()).unwrap();
    assert!(expected.iter().any(|k| k.tile() == east));
    assert!(!expected.iter().any(|k| k.tile() == far));
    // Every zoom is represented (one or two tiles per zoom and key set).
    assert_eq!(
        expected
            .iter()
            .map(|k| k.tile().z())
            .collect::<HashSet<_>>()
            .len(),
        13
    );

    let removed = cache.invalidate_bbox("parcels", &edit);
    assert_eq!(removed, expected.len());
    for k in &keys {
        assert_eq!(cache.get(k).is_some(), !expected.contains(k), "{k:?}");
    }
    assert_eq!(cache.stats().entries, before - expected.len());
    assert_eq!(cache.stats().invalidations, expected.len() as u64);

    // Whole-layer invalidation leaves other layers alone.
    let n = cache.invalidate_layer("roads");
    assert!(n > 0);
    assert!(keys
        .iter()
        .filter(|k| k.layers()[0].0 == "water")
        .all(|k| cache.get(k).is_some()));
    // A NaN box falls back to the whole layer.
    let nan = Bbox {
        min_x: f64::NAN,
        ..edit
    };
    assert!(cache.invalidate_bbox("water", &nan) > 0);
    assert!(keys
        .iter()
        .filter(|k| k.layers()[0].0 == "water")
        .all(|k| cache.get(k).is_none()));
}

-- Per-layer tile schema (issue 17): which properties a vector layer's tiles carry,
-- from which zoom each one does, and from which zoom each class of feature appears.
-- The JSON shape is citygrid_tiles::tileprops::TileProperties:
--   {"include": [...] | null, "exclude": [...], "min_zoom": {"field": z},
--    "feature_min_zoom": {"field": {"value": z}}}
-- NULL keeps the default rule (every field; OSM and large layers leave out their
-- tag bags). Set with `citygrid layer set-tile-properties` or
-- PUT /api/admin/layers/{layer}/tile-properties, which check the names against the
-- layer's fields. tile_properties_version is bumped on every change: it is part of
-- the tile cache keys, so no server serves a tile of the previous schema.
ALTER TABLE layer_catalog
    ADD COLUMN tile_properties jsonb
        CHECK (tile_properties IS NULL OR jsonb_typeof(tile_properties) = 'object'),
    ADD COLUMN tile_properties_version bigint NOT NULL DEFAULT 0;

-- Where a vector layer's tiles come from (issue 24): `memory` (the default: the layer
-- is loaded into the in-memory index at start and kept current by change notices) or
-- `database` (not loaded; each tile is made by PostGIS with ST_AsMVT, on a standby
-- when `database_read_urls` is set, behind the same tile cache). For a layer too big
-- for memory. Set by an admin (`citygrid layer set-serve-from`,
-- PUT /api/admin/layers/{layer}/serve-from).
ALTER TABLE layer_catalog
    ADD COLUMN IF NOT EXISTS serve_from text NOT NULL DEFAULT 'memory'
        CHECK (serve_from IN ('memory', 'database'));

-- Editing through OGC API - Features - Part 4 and history (issue 22).
--
-- feature_history: every edit of a feature of an imported layer (POST/PUT/PATCH/DELETE
-- on /ogc/collections/{layer}/items…, and restores), with who, when, and the feature
-- before and after as GeoJSON (lon/lat). `version` counts the edits of one feature
-- (1, 2, …); `…/items/{fid}/history` lists them and `…/history/{version}/restore`
-- writes one back (itself recorded as an edit, op 'restore').
CREATE TABLE feature_history (
    id      bigserial PRIMARY KEY,
    layer   text NOT NULL CHECK (layer ~ '^[a-z0-9_]+$'),
    fid     bigint NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    op      text NOT NULL CHECK (op IN ('create', 'replace', 'update', 'delete', 'restore')),
    actor   text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    -- The feature as GeoJSON before and after the edit (NULL: it did not exist).
    before  jsonb,
    after   jsonb,
    UNIQUE (layer, fid, version)
);
CREATE INDEX feature_history_at_idx ON feature_history (at);

-- Previous versions of re-imported layers: the replaced table is moved to schema
-- layer_history under the name '<layer>@<id>' instead of being dropped, and kept for
-- the layer's retention.
CREATE SCHEMA IF NOT EXISTS layer_history;
CREATE TABLE layer_snapshots (
    id         bigserial PRIMARY KEY,
    layer      text NOT NULL CHECK (layer ~ '^[a-z0-9_]+$'),
    -- Its name in schema layer_history.
    table_name text NOT NULL UNIQUE,
    -- The catalogue row of the replaced version.
    catalog    jsonb NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX layer_snapshots_layer_idx ON layer_snapshots (layer, taken_at);

-- Per-layer editing settings (a layer without a row: refuse invalid geometry, the
-- server's default retention).
--   invalid_geometry: 'refuse' (400 with ST_IsValidReason) or 'repair' (ST_MakeValid)
--   history_retention_days: how long edits and replaced tables are kept (NULL: the
--   default of the server, configuration `history_retention_days`)
CREATE TABLE layer_edit_settings (
    layer                  text PRIMARY KEY REFERENCES layer_catalog (id) ON DELETE CASCADE,
    invalid_geometry       text NOT NULL DEFAULT 'refuse'
                           CHECK (invalid_geometry IN ('refuse', 'repair')),
    history_retention_days integer CHECK (history_retention_days BETWEEN 1 AND 36500),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

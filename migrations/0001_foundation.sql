-- citygrid foundation: PostGIS, the layer catalogue, departments, users, sessions,
-- API keys and the audit trail. Later features add their own numbered files.

CREATE EXTENSION IF NOT EXISTS postgis;

-- Layer data tables live in their own schema: layers."<id>".
CREATE SCHEMA IF NOT EXISTS layers;

-- One row per vector or raster layer.
CREATE TABLE layer_catalog (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9_]+$' AND length(id) <= 48),
    title         text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('vector', 'raster')),
    -- Point, LineString, Polygon, MultiPoint, MultiLineString, MultiPolygon,
    -- GeometryCollection or Geometry (mixed); NULL for raster layers.
    geometry_type text,
    source_file   text,
    -- As given or read from the file: 'EPSG:4547', 'gcj02', 'bd09', a WKT name...
    source_crs    text,
    -- The storage CRS of the geometry column (vector) or 3857 (raster tiles).
    srid          integer NOT NULL DEFAULT 4326,
    -- [{"name": "...", "type": "text|bigint|double precision|boolean|date|timestamptz|jsonb", "source_name": "..."}]
    fields        jsonb NOT NULL DEFAULT '[]'::jsonb,
    feature_count bigint NOT NULL DEFAULT 0,
    -- lon/lat bounds: [west, south, east, north]
    bounds        double precision[] CHECK (bounds IS NULL OR cardinality(bounds) = 4),
    min_zoom      integer NOT NULL DEFAULT 0 CHECK (min_zoom BETWEEN 0 AND 24),
    max_zoom      integer NOT NULL DEFAULT 22 CHECK (max_zoom BETWEEN 0 AND 24),
    -- Raster only: png | jpeg | webp
    tile_format   text CHECK (tile_format IS NULL OR tile_format IN ('png', 'jpeg', 'webp')),
    -- read, written, repaired, skipped_empty, skipped_invalid, seconds...
    import_stats  jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Bumped on every change of the layer's data; part of tile cache keys.
    version       bigint NOT NULL DEFAULT 1,
    imported_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (min_zoom <= max_zoom)
);

-- Departments that cases are routed to (grid management extends this table).
CREATE TABLE departments (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]+$' AND length(code) <= 48),
    name       text NOT NULL,
    name_en    text,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    display_name    text,
    -- argon2id PHC string
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('inspector', 'acceptor', 'shift_leader',
                                                  'dispatcher', 'department', 'admin')),
    department_code text REFERENCES departments (code),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'department' OR department_code IS NOT NULL)
);

-- Login sessions: only the SHA-256 of the bearer token is stored.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- API keys for embedding maps: only the SHA-256 of the key is stored; the key is
-- shown once at creation. NULL layers / origins means "any".
CREATE TABLE api_keys (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    key_prefix      text NOT NULL,
    key_hash        bytea NOT NULL UNIQUE,
    department_code text REFERENCES departments (code),
    layers          text[],
    origins         text[],
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

-- Who did what, append-only.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb
);

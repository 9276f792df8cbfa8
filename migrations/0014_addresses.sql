-- Standard addresses (门楼牌, issue 21): the geocoder's house numbers, imported by
-- `citygrid import addresses` (source = the name given, default the file's stem) and by
-- `citygrid import osm` (source = 'osm:<layer>'). A re-import replaces the rows of its
-- source in one transaction. Every change announces the sources it touched on the
-- `citygrid_addresses` channel, so each server patches its in-memory geocoding index.
CREATE TABLE addresses (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    full_text     text,
    road          text,
    number        text,
    building      text,
    unit          text,
    community     text,
    street        text,
    district      text,
    city          text,
    division_code text CHECK (division_code IS NULL OR division_code ~ '^[0-9]{6}$'),
    source        text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
    geom          geometry(Point, 4326) NOT NULL,
    imported_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (full_text IS NOT NULL OR road IS NOT NULL)
);
CREATE INDEX addresses_source_idx ON addresses (source);
CREATE INDEX addresses_geom_idx ON addresses USING gist (geom);
CREATE INDEX addresses_road_number_idx ON addresses (road, number);
-- The address text PostGIS matches with pg_trgm (the benchmark's baseline; extension from 0013).
CREATE INDEX addresses_text_trgm_idx ON addresses USING gin (
    (coalesce(full_text, coalesce(road, '') || ' ' || coalesce(number, ''))) gin_trgm_ops);

CREATE FUNCTION addresses_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('citygrid_addresses', s) FROM (SELECT DISTINCT source AS s FROM old_rows) d;
    ELSE
        PERFORM pg_notify('citygrid_addresses', s) FROM (SELECT DISTINCT source AS s FROM new_rows) d;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER addresses_inserted AFTER INSERT ON addresses
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION addresses_changed();
CREATE TRIGGER addresses_updated AFTER UPDATE ON addresses
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION addresses_changed();
CREATE TRIGGER addresses_deleted AFTER DELETE ON addresses
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION addresses_changed();

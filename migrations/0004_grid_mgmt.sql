-- Grid management (docs/domain.md): places and inventory as map layers, reference data
-- (categories, rules, calendars), cases with their append-only events, photos, field
-- tasks, the delivery outbox and Open311 tokens.

-- ---------------------------------------------------------------------------------
-- Departments: delivery channels besides their queue in citygrid.
ALTER TABLE departments
    ADD COLUMN webhook_url      text CHECK (webhook_url IS NULL OR webhook_url ~ '^https?://'),
    ADD COLUMN webhook_secret   text,
    ADD COLUMN open311_endpoint text CHECK (open311_endpoint IS NULL OR open311_endpoint ~ '^https?://'),
    ADD COLUMN contact          text,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();

-- ---------------------------------------------------------------------------------
-- Map layers. Codes are full keys: admin 6, street 9 (admin + street), community 12,
-- grid 15 digits.
CREATE TABLE layers.admin_divisions (
    fid  bigint PRIMARY KEY,
    geom geometry(MultiPolygon, 4326) NOT NULL,
    code text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{6}$'),
    name text NOT NULL
);
CREATE INDEX admin_divisions_geom_idx ON layers.admin_divisions USING gist (geom);

CREATE TABLE layers.streets (
    fid                bigint PRIMARY KEY,
    geom               geometry(MultiPolygon, 4326) NOT NULL,
    code               text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{9}$'),
    admin_code         text NOT NULL CHECK (admin_code ~ '^[0-9]{6}$'),
    name               text NOT NULL,
    default_department text REFERENCES departments (code)
);
CREATE INDEX streets_geom_idx ON layers.streets USING gist (geom);

CREATE TABLE layers.communities (
    fid         bigint PRIMARY KEY,
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{12}$'),
    street_code text NOT NULL CHECK (street_code ~ '^[0-9]{9}$'),
    admin_code  text NOT NULL CHECK (admin_code ~ '^[0-9]{6}$'),
    name        text NOT NULL
);
CREATE INDEX communities_geom_idx ON layers.communities USING gist (geom);

-- Current unit grids; replaced ones move to unit_grid_history.
CREATE TABLE layers.unit_grids (
    fid            bigint PRIMARY KEY,
    geom           geometry(MultiPolygon, 4326) NOT NULL,
    code           text NOT NULL UNIQUE CHECK (code ~ '^[0-9]{12}(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})$'),
    community_code text NOT NULL CHECK (community_code ~ '^[0-9]{12}$'),
    street_code    text NOT NULL CHECK (street_code ~ '^[0-9]{9}$'),
    admin_code     text NOT NULL CHECK (admin_code ~ '^[0-9]{6}$'),
    area_m2        double precision NOT NULL,
    valid_from     date NOT NULL DEFAULT current_date,
    valid_to       date,
    responsible    text
);
CREATE INDEX unit_grids_geom_idx ON layers.unit_grids USING gist (geom);
CREATE INDEX unit_grids_community_idx ON layers.unit_grids (community_code);

CREATE TABLE unit_grid_history (
    id             bigserial PRIMARY KEY,
    code           text NOT NULL,
    community_code text NOT NULL,
    geom           geometry(MultiPolygon, 4326) NOT NULL,
    area_m2        double precision NOT NULL,
    valid_from     date NOT NULL,
    valid_to       date NOT NULL,
    responsible    text
);
CREATE INDEX unit_grid_history_code_idx ON unit_grid_history (code);

CREATE TABLE layers.components (
    fid                    bigint PRIMARY KEY,
    geom                   geometry(Point, 4326) NOT NULL,
    component_id           text NOT NULL UNIQUE CHECK (component_id ~ '^[0-9]{16}$'),
    category_code          text NOT NULL CHECK (category_code ~ '^P[0-9]{4}$'),
    name                   text,
    state                  text NOT NULL DEFAULT 'intact'
        CHECK (state IN ('intact', 'damaged', 'missing', 'obstructed', 'removed', 'other')),
    supervising_department text REFERENCES departments (code),
    owning_department      text REFERENCES departments (code),
    maintaining_department text REFERENCES departments (code),
    grid_code              text,
    survey_date            date,
    change_date            date,
    source                 text,
    note                   text
);
CREATE INDEX components_geom_idx ON layers.components USING gist (geom);
CREATE INDEX components_grid_idx ON layers.components (grid_code);
CREATE SEQUENCE layers.components_fid_seq OWNED BY layers.components.fid;
ALTER TABLE layers.components ALTER COLUMN fid SET DEFAULT nextval('layers.components_fid_seq');

-- Cases drawn on the map by status (kept in step with `cases` by a trigger).
CREATE TABLE layers.cases (
    fid         bigint PRIMARY KEY,
    geom        geometry(Point, 4326) NOT NULL,
    case_no     text NOT NULL,
    status      text NOT NULL,
    category    text NOT NULL,
    overdue     boolean NOT NULL DEFAULT false,
    grid_code   text,
    department  text,
    reported_at timestamptz NOT NULL,
    due_at      timestamptz
);
CREATE INDEX cases_layer_geom_idx ON layers.cases USING gist (geom);

INSERT INTO layer_catalog (id, title, kind, geometry_type, fields, min_zoom, max_zoom, source_crs) VALUES
 ('admin_divisions', 'Administrative divisions', 'vector', 'MultiPolygon',
  '[{"name":"code","type":"text"},{"name":"name","type":"text"}]', 0, 22, 'EPSG:4326'),
 ('streets', 'Streets (街道)', 'vector', 'MultiPolygon',
  '[{"name":"code","type":"text"},{"name":"admin_code","type":"text"},{"name":"name","type":"text"},{"name":"default_department","type":"text"}]', 8, 22, 'EPSG:4326'),
 ('communities', 'Communities (社区)', 'vector', 'MultiPolygon',
  '[{"name":"code","type":"text"},{"name":"street_code","type":"text"},{"name":"admin_code","type":"text"},{"name":"name","type":"text"}]', 10, 22, 'EPSG:4326'),
 ('unit_grids', 'Unit grids (单元网格)', 'vector', 'MultiPolygon',
  '[{"name":"code","type":"text"},{"name":"community_code","type":"text"},{"name":"street_code","type":"text"},{"name":"admin_code","type":"text"},{"name":"area_m2","type":"double precision"},{"name":"valid_from","type":"date"},{"name":"valid_to","type":"date"},{"name":"responsible","type":"text"}]', 12, 22, 'EPSG:4326'),
 ('components', 'City components (部件)', 'vector', 'Point',
  '[{"name":"component_id","type":"text"},{"name":"category_code","type":"text"},{"name":"name","type":"text"},{"name":"state","type":"text"},{"name":"supervising_department","type":"text"},{"name":"owning_department","type":"text"},{"name":"maintaining_department","type":"text"},{"name":"grid_code","type":"text"},{"name":"survey_date","type":"date"},{"name":"change_date","type":"date"},{"name":"source","type":"text"},{"name":"note","type":"text"}]', 14, 22, 'EPSG:4326'),
 ('cases', 'Cases (案卷)', 'vector', 'Point',
  '[{"name":"case_no","type":"text"},{"name":"status","type":"text"},{"name":"category","type":"text"},{"name":"overdue","type":"boolean"},{"name":"grid_code","type":"text"},{"name":"department","type":"text"},{"name":"reported_at","type":"timestamptz"},{"name":"due_at","type":"timestamptz"}]', 10, 22, 'EPSG:4326')
ON CONFLICT (id) DO NOTHING;

-- ---------------------------------------------------------------------------------
-- Reference data.
CREATE TABLE major_classes (
    code    text PRIMARY KEY CHECK (code ~ '^[PE][0-9]{2}$' AND right(code, 2) <> '00'),
    name_zh text NOT NULL,
    name_en text NOT NULL
);

CREATE TABLE categories (
    code               text PRIMARY KEY CHECK (code ~ '^[PE][0-9]{4}$'),
    kind               text NOT NULL CHECK (kind IN ('component', 'event')),
    name_zh            text NOT NULL,
    name_en            text NOT NULL,
    register_condition text NOT NULL DEFAULT '',
    close_condition    text NOT NULL DEFAULT '',
    default_department text REFERENCES departments (code),
    -- Open311 attributes: [{code, datatype, required, description, values: [{key, name}]}]
    attributes         jsonb NOT NULL DEFAULT '[]'::jsonb,
    active             boolean NOT NULL DEFAULT true,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'component') = (left(code, 1) = 'P'))
);

-- Time limits per stage. scope: '*' (default), 'P'/'E' (a kind), 'P01' (a major class)
-- or 'P0101' (a category); the most specific scope wins.
CREATE TABLE time_limit_rules (
    id         bigserial PRIMARY KEY,
    scope      text NOT NULL CHECK (scope ~ '^(\*|[PE]|[PE][0-9]{2}|[PE][0-9]{4})$'),
    stage      text NOT NULL CHECK (stage IN ('registration', 'dispatch', 'handling', 'checking')),
    amount     integer NOT NULL CHECK (amount BETWEEN 0 AND 100000),
    unit       text NOT NULL CHECK (unit IN ('urgent_hours', 'working_hours', 'working_days', 'natural_days')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (scope, stage)
);

-- Routing rules in grid-mgmt's serde form (routing::CategoryScope / AreaScope).
CREATE TABLE routing_rules (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    department text NOT NULL REFERENCES departments (code),
    category   jsonb NOT NULL,
    area       jsonb NOT NULL,
    priority   integer NOT NULL DEFAULT 0,
    valid_from timestamptz,
    valid_to   timestamptz,
    active     boolean NOT NULL DEFAULT true,
    note       text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Working calendars (calendar::CalendarSpec as JSON); 'default' is used for deadlines.
CREATE TABLE calendars (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,48}$'),
    name       text NOT NULL DEFAULT '',
    spec       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------
-- Cases.
CREATE TABLE cases (
    id                bigint PRIMARY KEY,
    case_no           text NOT NULL UNIQUE,
    source            text NOT NULL CHECK (source IN ('inspector', 'public', 'hotline', 'open311',
                                                       'video', 'sensor', 'superior', 'console')),
    reporter_user_id  bigint REFERENCES users (id),
    reporter_name     text,
    reporter_contact  text,
    api_key_id        bigint REFERENCES api_keys (id),
    description       text CHECK (description IS NULL OR length(description) <= 4000),
    address           text,
    attributes        jsonb NOT NULL DEFAULT '{}'::jsonb,
    media_url         text,
    geom              geometry(Point, 4326) NOT NULL,
    category          text NOT NULL REFERENCES categories (code),
    grid_code         text,
    community_code    text,
    street_code       text,
    admin_code        text,
    component_id      text,
    -- the department routing proposes at intake; `department` is set on dispatch
    routed_department text REFERENCES departments (code),
    department        text REFERENCES departments (code),
    routing           jsonb,
    status            text NOT NULL CHECK (status IN ('reported', 'verifying', 'verified', 'registered',
        'voided', 'dispatched', 'handling', 'suspended', 'handled', 'checking', 'checked',
        'returned', 'closed')),
    rework_count      integer NOT NULL DEFAULT 0,
    return_count      integer NOT NULL DEFAULT 0,
    extended          boolean NOT NULL DEFAULT false,
    pending_extension timestamptz,
    suspended_since   timestamptz,
    reported_at       timestamptz NOT NULL,
    registered_at     timestamptz,
    dispatched_at     timestamptz,
    handled_at        timestamptz,
    closed_at         timestamptz,
    registration_due  timestamptz,
    dispatch_due      timestamptz,
    handling_due      timestamptz,
    checking_due      timestamptz,
    -- the deadline of the current stage (NULL when final)
    due_at            timestamptz,
    last_public_note  text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE cases_id_seq OWNED BY cases.id;
CREATE INDEX cases_geom_idx ON cases USING gist (geom);
CREATE INDEX cases_open_geom_idx ON cases USING gist (geom) WHERE status NOT IN ('closed', 'voided');
CREATE INDEX cases_status_idx ON cases (status);
CREATE INDEX cases_department_idx ON cases (department);
CREATE INDEX cases_reported_idx ON cases (reported_at);
CREATE INDEX cases_grid_idx ON cases (grid_code);

CREATE TABLE case_events (
    id              bigserial PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES cases (id),
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    actor_user_id   bigint REFERENCES users (id),
    role            text NOT NULL,
    department      text,
    action          text NOT NULL,
    from_state      text,
    to_state        text NOT NULL,
    note            text,
    public_note     boolean NOT NULL DEFAULT false,
    attachments     jsonb NOT NULL DEFAULT '[]'::jsonb,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_events_case_idx ON case_events (case_id, id);

-- Append-only: events are never changed or removed.
CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only';
END $$;
CREATE TRIGGER case_events_no_change BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_append_only();

CREATE TABLE case_photos (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases (id),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    size_bytes   integer NOT NULL,
    data         bytea NOT NULL,
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_photos_case_idx ON case_photos (case_id);

-- On-site tasks for inspectors: verify a report, check a fix.
CREATE TABLE field_tasks (
    id                 bigserial PRIMARY KEY,
    case_id            bigint NOT NULL REFERENCES cases (id),
    kind               text NOT NULL CHECK (kind IN ('verify', 'check')),
    inspector_user_id  bigint REFERENCES users (id),
    status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    done_at            timestamptz,
    result             text
);
CREATE INDEX field_tasks_open_idx ON field_tasks (status, inspector_user_id);

-- Deliveries to departments' own systems; kept until a 2xx answer.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    department      text NOT NULL REFERENCES departments (code),
    case_id         bigint NOT NULL REFERENCES cases (id),
    event_id        bigint NOT NULL REFERENCES case_events (id),
    idempotency_key text NOT NULL UNIQUE,
    url             text NOT NULL,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE open311_tokens (
    token      text PRIMARY KEY,
    case_id    bigint NOT NULL REFERENCES cases (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------
-- The cases layer follows the cases table in the same transaction. Its change notices
-- are queued in layer_changes (same transaction) and announced in batches by the
-- service (`NOTIFY citygrid_layers, 'cases:<fid>,…'` every ~100 ms): a NOTIFY in every
-- intake transaction serialises commits on PostgreSQL's notification queue lock and
-- costs 6× the intake throughput.
CREATE TABLE layer_changes (
    id    bigserial PRIMARY KEY,
    layer text NOT NULL,
    fid   bigint NOT NULL
);
CREATE FUNCTION cases_to_layer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO layers.cases (fid, geom, case_no, status, category, overdue, grid_code,
                              department, reported_at, due_at)
    VALUES (NEW.id, NEW.geom, NEW.case_no, NEW.status, NEW.category,
            NEW.due_at IS NOT NULL AND NEW.due_at < now()
                AND NEW.status NOT IN ('suspended', 'closed', 'voided'),
            NEW.grid_code, NEW.department, NEW.reported_at, NEW.due_at)
    ON CONFLICT (fid) DO UPDATE SET geom = EXCLUDED.geom, case_no = EXCLUDED.case_no,
        status = EXCLUDED.status, category = EXCLUDED.category, overdue = EXCLUDED.overdue,
        grid_code = EXCLUDED.grid_code, department = EXCLUDED.department,
        reported_at = EXCLUDED.reported_at, due_at = EXCLUDED.due_at;
    INSERT INTO layer_changes (layer, fid) VALUES ('cases', NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER cases_layer AFTER INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_to_layer();

-- Reference data changes tell the service to reload its cached rules.
CREATE FUNCTION mgmt_reference_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('citygrid_mgmt', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER departments_changed AFTER INSERT OR UPDATE OR DELETE ON departments
    FOR EACH STATEMENT EXECUTE FUNCTION mgmt_reference_changed();
CREATE TRIGGER major_classes_changed AFTER INSERT OR UPDATE OR DELETE ON major_classes
    FOR EACH STATEMENT EXECUTE FUNCTION mgmt_reference_changed();
CREATE TRIGGER categories_changed AFTER INSERT OR UPDATE OR DELETE ON categories
    FOR EACH STATEMENT EXECUTE FUNCTION mgmt_reference_changed();
CREATE TRIGGER time_limit_rules_changed AFTER INSERT OR UPDATE OR DELETE ON time_limit_rules
    FOR EACH STATEMENT EXECUTE FUNCTION mgmt_reference_changed();
CREATE TRIGGER routing_rules_changed AFTER INSERT OR UPDATE OR DELETE ON routing_rules
    FOR EACH STATEMENT EXECUTE FUNCTION mgmt_reference_changed();
CREATE TRIGGER calendars_changed AFTER INSERT OR UPDATE OR DELETE ON calendars
    FOR EACH STATEMENT EXECUTE FUNCTION mgmt_reference_changed();
CREATE TRIGGER streets_changed AFTER INSERT OR UPDATE OR DELETE ON layers.streets
    FOR EACH STATEMENT EXECUTE FUNCTION mgmt_reference_changed();

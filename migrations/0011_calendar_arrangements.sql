-- Yearly holiday arrangements (issue 20): the State Council's announced periods off
-- and make-up working days of one year (citygrid_grid_mgmt::holidays::ArrangementSpec
-- as JSON), imported by an administrator (`citygrid calendar import FILE`,
-- PUT /api/admin/calendar/{year}) and kept with its source. A calendar with
-- national_holidays (the default) uses a year's arrangement when there is one, else the
-- statutory days computed for that year. The built-in 2025 and 2026 arrangements are
-- the seed.
CREATE TABLE calendar_arrangements (
    year        integer     PRIMARY KEY CHECK (year BETWEEN 1950 AND 2199),
    spec        jsonb       NOT NULL CHECK ((spec ->> 'year')::integer = year),
    source      text        NOT NULL CHECK (length(source) BETWEEN 1 AND 2000),
    imported_at timestamptz NOT NULL DEFAULT now(),
    imported_by text
);

INSERT INTO calendar_arrangements (year, spec, source, imported_by) VALUES
    (2025, $spec${"year": 2025, "source": "国务院办公厅关于2025年部分节假日安排的通知 (State Council General Office, November 2024)", "periods": [{"name": "元旦", "from": "2025-01-01", "to": "2025-01-01"}, {"name": "春节", "from": "2025-01-28", "to": "2025-02-04"}, {"name": "清明节", "from": "2025-04-04", "to": "2025-04-06"}, {"name": "劳动节", "from": "2025-05-01", "to": "2025-05-05"}, {"name": "端午节", "from": "2025-05-31", "to": "2025-06-02"}, {"name": "国庆节、中秋节", "from": "2025-10-01", "to": "2025-10-08"}], "makeup_workdays": ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"]}$spec$::jsonb, $src$国务院办公厅关于2025年部分节假日安排的通知 (State Council General Office, November 2024)$src$, 'built-in'),
    (2026, $spec${"year": 2026, "source": "国务院办公厅关于2026年部分节假日安排的通知 (State Council General Office, November 2025)", "periods": [{"name": "元旦", "from": "2026-01-01", "to": "2026-01-03"}, {"name": "春节", "from": "2026-02-15", "to": "2026-02-23"}, {"name": "清明节", "from": "2026-04-04", "to": "2026-04-06"}, {"name": "劳动节", "from": "2026-05-01", "to": "2026-05-05"}, {"name": "端午节", "from": "2026-06-19", "to": "2026-06-21"}, {"name": "中秋节", "from": "2026-09-25", "to": "2026-09-27"}, {"name": "国庆节", "from": "2026-10-01", "to": "2026-10-07"}], "makeup_workdays": ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]}$spec$::jsonb, $src$国务院办公厅关于2026年部分节假日安排的通知 (State Council General Office, November 2025)$src$, 'built-in');

-- The cached reference data (with the working calendar) is reloaded on a change.
CREATE TRIGGER calendar_arrangements_changed
    AFTER INSERT OR UPDATE OR DELETE ON calendar_arrangements
    FOR EACH STATEMENT EXECUTE FUNCTION mgmt_reference_changed();

-- pgbench reference for the intake benchmark: the same rows (case, first event; the
-- cases trigger adds the map row and the NOTIFY) as one plain INSERT statement, with
-- everything that intake computes (grid, routing, deadline) given as constants.
\set r1 random(0, 1000000)
\set r2 random(0, 1000000)
WITH nid AS (SELECT nextval('cases_id_seq') AS id),
ins AS (
  INSERT INTO cases (id, case_no, source, description, geom, category, grid_code, community_code,
                     street_code, admin_code, routed_department, status, reported_at,
                     registration_due, due_at)
  SELECT nid.id, '2026-' || lpad(nid.id::text, 6, '0'), 'inspector', 'bench',
         ST_SetSRID(ST_MakePoint(114.3003 + :r1 * 0.0000000194, 30.5903 + :r2 * 0.0000000174), 4326),
         'E0102', '420102009001001', '420102009001', '420102009', '420102', 'sanitation',
         'reported', now(), now() + interval '1 hour', now() + interval '1 hour'
  FROM nid RETURNING id)
INSERT INTO case_events (case_id, at, actor, role, action, to_state)
SELECT id, now(), 'bench', 'inspector', 'report', 'reported' FROM ins;

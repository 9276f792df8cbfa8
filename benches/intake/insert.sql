-- pgbench reference for the intake benchmark: the same rows that `POST /api/cases`
-- writes (the case with its routing explanation, the first event with the detail
-- intake records; the cases trigger adds the map row and queues the change notice)
-- as one plain INSERT statement, with everything that intake computes (grid, routing,
-- deadline, the JSON) given as constants. The values have the sizes of a real
-- intake's rows (routing 219 characters, event detail 336).
\set r1 random(0, 1000000)
\set r2 random(0, 1000000)
WITH nid AS (SELECT nextval('cases_id_seq') AS id),
ins AS (
  INSERT INTO cases (id, case_no, source, reporter_user_id, description, attributes, geom,
                     category, grid_code, community_code, street_code, admin_code,
                     routed_department, routing, status, reported_at, registration_due,
                     due_at, updated_at)
  SELECT nid.id, '2026-' || lpad(nid.id::text, 6, '0'), 'inspector', 1, 'bench', '{}',
         ST_SetSRID(ST_MakePoint(114.3003 + :r1 * 0.0000000194, 30.5903 + :r2 * 0.0000000174), 4326),
         'E0101', '420102009001001', '420102009001', '420102009', '420102', 'planning',
         '{"reason": {"by": "rule", "rule_id": "seed-E0101", "priority": 0, "area_level": 0, "candidates": 1, "category_level": 3}, "department": "planning", "explanation": "routing rule seed-E0101 (most specific of 1 matching)"}',
         'reported', now(), now() + interval '1 hour', now() + interval '1 hour', now()
  FROM nid RETURNING id)
INSERT INTO case_events (case_id, at, actor, actor_user_id, role, action, to_state, note, detail)
SELECT id, now(), 'bench', 1, 'inspector', 'report', 'reported', 'bench',
       '{"source": "inspector", "routing": {"reason": {"by": "rule", "rule_id": "seed-E0101", "priority": 0, "area_level": 0, "candidates": 1, "category_level": 3}, "department": "planning", "explanation": "routing rule seed-E0101 (most specific of 1 matching)"}, "component": null, "duplicates": [], "registration_due": "2026-12-07T01:30:00Z"}'
FROM ins;

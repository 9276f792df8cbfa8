-- pgbench reference for the keyed intake run: the rows of insert.sql plus the
-- Idempotency-Key row that `POST /api/cases` writes with an Idempotency-Key (a key
-- unique per request, the 32-byte request hash, the stored response of a real
-- intake, 1,151 characters), as one plain INSERT statement. For comparison only: the
-- issue's target is measured against insert.sql.
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
  FROM nid RETURNING id, case_no),
k AS (
  INSERT INTO idempotency_keys (principal, key, request_hash, status, case_id, response)
  SELECT 'user:1', 'pgbench-' || ins.id, sha256(ins.case_no::bytea), 201, ins.id,
         '{"id": 34985, "lat": 30.5982544, "lon": 114.3071867, "place": {"grid": {"code": "420102009003008", "area_m2": 9999.999984594406, "valid_to": null, "admin_code": "420102", "valid_from": "2026-12-06", "street_code": "420102009", "community_code": "420102009003"}, "street": {"code": "420102009", "name": "Street 009", "admin_code": "420102", "default_department": "city_appearance"}, "community": {"code": "420102009003", "name": "Community 003", "admin_code": "420102", "street_code": "420102009"}, "admin_division": {"code": "420102", "name": "420102"}}, "token": null, "status": "reported", "case_no": "2026-034985", "routing": {"reason": {"by": "rule", "rule_id": "seed-E0101", "priority": 0, "area_level": 0, "candidates": 1, "category_level": 3}, "department": "planning", "explanation": "routing rule seed-E0101 (most specific of 1 matching)"}, "category": "E0101", "component": null, "grid_code": "420102009003008", "admin_code": "420102", "duplicates": [], "reported_at": "2026-12-06T07:22:49.510074592Z", "street_code": "420102009", "community_code": "420102009003", "registration_due": "2026-12-07T01:30:00Z", "routed_department": "planning"}'::jsonb || jsonb_build_object('id', ins.id, 'case_no', ins.case_no)
  FROM ins ON CONFLICT (principal, key) DO NOTHING)
INSERT INTO case_events (case_id, at, actor, actor_user_id, role, action, to_state, note, detail)
SELECT id, now(), 'bench', 1, 'inspector', 'report', 'reported', 'bench',
       '{"source": "inspector", "routing": {"reason": {"by": "rule", "rule_id": "seed-E0101", "priority": 0, "area_level": 0, "candidates": 1, "category_level": 3}, "department": "planning", "explanation": "routing rule seed-E0101 (most specific of 1 matching)"}, "component": null, "duplicates": [], "registration_due": "2026-12-07T01:30:00Z"}'
FROM ins;

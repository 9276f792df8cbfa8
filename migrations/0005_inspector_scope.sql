-- What an inspector may see (spatial-api mgmt::cases::push_visibility): his own
-- reports, the field tasks he finished, and the open field tasks of the unit grids he
-- is responsible for (layers.unit_grids.responsible = users.username; an admin sets it
-- with PATCH /api/grids/{code}). These indexes keep that check cheap per case.
CREATE INDEX IF NOT EXISTS field_tasks_case_idx ON field_tasks (case_id, status);
CREATE INDEX IF NOT EXISTS unit_grids_responsible_idx ON layers.unit_grids (responsible);

-- Exactly-once intake (issue 18).
--
-- idempotency_keys: one row per (principal, Idempotency-Key) of a request that
-- succeeded: POST /api/cases, POST /api/cases/{id}/photos, Open311 POST requests. The
-- row is inserted in the same statement (and transaction) as the case or the photo, so
-- two requests with one key at the same moment create one case: the second waits on
-- the unique index and then finds the key taken. The stored response is what a replay
-- gets back. Rows are pruned by the service after 7 days (see SECURITY.md).
--
-- principal: 'user:<users.id>' or 'key:<api_keys.id>'; request_hash: SHA-256 of the
-- canonical request (what it is, the target, the canonical body or the photo's bytes
-- and stage).
CREATE TABLE idempotency_keys (
    principal     text        NOT NULL,
    key           text        NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash  bytea       NOT NULL,
    status        smallint    NOT NULL,
    case_id       bigint,
    photo_id      bigint,
    response      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Photos attach to a workflow stage (report, feedback, check) and record who uploaded
-- them. Photos stored before this migration: a department operator's are feedback
-- photos, everybody else's report photos.
ALTER TABLE case_photos
    ADD COLUMN stage text NOT NULL DEFAULT 'report' CHECK (stage IN ('report', 'feedback', 'check')),
    ADD COLUMN uploader_user_id bigint REFERENCES users (id);
UPDATE case_photos p
   SET stage = 'feedback'
  FROM users u
 WHERE p.uploaded_by = 'user:' || u.username AND u.role = 'department';
UPDATE case_photos p
   SET uploader_user_id = u.id
  FROM users u
 WHERE p.uploaded_by = 'user:' || u.username;

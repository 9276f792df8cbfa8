-- What an API key may do (issue 26): `maps` (read map layers, the only thing keys
-- could do before) and `open311:write` (file Open311 requests). Existing keys keep
-- reading maps and lose the Open311 writes they were never meant to have.
ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{maps}';
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known
    CHECK (scopes <@ ARRAY['maps', 'open311:write']::text[]);

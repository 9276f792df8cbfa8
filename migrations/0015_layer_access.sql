-- Layer ownership and access (issue 22): every layer has an owning department (NULL:
-- the platform's, administered by admins) and a policy of who may read and who may
-- edit it, checked by `citygrid_grid_mgmt::layer_access` on every path that reveals
-- layer data. Set by an admin (`citygrid layer set-access`,
-- PUT /api/admin/layers/{layer}/access).
--   read_access: the read policy's canonical text (`public`, `users`, `admins`,
--     `departments:a,b;roles:r,s`); NULL: the server's default, which keeps the
--     behaviour from before — `public` when `public_layers` is on, else `users`.
--   edit_departments: the departments whose operators may edit (beside the owner's).
ALTER TABLE layer_catalog
    ADD COLUMN owner_department text REFERENCES departments (code)
        ON UPDATE CASCADE ON DELETE SET NULL,
    ADD COLUMN read_access text CHECK (read_access IS NULL OR length(read_access) BETWEEN 1 AND 2000),
    ADD COLUMN edit_departments text[] NOT NULL DEFAULT '{}';

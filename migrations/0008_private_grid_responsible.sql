-- The inspector responsible for a unit grid is an account name (issue 26): it stays in
-- layers.unit_grids for the case routes and for GET /api/grids (signed-in users), but
-- is no longer one of the layer's published fields (tiles, TileJSON, OGC API items and
-- queryables, CQL2 filters, /api/locate). The version changes, so cached tiles do too.
UPDATE layer_catalog
   SET fields = (SELECT coalesce(jsonb_agg(f ORDER BY i), '[]'::jsonb)
                   FROM jsonb_array_elements(fields) WITH ORDINALITY AS e(f, i)
                  WHERE f->>'name' <> 'responsible'),
       version = version + 1
 WHERE id = 'unit_grids';

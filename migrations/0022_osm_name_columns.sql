-- `citygrid import osm` now writes `name_zh` (name:zh-Hans, else name:zh) and
-- `name_en` (name:en) as columns of its layers, so Chinese and English names reach the
-- vector tiles while the `tags` bag stays out of them (issue 19). Their field titles
-- for the layers citygrid names itself; an admin's own titles are kept.
UPDATE layer_title_defaults
   SET field_titles = '{"name_zh": {"zh": "中文名称", "en": "Chinese name"}, "name_en": {"zh": "英文名称", "en": "English name"}}'::jsonb
                      || field_titles
 WHERE id IN ('osm_buildings', 'osm_roads', 'osm_water', 'osm_landuse', 'osm_pois');

UPDATE layer_catalog c
   SET field_titles = '{"name_zh": {"zh": "中文名称", "en": "Chinese name"}, "name_en": {"zh": "英文名称", "en": "English name"}}'::jsonb
                      || c.field_titles
 WHERE c.id IN ('osm_buildings', 'osm_roads', 'osm_water', 'osm_landuse', 'osm_pois');

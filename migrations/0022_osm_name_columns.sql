-- `citygrid import osm` now writes `name_zh` (name:zh-Hans, else name:zh) and
-- `name_en` (name:en) as columns of its layers, so Chinese and English names reach the
-- vector tiles while the `tags` bag stays out of them (issue 19). Their field titles
-- and those of the OSM bookkeeping fields for the layers citygrid names itself, and the
-- titles of the OSM components layer (so that the viewer's layer list and popups read
-- in both languages, issue 20); an admin's own titles are kept.
INSERT INTO layer_title_defaults (id, title_zh, title_en, field_titles) VALUES
 ('osm_components', '部件（OSM）', 'City components (OSM)',
  '{"component_id": {"zh": "部件编码", "en": "Component id"}, "class_code": {"zh": "部件小类代码", "en": "Class code"}, "class_name_zh": {"zh": "部件小类", "en": "Class (Chinese)"}, "class_name_en": {"zh": "部件小类（英文）", "en": "Class"}, "name": {"zh": "名称", "en": "Name"}, "ref": {"zh": "编号", "en": "Reference"}, "operator": {"zh": "运营单位", "en": "Operator"}}')
ON CONFLICT (id) DO NOTHING;

UPDATE layer_title_defaults
   SET field_titles = '{"name_zh": {"zh": "中文名称", "en": "Chinese name"}, "name_en": {"zh": "英文名称", "en": "English name"}, "osm_id": {"zh": "OSM 编号", "en": "OSM id"}, "osm_type": {"zh": "OSM 类型", "en": "OSM type"}, "tags": {"zh": "OSM 标签", "en": "OSM tags"}}'::jsonb
                      || field_titles
 WHERE id IN ('osm_buildings', 'osm_roads', 'osm_water', 'osm_landuse', 'osm_pois', 'osm_components');

UPDATE layer_catalog c
   SET title_zh = coalesce(c.title_zh, d.title_zh),
       title_en = coalesce(c.title_en, d.title_en),
       field_titles = d.field_titles || c.field_titles
  FROM layer_title_defaults d
 WHERE d.id = c.id
   AND d.id IN ('osm_buildings', 'osm_roads', 'osm_water', 'osm_landuse', 'osm_pois', 'osm_components');

-- Layer titles and field names in Chinese and English (issue 19): shown by the layer
-- list, popups and the embed page in the reader's language. Set by an admin
-- (`citygrid layer set-title`, PUT /api/admin/layers/{layer}/titles); a layer without
-- them shows its `title` and raw field names.
--   field_titles: {"<field>": {"zh": "名称", "en": "Name"}, ...}
ALTER TABLE layer_catalog
    ADD COLUMN title_zh text CHECK (title_zh IS NULL OR length(title_zh) BETWEEN 1 AND 200),
    ADD COLUMN title_en text CHECK (title_en IS NULL OR length(title_en) BETWEEN 1 AND 200),
    ADD COLUMN field_titles jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(field_titles) = 'object');

-- The titles of the layers citygrid itself makes (grid management, `import osm` with
-- the default prefix), given to such a layer when its catalogue row is created and to
-- the rows already there.
CREATE TABLE layer_title_defaults (
    id           text PRIMARY KEY,
    title_zh     text NOT NULL,
    title_en     text NOT NULL,
    field_titles jsonb NOT NULL DEFAULT '{}'::jsonb
);

INSERT INTO layer_title_defaults (id, title_zh, title_en, field_titles) VALUES
 ('admin_divisions', '行政区划', 'Administrative divisions',
  '{"code": {"zh": "区划代码", "en": "Code"}, "name": {"zh": "名称", "en": "Name"}}'),
 ('streets', '街道', 'Streets (sub-districts)',
  '{"code": {"zh": "街道编码", "en": "Code"}, "admin_code": {"zh": "区划代码", "en": "Division code"}, "name": {"zh": "名称", "en": "Name"}, "default_department": {"zh": "默认部门", "en": "Default department"}}'),
 ('communities', '社区', 'Communities',
  '{"code": {"zh": "社区编码", "en": "Code"}, "street_code": {"zh": "街道编码", "en": "Street code"}, "admin_code": {"zh": "区划代码", "en": "Division code"}, "name": {"zh": "名称", "en": "Name"}}'),
 ('unit_grids', '单元网格', 'Unit grids',
  '{"code": {"zh": "网格编码", "en": "Grid code"}, "community_code": {"zh": "社区编码", "en": "Community code"}, "street_code": {"zh": "街道编码", "en": "Street code"}, "admin_code": {"zh": "区划代码", "en": "Division code"}, "area_m2": {"zh": "面积 (m²)", "en": "Area (m²)"}, "valid_from": {"zh": "生效日期", "en": "Valid from"}, "valid_to": {"zh": "失效日期", "en": "Valid to"}}'),
 ('components', '部件', 'City components',
  '{"component_id": {"zh": "部件编码", "en": "Component id"}, "category_code": {"zh": "部件类别", "en": "Category"}, "name": {"zh": "名称", "en": "Name"}, "state": {"zh": "状态", "en": "State"}, "supervising_department": {"zh": "主管部门", "en": "Supervising department"}, "owning_department": {"zh": "权属部门", "en": "Owning department"}, "maintaining_department": {"zh": "养护部门", "en": "Maintaining department"}, "grid_code": {"zh": "网格编码", "en": "Grid code"}, "survey_date": {"zh": "普查日期", "en": "Survey date"}, "change_date": {"zh": "变更日期", "en": "Change date"}, "source": {"zh": "来源", "en": "Source"}, "note": {"zh": "备注", "en": "Note"}}'),
 ('cases', '案卷', 'Cases',
  '{"case_no": {"zh": "案卷号", "en": "Case number"}, "status": {"zh": "状态", "en": "Status"}, "category": {"zh": "类别", "en": "Category"}, "overdue": {"zh": "超期", "en": "Overdue"}, "grid_code": {"zh": "网格编码", "en": "Grid code"}, "department": {"zh": "处置部门", "en": "Department"}, "reported_at": {"zh": "上报时间", "en": "Reported at"}, "due_at": {"zh": "办结时限", "en": "Due at"}}'),
 ('osm_buildings', '建筑', 'Buildings',
  '{"name": {"zh": "名称", "en": "Name"}, "building": {"zh": "建筑类型", "en": "Building type"}, "building_levels": {"zh": "层数", "en": "Levels"}, "height": {"zh": "高度", "en": "Height"}, "addr_street": {"zh": "街道地址", "en": "Street"}, "addr_housenumber": {"zh": "门牌号", "en": "House number"}}'),
 ('osm_roads', '道路', 'Roads',
  '{"name": {"zh": "名称", "en": "Name"}, "highway": {"zh": "道路等级", "en": "Road class"}, "ref": {"zh": "编号", "en": "Reference"}, "oneway": {"zh": "单行", "en": "One way"}, "maxspeed": {"zh": "限速", "en": "Speed limit"}, "lanes": {"zh": "车道数", "en": "Lanes"}, "surface": {"zh": "路面", "en": "Surface"}}'),
 ('osm_water', '水系', 'Water',
  '{"name": {"zh": "名称", "en": "Name"}, "class": {"zh": "类别", "en": "Class"}}'),
 ('osm_landuse', '土地利用', 'Land use',
  '{"name": {"zh": "名称", "en": "Name"}, "class": {"zh": "类别", "en": "Class"}}'),
 ('osm_pois', '兴趣点', 'Points of interest',
  '{"name": {"zh": "名称", "en": "Name"}, "class": {"zh": "类别", "en": "Class"}, "subclass": {"zh": "子类", "en": "Subclass"}}');

CREATE FUNCTION layer_title_default() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d layer_title_defaults%ROWTYPE;
BEGIN
    SELECT * INTO d FROM layer_title_defaults WHERE id = NEW.id;
    IF FOUND THEN
        NEW.title_zh := coalesce(NEW.title_zh, d.title_zh);
        NEW.title_en := coalesce(NEW.title_en, d.title_en);
        NEW.field_titles := d.field_titles || coalesce(NEW.field_titles, '{}'::jsonb);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER layer_catalog_title_default BEFORE INSERT ON layer_catalog
    FOR EACH ROW EXECUTE FUNCTION layer_title_default();

UPDATE layer_catalog c
   SET title_zh = coalesce(c.title_zh, d.title_zh),
       title_en = coalesce(c.title_en, d.title_en),
       field_titles = d.field_titles || c.field_titles
  FROM layer_title_defaults d WHERE d.id = c.id;

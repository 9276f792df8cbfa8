//! Places: the unit grids, communities, streets and admin divisions of the city and
//! its components (tables of the `layers` schema). Point-in-place lookups, the lists
//! and single rows of grids and components (as JSON), their edits, and the writes of
//! generated or imported grids.
//!
//! Every write announces the features it changed (`NOTIFY citygrid_layers` with
//! `layer:fid,fid,…`) in the caller's transaction, so a running service reloads them
//! after the commit; [`refresh_catalog`] fixes a layer's catalogue entry.

use chrono::NaiveDate;
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

use crate::Result;

/// Whether `s` may be quoted into SQL as a table or column name (`[a-z0-9_]+`, at
/// most 48 bytes).
pub fn is_ident(s: &str) -> bool {
    citygrid_db::is_identifier(s, 48)
}

/// A name that is not an identifier, refused before any SQL is built.
fn not_ident(s: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("{s:?} is not an identifier ([a-z0-9_]+)"))
}

// ----------------------------------------------------------------------------- locate

/// The attributes (without `geom`, `fid` and `responsible`) of the first feature, by
/// fid, of place layer `layer` that holds the point (boundary included).
/// `layer` is a table of the `layers` schema (one of the place layers).
pub async fn feature_at(
    db: impl PgExecutor<'_>,
    layer: &str,
    lon: f64,
    lat: f64,
) -> Result<Option<Map<String, Value>>> {
    if !is_ident(layer) {
        return Err(not_ident(layer));
    }
    // Only the layer's published fields, as from memory: never `responsible` (an
    // account name).
    let sql = format!(
        "SELECT to_jsonb(t) - 'geom' - 'fid' - 'responsible' FROM layers.\"{layer}\" t \
         WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1"
    );
    let row: Option<(Value,)> = sqlx::query_as(&sql)
        .bind(lon)
        .bind(lat)
        .fetch_optional(db)
        .await?;
    Ok(row.and_then(|(v,)| match v {
        Value::Object(m) => Some(m),
        _ => None,
    }))
}

// ----------------------------------------------------------------------------- reading

/// A row of `layers.<table> t` as JSON, without `geom` and `fid`; with `geometry`, the
/// GeoJSON geometry too.
fn row_json(geometry: bool) -> &'static str {
    if geometry {
        "(to_jsonb(t) - 'geom' - 'fid') || jsonb_build_object('geometry', ST_AsGeoJSON(t.geom, 7)::jsonb)"
    } else {
        "(to_jsonb(t) - 'geom' - 'fid')"
    }
}

/// The JSON of a component row: its attributes and `lon`, `lat`.
fn component_row_json() -> String {
    format!(
        "{} || jsonb_build_object('lon', ST_X(t.geom), 'lat', ST_Y(t.geom))",
        row_json(false)
    )
}

/// `AND <column> = <value>` when `value` is given.
fn push_eq(qb: &mut QueryBuilder<'_, Postgres>, column: &str, value: Option<&str>) {
    if let Some(v) = value {
        qb.push(format!(" AND {column} = "))
            .push_bind(v.to_string());
    }
}

/// `AND (<column> && <box> OR …)` for the envelopes (`[w, s, e, n]` in degrees) of a
/// `bbox` (one, or two for a box across the antimeridian: `citygrid_geo::bbox::
/// lonlat_envelopes`); nothing when there are none. Values are bound.
pub(crate) fn push_bbox(qb: &mut QueryBuilder<'_, Postgres>, column: &str, envelopes: &[[f64; 4]]) {
    for (i, v) in envelopes.iter().enumerate() {
        qb.push(if i == 0 { " AND (" } else { " OR " });
        qb.push(format!("{column} && ST_MakeEnvelope("))
            .push_bind(v[0])
            .push(", ")
            .push_bind(v[1])
            .push(", ")
            .push_bind(v[2])
            .push(", ")
            .push_bind(v[3])
            .push(", 4326)");
    }
    if !envelopes.is_empty() {
        qb.push(")");
    }
}

/// Finishes a list query of one `jsonb` column with `ORDER BY order_by LIMIT OFFSET`
/// and returns the rows' values.
async fn fetch_page(
    db: impl PgExecutor<'_>,
    mut qb: QueryBuilder<'_, Postgres>,
    order_by: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<Value>> {
    qb.push(format!(" ORDER BY {order_by} LIMIT "))
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<(Value,)> = qb.build_query_as().fetch_all(db).await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

/// Runs `sql` (one `jsonb` column, `$1` bound to `key`) and returns its one row.
async fn fetch_json(db: impl PgExecutor<'_>, sql: &str, key: &str) -> Result<Option<Value>> {
    let row: Option<(Value,)> = sqlx::query_as(sql).bind(key).fetch_optional(db).await?;
    Ok(row.map(|(v,)| v))
}

/// Which unit grids to list (codes already checked).
#[derive(Debug, Clone, Default)]
pub struct GridFilter {
    /// 12-digit community code.
    pub community: Option<String>,
    /// 9-digit street code.
    pub street: Option<String>,
    /// 6-digit admin division code.
    pub admin: Option<String>,
    /// `[w, s, e, n]` in degrees.
    pub bbox: Vec<[f64; 4]>,
    /// Only the grids this account is responsible for.
    pub responsible: Option<String>,
    /// Whether to include the geometries (GeoJSON).
    pub geometry: bool,
}

/// A page of unit grids (JSON objects) by code.
pub async fn list_grids(
    db: impl PgExecutor<'_>,
    filter: &GridFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Value>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {} FROM layers.unit_grids t WHERE true",
        row_json(filter.geometry)
    ));
    push_eq(&mut qb, "t.community_code", filter.community.as_deref());
    push_eq(&mut qb, "t.street_code", filter.street.as_deref());
    push_eq(&mut qb, "t.admin_code", filter.admin.as_deref());
    push_eq(&mut qb, "t.responsible", filter.responsible.as_deref());
    push_bbox(&mut qb, "t.geom", &filter.bbox);
    fetch_page(db, qb, "t.code", limit, offset).await
}

/// Unit grid `code` (JSON with its geometry and how many components it holds).
pub async fn grid(db: impl PgExecutor<'_>, code: &str) -> Result<Option<Value>> {
    let sql = format!(
        "SELECT {} || jsonb_build_object('components', (SELECT count(*) FROM layers.components c WHERE c.grid_code = t.code)) \
         FROM layers.unit_grids t WHERE code = $1",
        row_json(true)
    );
    fetch_json(db, &sql, code).await
}

/// Which components to list (codes already checked).
#[derive(Debug, Clone, Default)]
pub struct ComponentFilter {
    /// Category code.
    pub category: Option<String>,
    /// Unit grid code.
    pub grid: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Maintaining department.
    pub department: Option<String>,
    /// `[w, s, e, n]` in degrees.
    pub bbox: Vec<[f64; 4]>,
}

/// A page of components (JSON objects with `lon`, `lat`) by component id.
pub async fn list_components(
    db: impl PgExecutor<'_>,
    filter: &ComponentFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Value>> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {} FROM layers.components t WHERE true",
        component_row_json()
    ));
    push_eq(&mut qb, "t.category_code", filter.category.as_deref());
    push_eq(&mut qb, "t.grid_code", filter.grid.as_deref());
    push_eq(&mut qb, "t.state", filter.state.as_deref());
    push_eq(
        &mut qb,
        "t.maintaining_department",
        filter.department.as_deref(),
    );
    push_bbox(&mut qb, "t.geom", &filter.bbox);
    fetch_page(db, qb, "t.component_id", limit, offset).await
}

/// Component `id` (JSON with `lon`, `lat`).
pub async fn component(db: impl PgExecutor<'_>, id: &str) -> Result<Option<Value>> {
    let sql = format!(
        "SELECT {} FROM layers.components t WHERE component_id = $1",
        component_row_json()
    );
    fetch_json(db, &sql, id).await
}

// ----------------------------------------------------------------------------- announcing

/// Announces changed features of `layer` (`NOTIFY citygrid_layers`, 500 fids a message).
pub async fn notify_features(conn: &mut PgConnection, layer: &str, fids: &[i64]) -> Result<()> {
    for chunk in fids.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(format!("{layer}:{}", ids.join(",")))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Announces that the whole of `layer` changed (`NOTIFY citygrid_layers`).
pub async fn notify_layer(db: impl PgExecutor<'_>, layer: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
        .bind(layer)
        .execute(db)
        .await?;
    Ok(())
}

/// Re-assigns the grid of the components whose grid changed (all, or those within
/// `grid`'s area) and announces them; returns how many moved.
pub async fn assign_components(conn: &mut PgConnection, grid: Option<&str>) -> Result<usize> {
    let fids: Vec<(i64,)> = sqlx::query_as(
        "WITH target AS ( \
           SELECT c.fid, (SELECT g.code FROM layers.unit_grids g \
                          WHERE ST_Intersects(g.geom, c.geom) ORDER BY g.fid LIMIT 1) AS code \
           FROM layers.components c \
           WHERE $1::text IS NULL OR c.grid_code = $1 \
              OR ST_Intersects(c.geom, (SELECT geom FROM layers.unit_grids WHERE code = $1))) \
         UPDATE layers.components c SET grid_code = target.code FROM target \
         WHERE c.fid = target.fid AND c.grid_code IS DISTINCT FROM target.code RETURNING c.fid",
    )
    .bind(grid)
    .fetch_all(&mut *conn)
    .await?;
    let fids: Vec<i64> = fids.into_iter().map(|(f,)| f).collect();
    notify_features(conn, "components", &fids).await?;
    Ok(fids.len())
}

/// Refreshes the catalogue entry (count, bounds, version) of a layer after a change;
/// with `bump`, a new version, announced. A `layer` that is not an identifier is
/// left alone.
pub async fn refresh_catalog(conn: &mut PgConnection, layer: &str, bump: bool) -> Result<()> {
    if !is_ident(layer) {
        return Ok(());
    }
    sqlx::query(&format!(
        "UPDATE layer_catalog SET feature_count = s.n, \
            bounds = CASE WHEN s.e IS NULL THEN NULL ELSE ARRAY[ST_XMin(s.e), ST_YMin(s.e), ST_XMax(s.e), ST_YMax(s.e)] END, \
            version = version + CASE WHEN $2 THEN 1 ELSE 0 END, updated_at = now() \
         FROM (SELECT count(*) AS n, ST_Extent(geom)::geometry AS e FROM layers.\"{layer}\") s WHERE id = $1"
    ))
    .bind(layer)
    .bind(bump)
    .execute(&mut *conn)
    .await?;
    if bump {
        notify_layer(&mut *conn, layer).await?;
    }
    Ok(())
}

// ----------------------------------------------------------------------------- editing grids

/// A unit grid to create.
#[derive(Debug, Clone)]
pub struct NewGrid<'a> {
    /// Its code.
    pub code: &'a str,
    /// GeoJSON polygon or multipolygon, lon/lat.
    pub geojson: &'a str,
    /// 12-digit community key.
    pub community_key: &'a str,
    /// 9-digit street key.
    pub street_key: &'a str,
    /// 6-digit admin division code.
    pub admin: &'a str,
    /// The responsible account.
    pub responsible: Option<&'a str>,
}

/// Inserts a unit grid (the geometry made valid and multi) and returns its fid;
/// `RowNotFound` when the geometry is empty.
pub async fn insert_grid(db: impl PgExecutor<'_>, g: &NewGrid<'_>) -> Result<i64> {
    let (fid,): (i64,) = sqlx::query_as(
        "WITH g AS (SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON($2), 4326)), 3)) AS geom) \
         INSERT INTO layers.unit_grids (fid, geom, code, community_code, street_code, admin_code, area_m2, responsible) \
         SELECT coalesce((SELECT max(fid) FROM layers.unit_grids), 0) + 1, g.geom, $1, $3, $4, $5, \
                ST_Area(g.geom::geography), $6 FROM g WHERE NOT ST_IsEmpty(g.geom) RETURNING fid",
    )
    .bind(g.code)
    .bind(g.geojson)
    .bind(g.community_key)
    .bind(g.street_key)
    .bind(g.admin)
    .bind(g.responsible)
    .fetch_one(db)
    .await?;
    Ok(fid)
}

/// Locks unit grid `code` for an update and returns its fid.
pub async fn lock_grid(db: impl PgExecutor<'_>, code: &str) -> Result<Option<i64>> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT fid FROM layers.unit_grids WHERE code = $1 FOR UPDATE")
            .bind(code)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(f,)| f))
}

/// Sets the responsible account of grid `fid`.
pub async fn set_grid_responsible(
    db: impl PgExecutor<'_>,
    fid: i64,
    responsible: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE layers.unit_grids SET responsible = $2 WHERE fid = $1")
        .bind(fid)
        .bind(responsible)
        .execute(db)
        .await?;
    Ok(())
}

/// Sets the last valid day of grid `fid`.
pub async fn set_grid_valid_to(
    db: impl PgExecutor<'_>,
    fid: i64,
    valid_to: Option<NaiveDate>,
) -> Result<()> {
    sqlx::query("UPDATE layers.unit_grids SET valid_to = $2 WHERE fid = $1")
        .bind(fid)
        .bind(valid_to)
        .execute(db)
        .await?;
    Ok(())
}

/// Copies grid `fid`'s current outline into the history (valid until today).
pub async fn archive_grid(db: impl PgExecutor<'_>, fid: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO unit_grid_history (code, community_code, geom, area_m2, valid_from, valid_to, responsible) \
         SELECT code, community_code, geom, area_m2, valid_from, current_date, responsible FROM layers.unit_grids WHERE fid = $1",
    )
    .bind(fid)
    .execute(db)
    .await?;
    Ok(())
}

/// Gives grid `fid` a new outline (GeoJSON, made valid and multi), valid from today.
pub async fn set_grid_geometry(db: impl PgExecutor<'_>, fid: i64, geojson: &str) -> Result<()> {
    sqlx::query(
        "UPDATE layers.unit_grids SET geom = g.geom, area_m2 = ST_Area(g.geom::geography), valid_from = current_date \
         FROM (SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON($2), 4326)), 3)) AS geom) g \
         WHERE fid = $1",
    )
    .bind(fid)
    .bind(geojson)
    .execute(db)
    .await?;
    Ok(())
}

// ----------------------------------------------------------------------------- editing components

/// The text columns of a component that may be changed.
pub const COMPONENT_TEXT_COLUMNS: [&str; 7] = [
    "name",
    "state",
    "supervising_department",
    "owning_department",
    "maintaining_department",
    "source",
    "note",
];

/// The admin division code of a grid holding the point, if any.
pub async fn admin_code_at(db: impl PgExecutor<'_>, lon: f64, lat: f64) -> Result<Option<String>> {
    let admin: Option<(String,)> = sqlx::query_as(
        "SELECT admin_code FROM layers.unit_grids WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) LIMIT 1",
    )
    .bind(lon)
    .bind(lat)
    .fetch_optional(db)
    .await?;
    Ok(admin.map(|(a,)| a))
}

/// The next serial of the component ids starting with `prefix` (10 characters).
pub async fn next_component_serial(db: impl PgExecutor<'_>, prefix: &str) -> Result<i64> {
    let (serial,): (i64,) = sqlx::query_as(
        "SELECT coalesce(max(right(component_id, 6)::bigint), 0) + 1 FROM layers.components WHERE left(component_id, 10) = $1",
    )
    .bind(prefix)
    .fetch_one(db)
    .await?;
    Ok(serial)
}

/// A component to create (values already checked).
#[derive(Debug, Clone)]
pub struct NewComponent {
    /// Longitude (WGS84).
    pub lon: f64,
    /// Latitude (WGS84).
    pub lat: f64,
    /// 16-digit component id.
    pub component_id: String,
    /// Category code.
    pub category_code: String,
    /// Name.
    pub name: Option<String>,
    /// State.
    pub state: String,
    /// Supervising department.
    pub supervising_department: Option<String>,
    /// Owning department.
    pub owning_department: Option<String>,
    /// Maintaining department.
    pub maintaining_department: Option<String>,
    /// Survey date (default: today).
    pub survey_date: Option<NaiveDate>,
    /// Source.
    pub source: String,
    /// Note.
    pub note: Option<String>,
}

/// Inserts a component (its grid from the point) and returns its fid.
pub async fn insert_component(db: impl PgExecutor<'_>, c: &NewComponent) -> Result<i64> {
    let (fid,): (i64,) = sqlx::query_as(
        "INSERT INTO layers.components (geom, component_id, category_code, name, state, supervising_department, \
             owning_department, maintaining_department, grid_code, survey_date, change_date, source, note) \
         VALUES (ST_SetSRID(ST_MakePoint($1, $2), 4326), $3, $4, $5, $6, $7, $8, $9, \
             (SELECT code FROM layers.unit_grids WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY fid LIMIT 1), \
             coalesce($10, current_date), current_date, $11, $12) RETURNING fid",
    )
    .bind(c.lon)
    .bind(c.lat)
    .bind(&c.component_id)
    .bind(&c.category_code)
    .bind(&c.name)
    .bind(&c.state)
    .bind(&c.supervising_department)
    .bind(&c.owning_department)
    .bind(&c.maintaining_department)
    .bind(c.survey_date)
    .bind(&c.source)
    .bind(&c.note)
    .fetch_one(db)
    .await?;
    Ok(fid)
}

/// Changes component `id`: the text columns in `texts` (each one of
/// [`COMPONENT_TEXT_COLUMNS`]), the point when `point` is given (lon, lat), and the
/// change date. Returns its fid, `None` when there is no such component.
pub async fn update_component(
    db: impl PgExecutor<'_>,
    id: &str,
    texts: &[(String, Option<String>)],
    point: Option<(f64, f64)>,
) -> Result<Option<i64>> {
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new("UPDATE layers.components SET change_date = current_date");
    for (k, s) in texts {
        if !COMPONENT_TEXT_COLUMNS.contains(&k.as_str()) {
            return Err(sqlx::Error::ColumnNotFound(k.clone()));
        }
        qb.push(format!(", {k} = ")).push_bind(s.clone());
    }
    if let Some((lon, lat)) = point {
        qb.push(", geom = ST_SetSRID(ST_MakePoint(")
            .push_bind(lon)
            .push(", ")
            .push_bind(lat)
            .push("), 4326)");
    }
    qb.push(" WHERE component_id = ")
        .push_bind(id.to_string())
        .push(" RETURNING fid");
    let row: Option<(i64,)> = qb.build_query_as().fetch_optional(db).await?;
    Ok(row.map(|(f,)| f))
}

/// Sets component `fid`'s grid from its point.
pub async fn regrid_component(db: impl PgExecutor<'_>, fid: i64) -> Result<()> {
    sqlx::query(
        "UPDATE layers.components c SET grid_code = (SELECT g.code FROM layers.unit_grids g \
           WHERE ST_Intersects(g.geom, c.geom) ORDER BY g.fid LIMIT 1) WHERE fid = $1",
    )
    .bind(fid)
    .execute(db)
    .await?;
    Ok(())
}

// ----------------------------------------------------------------------------- writing grids

/// Whether `id` is a vector layer of the catalogue.
pub async fn is_vector_layer(db: impl PgExecutor<'_>, id: &str) -> Result<bool> {
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT id FROM layer_catalog WHERE id = $1 AND kind = 'vector'")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(exists.is_some())
}

/// The union of the polygons of layer `layer` (where `field` equals `value` as text,
/// when a filter is given), as WKB; `None` when nothing matches. `layer` and `field`
/// must be identifiers.
pub async fn layer_union_wkb(
    db: impl PgExecutor<'_>,
    layer: &str,
    filter: Option<(&str, &str)>,
) -> Result<Option<Vec<u8>>> {
    if !is_ident(layer) {
        return Err(not_ident(layer));
    }
    let (where_sql, value) = match filter {
        Some((k, v)) if is_ident(k) => (format!("WHERE \"{k}\"::text = $1"), Some(v)),
        Some((k, _)) => return Err(not_ident(k)),
        None => (String::new(), None),
    };
    let sql = format!(
        "SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(ST_MakeValid(geom))), 3))) \
         FROM layers.\"{layer}\" {where_sql}"
    );
    let mut q = sqlx::query_as::<_, (Option<Vec<u8>>,)>(&sql);
    if let Some(v) = value {
        q = q.bind(v);
    }
    let (wkb,) = q.fetch_one(db).await?;
    Ok(wkb)
}

/// The code (field `code_field` as text) and WKB geometry of every feature of layer
/// `layer`, by fid. Both must be identifiers.
pub async fn layer_codes(
    db: impl PgExecutor<'_>,
    layer: &str,
    code_field: &str,
) -> Result<Vec<(Option<String>, Vec<u8>)>> {
    for name in [layer, code_field] {
        if !is_ident(name) {
            return Err(not_ident(name));
        }
    }
    sqlx::query_as(&format!(
        "SELECT \"{code_field}\"::text, ST_AsBinary(geom) FROM layers.\"{layer}\" ORDER BY fid"
    ))
    .fetch_all(db)
    .await
}

/// How many unit grids street `street_key` (9 digits) has.
pub async fn count_street_grids(db: impl PgExecutor<'_>, street_key: &str) -> Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM layers.unit_grids WHERE street_code = $1")
            .bind(street_key)
            .fetch_one(db)
            .await?;
    Ok(n)
}

/// How many of `codes` are unit grids already.
pub async fn count_grids_with_codes(db: impl PgExecutor<'_>, codes: &[String]) -> Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM layers.unit_grids WHERE code = ANY($1)")
            .bind(codes)
            .fetch_one(db)
            .await?;
    Ok(n)
}

/// The smallest and largest area (m²) of the unit grids `codes`.
pub async fn grid_area_range(
    db: impl PgExecutor<'_>,
    codes: &[String],
) -> Result<(Option<f64>, Option<f64>)> {
    sqlx::query_as("SELECT min(area_m2), max(area_m2) FROM layers.unit_grids WHERE code = ANY($1)")
        .bind(codes)
        .fetch_one(db)
        .await
}

/// Which unit grids [`retire_grids`] moves to the history.
#[derive(Debug, Clone, Copy)]
pub enum Retire<'a> {
    /// Those of a street (9-digit key).
    Street(&'a str),
    /// The one with this code.
    Code(&'a str),
}

/// Moves unit grids to the history (valid until today) and deletes them; returns how
/// many.
pub async fn retire_grids(conn: &mut PgConnection, which: Retire<'_>) -> Result<u64> {
    let (where_sql, value) = match which {
        Retire::Street(s) => ("street_code = $1", s),
        Retire::Code(c) => ("code = $1", c),
    };
    sqlx::query(&format!(
        "INSERT INTO unit_grid_history (code, community_code, geom, area_m2, valid_from, valid_to, responsible) \
         SELECT code, community_code, geom, area_m2, valid_from, current_date, responsible FROM layers.unit_grids WHERE {where_sql}"
    ))
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query(&format!("DELETE FROM layers.unit_grids WHERE {where_sql}"))
            .bind(value)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Deletes the communities of street `street_key`.
pub async fn delete_street_communities(db: impl PgExecutor<'_>, street_key: &str) -> Result<()> {
    sqlx::query("DELETE FROM layers.communities WHERE street_code = $1")
        .bind(street_key)
        .execute(db)
        .await?;
    Ok(())
}

/// A community to write: its outline as WKB, 12-digit key, street key, admin code,
/// name.
#[derive(Debug, Clone)]
pub struct NewCommunity<'a> {
    /// Outline (WKB, lon/lat).
    pub wkb: Vec<u8>,
    /// 12-digit key.
    pub key: &'a str,
    /// 9-digit street key.
    pub street_key: &'a str,
    /// 6-digit admin code.
    pub admin: &'a str,
    /// Name.
    pub name: String,
}

/// Inserts a community, or gives the existing one of that code the new outline.
pub async fn upsert_community(db: impl PgExecutor<'_>, c: NewCommunity<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO layers.communities (fid, geom, code, street_code, admin_code, name) \
         VALUES (coalesce((SELECT max(fid) FROM layers.communities), 0) + 1, \
                 ST_Multi(ST_SetSRID(ST_GeomFromWKB($1), 4326)), $2, $3, $4, $5) \
         ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom",
    )
    .bind(c.wkb)
    .bind(c.key)
    .bind(c.street_key)
    .bind(c.admin)
    .bind(c.name)
    .execute(db)
    .await?;
    Ok(())
}

/// Inserts unit grids (code, WKB outline), 2000 a statement; their community, street
/// and admin keys come from the code. A code that exists fails with a unique
/// violation.
pub async fn insert_grids<C: std::fmt::Display>(
    conn: &mut PgConnection,
    grids: &[(C, Vec<u8>)],
) -> Result<()> {
    for chunk in grids.chunks(2000) {
        let codes: Vec<String> = chunk.iter().map(|(c, _)| c.to_string()).collect();
        let wkbs: Vec<Vec<u8>> = chunk.iter().map(|(_, w)| w.clone()).collect();
        sqlx::query(
            "INSERT INTO layers.unit_grids (fid, geom, code, community_code, street_code, admin_code, area_m2) \
             SELECT coalesce((SELECT max(fid) FROM layers.unit_grids), 0) + n, g, code, left(code, 12), left(code, 9), left(code, 6), \
                    ST_Area(g::geography) \
             FROM (SELECT code, ST_Multi(ST_SetSRID(ST_GeomFromWKB(w), 4326)) AS g, n \
                   FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS u(code, w, n)) x",
        )
        .bind(&codes)
        .bind(&wkbs)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A street to write: the union of `wkbs` (its communities) as outline.
#[derive(Debug, Clone)]
pub struct NewStreet<'a> {
    /// Outlines (WKB, lon/lat) whose union is the street.
    pub wkbs: &'a [Vec<u8>],
    /// 9-digit key.
    pub key: &'a str,
    /// 6-digit admin code.
    pub admin: &'a str,
    /// Name.
    pub name: String,
    /// Territorial default department.
    pub default_department: Option<&'a str>,
}

/// Inserts a street, or gives the existing one the new outline (and the default
/// department, when given).
pub async fn upsert_street(db: impl PgExecutor<'_>, s: NewStreet<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO layers.streets (fid, geom, code, admin_code, name, default_department) \
         SELECT coalesce((SELECT max(fid) FROM layers.streets), 0) + 1, \
                ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(ST_SetSRID(ST_GeomFromWKB(w), 4326))), 3)), $2, $3, $4, $5 \
         FROM unnest($1::bytea[]) AS u(w) \
         ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom, \
             default_department = coalesce(EXCLUDED.default_department, layers.streets.default_department)",
    )
    .bind(s.wkbs)
    .bind(s.key)
    .bind(s.admin)
    .bind(s.name)
    .bind(s.default_department)
    .execute(db)
    .await?;
    Ok(())
}

/// Creates the admin division, street and communities that grids refer to but that do
/// not exist yet, with the union of their grids as outline.
pub async fn fill_places(
    conn: &mut PgConnection,
    admin_name: Option<&str>,
    street_name: Option<&str>,
    default_department: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO layers.communities (fid, geom, code, street_code, admin_code, name) \
         SELECT coalesce((SELECT max(fid) FROM layers.communities), 0) + row_number() OVER (ORDER BY community_code), \
                ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3)), community_code, \
                left(community_code, 9), left(community_code, 6), 'Community ' || right(community_code, 3) \
         FROM layers.unit_grids g WHERE NOT EXISTS (SELECT 1 FROM layers.communities c WHERE c.code = g.community_code) \
         GROUP BY community_code",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO layers.streets (fid, geom, code, admin_code, name, default_department) \
         SELECT coalesce((SELECT max(fid) FROM layers.streets), 0) + row_number() OVER (ORDER BY street_code), \
                ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3)), street_code, left(street_code, 6), \
                coalesce($1, 'Street ' || right(street_code, 3)), $2 \
         FROM layers.communities c WHERE NOT EXISTS (SELECT 1 FROM layers.streets s WHERE s.code = c.street_code) \
         GROUP BY street_code",
    )
    .bind(street_name)
    .bind(default_department)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO layers.admin_divisions (fid, geom, code, name) \
         SELECT coalesce((SELECT max(fid) FROM layers.admin_divisions), 0) + row_number() OVER (ORDER BY admin_code), \
                ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3)), admin_code, coalesce($1, admin_code) \
         FROM layers.streets s WHERE NOT EXISTS (SELECT 1 FROM layers.admin_divisions a WHERE a.code = s.admin_code) \
         GROUP BY admin_code",
    )
    .bind(admin_name)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A unit grid as validation reads it: community key, code, WKB outline, and the
/// community's WKB outline when there is one.
pub type ValidationRow = (String, String, Vec<u8>, Option<Vec<u8>>);

/// The unit grids of every community (or of `community`), by community and code.
pub async fn grids_for_validation(
    db: impl PgExecutor<'_>,
    community: Option<&str>,
) -> Result<Vec<ValidationRow>> {
    sqlx::query_as(
        "SELECT g.community_code, g.code, ST_AsBinary(g.geom), ST_AsBinary(c.geom) \
         FROM layers.unit_grids g LEFT JOIN layers.communities c ON c.code = g.community_code \
         WHERE $1::text IS NULL OR g.community_code = $1 ORDER BY g.community_code, g.code",
    )
    .bind(community)
    .fetch_all(db)
    .await
}

/// Writes the components of an OSM import's components layer `layer` (component_id,
/// class_code, name, osm_id): category `P` + class code, maintaining department = the
/// category's default department, no grid yet. Existing ids get the new point and
/// name. Returns how many rows were written. `layer` must be an identifier.
pub async fn upsert_osm_components(db: impl PgExecutor<'_>, layer: &str) -> Result<u64> {
    if !is_ident(layer) {
        return Err(not_ident(layer));
    }
    let done = sqlx::query(&format!(
        "INSERT INTO layers.components (geom, component_id, category_code, name, state, maintaining_department, \
             grid_code, survey_date, change_date, source, note) \
         SELECT ST_PointOnSurface(o.geom), o.component_id, 'P' || o.class_code, o.name, 'intact', c.default_department, \
                NULL, current_date, current_date, 'osm', 'OSM ' || coalesce(o.osm_id::text, '') \
         FROM layers.\"{layer}\" o LEFT JOIN categories c ON c.code = 'P' || o.class_code \
         WHERE o.component_id ~ '^[0-9]{{16}}$' AND o.class_code ~ '^[0-9]{{4}}$' \
         ON CONFLICT (component_id) DO UPDATE SET geom = EXCLUDED.geom, name = EXCLUDED.name, \
             change_date = current_date"
    ))
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Takes layer `layer` out of the catalogue (its table stays) and announces it.
pub async fn remove_from_catalog(conn: &mut PgConnection, layer: &str) -> Result<()> {
    sqlx::query("DELETE FROM layer_catalog WHERE id = $1")
        .bind(layer)
        .execute(&mut *conn)
        .await?;
    notify_layer(&mut *conn, layer).await
}

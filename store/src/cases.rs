//! Cases: intake (one statement with duplicates, first event and Open311 token), lists
//! and details filtered by who may see them, workflow steps (the locked read and the
//! writes of a `citygrid-grid-mgmt` [`Step`]), field tasks, and the background jobs that
//! keep the cases layer current (overdue flags, change announcements).

use chrono::{DateTime, FixedOffset, Utc};
use citygrid_grid_mgmt::step::{FieldTaskIntent, Step};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use crate::Result;

/// SQL: whether a case row `c` is overdue now.
pub const OVERDUE_SQL: &str =
    "(c.due_at IS NOT NULL AND c.due_at < now() AND c.status NOT IN ('suspended', 'closed', 'voided'))";

/// SQL: a case row `c` as JSON (without geometry, with lon/lat and overdue).
pub fn case_json_sql() -> String {
    format!(
        "(to_jsonb(c) - 'geom') || jsonb_build_object('lon', ST_X(c.geom), 'lat', ST_Y(c.geom), 'overdue', {OVERDUE_SQL})"
    )
}

/// Which cases a caller may see.
#[derive(Debug, Clone, PartialEq)]
pub enum Visibility {
    /// Every case (supervision and command centre, admins).
    All,
    /// The cases assigned to a department.
    Department(String),
    /// An inspector (`users.id`): see [`push_visibility`].
    Inspector(i64),
}

/// SQL: the `users.id` of the active inspector responsible for the unit grid of case
/// row `c` (`layers.unit_grids.responsible` names the user), NULL when there is none.
const GRID_INSPECTOR_SQL: &str = "(SELECT u.id FROM layers.unit_grids g \
     JOIN users u ON u.username = g.responsible AND u.role = 'inspector' AND u.active \
     WHERE g.code = c.grid_code LIMIT 1)";

/// SQL: whether case row `c` is visible to the caller given as parameters: `kind`
/// (`0` all, `1` a department, `2` an inspector), `department` (text) and `user`
/// (`users.id`) — the rule of [`push_visibility`] in one expression, for statements
/// with numbered parameters.
fn visible_sql(kind: &str, department: &str, user: &str) -> String {
    format!(
        "(CASE {kind}::int WHEN 0 THEN true WHEN 1 THEN c.department = {department}::text \
          ELSE (c.reporter_user_id = {user}::bigint OR EXISTS (SELECT 1 FROM field_tasks t \
            WHERE t.case_id = c.id AND ((t.status <> 'open' AND t.inspector_user_id = {user}::bigint) \
              OR (t.status = 'open' AND coalesce({GRID_INSPECTOR_SQL}, t.inspector_user_id, {user}::bigint) = {user}::bigint)))) END)"
    )
}

/// Adds the visibility condition of `v` on case row `c`.
///
/// An inspector works the unit grids whose `responsible` is his user name (domain.md
/// §1: a set of unit grids is the responsibility area of one inspector). He sees
/// - the cases he reported;
/// - the cases of field tasks he finished (done or cancelled while his), as history;
/// - the cases with an open field task in one of his grids. When a case's grid has no
///   active responsible inspector, its open tasks go to the one they were assigned
///   to, or, unassigned, to every inspector (so that no task is stranded while the
///   grids are not assigned yet). Reassigning a grid moves its open tasks with it.
pub fn push_visibility(qb: &mut QueryBuilder<'_, Postgres>, v: &Visibility) {
    match v {
        Visibility::All => {}
        Visibility::Department(d) => {
            qb.push(" AND c.department = ").push_bind(d.clone());
        }
        Visibility::Inspector(id) => {
            qb.push(" AND (c.reporter_user_id = ")
                .push_bind(*id)
                .push(
                    " OR EXISTS (SELECT 1 FROM field_tasks t WHERE t.case_id = c.id AND \
                     ((t.status <> 'open' AND t.inspector_user_id = ",
                )
                .push_bind(*id)
                .push(") OR (t.status = 'open' AND coalesce(")
                .push(GRID_INSPECTOR_SQL)
                .push(", t.inspector_user_id, ")
                .push_bind(*id)
                .push(") = ")
                .push_bind(*id)
                .push("))))");
        }
    }
}

/// The id of the case numbered `case_no`.
pub async fn id_by_number(
    executor: impl sqlx::PgExecutor<'_>,
    case_no: &str,
) -> Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM cases WHERE case_no = $1")
        .bind(case_no)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|(i,)| i))
}

/// Whether case `id` exists and `vis` may see it.
pub async fn is_visible(
    executor: impl sqlx::PgExecutor<'_>,
    vis: &Visibility,
    id: i64,
) -> Result<bool> {
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT c.id FROM cases c WHERE c.id = ");
    qb.push_bind(id);
    push_visibility(&mut qb, vis);
    let row: Option<(i64,)> = qb.build_query_as().fetch_optional(executor).await?;
    Ok(row.is_some())
}

/// Of the cases `ids`, those `vis` may see.
pub async fn visible_among(pool: &PgPool, vis: &Visibility, ids: Vec<i64>) -> Result<Vec<i64>> {
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT c.id FROM cases c WHERE c.id = ANY(");
    qb.push_bind(ids).push(")");
    push_visibility(&mut qb, vis);
    qb.build_query_scalar().fetch_all(pool).await
}

/// One case with its timeline, photos and field tasks, as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    /// The case row (see [`case_json_sql`]).
    pub case: Value,
    /// Its events, oldest first.
    pub events: Vec<Value>,
    /// Its photos (id, type, size, stage, uploader, time, url), oldest first.
    pub photos: Vec<Value>,
    /// Its field tasks.
    pub tasks: Vec<Value>,
}

/// Case `id` with its timeline, photos and field tasks (`None`: no such case).
pub async fn detail(pool: &PgPool, id: i64) -> Result<Option<Detail>> {
    let row: Option<(Value,)> = sqlx::query_as(&format!(
        "SELECT {} FROM cases c WHERE c.id = $1",
        case_json_sql()
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((case,)) = row else {
        return Ok(None);
    };
    let events: Vec<(Value,)> = sqlx::query_as(
        "SELECT to_jsonb(e) - 'case_id' FROM case_events e WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let photos: Vec<(Value,)> = sqlx::query_as(
        "SELECT jsonb_build_object('id', id, 'content_type', content_type, 'size_bytes', size_bytes, \
                'stage', stage, 'uploaded_by', uploaded_by, 'uploaded_at', uploaded_at, \
                'url', '/api/photos/' || id) \
         FROM case_photos WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let tasks: Vec<(Value,)> =
        sqlx::query_as("SELECT to_jsonb(t) FROM field_tasks t WHERE case_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(pool)
            .await?;
    let unwrap = |rows: Vec<(Value,)>| rows.into_iter().map(|(v,)| v).collect();
    Ok(Some(Detail {
        case,
        events: unwrap(events),
        photos: unwrap(photos),
        tasks: unwrap(tasks),
    }))
}

/// A case row read for a workflow step.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedCase {
    /// `cases.id`.
    pub id: i64,
    /// Case number.
    pub case_no: String,
    /// Workflow state.
    pub status: String,
    /// Category code.
    pub category: String,
    /// Assigned department.
    pub department: Option<String>,
    /// Department found by routing at intake.
    pub routed_department: Option<String>,
    /// Failed checks.
    pub rework_count: i32,
    /// Returns.
    pub return_count: i32,
    /// Whether an extension was approved.
    pub extended: bool,
    /// Deadline of a pending extension request.
    pub pending_extension: Option<DateTime<Utc>>,
    /// Suspended since.
    pub suspended_since: Option<DateTime<Utc>>,
    /// Registration deadline.
    pub registration_due: Option<DateTime<Utc>>,
    /// (First) dispatch deadline.
    pub dispatch_due: Option<DateTime<Utc>>,
    /// Handling deadline.
    pub handling_due: Option<DateTime<Utc>>,
    /// Checking deadline.
    pub checking_due: Option<DateTime<Utc>>,
    /// First registration.
    pub registered_at: Option<DateTime<Utc>>,
    /// First dispatch.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// Last feedback.
    pub handled_at: Option<DateTime<Utc>>,
    /// Closing.
    pub closed_at: Option<DateTime<Utc>>,
    /// Time of the last event.
    pub last_at: Option<DateTime<Utc>>,
    /// `users.id` of the reporter.
    pub reporter_user_id: Option<i64>,
}

/// Reads case `id` and locks it (`FOR UPDATE`) until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: i64) -> Result<Option<LockedCase>> {
    sqlx::query_as(
        "SELECT id, case_no, status, category, department, routed_department, rework_count, \
                return_count, extended, pending_extension, suspended_since, registration_due, \
                dispatch_due, handling_due, checking_due, registered_at, dispatched_at, \
                handled_at, closed_at, \
                (SELECT max(at) FROM case_events e WHERE e.case_id = c.id) AS last_at, \
                reporter_user_id \
         FROM cases c WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The open field task of `kind` of case `id` (`None`: none is open) and who it belongs
/// to now: the active inspector responsible for the case's unit grid, else the one it
/// was assigned to (`None` inside: a pool task).
pub async fn open_task_assignee(
    executor: impl sqlx::PgExecutor<'_>,
    id: i64,
    kind: &str,
) -> Result<Option<Option<i64>>> {
    let task: Option<(Option<i64>,)> = sqlx::query_as(&format!(
        "SELECT coalesce({GRID_INSPECTOR_SQL}, t.inspector_user_id) \
         FROM field_tasks t JOIN cases c ON c.id = t.case_id \
         WHERE t.case_id = $1 AND t.kind = $2 AND t.status = 'open' ORDER BY t.id LIMIT 1"
    ))
    .bind(id)
    .bind(kind)
    .fetch_optional(executor)
    .await?;
    Ok(task.map(|(a,)| a))
}

/// The state of case `id`, its department, its reporter's `users.id` and the inspector
/// of its latest check task (`None` outside: no check task yet; `Some(None)`: an open
/// pool task). An open task belongs to the grid's active responsible inspector, else
/// to the one it was assigned to (the rule of [`open_task_assignee`]); a finished one
/// to the inspector who did it. `None`: no such case.
pub async fn photo_context(
    executor: impl sqlx::PgExecutor<'_>,
    id: i64,
) -> Result<Option<PhotoContextRow>> {
    sqlx::query_as(&format!(
        "SELECT c.status, c.department, c.reporter_user_id, \
                (SELECT CASE WHEN t.status = 'open' THEN coalesce({GRID_INSPECTOR_SQL}, t.inspector_user_id) \
                             ELSE t.inspector_user_id END \
                 FROM field_tasks t WHERE t.case_id = c.id AND t.kind = 'check' \
                 ORDER BY t.id DESC LIMIT 1) AS checker, \
                EXISTS (SELECT 1 FROM field_tasks t WHERE t.case_id = c.id AND t.kind = 'check') AS has_check \
         FROM cases c WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A case as [`photo_context`] reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PhotoContextRow {
    /// Workflow state.
    pub status: String,
    /// Assigned department.
    pub department: Option<String>,
    /// `users.id` of the reporter.
    pub reporter_user_id: Option<i64>,
    /// The inspector of the latest check task (NULL: none, or a pool task).
    pub checker: Option<i64>,
    /// Whether the case has a check task at all.
    pub has_check: bool,
}

/// Of the photos `ids`, those uploaded to case `id`.
pub async fn photos_among(
    executor: impl sqlx::PgExecutor<'_>,
    id: i64,
    ids: &[i64],
) -> Result<Vec<i64>> {
    let found: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM case_photos WHERE case_id = $1 AND id = ANY($2)")
            .bind(id)
            .bind(ids)
            .fetch_all(executor)
            .await?;
    Ok(found.into_iter().map(|(i,)| i).collect())
}

/// Writes a workflow step: the case row (whose trigger updates the map row and queues
/// the change), the event, the field tasks and the delivery. `actor_user_id` is the
/// `users.id` of a signed-in actor. Returns the event id and whether a delivery was
/// queued.
pub async fn write_step(
    conn: &mut PgConnection,
    step: &Step,
    actor_user_id: Option<i64>,
) -> Result<(i64, bool)> {
    let id = step.case_id;
    let next = &step.case;
    let at = step.at;
    sqlx::query(
        "UPDATE cases SET status = $2, department = $3, rework_count = $4, return_count = $5, \
            extended = $6, pending_extension = $7, suspended_since = $8, handling_due = $9, \
            registered_at = $10, dispatch_due = $11, dispatched_at = $12, handled_at = $13, \
            checking_due = $14, closed_at = $15, \
            last_public_note = coalesce($16, last_public_note), \
            due_at = $17, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(next.state.as_str())
    .bind(&next.department)
    .bind(i32::try_from(next.rework_count).unwrap_or(i32::MAX))
    .bind(i32::try_from(next.return_count).unwrap_or(i32::MAX))
    .bind(next.extended)
    .bind(next.pending_extension)
    .bind(step.suspended_since)
    .bind(step.deadlines.handling)
    .bind(step.stamps.registered_at)
    .bind(step.deadlines.dispatch)
    .bind(step.stamps.dispatched_at)
    .bind(step.stamps.handled_at)
    .bind(step.deadlines.checking)
    .bind(step.stamps.closed_at)
    .bind(&step.public_note)
    .bind(step.deadlines.current)
    .execute(&mut *conn)
    .await?;

    let ev = &step.event;
    let (event_id,): (i64,) = sqlx::query_as(
        "INSERT INTO case_events (case_id, at, actor, actor_user_id, role, department, action, \
             from_state, to_state, note, public_note, attachments, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(id)
    .bind(at)
    .bind(&step.actor_label)
    .bind(actor_user_id)
    .bind(ev.role.as_str())
    .bind(&ev.actor_department)
    .bind(ev.action.as_str())
    .bind(ev.from.as_str())
    .bind(ev.to.as_str())
    .bind(&ev.note)
    .bind(ev.public_note)
    .bind(json!(ev.attachments))
    .bind(&step.detail)
    .fetch_one(&mut *conn)
    .await?;

    match step.field_task {
        Some(FieldTaskIntent::Open(kind)) => {
            sqlx::query(
                "INSERT INTO field_tasks (case_id, kind, inspector_user_id) \
                 SELECT $1, $2, (SELECT u.id FROM users u JOIN cases c ON c.id = $1 \
                     JOIN layers.unit_grids g ON g.code = c.grid_code \
                     WHERE u.username = g.responsible AND u.role = 'inspector' AND u.active LIMIT 1)",
            )
            .bind(id)
            .bind(kind.as_str())
            .execute(&mut *conn)
            .await?;
        }
        Some(FieldTaskIntent::Done { kind, result }) => {
            // the task records who did it (the workflow let only him do it)
            sqlx::query(
                "UPDATE field_tasks SET status = 'done', done_at = $3, result = $4, \
                     inspector_user_id = coalesce($5, inspector_user_id) \
                 WHERE case_id = $1 AND kind = $2 AND status = 'open'",
            )
            .bind(id)
            .bind(kind.as_str())
            .bind(at)
            .bind(result.as_str())
            .bind(actor_user_id)
            .execute(&mut *conn)
            .await?;
        }
        Some(FieldTaskIntent::CancelOpen) => {
            sqlx::query(
                "UPDATE field_tasks SET status = 'cancelled', done_at = $2 \
                 WHERE case_id = $1 AND status = 'open'",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        None => {}
    }

    let mut queued = false;
    if let Some(out) = &step.outbox {
        sqlx::query(
            "INSERT INTO outbox (department, case_id, event_id, idempotency_key, url, payload) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&out.department)
        .bind(id)
        .bind(event_id)
        .bind(step.idempotency_key(event_id, &out.department))
        .bind(&out.url)
        .bind(step.outbox_payload(event_id))
        .execute(&mut *conn)
        .await?;
        queued = true;
    }
    Ok((event_id, queued))
}

/// Flips the `overdue` flag of the cases layer's rows whose flag is wrong now, and
/// announces them (`NOTIFY citygrid_layers`, 500 features per notice), in one
/// transaction.
pub async fn refresh_overdue(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    let fids: Vec<(i64,)> = sqlx::query_as(
        "UPDATE layers.cases l SET overdue = x.o \
         FROM (SELECT c.id, (c.due_at IS NOT NULL AND c.due_at < now() \
                  AND c.status NOT IN ('suspended', 'closed', 'voided')) AS o FROM cases c) x \
         WHERE l.fid = x.id AND l.overdue IS DISTINCT FROM x.o RETURNING l.fid",
    )
    .fetch_all(&mut *tx)
    .await?;
    for chunk in fids.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(|(f,)| f.to_string()).collect();
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(format!("cases:{}", ids.join(",")))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Announces up to 5000 queued layer changes (`layer_changes`, filled by the `cases`
/// trigger): one `NOTIFY citygrid_layers, '<layer>:<fid>,…'` per 500 features, in the
/// transaction that removes them from the queue. Returns how many were announced.
pub async fn announce_changes(pool: &PgPool) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, Vec<i64>)> = sqlx::query_as(
        "WITH d AS (DELETE FROM layer_changes WHERE id IN \
             (SELECT id FROM layer_changes ORDER BY id LIMIT 5000 FOR UPDATE SKIP LOCKED) \
           RETURNING layer, fid) \
         SELECT layer, array_agg(DISTINCT fid) FROM d GROUP BY layer",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut n = 0;
    for (layer, fids) in rows {
        n += fids.len();
        for chunk in fids.chunks(500) {
            let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
            sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
                .bind(format!("{layer}:{}", ids.join(",")))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(n)
}

// ----------------------------------------------------------------------------- intake

/// Degrees of latitude that surely cover `m` metres (with a 20 % margin).
fn degrees_lat(m: f64) -> f64 {
    m / 111_000.0 * 1.2
}

/// Degrees of longitude that surely cover `m` metres at latitude `lat`.
fn degrees_lon(m: f64, lat: f64) -> f64 {
    let c = lat.to_radians().cos().max(0.01);
    (m / 111_000.0 * 1.2 / c).min(360.0)
}

/// A component found for a case.
#[derive(Debug, Clone, PartialEq)]
pub struct NearComponent {
    /// Its 16-digit id.
    pub id: String,
    /// Maintaining department.
    pub maintaining: Option<String>,
    /// Owning department.
    pub owning: Option<String>,
    /// Ground distance from the case point in metres.
    pub distance_m: f64,
}

type ComponentRow = (String, Option<String>, Option<String>, f64);

fn near((id, maintaining, owning, distance_m): ComponentRow) -> NearComponent {
    NearComponent {
        id,
        maintaining,
        owning,
        distance_m,
    }
}

/// Component `id` with its distance from (`lon`, `lat`) (`None`: not in the inventory).
pub async fn component_at_distance(
    pool: &PgPool,
    id: &str,
    lon: f64,
    lat: f64,
) -> Result<Option<NearComponent>> {
    let row: Option<ComponentRow> = sqlx::query_as(
        "SELECT component_id, maintaining_department, owning_department, \
                ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) \
         FROM layers.components WHERE component_id = $1",
    )
    .bind(id)
    .bind(lon)
    .bind(lat)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(near))
}

/// A new case, as intake decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase<'a> {
    /// WGS84 longitude.
    pub lon: f64,
    /// WGS84 latitude.
    pub lat: f64,
    /// Category code.
    pub category: &'a str,
    /// Open cases of the category within this distance are duplicates.
    pub duplicate_radius_m: f64,
    /// The year prefix of the case number.
    pub year: i32,
    /// Source.
    pub source: &'a str,
    /// `users.id` of a signed-in reporter.
    pub reporter_user_id: Option<i64>,
    /// Reporter's name.
    pub reporter_name: Option<&'a str>,
    /// Reporter's contact.
    pub reporter_contact: Option<&'a str>,
    /// The API key of an Open311 client.
    pub api_key_id: Option<i64>,
    /// Description.
    pub description: Option<&'a str>,
    /// Address as given.
    pub address: Option<&'a str>,
    /// Extra attributes.
    pub attributes: &'a Value,
    /// Photo URL.
    pub media_url: Option<&'a str>,
    /// Unit grid code.
    pub grid_code: &'a str,
    /// Community key.
    pub community_code: &'a str,
    /// Street key.
    pub street_code: &'a str,
    /// Admin division code.
    pub admin_code: &'a str,
    /// Linked component.
    pub component_id: Option<&'a str>,
    /// Routed department.
    pub routed_department: Option<&'a str>,
    /// Routing explanation.
    pub routing: &'a Value,
    /// Reported at.
    pub reported_at: DateTime<FixedOffset>,
    /// Registration deadline (the first current deadline).
    pub registration_due: DateTime<FixedOffset>,
    /// The reporter's label in the event row.
    pub actor_label: &'a str,
    /// The reporter's role in the event row.
    pub role: &'a str,
    /// The reporter's department.
    pub department: Option<&'a str>,
    /// The first event's detail (`duplicates` is added).
    pub detail: &'a Value,
    /// An Open311 token to store with the case.
    pub token: Option<&'a str>,
    /// An `Idempotency-Key` to claim in the same statement, and the response to store
    /// with it (`id`, `case_no` and `duplicates` are added to this object).
    pub idempotency: Option<(crate::idempotency::Claim<'a>, &'a Value)>,
    /// Who reports: [`Inserted::Case::visible_duplicates`] are the duplicates this
    /// caller may open (the rule of [`push_visibility`], in the same statement).
    pub visible_to: &'a Visibility,
    /// Insert only if there is no component of this category within this many metres
    /// (the nearest-component search of a component category, in the same
    /// statement): intake planned the case without a component, which holds only
    /// while the inventory has none there. When there is one, nothing is written and
    /// [`Inserted::ComponentFound`] returns it.
    pub unless_component: Option<(&'a str, f64)>,
}

/// What [`insert`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// The case was inserted: its id, case number and the duplicates (open cases of
    /// the same category within the radius, nearest first).
    Case {
        /// `cases.id`.
        id: i64,
        /// `2025-000123`.
        case_no: String,
        /// The duplicates found.
        duplicates: Value,
        /// The ids of those [`NewCase::visible_to`] may open.
        visible_duplicates: Vec<i64>,
    },
    /// Nothing was inserted: the idempotency key was already taken (by a request that
    /// committed; read its response with [`crate::idempotency::stored`]).
    KeyTaken,
    /// Nothing was inserted (not even the key): there is a component of
    /// [`NewCase::unless_component`]'s category within its radius, the nearest one
    /// here. The case must be planned with it and inserted again.
    ComponentFound(NearComponent),
}

/// Inserts a case with its first event (`report`, with the duplicates found) and its
/// Open311 token, in one statement; with [`NewCase::idempotency`], the key row too
/// (`ON CONFLICT DO NOTHING`: a key already taken inserts nothing and returns
/// [`Inserted::KeyTaken`]; a concurrent request with the same key waits for the first
/// to commit). With [`NewCase::unless_component`], the nearest-component search runs
/// in the statement too, and a component found there stops every write
/// ([`Inserted::ComponentFound`]).
///
/// The nearest-component and the duplicate searches read the rows in the box around
/// the point first (`geom && box`, fenced by `OFFSET 0`) and only then compare the
/// category: the pool's connections keep this statement's generic plan, and one made
/// while `cases` was nearly empty (a new installation's first minute, before the
/// first analyze) otherwise chose the category's btree and went on reading every
/// open case of the category for each report as the table grew; with the category
/// outside the fence the planner takes the spatial index also for an empty table.
pub async fn insert(pool: &PgPool, c: &NewCase<'_>) -> Result<Inserted> {
    let (claim, template) = match c.idempotency {
        Some((claim, template)) => (Some(claim), Some(template)),
        None => (None, None),
    };
    let (vis_kind, vis_department, vis_user): (i32, Option<&str>, Option<i64>) = match c.visible_to
    {
        Visibility::All => (0, None, None),
        Visibility::Department(d) => (1, Some(d.as_str()), None),
        Visibility::Inspector(u) => (2, None, Some(*u)),
    };
    let (comp_category, comp_radius) = match c.unless_component {
        Some((category, radius)) => (Some(category), radius),
        None => (None, 0.0),
    };
    type Row = (
        Option<i64>,
        Option<String>,
        Option<Value>,
        Option<Vec<i64>>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<f64>,
    );
    let row: Option<Row> = sqlx::query_as(&format!(
        "WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS g), \
         comp AS ( \
           SELECT component_id, maintaining_department, owning_department, \
                  ST_Distance(m.geom::geography, pt.g::geography) AS d \
           FROM (SELECT component_id, maintaining_department, owning_department, category_code, \
                        geom FROM layers.components \
                 WHERE $38::text IS NOT NULL \
                   AND geom && ST_Expand(ST_SetSRID(ST_MakePoint($1, $2), 4326), $40, $41) \
                 OFFSET 0) m, pt \
           WHERE m.category_code = $38 \
             AND ST_DWithin(m.geom::geography, pt.g::geography, $39) \
           ORDER BY d LIMIT 1), \
         nid AS (SELECT s.id, $5 || '-' || CASE WHEN s.id >= 1000000 THEN s.id::text \
                        ELSE lpad(s.id::text, 6, '0') END AS case_no \
                 FROM (SELECT nextval('cases_id_seq') AS id) s), \
         dup AS ( \
           SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'case_no', x.case_no, \
                    'status', x.status, 'distance_m', round(x.d::numeric, 2)) \
                  ORDER BY x.d), '[]'::jsonb) AS list, \
                  coalesce(array_agg(x.id) FILTER (WHERE x.vis), '{{}}') AS visible \
           FROM (SELECT c.id, c.case_no, c.status, \
                        ST_Distance(c.geom::geography, pt.g::geography) AS d, {visible} AS vis \
                 FROM (SELECT c.id, c.case_no, c.status, c.geom, c.category, c.department, \
                              c.reporter_user_id, c.grid_code FROM cases c \
                       WHERE c.status NOT IN ('closed', 'voided') \
                         AND c.geom && ST_Expand(ST_SetSRID(ST_MakePoint($1, $2), 4326), $29, $30) \
                       OFFSET 0) c, pt \
                 WHERE c.category = $3 \
                   AND ST_DWithin(c.geom::geography, pt.g::geography, $4)) x), \
         k AS ( \
           INSERT INTO idempotency_keys (principal, key, request_hash, status, case_id, response) \
           SELECT $31, $32, $33, 201, nid.id, \
                  $34::jsonb || jsonb_build_object('id', nid.id, 'case_no', nid.case_no, 'duplicates', dup.list) \
           FROM nid, dup WHERE $31::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM comp) \
           ON CONFLICT (principal, key) DO NOTHING RETURNING 1), \
         ins AS ( \
           INSERT INTO cases (id, case_no, source, reporter_user_id, reporter_name, reporter_contact, \
               api_key_id, description, address, attributes, media_url, geom, category, grid_code, \
               community_code, street_code, admin_code, component_id, routed_department, routing, \
               status, reported_at, registration_due, due_at, updated_at) \
           SELECT nid.id, nid.case_no, \
               $6, $7, $8, $9, $10, $11, $12, $13, $14, pt.g, $3, $15, $16, $17, $18, $19, $20, $21, \
               'reported', $22, $23, $23, now() \
           FROM nid, pt WHERE NOT EXISTS (SELECT 1 FROM comp) \
             AND ($31::text IS NULL OR EXISTS (SELECT 1 FROM k)) \
           RETURNING id, case_no), \
         ev AS ( \
           INSERT INTO case_events (case_id, at, actor, actor_user_id, role, department, action, \
               from_state, to_state, note, detail) \
           SELECT id, $22, $24, $7, $25, $26, 'report', NULL, 'reported', $11, \
                  $27::jsonb || jsonb_build_object('duplicates', (SELECT list FROM dup)) \
           FROM ins RETURNING id), \
         tok AS (INSERT INTO open311_tokens (token, case_id) SELECT $28, id FROM ins \
                 WHERE $28::text IS NOT NULL RETURNING token) \
         SELECT ins.id, ins.case_no, dup.list, dup.visible, \
                NULL::text, NULL::text, NULL::text, NULL::float8 FROM ins, dup \
         WHERE (SELECT count(*) FROM ev) = 1 AND (SELECT count(*) FROM tok) >= 0 \
         UNION ALL \
         SELECT NULL, NULL, NULL, NULL, \
                component_id::text, maintaining_department::text, owning_department::text, d \
         FROM comp",
        visible = visible_sql("$35", "$36", "$37"),
    ))
    .bind(c.lon) // 1
    .bind(c.lat) // 2
    .bind(c.category) // 3
    .bind(c.duplicate_radius_m) // 4
    .bind(c.year.to_string()) // 5
    .bind(c.source) // 6
    .bind(c.reporter_user_id) // 7
    .bind(c.reporter_name) // 8
    .bind(c.reporter_contact) // 9
    .bind(c.api_key_id) // 10
    .bind(c.description) // 11
    .bind(c.address) // 12
    .bind(c.attributes) // 13
    .bind(c.media_url) // 14
    .bind(c.grid_code) // 15
    .bind(c.community_code) // 16
    .bind(c.street_code) // 17
    .bind(c.admin_code) // 18
    .bind(c.component_id) // 19
    .bind(c.routed_department) // 20
    .bind(c.routing) // 21
    .bind(c.reported_at) // 22
    .bind(c.registration_due) // 23
    .bind(c.actor_label) // 24
    .bind(c.role) // 25
    .bind(c.department) // 26
    .bind(c.detail) // 27
    .bind(c.token) // 28
    .bind(degrees_lon(c.duplicate_radius_m, c.lat)) // 29
    .bind(degrees_lat(c.duplicate_radius_m)) // 30
    .bind(claim.map(|k| k.principal)) // 31
    .bind(claim.map(|k| k.key)) // 32
    .bind(claim.map(|k| k.request_hash)) // 33
    .bind(template) // 34
    .bind(vis_kind) // 35
    .bind(vis_department) // 36
    .bind(vis_user) // 37
    .bind(comp_category) // 38
    .bind(comp_radius) // 39
    .bind(degrees_lon(comp_radius, c.lat)) // 40
    .bind(degrees_lat(comp_radius)) // 41
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((_, _, _, _, Some(id), maintaining, owning, Some(distance_m))) => {
            Inserted::ComponentFound(near((id, maintaining, owning, distance_m)))
        }
        Some((
            Some(id),
            Some(case_no),
            Some(duplicates),
            Some(visible_duplicates),
            None,
            _,
            _,
            _,
        )) => Inserted::Case {
            id,
            case_no,
            duplicates,
            visible_duplicates,
        },
        Some(_) => {
            return Err(sqlx::Error::Protocol(
                "the case insert returned an incomplete row".into(),
            ))
        }
        None => Inserted::KeyTaken,
    })
}

//! The intake statement's duplicate search reads only the cases near the report, also
//! with a generic plan made while `cases` was empty (issue 25).
//!
//! The server's pool keeps each connection's prepared intake statement and, after a
//! few executions, PostgreSQL's generic plan of it. A generic plan made on a new
//! installation's empty `cases` table chose the category's btree for the duplicate
//! search and kept reading every open case of the category for each report as the
//! table grew (until the first analyze replanned it): in the intake benchmark some of
//! the pool's connections ran that plan. Here one connection is made to plan
//! generically from the first execution (`plan_cache_mode = force_generic_plan`) on
//! the empty table; then 3,000 open cases of the category are added 5 km away, and
//! the next report on that connection must read a handful of rows of `cases`, not
//! thousands. The duplicates found (a case 4 m away, none of the far ones) and the
//! single statement's rows (the case, its event, its map row) are checked too.

mod common;

use chrono::{DateTime, FixedOffset};
use citygrid_store::cases::{self, Inserted, NewCase, Visibility};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};

const LON: f64 = 114.305;
const LAT: f64 = 30.595;

fn reported_at() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00+08:00").expect("time")
}

async fn report(pool: &PgPool, lon: f64, lat: f64) -> Inserted {
    let (attributes, routing, detail) = (json!({}), json!({"department": "planning"}), json!({}));
    cases::insert(
        pool,
        &NewCase {
            lon,
            lat,
            category: "E0102",
            duplicate_radius_m: 10.0,
            year: 2026,
            source: "console",
            reporter_user_id: None,
            reporter_name: None,
            reporter_contact: None,
            api_key_id: None,
            description: Some("plan test"),
            address: None,
            attributes: &attributes,
            media_url: None,
            grid_code: "420102009001001",
            community_code: "420102009001",
            street_code: "420102009",
            admin_code: "420102",
            component_id: None,
            routed_department: Some("planning"),
            routing: &routing,
            reported_at: reported_at(),
            registration_due: reported_at(),
            actor_label: "plan test",
            role: "dispatcher",
            department: None,
            detail: &detail,
            token: None,
            idempotency: None,
            visible_to: &Visibility::All,
            unless_component: None,
        },
    )
    .await
    .expect("intake statement")
}

/// Rows of `cases` read so far (sequential and index fetches), as the statistics
/// collector has them: `probe` is the connection whose reads are pending, flushed
/// first.
async fn rows_read(probe: &PgPool, reader: &PgPool) -> i64 {
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(probe)
        .await
        .expect("flush");
    // the flush happens when the probe's connection goes idle after that query
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut conn = reader.acquire().await.expect("reader");
    conn.execute("SELECT pg_stat_clear_snapshot()")
        .await
        .expect("clear snapshot");
    sqlx::query_scalar(
        "SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::bigint \
         FROM pg_stat_user_tables WHERE schemaname = 'public' AND relname = 'cases'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("table statistics")
}

#[tokio::test]
async fn duplicate_search_reads_only_nearby_cases_with_a_plan_made_on_an_empty_table() {
    let db = common::TestDb::new().await;
    citygrid_store::seed::insert_department(&db.pool, "planning", "规划", "Planning")
        .await
        .expect("department");
    citygrid_store::seed::insert_category(
        &db.pool,
        citygrid_store::seed::NewCategory {
            code: "E0102",
            kind: "event",
            name_zh: "暴露垃圾",
            name_en: "Exposed rubbish",
            register_condition: "",
            close_condition: "",
            default_department: Some("planning"),
            attributes: json!([]),
        },
    )
    .await
    .expect("category");
    let empty: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(empty, 0, "the test needs an empty cases table");

    // one connection, planning generically from the first execution
    let probe = PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET plan_cache_mode = force_generic_plan")
                    .await
                    .map(|_| ())
            })
        })
        .connect(&db.url)
        .await
        .expect("probe pool");

    // the statement's plan is made now, on the empty table
    let first = match report(&probe, LON, LAT).await {
        Inserted::Case { id, duplicates, .. } => {
            assert_eq!(duplicates, json!([]), "nothing near yet");
            id
        }
        other => panic!("expected a case, got {other:?}"),
    };

    // 3,000 open cases of the category 5 km east, with their map rows (the trigger)
    sqlx::query(
        "INSERT INTO cases (id, case_no, source, description, attributes, geom, category, grid_code, \
             community_code, street_code, admin_code, routed_department, routing, status, \
             reported_at, registration_due, due_at, updated_at) \
         SELECT nextval('cases_id_seq'), 'far-' || n, c.source, c.description, c.attributes, \
                ST_Translate(c.geom, 0.05 + n * 1e-6, 0), c.category, c.grid_code, c.community_code, \
                c.street_code, c.admin_code, c.routed_department, c.routing, 'reported', \
                c.reported_at, c.registration_due, c.due_at, c.updated_at \
         FROM cases c, generate_series(1, 3000) n WHERE c.id = $1",
    )
    .bind(first)
    .execute(&db.pool)
    .await
    .expect("far cases");

    let before = rows_read(&probe, &db.pool).await;
    // 4 m north of the first case: a duplicate of it
    let second = report(&probe, LON, LAT + 0.000036).await;
    let after = rows_read(&probe, &db.pool).await;
    let (id, duplicates) = match second {
        Inserted::Case { id, duplicates, .. } => (id, duplicates),
        other => panic!("expected a case, got {other:?}"),
    };
    let listed: Vec<i64> = duplicates
        .as_array()
        .expect("duplicates list")
        .iter()
        .filter_map(|d| d["id"].as_i64())
        .collect();
    assert_eq!(listed, vec![first], "the near case, none of the far ones");
    let read = after - before;
    assert!(
        read < 100,
        "the report read {read} rows of cases: its duplicate search scanned the category instead of the area"
    );

    // the one statement wrote the case, its first event and its map row
    let (events, map_rows): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM case_events WHERE case_id = $1 AND action = 'report'), \
                (SELECT count(*) FROM layers.cases WHERE fid = $1)",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("rows");
    assert_eq!((events, map_rows), (1, 1));
    let detail: Value = sqlx::query_scalar(
        "SELECT detail FROM case_events WHERE case_id = $1 AND action = 'report'",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("event detail");
    assert_eq!(detail["duplicates"][0]["id"], json!(first));
    probe.close().await;
}

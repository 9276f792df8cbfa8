//! citygrid-store: every SQL statement of the service and the CLI, behind typed functions.
//!
//! The HTTP service (`citygrid-spatial-api`) and the command line call these functions and
//! never build SQL themselves; the city-management rules live in `citygrid-grid-mgmt` and
//! stay free of SQL. Every statement is parameterised.
//!
//! Conventions:
//! - a function that runs one statement takes `impl sqlx::PgExecutor<'_>` (a pool, a
//!   connection or a transaction); one that runs several takes `&mut PgConnection` (a
//!   transaction derefs to it) so the caller decides the transaction;
//! - errors are [`sqlx::Error`] unchanged, so the service maps them to HTTP exactly as
//!   before (unavailable → 503, bad text → 400, unique violation → 409);
//! - rows come back as the structs of each module (or of `citygrid-grid-mgmt`), never as
//!   `PgRow`.
//!
//! | module | what it stores |
//! |---|---|
//! | [`accounts`] | accounts, sessions, API keys, sign-in lookups |
//! | [`addresses`] | standard addresses, and the roads and areas the geocoder reads |
//! | [`arrangements`] | the yearly holiday arrangements of the working calendar |
//! | [`audit`] | the audit log |
//! | [`health`] | the database ping, the schema version |
//! | [`idempotency`] | `Idempotency-Key`: stored responses of requests that succeeded |
//! | [`catalog`] | the layer catalogue |
//! | [`edits`] | editing features of imported layers (OGC API – Features – Part 4) |
//! | [`history`] | feature edits and replaced layer tables, kept for a retention |
//! | [`layers`] | reading layers into the in-memory index, raster tiles |
//! | [`layer_access`] | layer ownership and access, deleting a layer |
//! | [`layer_serve`] | where a vector layer's tiles come from: memory, or PostGIS (`ST_AsMVT`) |
//! | [`layer_titles`] | layer titles and field names in Chinese and English |
//! | [`cases`] | cases, their events, workflow steps, field tasks |
//! | [`case_search`] | the console's case search: text, filters, sorting, paging with a total |
//! | [`reference`](mod@reference) | reading the reference data (categories, time limits, routing, calendar) |
//! | [`reference_admin`] | editing the reference data (one generic table-driven CRUD) |
//! | [`places`] | unit grids, components, point-in-grid, writing generated grids |
//! | [`photos`] | case photos |
//! | [`open311`] | Open311 service requests |
//! | [`outbox`] | webhook deliveries |
//! | [`stats`] | evaluation figures |
//! | [`seed`] | default reference data and the demo city |
//! | [`notify`] | LISTEN/NOTIFY of reference-data changes |

pub mod accounts;
pub mod addresses;
pub mod arrangements;
pub mod audit;
pub mod case_search;
pub mod cases;
pub mod catalog;
pub mod edits;
pub mod health;
pub mod history;
pub mod idempotency;
pub mod layer_access;
pub mod layer_rows;
pub mod layer_serve;
pub mod layer_titles;
pub mod layers;
pub mod notify;
pub mod open311;
pub mod outbox;
pub mod photos;
pub mod places;
pub mod reference;
pub mod reference_admin;
pub mod replication;
pub mod seed;
pub mod stats;

pub use sqlx::{Error, PgConnection, PgPool, Postgres, Transaction};

/// The result of a store call.
pub type Result<T, E = sqlx::Error> = std::result::Result<T, E>;

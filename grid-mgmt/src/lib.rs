//! The city-management domain of citygrid (see `docs/domain.md`).
//!
//! Pure logic only: every function takes plain values and returns plain values, so the
//! rules are tested without a database or an HTTP server. The modules, each with one job:
//!
//! - [`codes`]: validated place, grid, component and category codes;
//! - [`catalog`]: default seed data (classes, categories, departments, time limits);
//! - [`calendar`] and [`deadline`]: working calendar, time limits, deadlines, elapsed time;
//! - [`holidays`]: China's statutory public holidays of any year and the yearly arrangements;
//! - [`reference`](mod@reference): the reference data of an installation and the
//!   time-limit rules read from it (most specific scope wins, stage deadlines, deadlines
//!   after a suspension);
//! - [`routing`]: which department handles a case, and why;
//! - [`intake`]: what a new report is given (routing, registration deadline, case-number
//!   year) and who may label it with which source;
//! - [`layer_access`]: who may read and who may edit a map layer (the one check);
//! - [`workflow`]: the case state machine with roles and permissions;
//! - [`step`]: one complete workflow step on a stored case (new state, timestamps, stage
//!   deadlines, event, field-task and delivery intents);
//! - [`evaluation`]: the evaluation figures (立案率, 按期处置率, …) for a period;
//! - [`open311`]: the Open311 GeoReport v2 mapping, JSON/XML output and form parsing;
//! - [`photos`]: the workflow stage of a case photo and who may add one when;
//! - [`gridgen`]: unit grid generation and validation (in a local metric frame of
//!   `citygrid_geo::projection`).
#![forbid(unsafe_code)]

pub mod calendar;
pub mod catalog;
pub mod codes;
pub mod deadline;
pub mod evaluation;
pub mod gridgen;
pub mod holidays;
pub mod intake;
pub mod layer_access;
pub mod open311;
pub mod photos;
pub mod reference;
pub mod routing;
pub mod step;
pub mod workflow;
mod xml;

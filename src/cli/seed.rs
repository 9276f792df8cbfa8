//! The demo seed of the grid-management side (the lead calls [`demo`] from
//! `citygrid demo`): reference data, unit grids over the sample city (admin 420102,
//! street 001, communities of 30×30 cells), components from the OSM import's
//! `osm_components` layer when it exists, and a few cases in different states.
//! Idempotent: each part is skipped when it is already there.

use sqlx::PgPool;

/// Seeds the demo (see the module documentation).
pub async fn demo(pool: &PgPool) -> anyhow::Result<()> {
    citygrid_spatial_api::mgmt::seed::demo(pool).await?;
    Ok(())
}

//! `citygrid grid generate|import|validate|import-components|seed-reference`: unit grids,
//! components and the default reference data.

use super::{gridstore, seed};
use anyhow::{bail, Context};
use citygrid_db::Config;
use clap::{Args, Subcommand};

/// Grid commands.
#[derive(Subcommand)]
pub enum GridCommand {
    /// Generate unit grids (~cell² m² each) over an area: a polygon layer in PostGIS or
    /// a GeoJSON file (EPSG:4326/4490). Without --community-code the area is split into
    /// communities of at most 30×30 cells.
    Generate(GenerateArgs),
    /// Import a city's own unit grids (GeoJSON file or layer) with their 14- or 15-digit codes.
    Import(ImportArgs),
    /// Report overlaps and gaps of the unit grids, per community.
    Validate(ValidateArgs),
    /// Load components from an OSM import's components layer.
    ImportComponents(ImportComponentsArgs),
    /// Insert the default departments, categories, time limits, routing rules and
    /// calendar (rows that exist are kept).
    SeedReference,
    /// The demo seed: reference data, grids over the sample city, components from
    /// `osm_components`, a few cases (what `citygrid demo` runs; idempotent).
    SeedDemo,
}

/// `citygrid grid generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// A polygon layer id or a GeoJSON file.
    #[arg(long)]
    pub area: String,
    /// Only the features whose FIELD equals VALUE (`FIELD=VALUE`).
    #[arg(long)]
    pub filter: Option<String>,
    /// The 6-digit admin division code (GB/T 2260).
    #[arg(long)]
    pub admin_code: String,
    /// The 3-digit street code.
    #[arg(long, default_value = "001")]
    pub street_code: String,
    /// One 3-digit community for the whole area (at most 999 grids).
    #[arg(long)]
    pub community_code: Option<String>,
    /// Cell side in metres.
    #[arg(long, default_value_t = 100.0)]
    pub cell_m: f64,
    /// Replace the street's existing grids (they are kept in the history).
    #[arg(long)]
    pub replace: bool,
    /// Name of the admin division when it is created.
    #[arg(long)]
    pub admin_name: Option<String>,
    /// Name of the street when it is created.
    #[arg(long)]
    pub street_name: Option<String>,
    /// The street's default department (territorial default of routing).
    #[arg(long)]
    pub default_department: Option<String>,
}

/// `citygrid grid import`.
#[derive(Args)]
pub struct ImportArgs {
    /// A GeoJSON file or a layer id.
    pub file: String,
    /// The property holding the grid code.
    #[arg(long, default_value = "code")]
    pub code_field: String,
    /// Replace grids with the same codes.
    #[arg(long)]
    pub replace: bool,
}

/// `citygrid grid validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// Only this community (12-digit key).
    #[arg(long)]
    pub community: Option<String>,
    /// Overlaps and gaps smaller than this (m²) are ignored.
    #[arg(long, default_value_t = 1.0)]
    pub tolerance_m2: f64,
}

/// `citygrid grid import-components`.
#[derive(Args)]
pub struct ImportComponentsArgs {
    /// The layer of an OSM import.
    #[arg(long, default_value = "osm_components")]
    pub from_layer: String,
}

fn filter(s: Option<&str>) -> anyhow::Result<Option<(String, String)>> {
    match s {
        None => Ok(None),
        Some(f) => match f.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(Some((k.to_string(), v.to_string()))),
            _ => bail!("--filter must be FIELD=VALUE"),
        },
    }
}

/// Runs one `grid` command.
pub async fn run(command: GridCommand, config: Config) -> anyhow::Result<()> {
    let pool = super::database(&config).await?;
    match command {
        GridCommand::Generate(a) => {
            let opts = gridstore::GenerateOptions {
                admin: a.admin_code.parse().context("--admin-code")?,
                street: a.street_code.parse().context("--street-code")?,
                community: a
                    .community_code
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .context("--community-code")?,
                cell_m: a.cell_m,
                replace: a.replace,
                admin_name: a.admin_name,
                street_name: a.street_name,
                default_department: a.default_department,
            };
            let area = gridstore::load_area(&pool, &a.area, filter(a.filter.as_deref())?).await?;
            let r = gridstore::generate(&pool, area, &opts).await?;
            println!(
                "{} unit grids in {} communities ({:.0}–{:.0} m²); {} replaced; {} components assigned",
                r.grids, r.communities, r.min_area_m2, r.max_area_m2, r.replaced, r.components_assigned
            );
        }
        GridCommand::Import(a) => {
            let r = gridstore::import(&pool, &a.file, &a.code_field, a.replace).await?;
            println!(
                "{} unit grids in {} communities imported ({:.0}–{:.0} m²); {} replaced; {} components assigned",
                r.grids, r.communities, r.min_area_m2, r.max_area_m2, r.replaced, r.components_assigned
            );
        }
        GridCommand::Validate(a) => {
            let checks = gridstore::validate(&pool, a.community.as_deref(), a.tolerance_m2).await?;
            let mut bad = 0;
            for c in &checks {
                let gaps: f64 = c.gaps_m2.iter().sum();
                println!(
                    "community {}: {} grids, {} overlaps, {} gaps ({gaps:.1} m²)",
                    c.community,
                    c.grids,
                    c.overlaps.len(),
                    c.gaps_m2.len()
                );
                for o in c.overlaps.iter().take(20) {
                    println!("  overlap {} / {}: {:.1} m²", o.a, o.b, o.area_m2);
                }
                if !c.overlaps.is_empty() || !c.gaps_m2.is_empty() {
                    bad += 1;
                }
            }
            if bad > 0 {
                bail!(
                    "{bad} of {} communities have overlaps or gaps",
                    checks.len()
                );
            }
            println!("{} communities checked: no overlaps, no gaps", checks.len());
        }
        GridCommand::ImportComponents(a) => {
            let n = gridstore::import_components(&pool, &a.from_layer).await?;
            println!("{n} components loaded from layer {}", a.from_layer);
        }
        GridCommand::SeedReference => {
            let r = seed::reference(&pool).await?;
            println!(
                "reference data: {} departments, {} categories, {} time limits, {} routing rules added",
                r.departments, r.categories, r.time_limits, r.routing_rules
            );
        }
        GridCommand::SeedDemo => {
            super::seed::demo(&pool).await?;
            println!("demo seed done");
        }
    }
    pool.close().await;
    Ok(())
}

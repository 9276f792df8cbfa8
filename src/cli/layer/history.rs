//! `citygrid layer set-retention LAYER DAYS|default`, `citygrid layer
//! set-invalid-geometry LAYER refuse|repair`, `citygrid layer history LAYER [FID]
//! [--json]` and `citygrid layer restore-version LAYER TABLE`: the editing settings of
//! a layer and its history (edits through OGC API –
//! Features – Part 4, previous versions kept by re-imports; `citygrid_store::edits`,
//! `citygrid_store::history`).

use anyhow::bail;
use citygrid_db::Config;
use citygrid_store::{catalog, edits, history};
use clap::Args;

/// `citygrid layer set-retention`.
#[derive(Args)]
pub struct RetentionArgs {
    /// The layer id.
    pub layer: String,
    /// Days its edits and replaced versions are kept (1–36500), or `default`.
    pub days: String,
}

/// `citygrid layer set-invalid-geometry`.
#[derive(Args)]
pub struct InvalidGeometryArgs {
    /// The layer id.
    pub layer: String,
    /// `refuse` (400 with the reason) or `repair` (`ST_MakeValid`).
    pub mode: String,
}

/// `citygrid layer history`.
#[derive(Args)]
pub struct HistoryArgs {
    /// The layer id.
    pub layer: String,
    /// A feature id: its edits (without: the layer's kept previous versions).
    pub fid: Option<i64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `citygrid layer restore-version`.
#[derive(Args)]
pub struct RestoreArgs {
    /// The layer id.
    pub layer: String,
    /// A kept previous version, as `citygrid layer history LAYER` lists it
    /// (`LAYER@N`).
    pub table: String,
}

/// Reads `DAYS|default`.
pub fn parse_days(text: &str) -> anyhow::Result<Option<i32>> {
    if text.trim() == "default" {
        return Ok(None);
    }
    match text.trim().parse::<i32>() {
        Ok(d) if (1..=36500).contains(&d) => Ok(Some(d)),
        _ => bail!("retention {text:?}: give a number of days from 1 to 36500, or default"),
    }
}

/// Reads `refuse|repair`.
pub fn parse_mode(text: &str) -> anyhow::Result<bool> {
    match text.trim() {
        "repair" => Ok(true),
        "refuse" => Ok(false),
        other => bail!("invalid-geometry {other:?}: use refuse or repair"),
    }
}

fn no_layer(layer: &str) -> anyhow::Error {
    anyhow::anyhow!("no layer {layer:?} (see `citygrid layer list`)")
}

/// `citygrid layer set-retention`.
pub async fn set_retention(config: &Config, args: RetentionArgs) -> anyhow::Result<()> {
    let days = parse_days(&args.days)?;
    let pool = super::super::database(config).await?;
    if !edits::set_retention(&pool, &args.layer, days).await? {
        return Err(no_layer(&args.layer));
    }
    citygrid_store::audit::record(
        &pool,
        "cli",
        "layer_set_retention",
        serde_json::json!({"layer": args.layer, "days": days}),
    )
    .await?;
    match days {
        Some(d) => println!("layer {}: history kept {d} days", args.layer),
        None => println!(
            "layer {}: history kept the default {} days",
            args.layer, config.history_retention_days
        ),
    }
    Ok(())
}

/// `citygrid layer set-invalid-geometry`.
pub async fn set_invalid_geometry(
    config: &Config,
    args: InvalidGeometryArgs,
) -> anyhow::Result<()> {
    let repair = parse_mode(&args.mode)?;
    let pool = super::super::database(config).await?;
    if !edits::set_invalid_geometry(&pool, &args.layer, repair).await? {
        return Err(anyhow::anyhow!(
            "no vector layer {:?} (see `citygrid layer list`)",
            args.layer
        ));
    }
    citygrid_store::audit::record(
        &pool,
        "cli",
        "layer_set_invalid_geometry",
        serde_json::json!({"layer": args.layer, "repair": repair}),
    )
    .await?;
    println!(
        "layer {}: invalid geometries in edits are {}",
        args.layer,
        if repair {
            "repaired (ST_MakeValid)"
        } else {
            "refused"
        }
    );
    Ok(())
}

/// `citygrid layer history`.
pub async fn show(config: &Config, args: HistoryArgs) -> anyhow::Result<()> {
    let pool = super::super::database(config).await?;
    if !catalog::exists(&pool, &args.layer).await? {
        return Err(no_layer(&args.layer));
    }
    match args.fid {
        Some(fid) => {
            let entries = history::list(&pool, &args.layer, fid).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(());
            }
            if entries.is_empty() {
                println!("feature {fid} of layer {}: no recorded edits", args.layer);
            }
            for e in entries {
                println!(
                    "{:>4}  {:<8} {:<20} {}",
                    e.version,
                    e.op,
                    e.actor,
                    e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
        }
        None => {
            let settings = edits::settings(&pool, &args.layer).await?;
            let kept = history::snapshots(&pool, &args.layer).await?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "layer": args.layer,
                        "invalid_geometry": if settings.repair_invalid { "repair" } else { "refuse" },
                        "retention_days": settings.retention_days.unwrap_or(config.history_retention_days),
                        "previous_versions": kept,
                    }))?
                );
                return Ok(());
            }
            println!(
                "layer {}: invalid geometry {}, history kept {} days{}",
                args.layer,
                if settings.repair_invalid {
                    "repaired"
                } else {
                    "refused"
                },
                settings
                    .retention_days
                    .unwrap_or(config.history_retention_days),
                if settings.retention_days.is_none() {
                    " (default)"
                } else {
                    ""
                }
            );
            if kept.is_empty() {
                println!("no previous versions kept");
            }
            for s in kept {
                println!(
                    "layer_history.\"{}\"  replaced {}  (catalogue version {})",
                    s.table,
                    s.taken_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    s.version
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "?".into())
                );
            }
        }
    }
    Ok(())
}

/// `citygrid layer restore-version`: the kept version becomes the layer again (the
/// current one is kept in its turn); every server reloads the layer.
pub async fn restore_version(config: &Config, args: RestoreArgs) -> anyhow::Result<()> {
    let pool = super::super::database(config).await?;
    let mut tx = pool.begin().await?;
    catalog::lock_layer(&mut *tx, &args.layer).await?;
    match history::restore_snapshot(&mut tx, &args.layer, &args.table).await? {
        history::RestoreOutcome::NoSnapshot => bail!(
            "layer {} has no kept version {:?} (see `citygrid layer history {}`)",
            args.layer,
            args.table.chars().take(80).collect::<String>(),
            args.layer
        ),
        history::RestoreOutcome::NoLayer => bail!(
            "no layer {:?} in the catalogue: it was deleted (see `citygrid layer list`)",
            args.layer
        ),
        history::RestoreOutcome::NotImported => bail!(
            "layer {} is maintained by citygrid itself, not imported: its versions are not swapped",
            args.layer
        ),
        history::RestoreOutcome::Restored { kept, version } => {
            citygrid_store::audit::record(
                &mut *tx,
                "cli",
                "layer_restore_version",
                serde_json::json!({"layer": args.layer, "table": args.table, "kept": kept}),
            )
            .await?;
            tx.commit().await?;
            println!(
                "layer {}: version {} restored (catalogue version {version}){}",
                args.layer,
                args.table,
                kept.map(|k| format!("; the replaced version is kept as {k}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(parse_days("30").unwrap(), Some(30));
        assert_eq!(parse_days("default").unwrap(), None);
        for bad in ["0", "-1", "x", "40000"] {
            assert!(parse_days(bad).is_err(), "{bad}");
        }
        assert!(parse_mode("repair").unwrap());
        assert!(!parse_mode("refuse").unwrap());
        assert!(parse_mode("fix").is_err());
    }
}

//! `citygrid layer show LAYER [--json]` and
//! `citygrid layer set-tile-properties LAYER [--include A,B | --all] [--exclude X,Y]
//! [--prop-min-zoom NAME=Z,…] [--feature-min-zoom FIELD=VALUE:Z,…] [--reset]`:
//! a layer's catalogue entry and its tile schema (see `citygrid_tiles::tileprops`);
//! `citygrid layer set-title LAYER [--zh T] [--en T] [--field FIELD=中文/English …]`:
//! its title and field names in both languages (`citygrid_store::layer_titles`);
//! `citygrid layer list`, `citygrid layer set-access LAYER --read … [--edit …]
//! [--owner DEPT]` and `citygrid layer delete LAYER [--yes]`: layer management
//! (`citygrid_store::layer_access`, the rules in `citygrid_grid_mgmt::layer_access`);
//! `citygrid layer set-serve-from LAYER memory|database`: where a vector layer's tiles
//! come from (`citygrid_store::layer_serve`).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context};
use citygrid_db::Config;
use citygrid_grid_mgmt::layer_access::{parse_edit, ReadPolicy};
use citygrid_store::catalog::{self, LayerMeta, TilePropertiesChange};
use citygrid_store::layer_access::{self, AccessChange, AccessOutcome, DeleteOutcome, LayerAccess};
use citygrid_store::layer_serve::{self, ServeFrom};
use citygrid_tiles::tileprops::{TileProperties, MAX_ZOOM};
use clap::{Args, Subcommand};

mod history;

/// Layer commands.
#[derive(Subcommand)]
pub enum LayerCommand {
    /// Show a layer's catalogue entry and its tile properties (which properties its
    /// vector tiles carry, from which zoom; which features appear from which zoom).
    Show {
        /// The layer id.
        layer: String,
        /// Print the tile properties as JSON (as `GET /api/admin/layers/{layer}/tile-properties`
        /// answers: `{"layer", "default", "tile_properties", "fields"}`).
        #[arg(long)]
        json: bool,
    },
    /// Choose what a vector layer's tiles carry. Options not given keep their current
    /// value (the default rule's when none was set); an empty value clears a list
    /// (`--exclude ''`). Every server drops the layer's cached tiles at once.
    SetTileProperties(SetArgs),
    /// Set a layer's title and field names in Chinese and English (what the layer
    /// list, popups and the embed page show in the reader's language).
    SetTitle(TitleArgs),
    /// How long a layer's history (its edits, the versions re-imports replaced) is
    /// kept: a number of days, or `default`. The server prunes older history.
    SetRetention(history::RetentionArgs),
    /// Whether invalid geometries sent in edits (OGC API – Features – Part 4) are
    /// refused with the reason (default) or repaired with ST_MakeValid.
    SetInvalidGeometry(history::InvalidGeometryArgs),
    /// A feature's edits (who, when, what), or without FID the layer's editing
    /// settings and the previous versions its re-imports kept.
    History(history::HistoryArgs),
    /// Make a version kept by a re-import (as `history LAYER` lists it) the layer
    /// again; the current version is kept in its turn. Every server reloads the layer.
    RestoreVersion(history::RestoreArgs),
    /// List every layer with its kind, features, owner and access.
    List {
        /// Print JSON (as `GET /api/admin/layers` answers).
        #[arg(long)]
        json: bool,
    },
    /// Set who may read and who may edit a layer, and its owning department. Every
    /// server applies it at once.
    SetAccess(AccessArgs),
    /// Where a vector layer's tiles come from: `memory` (the default: loaded into every
    /// server's memory) or `database` (not loaded; PostGIS makes each tile with
    /// ST_AsMVT, on a standby when one is configured, behind the tile cache — for a
    /// layer too big for memory). Every server applies it at once.
    SetServeFrom {
        /// The layer id.
        layer: String,
        /// `memory` or `database`.
        serve_from: String,
    },
    /// Delete a layer: its table, its catalogue row, and on every running server its
    /// in-memory index and cached tiles. Asks first unless --yes.
    Delete {
        /// The layer id.
        layer: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

/// `citygrid layer set-access`.
#[derive(Args)]
pub struct AccessArgs {
    /// The layer id.
    pub layer: String,
    /// Who may read: `public`, `users`, `departments:A,B`, `roles:R,S`, `admins`, or
    /// `default` (the server's: public when public_layers is on, else users); combine
    /// terms with `;` (`departments:police;roles:dispatcher`).
    #[arg(long)]
    pub read: Option<String>,
    /// Who may edit: `departments:A,B` (their department operators; the owner's always
    /// may), or `none`.
    #[arg(long)]
    pub edit: Option<String>,
    /// The owning department (`none`: the platform's).
    #[arg(long)]
    pub owner: Option<String>,
}

/// `citygrid layer set-title`.
#[derive(Args)]
pub struct TitleArgs {
    /// The layer id.
    pub layer: String,
    /// The title in Chinese (`''`: none).
    #[arg(long)]
    pub zh: Option<String>,
    /// The title in English (`''`: none).
    #[arg(long)]
    pub en: Option<String>,
    /// A field's names, `FIELD=中文/English` (repeat for more fields; `FIELD=/` removes
    /// them).
    #[arg(long = "field")]
    pub fields: Vec<String>,
}

/// `citygrid layer set-tile-properties`.
#[derive(Args)]
pub struct SetArgs {
    /// The layer id.
    pub layer: String,
    /// Only these fields go into tiles (comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["all", "reset"])]
    pub include: Option<Vec<String>>,
    /// Every field goes into tiles (clears the exclusions unless --exclude is given).
    #[arg(long, conflicts_with = "reset")]
    pub all: bool,
    /// These fields are left out (comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "reset")]
    pub exclude: Option<Vec<String>>,
    /// A property only from a zoom on: `name=14,ref=15`.
    #[arg(long, value_delimiter = ',', conflicts_with = "reset")]
    pub prop_min_zoom: Option<Vec<String>>,
    /// Features with a value only from a zoom on: `highway=residential:13,highway=service:14`.
    #[arg(long, value_delimiter = ',', conflicts_with = "reset")]
    pub feature_min_zoom: Option<Vec<String>>,
    /// Back to the default rule (every field; OSM and large layers leave out their tag
    /// bags).
    #[arg(long)]
    pub reset: bool,
}

/// Runs one `layer` command.
pub async fn run(command: LayerCommand, config: Config) -> anyhow::Result<()> {
    match command {
        LayerCommand::Show { layer, json } => {
            let pool = super::database(&config).await?;
            let meta = catalog::get(&pool, &layer)
                .await?
                .ok_or_else(|| no_layer(&layer))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&meta.tile_properties_json())?
                );
            } else {
                print!("{}", describe(&meta));
                let access = layer_access::get(&pool, &layer).await?.unwrap_or_default();
                println!("access: {}", access_line(&config, &layer, &access));
                if meta.kind == citygrid_tiles::LayerKind::Vector {
                    let from = layer_serve::get(&pool, &layer).await?.unwrap_or_default();
                    println!("serve from: {from}");
                }
            }
        }
        LayerCommand::SetTileProperties(args) => {
            let pool = super::database(&config).await?;
            let props = if args.reset {
                None
            } else {
                let current = catalog::get(&pool, &args.layer)
                    .await?
                    .ok_or_else(|| no_layer(&args.layer))?
                    .effective_tile_properties();
                Some(apply(current, &args)?)
            };
            let mut tx = pool.begin().await?;
            let change = catalog::set_tile_properties(&mut tx, &args.layer, props.as_ref()).await?;
            let meta = match change {
                TilePropertiesChange::Saved(meta) => meta,
                TilePropertiesChange::NoLayer => return Err(no_layer(&args.layer)),
                TilePropertiesChange::NotVector(kind) => bail!(
                    "layer {} is a {kind} layer: tile properties are for vector layers",
                    args.layer
                ),
                TilePropertiesChange::Invalid(e) => return Err(e.into()),
            };
            tx.commit().await?;
            print!("{}", describe(&meta));
        }
        LayerCommand::SetTitle(args) => set_title(&config, args).await?,
        LayerCommand::SetRetention(args) => history::set_retention(&config, args).await?,
        LayerCommand::SetInvalidGeometry(args) => {
            history::set_invalid_geometry(&config, args).await?
        }
        LayerCommand::History(args) => history::show(&config, args).await?,
        LayerCommand::RestoreVersion(args) => history::restore_version(&config, args).await?,
        LayerCommand::List { json } => list(&config, json).await?,
        LayerCommand::SetAccess(args) => set_access(&config, args).await?,
        LayerCommand::SetServeFrom { layer, serve_from } => {
            set_serve_from(&config, &layer, &serve_from).await?
        }
        LayerCommand::Delete { layer, yes } => delete(&config, &layer, yes).await?,
    }
    Ok(())
}

/// A layer id's form, checked before any lookup.
fn check_id(id: &str) -> anyhow::Result<()> {
    if citygrid_db::is_identifier(id, 48) {
        Ok(())
    } else {
        bail!(
            "{:?} is not a layer id: layer ids are [a-z0-9_]+",
            id.chars().take(64).collect::<String>()
        )
    }
}

/// The read policy of a layer without one of its own, on a server with `config`.
fn default_read(config: &Config) -> ReadPolicy {
    if config.public_layers {
        ReadPolicy::public()
    } else {
        ReadPolicy::users()
    }
}

/// One line of a layer's access: `owner …, read …, edit …`.
fn access_line(config: &Config, id: &str, access: &LayerAccess) -> String {
    let read = match &access.read {
        Some(r) => r.to_string(),
        None => format!("{} (default)", default_read(config)),
    };
    let read = if id == "cases" && config.cases_public_view != "status" {
        format!("{read}; anonymous: hidden (cases_public_view)")
    } else {
        read
    };
    format!(
        "owner {}, read {read}, edit {}",
        access.owner.as_deref().unwrap_or("-"),
        if access.edit.is_empty() {
            "-".to_string()
        } else {
            access.edit.join(",")
        }
    )
}

/// `citygrid layer list`.
async fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let pool = super::database(config).await?;
    let layers = catalog::load(&pool).await?;
    let access = layer_access::all(&pool).await?;
    let database = layer_serve::database_layers(&pool).await?;
    let serve_from = |id: &str| {
        if database.contains(id) {
            ServeFrom::Database
        } else {
            ServeFrom::Memory
        }
    };
    if json {
        let rows: Vec<serde_json::Value> = layers
            .iter()
            .map(|m| {
                let a = access.get(&m.id).cloned().unwrap_or_default();
                serde_json::json!({
                    "id": m.id, "title": m.title, "kind": m.kind,
                    "feature_count": m.feature_count, "version": m.version,
                    "serve_from": serve_from(&m.id),
                    "access": {
                        "owner": a.owner,
                        "read": a.policy(&default_read(config)).read.to_string(),
                        "read_set": a.read.map(|r| r.to_string()),
                        "edit": a.edit,
                    },
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"layers": rows}))?
        );
        return Ok(());
    }
    for m in layers.iter() {
        let a = access.get(&m.id).cloned().unwrap_or_default();
        let kind = match (m.kind, serve_from(&m.id)) {
            (citygrid_tiles::LayerKind::Vector, ServeFrom::Database) => {
                format!("{} (from the database)", m.kind)
            }
            _ => m.kind.to_string(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}",
            m.id,
            kind,
            m.feature_count,
            access_line(config, &m.id, &a),
            m.title
        );
    }
    Ok(())
}

/// `citygrid layer set-access`: parsed and checked like `PUT
/// /api/admin/layers/{layer}/access`; audited.
async fn set_access(config: &Config, args: AccessArgs) -> anyhow::Result<()> {
    check_id(&args.layer)?;
    let mut change = AccessChange::default();
    if let Some(read) = &args.read {
        change.read = Some(if read.trim() == "default" {
            None
        } else {
            Some(
                read.parse::<ReadPolicy>()
                    .map_err(|e| anyhow!("--read: {e}"))?,
            )
        });
    }
    if let Some(edit) = &args.edit {
        change.edit = Some(parse_edit(edit).map_err(|e| anyhow!("--edit: {e}"))?);
    }
    if let Some(owner) = &args.owner {
        change.owner = Some(match owner.trim() {
            "none" | "" => None,
            code => match parse_edit(code)
                .map_err(|e| anyhow!("--owner: {e}"))?
                .as_slice()
            {
                [one] => Some(one.clone()),
                _ => bail!("--owner: give one department code (or none)"),
            },
        });
    }
    if change == AccessChange::default() {
        bail!("nothing to change: give --read, --edit or --owner");
    }
    let pool = super::database(config).await?;
    let mut tx = pool.begin().await?;
    let access = match layer_access::set(&mut tx, &args.layer, &change).await? {
        AccessOutcome::Saved(a) => a,
        AccessOutcome::NoLayer => return Err(no_layer(&args.layer)),
        AccessOutcome::Invalid(e) => bail!("{e}"),
    };
    citygrid_store::audit::record(
        &mut *tx,
        "cli",
        "layer_access",
        serde_json::json!({
            "layer": args.layer,
            "owner": access.owner,
            "read": access.read.as_ref().map(|r| r.to_string()),
            "edit": access.edit,
        }),
    )
    .await?;
    tx.commit().await?;
    println!(
        "{}: {}",
        args.layer,
        access_line(config, &args.layer, &access)
    );
    Ok(())
}

/// `citygrid layer set-serve-from`: checked like `PUT
/// /api/admin/layers/{layer}/serve-from`; audited.
async fn set_serve_from(config: &Config, layer: &str, value: &str) -> anyhow::Result<()> {
    check_id(layer)?;
    let serve_from: ServeFrom = value.parse()?;
    let pool = super::database(config).await?;
    let mut tx = pool.begin().await?;
    match layer_serve::set(&mut tx, layer, serve_from).await? {
        layer_serve::SetOutcome::Saved => {}
        layer_serve::SetOutcome::NoLayer => return Err(no_layer(layer)),
        layer_serve::SetOutcome::NotVector(kind) => bail!(
            "layer {layer} is a {kind} layer: its tiles are always read from the database; \
             serve_from is for vector layers"
        ),
    }
    citygrid_store::audit::record(
        &mut *tx,
        "cli",
        "layer_serve_from",
        serde_json::json!({ "layer": layer, "serve_from": serve_from }),
    )
    .await?;
    tx.commit().await?;
    println!("{layer}: serve from {serve_from}");
    Ok(())
}

/// `citygrid layer delete`: asks first on a terminal unless `--yes`; audited.
async fn delete(config: &Config, layer: &str, yes: bool) -> anyhow::Result<()> {
    check_id(layer)?;
    if !yes {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            bail!("deleting layer {layer} cannot be undone: add --yes to confirm");
        }
        print!("delete layer {layer}, its table and its tiles on every server? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not deleted");
        }
    }
    let pool = super::database(config).await?;
    let mut tx = pool.begin().await?;
    let kind = match layer_access::delete(&mut tx, layer).await? {
        DeleteOutcome::Deleted { kind } => kind,
        DeleteOutcome::NoLayer => return Err(no_layer(layer)),
        DeleteOutcome::Managed => {
            bail!("layer {layer} belongs to grid management and cannot be deleted")
        }
    };
    citygrid_store::audit::record(
        &mut *tx,
        "cli",
        "layer_delete",
        serde_json::json!({"layer": layer, "kind": kind}),
    )
    .await?;
    tx.commit().await?;
    println!("layer {layer} deleted");
    Ok(())
}

/// `citygrid layer set-title`: checked like `PUT /api/admin/layers/{layer}/titles`;
/// every server reloads its catalogue.
async fn set_title(config: &Config, args: TitleArgs) -> anyhow::Result<()> {
    use citygrid_store::layer_titles::{self, TitlesChange};
    use serde_json::{Map, Value};
    let mut fields = Map::new();
    for pair in &args.fields {
        let (name, names) = pair
            .split_once('=')
            .and_then(|(f, n)| Some((f.trim(), n.split_once('/')?)))
            .ok_or_else(|| {
                anyhow!("--field {pair:?}: write FIELD=中文/English, e.g. name=名称/Name")
            })?;
        let mut titles = Map::new();
        for (lang, text) in [("zh", names.0.trim()), ("en", names.1.trim())] {
            if !text.is_empty() {
                titles.insert(lang.into(), Value::String(text.into()));
            }
        }
        fields.insert(name.to_string(), Value::Object(titles));
    }
    let change = TitlesChange {
        title_zh: args.zh,
        title_en: args.en,
        field_titles: (!fields.is_empty()).then_some(fields),
    };
    let pool = super::database(config).await?;
    let meta = catalog::get(&pool, &args.layer)
        .await?
        .ok_or_else(|| no_layer(&args.layer))?;
    let names: Vec<&str> = meta.field_types().into_iter().map(|(n, _)| n).collect();
    layer_titles::check(&change, &names).map_err(|e| anyhow!("layer {}: {e}", args.layer))?;
    let titles = layer_titles::set(&pool, &args.layer, &change)
        .await?
        .ok_or_else(|| no_layer(&args.layer))?;
    println!(
        "{}: {} / {}",
        args.layer,
        titles.title_zh.as_deref().unwrap_or("-"),
        titles.title_en.as_deref().unwrap_or("-")
    );
    if let Some(fields) = titles.field_titles.as_object() {
        for (name, t) in fields {
            let get = |l: &str| t.get(l).and_then(Value::as_str).unwrap_or("-").to_string();
            println!("  {name}: {} / {}", get("zh"), get("en"));
        }
    }
    Ok(())
}

fn no_layer(id: &str) -> anyhow::Error {
    anyhow!("no layer {id:?} in the catalogue")
}

/// `props` changed by the options given.
fn apply(mut props: TileProperties, args: &SetArgs) -> anyhow::Result<TileProperties> {
    let list = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    if let Some(include) = &args.include {
        props.include = Some(list(include));
    }
    if args.all {
        props.include = None;
        props.exclude.clear();
    }
    if let Some(exclude) = &args.exclude {
        props.exclude = list(exclude);
    }
    if let Some(pairs) = &args.prop_min_zoom {
        props.min_zoom = BTreeMap::new();
        for pair in list(pairs) {
            let (name, zoom) = pair.split_once('=').ok_or_else(|| {
                anyhow!("--prop-min-zoom {pair:?}: write NAME=ZOOM, e.g. name=14")
            })?;
            props.min_zoom.insert(
                name.trim().to_string(),
                zoom_arg("--prop-min-zoom", &pair, zoom)?,
            );
        }
    }
    if let Some(rules) = &args.feature_min_zoom {
        props.feature_min_zoom = BTreeMap::new();
        for rule in list(rules) {
            let parsed = rule
                .split_once('=')
                .and_then(|(field, rest)| Some((field, rest.rsplit_once(':')?)));
            let Some((field, (value, zoom))) = parsed else {
                bail!("--feature-min-zoom {rule:?}: write FIELD=VALUE:ZOOM, e.g. highway=residential:13");
            };
            let zoom = zoom_arg("--feature-min-zoom", &rule, zoom)?;
            props
                .feature_min_zoom
                .entry(field.trim().to_string())
                .or_default()
                .insert(value.to_string(), zoom);
        }
    }
    Ok(props)
}

fn zoom_arg(option: &str, given: &str, zoom: &str) -> anyhow::Result<u8> {
    zoom.trim()
        .parse::<u8>()
        .ok()
        .filter(|z| *z <= MAX_ZOOM)
        .with_context(|| {
            format!("{option} {given:?}: the zoom must be a number from 0 to {MAX_ZOOM}")
        })
}

/// `layer show`'s text.
fn describe(meta: &LayerMeta) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "layer {}: {} ({})", meta.id, meta.title, meta.kind);
    if let Some(g) = &meta.geometry_type {
        let _ = writeln!(out, "geometry: {g}");
    }
    let _ = writeln!(
        out,
        "features: {}, zooms {}-{}, version {}",
        meta.feature_count, meta.min_zoom, meta.max_zoom, meta.version
    );
    if meta.kind != citygrid_tiles::LayerKind::Vector {
        return out;
    }
    let props = meta.effective_tile_properties();
    let _ = writeln!(
        out,
        "tile properties: {}",
        if meta.tile_properties.is_some() {
            "set (layer set-tile-properties)"
        } else {
            "the default rule (none set)"
        }
    );
    let fields = meta.field_types();
    let shown: Vec<String> = fields
        .iter()
        .filter(|(name, _)| props.includes(name))
        .map(|(name, _)| match props.property_min_zoom(name) {
            0 => name.to_string(),
            z => format!("{name} (from z{z})"),
        })
        .collect();
    let left_out: Vec<&str> = fields
        .iter()
        .filter(|(name, _)| !props.includes(name))
        .map(|(name, _)| *name)
        .collect();
    let or_none = |v: Vec<String>| {
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(out, "  in tiles: {}", or_none(shown));
    let _ = writeln!(
        out,
        "  left out: {}",
        or_none(left_out.iter().map(|s| s.to_string()).collect())
    );
    let rules: Vec<String> = props
        .feature_min_zoom
        .iter()
        .flat_map(|(field, values)| {
            values
                .iter()
                .map(move |(value, z)| format!("{field}={value} from z{z}"))
        })
        .collect();
    let _ = writeln!(
        out,
        "  features: {}",
        if rules.is_empty() {
            "all at every zoom".to_string()
        } else {
            rules.join(", ")
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> SetArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            set: SetArgs,
        }
        let mut argv = vec!["set", "roads"];
        argv.extend_from_slice(line);
        Cli::try_parse_from(argv).expect("parses").set
    }

    #[test]
    fn options_change_only_their_part() {
        let start = TileProperties {
            exclude: vec!["tags".into()],
            ..TileProperties::default()
        };
        let p = apply(
            start.clone(),
            &args(&["--include", "name,highway", "--prop-min-zoom", "name=14"]),
        )
        .unwrap();
        assert_eq!(p.include, Some(vec!["name".into(), "highway".into()]));
        assert_eq!(p.exclude, ["tags"]);
        assert_eq!(p.min_zoom.get("name"), Some(&14));

        let p = apply(start.clone(), &args(&["--all"])).unwrap();
        assert_eq!(p, TileProperties::all());
        let p = apply(start.clone(), &args(&["--exclude", ""])).unwrap();
        assert!(p.exclude.is_empty());

        let p = apply(
            start,
            &args(&[
                "--feature-min-zoom",
                "highway=residential:13,highway=a:b:14,lit=true:9",
            ]),
        )
        .unwrap();
        assert_eq!(p.feature_min_zoom["highway"]["residential"], 13);
        assert_eq!(p.feature_min_zoom["highway"]["a:b"], 14);
        assert_eq!(p.feature_min_zoom["lit"]["true"], 9);
    }

    #[test]
    fn bad_options_say_what_to_write() {
        for (line, says) in [
            (&["--prop-min-zoom", "name"][..], "NAME=ZOOM"),
            (&["--prop-min-zoom", "name=x"], "from 0 to 24"),
            (&["--prop-min-zoom", "name=25"], "from 0 to 24"),
            (
                &["--feature-min-zoom", "highway=residential"],
                "FIELD=VALUE:ZOOM",
            ),
            (&["--feature-min-zoom", "highway:13"], "FIELD=VALUE:ZOOM"),
        ] {
            let err = apply(TileProperties::all(), &args(line))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{line:?}: {err}");
        }
    }
}

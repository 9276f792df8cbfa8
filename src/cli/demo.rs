//! `citygrid demo`: the local PostGIS, the schema, the sample city and demo
//! accounts, then the service.

use std::path::{Path, PathBuf};

use anyhow::Context;
use citygrid_db::Config;
use citygrid_spatial_api::accounts;
use citygrid_spatial_api::auth::Role;
use clap::{Args, Parser};
use sqlx::PgPool;

/// `citygrid demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long)]
    pub bind: Option<String>,
    /// Where the sample data is (default: ./data).
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
}

/// The demo accounts: (user name, role, department).
const DEMO_USERS: &[(&str, Role, Option<&str>)] = &[
    ("admin", Role::Admin, None),
    ("inspector", Role::Inspector, None),
    ("acceptor", Role::Acceptor, None),
    ("leader", Role::ShiftLeader, None),
    ("dispatcher", Role::Dispatcher, None),
    ("water", Role::Department, Some("water")),
];

/// Random demo passwords, made on first run and kept in `$CITYGRID_HOME/demo-accounts.txt`.
fn demo_passwords(home: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let file = home.join("demo-accounts.txt");
    if let Ok(text) = std::fs::read_to_string(&file) {
        let pairs: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect();
        if pairs.len() == DEMO_USERS.len() {
            return Ok(pairs);
        }
    }
    std::fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let pairs: Vec<(String, String)> = DEMO_USERS
        .iter()
        .map(|(u, _, _)| {
            let secret = citygrid_spatial_api::auth::secret::new_secret("x");
            (u.to_string(), format!("demo-{}", &secret[2..12]))
        })
        .collect();
    let text: String = pairs.iter().map(|(u, p)| format!("{u} {p}\n")).collect();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&file)
            .with_context(|| format!("cannot write {}", file.display()))?;
        f.write_all(text.as_bytes())?;
    }
    Ok(pairs)
}

async fn seed_accounts(pool: &PgPool, home: &Path) -> anyhow::Result<Vec<(String, String)>> {
    citygrid_store::accounts::ensure_demo_department(pool).await?;
    let passwords = demo_passwords(home)?;
    for ((name, role, department), (_, password)) in DEMO_USERS.iter().zip(&passwords) {
        accounts::upsert_user(pool, name, password, *role, *department).await?;
    }
    Ok(passwords)
}

/// Parses a subcommand's arguments the way the command line would.
#[derive(Parser)]
struct Wrap<T: Args> {
    #[command(flatten)]
    args: T,
}

fn parse<T: Args>(argv: &[&str]) -> anyhow::Result<T> {
    let argv = std::iter::once("citygrid").chain(argv.iter().copied());
    Ok(Wrap::<T>::try_parse_from(argv)?.args)
}

async fn has_layer(pool: &PgPool, id: &str) -> anyhow::Result<bool> {
    Ok(citygrid_store::catalog::exists(pool, id).await?)
}

/// Imports the bundled sample city once: the Helsinki OSM extract (layers and
/// city components) and the sample orthophoto.
async fn import_sample(pool: &PgPool, config: &Config, data: &Path) -> anyhow::Result<()> {
    let osm = data.join("helsinki.osm.pbf");
    if !has_layer(pool, "osm_buildings").await? {
        anyhow::ensure!(
            osm.exists(),
            "the sample data {} is missing: run the demo from the project folder or pass --data",
            osm.display()
        );
        println!("importing the sample city {} …", osm.display());
        let args: super::import::OsmArgs = parse(&[&osm.to_string_lossy()])?;
        super::import::run(super::import::ImportCommand::Osm(args), config.clone()).await?;
    }
    let ortho = data.join("ortho_osbs_10cm_utm17.tif");
    if !has_layer(pool, "ortho_osbs").await? && ortho.exists() {
        println!("importing the sample orthophoto {} …", ortho.display());
        let args: super::raster::RasterArgs = parse(&[
            &ortho.to_string_lossy(),
            "--layer",
            "ortho_osbs",
            "--title",
            "NEON orthophoto 10 cm (sample)",
        ])?;
        super::raster::run(args, config.clone()).await?;
    }
    Ok(())
}

/// Runs the demo.
pub async fn run(args: DemoArgs, mut config: Config) -> anyhow::Result<()> {
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    let pool = super::database(&config).await?;
    import_sample(&pool, &config, &args.data).await?;
    super::seed::demo(&pool)
        .await
        .context("cannot seed the demo's grid-management data")?;
    let passwords = seed_accounts(&pool, &config.home).await?;
    pool.close().await;
    println!(
        "citygrid demo accounts (also in {}):",
        config.home.join("demo-accounts.txt").display()
    );
    for ((name, role, _), (_, password)) in DEMO_USERS.iter().zip(&passwords) {
        println!("  {name:<11} {:<13} password {password}", role.as_str());
    }
    println!("open http://{} in a browser", config.bind);
    super::serve::serve(config).await
}

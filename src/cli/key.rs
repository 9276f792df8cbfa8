//! `citygrid key create --name NAME [--department CODE] [--layers A,B] [--origins URL,…]
//! [--scopes maps,open311:write]`,
//! `citygrid key list` and `citygrid key revoke ID|PREFIX`.

use citygrid_db::Config;
use citygrid_spatial_api::accounts;
use citygrid_spatial_api::auth::KeyScope;
use clap::{Args, Subcommand};

/// API key commands.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key for embedding maps; the key is printed once and not stored.
    Create(CreateArgs),
    /// List the API keys (id, name, prefix, department, layers, origins, scopes, revoked).
    List,
    /// Revoke an API key by id or by the prefix `key list` shows; a running server
    /// refuses it within its credential cache's seconds.
    Revoke {
        /// The key's id or prefix.
        key: String,
    },
}

/// `citygrid key create`.
#[derive(Args)]
pub struct CreateArgs {
    /// A name that says who uses the key.
    #[arg(long)]
    pub name: String,
    /// The department the key is issued to.
    #[arg(long)]
    pub department: Option<String>,
    /// Layers the key may read (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    pub layers: Option<Vec<String>>,
    /// Browser origins the key may be used from (comma-separated; default: any).
    #[arg(long, value_delimiter = ',')]
    pub origins: Option<Vec<String>>,
    /// What the key may do (comma-separated): `maps` (read map layers) and
    /// `open311:write` (file Open311 requests); default: maps.
    #[arg(long, value_delimiter = ',', value_parser = parse_scope)]
    pub scopes: Vec<KeyScope>,
}

fn parse_scope(s: &str) -> Result<KeyScope, String> {
    s.parse()
}

/// Runs one `key` command.
pub async fn run(command: KeyCommand, config: Config) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create(args) => {
            let pool = super::database(&config).await?;
            let key = accounts::create_key(
                &pool,
                &args.name,
                args.department.as_deref(),
                args.layers,
                args.origins,
                &args.scopes,
            )
            .await?;
            println!("{}", key.key);
            eprintln!(
                "API key {} (id {}) created; it is shown only now — send it as X-API-Key or ?key=",
                args.name, key.id
            );
        }
        KeyCommand::List => {
            let pool = super::database(&config).await?;
            let keys = accounts::list_keys(&pool).await?;
            println!("id\tname\tprefix\tdepartment\tlayers\torigins\tscopes\trevoked");
            let list =
                |v: &Option<Vec<String>>| v.as_ref().map_or("*".to_string(), |v| v.join(","));
            for k in keys {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.name,
                    k.key_prefix,
                    k.department_code.as_deref().unwrap_or("-"),
                    list(&k.layers),
                    list(&k.origins),
                    k.scopes.join(","),
                    k.revoked_at.map_or("-".to_string(), |t| t.to_rfc3339()),
                );
            }
        }
        KeyCommand::Revoke { key } => {
            let pool = super::database(&config).await?;
            let id = accounts::revoke_key(&pool, &key).await?;
            println!("API key {id} revoked");
        }
    }
    Ok(())
}

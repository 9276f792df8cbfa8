//! `citygrid user add NAME --role ROLE [--department CODE]` and
//! `citygrid user revoke NAME [--disable]` (a lost phone: end every session at once).

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use citygrid_db::Config;
use citygrid_spatial_api::accounts;
use citygrid_spatial_api::auth::Role;
use citygrid_store::accounts as store;
use clap::{Args, Subcommand};

/// Account commands.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user (or reset an existing user's password, role and department;
    /// a reset ends every session of the user).
    /// The password is read from standard input, or prompted for on a terminal.
    Add(AddArgs),
    /// End every session of a user (a lost or stolen phone); with `--disable` the
    /// account also cannot sign in again until `user add` sets a new password.
    /// A running server honours it within its credential cache's 10 seconds.
    Revoke(RevokeArgs),
}

/// `citygrid user revoke`.
#[derive(Args)]
pub struct RevokeArgs {
    /// The login name.
    pub name: String,
    /// Also deactivate the account.
    #[arg(long)]
    pub disable: bool,
}

/// `citygrid user add`.
#[derive(Args)]
pub struct AddArgs {
    /// The login name.
    pub name: String,
    /// inspector, acceptor, shift_leader, dispatcher, department or admin.
    #[arg(long)]
    pub role: String,
    /// The department code (required for the department role).
    #[arg(long)]
    pub department: Option<String>,
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        let second = rpassword::prompt_password("again: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

/// Runs one `user` command.
pub async fn run(command: UserCommand, config: Config) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => {
            let role: Role = args.role.parse().map_err(anyhow::Error::msg)?;
            let password = read_password()?;
            let pool = super::database(&config).await?;
            let id = accounts::upsert_user(
                &pool,
                &args.name,
                &password,
                role,
                args.department.as_deref(),
            )
            .await?;
            println!("user {} (id {id}) has role {role}", args.name);
        }
        UserCommand::Revoke(args) => {
            let pool = super::database(&config).await?;
            let mut tx = pool.begin().await?;
            let id = store::disable_user(&mut *tx, &args.name, args.disable).await?;
            let Some(id) = id else {
                bail!("no user {:?}", args.name);
            };
            let ended = store::end_sessions(&mut *tx, id).await?;
            citygrid_store::audit::record(
                &mut *tx,
                "cli",
                "user_revoke",
                serde_json::json!({"user": args.name, "user_id": id, "sessions_ended": ended, "disabled": args.disable}),
            )
            .await?;
            tx.commit().await?;
            println!(
                "user {} (id {id}): {ended} session(s) ended{}",
                args.name,
                if args.disable {
                    ", account disabled"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

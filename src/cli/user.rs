//! `citygrid user add NAME --role ROLE [--department CODE]`.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use citygrid_db::Config;
use citygrid_spatial_api::accounts;
use citygrid_spatial_api::auth::Role;
use clap::{Args, Subcommand};

/// Account commands.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user (or reset an existing user's password, role and department).
    /// The password is read from standard input, or prompted for on a terminal.
    Add(AddArgs),
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
    }
    Ok(())
}

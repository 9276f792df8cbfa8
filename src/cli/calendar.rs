//! `citygrid calendar import FILE [--check]`, `citygrid calendar list` and
//! `citygrid calendar statutory YEAR`: China's public holidays of the working calendar.
//!
//! A year's arrangement (the State Council's periods off and make-up working days) is
//! imported from JSON or CSV (the format: README, `data/calendar/holidays-2025.json`,
//! `data/calendar/holidays-2026.csv`), validated, and stored with its source; a running
//! server picks it up at once (the table's change notice).

use std::io::Read;

use anyhow::Context;
use citygrid_db::Config;
use citygrid_grid_mgmt::holidays::{self, Arrangement};
use clap::Subcommand;

/// An arrangement file is at most this long (a real one is about 1 KiB).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Calendar commands.
#[derive(Subcommand)]
pub enum CalendarCommand {
    /// Import a year's holiday arrangement (JSON or CSV), replacing that year's.
    Import {
        /// The file (`-` for standard input).
        file: String,
        /// Only validate the file; store nothing.
        #[arg(long)]
        check: bool,
    },
    /// List the imported arrangements (year, periods off, make-up days, source).
    List,
    /// Print the statutory public holidays of a year (computed; no database needed).
    Statutory {
        /// The year.
        year: i32,
    },
}

/// Runs one `calendar` command.
pub async fn run(command: CalendarCommand, config: Config) -> anyhow::Result<()> {
    match command {
        CalendarCommand::Import { file, check } => {
            let text = read_bounded(&file)?;
            let a = Arrangement::parse(&text).with_context(|| format!("{file} is refused"))?;
            let summary = format!(
                "{}: {} periods off ({} days, bridged weekdays {}), {} make-up working days",
                a.year(),
                a.spec().periods.len(),
                a.days_off().len(),
                list(&a.bridged_days()),
                a.makeup_workdays().len()
            );
            if check {
                println!("{file} is valid: {summary}");
                return Ok(());
            }
            let pool = super::database(&config).await?;
            let replaced = citygrid_store::arrangements::put(&pool, &a, "cli").await?;
            println!(
                "{} the arrangement of {summary} (source: {})",
                if replaced { "replaced" } else { "imported" },
                a.source()
            );
        }
        CalendarCommand::List => {
            let pool = super::database(&config).await?;
            println!("year\tperiods off\tmake-up working days\timported\tby\tsource");
            for row in citygrid_store::arrangements::list(&pool).await? {
                let (periods, makeup) = match row.arrangement() {
                    Some(a) => (
                        a.spec()
                            .periods
                            .iter()
                            .map(|p| format!("{} {}–{}", p.name, p.from, p.to))
                            .collect::<Vec<_>>()
                            .join("; "),
                        list(&a.makeup_workdays().iter().copied().collect::<Vec<_>>()),
                    ),
                    None => ("(no longer valid)".into(), String::new()),
                };
                println!(
                    "{}\t{periods}\t{makeup}\t{}\t{}\t{}",
                    row.year,
                    row.imported_at.format("%Y-%m-%d %H:%M"),
                    row.imported_by.unwrap_or_default(),
                    row.source.replace(['\t', '\n'], " ")
                );
            }
        }
        CalendarCommand::Statutory { year } => {
            for h in holidays::statutory_holidays(year)?.iter() {
                println!(
                    "{}\t{}\t{}",
                    h.date,
                    h.festival.name_zh(),
                    h.festival.name_en()
                );
            }
        }
    }
    Ok(())
}

fn list(days: &[chrono::NaiveDate]) -> String {
    if days.is_empty() {
        return "none".into();
    }
    days.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a file (or standard input) of at most [`MAX_FILE_BYTES`].
fn read_bounded(file: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    let reader: Box<dyn Read> = if file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(file).with_context(|| format!("cannot read {file}"))?)
    };
    reader
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {file}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        anyhow::bail!("{file} is larger than {MAX_FILE_BYTES} bytes: not an arrangement");
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{file} is not UTF-8 text"))
}

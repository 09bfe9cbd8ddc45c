//! The `jiayi` command: serve (the default), import CSV files, back up an SQLite database,
//! print the OpenAPI document.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jiayi::import::ImportKind;

#[derive(Parser)]
#[command(
    name = "jiayi",
    version,
    about = "家医 jiayi: sync and coverage server for family-doctor teams"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). Configuration comes from the environment; see README.
    Serve,
    /// Import a CSV file (regions, population, teams, users, packages) into DATABASE_URL.
    Import {
        /// What the file holds.
        #[arg(value_enum)]
        kind: ImportKind,
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// Copy the SQLite database named by DATABASE_URL to DEST, consistently, while the
    /// server runs (PostgreSQL: use pg_dump, docs/operations.md "Backups").
    Backup {
        /// The copy to write (must not exist yet).
        dest: PathBuf,
    },
    /// Print the OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    jiayi::telemetry::init();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => jiayi::serve(),
        Command::Import { kind, file } => jiayi::import_file(kind, &file),
        Command::Backup { dest } => jiayi::backup(&dest),
        Command::Openapi => {
            print!("{}", jiayi::openapi::json());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jiayi: {e}");
            ExitCode::FAILURE
        }
    }
}

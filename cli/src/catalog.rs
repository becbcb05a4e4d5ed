//! `karaoke import-catalog FILE`: loads a karaoke catalog CSV into the table, resumably.

use std::io::Write;
use std::path::Path;

use karaoke_shared::catalog::import::import_file;
use karaoke_shared::store::Store;

use crate::progress::thousands;
use crate::stack::{env, CliResult};

pub async fn import(args: &[String]) -> CliResult<()> {
    let mut path = None;
    let mut name = None;
    let mut dry_run = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dry-run" => dry_run = true,
            "--name" => name = it.next().cloned(),
            other if !other.starts_with("--") && path.is_none() => path = Some(other.to_string()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let path = path.ok_or("usage: karaoke import-catalog FILE [--name NAME] [--dry-run]")?;
    // The import's restart point is named after the file unless told otherwise.
    let name = name.unwrap_or_else(|| {
        Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "catalog".into())
    });
    let (db, _) = karaoke_shared::aws::clients().await;
    let store = Store::new(db, env("TABLE_NAME")?);
    let mut stdout = std::io::stdout();
    let report = import_file(&store, Path::new(&path), &name, dry_run, |p| {
        let percent = (p.bytes_read * 100)
            .checked_div(p.total_bytes)
            .unwrap_or(100);
        let _ = write!(
            stdout,
            "\r{percent:>3}%  line {}  imported {}  bad rows {}\x1b[K",
            thousands(p.line),
            thousands(p.imported),
            p.bad_rows
        );
        let _ = stdout.flush();
    })
    .await
    .map_err(|e| e.to_string())?;
    println!();
    for bad in &report.skipped_bad {
        println!("  line {}: {}", bad.line, bad.message);
    }
    if report.bad_rows as usize > report.skipped_bad.len() {
        println!(
            "  ... and {} more bad rows",
            report.bad_rows as usize - report.skipped_bad.len()
        );
    }
    if let Some(line) = report.resumed_from_line {
        println!(
            "Resumed after line {line} ({} rows were already imported).",
            thousands(report.skipped_before_resume)
        );
    }
    println!(
        "{} {} songs of {} rows ({} bad){}.",
        if dry_run { "Would import" } else { "Imported" },
        thousands(report.imported),
        thousands(report.total_rows),
        thousands(report.bad_rows),
        if dry_run { "; nothing was written" } else { "" }
    );
    Ok(())
}

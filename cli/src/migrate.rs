//! `karaoke migrate-legacy FILE`: imports the older system's `user_songs` export (JSON lines),
//! resumably and idempotently (see `docs/MIGRATION.md`).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use karaoke_shared::migrate::{migrate_file, RunOptions};
use karaoke_shared::store::Store;

use crate::progress::thousands;
use crate::stack::{env, CliResult};

const USAGE: &str = "usage: karaoke migrate-legacy FILE [--name NAME] [--dry-run]";

pub async fn run(args: &[String]) -> CliResult<()> {
    let mut path = None;
    let mut name = None;
    let mut dry_run = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dry-run" => dry_run = true,
            "--name" => name = Some(it.next().cloned().ok_or(USAGE)?),
            other if !other.starts_with("--") && path.is_none() => path = Some(other.to_string()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let path = path.ok_or(USAGE)?;
    // The migration's restart point is named after the file unless told otherwise.
    let name = name.unwrap_or_else(|| {
        Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "legacy".into())
    });
    let (db, _) = karaoke_shared::aws::clients().await;
    let store = Store::new(db, env("TABLE_NAME")?);
    let mut options = RunOptions::new(&name);
    options.dry_run = dry_run;
    let started = Instant::now();
    let mut stdout = std::io::stdout();
    let report = migrate_file(&store, Path::new(&path), &options, |p| {
        let percent = (p.bytes_read * 100)
            .checked_div(p.total_bytes)
            .unwrap_or(100);
        let _ = write!(
            stdout,
            "\r{percent:>3}%  line {}  applied {}  unchanged {}  rejected {}\x1b[K",
            thousands(p.line),
            thousands(p.applied),
            thousands(p.skipped_unchanged),
            thousands(p.rejected)
        );
        let _ = stdout.flush();
    })
    .await
    .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    println!();
    for bad in &report.rejected_details {
        println!("  line {}: {}", bad.line, bad.reason);
    }
    if report.rejected as usize > report.rejected_details.len() {
        println!(
            "  ... and {} more rejected lines",
            report.rejected as usize - report.rejected_details.len()
        );
    }
    if let Some(line) = report.resumed_from_line {
        println!(
            "Resumed after line {line} ({} records were already applied).",
            thousands(report.skipped_before_resume)
        );
    }
    let would = if dry_run { "would be " } else { "" };
    println!(
        "{} records in {:.1} s ({:.0} records/s){}:",
        thousands(report.records),
        elapsed.as_secs_f64(),
        report.records as f64 / elapsed.as_secs_f64().max(0.001),
        if dry_run {
            "; dry run, nothing was written"
        } else {
            ""
        }
    );
    let rows = [
        ("applied", report.applied, "records that change something"),
        (
            "skipped_unchanged",
            report.skipped_unchanged,
            "records already migrated",
        ),
        (
            "superseded",
            report.superseded,
            "records whose data a real sync or the user already owns",
        ),
        ("rejected", report.rejected, "bad records (lines above)"),
        (
            "migrated_songs",
            report.migrated_songs,
            "records whose song row was written",
        ),
        (
            "known_songs",
            report.known_songs,
            "records whose known song was written",
        ),
        ("sung", report.sung, "records whose sung record was written"),
        (
            "kept_newer",
            report.kept_newer,
            "records with a part held back for newer data",
        ),
        (
            "notes_truncated",
            report.notes_truncated,
            "notes cut to 500 characters",
        ),
    ];
    for (label, count, what) in rows {
        println!("  {label:<18} {:>10}  {what}", thousands(count));
    }
    println!(
        "  {} items {would}written; {} read and {} write requests; {} blank lines.",
        thousands(report.items_written),
        thousands(report.requests_read),
        thousands(report.requests_written),
        thousands(report.blank_lines)
    );
    Ok(())
}

//! Loading a catalog file into the table: streaming, idempotent and resumable.
//!
//! Rows are written [`CHUNK_ROWS`] at a time; after each chunk the import's restart point (the
//! line of the last row handled) is saved under its name. A later run of the same name on a file
//! of the same size skips the rows up to that line. Once an import completes, the next run of the
//! name starts from the first row again (writing a row twice changes nothing).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::csv::{CatalogReader, CatalogSong, RowError};
use super::store::ImportCheckpoint;
use super::CatalogError;
use crate::clock;
use crate::store::Store;

/// Rows per chunk: 20 BatchWriteItem requests, then the restart point is saved.
pub const CHUNK_ROWS: usize = 500;
/// Bad rows kept with their details in a report (all are counted).
pub const MAX_ERROR_DETAILS: usize = 1000;

/// Reported after every chunk and at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportProgress {
    /// The first line of the last row handled.
    pub line: u64,
    /// Rows read so far, including rows skipped because an earlier run imported them.
    pub rows_read: u64,
    /// Songs written in this run.
    pub imported: u64,
    /// Bad rows in this run.
    pub bad_rows: u64,
    pub bytes_read: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Songs written in this run (in a dry run: songs that would be written).
    pub imported: u64,
    /// Songs written by this import over all its runs (`imported` plus what an interrupted
    /// earlier run wrote).
    pub imported_total: u64,
    /// Bad rows of this run, in file order; at most [`MAX_ERROR_DETAILS`] are kept.
    pub skipped_bad: Vec<RowError>,
    /// How many bad rows this run saw (all of them, even past the details cap).
    pub bad_rows: u64,
    /// The restart point this run resumed after, if it resumed.
    pub resumed_from_line: Option<u64>,
    /// Rows skipped because an earlier run had imported them.
    pub skipped_before_resume: u64,
    /// Data rows in the whole file (good, bad and skipped).
    pub total_rows: u64,
    pub dry_run: bool,
}

/// Imports the catalog file at `path` under the import name `name` (its restart point).
/// With `dry_run` the file is only parsed and checked: the table is neither read nor written.
pub async fn import_file(
    store: &Store,
    path: &Path,
    name: &str,
    dry_run: bool,
    progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, CatalogError> {
    let open_error = |source| CatalogError::Open {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(path).map_err(open_error)?;
    let total_bytes = file.metadata().map_err(open_error)?.len();
    let input = BufReader::with_capacity(256 * 1024, file);
    import_reader(store, input, total_bytes, name, dry_run, progress).await
}

/// [`import_file`] for any reader; `total_bytes` is its size (for progress and to recognise the
/// same file when resuming).
pub async fn import_reader<R: BufRead>(
    store: &Store,
    input: R,
    total_bytes: u64,
    name: &str,
    dry_run: bool,
    mut progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, CatalogError> {
    let earlier = if dry_run {
        None
    } else {
        store
            .get_import_progress(name)
            .await?
            .filter(|c| !c.complete && c.file_bytes == total_bytes)
    };
    let mut checkpoint = ImportCheckpoint {
        file_bytes: total_bytes,
        ..earlier.clone().unwrap_or_default()
    };
    let resume_line = earlier.as_ref().map(|c| c.line);
    let mut report = ImportReport {
        resumed_from_line: resume_line,
        dry_run,
        ..ImportReport::default()
    };

    let mut reader = CatalogReader::new(input)?;
    let mut chunk: Vec<CatalogSong> = Vec::with_capacity(CHUNK_ROWS);
    let mut last_line = checkpoint.line;
    while let Some(row) = reader.next_row()? {
        report.total_rows += 1;
        let line = match &row {
            Ok(song) => song.line,
            Err(e) => e.line,
        };
        if resume_line.is_some_and(|done| line <= done) {
            report.skipped_before_resume += 1;
            continue;
        }
        last_line = line;
        match row {
            Ok(song) => chunk.push(song),
            Err(e) => {
                report.bad_rows += 1;
                checkpoint.bad += 1;
                if report.skipped_bad.len() < MAX_ERROR_DETAILS {
                    report.skipped_bad.push(e);
                }
            }
        }
        if chunk.len() == CHUNK_ROWS {
            write_chunk(
                store,
                name,
                dry_run,
                &mut chunk,
                last_line,
                &mut checkpoint,
                false,
            )
            .await?;
            report.imported += CHUNK_ROWS as u64;
            progress(progress_of(&report, &reader, last_line, total_bytes));
        }
    }
    report.imported += chunk.len() as u64;
    write_chunk(
        store,
        name,
        dry_run,
        &mut chunk,
        last_line,
        &mut checkpoint,
        true,
    )
    .await?;
    report.imported_total = checkpoint.imported;
    if dry_run {
        report.imported_total = report.imported;
    }
    progress(progress_of(&report, &reader, last_line, total_bytes));
    Ok(report)
}

/// Writes a chunk, then records that every row up to `line` is done.
async fn write_chunk(
    store: &Store,
    name: &str,
    dry_run: bool,
    chunk: &mut Vec<CatalogSong>,
    line: u64,
    checkpoint: &mut ImportCheckpoint,
    complete: bool,
) -> Result<(), CatalogError> {
    checkpoint.imported += chunk.len() as u64;
    checkpoint.line = line;
    checkpoint.complete = complete;
    checkpoint.updated_at = clock::now_secs();
    if !dry_run {
        if !chunk.is_empty() {
            store.import_catalog_batch(chunk).await?;
        }
        store.set_import_progress(name, checkpoint).await?;
    }
    chunk.clear();
    Ok(())
}

fn progress_of<R: BufRead>(
    report: &ImportReport,
    reader: &CatalogReader<R>,
    line: u64,
    total_bytes: u64,
) -> ImportProgress {
    ImportProgress {
        line,
        rows_read: report.total_rows,
        imported: report.imported,
        bad_rows: report.bad_rows,
        bytes_read: reader.bytes_read(),
        total_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::csv::parse_str;
    use crate::catalog::matching::match_key;
    use std::collections::HashSet;

    /// A store that is never called: dry runs must not touch the table.
    fn offline_store() -> Store {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(config), "unused")
    }

    fn catalog(rows: usize, bad_every: usize) -> String {
        let mut text = String::from("Id,Artist,Title,Brands\n");
        for i in 1..=rows {
            if bad_every > 0 && i % bad_every == 0 {
                text.push_str(&format!("K{i},Artist {i}\n"));
            } else {
                text.push_str(&format!("K{i},Artist {i},Title {i},Zoom;Sunfly\n"));
            }
        }
        text
    }

    #[tokio::test]
    async fn dry_run_counts_rows_and_bad_rows_without_a_table() {
        let text = catalog(1234, 100);
        let mut seen = Vec::new();
        let report = import_reader(
            &offline_store(),
            text.as_bytes(),
            text.len() as u64,
            "test",
            true,
            |p| seen.push(p),
        )
        .await
        .unwrap();
        assert_eq!(report.total_rows, 1234);
        assert_eq!(report.bad_rows, 12);
        assert_eq!(report.imported, 1222);
        assert_eq!(report.imported_total, 1222);
        assert_eq!(report.skipped_bad.len(), 12);
        assert_eq!(report.skipped_bad[0].line, 101);
        assert!(report.skipped_bad[0].message.starts_with("missing fields"));
        assert_eq!(report.resumed_from_line, None);
        // Two full chunks, then the end.
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].imported, 500);
        assert_eq!(seen[2].bytes_read, text.len() as u64);
        assert_eq!(seen[2].line, 1235);
    }

    #[tokio::test]
    async fn bad_row_details_are_capped_but_all_counted() {
        let text = catalog(3000, 2);
        let report = import_reader(&offline_store(), text.as_bytes(), 0, "t", true, |_| {})
            .await
            .unwrap();
        assert_eq!(report.bad_rows, 1500);
        assert_eq!(report.skipped_bad.len(), MAX_ERROR_DETAILS);
        assert_eq!(report.imported, 1500);
    }

    #[tokio::test]
    async fn a_generated_catalog_with_bad_rows_is_read_exactly() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/catalog/generate.py");
        let out = std::env::temp_dir().join(format!(
            "karaoke-catalog-test-{}-{}.csv",
            std::process::id(),
            clock::now_millis()
        ));
        let status = std::process::Command::new("python3")
            .arg(&script)
            .args([
                "--rows",
                "20000",
                "--seed",
                "3",
                "--bad-every",
                "7",
                "--out",
            ])
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status();
        let Ok(status) = status else {
            eprintln!("python3 is not available: skipped");
            return;
        };
        assert!(status.success(), "generate.py failed");
        let mut last = ImportProgress::default();
        let report = import_file(&offline_store(), &out, "gen", true, |p| last = p).await;
        std::fs::remove_file(&out).ok();
        let report = report.unwrap();
        assert_eq!(report.total_rows, 20_000);
        assert_eq!(report.bad_rows, 20_000 / 7);
        assert_eq!(report.imported, 20_000 - 20_000 / 7);
        assert_eq!(report.skipped_bad.len(), MAX_ERROR_DETAILS);
        for (k, e) in report.skipped_bad.iter().enumerate() {
            assert_eq!(e.line, (k as u64 + 1) * 7 + 1, "{e}");
        }
        assert_eq!(last.bytes_read, last.total_bytes);
        assert_eq!(last.line, 20_001);
    }

    #[test]
    fn the_sample_catalog_is_clean() {
        let text = include_str!("../../../infra/catalog/sample.csv");
        let rows = parse_str(text).unwrap();
        let songs: Vec<_> = rows
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("bad sample row: {e}"));
        assert!((150..=250).contains(&songs.len()), "{} songs", songs.len());
        let ids: HashSet<_> = songs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), songs.len(), "ids are unique");
        let keys: HashSet<_> = songs
            .iter()
            .map(|s| match_key(&s.artist, &s.title))
            .collect();
        assert_eq!(keys.len(), songs.len(), "no song twice");
        assert!(songs.iter().all(|s| s.brand_count >= 1));
        for (artist, title) in [
            ("Queen", "Bohemian Rhapsody"),
            ("Queen", "Don't Stop Me Now - Remastered 2011"),
            ("Beyonce", "Halo"),
            ("Beyoncé feat. Jay-Z", "Crazy In Love (feat. Jay-Z)"),
            ("Killers", "Mr. Brightside"),
            ("Journey", "Don’t Stop Believin’"),
            ("Bon Jovi", "Livin' On A Prayer"),
            (
                "Whitney Houston",
                "I Wanna Dance With Somebody (Who Loves Me)",
            ),
            ("宇多田ヒカル", "First Love"),
            ("Motörhead", "Ace of Spades"),
            ("ABBA", "Dancing Queen"),
            ("Britney Spears", "...Baby One More Time"),
            ("Taylor Swift", "Love Story (Taylor's Version)"),
        ] {
            assert!(
                keys.contains(&match_key(artist, title)),
                "{artist} - {title} is in the sample"
            );
        }
        let most = songs.iter().map(|s| s.brand_count).max().unwrap();
        let bohemian = songs
            .iter()
            .find(|s| s.title == "Bohemian Rhapsody")
            .unwrap();
        assert_eq!(bohemian.brand_count, most);
    }
}

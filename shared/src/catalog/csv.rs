//! The catalog file: CSV (RFC 4180) with a header naming `Id`, `Artist`, `Title` and `Brands`.
//!
//! * The header is matched case-insensitively, in any column order; `Brand` and `Brand(s)` are
//!   accepted for `Brands`, other columns are ignored. A UTF-8 byte order mark is skipped.
//! * Quoted fields may hold commas, doubled quotes and line breaks. Spaces around a quoted value
//!   are ignored; a quote inside an unquoted value is kept as a character. Blank lines are skipped.
//! * A row that cannot be used becomes a [`RowError`] with the physical line (1-based, the header
//!   is line 1) where the row starts. The reader then carries on with the next row.
//! * An unbalanced quote cannot swallow the file: a quoted value still open after
//!   [`MAX_RECORD_LINES`] lines or [`MAX_RECORD_BYTES`] bytes, at the end of the file, or one whose
//!   closing quote is followed by anything but a comma makes its row bad, and reading resumes on
//!   the line after the row's first line.
//! * Values are trimmed. Id, Artist and Title must not be empty; no value may be longer than
//!   [`MAX_FIELD_CHARS`] characters (an Id not longer than that in bytes) or hold control
//!   characters (a line break inside a quoted value is one) or invalid UTF-8.
//! * Brands are split on `;`, `|` or `,`, trimmed, and deduplicated ignoring case (the first
//!   spelling wins); the brand count is how many remain. An empty Brands value is allowed.

use std::collections::{HashSet, VecDeque};
use std::io::BufRead;

use super::CatalogError;

pub const MAX_FIELD_CHARS: usize = 512;
pub const MAX_RECORD_LINES: usize = 16;
pub const MAX_RECORD_BYTES: usize = 8 * 1024;

/// One song of the catalog, as read from its row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CatalogSong {
    /// The physical line where the row starts (1-based; the header is line 1).
    pub line: u64,
    pub id: String,
    pub artist: String,
    pub title: String,
    pub brands: Vec<String>,
    pub brand_count: u32,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("line {line}: {message}")]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

pub type CatalogRow = Result<CatalogSong, RowError>;

struct Line {
    number: u64,
    text: String,
    utf8: bool,
}

#[derive(Debug, Clone, Copy)]
struct Columns {
    id: usize,
    artist: usize,
    title: usize,
    brands: usize,
    count: usize,
}

/// Reads catalog rows one at a time from any buffered reader.
pub struct CatalogReader<R> {
    input: R,
    lines_read: u64,
    bytes_read: u64,
    replay: VecDeque<Line>,
    columns: Columns,
    buf: Vec<u8>,
}

impl<R: BufRead> CatalogReader<R> {
    /// Reads the header. A missing or incomplete header is an error: nothing could be imported.
    pub fn new(input: R) -> Result<Self, CatalogError> {
        let mut reader = Self {
            input,
            lines_read: 0,
            bytes_read: 0,
            replay: VecDeque::new(),
            columns: Columns {
                id: 0,
                artist: 0,
                title: 0,
                brands: 0,
                count: 0,
            },
            buf: Vec::new(),
        };
        let record = reader
            .next_record()?
            .ok_or_else(|| CatalogError::Header("the file is empty".into()))?;
        let fields = record
            .fields
            .map_err(|m| CatalogError::Header(format!("line {}: {m}", record.line)))?;
        if !record.utf8 {
            return Err(CatalogError::Header("the header is not valid UTF-8".into()));
        }
        reader.columns = header_columns(&fields)?;
        Ok(reader)
    }

    /// The next row, or `None` at the end of the file. Only I/O failures are errors.
    pub fn next_row(&mut self) -> Result<Option<CatalogRow>, CatalogError> {
        let Some(record) = self.next_record()? else {
            return Ok(None);
        };
        let span = if record.end_line > record.line {
            format!(" (row spans lines {}-{})", record.line, record.end_line)
        } else {
            String::new()
        };
        let error = |message: String| RowError {
            line: record.line,
            message: message + &span,
        };
        let fields = match record.fields {
            Ok(fields) => fields,
            Err(message) => return Ok(Some(Err(error(message)))),
        };
        if !record.utf8 {
            return Ok(Some(Err(error("the row is not valid UTF-8".into()))));
        }
        Ok(Some(
            song_from_fields(record.line, &fields, self.columns).map_err(error),
        ))
    }

    /// Bytes consumed from the input so far (for progress reports).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn next_line(&mut self) -> Result<Option<Line>, CatalogError> {
        if let Some(line) = self.replay.pop_front() {
            return Ok(Some(line));
        }
        self.buf.clear();
        let n = self.input.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.bytes_read += n as u64;
        self.lines_read += 1;
        let mut bytes = &self.buf[..];
        if self.lines_read == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let (text, utf8) = match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_string(), true),
            Err(_) => (String::from_utf8_lossy(bytes).into_owned(), false),
        };
        Ok(Some(Line {
            number: self.lines_read,
            text,
            utf8,
        }))
    }

    /// The next non-blank record: its fields, or why its structure is broken.
    fn next_record(&mut self) -> Result<Option<Record>, CatalogError> {
        let first = loop {
            match self.next_line()? {
                None => return Ok(None),
                Some(line) if line.text.trim().is_empty() => continue,
                Some(line) => break line,
            }
        };
        let mut parser = FieldParser::default();
        let mut utf8 = first.utf8;
        let mut size = first.text.len();
        let mut more: Vec<Line> = Vec::new();
        let mut outcome = parser.feed(&first.text);
        while outcome == Outcome::Open {
            if more.len() + 1 >= MAX_RECORD_LINES || size > MAX_RECORD_BYTES {
                outcome = Outcome::Broken("a quoted value is never closed".into());
                break;
            }
            let Some(line) = self.next_line()? else {
                outcome =
                    Outcome::Broken("a quoted value is not closed at the end of the file".into());
                break;
            };
            parser.line_break();
            utf8 &= line.utf8;
            size += line.text.len() + 1;
            outcome = parser.feed(&line.text);
            more.push(line);
        }
        let fields = match outcome {
            Outcome::Complete => {
                let fields = parser.finish();
                if !more.is_empty() && fields.len() != self.columns.count && self.columns.count > 0
                {
                    Err(field_count_message(fields.len(), self.columns.count))
                } else {
                    Ok(fields)
                }
            }
            Outcome::Broken(message) => Err(message),
            Outcome::Open => {
                unreachable!("the loop above only ends with an open value by breaking")
            }
        };
        let end_line = more.last().map_or(first.number, |l| l.number);
        if fields.is_err() && !more.is_empty() {
            // Most likely a stray quote: the lines it swallowed are rows of their own.
            for line in more.into_iter().rev() {
                self.replay.push_front(line);
            }
            return Ok(Some(Record {
                line: first.number,
                end_line: first.number,
                fields,
                utf8,
            }));
        }
        Ok(Some(Record {
            line: first.number,
            end_line,
            fields,
            utf8,
        }))
    }
}

impl<R: BufRead> Iterator for CatalogReader<R> {
    type Item = Result<CatalogRow, CatalogError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row().transpose()
    }
}

/// Parses a whole catalog held in memory (tests, small files).
pub fn parse_str(text: &str) -> Result<Vec<CatalogRow>, CatalogError> {
    CatalogReader::new(text.as_bytes())?.collect()
}

struct Record {
    line: u64,
    end_line: u64,
    fields: Result<Vec<String>, String>,
    utf8: bool,
}

fn header_columns(fields: &[String]) -> Result<Columns, CatalogError> {
    let find = |names: &[&str]| {
        fields
            .iter()
            .position(|f| names.contains(&f.trim().to_lowercase().as_str()))
    };
    let missing = |name: &str| {
        CatalogError::Header(format!(
            "no {name} column (expected Id,Artist,Title,Brands; found {})",
            fields.join(",")
        ))
    };
    Ok(Columns {
        id: find(&["id"]).ok_or_else(|| missing("Id"))?,
        artist: find(&["artist"]).ok_or_else(|| missing("Artist"))?,
        title: find(&["title"]).ok_or_else(|| missing("Title"))?,
        brands: find(&["brands", "brand", "brand(s)"]).ok_or_else(|| missing("Brands"))?,
        count: fields.len(),
    })
}

fn field_count_message(found: usize, expected: usize) -> String {
    if found < expected {
        format!("missing fields: expected {expected}, found {found}")
    } else {
        format!(
            "too many fields: expected {expected}, found {found} (a comma in an unquoted value?)"
        )
    }
}

fn song_from_fields(line: u64, fields: &[String], columns: Columns) -> Result<CatalogSong, String> {
    if fields.len() != columns.count {
        return Err(field_count_message(fields.len(), columns.count));
    }
    let id = checked(&fields[columns.id], "Id", true)?;
    if id.len() > MAX_FIELD_CHARS {
        return Err(format!("Id is longer than {MAX_FIELD_CHARS} bytes"));
    }
    let artist = checked(&fields[columns.artist], "Artist", true)?;
    let title = checked(&fields[columns.title], "Title", true)?;
    let brands = split_brands(checked(&fields[columns.brands], "Brands", false)?);
    Ok(CatalogSong {
        line,
        id: id.to_string(),
        artist: artist.to_string(),
        title: title.to_string(),
        brand_count: brands.len() as u32,
        brands,
    })
}

fn checked<'a>(value: &'a str, name: &str, required: bool) -> Result<&'a str, String> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(format!(
            "{name} is longer than {MAX_FIELD_CHARS} characters"
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{name} contains a control character (U+{:04X})",
            c as u32
        ));
    }
    Ok(value)
}

fn split_brands(value: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    value
        .split([';', '|', ','])
        .map(str::trim)
        .filter(|b| !b.is_empty() && seen.insert(b.to_lowercase()))
        .map(str::to_string)
        .collect()
}

#[derive(Debug, PartialEq)]
enum Outcome {
    /// The line ended the record.
    Complete,
    /// The line ended inside a quoted value: the record goes on on the next line.
    Open,
    Broken(String),
}

#[derive(Default, PartialEq, Clone, Copy)]
enum State {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted value: either the first of a doubled quote or the closing one.
    QuoteInQuoted,
    AfterQuoted,
}

#[derive(Default)]
struct FieldParser {
    state: State,
    current: String,
    fields: Vec<String>,
}

impl FieldParser {
    fn feed(&mut self, line: &str) -> Outcome {
        for c in line.chars() {
            match (self.state, c) {
                (State::FieldStart, '"') => {
                    self.current.clear(); // spaces before an opening quote
                    self.state = State::Quoted;
                }
                (State::FieldStart | State::Unquoted | State::AfterQuoted, ',') => self.end_field(),
                (State::FieldStart, ' ' | '\t') => self.current.push(c),
                (State::FieldStart | State::Unquoted, _) => {
                    self.current.push(c);
                    self.state = State::Unquoted;
                }
                (State::Quoted, '"') => self.state = State::QuoteInQuoted,
                (State::Quoted, _) => self.current.push(c),
                (State::QuoteInQuoted, '"') => {
                    self.current.push('"');
                    self.state = State::Quoted;
                }
                (State::QuoteInQuoted, ',') => self.end_field(),
                (State::QuoteInQuoted | State::AfterQuoted, ' ' | '\t') => {
                    self.state = State::AfterQuoted
                }
                (State::QuoteInQuoted | State::AfterQuoted, _) => {
                    return Outcome::Broken(format!(
                        "unexpected {c:?} after the closing quote of a quoted value"
                    ));
                }
            }
        }
        if self.state == State::Quoted {
            Outcome::Open
        } else {
            Outcome::Complete
        }
    }

    fn line_break(&mut self) {
        self.current.push('\n');
    }

    fn end_field(&mut self) {
        self.fields.push(std::mem::take(&mut self.current));
        self.state = State::FieldStart;
    }

    fn finish(mut self) -> Vec<String> {
        self.end_field();
        self.fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<CatalogRow> {
        parse_str(text).expect("header")
    }

    fn song(r: &CatalogRow) -> &CatalogSong {
        r.as_ref().expect("a song")
    }

    fn bad(r: &CatalogRow) -> &RowError {
        r.as_ref().expect_err("a bad row")
    }

    #[test]
    fn reads_plain_rows() {
        let rs = rows("Id,Artist,Title,Brands\nKS1,Queen,Bohemian Rhapsody,Zoom;Sunfly\n");
        assert_eq!(rs.len(), 1);
        assert_eq!(
            song(&rs[0]),
            &CatalogSong {
                line: 2,
                id: "KS1".into(),
                artist: "Queen".into(),
                title: "Bohemian Rhapsody".into(),
                brands: vec!["Zoom".into(), "Sunfly".into()],
                brand_count: 2,
            }
        );
    }

    #[test]
    fn header_is_case_insensitive_with_bom_crlf_and_any_order() {
        let text = "\u{feff}TITLE, artist ,iD,Brand(s)\r\nHalo,Beyoncé,KS2,Zoom\r\n";
        let rs = rows(text);
        let s = song(&rs[0]);
        assert_eq!(
            (s.id.as_str(), s.artist.as_str(), s.title.as_str()),
            ("KS2", "Beyoncé", "Halo")
        );
        assert_eq!(s.line, 2);
        // Extra columns are ignored.
        let rs = rows("Id,Artist,Title,Year,Brands\nA,B,C,1999,Zoom\n");
        assert_eq!(song(&rs[0]).title, "C");
        assert_eq!(song(&rs[0]).brands, vec!["Zoom"]);
    }

    #[test]
    fn header_errors_are_fatal() {
        assert!(matches!(parse_str(""), Err(CatalogError::Header(_))));
        assert!(matches!(parse_str("\n\n"), Err(CatalogError::Header(_))));
        let err = parse_str("Id,Artist,Name,Brands\n").unwrap_err();
        assert!(err.to_string().contains("no Title column"), "{err}");
        assert!(matches!(
            parse_str("Id,Artist,\"Title\n"),
            Err(CatalogError::Header(_))
        ));
    }

    #[test]
    fn quoting_follows_rfc_4180() {
        let text = concat!(
            "Id,Artist,Title,Brands\n",
            "KS1,\"Earth, Wind & Fire\",September,\"Zoom, Sunfly\"\n",
            "KS2,Some Band,\"The \"\"Quoted\"\" Song\",Zoom\n",
            "KS3,\"\",x,Zoom\n",
            "KS4, \"Spaced\" ,Title ,Zoom\n",
            "KS5,12\" Band,Title,Zoom\n",
        );
        let rs = rows(text);
        assert_eq!(song(&rs[0]).artist, "Earth, Wind & Fire");
        assert_eq!(song(&rs[0]).brands, vec!["Zoom", "Sunfly"]);
        assert_eq!(song(&rs[1]).title, "The \"Quoted\" Song");
        assert_eq!(
            bad(&rs[2]),
            &RowError {
                line: 4,
                message: "Artist is empty".into()
            }
        );
        assert_eq!(song(&rs[3]).artist, "Spaced");
        assert_eq!(song(&rs[3]).title, "Title");
        assert_eq!(song(&rs[4]).artist, "12\" Band");
    }

    #[test]
    fn line_breaks_inside_quotes_make_one_row_reported_at_its_first_line() {
        let text = "Id,Artist,Title,Brands\nKS1,\"Two\nLines\",Song,Zoom\nKS2,A,B,Zoom\n";
        let rs = rows(text);
        assert_eq!(rs.len(), 2);
        let e = bad(&rs[0]);
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("control character (U+000A)"),
            "{}",
            e.message
        );
        assert!(e.message.contains("spans lines 2-3"), "{}", e.message);
        assert_eq!(song(&rs[1]).line, 4);
        // A quoted line break in Brands is a control character too.
        let rs = rows("Id,Artist,Title,Brands\nKS1,A,B,\"Zoom\nSunfly\"\n");
        assert_eq!(rs.len(), 1);
        assert!(bad(&rs[0]).message.contains("Brands contains a control"));
    }

    #[test]
    fn an_unbalanced_quote_costs_one_row() {
        let text = concat!(
            "Id,Artist,Title,Brands\n",
            "KS1,\"Broken,Song,Zoom\n",
            "KS2,A,B,Zoom\n",
            "KS3,C,D,Zoom\n",
            "KS4,\"E, F\",G,Zoom\n",
            "KS5,H,I,Zoom\n",
        );
        let rs = rows(text);
        assert_eq!(rs.len(), 5);
        assert_eq!(bad(&rs[0]).line, 2);
        assert!(
            bad(&rs[0]).message.contains("closing quote"),
            "{}",
            bad(&rs[0]).message
        );
        let ids: Vec<_> = rs[1..].iter().map(|r| song(r).id.as_str()).collect();
        assert_eq!(ids, ["KS2", "KS3", "KS4", "KS5"]);
        let lines: Vec<_> = rs[1..].iter().map(|r| song(r).line).collect();
        assert_eq!(lines, [3, 4, 5, 6]);

        // Never closed at all: the end of the file ends it, and the swallowed rows come back.
        let rs = rows("Id,Artist,Title,Brands\nKS1,A,\"B,Zoom\nKS2,C,D,Zoom\nKS3,E,F,Zoom");
        assert_eq!(rs.len(), 3);
        assert!(bad(&rs[0]).message.contains("end of the file"));
        assert_eq!(song(&rs[2]).id, "KS3");
        assert_eq!(song(&rs[2]).line, 4);

        // Open for too many lines.
        let mut text = String::from("Id,Artist,Title,Brands\nKS0,A,\"B,Zoom\n");
        for i in 1..=40 {
            text.push_str(&format!("KS{i},Artist {i},Title {i},Zoom\n"));
        }
        text.push_str("KS41,\"Last\",T,Zoom\n");
        let rs = rows(&text);
        assert_eq!(rs.len(), 42);
        assert!(bad(&rs[0]).message.contains("never closed"));
        assert!(rs[1..].iter().all(|r| r.is_ok()));
        assert_eq!(song(&rs[41]).line, 43);

        // A swallowed region that happens to close and has the wrong field count is replayed.
        let text = "Id,Artist,Title,Brands\nKS1,A,\"B\nKS2,C\",D,Zoom\nKS3,E,F,Zoom\n";
        let rs = rows(text);
        assert_eq!(rs.len(), 3);
        assert_eq!(bad(&rs[0]).line, 2);
        assert!(bad(&rs[0]).message.starts_with("too many fields"));
        assert_eq!(song(&rs[1]).artist, "C\"");
        assert_eq!(song(&rs[2]).id, "KS3");
    }

    #[test]
    fn bad_rows_are_reported_with_their_lines_and_reading_goes_on() {
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let text = format!(
            "Id,Artist,Title,Brands\n\
             KS1,A,B\n\
             KS2,A,B,C,D\n\
             ,A,B,Zoom\n\
             KS4,A,   ,Zoom\n\
             KS5,{long},B,Zoom\n\
             KS6,A,Tab\there,Zoom\n\
             KS7,A,Nul\u{0},Zoom\n\
             \n\
             KS9,A,B,Zoom\n\
             KS10,A,{},Zoom\n",
            "é".repeat(MAX_FIELD_CHARS)
        );
        let rs = rows(&text);
        let expected = [
            (2, "missing fields: expected 4, found 3"),
            (3, "too many fields: expected 4, found 5"),
            (4, "Id is empty"),
            (5, "Title is empty"),
            (6, "Artist is longer than 512 characters"),
            (7, "Title contains a control character (U+0009)"),
            (8, "Title contains a control character (U+0000)"),
        ];
        for (r, (line, msg)) in rs.iter().zip(expected) {
            let e = bad(r);
            assert_eq!(e.line, line);
            assert!(e.message.starts_with(msg), "{} vs {msg}", e.message);
        }
        assert_eq!(song(&rs[7]).line, 10);
        // 512 two-byte characters are fine: the limit counts characters.
        assert_eq!(song(&rs[8]).title.chars().count(), MAX_FIELD_CHARS);
        assert_eq!(rs.len(), 9);
    }

    #[test]
    fn invalid_utf8_is_a_bad_row() {
        let mut bytes =
            b"Id,Artist,Title,Brands\nKS1,A,B,Zoom\nKS2,\xff\xfe,B,Zoom\nKS3,A,B,Zoom\n".to_vec();
        let rs: Vec<_> = CatalogReader::new(&bytes[..])
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rs.len(), 3);
        assert_eq!(
            bad(&rs[1]),
            &RowError {
                line: 3,
                message: "the row is not valid UTF-8".into()
            }
        );
        bytes.truncate(0);
        bytes.extend_from_slice(b"Id,Artist,\xffTitle,Brands\n");
        assert!(matches!(
            CatalogReader::new(&bytes[..]),
            Err(CatalogError::Header(_))
        ));
    }

    #[test]
    fn brands_are_split_trimmed_and_deduplicated() {
        assert_eq!(
            split_brands("Zoom; Sunfly |Zoom,zoom , ;Party Tyme"),
            vec!["Zoom", "Sunfly", "Party Tyme"]
        );
        assert!(split_brands("").is_empty());
        let rs = rows("Id,Artist,Title,Brands\nKS1,A,B,\nKS2,A,B, ; | \n");
        assert_eq!(song(&rs[0]).brand_count, 0);
        assert_eq!(song(&rs[1]).brands, Vec::<String>::new());
    }

    #[test]
    fn last_line_without_newline_and_bytes_are_counted() {
        let text = "Id,Artist,Title,Brands\nKS1,A,B,Zoom";
        let mut reader = CatalogReader::new(text.as_bytes()).unwrap();
        assert_eq!(song(&reader.next_row().unwrap().unwrap()).id, "KS1");
        assert!(reader.next_row().unwrap().is_none());
        assert_eq!(reader.bytes_read(), text.len() as u64);
    }
}

//! The scrobble archive's rules: every counted scrobble is kept by calendar month (UTC), so
//! counts can be rebuilt without Last.fm, compared with Last.fm's own totals window by window,
//! and a re-read window can be diffed against what was counted before.
//!
//! A scrobble's identity is its second plus its track identity (artist and title, folded):
//! several tracks can share a second, and the same track played twice in one second (a
//! double scrobble) is kept twice, because a fresh full sync would count it twice too.

use std::collections::BTreeMap;

use crate::lastfm::{Scrobble, Window};
use crate::normalize::TrackIdentity;

use super::aggregate::{aggregate, TrackDelta};

/// How far back an incremental sync re-reads: Last.fm accepts scrobbles time-stamped up to
/// two weeks in the past, plus a day for clocks and time zones.
pub const TRAILING_SECS: i64 = 15 * 24 * 60 * 60;

/// Months are named `YYYY-MM` (UTC), which sorts in time order.
pub fn month_of(uts: i64) -> String {
    let (y, m, _) = civil_from_days(uts.div_euclid(86_400));
    format!("{y:04}-{m:02}")
}

/// First second of the month.
pub fn month_start(month: &str) -> Option<i64> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i64, u32) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12)
        .contains(&m)
        .then(|| days_from_civil(y, m, 1) * 86_400)
}

/// First second after the month.
pub fn month_end(month: &str) -> Option<i64> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i64, u32) = (y.parse().ok()?, m.parse().ok()?);
    if !(1..=12).contains(&m) {
        return None;
    }
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some(days_from_civil(ny, nm, 1) * 86_400)
}

/// Every month that overlaps `[from, to)`, oldest first.
pub fn months_overlapping(from: i64, to: i64) -> Vec<String> {
    let mut out = Vec::new();
    if to <= from {
        return out;
    }
    let mut month = month_of(from);
    while let (Some(start), Some(end)) = (month_start(&month), month_end(&month)) {
        if start >= to {
            break;
        }
        out.push(month.clone());
        month = month_of(end);
    }
    out
}

/// Year windows `[Jan 1, next Jan 1)` clipped to `[from, to)`, oldest first: the coarse level
/// of reconciliation.
pub fn year_windows(from: i64, to: i64) -> Vec<(String, Window)> {
    let mut out = Vec::new();
    if to <= from {
        return out;
    }
    let (mut year, _, _) = civil_from_days(from.div_euclid(86_400));
    loop {
        let start = days_from_civil(year, 1, 1) * 86_400;
        if start >= to {
            break;
        }
        let end = days_from_civil(year + 1, 1, 1) * 86_400;
        out.push((
            format!("{year:04}"),
            Window {
                from: Some(start.max(from)),
                to: Some(end.min(to)),
            },
        ));
        year += 1;
    }
    out
}

/// Month windows of one year, clipped the same way.
pub fn month_windows(year: &str, from: i64, to: i64) -> Vec<(String, Window)> {
    (1..=12)
        .filter_map(|m| {
            let month = format!("{year}-{m:02}");
            let (start, end) = (month_start(&month)?, month_end(&month)?);
            let (lo, hi) = (start.max(from), end.min(to));
            (lo < hi).then_some((
                month,
                Window {
                    from: Some(lo),
                    to: Some(hi),
                },
            ))
        })
        .collect()
}

pub fn in_window(uts: i64, window: Window) -> bool {
    window.from.is_none_or(|f| uts >= f) && window.to.is_none_or(|t| uts < t)
}

/// Groups scrobbles by month; each month keeps Last.fm's order (newest first).
pub fn by_month(scrobbles: Vec<Scrobble>) -> BTreeMap<String, Vec<Scrobble>> {
    let mut out: BTreeMap<String, Vec<Scrobble>> = BTreeMap::new();
    for s in scrobbles {
        out.entry(month_of(s.uts)).or_default().push(s);
    }
    for rows in out.values_mut() {
        // Stable: scrobbles of one second keep the order Last.fm listed them in.
        rows.sort_by_key(|s| std::cmp::Reverse(s.uts));
    }
    out
}

/// A month's rows after a window was re-read: rows outside the window stay, rows inside are
/// exactly what Last.fm listed for it now, those of this month only (a window can span
/// several months, and each month holds its own rows once).
pub fn replace_window(
    month: &str,
    old: &[Scrobble],
    fresh: &[Scrobble],
    window: Window,
) -> Vec<Scrobble> {
    let mut rows: Vec<Scrobble> = old
        .iter()
        .filter(|s| !in_window(s.uts, window))
        .cloned()
        .collect();
    rows.extend(
        fresh
            .iter()
            .filter(|s| in_window(s.uts, window) && month_of(s.uts) == month)
            .cloned(),
    );
    rows.sort_by_key(|s| std::cmp::Reverse(s.uts));
    rows
}

fn identity(s: &Scrobble) -> (i64, String) {
    (s.uts, TrackIdentity::of(&s.artist, &s.title).key())
}

/// What changed in a window between what we counted and what Last.fm lists now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowDiff {
    /// In Last.fm's list, not yet counted (late scrobbles, new ones), in Last.fm's order.
    pub added: Vec<Scrobble>,
    /// Counted before, no longer on Last.fm (the user deleted them).
    pub removed: Vec<Scrobble>,
}

impl WindowDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Multiset difference by scrobble identity.
pub fn diff(counted: &[Scrobble], listed: &[Scrobble]) -> WindowDiff {
    let mut remaining: BTreeMap<(i64, String), Vec<&Scrobble>> = BTreeMap::new();
    for s in counted {
        remaining.entry(identity(s)).or_default().push(s);
    }
    let mut added = Vec::new();
    for s in listed {
        match remaining.get_mut(&identity(s)).and_then(|v| v.pop()) {
            Some(_) => {}
            None => added.push(s.clone()),
        }
    }
    let mut removed: Vec<Scrobble> = remaining.into_values().flatten().cloned().collect();
    removed.sort_by_key(|s| std::cmp::Reverse(s.uts));
    WindowDiff { added, removed }
}

/// Per-track deltas of a diff: added scrobbles count up (and may change the display spelling,
/// as on any page), removed ones count down.
pub fn deltas(diff: &WindowDiff) -> Vec<TrackDelta> {
    let mut by_key: BTreeMap<String, TrackDelta> = aggregate(&diff.added, 0)
        .into_iter()
        .map(|d| (d.key.clone(), d))
        .collect();
    for s in &diff.removed {
        let key = TrackIdentity::of(&s.artist, &s.title).key();
        by_key
            .entry(key.clone())
            .or_insert_with(|| TrackDelta {
                key,
                artist: s.artist.clone(),
                title: s.title.clone(),
                album: s.album.clone(),
                loved: s.loved,
                count: 0,
                // Neutral for min/max: a removal never moves first/last listened.
                first_uts: i64::MAX,
                last_uts: i64::MIN,
                display_order: i64::MIN,
                removed: 0,
            })
            .removed += 1;
    }
    by_key.into_values().collect()
}

/// Splits rows into chunks whose encoding stays well under DynamoDB's 400 KB item limit.
pub fn chunk_rows(rows: &[Scrobble], max_bytes: usize) -> Vec<Vec<Scrobble>> {
    let mut out: Vec<Vec<Scrobble>> = Vec::new();
    let mut current: Vec<Scrobble> = Vec::new();
    let mut size = 0;
    for s in rows {
        // JSON row: brackets, quotes, commas, the number and the flag.
        let row = s.artist.len() + s.title.len() + s.album.as_deref().map_or(0, str::len) + 40;
        if !current.is_empty() && size + row > max_bytes {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += row;
        current.push(s.clone());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian, days since 1970-01-01).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(artist: &str, title: &str, uts: i64) -> Scrobble {
        Scrobble {
            artist: artist.into(),
            title: title.into(),
            album: None,
            uts,
            loved: None,
        }
    }

    #[test]
    fn months_follow_the_utc_calendar() {
        assert_eq!(month_of(0), "1970-01");
        // 2024-02-29T23:59:59Z and the second after it.
        assert_eq!(month_of(1_709_251_199), "2024-02");
        assert_eq!(month_of(1_709_251_200), "2024-03");
        assert_eq!(month_start("2024-03"), Some(1_709_251_200));
        assert_eq!(month_end("2024-02"), Some(1_709_251_200));
        assert_eq!(month_end("2023-12"), month_start("2024-01"));
        assert_eq!(month_start("2024-13"), None);
        assert_eq!(
            months_overlapping(1_709_251_199, 1_709_251_201),
            vec!["2024-02", "2024-03"]
        );
        assert!(months_overlapping(5, 5).is_empty());
        for uts in [0, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let m = month_of(uts);
            assert!(month_start(&m).unwrap() <= uts && uts < month_end(&m).unwrap());
        }
    }

    #[test]
    fn year_and_month_windows_are_clipped_and_cover_the_range() {
        let from = month_start("2022-11").unwrap() + 10;
        let to = month_start("2024-02").unwrap() + 5;
        let years = year_windows(from, to);
        assert_eq!(
            years.iter().map(|(y, _)| y.as_str()).collect::<Vec<_>>(),
            vec!["2022", "2023", "2024"]
        );
        assert_eq!(years[0].1.from, Some(from));
        assert_eq!(years[2].1.to, Some(to));
        assert_eq!(years[0].1.to, years[1].1.from);
        let months = month_windows("2024", from, to);
        assert_eq!(
            months.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
            vec!["2024-01", "2024-02"]
        );
        assert_eq!(months[1].1.to, Some(to));
        assert_eq!(month_windows("2022", from, to).len(), 2);
    }

    #[test]
    fn diff_finds_late_and_deleted_scrobbles_and_keeps_same_second_tracks_apart() {
        let counted = vec![s("A", "x", 300), s("B", "y", 200), s("C", "z", 200)];
        let listed = vec![
            s("a", "X", 300),     // same scrobble, other spelling: not new
            s("B", "y", 200),     // same
            s("D", "late", 250),  // late scrobble
            s("B", "other", 200), // another track in the same second
        ];
        let d = diff(&counted, &listed);
        assert_eq!(d.added, vec![s("D", "late", 250), s("B", "other", 200)]);
        assert_eq!(d.removed, vec![s("C", "z", 200)]);
        assert!(diff(&listed, &listed).is_empty());
    }

    #[test]
    fn a_double_scrobble_is_a_multiset_member() {
        let once = vec![s("A", "x", 10)];
        let twice = vec![s("A", "x", 10), s("A", "x", 10)];
        assert_eq!(diff(&once, &twice).added, once);
        assert_eq!(diff(&twice, &once).removed, once);
    }

    #[test]
    fn deltas_count_up_and_down_without_moving_dates_on_removal() {
        let d = WindowDiff {
            added: vec![s("A", "x", 50), s("A", "x", 40)],
            removed: vec![s("A", "x", 10), s("B", "y", 5)],
        };
        let deltas = deltas(&d);
        assert_eq!(deltas.len(), 2);
        let a = deltas.iter().find(|d| d.artist == "A").unwrap();
        assert_eq!(
            (a.count, a.removed, a.first_uts, a.last_uts),
            (2, 1, 40, 50)
        );
        let b = deltas.iter().find(|d| d.artist == "B").unwrap();
        assert_eq!((b.count, b.removed), (0, 1));
        assert_eq!((b.first_uts, b.last_uts), (i64::MAX, i64::MIN));
    }

    #[test]
    fn replacing_a_window_keeps_rows_outside_it() {
        let old = vec![s("A", "x", 300), s("B", "y", 200), s("C", "z", 100)];
        let fresh = vec![s("D", "w", 250), s("B", "y", 200), s("E", "v", 50)];
        let w = Window {
            from: Some(150),
            to: Some(301),
        };
        let rows = replace_window(&month_of(0), &old, &fresh, w);
        assert_eq!(
            rows.iter().map(|r| r.uts).collect::<Vec<_>>(),
            vec![250, 200, 100]
        );
        assert!(in_window(150, w) && !in_window(301, w));
    }

    #[test]
    fn a_window_over_two_months_puts_each_row_in_its_own_month_once() {
        // The window's rows span January and February; each month gets only its own, so a
        // later count of the window finds every row once (it found the window's rows twice).
        let jan = month_start("2026-02").unwrap() - 100;
        let feb = month_start("2026-02").unwrap() + 100;
        let fresh = vec![s("A", "x", feb), s("B", "y", jan)];
        let w = Window {
            from: Some(jan - 1_000),
            to: Some(feb + 1_000),
        };
        let january = replace_window("2026-01", &[], &fresh, w);
        let february = replace_window("2026-02", &[], &fresh, w);
        assert_eq!(january.iter().map(|r| r.uts).collect::<Vec<_>>(), vec![jan]);
        assert_eq!(
            february.iter().map(|r| r.uts).collect::<Vec<_>>(),
            vec![feb]
        );
    }

    #[test]
    fn chunks_respect_the_size_budget_and_keep_every_row() {
        let rows: Vec<Scrobble> = (0..100).map(|i| s("Artist", "Title", i)).collect();
        let chunks = chunk_rows(&rows, 500);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.len() <= 500 / 51));
        assert_eq!(chunks.concat(), rows);
        assert!(chunk_rows(&[], 500).is_empty());
        let grouped = by_month(vec![s("A", "x", 0), s("A", "x", 3_000_000), s("B", "y", 5)]);
        assert_eq!(
            grouped["1970-01"].iter().map(|r| r.uts).collect::<Vec<_>>(),
            vec![5, 0]
        );
        assert_eq!(grouped["1970-02"].len(), 1);
    }
}

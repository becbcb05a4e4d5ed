//! How much a user should enjoy singing a catalog song, and why: a sum of points from each signal,
//! every non-zero part explained in words. Pure; the formula and weights are in
//! `docs/RECOMMENDATIONS.md` and here as constants.
//!
//! ```text
//! score = 40 × artist familiarity      (0, or 0.3 + 0.7 × strength, when the user knows the artist)
//!       + 30 × song familiarity        (0, or 0.3 + 0.7 × strength, when the user knows the song)
//!       +  1 × karaoke brands          (at most 10)
//!       + survey history               (rating −30…+15, would sing again +8 / −15,
//!                                       too high / too low −20, comfortable +3, crowd ±4)
//!       +  8 if another song by the artist is a sung favourite
//!       +  6 decade / +4 energy preference match (only when the song's decade / energy is known)
//! ```

use std::cmp::Ordering;

use serde::Serialize;

use crate::library::{Preferences, SpotifyRank};
use crate::store::library::{ArtistRow, SongRow};
use crate::sung::{Crowd, SungSummary, VocalRange};

/// Points for knowing the artist as well as possible.
pub const ARTIST_WEIGHT: f64 = 40.0;
/// Points for knowing the song as well as possible.
pub const SONG_WEIGHT: f64 = 30.0;
/// Any familiarity at all is worth this share of its weight: knowing an artist a little beats not
/// knowing it, whatever the other signals of an unknown artist's song.
pub const KNOWN_FLOOR: f64 = 0.3;
/// Points per karaoke brand carrying the song (a common pick is easy to find and to sing along).
pub const POINTS_PER_BRAND: f64 = 1.0;
pub const MAX_BRANDS_COUNTED: u32 = 10;
/// Brands from which a song is called "a karaoke favourite".
pub const FAVOURITE_BRANDS: u32 = 5;
/// Points by the latest rating, 1★ to 5★.
pub const RATING_POINTS: [f64; 5] = [-30.0, -15.0, 0.0, 8.0, 15.0];
pub const WOULD_SING_AGAIN: f64 = 8.0;
pub const WOULD_NOT_SING_AGAIN: f64 = -15.0;
/// Too high or too low for the user's voice.
pub const OUT_OF_RANGE: f64 = -20.0;
pub const COMFORTABLE_RANGE: f64 = 3.0;
pub const CROWD_LOVED_IT: f64 = 4.0;
pub const CROWD_FLAT: f64 = -4.0;
/// Another song by this artist is among the user's sung favourites.
pub const FAVOURITE_ARTIST: f64 = 8.0;
pub const DECADE_MATCH: f64 = 6.0;
pub const ENERGY_MATCH: f64 = 4.0;

/// Last.fm plays of an artist that count as knowing it fully (log scale below).
pub const ARTIST_PLAYS_FULL: f64 = 2000.0;
/// Last.fm rank at which rank-based artist strength reaches 0 (log scale).
pub const ARTIST_RANK_ZERO: f64 = 1000.0;
/// Plays of one song that count as knowing it fully (log scale below).
pub const SONG_PLAYS_FULL: f64 = 100.0;
/// Spotify top-list length: rank 1 is full strength, rank 51 none.
pub const SPOTIFY_RANKS: f64 = 50.0;
/// Strength of an artist added by hand, and of a song added by hand.
pub const MANUAL_ARTIST: f64 = 0.5;
pub const HAND_ADDED_SONG: f64 = 0.7;

/// A catalog song that could be recommended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub song_id: String,
    pub artist: String,
    pub title: String,
    pub brand_count: u32,
    /// The song's decade ("1980s"). The catalog has no year today, so this is always unknown and
    /// decade preferences cannot apply yet.
    pub decade: Option<String>,
    /// The song's energy ("chill", "medium", "high"): likewise unknown in today's catalog.
    pub energy: Option<String>,
}

/// What the user's "Artists You Know" says about the candidate's artist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtistSignals {
    pub name: String,
    pub lastfm_playcount: Option<u64>,
    pub lastfm_rank: Option<u32>,
    pub spotify: Option<SpotifyRank>,
    pub manual: bool,
}

impl From<&ArtistRow> for ArtistSignals {
    fn from(row: &ArtistRow) -> Self {
        Self {
            name: row.name.clone(),
            lastfm_playcount: row.lastfm_playcount,
            lastfm_rank: row.lastfm_rank,
            spotify: row.spotify.clone(),
            manual: row.manual_added_at.is_some() || row.quiz,
        }
    }
}

/// What the user's "Songs You Know" says about the song (merged over the rows that are this song).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SongSignals {
    pub playcount: u64,
    pub loved: bool,
    /// Best rank in the user's Spotify top tracks.
    pub spotify: Option<SpotifyRank>,
    pub added_by_hand: bool,
}

impl SongSignals {
    pub fn from_row(row: &SongRow) -> Self {
        Self {
            playcount: row.lastfm.as_ref().map_or(0, |l| l.playcount),
            loved: row.loved || row.lastfm_loved,
            spotify: row.spotify.clone(),
            added_by_hand: row.known_song_id.is_some(),
        }
    }

    /// Two spellings of one song ("Song" and "Song - Remastered"): plays add up, the best rank wins.
    pub fn merge(&mut self, other: &SongSignals) {
        self.playcount += other.playcount;
        self.loved |= other.loved;
        self.added_by_hand |= other.added_by_hand;
        if let Some(o) = &other.spotify {
            if self
                .spotify
                .as_ref()
                .is_none_or(|s| spotify_strength(o) > spotify_strength(s))
            {
                self.spotify = Some(o.clone());
            }
        }
    }

    /// The user has listened to (or added) this song.
    pub fn is_known(&self) -> bool {
        self.playcount > 0 || self.loved || self.spotify.is_some() || self.added_by_hand
    }
}

/// Everything known about one candidate for one user.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signals<'a> {
    pub artist: Option<&'a ArtistSignals>,
    pub song: Option<&'a SongSignals>,
    pub sung: Option<&'a SungSummary>,
    /// Another song by the artist is among the user's sung favourites.
    pub favourite_artist: bool,
}

/// One part of a score, in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// Stable machine name (`artist_plays`, `song_loved`, `too_high`, …).
    pub code: &'static str,
    pub text: String,
    /// What this part added (negative: a penalty). Parts that only add detail carry 0.
    pub points: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub score: f64,
    /// Largest effect first.
    pub reasons: Vec<Reason>,
}

/// 1,234,567.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn times(n: u64) -> String {
    match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{} times", thousands(n)),
    }
}

/// 0 for no plays, 1 at `full` plays or more, logarithmic between.
pub fn plays_strength(plays: u64, full: f64) -> f64 {
    ((1.0 + plays as f64).ln() / (1.0 + full).ln()).clamp(0.0, 1.0)
}

/// 1 for rank 1, 0 at `zero` or worse, logarithmic between.
pub fn rank_strength(rank: u32, zero: f64) -> f64 {
    if rank == 0 {
        return 0.0;
    }
    (1.0 - (rank as f64).ln() / zero.ln()).clamp(0.0, 1.0)
}

fn range_factor(time_range: &str) -> f64 {
    match time_range {
        "long_term" => 1.0,
        "medium_term" => 0.9,
        _ => 0.8,
    }
}

fn range_words(time_range: &str) -> &'static str {
    match time_range {
        "long_term" => "all time",
        "medium_term" => "last 6 months",
        _ => "last 4 weeks",
    }
}

/// 1 for rank 1 of the long-term list, falling linearly to 0 past rank 50; shorter windows say a
/// little less about the user.
pub fn spotify_strength(s: &SpotifyRank) -> f64 {
    let linear = (1.0 - (s.rank.max(1) as f64 - 1.0) / SPOTIFY_RANKS).clamp(0.0, 1.0);
    linear * range_factor(&s.time_range)
}

/// Familiarity with a strength in 0..=1 becomes a share of the weight: nothing for unknown, at
/// least [`KNOWN_FLOOR`] for known.
fn familiarity(known: bool, strength: f64) -> f64 {
    if known {
        KNOWN_FLOOR + (1.0 - KNOWN_FLOOR) * strength.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The parts of artist familiarity, strongest first: (strength, code, text).
fn artist_parts(a: &ArtistSignals) -> Vec<(f64, &'static str, String)> {
    let name = &a.name;
    let mut parts = Vec::new();
    if let Some(p) = a.lastfm_playcount.filter(|p| *p > 0) {
        parts.push((
            plays_strength(p, ARTIST_PLAYS_FULL),
            "artist_plays",
            format!("You've played {name} {}", times(p)),
        ));
    }
    if let Some(r) = a.lastfm_rank.filter(|r| *r > 0) {
        parts.push((
            rank_strength(r, ARTIST_RANK_ZERO),
            "artist_lastfm_rank",
            format!("{name} is #{r} in your Last.fm top artists"),
        ));
    }
    if let Some(s) = &a.spotify {
        parts.push((
            spotify_strength(s),
            "artist_spotify_rank",
            format!(
                "{name} is #{} in your Spotify top artists ({})",
                s.rank,
                range_words(&s.time_range)
            ),
        ));
    }
    if a.manual {
        parts.push((
            MANUAL_ARTIST,
            "artist_added",
            format!("You added {name} to your artists"),
        ));
    }
    if parts.is_empty() {
        parts.push((0.0, "artist_known", format!("{name} is in your artists")));
    }
    parts.sort_by(|x, y| y.0.total_cmp(&x.0));
    parts
}

fn song_parts(s: &SongSignals) -> Vec<(f64, &'static str, String)> {
    let mut parts = Vec::new();
    if s.loved {
        parts.push((1.0, "song_loved", "You loved this track".to_string()));
    }
    if s.playcount > 0 {
        parts.push((
            plays_strength(s.playcount, SONG_PLAYS_FULL),
            "song_plays",
            format!("You've played this song {}", times(s.playcount)),
        ));
    }
    if let Some(r) = &s.spotify {
        parts.push((
            spotify_strength(r),
            "song_spotify_rank",
            format!(
                "#{} in your Spotify top tracks ({})",
                r.rank,
                range_words(&r.time_range)
            ),
        ));
    }
    if s.added_by_hand {
        parts.push((
            HAND_ADDED_SONG,
            "song_added",
            "It's in your songs".to_string(),
        ));
    }
    parts.sort_by(|x, y| y.0.total_cmp(&x.0));
    parts
}

/// Scores one candidate for one user.
pub fn score(c: &Candidate, signals: &Signals<'_>, prefs: &Preferences) -> Scored {
    let mut reasons: Vec<Reason> = Vec::new();
    let mut push = |code: &'static str, text: String, points: f64| {
        reasons.push(Reason { code, text, points });
    };

    // Familiarity: the strongest part carries the points, the others are told as detail.
    if let Some(a) = signals.artist {
        let parts = artist_parts(a);
        let points = ARTIST_WEIGHT * familiarity(true, parts[0].0);
        for (i, (_, code, text)) in parts.into_iter().enumerate() {
            push(code, text, if i == 0 { points } else { 0.0 });
        }
    }
    if let Some(s) = signals.song.filter(|s| s.is_known()) {
        let parts = song_parts(s);
        let points = SONG_WEIGHT * familiarity(true, parts[0].0);
        for (i, (_, code, text)) in parts.into_iter().enumerate() {
            push(code, text, if i == 0 { points } else { 0.0 });
        }
    }

    let brands = c.brand_count;
    if brands > 0 {
        let points = POINTS_PER_BRAND * brands.min(MAX_BRANDS_COUNTED) as f64;
        let text = if brands >= FAVOURITE_BRANDS {
            format!("A karaoke favourite: {brands} karaoke brands")
        } else if brands == 1 {
            "Available from 1 karaoke brand".to_string()
        } else {
            format!("Available from {brands} karaoke brands")
        };
        push("karaoke_brands", text, points);
    }

    if let Some(sung) = signals.sung {
        if let Some(r) = sung.rating.filter(|r| (1..=5).contains(r)) {
            push(
                "rating",
                format!("You rated it {r}★ last time"),
                RATING_POINTS[r as usize - 1],
            );
        }
        match sung.would_sing_again {
            Some(true) => push(
                "would_sing_again",
                "You said you'd sing it again".into(),
                WOULD_SING_AGAIN,
            ),
            Some(false) => push(
                "would_not_sing_again",
                "You said you wouldn't sing it again".into(),
                WOULD_NOT_SING_AGAIN,
            ),
            None => {}
        }
        match sung.vocal_range {
            Some(VocalRange::TooHigh) => {
                push("too_high", "You found it too high".into(), OUT_OF_RANGE)
            }
            Some(VocalRange::TooLow) => {
                push("too_low", "You found it too low".into(), OUT_OF_RANGE)
            }
            Some(VocalRange::Comfortable) => push(
                "comfortable",
                "It sat comfortably in your range".into(),
                COMFORTABLE_RANGE,
            ),
            None => {}
        }
        match sung.crowd_response {
            Some(Crowd::LovedIt) => push(
                "crowd_loved_it",
                "The crowd loved it".into(),
                CROWD_LOVED_IT,
            ),
            Some(Crowd::Flat) => push(
                "crowd_flat",
                "It fell flat with the crowd".into(),
                CROWD_FLAT,
            ),
            _ => {}
        }
    }

    if signals.favourite_artist {
        push(
            "favourite_artist",
            format!("You loved singing another {} song", c.artist),
            FAVOURITE_ARTIST,
        );
    }

    if let Some(decade) = &c.decade {
        if prefs.decades.iter().any(|d| d == decade) {
            push(
                "decade",
                format!("From the {decade}, a decade you like"),
                DECADE_MATCH,
            );
        }
    }
    if let (Some(energy), Some(wanted)) = (&c.energy, &prefs.energy) {
        if energy == wanted {
            push(
                "energy",
                format!("Matches the energy you like ({energy})"),
                ENERGY_MATCH,
            );
        }
    }

    let score = reasons.iter().map(|r| r.points).sum();
    // Largest effect first; the order of equal effects is the order above.
    reasons.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
    Scored { score, reasons }
}

/// The order of a recommendation list: best score first, then the more common karaoke pick, then
/// by artist, title and id so that paging is stable.
pub fn compare(a: (&Candidate, f64), b: (&Candidate, f64)) -> Ordering {
    b.1.total_cmp(&a.1)
        .then(b.0.brand_count.cmp(&a.0.brand_count))
        .then_with(|| a.0.artist.cmp(&b.0.artist))
        .then_with(|| a.0.title.cmp(&b.0.title))
        .then_with(|| a.0.song_id.cmp(&b.0.song_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, artist: &str, title: &str, brands: u32) -> Candidate {
        Candidate {
            song_id: id.into(),
            artist: artist.into(),
            title: title.into(),
            brand_count: brands,
            decade: None,
            energy: None,
        }
    }

    fn lastfm_artist(name: &str, plays: u64, rank: u32) -> ArtistSignals {
        ArtistSignals {
            name: name.into(),
            lastfm_playcount: Some(plays),
            lastfm_rank: Some(rank),
            spotify: None,
            manual: false,
        }
    }

    fn manual_artist(name: &str) -> ArtistSignals {
        ArtistSignals {
            name: name.into(),
            lastfm_playcount: None,
            lastfm_rank: None,
            spotify: None,
            manual: true,
        }
    }

    fn played(n: u64) -> SongSignals {
        SongSignals {
            playcount: n,
            ..Default::default()
        }
    }

    fn sung(rating: u8, range: Option<VocalRange>, again: Option<bool>) -> SungSummary {
        SungSummary {
            song_id: String::new(),
            artist: String::new(),
            title: String::new(),
            brand_count: None,
            times_sung: 1,
            last_sung_at: Some(1),
            rating: Some(rating),
            would_sing_again: again,
            vocal_range: range,
            crowd_response: None,
        }
    }

    fn sp(rank: u32, range: &str) -> SpotifyRank {
        SpotifyRank {
            rank,
            time_range: range.into(),
            popularity: None,
        }
    }

    /// Ranks candidates as the service does, returning their ids in order.
    fn rank(items: &[(Candidate, Signals<'_>)]) -> Vec<String> {
        let prefs = Preferences::default();
        let mut scored: Vec<(&Candidate, f64)> = items
            .iter()
            .map(|(c, s)| (c, score(c, s, &prefs).score))
            .collect();
        scored.sort_by(|a, b| compare(*a, *b));
        scored.into_iter().map(|(c, _)| c.song_id.clone()).collect()
    }

    fn texts(s: &Scored) -> Vec<&str> {
        s.reasons.iter().map(|r| r.text.as_str()).collect()
    }

    #[test]
    fn a_heavy_queen_listener_gets_queen_songs_first() {
        let queen = lastfm_artist("Queen", 1234, 1);
        let abba = lastfm_artist("ABBA", 25, 40);
        let c = [
            cand("q1", "Queen", "Bohemian Rhapsody", 4),
            cand("q2", "Queen", "Somebody to Love", 4),
            cand("q3", "Queen", "We Will Rock You", 3),
            cand("a1", "ABBA", "Dancing Queen", 6),
            cand("a2", "ABBA", "Waterloo", 6),
            cand("n1", "Nickelback", "Photograph", 6),
            cand("n2", "Bon Jovi", "Livin' on a Prayer", 6),
        ];
        let on = |c: &Candidate| {
            if c.artist == "Queen" {
                Some(&queen)
            } else if c.artist == "ABBA" {
                Some(&abba)
            } else {
                None
            }
        };
        let items: Vec<(Candidate, Signals)> = c
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    Signals {
                        artist: on(c),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let order = rank(&items);
        assert_eq!(&order[..3], ["q1", "q2", "q3"]);
        assert_eq!(&order[3..5], ["a1", "a2"]);
        // Never-heard artists come last, the more common pick first.
        assert_eq!(&order[5..], ["n2", "n1"]);
    }

    #[test]
    fn a_song_rated_one_and_too_high_drops_below_unrated_ones() {
        let queen = lastfm_artist("Queen", 1234, 1);
        let well_known = played(80);
        let bad = sung(1, Some(VocalRange::TooHigh), None);
        let items = vec![
            (
                cand("rated1", "Queen", "Bohemian Rhapsody", 6),
                Signals {
                    artist: Some(&queen),
                    song: Some(&well_known),
                    sung: Some(&bad),
                    ..Default::default()
                },
            ),
            (
                cand("unrated", "Queen", "Innuendo", 2),
                Signals {
                    artist: Some(&queen),
                    ..Default::default()
                },
            ),
            (
                cand("unrated-known", "Queen", "Somebody to Love", 2),
                Signals {
                    artist: Some(&queen),
                    song: Some(&well_known),
                    ..Default::default()
                },
            ),
        ];
        let order = rank(&items);
        assert_eq!(order, ["unrated-known", "unrated", "rated1"]);
        let s = score(&items[0].0, &items[0].1, &Preferences::default());
        assert!(texts(&s).contains(&"You found it too high"));
        assert!(texts(&s).contains(&"You rated it 1★ last time"));
        let too_high = s.reasons.iter().find(|r| r.code == "too_high").unwrap();
        assert_eq!(too_high.points, OUT_OF_RANGE);
    }

    #[test]
    fn a_never_heard_artist_ranks_below_known_ones() {
        // The weakest knowledge of an artist (added by hand, one brand) still beats the most
        // common karaoke pick by an artist the user has never heard.
        let known = manual_artist("Some Band");
        let barely = lastfm_artist("Barely", 1, 999);
        let items = vec![
            (cand("unknown", "Stranger", "Hit", 25), Signals::default()),
            (
                cand("manual", "Some Band", "Deep Cut", 1),
                Signals {
                    artist: Some(&known),
                    ..Default::default()
                },
            ),
            (
                cand("barely", "Barely", "Song", 1),
                Signals {
                    artist: Some(&barely),
                    ..Default::default()
                },
            ),
        ];
        let order = rank(&items);
        assert_eq!(order.last().unwrap(), "unknown");
    }

    #[test]
    fn brand_count_breaks_ties() {
        let queen = lastfm_artist("Queen", 500, 2);
        let items = vec![
            (
                cand("few", "Queen", "A", 2),
                Signals {
                    artist: Some(&queen),
                    ..Default::default()
                },
            ),
            (
                cand("many", "Queen", "B", 6),
                Signals {
                    artist: Some(&queen),
                    ..Default::default()
                },
            ),
            (
                cand("some", "Queen", "C", 4),
                Signals {
                    artist: Some(&queen),
                    ..Default::default()
                },
            ),
        ];
        assert_eq!(rank(&items), ["many", "some", "few"]);
        // Past the counted maximum, brands tie in score and the count still orders them.
        let a = cand("a", "X", "T", 30);
        let b = cand("b", "X", "T", 12);
        let s = Signals::default();
        let p = Preferences::default();
        assert_eq!(score(&a, &s, &p).score, score(&b, &s, &p).score);
        assert_eq!(compare((&a, 10.0), (&b, 10.0)), Ordering::Less);
    }

    #[test]
    fn reasons_are_in_words() {
        let queen = lastfm_artist("Queen", 1234, 3);
        let song = SongSignals {
            playcount: 57,
            loved: true,
            spotify: Some(sp(4, "medium_term")),
            added_by_hand: false,
        };
        let mut five = sung(5, Some(VocalRange::Comfortable), Some(true));
        five.crowd_response = Some(Crowd::LovedIt);
        let c = cand("q1", "Queen", "Bohemian Rhapsody", 6);
        let s = score(
            &c,
            &Signals {
                artist: Some(&queen),
                song: Some(&song),
                sung: Some(&five),
                favourite_artist: true,
            },
            &Preferences::default(),
        );
        let t = texts(&s);
        for expected in [
            "You've played Queen 1,234 times",
            "Queen is #3 in your Last.fm top artists",
            "You loved this track",
            "You've played this song 57 times",
            "#4 in your Spotify top tracks (last 6 months)",
            "A karaoke favourite: 6 karaoke brands",
            "You rated it 5★ last time",
            "You said you'd sing it again",
            "It sat comfortably in your range",
            "The crowd loved it",
            "You loved singing another Queen song",
        ] {
            assert!(t.contains(&expected), "missing {expected:?} in {t:?}");
        }
        // The biggest effect first, and the score is the sum of the parts.
        assert_eq!(s.reasons[0].code, "artist_plays");
        let sum: f64 = s.reasons.iter().map(|r| r.points).sum();
        assert!((sum - s.score).abs() < 1e-9);
        assert!(s
            .reasons
            .windows(2)
            .all(|w| w[0].points.abs() >= w[1].points.abs()));
        // 1,234 plays say more than rank 3: the plays carry the points, the rank is detail.
        assert_eq!(
            s.reasons
                .iter()
                .filter(|r| r.code.starts_with("artist_") && r.points > 0.0)
                .count(),
            1
        );
    }

    #[test]
    fn artist_and_song_reasons_for_each_source() {
        let p = Preferences::default();
        let c = cand("x", "Queen", "T", 1);
        let spotify = ArtistSignals {
            name: "Queen".into(),
            lastfm_playcount: None,
            lastfm_rank: None,
            spotify: Some(sp(5, "long_term")),
            manual: false,
        };
        let one = played(1);
        let s = score(
            &c,
            &Signals {
                artist: Some(&spotify),
                song: Some(&one),
                ..Default::default()
            },
            &p,
        );
        let t = texts(&s);
        assert!(t.contains(&"Queen is #5 in your Spotify top artists (all time)"));
        assert!(t.contains(&"You've played this song once"));
        assert!(t.contains(&"Available from 1 karaoke brand"));
        let manual = manual_artist("Queen");
        let added = SongSignals {
            added_by_hand: true,
            ..Default::default()
        };
        let s = score(
            &c,
            &Signals {
                artist: Some(&manual),
                song: Some(&added),
                ..Default::default()
            },
            &p,
        );
        let t = texts(&s);
        assert!(t.contains(&"You added Queen to your artists"));
        assert!(t.contains(&"It's in your songs"));
        let mut no = sung(2, Some(VocalRange::TooLow), Some(false));
        no.crowd_response = Some(Crowd::Flat);
        let s = score(
            &c,
            &Signals {
                sung: Some(&no),
                ..Default::default()
            },
            &p,
        );
        let t = texts(&s);
        assert!(t.contains(&"You found it too low"));
        assert!(t.contains(&"You said you wouldn't sing it again"));
        assert!(t.contains(&"It fell flat with the crowd"));
        assert_eq!(s.score, 1.0 - 15.0 - 15.0 - 20.0 - 4.0);
    }

    #[test]
    fn survey_history_moves_songs() {
        let queen = lastfm_artist("Queen", 300, 3);
        let c = cand("q", "Queen", "T", 4);
        let p = Preferences::default();
        let base = score(
            &c,
            &Signals {
                artist: Some(&queen),
                ..Default::default()
            },
            &p,
        )
        .score;
        let with = |s: &SungSummary, fav: bool| {
            score(
                &c,
                &Signals {
                    artist: Some(&queen),
                    sung: Some(s),
                    favourite_artist: fav,
                    ..Default::default()
                },
                &p,
            )
            .score
        };
        assert!(with(&sung(5, None, None), false) > with(&sung(4, None, None), false));
        assert!(with(&sung(4, None, None), false) > base);
        assert_eq!(with(&sung(3, None, None), false), base);
        assert!(with(&sung(2, None, None), false) < base);
        assert!(with(&sung(3, None, Some(true)), false) > base);
        assert!(with(&sung(3, None, Some(false)), false) < base);
        assert!(with(&sung(3, None, None), true) > base);
        assert!(with(&sung(3, Some(VocalRange::TooLow), None), false) < base);
    }

    #[test]
    fn decade_and_energy_count_only_when_the_song_has_them() {
        let prefs = Preferences {
            decades: vec!["1980s".into()],
            energy: Some("high".into()),
            genres: vec![],
        };
        let plain = cand("a", "X", "T", 3);
        let s = Signals::default();
        assert_eq!(
            score(&plain, &s, &prefs).score,
            score(&plain, &s, &Preferences::default()).score
        );
        let eighties = Candidate {
            decade: Some("1980s".into()),
            energy: Some("high".into()),
            ..plain.clone()
        };
        let scored = score(&eighties, &s, &prefs);
        assert_eq!(scored.score, 3.0 + DECADE_MATCH + ENERGY_MATCH);
        assert!(texts(&scored).contains(&"From the 1980s, a decade you like"));
        let nineties = Candidate {
            decade: Some("1990s".into()),
            energy: Some("chill".into()),
            ..plain
        };
        assert_eq!(score(&nineties, &s, &prefs).score, 3.0);
    }

    #[test]
    fn strengths_are_bounded_and_monotonic() {
        assert_eq!(plays_strength(0, ARTIST_PLAYS_FULL), 0.0);
        assert_eq!(plays_strength(5000, ARTIST_PLAYS_FULL), 1.0);
        assert!(plays_strength(10, 100.0) < plays_strength(11, 100.0));
        assert_eq!(rank_strength(1, ARTIST_RANK_ZERO), 1.0);
        assert_eq!(rank_strength(0, ARTIST_RANK_ZERO), 0.0);
        assert_eq!(rank_strength(5000, ARTIST_RANK_ZERO), 0.0);
        assert!(rank_strength(10, ARTIST_RANK_ZERO) > rank_strength(11, ARTIST_RANK_ZERO));
        assert_eq!(spotify_strength(&sp(1, "long_term")), 1.0);
        assert_eq!(spotify_strength(&sp(60, "long_term")), 0.0);
        assert!(spotify_strength(&sp(1, "short_term")) < spotify_strength(&sp(1, "medium_term")));
        // Unknown: nothing; known at all: at least the floor.
        assert_eq!(familiarity(false, 1.0), 0.0);
        assert_eq!(familiarity(true, 0.0), KNOWN_FLOOR);
        assert_eq!(familiarity(true, 1.0), 1.0);
        // An artist row with no usable part still counts as known.
        let empty = ArtistSignals {
            name: "Q".into(),
            lastfm_playcount: Some(0),
            lastfm_rank: None,
            spotify: None,
            manual: false,
        };
        let s = score(
            &cand("x", "Q", "T", 0),
            &Signals {
                artist: Some(&empty),
                ..Default::default()
            },
            &Preferences::default(),
        );
        assert_eq!(s.score, ARTIST_WEIGHT * KNOWN_FLOOR);
        assert_eq!(s.reasons[0].text, "Q is in your artists");
    }

    #[test]
    fn song_signals_merge_spellings() {
        let mut a = SongSignals {
            playcount: 10,
            spotify: Some(sp(20, "short_term")),
            ..Default::default()
        };
        a.merge(&SongSignals {
            playcount: 5,
            loved: true,
            spotify: Some(sp(3, "long_term")),
            added_by_hand: false,
        });
        assert_eq!(a.playcount, 15);
        assert!(a.loved);
        assert_eq!(a.spotify.unwrap().rank, 3);
        assert!(!SongSignals::default().is_known());
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(times(2), "twice");
    }
}

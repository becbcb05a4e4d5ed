//! Sung songs and recommendations against the stack's DynamoDB table (store level): idempotent
//! recording, lists and "My Favorites", legacy records, isolation, and recommendations for
//! constructed users where the right answer is obvious, at a bounded number of reads per page.
//!
//! Needs the stack's environment (`TABLE_NAME`, the AWS endpoint): run under `make test`, or with
//! `.local/stack.env` present. Without it every test fails, naming what is missing.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::future::join_all;
use karaoke_shared::catalog::store::song_item as catalog_song_item;
use karaoke_shared::catalog::CatalogSong;
use karaoke_shared::library::{sort_key_with_loved, SpotifyRank};
use karaoke_shared::normalize::{artist_key, TrackIdentity};
use karaoke_shared::recommend::{catalog_artist_index, Filter, Limits, Recommendation};
use karaoke_shared::store::attr::Item;
use karaoke_shared::store::keys;
use karaoke_shared::store::library::Change;
use karaoke_shared::store::Store;
use karaoke_shared::sung::{SungCatalogSong, SungSubmission, ValidSubmission, VocalRange};
use karaoke_tests::{ensure_sample_catalog, stack_env, unique};

fn table_name() -> String {
    stack_env();
    match std::env::var("TABLE_NAME")
        .ok()
        .or_else(|| stack_env().get("TABLE_NAME").cloned())
    {
        Some(t) if !t.is_empty() => t,
        _ => panic!(
            "TABLE_NAME is not set and .local/stack.env has none: these tests need the local \
             stack's DynamoDB (run them with `make test`, or `make up` first)"
        ),
    }
}

/// A fresh store (its own request counters) on the stack's table.
async fn store() -> Store {
    let table = table_name();
    let config = karaoke_shared::aws::sdk_config().await;
    Store::new(aws_sdk_dynamodb::Client::new(&config), table)
}

fn now() -> i64 {
    karaoke_shared::clock::now_secs()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn put_all(store: &Store, items: Vec<Item>) {
    for chunk in items.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|i| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(i.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        while !pending.is_empty() {
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table(), pending)
                .send()
                .await
                .expect("batch write");
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(store.table()))
                .unwrap_or_default();
        }
    }
}

/// A song row of "Songs You Know" as the sync writes it.
fn song_row(
    user: &str,
    artist: &str,
    title: &str,
    plays: Option<u64>,
    loved: bool,
    spotify: Option<(u32, &str)>,
) -> Item {
    let key = TrackIdentity::of(artist, title).key();
    let sp = spotify.map(|(rank, range)| SpotifyRank {
        rank,
        time_range: range.into(),
        popularity: None,
    });
    let mut item = Item::from([
        ("pk".to_string(), s(keys::user_pk(user))),
        ("sk".to_string(), s(keys::track_sk(&key))),
        ("entity".to_string(), s("song")),
        ("track_key".to_string(), s(&key)),
        ("artist".to_string(), s(artist)),
        ("title".to_string(), s(title)),
        ("version".to_string(), n(1)),
        ("gsi1pk".to_string(), s(keys::songs_gsi_pk(user))),
        (
            "gsi1sk".to_string(),
            s(sort_key_with_loved(plays, sp.as_ref(), loved, None, &key)),
        ),
    ]);
    if let Some(p) = plays {
        item.insert("playcount".into(), n(p));
        item.insert("first_uts".into(), n(1_600_000_000));
        item.insert("last_uts".into(), n(1_700_000_000));
    }
    if loved {
        item.insert("lfm_loved".into(), AttributeValue::Bool(true));
    }
    if let Some(sp) = sp {
        item.insert("sp_rank".into(), n(sp.rank));
        item.insert("sp_time_range".into(), s(sp.time_range));
    }
    item
}

/// An artist row of "Artists You Know".
fn artist_row(user: &str, name: &str, plays: Option<u64>, rank: Option<u32>) -> Item {
    let key = artist_key(name);
    let mut item = Item::from([
        ("pk".to_string(), s(keys::user_pk(user))),
        ("sk".to_string(), s(keys::artist_sk(&key))),
        ("entity".to_string(), s("artist")),
        ("artist_key".to_string(), s(&key)),
        ("name".to_string(), s(name)),
        ("version".to_string(), n(1)),
        ("gsi1pk".to_string(), s(keys::artists_gsi_pk(user))),
        (
            "gsi1sk".to_string(),
            s(karaoke_shared::library::sort_key(plays, None, None, &key)),
        ),
    ]);
    if let Some(p) = plays {
        item.insert("lfm_playcount".into(), n(p));
    }
    if let Some(r) = rank {
        item.insert("lfm_rank".into(), n(r));
    }
    item
}

/// A catalog song with the artist index the recommendations read.
fn catalog_row(id: &str, artist: &str, title: &str, brands: u32) -> Item {
    let song = CatalogSong {
        line: 2,
        id: id.into(),
        artist: artist.into(),
        title: title.into(),
        brands: (0..brands).map(|b| format!("Brand {b}")).collect(),
        brand_count: brands,
    };
    let mut item = catalog_song_item(&song);
    item.extend(catalog_artist_index(artist, brands, id));
    item
}

fn submission(song_id: &str, rid: &str, at: i64, rating: u8) -> SungSubmission {
    SungSubmission {
        song_id: song_id.into(),
        sung_at: Some(at),
        rating,
        would_sing_again: None,
        vocal_range: None,
        difficulty: None,
        crowd_response: None,
        notes: None,
        client_request_id: rid.into(),
    }
}

fn valid(s: SungSubmission) -> ValidSubmission {
    s.validate(now()).expect("valid submission")
}

async fn catalog_song(store: &Store, id: &str) -> SungCatalogSong {
    let entry = store
        .catalog_song_by_id(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{id} is in the sample catalog"));
    SungCatalogSong::from(&entry)
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

#[tokio::test]
async fn sung_songs_are_recorded_listed_newest_first_and_deleted() {
    let store = store().await;
    ensure_sample_catalog().await;
    let user = unique("sung");
    let t = now();
    let (bo, dont, some) = (
        catalog_song(&store, "KS0001").await,
        catalog_song(&store, "KS0002").await,
        catalog_song(&store, "KS0003").await,
    );

    let first = store
        .record_sung(
            &user,
            &bo,
            &valid(submission("KS0001", "a1", t - 300, 5)),
            t,
        )
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.song.times_sung, 1);
    assert_eq!(first.song.artist, "Queen");
    // A retry of the same submission changes nothing.
    let retry = store
        .record_sung(
            &user,
            &bo,
            &valid(submission("KS0001", "a1", t - 300, 5)),
            t + 1,
        )
        .await
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.song.times_sung, 1);
    assert_eq!(retry.song, first.song);

    let mut too_high = submission("KS0002", "b1", t - 200, 2);
    too_high.vocal_range = Some(VocalRange::TooHigh);
    too_high.notes = Some("key change!\nnext time lower".into());
    store
        .record_sung(&user, &dont, &valid(too_high), t)
        .await
        .unwrap();
    let mut again = submission("KS0003", "c1", t - 100, 3);
    again.would_sing_again = Some(true);
    store
        .record_sung(&user, &some, &valid(again), t)
        .await
        .unwrap();

    let (all, next) = store.list_sung(&user, false, 10, None).await.unwrap();
    assert_eq!(
        ids(&all, |s| &s.song_id),
        ["KS0003", "KS0002", "KS0001"],
        "newest first"
    );
    assert!(next.is_none());
    let stored = &all[1];
    assert_eq!(stored.rating, Some(2));
    let latest = stored.latest.as_ref().unwrap();
    assert_eq!(latest.vocal_range, Some(VocalRange::TooHigh));
    assert_eq!(
        latest.notes.as_deref(),
        Some("key change!\nnext time lower")
    );

    // Page by page.
    let (p1, next) = store.list_sung(&user, false, 2, None).await.unwrap();
    assert_eq!(ids(&p1, |s| &s.song_id), ["KS0003", "KS0002"]);
    let (p2, _) = store
        .list_sung(&user, false, 2, Some(next.expect("a second page")))
        .await
        .unwrap();
    assert_eq!(ids(&p2, |s| &s.song_id), ["KS0001"]);

    // "My Favorites": rated 4-5 or would sing again.
    let (favs, _) = store.list_sung(&user, true, 10, None).await.unwrap();
    assert_eq!(ids(&favs, |s| &s.song_id), ["KS0003", "KS0001"]);

    // Sung again, badly: it moves to the top of the list and out of the favourites.
    let second = store
        .record_sung(&user, &bo, &valid(submission("KS0001", "a2", t, 1)), t)
        .await
        .unwrap();
    assert_eq!(second.song.times_sung, 2);
    assert_eq!(second.song.sung_at, [t, t - 300]);
    assert_eq!(second.song.history.len(), 2);
    assert_eq!(second.song.rating, Some(1));
    let (all, _) = store.list_sung(&user, false, 10, None).await.unwrap();
    assert_eq!(ids(&all, |s| &s.song_id), ["KS0001", "KS0003", "KS0002"]);
    let (favs, _) = store.list_sung(&user, true, 10, None).await.unwrap();
    assert_eq!(ids(&favs, |s| &s.song_id), ["KS0003"]);

    // Annotating a song list.
    let many = store
        .get_sung_many(&user, &["KS0001".into(), "KS0002".into(), "KS9999".into()])
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(many["KS0001"].times_sung, 2);
    assert_eq!(many["KS0001"].rating, Some(1));
    assert_eq!(many["KS0002"].vocal_range, Some(VocalRange::TooHigh));

    // Another user sees none of it, and their performances are their own.
    let other = unique("sung-other");
    assert!(store
        .list_sung(&other, false, 10, None)
        .await
        .unwrap()
        .0
        .is_empty());
    assert!(store
        .list_sung(&other, true, 10, None)
        .await
        .unwrap()
        .0
        .is_empty());
    let theirs = store
        .record_sung(&other, &bo, &valid(submission("KS0001", "a1", t, 4)), t)
        .await
        .unwrap();
    assert!(!theirs.duplicate, "request ids are per user and song");
    assert_eq!(theirs.song.times_sung, 1);
    assert_eq!(
        store
            .get_sung(&user, "KS0001")
            .await
            .unwrap()
            .unwrap()
            .times_sung,
        2
    );

    // Delete.
    assert_eq!(
        store.delete_sung(&user, "KS0002").await.unwrap(),
        Change::Made
    );
    assert_eq!(
        store.delete_sung(&user, "KS0002").await.unwrap(),
        Change::AlreadySo
    );
    let (all, _) = store.list_sung(&user, false, 10, None).await.unwrap();
    assert_eq!(ids(&all, |s| &s.song_id), ["KS0001", "KS0003"]);
}

#[tokio::test]
async fn concurrent_retries_count_once_and_concurrent_performances_all_count() {
    let store = store().await;
    ensure_sample_catalog().await;
    let user = unique("sung-race");
    let song = catalog_song(&store, "KS0004").await;
    let t = now();
    let same = valid(submission("KS0004", "same-request", t - 50, 4));
    let outcomes = join_all((0..8).map(|_| store.record_sung(&user, &song, &same, t))).await;
    let applied = outcomes
        .iter()
        .filter(|o| !o.as_ref().unwrap().duplicate)
        .count();
    assert_eq!(
        applied, 1,
        "exactly one of eight identical submissions applies"
    );
    let record = store.get_sung(&user, "KS0004").await.unwrap().unwrap();
    assert_eq!(record.times_sung, 1);

    let distinct: Vec<ValidSubmission> = (0..8)
        .map(|i| valid(submission("KS0004", &format!("perf-{i}"), t - 40 + i, 3)))
        .collect();
    let outcomes = join_all(
        distinct
            .iter()
            .map(|s| store.record_sung(&user, &song, s, t)),
    )
    .await;
    for o in outcomes {
        assert!(!o.unwrap().duplicate);
    }
    let record = store.get_sung(&user, "KS0004").await.unwrap().unwrap();
    assert_eq!(record.times_sung, 9);
    assert_eq!(record.sung_at.len(), 9);
    assert_eq!(record.request_ids.len(), 9);
    assert_eq!(record.sung_at[0], t - 33);
    assert_eq!(record.last_sung_at, Some(t - 33));
}

#[tokio::test]
async fn legacy_records_are_read_extended_and_then_listed() {
    let store = store().await;
    let user = unique("sung-legacy");
    let id = "lastfm:queen:bohemian rhapsody";
    put_all(
        &store,
        vec![Item::from([
            ("pk".to_string(), s(keys::user_pk(&user))),
            ("sk".to_string(), s(format!("SUNG#{id}"))),
            ("song_id".to_string(), s(id)),
            ("artist".to_string(), s("Queen")),
            ("title".to_string(), s("Bohemian Rhapsody")),
            ("times_sung".to_string(), n(4)),
            ("last_sung_at".to_string(), s("2024-05-01T20:00:00Z")),
            ("average_rating".to_string(), n(4.5)),
            ("source".to_string(), s("legacy")),
            ("notes".to_string(), s("from the old app")),
        ])],
    )
    .await;
    let legacy = store.get_sung(&user, id).await.unwrap().unwrap();
    assert_eq!(legacy.times_sung, 4);
    assert_eq!(legacy.rating, Some(5));
    assert!(legacy.is_favorite());
    let many = store.get_sung_many(&user, &[id.to_string()]).await.unwrap();
    assert_eq!(many[id].times_sung, 4);

    let song = SungCatalogSong {
        id: id.into(),
        artist: "Queen".into(),
        title: "Bohemian Rhapsody".into(),
        brand_count: 6,
    };
    let t = now();
    let r = store
        .record_sung(&user, &song, &valid(submission(id, "first-new", t, 3)), t)
        .await
        .unwrap();
    assert_eq!(r.song.times_sung, 5);
    assert_eq!(r.song.sung_at, [t, 1_714_593_600]);
    assert_eq!(r.song.source.as_deref(), Some("legacy"));
    let (all, _) = store.list_sung(&user, false, 10, None).await.unwrap();
    assert_eq!(ids(&all, |s| &s.song_id), [id]);
    let raw = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", s(keys::user_pk(&user)))
        .key("sk", s(format!("SUNG#{id}")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        raw["notes"],
        s("from the old app"),
        "legacy attributes are kept"
    );
    assert_eq!(raw["average_rating"], n(4.5));
}

/// A user who listens to a lot of one artist, a little of another, once to a stranger; their
/// catalog (under names only this test uses) has the artist index.
struct Constructed {
    user: String,
    queen: String,
    abba: String,
    stranger: String,
}

async fn constructed_user(store: &Store) -> Constructed {
    let tag = unique("rec");
    let user = tag.clone();
    let queen = format!("Queen {tag}");
    let abba = format!("ABBA {tag}");
    let stranger = format!("Stranger {tag}");
    let mut catalog = vec![
        catalog_row(&format!("{tag}-q1"), &queen, "Bohemian Rhapsody", 6),
        catalog_row(&format!("{tag}-q2"), &queen, "Don't Stop Me Now", 6),
        catalog_row(&format!("{tag}-q3"), &queen, "Somebody to Love", 5),
        catalog_row(&format!("{tag}-q4"), &queen, "Innuendo", 3),
        catalog_row(&format!("{tag}-q5"), &queen, "We Will Rock You", 4),
        catalog_row(&format!("{tag}-a1"), &abba, "Dancing Queen", 6),
        catalog_row(&format!("{tag}-a2"), &abba, "Waterloo", 6),
        catalog_row(&format!("{tag}-s1"), &stranger, "Hit", 6),
    ];
    // A catalog duplicate of a song (same match key, fewer brands): recommended once.
    catalog.push(catalog_row(
        &format!("{tag}-q1dup"),
        &queen,
        "Bohemian Rhapsody (Remastered 2011)",
        2,
    ));
    put_all(store, catalog).await;
    put_all(
        store,
        vec![
            artist_row(&user, &queen, Some(1234), Some(1)),
            artist_row(&user, &abba, Some(20), Some(2)),
            song_row(&user, &queen, "Bohemian Rhapsody", Some(300), false, None),
            song_row(&user, &queen, "Innuendo", Some(50), false, None),
            song_row(&user, &stranger, "Hit", Some(1), false, None),
            song_row(&user, &abba, "Waterloo", None, true, None),
        ],
    )
    .await;
    let t = now();
    let sung = |id: &str, artist: &str, title: &str, brands| SungCatalogSong {
        id: format!("{tag}-{id}"),
        artist: artist.to_string(),
        title: title.into(),
        brand_count: brands,
    };
    let mut bad = submission(&format!("{tag}-q4"), "bad", t - 100, 1);
    bad.vocal_range = Some(VocalRange::TooHigh);
    store
        .record_sung(&user, &sung("q4", &queen, "Innuendo", 3), &valid(bad), t)
        .await
        .unwrap();
    store
        .record_sung(
            &user,
            &sung("q3", &queen, "Somebody to Love", 5),
            &valid(submission(&format!("{tag}-q3"), "good", t - 50, 5)),
            t,
        )
        .await
        .unwrap();
    Constructed {
        user,
        queen,
        abba,
        stranger,
    }
}

fn titles(items: &[Recommendation]) -> Vec<String> {
    items.iter().map(|r| r.title.clone()).collect()
}

fn texts(r: &Recommendation) -> Vec<&str> {
    r.reasons.iter().map(|x| x.text.as_str()).collect()
}

#[tokio::test]
async fn recommendations_for_a_constructed_user_are_the_obvious_ones() {
    let store = store().await;
    let c = constructed_user(&store).await;
    let page = store
        .recommendations(&c.user, Filter::All, 0, 50)
        .await
        .unwrap();
    let all = page.items;
    assert_eq!(page.total, 8, "{:#?}", titles(&all));
    assert!(page.next_offset.is_none());
    let pos = |title: &str| all.iter().position(|r| r.title == title).unwrap();
    let order = titles(&all);

    // The heavy Queen listener gets Queen songs first, the most played first.
    assert_eq!(order[0], "Bohemian Rhapsody", "{order:?}");
    assert_eq!(all[0].artist, c.queen);
    assert_eq!(all[0].song_id, format!("{}-q1", c.user), "the common pick");
    for title in ["Don't Stop Me Now", "Somebody to Love", "We Will Rock You"] {
        assert!(pos(title) < pos("Dancing Queen"), "{order:?}");
    }
    // Rated 1 and too high: below every unrated Queen song.
    for title in ["Don't Stop Me Now", "We Will Rock You"] {
        assert!(pos(title) < pos("Innuendo"), "{order:?}");
    }
    // A never-heard artist comes after every known artist's song.
    assert_eq!(order.last().unwrap(), "Hit", "{order:?}");
    assert_eq!(all.last().unwrap().artist, c.stranger);
    // The more common pick first among equals (6 brands before 4).
    assert!(pos("Don't Stop Me Now") < pos("We Will Rock You"));

    let bo = &all[0];
    assert!(bo.known);
    let t = texts(bo);
    assert!(
        t.contains(&format!("You've played {} 1,234 times", c.queen).as_str()),
        "{t:?}"
    );
    assert!(t.contains(&"You've played this song 300 times"), "{t:?}");
    assert!(
        t.contains(&"A karaoke favourite: 6 karaoke brands"),
        "{t:?}"
    );
    let waterloo = &all[pos("Waterloo")];
    assert_eq!(waterloo.artist, c.abba);
    assert!(texts(waterloo).contains(&"You loved this track"));
    let innuendo = &all[pos("Innuendo")];
    assert!(texts(innuendo).contains(&"You found it too high"));
    assert!(texts(innuendo).contains(&"You rated it 1★ last time"));
    assert_eq!(innuendo.sung.as_ref().unwrap().rating, Some(1));
    let somebody = &all[pos("Somebody to Love")];
    assert!(texts(somebody).contains(&"You rated it 5★ last time"));
    assert!(somebody.sung.as_ref().unwrap().favorite);

    // Filters.
    let titles_for = |f| {
        let store = store.clone();
        let user = c.user.clone();
        async move { titles(&store.recommendations(&user, f, 0, 50).await.unwrap().items) }
    };
    assert_eq!(titles_for(Filter::Favorites).await, ["Somebody to Love"]);
    let new = titles_for(Filter::New).await;
    assert_eq!(new.len(), 6);
    assert!(
        !new.contains(&"Innuendo".to_string()) && !new.contains(&"Somebody to Love".to_string())
    );
    let mut known = titles_for(Filter::Known).await;
    known.sort();
    assert_eq!(known, ["Bohemian Rhapsody", "Hit", "Innuendo", "Waterloo"]);

    // Pages, by offset, cover the list once.
    let mut paged = Vec::new();
    let mut offset = 0;
    loop {
        let p = store
            .recommendations(&c.user, Filter::All, offset, 3)
            .await
            .unwrap();
        paged.extend(p.items.iter().map(|r| r.song_id.clone()));
        match p.next_offset {
            Some(o) => offset = o,
            None => break,
        }
    }
    assert_eq!(paged, ids(&all, |r| &r.song_id));

    // Another user gets none of this user's songs.
    let other = store
        .recommendations(&unique("rec-other"), Filter::All, 0, 50)
        .await
        .unwrap();
    assert!(other.items.iter().all(|r| !r.song_id.starts_with(&c.user)));
}

#[tokio::test]
async fn a_recommendation_page_reads_a_bounded_number_of_items_whatever_the_library_size() {
    let limits = Limits::default();
    let setup = store().await;
    let c = constructed_user(&setup).await;

    // A big library: 1,500 songs over 400 artists, some of them in the catalog.
    let big = unique("rec-big");
    let mut rows = Vec::new();
    let mut catalog = Vec::new();
    for a in 0..400u64 {
        let artist = format!("Bulk {big} {a}");
        rows.push(artist_row(
            &big,
            &artist,
            Some(5000 - a * 10),
            Some(a as u32 + 1),
        ));
        if a < 40 {
            for k in 0..12u32 {
                catalog.push(catalog_row(
                    &format!("{big}-{a}-{k}"),
                    &artist,
                    &format!("Song {k}"),
                    1 + k % 6,
                ));
            }
        }
    }
    for i in 0..1500u64 {
        let artist = format!("Bulk {big} {}", i % 400);
        rows.push(song_row(
            &big,
            &artist,
            &format!("Song {}", i / 400),
            Some(2000 - i),
            false,
            None,
        ));
    }
    put_all(&setup, catalog).await;
    put_all(&setup, rows).await;

    let mut counts: HashMap<&str, u64> = HashMap::new();
    for (name, user, offset) in [
        ("small", c.user.as_str(), 0usize),
        ("big, page 1", big.as_str(), 0),
        ("big, page 5", big.as_str(), 200),
    ] {
        let store = store().await;
        let page = store
            .recommendations_with(user, Filter::All, offset, 50, &limits)
            .await
            .unwrap();
        let reads = store.metrics.reads.load(Ordering::Relaxed);
        let writes = store.metrics.writes.load(Ordering::Relaxed);
        eprintln!(
            "{name}: {reads} read requests (bound {}), {} candidates, {} items",
            limits.max_reads(),
            page.total,
            page.items.len()
        );
        assert!(reads <= limits.max_reads(), "{name}: {reads} reads");
        assert_eq!(writes, 0);
        counts.insert(name, reads);
        if user == big {
            assert!(page.total as u64 <= limits.max_candidates());
            assert!(
                page.total >= 300,
                "the top artists' catalog songs are candidates"
            );
        }
    }
    assert_eq!(
        counts["big, page 1"], counts["big, page 5"],
        "a deep page costs what the first does"
    );
}

#!/usr/bin/env python3
"""Writes a synthetic export of the older system's ``user_songs`` records (JSON lines) for the
legacy migration's tests and benchmarks (``karaoke migrate-legacy``, docs/MIGRATION.md).

    python3 infra/migrate/generate_export.py --records 12000 --seed 1 --out /tmp/legacy.jsonl \
        [--bad-every 97] [--users 40] [--user-prefix legacy] [--expect /tmp/legacy.expected.json]

Standard library only. The output depends only on the arguments: the same arguments give the same
bytes, on any machine.

* ``--records`` lines are written, one record per line (bad lines included); line ``i`` is
  record ``i`` (1-based).
* ``--bad-every N`` makes every N-th line (``i % N == 0``) bad, cycling through the kinds in
  ``BAD_KINDS`` (invalid JSON, a number written as a string, an unknown source, a missing user, a
  negative number, not an object, an invalid user id, no artist/title with a composite id, a
  boolean written as "yes", an unreadable timestamp, a rating above 5, a Spotify record with
  nothing to migrate, a missing id, a catalog id the catalog does not have). A migration must
  reject exactly those lines, and no others.
* Good records belong to ``--users`` users named ``<prefix>-u000`` ... and, first, a showcase
  user ``<prefix>-showcase`` whose records exercise every variant one by one (see ``SHOWCASE``;
  the expectations for it are in the ``--expect`` file). Every variant: each source (lastfm,
  spotify, manual, known_songs, quiz), with and without a real ``playcount``, ``play_count``
  (old name) and/or ``sync_count``, catalog ids (with and without names), composite ids, no
  id, saved, sung, rated, notes (multi-line, over 500 characters), popularity or none,
  missing optional fields and nulls, unknown extra fields, timestamps as RFC 3339, Python
  ``isoformat()`` without an offset, or Unix seconds, Unicode names (Beyoncé, 宇多田ヒカル,
  Кино), spellings that fold to one track ("Beyonce"/"Beyoncé"), and an exact duplicate line.
* Catalog ids come from ``--catalog`` (default: the shipped sample catalog, which the tests
  load), so ids without names resolve.
* ``--expect PATH`` writes what a migration of the file must report: the bad lines with the
  start of each reason, the number of good records, the showcase user's expected songs, known
  songs and sung records.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CATALOG = os.path.join(HERE, "..", "catalog", "sample.csv")

# (kind, start of the rejection reason)
BAD_KINDS = [
    ("invalid_json", "invalid JSON"),
    ("number_as_string", "play_count: expected a whole number, got a string"),
    ("unknown_source", "source: unknown source \"deezer\""),
    ("missing_user", "user_id: missing"),
    ("negative_number", "playcount: must not be negative"),
    ("not_an_object", "not a JSON object"),
    ("invalid_user_id", "user_id: \"bad user!\" is not a valid user id"),
    ("no_names", "artist and title: missing"),
    ("bool_as_string", "is_saved: expected true or false, got a string"),
    ("bad_timestamp", "last_played_at: expected an RFC 3339 timestamp"),
    ("rating_too_high", "average_rating: must be at most 5"),
    ("spotify_nothing", "rank: missing"),
    ("missing_id", "id: missing"),
    ("unknown_catalog_id", "song_id: \"NOPE-404\" is not in the karaoke catalog"),
]

SPECIAL_ARTISTS = ["Beyoncé", "Motörhead", "宇多田ヒカル", "Кино", "AC/DC", "Sigur Rós", "Björk",
                   "Guns N' Roses", "Mötley Crüe", "방탄소년단", "Édith Piaf", "Zoé", "*NSYNC"]
SYLLABLES = ["ka", "lo", "mi", "ra", "ven", "tor", "el", "sa", "dri", "no", "bel", "que", "zan",
             "fi", "ro", "du", "ké", "lö", "ña", "vé"]
WORDS = ["Love", "Heart", "Night", "Fire", "Rain", "Road", "Dream", "Song", "City", "River", "Sky",
         "Light", "Dance", "Ghost", "Girl", "Boy", "World", "Time", "Star", "Sun", "Moon", "Blue",
         "Golden", "Wild", "Lonely", "Electric", "Summer", "Midnight", "Über", "Café", "Niño"]
NOTES = ["Great for warming up", "Too high for me\nbut fun", "Duet with Sam", "Key -2",
         "🎤 crowd favourite", "Save for the end of the night", "Ask the DJ for the long version"]

BASE_TIME = 1_420_070_400  # 2015-01-01


def legacy_normalize(text: str) -> str:
    """The old system's normalisation: lower case, anything but [a-z0-9 ] becomes a space."""
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def composite(source: str, artist: str, title: str) -> str:
    return f"{source}:{legacy_normalize(artist)}:{legacy_normalize(title)}"


def iso(rng: random.Random, secs: int) -> object:
    """A timestamp in one of the shapes the old system wrote."""
    import datetime as dt

    t = dt.datetime.fromtimestamp(secs, tz=dt.timezone.utc)
    shape = rng.randrange(4)
    if shape == 0:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    if shape == 1:
        return t.replace(microsecond=rng.randrange(1_000_000)).isoformat()  # +00:00, fraction
    if shape == 2:
        return t.replace(tzinfo=None).isoformat()  # naive, read as UTC
    return secs


def load_catalog(path: str) -> list[tuple[str, str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [(r["Id"], r["Artist"], r["Title"]) for r in rows]


def showcase(user: str, cat: dict[str, tuple[str, str]]) -> tuple[list[dict], dict]:
    """Hand-made records of one user, one variant each, and what they must become."""
    def c(song_id: str) -> tuple[str, str]:
        if song_id not in cat:
            sys.exit(f"showcase needs catalog id {song_id} in the catalog file")
        return cat[song_id]

    queen = c("KS0001")
    rows: list[dict] = []

    def rec(rid: str, **fields) -> dict:
        r = {"id": f"{user}-{rid}", "user_id": user, **fields}
        rows.append(r)
        return r

    first = rec("bohemian", source="lastfm", song_id="KS0001", artist=queen[0], title=queen[1],
                play_count=4, playcount=312, rank=1, last_played_at="2024-03-01T10:00:00Z",
                created_at="2016-02-03T04:05:06.123456+00:00", updated_at=1_709_287_200,
                is_saved=True, times_sung=3, last_sung_at="2023-12-31T23:00:00Z",
                average_rating=4.5, notes="Big finish", has_karaoke_version=True,
                spotify_popularity=81, duration_ms=354_000, explicit=False)
    rec("halo-1", source="lastfm", song_id=composite("lastfm", "Beyonce", "Halo"),
        artist="Beyonce", title="Halo", sync_count=2, playcount=10,
        last_played_at=1_700_000_000, created_at=1_500_000_000)
    rec("halo-2", source="lastfm", song_id=composite("lastfm", "Beyoncé", "HALO"),
        artist="Beyoncé", title="HALO", play_count=7, playcount=5,
        last_played_at="2022-01-01T00:00:00", created_at=1_450_000_000)
    rec("ace", source="lastfm", artist="Motörhead", title="Ace of Spades", play_count=3,
        created_at="2018-07-01T12:00:00Z")
    rec("first-love", source="lastfm", artist="宇多田ヒカル", title="First Love")
    rec("anti-hero-1", source="spotify", artist="Taylor Swift", title="Anti-Hero", rank=3,
        spotify_popularity=89, duration_ms=200_690, explicit=False, created_at=1_670_000_000,
        song_id=composite("spotify", "Taylor Swift", "Anti-Hero"))
    rec("anti-hero-2", source="spotify", artist="Taylor Swift", title="Anti-Hero", rank=7,
        spotify_popularity=88, created_at=1_680_000_000)
    rec("kino", source="spotify", artist="Кино", title="Группа крови", rank=12,
        spotify_popularity=None, created_at=1_600_000_000)
    rec("dancing-queen", source="spotify", artist="ABBA", title="Dancing Queen", is_saved=True,
        created_at=1_610_000_000, song_id=composite("spotify", "ABBA", "Dancing Queen"))
    rec("believin", source="spotify", artist="Journey", title="Don’t Stop Believin’",
        times_sung=2, last_sung_at=1_650_000_000)
    rec("dont-stop", source="manual", song_id="KS0002", created_at=1_550_000_000)
    rec("waterloo", source="known_songs", song_id="KS0012", artist="ABBA", title="Waterloo",
        created_at=1_560_000_000, notes="é" * 600)
    rec("unknown", source="quiz", artist="Nobody Famous", title="Unknown Song",
        song_id=composite("quiz", "Nobody Famous", "Unknown Song"), created_at=1_570_000_000,
        notes="From the quiz\r\nround two")
    rec("mamma-mia", source="quiz", song_id="KS0011", artist="ABBA", title="Mamma Mia",
        times_sung=0, average_rating=0, created_at=1_580_000_000)
    rows.append(dict(first))  # the same record twice
    rec("back-in-black", source="lastfm", artist="AC/DC", title="Back in Black", playcount=50,
        sync_count=None, play_count=1, notes=None, some_new_field={"x": [1, 2]},
        created_at="2019-01-01 08:00:00")
    rec("whitney", source="lastfm", song_id="KS0022", play_count=2, playcount=20,
        last_played_at=1_710_000_000, created_at="2020-05-05T05:05:05")
    rec("first-love-known", source="known_songs", song_id="KS0065")
    expect = {
        "user": user,
        "records": len(rows),
        # songs by artist/title (any spelling of the row): Last.fm playcount (0 when the old
        # system had none) and sync_count; Spotify's best rank and popularity; the hand-added id.
        "songs": [
            {"artist": queen[0], "title": queen[1], "playcount": 312, "sync_count": 4,
             "sources": ["lastfm", "manual"], "known_song_id": "KS0001"},
            {"artist": "Beyoncé", "title": "Halo", "playcount": 15, "sync_count": 7,
             "sources": ["lastfm"]},
            {"artist": "Motörhead", "title": "Ace of Spades", "playcount": 0, "sync_count": 3,
             "sources": ["lastfm"]},
            {"artist": "宇多田ヒカル", "title": "First Love", "playcount": 0, "sync_count": 0,
             "sources": ["lastfm", "manual"], "known_song_id": "KS0065"},
            {"artist": "Taylor Swift", "title": "Anti-Hero", "spotify_rank": 3,
             "spotify_popularity": 89, "sources": ["spotify"]},
            {"artist": "Кино", "title": "Группа крови", "spotify_rank": 12,
             "spotify_popularity": None, "sources": ["spotify"]},
            {"artist": "ABBA", "title": "Dancing Queen", "sources": ["manual"],
             "known_song_in_catalog": True},
            {"artist": "Queen", "title": "Don't Stop Me Now", "sources": ["manual"],
             "known_song_id": "KS0002"},
            {"artist": "ABBA", "title": "Waterloo", "sources": ["manual"],
             "known_song_id": "KS0012"},
            {"artist": "Nobody Famous", "title": "Unknown Song", "sources": ["manual"],
             "known_song_id": composite("quiz", "Nobody Famous", "Unknown Song")},
            {"artist": "ABBA", "title": "Mamma Mia", "sources": ["manual"],
             "known_song_id": "KS0011"},
            {"artist": "AC/DC", "title": "Back in Black", "playcount": 50, "sync_count": 1,
             "sources": ["lastfm"]},
            {"artist": cat["KS0022"][0], "title": cat["KS0022"][1], "playcount": 20,
             "sync_count": 2, "sources": ["lastfm"]},
        ],
        "known_songs": [
            {"song_id": "KS0001", "notes": "Big finish", "added_at": 1_454_472_306},
            {"artist": "ABBA", "title": "Dancing Queen", "added_at": 1_610_000_000},
            {"song_id": "KS0002", "added_at": 1_550_000_000},
            {"song_id": "KS0012", "notes_chars": 500, "added_at": 1_560_000_000},
            {"song_id": composite("quiz", "Nobody Famous", "Unknown Song"),
             "notes": "From the quiz\nround two", "added_at": 1_570_000_000},
            {"song_id": "KS0011", "added_at": 1_580_000_000},
            {"song_id": "KS0065", "added_at": None},
        ],
        "sung": [
            {"song_id": "KS0001", "times_sung": 3, "last_sung_at": 1_704_063_600,
             "average_rating": 4.5, "rating": 5},
            {"artist": "Journey", "title": "Don’t Stop Believin’", "times_sung": 2,
             "last_sung_at": 1_650_000_000},
        ],
    }
    return rows, expect


class Songs:
    """The song pool of the random records: catalog songs and made-up ones."""

    def __init__(self, rng: random.Random, catalog: list[tuple[str, str, str]]):
        self.catalog = catalog
        self.made_up: list[tuple[str, str]] = []
        artists = list(SPECIAL_ARTISTS)
        for _ in range(400):
            name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
            if rng.random() < 0.3:
                name = f"The {name}s"
            artists.append(name)
        for _ in range(3000):
            title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
            if rng.random() < 0.05:
                title += " (feat. " + rng.choice(SPECIAL_ARTISTS) + ")"
            self.made_up.append((rng.choice(artists), title))

    def pick(self, rng: random.Random) -> tuple[str | None, str, str]:
        if rng.random() < 0.35:
            return rng.choice(self.catalog)
        artist, title = rng.choice(self.made_up)
        return None, artist, title


def drop_some(rng: random.Random, r: dict, optional: list[str]) -> None:
    """Missing optional fields: some are left out, some are null."""
    for name in optional:
        if name in r:
            roll = rng.random()
            if roll < 0.06:
                del r[name]
            elif roll < 0.09:
                r[name] = None


def parts_of(r: dict) -> dict[str, bool]:
    """Which items a good record writes on a first run: its song row (shown in "Songs You
    Know"), a known song, a sung record."""
    source = r["source"]
    known = source in ("manual", "known_songs", "quiz") or r.get("is_saved") is True
    sung = (r.get("times_sung") or 0) > 0 or r.get("last_sung_at") is not None \
        or (r.get("average_rating") or 0) > 0
    row = source == "lastfm" or (source == "spotify" and r.get("rank") is not None) or known
    return {"row": row, "known": known, "sung": sung}


def random_record(rng: random.Random, songs: Songs, rid: str, user: str) -> dict:
    """One good record."""
    source = rng.choices(["lastfm", "spotify", "manual", "known_songs", "quiz"],
                         [50, 20, 8, 10, 12])[0]
    cat_id, artist, title = songs.pick(rng)
    created = BASE_TIME + rng.randrange(9 * 365 * 86_400)
    r: dict = {"id": rid, "user_id": user, "source": source}
    names = True
    if cat_id is not None and rng.random() < 0.6:
        r["song_id"] = cat_id
        names = rng.random() < 0.7
    elif rng.random() < 0.85:
        r["song_id"] = composite(source, artist, title)
    if names:
        r["artist"] = artist
        r["title"] = title
    r["created_at"] = iso(rng, created)
    r["updated_at"] = iso(rng, created + rng.randrange(400 * 86_400))
    if source == "lastfm":
        syncs = rng.randint(1, 30)
        naming = rng.random()
        if naming < 0.45:
            r["play_count"] = syncs
        elif naming < 0.75:
            r["sync_count"] = syncs
        elif naming < 0.95:
            r["play_count"] = max(1, syncs - rng.randint(0, 3))
            r["sync_count"] = syncs
        if rng.random() < 0.7:
            r["playcount"] = rng.choice([rng.randint(1, 40), rng.randint(1, 2000)])
        if rng.random() < 0.4:
            r["rank"] = rng.randint(1, 500)
        if rng.random() < 0.8:
            r["last_played_at"] = iso(rng, created + rng.randrange(800 * 86_400))
    elif source == "spotify":
        if rng.random() < 0.9:
            r["rank"] = rng.randint(1, 99)
        if rng.random() < 0.7:
            r["spotify_popularity"] = rng.randint(0, 100)
        r["duration_ms"] = rng.randint(90_000, 420_000)
        r["explicit"] = rng.random() < 0.2
    if rng.random() < 0.12:
        r["is_saved"] = True
    elif rng.random() < 0.2:
        r["is_saved"] = False
    if rng.random() < 0.1:
        r["times_sung"] = rng.randint(1, 12)
        r["last_sung_at"] = iso(rng, created + rng.randrange(900 * 86_400))
        if rng.random() < 0.7:
            r["average_rating"] = rng.choice([rng.randint(1, 5), round(rng.uniform(1, 5), 2)])
    if rng.random() < 0.08 or (source != "lastfm" and rng.random() < 0.3):
        r["notes"] = rng.choice(NOTES)
    if rng.random() < 0.3:
        r["has_karaoke_version"] = rng.random() < 0.5
    if source == "spotify" and "rank" not in r and not r.get("is_saved") and "times_sung" not in r:
        r["is_saved"] = True  # a rank-less Spotify record needs something to migrate
    drop_some(rng, r, ["updated_at", "created_at", "last_played_at", "spotify_popularity",
                       "has_karaoke_version", "explicit", "duration_ms", "is_saved"])
    if source == "spotify" and "rank" not in r and not r.get("is_saved") and "times_sung" not in r:
        r["is_saved"] = True
    if rng.random() < 0.02:
        r["legacy_extra"] = {"migrated_from": "v1"}
    return r


def bad_record(kind: str, rng: random.Random, rid: str, user: str) -> str:
    base = {"id": rid, "user_id": user, "source": "lastfm", "artist": "Queen",
            "title": "Bohemian Rhapsody", "play_count": 2}
    if kind == "invalid_json":
        text = json.dumps(base, ensure_ascii=False)
        return text[: len(text) // 2]
    if kind == "number_as_string":
        base["play_count"] = "12"
    elif kind == "unknown_source":
        base["source"] = "deezer"
    elif kind == "missing_user":
        del base["user_id"]
    elif kind == "negative_number":
        base["playcount"] = -rng.randint(1, 99)
    elif kind == "not_an_object":
        return json.dumps([base], ensure_ascii=False)
    elif kind == "invalid_user_id":
        base["user_id"] = "bad user!"
    elif kind == "no_names":
        del base["artist"]
        del base["title"]
        base["song_id"] = "lastfm:queen:bohemian rhapsody"
    elif kind == "bool_as_string":
        base["is_saved"] = "yes"
    elif kind == "bad_timestamp":
        base["last_played_at"] = "yesterday"
    elif kind == "rating_too_high":
        base["average_rating"] = 7.5
    elif kind == "spotify_nothing":
        base = {"id": rid, "user_id": user, "source": "spotify", "artist": "Queen",
                "title": "Bohemian Rhapsody", "spotify_popularity": 50}
    elif kind == "missing_id":
        del base["id"]
    elif kind == "unknown_catalog_id":
        base = {"id": rid, "user_id": user, "source": "known_songs", "song_id": "NOPE-404"}
    return json.dumps(base, ensure_ascii=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bad-every", type=int, default=0)
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--user-prefix", default="legacy")
    ap.add_argument("--catalog", default=DEFAULT_CATALOG)
    ap.add_argument("--expect")
    args = ap.parse_args()
    if args.records < 1 or args.users < 1:
        sys.exit("--records and --users must be at least 1")

    rng = random.Random(args.seed)
    catalog = load_catalog(args.catalog)
    by_id = {i: (a, t) for i, a, t in catalog}
    songs = Songs(rng, catalog)
    users = [f"{args.user_prefix}-u{j:03d}" for j in range(args.users)]
    show_rows, show_expect = showcase(f"{args.user_prefix}-showcase", by_id)
    pending_show = list(show_rows)

    bad_lines = []
    parts = {"row": 0, "known": 0, "sung": 0}
    good = duplicates = notes_truncated = 0
    seen: set[str] = set()
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for i in range(1, args.records + 1):
            rid = f"us{args.seed}-{i:07d}"
            if args.bad_every > 0 and i % args.bad_every == 0:
                kind, reason = BAD_KINDS[(i // args.bad_every - 1) % len(BAD_KINDS)]
                out.write(bad_record(kind, rng, rid, rng.choice(users)) + "\n")
                bad_lines.append({"line": i, "kind": kind, "reason": reason})
                continue
            good += 1
            if pending_show:
                r = pending_show.pop(0)
            else:
                r = random_record(rng, songs, rid, users[(i * 7919) % len(users)])
            identity = json.dumps(r, sort_keys=True)
            if identity in seen:
                duplicates += 1
            else:
                seen.add(identity)
                for k, v in parts_of(r).items():
                    parts[k] += int(v)
            notes_truncated += int(len((r.get("notes") or "").strip()) > 500)
            ascii_only = rng.random() < 0.1
            out.write(json.dumps(r, ensure_ascii=ascii_only) + "\n")
    if pending_show:
        sys.exit(f"--records too small for the {len(show_rows)} showcase records")
    if args.expect:
        expect = {
            "records": args.records,
            "good": good,
            "bad_lines": bad_lines,
            "users": users,
            # On a first run for these users: records that write something (all good records
            # but exact duplicates), and the items they write.
            "applied": good - duplicates,
            "duplicates": duplicates,
            "parts": parts,
            "notes_truncated": notes_truncated,
            "showcase": show_expect,
        }
        with open(args.expect, "w", encoding="utf-8") as f:
            json.dump(expect, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()

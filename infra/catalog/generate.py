#!/usr/bin/env python3
"""Writes a large synthetic karaoke catalog (``Id,Artist,Title,Brands``) for tests and benchmarks.

    python3 infra/catalog/generate.py --rows 281000 --seed 1 --out /tmp/catalog.csv [--bad-every N]
        [--standin-user SCROBBLES:SEED] [--standin-share 0.25]

Standard library only. The output depends only on the arguments: the same arguments give the same
bytes, on any machine.

* ``--rows`` data rows are written after the header (bad rows included). Every row is one physical
  line, so data row ``i`` (1-based) is on line ``i + 1``.
* ``--bad-every N`` makes every N-th data row (``i % N == 0``) bad, cycling through six kinds:
  missing field, control character, unbalanced quote, empty Id, overlong Title (600 characters) and
  an unquoted comma (too many fields). An importer must report exactly ``rows // N`` bad rows, at
  lines ``k * N + 1``, and import the other ``rows - rows // N``.
* Good rows exercise the matcher and the CSV parser: accented and non-Latin names (Beyoncé,
  Motörhead, 宇多田ヒカル, Кино), values needing quotes (commas, double quotes), title noise
  ("- Remastered 2011", "(Live)", "(feat. X)"), and about 3% repeats of an earlier song under a new Id
  (sometimes respelled: accents dropped, upper case, noise added) with other brands, so one match key
  holds several catalog songs. Brand counts are skewed: most songs have one or two brands.
* ``--standin-user SCROBBLES:SEED`` (e.g. ``219625:1``, the stand-in's ``heavy`` user) mixes in a
  share of the Last.fm stand-in's canonical tracks for that history (``infra/standins``), so a
  benchmark of the "karaoke available" lookup sees realistic hits. The share counts towards --rows.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
import unicodedata

BRANDS = ["Sound Choice", "Zoom", "Sunfly", "Karaoke Version", "Party Tyme", "Chartbuster",
          "SBI", "Pocket Songs", "Music Maestro", "Legends", "DAM", "JOYSOUND"]
# P(song has k brands) for k = 1..8
BRAND_COUNT_WEIGHTS = [40, 25, 15, 9, 5, 3, 2, 1]

SPECIAL_ARTISTS = [
    "Beyoncé", "Motörhead", "Mötley Crüe", "宇多田ヒカル", "Кино", "Мумий Тролль", "AC/DC",
    "Guns N' Roses", "Sigur Rós", "Björk", "Earth, Wind & Fire", "P!nk", "R.E.M.", "The Killers",
    "Simon & Garfunkel", "Édith Piaf", "Françoise Hardy", "Die Ärzte", "Maná", "방탄소년단",
    "Blue Öyster Cult", "Sinéad O'Connor", "Hüsker Dü", "Queensrÿche", "*NSYNC", "a-ha", "Wham!",
    "Florence + the Machine", "The Mamas & the Papas", "Café Tacvba", "Zoé", "美空ひばり",
]
SYLLABLES = ["ka", "lo", "mi", "ra", "ven", "tor", "el", "sa", "dri", "no", "bel", "que", "zan",
             "fi", "ro", "du", "mar", "tes", "lin", "vo", "ash", "gen", "pal", "ori", "ny", "stro",
             "ké", "lö", "ña", "vé", "ø", "ä"]
FIRST_NAMES = ["Anna", "Ben", "Carla", "David", "Elena", "Frank", "Grace", "Hugo", "Inès", "Jonas",
               "Kate", "Liam", "Marta", "Nils", "Olivia", "Pablo", "Rosa", "Sam", "Tomás", "Zoë"]
ADJ = ["Black", "Silver", "Electric", "Velvet", "Neon", "Broken", "Golden", "Crimson", "Hollow",
       "Northern", "Wild", "Quiet", "Paper", "Static", "Lunar", "Wooden", "Glass", "Young",
       "Secret", "Cosmic", "Frozen", "Burning", "Little", "Modern", "Strange", "Blue", "Lonely",
       "Midnight", "Sweet", "Silent", "Endless", "Crazy", "Lost", "Cold", "Holy", "Summer"]
NOUN = ["Tigers", "Ghosts", "Horses", "Machines", "Rivers", "Kids", "Lights", "Wolves", "Saints",
        "Mountains", "Hearts", "Sparrows", "Owls", "Engines", "Oceans", "Pilots", "Dreamers"]
T_NOUN = ["Love", "Heart", "Night", "Fire", "Rain", "Road", "Dream", "Song", "City", "River",
          "Sky", "Light", "Dance", "Ghost", "Girl", "Boy", "World", "Time", "Star", "Sun", "Moon",
          "Train", "Window", "Garden", "Ocean", "Mirror", "Shadow", "Kingdom", "Paradise", "Storm",
          "Highway", "Letter", "Machine", "Satellite", "Fever", "Echo", "Silence", "Heaven",
          "Morning", "Thunder", "Island", "Desert", "Angel", "Memory", "Wave", "Café", "Niña"]
T_VERB = ["Hold", "Take", "Save", "Kiss", "Call", "Leave", "Find", "Show", "Tell", "Wake",
          "Follow", "Forget", "Remember", "Touch", "Carry", "Chase", "Don't Stop", "Can't Stop"]
T_OBJ = ["Me", "You", "Me Home", "the Night", "Me Now", "It All", "Your Heart", "the Light",
         "Me Down", "Us Apart", "the World", "Believin'", "Lovin' You"]
T_OTHER = ["Déjà Vu", "Señorita", "Ça plane pour moi", "Straße", "Jóga", "Halo", "First Love",
           "Группа крови", "花束を君に", "Любовь", "Piñata", "Coração", "Mr. Brightside",
           "...Baby One More Time", "Y.M.C.A.", "99 Luftballons", "Don't Stop Me Now"]
NOISE = [" (Live)", " - Remastered 2011", " (Radio Edit)", " - 2009 Remaster", " (Remastered)",
         " - Single Version", " [Live at Wembley]", " (Album Version)", " (Explicit)"]
FEATS = ["Jay-Z", "Rihanna", "Drake", "Nicki Minaj", "Pharrell Williams", "Sia", "Robyn",
         "Stromae", "Daddy Yankee", "Björk", "Calvin Harris", "Rosalía", "Kate Bush"]


def artist_name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.03:
        return rng.choice(SPECIAL_ARTISTS)
    if r < 0.35:
        return "The " + rng.choice(ADJ) + " " + rng.choice(NOUN)
    if r < 0.60:
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    if r < 0.80:
        return rng.choice(FIRST_NAMES) + " " + "".join(
            rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    if r < 0.90:
        return rng.choice(FIRST_NAMES) + " & the " + rng.choice(NOUN)
    return rng.choice(ADJ) + " " + rng.choice(NOUN)


def title_name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.28:
        t = rng.choice(ADJ) + " " + rng.choice(T_NOUN)
    elif r < 0.42:
        t = rng.choice(T_NOUN) + " of the " + rng.choice(T_NOUN)
    elif r < 0.58:
        t = rng.choice(T_VERB) + " " + rng.choice(T_OBJ)
    elif r < 0.66:
        t = "The " + rng.choice(T_NOUN)
    elif r < 0.72:
        t = rng.choice(T_NOUN) + ", " + rng.choice(T_NOUN)  # needs quoting
    elif r < 0.74:
        t = '"' + rng.choice(T_NOUN) + '"'  # needs doubled quotes
    elif r < 0.80:
        t = rng.choice(T_OTHER)
    else:
        t = rng.choice(ADJ) + " " + rng.choice(T_NOUN) + " " + rng.choice(T_NOUN)
    r = rng.random()
    if r < 0.04:
        t += rng.choice(NOISE)
    elif r < 0.06:
        t += " (feat. " + rng.choice(FEATS) + ")"
    return t


def strip_accents(s: str) -> str:
    d = unicodedata.normalize("NFD", s)
    return unicodedata.normalize("NFC", "".join(c for c in d if not ("\u0300" <= c <= "\u036f")))


def respell(rng: random.Random, artist: str, title: str) -> tuple[str, str]:
    """Another spelling of the same song, as another catalog vendor would type it."""
    kind = rng.randrange(4)
    if kind == 0:
        return strip_accents(artist), strip_accents(title)
    if kind == 1:
        return artist.upper(), title
    if kind == 2:
        return artist, title + rng.choice(NOISE)
    return artist, title


def brands(rng: random.Random) -> str:
    k = rng.choices(range(1, len(BRAND_COUNT_WEIGHTS) + 1), weights=BRAND_COUNT_WEIGHTS)[0]
    return ";".join(rng.sample(BRANDS[:10], k))


def standin_tracks(spec: str, share: float, seed: int) -> list[tuple[str, str]]:
    scrobbles, _, standin_seed = spec.partition(":")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "standins"))
    try:
        import lastfm_history  # noqa: E402  (the stand-in's generator)
    except ImportError as e:
        sys.exit("--standin-user needs infra/standins/lastfm_history.py: %s" % e)
    history = lastfm_history.History(
        lastfm_history.UserSpec("catalog", int(scrobbles), int(standin_seed or 1)))
    n_canon = max(1, int(scrobbles) // 4)
    rng = random.Random("karaoke-catalog:standin:%s:%d" % (spec, seed))
    picked = []
    for cid in range(min(n_canon, len(history.sp_artist))):
        if rng.random() < share:
            title = history.sp_title[cid]
            if rng.random() < 0.5:  # catalogs type clean titles; the matcher must bridge the gap
                title = title.split(" (")[0].split(" - ")[0].split(" feat. ")[0]
            picked.append((history.sp_artist[cid], title))
    return picked


def bad_row(kind: int, row_id: str, rng: random.Random) -> str:
    artist, title = artist_name(rng), "Broken " + rng.choice(T_NOUN)
    artist = artist.replace('"', "").replace(",", "")
    if kind == 0:
        return "%s,%s,%s\n" % (row_id, artist, title)  # missing field
    if kind == 1:
        return "%s,%s,%s\x07Bell,Zoom\n" % (row_id, artist, title)  # control character
    if kind == 2:
        return '%s,"%s,%s,Zoom\n' % (row_id, artist, title)  # unbalanced quote
    if kind == 3:
        return ",%s,%s,Zoom\n" % (artist, title)  # empty Id
    if kind == 4:
        return "%s,%s,%s,Zoom\n" % (row_id, artist, "La" * 300)  # 600 characters
    return "%s,%s, Jr.,%s,Zoom\n" % (row_id, artist, title)  # unquoted comma: 5 fields


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, required=True, help="data rows to write")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True, help="output path, or - for stdout")
    p.add_argument("--bad-every", type=int, default=0, help="make every N-th row bad (0: none)")
    p.add_argument("--standin-user", metavar="SCROBBLES:SEED",
                   help="mix in tracks of the Last.fm stand-in history (N, seed)")
    p.add_argument("--standin-share", type=float, default=0.25,
                   help="share of that history's tracks to include (default 0.25)")
    args = p.parse_args(argv)
    if args.rows < 0 or args.bad_every < 0:
        p.error("--rows and --bad-every must not be negative")

    started = time.monotonic()
    rng = random.Random("karaoke-catalog:v1:%d" % args.seed)
    extra = standin_tracks(args.standin_user, args.standin_share, args.seed) \
        if args.standin_user else []
    # Spread the stand-in tracks evenly through the file.
    extra_at = {}
    if extra and args.rows:
        step = max(1, args.rows // len(extra))
        for j, track in enumerate(extra[: args.rows]):
            extra_at[1 + j * step] = track

    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Id", "Artist", "Title", "Brands"])
    earlier: list[tuple[str, str]] = []
    bad = 0
    for i in range(1, args.rows + 1):
        row_id = "G%07d" % i
        if args.bad_every and i % args.bad_every == 0:
            out.write(bad_row((i // args.bad_every - 1) % 6, row_id, rng))
            bad += 1
            continue
        if i in extra_at:
            artist, title = extra_at[i]
        elif earlier and rng.random() < 0.03:
            artist, title = respell(rng, *rng.choice(earlier))
        else:
            artist, title = artist_name(rng), title_name(rng)
            if len(earlier) < 50_000:
                earlier.append((artist, title))
            elif rng.random() < 0.01:
                earlier[rng.randrange(len(earlier))] = (artist, title)
        writer.writerow([row_id, artist, title, brands(rng)])
    if out is not sys.stdout:
        size = out.tell()
        out.close()
    else:
        size = 0
    print("wrote %d rows (%d bad, %d from the stand-in) %s%.1f s"
          % (args.rows, bad, min(len(extra), args.rows),
             "%d bytes, " % size if size else "", time.monotonic() - started), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Deterministic synthetic Last.fm listening histories for the local stand-in.

Standard library only.  A history is generated from (scrobbles N, seed) and is identical in every
process (string seeds for random.Random are hashed with SHA-512, never with hash()).

Data model (per user):
  * canonical tracks  - identity used by the ground truth (index ``cid``)
  * spellings         - (artist, title, album, cid); spelling ``sid == cid`` for sid < n_canonical is
                        the canonical spelling, later sids are variant spellings or admin additions
  * history           - parallel lists ``neg_uts`` (ascending, i.e. uts descending = newest first)
                        and ``sids``; replaced copy-on-write so readers never need a lock.
  * loved tracks      - canonical tracks flagged loved (about 5%) with a fixed loved date, plus a few
                        loved tracks that were never scrobbled (about 1 per 500 scrobbles)
  * top artists       - scrobbles grouped by the folded canonical artist of their canonical track,
                        plus each artist's share of the untimestamped ``extra_playcount`` (overall only)
"""

from __future__ import annotations

import bisect
import collections
import itertools
import math
import random
import re
import threading
import time
import unicodedata
from urllib.parse import quote_plus

END_EPOCH = 1790000000
FIFTEEN_YEARS = 15 * 365 * 86400
AVG_SECONDS_PER_SCROBBLE = 2160  # 40 scrobbles/day: 219,625 scrobbles ~ 15 years
SAME_SECOND_RATE = 0.012  # probability that a scrobble shares the previous scrobble's second
SESSION_START_RATE = 0.07
# Last.fm accepts a scrobble back-dated at most 14 days and at most 300 s ahead of its clock
SCROBBLE_MAX_AGE = 14 * 86400  # 1,209,600 s
SCROBBLE_MAX_AHEAD = 300


def scrobble_accepted(uts: int, now: float) -> bool:
    return now - SCROBBLE_MAX_AGE <= uts <= now + SCROBBLE_MAX_AHEAD

_MARKS = re.compile("[\u0300-\u036f]")


def _is_latin(c: str) -> bool:
    o = ord(c)
    return c.isascii() and c.isalpha() or 0xC0 <= o <= 0x24F or 0x1E00 <= o <= 0x1EFF


def _drop_latin_marks(decomposed: str) -> str:
    """Drops U+0300..U+036F marks that sit on a Latin letter (é -> e) but keeps them elsewhere
    (Cyrillic й must not become и)."""
    out = []
    base_is_latin = False
    for c in decomposed:
        if _MARKS.match(c):
            if base_is_latin:
                continue
        else:
            base_is_latin = _is_latin(c)
        out.append(c)
    return "".join(out)


def normalise(s: str) -> str:
    """The backend's identity folding: NFKC, NFD minus Latin accents, NFC, lowercase, collapse ws."""
    if s.isascii():
        return " ".join(s.lower().split())
    s = unicodedata.normalize("NFKC", s)
    s = _drop_latin_marks(unicodedata.normalize("NFD", s))
    s = unicodedata.normalize("NFC", s).lower()
    return " ".join(s.split())


def strip_accents(s: str) -> str:
    return unicodedata.normalize("NFC", _drop_latin_marks(unicodedata.normalize("NFD", s)))


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


# --------------------------------------------------------------------------------------------
# vocabulary

SPECIAL_ARTISTS = [
    "Beyoncé", "Sigur Rós", "Motörhead", "宇多田ヒカル", "Мумий Тролль", "AC/DC", "Guns N' Roses",
    "Björk", "Röyksopp", "Mötley Crüe", "Blue Öyster Cult", "Café Tacvba", "Sinéad O'Connor",
    "Ólafur Arnalds", "Édith Piaf", "Françoise Hardy", "Die Ärzte", "Maná", "MØ", "P!nk",
    "Ke$ha", "will.i.am", "deadmau5", "Sunn O)))", "!!!", "Florence + the Machine", "방탄소년단",
    "坂本龍一", "Sébastien Tellier", "Amadou & Mariam", "Jóhann Jóhannsson", "Kraftwerk",
    "The Beatles", "Daft Punk", "Radiohead", "Arctic Monkeys", "Кино", "Ryūichi Sakamoto",
    "Zoé", "Mariza", "Bløf", "Ásgeir", "Hüsker Dü", "Queensrÿche", "Chvrches", "The xx",
]

_SYL = ["ka", "lo", "mi", "ra", "ven", "tor", "el", "sa", "dri", "no", "bel", "que", "zan", "fi",
        "ro", "du", "mar", "tes", "lin", "vo", "ash", "gen", "pal", "ori", "ny", "stro", "ké", "lö",
        "ña", "vé", "ø", "ä"]
_ART_ADJ = ["Black", "Silver", "Electric", "Velvet", "Neon", "Broken", "Golden", "Crimson", "Hollow",
            "Northern", "Wild", "Quiet", "Paper", "Static", "Lunar", "Wooden", "Glass", "Young",
            "Secret", "Cosmic", "Frozen", "Burning", "Little", "Modern", "Strange"]
_ART_NOUN = ["Tigers", "Ghosts", "Horses", "Machines", "Rivers", "Kids", "Lights", "Wolves",
             "Saints", "Mountains", "Hearts", "Sparrows", "Owls", "Engines", "Oceans", "Pilots",
             "Dreamers", "Shadows", "Mirrors", "Thieves", "Strangers", "Lovers", "Giants"]
_T_ADJ = ["Blue", "Lonely", "Midnight", "Golden", "Electric", "Broken", "Sweet", "Silent", "Wild",
          "Endless", "Crazy", "Lost", "Burning", "Cold", "Holy", "Little", "Summer", "Winter",
          "Secret", "Dirty", "Fading", "Distant", "Last", "First", "Heavy", "Tender", "Hidden",
          "Bright", "Perfect", "Empty", "Velvet", "Restless"]
_T_NOUN = ["Love", "Heart", "Night", "Fire", "Rain", "Road", "Dream", "Song", "City", "River",
           "Sky", "Light", "Dance", "Ghost", "Girl", "Boy", "World", "Time", "Star", "Sun", "Moon",
           "Train", "Window", "Garden", "Ocean", "Mirror", "Shadow", "Kingdom", "Paradise", "Storm",
           "Daydream", "Highway", "Letter", "Machine", "Satellite", "Fever", "Echo", "Silence",
           "Heaven", "Morning", "Thunder", "Island", "Desert", "Angel", "Memory", "Wave"]
_T_VERB = ["Hold", "Take", "Save", "Kiss", "Call", "Leave", "Find", "Show", "Tell", "Wake",
           "Follow", "Forget", "Remember", "Touch", "Carry", "Chase"]
_T_OBJ = ["Me", "You", "Me Home", "the Night", "Me Now", "It All", "Your Heart", "the Light",
          "Me Down", "Us Apart", "the World"]
_T_UNICODE = ["Café del Mar", "Déjà Vu", "Über Alles", "Niño", "Señorita", "Hôtel", "Mañana",
              "Rêve", "Ça plane pour moi", "Straße", "Jóga", "Hoppípolla", "Sæglópur",
              "Ace of Spades", "Crazy in Love", "Halo", "Владивосток 2000", "Дельфины", "光",
              "First Love", "花束を君に", "Merry Christmas Mr. Lawrence", "Été", "Noël", "Fiancée",
              "Naïve", "Résumé", "Smörgåsbord", "Piñata", "Coração", "Ñandú", "Back in Black",
              "Sweet Child O' Mine", "Welcome to the Jungle", "ありがとう", "Песня", "Любовь"]
_FEAT = ["Jay-Z", "Rihanna", "Drake", "Nicki Minaj", "Pharrell Williams", "Kendrick Lamar",
         "Sia", "Robyn", "Zaz", "Stromae", "Daddy Yankee", "Ólafur Arnalds", "Björk", "Lil Wayne",
         "Calvin Harris", "The Weeknd", "Rosalía", "Kate Bush"]
_SUFFIX = [" (Live)", " - Remastered 2011", " (Acoustic)", " (Radio Edit)", " [Demo]",
           " - 2009 Remaster", " (Extended Mix)", " (Live at Wembley)", " - Single Version",
           " (Remix)"]
_ALBUM_WORDS = ["Greatest Hits", "Live", "Sessions", "Deluxe Edition", "Vol. 2", "B-Sides",
                "Anthology", "The Album", "EP", "Remastered", "Unplugged", "Collection"]

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def date_text(uts: int) -> str:
    # "21 Feb 2023, 18:54" (UTC), as in the real responses; no locale dependence.
    days, rem = divmod(uts, 86400)
    y, m, d = _civil_from_days(days)
    return "%02d %s %d, %02d:%02d" % (d, _MONTHS[m - 1], y, rem // 3600, (rem % 3600) // 60)


def _civil_from_days(z: int):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + (1 if m <= 2 else 0), m, d)


def _uuid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:])


def _url_part(s: str) -> str:
    return quote_plus(s, safe="(),!*")


IMG_BASE = "https://lastfm.freetls.fastly.net/i/u/"
IMG_SIZES = (("small", "34s"), ("medium", "64s"), ("large", "174s"), ("extralarge", "300x300"))
ARTIST_PLACEHOLDER = "2a96cbd8b46e442fc41c2b86b821562f.png"
ARTIST_IMG_SIZES = IMG_SIZES + (("mega", "300x300"),)


def image_list(name: str):
    if not name:
        return [{"size": s, "#text": ""} for s, _ in IMG_SIZES]
    return [{"size": s, "#text": IMG_BASE + p + "/" + name} for s, p in IMG_SIZES]


_ARTIST_IMAGES = image_list(ARTIST_PLACEHOLDER)


def artist_image_list(name: str = ARTIST_PLACEHOLDER):
    """Five sizes (small .. mega), as in user.getTopArtists items."""
    return [{"#text": IMG_BASE + p + "/" + name, "size": s} for s, p in ARTIST_IMG_SIZES]


# user.getTopArtists periods -> days (None: everything, with the untimestamped plays)
PERIOD_DAYS = {"overall": None, "7day": 7, "1month": 30, "3month": 90, "6month": 180,
               "12month": 365}


# --------------------------------------------------------------------------------------------
# user spec

class UserSpec:
    __slots__ = ("name", "scrobbles", "seed", "private", "legacy_empty", "now_playing",
                 "extra_playcount", "artists")

    def __init__(self, name, scrobbles, seed, private=False, legacy_empty=False, now_playing=None,
                 extra_playcount=None, artists=None):
        self.name = name
        self.scrobbles = int(scrobbles)
        # forced number of distinct (canonical) artists among the scrobbles, or None
        self.artists = None if artists is None else int(artists)
        if self.artists is not None:
            if self.artists < 0 or self.artists > self.scrobbles or (
                    self.artists == 0 and self.scrobbles > 0):
                raise ValueError("artists must be within 1..scrobbles (0 only with 0 scrobbles)")
        self.seed = int(seed)
        self.private = bool(private)
        self.legacy_empty = bool(legacy_empty)
        self.now_playing = (self.scrobbles > 0) if now_playing is None else bool(now_playing)
        if extra_playcount is None:
            r = random.Random("extra:%d:%d" % (self.scrobbles, self.seed))
            extra_playcount = r.randint(1, self.scrobbles // 40 + 1) if (
                self.scrobbles > 0 and r.random() < 0.3) else 0
        self.extra_playcount = int(extra_playcount)

    def to_json(self):
        return {"name": self.name, "scrobbles": self.scrobbles, "seed": self.seed,
                "private": self.private, "legacy_empty": self.legacy_empty,
                "now_playing": self.now_playing, "extra_playcount": self.extra_playcount,
                "artists": self.artists}


# --------------------------------------------------------------------------------------------
# history

class History:
    """A generated (then possibly edited) history.  Thread-safe for concurrent readers; edits take
    ``self.lock`` and publish new lists copy-on-write via ``self.view``."""

    def __init__(self, spec: UserSpec):
        self.spec = spec
        self.lock = threading.Lock()
        # spellings
        self.sp_artist: list[str] = []
        self.sp_title: list[str] = []
        self.sp_album: list[str] = []
        self.sp_cid: list[int] = []
        # canonical metadata
        self.c_track_mbid: list[str] = []
        self.c_artist_mbid: list[str] = []
        self.c_album_mbid: list[str] = []
        self.c_image: list[str] = []
        self.c_loved = bytearray()
        self.c_sid: list[int] = []  # canonical spelling of each canonical track
        self.c_loved_uts: dict[int, int] = {}  # cid -> loved date (fixed at generation)
        self.now_playing_sid: int | None = None
        self.registered = END_EPOCH
        self._item_cache: dict = {}
        self._exact: dict | None = None
        self._counts_cache = None
        self._scrobbled_cache = None
        self._groups_cache = None
        self._top_cache: dict = {}
        self.view = ([], [])  # (neg_uts ascending, sids)
        # scheduled edits (see schedule_edit) and the user.getRecentTracks requests counted
        self.edits_pending: list[dict] = []
        self.edits_applied: list[dict] = []
        self._edit_seq = 0
        self.recent_requests = 0
        _generate(self, spec.scrobbles, spec.seed, spec.now_playing, spec.artists)
        _generate_loved(self, spec.scrobbles, spec.seed, spec.artists)

    # ---- reading -------------------------------------------------------------------------
    def window(self, from_uts=None, to_uts=None):
        """Return (neg, sids, lo, hi) for from (inclusive) / to (exclusive)."""
        neg, sids = self.view
        lo = bisect.bisect_right(neg, -to_uts) if to_uts is not None else 0
        hi = bisect.bisect_right(neg, -from_uts) if from_uts is not None else len(neg)
        if hi < lo:
            hi = lo
        return neg, sids, lo, hi

    def total(self):
        return len(self.view[0])

    def _base_item(self, sid: int, extended: bool):
        key = (sid, extended)
        it = self._item_cache.get(key)
        if it is not None:
            return it
        cid = self.sp_cid[sid]
        artist = self.sp_artist[sid]
        title = self.sp_title[sid]
        img = self.c_image[cid]
        url = "https://www.last.fm/music/" + _url_part(artist) + "/_/" + _url_part(title)
        if extended:
            it = {
                "artist": {"url": "https://www.last.fm/music/" + _url_part(artist), "name": artist,
                           "image": _ARTIST_IMAGES, "mbid": self.c_artist_mbid[cid]},
                "mbid": self.c_track_mbid[cid],
                "name": title,
                "image": image_list(img),
                "url": url,
                "streamable": "0",
                "album": {"mbid": self.c_album_mbid[cid], "#text": self.sp_album[sid]},
                "loved": "1" if self.c_loved[cid] else "0",
            }
        else:
            it = {
                "artist": {"mbid": self.c_artist_mbid[cid], "#text": artist},
                "streamable": "0",
                "image": image_list(img),
                "mbid": self.c_track_mbid[cid],
                "album": {"mbid": self.c_album_mbid[cid], "#text": self.sp_album[sid]},
                "name": title,
                "url": url,
            }
        if len(self._item_cache) >= 40000:  # bound memory (~2 KB per cached item)
            self._item_cache.clear()
        self._item_cache[key] = it
        return it

    def item(self, sid: int, uts: int | None, extended: bool):
        d = dict(self._base_item(sid, extended))
        if uts is None:
            d["@attr"] = {"nowplaying": "true"}
        else:
            d["date"] = {"uts": str(uts), "#text": date_text(uts)}
        return d

    def scrobbled_cids(self) -> set:
        """Canonical ids with at least one scrobble in the current history (cached)."""
        view = self.view
        sc = self._scrobbled_cache
        if sc is not None and sc[0] is view:
            return sc[1]
        sp_cid = self.sp_cid
        cids = {sp_cid[s] for s in set(view[1])}
        self._scrobbled_cache = (view, cids)
        return cids

    def counts(self):
        """(artist_count, track_count, album_count) over the current history (cached)."""
        view = self.view
        cc = self._counts_cache
        if cc is not None and cc[0] is view:
            return cc[1]
        cids = self.scrobbled_cids()
        gid, _, _ = self._artist_groups()
        artists = {gid[c] for c in cids}
        c_sid = self.c_sid
        albums = {(gid[c], self.sp_album[c_sid[c]]) for c in cids if self.sp_album[c_sid[c]]}
        res = (len(artists), len(cids), len(albums))
        self._counts_cache = (view, res)
        return res

    # ---- artists -------------------------------------------------------------------------
    def _artist_groups(self):
        """(group id per cid, group display names, group mbids).  A group is the folded artist of
        the track's canonical spelling; its name is the canonical spelling of its lowest cid."""
        c_sid = self.c_sid
        gc = self._groups_cache
        if gc is not None and gc[0] == len(c_sid):
            return gc[1]
        by_key: dict[str, int] = {}
        gid: list[int] = []
        names: list[str] = []
        mbids: list[str] = []
        for cid in range(len(c_sid)):
            a = self.sp_artist[c_sid[cid]]
            k = normalise(a)
            g = by_key.get(k)
            if g is None:
                g = by_key[k] = len(names)
                names.append(a)
                mbids.append(self.c_artist_mbid[cid])
            gid.append(g)
        res = (gid, names, mbids)
        self._groups_cache = (len(c_sid), res)
        return res

    def top_artists(self, period: str = "overall"):
        """Ranked artists as user.getTopArtists serves them (cached per history version):
        [{"name", "mbid", "playcount", "scrobbles", "extra", "rank"}], playcount = scrobbles + extra.

        ``overall`` counts every scrobble and spreads ``extra_playcount`` (untimestamped plays) over
        the artists in proportion to their scrobbles (largest remainder; remainder ties go to the
        artist with more scrobbles, then by name).  Other periods count the scrobbles of the last
        N days of the history, ending at its newest scrobble, without extra plays."""
        days = PERIOD_DAYS[period]
        view = self.view
        tc = self._top_cache.get(period)
        if tc is not None and tc[0] is view:
            return tc[1]
        neg, sids = view
        lo, hi = 0, len(neg)
        if days is not None and neg:
            newest = -neg[0]
            _, _, lo, hi = self.window(newest - days * 86400, newest + 1)
        gid, names, mbids = self._artist_groups()
        sp_cid = self.sp_cid
        per_group: dict[int, int] = {}
        for sid, c in collections.Counter(sids[lo:hi]).items():
            g = gid[sp_cid[sid]]
            per_group[g] = per_group.get(g, 0) + c
        extra = {g: 0 for g in per_group}
        e = self.spec.extra_playcount if days is None else 0
        total = sum(per_group.values())
        if e > 0 and total > 0:
            rems = []
            for g, c in per_group.items():
                q, r = divmod(e * c, total)
                extra[g] = q
                rems.append((-r, -c, names[g], g))
            rems.sort()
            for _, _, _, g in rems[: e - sum(extra.values())]:
                extra[g] += 1
        rows = [{"name": names[g], "mbid": mbids[g], "playcount": c + extra[g], "scrobbles": c,
                 "extra": extra[g]} for g, c in per_group.items()]
        rows.sort(key=lambda r: (-r["playcount"], r["name"]))
        for i, r in enumerate(rows):
            r["rank"] = i + 1
        self._top_cache[period] = (view, rows)
        return rows

    # ---- loved tracks --------------------------------------------------------------------
    def loved(self):
        """[(cid, loved_uts)] newest first (ties: lower cid first)."""
        return sorted(self.c_loved_uts.items(), key=lambda x: (-x[1], x[0]))

    def loved_item(self, cid: int, uts: int):
        sid = self.c_sid[cid]
        artist, title = self.sp_artist[sid], self.sp_title[sid]
        return {
            "artist": {"#text": artist, "mbid": self.c_artist_mbid[cid]},
            "name": title,
            "streamable": "0",
            "mbid": self.c_track_mbid[cid],
            "album": {"#text": self.sp_album[sid], "mbid": self.c_album_mbid[cid]},
            "url": "https://www.last.fm/music/" + _url_part(artist) + "/_/" + _url_part(title),
            "image": image_list(self.c_image[cid]),
            "date": {"#text": date_text(uts), "uts": str(uts)},
        }

    def loved_truth(self):
        scrobbled = self.scrobbled_cids()
        out = []
        for cid, uts in self.loved():
            sid = self.c_sid[cid]
            out.append({"artist": self.sp_artist[sid], "title": self.sp_title[sid],
                        "album": self.sp_album[sid], "loved_uts": uts,
                        "scrobbled": cid in scrobbled})
        return {"user": self.spec.name, "total": len(out), "tracks": out}

    def artists_truth(self, period: str = "overall"):
        rows = self.top_artists(period)
        return {"user": self.spec.name, "period": period, "total": len(rows),
                "extra_playcount": self.spec.extra_playcount if period == "overall" else 0,
                "artists": [{"name": r["name"], "playcount": r["playcount"], "rank": r["rank"],
                             "scrobbles": r["scrobbles"], "extra": r["extra"]} for r in rows]}

    def truth(self, from_uts=None, to_uts=None):
        neg, sids, lo, hi = self.window(from_uts, to_uts)
        agg: dict[int, list] = {}
        sp_cid = self.sp_cid
        for i in range(lo, hi):
            sid = sids[i]
            cid = sp_cid[sid]
            a = agg.get(cid)
            uts = -neg[i]
            if a is None:
                # newest first: the first one seen is the most recent (ties: API order)
                agg[cid] = [sid, 1, uts, uts]
            else:
                a[1] += 1
                a[2] = uts  # older and older -> first_uts
        tracks = [{"artist": self.sp_artist[a[0]], "title": self.sp_title[a[0]],
                   "album": self.sp_album[a[0]], "playcount": a[1], "first_uts": a[2],
                   "last_uts": a[3]} for a in agg.values()]
        tracks.sort(key=lambda t: (-t["playcount"], t["artist"], t["title"]))
        return {"user": self.spec.name, "total_scrobbles": hi - lo,
                "extra_playcount": self.spec.extra_playcount,
                "profile_playcount": len(neg) + self.spec.extra_playcount,
                "distinct_tracks": len(tracks), "tracks": tracks}

    # ---- editing -------------------------------------------------------------------------
    def _exact_index(self):
        if self._exact is None:
            ex = {}
            for sid in range(len(self.sp_cid)):
                ex.setdefault((self.sp_artist[sid], self.sp_title[sid]), self.sp_cid[sid])
            self._exact = ex
            self._sp_index = {(self.sp_artist[s], self.sp_title[s], self.sp_album[s]): s
                              for s in range(len(self.sp_cid) - 1, -1, -1)}
        return self._exact

    def _spelling_for(self, artist, title, album):
        ex = self._exact_index()
        sid = self._sp_index.get((artist, title, album))
        if sid is not None:
            return sid
        cid = ex.get((artist, title))
        if cid is None:
            cid = len(self.c_loved)
            self.c_track_mbid.append("")
            self.c_artist_mbid.append("")
            self.c_album_mbid.append("")
            self.c_image.append("")
            self.c_loved.append(0)
            self.c_sid.append(len(self.sp_cid))
            ex[(artist, title)] = cid
        sid = len(self.sp_cid)
        self.sp_artist.append(artist)
        self.sp_title.append(title)
        self.sp_album.append(album)
        self.sp_cid.append(cid)
        self._sp_index[(artist, title, album)] = sid
        return sid

    def _edit_locked(self, adds=(), deletes=(), force=False, now=None):
        """Applies deletes, then adds, to one copy of the history and publishes it once (the caller
        holds ``self.lock``).  ``adds`` are (artist, title, album, uts), ``deletes`` (uts, artist,
        title).  Without ``force`` an add outside [now - 14 days, now + 300 s] is ignored, as
        Last.fm ignores it.  Returns {added, ignored, deleted, missing}."""
        res = {"added": 0, "ignored": 0, "deleted": 0, "missing": 0}
        if not adds and not deletes:
            return res
        if now is None:
            now = time.time()
        neg, sids = list(self.view[0]), list(self.view[1])
        for uts, artist, title in deletes:
            n = -uts
            i = bisect.bisect_left(neg, n)
            while i < len(neg) and neg[i] == n:
                s = sids[i]
                if self.sp_artist[s] == artist and self.sp_title[s] == title:
                    del neg[i], sids[i]
                    res["deleted"] += 1
                    break
                i += 1
            else:
                res["missing"] += 1
        for artist, title, album, uts in adds:
            if not force and not scrobble_accepted(uts, now):
                res["ignored"] += 1
                continue
            sid = self._spelling_for(artist, title, album)
            i = bisect.bisect_right(neg, -uts)  # after existing scrobbles of the same second
            neg.insert(i, -uts)
            sids.insert(i, sid)
            res["added"] += 1
        if res["added"] or res["deleted"]:
            self.view = (neg, sids)
        return res

    def edit(self, adds=(), deletes=(), force=False, now=None):
        """Thread-safe :meth:`_edit_locked`; the result also holds ``total_scrobbles``."""
        with self.lock:
            res = self._edit_locked(adds, deletes, force, now)
            res["total_scrobbles"] = len(self.view[0])
            return res

    def add_scrobbles(self, scrobbles, force=True, now=None):
        adds = [(str(s["artist"]), str(s["title"]), str(s.get("album") or ""), int(s["uts"]))
                for s in scrobbles]
        return self.edit(adds=adds, force=force, now=now)["total_scrobbles"]

    # ---- scheduled edits -----------------------------------------------------------------
    def schedule_edit(self, after_requests, adds, deletes, force):
        """Queues an edit applied just before the (after_requests + 1)-th user.getRecentTracks
        request that reaches the method from now on.  Returns its pending entry."""
        with self.lock:
            self._edit_seq += 1
            e = {"id": self._edit_seq, "remaining": int(after_requests), "add": list(adds),
                 "delete": list(deletes), "force": bool(force)}
            self.edits_pending.append(e)
            return self._pending_json(e)

    def recent_request(self, now=None):
        """Called once per user.getRecentTracks request that reaches the method, before it reads
        the history: counts it and applies the edits that are due (each exactly once, in id
        order, under the lock)."""
        with self.lock:
            self.recent_requests += 1
            if not self.edits_pending:
                return
            waiting = []
            for e in self.edits_pending:
                if e["remaining"] > 0:
                    e["remaining"] -= 1
                    waiting.append(e)
                    continue
                r = self._edit_locked(e["add"], e["delete"], e["force"], now)
                self.edits_applied.append({"id": e["id"], "at_request": self.recent_requests, **r})
            self.edits_pending = waiting

    def clear_edits(self):
        with self.lock:
            n = len(self.edits_pending)
            self.edits_pending = []
            return n

    @staticmethod
    def _pending_json(e):
        return {"id": e["id"], "remaining": e["remaining"], "adds": len(e["add"]),
                "deletes": len(e["delete"])}

    def edits_json(self):
        with self.lock:
            return {"user": self.spec.name, "recent_tracks_requests": self.recent_requests,
                    "pending": [self._pending_json(e) for e in self.edits_pending],
                    "applied": [dict(a) for a in self.edits_applied]}

    # ---- raw scrobbles -------------------------------------------------------------------
    def list_scrobbles(self, from_uts=None, to_uts=None, offset=0, limit=None):
        """(total in the window, [{artist, title, album, uts}]) newest first, in API order."""
        neg, sids, lo, hi = self.window(from_uts, to_uts)
        start = lo + offset
        stop = hi if limit is None else min(hi, start + limit)
        out = []
        for i in range(start, stop):
            sid = sids[i]
            out.append({"artist": self.sp_artist[sid], "title": self.sp_title[sid],
                        "album": self.sp_album[sid], "uts": -neg[i]})
        return hi - lo, out

    def set_loved(self, artist, title, loved, uts):
        """Loves (at ``uts``) or unloves a track by its spelling, as the user would on the site.
        Returns False when loving/unloving a track the history has never heard of."""
        with self.lock:
            cid = self._exact_index().get((artist, title))
            if cid is None:
                if not loved:
                    return False
                cid = self.sp_cid[self._spelling_for(artist, title, "")]
            if loved:
                self.c_loved[cid] = 1
                self.c_loved_uts[cid] = int(uts)
            else:
                self.c_loved[cid] = 0
                self.c_loved_uts.pop(cid, None)
            return True

    def delete_scrobble(self, uts, artist, title):
        return self.edit(deletes=[(int(uts), str(artist), str(title))])["deleted"] == 1


# --------------------------------------------------------------------------------------------
# generation

def _gen_artist_name(rng):
    r = rng.random()
    if r < 0.45:
        return "The " + rng.choice(_ART_ADJ) + " " + rng.choice(_ART_NOUN)
    if r < 0.75:
        n = rng.randint(2, 3)
        return "".join(rng.choice(_SYL) for _ in range(n)).capitalize()
    if r < 0.9:
        a = "".join(rng.choice(_SYL) for _ in range(2)).capitalize()
        b = "".join(rng.choice(_SYL) for _ in range(rng.randint(2, 3))).capitalize()
        return a + " " + b
    return rng.choice(_ART_ADJ) + " " + rng.choice(_ART_NOUN)


def _gen_title(rng):
    r = rng.random()
    if r < 0.30:
        t = rng.choice(_T_ADJ) + " " + rng.choice(_T_NOUN)
    elif r < 0.45:
        t = rng.choice(_T_NOUN) + " of the " + rng.choice(_T_NOUN)
    elif r < 0.60:
        t = rng.choice(_T_VERB) + " " + rng.choice(_T_OBJ)
    elif r < 0.70:
        t = "The " + rng.choice(_T_NOUN)
    elif r < 0.80:
        t = rng.choice(_T_NOUN)
    elif r < 0.90:
        t = rng.choice(_T_UNICODE)
    else:
        t = rng.choice(_T_ADJ) + " " + rng.choice(_T_NOUN) + " " + rng.choice(_T_NOUN)
    r = rng.random()
    if r < 0.08:
        t += rng.choice(_SUFFIX)
    elif r < 0.11:
        t += " (feat. " + rng.choice(_FEAT) + ")"
    elif r < 0.13:
        t += " feat. " + rng.choice(_FEAT)
    return t


def _variant(rng, artist, title):
    """A spelling that differs from (artist, title) but folds to the same identity, or None."""
    for _ in range(4):
        kind = rng.randrange(7)
        a, t = artist, title
        if kind == 0:
            t = t.lower()
        elif kind == 1:
            a = a.upper() if rng.random() < 0.5 else a.lower()
        elif kind == 2:
            t = t.upper()
        elif kind == 3:  # whitespace
            if " " in t and rng.random() < 0.7:
                i = rng.choice([i for i, c in enumerate(t) if c == " "])
                t = t[:i] + "  " + t[i:]
            elif rng.random() < 0.5:
                t = t + " "
            else:
                a = " " + a
        elif kind == 4:  # accents dropped
            a2, t2 = strip_accents(a), strip_accents(t)
            if a2 == a and t2 == t:
                continue
            a, t = a2, t2
        elif kind == 5:  # compatibility forms
            if rng.random() < 0.5:
                t = fullwidth(t)
            else:
                a = fullwidth(a)
        else:  # decomposed (NFD) or mixed case
            a2, t2 = unicodedata.normalize("NFD", a), unicodedata.normalize("NFD", t)
            if (a2, t2) == (a, t):
                t = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(t))
            else:
                a, t = a2, t2
        if (a, t) != (artist, title) and normalise(a) == normalise(artist) and \
                normalise(t) == normalise(title):
            return a, t
    return None


def _rng_tag(n: int, seed: int, forced_artists):
    tag = "%d:%d" % (n, seed)
    return tag if forced_artists is None else tag + ":a%d" % forced_artists


def _generate(h: History, n: int, seed: int, now_playing: bool, forced_artists=None):
    rng = random.Random("lastfm-standin:v1:" + _rng_tag(n, seed, forced_artists))
    r = rng.random
    if forced_artists is None:
        n_canon = max(1, n // 4)
        n_artists = max(1, min(len(SPECIAL_ARTISTS) + n_canon // 8, max(3, n_canon // 6)))
    else:
        # exactly forced_artists distinct artists: the first n_artists tracks go one to each
        # artist and every canonical track is scrobbled at least once (n_canon <= n)
        n_artists = max(1, forced_artists)
        n_canon = max(1, min(n, max(n // 4, forced_artists + forced_artists // 2)))

    # ---- artists
    artists: list[str] = []
    artist_keys = set()
    specials = list(SPECIAL_ARTISTS)
    rng.shuffle(specials)
    for a in specials:
        if len(artists) >= n_artists:
            break
        artists.append(a)
        artist_keys.add(normalise(a))
    tries = 0
    while len(artists) < n_artists:
        a = _gen_artist_name(rng)
        tries += 1
        if tries > 20 * n_artists:  # vocabulary exhausted: disambiguate
            a = a + " " + str(len(artists))
        k = normalise(a)
        if k in artist_keys:
            continue
        artist_keys.add(k)
        artists.append(a)
    a_mbid = [_uuid(rng) if r() < 0.4 else "" for _ in artists]
    a_albums: list[list | None] = [None] * n_artists
    a_cum = list(itertools.accumulate(1.0 / (i + 3) ** 0.8 for i in range(n_artists)))

    def album_of(ai):
        al = a_albums[ai]
        if al is None:
            al = []
            for _ in range(rng.randint(1, 5)):
                w = r()
                if w < 0.5:
                    name = _gen_title(rng).split(" (")[0].split(" feat.")[0]
                elif w < 0.8:
                    name = artists[ai] + " " + rng.choice(_ALBUM_WORDS) if w < 0.6 else \
                        rng.choice(_T_ADJ) + " " + rng.choice(_T_NOUN) + "s"
                else:
                    name = rng.choice(_ALBUM_WORDS)
                al.append((name, _uuid(rng) if r() < 0.25 else ""))
            a_albums[ai] = al
        return al

    # ---- canonical tracks
    keys = set()
    c_artist_idx: list[int] = []
    titles: list[str] = []

    def add_track(ai, title):
        k = (artist_keys_list[ai], normalise(title))
        if k in keys:
            return False
        keys.add(k)
        c_artist_idx.append(ai)
        titles.append(title)
        return True

    artist_keys_list = [normalise(a) for a in artists]
    i = 0
    while len(titles) < n_canon:
        if len(titles) < n_artists:
            ai = len(titles)
        else:
            ai = bisect.bisect_left(a_cum, r() * a_cum[-1])
            if ai >= n_artists:
                ai = n_artists - 1
        t = _gen_title(rng)
        if not add_track(ai, t):
            for k in range(2, 60):
                if add_track(ai, t + (" Part %d" % k if k % 2 else " (Version %d)" % k)):
                    break
            continue
        # feat. siblings: same base title, DIFFERENT tracks
        if r() < 0.04 and len(titles) + 2 <= n_canon and "feat" not in t and (
                forced_artists is None or len(titles) >= n_artists):
            f = rng.choice(_FEAT)
            add_track(ai, t + " (feat. " + f + ")")
            if len(titles) < n_canon:
                add_track(ai, t + " feat. " + f)
        i += 1

    for cid in range(n_canon):
        ai = c_artist_idx[cid]
        h.sp_artist.append(artists[ai])
        h.sp_title.append(titles[cid])
        if r() < 0.08:
            alb, amb = "", ""
        else:
            alb, amb = rng.choice(album_of(ai))
        h.sp_album.append(alb)
        h.sp_cid.append(cid)
        h.c_sid.append(cid)
        h.c_album_mbid.append(amb)
        h.c_artist_mbid.append(a_mbid[ai])
        h.c_track_mbid.append(_uuid(rng) if r() < 0.15 else "")
        h.c_image.append("" if r() < 0.05 else "%032x.jpg" % rng.getrandbits(128))
        h.c_loved.append(1 if r() < 0.05 else 0)

    # ---- spelling variants for a minority of canonical tracks
    variants: dict[int, list[int]] = {}
    for cid in range(n_canon):
        if r() < (0.6 if cid < 100 else 0.15):
            lst = []
            seen = {(h.sp_artist[cid], h.sp_title[cid])}
            for _ in range(1 if r() < 0.7 else 2):
                v = _variant(rng, h.sp_artist[cid], h.sp_title[cid])
                if v is None or v in seen:
                    continue
                seen.add(v)
                sid = len(h.sp_cid)
                h.sp_artist.append(v[0])
                h.sp_title.append(v[1])
                h.sp_album.append(h.sp_album[cid])
                h.sp_cid.append(cid)
                lst.append(sid)
            if lst:
                variants[cid] = lst

    # ---- plays: every catalogue track at least once, the rest Zipf-like (rank == cid)
    base = min(n_canon, n)
    plays = list(range(base))
    if n > base:
        cum = list(itertools.accumulate(1.0 / (k + 40.0) ** 1.1 for k in range(n_canon)))
        plays += rng.choices(range(n_canon), cum_weights=cum, k=n - base)
    rng.shuffle(plays)

    # ---- timestamps, oldest first: listening sessions, long gaps between them
    span = min(FIFTEEN_YEARS, max(3600, n * AVG_SECONDS_PER_SCROBBLE))
    end = END_EPOCH - 60 - rng.randrange(600)
    gaps = [0] * n
    sess = []
    small_total = 0
    for k in range(1, n):
        x = r()
        if x < SAME_SECOND_RATE:
            continue  # same second as the previous scrobble
        if x < SAME_SECOND_RATE + SESSION_START_RATE:
            sess.append(k)
        else:
            g = 150 + int(r() * 250)
            gaps[k] = g
            small_total += g
    remaining = span - small_total
    if sess and remaining > 0:
        ws = [-math.log(1.0 - r()) for _ in sess]
        scale = remaining / sum(ws)
        for k, w in zip(sess, ws):
            gaps[k] = int(w * scale)
    elif sess:
        for k in sess:
            gaps[k] = 600
    ts = list(itertools.accumulate(gaps))
    if ts:
        shift = end - ts[-1]
        ts = [t + shift for t in ts]
    # same-second scrobbles must be different tracks
    def group(pos):
        a = pos
        while a > 0 and gaps[a] == 0:
            a -= 1
        b = pos + 1
        while b < n and gaps[b] == 0:
            b += 1
        return range(a, b)

    def clash(pos, val):
        return any(plays[q] == val for q in group(pos) if q != pos)

    for k in range(1, n):
        if gaps[k] == 0 and clash(k, plays[k]):
            for _ in range(20):
                j = rng.randrange(n)
                if j != k and not clash(k, plays[j]) and not clash(j, plays[k]):
                    plays[j], plays[k] = plays[k], plays[j]
                    break
    # spelling choice per scrobble
    sids = plays
    for k in range(n):
        v = variants.get(sids[k])
        if v is not None and r() < 0.12:
            sids[k] = v[0] if len(v) == 1 else v[int(r() * len(v))]

    ts.reverse()
    sids.reverse()
    h.view = ([-t for t in ts], sids)
    start = ts[-1] if ts else end
    h.registered = start - int(span * 0.2) - 86400 - rng.randrange(86400)
    if now_playing:
        h.now_playing_sid = rng.randrange(n_canon)


LOVED_UNSCROBBLED_PER = 500  # one never-scrobbled loved track per this many scrobbles


def _generate_loved(h: History, n: int, seed: int, forced_artists=None):
    """Loved dates for the loved canonical tracks, and a few loved tracks that were never scrobbled.
    Uses its own RNG stream, so the scrobble history does not depend on it."""
    rng = random.Random("lastfm-standin:loved:v1:" + _rng_tag(n, seed, forced_artists))
    n_canon = len(h.c_sid)
    neg, sids = h.view
    if not neg:  # nothing scrobbled, nothing loved
        for cid in range(n_canon):
            h.c_loved[cid] = 0
        return
    loved = {cid for cid in range(n_canon) if h.c_loved[cid]}
    if loved:
        plays: dict[int, list[int]] = {}
        sp_cid = h.sp_cid
        for i in range(len(neg) - 1, -1, -1):  # oldest first
            c = sp_cid[sids[i]]
            if c in loved:
                plays.setdefault(c, []).append(-neg[i])
        for cid in sorted(loved):
            ts = plays.get(cid) or [-neg[0]]
            # loved while listening: a few minutes after one of its scrobbles
            h.c_loved_uts[cid] = rng.choice(ts) + rng.randint(5, 240)

    k = n // LOVED_UNSCROBBLED_PER
    if n >= 100:
        k = max(1, k)
    if k == 0:
        return
    oldest, newest = -neg[-1], -neg[0]
    keys = {(normalise(h.sp_artist[h.c_sid[c]]), normalise(h.sp_title[h.c_sid[c]]))
            for c in range(n_canon)}
    for _ in range(k):
        if rng.random() < 0.5:  # an artist the user scrobbles
            src = rng.randrange(n_canon)
            artist, a_mbid = h.sp_artist[h.c_sid[src]], h.c_artist_mbid[src]
        else:  # an artist the user never scrobbled
            artist = _gen_artist_name(rng)
            a_mbid = _uuid(rng) if rng.random() < 0.3 else ""
        for _ in range(50):
            title = _gen_title(rng)
            key = (normalise(artist), normalise(title))
            if key not in keys:
                break
        else:
            continue
        keys.add(key)
        album = "" if rng.random() < 0.3 else rng.choice(_ALBUM_WORDS)
        cid, sid = len(h.c_loved), len(h.sp_cid)
        h.sp_artist.append(artist)
        h.sp_title.append(title)
        h.sp_album.append(album)
        h.sp_cid.append(cid)
        h.c_sid.append(sid)
        h.c_track_mbid.append(_uuid(rng) if rng.random() < 0.15 else "")
        h.c_artist_mbid.append(a_mbid)
        h.c_album_mbid.append("")
        h.c_image.append("%032x.jpg" % rng.getrandbits(128))
        h.c_loved.append(1)
        h.c_loved_uts[cid] = rng.randint(oldest, newest)

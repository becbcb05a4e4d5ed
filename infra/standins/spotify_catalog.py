"""Deterministic catalogue and per-user top lists for the Spotify stand-in (stdlib only).

Everything here is a pure function of names and user ids: the same process-independent ids, images, ISRCs,
durations and list orders come out on every run. Objects are built in the full Web API shape; the server
removes the Development Mode fields.
"""

from __future__ import annotations

import hashlib
import random

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANGES = ("short_term", "medium_term", "long_term")
TYPES = ("artists", "tracks")


def _digest(*parts) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()


def _num(*parts) -> int:
    return int.from_bytes(_digest(*parts)[:8], "big")


def spotify_id(kind: str, key: str) -> str:
    """22-character base62 id, like Spotify's."""
    n = int.from_bytes(_digest("id", kind, key), "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(B62[r])
    return "".join(out)


def _hex(*parts, n=24) -> str:
    return _digest("img", *parts).hex()[:n]


# --------------------------------------------------------------------------------------------
# catalogue data
#
# ARTISTS: (name, popularity, genres[, key]).  `key` disambiguates same-named artists (two different
# artists called "Nirvana" exist on Spotify, with different ids).

ARTISTS = [
    ("Queen", 85, ["classic rock", "glam rock", "rock"]),
    ("ABBA", 84, ["europop", "swedish pop"]),
    ("Beyoncé", 86, ["pop", "r&b"]),
    ("Taylor Swift", 100, ["pop"]),
    ("Adele", 85, ["british soul", "pop", "uk pop"]),
    ("Bon Jovi", 81, ["glam metal", "rock"]),
    ("Journey", 80, ["aor", "mellow gold", "rock", "soft rock"]),
    ("Whitney Houston", 81, ["dance pop", "pop", "r&b", "soul"]),
    ("Oasis", 80, ["britpop", "madchester", "permanent wave", "rock"]),
    ("Toto", 78, ["album rock", "classic rock", "soft rock", "yacht rock"]),
    ("The Killers", 81, ["alternative rock", "dance rock", "modern rock", "rock"]),
    ("Backstreet Boys", 79, ["boy band", "dance pop", "pop"]),
    ("Spice Girls", 72, ["dance pop", "europop", "girl group"]),
    ("Britney Spears", 82, ["dance pop", "pop"]),
    ("Elton John", 86, ["glam rock", "piano rock", "rock", "soft rock"]),
    ("Lady Gaga", 88, ["art pop", "dance pop", "pop"]),
    ("Bruno Mars", 92, ["dance pop", "pop"]),
    ("Ed Sheeran", 87, ["pop", "singer-songwriter pop", "uk pop"]),
    ("Neil Diamond", 72, ["brill building pop", "folk rock", "mellow gold", "soft rock"]),
    ("Gloria Gaynor", 66, ["disco", "post-disco"]),
    ("Bonnie Tyler", 68, ["new wave pop", "soft rock"]),
    ("Cyndi Lauper", 70, ["dance rock", "new wave pop"]),
    ("Madonna", 79, ["dance pop", "pop"]),
    ("Michael Jackson", 87, ["pop", "r&b", "soul"]),
    ("Tina Turner", 72, ["rock", "soft rock", "soul"]),
    ("Celine Dion", 79, ["canadian pop", "soft rock"]),
    ("Mariah Carey", 82, ["dance pop", "pop", "r&b", "urban contemporary"]),
    ("Kylie Minogue", 73, ["australian dance", "dance pop", "eurodance"]),
    ("Robbie Williams", 72, ["dance pop", "pop rock"]),
    ("a-ha", 76, ["new romantic", "new wave", "new wave pop", "synthpop"]),
    ("Survivor", 70, ["album rock", "glam metal", "hard rock"]),
    ("Europe", 70, ["glam metal", "hard rock", "swedish hard rock"]),
    ("Guns N' Roses", 83, ["glam metal", "hard rock", "rock"]),
    ("AC/DC", 83, ["australian rock", "hard rock", "rock"]),
    ("Nirvana", 82, ["grunge", "permanent wave", "rock"]),
    ("Red Hot Chili Peppers", 84, ["alternative rock", "funk metal", "funk rock", "permanent wave"]),
    ("Coldplay", 88, ["permanent wave", "pop"]),
    ("Arctic Monkeys", 86, ["garage rock", "modern rock", "permanent wave", "rock", "sheffield indie"]),
    ("Amy Winehouse", 76, ["british soul", "neo soul"]),
    ("Dua Lipa", 87, ["dance pop", "pop", "uk pop"]),
    ("Harry Styles", 86, ["pop"]),
    ("Olivia Rodrigo", 86, ["pop"]),
    ("Billie Eilish", 90, ["art pop", "pop"]),
    ("Katy Perry", 80, ["pop"]),
    ("Rihanna", 88, ["barbadian pop", "pop", "urban contemporary"]),
    ("Shania Twain", 72, ["canadian country", "canadian pop", "country", "country dawn"]),
    ("Dolly Parton", 74, ["country", "country dawn"]),
    ("Kenny Rogers", 66, ["country", "country rock", "soft rock"]),
    ("Johnny Cash", 74, ["arkansas country", "outlaw country"]),
    ("Frank Sinatra", 76, ["adult standards", "easy listening", "lounge"]),
    ("Elvis Presley", 80, ["rock-and-roll", "rockabilly"]),
    ("The Beatles", 85, ["beatlesque", "british invasion", "classic rock", "merseybeat", "psychedelic rock", "rock"]),
    ("The Rolling Stones", 80, ["album rock", "british invasion", "classic rock", "rock"]),
    ("Fleetwood Mac", 81, ["album rock", "classic rock", "rock", "soft rock", "yacht rock"]),
    ("Bee Gees", 77, ["disco", "mellow gold", "soft rock"]),
    ("Earth, Wind & Fire", 73, ["disco", "funk", "jazz funk", "motown", "soul"]),
    ("Chaka Khan", 64, ["disco", "funk", "post-disco", "quiet storm", "soul"]),
    ("Aretha Franklin", 73, ["classic soul", "jazz blues", "memphis soul", "soul", "southern soul"]),
    ("Stevie Wonder", 76, ["motown", "soul"]),
    ("Lionel Richie", 74, ["mellow gold", "quiet storm", "soft rock"]),
    ("Bill Withers", 70, ["classic soul", "funk", "quiet storm", "soul"]),
    ("The Weeknd", 94, ["canadian contemporary r&b", "canadian pop", "pop"]),
    ("Miley Cyrus", 84, ["pop"]),
    ("P!nk", 80, ["dance pop", "pop"]),
    ("Kelly Clarkson", 72, ["dance pop", "neo mellow", "pop"]),
    ("Avril Lavigne", 78, ["canadian pop", "candy pop", "dance pop", "pop punk"]),
    ("blink-182", 76, ["pop punk", "socal pop punk"]),
    ("Green Day", 80, ["modern rock", "permanent wave", "pop punk", "punk", "rock"]),
    ("Linkin Park", 86, ["alternative metal", "nu metal", "post-grunge", "rap metal"]),
    ("Evanescence", 74, ["alternative metal", "nu metal"]),
    ("Alanis Morissette", 70, ["canadian pop", "canadian singer-songwriter", "pop rock"]),
    ("No Doubt", 72, ["pop rock", "ska punk"]),
    ("The Cranberries", 74, ["irish rock", "permanent wave", "pop rock"]),
    ("Sinéad O'Connor", 62, ["irish rock", "irish singer-songwriter"]),
    ("Robyn", 65, ["dance pop", "electropop", "swedish electropop", "swedish pop"]),
    ("MIKA", 60, ["dance pop", "neo mellow"]),
    ("Meat Loaf", 68, ["album rock", "glam rock", "hard rock", "soft rock"]),
    ("The Proclaimers", 60, ["scottish rock"]),
    ("Wham!", 71, ["new romantic", "new wave pop"]),
    ("George Michael", 73, ["dance pop", "soft rock"]),
    ("Tears For Fears", 74, ["new romantic", "new wave", "new wave pop", "synthpop"]),
    ("Rick Astley", 70, ["dance rock", "new wave pop"]),
    ("Kool & The Gang", 70, ["disco", "funk", "post-disco", "soul"]),
    ("Village People", 62, ["disco"]),
    ("The Jackson 5", 70, ["motown", "soul"]),
    ("Destiny's Child", 72, ["dance pop", "girl group", "r&b", "urban contemporary"]),
    ("TLC", 68, ["atl hip hop", "girl group", "r&b", "urban contemporary"]),
    ("Outkast", 75, ["atl hip hop", "dirty south rap", "hip hop", "southern hip hop"]),
    ("Eminem", 88, ["detroit hip hop", "hip hop", "rap"]),
    ("Mark Ronson", 70, ["dance pop"]),
    ("JAY-Z", 80, ["east coast hip hop", "hip hop", "rap"]),
    ("Alicia Keys", 78, ["neo soul", "pop", "r&b"]),
    ("Bradley Cooper", 65, []),
    ("Kiki Dee", 45, ["brill building pop"]),
    ("Lewis Capaldi", 80, ["pop", "uk pop"]),
    ("Sam Smith", 82, ["pop", "uk pop"]),
    ("Bryan Adams", 75, ["canadian pop", "canadian singer-songwriter", "soft rock"]),
    ("Duran Duran", 70, ["dance rock", "new romantic", "new wave", "new wave pop", "synthpop"]),
    ("Eurythmics", 70, ["new romantic", "new wave", "new wave pop", "synthpop"]),
    ("Cher", 71, ["dance pop"]),
    ("Sia", 84, ["australian pop", "pop"]),
    ("Imagine Dragons", 86, ["modern rock", "pop", "rock"]),
    ("Sabrina Carpenter", 90, ["pop"]),
    ("Chappell Roan", 85, ["indie pop"]),
    ("ROSALÍA", 80, ["pop", "r&b en espanol"]),
    ("Måneskin", 76, ["indie rock italiano", "italian pop"]),
    ("Mötley Crüe", 74, ["glam metal", "hard rock", "rock"]),
    ("Hozier", 84, ["irish singer-songwriter", "modern rock", "pop"]),
    ("Lizzo", 75, ["dance pop", "escape room", "minnesota hip hop", "pop", "trap queen"]),
    ("Kenny Loggins", 66, ["mellow gold", "soft rock", "yacht rock"]),
    ("Nirvana", 31, ["psychedelic folk"], "Nirvana (UK)"),
]

# Artists that appear on tracks but are not in ARTISTS (simplified objects only).
EXTRA_ARTISTS = ["Calvin Harris", "Nate Ruess", "Count Basie", "Annie Lennox", "Dave Stewart", "Rufus"]

# TRACKS: (artists (primary first), title, album, release_date, explicit[, album_artists])
# release_date precision follows its format: "1969" year, "1978-11" month, else day.
TRACKS = [
    (["Queen"], "Bohemian Rhapsody", "A Night At The Opera", "1975-11-21", False),
    (["Queen"], "Don't Stop Me Now - Remastered 2011", "Jazz (2011 Remaster)", "1978-11-10", False),
    (["Queen"], "Somebody To Love", "A Day At The Races", "1976-12-10", False),
    (["Queen"], "We Are The Champions", "News Of The World", "1977-10-28", False),
    (["Queen"], "I Want To Break Free", "The Works", "1984-02-27", False),
    (["ABBA"], "Dancing Queen", "Arrival", "1976-10-11", False),
    (["ABBA"], "Mamma Mia", "ABBA", "1975-04-21", False),
    (["ABBA"], "Waterloo", "Waterloo", "1974-03-04", False),
    (["ABBA"], "Take A Chance On Me", "The Album", "1977-12-12", False),
    (["ABBA"], "Gimme! Gimme! Gimme! (A Man After Midnight)", "Voulez-Vous", "1979-04-23", False),
    (["Beyoncé", "JAY-Z"], "Crazy In Love (feat. Jay-Z)", "Dangerously In Love", "2003-06-24", False, ["Beyoncé"]),
    (["Beyoncé"], "Single Ladies (Put a Ring on It)", "I AM...SASHA FIERCE", "2008-11-14", False),
    (["Beyoncé"], "Halo", "I AM...SASHA FIERCE", "2008-11-14", False),
    (["Taylor Swift"], "Shake It Off", "1989", "2014-10-27", False),
    (["Taylor Swift"], "Love Story", "Fearless", "2008-11-11", False),
    (["Taylor Swift"], "You Belong With Me", "Fearless", "2008-11-11", False),
    (["Taylor Swift"], "Cruel Summer", "Lover", "2019-08-23", False),
    (["Taylor Swift"], "Anti-Hero", "Midnights", "2022-10-21", False),
    (["Adele"], "Rolling in the Deep", "21", "2011-01-24", False),
    (["Adele"], "Someone Like You", "21", "2011-01-24", False),
    (["Adele"], "Hello", "25", "2015-11-20", False),
    (["Adele"], "Skyfall", "Skyfall", "2012-10-05", False),
    (["Bon Jovi"], "Livin' On A Prayer", "Slippery When Wet", "1986-08-16", False),
    (["Bon Jovi"], "It's My Life", "Crush", "2000-06-13", False),
    (["Bon Jovi"], "You Give Love A Bad Name", "Slippery When Wet", "1986-08-16", False),
    (["Journey"], "Don't Stop Believin'", "Escape", "1981-07-31", False),
    (["Journey"], "Faithfully", "Frontiers", "1983-02-22", False),
    (["Journey"], "Any Way You Want It", "Departure", "1980-03", False),
    (["Whitney Houston"], "I Will Always Love You", "The Bodyguard - Original Soundtrack Album", "1992-11-17", False),
    (["Whitney Houston"], "I Wanna Dance with Somebody (Who Loves Me)", "Whitney", "1987-06-02", False),
    (["Whitney Houston"], "How Will I Know", "Whitney Houston", "1985-02-14", False),
    (["Oasis"], "Wonderwall - Remastered", "(What's The Story) Morning Glory? (Remastered)", "1995-10-02", False),
    (["Oasis"], "Don\u2019t Look Back in Anger - Remastered", "(What's The Story) Morning Glory? (Remastered)", "1995-10-02", False),
    (["Oasis"], "Champagne Supernova - Remastered", "(What's The Story) Morning Glory? (Remastered)", "1995-10-02", False),
    (["Toto"], "Africa", "Toto IV", "1982-04-08", False),
    (["Toto"], "Hold the Line", "Toto", "1978", False),
    (["The Killers"], "Mr. Brightside", "Hot Fuss", "2004-06-07", False),
    (["The Killers"], "Somebody Told Me", "Hot Fuss", "2004-06-07", False),
    (["The Killers"], "When You Were Young", "Sam's Town", "2006-10-02", False),
    (["Backstreet Boys"], "I Want It That Way", "Millennium", "1999-05-18", False),
    (["Backstreet Boys"], "Everybody (Backstreet's Back) - Radio Edit", "Backstreet's Back", "1997-08-11", False),
    (["Backstreet Boys"], "Larger Than Life", "Millennium", "1999-05-18", False),
    (["Spice Girls"], "Wannabe", "Spice", "1996-11-04", False),
    (["Spice Girls"], "Say You'll Be There", "Spice", "1996-11-04", False),
    (["Spice Girls"], "Stop", "Spiceworld", "1997-11-03", False),
    (["Britney Spears"], "...Baby One More Time", "...Baby One More Time (Digital Deluxe Version)", "1999-01-12", False),
    (["Britney Spears"], "Toxic", "In The Zone", "2003-11-12", False),
    (["Britney Spears"], "Oops!...I Did It Again", "Oops!... I Did It Again", "2000-05-16", False),
    (["Elton John"], "Your Song", "Elton John", "1970-04-10", False),
    (["Elton John"], "Tiny Dancer", "Madman Across The Water", "1971-11-05", False),
    (["Elton John"], "Rocket Man (I Think It's Going To Be A Long, Long Time)", "Honky Château", "1972-05-19", False),
    (["Elton John", "Kiki Dee"], "Don't Go Breaking My Heart", "Don't Go Breaking My Heart", "1976-06-21", False),
    (["Elton John"], "I'm Still Standing", "Too Low For Zero", "1983-05-30", False),
    (["Lady Gaga", "Bradley Cooper"], "Shallow", "A Star Is Born Soundtrack", "2018-10-05", False),
    (["Lady Gaga"], "Bad Romance", "The Fame Monster (Deluxe Edition)", "2009-11-18", False),
    (["Lady Gaga"], "Poker Face", "The Fame", "2008-01-01", False),
    (["Lady Gaga", "Bruno Mars"], "Die With A Smile", "Die With A Smile", "2024-08-16", False),
    (["Mark Ronson", "Bruno Mars"], "Uptown Funk (feat. Bruno Mars)", "Uptown Special", "2015-01-12", False, ["Mark Ronson"]),
    (["Bruno Mars"], "Just the Way You Are", "Doo-Wops & Hooligans", "2010-10-05", False),
    (["Bruno Mars"], "Locked out of Heaven", "Unorthodox Jukebox", "2012-12-07", False),
    (["Ed Sheeran"], "Shape of You", "\u00f7 (Deluxe)", "2017-03-03", False),
    (["Ed Sheeran"], "Perfect", "\u00f7 (Deluxe)", "2017-03-03", False),
    (["Ed Sheeran"], "Thinking out Loud", "x (Deluxe Edition)", "2014-06-21", False),
    (["Neil Diamond"], "Sweet Caroline", "Brother Love's Travelling Salvation Show", "1969", False),
    (["Gloria Gaynor"], "I Will Survive", "Love Tracks", "1978", False),
    (["Bonnie Tyler"], "Total Eclipse of the Heart", "Faster Than the Speed of Night", "1983-04-01", False),
    (["Bonnie Tyler"], "Holding Out for a Hero", "Secret Dreams and Forbidden Fire", "1986-05", False),
    (["Cyndi Lauper"], "Girls Just Want to Have Fun", "She's So Unusual", "1983-10-14", False),
    (["Cyndi Lauper"], "Time After Time", "She's So Unusual", "1983-10-14", False),
    (["Madonna"], "Like a Prayer", "Like a Prayer", "1989-03-21", False),
    (["Madonna"], "Material Girl", "Like a Virgin", "1984-11-12", False),
    (["Madonna"], "Vogue", "I'm Breathless", "1990-05-22", False),
    (["Michael Jackson"], "Billie Jean", "Thriller", "1982-11-30", False),
    (["Michael Jackson"], "Beat It", "Thriller", "1982-11-30", False),
    (["Michael Jackson"], "Man in the Mirror - 2012 Remaster", "Bad 25th Anniversary", "1987-08-31", False),
    (["Tina Turner"], "The Best", "Foreign Affair", "1989-09-13", False),
    (["Tina Turner"], "What's Love Got to Do with It", "Private Dancer", "1984-05-29", False),
    (["Celine Dion"], "My Heart Will Go On - Love Theme from \"Titanic\"", "Let's Talk About Love", "1997-11-14", False),
    (["Celine Dion"], "It's All Coming Back to Me Now", "Falling Into You", "1996-03-11", False),
    (["Mariah Carey"], "All I Want for Christmas Is You", "Merry Christmas", "1994-10-28", False),
    (["Mariah Carey"], "Hero", "Music Box", "1993-08-31", False),
    (["Mariah Carey"], "We Belong Together", "The Emancipation of Mimi", "2005-04-12", False),
    (["Kylie Minogue"], "Can't Get You out of My Head", "Fever", "2001-10-01", False),
    (["Kylie Minogue"], "Spinning Around", "Light Years", "2000-09-25", False),
    (["Robbie Williams"], "Angels", "Life Thru A Lens", "1997-09-29", False),
    (["Robbie Williams"], "Feel", "Escapology", "2002-11-18", False),
    (["a-ha"], "Take On Me", "Hunting High and Low", "1985-06-01", False),
    (["Survivor"], "Eye of the Tiger", "Eye of the Tiger", "1982", False),
    (["Europe"], "The Final Countdown", "The Final Countdown (Expanded Edition)", "1986-05-26", False),
    (["Guns N' Roses"], "Sweet Child O' Mine", "Appetite For Destruction", "1987-07-21", False),
    (["Guns N' Roses"], "Paradise City", "Appetite For Destruction", "1987-07-21", False),
    (["AC/DC"], "Highway to Hell", "Highway to Hell", "1979-07-27", False),
    (["AC/DC"], "Thunderstruck", "The Razors Edge", "1990-09-24", False),
    (["AC/DC"], "You Shook Me All Night Long", "Back In Black", "1980-07-25", False),
    (["Nirvana"], "Smells Like Teen Spirit", "Nevermind (Remastered)", "1991-09-26", False),
    (["Red Hot Chili Peppers"], "Under the Bridge", "Blood Sugar Sex Magik (Deluxe Edition)", "1991-09-24", False),
    (["Red Hot Chili Peppers"], "Californication", "Californication (Deluxe Edition)", "1999-06-08", False),
    (["Coldplay"], "Yellow", "Parachutes", "2000-07-10", False),
    (["Coldplay"], "Viva La Vida", "Viva La Vida or Death and All His Friends", "2008-05-26", False),
    (["Coldplay"], "The Scientist", "A Rush of Blood to the Head", "2002-08-08", False),
    (["Arctic Monkeys"], "I Bet You Look Good On The Dancefloor", "Whatever People Say I Am, That's What I'm Not", "2006-01-23", False),
    (["Arctic Monkeys"], "Do I Wanna Know?", "AM", "2013-09-09", False),
    (["Mark Ronson", "Amy Winehouse"], "Valerie (feat. Amy Winehouse) - Version Revisited", "Version", "2007-04-16", False, ["Mark Ronson"]),
    (["Amy Winehouse"], "Rehab", "Back To Black", "2006-10-27", True),
    (["Amy Winehouse"], "Back To Black", "Back To Black", "2006-10-27", False),
    (["Dua Lipa"], "Don't Start Now", "Future Nostalgia", "2020-03-27", False),
    (["Dua Lipa"], "Levitating", "Future Nostalgia", "2020-03-27", False),
    (["Dua Lipa"], "New Rules", "Dua Lipa (Deluxe)", "2017-06-02", False),
    (["Harry Styles"], "As It Was", "Harry's House", "2022-05-20", False),
    (["Harry Styles"], "Watermelon Sugar", "Fine Line", "2019-12-13", False),
    (["Olivia Rodrigo"], "drivers license", "SOUR", "2021-05-21", True),
    (["Olivia Rodrigo"], "good 4 u", "SOUR", "2021-05-21", True),
    (["Olivia Rodrigo"], "vampire", "GUTS", "2023-09-08", True),
    (["Billie Eilish"], "bad guy", "WHEN WE ALL FALL ASLEEP, WHERE DO WE GO?", "2019-03-29", False),
    (["Billie Eilish"], "BIRDS OF A FEATHER", "HIT ME HARD AND SOFT", "2024-05-17", False),
    (["Katy Perry"], "Roar", "PRISM", "2013-10-18", False),
    (["Katy Perry"], "Firework", "Teenage Dream", "2010-08-24", False),
    (["Katy Perry"], "I Kissed A Girl", "One Of The Boys", "2008-06-17", False),
    (["Rihanna", "JAY-Z"], "Umbrella", "Good Girl Gone Bad", "2007-05-31", False, ["Rihanna"]),
    (["Rihanna"], "Diamonds", "Unapologetic", "2012-11-19", False),
    (["Rihanna", "Calvin Harris"], "We Found Love", "Talk That Talk", "2011-11-18", False, ["Rihanna"]),
    (["Shania Twain"], "Man! I Feel Like A Woman!", "Come On Over", "1997-11-04", False),
    (["Shania Twain"], "You're Still The One", "Come On Over", "1997-11-04", False),
    (["Shania Twain"], "That Don't Impress Me Much", "Come On Over", "1997-11-04", False),
    (["Dolly Parton"], "Jolene", "Jolene", "1974-02-04", False),
    (["Dolly Parton"], "9 to 5", "9 to 5 and Odd Jobs", "1980-11-10", False),
    (["Kenny Rogers", "Dolly Parton"], "Islands in the Stream", "Eyes That See in the Dark", "1983-08-22", False, ["Kenny Rogers"]),
    (["Kenny Rogers"], "The Gambler", "The Gambler", "1978", False),
    (["Johnny Cash"], "Ring of Fire", "Ring Of Fire: The Best Of Johnny Cash", "1963-01-01", False),
    (["Johnny Cash"], "Folsom Prison Blues", "With His Hot and Blue Guitar", "1957-10-11", False),
    (["Frank Sinatra"], "My Way", "My Way", "1969", False),
    (["Frank Sinatra", "Count Basie"], "Fly Me To The Moon (In Other Words)", "It Might As Well Be Swing", "1964-08", False, ["Frank Sinatra", "Count Basie"]),
    (["Frank Sinatra"], "Theme From New York, New York", "Trilogy: Past Present Future", "1980-03-24", False),
    (["Elvis Presley"], "Can't Help Falling in Love", "Blue Hawaii", "1961-10-20", False),
    (["Elvis Presley"], "Suspicious Minds", "From Elvis in Memphis", "1969-06-17", False),
    (["The Beatles"], "Hey Jude - Remastered 2015", "1 (Remastered)", "2000-11-13", False),
    (["The Beatles"], "Let It Be - Remastered 2009", "Let It Be (Remastered)", "1970-05-08", False),
    (["The Beatles"], "Twist And Shout - Remastered 2009", "Please Please Me (Remastered)", "1963-03-22", False),
    (["The Rolling Stones"], "(I Can't Get No) Satisfaction - Mono Version", "Out Of Our Heads", "1965-07-30", False),
    (["The Rolling Stones"], "Paint It, Black", "Aftermath", "1966-04-15", False),
    (["Fleetwood Mac"], "Dreams - 2004 Remaster", "Rumours", "1977-02-04", False),
    (["Fleetwood Mac"], "Go Your Own Way - 2004 Remaster", "Rumours", "1977-02-04", False),
    (["Bee Gees"], "Stayin' Alive", "Saturday Night Fever (The Original Movie Soundtrack)", "1977-11-15", False),
    (["Bee Gees"], "How Deep Is Your Love", "Saturday Night Fever (The Original Movie Soundtrack)", "1977-11-15", False),
    (["Earth, Wind & Fire"], "September", "The Best Of Earth, Wind & Fire Vol. 1", "1978-11-23", False),
    (["Earth, Wind & Fire"], "Let's Groove", "Raise!", "1981-11-14", False),
    (["Rufus", "Chaka Khan"], "Ain't Nobody", "Stompin' At The Savoy", "1983", False, ["Rufus", "Chaka Khan"]),
    (["Chaka Khan"], "I'm Every Woman", "Chaka", "1978", False),
    (["Aretha Franklin"], "Respect", "I Never Loved a Man the Way I Love You", "1967-03-10", False),
    (["Aretha Franklin"], "(You Make Me Feel Like) A Natural Woman", "Lady Soul", "1968-01-22", False),
    (["Stevie Wonder"], "Superstition", "Talking Book", "1972-10-28", False),
    (["Stevie Wonder"], "Signed, Sealed, Delivered (I'm Yours)", "Signed, Sealed & Delivered", "1970-08-07", False),
    (["Lionel Richie"], "Hello", "Can't Slow Down", "1983-10-11", False),
    (["Lionel Richie"], "All Night Long (All Night)", "Can't Slow Down", "1983-10-11", False),
    (["Bill Withers"], "Ain't No Sunshine", "Just As I Am", "1971-05", False),
    (["Bill Withers"], "Lean on Me", "Still Bill", "1972-05", False),
    (["The Weeknd"], "Blinding Lights", "After Hours", "2020-03-20", False),
    (["The Weeknd"], "Save Your Tears", "After Hours", "2020-03-20", True),
    (["Miley Cyrus"], "Flowers", "Endless Summer Vacation", "2023-03-10", False),
    (["Miley Cyrus"], "Party In The U.S.A.", "The Time Of Our Lives", "2009-08-28", False),
    (["Miley Cyrus"], "Wrecking Ball", "Bangerz (Deluxe Version)", "2013-10-04", False),
    (["P!nk", "Nate Ruess"], "Just Give Me a Reason (feat. Nate Ruess)", "The Truth About Love", "2012-09-18", False, ["P!nk"]),
    (["P!nk"], "So What", "Funhouse", "2008-10-24", True),
    (["Kelly Clarkson"], "Since U Been Gone", "Breakaway", "2004-11-30", False),
    (["Kelly Clarkson"], "Stronger (What Doesn't Kill You)", "Stronger (Deluxe Version)", "2011-10-24", False),
    (["Avril Lavigne"], "Complicated", "Let Go", "2002-06-04", False),
    (["Avril Lavigne"], "Sk8er Boi", "Let Go", "2002-06-04", False),
    (["Avril Lavigne"], "Girlfriend", "The Best Damn Thing", "2007-04-17", False),
    (["blink-182"], "All the Small Things", "Enema Of The State", "1999-06-01", False),
    (["blink-182"], "What's My Age Again?", "Enema Of The State", "1999-06-01", False),
    (["Green Day"], "Basket Case", "Dookie", "1994-02-01", False),
    (["Green Day"], "Good Riddance (Time of Your Life)", "Nimrod", "1997-10-14", False),
    (["Green Day"], "American Idiot", "American Idiot", "2004-09-21", True),
    (["Linkin Park"], "In the End", "Hybrid Theory (Bonus Edition)", "2000-10-24", False),
    (["Linkin Park"], "Numb", "Meteora", "2003-03-25", False),
    (["Evanescence"], "Bring Me To Life", "Fallen", "2003-03-04", False),
    (["Alanis Morissette"], "Ironic - 2015 Remaster", "Jagged Little Pill (Remastered)", "1995-06-13", False),
    (["Alanis Morissette"], "You Oughta Know - 2015 Remaster", "Jagged Little Pill (Remastered)", "1995-06-13", True),
    (["No Doubt"], "Don't Speak", "Tragic Kingdom", "1995-10-10", False),
    (["The Cranberries"], "Zombie", "No Need To Argue", "1994-10-03", False),
    (["The Cranberries"], "Linger", "Everybody Else Is Doing It, So Why Can't We?", "1993-03-01", False),
    (["Sinéad O'Connor"], "Nothing Compares 2 U", "I Do Not Want What I Haven't Got", "1990-03-12", False),
    (["Robyn"], "Dancing On My Own", "Body Talk", "2010-11-22", False),
    (["MIKA"], "Grace Kelly", "Life In Cartoon Motion", "2007-02-05", False),
    (["Meat Loaf"], "I'd Do Anything for Love (But I Won't Do That)", "Bat Out Of Hell II: Back Into Hell...", "1993-09-14", False),
    (["Meat Loaf"], "Paradise by the Dashboard Light", "Bat Out Of Hell", "1977-10-21", False),
    (["The Proclaimers"], "I'm Gonna Be (500 Miles)", "Sunshine on Leith", "1988", False),
    (["Wham!"], "Last Christmas", "Music from the Edge of Heaven", "1986-06-21", False),
    (["Wham!"], "Wake Me Up Before You Go-Go", "Make It Big", "1984-10-23", False),
    (["George Michael"], "Careless Whisper", "Make It Big", "1984-10-23", False, ["Wham!"]),
    (["George Michael"], "Faith - Remastered", "Faith", "1987-10-30", False),
    (["Tears For Fears"], "Everybody Wants To Rule The World", "Songs From The Big Chair", "1985-02-25", False),
    (["Tears For Fears"], "Mad World", "The Hurting", "1983-03-07", False),
    (["Rick Astley"], "Never Gonna Give You Up", "Whenever You Need Somebody", "1987-11-12", False),
    (["Kool & The Gang"], "Celebration", "Celebrate!", "1980", False),
    (["Village People"], "Y.M.C.A. - Original Version 1978", "Cruisin'", "1978", False),
    (["The Jackson 5"], "I Want You Back", "Diana Ross Presents The Jackson 5", "1969-12-18", False),
    (["The Jackson 5"], "ABC", "ABC", "1970-05-08", False),
    (["Destiny's Child"], "Say My Name", "The Writing's On The Wall", "1999-07-27", False),
    (["Destiny's Child"], "Survivor", "Survivor", "2001-04-24", False),
    (["TLC"], "No Scrubs", "FanMail", "1999-02-23", False),
    (["TLC"], "Waterfalls", "CrazySexyCool", "1994-11-15", False),
    (["Outkast"], "Hey Ya!", "Speakerboxxx/The Love Below", "2003-09-23", False),
    (["Outkast"], "Ms. Jackson", "Stankonia", "2000-10-31", True),
    (["Eminem"], "Lose Yourself", "Just Lose It", "2004-01-01", True),
    (["Eminem"], "The Real Slim Shady", "The Marshall Mathers LP", "2000-05-23", True),
    (["JAY-Z", "Alicia Keys"], "Empire State Of Mind", "The Blueprint 3", "2009-09-08", True, ["JAY-Z"]),
    (["Alicia Keys"], "Fallin'", "Songs In A Minor", "2001-06-05", False),
    (["Alicia Keys"], "No One", "As I Am", "2007-11-09", False),
    (["Lewis Capaldi"], "Someone You Loved", "Divinely Uninspired To A Hellish Extent", "2019-05-17", False),
    (["Sam Smith"], "Stay With Me", "In The Lonely Hour", "2014-05-26", False),
    (["Bryan Adams"], "Summer Of '69", "Reckless", "1984-11-05", False),
    (["Bryan Adams"], "(Everything I Do) I Do It For You", "Waking Up The Neighbours", "1991-09-24", False),
    (["Duran Duran"], "Hungry Like the Wolf - 2009 Remaster", "Rio (Collector's Edition)", "1982-05-10", False),
    (["Duran Duran"], "Rio - 2009 Remaster", "Rio (Collector's Edition)", "1982-05-10", False),
    (["Eurythmics", "Annie Lennox", "Dave Stewart"], "Sweet Dreams (Are Made of This) - Remastered", "Sweet Dreams (Are Made Of This)", "1983-01-04", False, ["Eurythmics", "Annie Lennox", "Dave Stewart"]),
    (["Cher"], "Believe", "Believe", "1998-10-22", False),
    (["Sia"], "Chandelier", "1000 Forms Of Fear", "2014-07-04", False),
    (["Sia"], "Cheap Thrills", "This Is Acting", "2016-01-29", False),
    (["Imagine Dragons"], "Believer", "Evolve", "2017-06-23", False),
    (["Imagine Dragons"], "Radioactive", "Night Visions", "2012-09-04", False),
    (["Sabrina Carpenter"], "Espresso", "Short n' Sweet", "2024-08-23", True),
    (["Sabrina Carpenter"], "Please Please Please", "Short n' Sweet", "2024-08-23", True),
    (["Chappell Roan"], "Good Luck, Babe!", "Good Luck, Babe!", "2024-04-05", False),
    (["Chappell Roan"], "HOT TO GO!", "The Rise and Fall of a Midwest Princess", "2023-09-22", False),
    (["Chappell Roan"], "Pink Pony Club", "The Rise and Fall of a Midwest Princess", "2023-09-22", True),
    (["ROSALÍA"], "DESPECHÁ", "MOTOMAMI +", "2022-07-28", False),
    (["Måneskin"], "Beggin'", "Chosen", "2017-12-08", False),
    (["Måneskin"], "ZITTI E BUONI", "Teatro d'ira - Vol. I", "2021-03-19", False),
    (["Mötley Crüe"], "Kickstart My Heart", "Dr. Feelgood", "1989-09-01", False),
    (["Hozier"], "Take Me to Church", "Hozier", "2014-09-19", False),
    (["Hozier"], "Too Sweet", "Unheard", "2024-03-22", False),
    (["Lizzo"], "Truth Hurts", "Cuz I Love You (Deluxe)", "2019-04-19", True),
    (["Lizzo"], "Good As Hell", "Cuz I Love You (Deluxe)", "2019-04-19", False),
    (["Kenny Loggins"], "Footloose", "Footloose (15th Anniversary Collectors' Edition)", "1984-01-01", False),
    (["Kenny Loggins"], "Danger Zone", "Top Gun - Motion Picture Soundtrack", "1986-05-13", False),
]

COMPILATION_WORDS = ("Best Of", "1 (Remastered)", "Ring Of Fire: The Best", "Greatest Hits")


def _precision(date: str) -> str:
    return {4: "year", 7: "month"}.get(len(date), "day")


class Catalog:
    def __init__(self):
        self.artists = {}  # key -> artist record
        self.artist_order = []  # keys in ARTISTS order (top-list candidates)
        self.by_name = {}  # display name -> key (first wins; "Nirvana" is the grunge band)
        for row in ARTISTS:
            name, pop, genres = row[0], row[1], row[2]
            key = row[3] if len(row) > 3 else name
            self._add_artist(key, name, pop, genres)
            self.artist_order.append(key)
        for name in EXTRA_ARTISTS:
            self._add_artist(name, name, None, None)
        self.tracks = {}
        self.track_order = []
        for row in TRACKS:
            artists, title, album, date, explicit = row[:5]
            album_artists = row[5] if len(row) > 5 else [artists[0]]
            key = artists[0] + " \u2013 " + title
            assert key not in self.tracks, key
            self.tracks[key] = self._track(key, artists, title, album, date, explicit, album_artists)
            self.track_order.append(key)

    def _add_artist(self, key, name, pop, genres):
        assert key not in self.artists, key
        aid = spotify_id("artist", key)
        n = _num("followers", key)
        rec = {"key": key, "id": aid, "name": name, "popularity": pop, "genres": genres}
        if pop is not None:
            base = 10 ** (2.2 + pop * 0.06)  # pop 100 -> ~158M, pop 60 -> ~630k, pop 31 -> ~11k
            rec["followers"] = int(base * (0.75 + (n % 5000) / 10000))
            if key == "Nirvana (UK)":
                rec["images"] = []  # real artists without any picture exist
            else:
                h = _hex("artist", key, n=24)
                rec["images"] = [
                    {"url": "https://i.scdn.co/image/ab6761610000e5eb" + h + "a1b2c3d4", "height": 640, "width": 640},
                    {"url": "https://i.scdn.co/image/ab676161000051744" + h[1:] + "a1b2c3d4", "height": 320, "width": 320},
                    {"url": "https://i.scdn.co/image/ab6761610000f178" + h + "a1b2c3d4", "height": 160, "width": 160},
                ]
        self.artists[key] = rec
        self.by_name.setdefault(name, key)

    def _track(self, key, artists, title, album, date, explicit, album_artists):
        for a in list(artists) + list(album_artists):
            assert a in self.by_name, a
        n = _num("track", key)
        album_key = album_artists[0] + " \u2013 " + album
        if any(w in album for w in COMPILATION_WORDS):
            album_type = "compilation"
        elif album == title.split(" - ")[0].split(" (feat.")[0] or album in ("Skyfall",):
            album_type = "single"
        else:
            album_type = "album"
        if album_type == "single":
            total = 1 + _num("tt", album_key) % 3
        elif album_type == "compilation":
            total = 16 + _num("tt", album_key) % 25
        else:
            total = 9 + _num("tt", album_key) % 10
        track_number = 1 + n % total
        disc = 1
        if "Deluxe" in album and n % 3 == 0:
            disc = 2
        year = date[:4]
        isrc = "%s%s%s%05d" % (("GB", "US", "SE")[n % 3],
                               "".join(B62[(n >> (5 * i)) % 36].upper() for i in range(3)),
                               year[2:], (n >> 20) % 100000)
        h = _hex("album", album_key, n=24)
        duration = 150_000 + n % 210_000
        if title == "Bohemian Rhapsody":
            duration = 354_320
        return {
            "key": key, "id": spotify_id("track", key), "name": title, "artists": list(artists),
            "explicit": bool(explicit), "duration_ms": duration, "disc_number": disc,
            "track_number": track_number, "isrc": isrc,
            "popularity": max(20, min(100, max(self.artists[self.by_name[a]]["popularity"] or 50
                                               for a in artists) - 12 + n % 20)),
            "album": {
                "key": album_key, "id": spotify_id("album", album_key), "name": album,
                "album_type": album_type, "artists": list(album_artists), "release_date": date,
                "release_date_precision": _precision(date), "total_tracks": total,
                "images": [
                    {"url": "https://i.scdn.co/image/ab67616d0000b273" + h + "0f1e2d3c", "height": 640, "width": 640},
                    {"url": "https://i.scdn.co/image/ab67616d00001e02" + h + "0f1e2d3c", "height": 300, "width": 300},
                    {"url": "https://i.scdn.co/image/ab67616d00004851" + h + "0f1e2d3c", "height": 64, "width": 64},
                ],
            },
        }

    # ---- object rendering -----------------------------------------------------------------
    def simple_artist(self, name_or_key, api):
        rec = self.artists.get(name_or_key) or self.artists[self.by_name[name_or_key]]
        aid = rec["id"]
        return {"external_urls": {"spotify": "https://open.spotify.com/artist/" + aid},
                "href": api + "/artists/" + aid, "id": aid, "name": rec["name"], "type": "artist",
                "uri": "spotify:artist:" + aid}

    def artist_object(self, key, api, dev_mode):
        rec = self.artists[key]
        aid = rec["id"]
        obj = {"external_urls": {"spotify": "https://open.spotify.com/artist/" + aid},
               "followers": {"href": None, "total": rec["followers"]},
               "genres": list(rec["genres"]), "href": api + "/artists/" + aid, "id": aid,
               "images": [dict(i) for i in rec["images"]], "name": rec["name"],
               "popularity": rec["popularity"], "type": "artist", "uri": "spotify:artist:" + aid}
        if dev_mode:
            for k in ("followers", "genres", "popularity"):
                del obj[k]
        return obj

    def track_object(self, key, api, dev_mode):
        rec = self.tracks[key]
        al = rec["album"]
        tid = rec["id"]
        album = {"album_type": al["album_type"],
                 "artists": [self.simple_artist(a, api) for a in al["artists"]],
                 "external_urls": {"spotify": "https://open.spotify.com/album/" + al["id"]},
                 "href": api + "/albums/" + al["id"], "id": al["id"],
                 "images": [dict(i) for i in al["images"]], "name": al["name"],
                 "release_date": al["release_date"],
                 "release_date_precision": al["release_date_precision"],
                 "total_tracks": al["total_tracks"], "type": "album", "uri": "spotify:album:" + al["id"]}
        obj = {"album": album, "artists": [self.simple_artist(a, api) for a in rec["artists"]],
               "disc_number": rec["disc_number"], "duration_ms": rec["duration_ms"],
               "explicit": rec["explicit"], "external_ids": {"isrc": rec["isrc"]},
               "external_urls": {"spotify": "https://open.spotify.com/track/" + tid},
               "href": api + "/tracks/" + tid, "id": tid, "is_local": False, "name": rec["name"],
               "popularity": rec["popularity"], "preview_url": None,
               "track_number": rec["track_number"], "type": "track", "uri": "spotify:track:" + tid}
        if dev_mode:
            del obj["popularity"]
        return obj


CATALOG = Catalog()


# --------------------------------------------------------------------------------------------
# users and their top lists

DEFAULT_TOTALS = {"short_term": 30, "medium_term": 75, "long_term": 99}

# The demo user's lists start with these (then a seeded shuffle of the rest of the catalogue).
DEMO_HEAD = {
    ("artists", "long_term"): [
        "Queen", "ABBA", "Whitney Houston", "Bon Jovi", "Elton John", "Journey", "Toto", "Beyoncé",
        "Oasis", "Spice Girls", "Backstreet Boys", "Britney Spears", "Neil Diamond", "Adele",
        "The Killers", "Taylor Swift", "Lady Gaga"],
    ("artists", "medium_term"): [
        "Taylor Swift", "Beyoncé", "Lady Gaga", "Bruno Mars", "Ed Sheeran", "Adele", "The Killers",
        "Queen", "ABBA", "Dua Lipa", "Sabrina Carpenter", "Chappell Roan", "Whitney Houston"],
    ("tracks", "long_term"): [
        "Queen \u2013 Bohemian Rhapsody", "ABBA \u2013 Dancing Queen", "Journey \u2013 Don't Stop Believin'",
        "Bon Jovi \u2013 Livin' On A Prayer", "Whitney Houston \u2013 I Will Always Love You",
        "Oasis \u2013 Wonderwall - Remastered", "Toto \u2013 Africa", "The Killers \u2013 Mr. Brightside",
        "Backstreet Boys \u2013 I Want It That Way", "Spice Girls \u2013 Wannabe",
        "Britney Spears \u2013 ...Baby One More Time", "Neil Diamond \u2013 Sweet Caroline",
        "Queen \u2013 Don't Stop Me Now - Remastered 2011", "Adele \u2013 Rolling in the Deep",
        "Taylor Swift \u2013 Shake It Off", "Elton John \u2013 Your Song",
        "Beyoncé \u2013 Crazy In Love (feat. Jay-Z)", "Gloria Gaynor \u2013 I Will Survive"],
    ("tracks", "medium_term"): [
        "Taylor Swift \u2013 Shake It Off", "Adele \u2013 Rolling in the Deep", "The Killers \u2013 Mr. Brightside",
        "Queen \u2013 Don't Stop Me Now - Remastered 2011", "Mark Ronson \u2013 Uptown Funk (feat. Bruno Mars)",
        "Lady Gaga \u2013 Shallow", "Beyoncé \u2013 Crazy In Love (feat. Jay-Z)", "Ed Sheeran \u2013 Shape of You",
        "Lady Gaga \u2013 Die With A Smile", "Sabrina Carpenter \u2013 Espresso", "ABBA \u2013 Dancing Queen",
        "Queen \u2013 Bohemian Rhapsody", "Chappell Roan \u2013 Good Luck, Babe!"],
}

# (type, range) -> [(position, copy_of_position)], 1-based ranks.  Inserted after the distinct items.
DEMO_DUPLICATES = {
    ("artists", "long_term"): [(18, 2), (64, 8)],
    ("artists", "medium_term"): [(31, 5)],
    ("tracks", "long_term"): [(25, 1), (71, 13)],
    ("tracks", "medium_term"): [(42, 4)],
}


class UserSpec:
    def __init__(self, uid, display_name=..., short_term_empty=False, totals=None,
                 duplicates=True, country="GB", product="premium", email=None, demo=False):
        self.id = str(uid)
        self.display_name = self.id if display_name is ... else display_name  # None is allowed (real)
        self.short_term_empty = bool(short_term_empty)
        # totals[type][range]
        self.totals = {t: dict(DEFAULT_TOTALS) for t in TYPES}
        if totals:
            for t in TYPES:
                v = totals.get(t)
                if v is None:
                    continue
                if isinstance(v, dict):
                    for r, n in v.items():
                        if r not in RANGES:
                            raise ValueError("unknown time_range %r" % r)
                        self.totals[t][r] = _check_total(n)
                else:
                    for r in RANGES:
                        self.totals[t][r] = _check_total(v)
        if self.short_term_empty:
            for t in TYPES:
                self.totals[t]["short_term"] = 0
        self.duplicates = bool(duplicates)
        self.country = country
        self.product = product
        self.email = email if email is not None else "%s@example.com" % self.id
        self.demo = demo
        self._lists = {}

    def to_json(self):
        return {"id": self.id, "display_name": self.display_name,
                "short_term_empty": self.short_term_empty, "totals": self.totals,
                "duplicates": self.duplicates, "country": self.country, "product": self.product,
                "email": self.email, "account_id": account_id(self.id)}

    def top(self, typ: str, rng: str) -> list[str]:
        """Catalogue keys in rank order (duplicates included)."""
        k = (typ, rng)
        lst = self._lists.get(k)
        if lst is None:
            lst = self._lists[k] = self._build(typ, rng)
        return lst

    def _build(self, typ, rng):
        total = self.totals[typ][rng]
        if total <= 0:
            return []
        order = CATALOG.artist_order if typ == "artists" else CATALOG.track_order
        key = (typ, rng)
        if self.demo and key in DEMO_DUPLICATES:
            dups = DEMO_DUPLICATES[key]
        elif self.duplicates and total >= 10:
            dups = [(max(3, (total * 6) // 10 + 1), max(1, total // 10))]
        else:
            dups = []
        head = list(DEMO_HEAD.get(key, [])) if self.demo else []
        if typ == "artists":
            head = [CATALOG.by_name[h] for h in head]
        for h in head:
            assert h in order, h
        rest = [x for x in order if x not in head]
        rnd = random.Random("%s|%s|%s" % (self.id, typ, rng))
        # popularity-weighted shuffle: well-known artists/tracks drift towards the top
        if typ == "artists":
            weight = lambda x: CATALOG.artists[x]["popularity"]  # noqa: E731
        else:
            weight = lambda x: CATALOG.tracks[x]["popularity"]  # noqa: E731
        rest.sort(key=lambda x: -(weight(x) + rnd.random() * 60))
        distinct = head + rest
        n_distinct = total - len(dups)
        items = []
        while len(items) < n_distinct:  # more than the catalogue: cycle (more repeats)
            items.extend(distinct[: n_distinct - len(items)])
        for pos, src in sorted(dups):
            items.insert(pos - 1, items[src - 1])
        return items[:total]


def _check_total(n):
    n = int(n)
    if not 0 <= n <= 1000:
        raise ValueError("totals must be within 0..1000")
    return n


def account_id(uid: str) -> str:
    return spotify_id("account", uid)


def builtin_users():
    demo = UserSpec("spotify-demo", "Demo Singer", short_term_empty=True,
                    totals={"artists": {"medium_term": 75, "long_term": 99},
                            "tracks": {"medium_term": 75, "long_term": 99}}, demo=True)
    light = UserSpec("spotify-light", "Light Listener",
                     totals={"artists": {"short_term": 4, "medium_term": 12, "long_term": 23},
                             "tracks": {"short_term": 6, "medium_term": 15, "long_term": 31}},
                     product="free", country="US")
    empty = UserSpec("spotify-empty", "Brand New", short_term_empty=True,
                     totals={"artists": 0, "tracks": 0}, product="free")
    return [demo, light, empty]

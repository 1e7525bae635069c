"""Synthetic landing data: what the collector, the signup form, the CRM and the app would
deliver to the landing zone (CONTRACT §1), imperfections included.

Why synthetic: the pipeline, its tests and its benchmark need realistic volume and realistic
mess without anybody's real data. Everything derives from `seed` through numpy Generators, so a
seed gives the same rows on every machine; nothing reads the clock.

How it stays fast (about a million pings a second on two cores): the visit plan (visitors ->
visits -> pages) is numpy arrays; pages are expanded one day at a time, so memory is bounded by a
day of pings plus the plan; string columns are Arrow dictionary arrays over small dictionaries
(URLs, referrers, user agents, the hour's cookies) and ids are spelled straight from random
bytes; Parquet encoding runs on a small thread pool. Only the small sources (signups, CRM,
accounts) use per-row Python, and little of it.

Layout: ``<out>/<source>/date=YYYY-MM-DD/hour=HH/<name>.parquet``, the hour being the UTC hour
the row was received (its `created_at`; for the CRM, the hour the export was written). Ordinary
files are ``part-0.parquet`` (and ``part-1.parquet`` when an hour has 2,000+ pings: two
collector nodes) and, for the CRM, ``export-YYYYMMDDTHHMMSS.parquet`` every six hours.

The imperfections are deterministic, so the loader's tests can rely on them:

- pings, in the first day that has pings: its busiest hour holds ``late-0001.parquet`` (2 % of
  that hour's pings, held back from its ``part-*`` files) and 7 bad rows at the end of its
  ``part-0.parquet`` (event_id "" and null, cookie "" and null, created_at null, 90 minutes
  before the hour, 65 minutes after its start); its second busiest hour holds
  ``redelivery-0001.parquet`` (copies of 5 % of ``part-0``'s rows, at most 500); its third
  busiest hour holds ``broken-0001.parquet`` (text, not Parquet) and ``nocookie-0001.parquet``
  (up to 10 fresh pings without the `cookie` column). If there are several days, the busiest
  hour of the last day holds ``redelivery-0002.parquet``. (Fewer busy hours: roles share one.)
- signups: 6 bad rows at the end of the earliest hour's ``part-0.parquet`` (event_id "",
  cookie "", email "" and null, created_at null and 90 minutes early); the busiest hour holds
  ``redelivery-0001.parquet`` (a fifth of its rows, at most 50).
- accounts: 5 bad rows likewise (event_id null, cookie "", email "", created_at null and 90
  minutes early); ``redelivery-0001.parquet`` likewise.
- crm: 2 bad rows (email "" and null) at the end of the first export; the largest export has
  ``redelivery-0001.parquet`` beside it (a quarter of its rows).
- Files received at 13:00-13:59 UTC (pings, signups, accounts) and the 12:00 CRM exports carry
  timestamp('us', tz='UTC'); all others timestamp('us'). Extra columns to ignore:
  `collector_version` (pings), `form_id` (signups), `app_version` (accounts), `contact_id` (crm).
- The first non-signed-up CRM contact books a demo at 02:00 on the first day and has it taken
  back (demo_at null again) in the 12:00 export.

Row counts in `GenerateSummary` are the distinct valid rows a loader should keep; bad rows,
redelivered copies and the rows inside bad files are counted apart (bad_rows, duplicate_rows,
bad_files). `files` counts every file written.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

__all__ = ["GenerateSummary", "generate"]

SECOND = 1_000_000  # timestamps are int64 microseconds since the Unix epoch, UTC
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EXPORT_EVERY = 6 * HOUR  # the CRM exports its changed contacts every six hours

HOSTS = ("https://www.webfunnel-demo.com", "https://webfunnel-demo.com")
TZ_AWARE_HOUR = 13  # files received in this hour of the day get timestamp('us', tz='UTC')
CRAWLER_SHARE = 0.04  # share of pings sent by crawlers
SIGNUP_RATE = 0.065  # share of visitors that submit the signup form
MAX_VISIT = 150 * MINUTE  # a planned visit lasts at most this long

# The site's pages: (path, weight as a landing page, weight as a next page).
_PAGES: list[tuple[str, float, float]] = [
    ("/", 30, 8),
    ("/pricing", 9, 12),
    ("/features", 4, 7),
    ("/features/funnels", 2, 4),
    ("/features/retention", 1.5, 3),
    ("/features/attribution", 1.5, 3),
    ("/customers", 1, 3),
    ("/about", 0.5, 2),
    ("/contact", 0.3, 1.5),
    ("/changelog", 0.7, 1.5),
    ("/integrations/dbt", 1, 1.5),
    ("/integrations/airflow", 0.8, 1.2),
    ("/signup", 0.6, 4),
    ("/blog", 1.5, 3),
    ("/blog/what-is-a-funnel", 4, 2),
    ("/blog/first-touch-vs-last-touch-attribution", 3, 1.5),
    ("/blog/sessions-the-30-minute-rule", 3, 1.5),
    ("/blog/ga4-channel-groups-explained", 3.5, 1.5),
    ("/blog/retention-cohorts-in-sql", 2.5, 1.2),
    ("/blog/bots-in-your-analytics", 2, 1),
    ("/blog/server-side-tracking", 1.5, 1),
    ("/blog/%C3%BCber-cookies-and-consent", 1, 0.6),
    ("/blog/weekly-product-update-42", 1, 0.8),
    ("/blog/case-study-globex", 1.2, 0.8),
    ("/docs", 2, 4),
    ("/docs/getting-started", 2.5, 3),
    ("/docs/install", 1.5, 2.5),
    ("/docs/tracking-snippet", 1.5, 2),
    ("/docs/utm-parameters", 1.5, 1.5),
    ("/docs/api/events", 1, 1.5),
    ("/docs/api/export", 0.8, 1),
    ("/docs/faq", 1, 1.5),
    ("/docs/search?q=retention", 0, 0.8),
    ("/pricing?billing=annual", 0, 1.5),
]
_APP_PAGES = ["/login", "/app/dashboard", "/app/reports", "/app/funnels", "/app/settings/billing"]
_BOT_PAGES = ["/robots.txt", "/sitemap.xml"]
PATHS = [p for p, _, _ in _PAGES] + _APP_PAGES + _BOT_PAGES
_P_SIGNUP = PATHS.index("/signup")
_P_LOGIN = PATHS.index("/login")
_P_ROBOTS = PATHS.index("/robots.txt")
_LAND_W = np.array([w for _, w, _ in _PAGES])
_NEXT_W = np.array([w for _, _, w in _PAGES])
_APP_IDX = np.array([PATHS.index(p) for p in _APP_PAGES[1:]])
_BOT_IDX = np.arange(len(_PAGES) + len(_APP_PAGES) + len(_BOT_PAGES))
_BOT_IDX = _BOT_IDX[(_BOT_IDX < len(_PAGES)) | (_BOT_IDX >= len(_PAGES) + len(_APP_PAGES))]

# Landing channels: (referrer variants, query string of the landing URL,
# weight for a visitor's first visit, weight for a return visit). None = no referrer header.
_CHANNELS: list[tuple[tuple[str | None, ...], str, float, float]] = [
    ((None,), "", 22, 40),
    (("",), "", 3, 5),
    (("https://www.google.com/",), "", 16, 12),
    (("https://www.google.co.uk/",), "", 2.5, 2),
    (("https://www.google.de/",), "", 2.5, 2),
    (("https://www.google.com.au/",), "", 1.2, 1),
    (("https://www.bing.com/",), "", 3, 2),
    (("https://duckduckgo.com/",), "", 2, 1.5),
    (("https://t.co/3xAmPl9QzR", "https://t.co/Wf8kLm2Pq0", "https://t.co/Zz91bQe7Yc"), "", 4, 2),
    (("https://x.com/webfunnel/status/1790012345678901234", "https://x.com/"), "", 1.5, 1),
    (("https://twitter.com/",), "", 1, 0.5),
    (
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.webfunnel-demo.com%2F&h=AT0x",),
        "",
        2.5,
        1,
    ),
    (("https://m.facebook.com/",), "", 1.2, 0.5),
    (("https://www.youtube.com/watch?v=8aGhZQkoFbQ", "https://www.youtube.com/"), "", 2, 1),
    (("https://youtu.be/aBcD3fGh1jK",), "", 1, 0.5),
    (("https://m.youtube.com/",), "", 0.8, 0.4),
    (("https://www.linkedin.com/feed/", "https://www.linkedin.com/"), "", 2.5, 1.5),
    (("https://lnkd.in/e8Kq3Zp",), "", 1.2, 0.5),
    (
        ("https://someblog.example.org/post", "https://someblog.example.org/2024/05/funnels"),
        "",
        2,
        0.8,
    ),
    (("https://news.ycombinator.com/item?id=40123456",), "", 1.5, 0.5),
    (("https://www.reddit.com/r/dataengineering/comments/1c2d3e/",), "", 1.2, 0.5),
    (("https://dev.to/someone/why-we-built-our-own-analytics-4k2j",), "", 0.8, 0.3),
    (("https://blog.exemple.fr/analyse-de-données",), "", 0.5, 0.2),
    (
        (None, "https://mail.google.com/"),
        "?utm_source=newsletter&utm_medium=email&utm_campaign=2024-06-digest",
        3,
        4,
    ),
    (
        ("https://l.facebook.com/",),
        "?utm_source=fb&utm_medium=paid_social&utm_campaign=spring_promo",
        3,
        1,
    ),
    (
        ("https://www.google.com/",),
        "?utm_source=google&utm_medium=cpc&utm_campaign=brand_search&gclid=Cj0KCQjw",
        4,
        2,
    ),
    (
        ("https://t.co/Wf8kLm2Pq0",),
        "?utm_source=Twitter&utm_medium=social&utm_campaign=launch_week",
        1.5,
        0.5,
    ),
    (
        ("https://www.linkedin.com/",),
        "?utm_source=linkedin&utm_medium=paid_social&utm_campaign=b2b_retarget",
        1.2,
        0.5,
    ),
    ((None,), "?utm_source=partnerstack&utm_medium=affiliate&utm_campaign=partners", 0.6, 0.3),
    (
        ("https://ads.example-display.net/",),
        "?utm_source=adroll&utm_medium=display&utm_campaign=retargeting",
        0.8,
        0.4,
    ),
]

# Genuine User-Agent headers: (header, weight among humans); crawlers separately.
HUMAN_USER_AGENTS: list[tuple[str, float]] = [
    # desktop
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        16,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/123.0.0.0 Safari/537.36",
        5,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        8,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        2,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 4),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0", 1.5),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 1.5),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Safari/605.1.15",
        6,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
        6,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
        0.8,
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        0.7,
    ),
    # mobile
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        12,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        4,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
        3,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Mobile Safari/537.36",
        5,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        6,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        3,
    ),
    ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", 1),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/459.0.0.35.109;FBBV/588457207;"
        "FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4.1;FBSS/3;FBCR/;FBID/phone;FBLC/en_GB;"
        "FBOP/80]",
        1.2,
    ),
    # tablets
    (
        "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Mobile/15E148 Safari/604.1",
        2.5,
    ),
    (
        "Mozilla/5.0 (Linux; Android 12; SM-T870) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/123.0.0.0 Safari/537.36",
        1.2,
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; Lenovo TB-J606F) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/122.0.0.0 Safari/537.36",
        0.5,
    ),
    (
        "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/124.2.1 like Chrome/124.0.6367.118 Safari/537.36",
        0.4,
    ),
    # other clients
    ("curl/8.4.0", 0.2),
    ("python-requests/2.31.0", 0.1),
]
CRAWLER_USER_AGENTS: list[tuple[str, float]] = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 30),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.6367.118 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        15,
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 20),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 12),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", 10),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", 6),
    ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", 3),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 "
        "(Applebot/0.1; +http://www.apple.com/go/applebot)",
        4,
    ),
]
NULL_USER_AGENT_RATE = 0.01

_FIRST = (
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert "
    "sybil trent victor walter yasmin zoe amir bea chen dmitri elena fatima gustavo hana "
    "ingrid jamal kenji lars maria noor oscar priya quentin rosa sven tomasz ursula wei"
).split()
_LAST = (
    "smith jones garcia muller rossi tanaka novak kowalski dubois silva nguyen kim patel "
    "johansson oconnor fischer moreau costa ivanova haddad okafor schmidt larsen yilmaz "
    "svensson brown wilson taylor lee martin"
).split()
_DOMAINS = (
    "gmail.com gmail.com gmail.com outlook.com hotmail.com yahoo.com icloud.com proton.me "
    "hey.com acme-corp.com globex.io initech.com umbrella.co.uk hooli.xyz example.com "
    "stark-industries.com wayne-enterprises.net"
).split()
_LEAD_DOMAINS = "bigcorp-procurement.com enterprise-leads.example tradeshow-list.org".split()
_FORM_CHANNELS = [
    None,
    "Google",
    "google search",
    "Twitter",
    "X",
    "LinkedIn",
    "A friend",
    "Newsletter",
    "YouTube",
    "Podcast",
    "Other",
]
_FORM_CHANNEL_W = np.array([30, 14, 5, 6, 3, 8, 10, 7, 5, 3, 9], dtype=float)
PLANS = ["free", "starter", "pro", "enterprise"]


@dataclass
class GenerateSummary:
    """What `generate` wrote. Row counts are the valid, distinct rows a loader should keep:
    bad rows, redelivered copies and the rows inside bad files are counted apart."""

    files: int
    pings: int
    signups: int
    crm_rows: int
    account_events: int
    bad_rows: int
    bad_files: int
    duplicate_rows: int


# --------------------------------------------------------------------------- small helpers

_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# every 16-bit value -> its four hex digits, as the bytes of one uint32
_HEX4 = _DIGITS[(np.arange(65536)[:, None] >> np.array([12, 8, 4, 0])) & 15].view(np.uint32)[:, 0]


def _fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """An Arrow string array from an (n, width) uint8 matrix of ASCII, without Python objects."""
    n, width = chars.shape
    data = pa.py_buffer(np.ascontiguousarray(chars).reshape(-1))
    if n * width < 2**31:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), data)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), data).cast(pa.string())


def _hex_digits(raw: bytes, n: int, digits: int) -> np.ndarray:
    """(n, digits) uint8 matrix of lower-case hex digits spelling n * digits / 2 random bytes;
    digits is a multiple of 4."""
    words = np.frombuffer(raw, dtype=np.uint16).reshape(n, digits // 4)
    return _HEX4[words].view(np.uint8).reshape(n, digits)


def _cookies(rng: np.random.Generator, n: int) -> pa.Array:
    """n random 16-hex-digit visitor ids."""
    return _fixed_width_strings(_hex_digits(rng.bytes(8 * n), n, 16))


EVENT_ID_BYTES = 18  # random bytes drawn per event id


def _event_ids(rng: np.random.Generator, n: int) -> pa.Array:
    return _event_ids_from(rng.bytes(EVENT_ID_BYTES * n), n)


def _event_ids_from(raw: bytes, n: int) -> pa.Array:
    """n version-4 UUIDs spelled from random bytes (118 random bits: unique in practice)."""
    chars = _hex_digits(raw, n, 36)
    for col in (8, 13, 18, 23):
        chars[:, col] = ord("-")
    chars[:, 14] = ord("4")
    chars[:, 19] = np.frombuffer(b"89ab", dtype=np.uint8)[chars[:, 19] & 3]
    return _fixed_width_strings(chars)


def _dictionary(
    codes: np.ndarray, dictionary: pa.Array, null: np.ndarray | None = None
) -> pa.DictionaryArray:
    """A dictionary-encoded string column holding only the entries in use. The Parquet writer
    then writes indices and a small dictionary page instead of hashing every string."""
    valid = codes if null is None else codes[~null]
    # compact in O(n): mark each code's last occurrence, number those, map every code
    scratch = np.empty(len(dictionary), dtype=np.int32)
    pos = np.arange(len(valid), dtype=np.int32)
    scratch[valid] = pos
    used = valid[scratch[valid] == pos]
    scratch[used] = np.arange(len(used), dtype=np.int32)
    if null is None:
        indices = pa.array(scratch[codes], type=pa.int32())
    else:
        idx = np.zeros(len(codes), dtype=np.int32)
        idx[~null] = scratch[valid]
        indices = pa.array(idx, type=pa.int32(), mask=null)
    return pa.DictionaryArray.from_arrays(indices, dictionary.take(pa.array(used)))


def _dense(table: pa.Table) -> pa.Table:
    """The table with dictionary columns decoded (before concatenating differing tables)."""
    return pa.table(
        {
            name: col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
            for name, col in zip(table.column_names, table.columns, strict=True)
        }
    )


def _choice(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """Weighted draws of indices into `weights` (faster than Generator.choice for big n)."""
    cum = np.cumsum(weights, dtype=float)
    idx = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    return np.minimum(idx, len(weights) - 1).astype(np.int64)


def _uniform_us(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return rng.uniform(low, high, n).astype(np.int64)


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _in_same_hour(t_ping: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """t_ping + delay, pulled back into t_ping's hour when it would cross into the next one:
    a form post or login a few seconds after its pageview lands in that pageview's hour."""
    t = t_ping + delay
    hour_end = (t_ping // HOUR + 1) * HOUR
    over = t >= hour_end
    t[over] = t_ping[over] + (hour_end[over] - t_ping[over]) // 2
    return t


def _ts_type(tz_aware: bool) -> pa.DataType:
    return pa.timestamp("us", tz="UTC") if tz_aware else pa.timestamp("us")


def _ts(values: np.ndarray, tz_aware: bool, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int64, copy=False), type=_ts_type(tz_aware), mask=mask)


def _rhythm_times(rng: np.random.Generator, t0: int, days: int, n: int) -> np.ndarray:
    """n arrival times over [t0, t0 + days) with a weekly and a daily (UTC) rhythm: busier on
    weekdays, a trough at night in Europe and the Americas, a peak in the European afternoon."""
    first_weekday = datetime.fromtimestamp(t0 / SECOND, tz=UTC).weekday()
    weekday = (first_weekday + np.arange(days)) % 7
    day_w = np.where(weekday >= 5, 0.7, 1.0) * (1.0 + 0.01 * np.arange(days))
    hours = np.arange(24)
    hour_w = (
        0.12 + np.exp(-(((hours - 14.5) / 4.5) ** 2)) + 0.3 * np.exp(-(((hours - 20) / 3) ** 2))
    )
    d = _choice(rng, day_w, n)
    h = _choice(rng, hour_w, n)
    return t0 + d * DAY + h * HOUR + _uniform_us(rng, 0, HOUR, n)


_SPACES = pa.array(["", " ", "  "])
EMAIL_STYLES = 4  # as is, Title.Case@Example.Com, Capitalised, UPPER


def _messy_emails(
    base: pa.Array, style: np.ndarray, lead: np.ndarray, trail: np.ndarray
) -> pa.Array:
    """Addresses as somebody typed them: case (`style`) and surrounding spaces vary. Distinct
    styles always give distinct spellings of the same address."""
    variants = [base, pc.utf8_title(base), pc.utf8_capitalize(base), pc.utf8_upper(base)]
    typed = pc.choose(pa.array(style.astype(np.int8)), *variants)
    return pc.binary_join_element_wise(
        _SPACES.take(pa.array(lead)), typed, _SPACES.take(pa.array(trail)), ""
    )


def _email_variants(
    rng: np.random.Generator, base: pa.Array, spaced: float
) -> tuple[pa.Array, np.ndarray]:
    """One messy spelling per address, and the style used (to pick a different one later)."""
    n = len(base)
    style = _choice(rng, np.array([0.5, 0.2, 0.2, 0.1]), n)
    has_spaces = rng.random(n) < spaced
    lead = np.where(has_spaces, rng.integers(0, 3, n), 0)
    trail = np.where(has_spaces, rng.integers(0, 3, n), 0)
    return _messy_emails(base, style, lead, trail), style


def _base_emails(rng: np.random.Generator, n: int, domains: list[str]) -> pa.Array:
    """n distinct lower-case addresses that look like people's."""
    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    fmt = rng.integers(0, 5, n)
    dom = rng.integers(0, len(domains), n)
    num = rng.integers(1, 99, n)
    seen: set[str] = set()
    out = []
    for f, la, k, d, nn in zip(first, last, fmt, dom, num, strict=True):
        fn, ln = _FIRST[f], _LAST[la]
        local = (
            f"{fn}.{ln}",
            f"{fn}{ln}",
            f"{fn[0]}{ln}",
            f"{fn}_{ln}{nn}",
            f"{fn}.{ln}{nn}",
        )[k]
        email, extra = f"{local}@{domains[d]}", 1
        while email in seen:
            extra += 1
            email = f"{local}{extra}@{domains[d]}"
        seen.add(email)
        out.append(email)
    return pa.array(out, pa.string())


# --------------------------------------------------------------------------- writing files


class _Writer:
    """Writes files into the contract layout and counts them. Parquet encoding runs on a
    small thread pool (Arrow releases the GIL) so that writing overlaps generating; a file's
    bytes depend only on its table, so the output stays deterministic."""

    def __init__(self, out: Path, threads: int = 2, max_pending: int = 8) -> None:
        self.out = out
        self.files = 0
        self._folders: set[Path] = set()
        self._pool = ThreadPoolExecutor(max_workers=threads) if threads else None
        self._pending: deque[Future] = deque()
        self._max_pending = max_pending

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def folder(self, source: str, t_us: int) -> Path:
        dt = datetime.fromtimestamp(t_us // HOUR * HOUR / SECOND, tz=UTC)
        folder = self.out / source / f"date={dt:%Y-%m-%d}" / f"hour={dt:%H}"
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)
        return folder

    def parquet(self, source: str, t_us: int, name: str, table: pa.Table) -> None:
        self._submit(_write_parquet, self.folder(source, t_us) / name, table)

    def raw(self, source: str, t_us: int, name: str, data: bytes) -> None:
        self._submit(Path.write_bytes, self.folder(source, t_us) / name, data)

    def job(self, files: int, fn: Callable[..., object], *args: object) -> None:
        """Run fn(*args), which writes `files` files, on the pool."""
        self._submit(fn, *args, files=files)

    def _submit(self, fn: Callable[..., object], *args: object, files: int = 1) -> None:
        self.files += files
        if self._pool is None:
            fn(*args)
            return
        self._pending.append(self._pool.submit(fn, *args))
        while len(self._pending) > self._max_pending:
            self._pending.popleft().result()


def _write_parquet(path: Path, table: pa.Table) -> None:
    # Settings chosen for speed: no dictionary or compression attempts on random event ids,
    # statistics only on timestamps. No Arrow schema is stored, so dictionary-encoded columns
    # read back as plain strings; timestamps keep their UTC flag in the Parquet type itself.
    names = table.column_names
    buf = pa.BufferOutputStream()
    pq.write_table(
        table,
        buf,
        compression={c: "none" if c == "event_id" else "snappy" for c in names},
        use_dictionary=[c for c in names if c not in ("event_id", "created_at")],
        write_statistics=[c for c in names if pa.types.is_timestamp(table.schema.field(c).type)],
        store_schema=False,
    )
    # encoding in memory and writing once is much faster than many small writes to the file
    path.write_bytes(buf.getvalue())


def _is_tz_aware_hour(t_us: int) -> bool:
    return (t_us // HOUR) % 24 == TZ_AWARE_HOUR


# --------------------------------------------------------------------------- the visit plan

_KIND_VISIT, _KIND_SIGNUP, _KIND_LOGIN, _KIND_CRAWL = 0, 1, 2, 3


@dataclass
class _Plan:
    """Every visit (session) to expand into pages, sorted by start, plus who is who."""

    t0: int
    t1: int
    cookies: pa.Array  # per visitor
    ua: np.ndarray  # per visitor: index into user_agents, -1 = no header
    user_agents: pa.Array
    url_dict: pa.Array  # every (host, path, query) URL the site can serve
    ref_dict: pa.Array  # url_dict followed by the external referrers
    n_paths: int
    n_queries: int
    start: np.ndarray  # int64 us
    dur: np.ndarray  # int64 us, planned span from first to last page
    npages: np.ndarray  # int32
    visitor: np.ndarray  # int32
    kind: np.ndarray  # int8
    land_url: np.ndarray  # int32 code into url_dict
    ref: np.ndarray  # int32 code into ref_dict, -1 = no referrer
    event: np.ndarray  # int32 slot into the event table, -1 = none
    event_kind: np.ndarray  # per event slot: signup or login
    event_person: np.ndarray  # per event slot
    event_visitor: np.ndarray  # per event slot: whose cookie
    event_time: np.ndarray  # per event slot, filled while pages are expanded
    person_visitor: np.ndarray  # per person: the visitor that first signed up


def _visit_durations(rng: np.random.Generator, npages: np.ndarray, pace_s: float) -> np.ndarray:
    """Span from first to last page: the sum of (npages - 1) exponential reading times with a
    per-visit pace, i.e. a Gamma draw, so pages can later be placed without storing them."""
    pace = np.clip(rng.lognormal(np.log(pace_s), 0.6, len(npages)), 2, 240) * SECOND
    dur = rng.gamma(np.maximum(npages - 1, 0).astype(float), 1.0) * pace
    return np.minimum(dur, MAX_VISIT).astype(np.int64)


def _pages_per_visit(rng: np.random.Generator, n: int) -> np.ndarray:
    """About 35 % bounces; the rest read a handful of pages."""
    more = 1 + rng.geometric(0.18, n)
    return np.where(rng.random(n) < 0.35, 1, np.minimum(more, 30)).astype(np.int32)


def _return_gaps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Time from the end of one visit to the start of the visitor's next one: some come back
    within 30 minutes (the same session by the 30-minute rule), some within hours, most days
    later at about the same time of day."""
    kind = _choice(rng, np.array([0.12, 0.13, 0.25, 0.5]), n)
    low = np.array([1 * MINUTE, 31 * MINUTE, 3 * HOUR, 0])[kind]
    high = np.array([29 * MINUTE, 3 * HOUR, 20 * HOUR, 0])[kind]
    gap = low + (rng.random(n) * (high - low)).astype(np.int64)
    days = kind == 3
    n_days = int(days.sum())
    gap[days] = rng.integers(1, 7, n_days) * DAY + (rng.normal(0, 2, n_days) * HOUR).astype(
        np.int64
    )
    return np.maximum(gap, MINUTE)


def _channel_table() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Flatten `_CHANNELS` into entries (referrer string index or -1, query index, weights)."""
    queries = [""]
    refs: list[str] = []
    ref_idx, q_idx, w_new, w_ret = [], [], [], []
    for variants, query, wn, wr in _CHANNELS:
        if query not in queries:
            queries.append(query)
        for v in variants:
            if v is None:
                ref_idx.append(-1)
            else:
                if v not in refs:
                    refs.append(v)
                ref_idx.append(refs.index(v))
            q_idx.append(queries.index(query))
            w_new.append(wn / len(variants))
            w_ret.append(wr / len(variants))
    return refs, np.array(ref_idx), np.array(q_idx), np.array([w_new, w_ret]), queries


def _plan(rng: np.random.Generator, t0: int, t1: int, n_visitors: int) -> _Plan:
    days = (t1 - t0) // DAY
    n_paths = len(PATHS)
    refs, ch_ref, ch_q, ch_w, queries = _channel_table()
    n_queries = len(queries)
    url_strings = [h + p + q for h in HOSTS for p in PATHS for q in queries]
    url_dict = pa.array(url_strings, type=pa.string())
    ref_dict = pa.array(url_strings + refs, type=pa.string())
    n_urls = len(url_strings)

    def url_code(host: np.ndarray, path: np.ndarray, query: np.ndarray) -> np.ndarray:
        return ((host * n_paths + path) * n_queries + query).astype(np.int32)

    def landing(n: int, returning: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landing URL and referrer codes of n visits."""
        ch = np.empty(n, dtype=np.int64)
        ch[returning] = _choice(rng, ch_w[1], int(returning.sum()))
        ch[~returning] = _choice(rng, ch_w[0], int((~returning).sum()))
        host = (rng.random(n) < 0.03).astype(np.int32)  # a few visits on the apex host
        path = _choice(rng, _LAND_W, n)
        land = url_code(host, path, ch_q[ch])
        ref = np.where(ch_ref[ch] >= 0, n_urls + ch_ref[ch], -1).astype(np.int32)
        return land, ref

    # ---- visitors and their visits
    V = n_visitors
    first = _rhythm_times(rng, t0, days, V)
    u = rng.random(V)
    nvis = np.where(
        u < 0.35,
        1,
        np.where(u < 0.65, 2 + rng.poisson(1.5, V), 4 + rng.geometric(0.06, V)),
    )
    # visits that would start after the period are dropped anyway: don't plan most of them
    nvis = np.minimum(nvis, np.minimum(60, 3 + 2 * ((t1 - first) // DAY))).astype(np.int64)
    S = int(nvis.sum())
    seg = _segment_starts(nvis)
    visitor = np.repeat(np.arange(V, dtype=np.int32), nvis)
    pos = np.arange(S) - np.repeat(seg, nvis)
    npages = _pages_per_visit(rng, S)
    dur = _visit_durations(rng, npages, 40)
    inc = np.where(pos > 0, np.roll(dur, 1) + _return_gaps(rng, S), 0)
    csum = np.cumsum(inc)
    start = np.repeat(first, nvis) + csum - np.repeat(csum[seg], nvis)
    keep = start < t1
    visitor, pos, npages, dur, start = (a[keep] for a in (visitor, pos, npages, dur, start))
    S = len(start)
    land, ref = landing(S, pos > 0)
    kind = np.zeros(S, dtype=np.int8)

    # ---- signups: a share of visitors submit the form at the end of one of their visits
    # A visitor's visits are in time order, so the eligible ones (leaving time for the signup
    # before the period ends) are a prefix of its visits.
    first_visit = np.flatnonzero(np.r_[True, visitor[1:] != visitor[:-1]])
    eligible = np.bincount(visitor[start < t1 - 3 * HOUR], minlength=V)
    candidates = np.flatnonzero(eligible[visitor[first_visit]] > 0)
    n_persons = min(len(candidates), max(1, round(SIGNUP_RATE * V)))
    chosen = np.sort(rng.choice(candidates, size=n_persons, replace=False))
    pick = (rng.random(n_persons) * eligible[visitor[first_visit[chosen]]]).astype(np.int64)
    sig_sess = first_visit[chosen] + pick
    kind[sig_sess] = _KIND_SIGNUP
    bump = npages[sig_sess] < 2
    npages[sig_sess[bump]] = 2
    dur[sig_sess[bump]] = (rng.exponential(40, int(bump.sum())) * SECOND).astype(np.int64)
    person_visitor = visitor[sig_sess]
    sig_start = start[sig_sess]

    extra_start: list[np.ndarray] = []
    extra_visitor: list[np.ndarray] = []
    extra_kind: list[np.ndarray] = []
    extra_person: list[np.ndarray] = []
    n_extra_visitors = 0

    # some people sign up again later from another device (new cookie)
    cand = np.flatnonzero(sig_start < t1 - 3 * HOUR - DAY)
    if len(cand):
        k = max(1, round(0.04 * len(cand)))
        again = np.sort(rng.choice(cand, size=k, replace=False))
        room = np.minimum(5 * DAY, t1 - 3 * HOUR - sig_start[again])
        later = DAY + (rng.random(k) * (room - DAY)).astype(np.int64)
        extra_start.append(sig_start[again] + later)
        extra_visitor.append(V + np.arange(k, dtype=np.int32))
        n_extra_visitors += k
        extra_kind.append(np.full(k, _KIND_SIGNUP, dtype=np.int8))
        extra_person.append(again.astype(np.int32))

    # logins on later days, from the signup cookie or from a second device
    remaining = np.maximum(t1 - (sig_start + 20 * HOUR), 0)
    n_logins = rng.poisson(0.35 * remaining / DAY)
    lp = np.repeat(np.arange(n_persons, dtype=np.int32), n_logins)
    t_login = sig_start[lp] + 20 * HOUR + (rng.random(len(lp)) * remaining[lp]).astype(np.int64)
    has_device = rng.random(n_persons) < 0.25
    device_visitor = np.where(
        has_device, V + n_extra_visitors + np.cumsum(has_device) - 1, -1
    ).astype(np.int32)
    n_extra_visitors += int(has_device.sum())
    use_device = has_device[lp] & (rng.random(len(lp)) < 0.5)
    extra_start.append(t_login)
    extra_visitor.append(np.where(use_device, device_visitor[lp], person_visitor[lp]))
    extra_kind.append(np.full(len(lp), _KIND_LOGIN, dtype=np.int8))
    extra_person.append(lp)

    e_start = np.concatenate(extra_start)
    e_visitor = np.concatenate(extra_visitor).astype(np.int32)
    e_kind = np.concatenate(extra_kind)
    e_person = np.concatenate(extra_person).astype(np.int32)
    ne = len(e_start)
    e_npages = np.where(
        e_kind == _KIND_LOGIN,
        np.minimum(rng.geometric(0.4, ne), 8),
        np.minimum(1 + rng.geometric(0.4, ne), 8),
    ).astype(np.int32)
    e_dur = _visit_durations(rng, e_npages, 30)
    e_land, e_ref = landing(ne, np.ones(ne, dtype=bool))
    login = e_kind == _KIND_LOGIN
    e_land[login] = url_code(np.zeros(int(login.sum()), np.int32), np.int32(_P_LOGIN), 0)
    e_ref[login] = -1

    # event slots: the signups planned above, then the extra visits (all have an event)
    n_ev = n_persons + ne
    event_kind = np.concatenate([np.full(n_persons, _KIND_SIGNUP, np.int8), e_kind])
    event_person = np.concatenate([np.arange(n_persons, dtype=np.int32), e_person])
    event_visitor = np.concatenate([person_visitor, e_visitor]).astype(np.int32)
    event = np.full(S, -1, dtype=np.int32)
    event[sig_sess] = np.arange(n_persons, dtype=np.int32)
    e_event = n_persons + np.arange(ne, dtype=np.int32)

    # ---- crawlers: enough crawl visits for CRAWLER_SHARE of all pings
    human_pings = int(npages.sum() + e_npages.sum())
    target = round(human_pings * CRAWLER_SHARE / (1 - CRAWLER_SHARE))
    n_crawlers = max(3, V // 400)
    m = target // 10 + 10
    c_npages = np.minimum(2 + rng.geometric(0.09, m), 80).astype(np.int32)
    cut = int(np.searchsorted(np.cumsum(c_npages), target))
    c_npages = c_npages[: cut + 1]
    c_npages[-1] -= int(c_npages.sum()) - target
    c_npages = c_npages[c_npages > 0]
    nc = len(c_npages)
    first_crawler = V + n_extra_visitors
    c_visitor = (first_crawler + rng.integers(0, n_crawlers, nc)).astype(np.int32)
    c_start = t0 + _uniform_us(rng, 0, t1 - t0, nc)
    c_dur = _visit_durations(rng, c_npages, 4)
    robots = rng.random(nc) < 0.5
    c_path = np.where(robots, _P_ROBOTS, _BOT_IDX[rng.integers(0, len(_BOT_IDX), nc)])
    c_land = url_code(np.zeros(nc, np.int32), c_path, np.zeros(nc, np.int32))

    # ---- visitors' cookies and user agents
    n_all = first_crawler + n_crawlers
    cookies = _cookies(rng, n_all)
    human_w = np.array([w for _, w in HUMAN_USER_AGENTS])
    crawler_w = np.array([w for _, w in CRAWLER_USER_AGENTS])
    ua = np.concatenate(
        [
            _choice(rng, human_w, first_crawler),
            len(HUMAN_USER_AGENTS) + _choice(rng, crawler_w, n_crawlers),
        ]
    )
    ua_null = np.zeros(n_all, dtype=bool)
    ua_null[:first_crawler] = rng.random(first_crawler) < NULL_USER_AGENT_RATE
    user_agents = pa.array([u for u, _ in HUMAN_USER_AGENTS + CRAWLER_USER_AGENTS], pa.string())

    # ---- all visits, sorted by start
    cat = np.concatenate
    start_all = cat([start, e_start, c_start])
    order = np.argsort(start_all, kind="stable")
    return _Plan(
        t0=t0,
        t1=t1,
        cookies=cookies,
        ua=np.where(ua_null, -1, ua).astype(np.int32),
        user_agents=user_agents,
        url_dict=url_dict,
        ref_dict=ref_dict,
        n_paths=n_paths,
        n_queries=n_queries,
        start=start_all[order],
        dur=cat([dur, e_dur, c_dur])[order],
        npages=cat([npages, e_npages, c_npages])[order],
        visitor=cat([visitor, e_visitor, c_visitor])[order],
        kind=cat([kind, e_kind, np.full(nc, _KIND_CRAWL, np.int8)])[order],
        land_url=cat([land, e_land, c_land])[order],
        ref=cat([ref, e_ref, np.full(nc, -1, np.int32)])[order],
        event=cat([event, e_event, np.full(nc, -1, np.int32)])[order],
        event_kind=event_kind,
        event_person=event_person,
        event_visitor=event_visitor,
        event_time=np.full(n_ev, -1, dtype=np.int64),
        person_visitor=person_visitor,
    )


def _expand(rng: np.random.Generator, plan: _Plan, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Pages of visits lo..hi-1: times, URL and referrer codes, visitors. Records the time of
    each visit's signup pageview (its last page) or login pageview (its first page)."""
    npages = plan.npages[lo:hi]
    n = int(npages.sum())
    seg = _segment_starts(npages)
    sess = np.repeat(np.arange(hi - lo), npages)
    pos = np.arange(n) - seg[sess]
    first = pos == 0
    last = pos == npages[sess] - 1
    kind = plan.kind[lo:hi][sess]

    # place pages: exponential reading times scaled to the planned span
    gaps = rng.exponential(1.0, n)
    gaps[first] = 0.0
    csum = np.cumsum(gaps)
    base = csum[seg][sess]
    total = (csum[seg + npages - 1] - csum[seg])[sess]
    frac = np.divide(csum - base, total, out=np.zeros(n), where=total > 0)
    t = plan.start[lo:hi][sess] + (frac * plan.dur[lo:hi][sess]).astype(np.int64)
    t = t // 1000 * 1000  # the collector stamps milliseconds

    # pick pages
    u = rng.random(n)
    path = np.searchsorted(np.cumsum(_NEXT_W) / _NEXT_W.sum(), u, side="right")
    path = np.minimum(path, len(_NEXT_W) - 1)
    path = np.where(kind == _KIND_LOGIN, _APP_IDX[(u * len(_APP_IDX)).astype(int)], path)
    path = np.where(kind == _KIND_CRAWL, _BOT_IDX[(u * len(_BOT_IDX)).astype(int)], path)
    path[last & (kind == _KIND_SIGNUP)] = _P_SIGNUP
    land = plan.land_url[lo:hi][sess]
    per_host = plan.n_paths * plan.n_queries
    url = ((land // per_host) * per_host + path * plan.n_queries).astype(np.int32)
    url[first] = land[first]
    ref = np.empty(n, dtype=np.int32)
    ref[1:] = url[:-1]  # internal navigation: the previous page of the same visit
    ref[first] = plan.ref[lo:hi][sess[first]]

    ev = plan.event[lo:hi]
    sig = np.flatnonzero((ev >= 0) & (plan.kind[lo:hi] == _KIND_SIGNUP))
    plan.event_time[ev[sig]] = t[seg[sig] + npages[sig] - 1]
    log = np.flatnonzero((ev >= 0) & (plan.kind[lo:hi] == _KIND_LOGIN))
    plan.event_time[ev[log]] = t[seg[log]]
    return {"t": t, "url": url, "ref": ref, "visitor": plan.visitor[lo:hi][sess]}


def _take(d: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in d.items()}


# --------------------------------------------------------------------------- pings


@dataclass
class _Counts:
    pings: int = 0
    signups: int = 0
    crm_rows: int = 0
    account_events: int = 0
    bad_rows: int = 0
    bad_files: int = 0
    duplicate_rows: int = 0


def _pings_table(
    event_id_bytes: bytes, plan: _Plan, p: dict[str, np.ndarray], tz_aware: bool
) -> pa.Table:
    n = len(p["t"])
    ua = plan.ua[p["visitor"]]
    return pa.table(
        {
            "event_id": _event_ids_from(event_id_bytes, n),
            "created_at": _ts(p["t"], tz_aware),
            "cookie": _dictionary(p["visitor"], plan.cookies),
            "url": _dictionary(p["url"], plan.url_dict),
            "referrer": _dictionary(p["ref"], plan.ref_dict, p["ref"] < 0),
            "user_agent": _dictionary(ua, plan.user_agents, ua < 0),
            "collector_version": _dictionary(np.zeros(n, np.int32), _COLLECTOR_VERSION),
        }
    )


def _pings_files_job(
    folder: Path,
    plan: _Plan,
    p: dict[str, np.ndarray],
    dest: np.ndarray,
    raw_ids: list[bytes],
    tz_aware: bool,
) -> None:
    """Build and write an ordinary hour's files (runs on the writer's pool)."""
    for d, raw in enumerate(raw_ids):
        table = _pings_table(raw, plan, _take(p, np.flatnonzero(dest == d)), tz_aware)
        _write_parquet(folder / f"part-{d}.parquet", table)


_COLLECTOR_VERSION = pa.array(["2.4.1"])


def _bad_rows(rng: np.random.Generator, template: pa.Table, changes: list[dict]) -> pa.Table:
    """Rows the loader must reject: copies of the template's first row with fresh event ids,
    each spoiled by one change (timestamps given as microseconds)."""
    k = len(changes)
    cols = {}
    for name in template.column_names:
        col = template.column(name).slice(0, 1)
        is_ts = pa.types.is_timestamp(col.type)
        values = (col.cast(pa.int64()) if is_ts else col).to_pylist() * k
        if name == "event_id":
            values = _event_ids(rng, k).to_pylist()
        for i, change in enumerate(changes):
            if name in change:
                values[i] = change[name]
        cols[name] = (
            pa.array(values, pa.int64()).cast(col.type) if is_ts else pa.array(values, col.type)
        )
    return pa.table(cols)


def _spoil_created_at(hour_start: int) -> list[dict]:
    return [
        {"created_at": None},
        {"created_at": hour_start - 90 * MINUTE},
        {"created_at": hour_start + HOUR + 5 * MINUTE},
    ]


def _write_hour_pings(
    rng: np.random.Generator,
    plan: _Plan,
    w: _Writer,
    counts: _Counts,
    p: dict[str, np.ndarray],
    hour_start: int,
    roles: set[str],
) -> None:
    """Write one hour of pings as the files of one or two collector nodes, plus the
    imperfections this hour was picked for (`roles`)."""
    tz_aware = _is_tz_aware_hour(hour_start)
    n = len(p["t"])
    counts.pings += n
    # which file each row goes to: 0 and 1 are the two collector nodes, 2 the late file
    dest = (rng.random(n) < 0.5).astype(np.int8) if n >= 2000 else np.zeros(n, np.int8)
    if not roles:
        sizes = np.bincount(dest, minlength=2)[: 2 if n >= 2000 else 1]
        raw_ids = [rng.bytes(EVENT_ID_BYTES * int(k)) for k in sizes]
        folder = w.folder("pings", hour_start)
        w.job(len(raw_ids), _pings_files_job, folder, plan, p, dest, raw_ids, tz_aware)
        return
    if "late" in roles:
        dest[rng.choice(n, size=max(1, n // 50), replace=False)] = 2
    tables = {}
    for d in np.unique(dest):
        rows = _take(p, np.flatnonzero(dest == d))
        tables[int(d)] = _pings_table(
            rng.bytes(EVENT_ID_BYTES * len(rows["t"])), plan, rows, tz_aware
        )
    first = tables[min(tables)]
    if "late" in roles:
        w.parquet("pings", hour_start, "late-0001.parquet", tables.pop(2))
        spoil = [{"event_id": ""}, {"event_id": None}, {"cookie": ""}, {"cookie": None}]
        bad = _bad_rows(rng, _dense(first), spoil + _spoil_created_at(hour_start))
        tables[0] = pa.concat_tables([_dense(tables[0]), bad]) if 0 in tables else bad
        counts.bad_rows += bad.num_rows
    for d, table in sorted(tables.items()):
        w.parquet("pings", hour_start, f"part-{d}.parquet", table)
    for role in sorted(r for r in roles if r.startswith("redelivery")):
        k = max(1, min(500, first.num_rows // 20))
        rows = np.sort(rng.choice(first.num_rows, size=k, replace=False))
        w.parquet("pings", hour_start, f"{role}.parquet", first.take(pa.array(rows)))
        counts.duplicate_rows += k
    if "broken" in roles:
        w.raw(
            "pings",
            hour_start,
            "broken-0001.parquet",
            b"event_id,created_at,cookie,url\n"
            b"the collector flushed a CSV buffer here by mistake; this is not Parquet\n",
        )
        k = min(10, n)
        orphan = _pings_table(rng.bytes(EVENT_ID_BYTES * k), plan, _take(p, np.arange(k)), tz_aware)
        w.parquet("pings", hour_start, "nocookie-0001.parquet", orphan.drop_columns(["cookie"]))
        counts.bad_files += 2


def _write_pings(
    rng: np.random.Generator, plan: _Plan, w: _Writer, counts: _Counts, bar: tqdm
) -> None:
    """Expand and write pings day by day; pages of visits that run past midnight are carried
    into the next day."""
    days = (plan.t1 - plan.t0) // DAY
    day_lo = np.searchsorted(plan.start, plan.t0 + np.arange(days + 1) * DAY)
    carry: dict[str, np.ndarray] | None = None
    first_done = False
    for d in range(days):
        day_start = plan.t0 + d * DAY
        cur = _expand(rng, plan, int(day_lo[d]), int(day_lo[d + 1]))
        if carry is not None:
            cur = {k: np.concatenate([carry[k], v]) for k, v in cur.items()}
        cur = _take(cur, np.argsort(cur["t"]))
        split = int(np.searchsorted(cur["t"], day_start + DAY))
        carry = {k: v[split:] for k, v in cur.items()}
        cur = {k: v[:split] for k, v in cur.items()}
        bounds = np.searchsorted(cur["t"], day_start + np.arange(25) * HOUR)
        sizes = np.diff(bounds)
        roles: list[set[str]] = [set() for _ in range(24)]
        busy = [int(h) for h in np.argsort(-sizes, kind="stable") if sizes[h] > 0]
        if busy and not first_done:
            busy += [busy[-1]] * 2  # fewer than three busy hours: roles share an hour
            roles[busy[0]].add("late")
            roles[busy[1]].add("redelivery-0001")
            roles[busy[2]].add("broken")
            first_done = True
        elif busy and d == days - 1:
            roles[busy[0]].add("redelivery-0002")
        for h in range(24):
            lo, hi = int(bounds[h]), int(bounds[h + 1])
            if hi > lo:
                _write_hour_pings(
                    rng,
                    plan,
                    w,
                    counts,
                    {k: v[lo:hi] for k, v in cur.items()},
                    day_start + h * HOUR,
                    roles[h],
                )
            bar.update(1)


# --------------------------------------------------------------------------- people


def _hourly_files(
    rng: np.random.Generator,
    w: _Writer,
    counts: _Counts,
    source: str,
    t: np.ndarray,
    make: Callable[..., pa.Table],
    spoil: Callable[[int], list[dict]],
    t_fallback: int,
) -> int:
    """Write rows (sorted by time `t`) one file per hour; add the bad rows to the earliest
    hour's file and redeliver some rows of the busiest hour. `make(idx, tz_aware)` builds the
    table of rows idx. Returns the number of valid rows written."""
    n = len(t)
    hours = t // HOUR
    edges = np.flatnonzero(np.r_[True, hours[1:] != hours[:-1], True]) if n else np.array([0])
    busiest = int(np.argmax(np.diff(edges))) if n else -1
    if n == 0:  # nothing happened: the bad rows still arrive, on their own
        hour_start = t_fallback // HOUR * HOUR
        tz_aware = _is_tz_aware_hour(hour_start)
        template = make(np.zeros(0, dtype=np.int64), tz_aware, fake=True)
        bad = _bad_rows(rng, template, spoil(hour_start))
        w.parquet(source, hour_start, "part-0.parquet", bad)
        counts.bad_rows += bad.num_rows
        return 0
    for i in range(len(edges) - 1):
        lo, hi = int(edges[i]), int(edges[i + 1])
        hour_start = int(hours[lo]) * HOUR
        table = make(np.arange(lo, hi), _is_tz_aware_hour(hour_start))
        if i == 0:
            bad = _bad_rows(rng, table, spoil(hour_start))
            w.parquet(source, hour_start, "part-0.parquet", pa.concat_tables([table, bad]))
            counts.bad_rows += bad.num_rows
        else:
            w.parquet(source, hour_start, "part-0.parquet", table)
        if i == busiest:
            k = max(1, min(50, (hi - lo) // 5))
            rows = np.sort(rng.choice(hi - lo, size=k, replace=False))
            w.parquet(source, hour_start, "redelivery-0001.parquet", table.take(pa.array(rows)))
            counts.duplicate_rows += k
    return n


@dataclass
class _People:
    """Who signed up, with what address, and when (first signup)."""

    base: pa.Array  # normalised address per person
    typed: pa.Array  # as typed at the first signup
    first_signup: np.ndarray  # int64 us per person
    cookie_visitor: np.ndarray  # the first signup's visitor per person


def _write_signups(rng: np.random.Generator, plan: _Plan, w: _Writer, counts: _Counts) -> _People:
    slots = np.flatnonzero((plan.event_kind == _KIND_SIGNUP) & (plan.event_time >= 0))
    n_persons = len(plan.person_visitor)
    t = _in_same_hour(plan.event_time[slots], _uniform_us(rng, 2 * SECOND, 40 * SECOND, len(slots)))
    person = plan.event_person[slots]
    base = _base_emails(rng, n_persons, _DOMAINS)
    typed, style = _email_variants(rng, base, spaced=0.25)
    # a second signup by the same person is typed in another style (and trimmed)
    again_style = (style + rng.integers(1, EMAIL_STYLES, n_persons)) % EMAIL_STYLES
    zeros = np.zeros(n_persons, dtype=np.int64)
    again = _messy_emails(base, again_style, zeros, zeros)
    person_idx = pa.array(person)
    emails = pc.if_else(
        pa.array(slots >= n_persons), again.take(person_idx), typed.take(person_idx)
    )
    first_signup = np.full(n_persons, -1, dtype=np.int64)
    first_signup[person[slots < n_persons]] = t[slots < n_persons]
    channel = _choice(rng, _FORM_CHANNEL_W, len(slots))
    order = np.argsort(t, kind="stable")
    t, visitor, emails, channel = (
        t[order],
        plan.event_visitor[slots][order],
        emails.take(pa.array(order)),
        channel[order],
    )
    form_channels = pa.array(_FORM_CHANNELS, pa.string())

    def make(idx: np.ndarray, tz_aware: bool, fake: bool = False) -> pa.Table:
        if fake:
            return pa.table(
                {
                    "event_id": _event_ids(rng, 1),
                    "created_at": _ts(np.array([plan.t0]), tz_aware),
                    "cookie": plan.cookies.slice(0, 1),
                    "email": pa.array(["someone@example.com"]),
                    "referring_channel": pa.array([None], pa.string()),
                    "form_id": pa.array(["signup-v3"]),
                }
            )
        return pa.table(
            {
                "event_id": _event_ids(rng, len(idx)),
                "created_at": _ts(t[idx], tz_aware),
                "cookie": plan.cookies.take(pa.array(visitor[idx])),
                "email": emails.take(pa.array(idx)),
                "referring_channel": form_channels.take(pa.array(channel[idx])),
                "form_id": pa.repeat(pa.scalar("signup-v3"), len(idx)),
            }
        )

    def spoil(hour_start: int) -> list[dict]:
        return [
            {"event_id": ""},
            {"cookie": ""},
            {"email": ""},
            {"email": None},
            {"created_at": None},
            {"created_at": hour_start - 90 * MINUTE},
        ]

    counts.signups += _hourly_files(rng, w, counts, "signups", t, make, spoil, plan.t0)
    return _People(base, typed, first_signup, plan.person_visitor)


INF = np.int64(2**61)  # "never" for stage times


@dataclass
class _Stages:
    demo: np.ndarray
    trial: np.ndarray
    customer: np.ndarray


def _write_crm(
    rng: np.random.Generator, plan: _Plan, w: _Writer, counts: _Counts, people: _People
) -> _Stages:
    """Contacts move through demo -> trial -> customer; every six hours the CRM exports the
    contacts changed since the previous export, in their state as of their latest change."""
    t0, t1 = plan.t0, plan.t1
    P = len(people.base)
    L = max(3, round(0.04 * P))  # leads from elsewhere that never signed up
    leads = _base_emails(rng, L, _LEAD_DOMAINS)
    C = P + L

    def maybe(mask: np.ndarray, t: np.ndarray, lo: float, hi: float) -> np.ndarray:
        return np.where(mask, t + _uniform_us(rng, lo, hi, len(t)), INF)

    created = np.concatenate(
        [
            people.first_signup + _uniform_us(rng, MINUTE, 2 * HOUR, P),
            t0 + _uniform_us(rng, 0, max(t1 - t0 - 6 * HOUR, HOUR), L),
        ]
    )
    is_lead = np.arange(C) >= P
    demo = maybe(rng.random(C) < np.where(is_lead, 0.4, 0.3), created, 0.2 * DAY, 3 * DAY)
    has_demo = demo < INF
    trial = maybe(has_demo & (rng.random(C) < 0.55), demo, 0.1 * DAY, 2 * DAY)
    self_trial = ~has_demo & ~is_lead & (rng.random(C) < 0.08)  # trial without a demo
    trial = np.where(self_trial, created + _uniform_us(rng, 0.1 * DAY, 2 * DAY, C), trial)
    customer = maybe((trial < INF) & (rng.random(C) < 0.45), trial, 0.5 * DAY, 4 * DAY)
    no_trial = has_demo & (trial == INF) & (rng.random(C) < 0.12)  # customer without a trial
    customer = np.where(no_trial, demo + _uniform_us(rng, DAY // 2, 4 * DAY, C), customer)
    fix = maybe(
        has_demo & (trial == INF) & (customer == INF) & (rng.random(C) < 0.05),
        demo,
        2 * HOUR,
        2 * DAY,
    )
    # the first lead is the correction everybody can count on: demo booked, then taken back
    created[P], demo[P], trial[P], customer[P], fix[P] = (
        t0 + 30 * MINUTE,
        t0 + 2 * HOUR,
        INF,
        INF,
        t0 + 8 * HOUR,
    )
    n_touch = rng.poisson(1.2, C)
    touch_c = np.repeat(np.arange(C), n_touch)
    touch_t = created[touch_c] + _uniform_us(rng, 0, 10 * DAY, len(touch_c))

    contact = np.concatenate([np.tile(np.arange(C), 5), touch_c])
    t = np.concatenate([created, demo, trial, customer, fix, touch_t])
    K = 4 * ((t1 - t0) // DAY) - 1  # exports at t0 + 6h, + 12h, ... before t1
    keep = (t > t0) & (t <= t0 + K * EXPORT_EVERY)
    contact, t = contact[keep], t[keep]
    k = (t - t0 + EXPORT_EVERY - 1) // EXPORT_EVERY
    order = np.lexsort((t, k, contact))
    contact, t, k = contact[order], t[order], k[order]
    last = np.r_[(contact[1:] != contact[:-1]) | (k[1:] != k[:-1]), True]
    contact, t, k = contact[last], t[last], k[last]
    order = np.lexsort((t, k))
    contact, t, k = contact[order], t[order], k[order]

    bases = pa.concat_arrays([people.base, leads])
    crm_typed, _ = _email_variants(rng, bases, spaced=0.15)
    # now and then the row holds another spelling (edited by hand, imported twice, ...)
    n_rows = len(contact)
    respelt = _messy_emails(
        bases.take(pa.array(contact)),
        rng.integers(0, EMAIL_STYLES, n_rows),
        np.zeros(n_rows, np.int64),
        np.ones(n_rows, np.int64),
    )
    emails = pc.if_else(
        pa.array(rng.random(n_rows) < 0.2), respelt, crm_typed.take(pa.array(contact))
    )
    d_at = np.where((demo[contact] <= t) & ~(fix[contact] <= t), demo[contact], -1)
    tr_at = np.where(trial[contact] <= t, trial[contact], -1)
    cu_at = np.where(customer[contact] <= t, customer[contact], -1)

    edges = np.flatnonzero(np.r_[True, k[1:] != k[:-1], True])
    biggest = int(np.argmax(np.diff(edges)))
    for i in range(len(edges) - 1):
        lo, hi = int(edges[i]), int(edges[i + 1])
        export_k = int(k[lo])
        written = t0 + export_k * EXPORT_EVERY + int(rng.integers(2, 20)) * MINUTE
        tz_aware = export_k % 4 == 2
        table = pa.table(
            {
                "email": emails.slice(lo, hi - lo),
                "demo_at": _ts(d_at[lo:hi], tz_aware, d_at[lo:hi] < 0),
                "trial_at": _ts(tr_at[lo:hi], tz_aware, tr_at[lo:hi] < 0),
                "customer_at": _ts(cu_at[lo:hi], tz_aware, cu_at[lo:hi] < 0),
                "updated_at": _ts(t[lo:hi], tz_aware),
                "contact_id": pa.array(contact[lo:hi] + 1001, pa.int64()),
            }
        )
        counts.crm_rows += hi - lo
        good = table
        if i == 0:
            bad = _bad_rows(rng, table, [{"email": ""}, {"email": None}])
            table = pa.concat_tables([table, bad])
            counts.bad_rows += bad.num_rows
        dt = datetime.fromtimestamp(written / SECOND, tz=UTC)
        w.parquet("crm", written, f"export-{dt:%Y%m%dT%H%M%S}.parquet", table)
        if i == biggest:
            n_again = max(1, (hi - lo) // 4)
            rows = np.sort(rng.choice(hi - lo, size=n_again, replace=False))
            w.parquet("crm", written, "redelivery-0001.parquet", good.take(pa.array(rows)))
            counts.duplicate_rows += n_again
    return _Stages(demo[:P], trial[:P], customer[:P])


def _write_accounts(
    rng: np.random.Generator,
    plan: _Plan,
    w: _Writer,
    counts: _Counts,
    people: _People,
    stages: _Stages,
) -> None:
    """Every person who signed up has an account on the free plan; customers move to a paid
    plan, some self-serve upgrade, a few later change plan again (up or down). Logins come
    from the pageviews of /login planned with the visits."""
    t1 = plan.t1
    P = len(people.base)
    has_account = people.first_signup >= 0
    rank = np.argsort(np.argsort(np.where(has_account, people.first_signup, INF), kind="stable"))
    width = max(6, len(str(P)))
    digits = (rank[:, None] + 1) // 10 ** np.arange(width - 1, -1, -1) % 10
    prefix = np.broadcast_to(np.frombuffer(b"acc_", dtype=np.uint8), (P, 4))
    account_ids = _fixed_width_strings(np.hstack([prefix, (digits + 48).astype(np.uint8)]))

    persons = np.flatnonzero(has_account)
    ch_p = [persons]
    ch_t = [people.first_signup[persons] + _uniform_us(rng, SECOND, 5 * SECOND, len(persons))]
    ch_plan = [np.zeros(len(persons), dtype=np.int8)]
    paid_p = np.flatnonzero(has_account & (stages.customer < t1))
    paid_t = stages.customer[paid_p] + _uniform_us(rng, MINUTE, 15 * MINUTE, len(paid_p))
    paid_plan = _choice(rng, np.array([0, 55, 40, 5]), len(paid_p)).astype(np.int8)
    self_p = np.flatnonzero(has_account & (stages.customer == INF) & (rng.random(P) < 0.06))
    self_t = people.first_signup[self_p] + _uniform_us(rng, 0.5 * DAY, 8 * DAY, len(self_p))
    paid_p = np.concatenate([paid_p, self_p])
    paid_t = np.concatenate([paid_t, self_t])
    paid_plan = np.concatenate([paid_plan, np.ones(len(self_p), dtype=np.int8)])
    again = rng.random(len(paid_p)) < 0.15
    u = rng.random(len(paid_p))
    next_plan = np.select(
        [paid_plan == 1, paid_plan == 2],
        [np.where(u < 0.7, 2, 0), np.where(u < 0.8, 1, 3)],
        2,
    ).astype(np.int8)
    ch_p += [paid_p, paid_p[again]]
    ch_t += [paid_t, paid_t[again] + _uniform_us(rng, DAY, 6 * DAY, int(again.sum()))]
    ch_plan += [paid_plan, next_plan[again]]

    change_p = np.concatenate(ch_p)
    change_t = np.concatenate(ch_t)
    change_plan = np.concatenate(ch_plan)
    valid = change_t < t1
    change_p, change_t, change_plan = change_p[valid], change_t[valid], change_plan[valid]

    slots = np.flatnonzero((plan.event_kind == _KIND_LOGIN) & (plan.event_time >= 0))
    login_p = plan.event_person[slots]
    login_t = _in_same_hour(
        plan.event_time[slots], _uniform_us(rng, SECOND, 20 * SECOND, len(slots))
    )
    person = np.concatenate([change_p, login_p])
    t = np.concatenate([change_t, login_t])
    is_login = np.r_[np.zeros(len(change_p), bool), np.ones(len(login_p), bool)]
    visitor = np.concatenate([people.cookie_visitor[change_p], plan.event_visitor[slots]])
    plan_code = np.concatenate([change_plan, np.full(len(login_p), -1, np.int8)])
    order = np.lexsort((is_login, t, person))
    person, t, is_login, visitor, plan_code = (
        a[order] for a in (person, t, is_login, visitor, plan_code)
    )
    # plan on a login = the plan after the person's latest change (the first row of every
    # person is the account's creation on the free plan)
    idx = np.maximum.accumulate(np.where(plan_code >= 0, np.arange(len(t)), 0))
    plan_code = plan_code[idx]
    order = np.argsort(t, kind="stable")
    person, t, is_login, visitor, plan_code = (
        a[order] for a in (person, t, is_login, visitor, plan_code)
    )
    emails = pc.utf8_trim_whitespace(people.typed)
    plans = np.array(PLANS, dtype=object)

    def make(idx: np.ndarray, tz_aware: bool, fake: bool = False) -> pa.Table:
        if fake:
            return pa.table(
                {
                    "event_id": _event_ids(rng, 1),
                    "created_at": _ts(np.array([plan.t0]), tz_aware),
                    "cookie": plan.cookies.slice(0, 1),
                    "account_id": pa.array(["acc_999999"]),
                    "email": pa.array(["someone@example.com"]),
                    "event_type": pa.array(["login"]),
                    "plan": pa.array(["free"]),
                    "app_version": pa.array(["web-5.12.0"]),
                }
            )
        return pa.table(
            {
                "event_id": _event_ids(rng, len(idx)),
                "created_at": _ts(t[idx], tz_aware),
                "cookie": plan.cookies.take(pa.array(visitor[idx])),
                "account_id": account_ids.take(pa.array(person[idx])),
                "email": emails.take(pa.array(person[idx])),
                "event_type": pa.array(
                    np.where(is_login[idx], "login", "plan_change").astype(object), pa.string()
                ),
                "plan": pa.array(plans[plan_code[idx]], pa.string()),
                "app_version": pa.repeat(pa.scalar("web-5.12.0"), len(idx)),
            }
        )

    def spoil(hour_start: int) -> list[dict]:
        return [
            {"event_id": None},
            {"cookie": ""},
            {"email": ""},
            {"created_at": None},
            {"created_at": hour_start - 90 * MINUTE},
        ]

    counts.account_events += _hourly_files(rng, w, counts, "accounts", t, make, spoil, plan.t0)


# --------------------------------------------------------------------------- entry point


def generate(
    out: Path, start: date, days: int, visitors: int, seed: int = 42, progress: bool = False
) -> GenerateSummary:
    """Write `days` days of landing data from `start` (00:00 UTC) for about `visitors`
    visitors into `out`, in the contract layout. Files of an earlier run with other settings
    are not removed: write into an empty directory."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if visitors < 1:
        raise ValueError("visitors must be at least 1")
    out = Path(out)
    t0 = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    t0 *= SECOND
    t1 = t0 + days * DAY
    plan_rng, ping_rng, people_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    counts = _Counts()
    with (
        _Writer(out) as w,
        tqdm(total=days * 24 + 3, desc="generate", unit="step", disable=not progress) as bar,
    ):
        plan = _plan(plan_rng, t0, t1, visitors)
        _write_pings(ping_rng, plan, w, counts, bar)
        people = _write_signups(people_rng, plan, w, counts)
        bar.update(1)
        stages = _write_crm(people_rng, plan, w, counts, people)
        bar.update(1)
        _write_accounts(people_rng, plan, w, counts, people, stages)
        bar.update(1)
    return GenerateSummary(
        files=w.files,
        pings=counts.pings,
        signups=counts.signups,
        crm_rows=counts.crm_rows,
        account_events=counts.account_events,
        bad_rows=counts.bad_rows,
        bad_files=counts.bad_files,
        duplicate_rows=counts.duplicate_rows,
    )

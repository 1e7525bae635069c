"""The dashboard, end to end: a hand-made warehouse file in, HTML out, a real Chromium on top.

The warehouse below is small enough to check by hand. Five cookies:

    c1  first seen 2024-03-04 09:00, google (Organic Search), desktop, 3 pageviews, 2 sessions;
        person p1 signs up 1 h later, demo at +24 h, trial at +48 h, customer at +7 d
    c2  2024-03-04 12:00, referral from HOST_SCRIPT, mobile, 2 pageviews, 1 session;
        person p2 signs up at +2 h, demo at +24 h
    c3  2024-03-05 08:00, google, desktop, 1 pageview, 1 session; never signs up
    c4  2024-03-05 20:00, facebook, mobile, 2 pageviews, 1 session; p3 signs up at +24 h
    c5  2024-03-11 07:00, utm_source kept as is (CHANNEL_IMG), tablet, 1 pageview, 1 session

so: visitors 5, pageviews 3+2+1+2+1 = 9, sessions 2+1+1+1+1 = 6, signups 3 (p1, p2, p3),
demos 2 (p1, p2), trials 1, customers 1, accounts 2 (p1 on pro, p2 on free).
Median time from first pageview: signup median(1 h, 2 h, 24 h) = 2 h = 7200 s,
demo median(24 h, 24 h) = 86400 s, trial 48 h = 172800 s, customer 7 d = 604800 s.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from ingest.report import ReportError, write_report

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")

SCRIPT = '<script>alert("x")</script>'
IMG = '"><img src=x onerror=alert(1)>'
HOST_SCRIPT = SCRIPT  # a referrer host as hostile as a browser can send
URL_SCRIPT = f"https://shop.example/blog?q={SCRIPT}"
URL_IMG = f"https://shop.example/?utm_source={IMG}"
CHANNEL_IMG = IMG  # utm_source values are kept as is, so a channel can be anything

EXPECTED_KPIS = {
    "visitors": 5,
    "pageviews": 9,
    "sessions": 6,
    "signups": 3,
    "demos": 2,
    "trials": 1,
    "customers": 1,
    "accounts": 2,
}

DDL = """
create schema marts;
create table marts.visitors (
    cookie varchar, first_seen_at timestamp, last_seen_at timestamp, first_url varchar,
    first_referrer_host varchar, first_channel varchar, first_channel_group varchar,
    device_class varchar, browser varchar, os varchar, pageviews bigint, sessions bigint,
    person_id varchar, signed_up_at timestamp, pages_before_signup bigint,
    demo_at timestamp, trial_at timestamp, customer_at timestamp, furthest_stage varchar
);
create table marts.pageviews (
    event_id varchar, cookie varchar, session_id varchar, created_at timestamp, url varchar,
    url_host varchar, url_path varchar, referrer_host varchar, channel varchar,
    channel_group varchar, device_class varchar, browser varchar, os varchar
);
create table marts.sessions (
    session_id varchar, cookie varchar, started_at timestamp, ended_at timestamp,
    pageviews bigint, landing_url varchar, channel varchar, channel_group varchar,
    device_class varchar
);
create table marts.funnel_daily (
    cohort_date date, first_channel varchar, device_class varchar, visitors bigint,
    signups bigint, demos bigint, trials bigint, customers bigint
);
create table marts.channel_attribution (
    attribution_model varchar, channel varchar, conversion_stage varchar,
    conversion_date date, conversions double
);
create table marts.retention_weekly (
    cohort_type varchar, cohort_week date, weeks_since integer, cohort_size bigint,
    active bigint, retention_rate double
);
create table marts.accounts (
    account_id varchar, person_id varchar, first_login_at timestamp, last_login_at timestamp,
    logins bigint, current_plan varchar, plan_changes bigint, upgrades bigint,
    first_channel varchar, pageviews bigint, active_days bigint
);
create table marts.traffic_hourly (
    hour timestamptz, channel_group varchar, device_class varchar, pageviews bigint,
    visitors bigint, new_visitors bigint, sessions bigint
);
"""

VISITORS = [
    # cookie, first_seen, last_seen, first_url, first_referrer_host, first_channel, group,
    # device, pageviews, sessions, person, signed_up, pages_before, demo, trial, customer, stage
    ("c1", "2024-03-04 09:00", "2024-03-05 10:00", "https://shop.example/", "www.google.com",
     "google", "Organic Search", "desktop", 3, 2, "p1", "2024-03-04 10:00", 2,
     "2024-03-05 09:00", "2024-03-06 09:00", "2024-03-11 09:00", "customer"),
    ("c2", "2024-03-04 12:00", "2024-03-04 12:05", URL_SCRIPT, HOST_SCRIPT,
     "referral", "Referral", "mobile", 2, 1, "p2", "2024-03-04 14:00", 2,
     "2024-03-05 12:00", None, None, "demo"),
    ("c3", "2024-03-05 08:00", "2024-03-05 08:00", "https://shop.example/", "www.google.com",
     "google", "Organic Search", "desktop", 1, 1, None, None, None, None, None, None, "visitor"),
    ("c4", "2024-03-05 20:00", "2024-03-05 20:20", "https://shop.example/pricing",
     "l.facebook.com", "facebook", "Organic Social", "mobile", 2, 1, "p3", "2024-03-06 20:00",
     2, None, None, None, "signup"),
    ("c5", "2024-03-11 07:00", "2024-03-11 07:00", URL_IMG, IMG,
     CHANNEL_IMG, "Unassigned", "tablet", 1, 1, None, None, None, None, None, None, "visitor"),
]  # fmt: skip

PAGEVIEWS = [
    # event_id, cookie, session, created_at, url, referrer_host, channel, group, device
    ("e1", "c1", "s1", "2024-03-04 09:00", "https://shop.example/", "www.google.com",
     "google", "Organic Search", "desktop"),
    ("e2", "c1", "s1", "2024-03-04 09:10", "https://shop.example/pricing", "shop.example",
     "google", "Organic Search", "desktop"),
    ("e3", "c1", "s2", "2024-03-05 10:00", "https://shop.example/pricing", None,
     "direct", "Direct", "desktop"),
    ("e4", "c2", "s3", "2024-03-04 12:00", URL_SCRIPT, HOST_SCRIPT,
     "referral", "Referral", "mobile"),
    ("e5", "c2", "s3", "2024-03-04 12:05", "https://shop.example/signup", "www.shop.example",
     "referral", "Referral", "mobile"),
    ("e6", "c3", "s4", "2024-03-05 08:00", "https://shop.example/", "www.google.com",
     "google", "Organic Search", "desktop"),
    ("e7", "c4", "s5", "2024-03-05 20:00", "https://shop.example/pricing", "l.facebook.com",
     "facebook", "Organic Social", "mobile"),
    ("e8", "c4", "s5", "2024-03-05 20:20", "https://shop.example/signup", None,
     "facebook", "Organic Social", "mobile"),
    ("e9", "c5", "s6", "2024-03-11 07:00", URL_IMG, IMG,
     CHANNEL_IMG, "Unassigned", "tablet"),
]  # fmt: skip

SESSIONS = [
    ("s1", "c1", "2024-03-04 09:00", "2024-03-04 09:10", 2, "https://shop.example/",
     "google", "Organic Search", "desktop"),
    ("s2", "c1", "2024-03-05 10:00", "2024-03-05 10:00", 1, "https://shop.example/pricing",
     "direct", "Direct", "desktop"),
    ("s3", "c2", "2024-03-04 12:00", "2024-03-04 12:05", 2, URL_SCRIPT,
     "referral", "Referral", "mobile"),
    ("s4", "c3", "2024-03-05 08:00", "2024-03-05 08:00", 1, "https://shop.example/",
     "google", "Organic Search", "desktop"),
    ("s5", "c4", "2024-03-05 20:00", "2024-03-05 20:20", 2, "https://shop.example/pricing",
     "facebook", "Organic Social", "mobile"),
    ("s6", "c5", "2024-03-11 07:00", "2024-03-11 07:00", 1, URL_IMG,
     CHANNEL_IMG, "Unassigned", "tablet"),
]  # fmt: skip

FUNNEL_DAILY = [
    ("2024-03-04", "google", "desktop", 1, 1, 1, 1, 1),
    ("2024-03-04", "referral", "mobile", 1, 1, 1, 0, 0),
    ("2024-03-05", "google", "desktop", 1, 0, 0, 0, 0),
    ("2024-03-05", "facebook", "mobile", 1, 1, 0, 0, 0),
    ("2024-03-11", CHANNEL_IMG, "tablet", 1, 0, 0, 0, 0),
]

MODELS = ("first_touch", "last_touch", "linear", "position_based")
# p1 touched google then direct before its trial and customer dates; everyone else had one
# channel before converting.
ATTRIBUTION = (
    [(m, "google", "signup", "2024-03-04", 1.0) for m in MODELS]
    + [(m, "referral", "signup", "2024-03-04", 1.0) for m in MODELS]
    + [(m, "facebook", "signup", "2024-03-06", 1.0) for m in MODELS]
    + [(m, "google", "demo", "2024-03-05", 1.0) for m in MODELS]
    + [(m, "referral", "demo", "2024-03-05", 1.0) for m in MODELS]
    + [
        (model, channel, stage, day, credit)
        for stage, day in (("trial", "2024-03-06"), ("customer", "2024-03-11"))
        for model, channel, credit in (
            ("first_touch", "google", 1.0),
            ("last_touch", "direct", 1.0),
            ("linear", "google", 0.5),
            ("linear", "direct", 0.5),
            ("position_based", "google", 0.5),
            ("position_based", "direct", 0.5),
        )
    ]
)

RETENTION = [
    # c1..c4 first seen in the week of Monday 2024-03-04; only p1 (c1) came back (a login
    # on 2024-03-12) the next week. c5 starts the week of 2024-03-11.
    ("visitor", "2024-03-04", 0, 4, 4, 1.0),
    ("visitor", "2024-03-04", 1, 4, 1, 0.25),
    ("visitor", "2024-03-11", 0, 1, 1, 1.0),
    ("user", "2024-03-04", 0, 3, 3, 1.0),
    ("user", "2024-03-04", 1, 3, 1, 1 / 3),
    ("customer", "2024-03-11", 0, 1, 1, 1.0),
]

ACCOUNTS = [
    ("a1", "p1", "2024-03-04 10:05", "2024-03-12 09:00", 3, "pro", 2, 2, "google", 3, 3),
    ("a2", "p2", "2024-03-04 14:05", "2024-03-04 14:05", 1, "free", 0, 0, "referral", 2, 1),
]

TRAFFIC_HOURLY = [
    ("2024-03-04 09:00:00+00", "Organic Search", "desktop", 2, 1, 1, 1),
    ("2024-03-04 12:00:00+00", "Referral", "mobile", 2, 1, 1, 1),
    ("2024-03-05 08:00:00+00", "Organic Search", "desktop", 1, 1, 1, 1),
    ("2024-03-05 10:00:00+00", "Direct", "desktop", 1, 1, 0, 1),
    ("2024-03-05 20:00:00+00", "Organic Social", "mobile", 2, 1, 1, 1),
    ("2024-03-11 07:00:00+00", "Unassigned", "tablet", 1, 1, 1, 1),
]


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    marks = ", ".join("?" for _ in rows[0])
    con.executemany(f"insert into marts.{table} values ({marks})", rows)


def build_warehouse(path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute(DDL)
        con.executemany(
            "insert into marts.visitors values "
            "(?, ?, ?, ?, ?, ?, ?, ?, 'Chrome', 'Windows', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            VISITORS,
        )
        con.executemany(
            "insert into marts.pageviews values (?, ?, ?, ?, ?, 'shop.example', "
            "regexp_extract(?, '^https?://[^/]+(/[^?]*)', 1), ?, ?, ?, ?, 'Chrome', 'Windows')",
            [(e, c, s, t, url, url, *rest) for e, c, s, t, url, *rest in PAGEVIEWS],
        )
        _insert(con, "sessions", SESSIONS)
        _insert(con, "funnel_daily", FUNNEL_DAILY)
        _insert(con, "channel_attribution", ATTRIBUTION)
        _insert(con, "retention_weekly", RETENTION)
        _insert(con, "accounts", ACCOUNTS)
        _insert(con, "traffic_hourly", TRAFFIC_HOURLY)
    finally:
        con.close()
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def report(warehouse: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out" / "report.html"
    write_report(warehouse, out)
    return out


# ---------------------------------------------------------------------------- a tiny DOM

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag)
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def by_id(self, element_id: str) -> Node:
        found = self.find_all(id=element_id)
        assert len(found) == 1, f"expected one element with id {element_id!r}, got {len(found)}"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(markup: str) -> Node:
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    return builder.root


def table_rows(dom: Node, table_id: str) -> list[list[Node]]:
    table = dom.by_id(table_id)
    return [row.find_all("td") for row in table.find_all("tr") if row.find_all("td")]


def row_for(dom: Node, table_id: str, first_cell: str) -> list[Node]:
    found = [r for r in table_rows(dom, table_id) if r[0].text().strip() == first_cell]
    assert len(found) == 1, f"{table_id}: expected one row for {first_cell!r}"
    return found[0]


def values(cells: list[Node]) -> list[float | None]:
    return [float(c.attrs["data-value"]) if c.attrs.get("data-value") else None for c in cells]


# ---------------------------------------------------------------------------- tests


def test_kpis_and_tables_hold_the_hand_worked_numbers(warehouse: Path, tmp_path: Path) -> None:
    digest_before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    out = tmp_path / "nested" / "dir" / "report.html"
    summary = write_report(warehouse, out)

    assert summary.out == out and summary.has_data
    assert (summary.visitors, summary.pageviews, summary.sessions) == (5, 9, 6)
    assert (summary.signups, summary.demos, summary.trials, summary.customers) == (3, 2, 1, 1)
    assert summary.warnings == ()
    # Opened read-only: the BI file is untouched.
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == digest_before

    dom = parse(out.read_text(encoding="utf-8"))
    for key, expected in EXPECTED_KPIS.items():
        kpi = dom.by_id(f"kpi-{key}")
        assert kpi.attrs["data-value"] == str(expected), key
        assert kpi.text() == f"{expected:,}", key

    # First-touch channels, summed over cohort days: google had 2 visitors (03-04 and
    # 03-05) of whom one went all the way.
    google = row_for(dom, "table-channels", "google")
    assert values(google[1:]) == [2, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]
    assert google[6].text() == "50%"
    hostile = row_for(dom, "table-channels", CHANNEL_IMG)
    assert values(hostile[1:6]) == [1, 0, 0, 0, 0]
    total = row_for(dom, "table-channels", "Total")
    assert values(total[1:7]) == [5, 3, 2, 1, 1, 0.6]

    # Funnel with median times (seconds) from the first pageview.
    overall = row_for(dom, "table-funnel-channels", "All channels")
    cells = values(overall[1:])
    assert cells[0] == 5
    assert cells[1:4] == [3, 0.6, 7200]  # signups, share, median 2 h
    assert cells[4:7] == [2, 0.4, 86400]  # demos at +24 h
    assert cells[7:10] == [1, 0.2, 172800]  # trial at +48 h
    assert cells[10:13] == [1, 0.2, 604800]  # customer at +7 d
    assert overall[4].text() == "2.0 h" and overall[13].text() == "7.0 d"
    google_funnel = values(row_for(dom, "table-funnel-channels", "google")[1:])
    assert google_funnel[:4] == [2, 1, 0.5, 3600]
    funnel = dom.find_all("svg", data_chart="funnel")[0]
    assert [r.attrs["data-value"] for r in funnel.find_all("rect") if "data-stage" in r.attrs] == [
        "5",
        "3",
        "2",
        "1",
        "1",
    ]

    # Attribution, side by side: p1's customer credit splits between google and direct.
    headers = [th.text() for th in dom.by_id("table-attribution-customer").find_all("th")]
    assert headers == ["Channel", "first touch", "last touch", "linear", "position based"]
    assert values(row_for(dom, "table-attribution-customer", "direct")[1:]) == [0, 1, 0.5, 0.5]
    assert values(row_for(dom, "table-attribution-customer", "google")[1:]) == [1, 0, 0.5, 0.5]
    assert values(row_for(dom, "table-attribution-signup", "Total")[1:]) == [3, 3, 3, 3]

    # Retention heatmaps: one per cohort type, text is the percentage.
    for cohort_type in ("visitor", "user", "customer"):
        assert len(dom.find_all("svg", data_chart=f"retention-{cohort_type}")) == 1
    visitor = dom.find_all("svg", data_chart="retention-visitor")[0]
    cell = visitor.find_all("g", data_cohort_week="2024-03-04", data_weeks_since="1")[0]
    assert float(cell.attrs["data-value"]) == 0.25
    assert cell.find_all("text")[0].text() == "25%"
    user = dom.find_all("svg", data_chart="retention-user")[0]
    assert user.find_all("g", data_weeks_since="1")[0].find_all("text")[0].text() == "33%"

    # Traffic: the daily chart stacks 9 pageviews over 8 days (2024-03-04 .. 03-11).
    daily = dom.find_all("svg", data_chart="traffic-daily-channel-group")[0]
    rects = [r for r in daily.find_all("rect") if "data-value" in r.attrs]
    assert sum(float(r.attrs["data-value"]) for r in rects) == 9
    on_the_5th = {
        r.attrs["data-series"]: r.attrs["data-value"]
        for r in rects
        if r.attrs["data-x"] == "2024-03-05"
    }
    assert on_the_5th == {"Organic Search": "1", "Direct": "1", "Organic Social": "2"}
    by_device = dom.find_all("svg", data_chart="traffic-daily-device-class")[0]
    per_device = {}
    for r in by_device.find_all("rect"):
        if "data-value" in r.attrs:
            series = r.attrs["data-series"]
            per_device[series] = per_device.get(series, 0) + float(r.attrs["data-value"])
    assert per_device == {"desktop": 4, "mobile": 4, "tablet": 1}
    hourly = dom.find_all("svg", data_chart="traffic-hourly-channel-group")[0]
    hourly_total = sum(float(p.attrs["data-value"]) for p in hourly.find_all("polygon"))
    assert hourly_total == 9

    # Landing pages: "/" started s1 (2 pages) and s4 (1 page, a bounce).
    home = row_for(dom, "table-landing-pages", "https://shop.example/")
    assert values(home[1:]) == [2, 2 / 6, 1.5, 0.5]
    # Referrers: www.google.com referred e1 and e6 and was c1's and c3's first touch; e2 and
    # e5 were internal navigation (shop.example, www.shop.example) and are no referral.
    referrers = table_rows(dom, "table-referrers")
    assert values(referrers[0][1:]) == [2, 0.4, 2]
    assert sorted(row[0].text() for row in referrers) == sorted(
        ["www.google.com", "l.facebook.com", HOST_SCRIPT, IMG]
    )
    # Plans.
    assert values(row_for(dom, "table-accounts-plans", "pro")[1:]) == [1, 0.5, 3, 2, 2]


def test_every_chart_and_table_is_named(report: Path) -> None:
    dom = parse(report.read_text(encoding="utf-8"))
    charts = [svg.attrs.get("data-chart") for svg in dom.find_all("svg")]
    assert all(svg.attrs.get("class") == "chart" for svg in dom.find_all("svg"))
    assert set(charts) >= {
        "traffic-hourly-channel-group",
        "traffic-hourly-device-class",
        "traffic-daily-channel-group",
        "traffic-daily-device-class",
        "funnel",
        "attribution-signup",
        "attribution-demo",
        "attribution-trial",
        "attribution-customer",
        "retention-visitor",
        "retention-user",
        "retention-customer",
    }
    assert len(charts) == len(set(charts)), "data-chart names are unique"
    assert all(table.attrs.get("id") for table in dom.find_all("table"))


def test_page_is_self_contained(report: Path) -> None:
    markup = report.read_text(encoding="utf-8")
    dom = parse(markup)
    assert not dom.find_all("script")
    assert not dom.find_all("link")
    assert not dom.find_all("img")
    for node in dom.iter():
        for name in ("src", "href"):
            value = node.attrs.get(name, "")
            assert not value or value.startswith("#"), f"external reference {name}={value!r}"
    assert "http-equiv" in markup and "default-src 'none'" in markup
    assert "@import" not in markup and "url(" not in markup


def test_hostile_strings_are_escaped(report: Path) -> None:
    markup = report.read_text(encoding="utf-8")
    assert SCRIPT not in markup
    assert "<img" not in markup
    assert "<script" not in markup.lower()
    assert 'onerror=alert(1)>"' not in markup
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in markup
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in markup
    # ... and they read back as the original text where they belong.
    dom = parse(markup)
    assert not dom.find_all("img") and not dom.find_all("script")
    referrers = [row[0].text() for row in table_rows(dom, "table-referrers")]
    assert HOST_SCRIPT in referrers and IMG in referrers
    landing = [row[0].text() for row in table_rows(dom, "table-landing-pages")]
    assert URL_SCRIPT in landing and URL_IMG in landing
    assert any(row[0].text() == CHANNEL_IMG for row in table_rows(dom, "table-channels"))


def test_thousands_separators_with_raw_data_values(tmp_path: Path) -> None:
    path = tmp_path / "big.duckdb"
    con = duckdb.connect(str(path))
    con.execute(DDL)
    con.execute(
        "insert into marts.visitors (cookie, first_seen_at, last_seen_at, first_channel) "
        "select 'c' || i, timestamp '2024-03-04' + i * interval 1 minute, "
        "timestamp '2024-03-04' + i * interval 1 minute, 'direct' from range(12345) t(i)"
    )
    con.close()
    summary = write_report(path, tmp_path / "big.html")
    dom = parse((tmp_path / "big.html").read_text(encoding="utf-8"))
    kpi = dom.by_id("kpi-visitors")
    assert (kpi.attrs["data-value"], kpi.text()) == ("12345", "12,345")
    assert dom.by_id("kpi-pageviews").attrs["data-value"] == "0"
    assert summary.visitors == 12345 and summary.has_data


@pytest.mark.parametrize("case", ["missing file", "no marts schema", "empty marts"])
def test_empty_warehouse_gives_the_no_data_page(tmp_path: Path, case: str) -> None:
    path = tmp_path / "warehouse.duckdb"
    if case != "missing file":
        con = duckdb.connect(str(path))
        con.execute("create schema ops; create table ops.quarantine (reason varchar)")
        if case == "empty marts":
            con.execute(DDL)
        con.close()
    out = tmp_path / "report.html"
    summary = write_report(path, out)
    assert not summary.has_data
    assert (summary.visitors, summary.pageviews) == (0, 0)
    assert summary.reason
    dom = parse(out.read_text(encoding="utf-8"))
    notice = dom.by_id("no-data")
    assert "No data yet — run webfunnel run first" in " ".join(notice.text().split())
    assert not dom.find_all("svg")
    if case == "missing file":
        assert not path.exists(), "the report never creates a warehouse"


def test_unwritable_output_raises_report_error(warehouse: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ReportError, match="cannot write the report to"):
        write_report(warehouse, blocker / "report.html")
    with pytest.raises(ReportError, match="cannot write the report to"):
        write_report(warehouse, tmp_path)  # a directory, not a file
    assert not list(tmp_path.glob(".*report*")), "no temporary file left behind"


def test_unreadable_warehouse_raises_report_error(tmp_path: Path) -> None:
    bogus = tmp_path / "warehouse.duckdb"
    bogus.write_text("this is not a DuckDB file")
    with pytest.raises(ReportError, match="cannot open the warehouse"):
        write_report(bogus, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_partial_marts_render_with_a_warning(tmp_path: Path) -> None:
    """A pipeline half-built (some marts missing) still gets a dashboard, with the gaps named."""
    path = build_warehouse(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(path))
    con.execute("drop table marts.channel_attribution; alter table marts.accounts drop logins")
    con.close()
    summary = write_report(path, tmp_path / "report.html")
    assert summary.has_data and summary.visitors == 5
    assert summary.warnings == (
        "marts.channel_attribution does not exist yet",
        "marts.accounts lacks column(s) logins",
    )
    dom = parse((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert "channel_attribution does not exist yet" in dom.by_id("attribution").text()
    assert dom.by_id("kpi-accounts").attrs["data-value"] == "0"


def test_the_command_names_the_gaps_on_stderr(tmp_path: Path) -> None:
    """`webfunnel report` on a half-built warehouse: exit 0, the page written, and each gap
    one line on stderr, where a scheduled run's log shows it."""
    from tests.conftest import webfunnel

    path = build_warehouse(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(path))
    con.execute("drop table marts.channel_attribution")
    con.close()
    out = tmp_path / "report.html"
    result = webfunnel("report", "--out", str(out), "--warehouse", str(path))
    assert result.stdout.strip() == f"dashboard written to {out}"
    assert result.stderr.strip().splitlines() == [
        "webfunnel: warning: marts.channel_attribution does not exist yet"
    ]


# ---------------------------------------------------------------------------- Chromium

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
]


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(
            f"{CHROMIUM} is missing but CI is set: install it with "
            "`apt-get install -y chromium chromium-driver`"
        )
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")


class DevTools:
    """Just enough of the Chrome DevTools protocol: commands, and the events they interleave."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.events: list[dict] = []
        self._next = 0

    def call(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        self._next += 1
        self.ws.send(json.dumps({"id": self._next, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if message.get("id") == self._next:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.events:
                if message.get("method") == event:
                    return message
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self.events.append(message)

    def errors(self) -> list[str]:
        found = []
        for message in self.events:
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.exceptionThrown":
                # the message first: the details' JSON starts with the page URL, whose length
                # depends on where the test runs
                details = params["exceptionDetails"]
                thrown = (details.get("exception") or {}).get("description") or ""
                found.append(f"{details.get('text', '')} {thrown}".strip()[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", "")[:500])
        return found


def _launch(user_data_dir: Path, log: Path) -> tuple[subprocess.Popen, int]:
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [
                str(CHROMIUM),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={user_data_dir}",
                "--remote-debugging-port=0",
                "--window-size=1400,3000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    port_file = user_data_dir / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_file.exists():
            lines = port_file.read_text().split()
            if lines:
                return proc, int(lines[0])
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"Chromium did not open DevTools; its log:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


DOM_FACTS = """
JSON.stringify({
  charts: Array.from(document.querySelectorAll('svg.chart')).map(svg => {
    const box = svg.getBoundingClientRect();
    return [svg.dataset.chart, Math.round(box.width), Math.round(box.height)];
  }),
  kpis: Object.fromEntries(Array.from(document.querySelectorAll('[id^="kpi-"]'))
    .map(el => [el.id.slice(4), [el.textContent, el.dataset.value]])),
  images: document.querySelectorAll('img').length,
  scripts: document.querySelectorAll('script').length,
  onerror: document.querySelectorAll('[onerror]').length,
  alerts: window.__alerted || 0,
  referrers: Array.from(document.querySelectorAll('#table-referrers tbody tr td:first-child'))
    .map(td => td.textContent),
  landing: Array.from(document.querySelectorAll('#table-landing-pages tbody tr td:first-child'))
    .map(td => td.textContent),
  channels: Array.from(document.querySelectorAll('#table-channels tbody tr td:first-child'))
    .map(td => td.textContent),
  height: document.documentElement.scrollHeight,
  text: document.body.innerText,
})
"""


def _open_in_chromium(page_url: str, tmp_path: Path) -> tuple[dict, list[str], bytes]:
    """Load ``page_url`` in headless Chromium over DevTools: DOM facts, console errors, PNG."""
    _need_chromium()
    try:
        from websockets.sync.client import connect
    except ImportError:  # pragma: no cover - depends on the environment
        if os.environ.get("CI"):
            pytest.fail("the DevTools client needs the `websockets` package (dev dependency)")
        pytest.skip("the DevTools client needs the `websockets` package")
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc, port = _launch(tmp_path / "profile", tmp_path / "chromium.log")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            devtools = DevTools(ws)
            for domain in ("Page", "Runtime", "Log"):
                devtools.call(f"{domain}.enable")
            # An alert() that ran would be counted; none may.
            devtools.call(
                "Page.addScriptToEvaluateOnNewDocument",
                {"source": "window.alert = () => { window.__alerted = (window.__alerted||0)+1 };"},
            )
            devtools.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1400, "height": 3000, "deviceScaleFactor": 1, "mobile": False},
            )
            devtools.events.clear()
            devtools.call("Page.navigate", {"url": page_url})
            devtools.wait_for("Page.loadEventFired")
            facts = json.loads(
                devtools.call("Runtime.evaluate", {"expression": DOM_FACTS, "returnByValue": True})[
                    "result"
                ]["value"]
            )
            height = min(max(facts["height"], 800), 16000)  # the whole page, one picture
            devtools.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1400, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            shot = devtools.call("Page.captureScreenshot", {"format": "png"}, timeout=60)
            return facts, devtools.errors(), base64.b64decode(shot["data"])
    finally:
        _stop(proc)


def test_chromium_renders_the_report(report: Path, tmp_path: Path) -> None:
    facts, errors, png_bytes = _open_in_chromium(report.as_uri(), tmp_path)

    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "report.png"
    png.write_bytes(png_bytes)
    assert png_bytes[:8] == b"\x89PNG\r\n\x1a\n" and len(png_bytes) > 20_000

    assert errors == [], f"console errors in Chromium: {errors}"
    charts = {name: (w, h) for name, w, h in facts["charts"]}
    assert len(charts) >= 12
    assert all(w > 100 and h > 40 for w, h in charts.values()), charts
    assert facts["kpis"] == {k: [f"{v:,}", str(v)] for k, v in EXPECTED_KPIS.items()}
    assert (facts["images"], facts["scripts"], facts["onerror"], facts["alerts"]) == (0, 0, 0, 0)
    assert HOST_SCRIPT in facts["referrers"] and IMG in facts["referrers"]
    assert URL_SCRIPT in facts["landing"] and URL_IMG in facts["landing"]
    assert CHANNEL_IMG in facts["channels"]


def test_chromium_no_data_page_renders_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    write_report(tmp_path / "missing.duckdb", out)
    facts, errors, png_bytes = _open_in_chromium(out.as_uri(), tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-no-data.png").write_bytes(png_bytes)
    assert errors == []
    assert facts["charts"] == [] and facts["kpis"] == {}
    assert "No data yet" in facts["text"]


def test_the_browser_checks_can_fail(tmp_path: Path) -> None:
    """A control: a page with a console error and an injected <img> is caught by both routes."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><body><p>x</p><img src="x" onerror="alert(1)">'
        '<script>console.error("bad thing"); throw new Error("boom")</script></body></html>'
    )
    facts, errors, _ = _open_in_chromium(bad.as_uri(), tmp_path / "devtools")
    assert any("bad thing" in e for e in errors) and any("boom" in e for e in errors)
    assert facts["images"] == 1 and facts["alerts"] == 1
    # From the command line an alert() would block the page (a failure by timeout), so the
    # control there is the console error alone.
    noisy = tmp_path / "noisy.html"
    noisy.write_text('<p>x</p><script>console.error("bad thing"); throw new Error("boom")</script>')
    _, stderr = _chromium_command_line(noisy.as_uri(), tmp_path / "cli", "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in _console_lines(stderr)), stderr[-2000:]


def _chromium_command_line(page_url: str, profile: Path, *extra: str) -> tuple[str, str]:
    """Run Chromium once from the command line; console messages are logged to stderr."""
    _need_chromium()
    done = subprocess.run(
        [
            str(CHROMIUM),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1400,3000",
            "--enable-logging=stderr",
            "--v=0",
            *extra,
            page_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, done.stderr


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_chromium_command_line_dump_dom_and_screenshot(report: Path, tmp_path: Path) -> None:
    """The plain command-line route (no DevTools client): what a person would run by hand."""
    _need_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "report-cli.png"
    png.unlink(missing_ok=True)
    dom_text, dump_log = _chromium_command_line(report.as_uri(), tmp_path / "p1", "--dump-dom")
    _, shot_log = _chromium_command_line(report.as_uri(), tmp_path / "p2", f"--screenshot={png}")

    assert _console_lines(dump_log + shot_log) == []
    dom = parse(dom_text)
    assert len(dom.find_all("svg")) >= 12
    assert all(svg.attrs.get("class") == "chart" for svg in dom.find_all("svg"))
    for key, expected in EXPECTED_KPIS.items():
        assert dom.by_id(f"kpi-{key}").text() == f"{expected:,}"
    assert not dom.find_all("img") and not dom.find_all("script")
    assert HOST_SCRIPT in [row[0].text() for row in table_rows(dom, "table-referrers")]
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"

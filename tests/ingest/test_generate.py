"""Tests of the synthetic landing data (ingest/generate.py) against CONTRACT §1.

The checks re-derive everything from the files on disk with the contract's own rules, so they
also document what the loader will meet: which rows are bad, which are redelivered, which files
are broken.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ua_parser

from ingest.generate import (
    CRAWLER_USER_AGENTS,
    HUMAN_USER_AGENTS,
    GenerateSummary,
    generate,
)

START = date(2024, 6, 3)  # a Monday
DAYS = 10
VISITORS = 2500
SOURCES = ("pings", "signups", "crm", "accounts")
REQUIRED = {
    "pings": {
        "event_id": "string",
        "created_at": "timestamp",
        "cookie": "string",
        "url": "string",
        "referrer": "string",
        "user_agent": "string",
    },
    "signups": {
        "event_id": "string",
        "created_at": "timestamp",
        "cookie": "string",
        "email": "string",
        "referring_channel": "string",
    },
    "crm": {
        "email": "string",
        "demo_at": "timestamp",
        "trial_at": "timestamp",
        "customer_at": "timestamp",
        "updated_at": "timestamp",
    },
    "accounts": {
        "event_id": "string",
        "created_at": "timestamp",
        "cookie": "string",
        "account_id": "string",
        "email": "string",
        "event_type": "string",
        "plan": "string",
    },
}
LAYOUT = re.compile(
    r"^(pings|signups|crm|accounts)/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/[^/]+\.parquet$"
)
SITE = re.compile(r"^https://(www\.)?webfunnel-demo\.com/")


# --------------------------------------------------------------------------- reading back


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _partition_start(path: Path) -> datetime:
    day = path.parent.parent.name.removeprefix("date=")
    hour = int(path.parent.name.removeprefix("hour="))
    return datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=hour)


def _read(path: Path) -> pa.Table | None:
    """The file's table, or None if a loader must reject it whole."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError):
        return None
    source = path.parts[-4]
    if not set(REQUIRED[source]) <= set(table.column_names):
        return None
    return table


def _utc(series: pd.Series) -> pd.Series:
    """Timestamps as tz-aware UTC whatever the Parquet type said."""
    if series.dt.tz is None:
        return series.dt.tz_localize("UTC")
    return series.dt.tz_convert("UTC")


def _empty(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.len() == 0)


def _bad_row_mask(source: str, frame: pd.DataFrame, hour_start: datetime) -> pd.Series:
    """CONTRACT §1 bad rows: empty event_id/cookie/email, null created_at, created_at
    outside the partition's hour."""
    bad = pd.Series(False, index=frame.index)
    for column in ("event_id", "cookie", "email"):
        if column in frame:
            bad |= _empty(frame[column])
    if "created_at" in frame:
        created = _utc(frame["created_at"])
        start = pd.Timestamp(hour_start)
        bad |= created.isna() | (created < start) | (created >= start + pd.Timedelta(hours=1))
    return bad


class Landing:
    """Everything a loader would see, classified by the contract's rules."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = _files(root)
        self.rejected_files: list[Path] = []
        self.frames: dict[str, list[pd.DataFrame]] = {s: [] for s in SOURCES}
        self.bad: dict[str, int] = dict.fromkeys(SOURCES, 0)
        for path in self.files:
            source = path.relative_to(root).parts[0]
            table = _read(path)
            if table is None:
                self.rejected_files.append(path)
                continue
            frame = table.to_pandas()
            for column, kind in REQUIRED[source].items():
                if kind == "timestamp":
                    frame[column] = _utc(frame[column])
            frame["_file"] = str(path.relative_to(root))
            frame["_hour"] = pd.Timestamp(_partition_start(path))
            bad = _bad_row_mask(source, frame, _partition_start(path))
            self.bad[source] += int(bad.sum())
            self.frames[source].append(frame[~bad])

    def rows(self, source: str) -> pd.DataFrame:
        return pd.concat(self.frames[source], ignore_index=True)

    def key(self, source: str) -> list[str]:
        return ["email", "updated_at"] if source == "crm" else ["event_id"]


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateSummary, Landing]:
    root = tmp_path_factory.mktemp("landing")
    summary = generate(root, START, DAYS, VISITORS, seed=7)
    return summary, Landing(root)


# --------------------------------------------------------------------------- tests


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(tmp_path / name, START, 2, 400, seed=seed)
        runs[name] = {
            str(p.relative_to(tmp_path / name)): p.read_bytes() for p in _files(tmp_path / name)
        }
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


@pytest.mark.parametrize(("visitors", "days"), [(1, 1), (10, 1), (60, 3)])
def test_tiny_runs_still_deliver_every_imperfection(
    tmp_path: Path, visitors: int, days: int
) -> None:
    summary = generate(tmp_path, START, days, visitors, seed=1)
    landing = Landing(tmp_path)
    assert summary.files == len(landing.files)
    assert summary.bad_files == len(landing.rejected_files) == 2
    assert summary.bad_rows == sum(landing.bad.values()) == 20
    rows = {s: landing.rows(s) for s in SOURCES}
    assert summary.pings == rows["pings"]["event_id"].nunique() > 0
    assert summary.signups == rows["signups"]["event_id"].nunique() > 0
    assert summary.account_events == rows["accounts"]["event_id"].nunique() > 0
    assert summary.crm_rows == len(rows["crm"].drop_duplicates(["email", "updated_at"]))
    dupes = sum(len(rows[s]) - len(rows[s].drop_duplicates(landing.key(s))) for s in SOURCES)
    assert summary.duplicate_rows == dupes > 0
    assert any(p.name == "late-0001.parquet" for p in landing.files)


def test_rejects_nonsense_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, START, 0, 100)
    with pytest.raises(ValueError):
        generate(tmp_path, START, 1, 0)


def test_layout_dates_and_schema(landed: tuple[GenerateSummary, Landing]) -> None:
    summary, landing = landed
    assert summary.files == len(landing.files)
    first, last = START, START + timedelta(days=DAYS - 1)
    tz_kinds = Counter()
    for path in landing.files:
        rel = path.relative_to(landing.root).as_posix()
        match = LAYOUT.match(rel)
        assert match, rel
        assert first <= date.fromisoformat(match.group(2)) <= last, rel
        assert 0 <= int(match.group(3)) <= 23
        table = _read(path)
        if table is None:
            continue
        source = match.group(1)
        for column, kind in REQUIRED[source].items():
            typ = table.schema.field(column).type
            if kind == "string":
                assert typ == pa.string(), (rel, column, typ)
            else:
                assert pa.types.is_timestamp(typ) and typ.unit == "us", (rel, column, typ)
                assert typ.tz in (None, "UTC"), (rel, column, typ)
                tz_kinds[source, typ.tz] += 1
    for source in SOURCES:  # most files tz-naive UTC, a few tz-aware: both forms exercised
        assert tz_kinds[source, None] > tz_kinds[source, "UTC"] > 0, (source, tz_kinds)
    ping_files = [p for p in landing.files if p.parts[-4] == "pings" and _read(p) is not None]
    assert all("collector_version" in pq.read_schema(p).names for p in ping_files)


def test_summary_matches_what_is_on_disk(landed: tuple[GenerateSummary, Landing]) -> None:
    summary, landing = landed
    assert summary.bad_files == len(landing.rejected_files) == 2
    # bad rows per source, as the generator promises: 7 pings, 6 signups, 2 crm, 5 accounts
    assert landing.bad == {"pings": 7, "signups": 6, "crm": 2, "accounts": 5}
    assert summary.bad_rows == 20
    counts, duplicates = {}, 0
    for source in SOURCES:
        rows = landing.rows(source)
        distinct = rows.drop_duplicates(landing.key(source))
        counts[source] = len(distinct)
        duplicates += len(rows) - len(distinct)
    assert counts == {
        "pings": summary.pings,
        "signups": summary.signups,
        "crm": summary.crm_rows,
        "accounts": summary.account_events,
    }
    assert summary.duplicate_rows == duplicates > 0
    assert summary.pings > 20 * summary.signups > 0


def test_valid_rows_lie_in_their_partition_hour(landed: tuple[GenerateSummary, Landing]) -> None:
    _, landing = landed
    for source in ("pings", "signups", "accounts"):
        rows = landing.rows(source)
        offset = rows["created_at"] - rows["_hour"]
        assert offset.between(pd.Timedelta(0), pd.Timedelta(hours=1), inclusive="left").all()
    crm = landing.rows("crm")
    # an export holds states as of times before it was written
    assert (crm["updated_at"] < crm["_hour"] + pd.Timedelta(hours=1)).all()


def test_event_ids_unique_and_uuid_like(landed: tuple[GenerateSummary, Landing]) -> None:
    _, landing = landed
    uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    ids = pd.concat(
        [landing.rows(s).drop_duplicates("event_id")["event_id"] for s in ("pings", "signups")]
    )
    assert ids.is_unique
    assert ids.str.match(uuid).all()
    cookies = landing.rows("pings")["cookie"]
    assert cookies.str.fullmatch(r"[0-9a-f]{16}").all()


def test_each_imperfection_is_present(landed: tuple[GenerateSummary, Landing]) -> None:
    _, landing = landed
    names = Counter(p.parts[-4] + "/" + p.name.split("-")[0] for p in landing.files)
    by_name = {p.name: p for p in landing.files if p.parts[-4] == "pings"}

    # one file that is not Parquet at all, one Parquet file without the cookie column
    broken, nocookie = by_name["broken-0001.parquet"], by_name["nocookie-0001.parquet"]
    assert not broken.read_bytes().startswith(b"PAR1")
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(broken)
    nocookie_table = pq.read_table(nocookie)
    assert "cookie" not in nocookie_table.column_names and nocookie_table.num_rows > 0
    assert sorted(landing.rejected_files) == sorted([broken, nocookie])

    # one late file, in an hour folder that also has regular files; its pings are that
    # hour's and nowhere else
    assert names["pings/late"] == 1
    late = by_name["late-0001.parquet"]
    assert (late.parent / "part-0.parquet").exists()
    pings = landing.rows("pings")
    late_rows = pings[pings["_file"] == str(late.relative_to(landing.root))]
    assert len(late_rows) > 0
    others = pings[pings["_file"] != str(late.relative_to(landing.root))]
    assert not late_rows["event_id"].isin(others["event_id"]).any()

    # redelivery: every source has a second file repeating rows of another file of the same
    # hour folder, identical in every contract column
    for source in SOURCES:
        assert names[f"{source}/redelivery"] >= 1, source
        rows = landing.rows(source)
        key = landing.key(source)
        again = rows[rows["_file"].str.contains("/redelivery-")]
        first = rows[~rows["_file"].str.contains("/redelivery-")]
        merged = again.merge(first, on=key, suffixes=("", "_orig"))
        assert len(merged) == len(again) > 0
        assert (merged["_hour"] == merged["_hour_orig"]).all()
        for column in REQUIRED[source]:
            if column in key:
                continue
            same = (merged[column] == merged[f"{column}_orig"]) | (
                merged[column].isna() & merged[f"{column}_orig"].isna()
            )
            assert same.all(), (source, column)
        assert (merged["_file"] != merged["_file_orig"]).all()


def test_crawlers_are_a_few_percent_with_their_own_cookies(
    landed: tuple[GenerateSummary, Landing],
) -> None:
    _, landing = landed
    pings = landing.rows("pings").drop_duplicates("event_id")
    agents = pings["user_agent"].dropna().unique()
    device = {ua: ua_parser.parse(ua).device for ua in agents}
    spiders = {ua for ua, dev in device.items() if dev is not None and dev.family == "Spider"}
    is_bot = pings["user_agent"].isin(spiders)
    share = is_bot.mean()
    assert 0.03 <= share <= 0.05, share
    # a visitor keeps one user agent, and crawler cookies are never used by a browser
    per_cookie = pings.groupby("cookie")["user_agent"].nunique(dropna=False)
    assert (per_cookie == 1).all()
    assert not set(pings.loc[is_bot, "cookie"]) & set(pings.loc[~is_bot, "cookie"])
    # some pings come without a User-Agent header
    assert 0 < pings["user_agent"].isna().mean() < 0.03


def test_user_agent_list_is_genuine() -> None:
    families = {ua: ua_parser.parse(ua) for ua, _ in HUMAN_USER_AGENTS + CRAWLER_USER_AGENTS}
    for ua, _ in CRAWLER_USER_AGENTS:
        assert families[ua].device.family == "Spider", ua
    human = [families[ua] for ua, _ in HUMAN_USER_AGENTS]
    assert all(r.device is None or r.device.family != "Spider" for r in human)
    oses = {r.os.family for r in human if r.os}
    assert {"Windows", "Mac OS X", "Linux", "iOS", "Android"} <= oses
    devices = {r.device.family for r in human if r.device}
    assert {"iPhone", "iPad", "SM-T870"} <= devices
    assert len(HUMAN_USER_AGENTS) + len(CRAWLER_USER_AGENTS) >= 30


def test_visits_look_like_a_website(landed: tuple[GenerateSummary, Landing]) -> None:
    _, landing = landed
    pings = landing.rows("pings").drop_duplicates("event_id")
    pings = pings.sort_values(["cookie", "created_at", "event_id"])
    # pages of the site's own host, internal navigation with the site as referrer
    assert pings["url"].str.match(SITE).all()
    internal = pings["referrer"].fillna("").str.match(SITE)
    assert 0.4 < internal.mean() < 0.9
    for prefix in ("/pricing", "/blog/", "/docs/", "/signup"):
        assert pings["url"].str.contains("webfunnel-demo.com" + prefix, regex=False).any()
    # landing channels
    referrers = set(pings["referrer"].dropna())
    hosts = {re.sub(r"^https://([^/]+)/.*$", r"\1", r) for r in referrers if r}
    for host in (
        "t.co x.com twitter.com l.facebook.com m.facebook.com www.youtube.com youtu.be "
        "m.youtube.com www.google.com www.google.co.uk www.google.de www.google.com.au "
        "www.bing.com duckduckgo.com www.linkedin.com lnkd.in someblog.example.org"
    ).split():
        assert host in hosts, host
    assert "" in referrers and pings["referrer"].isna().any()  # direct, both spellings
    for utm in (
        "utm_source=newsletter&utm_medium=email",
        "utm_source=fb&utm_medium=paid_social",
        "utm_source=google&utm_medium=cpc",
        "utm_source=Twitter",
    ):
        assert pings["url"].str.contains(utm, regex=False).any(), utm
    # sessions: returns within 30 minutes, after hours, after days; some cross midnight
    gap = pings.groupby("cookie")["created_at"].diff().dropna()
    visits_per_cookie = pings.groupby("cookie").size()
    assert (visits_per_cookie > 1).mean() > 0.5
    assert (gap.between(pd.Timedelta(minutes=5), pd.Timedelta(minutes=30))).sum() > 50
    assert (gap > pd.Timedelta(hours=3)).sum() > 100
    assert (gap > pd.Timedelta(days=1)).sum() > 100
    prev = pings.groupby("cookie")["created_at"].shift()
    crosses = (prev.dt.date != pings["created_at"].dt.date) & (
        pings["created_at"] - prev <= pd.Timedelta(minutes=30)
    )
    assert crosses.sum() > 0
    # a daily rhythm: the busiest UTC hour has several times the traffic of the quietest
    by_hour = pings["created_at"].dt.hour.value_counts()
    assert by_hour.max() > 2.5 * by_hour.min()


def test_signups_follow_a_signup_pageview_and_emails_are_messy(
    landed: tuple[GenerateSummary, Landing],
) -> None:
    summary, landing = landed
    pings = landing.rows("pings").drop_duplicates("event_id")
    signups = landing.rows("signups").drop_duplicates("event_id")
    visitors = pings["cookie"].nunique()
    assert 0.04 < len(signups) / visitors < 0.1
    # each signup comes seconds after its cookie's /signup pageview, in the same hour
    views = pings[pings["url"].str.contains("/signup", regex=False)][["cookie", "created_at"]]
    joined = signups.merge(views, on="cookie", suffixes=("", "_view"))
    lag = joined["created_at"] - joined["created_at_view"]
    joined = joined[(lag >= pd.Timedelta(0)) & (lag <= pd.Timedelta(seconds=40))]
    assert set(joined["event_id"]) == set(signups["event_id"])
    assert (joined["created_at"].dt.floor("h") == joined["created_at_view"].dt.floor("h")).all()
    # emails as typed
    emails = signups["email"]
    assert (emails != emails.str.strip()).any()
    assert (emails.str.strip() != emails.str.strip().str.lower()).any()
    assert emails.str.strip().str.lower().str.fullmatch(r"[a-z0-9._+]+@[a-z0-9.-]+\.[a-z]+").all()
    assert signups["referring_channel"].isna().any() and signups["referring_channel"].notna().any()
    # some people sign up again, later, from another cookie and spelled differently
    signups["person"] = emails.str.strip().str.lower()
    twice = signups.sort_values("created_at").groupby("person")
    again = twice.filter(lambda g: len(g) > 1)
    assert again["person"].nunique() >= 1
    for _, g in again.groupby("person"):
        assert g["cookie"].nunique() == len(g)
        assert g["email"].str.strip().nunique() == len(g)
    assert summary.signups == len(signups)


def test_crm_exports_progress_and_correct(landed: tuple[GenerateSummary, Landing]) -> None:
    _, landing = landed
    crm = landing.rows("crm").drop_duplicates(["email", "updated_at"])
    crm["person"] = crm["email"].str.strip().str.lower()
    assert (crm["email"] != crm["person"]).any()  # case and spaces vary
    exports = crm.groupby("person")["_file"].nunique()
    assert (exports > 1).sum() > 10  # contacts appear in many exports
    # stages keep their order when present
    both = crm.dropna(subset=["demo_at", "trial_at"])
    assert (both["demo_at"] < both["trial_at"]).all()
    assert crm["customer_at"].notna().any()
    assert (crm["customer_at"].notna() & crm["trial_at"].isna()).any()  # customer, no trial
    # a later export takes a stage back (demo_at back to null)
    crm = crm.sort_values(["person", "updated_at"])
    had_demo = crm.groupby("person")["demo_at"].transform(lambda s: s.notna().cummax())
    assert (had_demo & crm["demo_at"].isna()).any()
    # some contacts never signed up
    signed_up = set(landing.rows("signups")["email"].str.strip().str.lower())
    assert not set(crm["person"]) <= signed_up
    # one export per file, each file in the hour it was written
    assert crm["_file"].str.match(r"crm/date=.*/hour=\d\d/export-\d{8}T\d{6}\.parquet").all()


def test_accounts_logins_and_plans(landed: tuple[GenerateSummary, Landing]) -> None:
    _, landing = landed
    events = landing.rows("accounts").drop_duplicates("event_id")
    assert set(events["event_type"]) == {"login", "plan_change"}
    assert events["account_id"].str.fullmatch(r"acc_\d{6}").all()
    assert set(events["plan"]) <= {"free", "starter", "pro", "enterprise"}
    assert {"free", "starter", "pro"} <= set(events["plan"])
    # one email per account, the address of a person who signed up
    assert (events.groupby("account_id")["email"].nunique() == 1).all()
    signed_up = set(landing.rows("signups")["email"].str.strip().str.lower())
    assert set(events["email"].str.lower()) <= signed_up
    # the plan on a login is the plan after the latest plan change before it
    events = events.sort_values(["account_id", "created_at", "event_type"], ascending=[1, 1, 0])
    current = events["plan"].where(events["event_type"] == "plan_change")
    current = current.groupby(events["account_id"]).ffill()
    logins = events["event_type"] == "login"
    assert logins.sum() > 50
    assert (events.loc[logins, "plan"] == current[logins]).all()
    # every account starts on the free plan
    first = events.groupby("account_id").head(1)
    assert (first["event_type"] == "plan_change").all() and (first["plan"] == "free").all()
    # logins come with a /login pageview of the same cookie; some from a second device whose
    # cookie never signed up but does show up in pings
    pings = landing.rows("pings")
    login_views = pings[pings["url"].str.endswith("/login")]
    assert set(events.loc[logins, "cookie"]) <= set(login_views["cookie"])
    signup_cookies = set(landing.rows("signups")["cookie"])
    other_devices = set(events.loc[logins, "cookie"]) - signup_cookies
    assert other_devices and other_devices <= set(pings["cookie"])

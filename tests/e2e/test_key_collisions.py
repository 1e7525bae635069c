"""The per-cookie models find a changed cookie's rows by its lookup key (macro cookie_key),
and the staging models an event's stored delivery by its (macro event_key): 64 bits of an
MD5 each. Cookies or events that share a key must cost work, never a wrong row: with both
keys narrowed to 2 bits (4 keys for every cookie, 4 for every event), incremental runs with
late files and redeliveries still give exactly the marts of one full run with the normal
keys."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.generate import generate
from tests.conftest import read_marts, webfunnel

KEY = "cookie_key"

LOGIN = Path("accounts/date=2026-11-10/hour=09/login.parquet")


def _land_a_lone_login(source: Path, first: list[Path], later: list[Path]) -> None:
    """A login, a week later, from a cookie whose pings all arrive in the first run: the
    cookie's only activity that week. Later runs recompute the cookie only because its
    key collides with a changed one, and must read its logins by key as well."""

    def cookies(files: list[Path]) -> set[str]:
        found = set()
        for file in files:
            if file.parts[0] != "pings" or file.name.startswith("broken-"):
                continue
            table = pq.read_table(source / file)
            if "cookie" in table.column_names:  # one file lacks the column, on purpose
                found |= set(table["cookie"].to_pylist())
        return found

    cookie = min(c for c in cookies(first) - cookies(later) if c and c.strip())
    (source / LOGIN).parent.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "event_id": ["lone-login"],
                "created_at": pa.array([datetime(2026, 11, 10, 9, 30)], pa.timestamp("us")),
                "cookie": [cookie],
                "account_id": ["acc_lone"],
                "email": ["lone@example.com"],
                "event_type": ["login"],
                "plan": pa.array([None], pa.string()),
                "app_version": ["1.0.0"],
            }
        ),
        source / LOGIN,
    )


def _marts_without_keys(warehouse: Path) -> dict[str, list[tuple]]:
    """Every mart as read_marts reads it, less the cookie keys (their width differs)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        marts = {}
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall():
            columns = [row[0] for row in con.execute(f"describe marts.{name}").fetchall()]
            select = f"* exclude ({KEY})" if KEY in columns else "*"
            marts[name] = con.execute(f"select {select} from marts.{name} order by all").fetchall()
        return marts
    finally:
        con.close()


def _stored_keys(work: Path) -> tuple[int, int, int, int, str]:
    """Distinct cookie keys and cookies of the sessionized rows, distinct event keys and
    event ids of the staged page views, and the last build's project fingerprint."""
    con = duckdb.connect(str(work), read_only=True)
    try:
        keys, cookies = con.execute(
            "select count(distinct cookie_key), count(distinct cookie) "
            "from intermediate.int_pageviews_sessionized"
        ).fetchone()
        event_keys, events = con.execute(
            "select count(distinct event_key), count(distinct event_id) "
            "from staging.stg_pings__pageviews"
        ).fetchone()
        (fingerprint,) = con.execute(
            "select project_fingerprint from ops.build_state order by built_at desc limit 1"
        ).fetchone()
        return keys, cookies, event_keys, events, fingerprint
    finally:
        con.close()


def test_colliding_keys_keep_the_incremental_marts_exact(tmp_path):
    source = tmp_path / "generated"
    generate(source, date(2026, 11, 2), 2, 120, seed=5)
    files = sorted(p.relative_to(source) for p in source.rglob("*.parquet"))
    # every third file of the first day arrives late, after the second day: sessions,
    # first touches and cohorts built in the first runs have to change
    held = [f for i, f in enumerate(files) if "date=2026-11-02" in str(f) and i % 3 == 0]
    waves = [
        [f for f in files if "date=2026-11-02" in str(f) and f not in held],
        [f for f in files if "date=2026-11-03" in str(f)],
        held,
    ]
    _land_a_lone_login(source, waves[0], waves[1] + waves[2])
    waves[0].append(LOGIN)

    full = tmp_path / "full.duckdb"
    webfunnel("run", "--quiet", "--landing", str(source), "--warehouse", str(full))
    expected = read_marts(full)
    lone = [row for row in expected["accounts"] if row[0] == "acc_lone"]
    assert len(lone) == 1 and lone[0][4] == 1  # the lone login landed: one login
    landing, warehouse = tmp_path / "landing", tmp_path / "incremental.duckdb"
    for wave in waves:
        for file in wave:
            (landing / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / file, landing / file)
        webfunnel(
            "run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse),
            env={"WEBFUNNEL_COOKIE_KEY_BITS": "2", "WEBFUNNEL_EVENT_KEY_BITS": "2"},
        )  # fmt: skip
    assert _marts_without_keys(warehouse) == _marts_without_keys(full)

    # the collisions happened: 4 keys for all the cookies, in the stored rows and in the
    # last run's changed cookies (so each changed cookie's key brought others with it); and
    # 4 keys for all the events: each late file's delete of replaced deliveries matched, by
    # key, every stored event of the partitions after it
    work = tmp_path / "incremental.work.duckdb"
    keys, cookies, event_keys, events, fingerprint = _stored_keys(work)
    con = duckdb.connect(str(work), read_only=True)
    try:
        changed_keys, changed = con.execute(
            "select count(distinct cookie_key), count(*) from intermediate.int_cookies_changed"
        ).fetchone()
    finally:
        con.close()
    assert keys == 4 and cookies > 100
    assert changed_keys <= 4 < changed
    assert event_keys == 4 and events > 100

    # the key widths are part of the project fingerprint: the normal keys on the same
    # warehouse rebuild every stored key (a full refresh), and the marts stay the same
    webfunnel("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    keys, cookies, event_keys, events, refreshed = _stored_keys(work)
    assert refreshed != fingerprint
    assert keys == cookies and event_keys == events
    assert read_marts(warehouse) == expected

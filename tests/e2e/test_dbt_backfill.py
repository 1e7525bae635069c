"""Backfills with dbt itself: plain `dbt build` from the project root, and the documented
window command, which restores damaged marts exactly and equals `webfunnel backfill`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from ingest.config import work_db_for
from tests.conftest import read_marts, webfunnel

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).parent / "dbt")
WINDOW = '{backfill_start: "2026-11-03", backfill_end: "2026-11-04"}'


def dbt(*args: str, warehouse: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WEBFUNNEL_WAREHOUSE": str(warehouse)}
    env.pop("WEBFUNNEL_WORK_DB", None)
    result = subprocess.run(
        [DBT, *args, "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    return result


def test_dbt_window_backfill_restores_a_damaged_day(handmade_reference, tmp_path):
    landing_source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(landing_source, landing)
    args = ("--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    webfunnel("run", *args)
    work = work_db_for(warehouse)

    con = duckdb.connect(str(work))
    try:
        day = "created_at >= '2026-11-03' and created_at < '2026-11-04'"
        # marts.pageviews is a view of the sessionized rows on DuckDB: damaged through them
        con.execute(f"delete from intermediate.int_pageviews_sessionized where {day}")
        con.execute(
            "delete from marts.traffic_hourly where hour >= '2026-11-03' and hour < '2026-11-04'"
        )
        con.execute(
            "update marts.sessions set pageviews = 0 "
            "where started_at >= '2026-11-03' and started_at < '2026-11-04'"
        )
        con.execute("update marts.visitors set pageviews = 999 where cookie = 'c_carol'")
        con.execute(
            "delete from marts.funnel_daily "
            "where cohort_date = '2026-11-02' and first_channel = 'google'"
        )
    finally:
        con.close()
    damaged = read_marts(work)
    assert damaged["pageviews"] != expected["pageviews"]

    # the documented command: plain dbt from the project root, profiles.yml found there
    dbt("build", "--vars", WINDOW, warehouse=warehouse, tmp_path=tmp_path)
    restored = read_marts(work)
    assert restored == expected
    # every row of another day was already right and is still the same
    created_at = 4  # event_id, cookie, cookie_key, session_id, created_at
    other_days = [
        row for row in damaged["pageviews"] if row[created_at].date().isoformat() != "2026-11-03"
    ]
    assert set(other_days) <= set(restored["pageviews"])

    # webfunnel backfill over the same window uses the same mechanism and gives the same marts
    webfunnel("backfill", "--start", "2026-11-03", "--end", "2026-11-04", *args)
    assert read_marts(warehouse) == restored


def test_plain_dbt_build_brings_every_model_up_to_date(handmade_reference, tmp_path):
    landing_source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(landing_source, landing)
    webfunnel("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    con = duckdb.connect(str(work_db_for(warehouse)))
    try:
        # a missing incremental model is built whole; a table model is rebuilt whole
        con.execute("drop table marts.accounts")
        con.execute("drop table marts.retention_weekly")
        con.execute("delete from marts.channel_attribution")
    finally:
        con.close()
    result = dbt("build", warehouse=warehouse, tmp_path=tmp_path)
    assert "PASS=" in result.stdout and "ERROR=0" in result.stdout
    # plain `dbt build` runs the unit tests too (the hourly run leaves them to `make test`)
    assert "attribution_credits_add_up_to_one_per_conversion" in result.stdout
    assert read_marts(work_db_for(warehouse)) == expected


def test_backfill_of_an_archived_window(handmade_reference, tmp_path):
    landing_source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(landing_source, landing)
    args = ("--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    # newest partition is 2026-11-17 08:00: with 3 days of retention, November 2-10 is archived
    webfunnel("run", *args, env={"WEBFUNNEL_RETENTION_DAYS": "3"})
    assert not (landing / "pings" / "date=2026-11-02").exists() or not any(
        (landing / "pings" / "date=2026-11-02").rglob("*.parquet")
    )
    archive = tmp_path / "landing-archive"
    assert (archive / "pings/date=2026-11-02/hour=10/a.parquet").exists()
    webfunnel("backfill", "--start", "2026-11-02", "--end", "2026-11-04", *args)
    assert read_marts(warehouse) == expected
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        states = con.execute(
            "select state, count(*) from ops.batches "
            "where partition_at < '2026-11-04' group by state order by state"
        ).fetchall()
    finally:
        con.close()
    # the window's 8 files were read back from the archive: 6 load, 2 are bad files
    assert states == [("discarded", 2), ("succeeded", 6)]


def test_backfill_after_a_file_lost_a_row_equals_a_full_run(handmade_reference, tmp_path):
    """A file of the window is landed again without its first row (as after a loader fix
    that now rejects it): the incremental models cannot see a row that disappeared, so the
    backfill notices the reloaded batch's rows changed and rebuilds from scratch. Its marts
    equal a first run over the corrected landing zone, and the dropped event is gone."""
    import pyarrow.parquet as pq

    landing_source, _ = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(landing_source, landing)
    args = ("--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    webfunnel("run", *args)

    file = sorted((landing / "pings" / "date=2026-11-03").rglob("*.parquet"))[0]
    table = pq.read_table(file)
    dropped = table.column("event_id")[0].as_py()
    pq.write_table(table.slice(1), file)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select count(*) from marts.pageviews where event_id = ?", [dropped]
        ).fetchone() == (1,)

    webfunnel("backfill", "--start", "2026-11-03", "--end", "2026-11-04", *args)
    fresh = tmp_path / "fresh.duckdb"
    webfunnel("run", "--quiet", "--landing", str(landing), "--warehouse", str(fresh))
    backfilled = read_marts(warehouse)
    assert backfilled == read_marts(fresh)
    assert all(row[0] != dropped for row in backfilled["pageviews"])
    with duckdb.connect(str(work_db_for(warehouse)), read_only=True) as con:
        # the digest of the batch before and after its reload differ
        assert (
            con.execute(
                "select count(*) from ops.reprocessed_batches where rows_before > 0"
            ).fetchone()[0]
            >= 1
        )


def test_backfill_after_a_classifier_fix_reclassifies_every_page_view(handmade_reference, tmp_path):
    """Marts built while the user-agent classifier called every desktop browser a tablet
    (simulated: the parsed classes changed, then a full refresh), then a backfill of one
    day: it parses every user agent again, and as a class changed it rebuilds from scratch.
    An incremental build would have kept the stored page views' classes (the other days,
    and the other page views of the day's cookies): tablets, where a full run has desktops.
    The marts equal the reference run's, which never saw the wrong classes."""
    landing_source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(landing_source, landing)
    args = ("--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    webfunnel("run", *args)
    with duckdb.connect(str(work_db_for(warehouse))) as con:
        con.execute("update raw.user_agents set device_class = 'tablet' "
                    "where device_class = 'desktop'")  # fmt: skip
        # the next run rebuilds from scratch, as after a change of the logic
        con.execute(
            "update ops.build_state set project_fingerprint = 'before the fix' "
            "where built_at = (select max(built_at) from ops.build_state)"
        )
    webfunnel("run", *args)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        classes = con.execute("select distinct device_class from marts.pageviews").fetchall()
    assert ("tablet",) in classes and ("desktop",) not in classes

    webfunnel("backfill", "--start", "2026-11-03", "--end", "2026-11-04", *args)
    assert read_marts(warehouse) == expected
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert ("desktop",) in con.execute(
            "select distinct device_class from marts.pageviews"
        ).fetchall()

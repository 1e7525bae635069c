"""Publishing by delta: after an incremental build only the changed cookies' rows are
replaced in a copy of the previous published file, and the result is the full run's marts.
Whatever else touched the working database in between (a `dbt run` by hand) gives a full
copy, and a run killed between recording its build and publishing is published by the next
run even when nothing new landed, with what the killed run left beside the warehouse
removed. Two processes never publish one warehouse at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from ingest.config import work_db_for
from ingest.publish import WASTE_LIMIT, NextFile
from tests.conftest import read_marts, webfunnel

ROOT = Path(__file__).resolve().parents[2]
LATE_DAY = "date=2026-11-10"  # the hand-made set's last day: landed second


def _land(source: Path, landing: Path, late: bool) -> None:
    for file in sorted(source.rglob("*")):
        relative = file.relative_to(source)
        if file.is_file() and (LATE_DAY in relative.parts) == late:
            (landing / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, landing / relative)


def _published(warehouse: Path) -> tuple:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select deltas_since_full, build_run_id, dbt_invocation_id from ops.published"
        ).fetchone()
    finally:
        con.close()


def test_hourly_publish_is_a_delta_and_exact(handmade_reference, tmp_path):
    source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    _land(source, landing, late=False)
    webfunnel(*args)
    assert _published(warehouse)[0] == 0  # the first publish copies everything
    first = read_marts(warehouse)

    _land(source, landing, late=True)
    webfunnel(*args)
    deltas, build_run_id, _ = _published(warehouse)
    assert deltas == 1
    assert read_marts(warehouse) == expected != first
    con = duckdb.connect(str(work_db_for(warehouse)), read_only=True)
    try:
        latest_build = con.execute(
            "select run_id from ops.build_state order by built_at desc limit 1"
        ).fetchone()[0]
        changed = con.execute("select count(*) from intermediate.int_cookies_changed").fetchone()
        visitors = con.execute("select count(*) from marts.visitors").fetchone()
    finally:
        con.close()
    assert build_run_id == latest_build
    assert 0 < changed[0] < visitors[0]  # a real delta: some cookies, not all


def _last_run(warehouse: Path) -> tuple:
    """(status, message, models built) of the latest run in ops.pipeline_runs."""
    con = duckdb.connect(str(work_db_for(warehouse)), read_only=True)
    try:
        return con.execute(
            "select status, message, models_built from ops.pipeline_runs "
            "order by started_at desc limit 1"
        ).fetchone()
    finally:
        con.close()


def _bytes_per_row(warehouse: Path) -> float:
    """The published file's size over the rows of its tables but ``ops.published``."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where not (schema_name = 'ops' and table_name = 'published')"
        ).fetchall()
        rows = sum(
            con.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
            for schema, table in tables
        )
    finally:
        con.close()
    return warehouse.stat().st_size / rows


def test_a_file_that_deltas_left_wasteful_is_written_compact_again(handmade_reference, tmp_path):
    """A delta leaves the space of the rows it deleted to DuckDB's reuse. The first delta after
    a full copy records that copy's bytes per row; a later delta whose previous file holds
    more than WASTE_LIMIT times that makes a full copy instead, as exact."""
    source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    parts = ("date=2026-11-02", "date=2026-11-03", None)  # None: the remaining days
    for part in parts:
        for file in sorted(source.rglob("*.parquet")):
            relative = file.relative_to(source)
            if (part in relative.parts) if part else not (landing / relative).exists():
                (landing / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, landing / relative)
        if part == "date=2026-11-03":  # the second run: the first delta, which measures
            full_copy = _bytes_per_row(warehouse)
        elif part is None:  # the third: the file as if deltas had left half of it deleted
            now = _bytes_per_row(warehouse)
            assert now <= WASTE_LIMIT * full_copy  # as it is, the next publish is a delta
            con = duckdb.connect(str(warehouse))
            try:
                recorded = con.execute("select full_bytes_per_row from ops.published").fetchone()
                assert recorded == (full_copy,)
                con.execute(
                    "update ops.published set full_bytes_per_row = ?", [now / WASTE_LIMIT * 0.99]
                )
            finally:
                con.close()
        webfunnel(*args)
        if part == "date=2026-11-02":
            assert _published(warehouse)[0] == 0  # a first publish copies everything
        elif part == "date=2026-11-03":
            assert _published(warehouse)[0] == 1
    assert _published(warehouse)[0] == 0  # written whole again
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select full_bytes_per_row from ops.published").fetchone() == (None,)
    finally:
        con.close()
    assert read_marts(warehouse) == expected


def test_folders_with_a_quote_and_a_space(handmade_reference, tmp_path):
    """A quote in a folder's name ended the SQL string of the publish's ATTACH: the build
    succeeded and the run failed with an internal parser error, every hour. Both kinds of
    publish, a backfill and the dashboard, from such folders."""
    source, expected = handmade_reference
    root = tmp_path / "it's here"
    landing, warehouse = root / "land ing", root / "o'clock" / "ware house.duckdb"
    args = ("--landing", str(landing), "--warehouse", str(warehouse))
    _land(source, landing, late=False)
    webfunnel("run", "--quiet", *args)  # a full copy
    _land(source, landing, late=True)
    webfunnel("run", "--quiet", *args)  # a delta
    assert _published(warehouse)[0] == 1
    assert read_marts(warehouse) == expected
    webfunnel("backfill", "--quiet", "--start", "2026-11-02", "--end", "2026-11-18", *args)
    assert read_marts(warehouse) == expected
    page = root / "dash'board.html"
    webfunnel("report", "--out", str(page), "--warehouse", str(warehouse))
    assert "No data yet" not in page.read_text(encoding="utf-8")


def test_a_dbt_run_by_hand_makes_the_next_publish_a_full_copy(handmade_reference, tmp_path):
    """A change the next build's delta does not cover (carol has nothing on the late day)
    followed by a dbt invocation by hand: the publish copies everything, so the published
    file mirrors the working database, carol's row included."""
    source, _ = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    _land(source, landing, late=False)
    webfunnel(*args)
    con = duckdb.connect(str(work_db_for(warehouse)))
    try:
        con.execute("update marts.visitors set pageviews = 999 where cookie = 'c_carol'")
    finally:
        con.close()
    env = {**os.environ, "WEBFUNNEL_WAREHOUSE": str(warehouse)}
    env.pop("WEBFUNNEL_WORK_DB", None)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--select", "funnel_daily",
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    _land(source, landing, late=True)
    webfunnel(*args)

    con = duckdb.connect(str(work_db_for(warehouse)), read_only=True)
    try:
        changed = {row[0] for row in con.execute(
            "select cookie from intermediate.int_cookies_changed").fetchall()}  # fmt: skip
    finally:
        con.close()
    assert changed and "c_carol" not in changed  # a delta would have left carol's row out
    assert _published(warehouse)[0] == 0
    published = read_marts(warehouse)
    assert published == read_marts(work_db_for(warehouse))
    assert any(row[0] == "c_carol" and 999 in row for row in published["visitors"])


def _beside(warehouse: Path) -> list[str]:
    """The hidden files the pipeline keeps beside the published file."""
    return sorted(p.name for p in warehouse.parent.iterdir() if p.name.startswith(".warehouse"))


def test_a_run_killed_before_publishing_is_published_by_the_next(handmade_reference, tmp_path):
    source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    _land(source, landing, late=False)
    webfunnel(*args)
    assert _beside(warehouse) == [".warehouse.duckdb.lock"]
    first = read_marts(warehouse)
    _land(source, landing, late=True)
    killed = webfunnel(*args, check=False, env={"WEBFUNNEL_KILL_AT": "publish:before"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert read_marts(warehouse) == first  # readers still see the earlier copy
    # the copy of the published file made while dbt built is left; so might be, had the kill
    # come in the middle of a delta, a WAL of it, which must never be replayed into a copy
    assert _beside(warehouse) == [".warehouse.duckdb.lock", ".warehouse.duckdb.next"]
    (tmp_path / ".warehouse.duckdb.next.wal").write_bytes(b"not a WAL" * 1000)
    webfunnel(*args)  # nothing new landed: it only publishes, and by delta
    assert _published(warehouse)[0] == 1
    assert read_marts(warehouse) == expected
    assert _beside(warehouse) == [".warehouse.duckdb.lock"]


def test_a_second_publisher_is_refused(handmade_reference, tmp_path):
    """While another process holds the warehouse's publish lock, a run that must build
    stops before dbt with a one-line error and leaves the published file alone; the next
    run, with the lock free, builds and publishes what it loaded."""
    source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    _land(source, landing, late=False)
    webfunnel(*args)
    first = read_marts(warehouse)
    _land(source, landing, late=True)
    holder = NextFile(warehouse)
    try:
        refused = webfunnel(*args, check=False)
    finally:
        holder.close()
    assert refused.returncode == 2  # an error the user can act on (ingest/cli.py)
    assert refused.stderr.strip().splitlines() == [
        f"webfunnel: error: another process is publishing {warehouse} (another run in progress?)"
    ]
    assert read_marts(warehouse) == first
    assert _last_run(warehouse) == (
        "failed",
        f"another process is publishing {warehouse} (another run in progress?)",
        0,
    )
    webfunnel(*args)
    assert read_marts(warehouse) == expected


def test_a_file_no_publish_wrote_is_not_replaced(handmade_reference, tmp_path):
    """The rename would destroy whatever the warehouse path holds. A file that is not a
    DuckDB database, or a database without ops.published (another one, given as the
    warehouse by mistake), stops the run before dbt with a one-line error and is left byte
    for byte; once it is moved away the run publishes. An empty file holds nothing to lose."""
    source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    _land(source, landing, late=False)
    _land(source, landing, late=True)
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    try:
        con.execute("create table sales as select 42 as amount")
    finally:
        con.close()
    advice = "not replaced: move it away or choose another warehouse path"
    for content, reason in (
        (
            b"revenue,2026\n",
            f'IO Error: The file "{warehouse}" exists, but it is not a valid DuckDB database file!',
        ),
        (other.read_bytes(), "it has no ops.published table"),
    ):
        warehouse.write_bytes(content)
        refused = webfunnel(*args, check=False)
        message = f"{warehouse} is not a warehouse webfunnel published ({reason}); {advice}"
        assert (refused.returncode, refused.stderr) == (2, f"webfunnel: error: {message}\n")
        assert warehouse.read_bytes() == content
        assert _last_run(warehouse) == ("failed", message, 0)
    warehouse.write_bytes(b"")
    webfunnel(*args)
    assert read_marts(warehouse) == expected
    # with nothing to build, a run publishes through a next file of its own: checked there
    warehouse.write_bytes(other.read_bytes())
    refused = webfunnel(*args, check=False)
    message = f"{warehouse} is not a warehouse webfunnel published (it has no ops.published table)"
    assert (refused.returncode, refused.stderr) == (2, f"webfunnel: error: {message}; {advice}\n")
    assert warehouse.read_bytes() == other.read_bytes()

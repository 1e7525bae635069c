"""The same landed data through DuckDB and through PostgreSQL gives the same marts.

Three steps, each compared mart by mart, row by row (rows sorted on every column; floats
equal up to rounding, which is all the engines may differ in: retention rates and
fractional attribution credits):

1. the first day has landed: a first run on both engines;
2. the second day lands (some of its files into hours already processed): an incremental
   run on both;
3. a backfill of the first day's morning on both;
4. `webfunnel report` and `webfunnel summary` with `--target duckdb` and `--target postgres`
   print the same dashboard and the same summary.

The ledger (final state and attempt of every batch) and the quarantine (every rejected file
and row, with its reason and content) must match as well: the PostgreSQL loader promises the
DuckDB loader's semantics, not just its marts.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingest import load as duckdb_load
from ingest import pg_load
from ingest.generate import generate

MARTS = (
    "visitors",
    "pageviews",
    "sessions",
    "funnel_daily",
    "channel_attribution",
    "retention_weekly",
    "accounts",
    "traffic_hourly",
)
START = date(2026, 11, 2)
DAY_TWO = "date=2026-11-03"
BACKFILL = (datetime(2026, 11, 2, 0), datetime(2026, 11, 2, 12))
WEBFUNNEL = Path(sys.executable).parent / "webfunnel"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of synthetic landing data (bad files, bad rows and redeliveries included)."""
    out = tmp_path_factory.mktemp("generated") / "landing"
    generate(out, START, days=2, visitors=120, seed=11)
    return out


def _copy_partitions(source: Path, target: Path, day_two: bool) -> int:
    copied = 0
    for file in sorted(source.rglob("*.parquet")):
        relative = file.relative_to(source)
        if (DAY_TWO in relative.parts) != day_two:
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, destination)
        copied += 1
    return copied


def _duckdb(command: str, landing: Path, warehouse: Path, *extra: str) -> None:
    env = {
        **os.environ,
        "WEBFUNNEL_TARGET": "duckdb",
        "WEBFUNNEL_SETTLE_SECONDS": "0",
        "WEBFUNNEL_ARCHIVE": str(landing.parent / "archive"),
    }
    env.pop("WEBFUNNEL_WORK_DB", None)
    completed = subprocess.run(
        [str(WEBFUNNEL), command, "--landing", str(landing), "--warehouse", str(warehouse), *extra],
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


def _cli(*args: str) -> str:
    """The real CLI with the test database's environment; returns what it printed."""
    env = {**os.environ, "WEBFUNNEL_TARGET": "duckdb"}
    completed = subprocess.run([str(WEBFUNNEL), *args], env=env, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def _dashboard(page: Path) -> str:
    """The page without its generation time, raw numbers to 9 significant digits (the
    engines may differ in the last bits of a rate)."""
    text = re.sub(r"Generated [^<]* UTC", "Generated", page.read_text())
    return re.sub(
        r'data-value="(-?[0-9]+[.][0-9]+(?:e-?[0-9]+)?)"',
        lambda match: f'data-value="{float(match.group(1)):.9g}"',
        text,
    )


def _normalise(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _sort_key(row: tuple) -> tuple:
    # None first; floats rounded so that rounding noise cannot reorder rows
    return tuple(
        (0, "") if value is None else (1, round(value, 6) if isinstance(value, float) else value)
        for value in row
    )


def _rows(cursor_rows: list[tuple]) -> list[tuple]:
    rows = [tuple(_normalise(value) for value in row) for row in cursor_rows]
    return sorted(rows, key=_sort_key)


def _pg_rows(pg: pg_load.PgConnection, sql: str) -> tuple[list[str], list[tuple]]:
    cursor = pg.execute(sql)
    return [column.name for column in cursor.description], _rows(cursor.fetchall())


def _duck_rows(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    cursor = con.execute(sql)
    return [column[0] for column in cursor.description], _rows(cursor.fetchall())


def _assert_same_rows(name: str, duck: list[tuple], pg: list[tuple]) -> None:
    assert len(duck) == len(pg), f"{name}: {len(duck)} rows on DuckDB, {len(pg)} on PostgreSQL"
    for index, (left, right) in enumerate(zip(duck, pg, strict=True)):
        for column, (a, b) in enumerate(zip(left, right, strict=True)):
            if isinstance(a, float) or isinstance(b, float):
                same = (
                    a is not None
                    and b is not None
                    and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
                )
            else:
                same = a == b
            assert same, (
                f"{name} row {index} column {column}: DuckDB {a!r} != PostgreSQL {b!r}\n"
                f"  DuckDB     {left}\n  PostgreSQL {right}"
            )


LEDGER_SQL = """
select batch_id, source, path, partition_at, state, attempt, reason
from (
    select *, row_number() over (partition by batch_id order by transition_id desc) as recency
    from ops.batch_state_transitions
) as latest
where recency = 1
"""
QUARANTINE_SQL = (
    "select batch_id, source, path, file_row_number, reason, content from ops.quarantine"
)


def _compare(warehouse: Path) -> dict[str, int]:
    """Every mart, the ledger and the quarantine; returns the mart sizes."""
    sizes: dict[str, int] = {}
    pg = pg_load.PgConnection.connect()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for mart in MARTS:
            duck_columns, duck = _duck_rows(con, f"select * from marts.{mart}")
            pg_columns, pg_rows = _pg_rows(pg, f"select * from marts.{mart}")
            assert duck_columns == pg_columns, f"{mart}: columns differ"
            _assert_same_rows(f"marts.{mart}", duck, pg_rows)
            sizes[mart] = len(duck)
        for name, sql in (("ledger", LEDGER_SQL), ("ops.quarantine", QUARANTINE_SQL)):
            _, duck = _duck_rows(con, sql)
            _, pg_rows = _pg_rows(pg, sql)
            _assert_same_rows(name, duck, pg_rows)
    finally:
        con.close()
        pg.close()
    return sizes


def test_marts_equal_on_duckdb_and_postgres(
    pg_database: str, generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # generated files are fresh: a truncated one must be rejected now, not awaited for 60 s
    monkeypatch.setattr(duckdb_load, "SETTLE_SECONDS", 0)
    landing = tmp_path / "landing"
    archive = tmp_path / "archive"
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    assert _copy_partitions(generated, landing, day_two=False) > 0

    # 1. first run; on PostgreSQL with every dbt test, unit tests included
    _duckdb("run", landing, warehouse)
    first = pg_load.run(landing, archive, build=False)
    assert first.batches_loaded > 0 and first.rows_quarantined > 0
    pg_load.dbt_build("postgres")
    sizes = _compare(warehouse)
    assert all(sizes[mart] > 0 for mart in ("visitors", "pageviews", "sessions"))

    # 2. the second day lands: an incremental run
    assert _copy_partitions(generated, landing, day_two=True) > 0
    _duckdb("run", landing, warehouse)
    second = pg_load.run(landing, archive)
    assert second.batches_loaded > 0
    grown = _compare(warehouse)
    assert grown["pageviews"] > sizes["pageviews"]

    # nothing new: a run loads nothing and the marts stay equal
    again = pg_load.run(landing, archive)
    assert (again.batches_loaded, again.rows_loaded, again.batches_discarded) == (0, 0, 0)

    # 3. backfill the first morning on both
    start, end = (moment.isoformat(sep=" ") for moment in BACKFILL)
    _duckdb("backfill", landing, warehouse, "--start", start, "--end", end)
    refilled = pg_load.backfill(landing, *BACKFILL, archive=archive)
    assert refilled.batches_loaded > 0
    assert _compare(warehouse) == grown

    # 4. the dashboard and the summary read the same marts from either engine
    pages, summaries = {}, {}
    for target in ("duckdb", "postgres"):
        page = tmp_path / f"dashboard-{target}.html"
        _cli("report", "--target", target, "--warehouse", str(warehouse), "--out", str(page))
        pages[target] = _dashboard(page)
        printed = _cli("summary", "--target", target, "--warehouse", str(warehouse))
        summaries[target] = printed.strip().splitlines()[1:]  # the first line names the source
    assert 'id="kpi-visitors" data-value="0"' not in pages["duckdb"]
    assert pages["postgres"] == pages["duckdb"]
    assert summaries["postgres"] == summaries["duckdb"]
    assert any(line.strip().startswith("signups") for line in summaries["duckdb"])

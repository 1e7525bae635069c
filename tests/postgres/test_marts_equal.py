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

import os
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from ingest import load as duckdb_load
from ingest import pg_load
from ingest.generate import generate
from tests.postgres.compare import compare as _compare
from tests.postgres.compare import copy_partitions, duckdb_cli

START = date(2026, 11, 2)
BACKFILL = (datetime(2026, 11, 2, 0), datetime(2026, 11, 2, 12))
WEBFUNNEL = Path(sys.executable).parent / "webfunnel"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of synthetic landing data (bad files, bad rows and redeliveries included)."""
    out = tmp_path_factory.mktemp("generated") / "landing"
    generate(out, START, days=2, visitors=120, seed=11)
    return out


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


def test_marts_equal_on_duckdb_and_postgres(
    pg_database: str, generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # generated files are fresh: a truncated one must be rejected now, not awaited for 60 s
    monkeypatch.setattr(duckdb_load, "SETTLE_SECONDS", 0)
    landing = tmp_path / "landing"
    archive = tmp_path / "archive"
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    assert copy_partitions(generated, landing, day_two=False) > 0

    # 1. first run; on PostgreSQL with every dbt test, unit tests included
    duckdb_cli("run", landing, warehouse)
    first = pg_load.run(landing, archive, build=False)
    assert first.batches_loaded > 0 and first.rows_quarantined > 0
    pg_load.dbt_build("postgres")
    sizes = _compare(warehouse)
    assert all(sizes[mart] > 0 for mart in ("visitors", "pageviews", "sessions"))

    # 2. the second day lands: an incremental run
    assert copy_partitions(generated, landing, day_two=True) > 0
    duckdb_cli("run", landing, warehouse)
    second = pg_load.run(landing, archive)
    assert second.batches_loaded > 0
    grown = _compare(warehouse)
    assert grown["pageviews"] > sizes["pageviews"]

    # nothing new: a run loads nothing and the marts stay equal
    again = pg_load.run(landing, archive)
    assert (again.batches_loaded, again.rows_loaded, again.batches_discarded) == (0, 0, 0)

    # 3. backfill the first morning on both
    start, end = (moment.isoformat(sep=" ") for moment in BACKFILL)
    duckdb_cli("backfill", landing, warehouse, "--start", start, "--end", end)
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

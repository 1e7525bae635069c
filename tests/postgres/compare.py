"""Mart-by-mart, row-by-row comparison of the DuckDB warehouse and the PostgreSQL database.

Rows are sorted on every column; floats are equal up to rounding, which is all the engines
may differ in (retention rates and fractional attribution credits).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb

from ingest import pg_load

DAY_TWO = "date=2026-11-03"
WEBFUNNEL = Path(sys.executable).parent / "webfunnel"

KEY = "cookie_key"
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


def pg_query(sql: str) -> list[tuple]:
    """The rows of one query on the test database, as tuples."""
    pg = pg_load.PgConnection.connect()
    try:
        return [tuple(row) for row in pg.execute(sql).fetchall()]
    finally:
        pg.close()


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


def _assert_keys_match_cookies(
    con: duckdb.DuckDBPyConnection, pg: pg_load.PgConnection, mart: str
) -> None:
    """cookie_key is each engine's key of the row's cookie (macro cookie_key): on DuckDB
    the first 64 bits of md5_number, elsewhere the hex md5."""
    duck_wrong = con.execute(
        f"select count(*) from marts.{mart} "
        "where cookie_key is distinct from cast(md5_number(cookie) >> 64 as ubigint)"
    ).fetchone()[0]
    pg_wrong = pg.execute(
        f"select count(*) from marts.{mart} where cookie_key is distinct from md5(cookie)"
    ).fetchone()[0]
    assert (duck_wrong, pg_wrong) == (0, 0), f"{mart}: cookie_key is not the cookie's key"


def compare(
    warehouse: Path, ledger_sql: str = LEDGER_SQL, quarantine_sql: str = QUARANTINE_SQL
) -> dict[str, int]:
    """Every mart, the ledger and the quarantine; returns the mart sizes."""
    sizes: dict[str, int] = {}
    pg = pg_load.PgConnection.connect()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for mart in MARTS:
            duck_columns = _duck_rows(con, f"select * from marts.{mart} limit 0")[0]
            pg_columns = _pg_rows(pg, f"select * from marts.{mart} limit 0")[0]
            assert duck_columns == pg_columns, f"{mart}: columns differ"
            if KEY in duck_columns:
                _assert_keys_match_cookies(con, pg, mart)
            # the cookie's lookup key is encoded per engine, so compared as above
            columns = ", ".join(c for c in duck_columns if c != KEY)
            _, duck = _duck_rows(con, f"select {columns} from marts.{mart}")
            _, pg_rows = _pg_rows(pg, f"select {columns} from marts.{mart}")
            _assert_same_rows(f"marts.{mart}", duck, pg_rows)
            sizes[mart] = len(duck)
        for name, sql in (("ledger", ledger_sql), ("ops.quarantine", quarantine_sql)):
            _, duck = _duck_rows(con, sql)
            _, pg_rows = _pg_rows(pg, sql)
            _assert_same_rows(name, duck, pg_rows)
    finally:
        con.close()
        pg.close()
    return sizes


def copy_partitions(source: Path, target: Path, day_two: bool) -> int:
    """Copy the generated files of the first day (or of the second) into a landing zone."""
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


def duckdb_cli(command: str, landing: Path, warehouse: Path, *extra: str) -> None:
    """`webfunnel run|backfill` on DuckDB, the archive beside the landing zone."""
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

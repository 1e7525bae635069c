"""Shared helpers: the real `webfunnel` console command, landing hand-made files, one run
over a copy of a landing zone, and read-only access to marts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingest.publish import STAMP

WEBFUNNEL = str(Path(sys.executable).parent / "webfunnel")


def webfunnel(*args: str, check: bool = True, env: dict | None = None, timeout: int = 900):
    """Run the installed console command, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("WEBFUNNEL_WORK_DB", None)
    result = subprocess.run(
        [WEBFUNNEL, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"webfunnel {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
        )
    return result


def land(landing: Path, files: dict) -> None:
    """Write hand-made tables ({path under the landing zone: pyarrow table}) as Parquet."""
    import pyarrow.parquet as pq

    for relative, table in files.items():
        (landing / relative).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, landing / relative)


def run_once(landing: Path, folder: Path) -> Path:
    """A single run over a copy of the landing zone, in ``folder``; returns its warehouse."""
    shutil.copytree(landing, folder / "landing")
    warehouse = folder / "warehouse.duckdb"
    webfunnel("run", "--quiet", "--landing", str(folder / "landing"), "--warehouse", str(warehouse))
    return warehouse


def read_marts(warehouse: Path) -> dict[str, list[tuple]]:
    """Every mart, sorted on all columns, read through a read-only connection. In a
    working database, marts.pageviews is a view with the build's stamp built_at, which the
    publish leaves out (ingest/publish.py): left out here too."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "order by table_name"
            ).fetchall()
        ]
        marts = {}
        for name in names:
            columns = [row[0] for row in con.execute(f"describe marts.{name}").fetchall()]
            select = ", ".join(f'"{column}"' for column in columns if column != STAMP)
            marts[name] = con.execute(f"select {select} from marts.{name} order by all").fetchall()
        return marts
    finally:
        con.close()


@pytest.fixture
def query():
    def run(warehouse: Path, sql: str, params=None):
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    return run

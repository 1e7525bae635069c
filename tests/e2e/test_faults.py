"""A run SIGKILLed at any point leaves the warehouse so that the next run completes with
exactly the marts of an uninterrupted run: nothing lost, nothing counted twice."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import read_marts, webfunnel

KILL_POINTS = [
    "load:mid-batch",  # rows of a batch inserted, transaction not committed
    "load:after-first-group",  # some batches committed, others not started
    "build:4",  # 4 seconds into the dbt build
    "build:done",  # models built, build not yet recorded
    "publish:before",  # build recorded, marts not yet published
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_run_then_rerun_gives_exact_marts(point, handmade_reference, tmp_path):
    landing_source, expected = handmade_reference
    landing = tmp_path / "landing"
    shutil.copytree(landing_source, landing)
    warehouse = tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    killed = webfunnel(*args, check=False, env={"WEBFUNNEL_KILL_AT": point})
    assert killed.returncode == -9, (point, killed.returncode, killed.stderr[-2000:])
    webfunnel(*args)
    assert read_marts(warehouse) == expected
    # and the ledger shows each good batch succeeded exactly once per load
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        loaded = con.execute(
            "select count(*), count(distinct batch_id) from ops.batch_state_transitions "
            "where state = 'succeeded'"
        ).fetchone()
    finally:
        con.close()
    assert loaded == (11, 11)

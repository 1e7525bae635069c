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


# dbt settings an engineer may leave in the environment, which changed what a pipeline
# build did (ingest/dbt.py, BUILD_CHANGING_DBT_ENV). Before they were ignored, on this data:
# DBT_EMPTY built every model over no rows, and the run succeeded with every mart empty;
# DBT_PARTIAL_PARSE_FILE_DIFF=false found no project files, built nothing, and the run
# succeeded with no marts at all; DBT_EXCLUDE_RESOURCE_TYPES=model built no model (a first
# run failed, on the tests of the missing models; a later one would pass them on the old
# tables). The ledger counted a succeeded run's batches as built: the marts never had them.
@pytest.mark.parametrize(
    "name, value",
    [
        ("DBT_EMPTY", "true"),
        ("DBT_PARTIAL_PARSE_FILE_DIFF", "false"),
        ("DBT_EXCLUDE_RESOURCE_TYPES", "model"),
    ],
)
def test_dbt_settings_in_the_environment_leave_the_marts_exact(
    name, value, handmade_reference, tmp_path
):
    landing_source, expected = handmade_reference
    landing = tmp_path / "landing"
    shutil.copytree(landing_source, landing)
    warehouse = tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    result = webfunnel(*args, env={name: value})
    assert f"webfunnel: ignoring {name} from the environment" in result.stderr
    assert read_marts(warehouse) == expected


def test_a_build_that_runs_no_models_is_a_failed_build(tmp_path):
    """The other guard: a pipeline build that ran no models is not a success, whatever made
    dbt select none (here a selection of nothing, through the pipeline's own runner)."""
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from ingest.config import Paths; "
        "from ingest.dbt import run_dbt; "
        "p = Paths(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])); "
        "r = run_dbt('build', p, '--select', 'tag:no_such_tag', quiet=True); "
        "print(r.success, r.models_built); print(r.failures)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "landing"),
         str(tmp_path / "warehouse.duckdb"), str(tmp_path / "archive")],  # fmt: skip
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.strip().splitlines()[-2:]
    assert first == "False 0"
    assert "the build ran no models" in second

"""Every DAG imports cleanly and quickly, with tags, retries and one active run.

Runs in a subprocess: parsing must not need the metadata database, the warehouse or the
network, so the child gets an Airflow home with no database and data paths that do not
exist, and a socket guard that fails any connection attempt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.dags.dag_support import DAGS, airflow_env

CHILD = textwrap.dedent(
    """
    import json, socket, sys, time

    def no_network(*args, **kwargs):
        raise RuntimeError("network access while parsing DAGs")

    socket.socket.connect = no_network
    socket.create_connection = no_network

    from airflow.dag_processing.dagbag import DagBag

    started = time.monotonic()
    bag = DagBag(sys.argv[1])
    seconds = time.monotonic() - started
    heavy = [name for name in ("duckdb", "great_expectations", "dbt.cli.main", "pandas")
             if name in sys.modules]
    dags = {
        dag_id: {
            "tags": sorted(dag.tags),
            "retries": [task.retries for task in dag.tasks],
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "start_date": dag.start_date.isoformat(),
            "timetable": type(dag.timetable).__name__,
            "tasks": sorted(task.task_id for task in dag.tasks),
        }
        for dag_id, dag in bag.dags.items()
    }
    print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                      "seconds": seconds, "dags": dags, "heavy": heavy}))
    """
)


def _parse(tmp_path, **extra_env) -> dict:
    env = airflow_env(tmp_path / "airflow")
    env.pop("WEBFUNNEL_TARGET", None)
    env["WEBFUNNEL_LANDING"] = str(tmp_path / "does-not-exist" / "landing")
    env["WEBFUNNEL_WAREHOUSE"] = str(tmp_path / "does-not-exist" / "warehouse.duckdb")
    env.update(extra_env)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(DAGS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dags_import_cleanly(tmp_path):
    report = _parse(tmp_path)
    assert report["errors"] == {}
    assert set(report["dags"]) == {"webfunnel_hourly", "webfunnel_crm_import"}
    assert report["seconds"] < 5, "parsing the DAG files should take well under a second"
    assert report["heavy"] == [], "DAG files must not import heavy libraries at parse time"
    for dag_id, dag in report["dags"].items():
        assert "webfunnel" in dag["tags"], dag_id
        assert min(dag["retries"]) >= 0 and max(dag["retries"]) >= 2, dag_id
        assert dag["max_active_runs"] == 1, dag_id
        assert dag["start_date"] == "2026-01-01T00:00:00+00:00", dag_id
        assert dag["timetable"] == "CronDataIntervalTimetable", dag_id
    hourly = report["dags"]["webfunnel_hourly"]
    # every task retries twice except the freshness gate, which alerts at once
    assert sorted(hourly["retries"]) == [0, 2, 2, 2, 2, 2, 2]
    assert not (tmp_path / "does-not-exist").exists()
    assert hourly["tasks"] == [
        "dbt_build",
        "discover",
        "freshness",
        "load",
        "mart_quality",
        "publish",
        "validate",
    ]


def test_hourly_dag_for_a_server_target(tmp_path):
    """Parsed with WEBFUNNEL_TARGET=redshift: three tasks, and still no connection (the
    socket guard) and nothing heavy imported; an unknown target is an import error."""
    report = _parse(tmp_path, WEBFUNNEL_TARGET="redshift", WEBFUNNEL_RS_HOST="203.0.113.1")
    assert report["errors"] == {}
    assert report["heavy"] == []
    hourly = report["dags"]["webfunnel_hourly"]
    assert hourly["tasks"] == ["dbt_build", "freshness", "load"]
    assert sorted(hourly["retries"]) == [0, 2, 2]
    assert hourly["max_active_runs"] == 1

    broken = _parse(tmp_path, WEBFUNNEL_TARGET="oracle")
    [error] = [text for path, text in broken["errors"].items() if "webfunnel_hourly" in path]
    assert "WEBFUNNEL_TARGET='oracle': expected duckdb, postgres or redshift" in error

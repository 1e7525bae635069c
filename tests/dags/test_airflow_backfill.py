"""`airflow backfill create` on a running Airflow gives the marts of `webfunnel backfill`.

A real local Airflow (`airflow standalone`: scheduler with the LocalExecutor, API server,
DAG processor; SQLite) runs `webfunnel_hourly` for the hours of a backfill, exactly as the
README tells an on-call engineer to. The landing zone is the hand-made set of
tests/e2e/handmade.py, whose every number is worked out by hand in test_handmade.py.

Two warehouses start from the same full run (which is also the expected result), then
the marts of carol's evening are damaged (pageviews and hourly traffic of the window
deleted, her session and visitor rows overwritten, as a bad deploy would leave them) and
published so:

* A: `airflow backfill create` over the hours 2026-11-02 23:00
  and 2026-11-03 00:00 (two runs; `--to-date` is the logical date of the last run);
* B: the same damage, then `webfunnel backfill --start "2026-11-02 23:00"
  --end "2026-11-03 01:00"`.

Both must give back the full run's marts, table for table, so they equal each other.
Carol's session crosses midnight, so the two Airflow runs must agree on one session.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psutil
import pytest

from ingest.config import work_db_for
from ingest.publish import publish
from tests.conftest import read_marts, webfunnel
from tests.dags.dag_support import BIN, airflow_env
from tests.e2e import handmade

FROM_DATE, TO_DATE = "2026-11-02T23:00:00+00:00", "2026-11-03T00:00:00+00:00"
WINDOW = ("2026-11-02 23:00", "2026-11-03 01:00")  # the same hours as [start, end)
EXPECTED_INTERVALS = [
    (datetime(2026, 11, 2, 23, tzinfo=UTC), datetime(2026, 11, 3, 0, tzinfo=UTC)),
    (datetime(2026, 11, 3, 0, tzinfo=UTC), datetime(2026, 11, 3, 1, tzinfo=UTC)),
]
STARTUP_SECONDS = 240
RUNS_SECONDS = 900


def _damage(warehouse: Path) -> None:
    """What a buggy deploy could leave behind in the window's marts (working database)."""
    start, end = WINDOW
    con = duckdb.connect(str(work_db_for(warehouse)))
    try:
        # marts.pageviews is a view of the sessionized rows on DuckDB: damaged through them
        con.execute(
            "delete from intermediate.int_pageviews_sessionized "
            "where created_at >= ? and created_at < ?",
            [start, end],
        )
        con.execute("delete from marts.traffic_hourly where hour >= ? and hour < ?", [start, end])
        con.execute("update marts.sessions set pageviews = 0 where cookie = 'c_carol'")
        con.execute("update marts.visitors set pageviews = 999 where cookie = 'c_carol'")
    finally:
        con.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _airflow(env: dict, *args: str, attempts: int = 3) -> str:
    """An airflow CLI command; tried again when it fails, because on SQLite a busy scheduler
    can hold the database past the lock wait (a failed command writes nothing)."""
    for attempt in range(1, attempts + 1):
        done = subprocess.run(
            [str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode == 0 or attempt == attempts:
            break
        time.sleep(10)
    assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def standalone(airflow_template, tmp_path):
    """A running `airflow standalone` on a free port; yields (env, API base URL)."""
    home = tmp_path / "airflow"
    shutil.copytree(airflow_template, home)
    port = _free_port()
    env = airflow_env(home)
    env.pop("WEBFUNNEL_WORK_DB", None)
    env.update(
        {
            # what the tasks work on: the scheduler's workers inherit this environment
            "WEBFUNNEL_LANDING": str(tmp_path / "landing"),
            "WEBFUNNEL_WAREHOUSE": str(tmp_path / "warehouse-airflow" / "warehouse.duckdb"),
            "WEBFUNNEL_SETTLE_SECONDS": "0",
            "DBT_TARGET_PATH": str(tmp_path / "dbt-target"),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            # only the runs this test creates: no run for "now" when the DAG is unpaused
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        }
    )
    _airflow(env, "pools", "set", "webfunnel_warehouse", "1", "DuckDB has one writer")
    log = (tmp_path / "standalone.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "airflow"), "standalone"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its scheduler, workers and API server die with the group
    )
    api = f"http://localhost:{port}/api/v2"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
            try:
                health = _get(f"{api}/monitor/health")
                if all(
                    health.get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "dag_processor")
                ):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "airflow standalone did not become healthy"
            time.sleep(2)
        yield env, api
    finally:
        _stop_group(server)
        log.close()


def _stop_group(server: subprocess.Popen) -> None:
    """SIGTERM the whole process group, wait until every member is gone, then SIGKILL."""
    os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        server.poll()
        if not _live_members(server.pid):
            return
        time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def _live_members(group: int) -> list[int]:
    """Processes of the group that are not zombies (a container's init may not reap them)."""
    live = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == group and process.info["status"] != "zombie":
                live.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return live


def test_airflow_backfill_equals_webfunnel_backfill(standalone, tmp_path):
    env, api = standalone
    landing = Path(env["WEBFUNNEL_LANDING"])
    handmade.build(landing)
    warehouses = {
        "airflow": Path(env["WEBFUNNEL_WAREHOUSE"]),
        "cli": tmp_path / "cli" / "warehouse.duckdb",
    }
    for warehouse in warehouses.values():
        webfunnel("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    expected = read_marts(warehouses["cli"])
    assert read_marts(warehouses["airflow"]) == expected
    assert any("c_carol" in row for row in expected["sessions"])
    for warehouse in warehouses.values():
        _damage(warehouse)
        warehouse.unlink()  # and publish the damage, so readers see it
        publish(work_db_for(warehouse), warehouse, "damaged")
        assert read_marts(warehouse) != expected

    # B: the command line
    webfunnel(
        "backfill", "--quiet", "--start", WINDOW[0], "--end", WINDOW[1],
        "--landing", str(landing), "--warehouse", str(warehouses["cli"]),
    )  # fmt: skip
    assert read_marts(warehouses["cli"]) == expected

    # A: Airflow, as the README documents it
    _airflow(env, "dags", "unpause", "webfunnel_hourly")
    _airflow(
        env, "backfill", "create", "--dag-id", "webfunnel_hourly",
        "--from-date", FROM_DATE, "--to-date", TO_DATE, "--max-active-runs", "1",
    )  # fmt: skip
    deadline = time.monotonic() + RUNS_SECONDS
    while True:
        runs = _get(f"{api}/dags/webfunnel_hourly/dagRuns")["dag_runs"]
        if runs and all(run["state"] in ("success", "failed") for run in runs):
            break
        assert time.monotonic() < deadline, f"backfill runs not finished: {runs}"
        time.sleep(5)
    intervals = sorted(
        tuple(
            datetime.fromisoformat(run[key].replace("Z", "+00:00"))
            for key in ("data_interval_start", "data_interval_end")
        )
        for run in runs
    )
    assert intervals == EXPECTED_INTERVALS
    assert [(run["run_type"], run["state"]) for run in runs] == [("backfill", "success")] * 2
    # the DAG's tasks did the work, in this warehouse
    con = duckdb.connect(str(warehouses["airflow"]), read_only=True)
    try:
        dag_runs = con.execute(
            "select count(*) from ops.pipeline_runs "
            "where command like 'airflow webfunnel_hourly%' and status = 'succeeded'"
        ).fetchone()[0]
    finally:
        con.close()
    assert dag_runs == 2
    assert read_marts(warehouses["airflow"]) == read_marts(warehouses["cli"]) == expected

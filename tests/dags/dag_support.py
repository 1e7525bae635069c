"""Helpers for the DAG tests: a throw-away Airflow home, dag.test() in a subprocess, and
tiny hand-made landing data in the contract layout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
BIN = Path(sys.executable).parent
RUNNER = Path(__file__).with_name("dag_runner.py")


def airflow_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": (
                "ingest.airflow_settings.SQLITE_CONNECT_ARGS"
            ),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "NO_PROXY": "*",
        }
    )
    return env


def prepare_airflow_home(home: Path) -> Path:
    """A migrated SQLite metadata DB with the repo's DAGs serialised."""
    env = airflow_env(home)
    for args in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run(
            [str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
    return home


def run_dags(template: Path, work: Path, runs: list[dict]) -> list[dict]:
    """Copy the template Airflow home, run the planned dag.test() calls in one subprocess."""
    home = work / "airflow"
    shutil.copytree(template, home)
    plan = work / "plan.json"
    result = work / "result.json"
    plan.write_text(json.dumps({"runs": runs}))
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(plan), str(result)],
        env=airflow_env(home),
        capture_output=True,
        text=True,
        timeout=900,
    )
    (work / "runner.log").write_text(done.stdout + "\n" + done.stderr)
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(result.read_text())


# ------------------------------------------------------------------------- landing data

PING_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("cookie", pa.string()),
        ("url", pa.string()),
        ("referrer", pa.string()),
        ("user_agent", pa.string()),
    ]
)
SIGNUP_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("cookie", pa.string()),
        ("email", pa.string()),
        ("referring_channel", pa.string()),
    ]
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def write_partition(landing: Path, source: str, hour: datetime, name: str, rows, schema):
    folder = landing / source / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, folder / name)
    return folder / name


def pings(prefix: str, hour: datetime, cookies: list[str], minutes=(5, 10)) -> list[dict]:
    """One ping per cookie per minute offset, inside ``hour``."""
    from datetime import UTC

    rows = []
    for cookie in cookies:
        for minute in minutes:
            rows.append(
                {
                    "event_id": f"{prefix}-{cookie}-{minute}",
                    "created_at": (hour + timedelta(minutes=minute)).replace(tzinfo=UTC),
                    "cookie": cookie,
                    "url": f"https://shop.example.com/p/{minute}?utm_source=fb",
                    "referrer": "",
                    "user_agent": CHROME,
                }
            )
    return rows


def signups(hour: datetime, people: dict[str, str], minute: int = 20) -> list[dict]:
    from datetime import UTC

    return [
        {
            "event_id": f"s-{cookie}",
            "created_at": (hour + timedelta(minutes=minute)).replace(tzinfo=UTC),
            "cookie": cookie,
            "email": email,
            "referring_channel": None,
        }
        for cookie, email in people.items()
    ]

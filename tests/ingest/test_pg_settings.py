"""The PostgreSQL loader and dbt connect as one role: the loader's settings follow
profiles.yml's defaults, checked against what dbt itself renders from the profile
(`dbt debug` prints its connection before it tries it; no server is needed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pg_load import connection_settings

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).parent / "dbt")


def _dbt_connection(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    done = subprocess.run(
        [DBT, "debug", "--target", "postgres", "--project-dir", str(ROOT),
         "--profiles-dir", str(ROOT)],
        cwd=tmp_path, env={**env, "DBT_LOG_PATH": str(tmp_path / "logs")},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    shown = dict(re.findall(r"^\S+\s+(host|port|user|database): (.*)$", done.stdout, re.M))
    assert set(shown) == {"host", "port", "user", "database"}, done.stdout[-2000:]
    return shown


@pytest.mark.parametrize(
    ("user_env", "expected"),
    [
        ({}, "postgres"),  # neither set: a service or cron job without $USER
        ({"USER": "alice"}, "alice"),
        ({"USER": "alice", "WEBFUNNEL_PG_USER": "loader"}, "loader"),
    ],
)
def test_the_loader_and_dbt_use_the_same_connection(user_env, expected, tmp_path, monkeypatch):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("WEBFUNNEL_PG_") and key not in ("USER", "LOGNAME")
    }
    env.update(user_env, WEBFUNNEL_PG_HOST=str(tmp_path / "no-server"), WEBFUNNEL_PG_PORT="5433")
    for key in [key for key in os.environ if key.startswith("WEBFUNNEL_PG_") or key == "USER"]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    loader = connection_settings()
    dbt = _dbt_connection(env, tmp_path)
    assert (loader["user"], dbt["user"]) == (expected, expected)
    assert (
        (loader["host"], loader["port"], loader["dbname"])
        == (
            dbt["host"],
            int(dbt["port"]),
            dbt["database"],
        )
        == (str(tmp_path / "no-server"), 5433, "webfunnel")
    )

"""A fresh PostgreSQL database per test session, or a clear skip (a failure under CI).

The server comes from the ``WEBFUNNEL_PG_*`` variables that ``profiles.yml`` reads. Unset,
the tests use the local server through its Unix socket as the current OS user, which is what
``scripts/ci_postgres.sh`` prepares (install, start, ``create role <user> superuser login``).
"""

from __future__ import annotations

import getpass
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

_SOCKET_DIR = Path("/var/run/postgresql")
HOW_TO_ENABLE = (
    "PostgreSQL tests need a server: run `sudo scripts/ci_postgres.sh` (installs and starts "
    "a local PostgreSQL and creates your role), or point WEBFUNNEL_PG_HOST/PORT/USER/PASSWORD "
    "at a server where you may create databases"
)


def _default_connection_env() -> None:
    """Local socket and the OS user unless the environment says otherwise."""
    if "WEBFUNNEL_PG_HOST" not in os.environ and (_SOCKET_DIR / ".s.PGSQL.5432").exists():
        os.environ["WEBFUNNEL_PG_HOST"] = str(_SOCKET_DIR)
    os.environ.setdefault("WEBFUNNEL_PG_USER", getpass.getuser())


def _unavailable(reason: str) -> None:
    message = f"no PostgreSQL server reachable ({reason}). {HOW_TO_ENABLE}"
    if os.environ.get("CI"):
        pytest.fail("CI is set, so PostgreSQL must be available: " + message, pytrace=False)
    pytest.skip(message)


@contextmanager
def _fresh_database() -> Iterator[str]:
    """Create ``webfunnel_test_<random>``, point WEBFUNNEL_PG_DBNAME at it, drop it after."""
    try:
        import psycopg2
    except ImportError as exc:  # pragma: no cover - a dev dependency
        _unavailable(f"psycopg2 is not installed: {exc}")
    _default_connection_env()
    from ingest.pg_load import connection_settings

    admin_settings = connection_settings(os.environ.get("WEBFUNNEL_PG_ADMIN_DB", "postgres"))
    admin_settings["connect_timeout"] = 5
    try:
        admin = psycopg2.connect(**admin_settings)
    except psycopg2.OperationalError as exc:
        _unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else "refused")
    admin.autocommit = True
    name = f"webfunnel_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'create database "{name}"')
    previous = os.environ.get("WEBFUNNEL_PG_DBNAME")
    os.environ["WEBFUNNEL_PG_DBNAME"] = name
    try:
        yield name
    finally:
        if previous is None:
            os.environ.pop("WEBFUNNEL_PG_DBNAME", None)
        else:
            os.environ["WEBFUNNEL_PG_DBNAME"] = previous
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
        shutil.rmtree(REPO / "target" / f"postgres-{name}", ignore_errors=True)  # dbt's


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One database for the session (the marts-equality tests)."""
    with _fresh_database() as name:
        yield name


@pytest.fixture(scope="module")
def pg_module_database() -> Iterator[str]:
    """A database of the module's own (tests whose loader must start from nothing)."""
    with _fresh_database() as name:
        yield name

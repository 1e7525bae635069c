"""Where things live: the landing zone, the published warehouse, the pipeline's working file.

The published warehouse (``$WEBFUNNEL_WAREHOUSE``) is what BI tools open read-only. The
pipeline never writes to it in place: dbt builds into a *working* DuckDB file beside it, and
each run publishes a finished copy of the ``marts`` and ``ops`` schemas by atomic rename.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import WebfunnelError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# DuckDB's own default is 80% of the machine's memory, and its buffer pool keeps what it read:
# a build over a long history then holds most of the machine. Past this limit DuckDB spills
# sorts, joins and aggregates to a temporary folder beside the database instead. profiles.yml
# has the same default for dbt's connection (and for a plain `dbt` run by hand).
DEFAULT_DUCKDB_MEMORY_LIMIT = "3GB"
_SIZE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
DEFAULT_LANDING = "data/landing"
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"


def env_size(name: str, default: str) -> str:
    """A DuckDB size setting from the environment (``default`` when unset), checked: it is
    pasted into SQL, by the pipeline or by profiles.yml."""
    value = os.environ.get(name, default).strip()
    if not _SIZE.match(value):
        raise WebfunnelError(f"{name}={value!r} is not a size such as {default} or 512MB")
    return value


def duckdb_memory_limit() -> str:
    """``WEBFUNNEL_DUCKDB_MEMORY_LIMIT`` (default 3GB)."""
    return env_size("WEBFUNNEL_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT)


def env_number(
    name: str,
    default: float,
    *,
    whole: bool = False,
    minimum: float = 0,
    maximum: float | None = None,
) -> float:
    """A numeric setting from the environment: ``default`` when unset or empty, else a finite
    number from ``minimum`` (up to ``maximum``; a whole one with ``whole``). Anything else is
    the user's one-line error, not an internal one."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise WebfunnelError(f"{name}={raw!r} is not {kind}") from None
    if not math.isfinite(value):
        raise WebfunnelError(f"{name}={raw!r} is not a finite number")
    if value < minimum:
        raise WebfunnelError(f"{name}={raw!r} must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise WebfunnelError(f"{name}={raw!r} must be at most {maximum:g}")
    return value


def env_port(name: str, default: int) -> int:
    return int(env_number(name, default, whole=True, minimum=1, maximum=65535))


def check_dbt_settings() -> None:
    """The settings profiles.yml reads for dbt's DuckDB connection, checked before a run loads
    anything: dbt would fail on them only after the load, with a less clear message."""
    env_number("WEBFUNNEL_DBT_THREADS", 2, whole=True, minimum=1)
    duckdb_memory_limit()
    env_size("WEBFUNNEL_DUCKDB_CHECKPOINT_THRESHOLD", "1GB")  # profiles.yml's default


def sql_string(value: object) -> str:
    """A DuckDB string literal of ``value`` (a path, say) for the statements that take no
    parameter, such as ATTACH and COPY ... TO: a quote in a folder name is doubled, not the
    end of the string."""
    return "'" + str(value).replace("'", "''") + "'"


def limit_memory(con) -> None:
    """Apply the memory limit to a DuckDB connection's database instance."""
    con.execute(f"set memory_limit = '{duckdb_memory_limit()}'")


def work_db_for(warehouse: Path) -> Path:
    """The working database for a published warehouse path.

    Mirrors the expression in ``profiles.yml`` so plain ``dbt`` finds the same file.
    """
    return Path(str(warehouse).replace(".duckdb", "") + ".work.duckdb")


@dataclass(frozen=True)
class Paths:
    landing: Path
    warehouse: Path
    archive: Path

    @property
    def work_db(self) -> Path:
        return work_db_for(self.warehouse)

    @property
    def dbt_log_dir(self) -> Path:
        return self.warehouse.parent / "logs"

    @property
    def dbt_target_dir(self) -> Path:
        return self.work_db.with_suffix(".dbt-target")

    @classmethod
    def resolve(
        cls,
        landing: str | os.PathLike[str] | None = None,
        warehouse: str | os.PathLike[str] | None = None,
        archive: str | os.PathLike[str] | None = None,
    ) -> Paths:
        """Paths from the arguments, else the environment, else the project defaults, which
        are under the project root whatever the current folder (CONTRACT §1, §3)."""
        landing_path = Path(
            landing or os.environ.get("WEBFUNNEL_LANDING") or PROJECT_ROOT / DEFAULT_LANDING
        )
        warehouse_path = Path(
            warehouse or os.environ.get("WEBFUNNEL_WAREHOUSE") or PROJECT_ROOT / DEFAULT_WAREHOUSE
        )
        archive_path = Path(
            archive
            or os.environ.get("WEBFUNNEL_ARCHIVE")
            or (landing_path.parent / (landing_path.name + "-archive"))
        )
        return cls(
            landing=landing_path.absolute(),
            warehouse=warehouse_path.absolute(),
            archive=archive_path.absolute(),
        )

    def export_env(self) -> None:
        """Make dbt (profiles.yml) see the same files as the Python side."""
        os.environ["WEBFUNNEL_LANDING"] = str(self.landing)
        os.environ["WEBFUNNEL_WAREHOUSE"] = str(self.warehouse)
        os.environ["WEBFUNNEL_WORK_DB"] = str(self.work_db)

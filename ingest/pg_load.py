"""Loading landed Parquet files into a PostgreSQL server (the ``postgres`` dbt target).

The same batches, the same ledger and the same quarantine as the DuckDB loader
(``ingest/load.py``), because the validation *is* that loader's: each file is validated and
typed by ``load.load_batch`` in a throw-away in-memory DuckDB, and what it would have written
(good rows into ``raw.<source>``, rejected rows into ``ops.quarantine``) is bulk-copied to the
server with ``COPY ... FROM STDIN`` (CSV), never row by row. A batch's rows, its quarantined
rows and its ``succeeded`` transition are committed in one server transaction, so a batch is
loaded exactly once even when the process is killed half-way.

PostgreSQL is also the executable stand-in for Redshift; on Redshift the files are loaded
from S3 with ``COPY ... FORMAT AS PARQUET`` instead (``ingest/redshift.py``).

Connection settings come from the same environment variables as the ``postgres`` output of
``profiles.yml`` (``WEBFUNNEL_PG_HOST``/``PORT``/``USER``/``PASSWORD``/``DBNAME``/``SSLMODE``).

    python -m ingest.pg_load run --landing data/landing
    python -m ingest.pg_load backfill --landing data/landing --start 2026-11-02 --end 2026-11-03
"""

from __future__ import annotations

import argparse
import getpass
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ingest.config import PROJECT_ROOT
from ingest.errors import WebfunnelError, first_line
from ingest.ledger import (
    AWAITING_RETRY,
    AWAITING_SCHEDULING,
    DISCARDED,
    LOADABLE,
    RUNNING,
    SCHEMA_SQL,
    SUCCEEDED,
    Batch,
    Ledger,
    discover,
    utcnow,
)
from ingest.load import (
    MAX_ATTEMPTS,
    LoadStats,
    RejectedFile,
    TransientFileError,
    _quarantine_file,
    ensure_raw_schema,
    load_batch,
)
from ingest.pipeline import progress_printer
from ingest.sources import SOURCES
from ingest.useragents import classify

RAW_META = ("_batch_id", "_file_row_number", "_partition_at", "_loaded_at", "_run_id")
QUARANTINE_COLUMNS = (
    "batch_id",
    "source",
    "path",
    "file_row_number",
    "reason",
    "content",
    "quarantined_at",
    "run_id",
)
USER_AGENT_COLUMNS = ("user_agent", "device_class", "browser", "os", "parsed_at")

# PostgreSQL before 16 wants an alias on a subquery in FROM; otherwise ledger.BATCHES_VIEW_SQL
BUILD_STATE_SQL = """
create table if not exists ops.build_state (
    built_at timestamp not null,
    built_through_transition_id bigint not null,
    project_fingerprint varchar not null,
    run_id varchar not null
)
"""

PG_BATCHES_VIEW_SQL = """
create or replace view ops.batches as
select
    batch_id, source, path, partition_at, state, "at" as state_at, attempt, reason,
    file_size, file_mtime
from (
    select *, row_number() over (partition by batch_id order by transition_id desc) as recency
    from ops.batch_state_transitions
) as latest
where recency = 1
"""


# --------------------------------------------------------------------------- connection


def connection_settings(dbname: str | None = None) -> dict[str, Any]:
    """psycopg2 keyword arguments from the environment, as ``profiles.yml`` reads them."""
    settings: dict[str, Any] = {
        "host": os.environ.get("WEBFUNNEL_PG_HOST", "localhost"),
        "port": int(os.environ.get("WEBFUNNEL_PG_PORT", "5432")),
        "user": os.environ.get("WEBFUNNEL_PG_USER") or getpass.getuser(),
        "dbname": dbname or os.environ.get("WEBFUNNEL_PG_DBNAME", "webfunnel"),
        "sslmode": os.environ.get("WEBFUNNEL_PG_SSLMODE", "prefer"),
        "connect_timeout": 10,
        "application_name": "webfunnel-loader",
    }
    password = os.environ.get("WEBFUNNEL_PG_PASSWORD")
    if password:
        settings["password"] = password
    return settings


def connect_psycopg2(engine: str, settings: dict[str, Any]) -> Any:
    """A psycopg2 connection (PostgreSQL, or Redshift over its PostgreSQL protocol), with
    one-line errors for a missing driver or an unreachable server."""
    try:
        import psycopg2
    except ImportError as exc:
        raise WebfunnelError(
            f"{engine} needs psycopg2: pip install 'webfunnel[{engine.lower()}]'"
        ) from exc
    where = f"{settings['user']}@{settings['host']}:{settings['port']}/{settings['dbname']}"
    try:
        return psycopg2.connect(**settings)
    except psycopg2.OperationalError as exc:
        raise WebfunnelError(f"cannot connect to {engine} {where}: {first_line(exc)}") from exc


class PgConnection:
    """A psycopg2 connection with DuckDB's ``execute(sql, params)`` calling convention.

    ``Ledger``, ``ensure_raw_schema`` and ``load._quarantine_file`` are written against
    DuckDB's API (``?`` placeholders, ``execute`` returning something to fetch from); this
    wrapper lets them run unchanged on the server. Autocommit is on, like DuckDB's: a
    multi-statement unit of work is wrapped in explicit ``begin``/``commit``.
    """

    def __init__(self, raw_connection: Any):
        self.raw = raw_connection
        self.raw.autocommit = True

    @classmethod
    def connect(cls, dbname: str | None = None) -> PgConnection:
        return cls(connect_psycopg2("PostgreSQL", connection_settings(dbname)))

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        cursor = self.raw.cursor()
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql.replace("%", "%%").replace("?", "%s"), list(params))
        return cursor

    def copy_csv(self, table: str, columns: Sequence[str], csv_path: Path) -> None:
        """Bulk-load a headerless CSV (empty unquoted = null, ``""`` = empty string)."""
        sql = f"copy {table} ({', '.join(columns)}) from stdin with (format csv)"
        with csv_path.open("rb") as handle:
            self.raw.cursor().copy_expert(sql, handle)

    def close(self) -> None:
        self.raw.close()


def ensure_schema(pg: PgConnection) -> None:
    """The ``ops`` ledger tables and the ``raw`` tables, as the DuckDB loader creates them."""
    pg.execute(SCHEMA_SQL)
    pg.execute(PG_BATCHES_VIEW_SQL)
    pg.execute(BUILD_STATE_SQL)
    ensure_raw_schema(pg)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- loading


class _Staging:
    """An in-memory DuckDB that validates one batch with ``load.load_batch`` and hands its
    output to the server as CSV files. Every batch runs in a transaction that is rolled back,
    so the staging database is always empty between batches."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.con = duckdb.connect()
        self.con.execute("set TimeZone = 'UTC'")
        Ledger.ensure_schema(self.con)
        ensure_raw_schema(self.con)

    def export(self, query: str, name: str) -> Path:
        target = self.workdir / f"{name}.csv"
        self.con.execute(f"copy ({query}) to '{target.as_posix()}' (format csv, header false)")
        return target

    def close(self) -> None:
        self.con.close()


def _load_batch(
    pg: PgConnection, staging: _Staging, batch: Batch, file_path: Path, run_id: str
) -> tuple[int, int]:
    """Validate in DuckDB, COPY the outcome to the server (caller holds the transaction)."""
    source = SOURCES[batch.source]
    staging.con.execute("begin transaction")
    try:
        loaded, quarantined = load_batch(staging.con, batch, file_path, run_id)
        columns = (*source.column_names, *RAW_META)
        if loaded:
            rows = staging.export(f"select {', '.join(columns)} from raw.{source.name}", "rows")
            pg.copy_csv(f"raw.{source.name}", columns, rows)
        if quarantined:
            rejected = staging.export(
                f"select {', '.join(QUARANTINE_COLUMNS)} from ops.quarantine", "quarantine"
            )
            pg.copy_csv("ops.quarantine", QUARANTINE_COLUMNS, rejected)
    finally:
        staging.con.execute("rollback")
    return loaded, quarantined


def process_batch(
    pg: PgConnection,
    staging: _Staging,
    ledger: Ledger,
    batch: Batch,
    file_path: Path,
    attempt: int,
    stats: LoadStats,
    max_attempts: int = MAX_ATTEMPTS,
) -> str:
    """One batch through its lifecycle, exactly as ``load.process_batch`` does on DuckDB."""
    ledger.record(batch, RUNNING, attempt)
    pg.execute("begin")
    try:
        loaded, quarantined = _load_batch(pg, staging, batch, file_path, ledger.run_id)
        ledger.record(batch, SUCCEEDED, attempt)
        pg.execute("commit")
    except RejectedFile as exc:
        pg.execute("rollback")
        pg.execute("begin")
        _quarantine_file(pg, batch, str(exc), ledger.run_id)  # type: ignore[arg-type]
        ledger.record(batch, DISCARDED, attempt, str(exc))
        pg.execute("commit")
        stats.batches_discarded += 1
        return DISCARDED
    except TransientFileError as exc:
        pg.execute("rollback")
        if attempt >= max_attempts:
            reason = f"gave up after {attempt} attempts: {exc}"
            pg.execute("begin")
            _quarantine_file(pg, batch, reason, ledger.run_id)  # type: ignore[arg-type]
            ledger.record(batch, DISCARDED, attempt, reason)
            pg.execute("commit")
            stats.batches_discarded += 1
            return DISCARDED
        ledger.record(batch, AWAITING_RETRY, attempt, str(exc))
        stats.batches_retrying += 1
        return AWAITING_RETRY
    except BaseException:
        _rollback_quietly(pg)
        raise
    stats.batches_loaded += 1
    stats.rows_loaded += loaded
    stats.rows_quarantined += quarantined
    stats.sources_loaded.add(batch.source)
    stats.loaded_batch_ids.append(batch.batch_id)
    return SUCCEEDED


def _rollback_quietly(pg: PgConnection) -> None:
    """Roll back after an unexpected error without hiding it (the connection may be gone)."""
    try:
        pg.execute("rollback")
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


@contextmanager
def _staging() -> Iterator[_Staging]:
    with tempfile.TemporaryDirectory(prefix="webfunnel-pg-") as workdir:
        staging = _Staging(Path(workdir))
        try:
            yield staging
        finally:
            staging.close()


def _resolve(landing: Path, archive: Path | None, batch: Batch) -> Path:
    file_path = landing / batch.path
    if not file_path.exists() and archive is not None and (archive / batch.path).exists():
        return archive / batch.path
    return file_path


def load_landed(
    pg: PgConnection,
    ledger: Ledger,
    landing: Path,
    archive: Path | None = None,
    progress: Callable[[int, int, Batch], None] | None = None,
) -> LoadStats:
    """Register new files, then load every waiting batch (new, retrying or interrupted)."""
    ensure_schema(pg)
    known = ledger.current()
    new = [batch for batch in discover(landing) if batch.batch_id not in known]
    if new:
        pg.execute("begin")
        for batch in new:
            ledger.record(batch, AWAITING_SCHEDULING, 0)
        pg.execute("commit")
    stats = LoadStats()
    pending = ledger.batches_in(LOADABLE)
    with _staging() as staging:
        for index, batch in enumerate(pending, start=1):
            attempt = known.get(batch.batch_id, (AWAITING_SCHEDULING, 0))[1] + 1
            path = _resolve(landing, archive, batch)
            process_batch(pg, staging, ledger, batch, path, attempt, stats)
            if progress is not None:
                progress(index, len(pending), batch)
    return stats


# --------------------------------------------------------------------------- user agents


def _copy_user_agents(pg: PgConnection, user_agents: list[str]) -> int:
    if not user_agents:
        return 0
    now = utcnow()
    parsed = [classify(user_agent) for user_agent in user_agents]
    table = pa.table(
        {
            "user_agent": pa.array(user_agents, pa.string()),
            "device_class": pa.array([row[0] for row in parsed], pa.string()),
            "browser": pa.array([row[1] for row in parsed], pa.string()),
            "os": pa.array([row[2] for row in parsed], pa.string()),
            "parsed_at": pa.array([now] * len(parsed), pa.timestamp("us")),
        }
    )
    with _staging() as staging:
        staging.con.register("parsed_user_agents", table)
        csv_path = staging.export("select * from parsed_user_agents", "user_agents")
        pg.copy_csv("raw.user_agents", USER_AGENT_COLUMNS, csv_path)
    return len(user_agents)


def parse_new_user_agents(pg: PgConnection, run_id: str) -> int:
    """Classify the user agents first seen in this run's pings (``useragents.classify``)."""
    rows = pg.execute(
        """
        select distinct trim(pings.user_agent)
        from raw.pings as pings
        where pings._run_id = ?
            and pings.user_agent is not null
            and trim(pings.user_agent) <> ''
            and not exists (
                select 1 from raw.user_agents as known
                where known.user_agent = trim(pings.user_agent)
            )
        """,
        [run_id],
    ).fetchall()
    return _copy_user_agents(pg, sorted(user_agent for (user_agent,) in rows))


def reparse_all_user_agents(pg: PgConnection) -> int:
    """Classify every user agent again (a backfill may follow a fix of the classifier)."""
    rows = pg.execute(
        "select distinct trim(user_agent) from raw.pings "
        "where user_agent is not null and trim(user_agent) <> ''"
    ).fetchall()
    pg.execute("begin")
    try:
        pg.execute("delete from raw.user_agents")
        count = _copy_user_agents(pg, sorted(user_agent for (user_agent,) in rows))
        pg.execute("commit")
    except BaseException:
        pg.execute("rollback")
        raise
    return count


# --------------------------------------------------------------------------- dbt and runs


def new_run_id() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def dbt_build(target: str = "postgres", *extra: str, quiet: bool = True) -> None:
    """``dbt build --target <target>`` in a subprocess, with its own target and log folders
    (so it never disturbs the DuckDB pipeline's partial-parse state)."""
    dbt = Path(sys.executable).parent / "dbt"
    workdir = PROJECT_ROOT / "target" / target
    args = [
        str(dbt),
        *(["--quiet"] if quiet else []),
        "build",
        "--project-dir",
        str(PROJECT_ROOT),
        "--profiles-dir",
        str(PROJECT_ROOT),
        "--target",
        target,
        "--target-path",
        str(workdir),
        "--log-path",
        str(workdir / "logs"),
        *extra,
    ]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        tail = (completed.stdout + completed.stderr).strip().splitlines()[-15:]
        raise WebfunnelError(f"dbt build --target {target} failed:\n" + "\n".join(tail))


def build_if_needed(target: str, run_id: str, force: bool = False, quiet: bool = True) -> bool:
    """``dbt build`` when new batches loaded or the models changed; records the build."""
    from ingest.pipeline import plan_build, project_fingerprint

    fingerprint = project_fingerprint()
    pg = PgConnection.connect()
    try:
        plan = plan_build(pg, fingerprint)  # type: ignore[arg-type]
    finally:
        pg.close()
    if not (plan.needed or force):
        return False
    # a forced build follows a backfill, which may have removed rows: rebuild from scratch
    extra = ("--full-refresh",) if (plan.full_refresh or force) else ()
    dbt_build(target, "--exclude", "test_type:unit", *extra, quiet=quiet)
    pg = PgConnection.connect()
    try:
        pg.execute(
            "insert into ops.build_state values (?, ?, ?, ?)",
            [utcnow(), plan.through, fingerprint, run_id],
        )
    finally:
        pg.close()
    return True


def run(
    landing: Path,
    archive: Path | None = None,
    target: str = "postgres",
    build: bool = True,
    quiet: bool = True,
) -> LoadStats:
    """Load every landed file not yet loaded into the server, parse new user agents, build."""
    if not landing.is_dir():
        raise WebfunnelError(f"landing folder {landing} does not exist")
    run_id = new_run_id()
    pg = PgConnection.connect()
    try:
        ensure_schema(pg)
        ledger = Ledger(pg, run_id)  # type: ignore[arg-type]
        stats = load_landed(pg, ledger, landing, archive, progress_printer(not quiet))
        parse_new_user_agents(pg, run_id)
    finally:
        pg.close()
    if build:
        build_if_needed(target, run_id, quiet=quiet)
    return stats


def _forget_batch(pg: PgConnection, batch: Batch) -> None:
    """Remove a batch's rows so that reloading it cannot count them twice."""
    pg.execute("begin")
    pg.execute(
        f"delete from raw.{SOURCES[batch.source].name} where _batch_id = ?", [batch.batch_id]
    )
    pg.execute("delete from ops.quarantine where batch_id = ?", [batch.batch_id])
    pg.execute("commit")


def backfill(
    landing: Path,
    start: datetime,
    end: datetime,
    archive: Path | None = None,
    target: str = "postgres",
    build: bool = True,
    quiet: bool = True,
) -> LoadStats:
    """Reload the batches of the partitions in [start, end), then rebuild the models
    (the server twin of ``pipeline.backfill``)."""
    if end <= start:
        raise WebfunnelError(f"backfill window is empty: --end {end} is not after --start {start}")
    run_id = new_run_id()
    stats = LoadStats()
    pg = PgConnection.connect()
    try:
        ensure_schema(pg)
        ledger = Ledger(pg, run_id)  # type: ignore[arg-type]
        known = ledger.current()
        on_disk = {batch.batch_id: batch for batch in discover(landing)}
        if archive is not None and archive.is_dir():
            for batch in discover(archive):
                on_disk.setdefault(batch.batch_id, batch)
        window = sorted(
            (
                batch
                for batch in on_disk.values()
                if batch.partition_at is not None and start <= batch.partition_at < end
            ),
            key=lambda batch: (batch.partition_at, batch.path),
        )
        with _staging() as staging:
            for batch in window:
                attempt = known.get(batch.batch_id, ("", 0))[1] + 1
                ledger.record(batch, AWAITING_SCHEDULING, attempt - 1, f"backfill {run_id}")
                _forget_batch(pg, batch)
                path = _resolve(landing, archive, batch)
                process_batch(pg, staging, ledger, batch, path, attempt, stats)
        reparse_all_user_agents(pg)
    finally:
        pg.close()
    if build:
        build_if_needed(target, run_id, force=True, quiet=quiet)
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.pg_load",
        description="Load landed Parquet into PostgreSQL and build the models there.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "backfill"):
        command = commands.add_parser(name)
        command.add_argument("--landing", default=os.environ.get("WEBFUNNEL_LANDING"))
        command.add_argument("--archive", default=os.environ.get("WEBFUNNEL_ARCHIVE"))
        command.add_argument("--target", default="postgres")
        command.add_argument("--no-build", action="store_true", help="load only")
        if name == "backfill":
            command.add_argument("--start", required=True, type=datetime.fromisoformat)
            command.add_argument("--end", required=True, type=datetime.fromisoformat)
    args = parser.parse_args(argv)
    landing = Path(args.landing or PROJECT_ROOT / "data" / "landing")
    archive = Path(args.archive) if args.archive else landing.parent / (landing.name + "-archive")
    try:
        if args.command == "run":
            stats = run(landing, archive, args.target, build=not args.no_build, quiet=False)
        else:
            stats = backfill(
                landing, args.start, args.end, archive, args.target, not args.no_build, False
            )
    except WebfunnelError as exc:
        print(f"webfunnel: {exc}", file=sys.stderr)
        return 1
    print(
        f"{stats.batches_loaded} batches loaded ({stats.rows_loaded:,} rows), "
        f"{stats.batches_discarded} discarded, {stats.batches_retrying} awaiting retry, "
        f"{stats.rows_quarantined:,} rows quarantined"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

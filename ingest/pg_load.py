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
import json
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

from ingest.config import PROJECT_ROOT, env_number, env_port, sql_string
from ingest.dbt import warn_ignored, without_build_changing_env
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
    """psycopg2 keyword arguments from the environment, as ``profiles.yml`` reads them (its
    threads checked here too, before anything is loaded)."""
    env_number("WEBFUNNEL_PG_THREADS", 4, whole=True, minimum=1)
    settings: dict[str, Any] = {
        "host": os.environ.get("WEBFUNNEL_PG_HOST", "localhost"),
        "port": env_port("WEBFUNNEL_PG_PORT", 5432),
        # as profiles.yml, so that dbt and the loader are one role: not the OS account's name,
        # which differs from $USER where that is unset (a service, cron, a container)
        "user": os.environ.get("WEBFUNNEL_PG_USER", os.environ.get("USER", "postgres")),
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

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Multi-row ``INSERT ... VALUES`` in pages (works on PostgreSQL and Redshift)."""
        from psycopg2.extras import execute_values

        sql = f"insert into {table} ({', '.join(columns)}) values %s"
        execute_values(self.raw.cursor(), sql, [tuple(row) for row in rows], page_size=500)

    def close(self) -> None:
        self.raw.close()


def ensure_schema(pg: PgConnection) -> None:
    """The ``ops`` ledger tables and the ``raw`` tables, as the DuckDB loader creates them."""
    pg.execute(SCHEMA_SQL)
    pg.execute(PG_BATCHES_VIEW_SQL)
    pg.execute(BUILD_STATE_SQL)
    ensure_raw_schema(pg)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- loading


class NotAttempted(WebfunnelError):
    """Loading a batch failed for a reason that is not the file's: the run stops."""


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
        to = sql_string(target.as_posix())
        self.con.execute(f"copy ({query}) to {to} (format csv, header false)")
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


def _loader(
    pg: PgConnection, staging: _Staging, batch: Batch, file_path: Path, run_id: str
) -> Callable[[], tuple[int, int]]:
    return lambda: _load_batch(pg, staging, batch, file_path, run_id)


def process_batch(
    pg: PgConnection,
    ledger: Ledger,
    batch: Batch,
    attempt: int,
    stats: LoadStats,
    load_rows: Callable[[], tuple[int, int]],
    max_attempts: int = MAX_ATTEMPTS,
) -> str:
    """One batch through its lifecycle, exactly as ``load.process_batch`` does on DuckDB.

    ``load_rows`` writes the batch's good rows into ``raw`` and its rejected rows into
    ``ops.quarantine`` inside the transaction opened here, and returns their counts; it
    raises ``RejectedFile`` (the file is discarded) or ``TransientFileError`` (it is tried
    again on the next run, until ``max_attempts``). The PostgreSQL loader's ``load_rows``
    validates in DuckDB and COPYs from stdin; the Redshift loader's runs
    ``COPY ... FORMAT AS PARQUET`` from S3 (``ingest/redshift_load.py``).
    """
    ledger.record(batch, RUNNING, attempt)
    pg.execute("begin")
    try:
        loaded, quarantined = load_rows()
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
    except NotAttempted as exc:
        # nothing to do with this file (the warehouse cannot reach the landing zone): the
        # batch goes back to waiting, its attempt not counted, and the run fails
        pg.execute("rollback")
        ledger.record(batch, AWAITING_SCHEDULING, attempt - 1, str(exc))
        raise
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


# a function that makes the ``load_rows`` of ``process_batch`` for one batch
LoaderFor = Callable[[Batch], Callable[[], tuple[int, int]]]


def load_waiting(
    pg: PgConnection,
    ledger: Ledger,
    discovered: Sequence[Batch],
    loader_for: LoaderFor,
    progress: Callable[[int, int, Batch], None] | None = None,
    before: datetime | None = None,
) -> LoadStats:
    """Register the discovered files not yet in the ledger, then load every waiting batch
    (new, retrying, or left ``running`` by a killed run). Shared by both server loaders.

    ``before``: leave batches of partition hours from then on to later runs (an Airflow run
    loads its interval and what earlier hours still have waiting, nothing later)."""
    known = ledger.current()
    new = [batch for batch in discovered if batch.batch_id not in known]
    if new:
        pg.execute("begin")
        for batch in new:
            ledger.record(batch, AWAITING_SCHEDULING, 0)
        pg.execute("commit")
    stats = LoadStats()
    pending = [
        batch
        for batch in ledger.batches_in(LOADABLE)
        if before is None or batch.partition_at is None or batch.partition_at < before
    ]
    for index, batch in enumerate(pending, start=1):
        attempt = known.get(batch.batch_id, (AWAITING_SCHEDULING, 0))[1] + 1
        process_batch(pg, ledger, batch, attempt, stats, loader_for(batch))
        if progress is not None:
            progress(index, len(pending), batch)
    return stats


def reload_window(
    pg: PgConnection,
    ledger: Ledger,
    discovered: Sequence[Batch],
    start: datetime,
    end: datetime,
    loader_for: LoaderFor,
) -> LoadStats:
    """Forget and load again every discovered batch of a partition hour in [start, end)."""
    known = ledger.current()
    window = sorted(
        (
            batch
            for batch in {batch.batch_id: batch for batch in reversed(discovered)}.values()
            if batch.partition_at is not None and start <= batch.partition_at < end
        ),
        key=lambda batch: (batch.partition_at, batch.path),
    )
    stats = LoadStats()
    for batch in window:
        attempt = known.get(batch.batch_id, ("", 0))[1] + 1
        ledger.record(batch, AWAITING_SCHEDULING, attempt - 1, f"backfill {ledger.run_id}")
        _forget_batch(pg, batch)
        process_batch(pg, ledger, batch, attempt, stats, loader_for(batch))
    return stats


def load_landed(
    pg: PgConnection,
    ledger: Ledger,
    landing: Path,
    archive: Path | None = None,
    progress: Callable[[int, int, Batch], None] | None = None,
    before: datetime | None = None,
) -> LoadStats:
    """Register new files, then load every waiting batch (new, retrying or interrupted)."""
    ensure_schema(pg)
    with _staging() as staging:

        def loader_for(batch: Batch) -> Callable[[], tuple[int, int]]:
            path = _resolve(landing, archive, batch)
            return _loader(pg, staging, batch, path, ledger.run_id)

        return load_waiting(pg, ledger, discover(landing), loader_for, progress, before)


# --------------------------------------------------------------------------- user agents


def _copy_user_agents(pg: PgConnection, user_agents: list[str]) -> int:
    """Classify and insert (multi-row ``INSERT``: Redshift has no ``COPY FROM STDIN``)."""
    if not user_agents:
        return 0
    now = utcnow()
    rows = [(user_agent, *classify(user_agent), now) for user_agent in user_agents]
    pg.insert_many("raw.user_agents", USER_AGENT_COLUMNS, rows)
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
    """``dbt build --target <target>`` in a subprocess, with target and log folders of that
    target and database (so it never disturbs the DuckDB pipeline's partial-parse state,
    and two databases never share one)."""
    dbt = Path(sys.executable).parent / "dbt"
    variable = "WEBFUNNEL_RS_DBNAME" if target == "redshift" else "WEBFUNNEL_PG_DBNAME"
    workdir = PROJECT_ROOT / "target" / f"{target}-{os.environ.get(variable, 'webfunnel')}"
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
    env, ignored = without_build_changing_env(os.environ)
    warn_ignored(ignored)
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    results = workdir / "run_results.json"
    results.unlink(missing_ok=True)
    completed = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        tail = (completed.stdout + completed.stderr).strip().splitlines()[-15:]
        raise WebfunnelError(f"dbt build --target {target} failed:\n" + "\n".join(tail))
    if _models_built(results) == 0:  # as ingest.dbt.run_dbt: a build that took in nothing
        raise WebfunnelError(
            f"dbt build --target {target} ran no models (dbt found none to run); "
            f"see {workdir / 'logs' / 'dbt.log'}"
        )


def _models_built(run_results: Path) -> int:
    if not run_results.exists():
        return 0
    results = json.loads(run_results.read_text()).get("results", [])
    return sum(
        1
        for result in results
        if result.get("unique_id", "").startswith("model.") and result.get("status") == "success"
    )


def build_if_needed(
    target: str,
    run_id: str,
    force: bool = False,
    quiet: bool = True,
    connect: Callable[[], PgConnection] | None = None,
) -> bool:
    """``dbt build`` when new batches loaded or the models changed; records the build.

    ``connect`` opens the warehouse the ledger is in (PostgreSQL by default)."""
    from ingest.pipeline import (
        FULL_REFRESH_NEEDED,
        build_args,
        conflict_after_build,
        plan_build,
        project_fingerprint,
    )

    connect = connect or PgConnection.connect
    fingerprint = project_fingerprint()
    pg = connect()
    try:
        plan = plan_build(pg, fingerprint)  # type: ignore[arg-type]
    finally:
        pg.close()
    if not (plan.needed or force):
        return False
    # a forced build follows a backfill, which may have removed rows: rebuild from scratch
    full_refresh = plan.full_refresh or force
    failure = None
    try:
        dbt_build(target, *build_args(full_refresh), quiet=quiet)
    except WebfunnelError as exc:
        if full_refresh:
            raise
        failure = exc
    pg = connect()
    try:
        # as the DuckDB pipeline (ingest.pipeline.record_build): conflicting redeliveries
        # make the build a full refresh (even one whose tests failed on the rows the old
        # keys kept), recorded as needed until one succeeds
        conflict = conflict_after_build(pg, full_refresh, failure is not None, Exception)
        if conflict is None and failure is not None:
            raise failure
        pg.execute(
            "insert into ops.build_state values (?, ?, ?, ?)",
            [utcnow(), plan.through, FULL_REFRESH_NEEDED if conflict else fingerprint, run_id],
        )
    finally:
        pg.close()
    if conflict:
        dbt_build(target, *build_args(True), quiet=quiet)
        pg = connect()
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
    run_id: str | None = None,
    before: datetime | None = None,
) -> LoadStats:
    """Load every landed file not yet loaded into the server (of the partition hours before
    ``before``, if given), parse new user agents, build."""
    if not landing.is_dir():
        raise WebfunnelError(f"landing folder {landing} does not exist")
    run_id = run_id or new_run_id()
    pg = PgConnection.connect()
    try:
        ensure_schema(pg)
        ledger = Ledger(pg, run_id)  # type: ignore[arg-type]
        stats = load_landed(pg, ledger, landing, archive, progress_printer(not quiet), before)
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
    run_id: str | None = None,
) -> LoadStats:
    """Reload the batches of the partitions in [start, end), then rebuild the models
    (the server twin of ``pipeline.backfill``)."""
    if end <= start:
        raise WebfunnelError(f"backfill window is empty: --end {end} is not after --start {start}")
    run_id = run_id or new_run_id()
    pg = PgConnection.connect()
    try:
        ensure_schema(pg)
        ledger = Ledger(pg, run_id)  # type: ignore[arg-type]
        # the landing zone's copy of a file wins over the archive's (discover order)
        discovered = discover(landing)
        if archive is not None and archive.is_dir():
            discovered += discover(archive)
        with _staging() as staging:

            def loader_for(batch: Batch) -> Callable[[], tuple[int, int]]:
                path = _resolve(landing, archive, batch)
                return _loader(pg, staging, batch, path, ledger.run_id)

            stats = reload_window(pg, ledger, discovered, start, end, loader_for)
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

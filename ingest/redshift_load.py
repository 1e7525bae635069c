"""Loading the landing zone on S3 into Amazon Redshift, and building the models there.

``webfunnel run --target redshift`` (and ``backfill``) end here. The lifecycle is the
PostgreSQL loader's (``pg_load.load_waiting``/``reload_window``/``process_batch``): the
same ledger, one transaction per batch holding its rows, its quarantined rows and its
``succeeded`` transition, a batch left ``running`` by a killed run simply loaded again.
What differs is where the bytes go: Python never reads a file's rows. It lists the landing
prefix, reads each new file's Parquet footer (a few KB, with ranged reads) to check the
columns and build the statements, and Redshift itself reads the file with
``COPY ... FORMAT AS PARQUET`` (``ingest.redshift.copy_batch_sql``).

Configuration (environment):

* ``WEBFUNNEL_RS_LANDING``: the landing zone, ``s3://<bucket>/<prefix>`` (required);
* ``WEBFUNNEL_RS_ARCHIVE``: where archived files are, for backfills (optional);
* ``WEBFUNNEL_RS_IAM_ROLE``: the role ARN the cluster assumes to read the bucket (required);
* ``WEBFUNNEL_RS_*``: the connection, as ``profiles.yml`` reads it
  (``redshift.connection_settings``).

Listing and footers go through ``pyarrow.fs`` (S3 credentials from the usual AWS
environment or instance profile); the same code reads a local folder, which is how the
tests run the whole loader against PostgreSQL (``tests/postgres/test_redshift_loader.py``).

Errors of a COPY: a lost connection fails the run (the batch stays ``running`` and is loaded
again next time). S3 refusing access is a configuration error: the run fails and the batch
goes back to ``awaiting_scheduling`` without an attempt counted. Any other error of the
statements (a file Redshift cannot read) is treated as transient: the batch is tried again
on the next runs and discarded with its reason after ``load.MAX_ATTEMPTS`` attempts.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingest import pg_load
from ingest.errors import WebfunnelError, first_line
from ingest.ledger import Batch, Ledger, batch_id_for, parse_partition, utcnow
from ingest.load import (
    LoadStats,
    RejectedFile,
    TransientFileError,
    parquet_magic_problem,
    require_partition,
)
from ingest.pipeline import progress_printer
from ingest.redshift import connection_settings, copy_batch_sql, file_columns, schema_sql
from ingest.sources import SOURCES

# S3 refusing the cluster's role: nothing a retry of the file can fix
_CONFIGURATION_ERRORS = ("access denied", "accessdenied", "not authorized", "invalidaccesskeyid")


@dataclass(frozen=True)
class RedshiftLanding:
    """Where the landed files are, and the role COPY reads them with."""

    landing: str  # s3://bucket/prefix (a local folder in the tests)
    iam_role: str
    archive: str | None = None
    # the location COPY reads, if not ``landing`` itself (tests: a local folder is listed,
    # the statements name an S3 location)
    copy_root: str | None = None
    copy_archive_root: str | None = None

    @classmethod
    def from_environment(cls) -> RedshiftLanding:
        landing = os.environ.get("WEBFUNNEL_RS_LANDING", "")
        role = os.environ.get("WEBFUNNEL_RS_IAM_ROLE", "")
        if not landing.startswith("s3://"):
            raise WebfunnelError(
                "Redshift loads from S3: set WEBFUNNEL_RS_LANDING=s3://<bucket>/<prefix> "
                "(the landing zone) and WEBFUNNEL_RS_IAM_ROLE (the role COPY reads it with)"
            )
        if not role:
            raise WebfunnelError(
                "set WEBFUNNEL_RS_IAM_ROLE to the ARN of the IAM role the cluster uses to read "
                f"{landing}"
            )
        return cls(landing, role, os.environ.get("WEBFUNNEL_RS_ARCHIVE") or None)

    def copy_location(self, archived: bool) -> str:
        if archived:
            return self.copy_archive_root or self.archive or ""
        return self.copy_root or self.landing


def connect() -> pg_load.PgConnection:
    """The cluster of the ``redshift`` target, as a ``PgConnection`` (session in UTC)."""
    connection = pg_load.PgConnection(pg_load.connect_psycopg2("Redshift", connection_settings()))
    connection.execute("set timezone to 'UTC'")
    return connection


def ensure_schema(rs: pg_load.PgConnection) -> None:
    for statement in schema_sql():
        rs.execute(statement)


# ----------------------------------------------------------------------------- files


@functools.lru_cache(maxsize=8)
def _filesystem(uri: str) -> tuple[Any, str]:
    """The ``pyarrow.fs`` filesystem of a location, made once (S3 resolves credentials)."""
    import pyarrow.fs

    try:
        return pyarrow.fs.FileSystem.from_uri(uri)
    except Exception as exc:  # noqa: BLE001 - any bad location is a configuration error
        raise WebfunnelError(f"cannot open {uri}: {first_line(exc)}") from exc


def discover(uri: str) -> list[Batch]:
    """Every Parquet object under ``<uri>/<source>/``, as ``ledger.discover`` finds files."""
    import pyarrow.fs

    fs, base = _filesystem(uri)
    base = base.rstrip("/")
    batches: list[Batch] = []
    for source in SOURCES:
        selector = pyarrow.fs.FileSelector(f"{base}/{source}", recursive=True, allow_not_found=True)
        try:
            infos = fs.get_file_info(selector)
        except OSError as exc:
            raise WebfunnelError(f"cannot list {uri}/{source}: {first_line(exc)}") from exc
        for info in sorted(infos, key=lambda info: info.path):
            if info.type != pyarrow.fs.FileType.File or not info.path.endswith(".parquet"):
                continue
            if info.base_name.startswith((".", "_")):
                continue  # a writer's temporary name
            inside = info.path[len(base) + len(source) + 2 :]
            relative = f"{source}/{inside}"
            mtime = info.mtime
            if mtime is not None and mtime.tzinfo is not None:
                mtime = mtime.astimezone(UTC).replace(tzinfo=None)
            batches.append(
                Batch(
                    batch_id=batch_id_for(relative),
                    source=source,
                    path=relative,
                    partition_at=parse_partition(inside),
                    file_size=info.size,
                    file_mtime=mtime,
                )
            )
    return batches


def footer_columns(uri: str, batch: Batch) -> list[tuple[str, str]]:
    """(name, Arrow type) of the file's columns, from its first and last bytes and footer;
    the DuckDB loader's file-level reasons for a file that is not usable Parquet."""

    fs, base = _filesystem(uri)
    path = f"{base.rstrip('/')}/{batch.path}"
    try:
        with fs.open_input_file(path) as handle:
            size = handle.size()
            head = handle.read_at(4, 0) if size else b""
            tail = handle.read_at(4, size - 4) if size >= 8 else b""
            problem = parquet_magic_problem(size, head, tail)
            if problem is not None:
                raise RejectedFile(problem)
            return file_columns(handle)
    except FileNotFoundError as exc:
        raise TransientFileError("file disappeared before it could be read") from exc
    except OSError as exc:
        message = first_line(exc)
        if _is_configuration_error(message):
            raise pg_load.NotAttempted(
                f"cannot read {uri}/{batch.path}: {message} (check the AWS credentials the "
                "loader lists the landing zone with)"
            ) from exc
        raise TransientFileError(f"I/O error reading the file: {message}") from exc


def _is_configuration_error(message: str) -> bool:
    squashed = message.lower().replace("_", "").replace(" ", "")
    return any(marker.replace(" ", "") in squashed for marker in _CONFIGURATION_ERRORS)


# ----------------------------------------------------------------------------- loading


def _run_copy(rs: pg_load.PgConnection, batch: Batch, statements: list[str]) -> tuple[int, int]:
    """The batch's statements, inside the caller's transaction: (rows loaded, quarantined)."""
    import psycopg2

    counts = []
    try:
        for statement in statements:
            counts.append(rs.execute(statement).rowcount)
    except psycopg2.OperationalError:
        raise  # the connection is gone: the run fails, the batch is loaded again next run
    except psycopg2.Error as exc:
        message = first_line(exc)
        if _is_configuration_error(message):
            raise pg_load.NotAttempted(
                f"COPY of {batch.path} refused: {message} (does WEBFUNNEL_RS_IAM_ROLE "
                "allow s3:GetObject and s3:ListBucket on the landing zone?)"
            ) from exc
        raise TransientFileError(f"COPY failed: {message}") from exc
    return counts[2], counts[3]  # the insert into raw, the insert into ops.quarantine


def _loader_for(
    rs: pg_load.PgConnection, where: RedshiftLanding, archived: set[str], run_id: str
) -> pg_load.LoaderFor:
    def loader_for(batch: Batch) -> Callable[[], tuple[int, int]]:
        def load_rows() -> tuple[int, int]:
            in_archive = batch.batch_id in archived
            listed = (where.archive or "") if in_archive else where.landing
            require_partition(batch)  # before reading: the DuckDB loader's order
            columns = footer_columns(listed, batch)  # copy_batch_sql checks them
            statements = copy_batch_sql(
                batch,
                columns,
                s3_root=where.copy_location(in_archive),
                iam_role=where.iam_role,
                run_id=run_id,
                loaded_at=utcnow(),
            )
            return _run_copy(rs, batch, statements)

        return load_rows

    return loader_for


def _archived_only(where: RedshiftLanding, landed: list[Batch]) -> tuple[list[Batch], set[str]]:
    """The archive's batches that are no longer in the landing zone."""
    if not where.archive:
        return [], set()
    on_landing = {batch.batch_id for batch in landed}
    archived = [batch for batch in discover(where.archive) if batch.batch_id not in on_landing]
    return archived, {batch.batch_id for batch in archived}


def run(
    where: RedshiftLanding,
    target: str = "redshift",
    build: bool = True,
    quiet: bool = True,
    connect: Callable[[], pg_load.PgConnection] = connect,
    run_id: str | None = None,
    before: datetime | None = None,
) -> LoadStats:
    """Load every landed file not yet loaded (of the partition hours before ``before``, if
    given), parse new user agents, build if needed."""
    run_id = run_id or pg_load.new_run_id()
    rs = connect()
    try:
        ensure_schema(rs)
        ledger = Ledger(rs, run_id)  # type: ignore[arg-type]
        landed = discover(where.landing)
        _, archived = _archived_only(where, landed)
        stats = pg_load.load_waiting(
            rs,
            ledger,
            landed,
            _loader_for(rs, where, archived, run_id),
            progress_printer(not quiet),
            before,
        )
        pg_load.parse_new_user_agents(rs, run_id)
    finally:
        rs.close()
    if build:
        pg_load.build_if_needed(target, run_id, quiet=quiet, connect=connect)
    return stats


def backfill(
    where: RedshiftLanding,
    start: datetime,
    end: datetime,
    target: str = "redshift",
    build: bool = True,
    quiet: bool = True,
    connect: Callable[[], pg_load.PgConnection] = connect,
    run_id: str | None = None,
) -> LoadStats:
    """Reload the partitions in [start, end) from the landing zone and the archive, then
    rebuild the models from scratch (the twin of ``pipeline.backfill``)."""
    if end <= start:
        raise WebfunnelError(f"backfill window is empty: --end {end} is not after --start {start}")
    run_id = run_id or pg_load.new_run_id()
    rs = connect()
    try:
        ensure_schema(rs)
        ledger = Ledger(rs, run_id)  # type: ignore[arg-type]
        landed = discover(where.landing)
        archived_batches, archived = _archived_only(where, landed)
        stats = pg_load.reload_window(
            rs,
            ledger,
            landed + archived_batches,
            start,
            end,
            _loader_for(rs, where, archived, run_id),
        )
        pg_load.reparse_all_user_agents(rs)
    finally:
        rs.close()
    if build:
        pg_load.build_if_needed(target, run_id, force=True, quiet=quiet, connect=connect)
    return stats

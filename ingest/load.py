"""Loading landed Parquet files into the working warehouse's ``raw`` schema.

Each file is validated as a whole (readable Parquet, every contract column present with a
usable type) and row by row (CONTRACT §1 "bad rows"). Good rows go to ``raw.<source>``,
bad rows and bad files to ``ops.quarantine`` with a reason: every landed row ends up in one
of the two. The rows of a batch and its ``succeeded`` transition are committed together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.config import env_number
from ingest.faults import kill_point
from ingest.ledger import (
    AWAITING_RETRY,
    AWAITING_SCHEDULING,
    DISCARDED,
    LOADABLE,
    RUNNING,
    SUCCEEDED,
    Batch,
    Ledger,
    discover,
    utcnow,
)
from ingest.sources import SOURCES, STRING, TIMESTAMP, Source
from ingest.useragents import parse_new_user_agents

# a file whose Parquet footer is missing is taken as "still being written" for this long
SETTLE_SECONDS = env_number("WEBFUNNEL_SETTLE_SECONDS", 60)
MAX_ATTEMPTS = int(env_number("WEBFUNNEL_MAX_ATTEMPTS", 3, whole=True, minimum=1))

_STRING_TYPES = (
    "VARCHAR",
    "BIGINT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "UBIGINT",
    "UINTEGER",
    "HUGEINT",
    "UUID",
    '"NULL"',
    "NULL",
)
_TIMESTAMP_TYPES = (
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
    "TIMESTAMP_NS",
    "TIMESTAMP_MS",
    "TIMESTAMP_S",
    "DATE",
)
_NULL_TYPES = ('"NULL"', "NULL")

RAW_META_COLUMNS = """
    _batch_id varchar not null,
    _file_row_number bigint not null,
    _partition_at timestamp,
    _loaded_at timestamp not null,
    _run_id varchar
"""


class RejectedFile(Exception):
    """The file can never load (not Parquet, missing columns, ...): discard it."""


class TransientFileError(Exception):
    """The file may load later (still being written, I/O error): retry it."""


@dataclass
class LoadStats:
    batches_loaded: int = 0
    batches_discarded: int = 0
    batches_retrying: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    sources_loaded: set[str] = field(default_factory=set)
    loaded_batch_ids: list[str] = field(default_factory=list)


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    for source in SOURCES.values():
        columns = ",\n".join(
            f"{name} {'timestamp' if kind == TIMESTAMP else 'varchar'}"
            for name, kind in source.columns
        )
        con.execute(
            f"create table if not exists raw.{source.name} ({columns},\n{RAW_META_COLUMNS})"
        )
    con.execute(
        """
        create table if not exists raw.user_agents (
            user_agent varchar primary key,
            device_class varchar not null,
            browser varchar,
            os varchar,
            parsed_at timestamp not null
        )
        """
    )


def _check_magic(path: Path) -> None:
    """Tell a file still being written from a file that is not Parquet at all."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
            size = os.fstat(handle.fileno()).st_size
            tail = b""
            if size >= 8:
                handle.seek(-4, os.SEEK_END)
                tail = handle.read(4)
            mtime = os.fstat(handle.fileno()).st_mtime
    except FileNotFoundError as exc:
        raise TransientFileError("file disappeared before it could be read") from exc
    except OSError as exc:
        raise TransientFileError(f"I/O error reading the file: {exc}") from exc
    problem = parquet_magic_problem(size, head, tail)
    if problem is None:
        return
    if problem != NOT_PARQUET and time.time() - mtime < SETTLE_SECONDS:
        raise TransientFileError("file is still being written (no Parquet footer yet)")
    raise RejectedFile(problem)


NOT_PARQUET = "not a Parquet file"


def parquet_magic_problem(size: int, head: bytes, tail: bytes) -> str | None:
    """Why a file with these first and last four bytes cannot be Parquet, or None."""
    if size == 0:
        return "empty file"
    if head == b"PAR1" and tail != b"PAR1":
        return "truncated Parquet file (no footer)"
    if head != b"PAR1":
        return NOT_PARQUET
    return None


def _typed_expression(name: str, kind: str, column_type: str) -> str:
    quoted = f'"{name}"'
    if kind == STRING:
        if column_type not in _STRING_TYPES:
            raise RejectedFile(f"column {name} has type {column_type}, expected a string")
        return f"cast({quoted} as varchar)"
    if column_type in _NULL_TYPES:
        return "cast(null as timestamp)"
    if column_type == "VARCHAR":
        # timestamps as text: ISO 8601 with or without an offset, read as UTC
        return f"try_cast(try_cast({quoted} as timestamptz) as timestamp)"
    if column_type in _TIMESTAMP_TYPES or column_type.startswith("TIMESTAMP"):
        return f"cast({quoted} as timestamp)"
    raise RejectedFile(f"column {name} has type {column_type}, expected a timestamp")


def _row_checks(source: Source) -> str:
    """A SQL CASE giving the reason a row is rejected, or null when it loads."""
    whens = [
        f"when {name} is null or trim({name}) = '' then 'empty {name}'"
        for name in source.required_strings
    ]
    time_column = source.event_time
    whens.append(f"when _raw_{time_column} is null then 'null {time_column}'")
    whens.append(f"when {time_column} is null then 'unparseable {time_column}'")
    if source.event_time_in_partition:
        whens.append(
            f"when {time_column} < _partition_start or {time_column} >= _partition_end "
            f"then '{time_column} outside partition hour ' || strftime(_partition_start, "
            "'%Y-%m-%d %H:%M:%S')"
        )
    for name, kind in source.columns:
        if kind == TIMESTAMP and name != time_column:
            whens.append(
                f"when _raw_{name} is not null and {name} is null then 'unparseable {name}'"
            )
    whens.extend(allowed_value_checks(source, ""))
    return "case\n" + "\n".join(whens) + "\nend"


def allowed_value_checks(source: Source, prefix: str) -> list[str]:
    """The CASE branches rejecting a value outside its column's list (``Source.allowed``),
    as staging normalises it; ``prefix`` names the column as the query has it."""
    whens = []
    for name, values in source.allowed:
        column = f"{prefix}{name}"
        listed = ", ".join(f"'{value}'" for value in values)
        whens.append(
            f"when nullif(lower(trim({column})), '') not in ({listed}) "
            f"then 'unknown {name}: ' || trim({column})"
        )
    return whens


def _arrow_type_name(arrow_type: pa.DataType) -> str:
    """The DuckDB type name a Parquet column of this Arrow type reads as."""
    if pa.types.is_dictionary(arrow_type):
        # e.g. a pandas Categorical: stored as plain values, read by DuckDB as such
        return _arrow_type_name(arrow_type.value_type)
    if (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    ):
        return "VARCHAR"
    if pa.types.is_null(arrow_type):
        return "NULL"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP WITH TIME ZONE" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_date(arrow_type):
        return "DATE"
    return str(arrow_type).upper()


def require_partition(batch: Batch) -> None:
    """A file outside ``<source>/date=YYYY-MM-DD/hour=HH/`` is rejected whole."""
    if batch.partition_at is None:
        raise RejectedFile(
            f"not in a partition folder: expected {batch.source}/date=YYYY-MM-DD/hour=HH/<file>"
        )


def inspect_file(batch: Batch, file_path: Path) -> tuple[str, ...]:
    """Check a file as a whole; returns the type of each contract column, in order.

    Raises RejectedFile (never loadable) or TransientFileError (try again later).
    """
    source = SOURCES[batch.source]
    require_partition(batch)
    _check_magic(file_path)
    try:
        schema = pq.read_schema(file_path)
    except FileNotFoundError as exc:
        raise TransientFileError("file disappeared before it could be read") from exc
    except (pa.ArrowException, OSError) as exc:
        raise RejectedFile(f"unreadable Parquet: {str(exc).splitlines()[0]}") from exc
    types = {field.name: _arrow_type_name(field.type) for field in schema}
    missing = [name for name in source.column_names if name not in types]
    if missing:
        raise RejectedFile("missing required column(s): " + ", ".join(missing))
    for name, kind in source.columns:
        _typed_expression(name, kind, types[name])  # raises RejectedFile on an unusable type
    return tuple(types[name] for name in source.column_names)


def load_files(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    items: list[tuple[Batch, Path]],
    column_types: tuple[str, ...],
    run_id: str,
) -> tuple[int, int]:
    """Load the rows of several files of one source whose contract columns have the same
    types, in one statement (the caller holds the transaction). Returns (loaded, quarantined).
    """
    source = SOURCES[source_name]
    types = dict(zip(source.column_names, column_types, strict=True))
    con.execute("drop table if exists _files")
    con.execute(
        "create temp table _files (filename varchar, batch_id varchar, partition_at timestamp,"
        " partition_end timestamp, path varchar)"
    )
    con.executemany(
        "insert into _files values (?, ?, ?, ?, ?)",
        [
            (str(path), batch.batch_id, batch.partition_at, batch.partition_end, batch.path)
            for batch, path in items
        ],
    )
    file_list = [str(path) for _, path in items]
    selects = []
    for name, kind in source.columns:
        selects.append(f"{_typed_expression(name, kind, types[name])} as {name}")
        if kind == TIMESTAMP:
            selects.append(f'"{name}" is null as _null_{name}')
    raw_markers = [
        f"case when not _null_{name} then 1 end as _raw_{name}"
        for name, kind in source.columns
        if kind == TIMESTAMP
    ]
    con.execute("drop table if exists _batch_rows")
    con.execute(
        f"""
        create temp table _batch_rows as
        with typed as (
            select
                landed.filename as _filename,
                landed.file_row_number as _file_row_number,
                {", ".join(selects)}
            from read_parquet(
                ?, filename = true, file_row_number = true, union_by_name = true
            ) as landed
        ),
        marked as (
            select
                typed.*,
                _files.batch_id as _batch_id,
                _files.partition_at as _partition_start,
                _files.partition_end as _partition_end,
                _files.path as _path,
                {", ".join(raw_markers)}
            from typed
            inner join _files on typed._filename = _files.filename
        )
        select *, {_row_checks(source)} as _reason from marked
        """,
        [file_list],
    )
    columns = ", ".join(source.column_names)
    now = utcnow()
    con.execute(
        f"""
        insert into raw.{source.name}
            ({columns}, _batch_id, _file_row_number, _partition_at, _loaded_at, _run_id)
        select {columns}, _batch_id, _file_row_number, _partition_start, ?, ?
        from _batch_rows where _reason is null
        """,
        [now, run_id],
    )
    loaded, quarantined = con.execute(
        "select count(*) filter (where _reason is null),"
        " count(*) filter (where _reason is not null) from _batch_rows"
    ).fetchone()
    if quarantined:
        rejected_files = [
            row[0]
            for row in con.execute(
                "select distinct _filename from _batch_rows where _reason is not null"
            ).fetchall()
        ]
        # the row exactly as it landed, extra columns included
        con.execute(
            """
            insert into ops.quarantine
                (batch_id, source, path, file_row_number, reason, content, quarantined_at, run_id)
            select rejected._batch_id, ?, rejected._path, rejected._file_row_number,
                rejected._reason, cast(to_json(landed) as varchar), ?, ?
            from _batch_rows as rejected
            inner join (
                select * exclude (filename, file_row_number),
                    filename as _landed_filename, file_row_number as _landed_row
                from read_parquet(?, filename = true, file_row_number = true, union_by_name = true)
            ) as landed
                on landed._landed_filename = rejected._filename
                and landed._landed_row = rejected._file_row_number
            where rejected._reason is not null
            """,
            [source.name, now, run_id, rejected_files],
        )
    if source.name == "pings":
        parse_new_user_agents(con, "_batch_rows")
    con.execute("drop table if exists _batch_rows")
    con.execute("drop table if exists _files")
    return loaded, quarantined


def load_batch(
    con: duckdb.DuckDBPyConnection, batch: Batch, file_path: Path, run_id: str
) -> tuple[int, int]:
    """Load one file's rows (caller holds the transaction). Returns (loaded, quarantined)."""
    column_types = inspect_file(batch, file_path)
    try:
        return load_files(con, batch.source, [(batch, file_path)], column_types, run_id)
    except duckdb.IOException as exc:
        raise TransientFileError(f"I/O error reading the file: {str(exc).splitlines()[0]}") from exc
    except duckdb.Error as exc:
        raise RejectedFile(f"unreadable Parquet: {str(exc).splitlines()[0]}") from exc


def _quarantine_file(
    con: duckdb.DuckDBPyConnection, batch: Batch, reason: str, run_id: str
) -> None:
    con.execute(
        """
        insert into ops.quarantine
            (batch_id, source, path, file_row_number, reason, content, quarantined_at, run_id)
        values (?, ?, ?, null, ?, null, ?, ?)
        """,
        [batch.batch_id, batch.source, batch.path, reason, utcnow(), run_id],
    )


def process_batch(
    con: duckdb.DuckDBPyConnection,
    ledger: Ledger,
    batch: Batch,
    file_path: Path,
    attempt: int,
    stats: LoadStats,
    max_attempts: int = MAX_ATTEMPTS,
    running_recorded: bool = False,
) -> str:
    """Run one batch through its lifecycle; returns the state it ends in."""
    if not running_recorded:
        ledger.record(batch, RUNNING, attempt)
    con.execute("begin transaction")
    try:
        loaded, quarantined = load_batch(con, batch, file_path, ledger.run_id)
        kill_point("load:mid-batch")
        ledger.record(batch, SUCCEEDED, attempt)
        con.execute("commit")
    except RejectedFile as exc:
        con.execute("rollback")
        con.execute("begin transaction")
        _quarantine_file(con, batch, str(exc), ledger.run_id)
        ledger.record(batch, DISCARDED, attempt, str(exc))
        con.execute("commit")
        stats.batches_discarded += 1
        return DISCARDED
    except TransientFileError as exc:
        con.execute("rollback")
        if attempt >= max_attempts:
            reason = f"gave up after {attempt} attempts: {exc}"
            con.execute("begin transaction")
            _quarantine_file(con, batch, reason, ledger.run_id)
            ledger.record(batch, DISCARDED, attempt, reason)
            con.execute("commit")
            stats.batches_discarded += 1
            return DISCARDED
        ledger.record(batch, AWAITING_RETRY, attempt, str(exc))
        stats.batches_retrying += 1
        return AWAITING_RETRY
    except BaseException:
        con.execute("rollback")
        raise
    stats.batches_loaded += 1
    stats.rows_loaded += loaded
    stats.rows_quarantined += quarantined
    stats.sources_loaded.add(batch.source)
    stats.loaded_batch_ids.append(batch.batch_id)
    return SUCCEEDED


GROUP_SIZE = 400  # files loaded by one statement (bounds memory, keeps progress moving)


def load_landed(
    con: duckdb.DuckDBPyConnection,
    ledger: Ledger,
    landing: Path,
    archive: Path | None = None,
    progress: Callable[[int, int, Batch], None] | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> LoadStats:
    """Register new files, then load every batch that is waiting (new, retrying or interrupted).

    Files are checked one by one, then the good files of one source and column types are
    loaded together, many per statement: their rows and their `succeeded` transitions commit
    in one transaction (all or none). If a group fails as a whole, its files are loaded one
    by one so that the failure is pinned on the file that causes it.
    """
    ensure_raw_schema(con)
    known = ledger.current()
    ledger.record_many(
        [(batch, 0) for batch in discover(landing) if batch.batch_id not in known],
        AWAITING_SCHEDULING,
    )
    stats = LoadStats()
    pending = ledger.batches_in(LOADABLE)
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[Batch, Path, int]]] = {}
    done = 0
    for batch in pending:
        attempt = known.get(batch.batch_id, (AWAITING_SCHEDULING, 0))[1] + 1
        file_path = landing / batch.path
        if not file_path.exists() and archive is not None and (archive / batch.path).exists():
            file_path = archive / batch.path
        try:
            column_types = inspect_file(batch, file_path)
        except (RejectedFile, TransientFileError):
            # the per-batch path records the outcome with its reason
            process_batch(con, ledger, batch, file_path, attempt, stats, max_attempts)
            done += 1
            if progress is not None:
                progress(done, len(pending), batch)
            continue
        groups.setdefault((batch.source, column_types), []).append((batch, file_path, attempt))
    committed_groups = 0
    for (source_name, column_types), members in groups.items():
        for offset in range(0, len(members), GROUP_SIZE):
            group = members[offset : offset + GROUP_SIZE]
            ledger.record_many([(batch, attempt) for batch, _, attempt in group], RUNNING)
            con.execute("begin transaction")
            try:
                loaded, quarantined = load_files(
                    con,
                    source_name,
                    [(batch, path) for batch, path, _ in group],
                    column_types,
                    ledger.run_id,
                )
                kill_point("load:mid-batch")
                ledger.record_many([(batch, attempt) for batch, _, attempt in group], SUCCEEDED)
                con.execute("commit")
            except duckdb.Error:
                con.execute("rollback")
                for batch, path, attempt in group:
                    process_batch(
                        con, ledger, batch, path, attempt, stats, max_attempts,
                        running_recorded=True,
                    )  # fmt: skip
            else:
                stats.batches_loaded += len(group)
                stats.rows_loaded += loaded
                stats.rows_quarantined += quarantined
                stats.sources_loaded.add(source_name)
                stats.loaded_batch_ids.extend(batch.batch_id for batch, _, _ in group)
            committed_groups += 1
            if committed_groups == 1:
                kill_point("load:after-first-group")
            done += len(group)
            if progress is not None:
                progress(done, len(pending), group[-1][0])
    return stats

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
SETTLE_SECONDS = float(os.environ.get("WEBFUNNEL_SETTLE_SECONDS", "60"))
MAX_ATTEMPTS = int(os.environ.get("WEBFUNNEL_MAX_ATTEMPTS", "3"))

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
    if size == 0 or (head == b"PAR1" and tail != b"PAR1"):
        if time.time() - mtime < SETTLE_SECONDS:
            raise TransientFileError("file is still being written (no Parquet footer yet)")
        raise RejectedFile("truncated Parquet file (no footer)" if size else "empty file")
    if head != b"PAR1":
        raise RejectedFile("not a Parquet file")


def _column_types(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    try:
        rows = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    except duckdb.IOException as exc:
        message = str(exc).splitlines()[0]
        if "No such file" in message or "not exist" in message:
            raise TransientFileError(f"file disappeared: {message}") from exc
        raise RejectedFile(f"unreadable Parquet: {message}") from exc
    except duckdb.Error as exc:
        raise RejectedFile(f"unreadable Parquet: {str(exc).splitlines()[0]}") from exc
    return {name: column_type for name, column_type, *_ in rows}


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


def _row_checks(source: Source, batch: Batch) -> str:
    """A SQL CASE giving the reason a row is rejected, or null when it loads."""
    whens = [
        f"when {name} is null or trim({name}) = '' then 'empty {name}'"
        for name in source.required_strings
    ]
    time_column = source.event_time
    whens.append(f"when _raw_{time_column} is null then 'null {time_column}'")
    whens.append(f"when {time_column} is null then 'unparseable {time_column}'")
    if source.event_time_in_partition and batch.partition_at is not None:
        start = batch.partition_at.isoformat(sep=" ")
        end = batch.partition_end.isoformat(sep=" ")
        whens.append(
            f"when {time_column} < timestamp '{start}' or {time_column} >= timestamp '{end}' "
            f"then '{time_column} outside partition hour {start}'"
        )
    for name, kind in source.columns:
        if kind == TIMESTAMP and name != time_column:
            whens.append(
                f"when _raw_{name} is not null and {name} is null then 'unparseable {name}'"
            )
    return "case\n" + "\n".join(whens) + "\nend"


def load_batch(
    con: duckdb.DuckDBPyConnection, batch: Batch, file_path: Path, run_id: str
) -> tuple[int, int]:
    """Load one file's rows (caller holds the transaction). Returns (loaded, quarantined)."""
    source = SOURCES[batch.source]
    if batch.partition_at is None:
        raise RejectedFile(
            f"not in a partition folder: expected {batch.source}/date=YYYY-MM-DD/hour=HH/<file>"
        )
    _check_magic(file_path)
    types = _column_types(con, file_path)
    missing = [name for name in source.column_names if name not in types]
    if missing:
        raise RejectedFile("missing required column(s): " + ", ".join(missing))

    selects = []
    for name, kind in source.columns:
        selects.append(f"{_typed_expression(name, kind, types[name])} as {name}")
        if kind == TIMESTAMP:
            selects.append(f'"{name}" is null as _null_{name}')
    # keep the raw-null flags as _raw_<ts> (non-null marker) for the null/unparseable split
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
            select file_row_number as _file_row_number, {", ".join(selects)}
            from read_parquet(?, file_row_number = true)
        ),
        marked as (
            select *, {", ".join(raw_markers)} from typed
        )
        select *, {_row_checks(source, batch)} as _reason from marked
        """,
        [str(file_path)],
    )
    columns = ", ".join(source.column_names)
    now = utcnow()
    con.execute(
        f"""
        insert into raw.{source.name}
            ({columns}, _batch_id, _file_row_number, _partition_at, _loaded_at, _run_id)
        select {columns}, ?, _file_row_number, ?, ?, ?
        from _batch_rows where _reason is null
        """,
        [batch.batch_id, batch.partition_at, now, run_id],
    )
    loaded, quarantined = con.execute(
        "select count(*) filter (where _reason is null),"
        " count(*) filter (where _reason is not null) from _batch_rows"
    ).fetchone()
    if quarantined:
        # the row exactly as it landed, extra columns included
        con.execute(
            """
            insert into ops.quarantine
                (batch_id, source, path, file_row_number, reason, content, quarantined_at, run_id)
            select ?, ?, ?, rejected._file_row_number, rejected._reason,
                cast(to_json(landed) as varchar), ?, ?
            from _batch_rows as rejected
            inner join read_parquet(?, file_row_number = true) as landed
                on landed.file_row_number = rejected._file_row_number
            where rejected._reason is not null
            """,
            [batch.batch_id, batch.source, batch.path, now, run_id, str(file_path)],
        )
    if source.name == "pings":
        parse_new_user_agents(con, "_batch_rows")
    con.execute("drop table if exists _batch_rows")
    return loaded, quarantined


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
) -> str:
    """Run one batch through its lifecycle; returns the state it ends in."""
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


def load_landed(
    con: duckdb.DuckDBPyConnection,
    ledger: Ledger,
    landing: Path,
    archive: Path | None = None,
    progress: Callable[[int, int, Batch], None] | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> LoadStats:
    """Register new files, then load every batch that is waiting (new, retrying or interrupted)."""
    ensure_raw_schema(con)
    known = ledger.current()
    for batch in discover(landing):
        if batch.batch_id not in known:
            ledger.record(batch, AWAITING_SCHEDULING, 0)
    stats = LoadStats()
    pending = ledger.batches_in(LOADABLE)
    for index, batch in enumerate(pending, start=1):
        attempt = known.get(batch.batch_id, (AWAITING_SCHEDULING, 0))[1] + 1
        file_path = landing / batch.path
        if not file_path.exists() and archive is not None and (archive / batch.path).exists():
            file_path = archive / batch.path
        process_batch(con, ledger, batch, file_path, attempt, stats, max_attempts)
        if index == 3:
            kill_point("load:after-3-batches")
        if progress is not None:
            progress(index, len(pending), batch)
    return stats

"""Loading landed batches into Amazon Redshift: SQL for ``COPY ... FORMAT AS PARQUET``.

On Redshift the landing zone lives on S3 (``s3://<bucket>/<prefix>/<source>/date=.../hour=../``)
and the files are never read by Python: Redshift's COPY reads them in parallel. The
semantics are those of ``ingest/load.py``, in SQL:

1. the file's Parquet schema (read from its footer, ``file_columns``) is checked first: a
   missing contract column or a column of the wrong type rejects the whole file with the same
   reasons as the DuckDB loader (``load.RejectedFile``);
2. ``COPY`` into a per-batch temporary table with *exactly* the file's columns, in the file's
   order (a COPY from Parquet maps columns by position and the target table must have as many
   columns as the file, so extra columns are staged and ignored afterwards);
3. one ``CREATE TEMP TABLE ... AS`` numbers the staged rows (``_file_row_number``), types the
   contract columns and gives each row its rejection reason, or null; from it, one
   ``INSERT ... SELECT`` puts the rows that pass, with the load metadata (``_batch_id``,
   ``_file_row_number``, ``_partition_at``, ``_loaded_at``, ``_run_id``), into
   ``raw.<source>``, and another puts the rejected rows, with their reason and content as
   JSON, into ``ops.quarantine``. Numbering once, before the split, keeps the row numbers of
   the loaded and the quarantined rows of a file apart.

The caller runs the statements of a batch and the ledger's ``succeeded`` transition in one
transaction, exactly like ``load.process_batch``. No Redshift is reachable from the tests, so
this module is tested on the SQL it generates (``tests/ingest/test_redshift_sql.py``), which
must also parse under sqlfluff's Redshift dialect.

Differences from DuckDB, on purpose: ``_file_row_number`` is ``row_number() over () - 1``
over the staging table, unique within the batch but not guaranteed to follow the file's row
order (Redshift COPY does not expose row positions, and a multi-slice table has no scan
order); it only breaks ties between deliveries of one event inside a single file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.config import env_number, env_port
from ingest.errors import WebfunnelError
from ingest.ledger import Batch
from ingest.load import RejectedFile, allowed_value_checks, require_partition
from ingest.sources import SOURCES, STRING, TIMESTAMP, Source

# Parquet (Arrow) types a contract column may have, as the DuckDB loader accepts them
_STRING_ARROW = re.compile(r"^(string|large_string|utf8|large_utf8|u?int(8|16|32|64)|null)$")
_TIMESTAMP_ARROW = re.compile(r"^(timestamp\[.*\]|date32(\[day\])?|date64(\[ms\])?|null)$")
_TEXT_ARROW = re.compile(r"^(string|large_string|utf8|large_utf8)$")

# ISO 8601 date-time, with an optional offset: the text timestamps the contract allows
_ISO_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)

# RAW is a reserved word on Redshift (a column compression encoding): always quote the schema
RAW = '"raw"'

RAW_META_DDL = (
    "_batch_id varchar(64) not null",
    "_file_row_number bigint not null",
    "_partition_at timestamp",
    "_loaded_at timestamp not null",
    "_run_id varchar(64)",
)


def connection_settings() -> dict[str, Any]:
    """psycopg2 keyword arguments for the cluster of the ``redshift`` target in
    ``profiles.yml`` (the same ``WEBFUNNEL_RS_*`` variables and defaults).

    Redshift speaks PostgreSQL's wire protocol, so readers (``webfunnel report``/``summary``)
    use psycopg2. IAM authentication is dbt-redshift's (redshift_connector); here it needs
    a temporary password, such as ``aws redshift get-cluster-credentials`` prints, in
    ``WEBFUNNEL_RS_PASSWORD``.
    """
    if os.environ.get("WEBFUNNEL_RS_METHOD", "database") == "iam" and not os.environ.get(
        "WEBFUNNEL_RS_PASSWORD"
    ):
        raise WebfunnelError(
            "WEBFUNNEL_RS_METHOD=iam: put temporary credentials from "
            "`aws redshift get-cluster-credentials` in WEBFUNNEL_RS_USER/WEBFUNNEL_RS_PASSWORD"
        )
    env_number("WEBFUNNEL_RS_THREADS", 8, whole=True, minimum=1)  # profiles.yml's, checked early
    settings: dict[str, Any] = {
        "host": os.environ.get("WEBFUNNEL_RS_HOST", "redshift.invalid"),
        "port": env_port("WEBFUNNEL_RS_PORT", 5439),
        "user": os.environ.get("WEBFUNNEL_RS_USER", "webfunnel"),
        "dbname": os.environ.get("WEBFUNNEL_RS_DBNAME", "webfunnel"),
        "sslmode": os.environ.get("WEBFUNNEL_RS_SSLMODE", "verify-full"),
        "connect_timeout": 30,
        "application_name": "webfunnel-reader",
    }
    password = os.environ.get("WEBFUNNEL_RS_PASSWORD")
    if password:
        settings["password"] = password
    return settings


def quote_literal(value: str) -> str:
    """A Redshift string literal: quotes doubled, backslashes doubled (Redshift reads a
    backslash in a literal as an escape)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def s3_uri(s3_root: str, batch: Batch) -> str:
    """``s3://bucket/prefix`` + the batch's landing-relative path."""
    if not s3_root.startswith("s3://"):
        raise ValueError(f"not an S3 location: {s3_root}")
    return s3_root.rstrip("/") + "/" + batch.path


def file_columns(source: Path | Any) -> list[tuple[str, str]]:
    """(name, Arrow type) of every column of a Parquet file (a path or an open
    ``pyarrow`` file), in file order, from its footer only. A footer that does not parse
    rejects the file; an I/O error (``OSError``) is left to the caller."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(source)
    except pa.ArrowInvalid as exc:
        raise RejectedFile(f"unreadable Parquet: {str(exc).splitlines()[0]}") from exc
    return [(field.name, str(field.type)) for field in schema]


def _value_type(arrow_type: str) -> str:
    """A dictionary-encoded column (a pandas Categorical) as the type of its values;
    string views as strings."""
    match = re.match(r"^dictionary<values=([^,]+), indices=", arrow_type)
    if match:
        arrow_type = match.group(1)
    return "string" if arrow_type == "string_view" else arrow_type


def _redshift_type(arrow_type: str) -> str:
    """The staging column type COPY can load this Parquet type into."""
    arrow_type = _value_type(arrow_type)
    if _TEXT_ARROW.match(arrow_type):
        return "varchar(65535)"
    if arrow_type.startswith("timestamp["):
        return "timestamptz" if "tz=" in arrow_type else "timestamp"
    if arrow_type.startswith("date"):
        return "date"
    if re.match(r"^u?int(8|16|32)$", arrow_type):
        return "integer"
    if re.match(r"^u?int64$", arrow_type):
        return "bigint"
    if arrow_type in ("double", "float", "halffloat"):
        return "double precision"
    if arrow_type == "bool":
        return "boolean"
    if arrow_type == "null":
        return "varchar(1)"
    # nested and other types: COPY loads them into SUPER; the pipeline ignores them
    return "super"


def check_file_columns(source: Source, columns: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The file-level rules of ``load.py``: every contract column present, of a usable type."""
    types = {name: _value_type(arrow_type) for name, arrow_type in columns}
    missing = [name for name in source.column_names if name not in types]
    if missing:
        raise RejectedFile("missing required column(s): " + ", ".join(missing))
    for name, kind in source.columns:
        arrow_type = types[name]
        if kind == STRING and not _STRING_ARROW.match(arrow_type):
            raise RejectedFile(f"column {name} has type {arrow_type}, expected a string")
        if kind == TIMESTAMP and not (
            _TIMESTAMP_ARROW.match(arrow_type) or _TEXT_ARROW.match(arrow_type)
        ):
            raise RejectedFile(f"column {name} has type {arrow_type}, expected a timestamp")
    return types


def stage_table(batch: Batch) -> str:
    return f"stage_{batch.batch_id}"


def _typed(name: str, kind: str, arrow_type: str) -> str:
    column = quote_identifier(name)
    if kind == STRING:
        return f"cast({column} as varchar(65535))"
    if arrow_type == "null":
        return "cast(null as timestamp)"
    if _TEXT_ARROW.match(arrow_type):
        # text timestamps: ISO 8601 with or without an offset, read as UTC; else null
        return (
            f"case when trim({column}) ~ {quote_literal(_ISO_TIMESTAMP)} "
            f"then cast(cast(trim({column}) as timestamptz) as timestamp) end"
        )
    return f"cast({column} as timestamp)"


def _timestamp_literal(moment: datetime) -> str:
    return f"timestamp '{moment.isoformat(sep=' ')}'"


def _reason(source: Source, batch: Batch, types: dict[str, str]) -> str:
    """The row rules of ``load._row_checks``: the reason a row is rejected, or null."""
    whens = [
        f"when _typed_{name} is null or trim(_typed_{name}) = '' then 'empty {name}'"
        for name in source.required_strings
    ]
    time_column = source.event_time
    whens.append(f"when _raw_{time_column} is null then 'null {time_column}'")
    whens.append(f"when _typed_{time_column} is null then 'unparseable {time_column}'")
    if source.event_time_in_partition and batch.partition_at is not None:
        start = batch.partition_at.isoformat(sep=" ")
        end = batch.partition_end.isoformat(sep=" ")
        whens.append(
            f"when _typed_{time_column} < timestamp '{start}' "
            f"or _typed_{time_column} >= timestamp '{end}' "
            f"then '{time_column} outside partition hour {start}'"
        )
    for name, kind in source.columns:
        if kind == TIMESTAMP and name != time_column:
            whens.append(
                f"when _raw_{name} is not null and _typed_{name} is null then 'unparseable {name}'"
            )
    whens.extend(allowed_value_checks(source, "_typed_"))
    return "case\n            " + "\n            ".join(whens) + "\n        end"


def checked_table(batch: Batch) -> str:
    return f"{stage_table(batch)}_checked"


def _checked_rows(source: Source, batch: Batch, types: dict[str, str]) -> str:
    """A query over the staging table: row numbers, typed contract columns, markers, reason."""
    selects = ["row_number() over () - 1 as _file_row_number"]
    for name, kind in source.columns:
        selects.append(f"{_typed(name, kind, types[name])} as _typed_{name}")
        if kind == TIMESTAMP:
            selects.append(
                f"case when {quote_identifier(name)} is not null then 1 end as _raw_{name}"
            )
        else:
            selects.append(quote_identifier(name))  # as landed, for the quarantine content
    return (
        "select *, "
        + _reason(source, batch, types)
        + " as _reason\n    from (\n        select "
        + ",\n            ".join(selects)
        + f"\n        from {stage_table(batch)}\n    ) as typed"
    )


def copy_batch_sql(
    batch: Batch,
    columns: Sequence[tuple[str, str]],
    *,
    s3_root: str,
    iam_role: str,
    run_id: str,
    loaded_at: datetime,
) -> list[str]:
    """The statements that load one landed file into ``raw.<source>`` and ``ops.quarantine``.

    ``columns`` is the file's Parquet schema (``file_columns``). Raises ``RejectedFile`` for
    a file the DuckDB loader would reject whole. Run the statements inside the batch's
    transaction, together with the ledger's ``succeeded`` transition.
    """
    source = SOURCES[batch.source]
    require_partition(batch)
    types = check_file_columns(source, columns)
    stage = stage_table(batch)
    file_column_list = ", ".join(quote_identifier(name) for name, _ in columns)
    stage_columns = ",\n    ".join(
        f"{quote_identifier(name)} {_redshift_type(arrow_type)}" for name, arrow_type in columns
    )
    checked = checked_table(batch)
    contract = ", ".join(source.column_names)
    typed = ", ".join(f"_typed_{name}" for name in source.column_names)
    content = ", ".join(
        f"{quote_literal(name)}, cast({quote_identifier(name)} as varchar(65535))"
        if kind == STRING
        else f"{quote_literal(name)}, cast(_typed_{name} as varchar(32))"
        for name, kind in source.columns
    )
    batch_id = quote_literal(batch.batch_id)
    run = quote_literal(run_id)
    return [
        f"create temp table {stage} (\n    {stage_columns}\n)",
        f"copy {stage} ({file_column_list})\n"
        f"from {quote_literal(s3_uri(s3_root, batch))}\n"
        f"iam_role {quote_literal(iam_role)}\n"
        "format as parquet",
        f"create temp table {checked} as\n{_checked_rows(source, batch, types)}",
        f"insert into {RAW}.{source.name}\n"
        f"    ({contract}, _batch_id, _file_row_number, _partition_at, _loaded_at, _run_id)\n"
        f"select {typed}, {batch_id}, _file_row_number, "
        f"{_timestamp_literal(batch.partition_at)}, {_timestamp_literal(loaded_at)}, {run}\n"
        f"from {checked}\nwhere _reason is null",
        "insert into ops.quarantine\n"
        "    (batch_id, source, path, file_row_number, reason, content, quarantined_at, run_id)\n"
        f"select {batch_id}, {quote_literal(batch.source)}, {quote_literal(batch.path)}, "
        f"_file_row_number, _reason,\n"
        f"    json_serialize(object({content})),\n"
        f"    {_timestamp_literal(loaded_at)}, {run}\n"
        f"from {checked}\nwhere _reason is not null",
        f"drop table {checked}",
        f"drop table {stage}",
    ]


def schema_sql() -> list[str]:
    """The ``raw`` and ``ops`` tables on Redshift (no sequences there: IDENTITY columns)."""
    statements = [f"create schema if not exists {RAW}", "create schema if not exists ops"]
    for source in SOURCES.values():
        columns = [
            f"{name} {'timestamp' if kind == TIMESTAMP else 'varchar(65535)'}"
            for name, kind in source.columns
        ]
        body = ",\n    ".join([*columns, *RAW_META_DDL])
        statements.append(f"create table if not exists {RAW}.{source.name} (\n    {body}\n)")
    statements += [
        f"create table if not exists {RAW}.user_agents (\n"
        "    user_agent varchar(65535) not null,\n    device_class varchar(16) not null,\n"
        "    browser varchar(256),\n    os varchar(256),\n    parsed_at timestamp not null\n)",
        "create table if not exists ops.batch_state_transitions (\n"
        "    transition_id bigint identity(1, 1),\n    batch_id varchar(64) not null,\n"
        "    source varchar(32) not null,\n    path varchar(1024) not null,\n"
        "    partition_at timestamp,\n    state varchar(32) not null,\n"
        '    "at" timestamp not null,\n    attempt integer not null,\n'
        "    reason varchar(4096),\n    run_id varchar(64),\n    file_size bigint,\n"
        "    file_mtime timestamp\n)",
        "create table if not exists ops.quarantine (\n"
        "    batch_id varchar(64) not null,\n    source varchar(32) not null,\n"
        "    path varchar(1024) not null,\n    file_row_number bigint,\n"
        "    reason varchar(4096) not null,\n    content varchar(65535),\n"
        "    quarantined_at timestamp not null,\n    run_id varchar(64)\n)",
        "create table if not exists ops.build_state (\n"
        "    built_at timestamp not null,\n    built_through_transition_id bigint not null,\n"
        "    project_fingerprint varchar(256) not null,\n    run_id varchar(64) not null\n)",
        "create or replace view ops.batches as\n"
        'select\n    batch_id, source, path, partition_at, state, "at" as state_at, attempt,\n'
        "    reason, file_size, file_mtime\nfrom (\n"
        "    select\n        *,\n        row_number() over (\n"
        '            partition by batch_id order by "at" desc, transition_id desc\n'
        "        ) as recency\n    from ops.batch_state_transitions\n) as latest\n"
        "where recency = 1",
    ]
    return statements

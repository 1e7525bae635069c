"""Publishing the marts: a finished, read-only copy swapped in by atomic rename.

BI tools open ``$WEBFUNNEL_WAREHOUSE`` read-only. A reader that has it open keeps reading the
copy it opened (POSIX keeps a renamed-over file alive for its open handles), a new reader
gets the newest complete copy, and no reader ever holds a lock the pipeline needs: the
pipeline writes only its working database and a temporary file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from ingest.ledger import BATCHES_VIEW_SQL, utcnow

PUBLISHED_SCHEMAS = ("marts", "ops")


def publish(work_db: Path, warehouse: Path, run_id: str) -> None:
    """Copy `marts` and `ops` of the working database into a new file, then rename it over
    the published warehouse."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    temporary = warehouse.with_name(f".{warehouse.name}.{uuid.uuid4().hex}.tmp")
    try:
        con = duckdb.connect(str(work_db))
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute(f"attach '{temporary}' as published")
            for schema in PUBLISHED_SCHEMAS:
                con.execute(f"create schema if not exists published.{schema}")
                relations = con.execute(
                    """
                    select table_name from information_schema.tables
                    where table_catalog = current_database() and table_schema = ?
                        and table_type = 'BASE TABLE'
                    order by table_name
                    """,
                    [schema],
                ).fetchall()
                for (name,) in relations:
                    con.execute(
                        f'create table published.{schema}."{name}" as '
                        f'select * from {schema}."{name}"'
                    )
            con.execute(
                "create table published.ops.published as "
                "select ?::varchar as run_id, ?::timestamp as published_at, "
                "(select max(partition_at) from ops.batch_state_transitions "
                " where state = 'succeeded') as newest_partition_at",
                [run_id, utcnow()],
            )
            con.execute("detach published")
        finally:
            con.close()
        # views bind in their own file: create them with the file opened directly
        published = duckdb.connect(str(temporary))
        try:
            published.execute(BATCHES_VIEW_SQL)
            published.execute("checkpoint")
        finally:
            published.close()
        os.replace(temporary, warehouse)
    finally:
        for leftover in (temporary, Path(str(temporary) + ".wal")):
            if leftover.exists():
                leftover.unlink()

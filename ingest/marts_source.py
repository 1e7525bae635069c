"""Where `webfunnel report` and `webfunnel summary` read the published marts.

`WEBFUNNEL_TARGET` (or `--target`) picks the engine, as it does for `run` and `backfill`:

- ``duckdb``: the published warehouse file, opened read-only (the file BI tools open, never
  the pipeline's working database);
- ``postgres``: the server of the ``postgres`` dbt target (``WEBFUNNEL_PG_*``);
- ``redshift``: the cluster of the ``redshift`` dbt target (``WEBFUNNEL_RS_*``), reached with
  psycopg2 over Redshift's PostgreSQL wire protocol.

The readers' SQL is written once, in the subset the three engines share (no ``FILTER``, no
``GROUP BY ALL``, one ordered-set aggregate per query as Redshift requires), and rows come
back as plain Python values: PostgreSQL's ``numeric`` sums arrive as ``Decimal`` and are
turned into ``int`` or ``float`` so that the dashboard renders the same numbers everywhere.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingest.errors import WebfunnelError, first_line

TARGETS = ("duckdb", "postgres", "redshift")


def resolve_target(explicit: str | None = None) -> str:
    """``--target`` if given, else ``WEBFUNNEL_TARGET``, else ``duckdb``."""
    target = explicit or os.environ.get("WEBFUNNEL_TARGET") or "duckdb"
    if target not in TARGETS:
        raise WebfunnelError(f"unknown target {target!r}: choose duckdb, postgres or redshift")
    return target


class MartsSource:
    """A read-only connection to the marts with one query method."""

    def __init__(
        self, connection: Any, errors: tuple[type[BaseException], ...], label: str, duckdb: bool
    ):
        self.connection = connection
        self.errors = errors  # what a failed query raises on this engine
        self.label = label  # where the marts are, for messages
        self._duckdb = duckdb

    def fetch(self, sql: str) -> list[tuple]:
        if self._duckdb:
            rows = self.connection.execute(sql).fetchall()
        else:
            with self.connection.cursor() as cursor:
                cursor.execute(sql)
                rows = cursor.fetchall()
        return [tuple(_plain(value) for value in row) for row in rows]

    def relation_exists(self, schema: str, relation: str) -> bool:
        found = self.fetch(
            "select count(*) from information_schema.tables "
            f"where table_schema = '{schema}' and table_name = '{relation}' "
            "and table_catalog = current_database()"
        )
        return bool(found and found[0][0])

    def close(self) -> None:
        self.connection.close()


def open_marts(target: str, warehouse: Path) -> MartsSource:
    """Connect to the marts of ``target``; ``warehouse`` is the DuckDB file (duckdb only).

    Raises ``WebfunnelError`` with a one-line reason when the engine cannot be reached.
    """
    if target == "duckdb":
        return _open_duckdb(warehouse)
    if target == "postgres":
        from ingest.pg_load import connection_settings

        return _open_server("PostgreSQL", connection_settings())
    if target == "redshift":
        from ingest.redshift import connection_settings as redshift_settings

        return _open_server("Redshift", redshift_settings())
    raise WebfunnelError(f"unknown target {target!r}: choose duckdb, postgres or redshift")


def _open_duckdb(warehouse: Path) -> MartsSource:
    import duckdb

    if not warehouse.exists():
        raise WebfunnelError(f"no warehouse at {warehouse}: run `webfunnel run` first")
    if warehouse.is_dir():
        raise WebfunnelError(f"the warehouse path {warehouse} is a directory, not a DuckDB file")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
        con.execute("set TimeZone = 'UTC'")  # timestamps are shown in UTC, whatever the machine
    except duckdb.Error as exc:
        raise WebfunnelError(f"cannot open the warehouse {warehouse}: {first_line(exc)}") from exc
    return MartsSource(con, (duckdb.Error,), str(warehouse), duckdb=True)


def _open_server(engine: str, settings: dict[str, Any]) -> MartsSource:
    import psycopg2

    from ingest.pg_load import connect_psycopg2

    con = connect_psycopg2(engine, settings)
    con.autocommit = True  # a failed query must not poison the ones after it
    with con.cursor() as cursor:
        cursor.execute("set timezone to 'UTC'")
    where = f"{settings['host']}:{settings['port']}/{settings['dbname']}"
    label = f"{engine} {settings['user']}@{where}"
    return MartsSource(con, (psycopg2.Error,), label, duckdb=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value

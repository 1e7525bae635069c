"""Publishing the marts: a finished, read-only copy swapped in by atomic rename.

BI tools open ``$WEBFUNNEL_WAREHOUSE`` read-only. A reader that has it open keeps reading the
copy it opened (POSIX keeps a renamed-over file alive for its open handles), a new reader
gets the newest complete copy, and no reader ever holds a lock the pipeline needs: the
pipeline writes only its working database and the next file, ``.<warehouse>.next``.

The next file is made in one of two ways, with the same result:

* **full**: every table of ``marts`` and ``ops`` copied from the working database;
* **delta**: the previous published file copied as a file, then, in the large per-cookie
  marts (``visitors``, ``pageviews``, ``sessions``), only the rows of the cookies in
  ``intermediate.int_cookies_changed`` replaced, found by their lookup keys
  (``cookie_key``, with any cookie sharing one); the small tables are copied whole. An hourly
  publish then costs in proportion to what changed, not to the history.

A view of ``marts`` in the working database (``pageviews`` on DuckDB: a projection of
``int_pageviews_sessionized``, which a table would copy) is published as a table of its
columns but ``built_at``, the stamp of the build that wrote a row. In a delta its new rows
are those the last build stamped (``ops.dbt_invocations.rows_built_at``): the sessionization
rewrites every row of the cookies it recomputes, so they are the changed cookies' rows, and
the stamp's min/max statistics find them in the last row groups.

A delta is exact only if the previous file holds the marts as they were just before the
last build and that build changed no rows of other cookie keys. ``ops.dbt_invocations``
(written by the project's on-run-start/on-run-end hooks) says what ran since: a delta is
made when nothing ran, or exactly one plain ``dbt build`` (not a full refresh) ran to its
end; the incremental marts delete and insert only the cookie keys of
``int_cookies_changed``, which the same build rebuilds first. Anything else (a full
refresh, a ``dbt run`` or ``dbt seed`` by hand, an invocation killed before its end, a
changed table layout, a previous file that is missing or unreadable) gives a full copy.

A delta leaves the space of the rows it deleted in the file, for DuckDB to reuse (its
checkpoints merge row groups thinned by deletes and reuse freed blocks). A previous file
that holds more than ``WASTE_LIMIT`` times the bytes per row of its last full copy
(``ops.published.full_bytes_per_row``, measured by the first delta after that copy) gets a
full copy instead, which writes it compact. 30 hourly deltas in a row on the 28-day bench
history kept the file within 1.00-1.03 times that, 72 on a 2 M-ping history within
1.04-1.21: a full copy every few hundred runs, where every 24th publish used to copy
everything (54-61 s of a 28-day hourly run).

The copy of the previous file does not depend on the build, so ``webfunnel run`` starts it in
a thread before dbt builds (``NextFile.copy_in_background``) and the publish only waits for
it. The next file has one fixed name per warehouse, held under an exclusive lock
(``.<warehouse>.lock``) from its first byte to the rename: a run killed half-way leaves at
most that file, which the next publish removes before it writes, and two processes never
write it at once.

The rename replaces whatever the warehouse path holds, so a publish first checks that it is
a file a publish wrote (a DuckDB file with ``ops.published``, which every published file
has had) or nothing at all; a mistyped path that names another database, or a file that is
not one, is refused with a one-line error and left as it is. Every publisher opens its next
file by ``open_next_file``, which checks first: ``webfunnel run`` before its build, a
publish that opens its own (the DAG's task, a run with nothing to build) then.

The rename displaces the previous published file, and removing a file gives its blocks back
to the file system, which takes time in proportion to its size: 0.54 s for the 2.3 GB file
of the 28-day bench (this disk is mounted with ``discard``, which trims the freed blocks),
and it was part of ``os.replace``. ``NextFile.swap_in`` keeps a second name for the
displaced file, ``.<warehouse>.replaced``, renames, and removes that name in a thread;
``close()`` waits for it, and ``webfunnel run`` closes the working database (its
checkpoint, 0.4-1.2 s) in between. A reader that has the displaced file open keeps it, as
before. A run killed before the removal leaves that name, which the next publisher removes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from datetime import datetime
from pathlib import Path

import duckdb

from ingest.config import limit_memory, sql_string
from ingest.errors import WebfunnelError
from ingest.ledger import BATCHES_VIEW_SQL, utcnow

PUBLISHED_SCHEMAS = ("marts", "ops")
# incremental marts whose rows change only for the cookie keys of int_cookies_changed
PER_COOKIE_MARTS = ("visitors", "pageviews", "sessions")
STAMP = "built_at"  # a view's stamp of the build that wrote each row: not published
CHANGED_COOKIES = "intermediate.int_cookies_changed"
WASTE_LIMIT = 1.5  # a delta file past this many times its full copy's bytes per row: copy


class NextFile:
    """The file a publish writes and renames over ``warehouse``: ``.<warehouse>.next``,
    under an exclusive lock on ``.<warehouse>.lock`` until ``close()``.

    Opening it removes what a killed run left (the file and its WAL, which DuckDB would
    otherwise replay into a new copy, and a displaced file not yet removed). Raises
    WebfunnelError when another process holds the lock."""

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = warehouse
        self.path = warehouse.with_name(f".{warehouse.name}.next")
        self.displaced = warehouse.with_name(f".{warehouse.name}.replaced")
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(warehouse.with_name(f".{warehouse.name}.lock"), "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise WebfunnelError(
                f"another process is publishing {warehouse} (another run in progress?)"
            ) from None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._copied: tuple | None = None  # what the copy was made from: _identity()
        self._removal: threading.Thread | None = None
        self.displaced.unlink(missing_ok=True)  # what a run killed after its rename left
        self.discard()

    def copy_in_background(self) -> None:
        """Start copying the published file into the next file, in a thread."""
        if self.warehouse.exists():
            self._thread = threading.Thread(
                target=self._copy_in_thread, name="publish-copy", daemon=True
            )
            self._thread.start()

    def _copy_in_thread(self) -> None:
        try:
            self._copy()
        except BaseException as exc:  # re-raised by copy_of_published()
            self._error = exc

    def _copy(self) -> None:
        """Copy the published file, and flush the copy to disk: DuckDB's first commit to it
        would otherwise wait for the whole file to be written out (fsync), not only for
        its own changes."""
        while True:
            before = _identity(self.warehouse)
            shutil.copyfile(self.warehouse, self.path)
            with open(self.path, "rb") as copy:
                os.fsync(copy.fileno())
            if _identity(self.warehouse) == before:
                self._copied = before
                return

    def _wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error

    def copy_of_published(self) -> bool:
        """Make the next file a copy of the published file as it is now (waiting for the
        background copy, copying again if the file was replaced since). False when nothing
        is published (no file, or an empty one)."""
        self._wait()
        if not self.warehouse.exists() or self.warehouse.stat().st_size == 0:
            self.discard()
            return False
        if self._copied is None or self._copied != _identity(self.warehouse):
            self._copy()
        return True

    def swap_in(self) -> None:
        """Rename the next file over the published file, and remove the displaced file in a
        thread (``close()`` waits for it)."""
        self._wait_for_removal()
        try:
            os.link(self.warehouse, self.displaced)
            linked = True
        except FileNotFoundError:  # nothing published yet
            linked = False
        except OSError:  # no hard links here: os.replace removes it
            self.displaced.unlink(missing_ok=True)
            linked = False
        os.replace(self.path, self.warehouse)
        self._copied = None
        if linked:
            self._removal = threading.Thread(
                target=_remove, args=(self.displaced,), name="publish-remove-displaced"
            )
            self._removal.start()

    def _wait_for_removal(self) -> None:
        if self._removal is not None:
            self._removal.join()
            self._removal = None

    def discard(self) -> None:
        """Remove the next file and its WAL."""
        self._copied = None
        for leftover in (self.path, Path(str(self.path) + ".wal")):
            leftover.unlink(missing_ok=True)

    def close(self) -> None:
        """Wait for a copy still running, remove what was not renamed, wait for the displaced
        file's removal, release the lock."""
        try:
            try:
                self._wait()
            finally:
                self.discard()
                self._wait_for_removal()
        finally:
            self._lock.close()


def open_next_file(warehouse: Path) -> NextFile:
    """The next file of ``warehouse``, once the file it will replace is known to be one a
    publish wrote (or nothing): how every publisher opens it."""
    _check_replaceable(warehouse)
    return NextFile(warehouse)


def _check_replaceable(warehouse: Path) -> None:
    """Raise WebfunnelError when ``warehouse`` is a file no publish wrote, which the rename
    would destroy: not a DuckDB file, or one without ``ops.published`` (which every published
    file has had), such as another database given as the warehouse by mistake. A missing or
    empty file is replaceable, and so is a DuckDB file another process holds for writing (a
    BI tool that opened the published file read-write: only its lock keeps us out)."""
    try:
        if warehouse.stat().st_size == 0:
            return
    except FileNotFoundError:
        return
    refusal = f"{warehouse} is not a warehouse webfunnel published"
    advice = "not replaced: move it away or choose another warehouse path"
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if "lock" in message.lower():
            return
        raise WebfunnelError(f"{refusal} ({message}); {advice}") from None
    try:
        ours = con.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'ops' and table_name = 'published'"
        ).fetchone()[0]
    finally:
        con.close()
    if not ours:
        raise WebfunnelError(f"{refusal} (it has no ops.published table); {advice}")


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # left behind: the next publisher removes it before it writes


def _identity(path: Path) -> tuple:
    status = path.stat()
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def publish(work_db: Path, warehouse: Path, run_id: str, next_file: NextFile | None = None) -> str:
    """Write the next file from the working database and rename it over ``warehouse``.
    Returns how: ``"full"`` or ``"delta"``. ``next_file`` is one opened (and perhaps being
    copied) by the caller, who closes it; without it the publish opens its own."""
    own = next_file is None
    if next_file is None:
        next_file = open_next_file(warehouse)
    temporary = next_file.path
    try:
        con = duckdb.connect(str(work_db))
        try:
            con.execute("set TimeZone = 'UTC'")
            limit_memory(con)
            work = _layout(con, _current_catalog(con))
            relations = _relations(con)
            views = {key for key, kind in relations.items() if key[0] == "marts" and kind == "VIEW"}
            mode = "full"
            if next_file.copy_of_published():
                size = temporary.stat().st_size  # the published file's, byte for byte
                con.execute(f"attach {sql_string(temporary)} as published")
                allowed = _deltas_allowed(con, work, relations, views, size)
                if allowed is not None:
                    _apply_delta(con, run_id, *allowed, work, views)
                    mode = "delta"
                else:
                    con.execute("detach published")
                    next_file.discard()
            if mode == "full":
                con.execute(f"attach {sql_string(temporary)} as published")
                _copy_everything(con, run_id, work)
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
        next_file.swap_in()
        return mode
    finally:
        if own:
            next_file.close()


def _layout(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[tuple[str, str], list]:
    """(schema, table) -> [(column, type), ...] of what ``catalog`` publishes: the tables of
    the published schemas, and the views of ``marts`` without their ``built_at``."""
    rows = con.execute(
        """
        select c.table_schema, c.table_name, c.column_name, c.data_type
        from information_schema.columns as c
        join information_schema.tables as t
            on t.table_catalog = c.table_catalog and t.table_schema = c.table_schema
            and t.table_name = c.table_name
        where c.table_catalog = ? and c.table_schema in ('marts', 'ops')
            and (
                t.table_type = 'BASE TABLE'
                or (t.table_type = 'VIEW' and t.table_schema = 'marts' and c.column_name <> ?)
            )
        order by c.table_schema, c.table_name, c.ordinal_position
        """,
        [catalog, STAMP],
    ).fetchall()
    tables: dict[tuple[str, str], list] = {}
    for schema, table, column, data_type in rows:
        tables.setdefault((schema, table), []).append((column, data_type))
    return tables


def _select_list(columns: list) -> str:
    return ", ".join(f'"{name}"' for name, _ in columns)


def _current_catalog(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_database()").fetchone()[0]


def _deltas_allowed(
    con: duckdb.DuckDBPyConnection,
    work: dict,
    relations: dict[tuple[str, str], str],
    views: set[tuple[str, str]],
    size: int,
) -> tuple[int, datetime | None, float] | None:
    """When a delta is exact and the previous file (``size`` bytes) not too wasteful, the
    delta count of the new file, the stamp of the rows the last build wrote (``built_at``;
    None if no view needs it) and the bytes per row of the last full copy; else None (copy
    everything)."""
    published = _layout(con, "published")
    published.pop(("ops", "published"), None)
    if work != published or ("ops", "dbt_invocations") not in work:
        return None  # a first publish, a new layout, or no record of what dbt did
    if tuple(CHANGED_COOKIES.split(".")) not in relations:
        return None
    columns = [row[0] for row in con.execute("describe published.ops.published").fetchall()]
    if not {"dbt_invocation_id", "deltas_since_full", "full_bytes_per_row"} <= set(columns):
        return None  # published by an earlier version
    last_invocation, deltas, full_bytes_per_row = con.execute(
        "select dbt_invocation_id, deltas_since_full, full_bytes_per_row "
        "from published.ops.published"
    ).fetchone()
    if last_invocation is None or deltas is None:
        return None
    bytes_per_row = size / max(_live_rows(con, published), 1)
    if deltas == 0:  # the file is a full copy: its own measure
        full_bytes_per_row = bytes_per_row
    if full_bytes_per_row is None or bytes_per_row > WASTE_LIMIT * full_bytes_per_row:
        return None  # deltas left too much deleted space: written compact again
    known = con.execute(
        "select started_at from ops.dbt_invocations where invocation_id = ?", [last_invocation]
    ).fetchone()
    if known is None:
        return None  # the build the file holds is unknown to this working database
    since = con.execute(
        "select command, full_refresh, finished_at is not null from ops.dbt_invocations "
        "where started_at > ?",
        [known[0]],
    ).fetchall()
    if len(since) > 1 or any(
        command != "build" or full_refresh or not finished
        for command, full_refresh, finished in since
    ):
        return None
    stamp = None
    if views:
        # the last build's stamp: the build since the file, or the file's own if none ran.
        # The invocation that created a view recorded it (macros/record_invocation.sql)
        stamp = con.execute(
            "select rows_built_at from ops.dbt_invocations order by started_at desc limit 1"
        ).fetchone()[0]
        if stamp is None:
            return None
    return deltas + 1, stamp, full_bytes_per_row


def _live_rows(con: duckdb.DuckDBPyConnection, tables: dict) -> int:
    """The rows of the published file's ``tables`` (counts read from its metadata)."""
    counts = " + ".join(
        f'(select count(*) from published.{schema}."{table}")' for schema, table in tables
    )
    return con.execute(f"select {counts or 0}").fetchone()[0]


def _relations(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """(schema, name) -> table type ('BASE TABLE', 'VIEW', ...) of the working database."""
    return {
        (schema, name): kind
        for schema, name, kind in con.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
    }


def _apply_delta(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    deltas: int,
    stamp: datetime | None,
    full_bytes_per_row: float,
    work: dict,
    views: set[tuple[str, str]],
) -> None:
    con.execute("begin transaction")
    for (schema, table), columns in work.items():
        target = f'published.{schema}."{table}"'
        source = f'{schema}."{table}"'
        select = _select_list(columns)
        if schema == "marts" and table in PER_COOKIE_MARTS:
            # by the cookies' lookup keys, as the build replaced them: every row of a key
            # (macros/event_key.sql), found reading one integer column
            changed = f"(select cookie_key from {CHANGED_COOKIES})"
            con.execute(f"delete from {target} where cookie_key in {changed}")
            if (schema, table) in views:
                # the rows the last build wrote, which are those keys' rows (module doc)
                con.execute(
                    f"insert into {target} select {select} from {source} where {STAMP} = ?",
                    [stamp],
                )
            else:
                # fetched by row id, not read whole to be filtered (macro rows_with_keys)
                con.execute(
                    f"insert into {target} select {select} from {source} where rowid in "
                    f"(select rowid from {source} where cookie_key in {changed})"
                )
        else:
            con.execute(f"delete from {target}")
            con.execute(f"insert into {target} select {select} from {source}")
    _record_publish(con, run_id, deltas, work, full_bytes_per_row)
    con.execute("commit")


def _copy_everything(con: duckdb.DuckDBPyConnection, run_id: str, work: dict) -> None:
    for schema in PUBLISHED_SCHEMAS:
        con.execute(f"create schema if not exists published.{schema}")
    for (schema, table), columns in work.items():
        con.execute(
            f'create table published.{schema}."{table}" as '
            f'select {_select_list(columns)} from {schema}."{table}"'
        )
    _record_publish(con, run_id, 0, work, None)  # measured by the next delta


def _record_publish(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    deltas: int,
    work: dict,
    full_bytes_per_row: float | None,
) -> None:
    """``ops.published``: what the file holds (read by the freshness gate and by the next
    publish's delta condition)."""
    last_invocation = (
        "(select invocation_id from ops.dbt_invocations order by started_at desc limit 1)"
        if ("ops", "dbt_invocations") in work
        else "null::varchar"
    )
    con.execute("drop table if exists published.ops.published")
    con.execute(
        "create table published.ops.published as "
        "select ?::varchar as run_id, ?::timestamp as published_at, "
        "(select max(partition_at) from ops.batch_state_transitions "
        " where state = 'succeeded') as newest_partition_at, "
        f"{last_invocation} as dbt_invocation_id, ?::integer as deltas_since_full, "
        "(select run_id from ops.build_state order by built_at desc limit 1) as build_run_id, "
        "?::double as full_bytes_per_row",
        [run_id, utcnow(), deltas, full_bytes_per_row],
    )


def is_behind(warehouse: Path, build_run_id: str | None) -> bool:
    """Whether the published file is missing or holds another build than ``build_run_id``
    (the latest recorded in the working database): a run killed between recording its
    build and publishing leaves it so, and the next run must publish even with nothing new."""
    if not warehouse.exists():
        return True
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return True
    try:
        published = con.execute("select build_run_id from ops.published").fetchone()
    except duckdb.Error:
        return True  # published by an earlier version, or not a published file
    finally:
        con.close()
    return published is None or published[0] != build_run_id

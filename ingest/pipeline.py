"""The pipeline: load what landed, build the models with dbt, publish the marts."""

from __future__ import annotations

import hashlib
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from ingest.archive import archive_batches
from ingest.config import PROJECT_ROOT, Paths, check_dbt_settings, env_number, limit_memory
from ingest.dbt import DbtResult, close_dbt_database, run_dbt
from ingest.errors import WebfunnelError
from ingest.faults import kill_after, kill_point
from ingest.ledger import (
    AWAITING_SCHEDULING,
    Ledger,
    discover,
    utcnow,
)
from ingest.load import LoadStats, ensure_raw_schema, load_landed, process_batch
from ingest.publish import is_behind, open_next_file, publish
from ingest.sources import SOURCES

_FINGERPRINTED = ("models", "macros", "seeds", "dbt_project.yml")
# the widths of the stored lookup keys of macros cookie_key and event_key (tests narrow
# them to make collisions common)
KEY_BITS = ("WEBFUNNEL_COOKIE_KEY_BITS", "WEBFUNNEL_EVENT_KEY_BITS")
# recorded in ops.build_state in place of a fingerprint when an incremental build must be
# followed by a full refresh (conflicting_redeliveries): the next build is one, until one
# succeeds, even when this run is killed before it
FULL_REFRESH_NEEDED = "full-refresh-needed"
# the staging models whose rows say whether they replaced a conflicting delivery
# (macro first_delivery_ctes, column is_conflicting_redelivery)
_CONFLICT_FLAGGED = {
    "pings": "staging.stg_pings__pageviews",
    "signups": "staging.stg_signups__signups",
    "accounts": "staging.stg_accounts__events",
}


def build_args(full_refresh: bool) -> tuple[str, ...]:
    """What a pipeline's ``dbt build`` selects, after the command. Unit tests run in
    ``make test``, never in the pipeline's builds.

    A full refresh loads the seeds. Any other build leaves them, and their tests, out: the
    seeds are part of the project fingerprint, so a changed seed makes the next build a full
    refresh, and until then the seed tables hold what the last full refresh loaded and
    tested. Only full refreshes write them, and a full refresh that fails or is killed is
    made again by the next run. (Reloading them every hour cost 10 of the hourly build's
    107 nodes.)"""
    if full_refresh:
        # also parsed from scratch: dbt's partial parsing can keep a stale macro namespace
        # when macros are added (a new override of a dbt macro failed to compile until the
        # saved parse was deleted). The parse costs seconds; the build it precedes, minutes.
        return ("--exclude", "test_type:unit", "--full-refresh", "--no-partial-parse")
    return ("--exclude", "test_type:unit", "resource_type:seed")


@dataclass
class RunSummary:
    run_id: str
    batches_loaded: int
    batches_discarded: int
    batches_retrying: int
    rows_loaded: int
    rows_quarantined: int
    user_agents_parsed: int
    models_built: int
    built: bool
    seconds: float

    def line(self) -> str:
        built = f"{self.models_built} models built" if self.built else "marts already up to date"
        return (
            f"{self.batches_loaded} batches loaded ({self.rows_loaded:,} rows), "
            f"{self.batches_discarded} discarded, {self.batches_retrying} awaiting retry, "
            f"{self.rows_quarantined:,} rows quarantined, {built}, "
            f"{self.seconds:.1f}s"
        )


def project_fingerprint() -> str:
    """A hash of the transformation logic: when it changes, the models are rebuilt. The
    widths of the stored lookup keys (macros ``cookie_key`` and ``event_key``) are part of
    it."""
    digest = hashlib.sha256()
    for variable in KEY_BITS:
        digest.update(f"{variable}={os.environ.get(variable, '64')}".encode())
    for entry in _FINGERPRINTED:
        path = PROJECT_ROOT / entry
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                digest.update(file.relative_to(PROJECT_ROOT).as_posix().encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _new_run_id() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def open_work_db(paths: Paths) -> duckdb.DuckDBPyConnection:
    """Open the working database for writing, with clear errors for what users can cause."""
    check_dbt_settings()
    try:
        paths.warehouse.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WebfunnelError(
            f"cannot create the warehouse folder {paths.warehouse.parent}: {exc.strerror}"
        ) from exc
    if not os.access(paths.warehouse.parent, os.W_OK):
        raise WebfunnelError(f"the warehouse folder {paths.warehouse.parent} is not writable")
    try:
        con = duckdb.connect(str(paths.work_db))
    except duckdb.IOException as exc:
        message = str(exc).splitlines()[0]
        if "lock" in message.lower():
            raise WebfunnelError(
                f"the working database {paths.work_db} is locked by another process "
                "(another run in progress?)"
            ) from exc
        raise WebfunnelError(f"cannot open {paths.work_db}: {message}") from exc
    con.execute("set TimeZone = 'UTC'")
    limit_memory(con)
    Ledger.ensure_schema(con)
    ensure_raw_schema(con)
    con.execute(
        """
        create table if not exists ops.build_state (
            built_at timestamp not null,
            built_through_transition_id bigint not null,
            project_fingerprint varchar not null,
            run_id varchar not null
        )
        """
    )
    return con


def _check_landing(paths: Paths) -> None:
    if not paths.landing.is_dir():
        raise WebfunnelError(f"landing folder {paths.landing} does not exist")


@dataclass
class BuildPlan:
    needed: bool  # the marts are behind the loaded data or the logic
    full_refresh: bool  # rebuild every model from scratch rather than incrementally
    through: int  # the ledger position the build covers


def plan_build(con: duckdb.DuckDBPyConnection, fingerprint: str) -> BuildPlan:
    """Whether to build, and how: incrementally when only data arrived since the last
    successful build, from scratch when there was none, the logic changed, or the last
    build asked for one (``FULL_REFRESH_NEEDED``)."""
    latest = con.execute(
        "select coalesce(max(transition_id), 0) from ops.batch_state_transitions "
        "where state = 'succeeded'"
    ).fetchone()[0]
    state = con.execute(
        "select built_through_transition_id, project_fingerprint from ops.build_state "
        "order by built_at desc limit 1"
    ).fetchone()
    marts_exist = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'visitors'"
    ).fetchone()[0]
    if state is None or not marts_exist:
        return BuildPlan(needed=True, full_refresh=True, through=latest)
    built_through, built_fingerprint = state
    if built_fingerprint != fingerprint:
        return BuildPlan(needed=True, full_refresh=True, through=latest)
    return BuildPlan(needed=latest > built_through, full_refresh=False, through=latest)


def progress_printer(enabled: bool):
    last = [0.0]

    def report(index: int, total: int, batch) -> None:
        now = time.monotonic()
        if enabled and (index == total or now - last[0] > 2):
            last[0] = now
            print(f"  loaded {index}/{total} batches ({batch.path})", file=sys.stderr)

    return report


def _record_run(con, run_id: str, command: str, started: datetime) -> None:
    con.execute(
        "insert into ops.pipeline_runs (run_id, command, started_at, status) values (?, ?, ?, ?)",
        [run_id, command, started, "running"],
    )


def _finish_run(
    con, run_id: str, status: str, stats: LoadStats, models: int, fingerprint: str, message=None
) -> None:
    con.execute(
        """
        update ops.pipeline_runs set finished_at = ?, status = ?, batches_loaded = ?,
            batches_discarded = ?, batches_retrying = ?, rows_loaded = ?, rows_quarantined = ?,
            models_built = ?, project_fingerprint = ?, message = ?
        where run_id = ?
        """,
        [
            utcnow(),
            status,
            stats.batches_loaded,
            stats.batches_discarded,
            stats.batches_retrying,
            stats.rows_loaded,
            stats.rows_quarantined,
            models,
            fingerprint,
            message,
            run_id,
        ],
    )


# an incremental hourly build tests only the keys it recomputed (macros/test_scope.sql) as
# long as a build with the whole suite succeeded within this many hours
FULL_TESTS_HOURS = env_number("WEBFUNNEL_FULL_TESTS_HOURS", 24)


def decide_test_scope(
    con: duckdb.DuckDBPyConnection, run_id: str, full_refresh: bool, window: bool
) -> str:
    """``all`` or ``changed``: the data tests this build runs (kept in ``ops.test_scopes``).

    The whole suite runs on a full refresh, a backfill, and when no build with the whole
    suite succeeded in the last ``FULL_TESTS_HOURS``; otherwise only the changed keys."""
    scope = "all"
    if not (full_refresh or window) and FULL_TESTS_HOURS > 0:
        last_full = con.execute(
            "select max(decided_at) from ops.test_scopes where scope = 'all' "
            "and run_id in (select run_id from ops.build_state)"
        ).fetchone()[0]
        if last_full is not None and utcnow() - last_full < timedelta(hours=FULL_TESTS_HOURS):
            scope = "changed"
    con.execute("insert into ops.test_scopes values (?, ?, ?)", [run_id, utcnow(), scope])
    return scope


def _fail_run(
    paths: Paths, run_id: str, stats: LoadStats, models: int, fingerprint: str, message: str
) -> None:
    con = open_work_db(paths)
    try:
        _finish_run(con, run_id, "failed", stats, models, fingerprint, message)
    finally:
        con.close()


def conflicting_redeliveries(con) -> str | None:
    """Why the incremental build just made must be followed by a full refresh, or None.

    A staging row flagged ``is_conflicting_redelivery`` replaced the stored delivery of its
    event with another cookie, person, account or time (macro ``first_delivery_ctes``). The
    incremental models recompute the new cookie, person and hours, but rows of the old ones
    would stay (an event counted under two cookies, a visitor with no page view left, an
    hour that lost its only page view). Only a full refresh writes the flags false, so they
    stay until one succeeds. The flags are almost all false: row-group statistics skip the
    rest of the table, so this costs milliseconds. ``con`` is DuckDB or a PgConnection."""
    union = " union all ".join(
        f"select '{source}' as source, event_id from {table} where is_conflicting_redelivery"
        for source, table in _CONFLICT_FLAGGED.items()
    )
    rows = con.execute(
        f"select source, count(*), min(event_id) from ({union}) flagged group by source "
        "order by source"
    ).fetchall()
    if not rows:
        return None
    total = sum(count for _, count, _ in rows)
    detail = ", ".join(f"{source}: {count}, e.g. {first}" for source, count, first in rows)
    events = "event" if total == 1 else "events"
    return (
        f"{total} {events} delivered again, ahead of the stored delivery, with another "
        f"cookie, person, account or time ({detail}): rebuilt from scratch"
    )


def conflict_after_build(con, full_refresh: bool, build_failed: bool, errors) -> str | None:
    """``conflicting_redeliveries`` after an incremental build (None after a full refresh,
    which flags nothing). When the build failed before its staging models were whole the
    check cannot run (``errors``, the engine's): None, and the build's own error is the one
    to report. ``con`` is DuckDB or a PgConnection."""
    if full_refresh:
        return None
    try:
        return conflicting_redeliveries(con)
    except errors:
        if not build_failed:
            raise
        return None


def record_build(
    paths: Paths,
    run_id: str,
    stats: LoadStats,
    result: DbtResult,
    through: int,
    fingerprint: str,
    full_refresh: bool = False,
    message: str | None = None,
) -> str | None:
    """After ``dbt build``: a successful build moves ``ops.build_state`` to ``through``; a
    failed one is recorded as a failed run and raised.

    An incremental build that took in conflicting redeliveries is recorded as needing a
    full refresh instead (``FULL_REFRESH_NEEDED``), whether it succeeded or not (the rows
    the old keys kept can fail its tests: an event id twice in ``marts.pageviews``), and
    the reason is returned: the caller builds again from scratch (``build_and_record``)."""
    con = open_work_db(paths)
    try:
        conflict = conflict_after_build(con, full_refresh, not result.success, duckdb.Error)
        if conflict:
            con.execute(
                "insert into ops.build_state values (?, ?, ?, ?)",
                [utcnow(), through, FULL_REFRESH_NEEDED, run_id],
            )
            decide_test_scope(con, run_id, full_refresh=True, window=False)  # the full refresh's
            return conflict
        if not result.success:
            failure = "; ".join(result.failures[:3]) or "dbt build failed"
            _finish_run(con, run_id, "failed", stats, result.models_built, fingerprint, failure)
            raise WebfunnelError(
                f"dbt build failed ({len(result.failures)} errors, first: {failure}); "
                f"see {paths.dbt_log_dir / 'dbt.log'}"
            )
        con.execute(
            "insert into ops.build_state values (?, ?, ?, ?)",
            [utcnow(), through, fingerprint, run_id],
        )
        _finish_run(con, run_id, "succeeded", stats, result.models_built, fingerprint, message)
    finally:
        con.close()
    return None


def build_and_record(
    paths: Paths,
    run_id: str,
    stats: LoadStats,
    through: int,
    fingerprint: str,
    full_refresh: bool,
    *extra: str,
    quiet: bool = False,
    test_scope: str = "all",
) -> DbtResult:
    """``dbt build`` and ``record_build``; again from scratch when the incremental build
    took in conflicting redeliveries (``conflicting_redeliveries``)."""
    result = run_dbt("build", paths, *build_args(full_refresh), *extra, quiet=quiet,
                     test_scope=test_scope)  # fmt: skip
    kill_point("build:done")
    conflict = record_build(paths, run_id, stats, result, through, fingerprint, full_refresh)
    if conflict is None:
        return result
    print(f"  {conflict}", file=sys.stderr)
    kill_point("build:refresh")
    result = run_dbt("build", paths, *build_args(True), *extra, quiet=quiet, test_scope="all")
    kill_point("build:done")
    record_build(paths, run_id, stats, result, through, fingerprint, True, message=conflict)
    return result


def _build_and_publish(
    paths: Paths,
    run_id: str,
    command: str,
    stats: LoadStats,
    through: int,
    quiet: bool,
    full_refresh: bool = False,
    window: tuple[datetime, datetime] | None = None,
    test_scope: str = "all",
) -> int:
    """dbt build, then record the build and publish. Returns the number of models built.

    The previous published file is copied while dbt builds (a thread, mostly the kernel's
    work), so the publish only applies the delta to it."""
    fingerprint = project_fingerprint()
    kill_after("build")
    extra: tuple[str, ...] = ()
    if window is not None:
        start, end = (moment.isoformat(sep=" ") for moment in window)
        extra = ("--vars", f'{{backfill_start: "{start}", backfill_end: "{end}"}}')
    try:
        next_file = open_next_file(paths.warehouse)  # checked before the build, not after it
    except WebfunnelError as exc:  # another process publishes, or not our file: in pipeline_runs
        _fail_run(paths, run_id, stats, 0, fingerprint, str(exc))
        raise
    try:
        next_file.copy_in_background()
        result = build_and_record(
            paths, run_id, stats, through, fingerprint, full_refresh, *extra,
            quiet=quiet, test_scope=test_scope,
        )  # fmt: skip
        kill_point("publish:before")
        publish(paths.work_db, paths.warehouse, run_id, next_file)
        close_dbt_database()  # its checkpoint overlaps the displaced file's removal
    finally:
        next_file.close()
    return result.models_built


def run(paths: Paths, quiet: bool = False) -> RunSummary:
    """Load every landed file not yet loaded, bring every model up to date, publish."""
    started = time.monotonic()
    _check_landing(paths)
    run_id = _new_run_id()
    con = open_work_db(paths)
    run_started = utcnow()
    try:
        _record_run(con, run_id, "run", run_started)
        ledger = Ledger(con, run_id)
        stats = load_landed(
            con, ledger, paths.landing, paths.archive, progress=progress_printer(not quiet)
        )
        parsed = con.execute(
            "select count(*) from raw.user_agents where parsed_at >= ?", [run_started]
        ).fetchone()[0]
        archived = archive_batches(con, ledger, paths.landing, paths.archive)
        fingerprint = project_fingerprint()
        plan = plan_build(con, fingerprint)
        needed, through = plan.needed, plan.through
        ledger_changed = bool(stats.batches_discarded or stats.batches_retrying or archived)
        if needed:
            scope = decide_test_scope(con, run_id, plan.full_refresh, window=False)
        else:
            _finish_run(con, run_id, "succeeded", stats, 0, fingerprint, "nothing new")
        latest_build = con.execute(
            "select run_id from ops.build_state order by built_at desc limit 1"
        ).fetchone()
    finally:
        con.close()
    models = 0
    if needed:
        models = _build_and_publish(
            paths, run_id, "run", stats, through, quiet,
            full_refresh=plan.full_refresh, test_scope=scope,
        )  # fmt: skip
    elif ledger_changed or is_behind(paths.warehouse, latest_build[0] if latest_build else None):
        publish(paths.work_db, paths.warehouse, run_id)
    return RunSummary(
        run_id=run_id,
        batches_loaded=stats.batches_loaded,
        batches_discarded=stats.batches_discarded,
        batches_retrying=stats.batches_retrying,
        rows_loaded=stats.rows_loaded,
        rows_quarantined=stats.rows_quarantined,
        user_agents_parsed=parsed,
        models_built=models,
        built=needed,
        seconds=time.monotonic() - started,
    )


def backfill(paths: Paths, start: datetime, end: datetime, quiet: bool = False) -> RunSummary:
    """Reload the batches of the partitions in [start, end) from the landed (or archived)
    files, then rebuild the models: the way to reprocess history after a logic fix."""
    if end <= start:
        raise WebfunnelError(f"backfill window is empty: --end {end} is not after --start {start}")
    started = time.monotonic()
    _check_landing(paths)
    run_id = _new_run_id()
    con = open_work_db(paths)
    stats = LoadStats()
    try:
        _record_run(con, run_id, f"backfill {start.isoformat()} {end.isoformat()}", utcnow())
        ledger = Ledger(con, run_id)
        known = ledger.current()
        on_disk = {batch.batch_id: batch for batch in discover(paths.landing)}
        if paths.archive.is_dir():
            for batch in discover(paths.archive):
                on_disk.setdefault(batch.batch_id, batch)
        window = [
            batch
            for batch in on_disk.values()
            if batch.partition_at is not None and start <= batch.partition_at < end
        ]
        window.sort(key=lambda batch: (batch.partition_at, batch.path))
        progress = progress_printer(not quiet)
        for index, batch in enumerate(window, start=1):
            attempt = known.get(batch.batch_id, ("", 0))[1] + 1
            ledger.record(batch, AWAITING_SCHEDULING, attempt - 1, f"backfill {run_id}")
            file_path = paths.landing / batch.path
            if not file_path.exists():
                file_path = paths.archive / batch.path
            _forget_batch(con, batch.batch_id, batch.source, run_id)
            process_batch(con, ledger, batch, file_path, attempt, stats)
            progress(index, len(window), batch)
        parsed, reclassified = _reparse_all_user_agents(con, run_id)
        plan = plan_build(con, project_fingerprint())
        changed = reclassified or reloaded_data_changed(con, run_id)
        decide_test_scope(con, run_id, plan.full_refresh or changed, window=True)  # all
    finally:
        con.close()
    # the same mechanism as the documented dbt command: the incremental models take in the
    # window's batches again; everything, when the logic changed since the last build, the
    # reloaded files now give other rows (reloaded_data_changed), or a user agent's class
    # changed (_reparse_all_user_agents)
    models = _build_and_publish(
        paths, run_id, "backfill", stats, plan.through, quiet,
        full_refresh=plan.full_refresh or changed, window=(start, end),
    )  # fmt: skip
    return RunSummary(
        run_id=run_id,
        batches_loaded=stats.batches_loaded,
        batches_discarded=stats.batches_discarded,
        batches_retrying=stats.batches_retrying,
        rows_loaded=stats.rows_loaded,
        rows_quarantined=stats.rows_quarantined,
        user_agents_parsed=parsed,
        models_built=models,
        built=True,
        seconds=time.monotonic() - started,
    )


def _digest_columns(source: str) -> str:
    """Row count and an order-independent digest of rows in ``raw``: everything the models
    read of them (the contract columns and the row number that breaks ties)."""
    columns = ", ".join([*SOURCES[source].column_names, "_file_row_number"])
    return f"count(*) as row_count, cast(bit_xor(hash({columns})) as varchar) as digest"


def _forget_batch(con: duckdb.DuckDBPyConnection, batch_id: str, source: str, run_id: str) -> None:
    """Remove a batch's rows so that reloading it cannot count them twice, keeping their
    digest in ``ops.reprocessed_batches`` (``reloaded_data_changed`` compares it)."""
    con.execute("begin transaction")
    rows, digest = con.execute(
        f"select {_digest_columns(source)} from raw.{SOURCES[source].name} where _batch_id = ?",
        [batch_id],
    ).fetchone()
    con.execute(
        "insert into ops.reprocessed_batches values (?, ?, ?, ?, ?)",
        [run_id, batch_id, source, rows, digest],
    )
    con.execute(f"delete from raw.{SOURCES[source].name} where _batch_id = ?", [batch_id])
    con.execute("delete from ops.quarantine where batch_id = ?", [batch_id])
    con.execute("commit")


def reloaded_data_changed(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether a batch this run forgot and loaded again now has other rows than before (a
    file landed again with other content, or a loader fix that keeps or rejects other rows).

    The incremental models recompute what the reloaded rows touch; they cannot see a row that
    disappeared, nor the cookie a changed row used to belong to. So when a reload changed
    anything the build is a full refresh, and exact; when it changed nothing the
    incremental build is."""
    for name, source in SOURCES.items():  # one pass over each raw table, not one per batch
        differing = con.execute(
            f"""
            with forgotten as (
                select batch_id, rows_before, digest_before from ops.reprocessed_batches
                where run_id = ? and source = ?
            ),
            reloaded as (
                select _batch_id as batch_id, {_digest_columns(name)}
                from raw.{source.name}
                where _batch_id in (select batch_id from forgotten)
                group by _batch_id
            )
            select count(*)
            from forgotten
            left join reloaded using (batch_id)
            -- a batch that has no rows now is absent from reloaded: 0 rows, no digest
            where coalesce(reloaded.row_count, 0) <> forgotten.rows_before
                or reloaded.digest is distinct from forgotten.digest_before
            """,
            [run_id, name],
        ).fetchone()[0]
        if differing:
            return True
    return False


# what the models read of the parsed user agents, as a row count and an order-free digest
_USER_AGENTS_DIGEST = (
    "select count(*), cast(bit_xor(hash(user_agent, device_class, browser, os)) as varchar) "
    "from raw.user_agents"
)


def _reparse_all_user_agents(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, bool]:
    """Classify every user agent again (a backfill may follow a fix of the classifier).
    Returns how many, and whether any class, browser or OS changed.

    A change makes the backfill a full refresh: the sessionization keeps the classified
    page views it already holds (int_pageviews_sessionized), so an incremental build would
    classify a changed cookie's page views of the window anew and its others as before,
    and the cookies outside the window as before; a full refresh classifies them all anew."""
    from ingest.useragents import classify

    before = con.execute(_USER_AGENTS_DIGEST).fetchone()
    rows = con.execute(
        "select distinct trim(user_agent) from raw.pings "
        "where user_agent is not null and trim(user_agent) <> ''"
    ).fetchall()
    now = utcnow()
    values = [(ua, *classify(ua), now) for (ua,) in rows]
    con.execute("begin transaction")
    con.execute("delete from raw.user_agents")
    if values:
        con.executemany("insert into raw.user_agents values (?, ?, ?, ?, ?)", values)
    con.execute("commit")
    return len(values), con.execute(_USER_AGENTS_DIGEST).fetchone() != before

"""The hourly pipeline cut into tasks, one function per Airflow task (dags/webfunnel_hourly.py).

Each function takes the paths, the run's id and its data interval ``[start, end)`` and
returns something JSON-serialisable (it travels between tasks as an XCom). None holds a
DuckDB connection beyond its own call (DuckDB has one writer per file), none reads the
clock to decide what to process, and each can be re-run: that is what makes an Airflow
retry, a cleared task or ``airflow backfill create`` safe.

What a run processes:
* every batch whose partition hour is in ``[start, end)`` — from scratch, even if an earlier
  run loaded it (its rows are removed and loaded again, as ``webfunnel backfill`` does);
* every batch of an earlier hour that is still waiting: a late file that appeared after its
  hour was processed, a file awaiting retry, a batch left ``running`` by a killed task.
Batches of later hours are left to their own runs.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.config import Paths
from ingest.errors import WebfunnelError
from ingest.ledger import (
    AWAITING_SCHEDULING,
    DISCARDED,
    LOADABLE,
    Batch,
    Ledger,
    discover,
    utcnow,
)

log = logging.getLogger(__name__)

# the marts may trail the newest landed partition by at most this much
MAX_LAG = timedelta(hours=1)


class StaleMartsError(WebfunnelError):
    """The published marts are further behind the landed data than MAX_LAG."""


class DataQualityError(WebfunnelError):
    """A mart suite failed."""


# ----------------------------------------------------------------------------- helpers


def utc_naive(moment: datetime) -> datetime:
    """Airflow's interval bounds (aware) as the naive UTC the warehouse stores."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def run_id_for(airflow_run_id: str) -> str:
    """The webfunnel run id of an Airflow DAG run: stable across task retries."""
    return "airflow-" + re.sub(r"[^A-Za-z0-9_.:+-]", "_", airflow_run_id)


def _batch_dict(batch: Batch) -> dict[str, Any]:
    data = asdict(batch)
    for key in ("partition_at", "file_mtime"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    return data


def _batch_from(data: dict[str, Any]) -> Batch:
    values = dict(data)
    for key in ("partition_at", "file_mtime"):
        if values.get(key):
            values[key] = datetime.fromisoformat(values[key])
    return Batch(**values)


def _file_for(paths: Paths, batch: Batch) -> Path:
    landed = paths.landing / batch.path
    if not landed.exists() and (paths.archive / batch.path).exists():
        return paths.archive / batch.path
    return landed


def _quarantine_file(con, batch: Batch, reason: str, run_id: str) -> None:
    con.execute(
        """
        insert into ops.quarantine
            (batch_id, source, path, file_row_number, reason, content, quarantined_at, run_id)
        values (?, ?, ?, null, ?, null, ?, ?)
        """,
        [batch.batch_id, batch.source, batch.path, reason, utcnow(), run_id],
    )


VALIDATION_RESULTS_SQL = """
create table if not exists ops.validation_results (
    run_id varchar,
    suite varchar not null,
    target varchar not null,
    success boolean not null,
    evaluated integer,
    failures varchar,
    details varchar,
    validated_at timestamp not null
)
"""


def _keep_results(paths: Paths, run_id: str, kind: str, results: list[dict[str, Any]]) -> Path:
    """Keep validation results twice: a JSON file under the data folder (readable at once)
    and rows in ``ops.validation_results`` (published with the next run)."""
    from ingest.pipeline import open_work_db

    folder = paths.warehouse.parent / "quality"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{kind}-{run_id}.json"
    out.write_text(json.dumps({"run_id": run_id, "kind": kind, "results": results}, indent=2))
    if results:
        con = open_work_db(paths)
        try:
            con.execute(VALIDATION_RESULTS_SQL)
            now = utcnow()
            con.executemany(
                "insert into ops.validation_results values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        item["suite"],
                        item["target"],
                        item["success"],
                        item["evaluated"],
                        "; ".join(item["failures"]),
                        json.dumps(item["details"], default=str),
                        now,
                    )
                    for item in results
                ],
            )
        finally:
            con.close()
    return out


# ------------------------------------------------------------------------------- tasks


def discover_batches(
    paths: Paths, start: datetime, end: datetime, run_id: str, command: str = "airflow"
) -> list[dict[str, Any]]:
    """Register what landed up to ``end`` and list the batches this run must load."""
    from ingest.pipeline import _forget_batch, open_work_db

    start, end = utc_naive(start), utc_naive(end)
    if not paths.landing.is_dir():
        raise WebfunnelError(f"landing folder {paths.landing} does not exist")
    con = open_work_db(paths)
    try:
        con.execute(
            "insert into ops.pipeline_runs (run_id, command, started_at, status) "
            "values (?, ?, ?, 'running') on conflict (run_id) do update set status = 'running'",
            [run_id, f"{command} [{start.isoformat()}, {end.isoformat()})", utcnow()],
        )
        ledger = Ledger(con, run_id)
        known = ledger.current()
        on_disk = {batch.batch_id: batch for batch in discover(paths.landing)}
        if paths.archive.is_dir():
            for batch in discover(paths.archive):
                if batch.partition_at is not None and start <= batch.partition_at < end:
                    on_disk.setdefault(batch.batch_id, batch)
        for batch in sorted(on_disk.values(), key=lambda item: item.path):
            if batch.partition_at is not None and batch.partition_at >= end:
                continue  # a later interval's
            state, attempt = known.get(batch.batch_id, (None, 0))
            if state is None:
                ledger.record(batch, AWAITING_SCHEDULING, 0)
            elif (
                batch.partition_at is not None
                and start <= batch.partition_at < end
                and state not in LOADABLE
            ):
                # this interval is processed again from scratch (a retry or a backfill)
                _forget_batch(con, batch.batch_id, batch.source, run_id)
                ledger.record(batch, AWAITING_SCHEDULING, attempt, f"reprocess {run_id}")
        pending = [
            batch
            for batch in ledger.batches_in(LOADABLE)
            if batch.partition_at is None or batch.partition_at < end
        ]
    finally:
        con.close()
    log.info("%d batches to load for [%s, %s)", len(pending), start, end)
    return [_batch_dict(batch) for batch in pending]


def validate_batches(paths: Paths, batches: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    """Run the batch suites; quarantine failing batches whole, pass the rest on."""
    from ingest.pipeline import open_work_db
    from ingest.quality import validate_batch_file

    con = open_work_db(paths)
    try:
        current = Ledger(con, run_id).current()
    finally:
        con.close()
    passed, failed, results = [], [], []
    for data in batches:
        batch = _batch_from(data)
        if current.get(batch.batch_id, (AWAITING_SCHEDULING, 0))[0] not in LOADABLE:
            continue  # settled by an earlier attempt of this task
        outcome = validate_batch_file(
            batch.source, _file_for(paths, batch), batch.path, batch.partition_at
        )
        if outcome is not None:
            results.append(outcome.as_dict())
        if outcome is None or outcome.success:
            passed.append(data)
        else:
            failed.append((batch, outcome.reason))
    if failed:
        con = open_work_db(paths)
        try:
            ledger = Ledger(con, run_id)
            for batch, reason in failed:
                attempt = current.get(batch.batch_id, (AWAITING_SCHEDULING, 0))[1] + 1
                con.execute("begin transaction")
                _quarantine_file(con, batch, reason, run_id)
                ledger.record(batch, DISCARDED, attempt, reason)
                con.execute("commit")
                log.warning("quarantined %s: %s", batch.path, reason)
        finally:
            con.close()
    _keep_results(paths, run_id, "batches", results)
    return {
        "passed": passed,
        "quarantined": [{"path": batch.path, "reason": reason} for batch, reason in failed],
    }


def load_batches(paths: Paths, batches: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    """Load the validated batches (rows and ledger state committed together per batch)."""
    from ingest.load import LoadStats, ensure_raw_schema, process_batch
    from ingest.pipeline import open_work_db

    stats = LoadStats()
    con = open_work_db(paths)
    try:
        ensure_raw_schema(con)
        ledger = Ledger(con, run_id)
        current = ledger.current()
        for data in batches:
            batch = _batch_from(data)
            state, attempt = current.get(batch.batch_id, (AWAITING_SCHEDULING, 0))
            if state not in LOADABLE:
                continue  # loaded (or discarded) by an earlier attempt of this task
            # new user agents are parsed inside each batch's transaction (ingest.load)
            process_batch(con, ledger, batch, _file_for(paths, batch), attempt + 1, stats)
    finally:
        con.close()
    summary = asdict(stats)
    summary["sources_loaded"] = sorted(stats.sources_loaded)
    return summary


def build_models(paths: Paths, run_id: str, load_summary: dict[str, Any]) -> dict[str, Any]:
    """``dbt build`` when the models are behind the loaded data or the logic."""
    from ingest.load import LoadStats
    from ingest.pipeline import (
        _finish_run,
        build_and_record,
        decide_test_scope,
        open_work_db,
        plan_build,
        project_fingerprint,
        reloaded_data_changed,
    )

    stats = LoadStats(
        **{key: value for key, value in load_summary.items() if key in LoadStats.__annotations__}
    )
    stats.sources_loaded = set(load_summary.get("sources_loaded", []))
    fingerprint = project_fingerprint()
    con = open_work_db(paths)
    try:
        plan = plan_build(con, fingerprint)
        through = plan.through
        if not plan.needed:
            _finish_run(con, run_id, "succeeded", stats, 0, fingerprint, "nothing new")
            return {"built": False, "models_built": 0}
        # the interval was processed again and its files now give other rows: from scratch
        full_refresh = plan.full_refresh or reloaded_data_changed(con, run_id)
        scope = decide_test_scope(con, run_id, full_refresh, window=False)
    finally:
        con.close()
    result = build_and_record(
        paths, run_id, stats, through, fingerprint, full_refresh, quiet=True, test_scope=scope
    )
    return {"built": True, "models_built": result.models_built, "tests": result.tests_passed}


def publish_marts(paths: Paths, run_id: str) -> str:
    """Swap a finished copy of ``marts`` and ``ops`` in for BI tools."""
    from ingest.publish import publish

    publish(paths.work_db, paths.warehouse, run_id)
    return str(paths.warehouse)


def newest_landed_partition(batches: list[Batch], end: datetime) -> datetime | None:
    """The newest partition hour with a landed file, among the hours before ``end``."""
    end = utc_naive(end)
    hours = [
        batch.partition_at
        for batch in batches
        if batch.partition_at is not None and batch.partition_at < end
    ]
    return max(hours, default=None)


# the newest partition hour whose data the last recorded build covered
MARTS_THROUGH_SQL = """
select max(partition_at) from ops.batch_state_transitions
where state = 'succeeded' and transition_id <= (
    select built_through_transition_id from ops.build_state
    order by built_at desc limit 1
)
"""


def marts_through(warehouse: Path) -> datetime | None:
    """The newest partition hour whose data the published marts were built from."""
    import duckdb

    if not warehouse.exists():
        return None
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(MARTS_THROUGH_SQL).fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()


def check_freshness(paths: Paths, end: datetime) -> dict[str, Any]:
    """Fail when the published marts trail the newest landed partition by more than MAX_LAG."""
    landed = newest_landed_partition(discover(paths.landing), end)
    built = marts_through(paths.warehouse)
    return _freshness_verdict(landed, built, str(paths.warehouse))


def _freshness_verdict(landed: datetime | None, built: datetime | None, what: str) -> dict:
    report = {
        "newest_landed_partition": landed.isoformat() if landed else None,
        "marts_through_partition": built.isoformat() if built else None,
        "max_lag_hours": MAX_LAG.total_seconds() / 3600,
    }
    if landed is None:
        return {**report, "lag_hours": 0.0, "fresh": True}
    lag = landed - built if built is not None else None
    if lag is None or lag > MAX_LAG:
        behind = "have never been published" if lag is None else f"are {_hours(lag)} behind"
        raise StaleMartsError(
            f"stale marts: {what} {behind} the newest landed partition "
            f"{landed:%Y-%m-%d %H:00} UTC (marts built through "
            f"{f'{built:%Y-%m-%d %H:00} UTC' if built else 'nothing'}; allowed lag "
            f"{_hours(MAX_LAG)}); check the load/build/publish tasks of this run and "
            "ops.batches for batches awaiting retry or discarded"
        )
    return {**report, "lag_hours": lag.total_seconds() / 3600, "fresh": True}


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def check_mart_quality(paths: Paths, run_id: str) -> dict[str, Any]:
    """Run the mart suites on the published warehouse; keep the results; fail on a failure."""
    from ingest.quality import check_marts

    if not paths.warehouse.exists():
        raise DataQualityError(f"no published warehouse at {paths.warehouse}")
    results = [result.as_dict() for result in check_marts(paths.warehouse)]
    kept = _keep_results(paths, run_id, "marts", results)
    failed = [item for item in results if not item["success"]]
    if failed:
        first = failed[0]
        raise DataQualityError(
            f"{len(failed)} mart suite(s) failed, first {first['suite']}: "
            f"{'; '.join(first['failures'])} (results in {kept})"
        )
    return {"suites": len(results), "results_file": str(kept)}


def alert(paths: Paths, message: str) -> Path:
    """Write an on-call message where an engineer finds it: ``<data>/logs/alerts.log``."""
    folder = paths.dbt_log_dir
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "alerts.log"
    with out.open("a", encoding="utf-8") as handle:
        handle.write(message.rstrip("\n") + "\n")
    log.error("%s", message)
    return out


def failure_message(dag_id: str, task_id: str, run_id: str, interval: str, error: object) -> str:
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return (
        f"ALERT {utcnow():%Y-%m-%dT%H:%M:%SZ} {dag_id}.{task_id} run {run_id} {interval}: {first}"
    )


# ------------------------------------------------------------- PostgreSQL and Redshift targets
#
# With WEBFUNNEL_TARGET=postgres or redshift the hourly DAG has three tasks: load into the
# server (ingest.pg_load or ingest.redshift_load), dbt build there, and the freshness gate.
# There is no publish step: a server's readers see each model's new table when dbt's
# transaction commits. A scheduled run loads what is waiting in its interval and the hours
# before it; a backfill run reloads its interval's partitions from scratch and rebuilds.

SERVER_TARGETS = ("postgres", "redshift")


def _server_connect(target: str):
    from ingest import pg_load, redshift_load

    return redshift_load.connect if target == "redshift" else pg_load.PgConnection.connect


def _redshift_where():
    from ingest.redshift_load import RedshiftLanding

    return RedshiftLanding.from_environment()


def load_into_server(
    target: str, paths: Paths, start: datetime, end: datetime, run_id: str, reprocess: bool
) -> dict[str, Any]:
    """Load the interval's batches (and earlier waiting ones) into the server, without
    building; with ``reprocess`` (a backfill run) reload the interval's partitions."""
    from ingest import pg_load, redshift_load

    start, end = utc_naive(start), utc_naive(end)
    if target == "redshift":
        where = _redshift_where()
        if reprocess:
            stats = redshift_load.backfill(where, start, end, build=False, run_id=run_id)
        else:
            stats = redshift_load.run(where, build=False, run_id=run_id, before=end)
    elif reprocess:
        stats = pg_load.backfill(
            paths.landing, start, end, paths.archive, build=False, run_id=run_id
        )
    else:
        stats = pg_load.run(paths.landing, paths.archive, build=False, run_id=run_id, before=end)
    summary = {
        "target": target,
        "reprocessed": reprocess,
        "batches_loaded": stats.batches_loaded,
        "batches_discarded": stats.batches_discarded,
        "batches_retrying": stats.batches_retrying,
        "rows_loaded": stats.rows_loaded,
        "rows_quarantined": stats.rows_quarantined,
    }
    log.info("loaded into %s: %s", target, summary)
    return summary


def build_on_server(target: str, run_id: str, load_summary: dict[str, Any]) -> dict[str, Any]:
    """``dbt build --target <target>`` when anything changed (from scratch after a reload)."""
    from ingest import pg_load

    built = pg_load.build_if_needed(
        target,
        run_id,
        force=bool(load_summary.get("reprocessed")),
        connect=_server_connect(target),
    )
    return {"target": target, "built": built}


def check_server_freshness(target: str, paths: Paths, end: datetime) -> dict[str, Any]:
    """The freshness gate on the server's marts and ledger."""
    from ingest import redshift_load

    if target == "redshift":
        where = _redshift_where()
        batches = redshift_load.discover(where.landing)
        what = f"the Redshift marts ({where.landing})"
    else:
        batches = discover(paths.landing)
        what = "the PostgreSQL marts"
    landed = newest_landed_partition(batches, end)
    connection = _server_connect(target)()
    try:
        exists = connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'ops' and table_name = 'build_state'"
        ).fetchone()[0]
        built = connection.execute(MARTS_THROUGH_SQL).fetchone()[0] if exists else None
    finally:
        connection.close()
    return _freshness_verdict(landed, built, what)

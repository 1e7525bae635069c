"""webfunnel_hourly: each hour's landed partitions -> validated -> loaded -> dbt -> published.

Configuration only: the work is in ``ingest.orchestrate`` (imported inside the tasks, so
parsing this file touches no database and imports nothing heavy). Each run works on its data
interval ``[data_interval_start, data_interval_end)`` — one partition hour — plus any
earlier batch still waiting (late files, retries). ``max_active_runs=1``: DuckDB has one
writer. Backfill: ``airflow backfill create --dag-id webfunnel_hourly --max-active-runs 1
--from-date ... --to-date ...`` (the DAG unpaused; ``--to-date`` is the last run's logical
date, included) reprocesses those hours from the landed (or archived) files.

The warehouse is chosen by ``WEBFUNNEL_TARGET`` when the file is parsed (set it alike for
the DAG processor and the workers): ``duckdb`` (default) gives the tasks below;
``postgres`` or ``redshift`` give ``load`` (``ingest.pg_load`` from the landing folder, or
``ingest.redshift_load`` with COPY from S3) -> ``dbt_build`` -> ``freshness``. There is no
publish step on a server: readers see each model's new table when dbt's transaction commits.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

DAG_ID = "webfunnel_hourly"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = (os.environ.get("WEBFUNNEL_TARGET") or "duckdb").strip().lower()
if TARGET not in ("duckdb", "postgres", "redshift"):
    raise ValueError(f"WEBFUNNEL_TARGET={TARGET!r}: expected duckdb, postgres or redshift")


def _paths():
    from ingest.config import Paths

    return Paths.resolve()  # $WEBFUNNEL_LANDING / $WEBFUNNEL_WAREHOUSE, read at run time


def alert_on_failure(context) -> None:
    """on_failure_callback: one clear line in <data>/logs/alerts.log and in the task log."""
    from ingest.orchestrate import alert, failure_message

    ti = context["ti"]
    interval = f"[{context.get('data_interval_start')}, {context.get('data_interval_end')})"
    message = failure_message(
        ti.dag_id, ti.task_id, ti.run_id, interval, context.get("exception") or "failed"
    )
    alert(_paths(), message)


# DuckDB has one writer: every task of every run (scheduled or backfill) takes the single
# slot of this pool, so runs never contend for the warehouse lock. `make airflow` creates it.
WAREHOUSE_POOL = "webfunnel_warehouse"

default_args = {
    "owner": "data-platform",
    # a server takes concurrent writers; max_active_runs=1 still keeps one loader at a time
    "pool": WAREHOUSE_POOL if TARGET == "duckdb" else "default_pool",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "on_failure_callback": alert_on_failure,
}

with DAG(
    dag_id=DAG_ID,
    description="Hourly load of the landing zone into the webfunnel marts",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,  # a run also sweeps earlier hours' waiting batches; backfill on demand
    max_active_runs=1,
    default_args=default_args,
    dagrun_timeout=timedelta(minutes=55),
    tags=["webfunnel", "hourly", "elt"],
    doc_md=__doc__,
) as dag:
    if TARGET == "duckdb":

        @task
        def discover(data_interval_start=None, data_interval_end=None, dag_run=None):
            """Register the landed files and list the batches this interval loads."""
            from ingest.orchestrate import discover_batches, run_id_for

            return discover_batches(
                _paths(),
                data_interval_start,
                data_interval_end,
                run_id_for(dag_run.run_id),
                command=f"airflow {DAG_ID}",
            )

        @task
        def validate(batches, dag_run=None):
            """Great Expectations batch suites; a failing batch is quarantined whole."""
            from ingest.orchestrate import run_id_for, validate_batches

            return validate_batches(_paths(), batches, run_id_for(dag_run.run_id))

        @task
        def load(validated, dag_run=None):
            """Load the batches that passed validation into the working warehouse."""
            from ingest.orchestrate import load_batches, run_id_for

            return load_batches(_paths(), validated["passed"], run_id_for(dag_run.run_id))

        @task
        def dbt_build(load_summary, dag_run=None):
            """dbt build (models, seeds, data tests) when anything changed."""
            from ingest.orchestrate import build_models, run_id_for

            return build_models(_paths(), run_id_for(dag_run.run_id), load_summary)

        @task
        def publish(build_summary, dag_run=None):
            """Atomic swap of the published warehouse that BI tools read."""
            from ingest.orchestrate import publish_marts, run_id_for

            return publish_marts(_paths(), run_id_for(dag_run.run_id))

        @task
        def mart_quality(published, dag_run=None):
            """Great Expectations mart suites on the published warehouse."""
            from ingest.orchestrate import check_mart_quality, run_id_for

            return check_mart_quality(_paths(), run_id_for(dag_run.run_id))

        @task(trigger_rule="all_done", retries=0)
        def freshness(data_interval_end=None):
            """Fail (and alert) if the marts trail the newest landed hour by more than an hour.

            Runs even when an upstream task failed: that is when the marts go stale."""
            from ingest.orchestrate import check_freshness

            return check_freshness(_paths(), data_interval_end)

        published = publish(dbt_build(load(validate(discover()))))
        mart_quality(published)
        published >> freshness()
    else:

        @task
        def load(data_interval_start=None, data_interval_end=None, dag_run=None):
            """Load the interval's batches (a backfill run: reload them) into the server."""
            from ingest.orchestrate import load_into_server, run_id_for

            return load_into_server(
                TARGET,
                _paths(),
                data_interval_start,
                data_interval_end,
                run_id_for(dag_run.run_id),
                reprocess=dag_run.run_type == "backfill",
            )

        @task
        def dbt_build(load_summary, dag_run=None):
            """dbt build on the server when anything changed (from scratch after a reload)."""
            from ingest.orchestrate import build_on_server, run_id_for

            return build_on_server(TARGET, run_id_for(dag_run.run_id), load_summary)

        @task(trigger_rule="all_done", retries=0)
        def freshness(data_interval_end=None):
            """Fail (and alert) if the server's marts trail the newest landed hour by more
            than an hour; runs even when an upstream task failed."""
            from ingest.orchestrate import check_server_freshness

            return check_server_freshness(TARGET, _paths(), data_interval_end)

        dbt_build(load()) >> freshness()

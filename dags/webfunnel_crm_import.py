"""webfunnel_crm_import: CRM CSV exports in the drop folder -> landing ``crm`` partitions.

Configuration only: the conversion is ``ingest.crm_import`` (the same as
``webfunnel import-crm FILE``), driven by the committed ``ingest/crm_mapping.yml``. Each
export lands exactly once (a marker per content hash); a malformed export is moved to
``<drop>/rejected/`` with a ``.reason`` file. The drop folder is ``$WEBFUNNEL_CRM_DROP``
(default ``data/crm-drop``); the hourly DAG loads what lands.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

DAG_ID = "webfunnel_crm_import"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)

with DAG(
    dag_id=DAG_ID,
    description="Convert CRM CSV exports into landing crm Parquet, exactly once",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,  # each run imports whatever waits in the drop folder
    max_active_runs=1,
    default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["webfunnel", "crm", "ingest"],
    doc_md=__doc__,
) as dag:

    @task
    def import_exports():
        """Import every CSV waiting in the drop folder. A rejected export does not fail the
        task (it is moved aside with its reason, and listed in this task's return value)."""
        from ingest.config import Paths
        from ingest.crm_import import drop_folder, import_drop_folder

        outcome = import_drop_folder(drop_folder(), Paths.resolve().landing)
        return {
            "imported": outcome.imported,
            "duplicates": outcome.duplicates,
            "rejected": outcome.rejected,
        }

    import_exports()

"""Settings for a local Airflow on SQLite (`make airflow` and the DAG tests).

`airflow standalone` runs a scheduler, a DAG processor, a triggerer and an API server against
one SQLite file; `airflow backfill create` writes to it from yet another process. SQLite
lets one writer in at a time and pysqlite gives up after 5 seconds, which a busy scheduler
loop exceeds ("database is locked"). Waiting longer is all that is needed:

    AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=ingest.airflow_settings.SQLITE_CONNECT_ARGS

A production Airflow uses PostgreSQL for its metadata and does not need this.
"""

SQLITE_CONNECT_ARGS = {"timeout": 60}

"""Run DAGs with ``dag.test()`` in a fresh process (keeps Airflow's global state out of pytest).

Usage: ``python dag_runner.py PLAN.json RESULT.json``. The plan lists runs, each with the
environment to set, the DAG id, the logical date and an optional ``mark_success_pattern``
(tasks matching it are marked successful without running) and an optional ``snapshot``
path to copy the published warehouse to after the run. All runs share one process:
Airflow's in-process API server takes ~30 s to start, once.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime


def main(plan_path: str, result_path: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    plan = json.loads(open(plan_path).read())
    bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    results = []
    for run in plan["runs"]:
        os.environ.update(run.get("env", {}))
        dag = bag.get_dag(run["dag_id"])
        dag_run = dag.test(
            logical_date=datetime.fromisoformat(run["logical_date"]),
            mark_success_pattern=run.get("mark_success_pattern"),
        )
        if run.get("snapshot"):  # keep the published warehouse as it is after this run
            import shutil

            shutil.copyfile(os.environ["WEBFUNNEL_WAREHOUSE"], run["snapshot"])
        results.append(
            {
                "state": str(dag_run.state),
                "data_interval": [
                    dag_run.data_interval_start.isoformat(),
                    dag_run.data_interval_end.isoformat(),
                ],
                "tasks": {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()},
            }
        )
        with open(result_path, "w") as out:  # written as we go: a crash keeps earlier runs
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

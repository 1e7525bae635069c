"""``webfunnel_hourly`` pointed at a server target: ``WEBFUNNEL_TARGET=postgres`` when the DAG
is parsed gives load -> dbt_build -> freshness, run here with Airflow's ``dag.test()`` against
a real PostgreSQL.

The data and the expected numbers are those of ``tests/dags/test_hourly_dag.py``'s "two
hours" scenario, worked out there: hour 10 has cookies a and b (two pings each) and a's
signup; hour 11 has c (two pings), one more ping of a, and c's signup; a file of hour 13
sits in the landing zone from the start and must be left to its own run. So after the run
for hour 10: 4 pageviews of 2 cookies and 1 signup; after hour 11: 7 pageviews, a=3, b=2,
c=2, 3 visitors and 2 signups in the funnel, nothing of hour 13 in the ledger.

The backfill branch (a ``backfill`` run reloads its interval) is not reachable through
``dag.test()``, which makes manual runs; it calls ``pg_load.backfill``, which
``test_marts_equal.py`` checks.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.dags.dag_support import (
    PING_SCHEMA,
    SIGNUP_SCHEMA,
    pings,
    prepare_airflow_home,
    run_dags,
    signups,
    write_partition,
)
from tests.dags.test_hourly_dag import H10, H11, H13
from tests.postgres.compare import pg_query


@pytest.fixture(scope="module")
def server_runs(pg_module_database: str, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("server-dag")
    landing = root / "landing"
    write_partition(landing, "pings", H10, "a.parquet", pings("h10", H10, ["a", "b"]), PING_SCHEMA)
    write_partition(
        landing, "signups", H10, "s.parquet", signups(H10, {"a": " Ann@Example.com"}), SIGNUP_SCHEMA
    )
    write_partition(
        landing,
        "pings",
        H11,
        "a.parquet",
        pings("h11", H11, ["c"]) + pings("h11", H11, ["a"], minutes=(30,)),
        PING_SCHEMA,
    )
    write_partition(
        landing, "signups", H11, "s.parquet", signups(H11, {"c": "cat@example.com"}), SIGNUP_SCHEMA
    )
    write_partition(landing, "pings", H13, "a.parquet", pings("h13", H13, ["d"]), PING_SCHEMA)
    env = {
        "WEBFUNNEL_TARGET": "postgres",
        "WEBFUNNEL_LANDING": str(landing),
        "WEBFUNNEL_WAREHOUSE": str(root / "data" / "warehouse.duckdb"),
        "WEBFUNNEL_SETTLE_SECONDS": "0",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)  # the DAG is parsed (and serialised) for postgres
        home = prepare_airflow_home(root / "airflow-template")
        runs = [
            {"dag_id": "webfunnel_hourly", "env": env, "logical_date": f"{hour.isoformat()}+00:00"}
            for hour in (H11, H11 + timedelta(hours=1))
        ]
        runs.append(
            {
                "dag_id": "webfunnel_hourly",
                "env": env,
                "logical_date": f"{(H13 + timedelta(hours=1)).isoformat()}+00:00",
                "mark_success_pattern": "^(load|dbt_build)$",
            }
        )
        results = run_dags(home, root / "runner", runs)
        yield {"results": results, "root": root}


def test_hourly_dag_on_postgres(server_runs) -> None:
    first, second = server_runs["results"][:2]
    for result in (first, second):
        assert result["state"] == "success", result
        assert result["tasks"] == {
            "load": "success",
            "dbt_build": "success",
            "freshness": "success",
        }, result
    assert second["data_interval"] == ["2026-03-02T11:00:00+00:00", "2026-03-02T12:00:00+00:00"]

    assert pg_query("select count(*) from marts.pageviews") == [(7,)]
    assert pg_query("select cookie, pageviews from marts.visitors order by 1") == [
        ("a", 3),
        ("b", 2),
        ("c", 2),
    ]
    assert pg_query("select sum(visitors), sum(signups) from marts.funnel_daily") == [(3, 2)]
    # each run loaded its own hour; the hour-13 file is registered and waits for its run
    assert pg_query(
        "select partition_at, count(*), min(state) from ops.batches "
        "group by partition_at order by 1"
    ) == [
        (H10, 2, "succeeded"),
        (H11, 2, "succeeded"),
        (H13, 1, "awaiting_scheduling"),
    ]
    assert pg_query(
        "select count(distinct run_id) from ops.batch_state_transitions where state = 'succeeded'"
    ) == [(2,)]
    # two builds recorded, one per run
    assert pg_query("select count(*) from ops.build_state") == [(2,)]


def test_freshness_gate_fails_on_stale_server_marts(server_runs) -> None:
    """The run for hour 13 with load and build stalled (marked done without running): the
    newest landed hour is 13, the marts are built through hour 11, 2 hours > 1 allowed."""
    stalled = server_runs["results"][2]
    assert stalled["tasks"] == {"load": "success", "dbt_build": "success", "freshness": "failed"}
    assert stalled["state"] == "failed"
    alerts = (server_runs["root"] / "data" / "logs" / "alerts.log").read_text()
    assert "webfunnel_hourly.freshness" in alerts
    assert (
        "stale marts: the PostgreSQL marts are 2 hours behind the newest landed partition "
        "2026-03-02 13:00 UTC"
    ) in alerts

"""End-to-end runs of ``webfunnel_hourly`` with Airflow's ``dag.test()`` on hand-made data.

One subprocess runs every scenario (Airflow's in-process API server costs ~30 s to start);
each test then reads the published warehouse read-only and checks numbers worked out by hand.

Scenario "two hours": hour 10 has cookies a, b (2 pings each) and a's signup; hour 11 has
cookie c (2 pings), one more ping of a, and c's signup. A file of hour 13 also sits in the
landing zone from the start: runs for hours 10 and 11 must leave it alone. A third run, for
hour 13, has its load/build/publish marked done without running (a stalled pipeline): the
freshness gate must fail and alert.

Scenario "bad batch": hour 10 has a good pings file (with one row missing its cookie) and a
pings file whose events are all three hours off (a file dropped into the wrong folder).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from tests.dags.dag_support import (
    PING_SCHEMA,
    SIGNUP_SCHEMA,
    pings,
    run_dags,
    signups,
    write_partition,
)

H10 = datetime(2026, 3, 2, 10)
H11 = H10 + timedelta(hours=1)
H13 = H10 + timedelta(hours=3)
STALLED = "^(discover|validate|load|dbt_build|publish|mart_quality)$"


def _env(root):
    return {
        "WEBFUNNEL_LANDING": str(root / "landing"),
        "WEBFUNNEL_WAREHOUSE": str(root / "data" / "warehouse.duckdb"),
        "WEBFUNNEL_SETTLE_SECONDS": "0",
        "DBT_TARGET_PATH": str(root / "dbt-target"),
    }


@pytest.fixture(scope="module")
def scenarios(airflow_template, tmp_path_factory):
    two = tmp_path_factory.mktemp("two-hours")
    landing = two / "landing"
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

    bad = tmp_path_factory.mktemp("bad-batch")
    good_rows = pings("h10", H10, ["a", "b"])
    good_rows[0]["cookie"] = ""  # one bad row: quarantined alone, the file still loads
    write_partition(bad / "landing", "pings", H10, "good.parquet", good_rows, PING_SCHEMA)
    write_partition(
        bad / "landing",
        "pings",
        H10,
        "wrong-hour.parquet",
        pings("moved", H10 - timedelta(hours=3), ["x", "y"]),
        PING_SCHEMA,
    )

    runs = [
        {
            "dag_id": "webfunnel_hourly",
            "env": _env(two),
            "logical_date": H11.isoformat() + "+00:00",
            "snapshot": str(two / "after-hour-10.duckdb"),
        },
        {
            "dag_id": "webfunnel_hourly",
            "env": _env(two),
            "logical_date": (H11 + timedelta(hours=1)).isoformat() + "+00:00",
        },
        {
            "dag_id": "webfunnel_hourly",
            "env": _env(two),
            "logical_date": (H13 + timedelta(hours=1)).isoformat() + "+00:00",
            "mark_success_pattern": STALLED,
        },
        {
            "dag_id": "webfunnel_hourly",
            "env": _env(bad),
            "logical_date": H11.isoformat() + "+00:00",
        },
    ]
    crm = tmp_path_factory.mktemp("crm")
    (crm / "drop").mkdir()
    (crm / "drop" / "contacts.csv").write_text(
        "\ufeffEmail,Demo_Date__c,Trial_Start_Date__c,Customer_Since__c,LastModifiedDate\n"
        '"Ann@Example.com",3/1/2026,,,2026-03-02T08:15:00Z\n',
        encoding="utf-8",
    )
    (crm / "drop" / "broken.csv").write_text("Email,Notes\nann@example.com,hi\n")
    runs.append(
        {
            "dag_id": "webfunnel_crm_import",
            "env": {**_env(crm), "WEBFUNNEL_CRM_DROP": str(crm / "drop")},
            "logical_date": H11.isoformat() + "+00:00",
        }
    )
    results = run_dags(airflow_template, tmp_path_factory.mktemp("runner"), runs)
    return {"two": two, "bad": bad, "crm": crm, "results": results}


def _query(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_two_consecutive_hours(scenarios):
    first, second = scenarios["results"][0], scenarios["results"][1]
    assert first["data_interval"] == ["2026-03-02T10:00:00+00:00", "2026-03-02T11:00:00+00:00"]
    assert second["data_interval"] == ["2026-03-02T11:00:00+00:00", "2026-03-02T12:00:00+00:00"]
    for result in (first, second):
        assert result["state"] == "success", result
        assert set(result["tasks"].values()) == {"success"}, result

    after_first = scenarios["two"] / "after-hour-10.duckdb"
    assert _query(after_first, "select count(*), count(distinct cookie) from marts.pageviews") == [
        (4, 2)
    ]
    assert _query(after_first, "select sum(signups) from marts.funnel_daily") == [(1,)]

    warehouse = scenarios["two"] / "data" / "warehouse.duckdb"
    # hour 13 (a later interval) is not loaded: 4 + 3 pageviews, cookies a, b, c
    assert _query(warehouse, "select count(*) from marts.pageviews") == [(7,)]
    assert _query(warehouse, "select cookie, pageviews from marts.visitors order by 1") == [
        ("a", 3),
        ("b", 2),
        ("c", 2),
    ]
    assert _query(warehouse, "select sum(visitors), sum(signups) from marts.funnel_daily") == [
        (3, 2)
    ]
    assert _query(
        warehouse, "select count(*) from ops.batches where partition_at = '2026-03-02 13:00'"
    ) == [(0,)]
    # mart suites ran and kept their results
    kept = list((scenarios["two"] / "data" / "quality").glob("marts-*.json"))
    assert len(kept) == 2


def test_failing_batch_is_quarantined_and_the_run_succeeds(scenarios):
    result = scenarios["results"][3]
    assert result["state"] == "success", result
    warehouse = scenarios["bad"] / "data" / "warehouse.duckdb"
    states = _query(warehouse, "select path, state, reason from ops.batches order by path")
    assert [(path, state) for path, state, _ in states] == [
        ("pings/date=2026-03-02/hour=10/good.parquet", "succeeded"),
        ("pings/date=2026-03-02/hour=10/wrong-hour.parquet", "discarded"),
    ]
    reason = states[1][2]
    assert (
        "failed expectations" in reason
        and "expect_column_values_to_be_between(created_at)" in reason
    )
    quarantined = _query(
        warehouse, "select path, file_row_number, reason from ops.quarantine order by path"
    )
    assert [(path.rsplit("/", 1)[1], row) for path, row, _ in quarantined] == [
        ("good.parquet", 0),
        ("wrong-hour.parquet", None),
    ]
    assert quarantined[0][2] == "empty cookie"
    # the marts hold the good file's 3 good rows and nothing of the moved file
    assert _query(warehouse, "select count(*) from marts.pageviews") == [(3,)]
    assert _query(
        warehouse, "select count(*) from marts.pageviews where event_id like 'moved-%'"
    ) == [(0,)]


def test_freshness_gate_fails_on_stale_marts(scenarios):
    stalled = scenarios["results"][2]
    assert stalled["state"] == "failed", stalled
    assert stalled["tasks"]["freshness"] == "failed"
    assert stalled["tasks"]["publish"] == "success"  # marked, not run
    alerts = (scenarios["two"] / "data" / "logs" / "alerts.log").read_text()
    line = [line for line in alerts.splitlines() if "webfunnel_hourly.freshness" in line]
    assert len(line) == 1
    assert "stale marts" in line[0]
    assert "2 hours behind the newest landed partition 2026-03-02 13:00 UTC" in line[0]
    assert "marts built through 2026-03-02 11:00 UTC" in line[0]


def test_crm_import_dag_lands_good_exports_and_rejects_bad_ones(scenarios):
    result = scenarios["results"][4]
    assert result["state"] == "success", result
    crm = scenarios["crm"]
    landed = list((crm / "landing" / "crm").rglob("*.parquet"))
    assert len(landed) == 1
    assert (crm / "drop" / "imported" / "contacts.csv").exists()
    reason = (crm / "drop" / "rejected" / "broken.csv.reason").read_text()
    assert reason.startswith("no column for demo_at, trial_at, customer_at, updated_at")

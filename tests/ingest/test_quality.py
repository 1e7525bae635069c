"""The Great Expectations suites: batch gates on landed files, mart checks on a warehouse.

The warehouses here are hand-made DuckDB files holding only the mart columns the suites
read, with numbers chosen so that each suite's verdict can be worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.config import Paths
from ingest.orchestrate import DataQualityError, check_mart_quality
from ingest.quality import check_marts, validate_batch_file

HOUR = datetime(2026, 3, 2, 10)


def _pings(path, created, urls=None, cookies=None):
    n = len(created)
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "created_at": pa.array(
                [moment.replace(tzinfo=UTC) for moment in created], pa.timestamp("us", tz="UTC")
            ),
            "cookie": cookies or [f"c{i}" for i in range(n)],
            "url": urls or ["https://example.com/a?x=1"] * n,
            "referrer": [None] * n,
            "user_agent": ["Mozilla/5.0"] * n,
        }
    )
    pq.write_table(table, path)
    return path


def test_a_batch_with_a_few_bad_rows_passes(tmp_path):
    created = [HOUR + timedelta(minutes=m) for m in (1, 2, 3)] + [HOUR - timedelta(hours=2)]
    path = _pings(tmp_path / "a.parquet", created, cookies=["a", "b", "", "d"])
    result = validate_batch_file("pings", path, "pings/x", HOUR)
    assert result.success, result.failures  # 1 of 4 rows bad: the loader quarantines it


def test_a_batch_in_the_wrong_hour_fails_with_the_expectation_as_reason(tmp_path):
    created = [HOUR + timedelta(hours=5, minutes=m) for m in (1, 2, 3)]
    path = _pings(tmp_path / "a.parquet", created)
    result = validate_batch_file("pings", path, "pings/x", HOUR)
    assert not result.success
    assert result.reason.startswith("failed expectations (landing_pings): ")
    assert "expect_column_values_to_be_between(created_at): 100.0% unexpected" in result.reason


def test_mangled_urls_missing_cookies_and_missing_columns_fail(tmp_path):
    created = [HOUR + timedelta(minutes=m) for m in (1, 2, 3)]
    path = _pings(
        tmp_path / "a.parquet", created, urls=["/a", "example.com", "x"], cookies=[""] * 3
    )
    failures = validate_batch_file("pings", path, "pings/x", HOUR).failures
    assert any(f.startswith("expect_column_values_to_match_regex(url)") for f in failures)
    assert any(f.startswith("expect_column_values_to_not_be_null(cookie)") for f in failures)

    pq.write_table(pa.table({"email": ["a@example.com"]}), tmp_path / "s.parquet")
    failures = validate_batch_file("signups", tmp_path / "s.parquet", "signups/x", HOUR).failures
    assert (
        "expect_table_columns_to_match_set: missing cookie, created_at, event_id, referring_channel"
        in failures
    )


def test_an_unreadable_file_is_left_to_the_loader(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    assert validate_batch_file("pings", tmp_path / "x.parquet", "pings/x", HOUR) is None


def _warehouse(path, *, signups=1, active_week0=2, linear_signup_credit=1.0):
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.funnel_daily as select * from (values "
        f"(date '2026-03-02', 'google', 'desktop', 2, {signups}, 1, 0, 1)) "
        "as t(cohort_date, first_channel, device_class,"
        " visitors, signups, demos, trials, customers)"
    )
    con.execute(
        "create table marts.retention_weekly as select * from (values "
        f"('visitor', date '2026-03-02', 0, 2, {active_week0}, {active_week0} / 2), "
        "('visitor', date '2026-03-02', 1, 2, 1, 0.5)) "
        "as t(cohort_type, cohort_week, weeks_since, cohort_size, active, retention_rate)"
    )
    con.execute(
        "create table marts.visitors as select * from (values "
        "('a', 'p1', timestamp '2026-03-02 10:20', timestamp '2026-03-02 12:00', null, "
        " timestamp '2026-03-03 09:00'), "
        "('b', null, null, null, null, null)) "
        "as t(cookie, person_id, signed_up_at, demo_at, trial_at, customer_at)"
    )
    rows = []
    for model in ("first_touch", "last_touch", "position_based"):
        rows += [(model, "google", stage, 1.0) for stage in ("signup", "demo", "customer")]
    rows += [("linear", "google", "signup", linear_signup_credit)]
    rows += [
        ("linear", channel, stage, 0.5)
        for channel in ("google", "direct")
        for stage in ("demo", "customer")
    ]
    con.execute(
        "create table marts.channel_attribution "
        "(attribution_model varchar, channel varchar, conversion_stage varchar, "
        " conversion_date date, conversions double)"
    )
    con.executemany(
        "insert into marts.channel_attribution values (?, ?, ?, date '2026-03-02', ?)", rows
    )
    con.close()
    return path


def test_consistent_marts_pass(tmp_path):
    results = check_marts(_warehouse(tmp_path / "w.duckdb"))
    assert [result.suite for result in results] == [
        "marts_funnel_daily",
        "marts_retention_weekly",
        "marts_retention_week0",
        "marts_attribution_conserved",
    ]
    assert all(result.success for result in results), [result.failures for result in results]


@pytest.mark.parametrize(
    ("broken", "suite", "failure"),
    [
        ({"signups": 3}, "marts_funnel_daily", "(visitors vs signups)"),
        ({"active_week0": 3}, "marts_retention_weekly", "(retention_rate)"),
        ({"active_week0": 1}, "marts_retention_week0", "(active vs cohort_size)"),
        ({"linear_signup_credit": 0.75}, "marts_attribution_conserved", "(difference)"),
    ],
)
def test_each_broken_rule_fails_its_suite(tmp_path, broken, suite, failure):
    results = {
        result.suite: result for result in check_marts(_warehouse(tmp_path / "w.duckdb", **broken))
    }
    assert not results[suite].success
    assert any(failure in text for text in results[suite].failures)
    failing = {name for name, result in results.items() if not result.success}
    # 3 active of a cohort of 2 also breaks "week 0 = cohort size"
    assert failing == {suite} | (
        {"marts_retention_week0"} if broken == {"active_week0": 3} else set()
    )


def test_results_are_kept_and_a_failure_raises(tmp_path):
    paths = Paths.resolve(tmp_path / "landing", tmp_path / "warehouse.duckdb")
    _warehouse(paths.warehouse, signups=3)
    with pytest.raises(DataQualityError, match="marts_funnel_daily"):
        check_mart_quality(paths, "run-1")
    kept = list((tmp_path / "quality").glob("marts-run-1.json"))
    assert len(kept) == 1
    con = duckdb.connect(str(paths.work_db), read_only=True)
    assert con.execute(
        "select suite, success from ops.validation_results order by suite"
    ).fetchall() == [
        ("marts_attribution_conserved", True),
        ("marts_funnel_daily", False),
        ("marts_retention_week0", True),
        ("marts_retention_weekly", True),
    ]
    con.close()

"""End to end through the real CLI on a real DuckDB file, on a landing set small enough that
every expected number below was worked out by hand from `handmade.py`:

- alice (desktop) lands from a utm_source=FB paid_social link (facebook / Paid Social), then
  navigates internally; signs up at 10:06 as "  Alice@Example.COM " after 2 pageviews;
  CRM: demo on Nov 3, then a later export makes her a customer on Nov 9 with no trial;
  she comes back directly on Nov 10 (week 1) and logs in from a phone cookie on Nov 17.
- bob (iPhone) comes from t.co (twitter / Organic Social); his p3 is redelivered.
- carol (iPad) comes from google.co.uk at 23:50, navigates internally at 00:15 (same session
  across midnight), and returns directly at 00:50 (35 minutes later: a new session).
- a Googlebot ping, a ping with a blank cookie, a ping outside its partition hour, a signup
  with an empty email, a text file named .parquet and a signups file without email.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import pytest

from tests.conftest import read_marts, webfunnel
from tests.e2e import handmade

ALICE = hashlib.sha256(b"alice@example.com").hexdigest()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("handmade")
    handmade.build(root / "landing")
    warehouse = root / "warehouse.duckdb"
    result = webfunnel("run", "--landing", str(root / "landing"), "--warehouse", str(warehouse))
    assert "11 batches loaded (17 rows), 2 discarded" in result.stdout
    assert "3 rows quarantined" in result.stdout
    return warehouse


def test_visitors_have_first_touch_device_and_funnel(warehouse, query):
    rows = query(
        warehouse,
        """
        select cookie, first_channel, first_channel_group, device_class, pageviews, sessions,
            person_id, signed_up_at, pages_before_signup, demo_at, trial_at, customer_at,
            furthest_stage, first_referrer_host
        from marts.visitors order by cookie
        """,
    )
    assert rows == [
        ("c_alice", "facebook", "Paid Social", "desktop", 3, 2, ALICE,
         datetime(2026, 11, 2, 10, 6), 2, datetime(2026, 11, 3, 5), None,
         datetime(2026, 11, 9, 12), "customer", None),
        ("c_bob", "twitter", "Organic Social", "mobile", 1, 1, None,
         None, None, None, None, None, "visitor", "t.co"),
        ("c_carol", "google", "Organic Search", "tablet", 3, 2, None,
         None, None, None, None, None, "visitor", "www.google.co.uk"),
    ]  # fmt: skip


def test_sessions_span_midnight_and_split_after_30_minutes(warehouse, query):
    rows = query(
        warehouse,
        "select cookie, started_at, ended_at, pageviews, channel, device_class "
        "from marts.sessions order by cookie, started_at",
    )
    assert rows == [
        ("c_alice", datetime(2026, 11, 2, 10, 0), datetime(2026, 11, 2, 10, 5), 2,
         "facebook", "desktop"),
        ("c_alice", datetime(2026, 11, 10, 9, 0), datetime(2026, 11, 10, 9, 0), 1,
         "direct", "desktop"),
        ("c_bob", datetime(2026, 11, 2, 10, 10), datetime(2026, 11, 2, 10, 10), 1,
         "twitter", "mobile"),
        ("c_carol", datetime(2026, 11, 2, 23, 50), datetime(2026, 11, 3, 0, 15), 2,
         "google", "tablet"),
        ("c_carol", datetime(2026, 11, 3, 0, 50), datetime(2026, 11, 3, 0, 50), 1,
         "direct", "tablet"),
    ]  # fmt: skip


def test_pageviews_exclude_bots_and_count_redeliveries_once(warehouse, query):
    rows = query(warehouse, "select event_id, channel from marts.pageviews order by event_id")
    assert rows == [
        ("p1", "facebook"), ("p10", "direct"), ("p2", "facebook"), ("p3", "twitter"),
        ("p7", "google"), ("p8", "google"), ("p9", "direct"),
    ]  # fmt: skip


def test_funnel_daily(warehouse, query):
    rows = query(warehouse, "select * from marts.funnel_daily order by first_channel")
    assert rows == [
        (date(2026, 11, 2), "facebook", "desktop", 1, 1, 1, 0, 1),
        (date(2026, 11, 2), "google", "tablet", 1, 0, 0, 0, 0),
        (date(2026, 11, 2), "twitter", "mobile", 1, 0, 0, 0, 0),
    ]


def test_attribution_credits_every_stage_once_per_model(warehouse, query):
    rows = query(
        warehouse,
        "select attribution_model, channel, conversion_stage, conversion_date, conversions "
        "from marts.channel_attribution order by all",
    )
    expected = []
    for model in ("first_touch", "last_touch", "linear", "position_based"):
        expected += [
            (model, "facebook", "customer", date(2026, 11, 9), 1.0),
            (model, "facebook", "demo", date(2026, 11, 3), 1.0),
            (model, "facebook", "signup", date(2026, 11, 2), 1.0),
        ]
    assert rows == expected


def test_retention_cohorts(warehouse, query):
    rows = query(warehouse, "select * from marts.retention_weekly order by all")
    assert rows == [
        ("customer", date(2026, 11, 9), 0, 1, 1, 1.0),
        ("customer", date(2026, 11, 9), 1, 1, 1, 1.0),
        ("user", date(2026, 11, 2), 0, 1, 1, 1.0),
        ("user", date(2026, 11, 2), 1, 1, 1, 1.0),
        ("user", date(2026, 11, 2), 2, 1, 1, 1.0),
        ("visitor", date(2026, 11, 2), 0, 3, 3, 1.0),
        ("visitor", date(2026, 11, 2), 1, 3, 1, pytest.approx(1 / 3)),
        ("visitor", date(2026, 11, 2), 2, 3, 0, 0.0),
    ]


def test_accounts(warehouse, query):
    rows = query(warehouse, "select * from marts.accounts")
    assert rows == [
        ("acc_1", ALICE, datetime(2026, 11, 10, 9, 5), datetime(2026, 11, 17, 8, 0), 2, "pro",
         1, 1, "facebook", 3, 3),
    ]  # fmt: skip


def test_traffic_hourly(warehouse, query):
    rows = query(warehouse, "select * from marts.traffic_hourly order by all")
    assert rows == [
        (datetime(2026, 11, 2, 10), "Organic Social", "mobile", 1, 1, 1, 1),
        (datetime(2026, 11, 2, 10), "Paid Social", "desktop", 2, 1, 1, 1),
        (datetime(2026, 11, 2, 23), "Organic Search", "tablet", 1, 1, 1, 1),
        (datetime(2026, 11, 3, 0), "Direct", "tablet", 1, 1, 0, 1),
        (datetime(2026, 11, 3, 0), "Organic Search", "tablet", 1, 1, 0, 0),
        (datetime(2026, 11, 10, 9), "Direct", "desktop", 1, 1, 0, 1),
    ]


def test_quarantine_holds_every_rejected_file_and_row_with_a_reason(warehouse, query):
    rows = query(
        warehouse,
        "select path, file_row_number, reason, json_extract_string(content, '$.event_id') "
        "from ops.quarantine order by path, file_row_number",
    )
    assert rows == [
        ("pings/date=2026-11-02/hour=10/a.parquet", 4, "empty cookie", "p5"),
        ("pings/date=2026-11-02/hour=10/a.parquet", 5,
         "created_at outside partition hour 2026-11-02 10:00:00", "p6"),
        ("pings/date=2026-11-02/hour=10/broken.parquet", None, "not a Parquet file", None),
        ("signups/date=2026-11-02/hour=10/nocol.parquet", None,
         "missing required column(s): email, referring_channel", None),
        ("signups/date=2026-11-02/hour=10/s.parquet", 1, "empty email", "s2"),
    ]  # fmt: skip
    states = query(
        warehouse,
        "select state, count(*) from ops.batches group by state order by state",
    )
    assert states == [("discarded", 2), ("succeeded", 11)]
    transitions = query(
        warehouse,
        "select state from ops.batch_state_transitions "
        "where path = 'pings/date=2026-11-02/hour=10/broken.parquet' order by transition_id",
    )
    assert transitions == [("awaiting_scheduling",), ("running",), ("discarded",)]


def test_no_raw_email_in_marts(warehouse, query):
    columns = query(
        warehouse,
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'marts' and column_name ilike '%email%'",
    )
    assert columns == []
    for (table,) in query(
        warehouse,
        "select table_name from information_schema.tables where table_schema = 'marts'",
    ):
        hits = query(
            warehouse,
            f"select count(*) from marts.{table} as t "
            "where lower(cast(to_json(t) as varchar)) like '%example.com%'",
        )
        assert hits == [(0,)], table


def test_running_again_with_nothing_new_changes_nothing(warehouse):
    landing = warehouse.parent / "landing"
    before = read_marts(warehouse)
    result = webfunnel("run", "--landing", str(landing), "--warehouse", str(warehouse))
    assert "0 batches loaded" in result.stdout
    assert "marts already up to date" in result.stdout
    assert read_marts(warehouse) == before

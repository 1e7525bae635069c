"""A late delivery that comes first and differs from the stored one in a column the
incremental models key on (macro first_delivery_ctes, ``conflict_columns``) makes the run
a full refresh: the old cookie, account and hour would otherwise keep the event.

Two runs:
1. partition 10:00: ping e1 (cookie k1, 10:05) and login l1 (cookie k1, account acc_1);
   partition 11:00: ping e2 (cookie k3, 11:20), unrelated;
2. partition 09:00, a late file: e1 again with cookie k2 at 09:30, and l1 again with
   account acc_2. An earlier partition, so both replace the stored rows.

Worked out from the rule (the first delivery wins): e1 is k2's page view at 09:30, so k1
has no page view and is no visitor, the hour 10:00 has no traffic at all, and acc_1 has no
event. An incremental run alone kept k1, acc_1 and the hour 10:00 (measured before this
test existed: two page views of e1 in marts.pageviews).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ingest.config import work_db_for
from ingest.ledger import batch_id_for
from tests.conftest import land, read_marts, run_once, webfunnel

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def _pings(*rows: tuple[str, datetime, str]) -> pa.Table:
    return pa.table(
        {
            "event_id": [row[0] for row in rows],
            "created_at": pa.array([row[1] for row in rows], pa.timestamp("us")),
            "cookie": [row[2] for row in rows],
            "url": ["https://acme.io/pricing" for _ in rows],
            "referrer": pa.array([None for _ in rows], pa.string()),
            "user_agent": [UA for _ in rows],
        }
    )


def _login(at: datetime, cookie: str, account_id: str) -> pa.Table:
    return pa.table(
        {
            "event_id": ["l1"],
            "created_at": pa.array([at], pa.timestamp("us")),
            "cookie": [cookie],
            "account_id": [account_id],
            "email": ["ann@example.com"],
            "event_type": ["login"],
            "plan": ["starter"],
        }
    )


FIRST = {
    "pings/date=2026-11-02/hour=10/a.parquet": _pings(("e1", datetime(2026, 11, 2, 10, 5), "k1")),
    "pings/date=2026-11-02/hour=11/a.parquet": _pings(("e2", datetime(2026, 11, 2, 11, 20), "k3")),
    "accounts/date=2026-11-02/hour=10/a.parquet": _login(
        datetime(2026, 11, 2, 10, 7), "k1", "acc_1"
    ),
}
LATE = {
    "pings/date=2026-11-02/hour=09/b.parquet": _pings(("e1", datetime(2026, 11, 2, 9, 30), "k2")),
    "accounts/date=2026-11-02/hour=09/b.parquet": _login(
        datetime(2026, 11, 2, 9, 32), "k1", "acc_2"
    ),
}
REASON = (
    "2 events delivered again, ahead of the stored delivery, with another cookie, person, "
    "account or time (accounts: 1, e.g. l1, pings: 1, e.g. e1): rebuilt from scratch"
)


def _assert_worked_out_marts(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select event_id, cookie, created_at from marts.pageviews order by event_id"
        ).fetchall() == [
            ("e1", "k2", datetime(2026, 11, 2, 9, 30)),
            ("e2", "k3", datetime(2026, 11, 2, 11, 20)),
        ]
        assert con.execute(
            "select cookie, pageviews, sessions from marts.visitors order by cookie"
        ).fetchall() == [("k2", 1, 1), ("k3", 1, 1)]
        assert con.execute(
            "select hour, sum(pageviews), sum(visitors), sum(sessions) "
            "from marts.traffic_hourly group by hour order by hour"
        ).fetchall() == [
            (datetime(2026, 11, 2, 9), 1, 1, 1),
            (datetime(2026, 11, 2, 11), 1, 1, 1),
        ]
        assert con.execute(
            "select account_id, logins, first_login_at from marts.accounts"
        ).fetchall() == [("acc_2", 1, datetime(2026, 11, 2, 9, 32))]


def test_a_conflicting_late_delivery_makes_the_run_a_full_refresh(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--landing", str(landing), "--warehouse", str(warehouse))
    land(landing, FIRST)
    webfunnel(*args, "--quiet")
    land(landing, LATE)
    second = webfunnel(*args)
    assert REASON in second.stderr

    _assert_worked_out_marts(warehouse)
    assert read_marts(warehouse) == read_marts(run_once(landing, tmp_path / "once"))
    with duckdb.connect(str(work_db_for(warehouse)), read_only=True) as con:
        runs = con.execute(
            "select run_id, status, message from ops.pipeline_runs order by started_at"
        ).fetchall()
        assert [(status, message) for _, status, message in runs] == [
            ("succeeded", None),
            ("succeeded", REASON),
        ]
        fingerprint = con.execute(
            "select project_fingerprint from ops.build_state where run_id = ? ",
            [runs[0][0]],
        ).fetchone()[0]
        # the incremental build is recorded as needing a full refresh, then the full one
        assert con.execute(
            "select run_id, project_fingerprint from ops.build_state order by built_at"
        ).fetchall() == [
            (runs[0][0], fingerprint),
            (runs[1][0], "full-refresh-needed"),
            (runs[1][0], fingerprint),
        ]
        # the second run's tests: the changed keys first, then the whole suite
        assert con.execute(
            "select scope from ops.test_scopes where run_id = ? order by decided_at",
            [runs[1][0]],
        ).fetchall() == [("changed",), ("all",)]
        # the full refresh wrote every flag false again
        for table in ("stg_pings__pageviews", "stg_accounts__events", "stg_signups__signups"):
            assert con.execute(
                f"select count(*) from staging.{table} where is_conflicting_redelivery"
            ).fetchone() == (0,)


@pytest.mark.parametrize("identical", [True, False], ids=["identical", "other-url"])
def test_a_late_delivery_with_the_same_keys_stays_incremental(identical, tmp_path):
    """The same row again, or another url (the cookie is recomputed whole), in the same
    partition: no flag, no full refresh."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    land(landing, FIRST)
    webfunnel(*args)
    again = _pings(("e1", datetime(2026, 11, 2, 10, 5), "k1"))
    if not identical:
        again = again.set_column(3, "url", pa.array(["https://acme.io/?utm_source=twitter"]))
    # in one partition the lower batch id comes first: a file name whose id is lower
    stored = batch_id_for("pings/date=2026-11-02/hour=10/a.parquet")
    relative = next(
        path
        for path in (f"pings/date=2026-11-02/hour=10/b{n}.parquet" for n in range(100))
        if batch_id_for(path) < stored
    )
    land(landing, {relative: again})
    webfunnel(*args)
    with duckdb.connect(str(work_db_for(warehouse)), read_only=True) as con:
        assert con.execute(
            "select count(*), count(distinct project_fingerprint) from ops.build_state"
        ).fetchone() == (2, 1)
        # the new delivery won, and replaced the stored one without a flag
        assert con.execute(
            "select batch_id, is_conflicting_redelivery "
            "from staging.stg_pings__pageviews where event_id = 'e1'"
        ).fetchone() == (batch_id_for(relative), False)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select first_channel from marts.visitors where cookie = 'k1'"
        ).fetchone() == ("direct" if identical else "twitter",)
    assert read_marts(warehouse) == read_marts(run_once(landing, tmp_path / "once"))


def test_killed_before_the_full_refresh_the_next_run_makes_it(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    land(landing, FIRST)
    webfunnel(*args)
    land(landing, LATE)
    killed = webfunnel(*args, check=False, env={"WEBFUNNEL_KILL_AT": "build:refresh"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    # nothing new landed, but the recorded need makes this run build everything
    rerun = webfunnel(*args)
    assert "0 batches loaded" in rerun.stdout and "models built" in rerun.stdout
    _assert_worked_out_marts(warehouse)
    assert read_marts(warehouse) == read_marts(run_once(landing, tmp_path / "once"))

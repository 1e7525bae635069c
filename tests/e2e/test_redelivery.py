"""The first delivery of an event wins, however its deliveries arrive (CONTRACT: a
redelivered event is counted once). Incrementally the staging models compare each new
event's first new delivery with the row the event already has; here the deliveries differ
in content, so the table shows which one won.

Three runs, each landing one file:
1. partition 10:00: pings e1 (url /a) and e2; login l1 with plan `starter`;
2. partition 09:00, a late file: e1 again (url /b), an earlier partition, so it replaces
   the stored row; e3 is new; l1 again with plan `pro`, which replaces `starter`;
3. partition 11:00: e1 (url /c) and e2 again, and l1 with plan `free`: later deliveries,
   which change nothing.
After every run the staging rows are the worked-out ones; at the end they, and every mart,
equal a single run over all the files.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.config import work_db_for
from tests.conftest import read_marts, webfunnel

DAY = "2026-11-02"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def _pings(*rows: tuple[str, datetime, str, str]) -> pa.Table:
    return pa.table(
        {
            "event_id": [row[0] for row in rows],
            "created_at": pa.array([row[1] for row in rows], pa.timestamp("us")),
            "cookie": [row[2] for row in rows],
            "url": [f"https://acme.io{row[3]}" for row in rows],
            "referrer": [None for _ in rows],
            "user_agent": [UA for _ in rows],
        },
        schema=pa.schema(
            [
                ("event_id", pa.string()),
                ("created_at", pa.timestamp("us")),
                ("cookie", pa.string()),
                ("url", pa.string()),
                ("referrer", pa.string()),
                ("user_agent", pa.string()),
            ]
        ),
    )


def _login(at: datetime, plan: str) -> pa.Table:
    return pa.table(
        {
            "event_id": ["l1"],
            "created_at": pa.array([at], pa.timestamp("us")),
            "cookie": ["k1"],
            "account_id": ["acc_1"],
            "email": ["ann@example.com"],
            "event_type": ["login"],
            "plan": [plan],
        }
    )


FILES = [
    {
        "pings/date=2026-11-02/hour=10/a.parquet": _pings(
            ("e1", datetime(2026, 11, 2, 10, 5), "k1", "/a"),
            ("e2", datetime(2026, 11, 2, 10, 6), "k1", "/a2"),
        ),
        "accounts/date=2026-11-02/hour=10/a.parquet": _login(
            datetime(2026, 11, 2, 10, 7), "starter"
        ),
    },
    {
        "pings/date=2026-11-02/hour=09/b.parquet": _pings(
            ("e1", datetime(2026, 11, 2, 9, 30), "k1", "/b"),
            ("e3", datetime(2026, 11, 2, 9, 31), "k2", "/b3"),
        ),
        "accounts/date=2026-11-02/hour=09/b.parquet": _login(datetime(2026, 11, 2, 9, 32), "pro"),
    },
    {
        "pings/date=2026-11-02/hour=11/c.parquet": _pings(
            ("e1", datetime(2026, 11, 2, 11, 0), "k1", "/c"),
            ("e2", datetime(2026, 11, 2, 11, 1), "k1", "/c2"),
        ),
        "accounts/date=2026-11-02/hour=11/c.parquet": _login(datetime(2026, 11, 2, 11, 2), "free"),
    },
]

# (event_id, url_path, partition hour) after each run, worked out from the rule
EXPECTED_PINGS = [
    [("e1", "/a", 10), ("e2", "/a2", 10)],
    [("e1", "/b", 9), ("e2", "/a2", 10), ("e3", "/b3", 9)],
    [("e1", "/b", 9), ("e2", "/a2", 10), ("e3", "/b3", 9)],
]
EXPECTED_LOGIN = [("l1", "starter", 10), ("l1", "pro", 9), ("l1", "pro", 9)]


def _land(landing: Path, files: dict[str, pa.Table]) -> None:
    for relative, table in files.items():
        (landing / relative).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, landing / relative)


def _staging(warehouse: Path) -> tuple[list[tuple], list[tuple]]:
    with duckdb.connect(str(work_db_for(warehouse)), read_only=True) as con:
        pings = con.execute(
            "select event_id, url_path, hour(partition_at) "
            "from staging.stg_pings__pageviews order by event_id"
        ).fetchall()
        logins = con.execute(
            "select event_id, plan, hour(partition_at) from staging.stg_accounts__events"
        ).fetchall()
    return pings, logins


def test_the_first_delivery_wins_in_every_arrival_order(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    for step, files in enumerate(FILES):
        _land(landing, files)
        webfunnel("run", *args)
        pings, logins = _staging(warehouse)
        assert pings == EXPECTED_PINGS[step], f"after run {step + 1}"
        assert logins == [EXPECTED_LOGIN[step]], f"after run {step + 1}"

    # a single run over the same files chooses the same deliveries and gives the same marts
    once = tmp_path / "once"
    shutil.copytree(landing, once / "landing")
    webfunnel(
        "run", "--quiet", "--landing", str(once / "landing"),
        "--warehouse", str(once / "warehouse.duckdb"),
    )  # fmt: skip
    assert _staging(once / "warehouse.duckdb") == _staging(warehouse)
    assert read_marts(once / "warehouse.duckdb") == read_marts(warehouse)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select event_id, created_at from marts.pageviews order by event_id"
        ).fetchall() == [
            ("e1", datetime(2026, 11, 2, 9, 30)),
            ("e2", datetime(2026, 11, 2, 10, 6)),
            ("e3", datetime(2026, 11, 2, 9, 31)),
        ]
        assert con.execute(
            "select account_id, current_plan, logins from marts.accounts"
        ).fetchall() == [("acc_1", "pro", 1)]

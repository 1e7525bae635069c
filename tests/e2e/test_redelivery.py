"""The first delivery of an event wins, however its deliveries arrive (CONTRACT: a
redelivered event is counted once). Incrementally the staging models compare each new
event's first new delivery with the row the event already has; here the deliveries differ
in content, so the table shows which one won.

Four runs:
1. partition 10:00: pings e1 (url /a) and e2; login l1 with plan `starter`; signup s1
   with channel `newsletter`; CRM state (ann, 13:00) with a demo at 12:10;
2. partition 09:00, a late file of each source: e3 is new; l1 again with plan `pro`
   (an earlier partition, so it replaces `starter`); s1 again with `podcast`, and the CRM
   state again with a demo at 12:05, which replace theirs too. Neither the cookie, the
   account nor the person changes, so the run stays incremental;
3. partition 09:00, another late file: e1 again (url /b). It replaces the stored row,
   and, necessarily in an earlier partition, with another time, so the run is a full
   refresh (tests/e2e/test_conflicting_redelivery.py);
4. partition 11:00: e1 (url /c) and e2 again, l1 with plan `free`, s1 with `webinar`, the
   CRM state with a demo at 12:20: later deliveries, which change nothing; and a new CRM
   state of ann (14:00, a trial at 13:30), stored beside the first.
After every run the staging rows are the worked-out ones; at the end they, and every mart,
equal a single run over all the files.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.config import work_db_for
from tests.conftest import land, read_marts, run_once, webfunnel

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


def _signup(at: datetime, channel: str) -> pa.Table:
    return pa.table(
        {
            "event_id": ["s1"],
            "created_at": pa.array([at], pa.timestamp("us")),
            "cookie": ["k1"],
            "email": ["ann@example.com"],
            "referring_channel": [channel],
        }
    )


def _crm(*states: tuple[datetime, datetime, datetime | None]) -> pa.Table:
    """(updated_at, demo_at, trial_at) states of ann."""
    return pa.table(
        {
            "email": ["ann@example.com" for _ in states],
            "demo_at": pa.array([state[1] for state in states], pa.timestamp("us")),
            "trial_at": pa.array([state[2] for state in states], pa.timestamp("us")),
            "customer_at": pa.array([None for _ in states], pa.timestamp("us")),
            "updated_at": pa.array([state[0] for state in states], pa.timestamp("us")),
        }
    )


STATE_1, STATE_2 = datetime(2026, 11, 2, 13, 0), datetime(2026, 11, 2, 14, 0)

FILES = [
    {
        "pings/date=2026-11-02/hour=10/a.parquet": _pings(
            ("e1", datetime(2026, 11, 2, 10, 5), "k1", "/a"),
            ("e2", datetime(2026, 11, 2, 10, 6), "k1", "/a2"),
        ),
        "accounts/date=2026-11-02/hour=10/a.parquet": _login(
            datetime(2026, 11, 2, 10, 7), "starter"
        ),
        "signups/date=2026-11-02/hour=10/a.parquet": _signup(
            datetime(2026, 11, 2, 10, 8), "newsletter"
        ),
        "crm/date=2026-11-02/hour=10/a.parquet": _crm(
            (STATE_1, datetime(2026, 11, 2, 12, 10), None)
        ),
    },
    {
        "pings/date=2026-11-02/hour=09/b.parquet": _pings(
            ("e3", datetime(2026, 11, 2, 9, 31), "k2", "/b3"),
        ),
        "accounts/date=2026-11-02/hour=09/b.parquet": _login(datetime(2026, 11, 2, 9, 32), "pro"),
        "signups/date=2026-11-02/hour=09/b.parquet": _signup(
            datetime(2026, 11, 2, 9, 33), "podcast"
        ),
        "crm/date=2026-11-02/hour=09/b.parquet": _crm(
            (STATE_1, datetime(2026, 11, 2, 12, 5), None)
        ),
    },
    {
        "pings/date=2026-11-02/hour=09/c.parquet": _pings(
            ("e1", datetime(2026, 11, 2, 9, 30), "k1", "/b"),
        ),
    },
    {
        "pings/date=2026-11-02/hour=11/c.parquet": _pings(
            ("e1", datetime(2026, 11, 2, 11, 0), "k1", "/c"),
            ("e2", datetime(2026, 11, 2, 11, 1), "k1", "/c2"),
        ),
        "accounts/date=2026-11-02/hour=11/c.parquet": _login(datetime(2026, 11, 2, 11, 2), "free"),
        "signups/date=2026-11-02/hour=11/c.parquet": _signup(
            datetime(2026, 11, 2, 11, 3), "webinar"
        ),
        "crm/date=2026-11-02/hour=11/c.parquet": _crm(
            (STATE_1, datetime(2026, 11, 2, 12, 20), None),
            (STATE_2, datetime(2026, 11, 2, 12, 5), datetime(2026, 11, 2, 13, 30)),
        ),
    },
]

# (event_id, url_path, partition hour) after each run, worked out from the rule
EXPECTED_PINGS = [
    [("e1", "/a", 10), ("e2", "/a2", 10)],
    [("e1", "/a", 10), ("e2", "/a2", 10), ("e3", "/b3", 9)],
    [("e1", "/b", 9), ("e2", "/a2", 10), ("e3", "/b3", 9)],
    [("e1", "/b", 9), ("e2", "/a2", 10), ("e3", "/b3", 9)],
]
EXPECTED_LOGIN = [("l1", "starter", 10), ("l1", "pro", 9), ("l1", "pro", 9), ("l1", "pro", 9)]
EXPECTED_SIGNUP = [
    ("s1", "newsletter", 10),
    ("s1", "podcast", 9),
    ("s1", "podcast", 9),
    ("s1", "podcast", 9),
]
# (updated_at, demo_at, partition hour) of ann's CRM states
EXPECTED_CRM = [
    [(STATE_1, datetime(2026, 11, 2, 12, 10), 10)],
    [(STATE_1, datetime(2026, 11, 2, 12, 5), 9)],
    [(STATE_1, datetime(2026, 11, 2, 12, 5), 9)],
    [(STATE_1, datetime(2026, 11, 2, 12, 5), 9), (STATE_2, datetime(2026, 11, 2, 12, 5), 11)],
]
# how each run built: only the third, whose late ping came with another time, from scratch
EXPECTED_FULL_REFRESH = [False, False, True, False]


def _staging(warehouse: Path) -> tuple[list[tuple], ...]:
    with duckdb.connect(str(work_db_for(warehouse)), read_only=True) as con:
        pings = con.execute(
            "select event_id, url_path, hour(partition_at) "
            "from staging.stg_pings__pageviews order by event_id"
        ).fetchall()
        logins = con.execute(
            "select event_id, plan, hour(partition_at) from staging.stg_accounts__events"
        ).fetchall()
        signups = con.execute(
            "select event_id, referring_channel, hour(partition_at) "
            "from staging.stg_signups__signups"
        ).fetchall()
        crm = con.execute(
            "select updated_at, demo_at, hour(partition_at) from staging.stg_crm__contacts "
            "order by updated_at"
        ).fetchall()
    return pings, logins, signups, crm


def test_the_first_delivery_wins_in_every_arrival_order(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    for step, files in enumerate(FILES):
        land(landing, files)
        webfunnel("run", *args)
        pings, logins, signups, crm = _staging(warehouse)
        assert pings == EXPECTED_PINGS[step], f"after run {step + 1}"
        assert logins == [EXPECTED_LOGIN[step]], f"after run {step + 1}"
        assert signups == [EXPECTED_SIGNUP[step]], f"after run {step + 1}"
        assert crm == EXPECTED_CRM[step], f"after run {step + 1}"
        if step == 1:
            # the late login, signup and CRM state were taken in incrementally (the full
            # refresh of run 3 would hide a difference): the marts of one run over files 1-2
            assert read_marts(run_once(landing, tmp_path / "once-2")) == read_marts(warehouse)
    with duckdb.connect(str(work_db_for(warehouse)), read_only=True) as con:
        # a run that made a full refresh after its incremental build recorded that need first
        needs = con.execute(
            "select run_id, bool_or(project_fingerprint = 'full-refresh-needed') "
            "from ops.build_state group by run_id order by min(built_at)"
        ).fetchall()
    assert [needed for _, needed in needs] == EXPECTED_FULL_REFRESH

    # a single run over the same files chooses the same deliveries and gives the same marts
    once = run_once(landing, tmp_path / "once")
    assert _staging(once) == _staging(warehouse)
    assert read_marts(once) == read_marts(warehouse)

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
        # ann signed up on k1 at 09:33 (the winning delivery); her current CRM state is
        # the 14:00 one: a demo at 12:05 and a trial at 13:30
        assert con.execute(
            "select cookie, signed_up_at, demo_at, trial_at, furthest_stage from marts.visitors "
            "where person_id is not null"
        ).fetchall() == [
            (
                "k1",
                datetime(2026, 11, 2, 9, 33),
                datetime(2026, 11, 2, 12, 5),
                datetime(2026, 11, 2, 13, 30),
                "trial",
            )
        ]

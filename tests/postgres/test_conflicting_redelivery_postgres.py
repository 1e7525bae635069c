"""The server pipeline (``pg_load.build_if_needed``) follows an incremental build that took
in a conflicting redelivery with a full refresh, as the DuckDB pipeline does.

The files and the worked-out marts are those of ``tests/e2e/test_conflicting_redelivery.py``:
a late file moves ping e1 from k1 at 10:05 to k2 at 09:30 and login l1 from acc_1 to acc_2,
so k1, acc_1 and the hour 10:00 have nothing left.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ingest import load as duckdb_load
from ingest import pg_load
from ingest.pipeline import FULL_REFRESH_NEEDED, project_fingerprint
from tests.conftest import land
from tests.e2e.test_conflicting_redelivery import FIRST, LATE
from tests.postgres.compare import compare, duckdb_cli, pg_query


def test_a_conflicting_late_delivery_rebuilds_on_postgres(
    pg_module_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb_load, "SETTLE_SECONDS", 0)  # the files were just written
    landing, archive = tmp_path / "landing", tmp_path / "archive"
    land(landing, FIRST)
    pg_load.run(landing, archive)
    land(landing, LATE)
    pg_load.run(landing, archive)

    fingerprint = project_fingerprint()
    built = pg_query("select project_fingerprint from ops.build_state order by built_at")
    assert [row[0] for row in built] == [fingerprint, FULL_REFRESH_NEEDED, fingerprint]
    pageviews = pg_query("select event_id, cookie, created_at from marts.pageviews order by 1")
    assert pageviews == [
        ("e1", "k2", datetime(2026, 11, 2, 9, 30)),
        ("e2", "k3", datetime(2026, 11, 2, 11, 20)),
    ]
    assert pg_query("select cookie from marts.visitors order by cookie") == [("k2",), ("k3",)]
    assert pg_query("select distinct hour from marts.traffic_hourly order by hour") == [
        (datetime(2026, 11, 2, 9),),
        (datetime(2026, 11, 2, 11),),
    ]
    assert pg_query("select account_id from marts.accounts") == [("acc_2",)]

    # and every mart, the ledger and the quarantine equal one DuckDB run over both files
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    duckdb_cli("run", landing, warehouse)
    compare(warehouse)

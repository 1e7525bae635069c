"""The generic test `column_values` (tests/dbt/generic): one test per model finds every null
of its not-null columns, every repeated value of its unique columns and every value outside
its accepted values, and says which column, which rule, how many rows and, for a value not
accepted, which value."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from ingest.config import work_db_for

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).parent / "dbt")


def test_nulls_duplicates_and_unaccepted_values_are_counted_per_column(
    handmade_reference, tmp_path
):
    landing, _ = handmade_reference
    work = tmp_path / "work.duckdb"
    shutil.copy2(work_db_for(landing.parent / "warehouse.duckdb"), work)
    with duckdb.connect(str(work)) as con:
        # in marts.visitors: three nulls in two of its nine not-null columns, a device class
        # that is not one of its four, then carol's row twice (a repeated cookie, and a
        # fourth null)
        con.execute(
            "update marts.visitors set first_channel = null where cookie in ('c_alice', 'c_bob')"
        )
        con.execute("update marts.visitors set sessions = null where cookie = 'c_carol'")
        con.execute("update marts.visitors set device_class = 'tv' where cookie = 'c_bob'")
        con.execute(
            "insert into marts.visitors select * from marts.visitors where cookie = 'c_carol'"
        )

    target = tmp_path / "target"
    env = {**os.environ, "WEBFUNNEL_WORK_DB": str(work)}
    env.pop("WEBFUNNEL_TEST_SCOPE", None)
    result = subprocess.run(
        [DBT, "test", "--select", "test_name:column_values", "--store-failures",
         "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
         "--target-path", str(target), "--log-path", str(tmp_path / "logs")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]

    results = json.loads((target / "run_results.json").read_text())["results"]
    results = [r for r in results if r["unique_id"].startswith("test.")]
    failed = [r for r in results if r["status"] != "pass"]
    # one test per model or source with column rules (26, for 87 not-null, 22 unique and 13
    # accepted-values columns); only visitors' fails: 1 + 2 + 2 + 1 rows
    assert len(results) == 26
    assert [(r["unique_id"].split(".")[2], r["status"], r["failures"]) for r in failed] == [
        ("column_values_visitors", "fail", 6)
    ]
    with duckdb.connect(str(work), read_only=True) as con:
        rows = con.execute(f"select * from {failed[0]['relation_name']} order by 1").fetchall()
    assert rows == [
        ("cookie", "unique", 1, None),
        ("device_class", "accepted values", 1, "tv"),
        ("first_channel", "not null", 2, None),
        ("sessions", "not null", 2, None),
    ]

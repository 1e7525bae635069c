"""The batch lifecycle, transition by transition, on a real DuckDB file (no dbt needed)."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest.archive import archive_batches
from ingest.ledger import Batch, Ledger
from ingest.load import load_landed

UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"


def write_pings(landing: Path, day: str, hour: int, name: str, event_ids: list[str]) -> Path:
    folder = landing / "pings" / f"date={day}" / f"hour={hour:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime.fromisoformat(f"{day}T{hour:02d}:00:00")
    table = pa.table(
        {
            "event_id": event_ids,
            "created_at": pa.array([start] * len(event_ids), pa.timestamp("us")),
            "cookie": ["c"] * len(event_ids),
            "url": ["https://a.io/"] * len(event_ids),
            "referrer": [None] * len(event_ids),
            "user_agent": [UA] * len(event_ids),
        }
    )
    path = folder / name
    pq.write_table(table, path)
    return path


@pytest.fixture
def db(tmp_path):
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    con.execute("set TimeZone = 'UTC'")
    Ledger.ensure_schema(con)
    yield con
    con.close()


def run(con, landing, run_id, **kwargs):
    ledger = Ledger(con, run_id)
    stats = load_landed(con, ledger, landing, **kwargs)
    return ledger, stats


def transitions(con, path_like="%"):
    return con.execute(
        "select path, state, attempt, reason, run_id from ops.batch_state_transitions "
        "where path like ? order by transition_id",
        [path_like],
    ).fetchall()


def test_good_file_is_scheduled_run_and_succeeds_once(db, tmp_path):
    landing = tmp_path / "landing"
    write_pings(landing, "2026-11-02", 6, "a.parquet", ["e1", "e2"])
    run(db, landing, "r1")
    run(db, landing, "r2")  # nothing new: no transition, no row loaded twice
    path = "pings/date=2026-11-02/hour=06/a.parquet"
    assert transitions(db) == [
        (path, "awaiting_scheduling", 0, None, "r1"),
        (path, "running", 1, None, "r1"),
        (path, "succeeded", 1, None, "r1"),
    ]
    assert db.execute("select count(*) from raw.pings").fetchone() == (2,)


def test_many_transitions_are_recorded_in_order_across_statements(db):
    """record_many writes 500 rows a statement: 1,001 batches take three, and every row
    keeps its batch's values, in the order given (transition ids ascending)."""
    batches = [
        Batch(
            batch_id=f"b{i:04d}",
            source="pings",
            path=f"pings/date=2026-11-02/hour={i % 24:02d}/p{i}.parquet",
            partition_at=datetime(2026, 11, 2, i % 24),
            file_size=i,
            file_mtime=datetime(2026, 11, 3, 0, 0, i % 60),
        )
        for i in range(1001)
    ]
    Ledger(db, "r1").record_many([(batch, i % 3) for i, batch in enumerate(batches)], "running")
    rows = db.execute(
        "select batch_id, source, path, partition_at, state, attempt, reason, run_id, "
        "file_size, file_mtime from ops.batch_state_transitions order by transition_id"
    ).fetchall()
    assert rows == [
        (b.batch_id, "pings", b.path, b.partition_at, "running", i % 3, None, "r1", i, b.file_mtime)
        for i, b in enumerate(batches)
    ]


def test_dictionary_and_view_strings_load_as_strings(db, tmp_path):
    """A file written from pandas with a Categorical cookie (Arrow dictionary) and a
    string-view url is readable Parquet with string columns: it loads, values intact."""
    folder = tmp_path / "landing" / "pings" / "date=2026-11-02" / "hour=06"
    folder.mkdir(parents=True)
    start = datetime(2026, 11, 2, 6, 5)
    table = pa.table(
        {
            "event_id": ["e1", "e2", "e3"],
            "created_at": pa.array([start] * 3, pa.timestamp("us")),
            "cookie": pa.array(["a", "b", "a"]).dictionary_encode(),
            "url": pa.array(["https://a.io/x", "https://a.io/y", ""], pa.string_view()),
            "referrer": [None, None, None],
            "user_agent": [UA, UA, UA],
        }
    )
    pq.write_table(table, folder / "categorical.parquet")
    assert "dictionary<values=string" in str(pq.read_schema(folder / "categorical.parquet"))
    _, stats = run(db, tmp_path / "landing", "r1")
    assert (stats.batches_loaded, stats.batches_discarded) == (1, 0)
    assert db.execute("select event_id, cookie, url from raw.pings order by 1").fetchall() == [
        ("e1", "a", "https://a.io/x"),
        ("e2", "b", "https://a.io/y"),
        ("e3", "a", ""),
    ]


def test_bad_file_is_discarded_for_good(db, tmp_path):
    landing = tmp_path / "landing"
    folder = landing / "pings" / "date=2026-11-02" / "hour=06"
    folder.mkdir(parents=True)
    (folder / "bad.parquet").write_bytes(b"not parquet at all")
    run(db, landing, "r1")
    (folder / "bad.parquet").write_bytes(b"sent again, still not parquet")
    run(db, landing, "r2")
    path = "pings/date=2026-11-02/hour=06/bad.parquet"
    assert transitions(db) == [
        (path, "awaiting_scheduling", 0, None, "r1"),
        (path, "running", 1, None, "r1"),
        (path, "discarded", 1, "not a Parquet file", "r1"),
    ]
    assert db.execute("select reason from ops.quarantine").fetchall() == [("not a Parquet file",)]


def test_file_being_written_is_retried_then_loads(db, tmp_path):
    landing = tmp_path / "landing"
    good = write_pings(landing, "2026-11-02", 6, "w.parquet", ["e1"])
    content = good.read_bytes()
    good.write_bytes(content[: len(content) // 2])  # header, no footer yet, just modified
    run(db, landing, "r1")
    run(db, landing, "r2")
    good.write_bytes(content)  # the writer finishes
    run(db, landing, "r3")
    path = "pings/date=2026-11-02/hour=06/w.parquet"
    reason = "file is still being written (no Parquet footer yet)"
    assert transitions(db) == [
        (path, "awaiting_scheduling", 0, None, "r1"),
        (path, "running", 1, None, "r1"),
        (path, "awaiting_retry", 1, reason, "r1"),
        (path, "running", 2, None, "r2"),
        (path, "awaiting_retry", 2, reason, "r2"),
        (path, "running", 3, None, "r3"),
        (path, "succeeded", 3, None, "r3"),
    ]
    assert db.execute("select event_id from raw.pings").fetchall() == [("e1",)]


def test_retries_exhausted_discards_with_the_last_error(db, tmp_path):
    landing = tmp_path / "landing"
    good = write_pings(landing, "2026-11-02", 6, "w.parquet", ["e1"])
    good.write_bytes(good.read_bytes()[:20])
    for run_id in ("r1", "r2", "r3", "r4"):
        run(db, landing, run_id, max_attempts=3)
    path = "pings/date=2026-11-02/hour=06/w.parquet"
    reason = "file is still being written (no Parquet footer yet)"
    assert transitions(db) == [
        (path, "awaiting_scheduling", 0, None, "r1"),
        (path, "running", 1, None, "r1"),
        (path, "awaiting_retry", 1, reason, "r1"),
        (path, "running", 2, None, "r2"),
        (path, "awaiting_retry", 2, reason, "r2"),
        (path, "running", 3, None, "r3"),
        (path, "discarded", 3, f"gave up after 3 attempts: {reason}", "r3"),
    ]


def test_truncated_file_that_has_settled_is_discarded(db, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    good = write_pings(landing, "2026-11-02", 6, "t.parquet", ["e1"])
    good.write_bytes(good.read_bytes()[:20])
    old = time.time() - 3600
    os.utime(good, (old, old))
    run(db, landing, "r1")
    assert transitions(db)[-1][1:4] == ("discarded", 1, "truncated Parquet file (no footer)")


def test_batch_interrupted_while_running_is_run_again_exactly_once(db, tmp_path):
    landing = tmp_path / "landing"
    write_pings(landing, "2026-11-02", 6, "a.parquet", ["e1", "e2"])
    from ingest.ledger import discover

    ledger = Ledger(db, "killed")
    (batch,) = discover(landing)
    ledger.record(batch, "awaiting_scheduling", 0)
    ledger.record(batch, "running", 1)  # the process died here, mid-load (rolled back)
    run(db, landing, "r2")
    assert [row[1:3] for row in transitions(db)] == [
        ("awaiting_scheduling", 0),
        ("running", 1),
        ("running", 2),
        ("succeeded", 2),
    ]
    assert db.execute("select count(*) from raw.pings").fetchone() == (2,)


def test_archiving_moves_finished_batches_past_retention(db, tmp_path):
    landing, archive = tmp_path / "landing", tmp_path / "archive"
    write_pings(landing, "2026-11-01", 6, "old.parquet", ["e1"])
    write_pings(landing, "2026-11-03", 7, "new.parquet", ["e2"])
    ledger, _ = run(db, landing, "r1")
    moved = archive_batches(db, ledger, landing, archive, retention_days=1)
    assert moved == 1
    old = "pings/date=2026-11-01/hour=06/old.parquet"
    assert [row[:3] for row in transitions(db, "%old%")] == [
        (old, "awaiting_scheduling", 0),
        (old, "running", 1),
        (old, "succeeded", 1),
        (old, "archiving", 1),
        (old, "archived", 1),
    ]
    assert not (landing / old).exists() and (archive / old).exists()
    assert (landing / "pings/date=2026-11-03/hour=07/new.parquet").exists()
    # archived files are not rediscovered as new batches
    run(db, landing, "r2")
    assert len(transitions(db, "%old%")) == 5


def test_an_account_event_with_an_unknown_plan_is_quarantined(db, tmp_path):
    """A plan outside the contract's list would fail the accounts mart's test, and with it
    every build until the file was removed: the row is quarantined instead, and the rest
    load. Case and spaces are what staging normalises, and an empty plan is none."""
    folder = tmp_path / "landing" / "accounts" / "date=2026-11-02" / "hour=06"
    folder.mkdir(parents=True)
    plans = [" Pro ", "platinum", None, "", "Enterprise"]
    at = datetime(2026, 11, 2, 6, 30)
    pq.write_table(
        pa.table(
            {
                "event_id": [f"a{i}" for i in range(len(plans))],
                "created_at": pa.array([at] * len(plans), pa.timestamp("us")),
                "cookie": ["c"] * len(plans),
                "account_id": ["acc"] * len(plans),
                "email": ["a@b.io"] * len(plans),
                "event_type": ["plan_change"] * len(plans),
                "plan": plans,
            }
        ),
        folder / "events.parquet",
    )
    _, stats = run(db, tmp_path / "landing", "r1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (4, 1)
    assert db.execute("select event_id, plan from raw.accounts order by event_id").fetchall() == [
        ("a0", " Pro "),
        ("a2", None),
        ("a3", ""),
        ("a4", "Enterprise"),
    ]
    assert db.execute("select file_row_number, reason from ops.quarantine").fetchall() == [
        (1, "unknown plan: platinum")
    ]

"""The write-ahead log and the roll: torn tails, idempotent re-rolls, hour partitions."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime

import pytest

from ingest.collect.events import encode_records
from ingest.collect.roll import roll
from ingest.collect.wal import (
    Wal,
    WalLocked,
    encode_frame,
    list_segments,
    read_checkpoint,
    read_segment,
)
from tests.collect.collect_support import landed_files, read_landing


def us(ts: str) -> int:
    return int(datetime.fromisoformat(ts).replace(tzinfo=UTC).timestamp() * 1_000_000)


def ping(event_id: str, ts: str, cookie: str = "c" * 32) -> list:
    return ["p", event_id, us(ts), cookie, f"https://site.test/{event_id}", None, "UA/1"]


def write(wal: Wal, *requests: list[list]) -> None:
    async def go():
        await asyncio.gather(*(wal.append(encode_records(r), r[0][2]) for r in requests))

    asyncio.run(go())


def test_group_commit_and_close_seals(tmp_path):
    wal = Wal(tmp_path / "wal", instance="t1")
    write(wal, *[[ping(f"e{i}", "2026-03-01 10:15:00")] for i in range(50)])
    assert wal.frames_written == 50
    assert wal.commits < 50  # concurrent appends shared fsyncs
    wal.close()
    ((seq, sealed, path),) = list_segments(tmp_path / "wal")
    assert sealed and seq == 1
    assert sorted(r[1] for r in read_segment(path)) == sorted(f"e{i}" for i in range(50))


def test_one_live_writer_per_directory(tmp_path):
    wal = Wal(tmp_path / "wal", instance="t1")
    with pytest.raises(WalLocked):
        Wal(tmp_path / "wal", lock_timeout=0.1)
    with pytest.raises(ValueError, match="belongs to instance"):
        wal.close()
        Wal(tmp_path / "wal", instance="other")


def test_torn_tail_is_cut_on_recovery(tmp_path):
    wal_dir = tmp_path / "wal"
    wal = Wal(wal_dir, instance="t1")
    write(wal, [ping("a", "2026-03-01 10:00:00")], [ping("b", "2026-03-01 10:00:01")])
    # simulate a crash: the process dies with a half-written frame and without sealing
    wal._executor.shutdown()
    wal._lock.release()
    (_, _, path) = list_segments(wal_dir)[0]
    torn = encode_frame(encode_records([ping("torn", "2026-03-01 10:00:02")]))
    with open(path, "ab") as f:
        f.write(torn[:-5])
        f.write(b"\0" * 64)
    result = roll(wal_dir, tmp_path / "landing")
    assert result.events == 2
    assert sorted(r["event_id"] for r in read_landing(tmp_path / "landing", "pings")) == ["a", "b"]
    assert list_segments(wal_dir) == []


def test_each_event_lands_in_the_hour_of_its_created_at(tmp_path):
    wal = Wal(tmp_path / "wal", instance="t1")
    write(
        wal,
        [ping("h10", "2026-03-01 10:59:59.999999"), ping("h11", "2026-03-01 11:00:00")],
        [["s", "sg", us("2026-03-01 23:30:00"), "c" * 32, "A@b.c", None]],
    )
    wal.close()
    roll(tmp_path / "wal", tmp_path / "landing")
    pings = {
        r["event_id"]: (r["_date"], r["_hour"]) for r in read_landing(tmp_path / "landing", "pings")
    }
    assert pings == {"h10": ("2026-03-01", "10"), "h11": ("2026-03-01", "11")}
    (signup,) = read_landing(tmp_path / "landing", "signups")
    assert (signup["_date"], signup["_hour"], signup["email"]) == ("2026-03-01", "23", "A@b.c")
    assert all(
        f.name == "t1-0000000001.parquet" for f in landed_files(tmp_path / "landing", "pings")
    )


def test_rolling_again_after_a_crash_mid_roll_duplicates_nothing(tmp_path):
    wal_dir, landing = tmp_path / "wal", tmp_path / "landing"
    wal = Wal(wal_dir, instance="t1")
    write(wal, [ping("x", "2026-03-01 10:00:00"), ping("y", "2026-03-01 12:00:00")])
    wal.close()
    (_, _, seg) = list_segments(wal_dir)[0]
    saved = tmp_path / "saved.log"
    shutil.copy(seg, saved)
    roll(wal_dir, landing)
    first = sorted(landed_files(landing, "pings"))
    # crash after the Parquet files were renamed but before the checkpoint moved
    shutil.copy(saved, seg)
    (wal_dir / "CHECKPOINT").write_text("0\n")
    roll(wal_dir, landing)
    assert sorted(landed_files(landing, "pings")) == first
    assert sorted(r["event_id"] for r in read_landing(landing, "pings")) == ["x", "y"]
    # crash after the checkpoint moved but before the segment was deleted
    shutil.copy(saved, seg)
    assert roll(wal_dir, landing).events == 0
    assert sorted(r["event_id"] for r in read_landing(landing, "pings")) == ["x", "y"]
    assert not seg.exists()


def test_sequence_numbers_are_never_reused(tmp_path):
    wal_dir, landing = tmp_path / "wal", tmp_path / "landing"
    for n in range(3):
        wal = Wal(wal_dir, instance="t1")
        write(wal, [ping(f"r{n}", "2026-03-01 10:00:00")])
        wal.close()
        roll(wal_dir, landing)
    assert read_checkpoint(wal_dir) == 3
    names = [f.name for f in landed_files(landing, "pings")]
    assert names == ["t1-0000000001.parquet", "t1-0000000002.parquet", "t1-0000000003.parquet"]
    assert sorted(r["event_id"] for r in read_landing(landing, "pings")) == ["r0", "r1", "r2"]


def test_retried_event_ids_are_deduplicated(tmp_path):
    wal = Wal(tmp_path / "wal", instance="t1")
    write(wal, [ping("same", "2026-03-01 10:00:00")], [ping("same", "2026-03-01 10:00:03")])
    wal.close()
    result = roll(tmp_path / "wal", tmp_path / "landing")
    assert (result.events, result.duplicates) == (1, 1)
    assert [r["event_id"] for r in read_landing(tmp_path / "landing", "pings")] == ["same"]


def test_upto_rolls_only_finished_segments_in_order(tmp_path):
    wal_dir, landing = tmp_path / "wal", tmp_path / "landing"
    wal = Wal(wal_dir, instance="t1")
    write(wal, [ping("early", "2026-03-01 09:10:00")])
    write(wal, [ping("late", "2026-03-01 10:10:00")])  # another hour: another segment
    wal.close()
    assert len(list_segments(wal_dir)) == 2
    roll(wal_dir, landing, upto=datetime(2026, 3, 1, 10, tzinfo=UTC))
    assert [r["event_id"] for r in read_landing(landing, "pings")] == ["early"]
    roll(wal_dir, landing)
    assert sorted(r["event_id"] for r in read_landing(landing, "pings")) == ["early", "late"]


def test_roll_leaves_a_live_writers_open_segment_alone(tmp_path):
    wal_dir, landing = tmp_path / "wal", tmp_path / "landing"
    wal = Wal(wal_dir, instance="t1")
    write(wal, [ping("open", "2026-03-01 09:10:00")])
    assert roll(wal_dir, landing).events == 0  # the writer holds LOCK: its segment is live
    wal.close()
    assert roll(wal_dir, landing).events == 1


def test_worker_subdirectories_are_rolled_too(tmp_path):
    for i in range(2):
        wal = Wal(tmp_path / "wal" / f"w{i}", instance=f"t1-w{i}")
        write(wal, [ping(f"w{i}", "2026-03-01 09:10:00")])
        wal.close()
    assert roll(tmp_path / "wal", tmp_path / "landing").events == 2
    assert sorted(f.name for f in landed_files(tmp_path / "landing", "pings")) == [
        "t1-w0-0000000001.parquet",
        "t1-w1-0000000001.parquet",
    ]

"""Rolling sealed WAL segments into the landing zone as hourly Parquet files.

One sealed segment becomes one file per (source, UTC hour of `created_at`) it touches:

    <landing>/<source>/date=YYYY-MM-DD/hour=HH/<instance>-<seq>.parquet

The name depends only on the segment, so rolling a segment twice (a crash after its files were
written but before the checkpoint moved) rewrites the same files with the same rows: nothing is
duplicated. Files are written as ``.<name>.tmp`` (the loader ignores dot-files), fsynced and
renamed into place. Segments are rolled in sequence order; CHECKPOINT records the last one
rolled, then the segment is deleted.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.collect.wal import (
    DirLock,
    fsync_dir,
    instance_name,
    list_segments,
    read_checkpoint,
    read_segment,
    seal_open_segments,
    write_checkpoint,
)

log = logging.getLogger("webfunnel.collect")


@functools.cache
def schemas() -> dict:
    """The landing columns of each source (CONTRACT section 1), exactly and in order.

    pyarrow is imported here, not at module level, so a collector starts fast and loads it
    only when it first rolls.
    """
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return {
        "pings": pa.schema(
            [
                ("event_id", pa.string()),
                ("created_at", ts),
                ("cookie", pa.string()),
                ("url", pa.string()),
                ("referrer", pa.string()),
                ("user_agent", pa.string()),
            ]
        ),
        "signups": pa.schema(
            [
                ("event_id", pa.string()),
                ("created_at", ts),
                ("cookie", pa.string()),
                ("email", pa.string()),
                ("referring_channel", pa.string()),
            ]
        ),
    }


# WAL record kind -> landing source. Records are [kind, event_id, created_us, cookie, ...rest]
# with the rest in the order of the source's remaining columns.
KINDS = {"p": "pings", "s": "signups"}


@dataclass
class RollResult:
    segments: int = 0
    events: int = 0
    duplicates: int = 0
    files: list[Path] = field(default_factory=list)

    def add(self, other: RollResult) -> None:
        self.segments += other.segments
        self.events += other.events
        self.duplicates += other.duplicates
        self.files.extend(other.files)


def _partition(landing: Path, source: str, hour: int) -> Path:
    start = datetime.fromtimestamp(hour * 3600, tz=UTC)
    return landing / source / f"date={start:%Y-%m-%d}" / f"hour={start:%H}"


def _write_parquet(table, path: Path, fsync: bool) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        pq.write_table(table, f, compression="zstd")
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)


def roll_segment(
    path: Path, seq: int, instance: str, landing: Path, fsync: bool = True
) -> RollResult:
    """Write one sealed segment's events into the landing zone (idempotent)."""
    import pyarrow as pa

    result = RollResult(segments=1)
    groups: dict[tuple[str, int], list[list]] = {}
    seen: set[str] = set()
    for rec in read_segment(path):
        if rec[1] in seen:  # a client retry that reached us twice
            result.duplicates += 1
            continue
        seen.add(rec[1])
        groups.setdefault((KINDS[rec[0]], rec[2] // 3_600_000_000), []).append(rec)
    for (source, hour), recs in sorted(groups.items()):
        schema = schemas()[source]
        columns = list(zip(*recs, strict=True))[1:]
        table = pa.Table.from_arrays(
            [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)],
            schema=schema,
        )
        target = _partition(landing, source, hour) / f"{instance}-{seq:010d}.parquet"
        _write_parquet(table, target, fsync)
        result.files.append(target)
        result.events += len(recs)
    return result


def roll_dir(
    wal_dir: Path, landing: Path, upto: datetime | None = None, fsync: bool = True
) -> RollResult:
    """Roll the sealed segments of one WAL directory, oldest first.

    When no live collector holds the directory (after a crash, or offline), its open
    segments are recovered and sealed first, so everything acknowledged gets rolled.
    With `upto`, rolling stops at the first segment holding an event at or after `upto`
    (segments are the unit of idempotency, so they are never split).
    """
    wal_dir, landing = Path(wal_dir), Path(landing)
    result = RollResult()
    if not wal_dir.is_dir():
        return result
    limit_us = None if upto is None else int(upto.astimezone(UTC).timestamp() * 1_000_000)
    roll_lock = DirLock(wal_dir / "ROLL.lock")
    roll_lock.acquire()
    owner = DirLock(wal_dir / "LOCK")
    try:
        if owner.acquire(blocking=False):  # nobody is writing: recover open segments too
            seal_open_segments(wal_dir)
        instance = instance_name(wal_dir)
        done = read_checkpoint(wal_dir)
        for seq, sealed, path in list_segments(wal_dir):
            if not sealed:
                break
            if seq <= done:  # rolled, but deleting it was interrupted
                path.unlink(missing_ok=True)
                continue
            if limit_us is not None:
                recs = read_segment(path)
                if recs and max(r[2] for r in recs) >= limit_us:
                    break
            result.add(roll_segment(path, seq, instance, landing, fsync))
            write_checkpoint(wal_dir, seq)
            path.unlink()
            done = seq
        if result.segments and fsync:
            fsync_dir(wal_dir)
    finally:
        owner.release()
        roll_lock.release()
    if result.segments:
        log.info(
            "rolled %d segment(s), %d event(s) into %d file(s) from %s",
            result.segments,
            result.events,
            len(result.files),
            wal_dir,
        )
    return result


def exit_with_parent(parent: int) -> None:
    """In a collector's roll process: exit once the collector that started it is gone.

    The process waits for work for as long as it lives; after a SIGKILL of the collector it
    would otherwise stay behind (its restarted successor starts its own). Leaving mid-roll
    is safe: a roll is idempotent and picks up where it stopped.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def wal_dirs(wal_dir: Path) -> list[Path]:
    """The directory itself plus per-worker sub-logs (``w0``, ``w1``, ...) of a multi-worker run."""
    wal_dir = Path(wal_dir)
    if not wal_dir.is_dir():
        return []
    subs = sorted(p for p in wal_dir.iterdir() if p.is_dir() and (p / "INSTANCE").exists())
    own = (wal_dir / "INSTANCE").exists() and any(True for _ in list_segments(wal_dir))
    return ([wal_dir] if own or not subs else []) + subs


def roll(
    wal_dir: Path, landing: Path, upto: datetime | None = None, fsync: bool = True
) -> RollResult:
    """Roll everything acknowledged (optionally only up to `upto`) into the landing zone.

    Safe to call at any time, also while collectors run: a live collector's open segment is
    left to it, and roll passes are serialised per directory.
    """
    result = RollResult()
    for d in wal_dirs(Path(wal_dir)):
        if (d / "INSTANCE").exists():
            result.add(roll_dir(d, landing, upto, fsync))
    return result

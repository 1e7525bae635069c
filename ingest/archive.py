"""Archiving landed files past the landing zone's retention.

The landing zone keeps `WEBFUNNEL_RETENTION_DAYS` (default 30) days of partitions; older
files whose batch is finished (succeeded or discarded) move to the archive folder under the
same relative path (`archiving` -> `archived`), where backfills still find them. Retention is
measured from the newest landed partition, not the wall clock, so the same landing zone
always archives the same files.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb

from ingest.config import env_number
from ingest.ledger import ARCHIVED, ARCHIVING, DISCARDED, SUCCEEDED, Ledger

RETENTION_DAYS = env_number("WEBFUNNEL_RETENTION_DAYS", 30)


def archive_batches(
    con: duckdb.DuckDBPyConnection,
    ledger: Ledger,
    landing: Path,
    archive: Path,
    retention_days: float = RETENTION_DAYS,
) -> int:
    """Move finished batches older than the retention to the archive; returns how many."""
    newest = con.execute(
        "select max(partition_at) from ops.batches where state <> 'archived'"
    ).fetchone()[0]
    if newest is None:
        return 0
    cutoff = newest - timedelta(days=retention_days)
    # a batch caught mid-archiving by a killed run is finished first
    candidates = [
        batch
        for batch in ledger.batches_in((SUCCEEDED, DISCARDED, ARCHIVING))
        if batch.partition_at is not None and batch.partition_at < cutoff
    ]
    current = ledger.current()
    moved = 0
    for batch in candidates:
        attempt = current[batch.batch_id][1]
        if current[batch.batch_id][0] != ARCHIVING:
            ledger.record(batch, ARCHIVING, attempt)
        source, target = landing / batch.path, archive / batch.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.exists():
            temporary = target.with_name("." + target.name + ".partial")
            shutil.copy2(source, temporary)
            os.replace(temporary, target)
            source.unlink()
        elif not target.exists():
            continue  # the file is gone from both places: stay `archiving`, look again later
        ledger.record(batch, ARCHIVED, attempt)
        moved += 1
    return moved

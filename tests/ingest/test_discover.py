"""What a run finds in the landing zone: every file named ``*.parquet`` below a source folder,
in path order, with its partition hour when its folders name one; not a writer's in-flight
files, other names (named in a warning instead), or what a link to a folder holds."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from ingest.ledger import batch_id_for, discover


def _write(root: Path, relative: str, content: bytes = b"x") -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_the_files_of_a_landing_zone_in_path_order(tmp_path, caplog):
    landing = tmp_path / "landing"
    for relative in (
        "pings/date=2026-01-01/hour=7/z.parquet",
        "pings/date=2026-01-01/hour=00-b/a.parquet",  # after hour=00: folder by folder
        "pings/date=2026-01-01/hour=00/a.parquet",
        "pings/date=2026-01-01/hour=00/B.parquet",  # byte order: B before a
        "pings/date=2026-01-01/hour=00/.tmp-a.parquet",  # a writer's in-flight name
        "pings/date=2026-01-01/hour=00/_a.parquet",  # likewise
        "pings/date=2026-01-01/hour=00/notes.txt",
        "pings/date=2026-01-01/hour=00/a.PARQUET",
        "pings/x.parquet/in.parquet",  # a folder so named is not a file; what it holds is
        "pings/top.parquet",  # no partition folders: no partition hour
        "signups/date=2026-13-01/hour=01/s.parquet",  # no such date
        "accounts/date=2026-01-01/hour=24/a.parquet",  # no such hour
        "elsewhere/date=2026-01-02/hour=03/e.parquet",  # not a source
    ):
        _write(landing, relative)
    _write(landing, "pings/date=2026-01-01/hour=7/sized.parquet", b"twelve bytes")
    os.symlink(landing / "elsewhere", landing / "pings" / "linked")  # a folder's link: not followed
    os.symlink(  # a file's link: taken
        landing / "elsewhere/date=2026-01-02/hour=03/e.parquet",
        landing / "pings/date=2026-01-01/hour=7/linked.parquet",
    )
    os.symlink(landing / "gone.parquet", landing / "pings/broken.parquet")  # leads nowhere

    found = discover(landing)

    assert [(batch.path, batch.partition_at) for batch in found] == [
        ("pings/date=2026-01-01/hour=00/B.parquet", datetime(2026, 1, 1, 0)),
        ("pings/date=2026-01-01/hour=00/a.parquet", datetime(2026, 1, 1, 0)),
        ("pings/date=2026-01-01/hour=00-b/a.parquet", None),
        ("pings/date=2026-01-01/hour=7/linked.parquet", datetime(2026, 1, 1, 7)),
        ("pings/date=2026-01-01/hour=7/sized.parquet", datetime(2026, 1, 1, 7)),
        ("pings/date=2026-01-01/hour=7/z.parquet", datetime(2026, 1, 1, 7)),
        ("pings/top.parquet", None),
        ("pings/x.parquet/in.parquet", None),
        ("signups/date=2026-13-01/hour=01/s.parquet", None),
        ("accounts/date=2026-01-01/hour=24/a.parquet", None),
    ]
    sized = found[4]
    assert (sized.source, sized.file_size) == ("pings", 12)
    assert sized.batch_id == batch_id_for("pings/date=2026-01-01/hour=7/sized.parquet")
    mtime = (landing / sized.path).stat().st_mtime
    assert sized.file_mtime == datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None)
    # the two other names are in no ledger: said, every run, so that nothing goes unseen
    assert [record.getMessage() for record in caplog.records] == [
        f"webfunnel: 2 file(s) under {landing} are not loaded (not named *.parquet): "
        "pings/date=2026-01-01/hour=00/a.PARQUET, pings/date=2026-01-01/hour=00/notes.txt"
    ]


def test_many_stray_files_are_counted_and_three_named(tmp_path, caplog):
    for name in ("e.csv", "d.csv", "c.csv", "b.csv", "a.csv", "_SUCCESS", ".a.crc"):
        _write(tmp_path, f"crm/date=2026-01-01/hour=00/{name}")
    _write(tmp_path, "crm/_imported/0a1b.json")  # import-crm's markers: its own bookkeeping
    _write(tmp_path, "pings/_temporary/0/part-0.crc")  # a writer's
    assert discover(tmp_path) == []
    assert [record.getMessage() for record in caplog.records] == [
        f"webfunnel: 5 file(s) under {tmp_path} are not loaded (not named *.parquet): "
        "crm/date=2026-01-01/hour=00/a.csv, crm/date=2026-01-01/hour=00/b.csv, "
        "crm/date=2026-01-01/hour=00/c.csv and 2 more"
    ]


def test_an_empty_or_missing_landing_zone_has_no_batches(tmp_path, caplog):
    assert discover(tmp_path / "missing") == []
    (tmp_path / "empty" / "pings").mkdir(parents=True)
    assert discover(tmp_path / "empty") == []
    assert caplog.records == []  # nothing to say

"""Landed files and folders the pipeline may not read (a collector or a copy job running as
another user, with a restrictive umask). Nothing is passed over in silence: a folder that
cannot be listed is named in a warning every run until it can be, and its files are then
loaded as late files; a file that cannot be opened waits in `awaiting_retry`; a landing zone
that cannot be read at all is a one-line error.

The pipeline runs here as root does in CI, but without the capabilities that let root ignore
file modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so the modes apply to it as to any
other user."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import duckdb

from ingest.config import work_db_for
from tests.conftest import WEBFUNNEL, read_marts

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
HOUR = "pings/date=2026-11-10/hour=09"  # one file, e.parquet
FILE = "pings/date=2026-11-03/hour=00/d.parquet"


def _as_any_user() -> None:
    """In the child, before exec: root's bounding set without the two capabilities, so the
    program it runs has neither. Another user needs nothing dropped."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run(landing: Path, warehouse: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "WEBFUNNEL_WORK_DB"}
    return subprocess.run(
        [WEBFUNNEL, "run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse)],
        capture_output=True, text=True, env=env, timeout=900, preexec_fn=_as_any_user,
    )  # fmt: skip


def _transitions(warehouse: Path, path: str) -> list[tuple]:
    con = duckdb.connect(str(work_db_for(warehouse)), read_only=True)
    try:
        return con.execute(
            "select state, attempt, reason from ops.batch_state_transitions where path = ? "
            "order by transition_id",
            [path],
        ).fetchall()
    finally:
        con.close()


def test_unreadable_folders_and_files_are_said_and_loaded_once_readable(
    handmade_reference, tmp_path
):
    source, expected = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(source, landing)
    os.chmod(landing / HOUR, 0)
    os.chmod(landing / FILE, 0)
    try:
        first = _run(landing, warehouse)
        assert first.returncode == 0, first.stderr
        assert (
            f"webfunnel: 1 folder(s) under {landing} cannot be read, and their files are not "
            f"loaded until they can be: {HOUR}/ (Permission denied)"
        ) in first.stderr.splitlines()
        assert _transitions(warehouse, f"{HOUR}/e.parquet") == []  # not found, not lost
        assert _transitions(warehouse, FILE) == [
            ("awaiting_scheduling", 0, None),
            ("running", 1, None),
            (
                "awaiting_retry",
                1,
                f"I/O error reading the file: [Errno 13] Permission denied: '{landing / FILE}'",
            ),
        ]
        assert read_marts(warehouse) != expected
    finally:
        os.chmod(landing / HOUR, 0o755)
        os.chmod(landing / FILE, 0o644)

    second = _run(landing, warehouse)
    assert second.returncode == 0, second.stderr
    assert "cannot be read" not in second.stderr
    assert _transitions(warehouse, f"{HOUR}/e.parquet") == [
        ("awaiting_scheduling", 0, None),
        ("running", 1, None),
        ("succeeded", 1, None),
    ]
    assert _transitions(warehouse, FILE)[3:] == [("running", 2, None), ("succeeded", 2, None)]
    assert read_marts(warehouse) == expected


def test_a_landing_zone_that_cannot_be_read_is_an_error(handmade_reference, tmp_path):
    source, _ = handmade_reference
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    shutil.copytree(source, landing)
    os.chmod(landing, 0)
    try:
        done = _run(landing, warehouse)
    finally:
        os.chmod(landing, 0o755)
    assert (done.returncode, done.stderr) == (
        2,
        f"webfunnel: error: cannot read {landing}: Permission denied\n",
    )
    assert not warehouse.exists()

"""The publish's next file: copied from the published file in the background, copied again
when the published file was replaced meanwhile, renamed over it (the displaced file removed
in a thread, while readers keep it), cleared of what a killed run left, and written by one
process at a time."""

from __future__ import annotations

import os

import pytest

from ingest.errors import WebfunnelError
from ingest.publish import NextFile


def test_the_background_copy_is_the_published_file(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(b"published by run 1" * 100_000)
    next_file = NextFile(warehouse)
    try:
        next_file.copy_in_background()
        assert next_file.copy_of_published()
        assert next_file.path == tmp_path / ".warehouse.duckdb.next"
        assert next_file.path.read_bytes() == b"published by run 1" * 100_000
    finally:
        next_file.close()
    assert not next_file.path.exists()  # not renamed over the warehouse: removed


def test_a_published_file_replaced_after_the_copy_is_copied_again(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(b"run 1")
    next_file = NextFile(warehouse)
    try:
        next_file.copy_in_background()
        assert next_file.copy_of_published()
        assert next_file.path.read_bytes() == b"run 1"
        replacement = tmp_path / "replacement"
        replacement.write_bytes(b"run 2, published by hand")
        os.replace(replacement, warehouse)
        assert next_file.copy_of_published()
        assert next_file.path.read_bytes() == b"run 2, published by hand"
    finally:
        next_file.close()


def test_nothing_published_gives_no_copy(tmp_path):
    next_file = NextFile(tmp_path / "warehouse.duckdb")
    try:
        next_file.copy_in_background()
        assert not next_file.copy_of_published()
        assert not next_file.path.exists()
    finally:
        next_file.close()


def test_what_a_killed_run_left_is_removed_before_anything_is_written(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    left = [
        tmp_path / ".warehouse.duckdb.next",
        tmp_path / ".warehouse.duckdb.next.wal",
        tmp_path / ".warehouse.duckdb.replaced",  # killed between its rename and removal
    ]
    for path in left:
        path.write_bytes(b"half-written")
    next_file = NextFile(warehouse)
    try:
        assert not any(path.exists() for path in left)
    finally:
        next_file.close()


def test_swap_in_replaces_the_published_file_and_removes_the_displaced_one(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(b"run 1" * 100_000)
    next_file = NextFile(warehouse)
    with open(warehouse, "rb") as reader:  # a BI tool that opened run 1's file
        try:
            next_file.copy_in_background()
            assert next_file.copy_of_published()
            next_file.path.write_bytes(b"run 2")
            next_file.swap_in()
            assert warehouse.read_bytes() == b"run 2"
        finally:
            next_file.close()
        # close() waited for the removal: only the lock is left beside the published file
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            ".warehouse.duckdb.lock",
            "warehouse.duckdb",
        ]
        assert reader.read() == b"run 1" * 100_000  # the reader keeps the copy it opened


def test_the_first_swap_in_has_nothing_to_displace(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    next_file = NextFile(warehouse)
    try:
        next_file.copy_in_background()
        assert not next_file.copy_of_published()
        next_file.path.write_bytes(b"run 1")
        next_file.swap_in()
    finally:
        next_file.close()
    assert warehouse.read_bytes() == b"run 1"
    assert not next_file.displaced.exists() and not next_file.path.exists()


def test_one_publisher_at_a_time(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    first = NextFile(warehouse)
    try:
        with pytest.raises(WebfunnelError, match="another process is publishing"):
            NextFile(warehouse)
    finally:
        first.close()
    NextFile(warehouse).close()  # released by close()


def test_a_failed_background_copy_is_raised_by_the_publish(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.mkdir()  # exists, but cannot be copied as a file
    next_file = NextFile(warehouse)
    try:
        next_file.copy_in_background()
        with pytest.raises(IsADirectoryError):
            next_file.copy_of_published()
    finally:
        next_file.close()

"""CRM CSV exports -> landing crm Parquet, on exports as ugly as real ones."""

from __future__ import annotations

import os
from datetime import datetime

import pyarrow.parquet as pq
import pytest

from ingest.cli import main
from ingest.crm_import import (
    MalformedExport,
    import_drop_folder,
    import_export,
    parse_timestamp,
)

RECEIVED = datetime(2026, 3, 2, 9, 41)

SALESFORCE = (
    "\ufeff"
    '"Email","Account Name","Demo_Date__c","Trial_Start_Date__c","Customer_Since__c",'
    '"LastModifiedDate"\r\n'
    '"Ann.Lee@Example.COM ","Lee, Ann & Co","3/1/2026 2:30 PM","","","2026-03-02T08:15:00.000Z"\r\n'
    '"bob@example.com","Bob, Inc.","02/27/2026","2026-03-01 10:00","3/2/2026 9:05 AM",'
    '"2026-03-02T09:00:00+01:00"\r\n'
)

HUBSPOT = (
    "Record ID,First Name,Email,"
    'Date entered "Demo" (Lifecycle Stage),Date entered "Trial" (Lifecycle Stage),'
    'Date entered "Customer" (Lifecycle Stage),Last Modified Date\n'
    '101,Cat,CAT@example.com,2026-02-20 11:00,,,"1772443800000"\n'
    "\n"
    '102,"Dan ""the man""",dan@example.com,20.02.2026 13:45,,,2026-03-02 07:30:00\n'
)


def _write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")
    return path


def _rows(path):
    return pq.read_table(path).to_pylist()


def test_salesforce_export_with_bom_quoted_commas_and_mixed_dates(tmp_path):
    landing = tmp_path / "landing"
    export = _write(tmp_path, "sf.csv", SALESFORCE)
    result = import_export(export, landing, received_at=RECEIVED)
    assert result.rows == 2
    assert result.landed.parent == landing / "crm" / "date=2026-03-02" / "hour=09"
    assert _rows(result.landed) == [
        {
            "email": "ann.lee@example.com",
            "demo_at": datetime(2026, 3, 1, 14, 30),
            "trial_at": None,
            "customer_at": None,
            "updated_at": datetime(2026, 3, 2, 8, 15),
        },
        {
            "email": "bob@example.com",
            "demo_at": datetime(2026, 2, 27),
            "trial_at": datetime(2026, 3, 1, 10, 0),
            "customer_at": datetime(2026, 3, 2, 9, 5),
            "updated_at": datetime(2026, 3, 2, 8, 0),  # +01:00 in the file
        },
    ]


def test_hubspot_export_with_epoch_millis_blank_lines_and_day_first_dates(tmp_path):
    landing = tmp_path / "landing"
    result = import_export(_write(tmp_path, "hs.csv", HUBSPOT), landing, received_at=RECEIVED)
    rows = _rows(result.landed)
    assert [row["email"] for row in rows] == ["cat@example.com", "dan@example.com"]
    # 1772443800000 ms = 2026-03-02 09:30:00 UTC
    assert rows[0]["updated_at"] == datetime(2026, 3, 2, 9, 30)
    assert rows[0]["demo_at"] == datetime(2026, 2, 20, 11, 0)
    assert rows[1]["demo_at"] == datetime(2026, 2, 20, 13, 45)  # 20.02.2026 is day-first


def test_utf16_and_semicolon_exports(tmp_path):
    text = "email;demo_at;trial_at;customer_at;updated_at\r\nEve@Example.com;;;;2026-03-01\r\n"
    export = _write(tmp_path, "excel.csv", text, encoding="utf-16")
    result = import_export(export, tmp_path / "landing", received_at=RECEIVED)
    assert _rows(result.landed)[0]["email"] == "eve@example.com"


def test_same_export_is_imported_once(tmp_path):
    landing = tmp_path / "landing"
    first = import_export(_write(tmp_path, "a.csv", SALESFORCE), landing, received_at=RECEIVED)
    again = import_export(
        _write(tmp_path, "copy-of-a.csv", SALESFORCE), landing, received_at=datetime(2026, 3, 3)
    )
    assert again.already_imported and again.landed == first.landed
    assert len(list((landing / "crm").rglob("*.parquet"))) == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("email,demo_at,updated_at\nx@example.com,,2026-03-01\n", "no column for trial_at"),
        (
            "email,demo_at,trial_at,customer_at,updated_at\n"
            "a@example.com,2026-03-01,,,2026-03-01\n"
            "b@example.com,Jan 5, 2026,,,2026-03-01\n",
            "line 3 has 6 fields, the header has 5",
        ),
        (
            "email,demo_at,trial_at,customer_at,updated_at\n"
            "a@example.com,next tuesday,,,2026-03-01\n",
            "line 2: demo_at 'next tuesday' is not a date in a known format",
        ),
        ("email,demo_at,trial_at,customer_at,updated_at\na@example.com,,,,\n", "empty updated_at"),
        ("", "empty file"),
    ],
)
def test_malformed_exports_are_rejected_with_a_reason(tmp_path, text, reason):
    with pytest.raises(MalformedExport, match=reason):
        import_export(_write(tmp_path, "bad.csv", text), tmp_path / "landing")
    assert not (tmp_path / "landing" / "crm").exists() or not list(
        (tmp_path / "landing" / "crm").rglob("*.parquet")
    )


def test_not_utf8_is_rejected(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "email,demo_at,trial_at,customer_at,updated_at\nj\xf6rg@x.de,,,,2026-03-01\n".encode(
            "latin-1"
        )
    )
    with pytest.raises(MalformedExport, match="not UTF-8"):
        import_export(path, tmp_path / "landing")


def test_drop_folder_moves_exports_and_explains_rejections(tmp_path):
    drop, landing = tmp_path / "drop", tmp_path / "landing"
    drop.mkdir()
    good = _write(drop, "sf.csv", SALESFORCE)
    os.utime(good, (datetime(2026, 3, 2, 9, 41).timestamp(),) * 2)
    _write(drop, "dup.csv", SALESFORCE)
    _write(drop, "broken.csv", "email,updated_at\nx@example.com,2026-03-01\n")
    outcome = import_drop_folder(drop, landing)
    assert outcome.imported == ["dup.csv"] or outcome.imported == ["sf.csv"]
    assert len(outcome.duplicates) == 1
    assert list(outcome.rejected) == ["broken.csv"]
    assert sorted(path.name for path in (drop / "imported").iterdir()) == ["dup.csv", "sf.csv"]
    reason = (drop / "rejected" / "broken.csv.reason").read_text()
    assert "no column for demo_at, trial_at, customer_at" in reason
    assert (drop / "rejected" / "broken.csv").exists()
    assert not list(drop.glob("*.csv"))
    # running again finds nothing to do and changes nothing
    assert import_drop_folder(drop, landing) == type(outcome)([], [], {})
    assert len(list((landing / "crm").rglob("*.parquet"))) == 1


def test_cli_import_crm(tmp_path, capsys):
    export = _write(tmp_path, "hs.csv", HUBSPOT)
    landing = tmp_path / "landing"
    args = [
        "import-crm",
        str(export),
        "--landing",
        str(landing),
        "--received-at",
        "2026-03-02T09:00",
    ]
    assert main(args) == 0
    assert "2 contacts landed in" in capsys.readouterr().out
    assert main(args) == 0
    assert "already imported" in capsys.readouterr().out
    bad = _write(tmp_path, "bad.csv", "name\nx\n")
    assert main(["import-crm", str(bad), "--landing", str(landing)]) == 2
    assert capsys.readouterr().err.startswith("webfunnel: error: no column for email")


def test_parse_timestamp_formats():
    formats = ("%Y-%m-%dT%H:%M:%S%z", "%m/%d/%Y")
    assert parse_timestamp("2026-03-02T10:00:00Z", formats) == datetime(2026, 3, 2, 10)
    assert parse_timestamp("  ", formats) is None
    with pytest.raises(ValueError):
        parse_timestamp("yesterday", formats)

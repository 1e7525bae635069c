"""The SQL that loads a landed file into Redshift (``ingest/redshift.py``), checked as text.

No Redshift is reachable from the tests: the statements are checked for what a person can
read off them (the S3 location, the IAM role, the staging columns in file order, the row
rules, the load metadata) and must parse under sqlfluff's Redshift dialect.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ingest.ledger import Batch  # noqa: E402
from ingest.load import RejectedFile  # noqa: E402
from ingest.redshift import (  # noqa: E402
    copy_batch_sql,
    file_columns,
    quote_literal,
    schema_sql,
)

ROLE = "arn:aws:iam::123456789012:role/webfunnel-copy"
LOADED_AT = datetime(2026, 11, 2, 7, 5)
PINGS = Batch(
    batch_id="0123456789abcdef01234567",
    source="pings",
    path="pings/date=2026-11-02/hour=06/part-0.parquet",
    partition_at=datetime(2026, 11, 2, 6),
)
PING_COLUMNS = [
    ("app_version", "string"),  # an extra column, first in the file
    ("event_id", "string"),
    ("created_at", "timestamp[us, tz=UTC]"),
    ("cookie", "string"),
    ("url", "string"),
    ("referrer", "string"),
    ("user_agent", "string"),
]


def _sql(batch: Batch = PINGS, columns=PING_COLUMNS) -> list[str]:
    return copy_batch_sql(
        batch,
        columns,
        s3_root="s3://acme-landing/webfunnel/",
        iam_role=ROLE,
        run_id="20261102T070500-abcd1234",
        loaded_at=LOADED_AT,
    )


def test_copy_reads_the_file_from_s3_as_parquet_into_a_stage_of_exactly_the_file_columns() -> None:
    create, copy, *_ = _sql()
    assert copy == (
        'copy stage_0123456789abcdef01234567 ("app_version", "event_id", "created_at", '
        '"cookie", "url", "referrer", "user_agent")\n'
        "from 's3://acme-landing/webfunnel/pings/date=2026-11-02/hour=06/part-0.parquet'\n"
        f"iam_role '{ROLE}'\n"
        "format as parquet"
    )
    # staged in the file's order (COPY from Parquet maps by position), tz-aware kept as such
    assert create.index('"app_version" varchar(65535)') < create.index('"event_id"')
    assert '"created_at" timestamptz' in create
    # a Parquet COPY needs as many table columns as file columns: nothing else is staged
    assert create == (
        "create temp table stage_0123456789abcdef01234567 (\n"
        '    "app_version" varchar(65535),\n    "event_id" varchar(65535),\n'
        '    "created_at" timestamptz,\n    "cookie" varchar(65535),\n'
        '    "url" varchar(65535),\n    "referrer" varchar(65535),\n'
        '    "user_agent" varchar(65535)\n)'
    )


def test_rows_are_numbered_once_before_the_split_into_raw_and_quarantine() -> None:
    """One numbering for both inserts, so loaded and quarantined rows never share a number."""
    statements = _sql()
    checked = statements[2]
    assert checked.startswith("create temp table stage_0123456789abcdef01234567_checked as\n")
    assert "row_number() over () - 1 as _file_row_number" in checked
    assert checked.count("row_number()") == 1
    assert checked.endswith("from stage_0123456789abcdef01234567\n    ) as typed")
    for insert in statements[3:5]:
        assert "row_number()" not in insert
        assert "from stage_0123456789abcdef01234567_checked\n" in insert
    assert statements[5:] == [
        "drop table stage_0123456789abcdef01234567_checked",
        "drop table stage_0123456789abcdef01234567",
    ]


def test_good_rows_go_to_raw_with_the_load_metadata() -> None:
    insert = _sql()[3]
    assert insert.startswith(
        'insert into "raw".pings\n    (event_id, created_at, cookie, url, referrer, user_agent, '
        "_batch_id, _file_row_number, _partition_at, _loaded_at, _run_id)"
    )
    assert (
        "'0123456789abcdef01234567', _file_row_number, timestamp '2026-11-02 06:00:00', "
        "timestamp '2026-11-02 07:05:00', '20261102T070500-abcd1234'"
    ) in insert
    assert insert.endswith("where _reason is null")
    assert "app_version" not in insert  # extra columns are ignored


def test_row_rules_are_those_of_the_duckdb_loader() -> None:
    insert = _sql()[2]  # the reason is decided once, in the checked table
    assert "when _typed_event_id is null or trim(_typed_event_id) = '' then 'empty event_id'" in (
        insert
    )
    assert "then 'empty cookie'" in insert
    assert "when _raw_created_at is null then 'null created_at'" in insert
    assert "when _typed_created_at is null then 'unparseable created_at'" in insert
    assert (
        "when _typed_created_at < timestamp '2026-11-02 06:00:00' "
        "or _typed_created_at >= timestamp '2026-11-02 07:00:00' "
        "then 'created_at outside partition hour 2026-11-02 06:00:00'"
    ) in insert


def test_rejected_rows_go_to_quarantine_with_reason_and_content() -> None:
    quarantine = _sql()[4]
    assert quarantine.startswith("insert into ops.quarantine")
    assert "'pings', 'pings/date=2026-11-02/hour=06/part-0.parquet', _file_row_number, _reason" in (
        quarantine
    )
    assert "json_serialize(object('event_id', " in quarantine
    assert quarantine.endswith("where _reason is not null")


def test_crm_is_not_checked_against_the_partition_hour_and_text_timestamps_parse() -> None:
    crm = Batch("c" * 24, "crm", "crm/date=2026-11-02/hour=06/export.parquet", PINGS.partition_at)
    columns = [
        ("email", "string"),
        ("demo_at", "timestamp[ms]"),
        ("trial_at", "null"),
        ("customer_at", "string"),
        ("updated_at", "timestamp[us]"),
    ]
    insert = _sql(crm, columns)[2]  # the checked table
    assert "outside partition hour" not in insert
    assert "cast(null as timestamp) as _typed_trial_at" in insert
    assert 'then cast(cast(trim("customer_at") as timestamptz) as timestamp) end' in insert
    assert "when _raw_customer_at is not null and _typed_customer_at is null" in insert


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        (PING_COLUMNS[:3], "missing required column(s): cookie, url, referrer, user_agent"),
        (
            [(name, "double" if name == "cookie" else kind) for name, kind in PING_COLUMNS],
            "column cookie has type double, expected a string",
        ),
        (
            [(name, "bool" if name == "created_at" else kind) for name, kind in PING_COLUMNS],
            "column created_at has type bool, expected a timestamp",
        ),
    ],
)
def test_a_file_the_duckdb_loader_rejects_is_rejected_before_any_sql(columns, reason) -> None:
    with pytest.raises(RejectedFile) as rejected:
        _sql(columns=columns)
    assert str(rejected.value) == reason


def test_dictionary_and_view_strings_are_strings_on_redshift() -> None:
    """A Categorical cookie (Arrow dictionary) and a string-view url stage as varchar."""
    columns = [
        (name, "dictionary<values=string, indices=int8, ordered=0>" if name == "cookie" else kind)
        for name, kind in PING_COLUMNS
    ]
    columns = [(name, "string_view" if name == "url" else kind) for name, kind in columns]
    create = _sql(columns=columns)[0]
    assert '"cookie" varchar(65535)' in create
    assert '"url" varchar(65535)' in create


def test_file_columns_reads_the_parquet_footer_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "part-0.parquet"
    table = pa.table(
        {
            "event_id": pa.array(["e1"]),
            "created_at": pa.array([datetime(2026, 11, 2, 6, 1)], pa.timestamp("us", tz="UTC")),
            "hits": pa.array([1], pa.int64()),
        }
    )
    pq.write_table(table, path)
    assert file_columns(path) == [
        ("event_id", "string"),
        ("created_at", "timestamp[us, tz=UTC]"),
        ("hits", "int64"),
    ]
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(RejectedFile, match="unreadable Parquet"):
        file_columns(tmp_path / "bad.parquet")


def test_literals_escape_quotes_and_backslashes() -> None:
    assert quote_literal("it's a\\b") == "'it''s a\\\\b'"


def test_every_statement_parses_under_the_redshift_dialect() -> None:
    from sqlfluff.core import FluffConfig, Linter

    linter = Linter(config=FluffConfig(overrides={"dialect": "redshift"}))
    statements = [*_sql(), *schema_sql()]
    problems = []
    for statement in statements:
        parsed = linter.parse_string(statement + "\n")
        unparsable = list(parsed.tree.recursive_crawl("unparsable")) if parsed.tree else []
        if parsed.violations or unparsable:
            problems.append(statement.splitlines()[0])
    assert not problems, problems


@pytest.mark.parametrize(
    ("message", "configuration"),
    [
        ("S3ServiceException:Access Denied,Status 403,Error AccessDenied", True),
        ("AWS Error ACCESS_DENIED during HeadObject operation: No response body.", True),
        ("User arn:aws:redshift:... is not authorized to assume IAM Role arn:...", True),
        ("S3ServiceException:The AWS Access Key Id you provided ... InvalidAccessKeyId", True),
        ("division by zero", False),
        ("Spectrum Scan Error: file has an invalid version number", False),
    ],
)
def test_s3_refusals_are_configuration_errors_not_the_files(message, configuration) -> None:
    """A refusal stops the run without counting an attempt against the batch; anything
    else a COPY or a footer read raises counts against the file (retried, then discarded)."""
    from ingest.redshift_load import _is_configuration_error

    assert _is_configuration_error(message) is configuration


def test_an_unknown_plan_is_a_row_rule_here_too() -> None:
    path = "accounts/date=2026-11-02/hour=06/a.parquet"
    accounts = Batch("a" * 24, "accounts", path, PINGS.partition_at)
    columns = [
        ("event_id", "string"),
        ("created_at", "timestamp[us]"),
        ("cookie", "string"),
        ("account_id", "string"),
        ("email", "string"),
        ("event_type", "string"),
        ("plan", "string"),
    ]
    insert = _sql(accounts, columns)[2]  # the checked table
    assert (
        "when nullif(lower(trim(_typed_plan)), '') not in ('free', 'starter', 'pro', 'enterprise') "
        "then 'unknown plan: ' || trim(_typed_plan)"
    ) in insert


def test_the_plans_are_the_seeds() -> None:
    """The loader's list and the tiers the upgrades are ranked by are one list."""
    import csv

    from ingest.config import PROJECT_ROOT
    from ingest.sources import PLANS

    with open(PROJECT_ROOT / "seeds" / "plan_tiers.csv", newline="") as seed:
        tiers = sorted(csv.DictReader(seed), key=lambda row: int(row["plan_rank"]))
    assert tuple(row["plan"] for row in tiers) == PLANS

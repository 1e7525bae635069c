"""The PostgreSQL and Redshift builds' guards (ingest/pg_load.py ``dbt_build``), as the
DuckDB pipeline's (tests/e2e/test_faults.py): dbt settings in the environment that change
what a build builds are ignored, with a notice, and a build that ran no models is an error,
not a build that took in the new batches."""

from __future__ import annotations

import pytest

from ingest import pg_load
from ingest.errors import WebfunnelError


def test_a_build_that_runs_no_models_is_an_error(
    pg_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DBT_EMPTY", "true")
    with pytest.raises(WebfunnelError, match="ran no models"):
        pg_load.dbt_build("postgres", "--select", "tag:no_such_tag")
    assert "webfunnel: ignoring DBT_EMPTY from the environment" in capsys.readouterr().err

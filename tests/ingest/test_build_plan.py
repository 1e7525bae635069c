"""How a run builds: incrementally while only data arrived, from scratch (seeds included)
when the logic changed. A real DuckDB file and a copy of the project's fingerprinted files;
no dbt run."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest

import ingest.pipeline as pipeline
from ingest.config import PROJECT_ROOT, Paths


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the fingerprinted part of the project, which the fingerprint then reads."""
    root = tmp_path / "project"
    for entry in ("models", "macros", "seeds"):
        shutil.copytree(PROJECT_ROOT / entry, root / entry)
    shutil.copy2(PROJECT_ROOT / "dbt_project.yml", root / "dbt_project.yml")
    monkeypatch.setattr(pipeline, "PROJECT_ROOT", root)
    return root


@pytest.fixture
def built(tmp_path, project):
    """A working database whose last build was at the copied project's fingerprint, with
    one succeeded batch since (transition 7 > 5)."""
    paths = Paths(tmp_path / "landing", tmp_path / "wh.duckdb", tmp_path / "archive")
    con = pipeline.open_work_db(paths)
    con.execute("create schema marts")
    con.execute("create table marts.visitors (cookie varchar)")
    con.execute(
        "insert into ops.build_state values (?, 5, ?, 'r1')",
        [datetime(2026, 11, 2, 1), pipeline.project_fingerprint()],
    )
    con.execute(
        "insert into ops.batch_state_transitions (transition_id, batch_id, source, path, "
        "state, attempt, \"at\", run_id) values (7, 'b', 'pings', 'p', 'succeeded', 1, ?, 'r2')",
        [datetime(2026, 11, 2, 2)],
    )
    yield con
    con.close()


def test_new_data_only_builds_incrementally_without_the_seeds(built):
    plan = pipeline.plan_build(built, pipeline.project_fingerprint())
    assert (plan.needed, plan.full_refresh, plan.through) == (True, False, 7)
    assert pipeline.build_args(plan.full_refresh) == (
        "--exclude",
        "test_type:unit",
        "resource_type:seed",
    )


def test_a_changed_seed_rebuilds_everything_and_reloads_the_seeds(built, project):
    before = pipeline.project_fingerprint()
    seed = project / "seeds" / "channel_sources.csv"
    seed.write_text(seed.read_text() + "newsite.example,newsite,SOCIAL\n")
    after = pipeline.project_fingerprint()
    assert after != before
    plan = pipeline.plan_build(built, after)
    assert (plan.needed, plan.full_refresh) == (True, True)
    args = pipeline.build_args(plan.full_refresh)
    assert args == ("--exclude", "test_type:unit", "--full-refresh", "--no-partial-parse")
    assert "resource_type:seed" not in args


@pytest.mark.parametrize("variable", ["WEBFUNNEL_COOKIE_KEY_BITS", "WEBFUNNEL_EVENT_KEY_BITS"])
def test_each_stored_key_width_is_part_of_the_fingerprint(project, monkeypatch, variable):
    """A narrower cookie or event key (macros/event_key.sql) changes every stored key, so
    the models must be rebuilt; the default width is the fingerprint without the variable."""
    monkeypatch.delenv(variable, raising=False)
    default = pipeline.project_fingerprint()
    monkeypatch.setenv(variable, "64")
    assert pipeline.project_fingerprint() == default
    monkeypatch.setenv(variable, "2")
    assert pipeline.project_fingerprint() != default

"""Fixtures for the DAG tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dags.dag_support import prepare_airflow_home


@pytest.fixture(scope="session")
def airflow_template(tmp_path_factory) -> Path:
    """An Airflow home with a migrated DB and the DAGs serialised, done once per session;
    each scenario copies it."""
    return prepare_airflow_home(tmp_path_factory.mktemp("airflow-template"))

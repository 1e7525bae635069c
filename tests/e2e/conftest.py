from __future__ import annotations

import pytest

from tests.conftest import read_marts, webfunnel
from tests.e2e import handmade


@pytest.fixture(scope="session")
def handmade_reference(tmp_path_factory):
    """The hand-made landing set and the marts of one full run over all of it."""
    root = tmp_path_factory.mktemp("reference")
    handmade.build(root / "landing")
    warehouse = root / "warehouse.duckdb"
    webfunnel("run", "--quiet", "--landing", str(root / "landing"), "--warehouse", str(warehouse))
    return root / "landing", read_marts(warehouse)

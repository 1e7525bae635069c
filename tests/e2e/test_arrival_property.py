"""Property: however the landed files arrive — spread over several runs, late into hours
already processed, redelivered under another name — the final marts equal one full run."""

from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import read_marts, webfunnel


def _files(landing: Path) -> list[Path]:
    return sorted(path.relative_to(landing) for path in landing.rglob("*.parquet"))


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_arrival_order_gives_the_full_run_marts(data, handmade_reference, tmp_path_factory):
    landing_source, expected = handmade_reference
    files = _files(landing_source)
    runs = data.draw(st.integers(min_value=2, max_value=3), label="runs")
    arrival = data.draw(
        st.lists(st.integers(0, runs - 1), min_size=len(files), max_size=len(files)),
        label="arrival run of each file",
    )
    redelivered = data.draw(st.sets(st.sampled_from(files), max_size=3), label="redelivered")
    root = tmp_path_factory.mktemp("arrival")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    landing.mkdir()
    for step in range(runs):
        for file, when in zip(files, arrival, strict=True):
            if when == step:
                (landing / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(landing_source / file, landing / file)
                if file in redelivered:
                    copy = (landing / file).with_name("redelivered-" + file.name)
                    shutil.copy2(landing_source / file, copy)
        webfunnel("run", "--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    assert read_marts(warehouse) == expected

"""`dbt docs generate` works, every mart column a BI user sees is described, and the
dashboard is an exposure over the marts it reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).parent / "dbt")


def test_docs_generate_describes_every_mart_column(handmade_reference, tmp_path):
    landing, _ = handmade_reference
    warehouse = landing.parent / "warehouse.duckdb"
    target = tmp_path / "target"
    env = {**os.environ, "WEBFUNNEL_WAREHOUSE": str(warehouse)}
    env.pop("WEBFUNNEL_WORK_DB", None)
    result = subprocess.run(
        [DBT, "docs", "generate", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
         "--target-path", str(target), "--log-path", str(tmp_path / "logs")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    marts = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }
    assert set(marts) == {
        "visitors", "pageviews", "sessions", "funnel_daily", "channel_attribution",
        "retention_weekly", "accounts", "traffic_hourly",
    }  # fmt: skip
    for name, node in marts.items():
        assert node["description"], name
        built_columns = catalog["nodes"][node["unique_id"]]["columns"]
        for column in built_columns:
            described = node["columns"].get(column, {}).get("description")
            assert described, f"marts.{name}.{column} has no description"
    exposure = manifest["exposures"]["exposure.webfunnel.webfunnel_dashboard"]
    assert {ref.split(".")[-1] for ref in exposure["depends_on"]["nodes"]} == set(marts)

"""Running dbt in-process (dbt's programmatic runner), against the working database."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from ingest.config import PROJECT_ROOT, Paths


@dataclass
class DbtResult:
    success: bool
    models_built: int = 0
    tests_passed: int = 0
    failures: list[str] = field(default_factory=list)


def dbt_args(command: str, paths: Paths, *extra: str) -> list[str]:
    return [
        command,
        "--project-dir",
        str(PROJECT_ROOT),
        "--profiles-dir",
        str(PROJECT_ROOT),
        "--log-path",
        str(paths.dbt_log_dir),
        # a target folder per warehouse keeps dbt's partial parsing valid between runs
        "--target-path",
        str(paths.dbt_target_dir),
        # dbt would write manifest.json twice (after parsing and after the build) and
        # run_results.json: about 0.5 s of an hourly run, mostly serialising the manifest,
        # which nothing here reads. run_dbt writes run_results.json itself.
        "--no-write-json",
        *extra,
    ]


def _import_dbt():
    """dbt's runner class, imported on first use: dbt's import is slow.

    mashumaro, dbt's serialisation library, compiles a dataclass's (de)serialisers when the
    class is defined unless its config says ``lazy_compilation``. dbt's base class says so;
    mashumaro's own JSON-schema models and about seventy generated classes dbt imports do
    not (about 0.4 s of compiling, measured inside the import). Making lazy compilation the
    default compiles each on its first use, if any: the median of five imports of dbt went
    from 4.25 to 3.39 s. It has no effect once dbt is imported, and changes no result."""
    import mashumaro.config

    mashumaro.config.BaseConfig.lazy_compilation = True
    from dbt.cli.main import dbtRunner

    return dbtRunner


def run_dbt(
    command: str, paths: Paths, *extra: str, quiet: bool = False, test_scope: str = "all"
) -> DbtResult:
    """Invoke dbt with the profile pointed at this pipeline's working database.

    ``test_scope="changed"`` confines the data tests of the large incremental models to the
    keys this build recomputes (``macros/test_scope.sql``)."""
    dbt_runner = _import_dbt()
    paths.export_env()
    os.environ["WEBFUNNEL_TEST_SCOPE"] = test_scope
    paths.dbt_log_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    args = dbt_args(command, paths, *extra)
    if quiet:
        args.insert(0, "--quiet")
    outcome = dbt_runner().invoke(args)
    if hasattr(outcome.result, "write"):
        # each node's status, timing and compiled SQL, as dbt writes it without
        # --no-write-json: what an on-call engineer reads after a failed or slow build
        outcome.result.write(str(paths.dbt_target_dir / "run_results.json"))
    result = DbtResult(success=bool(outcome.success))
    run_results = getattr(outcome.result, "results", None) or []
    for node_result in run_results:
        status = str(getattr(node_result, "status", ""))
        node = getattr(node_result, "node", None)
        resource_type = str(getattr(node, "resource_type", ""))
        if status in ("success", "pass") and resource_type.endswith("model"):
            result.models_built += 1
        elif status == "pass":
            result.tests_passed += 1
        elif status in ("error", "fail", "runtime error"):
            name = getattr(node, "unique_id", "?")
            message = (getattr(node_result, "message", "") or "").splitlines()
            result.failures.append(f"{name}: {message[0] if message else status}")
    if outcome.exception is not None:
        result.failures.append(f"dbt: {str(outcome.exception).splitlines()[0]}")
    return result


def close_dbt_database() -> None:
    """Close the working database dbt-duckdb keeps open until the interpreter exits (its
    ``atexit`` hook), now. Closing it checkpoints what the build's commits left in the
    write-ahead log (all of them: profiles.yml sets ``checkpoint_threshold`` above an hourly
    build's writes); called after the publish, that checkpoint
    overlaps the removal of the displaced published file (``NextFile.swap_in``) instead of
    following it. Nothing when dbt was not run in this process."""
    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    if connections is not None:
        connections.DuckDBConnectionManager.close_all_connections()

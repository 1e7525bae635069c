"""Running dbt in-process (dbt's programmatic runner), against the working database."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from ingest.config import PROJECT_ROOT, Paths

# dbt reads these from the environment, and each changes what a build builds or what its
# models read: `--empty` (every ref and source limited to no rows), `--sample`, event-time
# bounds, a resource-type filter, a file diff that finds no project files, deferral to
# another state, another target or profile, a full refresh. With one of them set (by an
# engineer trying something, in the shell or the worker's environment) a pipeline build could
# succeed without taking in the new batches, and the ledger would count them as built: they
# would be missing from the marts until a full refresh. The pipeline decides these itself
# (a full refresh when the logic changed, a backfill's window), so its builds ignore them.
BUILD_CHANGING_DBT_ENV = (
    "DBT_EMPTY",
    "DBT_SAMPLE",
    "DBT_EVENT_TIME_START",
    "DBT_EVENT_TIME_END",
    "DBT_RESOURCE_TYPES",
    "DBT_EXCLUDE_RESOURCE_TYPES",
    "DBT_PARTIAL_PARSE_FILE_DIFF",
    "DBT_DEFER",
    "DBT_DEFER_STATE",
    "DBT_FAVOR_STATE",
    "DBT_STATE",
    "DBT_TARGET",
    "DBT_PROFILE",
    "DBT_FULL_REFRESH",
)


def build_changing_env(environ: Mapping[str, str]) -> list[str]:
    """The names of ``BUILD_CHANGING_DBT_ENV`` that ``environ`` has, sorted."""
    return sorted(name for name in BUILD_CHANGING_DBT_ENV if name in environ)


def without_build_changing_env(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """``environ`` without ``BUILD_CHANGING_DBT_ENV``, and the names it had of them."""
    ignored = build_changing_env(environ)
    return {k: v for k, v in environ.items() if k not in ignored}, ignored


def warn_ignored(ignored: list[str]) -> None:
    if ignored:
        print(
            f"webfunnel: ignoring {', '.join(ignored)} from the environment: the pipeline's "
            "dbt builds always build every model over all the new batches",
            file=sys.stderr,
        )


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
    # dbt reads os.environ itself, in this process: the pipeline's
    ignored = build_changing_env(os.environ)
    warn_ignored(ignored)
    for name in ignored:
        del os.environ[name]
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
    if command == "build" and result.success and result.models_built == 0:
        # a pipeline build selects every model: one that ran none took in nothing, and
        # must not be recorded as having built the new batches
        result.success = False
        result.failures.append("dbt: the build ran no models (dbt found none to run: see its log)")
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

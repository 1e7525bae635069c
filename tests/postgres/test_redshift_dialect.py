"""Every model compiled for the ``redshift`` target parses under sqlfluff's Redshift dialect.

Redshift cannot run here, so its SQL is checked statically. ``dbt compile --target redshift
--no-populate-cache`` needs no connection (nothing in the project introspects the database),
so the models are rendered with the real dbt-redshift adapter and the ``redshift__`` macro
variants. On top of the parse, two Redshift rules that the parser does not know are checked:
a window with ORDER BY needs an explicit frame for aggregate and FIRST/LAST_VALUE functions,
and the large marts carry their dist and sort keys.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).parent / "dbt"
FRAMED = ("sum", "count", "avg", "min", "max", "first_value", "last_value", "listagg")


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both branches of the incremental models: the full refresh here, the incremental
    branch in ``compiled/incremental``."""
    try:
        import dbt.adapters.redshift  # noqa: F401
    except ImportError:
        _missing("dbt-redshift is not installed: pip install -e '.[dev]' (it is a dev extra)")
    target_path = tmp_path_factory.mktemp("redshift-target")
    for incremental in (False, True):
        _compile(target_path / "incremental" if incremental else target_path, incremental)
    return target_path


def _compile(target_path: Path, incremental: bool) -> None:
    env = {
        **os.environ,
        "WEBFUNNEL_TARGET": "redshift",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    completed = subprocess.run(
        [
            str(DBT),
            "compile",
            "--no-populate-cache",
            "--project-dir",
            str(REPO),
            "--profiles-dir",
            str(REPO),
            "--target",
            "redshift",
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path / "logs"),
            "--select",
            "resource_type:model",
            "--vars",
            f"{{offline_incremental: {str(incremental).lower()}}}",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]


def _models(compiled: Path) -> list[Path]:
    return _branch(compiled) + _branch(compiled / "incremental")


def _branch(compiled: Path) -> list[Path]:
    root = compiled / "compiled" / "webfunnel" / "models"
    return sorted(path for path in root.rglob("*.sql") if ".yml" not in path.parent.name)


def test_every_model_compiles_for_redshift(compiled: Path) -> None:
    names = {path.stem for path in _models(compiled)}
    expected = {path.stem for path in (REPO / "models").rglob("*.sql")}
    assert names == expected


def test_compiled_models_parse_under_the_redshift_dialect(compiled: Path) -> None:
    from sqlfluff.core import FluffConfig, Linter

    # Redshift's URL decoding is a chain of 130 nested replace() calls (macros/
    # url_query_param.sql): past sqlfluff's default depth guard and Python's recursion limit,
    # not past PostgreSQL's parser, which Redshift's descends from (checked by hand).
    config = FluffConfig(overrides={"dialect": "redshift", "max_parse_depth": 10_000})
    linter = Linter(config=config)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 50_000))
    try:
        problems = _parse_problems(linter, _models(compiled))
    finally:
        sys.setrecursionlimit(limit)
    assert not problems, "\n".join(problems)


def _parse_problems(linter: object, paths: list[Path]) -> list[str]:
    problems = []
    for path in paths:
        parsed = linter.parse_string(path.read_text())  # type: ignore[attr-defined]
        unparsable = list(parsed.tree.recursive_crawl("unparsable")) if parsed.tree else []
        for violation in parsed.violations:
            problems.append(f"{path.name}: {violation.desc()}")
        for segment in unparsable:
            problems.append(f"{path.name}: unparsable {segment.raw[:80]!r}")
    return problems


def _windows(sql: str) -> list[tuple[str, str]]:
    """(function name, window spec) of every ``<function>(...) over (...)``."""
    found = []
    for match in re.finditer(r"(\w+)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s+over\s*\(", sql, re.I):
        depth, start = 1, match.end()
        index = start
        while depth and index < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[index], 0)
            index += 1
        found.append((match.group(1).lower(), sql[start : index - 1].lower()))
    return found


def test_ordered_aggregate_windows_have_a_frame(compiled: Path) -> None:
    """Redshift rejects e.g. ``first_value(x) over (partition by a order by b)``."""
    unframed = [
        f"{path.name}: {function}() over ({' '.join(spec.split())})"
        for path in _models(compiled)
        for function, spec in _windows(path.read_text())
        if function in FRAMED and "order by" in spec and not re.search(r"\b(rows|range)\b", spec)
    ]
    assert not unframed, "\n".join(unframed)


def test_large_marts_have_redshift_dist_and_sort_keys(compiled: Path) -> None:
    manifest = json.loads((compiled / "manifest.json").read_text())
    configs = {
        node["name"]: node["config"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    assert (configs["pageviews"]["dist"], configs["pageviews"]["sort"]) == ("cookie", "created_at")
    assert (configs["sessions"]["dist"], configs["sessions"]["sort"]) == ("cookie", "started_at")
    assert (configs["visitors"]["dist"], configs["visitors"]["sort"]) == ("cookie", "first_seen_at")

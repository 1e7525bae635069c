"""Data-quality gates as Great Expectations suites, on pandas DataFrames.

Two kinds of suite:

* **Batch suites** run on a landed file before it is loaded. They catch a *broken* batch
  (a producer that stopped sending cookies, a file dropped into the wrong hour folder, a
  mangled URL column): such a batch is quarantined whole with the failed expectations as its
  reason. Isolated bad rows are not the batch suites' business: the loader quarantines them
  row by row (CONTRACT §1), so the row rules use ``mostly=BATCH_TOLERANCE``.
* **Mart suites** run on the published marts: rates within [0, 1], funnel stages
  non-increasing, attribution credit conserved, retention week 0 equal to the cohort size.

Great Expectations 1.x has no DuckDB data source, so everything is validated as a DataFrame
in an ephemeral context. Results are plain dicts (JSON-serialisable) for the caller to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ingest.sources import SOURCES, TIMESTAMP

# a row rule fails a whole batch only when more than half of its rows break it
BATCH_TOLERANCE = 0.5
URL_PATTERN = r"^https?://[^/?#\s]+"
EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\s*$"
ATTRIBUTION_TOLERANCE = 1e-6


@dataclass
class SuiteResult:
    """The outcome of one suite on one target (a batch path or a mart)."""

    suite: str
    target: str
    success: bool
    evaluated: int = 0
    failures: list[str] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return f"failed expectations ({self.suite}): " + "; ".join(self.failures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "target": self.target,
            "success": self.success,
            "evaluated": self.evaluated,
            "failures": self.failures,
            "details": self.details,
        }


class _Validator:
    """One ephemeral GX context, reused for every DataFrame a task validates."""

    def __init__(self) -> None:
        import great_expectations as gx  # imported late: GX's import takes seconds

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        try:  # no progress bars in task logs
            self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        except Exception:  # noqa: BLE001 - cosmetic only
            pass
        source = self.context.data_sources.add_pandas("webfunnel")
        self.definition = source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe(
            "whole"
        )

    def run(self, suite_name: str, target: str, frame: pd.DataFrame, expectations) -> SuiteResult:
        suite = self.gx.ExpectationSuite(name=suite_name)
        for expectation in expectations:
            suite.add_expectation(expectation)
        batch = self.definition.get_batch(batch_parameters={"dataframe": frame})
        outcome = batch.validate(suite)
        result = SuiteResult(suite=suite_name, target=target, success=bool(outcome.success))
        for item in outcome.results:
            result.evaluated += 1
            config = item.expectation_config
            summary = _describe(config.type, dict(config.kwargs), dict(item.result or {}))
            result.details.append(
                {"expectation": config.type, "success": bool(item.success), "summary": summary}
            )
            if not item.success:
                result.failures.append(summary)
        return result


_validator: _Validator | None = None


def _get_validator() -> _Validator:
    global _validator
    if _validator is None:
        _validator = _Validator()
    return _validator


def _describe(kind: str, kwargs: dict[str, Any], result: dict[str, Any]) -> str:
    """A one-line, human explanation of an expectation outcome."""
    target = kwargs.get("column") or (
        f"{kwargs.get('column_A')} vs {kwargs.get('column_B')}" if "column_A" in kwargs else ""
    )
    text = f"{kind}({target})" if target else kind
    if result.get("unexpected_percent") is not None:
        text += f": {result['unexpected_percent']:.1f}% unexpected"
        sample = result.get("partial_unexpected_list") or []
        if sample:
            text += f", e.g. {', '.join(str(value) for value in sample[:3])}"
    details = result.get("details") or {}
    mismatched = details.get("mismatched") if isinstance(details, dict) else None
    if isinstance(mismatched, dict) and mismatched.get("missing"):
        text += ": missing " + ", ".join(map(str, mismatched["missing"]))
    return text


def _utc_naive(series: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (text, tz-aware or naive in; unparseable become NaT)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:
            return series.dt.tz_convert("UTC").dt.tz_localize(None)
        return series
    parsed = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
    return parsed.dt.tz_localize(None)


def batch_expectations(source_name: str, partition_at: datetime | None):
    """The suite for a landed batch of ``source_name`` (CONTRACT §1)."""
    import great_expectations as gx

    expect = gx.expectations
    source = SOURCES[source_name]
    items: list[Any] = [
        expect.ExpectTableColumnsToMatchSet(column_set=source.column_names, exact_match=False)
    ]
    for name in source.required_strings:
        items.append(expect.ExpectColumnValuesToNotBeNull(column=name, mostly=BATCH_TOLERANCE))
    items.append(
        expect.ExpectColumnValuesToNotBeNull(column=source.event_time, mostly=BATCH_TOLERANCE)
    )
    if source.event_time_in_partition and partition_at is not None:
        items.append(
            expect.ExpectColumnValuesToBeBetween(
                column=source.event_time,
                min_value=partition_at,
                max_value=partition_at + pd.Timedelta(hours=1),
                strict_max=True,
                mostly=BATCH_TOLERANCE,
            )
        )
    if "url" in source.column_names:
        items.append(
            expect.ExpectColumnValuesToMatchRegex(
                column="url", regex=URL_PATTERN, mostly=BATCH_TOLERANCE
            )
        )
    if "email" in source.column_names:
        items.append(
            expect.ExpectColumnValuesToMatchRegex(
                column="email", regex=EMAIL_PATTERN, mostly=BATCH_TOLERANCE
            )
        )
    return items


def prepare_batch_frame(source_name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Empty strings count as missing; timestamps become naive UTC for range checks."""
    source = SOURCES[source_name]
    frame = frame.copy()
    for name, kind in source.columns:
        if name not in frame.columns:
            continue
        if kind == TIMESTAMP:
            frame[name] = _utc_naive(frame[name])
        else:
            column = frame[name].astype("object")
            blank = column.map(lambda value: isinstance(value, str) and value.strip() == "")
            frame[name] = column.mask(blank, None)
    return frame


def validate_batch_file(
    source_name: str, path: Path, relative: str, partition_at: datetime | None
) -> SuiteResult | None:
    """Validate one landed Parquet file; None when it cannot be read as Parquet at all
    (the loader then rejects it, or retries it if it is still being written)."""
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(path).to_pandas()
    except Exception:  # noqa: BLE001 - unreadable files are the loader's to classify
        return None
    frame = prepare_batch_frame(source_name, frame)
    return _get_validator().run(
        f"landing_{source_name}", relative, frame, batch_expectations(source_name, partition_at)
    )


# ---------------------------------------------------------------------------- marts


def _mart_frames(warehouse: Path) -> dict[str, pd.DataFrame]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "funnel_daily": con.execute("select * from marts.funnel_daily").df(),
            "retention_weekly": con.execute("select * from marts.retention_weekly").df(),
            # credited conversions per model and stage beside the conversions that happened
            "attribution_totals": con.execute(
                """
                with credited as (
                    select attribution_model, conversion_stage, sum(conversions) as credited
                    from marts.channel_attribution
                    group by attribution_model, conversion_stage
                ),
                happened as (
                    select 'signup' as conversion_stage,
                        count(distinct person_id) filter (where signed_up_at is not null) as n
                    from marts.visitors
                    union all
                    select 'demo', count(distinct person_id) filter (where demo_at is not null)
                    from marts.visitors
                    union all
                    select 'trial', count(distinct person_id) filter (where trial_at is not null)
                    from marts.visitors
                    union all
                    select 'customer',
                        count(distinct person_id) filter (where customer_at is not null)
                    from marts.visitors
                )
                select credited.attribution_model, credited.conversion_stage,
                    credited.credited, coalesce(happened.n, 0) as conversions,
                    credited.credited - coalesce(happened.n, 0) as difference
                from credited
                left join happened using (conversion_stage)
                order by 1, 2
                """
            ).df(),
        }
    finally:
        con.close()


def check_marts(warehouse: Path) -> list[SuiteResult]:
    """Run the mart suites on the published warehouse (opened read-only)."""
    import great_expectations as gx

    expect = gx.expectations
    frames = _mart_frames(warehouse)
    validator = _get_validator()
    results = []

    funnel = frames["funnel_daily"]
    results.append(
        validator.run(
            "marts_funnel_daily",
            "marts.funnel_daily",
            funnel,
            [
                expect.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=upper, column_B=lower, or_equal=True
                )
                # stages are counted independently (CONTRACT §2): every later stage is a
                # signed-up person, but a customer need not have a trial date
                for upper, lower in (
                    ("visitors", "signups"),
                    ("signups", "demos"),
                    ("signups", "trials"),
                    ("signups", "customers"),
                )
            ]
            + [
                expect.ExpectColumnValuesToBeBetween(column=name, min_value=0)
                for name in ("visitors", "signups", "demos", "trials", "customers")
            ],
        )
    )

    retention = frames["retention_weekly"]
    week0 = retention[
        (retention["cohort_type"] == "visitor") & (retention["weeks_since"] == 0)
    ].reset_index(drop=True)
    results.append(
        validator.run(
            "marts_retention_weekly",
            "marts.retention_weekly",
            retention,
            [
                expect.ExpectColumnValuesToBeBetween(
                    column="retention_rate", min_value=0, max_value=1
                ),
                expect.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="cohort_size", column_B="active", or_equal=True
                ),
            ],
        )
    )
    results.append(
        validator.run(
            "marts_retention_week0",
            "marts.retention_weekly (visitor cohorts, week 0)",
            week0,
            [expect.ExpectColumnPairValuesToBeEqual(column_A="active", column_B="cohort_size")],
        )
    )

    totals = frames["attribution_totals"]
    attribution = [
        expect.ExpectColumnValuesToBeBetween(
            column="difference",
            min_value=-ATTRIBUTION_TOLERANCE,
            max_value=ATTRIBUTION_TOLERANCE,
        )
    ]
    if len(totals):  # no conversions yet: nothing to credit, no model to expect
        attribution.append(
            expect.ExpectColumnDistinctValuesToContainSet(
                column="attribution_model",
                value_set=["first_touch", "last_touch", "linear", "position_based"],
            )
        )
    results.append(
        validator.run(
            "marts_attribution_conserved", "marts.channel_attribution", totals, attribution
        )
    )
    return results

"""A short summary read from the published marts (the end of `make demo`)."""

from __future__ import annotations

from pathlib import Path

from ingest.errors import WebfunnelError, first_line
from ingest.marts_source import open_marts


def print_summary(warehouse: Path, target: str = "duckdb") -> None:
    """Print visitors by channel, the funnel and week-1 retention from the marts of ``target``."""
    source = open_marts(target, warehouse)
    try:
        if not all(
            source.relation_exists("marts", relation)
            for relation in ("funnel_daily", "retention_weekly")
        ):
            raise WebfunnelError(f"{source.label} has no marts yet: run `webfunnel run` first")
        print(f"\nwebfunnel summary ({source.label})\n")
        print("Visitors and signups by first channel")
        rows = source.fetch(
            """
            select first_channel, sum(visitors), sum(signups), sum(customers)
            from marts.funnel_daily group by first_channel order by 2 desc, 1
            """
        )
        print(f"  {'channel':<16}{'visitors':>10}{'signups':>10}{'customers':>11}")
        for channel, visitors, signups, customers in rows:
            print(f"  {channel:<16}{visitors:>10,}{signups:>10,}{customers:>11,}")
        funnel = source.fetch(
            """
            select sum(visitors), sum(signups), sum(demos), sum(trials), sum(customers)
            from marts.funnel_daily
            """
        )[0]
        print("\nFunnel")
        stages = ("visitors", "signups", "demos", "trials", "customers")
        top = funnel[0] or 0
        for stage, value in zip(stages, funnel, strict=True):
            share = f"{(value or 0) / top:7.2%}" if top else "      -"
            print(f"  {stage:<10}{value or 0:>10,} {share}")
        print("\nWeek-1 retention (share of each cohort active in its second week)")
        for cohort_type, cohorts, active, size in source.fetch(
            """
            select cohort_type, count(*), sum(active), sum(cohort_size)
            from marts.retention_weekly where weeks_since = 1
            group by cohort_type order by cohort_type
            """
        ):
            rate = f"{active / size:.1%}" if size else "-"
            print(f"  {cohort_type:<10}{rate:>8}  ({active:,} of {size:,} in {cohorts} cohorts)")
        quarantined = source.fetch("select count(*) from ops.quarantine")[0][0]
        print(f"\n{quarantined:,} rejected files and rows are in ops.quarantine")
    except source.errors as exc:
        raise WebfunnelError(
            f"cannot read the marts from {source.label}: {first_line(exc)}"
        ) from exc
    finally:
        source.close()

"""A short summary read from the published marts (the end of `make demo`)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingest.errors import WebfunnelError


def print_summary(warehouse: Path) -> None:
    if not warehouse.exists():
        raise WebfunnelError(f"no warehouse at {warehouse}: run `webfunnel run` first")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        print(f"\nwebfunnel summary ({warehouse})\n")
        print("Visitors and signups by first channel")
        rows = con.execute(
            """
            select first_channel, sum(visitors), sum(signups), sum(customers)
            from marts.funnel_daily group by 1 order by 2 desc, 1
            """
        ).fetchall()
        print(f"  {'channel':<16}{'visitors':>10}{'signups':>10}{'customers':>11}")
        for channel, visitors, signups, customers in rows:
            print(f"  {channel:<16}{visitors:>10,}{signups:>10,}{customers:>11,}")
        funnel = con.execute(
            """
            select sum(visitors), sum(signups), sum(demos), sum(trials), sum(customers)
            from marts.funnel_daily
            """
        ).fetchone()
        print("\nFunnel")
        stages = ("visitors", "signups", "demos", "trials", "customers")
        top = funnel[0] or 0
        for stage, value in zip(stages, funnel, strict=True):
            share = f"{(value or 0) / top:7.2%}" if top else "      -"
            print(f"  {stage:<10}{value or 0:>10,} {share}")
        print("\nWeek-1 retention (share of each cohort active in its second week)")
        for cohort_type, cohorts, active, size in con.execute(
            """
            select cohort_type, count(*), sum(active), sum(cohort_size)
            from marts.retention_weekly where weeks_since = 1
            group by cohort_type order by cohort_type
            """
        ).fetchall():
            rate = f"{active / size:.1%}" if size else "-"
            print(f"  {cohort_type:<10}{rate:>8}  ({active:,} of {size:,} in {cohorts} cohorts)")
        quarantined = con.execute("select count(*) from ops.quarantine").fetchone()[0]
        print(f"\n{quarantined:,} rejected files and rows are in ops.quarantine")
    except duckdb.CatalogException as exc:
        raise WebfunnelError(f"{warehouse} has no marts yet: run `webfunnel run` first") from exc
    finally:
        con.close()

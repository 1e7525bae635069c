"""`make bench`: whole-process wall times of the pipeline on a large generated history.

Prints, never asserts:
- full build throughput (pings/s) and its ratio to a bare DuckDB floor query that reads the
  same pings and computes the 30-minute session split;
- the time of an hourly run adding one hour of typical volume, its ratio to the full build,
  and its growth when the history doubles;
- peak memory (max RSS of the pipeline processes).

Scale with BENCH_VISITORS (default 1,500,000 visitors over 14 days: about 20 million pings).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("BENCH_DIR", ROOT / "data" / "bench"))
VISITORS = int(os.environ.get("BENCH_VISITORS", "1500000"))
DAYS = 14
START = date(2026, 9, 7)
WEBFUNNEL = str(Path(sys.executable).parent / "webfunnel")


def sh(*args: str) -> float:
    started = time.monotonic()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024


def generate(out: Path, start: date, days: int, visitors: int, seed: int) -> None:
    if not out.exists():
        print(f"generating {visitors:,} visitors over {days} days into {out} ...", flush=True)
        sh(WEBFUNNEL, "generate", "--out", str(out), "--start", start.isoformat(),
           "--days", str(days), "--visitors", str(visitors), "--seed", str(seed))  # fmt: skip


def count_pings(landing: Path) -> int:
    con = duckdb.connect()
    pattern = str(landing / "pings" / "*" / "*" / "part-*.parquet")
    return con.execute(f"select count(*) from read_parquet('{pattern}')").fetchone()[0]


def floor_query(landing: Path) -> float:
    """The least any correct pipeline must do: read the pings, split sessions."""
    started = time.monotonic()
    con = duckdb.connect()
    pattern = str(landing / "pings" / "*" / "*" / "part-*.parquet")
    con.execute(
        f"""
        select count(*), sum(is_start) from (
            select case when lag(created_at) over (partition by cookie order by created_at)
                    >= created_at - interval 30 minute then 0 else 1 end as is_start
            from read_parquet('{pattern}', union_by_name = true)
        )
        """
    ).fetchone()
    return time.monotonic() - started


def one_hour(source_landing: Path, target_landing: Path, hour: str) -> None:
    """Land the files of one hour of another generated history (new visitors, same volume)."""
    day, hh = hour.split("T")
    for source in ("pings", "signups", "accounts"):
        folder = source_landing / source / f"date={day}" / f"hour={hh}"
        if folder.is_dir():
            destination = target_landing / source / f"date={day}" / f"hour={hh}"
            destination.mkdir(parents=True, exist_ok=True)
            for file in folder.glob("part-*.parquet"):
                shutil.copy2(file, destination / ("hourly-" + file.name))


def measure(label: str, history_days: int) -> dict[str, float]:
    landing = WORK / f"landing-{history_days}d"
    generate(landing, START, history_days, VISITORS * history_days // DAYS, seed=11)
    next_day = START + timedelta(days=history_days)
    extra = WORK / f"extra-{next_day.isoformat()}"
    generate(extra, next_day, 1, VISITORS // DAYS, seed=12)
    run_dir = WORK / f"run-{history_days}d"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    run_landing = run_dir / "landing"
    shutil.copytree(landing, run_landing)
    warehouse = run_dir / "warehouse.duckdb"
    pings = count_pings(run_landing)
    full = sh(WEBFUNNEL, "run", "--quiet", "--landing", str(run_landing),
              "--warehouse", str(warehouse))  # fmt: skip
    one_hour(extra, run_landing, f"{next_day.isoformat()}T14")
    hourly = sh(WEBFUNNEL, "run", "--quiet", "--landing", str(run_landing),
                "--warehouse", str(warehouse))  # fmt: skip
    result = {"pings": pings, "full": full, "hourly": hourly}
    print(
        f"[{label}] {pings:,} pings: full build {full:.1f}s ({pings / full:,.0f} pings/s), "
        f"hourly run {hourly:.1f}s (full/hourly = {full / hourly:.1f}x)",
        flush=True,
    )
    return result


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    base = measure("14 days", DAYS)
    floor = floor_query(WORK / f"landing-{DAYS}d")
    print(
        f"floor (bare DuckDB read + 30-minute session split): {floor:.1f}s = "
        f"{base['pings'] / floor:,.0f} pings/s; full build / floor = {base['full'] / floor:.1f}x",
        flush=True,
    )
    doubled = measure("28 days", 2 * DAYS)
    print(
        f"hourly run growth when the history doubles: "
        f"{doubled['hourly'] / base['hourly']:.2f}x (target <= 1.3x)"
    )
    print(f"peak memory of the pipeline processes: {peak_rss_gib():.2f} GiB (target < 4 GiB)")


if __name__ == "__main__":
    main()

"""`make bench`: whole-process wall times of the pipeline on a large generated history.

Prints, never asserts:
- full build throughput (pings/s) and its ratio to a bare DuckDB floor query that reads the
  same pings and computes the 30-minute session split;
- the time of an hourly run adding one hour of typical volume (three successive hours, the
  median reported), its ratio to the full build, and its growth when the history doubles;
- the fixed cost: the same hourly run on a small history (3,000 visitors), which no hourly
  run can go below, and the growth of what the large runs take beyond it;
- peak memory: the largest maximum RSS of the pipeline processes (``webfunnel run``; the
  generator and the floor query are not counted).

Scale with BENCH_VISITORS (default 1,500,000 visitors over 14 days: about 20 million pings).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("BENCH_DIR", ROOT / "data" / "bench"))
VISITORS = int(os.environ.get("BENCH_VISITORS", "1500000"))
SMALL_VISITORS = int(os.environ.get("BENCH_SMALL_VISITORS", "3000"))  # the fixed-cost history
DAYS = 14
START = date(2026, 9, 7)
WEBFUNNEL = str(Path(sys.executable).parent / "webfunnel")


PEAK_RSS_KIB = [0]  # the largest maximum RSS of a measured pipeline process
HOURS = ("14", "15", "16")  # the hours landed one by one after the full build


def sh(*args: str, measured: bool = False) -> float:
    """Run a command to completion; its wall time. ``measured`` processes count towards the
    peak memory (``wait4`` gives each child's own maximum RSS)."""
    started = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, args)
    if measured:
        PEAK_RSS_KIB[0] = max(PEAK_RSS_KIB[0], usage.ru_maxrss)
    return elapsed


def peak_rss_gib() -> float:
    return PEAK_RSS_KIB[0] / 1024 / 1024


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


def measure(label: str, periods: int, visitors: int = VISITORS) -> dict[str, float]:
    """A history of ``periods`` successive 14-day periods of the same traffic (the first
    period is the same in every measure, later ones are new visitors), a full build, then
    hourly runs. With ``SMALL_VISITORS``, the hourly runs are the fixed cost: dbt's import
    and start-up and the per-node work of every model and test, which no run goes below."""
    suffix = "" if visitors == VISITORS else "-small"
    landings = []
    for period in range(periods):
        landing = WORK / (f"landing-{DAYS}d" + (f"-{period}" if period else "") + suffix)
        seed = 100 + period if period else 11  # not the extra hour's seed: other visitors
        generate(landing, START + timedelta(days=DAYS * period), DAYS, visitors, seed=seed)
        landings.append(landing)
    next_day = START + timedelta(days=DAYS * periods)
    extra = WORK / f"extra-{next_day.isoformat()}{suffix}"
    generate(extra, next_day, 1, max(visitors // DAYS, 1), seed=12)
    run_dir = WORK / f"run-{DAYS * periods}d{suffix}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    run_landing = run_dir / "landing"
    for landing in landings:  # the periods' partitions never overlap
        shutil.copytree(landing, run_landing, dirs_exist_ok=True)
    warehouse = run_dir / "warehouse.duckdb"
    pings = count_pings(run_landing)
    run = (WEBFUNNEL, "run", "--quiet", "--landing", str(run_landing),
           "--warehouse", str(warehouse))  # fmt: skip
    full = sh(*run, measured=True)
    print(
        f"[{label}] {pings:,} pings: full build {full:.1f}s ({pings / full:,.0f} pings/s, "
        "target >= 1,000,000)",
        flush=True,
    )
    hourly_runs = []
    for hour in HOURS:
        one_hour(extra, run_landing, f"{next_day.isoformat()}T{hour}")
        hourly_runs.append(sh(*run, measured=True))
    hourly = statistics.median(hourly_runs)
    print(
        f"[{label}] hourly runs {', '.join(f'{t:.1f}s' for t in hourly_runs)}: median "
        f"{hourly:.1f}s (full/hourly = {full / hourly:.1f}x, target >= 20x)",
        flush=True,
    )
    return {"pings": pings, "full": full, "hourly": hourly}


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    fixed = measure(f"fixed cost, {SMALL_VISITORS:,} visitors", 1, SMALL_VISITORS)["hourly"]
    base = measure("14 days", 1)
    floor = floor_query(WORK / f"landing-{DAYS}d")
    print(
        f"floor (bare DuckDB read + 30-minute session split): {floor:.1f}s = "
        f"{base['pings'] / floor:,.0f} pings/s; full build / floor = {base['full'] / floor:.1f}x",
        flush=True,
    )
    doubled = measure("28 days", 2)
    print(
        f"hourly run growth when the history grows {doubled['pings'] / base['pings']:.2f}x: "
        f"{doubled['hourly'] / base['hourly']:.2f}x (target <= 1.3x for 2x); beyond the fixed "
        f"cost: {base['hourly'] - fixed:.1f}s -> {doubled['hourly'] - fixed:.1f}s = "
        f"{(doubled['hourly'] - fixed) / max(base['hourly'] - fixed, 0.1):.2f}x"
    )
    print(f"peak memory of the pipeline processes: {peak_rss_gib():.2f} GiB (target < 4 GiB)")


if __name__ == "__main__":
    main()

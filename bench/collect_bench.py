"""Collector throughput and latency on loopback (`make bench-collect`). Never fails on timing.

Starts `webfunnel collect` (as `serve()` in a child process) on a free loopback port with a
throw-away landing zone and WAL, then measures:

  1. single-event requests per second (closed loop, many keep-alive connections),
  2. p50/p99 latency at half the single-event peak (open loop at a fixed rate; latency counts
     from each request's scheduled time, so queueing is not hidden),
  3. events per second with batched beacons (BATCH events per request),

each phase starting once the collector is quiet (the logs the previous phase filled rolled),

and finally checks that every acknowledged event reached the landing zone exactly once.
The load generator is `wrk` when installed (Debian package `wrk`; C, cheap on the CPU we
share with the server), else the bundled asyncio one. Every phase is bounded in requests and
seconds. "collector CPU" is the CPU time the collector processes spent per request or event,
a figure that stays meaningful when other work shares the machine. Options: --workers N
(default 2), --seconds S (default 5), --latency-seconds S (default 150: at half load a 64 MB
log segment fills and is rolled within it, so its CPU is in the figure), --connections N
(default 128), --python-client, and
--no-fsync (measures the HTTP path alone; NOT how the collector runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.collect.loadgen import post, run_load  # noqa: E402

SITE = "https://www.example.com"
COOKIE = "wf_vid=0123456789abcdef0123456789abcdef"
BATCH = 100
TARGETS = {"single": 10_000, "batched": 100_000, "p99_ms": 20}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(port: int, landing: str, wal: str, workers: int, fsync: bool) -> None:
    from ingest.collect.serve import serve

    serve(
        "127.0.0.1", port, Path(landing), Path(wal), ["*"],
        workers=workers, log_level="warning", fsync=fsync,
    )  # fmt: skip


def wait_healthy(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("collector did not start")


def wait_quiet(root: int, limit_s: float = 60.0) -> None:
    """Until the collector uses under 5% of a CPU over half a second (or `limit_s`)."""
    deadline = time.monotonic() + limit_s
    before = cpu_seconds(root)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(root)
        if now - before < 0.025:
            return
        before = now


def landed_files(landing: Path) -> int:
    return sum(1 for path in landing.rglob("*.parquet") if not path.name.startswith("."))


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of the collector: the root process and all its descendants
    (the workers, and the processes in which they roll their logs)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parent:
            ancestor = parent[ancestor]
        if ancestor == root:
            total += seconds
    return total


def fsync_latency(directory: Path) -> tuple[float, float]:
    path = directory / ".fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    times = []
    for _ in range(40):
        t = time.perf_counter()
        os.write(fd, b"x" * 8192)
        os.fdatasync(fd)
        times.append(time.perf_counter() - t)
    os.close(fd)
    path.unlink()
    times.sort()
    return times[20] * 1e3, times[-2] * 1e3


WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Origin"] = "%(site)s"
wrk.headers["Cookie"] = "%(cookie)s"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tag", "%(run)s-" .. threads)
end
local n = 0
function request()
  n = n + 1
  local parts = {}
  for j = 1, %(batch)d do
    parts[j] = '{"type":"pageview","event_id":"w' .. tag .. '-' .. n .. '-' .. j ..
      '","url":"%(site)s/pricing?utm_source=bench&n=' .. n .. '","referrer":"https://t.co/x"}'
  end
  local body = parts[1]
  if %(batch)d > 1 then body = "[" .. table.concat(parts, ",") .. "]" end
  return wrk.format(nil, "/collect", nil, body)
end
"""


def wrk_phase(
    port: int,
    batch: int,
    seconds: float,
    connections: int,
    rate: float | None = None,
    hold: float | None = None,
) -> dict:
    """One wrk run, as fast as the server answers; with `rate`, paced to about that total
    (calibrated over `seconds`-long tries, then held for `hold` seconds)."""
    if rate is not None:
        return wrk_paced(port, batch, seconds, min(connections, 32), rate, hold)
    return wrk_run(port, batch, seconds, connections)


def wrk_paced(
    port: int, batch: int, seconds: float, connections: int, rate: float, hold: float | None
) -> dict:
    """wrk has no constant-rate mode: each connection waits `delay` after each answer, so
    1/rate grows about linearly with the delay, 1/rate = (latency + delay) / connections. The
    first try assumes no latency, the second corrects by the latency seen, later ones follow
    the line through the last two tries; up to four tries, and the one closest to `rate` is
    kept. With `hold`, the kept delay then runs `hold` seconds and that run is reported, else
    the kept try is. Its `ok` counts every acknowledged request of every run (all must land)."""
    tries: list[tuple[float, dict]] = []
    delay = connections / rate * 1000
    for _ in range(4):
        result = wrk_run(port, batch, seconds, connections, delay_ms=delay)
        tries.append((delay, result))
        if abs(result["rps"] - rate) <= 0.05 * rate:
            break
        if len(tries) == 1:
            latency = connections / max(result["rps"], 1.0) * 1000 - delay
            delay = connections / rate * 1000 - max(latency, 0.0)
        else:
            (d1, r1), (d2, r2) = ((d, 1 / max(r["rps"], 1.0)) for d, r in tries[-2:])
            slope = (r2 - r1) / (d2 - d1) if d2 != d1 else connections / 1000
            delay = d2 + (1 / rate - r2) / (slope if slope > 0 else connections / 1000)
        delay = max(delay, 0.0)
    best_delay, best = min(tries, key=lambda item: abs(item[1]["rps"] - rate))
    acknowledged = sum(result["ok"] for _, result in tries)
    if hold:
        best = wrk_run(port, batch, hold, connections, delay_ms=best_delay)
        acknowledged += best["ok"]
    return {**best, "ok": acknowledged}


def wrk_run(
    port: int, batch: int, seconds: float, connections: int, delay_ms: float | None = None
) -> dict:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    pace = "" if delay_ms is None else f"\nfunction delay() return {delay_ms:.3f} end\n"
    script.write_text(
        pace
        + WRK_LUA
        % {"site": SITE, "cookie": COOKIE, "batch": batch, "run": f"{batch}-{time.time_ns()}"}
    )
    cmd = [
        "wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
        "--latency", "-s", str(script), f"http://127.0.0.1:{port}/",
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    script.unlink()
    out = run.stdout
    if "requests in" not in out:
        raise SystemExit(f"wrk failed: {run.stdout}{run.stderr}")
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    ok = total - (int(non2xx.group(1)) if non2xx else 0)
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def pct(p: str) -> float:
        value, suffix = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * unit[suffix]

    return {
        "rps": rps * ok / max(total, 1),
        "ok": ok,
        "errors": f"(socket errors: {errors.group(1)})" if errors else "",
        "p50": pct("50"),
        "p99": pct("99"),
    }


def event_body(n: int, batch: int) -> bytes:
    events = [
        {
            "type": "pageview",
            "event_id": f"py-{os.getpid()}-{n}-{j}",
            "url": f"{SITE}/pricing?utm_source=bench&n={n}",
            "referrer": "https://t.co/x",
        }
        for j in range(batch)
    ]
    return json.dumps(events[0] if batch == 1 else events).encode()


def py_phase(
    port: int,
    batch: int,
    seconds: float,
    connections: int,
    rate: float | None = None,
    hold: float | None = None,
) -> dict:
    seconds = hold or seconds
    headers = {"Origin": SITE, "Cookie": COOKIE, "Content-Type": "text/plain"}
    result = asyncio.run(
        run_load(
            "127.0.0.1",
            port,
            lambda n: post("/collect", event_body(n, batch), headers),
            connections=connections,
            total=int((rate or 50_000) * seconds * 1.2) + 1,
            duration=seconds,
            rate=rate,
        )
    )
    return {
        "rps": result.ok / result.elapsed,
        "ok": result.ok,
        "errors": f"({result.failed} failed)" if result.failed else "",
        "p50": result.percentile(50) * 1e3,
        "p99": result.percentile(99) * 1e3,
    }


def count_landed(landing: Path) -> tuple[int, int]:
    import pyarrow.parquet as pq

    ids: list[str] = []
    for path in landing.glob("*/date=*/hour=*/*.parquet"):
        if not path.name.startswith("."):
            ids.extend(pq.read_table(path, columns=["event_id"]).column(0).to_pylist())
    return len(ids), len(set(ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument(
        "--latency-seconds", type=float, default=150,
        help="how long the half-load phase runs (long enough to roll a log segment)",
    )  # fmt: skip
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_client

    data = REPO / "data"
    work = Path(tempfile.mkdtemp(prefix="wf-bench-", dir=data if data.is_dir() else None))
    landing, wal = work / "landing", work / "wal"
    p50, p95 = fsync_latency(work)
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(
        target=_child, args=(port, str(landing), str(wal), args.workers, not args.no_fsync)
    )
    proc.start()
    print(
        f"collector: {args.workers} worker(s), fsync {'off' if args.no_fsync else 'on'}; "
        f"load generator: {'wrk' if use_wrk else 'asyncio'}, {args.connections} connections, "
        f"{args.seconds:g} s per phase; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; fdatasync on this disk p50 {p50:.2f} ms, p95 {p95:.2f} ms"
    )
    phase = wrk_phase if use_wrk else py_phase
    try:
        wait_healthy(port)
        cpu = cpu_seconds(proc.pid)
        single = phase(port, 1, args.seconds, args.connections)
        single["cpu_us"] = (cpu_seconds(proc.pid) - cpu) * 1e6 / max(single["ok"], 1)
        # each phase starts from a quiet collector: the logs a phase filled are rolled in
        # the background, and a backlog of rolls would tax the next phase's CPU
        wait_quiet(proc.pid)
        half = single["rps"] / 2
        files_before = landed_files(landing)
        latency = phase(
            port, 1, args.seconds, args.connections, rate=half, hold=args.latency_seconds
        )
        rolled_during = landed_files(landing) - files_before
        wait_quiet(proc.pid)
        cpu = cpu_seconds(proc.pid)
        batched = phase(port, BATCH, args.seconds, max(8, args.connections // 4))
        batched["cpu_us"] = (cpu_seconds(proc.pid) - cpu) * 1e6 / max(batched["ok"] * BATCH, 1)
        acked = single["ok"] + batched["ok"] * BATCH + latency["ok"]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.join(60)
    from ingest.collect.roll import roll

    roll(wal, landing)
    rows, unique = count_landed(landing)

    def vs(value: float, target: float) -> str:
        return f"{value / target:.0%} of target {target:,}"

    events = batched["rps"] * BATCH
    rps = single["rps"]
    print(
        f"single-event requests/s : {rps:>9,.0f}  ({vs(rps, TARGETS['single'])})"
        f"; collector CPU {single['cpu_us']:.0f} us/request {single['errors']}"
    )
    print(
        f"events/s, batches of {BATCH}: {events:>9,.0f}  ({vs(events, TARGETS['batched'])})"
        f"; collector CPU {batched['cpu_us']:.1f} us/event {batched['errors']}"
    )
    print(
        f"at half load ({half:,.0f} req/s offered, {latency['rps']:,.0f} achieved over "
        f"{args.latency_seconds:g} s): "
        f"p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms"
        f"  (p99 target < {TARGETS['p99_ms']} ms); {rolled_during} file(s) rolled meanwhile "
        f"{latency['errors']}"
    )
    # wrk counts only the answers it read; requests still in flight at its end may land too
    print(
        f"landing zone: {rows:,} rows, {unique:,} distinct event ids, {acked:,} acknowledged"
        f" -> {'OK' if unique >= acked and rows == unique else 'MISMATCH'}"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""SIGKILL under load: every acknowledged event reaches the landing zone exactly once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from ingest.collect.loadgen import post, run_load
from ingest.collect.roll import roll
from tests.collect.collect_support import CollectorProcess, read_landing

SITE = "https://www.example.com"


def load_until_killed(collector: CollectorProcess, kill_after_acks: int) -> tuple[set, set]:
    """Bounded load (32 connections, at most 20,000 requests or 15 s); SIGKILL mid-flight.

    Returns (acknowledged event ids, every event id sent).
    """
    acked: set[str] = set()
    sent: set[str] = set()
    ids_of: dict[int, list[str]] = {}
    killed = False

    def make_request(n: int) -> bytes:
        size = 1 if n % 3 else 5  # single events and small batches
        ids = [f"k{n}-{j}" for j in range(size)]
        body = [
            {"type": "pageview", "event_id": i, "url": f"{SITE}/p/{i}", "referrer": ""} for i in ids
        ]
        if n % 7 == 0:
            body.append({"type": "signup", "event_id": f"s{n}", "email": f"u{n}@x.io"})
            ids.append(f"s{n}")
        ids_of[n] = ids
        sent.update(ids)
        return post("/collect", json.dumps(body).encode(), {"Origin": SITE})

    def on_response(n: int, status: int) -> None:
        nonlocal killed
        if 200 <= status < 300:
            acked.update(ids_of[n])
            if len(acked) >= kill_after_acks and not killed:
                killed = True
                collector.proc.kill()  # SIGKILL, with requests still in flight

    result = asyncio.run(
        run_load(
            "127.0.0.1",
            collector.port,
            make_request,
            connections=32,
            total=20_000,
            duration=15,
            on_response=on_response,
            max_failures=64,  # once it is dead, stop soon
        )
    )
    assert killed, f"the collector was never killed: {result}"
    return acked, sent


def test_sigkill_under_load_loses_and_duplicates_nothing(tmp_path):
    landing, wal_dir = tmp_path / "landing", tmp_path / "wal"
    collector = CollectorProcess(landing, wal_dir, [SITE]).start()
    try:
        acked, sent = load_until_killed(collector, kill_after_acks=3000)
        collector.proc.wait(10)
    finally:
        collector.kill()
    assert len(acked) >= 3000

    # restart on the same WAL: startup recovers the unsealed segment; a graceful stop rolls it
    restarted = CollectorProcess(landing, wal_dir, [SITE], collector.port).start()
    assert restarted.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "recovered 1 unsealed WAL segment" in restarted.log.read_text()
    assert roll(wal_dir, landing).events == 0  # nothing left over

    rows = read_landing(landing, "pings") + read_landing(landing, "signups")
    counts = Counter(r["event_id"] for r in rows)
    assert not acked - counts.keys(), f"{len(acked - counts.keys())} acknowledged events lost"
    assert [e for e, c in counts.items() if c > 1] == []
    assert counts.keys() <= sent  # unacknowledged ones may or may not have made it
    for r in rows:  # each in the partition of its own receive time
        assert (r["_date"], r["_hour"]) == (f"{r['created_at']:%Y-%m-%d}", f"{r['created_at']:%H}")


def test_several_workers_share_the_port_and_each_keeps_its_own_log(tmp_path):
    landing, wal_dir = tmp_path / "landing", tmp_path / "wal"
    collector = CollectorProcess(
        landing, wal_dir, [SITE], None, "--workers", "2", "--instance", "edge1"
    ).start()
    try:
        body = [{"type": "pageview", "event_id": "", "url": f"{SITE}/w", "referrer": ""}]

        def make_request(n: int) -> bytes:
            body[0]["event_id"] = f"w{n}"
            return post("/collect", json.dumps(body).encode(), {"Origin": SITE})

        result = asyncio.run(
            run_load("127.0.0.1", collector.port, make_request, connections=16, total=400,
                     duration=20)
        )  # fmt: skip
        assert result.ok == 400
    finally:
        assert collector.stop() in (0, -15)
    assert sorted(p.name for p in wal_dir.iterdir() if p.is_dir()) == ["w0", "w1"]
    rows = read_landing(landing, "pings")
    assert sorted(r["event_id"] for r in rows) == sorted(f"w{n}" for n in range(400))
    assert {r["_file"].rsplit("-", 1)[0] for r in rows} <= {"edge1-w0", "edge1-w1"}

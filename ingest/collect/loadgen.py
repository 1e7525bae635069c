"""A small bounded HTTP/1.1 load generator for the collector's crash test and benchmark.

Keep-alive connections over asyncio streams, a request budget and a time budget (both always
bounded), closed-loop (as fast as the server answers) or open-loop at a fixed rate, where
latency is measured from each request's scheduled time so a slow server cannot hide its
queueing. Meant for loopback only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    failed: int = 0  # connection errors: no response
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, of 2xx responses
    elapsed: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def post(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def run_load(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    connections: int,
    total: int,
    duration: float,
    rate: float | None = None,
    on_response: Callable[[int, int], None] | None = None,
    max_failures: int = 1000,
) -> LoadResult:
    """Send up to `total` requests within `duration` seconds over `connections` connections.

    `make_request(n)` returns the raw bytes of request number n; `on_response(n, status)` is
    told each answer. With `rate`, request n is scheduled at start + n / rate.
    """
    result = LoadResult()
    next_n = 0
    start = time.perf_counter()
    deadline = start + duration

    def take() -> int | None:
        nonlocal next_n
        if next_n >= total or time.perf_counter() >= deadline or result.failed >= max_failures:
            return None
        n, next_n = next_n, next_n + 1
        return n

    async def connection() -> None:
        reader = writer = None
        while (n := take()) is not None:
            scheduled = time.perf_counter()
            if rate is not None:
                scheduled = start + n / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(make_request(n))
                result.sent += 1
                status = await asyncio.wait_for(_read_response(reader), timeout=10)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                result.failed += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.001)
                continue
            latency = time.perf_counter() - scheduled
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                result.ok += 1
                result.latencies.append(latency)
            if on_response is not None:
                on_response(n, status)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    result.elapsed = time.perf_counter() - start
    return result

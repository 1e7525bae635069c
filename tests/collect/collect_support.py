"""Helpers for the collector tests: a real collector process and reading the landing zone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CollectorProcess:
    """`python -m ingest.collect serve` in a subprocess, on a free loopback port."""

    def __init__(
        self, landing: Path, wal_dir: Path, origins: list[str], port: int | None = None, *extra
    ):
        self.landing, self.wal_dir, self.origins = landing, wal_dir, origins
        self.port = port or free_port()
        self.extra = list(extra)
        self.proc: subprocess.Popen | None = None
        self.log = wal_dir.parent / f"collector-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> CollectorProcess:
        cmd = [
            sys.executable,
            "-m",
            "ingest.collect",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--landing",
            str(self.landing),
            "--wal-dir",
            str(self.wal_dir),
            "--log-level",
            "warning",
            *[a for o in self.origins for a in ("--origin", o)],
            *self.extra,
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.wal_dir.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=logf, stderr=logf)
        # with --workers N, every worker must answer: each request opens a new connection,
        # which the kernel hands to one of the listening workers, so a load started when the
        # first one answered could land on it alone (its keep-alive connections stay there)
        extra = list(self.extra)
        workers = int(extra[extra.index("--workers") + 1]) if "--workers" in extra else 1
        answered: set[str | None] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited: {self.log.read_text()}")
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=1)
                if response.status_code == 200:
                    answered.add(response.json().get("instance"))
                    if len(answered) >= workers:
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"collector did not start: {self.log.read_text()}")

    def healthz(self) -> dict:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM: graceful stop, which seals and rolls the WAL."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def landed_files(landing: Path, source: str) -> list[Path]:
    """The files the loader would read: ``*.parquet`` not starting with a dot."""
    root = landing / source
    if not root.exists():
        return []
    return sorted(p for p in root.glob("date=*/hour=*/*.parquet") if not p.name.startswith("."))


def read_landing(landing: Path, source: str) -> list[dict]:
    """Every landed row of a source, each with the partition it sits in."""
    rows = []
    for path in landed_files(landing, source):
        date = path.parent.parent.name.removeprefix("date=")
        hour = path.parent.name.removeprefix("hour=")
        for row in pq.read_table(path).to_pylist():
            rows.append({**row, "_date": date, "_hour": hour, "_file": path.name})
    return rows

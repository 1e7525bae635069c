"""Running the collector: one uvicorn process, or several workers sharing a port.

Each worker is a separate process with its own WAL (``<wal_dir>/w<N>``) and instance name
(``<instance>-w<N>``); they share the listening port through SO_REUSEPORT and all roll into
the same landing zone. This is the same arrangement as several collector hosts behind a
load balancer, on one machine.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest.argtypes import seconds, whole_number
from ingest.collect.app import CollectorConfig, create_app
from ingest.collect.events import Limits
from ingest.collect.roll import roll
from ingest.collect.wal import WalLocked, instance_name

log = logging.getLogger("webfunnel.collect")


def _socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _run_one(config: CollectorConfig, host: str, port: int, reuse_port: bool, uv: dict) -> None:
    import uvicorn

    sock = _socket(host, port, reuse_port)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            lifespan="on",
            access_log=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=10,
            **uv,
        )
    )
    server.run(sockets=[sock])
    if not server.started:  # the lifespan failed (e.g. WAL locked): say so, exit non-zero
        sys.exit(1)


def _worker_main(config: CollectorConfig, host: str, port: int, uv: dict) -> None:
    logging.basicConfig(level=uv.get("log_level", "info").upper())
    _run_one(config, host, port, True, uv)


def serve(
    host: str,
    port: int,
    landing: Path,
    wal_dir: Path,
    origins: list[str],
    *,
    instance: str | None = None,
    workers: int = 1,
    log_level: str = "info",
    forwarded_allow_ips: str | None = None,
    **options,
) -> None:
    """Run the collector until SIGINT/SIGTERM; then flush, seal and roll the WAL.

    `options` are further CollectorConfig fields (cookie_domain, roll_interval, limits, ...).
    """
    landing, wal_dir = Path(landing), Path(wal_dir)
    # Named rather than "auto", which would quietly fall back to the pure-Python asyncio
    # loop and h11 parser (about twice the CPU per request) if either were missing.
    uv = {"log_level": log_level, "loop": "uvloop", "http": "httptools"}
    if forwarded_allow_ips is not None:
        uv["forwarded_allow_ips"] = forwarded_allow_ips
    if workers <= 1:
        config = CollectorConfig(
            landing=landing, wal_dir=wal_dir, origins=list(origins), instance=instance, **options
        )
        _run_one(config, host, port, False, uv)
        return
    if port == 0:
        raise ValueError("--port 0 cannot be shared by several workers; give a port")
    base = instance_name(wal_dir, instance)
    ctx = multiprocessing.get_context("spawn")

    def start(i: int):
        config = CollectorConfig(
            landing=landing,
            wal_dir=wal_dir / f"w{i}",
            origins=list(origins),
            instance=f"{base}-w{i}",
            **options,
        )
        proc = ctx.Process(target=_worker_main, args=(config, host, port, uv), name=f"w{i}")
        proc.start()
        return proc

    procs = {i: start(i) for i in range(workers)}
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        for p in procs.values():
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    restarts = 0
    try:
        while procs:
            for i, p in list(procs.items()):
                p.join(timeout=0.2)
                if p.is_alive():
                    continue
                del procs[i]
                if not stopping and restarts < 10:  # a worker died: its WAL is recovered
                    log.error("worker w%d exited with %s; restarting it", i, p.exitcode)
                    restarts += 1
                    time.sleep(0.5)
                    procs[i] = start(i)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's


def add_collect_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `webfunnel collect`. Out-of-range numbers are refused
    (``ingest.argtypes``): a zero roll interval would spin the roll thread, no workers or a
    zero body limit start a collector that serves nothing or refuses every event, and a
    port out of range end in a traceback."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=whole_number(1, 65535), default=8787)
    parser.add_argument(
        "--landing",
        type=Path,
        default=Path(os.environ.get("WEBFUNNEL_LANDING", "data/landing")),
        help="landing zone root (default $WEBFUNNEL_LANDING or data/landing)",
    )
    parser.add_argument(
        "--wal-dir",
        type=Path,
        default=Path(os.environ.get("WEBFUNNEL_WAL", "data/wal")),
        help="this instance's write-ahead log (default $WEBFUNNEL_WAL or data/wal)",
    )
    parser.add_argument(
        "--origin",
        action="append",
        default=[],
        dest="origins",
        help="a site origin allowed to send events, e.g. https://www.example.com (repeat; "
        "'*' allows any)",
    )
    parser.add_argument("--instance", help="name in landed files (default: kept in the WAL)")
    parser.add_argument("--workers", type=whole_number(1), default=1)
    parser.add_argument("--cookie-domain")
    parser.add_argument("--roll-interval", type=seconds, default=10.0)
    parser.add_argument("--rotate-seconds", type=seconds, default=None)
    parser.add_argument("--max-body-bytes", type=whole_number(1), default=Limits.max_body_bytes)
    parser.add_argument("--forwarded-allow-ips", help="proxies trusted for X-Forwarded-*")
    parser.add_argument("--log-level", default="info", type=str.lower, choices=LOG_LEVELS)


def run_collect(args: argparse.Namespace) -> int:
    """`webfunnel collect`: serve until stopped. Returns the exit code."""
    try:
        serve(
            args.host,
            args.port,
            args.landing,
            args.wal_dir,
            args.origins,
            instance=args.instance,
            workers=args.workers,
            log_level=args.log_level,
            forwarded_allow_ips=args.forwarded_allow_ips,
            cookie_domain=args.cookie_domain,
            roll_interval=args.roll_interval,
            rotate_seconds=args.rotate_seconds,
            limits=Limits(max_body_bytes=args.max_body_bytes),
        )
    except (WalLocked, ValueError, OSError) as exc:
        print(f"webfunnel collect: {exc}", file=sys.stderr)
        return 1
    return 0


def add_roll_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `webfunnel collect-roll` (roll a WAL into the landing zone now)."""
    parser.add_argument(
        "--wal-dir", type=Path, default=Path(os.environ.get("WEBFUNNEL_WAL", "data/wal"))
    )
    parser.add_argument(
        "--landing", type=Path, default=Path(os.environ.get("WEBFUNNEL_LANDING", "data/landing"))
    )
    parser.add_argument("--upto", help="only segments whose events are all before this UTC time")


def run_roll(args: argparse.Namespace) -> int:
    upto = None
    if args.upto:
        try:
            upto = datetime.fromisoformat(args.upto)
        except ValueError:
            print(
                f"webfunnel collect-roll: --upto {args.upto!r} is not a timestamp", file=sys.stderr
            )
            return 2
        if upto.tzinfo is None:
            upto = upto.replace(tzinfo=UTC)
    if not args.wal_dir.is_dir():  # a mistyped --wal-dir would roll nothing and say so calmly
        print(
            f"webfunnel collect-roll: no write-ahead log folder {args.wal_dir} "
            "(the collector's --wal-dir)",
            file=sys.stderr,
        )
        return 2
    try:
        result = roll(args.wal_dir, args.landing, upto)
    except OSError as exc:
        print(f"webfunnel collect-roll: {exc}", file=sys.stderr)
        return 1
    files = len(result.files)
    print(f"rolled {result.segments} segment(s), {result.events} event(s), {files} file(s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.collect")
    sub = parser.add_subparsers(dest="command", required=True)
    add_collect_arguments(sub.add_parser("serve", help="run the collector"))
    add_roll_arguments(sub.add_parser("roll", help="roll the WAL into the landing zone now"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        logging.basicConfig(level=args.log_level.upper())
        return run_collect(args)
    return run_roll(args)

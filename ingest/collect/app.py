"""The HTTP collector: the tracking snippet, the collection endpoints and their durability.

Request path for an event: check origin and size -> parse and validate -> stamp receive time,
cookie and user agent -> append to the WAL and wait for the group-committed fsync -> 204.
Only then is the event acknowledged; a background task rolls sealed WAL segments into the
landing zone (see roll.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import re
import secrets
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ingest.collect.events import Limits, Rejected, encode_records, parse_body, to_records
from ingest.collect.roll import exit_with_parent, roll_dir
from ingest.collect.wal import Wal, WalBroken, list_segments

log = logging.getLogger("webfunnel.collect")

TWO_YEARS = 2 * 365 * 24 * 3600
COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Sent with every accepted cross-origin answer, beside the echoed Origin.
CORS_CREDENTIALS = ((b"access-control-allow-credentials", b"true"), (b"vary", b"Origin"))
# The smallest transparent GIF: 1x1, one colour, fully transparent.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
SNIPPET = (Path(__file__).with_name("snippet.js")).read_text(encoding="utf-8")


@dataclass
class CollectorConfig:
    """Everything a collector process needs; `serve` and the CLI build one of these."""

    landing: Path
    wal_dir: Path
    origins: list[str] = field(default_factory=list)  # "*" accepts any origin
    instance: str | None = None  # name in landed files; default: kept in the WAL dir
    limits: Limits = field(default_factory=Limits)
    cookie_name: str = "wf_vid"
    cookie_domain: str | None = None  # e.g. ".example.com" to share it across subdomains
    cookie_samesite: str = "Lax"  # "None" for a collector on another site (forces Secure)
    cookie_secure: bool | None = None  # None: Secure when the request came over HTTPS
    allow_missing_origin: bool = True  # requests with neither Origin nor Referer (noscript)
    roll_interval: float = 10.0  # seconds between checks for segments to roll
    rotate_seconds: float | None = None  # also seal segments this old (hourly regardless)
    segment_bytes: int = 64 * 1024 * 1024
    roll_on_shutdown: bool = True
    fsync: bool = True  # False only for benchmarks of the HTTP path alone


class Collector:
    """State shared by the handlers of one collector process."""

    def __init__(self, config: CollectorConfig):
        self.config = config
        self.limits = config.limits
        self.any_origin = "*" in config.origins
        self.origins = {o.rstrip("/") for o in config.origins if o != "*"}
        self.wal: Wal | None = None
        self.rejected: Counter[str] = Counter()
        self.accepted_requests = 0
        self.accepted_events = 0
        self.roll_errors = 0
        self.rolled_events = 0
        self._roll_task: asyncio.Task | None = None
        self._roll_lock = asyncio.Lock()
        self._roll_pool: ProcessPoolExecutor | None = None
        samesite = config.cookie_samesite.capitalize()
        self._cookie_tail = f"; Path=/; Max-Age={TWO_YEARS}; SameSite={samesite}; HttpOnly"
        if config.cookie_domain:
            self._cookie_tail += f"; Domain={config.cookie_domain}"
        self._force_secure = samesite == "None" or bool(config.cookie_secure)
        self._expires_at, self._expires = 0, ""

    # -- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        cfg = self.config
        self.wal = Wal(
            cfg.wal_dir,
            instance=cfg.instance,
            segment_bytes=cfg.segment_bytes,
            rotate_seconds=cfg.rotate_seconds,
            fsync=cfg.fsync,
        )
        if self.wal.recovered:
            log.warning("recovered %d unsealed WAL segment(s) after a crash", self.wal.recovered)
        self._roll_task = asyncio.get_running_loop().create_task(self._roll_loop())

    async def shutdown(self) -> None:
        if self._roll_task is not None:
            self._roll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._roll_task
        if self.wal is None:
            return
        while self.wal._flushing:  # let the last group commit finish
            await asyncio.sleep(0.001)
        await asyncio.to_thread(self.wal.close)
        if self.config.roll_on_shutdown and self.wal.broken is None:
            await self._roll(serving=False)
        if self._roll_pool is not None:
            await asyncio.to_thread(self._roll_pool.shutdown)

    async def _roll_loop(self) -> None:
        while True:
            await self.roll_now(seal=False)
            await asyncio.sleep(self.config.roll_interval)

    async def roll_now(self, seal: bool) -> None:
        """Seal the active segment if it is due (or `seal`), then roll sealed segments."""
        wal = self.wal
        if wal is None or wal.broken is not None:
            return
        if seal:
            await wal.run_sync(wal.seal_sync)
        else:
            await wal.run_sync(wal.maybe_rotate_sync, time.time_ns() // 1000)
        await self._roll()

    async def _roll(self, serving: bool = True) -> None:
        """Roll the sealed segments into the landing zone.

        While serving, the roll runs in a child process: decoding a full 64 MB segment and
        building its Arrow columns holds the GIL for seconds, which from a thread stalled
        every request of this process (p99 latencies of over a second in the benchmark). At
        shutdown no request is left to stall, so a thread does it and no process is started.
        """
        cfg = self.config
        if not any(sealed for _, sealed, _ in list_segments(Path(cfg.wal_dir))):
            return
        args = (roll_dir, cfg.wal_dir, cfg.landing, None, cfg.fsync)
        async with self._roll_lock:
            try:
                if serving:
                    if self._roll_pool is None:
                        self._roll_pool = ProcessPoolExecutor(
                            1,
                            mp_context=multiprocessing.get_context("spawn"),
                            initializer=exit_with_parent,
                            initargs=(os.getpid(),),
                        )
                    loop = asyncio.get_running_loop()
                    result = await loop.run_in_executor(self._roll_pool, *args)
                    if result.segments:  # the child process logs nowhere
                        log.info(
                            "rolled %d segment(s), %d event(s) into %d file(s) from %s",
                            result.segments, result.events, len(result.files), cfg.wal_dir,
                        )  # fmt: skip
                else:
                    result = await asyncio.to_thread(*args)
                self.rolled_events += result.events
            except Exception as exc:  # the events stay in the WAL; the next pass retries
                self.roll_errors += 1
                log.exception("rolling into %s failed; will retry", cfg.landing)
                if isinstance(exc, BrokenProcessPool):  # its process died: start another
                    self._roll_pool = None

    # -- request helpers ----------------------------------------------------------------

    def site_origin(self, request: Request) -> str | None:
        """The page's origin: the Origin header, else the Referer's scheme://host[:port]."""
        origin = request.headers.get("origin")
        if origin is None:
            referer = request.headers.get("referer")
            if referer:
                parts = urlsplit(referer)
                origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "null"
        return origin

    def check_origin(self, origin: str | None) -> None:
        if origin is None:
            if not self.config.allow_missing_origin:
                raise Rejected(403, "forbidden_origin", "an Origin header is required")
            return
        if not (self.any_origin or origin.rstrip("/") in self.origins):
            raise Rejected(403, "forbidden_origin", f"origin {origin!r} is not allowed")

    def cors(self, headers: dict, origin: str | None) -> None:
        if origin is not None:
            headers["access-control-allow-origin"] = origin
            headers["access-control-allow-credentials"] = "true"
            headers["vary"] = "Origin"

    def visitor_id(self, cookie_header: str | None) -> str:
        """The visitor cookie's value, or a new one when it is absent or not one of ours."""
        value = cookie_value(cookie_header, self.config.cookie_name) if cookie_header else None
        if value and COOKIE_RE.match(value):
            return value
        return secrets.token_hex(16)  # 128 random bits, like a UUID4, without building one

    def set_cookie(self, value: str, https: bool) -> str:
        """The Set-Cookie header that (re)sets the visitor cookie.

        The cookie is (re)set on every accepted hit, as GA does with its own: browsers cap a
        cookie's lifetime (Chromium at 400 days), so a returning visitor's two years restart
        with each visit instead of running out under the cap.
        """
        now = int(time.time())
        if now != self._expires_at:  # formatting a date costs more than the rest of the header
            self._expires_at = now
            self._expires = formatdate(now + TWO_YEARS, usegmt=True)
        secure = self._force_secure or (self.config.cookie_secure is None and https)
        name, tail = self.config.cookie_name, self._cookie_tail + ("; Secure" if secure else "")
        return f"{name}={value}; Expires={self._expires}{tail}"

    def rejection(self, exc: Rejected) -> bytes:
        """Count a refused request; returns its answer's JSON body (the answer sets no cookie)."""
        self.rejected[exc.reason] += 1
        return json.dumps({"error": exc.reason, "detail": exc.detail}).encode()

    def reject(self, exc: Rejected, headers: dict | None = None) -> Response:
        return Response(self.rejection(exc), exc.status, headers, media_type="application/json")

    async def store(self, records: list[list], created_us: int) -> None:
        """Durably log one request's validated events: returns once they are fsynced."""
        try:
            await self.wal.append(encode_records(records), created_us)
        except WalBroken as exc:
            raise Rejected(503, "wal_unavailable", "the collector cannot store events") from exc
        self.accepted_requests += 1
        self.accepted_events += len(records)

    # -- endpoints ----------------------------------------------------------------------

    async def collect(self, scope: dict, receive) -> tuple[int, list, bytes]:
        """POST /collect on the raw ASGI scope.

        It is nearly all of the traffic, so it uses no Request object and no header dicts:
        the answer's headers are built directly as the (name, value) byte pairs ASGI sends.
        """
        origin = cookie = user_agent = length = None
        for name, value in scope["headers"]:
            if name == b"origin" and origin is None:  # the first of repeated headers wins
                origin = value
            elif name == b"cookie":
                value = value.decode("latin-1")
                cookie = value if cookie is None else f"{cookie}; {value}"
            elif name == b"user-agent" and user_agent is None:
                user_agent = value.decode("latin-1")
            elif name == b"content-length" and length is None:
                length = value
        headers: list[tuple[bytes, bytes]] = []
        try:
            if origin is None:
                self.check_origin(None)
            else:
                self.check_origin(origin.decode("latin-1"))
                headers += ((b"access-control-allow-origin", origin), *CORS_CREDENTIALS)
            if len(scope["query_string"]) > self.limits.max_query:
                raise Rejected(414, "url_too_long", "request URL too long")
            events = parse_body(await self.read_body(length, receive))
            created_us = time.time_ns() // 1000
            visitor = self.visitor_id(cookie)
            records = to_records(events, created_us, visitor, user_agent, self.limits)
            await self.store(records, created_us)
        except Rejected as exc:
            body = self.rejection(exc)
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", b"%d" % len(body)))
            return exc.status, headers, body
        https = scope.get("scheme") == "https"
        headers.append((b"set-cookie", self.set_cookie(visitor, https).encode("latin-1")))
        return 204, headers, b""

    async def read_body(self, length: bytes | None, receive) -> bytes:
        limit = self.limits.max_body_bytes
        if length is not None:
            if not length.isdigit():
                raise Rejected(400, "bad_content_length", "Content-Length is not a number")
            if int(length) > limit:
                raise Rejected(413, "body_too_large", f"body over {limit} bytes")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Rejected(400, "client_disconnected", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Rejected(413, "body_too_large", f"body over {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        try:
            self.check_origin(origin)
        except Rejected as exc:
            return self.reject(exc)
        headers = {
            "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        }
        self.cors(headers, origin)
        return Response(status_code=204, headers=headers)

    async def pixel(self, request: Request) -> Response:
        headers = {"cache-control": "no-store, max-age=0"}
        try:
            if len(request.scope["query_string"]) > self.limits.max_query:
                raise Rejected(414, "url_too_long", "request URL too long")
            origin = self.site_origin(request)
            self.check_origin(origin)
            event = dict(parse_qsl(request.scope["query_string"].decode("latin-1")))
            event.setdefault("event_id", uuid.uuid4().hex)
            if event.get("type", "pageview") != "signup":
                referer = request.headers.get("referer")
                if "url" not in event and referer:
                    event["url"] = referer
            created_us = time.time_ns() // 1000
            visitor = self.visitor_id(request.headers.get("cookie"))
            user_agent = request.headers.get("user-agent")
            records = to_records([event], created_us, visitor, user_agent, self.limits)
            await self.store(records, created_us)
        except Rejected as exc:
            return self.reject(exc, headers)
        headers["set-cookie"] = self.set_cookie(visitor, request.scope.get("scheme") == "https")
        return Response(PIXEL, media_type="image/gif", headers=headers)

    async def snippet(self, request: Request) -> Response:
        return Response(
            SNIPPET,
            media_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    def stats(self) -> dict:
        wal = self.wal
        return {
            "status": "ok" if wal is not None and wal.broken is None else "failing",
            "instance": wal.instance if wal else None,
            "accepted_requests": self.accepted_requests,
            "accepted_events": self.accepted_events,
            "rejected": dict(self.rejected),
            "rejected_requests": sum(self.rejected.values()),
            "rolled_events": self.rolled_events,
            "roll_errors": self.roll_errors,
            "wal_commits": wal.commits if wal else 0,
        }

    async def healthz(self, request: Request) -> Response:
        stats = self.stats()
        return JSONResponse(stats, 200 if stats["status"] == "ok" else 503)

    async def metrics(self, request: Request) -> Response:
        s = self.stats()
        lines = [
            "# TYPE webfunnel_collect_accepted_requests_total counter",
            f"webfunnel_collect_accepted_requests_total {s['accepted_requests']}",
            "# TYPE webfunnel_collect_accepted_events_total counter",
            f"webfunnel_collect_accepted_events_total {s['accepted_events']}",
            "# TYPE webfunnel_collect_rejected_requests_total counter",
        ]
        lines += [
            f'webfunnel_collect_rejected_requests_total{{reason="{reason}"}} {count}'
            for reason, count in sorted(s["rejected"].items())
        ]
        lines += [
            "# TYPE webfunnel_collect_rolled_events_total counter",
            f"webfunnel_collect_rolled_events_total {s['rolled_events']}",
            "# TYPE webfunnel_collect_roll_errors_total counter",
            f"webfunnel_collect_roll_errors_total {s['roll_errors']}",
            "# TYPE webfunnel_collect_wal_commits_total counter",
            f"webfunnel_collect_wal_commits_total {s['wal_commits']}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n")


def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"')
    return None


class CollectorApp:
    """The ASGI app: POST /collect straight from the scope, everything else through Starlette.

    /collect is nearly all of the traffic. Handling it here, before Starlette's error
    middleware, routing and Request objects, saves a good share of each request's CPU; the
    other endpoints and the lifespan (which opens the WAL) go through Starlette as usual.
    """

    def __init__(self, starlette: Starlette, collector: Collector):
        self.starlette = starlette
        self.collector = collector

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/collect" and scope["method"] == "POST":
            status, headers, body = await self.collector.collect(scope, receive)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            await self.starlette(scope, receive, send)


def create_app(config: CollectorConfig) -> CollectorApp:
    """The collector as an ASGI app; the WAL is opened and recovered in its lifespan."""
    collector = Collector(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await collector.startup()
        try:
            yield
        finally:
            await collector.shutdown()

    starlette = Starlette(
        routes=[
            Route("/collect", collector.preflight, methods=["OPTIONS"]),
            Route("/p.gif", collector.pixel, methods=["GET"]),
            Route("/wf.js", collector.snippet, methods=["GET"]),
            Route("/healthz", collector.healthz, methods=["GET"]),
            Route("/metrics", collector.metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return CollectorApp(starlette, collector)

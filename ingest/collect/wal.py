"""The collector's write-ahead log: acknowledged events live here until they are rolled.

Layout of one WAL directory (one per collector process; never shared):

    INSTANCE              the instance name used in landed file names (stable per directory,
                          so re-rolling a segment after a crash rewrites the same file names)
    LOCK                  flock held by the live collector process
    ROLL.lock             flock held while a roll pass runs (server roller or `roll()`)
    CHECKPOINT            highest segment sequence number already rolled into the landing zone
    wal-0000000007.open   the segment being appended to
    wal-0000000006.log    sealed segments, waiting to be rolled

A segment is a run of frames ``<u32 length><u32 crc32><payload>``; a payload is the JSON array
of one request's events. A frame is acknowledged only after ``fdatasync`` returned, so a torn
or zeroed tail after a crash belongs to an unacknowledged request and is cut off on recovery.
Writes are group-committed: while one ``write + fdatasync`` is in flight the next requests'
frames accumulate and go to disk together, so fsync cost is shared under load.

The files are written by one dedicated thread (WalThread), so the event loop never blocks on
disk. At low concurrency the handover between loop and thread, not the write, is what a commit
costs in CPU, so it uses as little machinery as possible: the loop appends its frame to a shared
list and wakes the thread only when it is idle; the thread takes everything pending, writes,
fsyncs and wakes the waiting requests with one ``call_soon_threadsafe`` (about half the CPU of
a ThreadPoolExecutor round trip per commit).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import queue
import re
import secrets
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("webfunnel.collect")

FRAME_HEADER = struct.Struct("<II")
MAX_FRAME = 64 * 1024 * 1024
SEGMENT_RE = re.compile(r"^wal-(\d{10})\.(open|log)$")
INSTANCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class WalLocked(RuntimeError):
    """Another live process owns this WAL directory."""


class WalBroken(RuntimeError):
    """A write or fsync failed; nothing more is acknowledged from this process."""


def encode_frame(payload: bytes) -> bytes:
    return FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def iter_frames(data: bytes) -> Iterator[tuple[bytes, int]]:
    """Yield (payload, end offset) for each intact frame; stop at the first torn one."""
    pos = 0
    size = len(data)
    while pos + FRAME_HEADER.size <= size:
        length, crc = FRAME_HEADER.unpack_from(data, pos)
        end = pos + FRAME_HEADER.size + length
        if length == 0 or length > MAX_FRAME or end > size:
            return
        payload = data[pos + FRAME_HEADER.size : end]
        if zlib.crc32(payload) != crc:
            return
        yield payload, end
        pos = end


def read_segment(path: Path) -> list[list]:
    """All event records of a segment, in append order (each record is a JSON list)."""
    records: list[list] = []
    for payload, _ in iter_frames(path.read_bytes()):
        records.extend(json.loads(payload))
    return records


def segment_name(seq: int, sealed: bool) -> str:
    return f"wal-{seq:010d}.{'log' if sealed else 'open'}"


def list_segments(wal_dir: Path) -> list[tuple[int, bool, Path]]:
    """(seq, sealed, path) for every segment, ordered by sequence number."""
    found = []
    if not wal_dir.is_dir():
        return found
    for entry in wal_dir.iterdir():
        m = SEGMENT_RE.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2) == "log", entry))
    return sorted(found)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` durably (temp file, fsync, rename, fsync dir)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_checkpoint(wal_dir: Path) -> int:
    try:
        return int((wal_dir / "CHECKPOINT").read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def write_checkpoint(wal_dir: Path, seq: int) -> None:
    write_atomic(wal_dir / "CHECKPOINT", f"{seq}\n".encode())


def instance_name(wal_dir: Path, wanted: str | None = None) -> str:
    """The directory's persistent instance name; created on first use.

    Landed files are named ``<instance>-<seq>.parquet``; keeping the name with the log makes
    a re-roll after a crash overwrite its own earlier output instead of duplicating it.
    """
    path = wal_dir / "INSTANCE"
    if path.exists():
        current = path.read_text().strip()
        if wanted and wanted != current:
            raise ValueError(
                f"WAL directory {wal_dir} belongs to instance {current!r}, not {wanted!r}"
            )
        return current
    if wanted is None:
        host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40].strip("-") or "collector"
        wanted = f"{host}-{secrets.token_hex(3)}"
    if not INSTANCE_RE.match(wanted):
        raise ValueError(f"instance name {wanted!r} must match {INSTANCE_RE.pattern}")
    wal_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(path, f"{wanted}\n".encode())
    return wanted


class DirLock:
    """An exclusive flock on a file; released when closed or when the process dies."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def seal_open_segments(wal_dir: Path) -> int:
    """Recovery after a crash: cut torn tails off `.open` segments and seal them.

    Only call this while holding the directory's LOCK (no live writer). Returns how many
    segments were sealed.
    """
    sealed = 0
    for seq, is_sealed, path in list_segments(wal_dir):
        if is_sealed:
            continue
        data = path.read_bytes()
        good = 0
        for _, end in iter_frames(data):
            good = end
        with open(path, "r+b") as f:
            if good < len(data):
                log.warning("wal %s: dropping %d torn bytes at the tail", path, len(data) - good)
                f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path, wal_dir / segment_name(seq, sealed=True))
        sealed += 1
    if sealed:
        fsync_dir(wal_dir)
    return sealed


def hour_of(us: int) -> int:
    return us // 3_600_000_000


def _succeed(waiters: list[asyncio.Future]) -> None:
    for fut in waiters:
        if not fut.done():  # a request cancelled meanwhile has nobody to tell
            fut.set_result(None)


def _fail(waiters: list[asyncio.Future], err: WalBroken) -> None:
    for fut in waiters:
        if not fut.done():
            fut.set_exception(err)


@dataclass
class _Active:
    seq: int
    fd: int
    path: Path
    hour: int
    size: int = 0
    opened_at: float = 0.0


class WalThread(Executor):
    """One thread that runs jobs in submission order: the only thread that touches the files.

    A ThreadPoolExecutor does the same with a Future, a lock and a condition per job, and
    asyncio's ``run_in_executor`` adds a chained future on top; a group commit uses `put`
    instead, which is one queue operation. `submit` remains for the rare jobs (seal, rotate)
    whose result the loop awaits.
    """

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="wal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # keep the thread: close() still needs it to seal the segment
                log.exception("wal thread job failed")

    def put(self, job) -> None:
        """Run `job()` on the thread; it must handle its own errors."""
        self._jobs.put(job)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()

        def job() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                    future.set_exception(exc)

        self._jobs.put(job)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop after the jobs already submitted."""
        self._jobs.put(None)
        if wait:
            self._thread.join()


class Wal:
    """The append side of one WAL directory, owned by one collector process.

    `append` is a coroutine: it returns once the frame is on disk (group commit).
    File work happens on a single dedicated thread so the event loop never blocks on fsync.
    """

    def __init__(
        self,
        wal_dir: Path,
        instance: str | None = None,
        segment_bytes: int = 64 * 1024 * 1024,
        rotate_seconds: float | None = None,
        fsync: bool = True,
        lock_timeout: float = 5.0,
    ):
        self.dir = Path(wal_dir)
        self.segment_bytes = segment_bytes
        self.rotate_seconds = rotate_seconds
        self.fsync = fsync
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = DirLock(self.dir / "LOCK")
        deadline = time.monotonic() + lock_timeout  # an offline roll may hold it briefly
        while not self._lock.acquire(blocking=False):
            if time.monotonic() > deadline:
                raise WalLocked(f"another collector is using the WAL directory {self.dir}")
            time.sleep(0.05)
        try:
            self.instance = instance_name(self.dir, instance)
            self.recovered = seal_open_segments(self.dir)
        except BaseException:
            self._lock.release()
            raise
        last = max([s for s, _, _ in list_segments(self.dir)] + [read_checkpoint(self.dir)])
        self._next_seq = last + 1
        self._active: _Active | None = None
        # Shared by the loop and the WAL thread, under _mutex: frames not yet taken for a
        # commit, their waiters, and whether a commit is queued or running.
        self._mutex = threading.Lock()
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future] = []
        self._flushing = False
        self._hour_hint = hour_of(time.time_ns() // 1000)
        self._executor = WalThread()
        self.broken: BaseException | None = None
        self.frames_written = 0
        self.commits = 0

    # -- the event-loop side ------------------------------------------------------------

    async def append(self, payload: bytes, created_us: int) -> None:
        """Append one frame and wait until it is durable. Raises WalBroken on I/O failure."""
        frame = encode_frame(payload)
        fut = asyncio.get_running_loop().create_future()
        with self._mutex:
            if self.broken is not None:
                raise WalBroken(str(self.broken))
            self._pending.append(frame)
            self._waiters.append(fut)
            self._hour_hint = hour_of(created_us)
            start = not self._flushing
            self._flushing = True
        if start:  # the thread is idle: wake it; otherwise it takes this frame next
            self._executor.put(self._commit)
        await fut

    def _commit(self) -> None:
        """WAL thread: write and fsync everything pending as one group, then wake its waiters.

        If more frames arrived meanwhile, the next group is queued behind any seal or rotate
        job rather than looped over here, so those are not starved under constant load.
        """
        with self._mutex:
            frames, waiters, hour = self._pending, self._waiters, self._hour_hint
            self._pending, self._waiters = [], []
        loop = waiters[0].get_loop()
        try:
            self._write_sync(frames, hour)
        except BaseException as exc:  # noqa: BLE001 - any failure must fail the waiters
            log.error("wal write failed, refusing further events: %r", exc)
            with self._mutex:
                self.broken = exc
                waiters += self._waiters
                self._pending, self._waiters = [], []
                self._flushing = False
            loop.call_soon_threadsafe(_fail, waiters, WalBroken(repr(exc)))
            return
        loop.call_soon_threadsafe(_succeed, waiters)
        with self._mutex:
            if self._pending:
                self._executor.put(self._commit)
            else:
                self._flushing = False

    async def run_sync(self, fn, *args):
        """Run a function on the WAL thread (serialised with writes)."""
        return await asyncio.wrap_future(self._executor.submit(fn, *args))

    # -- the WAL-thread side ------------------------------------------------------------

    def _open_segment(self, hour: int) -> _Active:
        seq = self._next_seq
        self._next_seq += 1
        path = self.dir / segment_name(seq, sealed=False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        if self.fsync:
            fsync_dir(self.dir)
        return _Active(seq=seq, fd=fd, path=path, hour=hour, opened_at=time.monotonic())

    def _write_sync(self, frames: list[bytes], hour: int) -> None:
        act = self._active
        if act is not None and (act.hour != hour or act.size >= self.segment_bytes):
            self.seal_sync()
            act = None
        if act is None:
            act = self._active = self._open_segment(hour)
        data = b"".join(frames)
        view = memoryview(data)
        while view:
            n = os.write(act.fd, view)
            view = view[n:]
        if self.fsync:
            os.fdatasync(act.fd)
        act.size += len(data)
        self.frames_written += len(frames)
        self.commits += 1

    def seal_sync(self) -> int | None:
        """Close the active segment and mark it ready for rolling. Returns its sequence."""
        act = self._active
        if act is None:
            return None
        self._active = None
        if self.fsync:
            os.fsync(act.fd)
        os.close(act.fd)
        os.replace(act.path, self.dir / segment_name(act.seq, sealed=True))
        if self.fsync:
            fsync_dir(self.dir)
        return act.seq

    def maybe_rotate_sync(self, now_us: int) -> bool:
        """Seal the active segment when its hour is over or it is old or big enough."""
        act = self._active
        if act is None:
            return False
        stale = act.hour != hour_of(now_us) or act.size >= self.segment_bytes
        if self.rotate_seconds is not None:
            stale = stale or time.monotonic() - act.opened_at >= self.rotate_seconds
        if stale:
            self.seal_sync()
        return stale

    def close(self) -> None:
        """Seal what is open and release the directory. Call after the last append."""
        if self.broken is None:
            self._executor.submit(self.seal_sync).result()
        self._executor.shutdown(wait=True)
        self._lock.release()

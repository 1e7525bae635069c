"""Fault injection for the kill-and-rerun tests: `WEBFUNNEL_KILL_AT=<point>` makes the
process SIGKILL itself when it reaches that point (never set outside tests)."""

from __future__ import annotations

import os
import signal
import threading


def kill_point(point: str) -> None:
    if os.environ.get("WEBFUNNEL_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def kill_after(point: str) -> None:
    """`WEBFUNNEL_KILL_AT=<point>:<seconds>`: SIGKILL that many seconds after reaching it."""
    value = os.environ.get("WEBFUNNEL_KILL_AT", "")
    if value.startswith(point + ":"):
        try:
            delay = float(value.split(":")[-1])
        except ValueError:
            return  # another kill point of the same stage
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL))
        timer.daemon = True
        timer.start()

"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


class WebfunnelError(Exception):
    """A problem with the user's input or environment (not a bug)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (engines' messages run to many lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

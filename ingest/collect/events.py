"""Validating what browsers send and turning it into WAL records.

A request is accepted whole or rejected whole: one bad event in a batch rejects the batch,
so a client never has to guess which of its events were kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import orjson


class Rejected(Exception):
    """A request the collector refuses; `reason` is the counter it is recorded under."""

    def __init__(self, status: int, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.status = status
        self.reason = reason
        self.detail = detail or reason


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 256 * 1024
    max_batch: int = 500
    max_url: int = 4096
    max_query: int = 8192
    max_event_id: int = 128
    max_email: int = 320
    max_channel: int = 256


TYPES = {"pageview": "p", "ping": "p", "signup": "s"}


def _string(event: dict, key: str, limit: int, required: bool, reason: str = "") -> str | None:
    value = event.get(key)
    if value is None:
        if required:
            raise Rejected(400, "missing_field", f"event field {key!r} is required")
        return None
    if not isinstance(value, str):
        raise Rejected(400, "invalid_field", f"event field {key!r} must be a string")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: valid JSON, not storable as text
            raise Rejected(
                400, "invalid_field", f"event field {key!r} is not valid Unicode"
            ) from None
    if required and not value.strip():
        raise Rejected(400, "missing_field", f"event field {key!r} is empty")
    if len(value) > limit:
        raise Rejected(400, reason or "field_too_long", f"event field {key!r} is too long")
    return value


def _url(event: dict, key: str, limits: Limits, required: bool) -> str | None:
    value = _string(event, key, limits.max_url, required, "url_too_long")
    if required and not value.startswith(("http://", "https://")):
        raise Rejected(400, "invalid_field", f"event field {key!r} must be an absolute URL")
    return value


def to_records(
    events: list, created_us: int, cookie: str, user_agent: str | None, limits: Limits
) -> list[list]:
    """Validate events and stamp them with the server's view: time, cookie, user agent."""
    if not events:
        raise Rejected(400, "empty_batch", "no events in the request")
    if len(events) > limits.max_batch:
        raise Rejected(413, "batch_too_large", f"at most {limits.max_batch} events per request")
    records = []
    for event in events:
        if not isinstance(event, dict):
            raise Rejected(400, "invalid_event", "an event must be a JSON object")
        kind = TYPES.get(event.get("type", "pageview"))
        if kind is None:
            raise Rejected(400, "invalid_field", f"unknown event type {event.get('type')!r}")
        event_id = _string(event, "event_id", limits.max_event_id, True)
        if kind == "p":
            url = _url(event, "url", limits, True)
            referrer = _url(event, "referrer", limits, False)
            records.append(["p", event_id, created_us, cookie, url, referrer, user_agent])
        else:
            email = _string(event, "email", limits.max_email, True)
            channel = _string(event, "referring_channel", limits.max_channel, False)
            records.append(["s", event_id, created_us, cookie, email, channel])
    return records


def parse_body(body: bytes) -> list:
    """A JSON object (one event), an array of events, or ``{"events": [...]}``.

    orjson parses the UTF-8 JSON that browsers send several times faster than the standard
    library. What it refuses goes to the standard library, which has the final say: it also
    accepts a BOM, UTF-16/32, NaN and lone surrogates, and its error message is the one a
    client has always been given.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Rejected(400, "malformed_json", f"body is not JSON: {exc}") from None
    if isinstance(doc, dict):
        if "events" in doc and "type" not in doc:
            doc = doc["events"]
            if not isinstance(doc, list):
                raise Rejected(400, "invalid_event", "'events' must be an array")
            return doc
        return [doc]
    if isinstance(doc, list):
        return doc
    raise Rejected(400, "invalid_event", "body must be a JSON object or array")


def encode_records(records: list[list]) -> bytes:
    """One WAL payload: compact UTF-8 JSON, as ``json.dumps(..., ensure_ascii=False)`` writes."""
    return orjson.dumps(records)

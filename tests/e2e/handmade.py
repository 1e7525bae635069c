"""A small landing set whose marts were worked out by hand (see test_handmade.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

TS = pa.timestamp("us")


def _write(root: Path, source: str, day: str, hour: int, name: str, table: pa.Table) -> None:
    folder = root / source / f"date={day}" / f"hour={hour:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)


def _pings(rows: list[tuple]) -> pa.Table:
    event_id, created_at, cookie, url, referrer, user_agent = zip(*rows, strict=True)
    return pa.table(
        {
            "event_id": list(event_id),
            "created_at": pa.array(list(created_at), TS),
            "cookie": list(cookie),
            "url": list(url),
            "referrer": list(referrer),
            "user_agent": list(user_agent),
            "collector_version": ["1.2"] * len(rows),  # extra columns are ignored
        }
    )


def build(root: Path) -> None:
    d = datetime
    _write(
        root,
        "pings",
        "2026-11-02",
        10,
        "a.parquet",
        _pings(
            [
                (
                    "p1",
                    d(2026, 11, 2, 10, 0),
                    "c_alice",
                    "https://www.acme.io/?utm_source=FB&utm_medium=paid_social",
                    None,
                    CHROME_WINDOWS,
                ),
                (
                    "p2",
                    d(2026, 11, 2, 10, 5),
                    "c_alice",
                    "https://www.acme.io/pricing",
                    "https://www.acme.io/",
                    CHROME_WINDOWS,
                ),
                (
                    "p3",
                    d(2026, 11, 2, 10, 10),
                    "c_bob",
                    "https://www.acme.io/blog",
                    "https://t.co/xyz",
                    IPHONE,
                ),
                ("p4", d(2026, 11, 2, 10, 20), "c_bot", "https://www.acme.io/", None, GOOGLEBOT),
                ("p5", d(2026, 11, 2, 10, 30), "  ", "https://www.acme.io/", None, IPHONE),
                ("p6", d(2026, 11, 2, 11, 30), "c_bob", "https://www.acme.io/", None, IPHONE),
            ]
        ),
    )
    # the same p3 delivered again in another file: counted once
    _write(
        root,
        "pings",
        "2026-11-02",
        10,
        "b-redelivery.parquet",
        _pings(
            [
                (
                    "p3",
                    d(2026, 11, 2, 10, 10),
                    "c_bob",
                    "https://www.acme.io/blog",
                    "https://t.co/xyz",
                    IPHONE,
                ),
            ]
        ),
    )
    (root / "pings" / "date=2026-11-02" / "hour=10" / "broken.parquet").write_text("oops")
    # timestamps with a time zone in the Parquet type are read as UTC
    carol = _pings(
        [
            (
                "p7",
                d(2026, 11, 2, 23, 50),
                "c_carol",
                "https://acme.io/docs",
                "https://www.google.co.uk/",
                IPAD,
            ),
        ]
    ).set_column(1, "created_at", pa.array([d(2026, 11, 2, 23, 50)], pa.timestamp("us", "UTC")))
    _write(root, "pings", "2026-11-02", 23, "c.parquet", carol)
    _write(
        root,
        "pings",
        "2026-11-03",
        0,
        "d.parquet",
        _pings(
            [
                (
                    "p8",
                    d(2026, 11, 3, 0, 15),
                    "c_carol",
                    "https://acme.io/docs/2",
                    "https://acme.io/docs",
                    IPAD,
                ),
                ("p9", d(2026, 11, 3, 0, 50), "c_carol", "https://acme.io/", "", IPAD),
            ]
        ),
    )
    _write(
        root,
        "pings",
        "2026-11-10",
        9,
        "e.parquet",
        _pings(
            [
                (
                    "p10",
                    d(2026, 11, 10, 9, 0),
                    "c_alice",
                    "https://www.acme.io/",
                    None,
                    CHROME_WINDOWS,
                ),
            ]
        ),
    )

    _write(
        root,
        "signups",
        "2026-11-02",
        10,
        "s.parquet",
        pa.table(
            {
                "event_id": ["s1", "s2"],
                "created_at": pa.array([d(2026, 11, 2, 10, 6), d(2026, 11, 2, 10, 15)], TS),
                "cookie": ["c_alice", "c_bob"],
                "email": ["  Alice@Example.COM ", ""],
                "referring_channel": ["facebook", None],
            }
        ),
    )
    _write(
        root,
        "signups",
        "2026-11-02",
        10,
        "nocol.parquet",
        pa.table(
            {
                "event_id": ["s9"],
                "created_at": pa.array([d(2026, 11, 2, 10, 16)], TS),
                "cookie": ["c_bob"],
            }
        ),
    )
    _write(
        root,
        "signups",
        "2026-11-10",
        9,
        "s2.parquet",
        pa.table(
            {
                "event_id": ["s3"],
                "created_at": pa.array([d(2026, 11, 10, 9, 30)], TS),
                "cookie": ["c_alice2"],
                "email": ["alice@example.com"],
                "referring_channel": [None],
            }
        ),
    )

    def crm(rows: list[tuple]) -> pa.Table:
        email, demo, trial, customer, updated = zip(*rows, strict=True)
        return pa.table(
            {
                "email": list(email),
                "demo_at": pa.array(list(demo), TS),
                "trial_at": pa.array(list(trial), TS),
                "customer_at": pa.array(list(customer), TS),
                "updated_at": pa.array(list(updated), TS),
            }
        )

    _write(
        root,
        "crm",
        "2026-11-03",
        6,
        "export.parquet",
        crm(
            [
                ("alice@example.com", d(2026, 11, 3, 5), None, None, d(2026, 11, 3, 5, 30)),
                ("nobody@example.com", d(2026, 11, 3, 4), None, None, d(2026, 11, 3, 5, 30)),
            ]
        ),
    )
    _write(
        root,
        "crm",
        "2026-11-10",
        6,
        "export.parquet",
        crm(
            [
                (
                    "ALICE@example.com",
                    d(2026, 11, 3, 5),
                    None,
                    d(2026, 11, 9, 12),
                    d(2026, 11, 10, 6),
                ),
            ]
        ),
    )

    def accounts(rows: list[tuple]) -> pa.Table:
        event_id, created_at, cookie, account_id, email, event_type, plan = zip(*rows, strict=True)
        return pa.table(
            {
                "event_id": list(event_id),
                "created_at": pa.array(list(created_at), TS),
                "cookie": list(cookie),
                "account_id": list(account_id),
                "email": list(email),
                "event_type": list(event_type),
                "plan": list(plan),
            }
        )

    _write(
        root,
        "accounts",
        "2026-11-10",
        9,
        "a.parquet",
        accounts(
            [
                (
                    "a1",
                    d(2026, 11, 10, 9, 5),
                    "c_alice",
                    "acc_1",
                    "alice@example.com",
                    "login",
                    "free",
                ),
                (
                    "a2",
                    d(2026, 11, 10, 9, 10),
                    "c_alice",
                    "acc_1",
                    "alice@example.com",
                    "plan_change",
                    "pro",
                ),
            ]
        ),
    )
    _write(
        root,
        "accounts",
        "2026-11-17",
        8,
        "a.parquet",
        accounts(
            [
                (
                    "a3",
                    d(2026, 11, 17, 8, 0),
                    "c_alice_phone",
                    "acc_1",
                    "Alice@Example.com",
                    "login",
                    "pro",
                ),
            ]
        ),
    )

"""User-agent parsing with ua-parser, once per distinct user agent.

ua-parser (the maintained uap-core regexes) gives the browser, OS and device family; the
device *class* is read from those results, not from regexes of our own:

- ``bot``: ua-parser's device family ``Spider`` (its crawler class);
- ``tablet``: device families and brands ua-parser reports as tablets (``iPad``, its
  ``Generic_Android_Tablet`` brand, Kindle, ...), and Android devices whose UA lacks the
  ``Mobile`` token (Google's documented convention for Android tablets);
- ``mobile``: phone operating systems (iOS, Android, ...), or a mobile browser family;
- ``desktop``: desktop operating systems;
- ``other``: anything else (no or unrecognised user agent, HTTP libraries, TVs, consoles).
"""

from __future__ import annotations

import duckdb
import ua_parser

from ingest.ledger import utcnow

_TABLET_FAMILIES = ("ipad", "kindle", "tablet", "nexus 7", "nexus 9", "nexus 10", "galaxy tab")
_TABLET_BRANDS = ("generic_android_tablet",)
_MOBILE_OS = (
    "ios",
    "android",
    "windows phone",
    "blackberry os",
    "kaios",
    "symbian os",
    "firefox os",
    "harmonyos",
)
_DESKTOP_OS = (
    "windows",
    "mac os x",
    "macos",
    "linux",
    "ubuntu",
    "chrome os",
    "chromeos",
    "fedora",
    "debian",
    "freebsd",
    "openbsd",
    "netbsd",
    "red hat",
    "suse",
    "mint",
)


def classify(user_agent: str | None) -> tuple[str, str | None, str | None]:
    """(device_class, browser family, OS family) of one user agent string."""
    if user_agent is None or not user_agent.strip():
        return "other", None, None
    result = ua_parser.parse(user_agent)
    browser = result.user_agent.family if result.user_agent else None
    os_family = result.os.family if result.os else None
    device_family = (result.device.family if result.device else "") or ""
    device_brand = (result.device.brand if result.device else "") or ""
    if device_family == "Spider":
        return "bot", browser, os_family
    os_lower = (os_family or "").lower()
    family_lower = device_family.lower()
    if any(name in family_lower for name in _TABLET_FAMILIES) or (
        device_brand.lower() in _TABLET_BRANDS
    ):
        return "tablet", browser, os_family
    if os_lower == "android" and "mobile" not in user_agent.lower():
        return "tablet", browser, os_family
    if (
        os_lower in _MOBILE_OS
        or family_lower in ("iphone", "ipod")
        or (browser is not None and "mobile" in browser.lower())
    ):
        return "mobile", browser, os_family
    if os_lower in _DESKTOP_OS or os_lower.startswith("windows"):
        return "desktop", browser, os_family
    return "other", browser, os_family


def parse_new_user_agents(con: duckdb.DuckDBPyConnection, batch_table: str) -> int:
    """Parse the user agents of a batch being loaded that are not known yet.

    Runs inside the batch's transaction, so a batch is never loaded without its user agents.
    Returns how many were new.
    """
    new = con.execute(
        f"""
        select distinct trim(rows.user_agent)
        from {batch_table} as rows
        where rows._reason is null
            and rows.user_agent is not null
            and trim(rows.user_agent) <> ''
            and not exists (
                select 1 from raw.user_agents as known
                where known.user_agent = trim(rows.user_agent)
            )
        """
    ).fetchall()
    now = utcnow()
    rows = [(user_agent, *classify(user_agent), now) for (user_agent,) in new]
    if rows:
        con.executemany("insert into raw.user_agents values (?, ?, ?, ?, ?)", rows)
    return len(rows)

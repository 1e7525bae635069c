"""End to end through a real browser: snippet -> collector -> WAL -> landing zone Parquet."""

from __future__ import annotations

import time

from tests.collect.browser_flow import visit_with_browser
from tests.collect.collect_support import read_landing


def test_headless_chromium_visit_lands_pageviews_and_signup(tmp_path):
    visit = visit_with_browser(tmp_path)

    # the collector set the visitor cookie, HttpOnly; it asks for two years (see the app
    # tests), which Chromium caps at 400 days; every hit renews it
    assert len(visit.cookie) == 32
    assert visit.cookie_http_only
    days = (visit.cookie_expiry - time.time()) / 86400
    assert 399 <= days <= 730.1

    assert visit.landing_url.endswith("/landing.html?utm_source=newsletter&utm_medium=email")
    pings = sorted(read_landing(visit.landing, "pings"), key=lambda r: r["created_at"])
    assert len(pings) == visit.pageviews == 2
    for ping in pings:
        assert ping["url"] == visit.landing_url  # with its query string
        assert ping["referrer"] == visit.start_url
        assert ping["cookie"] == visit.cookie  # the same visitor on the reload
        assert ping["user_agent"] == visit.user_agent
        assert "Chrome/" in ping["user_agent"]
    assert len({p["event_id"] for p in pings}) == 2

    (signup,) = read_landing(visit.landing, "signups")
    assert signup["email"] == visit.email  # as typed, spaces and case included
    assert signup["referring_channel"] == "podcast"
    assert signup["cookie"] == visit.cookie
    assert signup["created_at"] >= pings[-1]["created_at"]

"""The whole path: a real browser on a page with the snippet -> collector -> landing zone ->
`webfunnel run` -> the visitor and its signup in the marts."""

from __future__ import annotations

import hashlib

from tests.collect.browser_flow import visit_with_browser
from tests.conftest import webfunnel


def test_browser_visit_reaches_the_marts(tmp_path, query):
    visit = visit_with_browser(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    webfunnel("run", "--quiet", "--landing", str(visit.landing), "--warehouse", str(warehouse))
    rows = query(
        warehouse,
        "select pageviews, person_id, signed_up_at is not null, first_url "
        "from marts.visitors where cookie = ?",
        [visit.cookie],
    )
    person = hashlib.sha256(visit.email.strip().lower().encode()).hexdigest()
    assert rows == [(visit.pageviews, person, True, visit.landing_url)]
    urls = query(
        warehouse,
        "select distinct url from marts.pageviews where cookie = ? order by url",
        [visit.cookie],
    )
    assert urls == [(visit.landing_url,)]

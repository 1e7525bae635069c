"""The collector's HTTP behaviour, in process: acceptance, cookie, CORS and every rejection.

Leaving the TestClient context runs the app's shutdown, which seals and rolls the WAL, so each
test can then look at exactly what reached the landing zone.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from ingest.collect import CollectorConfig, Limits, create_app
from tests.collect.collect_support import landed_files, read_landing

SITE = "https://www.example.com"
UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


@pytest.fixture
def config(tmp_path):
    return CollectorConfig(
        landing=tmp_path / "landing",
        wal_dir=tmp_path / "wal",
        origins=[SITE],
        limits=Limits(max_body_bytes=4096, max_batch=10, max_url=200, max_query=300),
        roll_interval=3600,
    )


def client_for(config, base_url="http://collect.example.com"):
    return TestClient(create_app(config), base_url=base_url, headers={"User-Agent": UA})


def pageview(event_id="ev-1", url=f"{SITE}/pricing?utm_source=fb", referrer="https://t.co/x"):
    return {"type": "pageview", "event_id": event_id, "url": url, "referrer": referrer}


def test_pageview_and_signup_land_with_server_stamps(config):
    before = datetime.now(UTC)
    with client_for(config) as client:
        r1 = client.post(
            "/collect",
            content=json.dumps({**pageview(), "created_at": "1999-01-01T00:00:00Z"}),
            headers={"Origin": SITE, "Content-Type": "text/plain;charset=UTF-8"},
        )
        assert r1.status_code == 204
        cookie = r1.cookies["wf_vid"]
        r2 = client.post(
            "/collect",
            json={
                "type": "signup",
                "event_id": "ev-2",
                "email": "  Ada@Example.COM ",
                "referring_channel": "podcast",
            },
            headers={"Origin": SITE},
        )
        assert r2.status_code == 204
        # the browser sent the cookie back: the same value is set again, its expiry renewed
        assert r2.cookies["wf_vid"] == cookie
    after = datetime.now(UTC)

    (ping,) = read_landing(config.landing, "pings")
    assert ping["event_id"] == "ev-1"
    assert ping["url"] == f"{SITE}/pricing?utm_source=fb"
    assert ping["referrer"] == "https://t.co/x"
    assert ping["cookie"] == cookie
    assert ping["user_agent"] == UA
    assert before <= ping["created_at"] <= after  # the server's clock, not the client's
    assert (ping["_date"], ping["_hour"]) == (
        f"{ping['created_at']:%Y-%m-%d}",
        f"{ping['created_at']:%H}",
    )
    (signup,) = read_landing(config.landing, "signups")
    assert signup["email"] == "  Ada@Example.COM "  # as typed
    assert signup["referring_channel"] == "podcast"
    assert signup["cookie"] == cookie

    # exactly the contract's columns and types
    import pyarrow.parquet as pq

    schema = pq.read_schema(landed_files(config.landing, "pings")[0])
    assert schema.names == ["event_id", "created_at", "cookie", "url", "referrer", "user_agent"]
    assert str(schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    schema = pq.read_schema(landed_files(config.landing, "signups")[0])
    assert schema.names == ["event_id", "created_at", "cookie", "email", "referring_channel"]


def test_batch_in_one_request(config):
    batch = [
        pageview("b1"),
        pageview("b2", referrer=""),
        {"type": "signup", "event_id": "b3", "email": "x@y.z"},
    ]
    with client_for(config) as client:
        assert (
            client.post("/collect", json={"events": batch}, headers={"Origin": SITE}).status_code
            == 204
        )
        assert client.post("/collect", json=[pageview("b4")]).status_code == 204
        stats = client.get("/healthz").json()
    assert stats["accepted_requests"] == 2 and stats["accepted_events"] == 4
    pings = read_landing(config.landing, "pings")
    assert sorted(p["event_id"] for p in pings) == ["b1", "b2", "b4"]
    assert {p["event_id"]: p["referrer"] for p in pings}["b2"] == ""
    assert [s["event_id"] for s in read_landing(config.landing, "signups")] == ["b3"]
    # one request's events share one cookie; a request without a cookie got a fresh one
    assert len({p["cookie"] for p in pings}) == 1  # TestClient keeps cookies like a browser


def test_cookie_attributes_and_secure_over_https(config):
    with client_for(config) as client:
        r = client.post("/collect", json=pageview(), headers={"Origin": SITE})
    cookie = r.headers["set-cookie"]
    assert "Max-Age=63072000" in cookie and "Expires=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    expires = datetime.strptime(
        cookie.split("Expires=")[1].split(";")[0], "%a, %d %b %Y %H:%M:%S GMT"
    )
    assert 729 <= (expires - datetime.utcnow()).days <= 730

    config.wal_dir = config.wal_dir.parent / "wal2"
    with client_for(config, base_url="https://collect.example.com") as client:
        r = client.post("/collect", json=pageview("s1"), headers={"Origin": SITE})
    assert r.status_code == 204 and "; Secure" in r.headers["set-cookie"]


def test_a_foreign_cookie_value_is_replaced(config):
    with client_for(config) as client:
        client.cookies.set("wf_vid", "<script>")
        r = client.post("/collect", json=pageview(), headers={"Origin": SITE})
    assert r.status_code == 204 and "set-cookie" in r.headers
    (ping,) = read_landing(config.landing, "pings")
    assert ping["cookie"] != "<script>" and len(ping["cookie"]) == 32


def test_cors_for_configured_origins_only(config):
    with client_for(config) as client:
        ok = client.options(
            "/collect",
            headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
        )
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == SITE
        assert ok.headers["access-control-allow-credentials"] == "true"
        post = client.post("/collect", json=pageview(), headers={"Origin": SITE})
        assert post.headers["access-control-allow-origin"] == SITE
        assert post.headers["access-control-allow-credentials"] == "true"
        bad = client.options(
            "/collect",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert bad.status_code == 403
        assert "access-control-allow-origin" not in bad.headers


def test_pixel_records_a_pageview(config):
    with client_for(config) as client:
        r = client.get(
            "/p.gif",
            params={"event_id": "px1", "url": f"{SITE}/noscript", "referrer": "https://bing.com/"},
            headers={"Referer": f"{SITE}/noscript"},
        )
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
        assert r.content.startswith(b"GIF89a") and "wf_vid=" in r.headers["set-cookie"]
        # no url: the page is taken from the Referer
        assert client.get("/p.gif", headers={"Referer": f"{SITE}/other"}).status_code == 200
    pings = {p["event_id"]: p for p in read_landing(config.landing, "pings")}
    assert pings["px1"]["url"] == f"{SITE}/noscript"
    assert pings["px1"]["referrer"] == "https://bing.com/"
    (other,) = [p for k, p in pings.items() if k != "px1"]
    assert other["url"] == f"{SITE}/other" and other["referrer"] is None


def test_snippet_and_health_endpoints(config):
    with client_for(config) as client:
        js = client.get("/wf.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert "sendBeacon" in js.text and "keepalive" in js.text
        assert client.get("/healthz").json()["status"] == "ok"
        assert "webfunnel_collect_accepted_events_total 0" in client.get("/metrics").text


BIG = "x" * 5000


@pytest.mark.parametrize(
    ("send", "status", "reason"),
    [
        (
            lambda c: c.post("/collect", content=b"{not json", headers={"Origin": SITE}),
            400,
            "malformed_json",
        ),
        (
            lambda c: c.post("/collect", content=b"\xff\xfe", headers={"Origin": SITE}),
            400,
            "malformed_json",
        ),
        (lambda c: c.post("/collect", json=42, headers={"Origin": SITE}), 400, "invalid_event"),
        (lambda c: c.post("/collect", json=[], headers={"Origin": SITE}), 400, "empty_batch"),
        (lambda c: c.post("/collect", json=[1], headers={"Origin": SITE}), 400, "invalid_event"),
        (
            lambda c: c.post(
                "/collect", json={"type": "pageview", "url": f"{SITE}/"}, headers={"Origin": SITE}
            ),
            400,
            "missing_field",
        ),
        (
            lambda c: c.post(
                "/collect", json={"type": "pageview", "event_id": "m1"}, headers={"Origin": SITE}
            ),
            400,
            "missing_field",
        ),
        (
            lambda c: c.post(
                "/collect",
                json={"type": "signup", "event_id": "m2", "email": "  "},
                headers={"Origin": SITE},
            ),
            400,
            "missing_field",
        ),
        (
            lambda c: c.post(
                "/collect", json={**pageview(), "url": "/relative"}, headers={"Origin": SITE}
            ),
            400,
            "invalid_field",
        ),
        (
            lambda c: c.post(
                "/collect", json={**pageview(), "event_id": 7}, headers={"Origin": SITE}
            ),
            400,
            "invalid_field",
        ),
        (
            lambda c: c.post(
                "/collect", json={**pageview(), "type": "purchase"}, headers={"Origin": SITE}
            ),
            400,
            "invalid_field",
        ),
        # a batch with one bad event is refused whole
        (
            lambda c: c.post(
                "/collect", json=[pageview("ok1"), {"type": "pageview"}], headers={"Origin": SITE}
            ),
            400,
            "missing_field",
        ),
        (
            lambda c: c.post(
                "/collect", json=[pageview(f"n{i}") for i in range(11)], headers={"Origin": SITE}
            ),
            413,
            "batch_too_large",
        ),
        (
            lambda c: c.post("/collect", content=BIG.encode(), headers={"Origin": SITE}),
            413,
            "body_too_large",
        ),
        # no Content-Length (chunked): the limit holds while streaming
        (
            lambda c: c.post(
                "/collect", content=iter([b"[", BIG.encode(), b"]"]), headers={"Origin": SITE}
            ),
            413,
            "body_too_large",
        ),
        (
            lambda c: c.post(
                "/collect",
                json={**pageview(), "url": f"{SITE}/{'a' * 300}"},
                headers={"Origin": SITE},
            ),
            400,
            "url_too_long",
        ),
        (
            lambda c: c.post(
                "/collect",
                json={**pageview(), "referrer": f"{SITE}/{'a' * 300}"},
                headers={"Origin": SITE},
            ),
            400,
            "url_too_long",
        ),
        (lambda c: c.get("/p.gif", params={"url": f"{SITE}/{'a' * 400}"}), 414, "url_too_long"),
        # valid JSON (a lone surrogate escape) that no UTF-8 text can hold
        (
            lambda c: c.post(
                "/collect",
                content=b'{"type": "pageview", "event_id": "u1", "url": "https://a.example/\\ud800"}',
                headers={"Origin": SITE},
            ),
            400,
            "invalid_field",
        ),
        (
            lambda c: c.post(
                "/collect", json=pageview(), headers={"Origin": "https://evil.example"}
            ),
            403,
            "forbidden_origin",
        ),
        (
            lambda c: c.get(
                "/p.gif",
                params={"url": f"{SITE}/"},
                headers={"Referer": "https://evil.example/page"},
            ),
            403,
            "forbidden_origin",
        ),
    ],
    ids=[
        "malformed-json",
        "not-utf8",
        "not-an-event",
        "empty-batch",
        "event-not-object",
        "missing-event-id",
        "missing-url",
        "blank-email",
        "relative-url",
        "event-id-not-string",
        "unknown-type",
        "bad-event-in-batch",
        "batch-too-large",
        "body-too-large",
        "chunked-body-too-large",
        "url-too-long",
        "referrer-too-long",
        "pixel-query-too-long",
        "lone-surrogate",
        "wrong-origin",
        "pixel-wrong-referer-origin",
    ],
)
def test_rejections_are_counted_and_never_land(config, send, status, reason):
    with client_for(config) as client:
        r = send(client)
        assert r.status_code == status, r.text
        assert r.json()["error"] == reason
        assert "set-cookie" not in r.headers
        stats = client.get("/healthz").json()
        assert stats["rejected"] == {reason: 1}
        assert stats["accepted_events"] == 0
        assert (
            f'webfunnel_collect_rejected_requests_total{{reason="{reason}"}} 1'
            in client.get("/metrics").text
        )
        # the server is still fine afterwards
        assert (
            client.post("/collect", json=pageview("after"), headers={"Origin": SITE}).status_code
            == 204
        )
    assert [p["event_id"] for p in read_landing(config.landing, "pings")] == ["after"]
    assert read_landing(config.landing, "signups") == []


def test_missing_origin_can_be_required(config):
    config.allow_missing_origin = False
    with client_for(config) as client:
        r = client.post("/collect", json=pageview())
    assert r.status_code == 403 and r.json()["error"] == "forbidden_origin"


def test_periodic_roll_while_serving(config):
    """A segment older than rotate_seconds is sealed and rolled without stopping the server."""
    config.roll_interval = 0.05
    config.rotate_seconds = 0.05
    with client_for(config) as client:
        assert (
            client.post("/collect", json=pageview("live"), headers={"Origin": SITE}).status_code
            == 204
        )
        # The roll's process writes the file before the server counts its events: wait for
        # the count, which comes last.
        deadline = time.monotonic() + 5
        while client.get("/healthz").json()["rolled_events"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/healthz").json()["rolled_events"] == 1
        assert [p["event_id"] for p in read_landing(config.landing, "pings")] == ["live"]

"""A real visit: headless Chromium on a test site that carries the snippet, a real collector.

`visit_with_browser(workdir)` runs the whole flow and returns where the data landed and what
the browser saw, so later tests (e.g. `webfunnel run` over the landing zone) can build on it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.collect.roll import roll
from tests.collect.collect_support import CollectorProcess

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EMAIL = "  Ada.Lovelace@Example.COM "

START_HTML = """<!doctype html><html><head><title>start</title></head><body>
<a id="go" href="/landing.html?utm_source=newsletter&utm_medium=email">pricing</a>
</body></html>"""

LANDING_HTML = """<!doctype html><html><head><title>landing</title>
<script>window.webfunnel=window.webfunnel||function(){(webfunnel.q=webfunnel.q||[]).push(arguments)};</script>
<script async src="COLLECTOR/wf.js"></script>
</head><body>
<form id="signup">
  <input id="email" name="email" type="text">
  <select id="channel"><option value="podcast">Podcast</option></select>
  <button id="submit" type="submit">Sign up</button>
</form>
<script>
document.getElementById('signup').addEventListener('submit', function (e) {
  e.preventDefault();
  webfunnel('signup', {email: document.getElementById('email').value,
                       referring_channel: document.getElementById('channel').value});
  document.title = 'signed up';
});
</script>
</body></html>"""


@dataclass
class BrowserVisit:
    landing: Path  # the landing zone the visit was rolled into
    wal_dir: Path
    start_url: str  # the page the visitor came from (the referrer)
    landing_url: str  # the page with the snippet, with its query string
    cookie: str  # the visitor cookie the browser holds
    cookie_expiry: float  # seconds since the epoch, as the browser stored it
    cookie_http_only: bool
    user_agent: str
    email: str
    pageviews: int  # pageviews the browser sent


def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or fail in CI / skip elsewhere when they are missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        driver = None
    if chromium and driver:
        return chromium, driver
    message = (
        "headless Chromium test needs Debian's chromium and chromium-driver and the selenium "
        "package (apt-get install -y chromium chromium-driver; pip install selenium)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _site(root: Path) -> tuple[ThreadingHTTPServer, str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _wait(predicate, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def visit_with_browser(workdir: Path) -> BrowserVisit:
    """Visit start page -> click to the landing page (pageview) -> reload (pageview) -> sign up.

    The collector is then stopped gracefully (it seals and rolls its WAL) and `roll` runs once
    more, so everything is in ``workdir/landing`` when this returns.
    """
    chromium, chromedriver = chromium_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium-manager download
    site_root = workdir / "site"
    site_root.mkdir(parents=True)
    site, site_url = _site(site_root)
    landing, wal_dir = workdir / "landing", workdir / "wal"
    collector = CollectorProcess(landing, wal_dir, [site_url]).start()
    (site_root / "start.html").write_text(START_HTML)
    (site_root / "landing.html").write_text(LANDING_HTML.replace("COLLECTOR", collector.url))

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="wf-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.get(f"{site_url}/start.html")
        driver.find_element(By.ID, "go").click()
        _wait(lambda: collector.healthz()["accepted_events"] >= 1, "the first pageview")
        landing_url = driver.current_url
        driver.refresh()  # a second pageview: the cookie must come back, not a new one
        _wait(lambda: collector.healthz()["accepted_events"] >= 2, "the second pageview")
        driver.find_element(By.ID, "email").send_keys(EMAIL)
        driver.find_element(By.ID, "submit").click()
        _wait(lambda: collector.healthz()["accepted_events"] >= 3, "the signup")
        user_agent = driver.execute_script("return navigator.userAgent")
        cookies = {c["name"]: c for c in driver.get_cookies()}
        stats = collector.healthz()
        assert stats["rejected_requests"] == 0, stats
    finally:
        driver.quit()
        site.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
        if collector.proc.poll() is None:
            collector.stop()
    roll(wal_dir, landing)
    cookie = cookies["wf_vid"]
    return BrowserVisit(
        landing=landing,
        wal_dir=wal_dir,
        start_url=f"{site_url}/start.html",
        landing_url=landing_url,
        cookie=cookie["value"],
        cookie_expiry=cookie.get("expiry", 0),
        cookie_http_only=cookie.get("httpOnly", False),
        user_agent=user_agent,
        email=EMAIL,
        pageviews=2,
    )

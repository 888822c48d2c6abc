"""The demo report opened in Debian's headless Chromium with every network request blocked: each chart is
drawn, the <script> from a log line shows as text and does not run; the PDF prints from the same HTML."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from conftest import need
from test_report import render_demo_once

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = os.environ.get("OBSNB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND"]
# A chart counts only when its canvas has real pixels (an error message or an empty div does not).
COUNT_JS = """() => {
  const drawn = [...document.querySelectorAll('.obsnb-chart canvas')].filter(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n > 500; }).length;
  return {charts: document.querySelectorAll('.obsnb-chart').length, drawn,
          errors: [...document.querySelectorAll('.obsnb-chart .error')].map(e => e.textContent)};
}"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    need(os.path.exists(CHROMIUM), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    path, _ = render_demo_once(tmp_path_factory)
    return path


def test_every_chart_drawn_offline_and_log_script_inert(report):
    """All charts have drawn pixels with zero network requests; no dialog opened; the script text is visible."""
    need(importlib.util.find_spec("playwright") is not None, "playwright is not installed (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    expected = report.read_text().count('class="obsnb-chart"')
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            requests, errors, dialogs = [], [], []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            def route(r):
                if r.request.url.startswith(("file:", "data:", "blob:")):
                    return r.continue_()
                requests.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            page.goto(report.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.obsnb-chart')].every(e => e.querySelector('canvas, .error'))",
                timeout=30_000)
            result = page.evaluate(COUNT_JS)
            shown = page.get_by_text("invalid cardholder name: <script>alert(1)</script>").count()
        finally:
            browser.close()
    assert expected >= 8
    assert result == {"charts": expected, "drawn": expected, "errors": []}
    assert requests == [] and errors == [] and dialogs == []
    assert shown >= 1


def test_pdf_printed_from_report(report, tmp_path):
    """export_pdf prints the self-contained HTML with Chromium to a real multi-page PDF."""
    from obsnb import report as rep

    pdf = rep.export_pdf(report, tmp_path / "INC-2041.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.count(b"/Type /Page") - data.count(b"/Type /Pages") >= 3


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    need(os.path.exists(CHROMIUM), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from test_safety_report import render_hostile_once

    return render_hostile_once(tmp_path_factory)


# Every element that could load something or navigate, as the browser sees it after parsing and scripts.
LOADERS_JS = """() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
  .filter(a => /^(on|href$|xlink:href$|src$|srcset$|action$|formaction$|poster$|data$|background$)/i.test(a.name))
  .filter(a => !(/^(href|xlink:href)$/i.test(a.name) && a.value.startsWith('#')))
  .filter(a => !(/^src$/i.test(a.name) && /^(data:image\\/|blob:)/.test(a.value)))
  .filter(a => !(e.closest('.vega-embed') && /^(href|download)$/i.test(a.name)))
  .map(a => e.tagName.toLowerCase() + ' ' + a.name + '=' + a.value.slice(0, 80)))"""


def test_hostile_report_makes_no_request_and_runs_no_script(hostile_report):
    """The report of a notebook full of hostile values, parameters and incident id opens in Chromium with zero
    requests (every one blocked and counted), no dialog and no page error; its chart still draws."""
    need(importlib.util.find_spec("playwright") is not None, "playwright is not installed (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            requests, errors, dialogs, popups = [], [], [], []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("popup", lambda pg: popups.append(pg.url))
            page.context.route("**/*", lambda r: (requests.append(r.request.url), r.abort())
                               if not r.request.url.startswith(("data:", "blob:")) and r.request.url != page_url
                               else r.continue_())
            page_url = hostile_report.resolve().as_uri()
            page.goto(page_url, wait_until="load")
            page.wait_for_function("() => document.querySelector('.obsnb-chart canvas, .obsnb-chart .error')",
                                   timeout=30_000)
            page.wait_for_timeout(500)  # let any late loader (meta refresh, lazy image) try
            loaders = page.evaluate(LOADERS_JS)
            result = page.evaluate(COUNT_JS)
            final_url = page.url
            shown = page.get_by_text("[runbook](javascript:alert(1))").count()
        finally:
            browser.close()
    assert requests == [] and dialogs == [] and errors == [] and popups == []
    assert final_url == page_url  # no refresh or navigation happened
    assert loaders == [], loaders
    assert result == {"charts": 1, "drawn": 1, "errors": []}
    assert shown >= 1  # the payload is shown as the text it is


def test_hostile_pdf_links_nowhere_and_is_private(hostile_report, tmp_path):
    """The PDF printed from the hostile report has no link annotation (no /URI, no /Launch) and is 0600."""
    import stat

    from obsnb import report as rep

    pdf = rep.export_pdf(hostile_report, tmp_path / "hostile.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"/Type /Page" in data
    assert b"/URI" not in data and b"/Launch" not in data and b"/JavaScript" not in data
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600

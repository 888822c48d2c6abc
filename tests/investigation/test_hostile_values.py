"""Findings quote log content; a report made from hostile log content shows it as text in every section."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from obsnb import report

pytestmark = pytest.mark.slow

LINK = "[runbook](javascript:alert(1))"
PIXEL = "![](http://tracker.invalid/p.png)"
TAG = "<img src=x onerror=alert(2)>"
TICK = "a`b``c"


def hostile_logs(path):
    """Two hours of a worker pool whose worker names, job ids and error texts are payloads; one worker stops."""
    t0 = pd.Timestamp("2024-05-14T12:00:00Z")
    rows = []
    workers = [LINK, PIXEL, TAG]
    for i in range(720):
        t = t0 + pd.Timedelta(seconds=10 * i)
        for w in workers:
            if w == TAG and t >= t0 + pd.Timedelta(minutes=70):
                continue  # the worker named like an HTML tag goes silent
            job = f"{TICK}-{i}-{workers.index(w)}"
            failed = t >= t0 + pd.Timedelta(minutes=60) and i % 3 == 0
            rows.append({"time": t.isoformat(), "level": "ERROR" if failed else "INFO", "event": "job_started",
                         "worker": w, "job_id": job})
            rows.append({"time": (t + pd.Timedelta(seconds=1)).isoformat(), "level": "ERROR" if failed else "INFO",
                         "event": "job_failed" if failed else "job_completed", "worker": w, "job_id": job,
                         "error": f"{LINK} {PIXEL} {TAG}" if failed else None})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_postmortem_of_hostile_logs_shows_them_as_text(tmp_path):
    """No link, image or tag made from log content reaches the report; the payloads are there as text."""
    logs = tmp_path / "hostile.jsonl"
    hostile_logs(logs)
    out = report.render("postmortem", to="html", output=tmp_path / "pm.html",
                        parameters={"incident": LINK, "logs": str(logs), "start": "2024-05-14T13:00:00Z",
                                    "end": "2024-05-14T14:00:00Z"})
    page = out.read_text()
    body = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)  # the vega bundle and chart specs
    assert not re.search(r"""<a\s[^>]*href=["']?javascript:""", body, flags=re.I)
    assert not re.search(r"<img\b", body, flags=re.I)
    assert "tracker.invalid/p.png" not in re.findall(r"""src=["']([^"']+)""", body)
    assert "`worker` = `&lt;img src=x" in body  # the silent worker, named by its payload, shown escaped
    assert "[runbook](javascript:alert(1))" in re.sub(r"\\(.)", r"\1", body)  # shown as the text it is
